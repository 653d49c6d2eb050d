//! The byte transformations between MQTT and the socket once a connection
//! is established: TLS records and (with the websocket transport) WebSocket
//! frames, stacked as MQTT → WebSocket → TLS → socket. Sans-IO: bytes in,
//! bytes out, no socket, so the reader thread, the writer and an external
//! event loop all drive the same state.

use std::io;

#[cfg(feature = "tls")]
use super::tls::TlsLayer;

/// The layers of one connection, and the wire bytes they produced that are
/// not yet on the socket.
#[derive(Debug, Default)]
pub struct Layers {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsLayer>,
    out: Vec<u8>,
}

impl Layers {
    /// No layer: MQTT bytes go to the socket as they are.
    pub fn plain() -> Layers {
        Layers::default()
    }

    /// True when there is no layer at all.
    pub fn is_plain(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return false;
        }
        true
    }

    /// Wire bytes in: appends the MQTT bytes they carry to `plain`; answers
    /// the layers owe (TLS alerts) join the bytes to write.
    pub fn decode(&mut self, wire: &[u8], plain: &mut Vec<u8>) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.decode(wire, plain, &mut self.out);
        }
        plain.extend_from_slice(wire);
        Ok(())
    }

    /// MQTT bytes out: their wire form joins the bytes to write.
    pub fn encode(&mut self, plain: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.encode(plain, &mut self.out);
        }
        self.out.extend_from_slice(plain);
        Ok(())
    }

    /// Wire bytes waiting for the socket.
    pub fn out(&self) -> &[u8] {
        &self.out
    }

    /// `n` of them were written.
    pub fn consume(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// Moves the waiting wire bytes out (to write them without a lock).
    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The ALPN protocol TLS agreed on, if any.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.alpn_protocol().map(<[u8]>::to_vec);
        }
        None
    }
}
