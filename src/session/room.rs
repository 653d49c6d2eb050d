//! Room in the outgoing store for one more message: what `publish` is
//! refused for with `MQTT_ERR_QUEUE_SIZE`, said with its reason, so a
//! caller that waits for room (`Client::publish_wait`) knows what it waits
//! for and can look again without publishing.

use std::fmt;

use super::Session;
use crate::packet::QoS;

/// The most messages the store can hold: one per 16-bit packet id (0 is
/// not an id).
pub const MAX_STORED: usize = u16::MAX as usize;

/// Why the client has no room for a new message now
/// ([`PublishResult::full`](super::PublishResult::full)); each is
/// `MQTT_ERR_QUEUE_SIZE` to Paho's `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreFull {
    /// All 65,535 message ids are held by messages not yet released.
    Ids,
    /// `max_queued_messages` (this many) QoS 1/2 messages are stored.
    Count(usize),
    /// The message would take the outgoing store past its memory budget
    /// ([`MemoryBudget::store`](super::MemoryBudget::store), these bytes).
    Bytes(usize),
    /// A QoS 0 message: the bytes waiting for the socket have reached
    /// their budget ([`MemoryBudget::transmit`](super::MemoryBudget::transmit),
    /// these bytes).
    Transmit(usize),
}

impl fmt::Display for StoreFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreFull::Ids => write!(f, "all {MAX_STORED} message ids are held"),
            StoreFull::Count(n) => write!(f, "max_queued_messages ({n}) messages are queued"),
            StoreFull::Bytes(n) => write!(f, "the outgoing store holds its budget of {n} bytes"),
            StoreFull::Transmit(n) => {
                write!(
                    f,
                    "the bytes waiting for the socket fill their budget of {n}"
                )
            }
        }
    }
}

/// What `publish` does when the store has no room for a new message
/// ([`SessionConfig::queue_full_policy`](super::SessionConfig::queue_full_policy),
/// [`Client::queue_full_policy_set`](crate::Client::queue_full_policy_set)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QueueFullPolicy {
    /// Refuse the new message with `MQTT_ERR_QUEUE_SIZE` (Paho; the
    /// default).
    #[default]
    Refuse,
    /// Drop the oldest message never sent (on any connection) until the new
    /// one fits: its `MessageInfo` ends [`Outcome::Evicted`](crate::Outcome::Evicted),
    /// with no `on_publish` (which means delivered). A message that went out
    /// once (in flight, or sent on an earlier connection) is never
    /// dropped: the broker may hold it, and for QoS 2 its id; when only
    /// such messages are held, the new one is refused as with `Refuse`.
    /// Does not apply to all 65,535 ids being held (`StoreFull::Ids`).
    DropOldest,
}

/// A message [`QueueFullPolicy::DropOldest`] dropped to make room, for the
/// layer above to end its `MessageInfo` ([`Session::take_dropped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DroppedMessage {
    /// A stored QoS 1/2 message, by id and place in the publish order.
    Stored {
        /// Its message id (free again).
        mid: u16,
        /// Its [`Stored::seq`](super::Stored::seq).
        seq: u64,
    },
    /// A QoS 0 message queued while offline
    /// ([`SessionConfig::queue_qos0_offline`](super::SessionConfig::queue_qos0_offline)).
    Qos0 {
        /// Its message id.
        mid: u16,
    },
}

/// A QoS 0 message published while offline with
/// [`SessionConfig::queue_qos0_offline`](super::SessionConfig::queue_qos0_offline),
/// written after the next CONNACK.
#[derive(Debug)]
pub(super) struct OfflineQos0 {
    pub(super) mid: u16,
    pub(super) seq: u64,
    pub(super) packet: Box<[u8]>,
    pub(super) retain: bool,
    pub(super) empty_topic: bool,
    pub(super) alias: Option<u16>,
}

