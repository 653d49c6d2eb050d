//! Bytes in, bytes out: how the client reaches a broker. TCP for now; TLS,
//! WebSocket, unix sockets and proxies are added by the transports work.

mod socket;
mod tcp;

pub use socket::Socket;
pub use tcp::{connect_tcp, TcpOptions};
