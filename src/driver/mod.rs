//! The driver: the threads (the network loop of `loop`, `loop_forever`
//! and the `loop_start` thread; a reader thread per connection where the
//! loop does not read it itself), the
//! reconnect wait, the sockets, and the session behind the core lock. It
//! owns sockets and time and decides no protocol rule: those are the
//! [`session`](crate::session)'s.
//!
//! It is a type of its own, [`Driver`], and knows nothing of Paho's
//! callbacks: commands come in as method calls (`commands.rs`: connect,
//! publish, subscribe, disconnect, the loops, stop), events go out to a
//! [`Handler`] (`handler.rs`), which the layer above implements. Message
//! completion, what a `MessageInfo` reads and waits on, lives here too
//! (`completion/`), so whoever learns that a message ended (the loop, the
//! reader thread, a caller writing or reading in the loop's place)
//! completes it.
//!
//! Locks: `core` (the session, the connection and Paho's state) is held only
//! for short, non-blocking steps, never while a blocking write runs and never
//! while the handler runs; `write_lock` is held by whoever writes (the loop,
//! or a caller writing because no loop runs) from taking bytes until they
//! are on the socket, and never while a callback runs. The handler's own
//! locks (the face's callback registry) are held only to copy a callback
//! out. So any command may be called from any thread, from the handler
//! included.
//!
//! Reading: the first loop that needs a connection's bytes decides who reads
//! them (see `ReadSide`): on unix, `loop_forever` and the `loop_start`
//! thread read it themselves, waiting for the socket and their wake-up in
//! one `poll` (`waker.rs`); a reader thread for the application's `loop()`
//! calls and off unix; the caller's event loop after `socket()`. Either
//! way, a caller blocked in `wait_for_publish` reads in their place while
//! it waits (see `read_gate`), under the gate lock, which is taken before
//! `core`.

mod commands;
mod completion;
mod dispatch;
mod failover;
mod flush;
mod handler;
mod network_loop;
mod read_gate;
mod reader;
mod reader_feed;
mod reconnect;
mod room;
mod waker;
mod write_interest;

pub(crate) use commands::ConnectTo;
pub(crate) use completion::Completion;
pub use completion::Outcome;
use completion::{Epochs, InfoInner, InfoWaiters};
use dispatch::drop_stale_messages;
pub(crate) use dispatch::random_client_id;
use failover::{Failover, Target};
pub use failover::{FailoverOrder, Server};
pub use handler::LogLevel;
use handler::Panic;
pub(crate) use handler::{Answer, Handler, Listening, SocketEvent};
use read_gate::{feeding, gate_of};
use reader::{Feed, Inbound, ReadNow, ReadSide, Reading};

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::session::{Backoff, MidTable, Session};
use crate::transport::{Abandon, Layers, Socket, TransportConfig};

/// Paho's `_ConnectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    New,
    ConnectAsync,
    Connecting,
    Connected,
    ConnectionLost,
    Disconnecting,
    Disconnected,
}

/// Who runs the client's loop (see `Driver::claim_loop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoopOwner {
    /// No loop runs.
    Free,
    /// `loop_start` made its thread, which has not taken over yet.
    Starting,
    /// A loop runs on this thread.
    Thread(ThreadId),
}

/// The live connection.
pub(crate) struct Conn {
    /// Written by the loop (outside the core lock); shut down to close.
    pub(crate) writer: Arc<Socket>,
    pub(crate) read_side: ReadSide,
    /// Bumped for every new connection, so bytes and reports that belong to
    /// an old one are recognised and ignored.
    pub(crate) generation: u64,
    /// TLS (and later WebSocket) over the socket; `None` for plain TCP or
    /// unix sockets, which cost nothing extra. Locked by whoever reads or
    /// writes, never while a callback runs.
    pub(crate) layers: Option<Arc<Mutex<Layers>>>,
    /// The broker at the other end.
    pub(crate) server: Server,
}

