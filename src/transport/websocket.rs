//! MQTT over WebSockets (Paho's `transport="websockets"`), through
//! tungstenite: the HTTP upgrade made while connecting with Paho's headers
//! (within what is left of the connect timeout), then a sans-IO framing layer: every
//! batch of MQTT bytes goes out as one masked binary frame, binary and
//! continuation frames come in, PINGs are answered, text frames are
//! ignored, and the broker's CLOSE ends the connection.
//!
//! Frames and messages are limited to tungstenite's defaults (16 MiB and
//! 64 MiB), so a broker cannot make the client buffer without bound.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tungstenite::handshake::client::generate_key;
use tungstenite::http::Request;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

use super::pipe::Pipe;

/// Upgrade headers, as (name, value) pairs in order.
pub type Headers = Vec<(String, String)>;

/// A function given the default headers that returns the headers to send.
pub type HeaderFunction = Arc<dyn Fn(Headers) -> Headers + Send + Sync>;

/// Paho's `headers` argument of `ws_set_options`.
#[derive(Clone, Default)]
pub enum WsHeaders {
    /// Paho's default upgrade headers only.
    #[default]
    Default,
    /// These headers, merged into the defaults (a header of the same name,
    /// compared without case, replaces the default one).
    Merge(Vec<(String, String)>),
    /// A function given the default headers, returning the headers to send.
    Function(HeaderFunction),
}

impl std::fmt::Debug for WsHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsHeaders::Default => f.write_str("Default"),
            WsHeaders::Merge(h) => f.debug_tuple("Merge").field(h).finish(),
            WsHeaders::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// Paho's `ws_set_options(path="/mqtt", headers=None)`.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// The request path (default `/mqtt`).
    pub path: String,
    /// Extra or replaced upgrade headers.
    pub headers: WsHeaders,
}

impl Default for WsOptions {
    fn default() -> WsOptions {
        WsOptions {
            path: "/mqtt".into(),
            headers: WsHeaders::Default,
        }
    }
}

/// The upgrade headers Paho sends (reference §4.2), in its order.
fn default_headers(host: &str, port: u16, tls: bool) -> Vec<(String, String)> {
    let default_port = if tls { 443 } else { 80 };
    let host_header = if port == default_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let scheme = if tls { "https" } else { "http" };
    vec![
        ("Host".into(), host_header.clone()),
        ("Upgrade".into(), "websocket".into()),
        ("Connection".into(), "Upgrade".into()),
        ("Origin".into(), format!("{scheme}://{host_header}")),
        ("Sec-WebSocket-Key".into(), generate_key()),
        ("Sec-WebSocket-Version".into(), "13".into()),
        ("Sec-WebSocket-Protocol".into(), "mqtt".into()),
    ]
}

fn headers(options: &WsOptions, host: &str, port: u16, tls: bool) -> Vec<(String, String)> {
    let mut headers = default_headers(host, port, tls);
    match &options.headers {
        WsHeaders::Default => {}
        WsHeaders::Merge(extra) => {
            for (name, value) in extra {
                match headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some(h) => h.1 = value.clone(),
                    None => headers.push((name.clone(), value.clone())),
                }
            }
        }
        WsHeaders::Function(f) => headers = f(headers),
    }
    headers
}

fn ws_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("WebSocket handshake error: {e}"))
}

/// Makes the WebSocket upgrade over `stream` (the socket, or TLS over it;
/// the caller bounds its reads and writes: a stream that only bounds each
/// read lets a server that drips its reply hold the upgrade for ever) and
/// returns the framing layer for what follows.
pub fn handshake<S: Read + Write>(
    stream: S,
    options: &WsOptions,
    host: &str,
    port: u16,
    tls: bool,
) -> io::Result<WsLayer> {
    let scheme = if tls { "wss" } else { "ws" };
    let path = if options.path.starts_with('/') {
        options.path.clone()
    } else {
        format!("/{}", options.path)
    };
    let mut request = Request::builder().uri(format!("{scheme}://{host}:{port}{path}"));
    for (name, value) in headers(options, host, port, tls) {
        request = request.header(name, value);
    }
    let request = request.body(()).map_err(ws_error)?;
    match tungstenite::client::client(request, stream) {
        Ok((_ws, _response)) => {}
        // The stream's own timeout error, which says which timeout.
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e)))
            if e.kind() == io::ErrorKind::TimedOut =>
        {
            return Err(io::Error::new(
                e.kind(),
                format!("WebSocket handshake error: {e}"),
            ))
        }
        Err(tungstenite::HandshakeError::Failure(e)) => return Err(ws_error(e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "WebSocket handshake error: timed out",
            ))
        }
    }
    // The broker says nothing after its 101 until our CONNECT, so nothing
    // read ahead by the handshake is lost by starting a fresh framer.
    Ok(WsLayer {
        ws: WebSocket::from_raw_socket(Pipe::default(), Role::Client, None),
    })
}

/// The WebSocket framing of an established connection.
#[derive(Debug)]
pub struct WsLayer {
    ws: WebSocket<Pipe>,
}

fn framing_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "WebSocket closed by the broker",
        ),
        tungstenite::Error::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {e}")),
    }
}

impl WsLayer {
    /// Frames in: appends the MQTT bytes of binary (and continuation)
    /// frames to `plain`; answers (PONG, the CLOSE echo) go to `reply`.
    pub fn decode(
        &mut self,
        wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> io::Result<()> {
        self.ws.get_mut().input.extend(wire);
        let result = loop {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => plain.extend_from_slice(&bytes),
                Ok(Message::Close(_)) => {
                    break Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "WebSocket closed by the broker",
                    ))
                }
                // PINGs are answered by tungstenite; text is ignored as in
                // Paho.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break Ok(())
                }
                Err(e) => break Err(framing_error(e)),
            }
        };
        let _ = self.ws.flush();
        reply.append(&mut self.ws.get_mut().output);
        result
    }

    /// MQTT bytes out: appends one binary frame carrying them to `wire`.
    pub fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        self.ws
            .send(Message::binary(plain.to_vec()))
            .map_err(framing_error)?;
        wire.append(&mut self.ws.get_mut().output);
        Ok(())
    }
}
