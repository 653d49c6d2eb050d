//! What the reader thread does with each chunk it reads: feeds the session,
//! writes the answers the session queued (PUBREL, messages an ack let into
//! the in-flight window) as far as the socket takes them without blocking,
//! completes the `MessageInfo`s of acknowledged messages when no
//! `on_publish` needs to run first, and wakes the loop only for what is
//! left: events for callbacks, bytes the socket did not take.
//!
//! Why here and not in the loop thread: handing every chunk to the loop
//! cost two thread wake-ups per chunk, and a QoS 1/2 stream that waits on
//! its window moves one ack at a time, so the client's CPU per message was
//! mostly those wake-ups. Callbacks still run only in the loop thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dispatch::{Cause, Fed};
use super::Driver;

/// What the reader does after a chunk.
pub(crate) enum Step {
    /// Read on.
    Go,
    /// The connection was replaced or closed: stop without a word.
    Stop,
    /// Tell the loop to close the connection, and stop.
    Failed(Cause),
    /// Read on once the loop has delivered the backlog of events and
    /// written the backlog of bytes ([`Driver::wait_for_dispatch`]).
    Backlog,
}

/// The session holds more than its memory budget lets the reader add to:
/// undelivered events (8,192, or their bytes over the `events` budget) or
/// unwritten bytes (the `transmit` budget). Whoever reads stops until the
/// loop has worked them off: callbacks slower than the broker, or a broker
/// that sends and does not read, then slow the broker down (TCP flow
/// control) instead of filling memory.
pub(super) fn over_backlog(session: &crate::session::Session) -> bool {
    session.over_budget()
}

impl Driver {
    /// Handles one chunk of connection `generation` (see the module docs);
    /// `wake`: the loop is another thread, to be woken for what is left.
    pub(super) fn reader_chunk(&self, bytes: &[u8], generation: u64, wake: bool) -> Step {
        let now = Instant::now();
        match self.feed_session(bytes, generation, now) {
            Fed::Ok => {}
            Fed::Stale => return Step::Stop,
            Fed::Failed(cause) => return Step::Failed(cause),
        }
        let no_on_publish = self.completes_directly();
        let (loop_needed, backlog, completed) = {
            // Whoever writes holds `write_lock`; if the loop does, it also
            // writes what this chunk queued.
            let writing = self.shared.write_lock.try_lock();
            let mut core = self.shared.core.lock();
            if core.generation != generation {
                return Step::Stop;
            }
            let plain = core
                .conn
                .as_ref()
                .filter(|c| c.layers.is_none() && !c.read_side.is_external())
                .map(|c| Arc::clone(&c.writer));
            if let (Some(writer), Some(_)) = (plain, &writing) {
                // Only what is queued: the re-send armed by a CONNACK waits
                // for the loop, which runs on_connect first (reference
                // §12.4).
                core.persist_journal(true);
                let pending = core.session.queued_bytes();
                if !pending.is_empty() {
                    // A failed send is left to the loop, whose own write
                    // reports it.
                    if let Ok(n) = writer.try_send(pending) {
                        core.session.written(n, now);
                    }
                }
            }
            // Acknowledged messages, and QoS 0 messages just written.
            let completed = no_on_publish && self.complete_published(&mut core);
            let events = core.session.event_count();
            (
                // The layers' own bytes (a WebSocket PONG, a TLS alert) too.
                core.wants_write() || events > 0,
                over_backlog(&core.session),
                completed,
            )
        };
        if completed {
            self.shared.info_waiters.notify();
        }
        if loop_needed && wake {
            self.shared.wake();
        }
        if backlog {
            return Step::Backlog;
        }
        Step::Go
    }

    /// Waits until the loop has delivered enough of the backlog, and
    /// written enough of the bytes (half of each budget).
    pub(super) fn wait_for_dispatch(&self, generation: u64) -> Step {
        loop {
            {
                let core = self.shared.core.lock();
                if core.generation != generation || core.conn.is_none() {
                    return Step::Stop;
                }
                if core.session.under_half_budget() {
                    return Step::Go;
                }
            }
            self.shared.wake();
            let _ = self
                .shared
                .drained_rx
                .recv_timeout(Duration::from_millis(50));
        }
    }
}