impl Drop for Conn {
    /// A dropped connection must not leave its reader thread blocked on a
    /// socket that the reader's own handle keeps open.
    fn drop(&mut self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// What the core lock guards.
pub(crate) struct Core {
    pub(crate) session: Session,
    pub(crate) state: ConnState,
    pub(crate) conn: Option<Conn>,
    pub(crate) generation: u64,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) transport: TransportConfig,
    pub(crate) reconnect_on_failure: bool,
    pub(crate) backoff: Backoff,
    /// A refused MQTT 3.1.1 CONNACK that Paho answers by reconnecting at
    /// once, with no callbacks (reference §10.4): set while that close runs.
    pub(crate) silent_retry: bool,
    /// A refused MQTT 3.1.1 CONNACK 1 without `reconnect_on_failure`: its
    /// close reports a protocol error, as Paho's does.
    pub(crate) unsupported_v311: bool,
    /// `loop_forever` (or the `loop_start` thread) runs, reconnecting by
    /// itself.
    pub(crate) auto_reconnect: bool,
    /// `on_socket_register_write` was called for this socket and
    /// `on_socket_unregister_write` not yet.
    pub(crate) registered_write: bool,
    /// Where the `MessageInfo`s of stored messages learn how they ended
    /// when the store no longer says (see `Epochs`).
    pub(crate) epochs: Epochs,
    /// The connect in progress (`reconnect()` opening its transport), for
    /// `disconnect()`, `loop_stop()` and the client's drop to abandon.
    pub(crate) opening: Option<Opening>,
    /// Which broker each attempt goes to (see `failover.rs`).
    pub(crate) failover: Failover,
    /// When a CONNACK last accepted a connection, and the broker of the
    /// last connection (for `stats()`).
    pub(crate) last_connack: Option<std::time::SystemTime>,
    pub(crate) last_server: Option<Server>,
    /// The persistence directory, when the application gave one: the
    /// session's journal is written there (see `Core::persist_journal`).
    pub(crate) persist: Option<crate::persist::Store>,
    /// The journal's ops on their way to `persist` (kept for its capacity).
    pub(crate) journal: Vec<crate::session::StoreOp>,
}

/// A connect in progress.
pub(crate) struct Opening {
    pub(crate) abandon: Arc<Abandon>,
    /// The thread blocked in it.
    pub(crate) thread: ThreadId,
}

impl Core {
    /// Ends the connect in progress, if any, at once (its blocked read,
    /// write or TCP connect returns, and `reconnect()` returns
    /// `MQTT_ERR_NO_CONN`); with `only_on`, only when that thread runs it.
    pub(crate) fn abandon_opening(&mut self, only_on: Option<ThreadId>) {
        if only_on.is_some_and(|t| self.opening.as_ref().is_some_and(|o| o.thread != t)) {
            return;
        }
        if let Some(opening) = self.opening.take() {
            opening.abandon.abandon();
        }
    }
}

impl Drop for Core {
    /// The client is gone: the `MessageInfo`s of messages it never
    /// delivered (and now never will) fail instead of waiting forever.
    fn drop(&mut self) {
        for m in self.session.store().iter() {
            if let Some(failure) = m.failure() {
                self.epochs.record(m.seq(), Outcome::of_failure(failure));
            }
        }
        let undelivered = self
            .session
            .store()
            .iter()
            .filter(|m| {
                !matches!(
                    m.state(),
                    crate::session::OutState::Acked | crate::session::OutState::Failed
                )
            })
            .map(|m| m.seq())
            .collect();
        self.epochs.close(Outcome::ConnectionLost, undelivered);
    }
}

impl Core {
    /// The primary server: the one `connect()` named.
    pub(crate) fn primary(&self) -> Server {
        Server {
            host: self.host.clone(),
            port: self.port,
            transport: self.transport.transport,
            tls: self.transport.has_tls(),
        }
    }

    /// Where an attempt at `target` goes: host, port, and how to get there.
    fn route(&self, target: &Target) -> std::io::Result<(Server, TransportConfig)> {
        let server = match target {
            Target::Primary => return Ok((self.primary(), self.transport.clone())),
            Target::Listed(i) => match self.failover.listed(*i) {
                Some(server) => server.clone(),
                None => return Ok((self.primary(), self.transport.clone())),
            },
            Target::Referred(server) => server.clone(),
        };
        let mut config = self.transport.clone();
        config.transport = server.transport;
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        if !server.tls {
            config.tls = None;
        } else if config.tls.is_none() {
            config.tls = Some(crate::transport::tls::TlsSettings::from_options(
                &crate::transport::tls::TlsOptions::default(),
            )?);
        }
        #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
        if server.tls {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{server}: TLS is not built in (features tls or native-tls)"),
            ));
        }
        Ok((server, config))
    }

    /// The application has had the `Published` event of `mid`: its stored
    /// message leaves the store, and a failure is recorded where its
    /// `MessageInfo` will look.
    pub(crate) fn release(&mut self, mid: u16) {
        if let Some((seq, Some(failure))) = self.session.release(mid) {
            self.epochs.record(seq, Outcome::of_failure(failure));
        }
    }

    /// Writes the session's journal to the persistence directory, if there
    /// is one; with `before_send` (the caller takes the session's bytes for
    /// the socket next, in this same lock hold), also the fsync that
    /// `Durability::Sync` promises before them. Every path that takes bytes
    /// out of the session calls it first.
    pub(crate) fn persist_journal(&mut self, before_send: bool) {
        let Some(store) = &mut self.persist else {
            return;
        };
        if self.session.journal_pending() {
            self.session.take_journal(&mut self.journal);
            store.append(&self.journal);
            self.journal.clear();
        }
        if before_send {
            store.sync_before_send();
        }
    }

    /// Bytes wait to be written: the session's, or wire bytes its layers
    /// produced (Paho's `want_write`).
    pub(crate) fn wants_write(&self) -> bool {
        self.session.wants_write()
            || self
                .conn
                .as_ref()
                .and_then(|c| c.layers.as_ref())
                .is_some_and(|l| !l.lock().out().is_empty())
    }
}

