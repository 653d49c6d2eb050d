//! Bytes in, bytes out: how the client reaches a broker.
//!
//! Opening a connection is a chain of blocking steps: the socket (TCP,
//! possibly through a SOCKS or HTTP proxy, or a unix-domain socket), then
//! the TLS handshake, then the WebSocket upgrade. All of them together end
//! within the connect timeout, counted from the start, whatever the peer
//! does (Paho bounds each step, and each read of a handshake, on its own, so
//! a peer that drips its answers holds it as long as it likes). What remains
//! afterwards is a [`Socket`] and its sans-IO [`Layers`] (TLS records),
//! which the client drives from its own threads. Every failure says which
//! step failed.

mod deadline;
mod layers;
#[cfg(any(feature = "websocket", feature = "native-tls"))]
mod pipe;
pub mod proxy;
mod socket;
mod tcp;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub mod tls;
#[cfg(feature = "websocket")]
pub mod websocket;

pub use layers::Layers;
pub use socket::Socket;
pub use tcp::{connect_tcp, TcpOptions};

pub(crate) use deadline::Abandon;
use deadline::Deadline;

use std::io;

/// The transport (Paho's `transport` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// TCP (the default), with TLS when configured.
    #[default]
    Tcp,
    /// A unix-domain stream socket; the host is the socket's path.
    #[cfg(unix)]
    Unix,
    /// MQTT over WebSockets (over TLS when configured).
    #[cfg(feature = "websocket")]
    Websockets,
}

impl Transport {
    /// Paho's name for it (`"tcp"`, `"unix"`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            #[cfg(unix)]
            Transport::Unix => "unix",
            #[cfg(feature = "websocket")]
            Transport::Websockets => "websockets",
        }
    }
}

/// Everything needed to open a connection.
#[derive(Debug, Clone, Default)]
pub struct TransportConfig {
    /// Which transport.
    pub transport: Transport,
    /// Connect timeout, bind address and port.
    pub tcp: TcpOptions,
    /// TLS, when configured (`tls_set`, `tls_set_context`).
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    pub tls: Option<tls::TlsSettings>,
    /// A proxy (`proxy_set`); without one, the `mqtt_proxy` environment
    /// variable is used, as in Paho.
    pub proxy: Option<proxy::ProxySettings>,
    /// Path and headers of the WebSocket upgrade (`ws_set_options`).
    #[cfg(feature = "websocket")]
    pub websocket: websocket::WsOptions,
}

impl TransportConfig {
    /// True when TLS is configured.
    pub fn has_tls(&self) -> bool {
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if self.tls.is_some() {
            return true;
        }
        false
    }
}

/// Opens a connection to `host:port` (or the socket at path `host` for the
/// unix transport) and makes every handshake, all within
/// `config.tcp.connect_timeout`; returns the socket and the layers to use
/// over it.
pub fn open(host: &str, port: u16, config: &TransportConfig) -> io::Result<(Socket, Layers)> {
    open_abandonable(host, port, config, &Abandon::default())
}

/// [`open`], which another thread ends at once with `abandon` (then the
/// error is the abandon error, whatever step it interrupted).
pub(crate) fn open_abandonable(
    host: &str,
    port: u16,
    config: &TransportConfig,
    abandon: &Abandon,
) -> io::Result<(Socket, Layers)> {
    let deadline = Deadline::after(config.tcp.connect_timeout);
    open_until(host, port, config, deadline, abandon).map_err(|e| {
        if abandon.is_abandoned() {
            deadline::abandoned()
        } else {
            e
        }
    })
}

fn open_until(
    host: &str,
    port: u16,
    config: &TransportConfig,
    deadline: Deadline,
    abandon: &Abandon,
) -> io::Result<(Socket, Layers)> {
    let socket = match config.transport {
        #[cfg(unix)]
        Transport::Unix => Socket::Unix(
            std::os::unix::net::UnixStream::connect(host)
                .map_err(|e| io::Error::new(e.kind(), format!("unix socket {host}: {e}")))?,
        ),
        _ => {
            let proxy = config
                .proxy
                .clone()
                .or_else(|| proxy::ProxySettings::from_env(host));
            Socket::Tcp(match proxy {
                Some(proxy) => {
                    proxy::connect_via_until(&proxy, host, port, &config.tcp, deadline, abandon)?
                }
                None => tcp::connect_tcp_until(host, port, &config.tcp, deadline, abandon)?,
            })
        }
    };
    // Already watched when TCP; the unix socket is watched from here, and
    // either way a connect abandoned meanwhile stops here.
    abandon.watch_socket(&socket)?;
    #[allow(unused_mut)]
    let mut layers = Layers::plain();
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    if let Some(settings) = &config.tls {
        layers.tls = Some(tls::handshake_until(&socket, settings, host, deadline)?);
    }
    #[cfg(feature = "websocket")]
    if config.transport == Transport::Websockets {
        let tls = config.has_tls();
        let bounded = deadline::Bounded::new(&socket, deadline);
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let ws = match &mut layers.tls {
            Some(tls_layer) => websocket::handshake(
                tls_layer.blocking_stream(bounded),
                &config.websocket,
                host,
                port,
                tls,
            )?,
            None => websocket::handshake(bounded, &config.websocket, host, port, tls)?,
        };
        #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
        let ws = websocket::handshake(bounded, &config.websocket, host, port, tls)?;
        layers.ws = Some(ws);
    }
    // The client's threads read without a timeout, and bound their writes
    // themselves.
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(None)?;
    Ok((socket, layers))
}
