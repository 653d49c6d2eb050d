//! Bytes in, bytes out: how the client reaches a broker.
//!
//! Opening a connection is a chain of blocking steps, each bounded by the
//! connect timeout as in Paho: the socket (TCP, or a unix-domain socket),
//! then the TLS handshake. What remains afterwards is a [`Socket`] and its
//! sans-IO [`Layers`] (TLS records), which the client drives from its own
//! threads. Every failure says which step failed.

mod layers;
mod socket;
mod tcp;
#[cfg(feature = "tls")]
pub mod tls;

pub use layers::Layers;
pub use socket::Socket;
pub use tcp::{connect_tcp, TcpOptions};

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
}

impl Transport {
    /// Paho's name for it (`"tcp"`, `"unix"`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            #[cfg(unix)]
            Transport::Unix => "unix",
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
    #[cfg(feature = "tls")]
    pub tls: Option<tls::TlsSettings>,
}

impl TransportConfig {
    /// True when TLS is configured.
    pub fn has_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }
}

/// Opens a connection to `host:port` (or the socket at path `host` for the
/// unix transport) and makes every handshake; returns the socket and the
/// layers to use over it.
pub fn open(host: &str, port: u16, config: &TransportConfig) -> io::Result<(Socket, Layers)> {
    let socket = match config.transport {
        Transport::Tcp => Socket::Tcp(connect_tcp(host, port, &config.tcp)?),
        #[cfg(unix)]
        Transport::Unix => Socket::Unix(
            std::os::unix::net::UnixStream::connect(host)
                .map_err(|e| io::Error::new(e.kind(), format!("unix socket {host}: {e}")))?,
        ),
    };
    #[allow(unused_mut)]
    let mut layers = Layers::plain();
    #[cfg(feature = "tls")]
    if let Some(settings) = &config.tls {
        layers.tls = Some(tls::handshake(
            &socket,
            settings,
            host,
            config.tcp.connect_timeout,
        )?);
    }
    Ok((socket, layers))
}
