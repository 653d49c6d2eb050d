//! The state the proxy's handle and its threads share: the controls, the
//! registry of live connections, the counters and the chaos record.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::counters::{Counters, FaultCounters};
use crate::testing::{Error, Result};

/// How often a wait re-reads the counters even without a wake-up, so waits on
/// byte counts (which are bumped without notifying) still finish promptly.
const WAIT_SLICE: Duration = Duration::from_millis(10);

/// The most chaos intervals kept for
/// [`FaultProxy::chaos_intervals`](super::FaultProxy::chaos_intervals): a
/// long run at short intervals would otherwise grow the record without end.
pub(super) const MAX_CHAOS_INTERVALS: usize = 10_000;

/// The most latency the proxy adds; more is taken as this (and keeps the
/// delivery-time arithmetic far from overflowing).
const MAX_LATENCY: Duration = Duration::from_secs(24 * 60 * 60);

/// One proxied connection: both sockets, shared by its four pipe threads.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) client: TcpStream,
    pub(super) upstream: TcpStream,
    closed: AtomicBool,
}

impl Conn {
    pub(super) fn new(client: TcpStream, upstream: TcpStream) -> Conn {
        Conn {
            client,
            upstream,
            closed: AtomicBool::new(false),
        }
    }

    /// Closes both directions of both sockets: the peers see the close, and
    /// every pipe thread blocked on a socket wakes up and ends.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    /// Whether [`Conn::close`] was called; sleeping pipe threads check it.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// The live connections, and whether the proxy is shutting down (after which
/// no connection may be added, so the final close-all cannot miss one).
#[derive(Debug, Default)]
struct Registry {
    shutting_down: bool,
    next_id: u64,
    live: HashMap<u64, Arc<Conn>>,
    /// Bumped with every notification of `changed`, so a wait that checked
    /// its condition without the lock can tell whether it missed one.
    generation: u64,
}

impl Registry {
    /// Records a change and wakes the waits on `changed`.
    fn changed(&mut self, changed: &Condvar) {
        self.generation = self.generation.wrapping_add(1);
        changed.notify_all();
    }
}

/// The record of the current (or last) chaos run.
#[derive(Debug, Default)]
struct ChaosRecord {
    /// The first [`MAX_CHAOS_INTERVALS`] intervals.
    intervals: Vec<Duration>,
    /// All rounds, recorded or not.
    rounds: u64,
}

/// Everything the proxy's threads share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) upstream: SocketAddr,
    /// Tells the accept loop to end.
    pub(super) stopping: AtomicBool,
    refusing: AtomicBool,
    black_hole: AtomicBool,
    latency: Mutex<Duration>,
    /// Bytes per second per direction of each connection; 0 means no cap.
    bandwidth: AtomicU64,
    pub(super) counters: Counters,
    registry: Mutex<Registry>,
    /// Signalled whenever a connection is added, removed, refused or failed.
    changed: Condvar,
    chaos: Mutex<ChaosRecord>,
    /// Connection threads, joined on drop.
    pub(super) threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub(super) fn new(upstream: SocketAddr) -> Shared {
        Shared {
            upstream,
            stopping: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            black_hole: AtomicBool::new(false),
            latency: Mutex::new(Duration::ZERO),
            bandwidth: AtomicU64::new(0),
            counters: Counters::default(),
            registry: Mutex::new(Registry::default()),
            changed: Condvar::new(),
            chaos: Mutex::new(ChaosRecord::default()),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn refusing(&self) -> bool {
        self.refusing.load(Ordering::SeqCst)
    }

    pub(super) fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    pub(super) fn black_hole(&self) -> bool {
        self.black_hole.load(Ordering::SeqCst)
    }

    pub(super) fn set_black_hole(&self, on: bool) {
        self.black_hole.store(on, Ordering::SeqCst);
    }

    pub(super) fn latency(&self) -> Duration {
        *self.latency.lock()
    }

    pub(super) fn set_latency(&self, latency: Duration) {
        *self.latency.lock() = latency.min(MAX_LATENCY);
    }

    /// The cap in bytes per second, or `None` for none.
    pub(super) fn bandwidth(&self) -> Option<u64> {
        match self.bandwidth.load(Ordering::SeqCst) {
            0 => None,
            rate => Some(rate),
        }
    }

    /// A cap of 0 would stall every connection for good; it becomes 1 byte/s.
    pub(super) fn set_bandwidth(&self, rate: Option<u64>) {
        let stored = rate.map_or(0, |r| r.max(1));
        self.bandwidth.store(stored, Ordering::SeqCst);
    }

    /// Adds a live connection and counts it accepted, or returns `None` if the
    /// proxy is shutting down (the caller then closes it).
    pub(super) fn register(&self, conn: &Arc<Conn>) -> Option<u64> {
        let mut registry = self.registry.lock();
        if registry.shutting_down {
            return None;
        }
        let id = registry.next_id;
        registry.next_id += 1;
        registry.live.insert(id, Arc::clone(conn));
        Counters::add(&self.counters.accepted, 1);
        registry.changed(&self.changed);
        Some(id)
    }

    /// Removes a connection whose threads have all ended (it may already be
    /// gone, taken by a cut).
    pub(super) fn deregister(&self, id: u64) {
        let mut registry = self.registry.lock();
        registry.live.remove(&id);
        registry.changed(&self.changed);
    }

    /// Bumps an event counter and wakes the waits.
    pub(super) fn count_event(&self, counter: &AtomicU64) {
        Counters::add(counter, 1);
        // The generation bump (under the lock) tells a waiter that checked
        // before this and has not slept yet to look again.
        self.registry.lock().changed(&self.changed);
    }

    /// Closes every live connection, counts them as cuts and returns how many.
    pub(super) fn cut_all(&self) -> usize {
        let mut registry = self.registry.lock();
        let cut = registry.live.len();
        for (_, conn) in registry.live.drain() {
            conn.close();
        }
        Counters::add(&self.counters.cuts, cut as u64);
        registry.changed(&self.changed);
        cut
    }

    /// Closes every live connection for good and refuses to register more.
    pub(super) fn shut_down(&self) {
        let mut registry = self.registry.lock();
        registry.shutting_down = true;
        for (_, conn) in registry.live.drain() {
            conn.close();
        }
        registry.changed(&self.changed);
    }

    pub(super) fn counters(&self) -> FaultCounters {
        let live = self.registry.lock().live.len();
        self.counters.snapshot(live)
    }

    /// Waits until `done` holds for the counters, or fails with a timeout that
    /// reports `what` and the counters at the end.
    ///
    /// `done` runs without any lock held: it is the caller's code and may
    /// well call the proxy (say, `proxy.counters()`), which takes the
    /// registry lock; running it under that lock would deadlock.
    pub(super) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&FaultCounters) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let (counters, generation) = {
                let registry = self.registry.lock();
                let live = registry.live.len();
                (self.counters.snapshot(live), registry.generation)
            };
            if done(&counters) {
                return Ok(());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Error::Timeout {
                    waiting_for: what.to_string(),
                    after: timeout,
                    received: format!("  proxy counters: {counters:?}"),
                });
            }
            let slice_end = now + WAIT_SLICE;
            let wake = deadline.map_or(slice_end, |d| d.min(slice_end));
            let mut registry = self.registry.lock();
            // A change between the snapshot and here has already been
            // signalled; look again at once instead of sleeping through it.
            if registry.generation == generation {
                self.changed.wait_until(&mut registry, wake);
            }
        }
    }

    /// Records one chaos round: its interval if fewer than
    /// [`MAX_CHAOS_INTERVALS`] are kept, and the round in any case.
    pub(super) fn record_chaos_interval(&self, interval: Duration) {
        let mut chaos = self.chaos.lock();
        chaos.rounds += 1;
        if chaos.intervals.len() < MAX_CHAOS_INTERVALS {
            chaos.intervals.push(interval);
        }
    }

    pub(super) fn clear_chaos_intervals(&self) {
        *self.chaos.lock() = ChaosRecord::default();
    }

    pub(super) fn chaos_intervals(&self) -> Vec<Duration> {
        self.chaos.lock().intervals.clone()
    }

    pub(super) fn chaos_rounds(&self) -> u64 {
        self.chaos.lock().rounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chaos_record_is_capped_but_rounds_are_all_counted() {
        let shared = Shared::new("127.0.0.1:1".parse().unwrap());
        for i in 0..MAX_CHAOS_INTERVALS + 5 {
            shared.record_chaos_interval(Duration::from_millis(i as u64));
        }
        let kept = shared.chaos_intervals();
        assert_eq!(kept.len(), MAX_CHAOS_INTERVALS);
        assert_eq!(kept[MAX_CHAOS_INTERVALS - 1], Duration::from_millis(9_999));
        assert_eq!(shared.chaos_rounds(), MAX_CHAOS_INTERVALS as u64 + 5);
        shared.clear_chaos_intervals();
        assert_eq!(
            (shared.chaos_intervals().len(), shared.chaos_rounds()),
            (0, 0)
        );
    }
}
