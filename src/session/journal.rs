//! What changed in the stores, for a layer that keeps them on disk.
//!
//! The session never touches a file. With its journal on
//! ([`Session::set_journal`](super::Session::set_journal)) it appends one
//! [`StoreOp`] per change of the outgoing QoS 1/2 store and of the inbound
//! QoS 2 state, in the order they happened, and the driver takes them
//! ([`Session::take_journal`](super::Session::take_journal)) and writes them
//! before any byte that depends on them leaves: the session's own check is
//! that its transmit bytes are never taken while ops wait (a debug
//! assertion in [`Session::pending`](super::Session::pending) and
//! [`Session::take_pending`](super::Session::take_pending)).
//!
//! What a restart gives back, [`Restored`], goes in with
//! [`Session::restore`](super::Session::restore) before the first connect.

/// One change of the stores a persistent session must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// A QoS 1/2 message entered the outgoing store: its place in the order
    /// of publishes and its encoded PUBLISH (DUP clear; its packet
    /// identifier is its mid).
    Stored {
        /// The mid (also inside `packet`).
        mid: u16,
        /// Its place in the order of publishes ([`super::Stored::seq`]).
        seq: u64,
        /// The encoded PUBLISH.
        packet: Box<[u8]>,
    },
    /// PUBREC accepted QoS 2 message `mid`: from now on it is finished with
    /// PUBREL, never sent again as a PUBLISH.
    PubRec(u16),
    /// Outgoing message `mid` ended (acknowledged, or failed) and needs
    /// nothing more.
    Ended(u16),
    /// The outgoing store was emptied (`drop_out_messages`,
    /// `reinitialise`).
    Cleared,
    /// An inbound QoS 2 message was received (PUBREC goes out after this):
    /// its encoded PUBLISH, topic alias resolved.
    InboundStored {
        /// Its packet identifier.
        mid: u16,
        /// The encoded PUBLISH.
        packet: Box<[u8]>,
    },
    /// Inbound QoS 2 message `mid` was delivered and acknowledged (PUBCOMP
    /// goes out after this).
    InboundAcked(u16),
    /// The inbound QoS 2 state was forgotten (a clean session starts).
    InboundCleared,
}

/// A session's persistent state as read back after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The `seq` the next stored message gets: how many QoS 1/2 messages
    /// were ever stored through this persistence.
    pub next_seq: u64,
    /// Outgoing messages, in publish order.
    pub outgoing: Vec<RestoredOut>,
    /// Inbound QoS 2 messages not yet acknowledged (encoded PUBLISHes), by
    /// arrival.
    pub inbound: Vec<Box<[u8]>>,
}

/// One outgoing message of [`Restored`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredOut {
    /// Its place in the order of publishes.
    pub seq: u64,
    /// The encoded PUBLISH as stored (DUP clear).
    pub packet: Box<[u8]>,
    /// PUBREC was received: finish with PUBREL.
    pub pubrel: bool,
}
