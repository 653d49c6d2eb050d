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
    /// A wake-up the loop has not seen yet: one write at most per sleep,
    /// however many commands asked.
    pending: std::sync::atomic::AtomicBool,
    /// The loop is in (or about to enter) `poll`.
    sleeping: std::sync::atomic::AtomicBool,
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

    /// Wakes the loop, wherever it waits: in `poll` with its socket, or on
    /// the channel beside its reader thread (see [`Waker::channel`]).
    pub(crate) fn wake(&self) {
        #[cfg(unix)]
        if let Some(pipe) = &self.pipe {
            pipe.wake();
        }
        let _ = self.tx.try_send(());
    }

    /// The channel a loop with a reader thread selects on (with the reader
    /// thread's report): with the reader thread feeding it, every chunk can
    /// wake the loop, and a channel's wake-up is a futex only when the
    /// loop sleeps, where the pair's is a write, a `poll` and a read
    /// (`bench --sink`, QoS 1, window 100: a third less throughput). A
    /// wake-up meant for the pair leaves a token here that ends one wait
    /// early: the loop looks again and finds nothing to do.
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
            sleeping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A system call only when the loop sleeps in `poll`: a busy loop
    /// finds `pending` before it sleeps again (a publisher's wake-ups used
    /// to cost a write each, half of its throughput at QoS 0).
    fn wake(&self) {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        if !self.pending.swap(true, Ordering::SeqCst) && self.sleeping.load(Ordering::SeqCst) {
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
        // Said before `pending` is looked at, as `wake` sets `pending`
        // before it looks at this: either the loop sees the wake-up here,
        // or the waker sees the loop asleep and writes its byte.
        self.sleeping.store(true, Ordering::SeqCst);
        if self.pending.swap(false, Ordering::SeqCst) {
            self.sleeping.store(false, Ordering::SeqCst);
            return Ok(Ready { socket: false });
        }
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
        let polled = poll(&mut fds[..n], timeout.as_ref());
        self.sleeping.store(false, Ordering::SeqCst);
        match polled {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Ready { socket: false }),
            Err(e) => return Err(e.into()),
        }
        let woken = !fds[0].revents().is_empty();
        let socket = n == 2 && !fds[1].revents().is_empty();
        if woken {
            // One read holds every byte: one is written per sleep. Cleared
            // after: a wake-up before the clear is what this wait saw (the
            // loop looks at the state after returning), one after it is
            // found by the next wait.
            let mut sink = [0u8; 64];
            let _ = (&self.read).read(&mut sink);
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
    fn a_wake_up_from_another_thread_ends_a_wait_in_progress() {
        let waker = std::sync::Arc::new(Waker::new());
        let other = std::sync::Arc::clone(&waker);
        let t = Instant::now();
        let waking = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.wake();
        });
        waker.wait(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(4));
        waking.join().unwrap();
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
