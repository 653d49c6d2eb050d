//! The network loop: one pass (`loop`), the polling loop's wait and read,
//! and the external-loop steps (`loop_read`, `loop_misc`). Writing is in
//! `flush.rs`; the blocking loop with automatic reconnection in
//! `reconnect.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::error::ErrorCode;

use super::dispatch::Cause;
use super::{Driver, Feed, Inbound, LogLevel, LoopOwner, ReadNow, Reading};

/// A loop's hold on the client (see [`Driver::claim_loop`]).
pub(crate) struct LoopClaim<'a> {
    driver: &'a Driver,
    /// False for a loop nested in a callback of the loop that holds it.
    release: bool,
}

impl Drop for LoopClaim<'_> {
    fn drop(&mut self) {
        if self.release {
            self.driver.release_loop();
        }
    }
}

/// Full buffers a polling loop reads without a poll after the one its
/// poll announced, before it writes and waits again (see
/// `ReadGate::loop_read_more`).
#[cfg(unix)]
const MORE_READS: usize = 4;

impl Driver {
    /// One pass of the network loop: write, wait up to `timeout` for bytes
    /// or a wake-up, read, keepalive, callbacks, write. Returns Paho's rc.
    ///
    /// `poll`: a loop that runs on (`loop_forever`, the `loop_start`
    /// thread) reads its connection itself, where it can wait for the
    /// socket and its wake-up together (unix); a connection first read by
    /// the application's `loop()` calls gets a reader thread, which answers
    /// the broker between two calls.
    pub(super) fn loop_pass(&self, timeout: Duration, poll: bool) -> ErrorCode {
        // The reader starts before the first write, so a socket() call
        // from another thread cannot turn the socket non-blocking under a
        // blocking write.
        let polls = self.shared.waker.polls();
        let started = {
            let mut core = self.shared.core.lock();
            let core = &mut *core;
            let Some(conn) = core.conn.as_mut() else {
                return ErrorCode::NoConn;
            };
            let client_id = &core.session.config().client_id;
            let generation = conn.generation;
            let reading = conn.read_side.reading(
                poll && polls,
                || format!("mqtt-tether-read-{client_id}"),
                || Feed {
                    shared: Arc::downgrade(&self.shared),
                    generation,
                },
            );
            (reading, conn.generation)
        };
        let (reading, generation) = match started {
            (Ok(reading), generation) => (reading, generation),
            (Err(e), generation) => {
                self.log(LogLevel::Err, &format!("cannot start the reader: {e}"));
                return self.close_connection_of(Cause::Io, Some(generation));
            }
        };
        let rc = self.flush();
        if rc != ErrorCode::Success {
            return rc;
        }
        // Read after the write, which may have moved it.
        let (deadline, queued_behind) = {
            let core = self.shared.core.lock();
            let store = core.session.store();
            (
                core.session.next_deadline(),
                store.len() > store.in_flight(),
            )
        };
        if queued_behind && matches!(reading, Reading::Polled(..)) {
            // Messages wait behind the in-flight window: the acknowledgements
            // are what lets them go. A reader thread reads those while this
            // thread writes, which a loop reading in turn with its writes
            // cannot (`bench --sink`, QoS 1, window 20 and 100: a third less
            // throughput without it). A publisher that keeps within its
            // window, and a subscriber, never get one.
            self.reader_for_blocked_writes();
        }
        let now = Instant::now();
        let wait = match deadline {
            Some(d) => timeout.min(d.saturating_duration_since(now)),
            None => timeout,
        };
        // A polling loop's read filled its buffer: it reads on before it
        // waits again.
        #[allow(unused_mut)]
        let mut more = false;
        let ended = match &reading {
            Reading::Thread(inbound) => {
                self.shared.loop_asleep.store(true, Ordering::SeqCst);
                let ended = select! {
                    recv(inbound) -> msg => Some(msg),
                    recv(self.shared.waker.channel()) -> _ => None,
                    default(wait) => None,
                };
                self.shared.loop_asleep.store(false, Ordering::SeqCst);
                ended
            }
            #[cfg(unix)]
            Reading::Polled(inbound, gate) => {
                let (ended, full) = self.poll_and_read(inbound, gate, wait);
                more = full;
                ended
            }
            #[cfg(not(unix))]
            Reading::Polled(..) => unreachable!("only where the waker polls"),
        };
        let rc = self.ended(ended, generation);
        if rc != ErrorCode::Success {
            return rc;
        }
        let timeout_result = {
            let mut core = self.shared.core.lock();
            if core.generation != generation {
                Ok(())
            } else {
                core.session.handle_timeout(Instant::now())
            }
        };
        if let Err(close) = timeout_result {
            return self.close_connection_of(Cause::Session(close), Some(generation));
        }
        // The events of what the reader fed meanwhile.
        self.dispatch();
        if self.panicked() {
            return self.close_connection_of(Cause::Panic, Some(generation));
        }
        #[cfg(unix)]
        if let Reading::Polled(inbound, gate) = &reading {
            // Bounded, so the loop still writes and keeps alive under a
            // flood.
            for _ in 0..MORE_READS {
                if !more {
                    break;
                }
                more = gate.loop_read_more();
                self.dispatch();
                if self.panicked() {
                    return self.close_connection_of(Cause::Panic, Some(generation));
                }
            }
            // Nothing is written after what ends the connection.
            let rc = self.ended(inbound.try_recv().ok().map(Ok), generation);
            if rc != ErrorCode::Success {
                return rc;
            }
        }
        self.flush()
    }

