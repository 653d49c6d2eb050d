//! The driver's commands: what the layer above asks of it, from any
//! thread. Each takes the core lock for a short step, then wakes the loop
//! (or writes in its place when none runs); none waits for the loop, so a
//! command is safe from inside an event too. The loops themselves are
//! commands as well: they run on the caller's thread (`loop`,
//! `loop_forever`, the external-loop steps) or on the `loop_start` thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use super::{
    Completion, ConnState, Core, Driver, Epochs, Handler, InfoInner, InfoWaiters, Listening,
    LogLevel, LoopOwner, Outcome, Shared, SocketEvent, WeakDriver,
};
use crate::error::{Error, ErrorCode, RuntimeReason};
use crate::packet::{Disconnect, Properties, QoS};
use crate::persist::{Durability, OpenError, PersistReport, Store};
use crate::session::{
    Backoff, CleanStart, DroppedMessage, Message, MidTable, PublishResult, Restored, Session,
    SessionConfig, StoreOp,
};
use crate::transport::{Transport, TransportConfig};

/// Where the next connections go, and how (the part of Paho's `connect`
/// that is stored).
#[derive(Debug)]
pub(crate) struct ConnectTo {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) keepalive: u16,
    pub(crate) bind_address: String,
    pub(crate) bind_port: u16,
    pub(crate) clean_start: CleanStart,
    /// MQTT 5 CONNECT properties; `None` keeps the ones set before.
    pub(crate) properties: Option<Properties>,
}

