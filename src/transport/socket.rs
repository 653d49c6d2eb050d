//! One socket type for every transport: a TCP stream, or a unix-domain
//! stream for Paho's `transport="unix"`. TLS and WebSocket are not socket
//! types here: they are layers over the bytes (see `layers`), so the reader
//! thread, the writer and an external event loop all see the same raw
//! socket whatever the transport.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A connected stream socket.
#[derive(Debug)]
pub enum Socket {
    /// TCP (`transport="tcp"` or `"websockets"`).
    Tcp(TcpStream),
    /// A unix-domain stream socket (`transport="unix"`).
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    /// A second handle to the same socket.
    pub fn try_clone(&self) -> io::Result<Socket> {
        match self {
            Socket::Tcp(s) => s.try_clone().map(Socket::Tcp),
            #[cfg(unix)]
            Socket::Unix(s) => s.try_clone().map(Socket::Unix),
        }
    }

    /// Shuts down reading, writing or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Socket::Unix(s) => s.shutdown(how),
        }
    }

    /// Writes what the socket takes at once, without blocking and without
    /// changing the socket's mode (the reader thread keeps its blocking
    /// reads): `WouldBlock` when it takes nothing. Only on Linux, where
    /// `send` has a per-call non-blocking flag; elsewhere always
    /// `WouldBlock`, and the caller leaves the write to the loop.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            // MSG_DONTWAIT | MSG_NOSIGNAL (no SIGPIPE from a closed peer,
            // as with std's own writes).
            const FLAGS: i32 = 0x40 | 0x4000;
            match self {
                Socket::Tcp(s) => socket2::SockRef::from(s).send_with_flags(buf, FLAGS),
                Socket::Unix(s) => socket2::SockRef::from(s).send_with_flags(buf, FLAGS),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = buf;
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    /// Blocks until bytes can be read, consuming none (a peek): `false` at
    /// end of stream.
    pub fn wait_readable(&self) -> io::Result<bool> {
        // socket2's peek takes uninitialised memory; the byte is not
        // looked at, only whether there was one.
        let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        let n = match self {
            Socket::Tcp(s) => socket2::SockRef::from(s).peek(&mut one)?,
            #[cfg(unix)]
            Socket::Unix(s) => socket2::SockRef::from(s).peek(&mut one)?,
        };
        Ok(n > 0)
    }

    /// Non-blocking mode on or off (for every handle of the socket).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nonblocking(on),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// Bound on each blocking write (`None`: no bound).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// Bound on each blocking read (`None`: no bound).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// The TCP stream, when this is one.
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            Socket::Tcp(s) => Some(s),
            #[cfg(unix)]
            Socket::Unix(_) => None,
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn wait_readable_consumes_nothing_and_reports_the_end() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let socket = Socket::Tcp(listener.accept().unwrap().0);
        peer.write_all(b"ab").unwrap();
        assert!(socket.wait_readable().unwrap());
        assert!(socket.wait_readable().unwrap());
        let mut buf = [0u8; 2];
        (&socket).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ab");
        drop(peer);
        assert!(!socket.wait_readable().unwrap());
    }
}