    /// The polling loop's wait (unix): for the socket and a wake-up
    /// together, up to `wait`; then, if the socket is readable, one chunk
    /// read and fed here, on the loop's thread, so the callbacks it leads
    /// to run without a hand-off between threads. Returns how the
    /// connection ended, if it did.
    #[cfg(unix)]
    fn poll_and_read(
        &self,
        inbound: &crossbeam_channel::Receiver<Inbound>,
        gate: &super::read_gate::ReadGate,
        wait: Duration,
    ) -> (Option<Result<Inbound, crossbeam_channel::RecvError>>, bool) {
        use super::read_gate::Watch;
        // An end a waiting caller read.
        if let Ok(end) = inbound.try_recv() {
            return (Some(Ok(end)), false);
        }
        let seen = gate.reads();
        let (watch, wait) = match gate.loop_watch() {
            Watch::Socket => (true, wait),
            Watch::Parked => (false, wait),
            Watch::Until(t) => (false, wait.min(t.saturating_duration_since(Instant::now()))),
        };
        self.shared.loop_asleep.store(true, Ordering::SeqCst);
        let ready = self.shared.waker.wait_with(watch.then(|| gate.fd()), wait);
        self.shared.loop_asleep.store(false, Ordering::SeqCst);
        gate.loop_awake();
        let more = match ready {
            Ok(ready) if ready.socket => gate.loop_read(seen),
            Ok(_) => false,
            Err(e) => return (Some(Ok(Inbound::Closed(Some(e)))), false),
        };
        (inbound.try_recv().ok().map(Ok), more)
    }

    /// Closes connection `generation` if its reading `ended`.
    fn ended(
        &self,
        ended: Option<Result<Inbound, crossbeam_channel::RecvError>>,
        generation: u64,
    ) -> ErrorCode {
        match ended {
            None => ErrorCode::Success,
            Some(Ok(Inbound::Failed(cause))) => self.close_after_events(cause, generation),
            Some(Ok(Inbound::Closed(error))) => {
                if let Some(e) = error {
                    self.log(LogLevel::Debug, &format!("read failed: {e}"));
                }
                self.close_after_events(Cause::Io, generation)
            }
            Some(Err(_)) => self.close_connection_of(Cause::Io, Some(generation)),
        }
    }

    /// Closes connection `generation` for `cause` once the events of what
    /// the reader fed before the end are delivered: they happened first
    /// (a message, then the malformed packet after it).
    fn close_after_events(&self, cause: Cause, generation: u64) -> ErrorCode {
        self.dispatch();
        if self.panicked() {
            return self.close_connection_of(Cause::Panic, Some(generation));
        }
        self.close_connection_of(cause, Some(generation))
    }

