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
                write!(f, "the bytes waiting for the socket fill their budget of {n}")
            }
        }
    }
}

impl Session {
    /// Whether a new message of `qos` whose encoded PUBLISH takes `len`
    /// bytes would be stored (or, QoS 0, queued) now, or why not: the same
    /// checks [`Session::publish_ref`] makes, without publishing. (Limits
    /// of the broker's CONNACK are not room: waiting does not change them.)
    pub fn room_for(&self, qos: QoS, len: usize) -> Result<(), StoreFull> {
        self.id_room()?;
        if qos == QoS::AtMostOnce {
            return self.transmit_room();
        }
        self.count_room()?;
        self.bytes_room(len)
    }

    pub(super) fn id_room(&self) -> Result<(), StoreFull> {
        if self.store.len() >= MAX_STORED {
            return Err(StoreFull::Ids);
        }
        Ok(())
    }

    pub(super) fn count_room(&self) -> Result<(), StoreFull> {
        let max = self.config.max_queued;
        if max > 0 && self.store.len() >= max {
            return Err(StoreFull::Count(max));
        }
        Ok(())
    }

    /// One message alone is always accepted, however large.
    pub(super) fn bytes_room(&self, len: usize) -> Result<(), StoreFull> {
        let held = self.store.bytes();
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
