//! What the proxy has done so far: live atomic counters for its threads and
//! the plain snapshot a test reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of what a [`FaultProxy`](super::FaultProxy) has done since it
/// started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounters {
    /// Client connections taken on (not refused). Counted once the upstream
    /// connection was made (the connection is then live and can be cut) or
    /// failed.
    pub accepted: u64,
    /// Client connections reset at once because refusing was on.
    pub refused: u64,
    /// Accepted connections closed because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Connections cut, by [`FaultProxy::cut_all`](super::FaultProxy::cut_all)
    /// or by chaos (each connection counts once per cut).
    pub cuts: u64,
    /// Bytes delivered from clients to the upstream.
    pub bytes_to_upstream: u64,
    /// Bytes delivered from the upstream to clients.
    pub bytes_to_client: u64,
    /// Bytes swallowed by the black hole, both ways.
    pub bytes_dropped: u64,
    /// Connections currently open through the proxy.
    pub live: usize,
}

/// The counters the threads bump; `live` comes from the connection registry.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) upstream_failures: AtomicU64,
    pub(super) cuts: AtomicU64,
    pub(super) bytes_to_upstream: AtomicU64,
    pub(super) bytes_to_client: AtomicU64,
    pub(super) bytes_dropped: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`. Relaxed is enough: each counter stands alone, and
    /// the waits that read them also synchronise through the registry lock.
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The snapshot, with `live` supplied by the caller.
    pub(super) fn snapshot(&self, live: usize) -> FaultCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultCounters {
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            upstream_failures: get(&self.upstream_failures),
            cuts: get(&self.cuts),
            bytes_to_upstream: get(&self.bytes_to_upstream),
            bytes_to_client: get(&self.bytes_to_client),
            bytes_dropped: get(&self.bytes_dropped),
            live,
        }
    }
}
