//! The byte transformations between MQTT and the socket once a connection
//! is established: TLS records and (with the websocket transport) WebSocket
//! frames, stacked as MQTT → WebSocket → TLS → socket. Sans-IO: bytes in,
//! bytes out, no socket, so the reader thread, the writer and an external
//! event loop all drive the same state.

use std::io;

#[cfg(any(feature = "rustls", feature = "native-tls"))]
use super::tls::TlsLayer;
#[cfg(feature = "websocket")]
use super::websocket::WsLayer;

/// The layers of one connection, and the wire bytes they produced that are
/// not yet on the socket.
#[derive(Debug, Default)]
pub struct Layers {
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    pub(crate) tls: Option<TlsLayer>,
    #[cfg(feature = "websocket")]
    pub(crate) ws: Option<WsLayer>,
    out: Vec<u8>,
}

impl Layers {
    /// No layer: MQTT bytes go to the socket as they are.
    pub fn plain() -> Layers {
        Layers::default()
    }

    /// True when there is no layer at all.
    pub fn is_plain(&self) -> bool {
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if self.tls.is_some() {
            return false;
        }
        #[cfg(feature = "websocket")]
        if self.ws.is_some() {
            return false;
        }
        true
    }

    /// Wire bytes in: appends the MQTT bytes they carry to `plain`; answers
    /// the layers owe (TLS alerts, WebSocket PONGs) join the bytes to write.
    ///
    /// On an error (the broker's TLS close_notify or WebSocket CLOSE, bytes
    /// that do not decode), `plain` still holds the MQTT bytes that came
    /// before it, in full: they happened first, and the caller feeds them
    /// before it handles the end (a refusing broker's CONNACK, a server
    /// DISCONNECT).
    pub fn decode(&mut self, wire: &[u8], plain: &mut Vec<u8>) -> io::Result<()> {
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let decrypted;
        #[allow(unused_mut)]
        let mut below_ws: &[u8] = wire;
        #[allow(unused_mut)]
        let mut tls_result = Ok(());
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if let Some(tls) = &mut self.tls {
            let mut out = Vec::new();
            tls_result = tls.decode(wire, &mut out, &mut self.out);
            decrypted = out;
            below_ws = &decrypted;
        }
        #[cfg(feature = "websocket")]
        if let Some(ws) = &mut self.ws {
            let mut reply = Vec::new();
            let result = ws.decode(below_ws, plain, &mut reply);
            if !reply.is_empty() && tls_result.is_ok() {
                self.below_ws(&reply)?;
            }
            // A WebSocket error came from bytes before the TLS one.
            return result.and(tls_result);
        }
        plain.extend_from_slice(below_ws);
        tls_result
    }

    /// MQTT bytes out: their wire form joins the bytes to write.
    pub fn encode(&mut self, plain: &[u8]) -> io::Result<()> {
        #[cfg(feature = "websocket")]
        if let Some(ws) = &mut self.ws {
            let mut frames = Vec::new();
            ws.encode(plain, &mut frames)?;
            return self.below_ws(&frames);
        }
        self.below_ws(plain)
    }

    /// Bytes that go under the WebSocket layer: through TLS, if any.
    fn below_ws(&mut self, bytes: &[u8]) -> io::Result<()> {
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if let Some(tls) = &mut self.tls {
            return tls.encode(bytes, &mut self.out);
        }
        self.out.extend_from_slice(bytes);
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
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if let Some(tls) = &self.tls {
            return tls.alpn_protocol().map(<[u8]>::to_vec);
        }
        None
    }
}
