//! What the bench reads about its own process, all from /proc (the example
//! takes no dependency, so no `libc::getrusage`):
//!
//! * CPU time per thread: the first field of `/proc/self/task/<tid>/schedstat`,
//!   the thread's run time in nanoseconds (the scheduler's own
//!   `sum_exec_runtime`, exact to the nanosecond). Summed over threads it is
//!   what `getrusage` reports as user+sys, but per thread, so the acking sink
//!   or an in-process peer can be left out. A thread that exits inside a
//!   measured interval would be missed, so every scenario keeps its client
//!   connected across the interval it measures. Where schedstat is missing
//!   (kernels without CONFIG_SCHEDSTATS) the per-thread `stat` utime+stime is
//!   used instead, in clock ticks of 10 ms.
//! * Wake-ups: voluntary + involuntary context switches of a thread, from
//!   `/proc/self/task/<tid>/status`.
//! * Memory: VmRSS and VmHWM (peak RSS) from `/proc/self/status`; the peak is
//!   reset before a run by writing 5 to `/proc/self/clear_refs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Nanoseconds per clock tick (USER_HZ 100).
const TICK_NS: u64 = 10_000_000;

/// The ids of the process's threads now.
pub fn tids() -> Vec<u32> {
    let mut tids: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    tids.sort_unstable();
    tids
}

/// The threads whose name (`comm`, at most 15 bytes) starts with `prefix`.
pub fn tids_named(prefix: &str) -> HashSet<u32> {
    tids()
        .into_iter()
        .filter(|t| {
            std::fs::read_to_string(format!("/proc/self/task/{t}/comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .collect()
}

/// The calling thread's id (from the `/proc/thread-self` link,
/// `<pid>/task/<tid>`).
pub fn own_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The CPU time a thread has used so far, in nanoseconds.
pub fn thread_cpu_ns(tid: u32) -> Option<u64> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")) {
        return text.split_whitespace().next()?.parse().ok();
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let fields = stat_fields(&text);
    Some((fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?) * TICK_NS)
}

/// The fields of a `stat` file after the command name (which may contain
/// spaces and parentheses), starting with field 3, the state.
fn stat_fields(text: &str) -> Vec<&str> {
    text.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// The CPU time of every live thread at one moment.
pub struct CpuSnapshot(HashMap<u32, u64>);

impl CpuSnapshot {
    pub fn take() -> CpuSnapshot {
        CpuSnapshot(
            tids()
                .into_iter()
                .filter_map(|t| Some((t, thread_cpu_ns(t)?)))
                .collect(),
        )
    }

    /// Of the given threads only.
    pub fn of(tids: &[u32]) -> CpuSnapshot {
        CpuSnapshot(
            tids.iter()
                .filter_map(|&t| Some((t, thread_cpu_ns(t)?)))
                .collect(),
        )
    }

    /// The CPU time used between `before` and `self` by the threads not in
    /// `exclude` (a thread born in between counts from zero).
    pub fn since(&self, before: &CpuSnapshot, exclude: &HashSet<u32>) -> Duration {
        let ns: u64 = self
            .0
            .iter()
            .filter(|(tid, _)| !exclude.contains(tid))
            .map(|(tid, &now)| now.saturating_sub(before.0.get(tid).copied().unwrap_or(0)))
            .sum();
        Duration::from_nanos(ns)
    }
}

/// A thread's context switches so far, voluntary + involuntary: each is one
/// time the thread stopped running, so each (voluntary) sleep ended is one
/// wake-up.
pub fn context_switches(tid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches")
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The resident set now, in KiB.
pub fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// The peak resident set since the last [`reset_peak_rss`] (or the start), in KiB.
pub fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

/// Resets the peak resident set to the current one (Linux 4.0 and later).
/// Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
