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

const PAGE: usize = 256;

struct Page<T> {
    slots: Box<[Option<T>]>,
    live: usize,
}

/// Message id → `T` (see the module docs).
pub(crate) struct MidTable<T> {
    pages: Vec<Option<Page<T>>>,
    len: usize,
    /// The slots of the last page freed, all empty.
    spare: Option<Box<[Option<T>]>>,
}

impl<T> Default for MidTable<T> {
    fn default() -> Self {
        MidTable {
            pages: Vec::new(),
            len: 0,
            spare: None,
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
        let (page, slot) = split(mid);
        if self.pages.len() <= page {
            self.pages.resize_with(page + 1, || None);
        }
        let spare = &mut self.spare;
        let page = self.pages[page].get_or_insert_with(|| Page {
            slots: spare
                .take()
                .unwrap_or_else(|| (0..PAGE).map(|_| None).collect()),
            live: 0,
        });
        let old = page.slots[slot].replace(value);
        if old.is_none() {
            page.live += 1;
            self.len += 1;
        }
        old
    }

    /// Removes the value of `mid`; a page left empty is freed.
    pub(crate) fn remove(&mut self, mid: u16) -> Option<T> {
        let (index, slot) = split(mid);
        let page = self.pages.get_mut(index)?.as_mut()?;
        let old = page.slots[slot].take()?;
        page.live -= 1;
        self.len -= 1;
        if page.live == 0 {
            if let Some(empty) = self.pages[index].take() {
                self.spare = Some(empty.slots);
            }
        }
        Some(old)
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
}
