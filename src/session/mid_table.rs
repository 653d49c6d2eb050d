//! A map from message id to value, for the per-message state kept on the
//! hot path (the outgoing store, the client's `MessageInfo`s).
//!
//! Ids are handed out in order (1, 2, 3, ...), so the live ones sit close
//! together: the table is 256 pages of 256 slots, each page allocated when
//! its first id is used and freed when its last one goes. A lookup is two
//! array indexings, with no hashing, and a busy client holds one or two
//! pages (a few KiB), not a slot for each of the 65,535 possible ids.
//!
//! The last page freed is kept for the next one needed: a publisher that
//! waits for each message empties its page with every acknowledgement, and
//! would otherwise allocate and clear a page per message.
//!
//! Which ids are taken is also kept as bits (one word per 64 slots of a
//! page, one bit per full page), so the first free id from a given one is
//! found in a few word operations however many are taken: with 65,534
//! stored messages a scan of the ids cost every publish ~100 us.

const PAGE: usize = 256;
const WORDS: usize = PAGE / 64;

struct Page<T> {
    slots: Box<[Option<T>]>,
    live: usize,
    /// Bit `s` set: slot `s` holds a value.
    taken: [u64; WORDS],
}

/// Message id → `T` (see the module docs).
pub(crate) struct MidTable<T> {
    pages: Vec<Option<Page<T>>>,
    len: usize,
    /// The slots of the last page freed, all empty.
    spare: Option<Box<[Option<T>]>>,
    /// Bit `p` set: page `p` has no free slot.
    full: [u64; WORDS],
}

