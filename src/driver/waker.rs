//! What wakes the loop thread: a command queued something to write, a
//! state changed, a reader thread saw the end. On unix the wake-up is a
//! byte on a socket pair, so the loop can wait for it and for its
//! connection's socket in one `poll` and read the socket itself (see
//! `network_loop.rs`); elsewhere, or if the pair cannot be made, it is a
//! channel, and a reader thread reads the socket.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// Wakes the loop; a wake-up is coalesced with one still pending.
pub(crate) struct Waker {
    /// Used only when `pipe` is `None`.
    tx: Sender<()>,
    rx: Receiver<()>,
    #[cfg(unix)]
    pipe: Option<Pipe>,
}

#[cfg(unix)]
struct Pipe {
    /// Polled and drained by the loop.
    read: std::os::unix::net::UnixStream,
    write: std::os::unix::net::UnixStream,
    /// A byte is on its way (set by the waker that writes it, cleared by the
    /// loop after draining): one write per wake-up the loop sees, however
    /// many commands asked.
    pending: std::sync::atomic::AtomicBool,
}

/// What a wait came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    /// The socket polled has bytes, its end or an error to read.
    pub(crate) socket: bool,
}

impl Waker {
    pub(crate) fn new() -> Waker {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Waker {
            tx,
            rx,
            #[cfg(unix)]
            pipe: Pipe::new().ok(),
        }
    }

    /// True when the loop can wait for its socket and this waker together
    /// (and so reads the socket itself, with no reader thread).
    #[cfg(unix)]
    pub(crate) fn polls(&self) -> bool {
        self.pipe.is_some()
    }

    /// See the unix version: never here.
    #[cfg(not(unix))]
    pub(crate) fn polls(&self) -> bool {
        false
    }

    /// Wakes the loop.
    pub(crate) fn wake(&self) {
        #[cfg(unix)]
        if let Some(pipe) = &self.pipe {
            pipe.wake();
            return;
        }
        let _ = self.tx.try_send(());
    }

    /// The channel a loop without `poll` selects on (with its reader
    /// thread's).
    pub(crate) fn channel(&self) -> &Receiver<()> {
        &self.rx
    }

    /// Waits up to `timeout` for a wake-up.
    pub(crate) fn wait(&self, timeout: Duration) {
        #[cfg(unix)]
        if let Some(pipe) = &self.pipe {
            let _ = pipe.wait(None, timeout);
            return;
        }
        let _ = self.rx.recv_timeout(timeout);
    }

    /// Waits up to `timeout` for a wake-up or for `socket` to be readable.
    /// Only when [`Waker::polls`].
    #[cfg(unix)]
    pub(crate) fn wait_with(
        &self,
        socket: Option<std::os::fd::BorrowedFd<'_>>,
        timeout: Duration,
    ) -> std::io::Result<Ready> {
        match &self.pipe {
            Some(pipe) => pipe.wait(socket, timeout),
            None => Err(std::io::ErrorKind::Unsupported.into()),
        }
    }
}

#[cfg(unix)]
impl Pipe {
    fn new() -> std::io::Result<Pipe> {
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(Pipe {
            read,
            write,
            pending: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn wake(&self) {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        if !self.pending.swap(true, Ordering::SeqCst) {
            // A full pair already holds a wake-up.
            let _ = (&self.write).write(&[1]);
        }
    }

    fn wait(
        &self,
        socket: Option<std::os::fd::BorrowedFd<'_>>,
        timeout: Duration,
    ) -> std::io::Result<Ready> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        use std::io::Read;
        use std::sync::atomic::Ordering;
        let interest = PollFlags::IN;
        let mut fds = [
            PollFd::new(&self.read, interest),
            // Replaced below when there is a socket; polling the pair twice
            // costs nothing.
            PollFd::new(&self.read, interest),
        ];
        let n = match socket {
            Some(fd) => {
                fds[1] = PollFd::from_borrowed_fd(fd, interest);
                2
            }
            None => 1,
        };
        // Beyond what a timespec holds: no timeout.
        let timeout = Timespec::try_from(timeout).ok();
        match poll(&mut fds[..n], timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Ready { socket: false }),
            Err(e) => return Err(e.into()),
        }
        let woken = !fds[0].revents().is_empty();
        let socket = n == 2 && !fds[1].revents().is_empty();
        if woken {
            // Drained before `pending` is cleared: a wake-up after the
            // clear writes a byte of its own, one before it is what this
            // wait saw (the loop looks at the state after returning).
            let mut sink = [0u8; 64];
            while matches!((&self.read).read(&mut sink), Ok(n) if n > 0) {}
            self.pending.store(false, Ordering::SeqCst);
        }
        Ok(Ready { socket })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_wake_up_before_the_wait_ends_it_at_once_and_is_used_up() {
        let waker = Waker::new();
        assert!(waker.polls());
        waker.wake();
        waker.wake();
        let t = Instant::now();
        waker.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(4));
        // Both wake-ups were one: the next wait times out.
        let t = Instant::now();
        waker.wait(Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(25));
        // And the waker works again after it.
        waker.wake();
        let t = Instant::now();
        waker.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_readable_socket_ends_the_wait_and_says_so() {
        use std::io::Write;
        let waker = Waker::new();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::os::fd::AsFd;
        let ready = waker
            .wait_with(Some(a.as_fd()), Duration::from_millis(10))
            .unwrap();
        assert!(!ready.socket);
        b.write_all(b"x").unwrap();
        let ready = waker
            .wait_with(Some(a.as_fd()), Duration::from_secs(5))
            .unwrap();
        assert!(ready.socket);
    }
}
