//! The one deadline of opening a connection, and how a connect in progress
//! is abandoned.
//!
//! Paho gives each blocking step of a connect its own `connect_timeout`,
//! and each read of a handshake too, so a peer that answers one byte at a
//! time (a TLS ServerHello, a WebSocket 101, a SOCKS reply) keeps `connect()`
//! blocked for as long as it likes. Here the TCP connect, the proxy
//! negotiation, the TLS handshake and the WebSocket upgrade share one
//! [`Deadline`]: every read and write of theirs waits at most the time left
//! ([`Bounded`]), so nothing the peer does moves the end.
//!
//! [`Abandon`] lets another thread end a connect in progress at once
//! (`disconnect()`, `loop_stop()`): it shuts down every socket the connect
//! has made so far, which wakes the blocked connect, read or write, and
//! fails any socket made afterwards.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Socket;

/// When opening a connection must be over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            // A timeout too large for the clock is no deadline at all:
            // a century is as good.
            at: now
                .checked_add(timeout)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600)),
            timeout,
        }
    }

    /// The time left, or the timeout error when there is none. Under a
    /// millisecond counts as none: a socket timeout cannot be zero, and a
    /// read that short proves nothing.
    pub(crate) fn left(&self) -> io::Result<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(self.expired());
        }
        Ok(left)
    }

    /// The error of a step that ran out of time.
    pub(crate) fn expired(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out (connect timeout {:?})", self.timeout),
        )
    }
}

/// A socket whose read and write timeouts can be set.
pub(crate) trait Timeouts {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Timeouts for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

impl Timeouts for Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Socket::set_write_timeout(self, timeout)
    }
}

/// A socket seen through a deadline: each read or write waits at most the
/// time left, and fails with the deadline's error once it is past, however
/// the peer paces its bytes.
pub(crate) struct Bounded<'a, S> {
    socket: &'a S,
    deadline: Deadline,
}

impl<'a, S: Timeouts> Bounded<'a, S> {
    pub(crate) fn new(socket: &'a S, deadline: Deadline) -> Bounded<'a, S> {
        Bounded { socket, deadline }
    }

    fn timed_out(&self, e: io::Error) -> io::Error {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            self.deadline.expired()
        } else {
            e
        }
    }
}

impl<S: Timeouts> Read for Bounded<'_, S>
where
    for<'b> &'b S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.set_read_timeout(Some(self.deadline.left()?))?;
        let mut socket = self.socket;
        socket.read(buf).map_err(|e| self.timed_out(e))
    }
}

impl<S: Timeouts> Write for Bounded<'_, S>
where
    for<'b> &'b S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.set_write_timeout(Some(self.deadline.left()?))?;
        let mut socket = self.socket;
        socket.write(buf).map_err(|e| self.timed_out(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The sockets of one connect in progress, for another thread to abandon
/// it (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Abandon {
    state: Mutex<AbandonState>,
}

#[derive(Debug, Default)]
struct AbandonState {
    abandoned: bool,
    /// Second handles to the connect's sockets (closing one of them leaves
    /// the connection alone; shutting it down ends it).
    sockets: Vec<Watched>,
}

#[derive(Debug)]
enum Watched {
    /// Made, perhaps still connecting.
    Made(socket2::Socket),
    Connected(Socket),
}

impl Abandon {
    /// From now on `abandon()` shuts `socket` down; already abandoned: the
    /// abandon error.
    pub(crate) fn watch(&self, socket: &socket2::Socket) -> io::Result<()> {
        let mut state = self.state.lock();
        if state.abandoned {
            return Err(abandoned());
        }
        state.sockets.push(Watched::Made(socket.try_clone()?));
        Ok(())
    }

    /// [`Abandon::watch`] for a connected socket.
    pub(crate) fn watch_socket(&self, socket: &Socket) -> io::Result<()> {
        let handle = socket.try_clone()?;
        let mut state = self.state.lock();
        if state.abandoned {
            return Err(abandoned());
        }
        state.sockets.push(Watched::Connected(handle));
        Ok(())
    }

    /// Ends the connect: every socket it made is shut down, which wakes
    /// whatever blocks on it; a socket it makes later fails at once.
    pub(crate) fn abandon(&self) {
        let mut state = self.state.lock();
        state.abandoned = true;
        for socket in state.sockets.drain(..) {
            // A socket still connecting is ended too (Linux disconnects a
            // SYN_SENT socket on shutdown and wakes its poll).
            let _ = match socket {
                Watched::Made(s) => s.shutdown(Shutdown::Both),
                Watched::Connected(s) => s.shutdown(Shutdown::Both),
            };
        }
    }

    /// True once [`Abandon::abandon`] ran.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.state.lock().abandoned
    }
}

/// The error of an abandoned connect.
pub(crate) fn abandoned() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connect abandoned: disconnect() or loop_stop() was called",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_peer_dripping_bytes_does_not_move_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        // Well past the deadline, but not for ever.
        let dripper = std::thread::spawn(move || {
            for _ in 0..100 {
                if peer.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let mut bounded = Bounded::new(&client, Deadline::after(timeout));
        let mut sink = Vec::new();
        let error = bounded.read_to_end(&mut sink).unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(!sink.is_empty(), "the peer's bytes were read");
        assert!(
            took >= timeout - Duration::from_millis(2) && took < timeout * 3,
            "{took:?}"
        );
        client.shutdown(Shutdown::Both).unwrap();
        dripper.join().unwrap();
    }

    #[test]
    fn abandon_wakes_a_blocked_read_and_refuses_later_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _peer = listener.accept().unwrap();
        let abandon = std::sync::Arc::new(Abandon::default());
        abandon
            .watch_socket(&Socket::Tcp(client.try_clone().unwrap()))
            .unwrap();
        let stopper = {
            let abandon = std::sync::Arc::clone(&abandon);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                abandon.abandon();
            })
        };
        let mut buf = [0u8; 1];
        assert_eq!((&client).read(&mut buf).unwrap(), 0);
        stopper.join().unwrap();
        assert!(abandon.is_abandoned());
        let later = socket2::Socket::from(client);
        assert_eq!(
            abandon.watch(&later).unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted
        );
    }
}
