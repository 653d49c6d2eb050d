//! What can go wrong when bytes become packets, or packets become bytes.

use std::fmt;

use super::property::PropertyId;
use super::{PacketType, ProtocolVersion};

/// Why a byte stream is not a valid MQTT packet.
///
/// A connection that gives one of these cannot be resynchronised: the only
/// correct reaction is to close it (MQTT 5 first sends a DISCONNECT with
/// [`DecodeError::reason_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer (the remaining length, or a property value)
    /// still has its continuation bit set in its fourth byte.
    MalformedVariableInteger,
    /// The packet is larger than the maximum packet size the decoder accepts.
    /// This is detected from the fixed header alone, before the body is read.
    PacketTooLarge {
        /// The size of the whole packet, fixed header included.
        size: usize,
        /// The configured maximum.
        maximum: usize,
    },
    /// The packet type nibble is 0 (reserved), or 15 (AUTH) below MQTT 5.
    InvalidPacketType(u8),
    /// The reserved flag bits of the fixed header are wrong (PUBREL, SUBSCRIBE
    /// and UNSUBSCRIBE need `0b0010`, the other types other than PUBLISH `0`),
    /// or a QoS 0 PUBLISH has its DUP flag set.
    InvalidFixedHeaderFlags {
        /// The packet the header announced.
        packet_type: PacketType,
        /// The low nibble of the first byte.
        flags: u8,
    },
    /// A QoS field (PUBLISH, will, or subscription) holds 3.
    InvalidQoS,
    /// A packet identifier is zero where the protocol requires a non-zero one.
    ZeroPacketId(PacketType),
    /// A field runs past the end of the packet body, or the buffer given to a
    /// one-shot decode ends before the packet does.
    Truncated,
    /// Bytes are left over after the last field of a packet that has no
    /// variable-length tail.
    TrailingBytes {
        /// The packet that had them.
        packet_type: PacketType,
        /// How many bytes were left over.
        count: usize,
    },
    /// A string field is not well-formed UTF-8 (this includes encoded
    /// surrogates, U+D800 to U+DFFF).
    InvalidUtf8,
    /// A string field contains U+0000.
    NullCharacter,
    /// CONNECT names a protocol other than "MQTT" (levels 4 and 5) or
    /// "MQIsdp" (level 3).
    InvalidProtocolName,
    /// CONNECT asks for a protocol level this codec does not speak. A broker
    /// answers it with CONNACK 0x01 (v3) or 0x84 (v5).
    UnsupportedProtocolLevel(u8),
    /// The CONNECT flags byte has its reserved bit set, a will QoS or retain
    /// without the will flag, or a password without a user name (v3).
    InvalidConnectFlags(u8),
    /// The CONNACK acknowledge-flags byte has reserved bits set.
    InvalidConnackFlags(u8),
    /// A reason code (or a v3 SUBACK return code) that the packet type does not allow.
    InvalidReasonCode {
        /// The packet that carried it.
        packet_type: PacketType,
        /// The code.
        code: u8,
    },
    /// A property is unknown, repeated, out of range, or not allowed in this packet.
    Property(PropertyError),
    /// A subscription options byte with reserved bits set or retain handling 3.
    InvalidSubscribeOptions(u8),
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    NoTopicFilters(PacketType),
    /// A SUBACK or a v5 UNSUBACK without any reason code.
    NoReasonCodes(PacketType),
    /// A topic name (PUBLISH or will) that is empty (without a v5 topic alias)
    /// or contains a wildcard.
    InvalidTopicName,
    /// A SUBSCRIBE or UNSUBSCRIBE with an empty topic filter.
    EmptyTopicFilter,
}

