//! An in-memory stream between a blocking-style protocol library and the
//! sans-IO layers: the library reads what the socket delivered and writes
//! what goes to the socket, never blocking. Reading an empty pipe is
//! `WouldBlock`, which tungstenite and OpenSSL take as "more input needed",
//! so their state machines stop there and resume when bytes are added.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Bytes in (from the socket) and out (for the socket).
#[derive(Debug, Default)]
pub(crate) struct Pipe {
    /// Wire bytes received, not yet read by the library.
    pub(crate) input: VecDeque<u8>,
    /// Bytes the library wrote, not yet taken for the socket.
    pub(crate) output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.input.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
