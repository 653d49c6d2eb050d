//! `MessageInfo`: the handle `publish` returns (Paho's `MQTTMessageInfo`).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::epoch::{Epoch, Verdict};
use crate::driver::Shared;
use crate::error::{error_string, Error, ErrorCode};
use crate::packet::{PacketType, ReasonCode};

/// What became of a published message: every [`MessageInfo`] ends in one
/// of the final outcomes, with the reason when it was not delivered (beyond
/// Paho, whose `MQTTMessageInfo` can stay unpublished forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Queued or in flight; QoS 1/2 messages stay here across disconnects
    /// until they are acknowledged.
    Pending,
    /// Delivered: written (QoS 0) or acknowledged by the broker (QoS 1/2).
    Published,
    /// Never queued: `max_queued_messages`, or all 65,535 message ids held
    /// (`MQTT_ERR_QUEUE_SIZE`).
    QueueFull,
    /// A QoS 0 message published without a connection (`MQTT_ERR_NO_CONN`).
    NotConnected,
    /// Larger than the broker's MQTT 5 Maximum Packet Size: refused at
    /// `publish`, or, queued before the CONNACK that announced the limit,
    /// never sent (`MQTT_ERR_PAYLOAD_SIZE`).
    TooLarge,
    /// A QoS 0 message whose connection ended before it was written, or a
    /// QoS 1/2 message still stored when the client itself was dropped
    /// (`MQTT_ERR_CONN_LOST`).
    ConnectionLost,
    /// `reinitialise()` emptied the queue before it was delivered.
    Reinitialised,
    /// `drop_out_messages()` removed it before it was delivered.
    Dropped,
    /// Never sent: another limit of the broker's MQTT 5 CONNACK forbids it
    /// (Maximum QoS, Retain Available, Topic Alias Maximum), or its topic
    /// alias is not set on the connection it was to go out on. The reason
    /// code is the DISCONNECT reason such a packet would have earned: 0x9B
    /// QoS not supported, 0x9A Retain not supported, 0x94 Topic alias
    /// invalid (`MQTT_ERR_NOT_SUPPORTED`).
    NotSupported(ReasonCode),
    /// The broker refused it: its MQTT 5 PUBACK, PUBREC or PUBCOMP carried
    /// this failure reason (0x80 and up; 0x87 Not authorized, 0x97 Quota
    /// exceeded, ...). Paho counts such a message as published; here
    /// `wait_for_publish` and `is_published` fail, while `rc` keeps Paho's
    /// value.
    Refused(ReasonCode),
}

impl Outcome {
    /// The outcome of a message whose `Published` event carried the
    /// failure `reason`: a broker's acknowledgement type means it refused,
    /// a DISCONNECT reason means a limit forbade sending it.
    pub(crate) fn of_failure(reason: ReasonCode) -> Outcome {
        match (reason.packet_type(), reason.value()) {
            (PacketType::Disconnect, 0x95) => Outcome::TooLarge,
            (PacketType::Disconnect, _) => Outcome::NotSupported(reason),
            _ => Outcome::Refused(reason),
        }
    }

    /// The outcome of a `Published` event with `reason`.
    pub(crate) fn of_published(reason: ReasonCode) -> Outcome {
        if reason.is_failure() {
            Outcome::of_failure(reason)
        } else {
            Outcome::Published
        }
    }

    /// Paho's `rc` once a message published with `rc` has this outcome.
    #[inline]
    fn rc(self, rc: ErrorCode) -> ErrorCode {
        match self {
            Outcome::Pending | Outcome::Published | Outcome::Refused(_) => rc,
            Outcome::QueueFull => ErrorCode::QueueSize,
            Outcome::NotConnected => ErrorCode::NoConn,
            Outcome::TooLarge => ErrorCode::PayloadSize,
            Outcome::NotSupported(_) => ErrorCode::NotSupported,
            Outcome::ConnectionLost | Outcome::Reinitialised | Outcome::Dropped => {
                ErrorCode::ConnLost
            }
        }
    }

    /// The outcome's kind and its reason code, as packed in [`State`].
    fn pack(self) -> u32 {
        let (kind, reason) = match self {
            Outcome::Pending => (0, None),
            Outcome::Published => (1, None),
            Outcome::QueueFull => (2, None),
            Outcome::NotConnected => (3, None),
            Outcome::TooLarge => (4, None),
            Outcome::ConnectionLost => (5, None),
            Outcome::Reinitialised => (6, None),
            Outcome::Dropped => (7, None),
            Outcome::NotSupported(r) => (8, Some(r)),
            Outcome::Refused(r) => (9, Some(r)),
        };
        let reason = reason.map_or(0, |r| u32::from(r.value()) | (r.packet_type() as u32) << 8);
        kind | reason << 4
    }

