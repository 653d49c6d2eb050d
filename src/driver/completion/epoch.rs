//! Where the `MessageInfo`s of stored (QoS 1/2) messages learn how their
//! message ended, without a state of their own.
//!
//! A stored message's info holds no allocation: while the store holds the
//! message (same id, same `seq`), it is pending; once it has left, it was
//! delivered, unless its epoch says otherwise. An [`Epoch`] covers a run of
//! `seq`s and lists the ones that ended undelivered: refused by the broker,
//! forbidden by its limits, or failed all at once when the store was
//! emptied (`reinitialise`, `drop_out_messages`, the client dropped).
//!
//! Memory stays bounded by what the application keeps: a new epoch starts
//! every [`EPOCH_SPAN`] publishes, the client holds older ones only weakly,
//! and an epoch lives only as long as one of its infos does. A failure of a
//! message whose infos are all gone is recorded nowhere.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Outcome;

/// How many publishes (`seq`s) one epoch covers at most.
pub(crate) const EPOCH_SPAN: u64 = 4096;

/// The undelivered messages of a run of `seq`s (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Epoch {
    state: Mutex<EpochState>,
}

#[derive(Debug, Default)]
struct EpochState {
    /// Single messages that ended undelivered, by `seq`, sorted.
    failed: Vec<(u64, Outcome)>,
    /// Set when the store was emptied: from then on a message not listed
    /// here (nor in `failed`) was delivered.
    emptied: Option<(Outcome, Vec<u64>)>,
}

/// What an epoch knows of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It ended with this outcome.
    Ended(Outcome),
    /// The store was emptied and it was not among the undelivered: it had
    /// been delivered before.
    Delivered,
    /// Nothing recorded: ask the store.
    Unknown,
}

impl Epoch {
    /// What is recorded of message `seq`.
    #[inline]
    pub(crate) fn verdict(&self, seq: u64) -> Verdict {
        let state = self.state.lock();
        if state.failed.is_empty() && state.emptied.is_none() {
            return Verdict::Unknown;
        }
        if let Ok(i) = state.failed.binary_search_by_key(&seq, |(s, _)| *s) {
            return Verdict::Ended(state.failed[i].1);
        }
        match &state.emptied {
            Some((outcome, seqs)) if seqs.binary_search(&seq).is_ok() => Verdict::Ended(*outcome),
            Some(_) => Verdict::Delivered,
            None => Verdict::Unknown,
        }
    }

    fn record(&self, seq: u64, outcome: Outcome) {
        let mut state = self.state.lock();
        // Messages mostly end in publish order: an append, nearly always.
        let at = state.failed.partition_point(|(s, _)| *s < seq);
        state.failed.insert(at, (seq, outcome));
    }

    fn close(&self, outcome: Outcome, mut seqs: Vec<u64>) {
        seqs.sort_unstable();
        self.state.lock().emptied = Some((outcome, seqs));
    }
}

/// The client's epochs: the current one, for new infos, and the older ones
/// some info still holds.
#[derive(Debug, Default)]
pub(crate) struct Epochs {
    current: Arc<Epoch>,
    /// The first `seq` of `current`; `None` until its first publish.
    first: Option<u64>,
    /// Older epochs by first `seq`, ascending.
    older: Vec<(u64, Weak<Epoch>)>,
}

impl Epochs {
    /// The epoch for a new stored message `seq` (`seq`s increase).
    #[inline]
    pub(crate) fn for_publish(&mut self, seq: u64) -> &Arc<Epoch> {
        match self.first {
            None => self.first = Some(seq),
            Some(first) if seq >= first.saturating_add(EPOCH_SPAN) => {
                let old = std::mem::take(&mut self.current);
                self.older.retain(|(_, e)| e.strong_count() > 0);
                self.older.push((first, Arc::downgrade(&old)));
                self.first = Some(seq);
            }
            Some(_) => {}
        }
        &self.current
    }