/// The driver of one client: its session and connection (the core lock),
/// its threads, its sockets and its reconnect wait. Commands come in as
/// method calls from any thread (see `commands.rs`); events go out to its
/// [`Handler`]. A handle, cheap to clone: every clone drives the same
/// client, and none keeps it from being stopped (that is the layer
/// above's business: see [`Driver::shut_down`]).
#[derive(Clone)]
pub(crate) struct Driver {
    shared: Arc<Shared>,
}

/// A [`Driver`] that does not keep it alive, for what the layer above
/// keeps of it without keeping it (a `WeakClient`, what stops the client).
#[derive(Clone)]
pub(crate) struct WeakDriver(Weak<Shared>);

impl WeakDriver {
    /// The driver, while it exists.
    pub(crate) fn upgrade(&self) -> Option<Driver> {
        self.0.upgrade().map(|shared| Driver { shared })
    }
}

/// Everything a driver's handles and threads share.
struct Shared {
    core: Mutex<Core>,
    /// Where events go.
    handler: Box<dyn Handler>,
    /// What the handler listens for (see [`Listening`]); set by
    /// [`Driver::listen`], read on every step without a lock.
    listening_published: AtomicBool,
    listening_register_write: AtomicBool,
    listening_unregister_write: AtomicBool,
    /// Held from taking bytes out of the session until they are written,
    /// so two writers (the loop, and a caller writing synchronously because
    /// no loop runs) can never interleave their bytes.
    write_lock: Mutex<()>,
    /// Events taken from the session and not yet delivered (see
    /// `Driver::dispatch`), with `manual_ack` as it was then. Locked after
    /// `core` when both are held.
    batch: Mutex<std::collections::VecDeque<(crate::session::Event, bool)>>,
    /// The state words of QoS 0 messages not yet written, by mid (stored
    /// QoS 1/2 messages have none: see `Epochs`).
    infos: Mutex<MidTable<Arc<InfoInner>>>,
    /// Where `MessageInfo::wait_for_publish` waits.
    info_waiters: Arc<InfoWaiters>,
    /// Signalled after each dispatched batch, for a reader waiting for the
    /// loop to work off a backlog of events.
    drained_tx: Sender<()>,
    drained_rx: Receiver<()>,
    /// Wakes the loop: something to write, or a state change to look at.
    waker: waker::Waker,
    /// The thread running the network loop, if any.
    loop_thread: Arc<Mutex<Option<ThreadId>>>,
    /// Which loop runs (`loop`, `loop_forever`, the `loop_start` thread, an
    /// external loop's step): one at a time, so no two callbacks overlap.
    loop_owner: Mutex<LoopOwner>,
    /// The `loop_start` thread.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// `loop_stop()` was asked.
    terminate: AtomicBool,
    /// `loop_stop()` or `disconnect()` may have been asked since the last
    /// connection began: dispatch then looks (under the core lock) whether
    /// it must stop delivering messages. Set before or with what it stands
    /// for, so a stop is never missed; a stale true costs only that look.
    stop_asked: AtomicBool,
    /// Bumped by `disconnect()`, `loop_stop()`, `reinitialise()` and the
    /// client's end: a caller waiting for room or for a drain (see
    /// `room.rs`) gives up when it moves.
    stops: std::sync::atomic::AtomicU64,
    /// A `loop_start` thread is alive (set and cleared by the thread itself,
    /// so a second one can never start while the first is winding down).
    thread_running: AtomicBool,
    /// The loop thread waits for something to do (see
    /// `Driver::write_through`).
    loop_asleep: AtomicBool,
    /// Chunks read by callers waiting in `wait_for_publish` (see
    /// `read_gate`), for tests.
    waiter_reads: std::sync::atomic::AtomicU64,
    /// When a caller last wrote instead of the loop, in ns since `started`.
    last_write_through: std::sync::atomic::AtomicU64,
    /// When the client was made: the origin of `last_write_through`.
    started: std::time::Instant,
    /// A callback panicked; the loop re-raises it (see
    /// `Driver::rethrow_panic`).
    panic: Mutex<Option<Panic>>,
}

impl Shared {
    /// Wakes the loop (coalesced: one pending wake is enough).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}
