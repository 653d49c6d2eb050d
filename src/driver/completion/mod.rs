//! Message completion: how the handle `publish` returns (the face's
//! `MessageInfo`) learns how its message ended, and waits for it.
//!
//! The driver completes messages wherever it learns of them (the loop, the
//! reader thread, a caller writing or reading in the loop's place) without
//! knowing the handle: a QoS 0 message has a state word of its own
//! ([`InfoInner`], in the driver's table until it is written or lost); a
//! stored QoS 1/2 message has none, its state is the store's and its
//! [`Epoch`](epoch::Epoch)'s (see `epoch.rs`). [`InfoWaiters`] is where
//! handles wait, woken after completions.

mod epoch;
mod outcome;

pub(crate) use epoch::Epochs;
pub use outcome::Outcome;
pub(crate) use outcome::State;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::Shared;
use crate::error::ErrorCode;
use crate::packet::ReasonCode;
use epoch::{Epoch, Verdict};

/// One message's part of a `MessageInfo`: what the client's table of
/// undelivered messages holds, 8 bytes, in the smallest allocation, so a
/// queued message costs little beyond itself.
#[derive(Debug)]
pub(crate) struct InfoInner {
    state: AtomicU32,
    mid: u16,
}

impl InfoInner {
    #[inline]
    fn state(&self) -> State {
        State::unpack(self.state.load(Ordering::SeqCst))
    }

    /// Ends the message with `outcome`; the caller then wakes the waiters
    /// ([`InfoWaiters::notify`]), holding no lock. A failure also sets
    /// Paho's rc (`MQTT_ERR_CONN_LOST` for a lost message), so Paho-style
    /// checks fail too.
    pub(crate) fn complete(&self, outcome: Outcome) {
        let mut state = self.state();
        state.rc = outcome.rc(state.rc);
        state.outcome = outcome;
        state.published = true;
        self.state.store(state.pack(), Ordering::SeqCst);
    }
}

/// What all `MessageInfo`s of one client share: one place to wait for any
/// of them (a completion wakes waiters only when there are some), and the
/// thread running the network loop, checked at wait time.
#[derive(Debug)]
pub(crate) struct InfoWaiters {
    lock: Mutex<()>,
    changed: Condvar,
    waiting: AtomicUsize,
    loop_thread: Arc<Mutex<Option<ThreadId>>>,
}

impl InfoWaiters {
    pub(crate) fn new(loop_thread: Arc<Mutex<Option<ThreadId>>>) -> InfoWaiters {
        InfoWaiters {
            lock: Mutex::new(()),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            loop_thread,
        }
    }

    /// Wakes the waiters after messages completed; call holding no lock (a
    /// waiter holds `lock` while it looks at the core). Only a thread that
    /// registered before the completion can be asleep without having seen
    /// it (see `MessageInfo::wait_for_publish`), so no one waiting costs
    /// nothing.
    pub(crate) fn notify(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.changed.notify_all();
        }
    }

    /// Waits until `ready()` or `until`, woken by [`InfoWaiters::notify`]:
    /// for a caller waiting for room in the store, or for it to empty,
    /// which the same completions make. `ready` may take the core lock.
    pub(crate) fn wait_until(&self, ready: &dyn Fn() -> bool, until: Instant) {
        // Registered before looking, as in `Completion::wait`.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        while !ready() {
            if self.changed.wait_until(&mut guard, until).timed_out() {
                break;
            }
        }
        drop(guard);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// True on the network loop's thread, or in a callback run while this
    /// thread feeds what it read: a wait there would never end.
    pub(crate) fn on_loop_thread(&self) -> bool {
        *self.loop_thread.lock() == Some(std::thread::current().id()) || super::feeding()
    }
}

/// What a `MessageInfo` reads and waits on: one message's completion.
#[derive(Clone)]
pub(crate) struct Completion {
    kind: Kind,
    waiters: Arc<InfoWaiters>,
}

#[derive(Clone)]
enum Kind {
    /// QoS 0, and messages refused at `publish`: a state word of its own.
    Own(Arc<InfoInner>),
    /// A QoS 1/2 message in the store: its state is where the store has it
    /// (see [`Epoch`]), so a queued message costs no allocation here.
    Stored {
        /// Weak: a kept info must not keep a dropped client alive (nor
        /// make a cycle through a callback that holds infos).
        shared: Weak<Shared>,
        epoch: Arc<Epoch>,
        mid: u16,
        seq: u64,
        rc: ErrorCode,
    },
}

impl Completion {
    /// A message with a state word of its own (QoS 0, or refused). A
    /// message a broker's limit refused has the reason it gave, `refused`.
    #[inline]
    pub(crate) fn own(
        mid: u16,
        rc: ErrorCode,
        refused: Option<ReasonCode>,
        waiters: &Arc<InfoWaiters>,
    ) -> Completion {
        let state = State {
            rc,
            outcome: match (rc, refused) {
                (_, Some(reason)) => Outcome::of_failure(reason),
                (ErrorCode::QueueSize, _) => Outcome::QueueFull,
                (ErrorCode::NoConn, _) => Outcome::NotConnected,
                (ErrorCode::PayloadSize, _) => Outcome::TooLarge,
                _ => Outcome::Pending,
            },
            published: false,
            stored: false,
        };
        Completion::with_state(mid, state, waiters)
    }

    /// A message whose state word starts as `state`.
    fn with_state(mid: u16, state: State, waiters: &Arc<InfoWaiters>) -> Completion {
        Completion {
            kind: Kind::Own(Arc::new(InfoInner {
                state: AtomicU32::new(state.pack()),
                mid,
            })),
            waiters: Arc::clone(waiters),
        }
    }

