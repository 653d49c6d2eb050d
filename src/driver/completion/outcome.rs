//! [`Outcome`], what became of a published message, and [`State`], a
//! message's whole state packed in one word.

use crate::error::ErrorCode;
use crate::packet::{PacketType, ReasonCode};

/// What became of a published message: every
/// [`MessageInfo`](crate::MessageInfo) ends in one
/// of the final outcomes, with the reason when it was not delivered (beyond
/// Paho, whose `MQTTMessageInfo` can stay unpublished forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Queued or in flight; QoS 1/2 messages stay here across disconnects
    /// until they are acknowledged.
    Pending,
    /// Delivered: written (QoS 0) or acknowledged by the broker (QoS 1/2).
    Published,
    /// Never queued: `max_queued_messages`, or all 65,535 message ids held
    /// (`MQTT_ERR_QUEUE_SIZE`).
    QueueFull,
    /// A QoS 0 message published without a connection (`MQTT_ERR_NO_CONN`).
    NotConnected,
    /// Larger than the broker's MQTT 5 Maximum Packet Size: refused at
    /// `publish`, or, queued before the CONNACK that announced the limit,
    /// never sent (`MQTT_ERR_PAYLOAD_SIZE`).
    TooLarge,
    /// A QoS 0 message whose connection ended before it was written, or a
    /// QoS 1/2 message still stored when the client itself was dropped
    /// (`MQTT_ERR_CONN_LOST`).
    ConnectionLost,
    /// `reinitialise()` emptied the queue before it was delivered.
    Reinitialised,
    /// `drop_out_messages()` removed it before it was delivered.
    Dropped,
    /// Dropped unsent to make room for a newer message, by the queue-full
    /// policy [`QueueFullPolicy::DropOldest`](crate::QueueFullPolicy::DropOldest)
    /// (`MQTT_ERR_QUEUE_SIZE`; no `on_publish`). Paho never drops a queued
    /// message.
    Evicted,
    /// Never sent: another limit of the broker's MQTT 5 CONNACK forbids it
    /// (Maximum QoS, Retain Available, Topic Alias Maximum), or its topic
    /// alias is not set on the connection it was to go out on. The reason
    /// code is the DISCONNECT reason such a packet would have earned: 0x9B
    /// QoS not supported, 0x9A Retain not supported, 0x94 Topic alias
    /// invalid (`MQTT_ERR_NOT_SUPPORTED`).
    NotSupported(ReasonCode),
    /// The broker refused it: its MQTT 5 PUBACK, PUBREC or PUBCOMP carried
    /// this failure reason (0x80 and up; 0x87 Not authorized, 0x97 Quota
    /// exceeded, ...). Paho counts such a message as published; here
    /// `wait_for_publish` and `is_published` fail, while `rc` keeps Paho's
    /// value.
    Refused(ReasonCode),
}

impl Outcome {
    /// The outcome of a message whose `Published` event carried the
    /// failure `reason`: a broker's acknowledgement type means it refused,
    /// a DISCONNECT reason means a limit forbade sending it.
    pub(crate) fn of_failure(reason: ReasonCode) -> Outcome {
        match (reason.packet_type(), reason.value()) {
            (PacketType::Disconnect, 0x95) => Outcome::TooLarge,
            (PacketType::Disconnect, _) => Outcome::NotSupported(reason),
            _ => Outcome::Refused(reason),
        }
    }

    /// The outcome of a `Published` event with `reason`.
    pub(crate) fn of_published(reason: ReasonCode) -> Outcome {
        if reason.is_failure() {
            Outcome::of_failure(reason)
        } else {
            Outcome::Published
        }
    }

    /// Paho's `rc` once a message published with `rc` has this outcome.
    #[inline]
    pub(crate) fn rc(self, rc: ErrorCode) -> ErrorCode {
        match self {
            Outcome::Pending | Outcome::Published | Outcome::Refused(_) => rc,
            Outcome::QueueFull | Outcome::Evicted => ErrorCode::QueueSize,
            Outcome::NotConnected => ErrorCode::NoConn,
            Outcome::TooLarge => ErrorCode::PayloadSize,
            Outcome::NotSupported(_) => ErrorCode::NotSupported,
            Outcome::ConnectionLost | Outcome::Reinitialised | Outcome::Dropped => {
                ErrorCode::ConnLost
            }
        }
    }

    /// The outcome's kind and its reason code, as packed in [`State`].
    fn pack(self) -> u32 {
        let (kind, reason) = match self {
            Outcome::Pending => (0, None),
            Outcome::Published => (1, None),
            Outcome::QueueFull => (2, None),
            Outcome::NotConnected => (3, None),
            Outcome::TooLarge => (4, None),
            Outcome::ConnectionLost => (5, None),
            Outcome::Reinitialised => (6, None),
            Outcome::Dropped => (7, None),
            Outcome::NotSupported(r) => (8, Some(r)),
            Outcome::Refused(r) => (9, Some(r)),
            Outcome::Evicted => (10, None),
        };
        let reason = reason.map_or(0, |r| u32::from(r.value()) | (r.packet_type() as u32) << 8);
        kind | reason << 4
    }

    #[inline]
    fn unpack(bits: u32) -> Outcome {
        let reason = || {
            PacketType::from_nibble((bits >> 12) as u8 & 0xf)
                .and_then(|t| ReasonCode::from_value(t, (bits >> 4) as u8).ok())
                .unwrap_or_else(|| ReasonCode::success(PacketType::PubAck))
        };
        match bits & 0xf {
            1 => Outcome::Published,
            2 => Outcome::QueueFull,
            3 => Outcome::NotConnected,
            4 => Outcome::TooLarge,
            5 => Outcome::ConnectionLost,
            6 => Outcome::Reinitialised,
            7 => Outcome::Dropped,
            8 => Outcome::NotSupported(reason()),
            9 => Outcome::Refused(reason()),
            10 => Outcome::Evicted,
            _ => Outcome::Pending,
        }
    }
}

/// A message's state in one word, so that [`InfoInner`](super::InfoInner) fits the smallest
/// allocation: bits 0-7 Paho's rc (its index in `ErrorCode::ALL`), 8-23 the
/// [`Outcome`] (kind, reason value, reason packet type), bit 24 "published"
/// (finished, whatever the outcome), bit 25 "stored" (a QoS 1/2 message
/// stored while offline: Paho reports `NoConn` but sends it after the next
/// CONNACK, so waiting for it is meaningful).
#[derive(Debug, Clone, Copy)]
pub(crate) struct State {
    pub(crate) rc: ErrorCode,
    pub(crate) outcome: Outcome,
    pub(crate) published: bool,
    pub(crate) stored: bool,
}

impl State {
    pub(super) fn pack(self) -> u32 {
        // An index, so reading the word back is an array lookup.
        let rc = ErrorCode::ALL
            .iter()
            .position(|c| *c == self.rc)
            .unwrap_or(0) as u8;
        u32::from(rc)
            | (self.outcome.pack() & 0xffff) << 8
            | u32::from(self.published) << 24
            | u32::from(self.stored) << 25
    }

    #[inline]
    pub(super) fn unpack(word: u32) -> State {
        State {
            rc: ErrorCode::ALL
                .get(usize::from(word as u8))
                .copied()
                .unwrap_or(ErrorCode::Unknown),
            outcome: Outcome::unpack((word >> 8) & 0xffff),
            published: word & 1 << 24 != 0,
            stored: word & 1 << 25 != 0,
        }
    }
}
