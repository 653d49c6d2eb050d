//! Waiting for room: `publish_wait`, which waits while the outgoing store
//! is full, and the drain before a disconnect, which waits until it is
//! empty. Both wait where `MessageInfo::wait_for_publish` waits (on
//! [`InfoWaiters`](super::InfoWaiters), woken by every completion and
//! release), holding no lock a callback needs, and read the connection in
//! the reader thread's place while they wait, as that does (see
//! `read_gate.rs`), so no loop has to run for them to make progress.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{gate_of, Completion, ConnState, Driver};
use crate::error::{Error, RuntimeReason};
use crate::packet::QoS;
use crate::session::{PublishResult, Session};

/// The longest one wait lasts before the caller looks again: room can
/// also come without a completion (bytes written make room for QoS 0), and
/// a stop is noticed within it even when no completion wakes the caller.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// How a drain ended.
pub(crate) struct DrainEnd {
    /// Messages the broker had not acknowledged.
    pub(crate) left: usize,
}

impl Driver {
    /// Publishes what `publish` gives the session (as [`Driver::publish`]);
    /// while the session refuses it for want of room, waits for room and
    /// tries again, until `deadline` (`None`: no limit). Errors: what
    /// `publish` returns; [`Error::QueueFull`] at the deadline;
    /// `Error::Runtime` at once on the loop's thread (a callback: nothing
    /// would make room while it waits), or when `disconnect()`,
    /// `loop_stop()` or `reinitialise()` came before room did.
    pub(crate) fn publish_wait(
        &self,
        qos: QoS,
        mut publish: impl FnMut(&mut Session) -> Result<PublishResult, Error>,
        deadline: Option<Instant>,
    ) -> Result<Completion, Error> {
        let stops = self.shared.stops.load(Ordering::SeqCst);
        loop {
            let (full, len, gate) = {
                let mut core = self.shared.core.lock();
                let result = publish(&mut core.session)?;
                let dropped = self.settle_dropped(&mut core);
                let full = match result.full {
                    Some(full) if !self.stopped_since(stops, core.state) => Ok(full),
                    Some(full) => Err(full),
                    None => {
                        let completion = self.completion_of(&mut core, &result);
                        drop(core);
                        if dropped {
                            self.shared.info_waiters.notify();
                        }
                        self.wake_loop();
                        return Ok(completion);
                    }
                };
                let gate = gate_of(&core);
                let connected = core.conn.is_some();
                drop(core);
                if dropped {
                    self.shared.info_waiters.notify();
                }
                match full {
                    Ok(full) if self.nothing_will_come(connected) => {
                        return Err(Error::QueueFull(full))
                    }
                    Ok(full) => (full, result.len, gate),
                    Err(full) => {
                        return Err(Error::Runtime(RuntimeReason::PublishWaitStopped(full)))
                    }
                }
            };
            if self.shared.info_waiters.on_loop_thread() {
                return Err(Error::Runtime(RuntimeReason::PublishWaitOnLoopThread(full)));
            }
            let Some(until) = Self::slice_until(deadline) else {
                return Err(Error::QueueFull(full));
            };
            let ready = || {
                let core = self.shared.core.lock();
                self.stopped_since(stops, core.state) || core.session.room_for(qos, len).is_ok()
            };
            self.wait_for(&ready, gate, until);
        }
    }

    /// Waits until every stored QoS 1/2 message is acknowledged (or
    /// refused) by the broker, or until `deadline`, or a stop; returns how
    /// many were left. `Error::Runtime` at once on the loop's thread when
    /// any is left.
    pub(crate) fn drain(&self, deadline: Option<Instant>) -> Result<DrainEnd, Error> {
        let stops = self.shared.stops.load(Ordering::SeqCst);
        loop {
            let (left, gate, connected) = {
                let core = self.shared.core.lock();
                let left = core.session.store().unfinished();
                if left == 0 || self.stopped_since(stops, core.state) {
                    return Ok(DrainEnd { left });
                }
                (left, gate_of(&core), core.conn.is_some())
            };
            if self.shared.info_waiters.on_loop_thread() {
                return Err(Error::Runtime(RuntimeReason::DrainOnLoopThread(left)));
            }
            if self.nothing_will_come(connected) {
                return Ok(DrainEnd { left });
            }
            let Some(until) = Self::slice_until(deadline) else {
                return Ok(DrainEnd { left });
            };
            let ready = || {
                let core = self.shared.core.lock();
                self.stopped_since(stops, core.state) || core.session.store().unfinished() == 0
            };
            self.wait_for(&ready, gate, until);
        }
    }

    /// No acknowledgement, and so no room, can come before any deadline:
    /// there is no connection and no loop runs (or is starting) to make
    /// one. Waiting out the timeout would only delay the same answer.
    fn nothing_will_come(&self, connected: bool) -> bool {
        !connected
            && !self.shared.thread_running.load(Ordering::SeqCst)
            && matches!(*self.shared.loop_owner.lock(), super::LoopOwner::Free)
    }

    /// Wakes callers waiting for room or a drain: the client stops.
    pub(super) fn stopped(&self) {
        self.shared.stops.fetch_add(1, Ordering::SeqCst);
        self.shared.info_waiters.notify();
    }

    /// A stop since `stops` was read, or a disconnect asked for: no room
    /// will come on this connection (nor on another, which needs a new
    /// `connect`).
    fn stopped_since(&self, stops: u64, state: ConnState) -> bool {
        self.shared.stops.load(Ordering::SeqCst) != stops
            || matches!(state, ConnState::Disconnecting | ConnState::Disconnected)
    }

    /// The end of the next wait: [`LOOK_AGAIN`] from now, or `deadline`
    /// if sooner; `None` once `deadline` has passed.
    fn slice_until(deadline: Option<Instant>) -> Option<Instant> {
        let now = Instant::now();
        let slice = now + LOOK_AGAIN;
        match deadline {
            Some(d) if d <= now => None,
            Some(d) => Some(d.min(slice)),
            None => Some(slice),
        }
    }

    /// Waits until `ready()` or `until`: reading the connection through
    /// its `gate` when the reader thread lets go of it and no `on_publish`
    /// must run first (the reader then completes acknowledged messages
    /// itself, and so does this caller), else woken by the completions.
    fn wait_for(
        &self,
        ready: &dyn Fn() -> bool,
        gate: Option<std::sync::Arc<super::read_gate::ReadGate>>,
        until: Instant,
    ) {
        let may_read = || !self.shared.listening_published.load(Ordering::SeqCst);
        if let Some(gate) = gate.filter(|_| may_read()) {
            if gate.read_while_waiting(ready, &may_read, Some(until)) {
                return;
            }
        }
        self.shared.info_waiters.wait_until(ready, until);
    }
}
