//! How a connection is read (`ReadSide`): by the polling loop itself (unix,
//! `loop_forever` and the `loop_start` thread), by an external event loop,
//! or by a reader thread.
//!
//! The reader thread of one connection: blocking reads of the raw socket,
//! each chunk fed to the session at once, in this thread (see
//! `reader_feed.rs`): the protocol answers without waiting for the loop
//! thread to be scheduled. The loop hears only what needs it: events for
//! callbacks, bytes the socket did not take, and the end. A caller waiting
//! in `wait_for_publish` may read in the thread's place (see
//! `read_gate.rs`).

use std::io::Read;
use std::sync::{Arc, Weak};
use std::thread;

use crossbeam_channel::Receiver;

use super::dispatch::Cause;
use super::read_gate::ReadGate;
use super::Shared;
use crate::transport::Socket;

/// What the reader hands to the loop: only how the connection ended.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// End of stream (`None`) or a read error.
    Closed(Option<std::io::Error>),
    /// What arrived must close the connection (a protocol error, a
    /// refusal, a server DISCONNECT, bytes a layer could not decode).
    Failed(Cause),
}

/// Which client and connection the reader feeds. Weak, so a reader never
/// keeps a dropped client alive.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    pub(super) shared: Weak<Shared>,
    pub(super) generation: u64,
}

/// Starts the reader; the receiver yields how the connection ended. The
/// thread ends then, when the connection is replaced, or when the client
/// is gone. The gate lets a waiting caller read in its place.
pub(crate) fn spawn_reader(
    stream: Socket,
    name: String,
    feed: Feed,
) -> std::io::Result<(Receiver<Inbound>, Arc<ReadGate>)> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let gate = Arc::new(ReadGate::new(stream, tx, feed)?);
    let reader = Arc::clone(&gate);
    thread::Builder::new()
        .name(name)
        .spawn(move || reader.reader_thread())?;
    Ok((rx, gate))
}

/// How a connection's bytes are read. Decided by the first loop that needs
/// them: the client's own loops want a reader thread they can wait on; an
/// external event loop (Paho's `socket()` + `loop_read()`) wants the
/// socket's own readiness to mean "there is something to read", which a
/// reader thread would steal.
#[derive(Debug)]
pub(crate) enum ReadSide {
    /// Nothing has read yet.
    Undecided(Socket),
    /// A reader thread feeds the session; the receiver says how the
    /// connection ended; the gate lets a waiting caller read instead.
    Thread(Receiver<Inbound>, Arc<ReadGate>),
    /// The loop waits for the socket with its wake-up and reads it itself,
    /// under the gate, which a waiting caller may hold instead (unix, see
    /// `Driver::poll_and_read`); the receiver says how the connection
    /// ended when a waiting caller read the end.
    Polled(Receiver<Inbound>, Arc<ReadGate>),
    /// The caller's event loop watches the socket, now non-blocking, and
    /// `loop_read()` reads it directly.
    External(Socket),
}

/// What one non-blocking read produced.
#[derive(Debug)]
pub(crate) enum ReadNow {
    Data(Vec<u8>),
    Closed(Option<std::io::Error>),
    /// The reader thread fed something that closes the connection.
    Failed(Cause),
    Nothing,
}

/// How the client's own loop learns of a connection's bytes.
pub(crate) enum Reading {
    /// From its reader thread, which reports only the end.
    Thread(Receiver<Inbound>),
    /// By polling the socket and reading it (see [`ReadSide::Polled`]).
    Polled(Receiver<Inbound>, Arc<ReadGate>),
}

impl ReadSide {
    /// How the loop reads, decided on first use: by polling when it can
    /// (`polls`), else with a reader thread. A socket an external loop was
    /// reading is made blocking again (a waiting caller's reads block).
    pub(super) fn reading(
        &mut self,
        polls: bool,
        name: impl FnOnce() -> String,
        feed: impl FnOnce() -> Feed,
    ) -> std::io::Result<Reading> {
        match self {
            ReadSide::Polled(rx, gate) => return Ok(Reading::Polled(rx.clone(), Arc::clone(gate))),
            ReadSide::Thread(..) => {}
            ReadSide::Undecided(_) | ReadSide::External(_) if polls => {
                let stream = match self {
                    ReadSide::Undecided(s) | ReadSide::External(s) => s.try_clone()?,
                    _ => unreachable!("matched above"),
                };
                stream.set_nonblocking(false)?;
                let (tx, rx) = crossbeam_channel::bounded(1);
                let gate = Arc::new(ReadGate::new(stream, tx, feed())?);
                *self = ReadSide::Polled(rx.clone(), Arc::clone(&gate));
                return Ok(Reading::Polled(rx, gate));
            }
            ReadSide::Undecided(_) | ReadSide::External(_) => {}
        }
        self.thread(name, feed).map(Reading::Thread)
    }

