//! One listener and one stream type for TCP on loopback and unix sockets, so
//! the servers of the kit serve both the same way.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The instant `timeout` from now, or a far-future instant when that is past
/// what [`Instant`] can hold: `Instant::now() + Duration::MAX` panics, and a
/// test that asks for "no timeout" with a huge duration must wait, not panic
/// (least of all in a `Drop`, where a panic during unwinding aborts).
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    if let Some(deadline) = now.checked_add(timeout) {
        return deadline;
    }
    // How far ahead an `Instant` can reach depends on the platform; the first
    // of these that fits is forever for a test.
    const YEAR: u64 = 365 * 24 * 60 * 60;
    [100 * YEAR, YEAR, 24 * 60 * 60]
        .into_iter()
        .find_map(|secs| now.checked_add(Duration::from_secs(secs)))
        .unwrap_or(now)
}

/// Where a kit server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address (always on loopback).
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

impl Endpoint {
    /// The TCP port, or `None` for a unix socket.
    pub fn port(&self) -> Option<u16> {
        match self {
            Endpoint::Tcp(addr) => Some(addr.port()),
            Endpoint::Unix(_) => None,
        }
    }

    /// Connects a plain client stream to the endpoint.
    pub fn connect(&self) -> io::Result<Stream> {
        match self {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, super::DEFAULT_TIMEOUT)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unix sockets need a unix platform",
            )),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listener of either kind.
///
/// Listeners are non-blocking from the moment they are bound and stay so:
/// [`accept_timeout`](Listener::accept_timeout) polls, and several threads may
/// wait on one listener at once (say, one in `ScriptedBroker::accept` and one
/// in `expect_no_connection`). Switching the mode per call would let one
/// waiter put the listener back to blocking under another, whose timeout
/// would then never fire.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener, SocketFile),
}

/// The socket file a unix listener created, identified by device and inode so
/// that the drop removes this file and not one that replaced it.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    /// `(dev, ino)` right after the bind; `None` if it could not be read, in
    /// which case the drop leaves the file alone rather than guess.
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
impl SocketFile {
    /// `(dev, ino)` of the socket file at `path`, if there is one (symlinks
    /// are not followed: bind never follows one either).
    fn socket_id(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::symlink_metadata(path).ok()?;
        meta.file_type()
            .is_socket()
            .then(|| (meta.dev(), meta.ino()))
    }
}

impl Listener {
    /// Binds 127.0.0.1 on `port` (0 picks a free one), non-blocking.
    pub(crate) fn bind_loopback(port: u16) -> io::Result<Listener> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        Ok(Listener::Tcp(listener))
    }

    /// Binds a unix socket at `path`, non-blocking, replacing a stale socket
    /// file. Anything else at `path` (a regular file, a directory) is left
    /// alone, and the bind then fails with "address in use": a typo in a test
    /// must not delete someone's file.
    #[cfg(unix)]
    pub(crate) fn bind_unix(path: &Path) -> io::Result<Listener> {
        if SocketFile::socket_id(path).is_some() {
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path)?;
        let file = SocketFile {
            path: path.to_path_buf(),
            id: SocketFile::socket_id(path),
        };
        // Built before the mode is set, so a failure below still removes the
        // file through the drop.
        let listener = Listener::Unix(listener, file);
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Unix sockets need a unix platform.
    #[cfg(not(unix))]
    pub(crate) fn bind_unix(_path: &Path) -> io::Result<Listener> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets need a unix platform",
        ))
    }

    pub(crate) fn endpoint(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => Ok(Endpoint::Tcp(l.local_addr()?)),
            #[cfg(unix)]
            Listener::Unix(_, file) => Ok(Endpoint::Unix(file.path.clone())),
        }
    }

    /// Sets the listener's mode. Listeners are already non-blocking from the
    /// bind, so `true` changes nothing; `false` would make
    /// [`accept_timeout`](Listener::accept_timeout) block without a timeout,
    /// so nothing in the kit passes it.
    pub(crate) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(on),
            #[cfg(unix)]
            Listener::Unix(l, _) => l.set_nonblocking(on),
        }
    }

    /// Accepts one connection, or fails with `WouldBlock` if none is waiting;
    /// the stream is blocking whatever the listener is.
    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            #[cfg(unix)]
            Listener::Unix(l, _) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                Ok(Stream::Unix(s))
            }
        }
    }

    /// Waits up to `timeout` for a connection.
    pub(crate) fn accept_timeout(&self, timeout: Duration) -> io::Result<Stream> {
        // std has no accept timeout; polling the (always non-blocking)
        // listener keeps this simple, is safe for concurrent waiters, and the
        // kit's accept is never on a hot path.
        let deadline = deadline_after(timeout);
        loop {
            match self.accept() {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "accept timed out"));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Only the file this listener made: another listener may have
        // replaced it (a stale socket is removed by the next bind), and its
        // socket must outlive this drop.
        #[cfg(unix)]
        if let Listener::Unix(_, file) = self {
            if file.id.is_some() && SocketFile::socket_id(&file.path) == file.id {
                let _ = std::fs::remove_file(&file.path);
            }
        }
    }
}

/// A connected stream of either kind.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix socket connection.
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    /// A second handle to the same connection (for a reader and a writer).
    pub fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
        }
    }

    /// Sets the read timeout (`None` blocks forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Sets the write timeout (`None` blocks forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// The peer's description, for logs.
    pub fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp peer".into()),
            #[cfg(unix)]
            Stream::Unix(_) => "unix peer".into(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_timeout_is_a_far_deadline_not_a_panic() {
        let now = Instant::now();
        let far = deadline_after(Duration::MAX);
        assert!(far >= now + Duration::from_secs(24 * 60 * 60), "{far:?}");
        let near = deadline_after(Duration::from_millis(5));
        assert!(near > now && near < now + Duration::from_secs(60));
    }

    #[test]
    fn an_accept_timeout_holds_while_another_wait_ends() {
        let listener = Listener::bind_loopback(0).unwrap();
        std::thread::scope(|s| {
            let long = s.spawn(|| {
                let started = Instant::now();
                let result = listener.accept_timeout(Duration::from_millis(300));
                (result.map(|_| ()).map_err(|e| e.kind()), started.elapsed())
            });
            // A short wait that ends while the long one is still waiting.
            let short = listener.accept_timeout(Duration::from_millis(20));
            assert_eq!(
                short.map(|_| ()).map_err(|e| e.kind()),
                Err(io::ErrorKind::TimedOut)
            );
            // Were the listener blocking now, the long wait would never end:
            // connect after it should have timed out to free it, and fail.
            std::thread::sleep(Duration::from_millis(1500));
            let _free_it = TcpStream::connect(listener.endpoint().unwrap().to_string());
            let (result, elapsed) = long.join().unwrap();
            assert_eq!(result, Err(io::ErrorKind::TimedOut));
            assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        });
    }
}