    #[inline]
    fn unpack(bits: u32) -> Outcome {
        let reason = || {
            PacketType::from_nibble((bits >> 12) as u8 & 0xf)
                .and_then(|t| ReasonCode::from_value(t, (bits >> 4) as u8).ok())
                .unwrap_or_else(|| ReasonCode::success(PacketType::PubAck))
        };
        match bits & 0xf {
            1 => Outcome::Published,
            2 => Outcome::QueueFull,
            3 => Outcome::NotConnected,
            4 => Outcome::TooLarge,
            5 => Outcome::ConnectionLost,
            6 => Outcome::Reinitialised,
            7 => Outcome::Dropped,
            8 => Outcome::NotSupported(reason()),
            9 => Outcome::Refused(reason()),
            _ => Outcome::Pending,
        }
    }
}

/// A message's state in one word, so that [`InfoInner`] fits the smallest
/// allocation: bits 0-7 Paho's rc (its index in `ErrorCode::ALL`), 8-23 the
/// [`Outcome`] (kind, reason value, reason packet type), bit 24 "published"
/// (finished, whatever the outcome), bit 25 "stored" (a QoS 1/2 message
/// stored while offline: Paho reports `NoConn` but sends it after the next
/// CONNACK, so waiting for it is meaningful).
#[derive(Debug, Clone, Copy)]
struct State {
    rc: ErrorCode,
    outcome: Outcome,
    published: bool,
    stored: bool,
}

impl State {
    fn pack(self) -> u32 {
        // An index, so reading the word back is an array lookup.
        let rc = ErrorCode::ALL
            .iter()
            .position(|c| *c == self.rc)
            .unwrap_or(0) as u8;
        u32::from(rc)
            | (self.outcome.pack() & 0xffff) << 8
            | u32::from(self.published) << 24
            | u32::from(self.stored) << 25
    }

    #[inline]
    fn unpack(word: u32) -> State {
        State {
            rc: ErrorCode::ALL
                .get(usize::from(word as u8))
                .copied()
                .unwrap_or(ErrorCode::Unknown),
            outcome: Outcome::unpack((word >> 8) & 0xffff),
            published: word & 1 << 24 != 0,
            stored: word & 1 << 25 != 0,
        }
    }
}

/// One message's part of a [`MessageInfo`]: what the client's table of
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

/// What all [`MessageInfo`]s of one client share: one place to wait for any
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
}

/// The result of [`Client::publish`](crate::Client::publish): its message id,
/// its return code, and a way to wait until it is delivered.
#[derive(Clone)]
pub struct MessageInfo {
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

impl std::fmt::Debug for MessageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageInfo")
            .field("mid", &self.mid())
            .field("rc", &self.rc())
            .field("outcome", &self.outcome())
            .finish()
    }
}

impl MessageInfo {
    /// A message with a state word of its own (QoS 0, or refused). A
    /// message a broker's limit refused has the reason it gave, `refused`.
    pub(crate) fn own(
        mid: u16,
        rc: ErrorCode,
        refused: Option<ReasonCode>,
        waiters: &Arc<InfoWaiters>,
    ) -> MessageInfo {
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
        MessageInfo {
            kind: Kind::Own(Arc::new(InfoInner {
                state: AtomicU32::new(state.pack()),
                mid,
            })),
            waiters: Arc::clone(waiters),
        }
    }