impl DecodeError {
    /// The reason code an MQTT 5 DISCONNECT (or CONNACK) should carry when a
    /// peer sent this: 0x95 "Packet too large", 0x84 "Unsupported protocol
    /// version", 0x82 "Protocol error" where the specification names the case
    /// a protocol error, and 0x81 "Malformed packet" for everything else.
    pub fn reason_code(&self) -> u8 {
        match self {
            DecodeError::PacketTooLarge { .. } => 0x95,
            DecodeError::UnsupportedProtocolLevel(_) => 0x84,
            // §3.8.3.1: reserved option bits are malformed, retain handling 3
            // and QoS 3 are protocol errors.
            DecodeError::InvalidSubscribeOptions(byte) if byte & 0xc0 == 0 => 0x82,
            DecodeError::Property(PropertyError::Duplicate(_))
            | DecodeError::Property(PropertyError::OutOfRange { .. })
            | DecodeError::NoTopicFilters(_)
            | DecodeError::EmptyTopicFilter
            | DecodeError::InvalidTopicName => 0x82,
            // §2.2.2.2: a property the packet does not allow makes it malformed.
            _ => 0x81,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MalformedVariableInteger => {
                f.write_str("malformed packet: variable byte integer longer than 4 bytes")
            }
            DecodeError::PacketTooLarge { size, maximum } => write!(
                f,
                "packet of {size} bytes exceeds the maximum packet size of {maximum} bytes"
            ),
            DecodeError::InvalidPacketType(t) => {
                write!(f, "malformed packet: invalid packet type {t}")
            }
            DecodeError::InvalidFixedHeaderFlags { packet_type, flags } => write!(
                f,
                "malformed packet: invalid fixed header flags {flags:#06b} for {}",
                packet_type.name()
            ),
            DecodeError::InvalidQoS => f.write_str("malformed packet: QoS 3"),
            DecodeError::ZeroPacketId(t) => {
                write!(f, "malformed packet: {} with packet identifier 0", t.name())
            }
            DecodeError::Truncated => {
                f.write_str("malformed packet: a field runs past the end of the packet")
            }
            DecodeError::TrailingBytes { packet_type, count } => write!(
                f,
                "malformed packet: {count} unexpected trailing bytes in {}",
                packet_type.name()
            ),
            DecodeError::InvalidUtf8 => f.write_str("malformed packet: invalid UTF-8 string"),
            DecodeError::NullCharacter => f.write_str("malformed packet: string contains U+0000"),
            DecodeError::InvalidProtocolName => {
                f.write_str("malformed packet: unknown protocol name in CONNECT")
            }
            DecodeError::UnsupportedProtocolLevel(l) => {
                write!(f, "unsupported protocol level {l} in CONNECT")
            }
            DecodeError::InvalidConnectFlags(b) => {
                write!(f, "malformed packet: invalid CONNECT flags {b:#04x}")
            }
            DecodeError::InvalidConnackFlags(b) => {
                write!(f, "malformed packet: invalid CONNACK flags {b:#04x}")
            }
            DecodeError::InvalidReasonCode { packet_type, code } => write!(
                f,
                "malformed packet: reason code {code:#04x} is not valid in {}",
                packet_type.name()
            ),
            DecodeError::Property(e) => write!(f, "malformed packet: {e}"),
            DecodeError::InvalidSubscribeOptions(b) => {
                write!(f, "malformed packet: invalid subscription options {b:#04x}")
            }
            DecodeError::NoTopicFilters(t) => {
                write!(f, "malformed packet: {} without topic filters", t.name())
            }
            DecodeError::NoReasonCodes(t) => {
                write!(f, "malformed packet: {} without reason codes", t.name())
            }
            DecodeError::InvalidTopicName => f.write_str(
                "malformed packet: topic name is empty (without a topic alias) or has wildcards",
            ),
            DecodeError::EmptyTopicFilter => f.write_str("protocol error: empty topic filter"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<PropertyError> for DecodeError {
    fn from(e: PropertyError) -> Self {
        DecodeError::Property(e)
    }
}

/// Why a packet cannot be encoded as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string is longer than 65,535 bytes.
    StringTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Binary data (a will payload, a password, correlation data) is longer
    /// than 65,535 bytes.
    BinaryTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A string contains U+0000.
    NullCharacter,
    /// The packet would have a remaining length over 268,435,455 bytes.
    PacketTooLarge {
        /// The remaining length it would need.
        remaining_length: usize,
    },
    /// A packet identifier of zero where a non-zero one is required.
    ZeroPacketId(PacketType),
    /// A topic name that is empty (without a v5 topic alias) or has a wildcard.
    InvalidTopicName,
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    NoTopicFilters(PacketType),
    /// A SUBSCRIBE or UNSUBSCRIBE with an empty topic filter.
    EmptyTopicFilter,
    /// A SUBACK or v5 UNSUBACK without any reason code.
    NoReasonCodes(PacketType),
    /// A QoS 0 PUBLISH with the DUP flag set.
    DupWithQoS0,
    /// A reason code the packet type (or a v3 SUBACK) does not allow.
    InvalidReasonCode {
        /// The packet it was meant for.
        packet_type: PacketType,
        /// The code.
        code: u8,
    },
    /// A property that is not allowed in the packet, or out of range.
    Property(PropertyError),
    /// Something only MQTT 5 can carry (properties, a reason code other than
    /// success, an AUTH packet) was asked for at an older protocol level.
    RequiresMqtt5 {
        /// The packet.
        packet_type: PacketType,
        /// The protocol level it was encoded for.
        protocol: ProtocolVersion,
    },
    /// A CONNECT with a password but no user name, which MQTT 3.1 and 3.1.1 forbid.
    PasswordWithoutUsername,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::StringTooLong { len } => {
                write!(f, "string of {len} bytes is longer than 65535 bytes")
            }
            EncodeError::BinaryTooLong { len } => {
                write!(f, "binary data of {len} bytes is longer than 65535 bytes")
            }
            EncodeError::NullCharacter => f.write_str("string contains U+0000"),
            EncodeError::PacketTooLarge { .. } => f.write_str("Packet too large"),
            EncodeError::ZeroPacketId(t) => {
                write!(f, "{} needs a non-zero packet identifier", t.name())
            }
            EncodeError::InvalidTopicName => {
                f.write_str("topic name is empty (without a topic alias) or has wildcards")
            }
            EncodeError::NoTopicFilters(t) => write!(f, "{} needs a topic filter", t.name()),
            EncodeError::EmptyTopicFilter => f.write_str("a topic filter cannot be empty"),
            EncodeError::NoReasonCodes(t) => write!(f, "{} needs a reason code", t.name()),
            EncodeError::DupWithQoS0 => f.write_str("a QoS 0 PUBLISH cannot have DUP set"),
            EncodeError::InvalidReasonCode { packet_type, code } => write!(
                f,
                "reason code {code:#04x} is not valid in {}",
                packet_type.name()
            ),
            EncodeError::Property(e) => fmt::Display::fmt(e, f),
            EncodeError::RequiresMqtt5 {
                packet_type,
                protocol,
            } => write!(
                f,
                "this {} needs MQTT 5.0, not {}",
                packet_type.name(),
                protocol.name()
            ),
            EncodeError::PasswordWithoutUsername => {
                f.write_str("MQTT 3.1 and 3.1.1 cannot send a password without a user name")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<PropertyError> for EncodeError {
    fn from(e: PropertyError) -> Self {
        EncodeError::Property(e)
    }
}

/// A property that breaks the rules of MQTT 5 §2.2.2.
///
/// The texts of `NotAllowed` and `OutOfRange` are those of Paho's
/// `MQTTException`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropertyError {
    /// An identifier that MQTT 5 does not define.
    Unknown(u32),
    /// A property other than UserProperty and SubscriptionIdentifier given twice
    /// (or a SubscriptionIdentifier given twice in a SUBSCRIBE).
    Duplicate(PropertyId),
    /// A property that the packet type does not allow.
    NotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet it was put in.
        packet_type: PacketType,
    },
    /// A value outside the range the specification allows.
    OutOfRange {
        /// The property.
        property: PropertyId,
        /// The value given.
        value: u32,
    },
    /// A string or binary value longer than 65,535 bytes.
    ValueTooLong {
        /// The property.
        property: PropertyId,
        /// The length given, in bytes.
        len: usize,
    },
    /// A string value that contains U+0000.
    NullCharacter(PropertyId),
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyError::Unknown(id) => write!(f, "unknown property identifier {id}"),
            PropertyError::Duplicate(p) => write!(f, "Property {} is repeated", p.name()),
            PropertyError::NotAllowed {
                property,
                packet_type,
            } => write!(
                f,
                "Property {} does not apply to packet type {}",
                property.name(),
                packet_type.title()
            ),
            PropertyError::OutOfRange { property, .. } => match property.paho_range() {
                (0, 1) => write!(f, "{} property value must be 0 or 1", property.name()),
                (lo, hi) => write!(
                    f,
                    "{} property value must be in the range {lo}-{hi}",
                    property.name()
                ),
            },
            PropertyError::ValueTooLong { property, len } => write!(
                f,
                "{} property value of {len} bytes is longer than 65535 bytes",
                property.name()
            ),
            PropertyError::NullCharacter(p) => {
                write!(f, "{} property value contains U+0000", p.name())
            }
        }
    }
}

impl std::error::Error for PropertyError {}