impl<T> Default for MidTable<T> {
    fn default() -> Self {
        MidTable {
            pages: Vec::new(),
            len: 0,
            spare: None,
            full: [0; WORDS],
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for MidTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn split(mid: u16) -> (usize, usize) {
    (usize::from(mid) / PAGE, usize::from(mid) % PAGE)
}

fn set_bit(bits: &mut [u64; WORDS], i: usize, on: bool) {
    if on {
        bits[i / 64] |= 1 << (i % 64);
    } else {
        bits[i / 64] &= !(1 << (i % 64));
    }
}

/// The first clear bit at or after `from` (below `PAGE`).
fn first_clear(bits: &[u64; WORDS], from: usize) -> Option<usize> {
    let mut word = from / 64;
    // Bits below `from` in its word count as set.
    let mut clear = !bits[word] & (u64::MAX << (from % 64));
    loop {
        if clear != 0 {
            return Some(word * 64 + clear.trailing_zeros() as usize);
        }
        word += 1;
        if word == WORDS {
            return None;
        }
        clear = !bits[word];
    }
}

impl<T> MidTable<T> {
    /// How many ids hold a value.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The value of `mid`.
    pub(crate) fn get(&self, mid: u16) -> Option<&T> {
        let (page, slot) = split(mid);
        self.pages.get(page)?.as_ref()?.slots[slot].as_ref()
    }

    /// The value of `mid`, to change.
    pub(crate) fn get_mut(&mut self, mid: u16) -> Option<&mut T> {
        let (page, slot) = split(mid);
        self.pages.get_mut(page)?.as_mut()?.slots[slot].as_mut()
    }

    /// True if `mid` holds a value.
    pub(crate) fn contains(&self, mid: u16) -> bool {
        self.get(mid).is_some()
    }

    /// Sets the value of `mid`; returns the one it replaces.
    pub(crate) fn insert(&mut self, mid: u16, value: T) -> Option<T> {
        let (index, slot) = split(mid);
        if self.pages.len() <= index {
            self.pages.resize_with(index + 1, || None);
        }
        let spare = &mut self.spare;
        let page = self.pages[index].get_or_insert_with(|| Page {
            slots: spare
                .take()
                .unwrap_or_else(|| (0..PAGE).map(|_| None).collect()),
            live: 0,
            taken: [0; WORDS],
        });
        let old = page.slots[slot].replace(value);
        if old.is_none() {
            page.live += 1;
            self.len += 1;
            set_bit(&mut page.taken, slot, true);
            if page.live == PAGE {
                set_bit(&mut self.full, index, true);
            }
        }
        old
    }

    /// Removes the value of `mid`; a page left empty is freed.
    pub(crate) fn remove(&mut self, mid: u16) -> Option<T> {
        let (index, slot) = split(mid);
        let page = self.pages.get_mut(index)?.as_mut()?;
        let old = page.slots[slot].take()?;
        set_bit(&mut page.taken, slot, false);
        if page.live == PAGE {
            set_bit(&mut self.full, index, false);
        }
        page.live -= 1;
        self.len -= 1;
        if page.live == 0 {
            if let Some(empty) = self.pages[index].take() {
                self.spare = Some(empty.slots);
            }
        }
        Some(old)
    }

    /// The first id from `from` on (1 to 65,535, wrapping to 1 after
    /// 65,535) that holds no value; `None` when all 65,535 hold one. Id 0 is
    /// never returned.
    pub(crate) fn first_free_from(&self, from: u16) -> Option<u16> {
        let from = from.max(1);
        self.first_free_in(from, u16::MAX)
            .or_else(|| self.first_free_in(1, from - 1))
    }

    /// The first id in `lo..=hi` that holds no value.
    fn first_free_in(&self, lo: u16, hi: u16) -> Option<u16> {
        if lo > hi {
            return None;
        }
        let (mut index, mut slot) = split(lo);
        let (last, _) = split(hi);
        while index <= last {
            // Full pages are skipped a word of them at a time.
            let open = first_clear(&self.full, index)?;
            if open != index {
                slot = 0;
            }
            index = open;
            if index > last {
                return None;
            }
            let found = match self.pages.get(index).and_then(Option::as_ref) {
                None => Some(slot),
                Some(page) => first_clear(&page.taken, slot),
            };
            if let Some(found) = found {
                let mid = index * PAGE + found;
                return (mid <= usize::from(hi)).then_some(mid as u16);
            }
            index += 1;
            slot = 0;
        }
        None
    }

    /// Every (id, value), by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &T)> {
        self.pages
            .iter()
            .enumerate()
            .filter_map(|(p, page)| page.as_ref().map(|page| (p, page)))
            .flat_map(|(p, page)| {
                page.slots
                    .iter()
                    .enumerate()
                    .filter_map(move |(s, v)| v.as_ref().map(|v| ((p * PAGE + s) as u16, v)))
            })
    }

    /// Every value, by id, to change.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages
            .iter_mut()
            .flatten()
            .flat_map(|page| page.slots.iter_mut().flatten())
    }

    /// Removes and returns every (id, value), by id.
    pub(crate) fn drain(&mut self) -> Vec<(u16, T)> {
        let mut out = Vec::with_capacity(self.len);
        for (p, page) in std::mem::take(&mut self.pages).into_iter().enumerate() {
            let Some(page) = page else { continue };
            for (s, v) in page.slots.into_vec().into_iter().enumerate() {
                if let Some(v) = v {
                    out.push(((p * PAGE + s) as u16, v));
                }
            }
        }
        self.len = 0;
        self.full = [0; WORDS];
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_come_and_go_with_their_ids() {
        let mut t = MidTable::default();
        assert_eq!(t.insert(1, "a"), None);
        assert_eq!(t.insert(65535, "z"), None);
        assert_eq!(t.insert(1, "b"), Some("a"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1), Some(&"b"));
        assert!(!t.contains(2) && !t.contains(300));
        assert_eq!(t.iter().collect::<Vec<_>>(), [(1, &"b"), (65535, &"z")]);
        assert_eq!(t.remove(1), Some("b"));
        assert!(t.pages[0].is_none(), "an empty page is freed");
        assert!(t.spare.is_some(), "and kept for the next page");
        t.insert(2, "c");
        assert!(t.spare.is_none(), "the next page reuses it");
        assert_eq!(t.remove(2), Some("c"));
        assert_eq!(t.remove(1), None);
        assert_eq!(t.drain(), [(65535, "z")]);
        assert_eq!(t.len(), 0);
    }

    /// The search against the obvious one (try each id in turn), over
    /// tables with whole pages, partly full pages and page edges taken.
    #[test]
    fn first_free_from_agrees_with_trying_each_id() {
        let naive = |t: &MidTable<()>, from: u16| {
            let from = from.max(1);
            (from..=u16::MAX).chain(1..from).find(|&m| !t.contains(m))
        };
        let mut t = MidTable::default();
        assert_eq!(t.first_free_from(0), Some(1));
        assert_eq!(t.first_free_from(65535), Some(65535));
        for m in 1..=u16::MAX {
            t.insert(m, ());
        }
        for from in [0, 1, 255, 256, 65535] {
            assert_eq!(t.first_free_from(from), None, "all taken");
        }
        let froms = [
            1, 2, 63, 64, 255, 256, 257, 511, 512, 40000, 65280, 65534, 65535,
        ];
        for free in [
            1u16, 63, 64, 255, 256, 300, 511, 512, 40000, 65279, 65280, 65535,
        ] {
            t.remove(free);
            for from in froms {
                assert_eq!(t.first_free_from(from), Some(free), "{free} from {from}");
            }
            t.insert(free, ());
        }
        // Several free: pages emptied, partly full, the last one.
        for m in (1000..1300).chain([70, 600, 65535]) {
            t.remove(m);
        }
        for from in (0..=u16::MAX).step_by(37).chain(froms) {
            assert_eq!(t.first_free_from(from), naive(&t, from), "from {from}");
        }
        t.drain();
        assert_eq!(t.first_free_from(7), Some(7), "drained: all free");
    }
}
