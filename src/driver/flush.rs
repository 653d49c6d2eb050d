//! Writing: what the session has queued goes to the socket outside the
//! core lock, a bounded slice at a time, so a broker that stops reading
//! cannot hold the loop; and for an external event loop, as much as a
//! non-blocking socket takes now.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ErrorCode;

use super::dispatch::Cause;
use super::{ConnState, Driver, LogLevel};

/// The longest a single socket write may block the loop: the socket's
/// write timeout, set once per connection (see `Driver::reconnect`).
pub(super) const WRITE_SLICE: Duration = Duration::from_millis(250);

impl Driver {
    /// Writes what the session has queued, outside the core lock.
    ///
    /// Writes wait at most [`WRITE_SLICE`] at a time, so a broker that stops
    /// reading cannot hold the loop: between slices it gives up on
    /// `disconnect()`/`loop_stop()`, or when nothing could be written for a
    /// keepalive period (the link is as dead as a silent one).
    pub(super) fn flush(&self) -> ErrorCode {
        let rc = self.flush_socket();
        if rc == ErrorCode::Success {
            self.update_write_interest();
        }
        rc
    }

    fn flush_socket(&self) -> ErrorCode {
        let (external, polled) = {
            let core = self.shared.core.lock();
            match &core.conn {
                None => return ErrorCode::NoConn,
                // `try_send` cannot block only on Linux.
                Some(c) => (
                    c.read_side.is_external(),
                    cfg!(target_os = "linux") && c.read_side.is_polled(),
                ),
            }
        };
        if external {
            return self.flush_nonblocking();
        }
        let mut buf = Vec::new();
        // Without on_publish to run first, what a write completes (QoS 0
        // messages) completes here, without a trip through dispatch.
        let no_on_publish = self.completes_directly();
        loop {
            let write_guard = self.shared.write_lock.lock();
            let (writer, generation, stall_limit, layers, completed) = {
                let mut core = self.shared.core.lock();
                let Some(conn) = &core.conn else {
                    return ErrorCode::NoConn;
                };
                let w = (
                    Arc::clone(&conn.writer),
                    conn.generation,
                    conn.layers.clone(),
                );
                core.persist_journal(true);
                core.session.take_pending(&mut buf);
                let mut completed = false;
                if w.2.is_some() && !buf.is_empty() {
                    // Handed to the layers counts as written: their records
                    // are written below, in full or not at all.
                    core.session.written(buf.len(), Instant::now());
                    completed = no_on_publish && self.complete_published(&mut core);
                }
                let keepalive = u64::from(core.session.config().keepalive);
                let limit = Duration::from_secs(if keepalive == 0 { 60 } else { keepalive });
                (w.0, w.1, limit, w.2, completed)
            };
            if completed {
                // Outside the core lock (see `InfoWaiters::notify`).
                self.shared.info_waiters.notify();
            }
            let report_progress = layers.is_none();
            if let Some(layers) = &layers {
                let mut layers = layers.lock();
                if !buf.is_empty() {
                    if let Err(e) = layers.encode(&buf) {
                        drop(layers);
                        self.log(LogLevel::Err, &format!("cannot encode: {e}"));
                        return self.close_connection_of(Cause::Io, Some(generation));
                    }
                }
                buf = layers.take_out();
            }
            if buf.is_empty() {
                return ErrorCode::Success;
            }
            let mut sent = 0;
            let mut last_progress = Instant::now();
            // Whether the socket took the bytes at once: a first try that
            // cannot block tells a polling loop that the broker does not
            // keep up (see `Driver::reader_for_blocked_writes`), for the
            // cost of the write.
            let mut first = polled;
            while sent < buf.len() {
                let written = if first {
                    first = false;
                    match writer.try_send(&buf[sent..]) {
                        Ok(n) if n == buf.len() - sent => Ok(n),
                        Ok(n) => {
                            self.reader_for_blocked_writes();
                            Ok(n)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            self.reader_for_blocked_writes();
                            continue;
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    (&*writer).write(&buf[sent..])
                };
                match written {
                    Ok(0) => return self.close_connection_of(Cause::Io, Some(generation)),
                    Ok(n) => {
                        sent += n;
                        last_progress = Instant::now();
                        let mut core = self.shared.core.lock();
                        if core.generation != generation {
                            return ErrorCode::Success;
                        }
                        if report_progress {
                            core.session.written(n, last_progress);
                            if no_on_publish && self.complete_published(&mut core) {
                                drop(core);
                                self.shared.info_waiters.notify();
                            }
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        let state = self.shared.core.lock().state;
                        let giving_up = self.terminating()
                            || matches!(state, ConnState::Disconnecting | ConnState::Disconnected)
                            || last_progress.elapsed() >= stall_limit;
                        if giving_up {
                            let cause = if self.terminating()
                                || matches!(
                                    state,
                                    ConnState::Disconnecting | ConnState::Disconnected
                                ) {
                                Cause::Io
                            } else {
                                Cause::Session(crate::session::Close::Keepalive)
                            };
                            return self.close_connection_of(cause, Some(generation));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return self.close_connection_of(Cause::Io, Some(generation)),
                }
            }
            buf.clear();
            drop(write_guard);
            self.dispatch();
            if self.panicked() {
                return self.close_connection_of(Cause::Panic, Some(generation));
            }
        }
    }

    /// Writes for an external event loop, whose socket is non-blocking:
    /// as much as the socket takes now, straight from the session (a
    /// non-blocking write may hold the lock), the rest when the caller's
    /// loop says the socket is writable again (Paho's `loop_write`).
    fn flush_nonblocking(&self) -> ErrorCode {
        let (result, generation) = {
            let _write_guard = self.shared.write_lock.lock();
            let mut core = self.shared.core.lock();
            let core = &mut *core;
            let Some(conn) = &core.conn else {
                return ErrorCode::NoConn;
            };
            let writer = Arc::clone(&conn.writer);
            let generation = conn.generation;
            let layers = conn.layers.clone();
            core.persist_journal(true);
            let result = match layers {
                Some(layers) => {
                    let mut layers = layers.lock();
                    let mut plain = Vec::new();
                    core.session.take_pending(&mut plain);
                    if !plain.is_empty() {
                        core.session.written(plain.len(), Instant::now());
                    }
                    match layers.encode(&plain) {
                        Err(_) => Err(()),
                        Ok(()) => write_nonblocking(&writer, &mut layers),
                    }
                }
                None => loop {
                    let pending = core.session.pending();
                    if pending.is_empty() {
                        break Ok(());
                    }
                    match (&*writer).write(pending) {
                        Ok(0) => break Err(()),
                        Ok(n) => core.session.written(n, Instant::now()),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(()),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break Err(()),
                    }
                },
            };
            (result, generation)
        };
        if result.is_err() {
            return self.close_connection_of(Cause::Io, Some(generation));
        }
        self.dispatch();
        if self.panicked() {
            return self.close_connection_of(Cause::Panic, Some(generation));
        }
        ErrorCode::Success
    }

    /// A polling loop's connection gets a reader thread, and keeps it,
    /// where reading beside the writes pays (see `ReadSide::thread_for_backlog`):
    ///
    /// * the socket did not take a write at once: the broker does not keep
    ///   up. The loop, blocked in its writes, could not read meanwhile, so
    ///   it would read only as fast as the broker takes the answers; and a
    ///   broker that sends and never reads would be fed them at the pace of
    ///   TCP's window probes, never quite stopped. A reader thread reads on
    ///   up to the transmit budget and then waits for half of it to be
    ///   written, as where there is no poll;
    /// * messages wait behind the in-flight window (see `Driver::loop_pass`).
    pub(super) fn reader_for_blocked_writes(&self) {
        let mut core = self.shared.core.lock();
        let core = &mut *core;
        let name = format!("mqtt-tether-read-{}", core.session.config().client_id);
        if let Some(conn) = core.conn.as_mut() {
            conn.read_side.thread_for_backlog(|| name);
        }
    }
}

/// Writes the layers' waiting wire bytes to a non-blocking socket, as many
/// as it takes now.
fn write_nonblocking(
    writer: &crate::transport::Socket,
    layers: &mut crate::transport::Layers,
) -> Result<(), ()> {
    while !layers.out().is_empty() {
        match { writer }.write(layers.out()) {
            Ok(0) => return Err(()),
            Ok(n) => layers.consume(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(())
}
