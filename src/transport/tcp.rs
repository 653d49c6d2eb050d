//! TCP with what Paho's `socket.create_connection` gives: a connect timeout,
//! an optional bind address and port; plus TCP_NODELAY, without which small
//! MQTT packets wait for Nagle's algorithm.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::deadline::{Abandon, Deadline};

/// How to open a TCP connection.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Bound on opening a connection, every step of it together: the TCP
    /// connect (all the addresses tried), the proxy negotiation, the TLS
    /// handshake and the WebSocket upgrade (Paho's `connect_timeout`, 5 s;
    /// Paho bounds each step, and each read of a handshake, on its own).
    pub connect_timeout: Duration,
    /// Local address to bind ("" for any, Paho's `bind_address`).
    pub bind_address: String,
    /// Local port to bind (0 for any, Paho's `bind_port`).
    pub bind_port: u16,
}

impl Default for TcpOptions {
    fn default() -> TcpOptions {
        TcpOptions {
            connect_timeout: Duration::from_secs(5),
            bind_address: String::new(),
            bind_port: 0,
        }
    }
}

/// Connects to `host:port`, trying each resolved address in turn, and
/// returns the first stream that connects (the last error otherwise); all
/// the attempts together take at most `options.connect_timeout`.
pub fn connect_tcp(host: &str, port: u16, options: &TcpOptions) -> io::Result<TcpStream> {
    let deadline = Deadline::after(options.connect_timeout);
    connect_tcp_until(host, port, options, deadline, &Abandon::default())
}

/// [`connect_tcp`] that ends by `deadline`, or when `abandon` says so.
pub(crate) fn connect_tcp_until(
    host: &str,
    port: u16,
    options: &TcpOptions,
    deadline: Deadline,
    abandon: &Abandon,
) -> io::Result<TcpStream> {
    let mut last_error = None;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("DNS lookup of {host} failed: {e}")))?;
    for addr in addrs {
        match connect_one(addr, options, deadline, abandon) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                last_error = Some(io::Error::new(
                    e.kind(),
                    format!("TCP connect to {addr} failed: {e}"),
                ))
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for {host}"),
        )
    }))
}

fn connect_one(
    addr: SocketAddr,
    options: &TcpOptions,
    deadline: Deadline,
    abandon: &Abandon,
) -> io::Result<TcpStream> {
    let left = deadline.left()?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    abandon.watch(&socket)?;
    if !options.bind_address.is_empty() || options.bind_port != 0 {
        let ip: IpAddr = if options.bind_address.is_empty() {
            match addr {
                SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
            }
        } else {
            options.bind_address.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid bind address {:?}", options.bind_address),
                )
            })?
        };
        socket.bind(&SockAddr::from(SocketAddr::new(ip, options.bind_port)))?;
    }
    socket.connect_timeout(&SockAddr::from(addr), left)?;
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_binds_and_reports_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let options = TcpOptions {
            bind_address: "127.0.0.1".into(),
            ..TcpOptions::default()
        };
        let stream = connect_tcp("127.0.0.1", port, &options).unwrap();
        assert!(stream.nodelay().unwrap());
        assert_eq!(stream.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
        drop(listener);
        let refused = connect_tcp("127.0.0.1", port, &TcpOptions::default());
        assert_eq!(
            refused.unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }
}