    /// The reader thread's chunks, starting the thread on first use. A
    /// socket an external loop was reading is made blocking again.
    fn thread(
        &mut self,
        name: impl FnOnce() -> String,
        feed: impl FnOnce() -> Feed,
    ) -> std::io::Result<Receiver<Inbound>> {
        let stream = match self {
            ReadSide::Thread(rx, _) | ReadSide::Polled(rx, _) => return Ok(rx.clone()),
            ReadSide::Undecided(s) | ReadSide::External(s) => s.try_clone()?,
        };
        stream.set_nonblocking(false)?;
        let (rx, gate) = spawn_reader(stream, name(), feed())?;
        *self = ReadSide::Thread(rx.clone(), gate);
        Ok(rx)
    }

    /// A polling loop's socket gets a reader thread after all: for a
    /// caller waiting for an acknowledgement behind a backlog of events
    /// that the loop is not delivering (a callback holds it; reading past
    /// the backlog is the reader thread's alone: it reads one chunk and
    /// then waits for the loop, as where there is no poll), for callers
    /// waiting while messages queue behind the in-flight window, and for a
    /// broker that does not take writes at once. The connection keeps the
    /// thread from then on.
    pub(super) fn thread_for_backlog(&mut self, name: impl FnOnce() -> String) {
        let ReadSide::Polled(rx, gate) = self else {
            return;
        };
        let reader = Arc::clone(gate);
        let spawned = thread::Builder::new()
            .name(name())
            .spawn(move || reader.reader_thread());
        if spawned.is_ok() {
            *self = ReadSide::Thread(rx.clone(), Arc::clone(gate));
        }
    }

    /// The gate of the reader thread, if one reads.
    pub(super) fn gate(&self) -> Option<Arc<ReadGate>> {
        match self {
            ReadSide::Thread(_, gate) | ReadSide::Polled(_, gate) => Some(Arc::clone(gate)),
            _ => None,
        }
    }

    /// Hands the socket to an external event loop (no reader thread will
    /// compete for its bytes) unless a reader thread already runs.
    pub(super) fn external(&mut self) -> std::io::Result<()> {
        if let ReadSide::Undecided(stream) = self {
            stream.set_nonblocking(true)?;
            let stream = stream.try_clone()?;
            *self = ReadSide::External(stream);
        }
        Ok(())
    }

    /// True when the loop polls and reads the socket itself.
    pub(super) fn is_polled(&self) -> bool {
        matches!(self, ReadSide::Polled(..))
    }

    /// True when an external event loop reads the socket.
    pub(super) fn is_external(&self) -> bool {
        matches!(self, ReadSide::External(_))
    }

    /// Whatever can be had without waiting.
    pub(super) fn read_now(&mut self, buf: &mut [u8]) -> ReadNow {
        if matches!(self, ReadSide::Undecided(_)) {
            if let Err(e) = self.external() {
                return ReadNow::Closed(Some(e));
            }
        }
        match self {
            ReadSide::Thread(rx, _) | ReadSide::Polled(rx, _) => match rx.try_recv() {
                Ok(Inbound::Closed(e)) => ReadNow::Closed(e),
                Ok(Inbound::Failed(cause)) => ReadNow::Failed(cause),
                Err(crossbeam_channel::TryRecvError::Empty) => ReadNow::Nothing,
                Err(crossbeam_channel::TryRecvError::Disconnected) => ReadNow::Closed(None),
            },
            ReadSide::External(stream) | ReadSide::Undecided(stream) => loop {
                match stream.read(buf) {
                    Ok(0) => return ReadNow::Closed(None),
                    Ok(n) => return ReadNow::Data(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        return ReadNow::Nothing
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return ReadNow::Closed(Some(e)),
                }
            },
        }
    }
}
