//! Paho's write-interest callbacks for external event loops:
//! `on_socket_register_write` when bytes start waiting to be written, and
//! `on_socket_unregister_write` when a write leaves nothing (reference
//! §5.2). Per socket they come as open → (register → unregister)* → close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Driver, SocketEvent};

/// The least time between two writes made by callers rather than the loop
/// (see `Driver::write_through`): a caller publishing more often than this
/// (over 10,000 messages a second) gets batched writes instead.
const WRITE_THROUGH_SPACING: Duration = Duration::from_micros(100);

impl Driver {
    /// Wakes the loop after something was queued, and tells an external
    /// event loop that the socket now has bytes to write.
    pub(super) fn wake_loop(&self) {
        if self.write_here() {
            self.shared.wake();
            return;
        }
        if !self.write_through() {
            self.shared.wake();
        }
        self.update_write_interest();
    }

    /// Latency: while the loop thread sleeps, the caller that queued a
    /// packet writes it itself when the socket takes it at once, instead
    /// of waking the loop and waiting for it to be scheduled (the wake-up
    /// costs more than the write). At most once per
    /// [`WRITE_THROUGH_SPACING`], checked before any lock is taken: a
    /// caller publishing faster leaves its packets to the loop, which
    /// writes them in batches. Only on a plain socket that the client's own
    /// reader reads, and when nobody else is writing. Returns false when
    /// the loop must still be woken: bytes the socket did not take, or
    /// events for callbacks.
    fn write_through(&self) -> bool {
        use std::sync::atomic::Ordering;
        if !self.shared.loop_asleep.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        let now_ns = now.duration_since(self.shared.started).as_nanos() as u64;
        let last = self.shared.last_write_through.load(Ordering::Relaxed);
        if now_ns.saturating_sub(last) < WRITE_THROUGH_SPACING.as_nanos() as u64 {
            return false;
        }
        if *self.shared.loop_thread.lock() == Some(std::thread::current().id()) {
            // The loop itself (a callback): it writes once it is back.
            return false;
        }
        self.shared
            .last_write_through
            .store(now_ns, Ordering::Relaxed);
        let no_on_publish = self.completes_directly();
        let Some(_writing) = self.shared.write_lock.try_lock() else {
            return false;
        };
        let (done, completed) = {
            let mut core = self.shared.core.lock();
            let writer = match &core.conn {
                Some(conn) if conn.layers.is_none() && !conn.read_side.is_external() => {
                    Arc::clone(&conn.writer)
                }
                _ => return false,
            };
            // Under the core lock: a send that cannot block is short, and
            // the bytes stay in the session if the socket takes only part.
            // Only what is queued: a re-send armed by a CONNACK is the
            // loop's to start, after on_connect.
            core.persist_journal(true);
            let pending = core.session.queued_bytes();
            if !pending.is_empty() {
                match writer.try_send(pending) {
                    Ok(n) => core.session.written(n, now),
                    Err(_) => return false,
                }
            }
            // QoS 0 messages the write completed.
            let completed = no_on_publish && self.complete_published(&mut core);
            (!core.wants_write() && !core.session.has_events(), completed)
        };
        if completed {
            self.shared.info_waiters.notify();
        }
        done
    }

    /// Paho's synchronous write (reference §5.1): when no loop runs (no
    /// `loop_start` thread, no `loop`/`loop_forever` call in progress, not
    /// inside a callback) and no external event loop registered for write
    /// interest, the caller writes what is queued itself, so `connect()`,
    /// `publish()` and `disconnect()` reach the broker without a loop, as
    /// in Paho. Returns false when it left the writing to a loop.
    fn write_here(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.shared.thread_running.load(Ordering::SeqCst)
            || self.shared.listening_register_write.load(Ordering::SeqCst)
        {
            return false;
        }
        let me = std::thread::current().id();
        {
            let mut loop_thread = self.shared.loop_thread.lock();
            if loop_thread.is_some() {
                return false;
            }
            *loop_thread = Some(me);
        }
        let _ = self.flush();
        {
            let mut loop_thread = self.shared.loop_thread.lock();
            if *loop_thread == Some(me) {
                *loop_thread = None;
            }
        }
        self.rethrow_panic();
        true
    }

    /// Calls `on_socket_register_write` or `on_socket_unregister_write` if
    /// whether bytes wait to be written changed since the last call.
    pub(super) fn update_write_interest(&self) {
        // Nobody listens (the common case): skip the core lock, which every
        // publish would otherwise take a second time. Whether bytes wait is
        // worked out afresh when a callback is set and the next write comes.
        {
            use std::sync::atomic::Ordering;
            let shared = &self.shared;
            if !shared.listening_register_write.load(Ordering::SeqCst)
                && !shared.listening_unregister_write.load(Ordering::SeqCst)
            {
                return;
            }
        }
        let register = {
            let mut core = self.shared.core.lock();
            if core.conn.is_none() {
                return;
            }
            let wants = core.wants_write();
            if wants == core.registered_write {
                return;
            }
            core.registered_write = wants;
            wants
        };
        self.socket_event(if register {
            SocketEvent::RegisterWrite
        } else {
            SocketEvent::UnregisterWrite
        });
    }

    /// The socket is going away: an outstanding write registration ends
    /// first, so the caller's event loop stops watching it.
    pub(super) fn socket_closing(&self) {
        let registered = std::mem::take(&mut self.shared.core.lock().registered_write);
        if registered {
            self.socket_event(SocketEvent::UnregisterWrite);
        }
    }
}
