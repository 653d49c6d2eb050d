//! Bytes in, bytes out: how the client reaches a broker. TCP for now; TLS,
//! WebSocket, unix sockets and proxies are added by the transports work.

mod tcp;

pub use tcp::{connect_tcp, TcpOptions};
