//! Message ids: Paho's counter, shared by PUBLISH, SUBSCRIBE and UNSUBSCRIBE.

/// Allocates message ids the way Paho does: 1, 2, ..., 65535, 1, ... (never
/// 0), one per publish (QoS 0 included), subscribe and unsubscribe, and not
/// reset by a reconnect, only by `reinitialise`.
///
/// Unlike Paho, which refuses a QoS 1/2 publish whose new id collides with a
/// message still in the store (`MQTT_ERR_QUEUE_SIZE`), the caller may ask for
/// the next id not in use, so a wrap-around never fails a publish.
#[derive(Debug, Clone, Default)]
pub struct MidAllocator {
    last: u16,
}

impl MidAllocator {
    /// A fresh counter: the first id is 1.
    pub fn new() -> MidAllocator {
        MidAllocator { last: 0 }
    }

    /// The next id after the last one, wrapping 65535 to 1.
    pub fn next_mid(&mut self) -> u16 {
        self.last = if self.last == u16::MAX {
            1
        } else {
            self.last + 1
        };
        self.last
    }

    /// The next id in this order that is free, asking `first_free_from`:
    /// given an id, it returns the first free one at or after it (wrapping
    /// 65535 to 1), or `None` when none is. With a lookup that does not try
    /// each id in turn (the session's store keeps which ids are taken as
    /// bits) this costs the same however many ids are taken, where
    /// [`MidAllocator::next_free`] tries them one by one. `None` leaves the
    /// counter where it was.
    pub fn next_free_from(
        &mut self,
        first_free_from: impl FnOnce(u16) -> Option<u16>,
    ) -> Option<u16> {
        let from = if self.last == u16::MAX {
            1
        } else {
            self.last + 1
        };
        let mid = first_free_from(from)?;
        debug_assert_ne!(mid, 0, "id 0 is never handed out");
        self.last = mid;
        Some(mid)
    }

    /// The next id for which `in_use` is false, or `None` when every id is in
    /// use. It tries the ids one by one: see
    /// [`MidAllocator::next_free_from`] for a lookup that does not.
    pub fn next_free(&mut self, mut in_use: impl FnMut(u16) -> bool) -> Option<u16> {
        for _ in 0..u16::MAX {
            let mid = self.next_mid();
            if !in_use(mid) {
                return Some(mid);
            }
        }
        None
    }

    /// The last id handed out (0 before the first).
    pub fn last(&self) -> u16 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_one_and_wraps_to_one_never_zero() {
        let mut m = MidAllocator::new();
        assert_eq!(m.next_mid(), 1);
        m.last = u16::MAX - 1;
        assert_eq!(m.next_mid(), u16::MAX);
        assert_eq!(m.next_mid(), 1);
    }

    #[test]
    fn next_free_skips_ids_in_use_and_gives_up_when_all_are() {
        let mut m = MidAllocator::new();
        assert_eq!(m.next_free(|id| id <= 3), Some(4));
        assert_eq!(m.next_free(|_| true), None);
    }

    #[test]
    fn next_free_from_asks_from_the_id_after_the_last_and_keeps_it() {
        let mut m = MidAllocator::new();
        assert_eq!(m.next_free_from(Some), Some(1));
        assert_eq!(m.next_free_from(|from| Some(from + 2)), Some(4));
        assert_eq!(m.next_free_from(|_| None), None);
        assert_eq!(m.last(), 4, "a refusal leaves the counter");
        m.last = u16::MAX;
        assert_eq!(m.next_free_from(Some), Some(1), "wraps to 1");
    }
}
