//! Seeded random cuts: the schedule of intervals (public, so a test can
//! compute the same ones) and the thread that cuts on it.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use super::shared::Shared;

/// The intervals between chaos cuts, drawn uniformly from `min..=max` by a
/// splitmix64 generator started from a seed.
///
/// The same seed and bounds always give the same intervals, on every platform,
/// so a failing chaos run can be repeated exactly and a test can predict what
/// [`FaultProxy::start_chaos`](super::FaultProxy::start_chaos) will do:
///
/// ```
/// use std::time::Duration;
/// use mqtt_tether::testing::ChaosSchedule;
///
/// let (min, max) = (Duration::from_millis(10), Duration::from_millis(50));
/// let a: Vec<Duration> = ChaosSchedule::new(7, min, max).take(5).collect();
/// let b: Vec<Duration> = ChaosSchedule::new(7, min, max).take(5).collect();
/// assert_eq!(a, b);
/// assert!(a.iter().all(|d| *d >= min && *d <= max));
/// ```
///
/// Intervals are at least [`ChaosSchedule::MIN_INTERVAL`] (1 ms): bounds
/// below it are raised to it, so that a zero interval cannot make the chaos
/// thread spin, cutting thousands of times a millisecond.
///
/// As an [`Iterator`] it never ends.
#[derive(Debug, Clone)]
pub struct ChaosSchedule {
    state: u64,
    min: Duration,
    /// `max - min` in nanoseconds (saturated; no test waits 584 years).
    span_nanos: u64,
}

impl ChaosSchedule {
    /// The shortest interval a schedule gives.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

    /// A schedule of intervals between `min` and `max` (both included) from
    /// `seed`. Bounds given the wrong way round are swapped, and bounds below
    /// [`MIN_INTERVAL`](Self::MIN_INTERVAL) are raised to it.
    pub fn new(seed: u64, min: Duration, max: Duration) -> ChaosSchedule {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        let (min, max) = (min.max(Self::MIN_INTERVAL), max.max(Self::MIN_INTERVAL));
        let span_nanos = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
        ChaosSchedule {
            state: seed,
            min,
            span_nanos,
        }
    }

    /// The next interval.
    pub fn next_interval(&mut self) -> Duration {
        // Multiply-shift maps the 64 random bits onto 0..=span without the
        // bias of a modulo; the product fits in u128 and the result in u64.
        let range = u128::from(self.span_nanos) + 1;
        let offset = ((u128::from(splitmix64(&mut self.state)) * range) >> 64) as u64;
        self.min.saturating_add(Duration::from_nanos(offset))
    }
}

impl Iterator for ChaosSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_interval())
    }
}

/// One step of splitmix64 (Steele, Lea and Flood): tiny, fast and good enough
/// for spreading test intervals; written out so the sequence never changes
/// with a dependency's version.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A running chaos thread; [`ChaosRunner::stop`] ends it.
#[derive(Debug)]
pub(super) struct ChaosRunner {
    /// Dropping it wakes the thread at once, whatever interval it waits out.
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl ChaosRunner {
    /// Starts cutting every live connection of `shared` after each interval of
    /// `schedule`, recording each interval once its cut is made.
    pub(super) fn start(shared: Arc<Shared>, mut schedule: ChaosSchedule) -> io::Result<Self> {
        let (stop, stopped) = bounded::<()>(0);
        let thread = thread::Builder::new()
            .name("fault-proxy-chaos".into())
            .spawn(move || loop {
                let interval = schedule.next_interval();
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        let cut = shared.cut_all();
                        log::debug!(
                            "fault proxy chaos: cut {cut} connection(s) after {interval:?}"
                        );
                        shared.record_chaos_interval(interval);
                    }
                    // Stopped (the sender is gone) or told to stop.
                    _ => return,
                }
            })?;
        Ok(ChaosRunner { stop, thread })
    }

    /// Stops the thread and waits for it; it wakes at once, so this is quick.
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}