    /// Paho's `loop_read`: handles what has arrived, without waiting, up to
    /// a bound so a flood cannot keep the caller here forever.
    pub(super) fn read_available(&self) -> ErrorCode {
        const MAX_CHUNKS: usize = 64;
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..MAX_CHUNKS {
            let (got, generation) = {
                let mut core = self.shared.core.lock();
                if core.conn.is_some() && core.session.over_budget() {
                    // Unwritten answers at their budget: TCP slows down a
                    // broker that sends and does not read.
                    return ErrorCode::Success;
                }
                let Some(conn) = core.conn.as_mut() else {
                    return ErrorCode::NoConn;
                };
                (conn.read_side.read_now(&mut buf), conn.generation)
            };
            let rc = match got {
                ReadNow::Data(bytes) => self.feed(&bytes, generation, Instant::now()),
                ReadNow::Closed(error) => {
                    if let Some(e) = error {
                        self.log(LogLevel::Debug, &format!("read failed: {e}"));
                    }
                    self.close_after_events(Cause::Io, generation)
                }
                ReadNow::Failed(cause) => self.close_after_events(cause, generation),
                ReadNow::Nothing => return ErrorCode::Success,
            };
            if rc != ErrorCode::Success {
                return rc;
            }
        }
        ErrorCode::Success
    }

    /// Paho's `loop_misc`: keepalive at this moment.
    pub(super) fn misc(&self) -> ErrorCode {
        let result = {
            let mut core = self.shared.core.lock();
            if core.conn.is_none() {
                return ErrorCode::NoConn;
            }
            core.session.handle_timeout(Instant::now())
        };
        match result {
            Ok(()) => {
                self.dispatch();
                ErrorCode::Success
            }
            Err(close) => self.close_connection(Cause::Session(close)),
        }
    }

    /// Marks this thread as the loop's for the duration of `f`.
    pub(super) fn as_loop_thread<R>(&self, f: impl FnOnce() -> R) -> R {
        let me = std::thread::current().id();
        let previous = self.shared.loop_thread.lock().replace(me);
        let result = f();
        // A caller writing while no loop ran (see `write_here`) clears its
        // own mark; it must not come back when this loop ends.
        *self.shared.loop_thread.lock() = previous.filter(|t| *t == me);
        result
    }

    /// Takes the loop for this thread, unless another loop runs (`None`:
    /// the caller returns `MQTT_ERR_INVAL`). A loop called from a callback,
    /// on the loop's own thread, runs nested. Held until the claim drops.
    pub(super) fn claim_loop(&self) -> Option<LoopClaim<'_>> {
        let me = std::thread::current().id();
        let mut owner = self.shared.loop_owner.lock();
        match *owner {
            LoopOwner::Free => {
                *owner = LoopOwner::Thread(me);
                Some(LoopClaim {
                    driver: self,
                    release: true,
                })
            }
            LoopOwner::Thread(t) if t == me => Some(LoopClaim {
                driver: self,
                release: false,
            }),
            LoopOwner::Thread(_) | LoopOwner::Starting => None,
        }
    }

    /// The `loop_start` thread takes over the claim `loop_start` made for
    /// it; it gives it up when it ends (see [`Driver::release_loop`]).
    pub(super) fn take_started_loop(&self) {
        let mut owner = self.shared.loop_owner.lock();
        if *owner == LoopOwner::Starting {
            *owner = LoopOwner::Thread(std::thread::current().id());
        }
    }

    /// This thread's loop has ended (or a `loop_start` thread never
    /// started).
    pub(super) fn release_loop(&self) {
        let me = std::thread::current().id();
        let mut owner = self.shared.loop_owner.lock();
        if matches!(*owner, LoopOwner::Starting) || *owner == LoopOwner::Thread(me) {
            *owner = LoopOwner::Free;
        }
    }

    /// Re-raises a callback's panic on this thread, after the connection was
    /// closed.
    pub(super) fn rethrow_panic(&self) {
        let payload = self.shared.panic.lock().take();
        if let Some(payload) = payload {
            self.shared.terminate.store(false, Ordering::SeqCst);
            std::panic::resume_unwind(payload);
        }
    }
}
