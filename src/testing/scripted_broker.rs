//! A broker with no logic of its own: the test is the broker. It accepts
//! connections one at a time and the test scripts each conversation to the
//! byte, as Paho's own client tests do with their fake broker.

mod connection;
mod reader;

use std::io;
use std::path::Path;
use std::time::Duration;

pub use connection::{Flood, ScriptedConnection};

use super::net::Listener;
use super::{Endpoint, Error, Result, DEFAULT_TIMEOUT};

/// A listening socket whose connections a test drives step by step.
///
/// Nothing runs in the background: a connection is taken only when the script
/// calls [`accept`](Self::accept), and "the client reconnects" is just the
/// next `accept`. Every wait ends after the timeout
/// ([`DEFAULT_TIMEOUT`] unless set), so a script fails instead of hanging.
/// Dropping the broker closes the listener and removes its unix socket file,
/// unless another socket has replaced it at that path since.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use mqtt_tether::packet::Packet;
/// use mqtt_tether::testing::ScriptedBroker;
///
/// let broker = ScriptedBroker::bind()?;
/// // The client under test; here a plain socket playing one.
/// let mut client = TcpStream::connect(("127.0.0.1", broker.port()))?;
/// client.write_all(&[0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00])?;
/// client.write_all(&[0xc0, 0x00])?;
///
/// let mut conn = broker.accept()?;
/// let connect = conn.expect_connect()?;
/// assert_eq!(connect.keep_alive, 60);
/// conn.send_connack(false, 0)?;
/// conn.expect_packet(&Packet::PingReq)?;
/// conn.send_packet(&Packet::PingResp)?;
///
/// let mut reply = [0; 6];
/// client.read_exact(&mut reply)?;
/// assert_eq!(reply, [0x20, 0x02, 0x00, 0x00, 0xd0, 0x00]);
/// drop(client);
/// conn.expect_close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ScriptedBroker {
    listener: Listener,
    endpoint: Endpoint,
    timeout: Duration,
}

impl ScriptedBroker {
    /// Listens on 127.0.0.1 on a free port.
    pub fn bind() -> Result<ScriptedBroker> {
        ScriptedBroker::listen(Listener::bind_loopback(0)?)
    }

    /// Listens on a unix socket at `path`, replacing a stale socket file.
    /// Anything else at `path` (a regular file, a directory) is left alone
    /// and the bind fails.
    pub fn bind_unix(path: impl AsRef<Path>) -> Result<ScriptedBroker> {
        ScriptedBroker::listen(Listener::bind_unix(path.as_ref())?)
    }

    fn listen(listener: Listener) -> Result<ScriptedBroker> {
        Ok(ScriptedBroker {
            endpoint: listener.endpoint()?,
            listener,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long `accept` waits, and the timeout connections accepted
    /// from now on start with.
    pub fn with_timeout(mut self, timeout: Duration) -> ScriptedBroker {
        self.timeout = timeout;
        self
    }

    /// How long `accept` waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Where the broker listens.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The TCP port, or 0 for a unix socket (which has none), so that the
    /// common TCP case needs no unwrapping. [`Endpoint::port`] tells the two
    /// apart.
    pub fn port(&self) -> u16 {
        self.endpoint.port().unwrap_or(0)
    }

    /// Waits up to the timeout for the next connection.
    pub fn accept(&self) -> Result<ScriptedConnection> {
        match self.listener.accept_timeout(self.timeout) {
            Ok(stream) => Ok(ScriptedConnection::new(stream, self.timeout)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(Error::Timeout {
                waiting_for: format!("a connection on {}", self.endpoint),
                after: self.timeout,
                received: String::new(),
            }),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Checks that no client connects for `duration`, e.g. while a client
    /// should be waiting out its reconnect delay. A connection that does
    /// arrive is closed and reported as [`Error::UnexpectedData`].
    pub fn expect_no_connection(&self, duration: Duration) -> Result<()> {
        match self.listener.accept_timeout(duration) {
            Ok(stream) => Err(Error::UnexpectedData {
                expected: format!("no connection on {} for {duration:?}", self.endpoint),
                received: format!("  a connection from {}", stream.peer()),
            }),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }
}
