//! The reconnect backoff, on a caller-supplied clock and random seed.
//!
//! Paho's rule (reference §10.2) is the default: the first wait is
//! `min_delay`, each further failed attempt doubles it up to `max_delay`, and
//! a CONNACK that accepts the connection (or a new `reconnect_delay_set`)
//! starts over. Two opt-in additions, off by default:
//!
//! * [`Jitter`] spreads the waits of many clients that lost the same broker,
//!   so they do not all come back in the same instant;
//! * [`Backoff::set_reset_after`] resets the delay only once a connection
//!   has stayed up for a while, so a broker that accepts and then kicks the
//!   client at once cannot make it reconnect in a tight loop.

use std::time::{Duration, Instant};

/// Randomness applied to each wait of the doubling sequence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Jitter {
    /// Exactly the doubling sequence (Paho).
    #[default]
    None,
    /// A uniform wait between zero and the doubling sequence's value ("full
    /// jitter").
    Full,
    /// A uniform wait between `(1 - f)` times and the full value of the
    /// doubling sequence; `f` is clamped to `0.0..=1.0`.
    Proportional(f64),
}

/// The reconnect delay state of one client.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Option<Duration>,
    jitter: Jitter,
    reset_after: Option<Duration>,
    connected_at: Option<Instant>,
    rng: u64,
}

impl Default for Backoff {
    /// Paho's defaults: 1 s to 120 s, no jitter, reset on every CONNACK 0.
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(120))
    }
}

impl Backoff {
    /// Waits from `min` doubling up to `max` (`max` below `min` counts as
    /// `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            current: None,
            jitter: Jitter::None,
            reset_after: None,
            connected_at: None,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// New bounds (`reconnect_delay_set`); the sequence starts over.
    pub fn set_bounds(&mut self, min: Duration, max: Duration) {
        self.min = min;
        self.max = max.max(min);
        self.reset();
    }

    /// Sets the jitter, and the seed of its random sequence (the same seed
    /// gives the same waits, which is what tests use).
    pub fn set_jitter(&mut self, jitter: Jitter, seed: u64) {
        self.jitter = jitter;
        self.rng = seed;
    }

    /// With `Some(d)`, an accepted connection resets the delay only if it
    /// then stays up for `d`; with `None` (Paho), every CONNACK 0 resets it.
    pub fn set_reset_after(&mut self, reset_after: Option<Duration>) {
        self.reset_after = reset_after;
    }

    /// The bounds in effect, as `(min, max)`.
    pub fn bounds(&self) -> (Duration, Duration) {
        (self.min, self.max)
    }

    /// The next wait: the doubling sequence's next value, with the jitter
    /// applied.
    pub fn next_delay(&mut self) -> Duration {
        let base = match self.current {
            None => self.min,
            Some(d) => d.saturating_mul(2).min(self.max),
        };
        self.current = Some(base);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(self.unit()),
            Jitter::Proportional(f) => {
                let f = if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) };
                base.mul_f64(1.0 - f * self.unit())
            }
        }
    }

    /// A CONNACK accepted a connection at `now`.
    pub fn connected(&mut self, now: Instant) {
        match self.reset_after {
            None => self.reset(),
            Some(_) => self.connected_at = Some(now),
        }
    }

    /// The connection accepted earlier ended at `now`: with
    /// [`set_reset_after`](Self::set_reset_after), the delay starts over
    /// only if it stayed up long enough.
    pub fn connection_lost(&mut self, now: Instant) {
        if let (Some(at), Some(needed)) = (self.connected_at.take(), self.reset_after) {
            if now.saturating_duration_since(at) >= needed {
                self.current = None;
            }
        }
    }

    /// Starts over from the minimum.
    pub fn reset(&mut self) {
        self.current = None;
        self.connected_at = None;
    }

    /// A uniform number in `[0, 1]` (splitmix64; good enough to spread
    /// clients, not for cryptography).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / ((1u64 << 53) - 1) as f64
    }
}