    /// A QoS 0 message queued for the next connection (published with
    /// `rc` `NoConn` while offline): pending, and waited for like a QoS 1/2
    /// message stored offline.
    pub(crate) fn queued(mid: u16, rc: ErrorCode, waiters: &Arc<InfoWaiters>) -> Completion {
        let state = State {
            rc,
            outcome: Outcome::Pending,
            published: false,
            stored: true,
        };
        Completion::with_state(mid, state, waiters)
    }

    /// A QoS 1/2 message the store holds as `seq`, published with `rc`
    /// (`Success`, or `NoConn` when stored while offline).
    pub(super) fn stored(
        shared: &Arc<Shared>,
        epoch: &Arc<Epoch>,
        mid: u16,
        seq: u64,
        rc: ErrorCode,
    ) -> Completion {
        Completion {
            kind: Kind::Stored {
                shared: Arc::downgrade(shared),
                epoch: Arc::clone(epoch),
                mid,
                seq,
                rc,
            },
            waiters: Arc::clone(&shared.info_waiters),
        }
    }

    /// The state word, for the client's table of messages it completes.
    #[inline]
    pub(crate) fn own_state(&self) -> Option<Arc<InfoInner>> {
        match &self.kind {
            Kind::Own(inner) => Some(Arc::clone(inner)),
            Kind::Stored { .. } => None,
        }
    }

    /// The whole state; for a stored message that means a look at the
    /// store, under the core lock.
    #[inline]
    pub(crate) fn state(&self) -> State {
        self.state_of(true)
    }

    /// The state without "published" for a stored message that is neither
    /// failed nor otherwise settled by its epoch (reported as pending): all
    /// that Paho's `rc` and the error checks need, without the core lock,
    /// since only an emptied store fails a stored message.
    #[inline]
    pub(crate) fn rc_state(&self) -> State {
        self.state_of(false)
    }

    #[inline]
    fn state_of(&self, look_at_store: bool) -> State {
        match &self.kind {
            Kind::Own(inner) => inner.state(),
            Kind::Stored {
                shared,
                epoch,
                mid,
                seq,
                rc,
            } => {
                let shared = shared.upgrade().filter(|_| look_at_store);
                let core = shared.as_ref().map(|s| s.core.lock());
                let outcome = match (epoch.verdict(*seq), &core) {
                    (Verdict::Ended(outcome), _) => outcome,
                    (Verdict::Delivered, _) => Outcome::Published,
                    (Verdict::Unknown, Some(core)) => match core.session.store().get(*mid) {
                        Some(m) if m.seq() == *seq => Outcome::Pending,
                        _ => Outcome::Published,
                    },
                    // Not looked at, or (cannot be) a dropped client that
                    // did not close its epoch.
                    (Verdict::Unknown, None) if !look_at_store => Outcome::Pending,
                    (Verdict::Unknown, None) => Outcome::ConnectionLost,
                };
                State {
                    rc: outcome.rc(*rc),
                    outcome,
                    published: outcome != Outcome::Pending,
                    stored: true,
                }
            }
        }
    }

    /// The message id.
    #[inline]
    pub(crate) fn mid(&self) -> u16 {
        match &self.kind {
            Kind::Own(inner) => inner.mid,
            Kind::Stored { mid, .. } => *mid,
        }
    }

    /// True on the network loop's thread, or in a callback run while this
    /// thread feeds what it read: a wait here would never end.
    pub(crate) fn on_loop_thread(&self) -> bool {
        self.waiters.on_loop_thread()
    }

    /// Waits until the message is finished or `deadline` passes (`None`:
    /// no limit). Not on the loop's thread (see
    /// [`Completion::on_loop_thread`]).
    ///
    /// While it waits for a QoS 1/2 message, the calling thread reads the
    /// connection in the reader thread's place when it can, so the
    /// acknowledgement wakes it directly.
    pub(crate) fn wait(&self, deadline: Option<Instant>) {
        if self.read_while_waiting(deadline) {
            return;
        }
        // Registered before looking at the state, so a completion either is
        // seen here or finds a waiter to wake (see `InfoWaiters::notify`).
        let waiters = &*self.waiters;
        waiters.waiting.fetch_add(1, Ordering::SeqCst);
        let mut guard = waiters.lock.lock();
        while !self.state().published {
            match deadline {
                Some(d) => {
                    if waiters.changed.wait_until(&mut guard, d).timed_out() {
                        break;
                    }
                }
                None => waiters.changed.wait(&mut guard),
            }
        }
        drop(guard);
        waiters.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Latency: a stored message's waiter reads the acknowledgement itself
    /// when it can (see `driver::read_gate`), instead of sleeping until the
    /// reader thread wakes it. True when the message finished meanwhile.
    fn read_while_waiting(&self, deadline: Option<Instant>) -> bool {
        let Kind::Stored { shared, .. } = &self.kind else {
            return false;
        };
        let Some(gate) = shared
            .upgrade()
            .and_then(|s| super::gate_of(&s.core.lock()))
        else {
            return false;
        };
        // With `on_publish` set (the handler listens for Published events),
        // the loop completes the message after the callback and wakes the
        // waiters; one reading could not hear that. (The client is held
        // only weakly, as by the info itself.)
        let may_read = || {
            shared
                .upgrade()
                .is_some_and(|s| !s.listening_published.load(Ordering::SeqCst))
        };
        gate.read_while_waiting(&|| self.state().published, &may_read, deadline)
    }
}