    /// The epoch holding `seq`, if an info of it is still alive.
    fn of(&self, seq: u64) -> Option<Arc<Epoch>> {
        if self.first.is_some_and(|first| seq >= first) {
            return Some(Arc::clone(&self.current));
        }
        let at = self.older.partition_point(|(first, _)| *first <= seq);
        at.checked_sub(1).and_then(|i| self.older[i].1.upgrade())
    }

    /// Stored message `seq` ended undelivered with `outcome`.
    pub(crate) fn record(&self, seq: u64, outcome: Outcome) {
        if let Some(epoch) = self.of(seq) {
            epoch.record(seq, outcome);
        }
    }

    /// The store was emptied: the messages `seqs` failed with `outcome`,
    /// every other one of every epoch was delivered. Epochs start anew.
    pub(crate) fn close(&mut self, outcome: Outcome, seqs: Vec<u64>) {
        let mut live: Vec<(u64, Arc<Epoch>)> = self
            .older
            .drain(..)
            .filter_map(|(first, e)| Some((first, e.upgrade()?)))
            .collect();
        let current = std::mem::take(&mut self.current);
        live.push((self.first.unwrap_or(0), current));
        let bounds: Vec<u64> = live.iter().skip(1).map(|(first, _)| *first).collect();
        let mut per_epoch: Vec<Vec<u64>> = vec![Vec::new(); live.len()];
        for seq in seqs {
            let i = bounds.partition_point(|first| *first <= seq);
            per_epoch[i].push(seq);
        }
        for ((_, epoch), seqs) in live.iter().zip(per_epoch) {
            epoch.close(outcome, seqs);
        }
        self.first = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{PacketType, ReasonCode};

    fn refused() -> Outcome {
        Outcome::Refused(ReasonCode::from_value(PacketType::PubAck, 0x87).unwrap())
    }

    #[test]
    fn a_failure_is_read_back_by_its_epoch_and_others_are_unknown() {
        let mut epochs = Epochs::default();
        let e = Arc::clone(epochs.for_publish(0));
        epochs.for_publish(1);
        epochs.record(1, refused());
        assert_eq!(e.verdict(1), Verdict::Ended(refused()));
        assert_eq!(e.verdict(0), Verdict::Unknown);
    }

    #[test]
    fn epochs_rotate_and_an_epoch_nobody_holds_records_nothing() {
        let mut epochs = Epochs::default();
        let first = Arc::clone(epochs.for_publish(0));
        let second = Arc::clone(epochs.for_publish(EPOCH_SPAN));
        assert!(!Arc::ptr_eq(&first, &second));
        epochs.record(5, refused());
        assert_eq!(first.verdict(5), Verdict::Ended(refused()));
        drop(first);
        epochs.record(6, Outcome::ConnectionLost);
        // A third rotation prunes the dead first epoch.
        let third = Arc::clone(epochs.for_publish(2 * EPOCH_SPAN));
        assert_eq!(epochs.older.len(), 1, "only the second is held");
        epochs.record(EPOCH_SPAN + 1, refused());
        assert_eq!(second.verdict(EPOCH_SPAN + 1), Verdict::Ended(refused()));
        assert_eq!(third.verdict(EPOCH_SPAN + 1), Verdict::Unknown);
    }

    #[test]
    fn closing_lists_each_epochs_own_undelivered_and_starts_anew() {
        let mut epochs = Epochs::default();
        let first = Arc::clone(epochs.for_publish(0));
        let second = Arc::clone(epochs.for_publish(EPOCH_SPAN));
        epochs.close(Outcome::Reinitialised, vec![EPOCH_SPAN + 2, 3]);
        assert_eq!(first.verdict(3), Verdict::Ended(Outcome::Reinitialised));
        assert_eq!(first.verdict(4), Verdict::Delivered);
        assert_eq!(
            second.verdict(EPOCH_SPAN + 2),
            Verdict::Ended(Outcome::Reinitialised)
        );
        let fresh = epochs.for_publish(0);
        assert!(!Arc::ptr_eq(fresh, &first) && !Arc::ptr_eq(fresh, &second));
    }
}