impl Driver {
    /// A driver for a new client with session `config`, reaching brokers
    /// over `transport`, telling `handler` what happens.
    pub(crate) fn new(
        config: SessionConfig,
        transport: Transport,
        reconnect_on_failure: bool,
        handler: Box<dyn Handler>,
    ) -> Driver {
        let (drained_tx, drained_rx) = crossbeam_channel::bounded(1);
        let core = Core {
            session: Session::new(config),
            state: ConnState::New,
            conn: None,
            generation: 0,
            host: String::new(),
            port: 1883,
            transport: TransportConfig {
                transport,
                ..TransportConfig::default()
            },
            reconnect_on_failure,
            backoff: Backoff::default(),
            silent_retry: false,
            unsupported_v311: false,
            auto_reconnect: false,
            registered_write: false,
            epochs: Epochs::default(),
            opening: None,
            failover: Default::default(),
            last_connack: None,
            last_server: None,
            persist: None,
            journal: Vec::new(),
        };
        let loop_thread = Arc::new(Mutex::new(None));
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            handler,
            listening_published: AtomicBool::new(false),
            listening_register_write: AtomicBool::new(false),
            listening_unregister_write: AtomicBool::new(false),
            write_lock: Mutex::new(()),
            batch: Mutex::new(std::collections::VecDeque::new()),
            infos: Mutex::new(MidTable::default()),
            info_waiters: Arc::new(InfoWaiters::new(Arc::clone(&loop_thread))),
            waker: super::waker::Waker::new(),
            drained_tx,
            drained_rx,
            loop_thread,
            loop_owner: Mutex::new(LoopOwner::Free),
            thread: Mutex::new(None),
            terminate: AtomicBool::new(false),
            stop_asked: AtomicBool::new(false),
            stops: AtomicU64::new(0),
            thread_running: AtomicBool::new(false),
            loop_asleep: AtomicBool::new(false),
            waiter_reads: AtomicU64::new(0),
            last_write_through: AtomicU64::new(0),
            started: std::time::Instant::now(),
            panic: Mutex::new(None),
        });
        Driver { shared }
    }

    /// A handle that does not keep the driver alive.
    pub(crate) fn downgrade(&self) -> WeakDriver {
        WeakDriver(Arc::downgrade(&self.shared))
    }

    /// The core: the session, its configuration and the connection's
    /// state, for the layer above's getters and setters. Held briefly, and
    /// never across a command or while an event is handled.
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.shared.core.lock()
    }

    /// A number that tells this driver from others alive at the same time
    /// (to seed randomness per client).
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// What the handler listens for from now on.
    pub(crate) fn listen(&self, listening: Listening) {
        let shared = &self.shared;
        shared
            .listening_published
            .store(listening.published, Ordering::SeqCst);
        shared
            .listening_register_write
            .store(listening.register_write, Ordering::SeqCst);
        shared
            .listening_unregister_write
            .store(listening.unregister_write, Ordering::SeqCst);
        // Packet lines are made only while someone reads them.
        shared.core.lock().session.set_trace(listening.log);
    }

    /// Wakes the loop to look at the state again.
    pub(crate) fn wake(&self) {
        self.shared.wake();
    }

    /// Stores where and how to connect, closing the connection there is
    /// (with only a [`SocketEvent::Close`]); the state becomes
    /// "connect_async" for `loop_forever` to act on.
    pub(crate) fn connect_async(&self, to: ConnectTo) {
        let old = {
            let mut core = self.shared.core.lock();
            let old = core.conn.take();
            if let Some(conn) = &old {
                let _ = conn.writer.shutdown(std::net::Shutdown::Both);
                core.session.connection_closed();
                super::drop_stale_messages(&mut core);
            }
            core.host = to.host;
            core.port = to.port;
            core.transport.tcp.bind_address = to.bind_address;
            core.transport.tcp.bind_port = to.bind_port;
            let config = core.session.config_mut();
            config.keepalive = to.keepalive;
            config.clean_start = to.clean_start;
            if let Some(p) = to.properties {
                config.connect_properties = p;
            }
            core.session.mark_first_connect();
            core.failover.restart();
            core.state = ConnState::ConnectAsync;
            self.stop_asked_again();
            old.is_some()
        };
        if old {
            self.socket_event(SocketEvent::Close);
        }
    }

    /// Queues the DISCONNECT `packet` makes (given whether the connection
    /// speaks MQTT 5) behind what is queued, and stops: no further message
    /// is delivered, a connect in progress is abandoned, no reconnect
    /// follows. `MQTT_ERR_NO_CONN` without a connection.
    pub(crate) fn disconnect(&self, packet: impl FnOnce(bool) -> Disconnect) -> ErrorCode {
        let rc = {
            let mut core = self.shared.core.lock();
            let v5 = core.session.config().protocol == crate::packet::ProtocolVersion::MQTTv5;
            let rc = core.session.disconnect(packet(v5));
            self.shared.stop_asked.store(true, Ordering::SeqCst);
            core.state = if rc == ErrorCode::Success {
                ConnState::Disconnecting
            } else {
                ConnState::Disconnected
            };
            // A connect in progress would only be dropped once made.
            core.abandon_opening(None);
            rc
        };
        self.stopped();
        self.wake_loop();
        rc
    }

    /// Publishes what `publish` gives the session (it checks the message
    /// and calls `Session::publish_ref`, all under one core lock: a lock per
    /// step is what costs on this path), and returns the message's
    /// completion.
    pub(crate) fn publish(
        &self,
        publish: impl FnOnce(&mut Session) -> Result<PublishResult, Error>,
    ) -> Result<Completion, Error> {
        let mut core = self.shared.core.lock();
        let result = publish(&mut core.session)?;
        // Its record is written before `publish` returns, so a crash from
        // now on does not lose it (see `persist`).
        core.persist_journal(false);
        let completion = self.completion_of(&mut core, &result);
        let dropped = self.settle_dropped(&mut core);
        drop(core);
        if dropped {
            self.shared.info_waiters.notify();
        }
        self.wake_loop();
        Ok(completion)
    }

    /// Ends the messages the queue-full policy dropped with
    /// [`Outcome::Evicted`], where their `MessageInfo`s look (under the
    /// core lock, so none reads "published" from the store's not holding
    /// it); true when waiters are to be woken.
    pub(super) fn settle_dropped(&self, core: &mut Core) -> bool {
        let dropped = core.session.take_dropped();
        for d in &dropped {
            match *d {
                DroppedMessage::Stored { seq, .. } => core.epochs.record(seq, Outcome::Evicted),
                DroppedMessage::Qos0 { mid } => {
                    if let Some(info) = self.shared.infos.lock().remove(mid) {
                        info.complete(Outcome::Evicted);
                    }
                }
            }
        }
        !dropped.is_empty()
    }

    /// The completion of a message `result` says the session took (or
    /// refused), registered where the driver completes it; under the core
    /// lock.
    pub(super) fn completion_of(&self, core: &mut Core, result: &PublishResult) -> Completion {
        let completion = if result.stored {
            // No allocation: the store is its state.
            let epoch = core.epochs.for_publish(result.seq);
            Completion::stored(&self.shared, epoch, result.mid, result.seq, result.rc)
        } else if result.queued {
            let completion = Completion::queued(result.mid, result.rc, &self.shared.info_waiters);
            if let Some(state) = completion.own_state() {
                self.shared.infos.lock().insert(result.mid, state);
            }
            return completion;
        } else {
            Completion::own(
                result.mid,
                result.rc,
                result.refused,
                &self.shared.info_waiters,
            )
        };
        if let (Some(state), true) = (completion.own_state(), result.rc == ErrorCode::Success) {
            // A QoS 0 message to be written. Registered under the core
            // lock, so its completion (which needs that lock first)
            // cannot be missed.
            self.shared.infos.lock().insert(result.mid, state);
        }
        completion
    }

    /// Runs a request on the session, then wakes the loop to write it.
    pub(crate) fn request<R>(&self, request: impl FnOnce(&mut Session) -> R) -> R {
        let result = request(&mut self.shared.core.lock().session);
        self.wake_loop();
        result
    }

    /// With manual acks, acknowledges received message `mid`; without,
    /// does nothing.
    pub(crate) fn ack(&self, mid: u16, qos: QoS) {
        {
            let mut core = self.shared.core.lock();
            if !core.session.config().manual_ack {
                return;
            }
            core.session.ack(mid, qos);
        }
        self.wake_loop();
    }

    // ----- loops ------------------------------------------------------

    /// One pass of the network loop (Paho's `loop`).
    pub(crate) fn loop_once(&self, timeout: Duration) -> ErrorCode {
        // The application's own `loop()`: a reader thread keeps the exchange
        // going between its calls (see `Driver::loop_pass`).
        self.on_loop(ErrorCode::Inval, || self.loop_pass(timeout, false))
    }

    /// Paho's `loop_forever` (see [`Driver::run_forever`]).
    pub(crate) fn loop_forever(
        &self,
        timeout: Duration,
        retry_first_connection: bool,
    ) -> Result<ErrorCode, Error> {
        self.on_loop(Ok(ErrorCode::Inval), || {
            self.run_forever(timeout, retry_first_connection)
        })
    }

    /// Paho's `loop_read`.
    pub(crate) fn loop_read(&self) -> ErrorCode {
        self.on_loop(ErrorCode::Inval, || self.read_available())
    }

    /// Paho's `loop_write`.
    pub(crate) fn loop_write(&self) -> ErrorCode {
        self.on_loop(ErrorCode::Inval, || self.flush())
    }

    /// Paho's `loop_misc`.
    pub(crate) fn loop_misc(&self) -> ErrorCode {
        self.on_loop(ErrorCode::Inval, || self.misc())
    }

    /// Runs a loop step as the loop's thread, then re-raises a callback's
    /// panic here; `busy` when another thread runs a loop.
    fn on_loop<R>(&self, busy: R, step: impl FnOnce() -> R) -> R {
        let Some(_claim) = self.claim_loop() else {
            return busy;
        };
        let result = self.as_loop_thread(step);
        self.rethrow_panic();
        result
    }

    /// Paho's `loop_start`: `loop_forever(retry_first_connection=True)` on
    /// a new thread.
    pub(crate) fn loop_start(&self) -> ErrorCode {
        let mut thread = self.shared.thread.lock();
        // Until the previous thread has really ended (even if loop_stop was
        // asked from inside its own callback), no second one starts: two
        // loops on one client would run callbacks concurrently.
        if self.shared.thread_running.load(Ordering::SeqCst) {
            return ErrorCode::Inval;
        }
        {
            // Nor while another thread runs `loop_forever` or `loop`; the
            // new thread's claim is made now, so no loop starts in between.
            let mut owner = self.shared.loop_owner.lock();
            if *owner != LoopOwner::Free {
                return ErrorCode::Inval;
            }
            *owner = LoopOwner::Starting;
        }
        self.shared.terminate.store(false, Ordering::SeqCst);
        self.shared.thread_running.store(true, Ordering::SeqCst);
        let driver = self.clone();
        let client_id = self.shared.core.lock().session.config().client_id.clone();
        let name = format!("mqtt-tether-{client_id}");
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            struct Running(Driver);
            impl Drop for Running {
                // Also when a callback's panic ends the thread.
                fn drop(&mut self) {
                    self.0.release_loop();
                    self.0.shared.thread_running.store(false, Ordering::SeqCst);
                }
            }
            let running = Running(driver);
            running.0.take_started_loop();
            let _ = running.0.loop_forever(Duration::from_secs(1), true);
        });
        match spawned {
            Ok(t) => {
                *thread = Some(t);
                ErrorCode::Success
            }
            Err(_) => {
                self.release_loop();
                self.shared.thread_running.store(false, Ordering::SeqCst);
                ErrorCode::NoMem
            }
        }
    }

    /// Paho's `loop_stop`: stops the `loop_start` thread once what was
    /// queued is written, abandoning its connect in progress, and waits for
    /// it (unless called from it). `MQTT_ERR_INVAL` if no thread runs.
    pub(crate) fn loop_stop(&self) -> ErrorCode {
        let handle = self.shared.thread.lock().take();
        let Some(handle) = handle else {
            return ErrorCode::Inval;
        };
        self.shared.terminate.store(true, Ordering::SeqCst);
        self.shared.stop_asked.store(true, Ordering::SeqCst);
        self.stopped();
        // Its connect in progress ends now, not at the connect timeout.
        self.shared
            .core
            .lock()
            .abandon_opening(Some(handle.thread().id()));
        self.shared.wake();
        if handle.thread().id() != std::thread::current().id() {
            // A panic on that thread was a callback's, already logged.
            let _ = handle.join();
        }
        ErrorCode::Success
    }

    /// The connection's socket, for an external event loop, which from
    /// then on reads it (unless a reader thread already does).
    pub(crate) fn socket(&self) -> Option<Arc<crate::transport::Socket>> {
        let mut core = self.shared.core.lock();
        let conn = core.conn.as_mut()?;
        if let Err(e) = conn.read_side.external() {
            drop(core);
            self.log(
                LogLevel::Warning,
                &format!("cannot make the socket non-blocking: {e}"),
            );
            core = self.shared.core.lock();
        }
        core.conn.as_ref().map(|c| Arc::clone(&c.writer))
    }

    /// Paho's `want_write`: bytes wait to be written.
    pub(crate) fn want_write(&self) -> bool {
        self.shared.core.lock().wants_write()
    }

    // ----- persistence ----------------------------------------------------

    /// Opens the persistence directory `dir` (see [`crate::persist`]) and
    /// puts what it holds back into the session, before the first connect.
    /// Damage found in it is logged at WARNING too.
    pub(crate) fn persistence_set(
        &self,
        dir: &std::path::Path,
        durability: Durability,
    ) -> Result<PersistReport, Error> {
        let report = {
            let mut core = self.shared.core.lock();
            if core.persist.is_some() {
                return Err(Error::Runtime(RuntimeReason::PersistenceAlreadySet));
            }
            let idle = matches!(core.state, ConnState::New | ConnState::Disconnected)
                && core.conn.is_none()
                && core.opening.is_none();
            if !idle {
                return Err(Error::Runtime(RuntimeReason::SettingWhileConnected(
                    "persistence",
                )));
            }
            if !core.session.store().is_empty() || !core.session.inbound_qos2().is_empty() {
                return Err(Error::Runtime(RuntimeReason::PersistenceAfterPublish));
            }
            let protocol = core.session.config().protocol;
            let opened = Store::open(dir, protocol, durability).map_err(open_error)?;
            let outgoing = opened.restored.outgoing.len();
            let inbound = opened.restored.inbound.len();
            let skipped = core.session.restore(opened.restored);
            core.session.set_journal(true);
            let publishes = opened.store.next_seq();
            core.persist = Some(opened.store);
            PersistReport {
                outgoing,
                inbound: inbound - skipped,
                publishes,
                damage: opened.damage.map(|d| {
                    format!(
                        "persistence: {} was damaged: {d}; the records from there on are \
                         dropped, the ones before it recovered",
                        dir.join("store.log").display()
                    )
                }),
            }
        };
        if let Some(text) = &report.damage {
            self.log(LogLevel::Warning, text);
        }
        Ok(report)
    }

    /// How many QoS 1/2 messages were ever stored through the persistence
    /// directory; `None` without one.
    pub(crate) fn persisted_publishes(&self) -> Option<u64> {
        let mut core = self.shared.core.lock();
        core.persist_journal(false);
        core.persist.as_ref().map(Store::next_seq)
    }

    // ----- starting over --------------------------------------------------

    /// Closes the connection and starts over with a new session for
    /// `config`: stored messages fail ([`Outcome::Reinitialised`]), and
    /// events not yet delivered go with the old session. Wakes nobody: the
    /// caller resets its own state, then calls [`Driver::wake`].
    pub(crate) fn reinitialise(
        &self,
        config: SessionConfig,
        transport: Transport,
        reconnect_on_failure: bool,
    ) {
        let infos: Vec<Arc<InfoInner>> = {
            let mut core = self.shared.core.lock();
            core.abandon_opening(None);
            if let Some(conn) = core.conn.take() {
                let _ = conn.writer.shutdown(std::net::Shutdown::Both);
            }
            // Undelivered QoS 1/2 messages fail; their infos learn it from
            // their epochs, which then start anew (the new session counts
            // from 0 again).
            let failed = core.session.drop_out_messages();
            core.epochs.close(
                Outcome::Reinitialised,
                failed.iter().map(|m| m.seq()).collect(),
            );
            let next_seq = core.session.next_seq();
            core.session = Session::new(config);
            // A persistence directory stays the client's, emptied as the
            // stores were; its count of publishes goes on.
            core.persist_journal(false);
            if let Some(store) = &mut core.persist {
                store.append(&[StoreOp::InboundCleared]);
                core.session.set_journal(true);
                core.session.restore(Restored {
                    next_seq,
                    ..Restored::default()
                });
            }
            // Events of the old session taken but not yet delivered go with
            // it (an ack or a release would act on the new one).
            self.shared.batch.lock().clear();
            core.state = ConnState::New;
            core.host.clear();
            core.port = 1883;
            core.transport = TransportConfig {
                transport,
                ..TransportConfig::default()
            };
            core.reconnect_on_failure = reconnect_on_failure;
            core.backoff = Backoff::default();
            core.failover = Default::default();
            core.last_connack = None;
            core.last_server = None;
            core.generation += 1;
            self.shared
                .infos
                .lock()
                .drain()
                .into_iter()
                .map(|(_, i)| i)
                .collect()
        };
        for info in infos {
            info.complete(Outcome::Reinitialised);
        }
        self.stopped();
    }

    /// Empties the outgoing QoS 1/2 store (Paho 2.2's
    /// `drop_out_messages`): its messages, oldest first; each one's
    /// completion ends [`Outcome::Dropped`].
    pub(crate) fn drop_out_messages(&self) -> Vec<Message> {
        let (stored, protocol) = {
            let mut core = self.shared.core.lock();
            let protocol = core.session.config().protocol;
            let stored = core.session.drop_out_messages();
            core.persist_journal(false);
            core.epochs
                .close(Outcome::Dropped, stored.iter().map(|m| m.seq()).collect());
            (stored, protocol)
        };
        self.shared.info_waiters.notify();
        let mut dropped = Vec::with_capacity(stored.len());
        for s in stored {
            // The store's own encoding: it decodes unless memory is corrupt.
            let Ok(p) = s.publish(protocol) else { continue };
            dropped.push(Message::from_publish(p));
        }
        dropped
    }

    /// Stops for good, the layer above being gone: a loop ends, a connect
    /// in progress is abandoned and the connection is closed, without
    /// waiting for anything.
    pub(crate) fn shut_down(&self) {
        let shared = &self.shared;
        shared.terminate.store(true, Ordering::SeqCst);
        shared.stop_asked.store(true, Ordering::SeqCst);
        let mut core = shared.core.lock();
        core.abandon_opening(None);
        if let Some(conn) = core.conn.take() {
            let _ = conn.writer.shutdown(std::net::Shutdown::Both);
        }
        drop(core);
        self.stopped();
        shared.wake();
    }

    // ----- for tests ----------------------------------------------------

    /// How many chunks callers waiting for a completion read themselves.
    #[cfg(feature = "testing")]
    pub(crate) fn waiter_reads(&self) -> u64 {
        self.shared.waiter_reads.load(Ordering::Relaxed)
    }

    /// What the session holds now, the batch of events the loop is
    /// delivering included.
    #[cfg(feature = "testing")]
    pub(crate) fn memory_use(&self) -> crate::session::MemoryUse {
        let core = self.shared.core.lock();
        let mut held = core.session.memory_use();
        // The batch the loop is delivering is undelivered too.
        let batch = self.shared.batch.lock();
        held.event_count += batch.len();
        held.events += batch
            .iter()
            .map(|(e, _)| match e {
                crate::session::Event::Message(m) => m.weight(),
                _ => 0,
            })
            .sum::<usize>();
        held
    }
}

/// An [`OpenError`] as the crate's error: an I/O error of the matching
/// kind, whose text names the directory or file and says what is wrong.
fn open_error(e: OpenError) -> Error {
    use std::io::ErrorKind;
    let kind = match &e {
        OpenError::Locked(_) => ErrorKind::ResourceBusy,
        OpenError::Format(..) => ErrorKind::InvalidData,
        OpenError::Protocol { .. } => ErrorKind::InvalidInput,
        OpenError::Io(_, io) => io.kind(),
    };
    Error::Io(std::io::Error::new(kind, e.to_string()))
}