impl Session {
    /// Whether a new message of `qos` whose encoded PUBLISH takes `len`
    /// bytes would be stored (or, QoS 0, queued) now, or why not: the same
    /// checks [`Session::publish_ref`] makes, without publishing. (Limits
    /// of the broker's CONNACK are not room: waiting does not change them.)
    pub fn room_for(&self, qos: QoS, len: usize) -> Result<(), StoreFull> {
        self.id_room()?;
        if qos == QoS::AtMostOnce && !self.queues_qos0() {
            return self.transmit_room();
        }
        self.count_room()?;
        self.bytes_room(len)
    }

    /// The messages [`QueueFullPolicy::DropOldest`] dropped since the last
    /// call, oldest first.
    pub fn take_dropped(&mut self) -> Vec<DroppedMessage> {
        std::mem::take(&mut self.dropped)
    }

    /// A QoS 0 message published now would be queued for the next
    /// connection: offline with `queue_qos0_offline`, or behind QoS 0
    /// messages queued so that are not written yet.
    pub(super) fn queues_qos0(&self) -> bool {
        use super::LinkState::{Disconnecting, Down};
        self.config.queue_qos0_offline
            && (self.link == Down || (self.link != Disconnecting && !self.offline_qos0.is_empty()))
    }

    /// Checks `room` (the count, or the bytes a message needs); when full
    /// and the policy is [`QueueFullPolicy::DropOldest`], drops the oldest
    /// message never sent until it passes, or until none is left to drop.
    pub(super) fn make_room(
        &mut self,
        room: impl Fn(&Session) -> Result<(), StoreFull>,
    ) -> Result<(), StoreFull> {
        loop {
            match room(self) {
                Ok(()) => return Ok(()),
                Err(_)
                    if self.config.queue_full_policy == QueueFullPolicy::DropOldest
                        && self.drop_oldest() => {}
                Err(full) => return Err(full),
            }
        }
    }

    /// Drops the oldest message never sent, stored or QoS 0 queued
    /// offline; false when there is none. Walks the store.
    fn drop_oldest(&mut self) -> bool {
        let stored = self.store.oldest_unsent();
        let qos0 = self.offline_qos0.front().map(|m| m.seq);
        match (stored, qos0) {
            (Some((seq, mid)), q) if q.is_none_or(|q| seq < q) => {
                if self.store.remove_unsent(mid).is_none() {
                    return false;
                }
                self.dropped.push(DroppedMessage::Stored { mid, seq });
                self.counters.dropped += 1;
                true
            }
            (_, Some(_)) => {
                let Some(m) = self.offline_qos0.pop_front() else {
                    return false;
                };
                self.offline_qos0_bytes -= m.packet.len();
                self.dropped.push(DroppedMessage::Qos0 { mid: m.mid });
                self.counters.dropped += 1;
                true
            }
            _ => false,
        }
    }

    pub(super) fn id_room(&self) -> Result<(), StoreFull> {
        if self.store.len() >= MAX_STORED {
            return Err(StoreFull::Ids);
        }
        Ok(())
    }

    pub(super) fn count_room(&self) -> Result<(), StoreFull> {
        let max = self.config.max_queued;
        if max > 0 && self.store.len() + self.offline_qos0.len() >= max {
            return Err(StoreFull::Count(max));
        }
        Ok(())
    }

    /// One message alone is always accepted, however large.
    pub(super) fn bytes_room(&self, len: usize) -> Result<(), StoreFull> {
        let held = self.store.bytes() + self.offline_qos0_bytes;
        let budget = self.config.memory_budget.store;
        if held > 0 && held.saturating_add(len) > budget {
            return Err(StoreFull::Bytes(budget));
        }
        Ok(())
    }

    /// Only while a connection takes bytes: without one, QoS 0 is dropped
    /// (`MQTT_ERR_NO_CONN`), which waiting does not change either.
    pub(super) fn transmit_room(&self) -> Result<(), StoreFull> {
        use super::LinkState::{Connected, Connecting};
        if matches!(self.link, Connecting | Connected) && self.transmit_full() {
            return Err(StoreFull::Transmit(self.config.memory_budget.transmit));
        }
        Ok(())
    }
}