    /// A QoS 1/2 message the store holds as `seq`, published with `rc`
    /// (`Success`, or `NoConn` when stored while offline).
    pub(crate) fn stored(
        shared: &Arc<Shared>,
        epoch: &Arc<Epoch>,
        mid: u16,
        seq: u64,
        rc: ErrorCode,
    ) -> MessageInfo {
        MessageInfo {
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
    pub(crate) fn own_state(&self) -> Option<Arc<InfoInner>> {
        match &self.kind {
            Kind::Own(inner) => Some(Arc::clone(inner)),
            Kind::Stored { .. } => None,
        }
    }

    /// The whole state; for a stored message that means a look at the
    /// store, under the core lock.
    fn state(&self) -> State {
        self.state_of(true)
    }

    /// The state without "published" for a stored message that is neither
    /// failed nor otherwise settled by its epoch (reported as pending): all
    /// that Paho's `rc` and the error checks need, without the core lock,
    /// since only an emptied store fails a stored message.
    fn rc_state(&self) -> State {
        self.state_of(false)
    }

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
    pub fn mid(&self) -> u16 {
        match &self.kind {
            Kind::Own(inner) => inner.mid,
            Kind::Stored { mid, .. } => *mid,
        }
    }

    /// Paho's `rc`: `MQTT_ERR_SUCCESS`, or why the message was not (or not
    /// yet) sent.
    pub fn rc(&self) -> ErrorCode {
        self.rc_state().rc
    }

    /// What became of the message so far.
    pub fn outcome(&self) -> Outcome {
        self.state().outcome
    }

    fn check(&self) -> Result<(), Error> {
        let state = self.rc_state();
        match (state.rc, state.outcome) {
            (_, Outcome::Refused(reason)) => Err(Error::Runtime(format!(
                "Message publish failed: the broker refused it: {} ({})",
                reason.name(),
                reason.value()
            ))),
            (ErrorCode::QueueSize, _) => Err(Error::Value(
                "Message is not queued due to ERR_QUEUE_SIZE".into(),
            )),
            (ErrorCode::Success | ErrorCode::Again, _) => Ok(()),
            // Stored while offline: it will go out after CONNACK, so it can
            // be waited for (Paho raises here although it delivers).
            (ErrorCode::NoConn, _) if state.stored => Ok(()),
            (_, Outcome::Reinitialised) => Err(Error::Runtime(
                "Message publish failed: the client was reinitialised.".into(),
            )),
            (_, Outcome::Dropped) => Err(Error::Runtime(
                "Message publish failed: dropped by drop_out_messages().".into(),
            )),
            (rc, Outcome::NotSupported(reason)) => Err(Error::Runtime(format!(
                "Message publish failed: {} ({})",
                error_string(rc),
                reason.name()
            ))),
            (rc, _) => Err(Error::Runtime(format!(
                "Message publish failed: {}",
                error_string(rc)
            ))),
        }
    }

    /// True once the message is delivered: written for QoS 0, acknowledged
    /// for QoS 1 and 2. `false` means "not yet". Errors as in
    /// [`MessageInfo::wait_for_publish`].
    pub fn is_published(&self) -> Result<bool, Error> {
        self.check()?;
        let published = self.state().published;
        self.check()?;
        Ok(published)
    }

    /// Waits until the message is delivered, or `timeout` passes (`None`:
    /// no limit). A timeout returns `Ok(())`, as in Paho: check
    /// [`MessageInfo::is_published`].
    ///
    /// Errors with Paho's texts when the message was not queued or failed.
    /// Called on the network loop's own thread (from a callback) it returns
    /// an error at once instead of waiting for a loop that cannot run.
    ///
    /// While it waits for a QoS 1/2 message, the calling thread reads the
    /// connection in the reader thread's place, so the acknowledgement wakes
    /// it directly (see the porting guide, §3.1).
    pub fn wait_for_publish(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.check()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if self.state().published {
            return self.check();
        }
        let on_loop = *self.waiters.loop_thread.lock() == Some(std::thread::current().id());
        // Or in a callback run while this thread feeds what it read.
        if on_loop || crate::driver::feeding() {
            return Err(Error::Runtime(
                "wait_for_publish() called from the network loop thread would never return".into(),
            ));
        }
        if self.read_while_waiting(deadline) {
            return self.check();
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
        self.check()
    }
}

impl MessageInfo {
    /// Latency: a stored message's waiter reads the acknowledgement itself
    /// when it can (see `driver::read_gate`), instead of sleeping until the
    /// reader thread wakes it. True when the message finished meanwhile.
    fn read_while_waiting(&self, deadline: Option<Instant>) -> bool {
        let Kind::Stored { shared, .. } = &self.kind else {
            return false;
        };
        let Some(gate) = shared
            .upgrade()
            .and_then(|s| crate::driver::gate_of(&s.core.lock()))
        else {
            return false;
        };
        // With `on_publish` set, the loop completes the message after the
        // callback and wakes the waiters; one reading could not hear that.
        // (The client is held only weakly, as by the info itself.)
        let may_read = || {
            shared
                .upgrade()
                .is_some_and(|s| s.callbacks.lock().on_publish.is_none())
        };
        gate.read_while_waiting(&|| self.state().published, &may_read, deadline)
    }
}

impl std::fmt::Display for MessageInfo {
    /// What Paho 2.2's `str(info)` prints:
    /// `(<MQTTErrorCode.MQTT_ERR_SUCCESS: 0>, 1)`, the `(rc, mid)` tuple with
    /// the enum shown as Python shows it, so ported programs print the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rc = self.rc();
        write!(
            f,
            "(<MQTTErrorCode.{}: {}>, {})",
            rc.name(),
            i32::from(rc),
            self.mid()
        )
    }
}
