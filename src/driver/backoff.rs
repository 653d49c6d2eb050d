//! The reconnect delay of `reconnect_delay_set(min_delay=1, max_delay=120)`:
//! the first wait is the minimum, each further wait doubles up to the
//! maximum, and an accepted connection starts over (reference §10.2).

use std::time::Duration;

/// Paho's reconnect backoff.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(120))
    }
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            current: None,
        }
    }

    /// The next wait: the minimum first, then doubling up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let next = match self.current {
            None => self.min,
            Some(d) => d.saturating_mul(2).min(self.max),
        };
        self.current = Some(next);
        next
    }

    /// CONNACK accepted a connection (or the bounds changed): start over.
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_min_to_max_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..10).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}
