//! The reader thread of one connection: blocking reads of the raw socket,
//! handed to the loop thread as chunks. It does nothing else, so reads and
//! writes never contend for a lock.

use std::io::Read;
use std::net::TcpStream;
use std::thread;

use crossbeam_channel::{Receiver, Sender};

/// What the reader hands to the loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// Bytes, in order.
    Data(Vec<u8>),
    /// End of stream (`None`) or a read error.
    Closed(Option<std::io::Error>),
}

/// How many chunks may wait for the loop before the reader stops reading
/// (and TCP flow control slows the broker).
const CHUNKS_IN_FLIGHT: usize = 64;
const CHUNK: usize = 64 * 1024;

/// Starts the reader; the receiver yields its chunks. The thread ends at
/// end of stream, on an error, or when the receiver is dropped.
pub(crate) fn spawn_reader(
    mut stream: TcpStream,
    name: String,
) -> std::io::Result<(Receiver<Inbound>, thread::JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::bounded(CHUNKS_IN_FLIGHT);
    let handle = thread::Builder::new()
        .name(name)
        .spawn(move || read_loop(&mut stream, &tx))?;
    Ok((rx, handle))
}

fn read_loop(stream: &mut TcpStream, tx: &Sender<Inbound>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(Inbound::Closed(None));
                return;
            }
            Ok(n) => {
                if tx.send(Inbound::Data(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Inbound::Closed(Some(e)));
                return;
            }
        }
    }
}
