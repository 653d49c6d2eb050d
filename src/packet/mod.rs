//! The MQTT codec: every control packet of MQTT 3.1, 3.1.1 and 5.0, in both
//! directions (what a client sends and what a broker sends).
//!
//! This layer only turns packets into bytes and bytes into packets. It never
//! touches a socket or a clock, and it decides nothing about sessions: which
//! packets a peer may send when is the business of the session layer.
//!
//! * [`Packet::encode`] writes one packet into a `Vec<u8>`. The packet is
//!   validated and measured first, so on error nothing is written.
//! * [`Packet::decode`] reads one complete packet from a slice.
//! * [`Decoder`] reads packets from a byte stream that arrives in pieces of
//!   any size, and checks the maximum packet size before buffering a body.
//!
//! Decoding is strict: every rule of the specifications that a receiver can
//! check without session state is checked, and each violation is a typed
//! [`DecodeError`]. Nothing panics, and memory follows what arrived: the
//! decoder buffers at most one packet (which the maximum packet size bounds),
//! and a decoded packet keeps its topic, payload and properties as copies of
//! their bytes. The one exception is the filter list of SUBSCRIBE and
//! UNSUBSCRIBE (decoded by brokers only), which costs a `String` per filter:
//! at most about 16 bytes of bookkeeping per 3 bytes of wire.
//!
//! ```
//! use mqtt_tether::packet::{Packet, ProtocolVersion, Publish, QoS, Decoder};
//!
//! let publish = Publish::new("pub/qos1/test", b"message".to_vec(), QoS::AtLeastOnce, 1);
//! let mut wire = Vec::new();
//! Packet::Publish(publish.clone()).encode(ProtocolVersion::MQTTv311, &mut wire)?;
//! assert_eq!(wire[..2], [0x32, 0x18]);
//!
//! let mut decoder = Decoder::new(ProtocolVersion::MQTTv311);
//! let mut input = &wire[..];
//! assert_eq!(decoder.decode(&mut input)?, Some(Packet::Publish(publish)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ack;
mod auth;
mod connack;
mod connect;
mod decoder;
mod disconnect;
mod error;
mod fixed_header;
mod properties;
mod property;
mod publish;
mod reason_code;
mod reason_tail;
mod subscribe;
mod unsubscribe;
pub(crate) mod wire;

use std::fmt;

pub use ack::Ack;
pub use auth::Auth;
pub use connack::{convert_connack_rc_to_reason_code, ConnAck};
pub use connect::{Connect, Will};
pub use decoder::{Decoder, DEFAULT_MAX_PACKET_SIZE};
pub use disconnect::Disconnect;
pub use error::{DecodeError, EncodeError, PropertyError};
pub use fixed_header::FixedHeader;
pub use properties::Properties;
pub use property::{Property, PropertyId, PropertyType};
pub(crate) use publish::encoded_topic_alias;
pub use publish::{Publish, PublishRef};
pub use reason_code::{ReasonCode, UnknownReasonCode};
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, SubscribeOptions, RETAIN_DO_NOT_SEND,
    RETAIN_SEND_IF_NEW_SUB, RETAIN_SEND_ON_SUBSCRIBE,
};
pub use unsubscribe::{UnsubAck, Unsubscribe};
pub use wire::MAX_VARIABLE_INTEGER;

use wire::{put_variable_integer, variable_integer_len};

/// The protocol level, as Paho's `MQTTProtocolVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    MQTTv31 = 3,
    /// MQTT 3.1.1: protocol name "MQTT", level 4. Paho's default.
    MQTTv311 = 4,
    /// MQTT 5.0: protocol name "MQTT", level 5.
    MQTTv5 = 5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT (3, 4 or 5).
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The version for a protocol level byte, if it is one this crate speaks.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            3 => Some(ProtocolVersion::MQTTv31),
            4 => Some(ProtocolVersion::MQTTv311),
            5 => Some(ProtocolVersion::MQTTv5),
            _ => None,
        }
    }

    /// The protocol name carried in CONNECT: "MQIsdp" for 3.1, "MQTT" otherwise.
    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::MQTTv31 => "MQIsdp",
            _ => "MQTT",
        }
    }

    /// Paho's name for the version ("MQTTv31", "MQTTv311", "MQTTv5").
    pub fn name(self) -> &'static str {
        match self {
            ProtocolVersion::MQTTv31 => "MQTTv31",
            ProtocolVersion::MQTTv311 => "MQTTv311",
            ProtocolVersion::MQTTv5 => "MQTTv5",
        }
    }

    pub(crate) fn is_v5(self) -> bool {
        self == ProtocolVersion::MQTTv5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A quality-of-service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// QoS 0: delivered at most once, never acknowledged.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: delivered at least once (PUBLISH, PUBACK).
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once (PUBLISH, PUBREC, PUBREL, PUBCOMP).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for 0, 1 or 2; `None` for anything else.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// 0, 1 or 2.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for QoS {
    type Error = DecodeError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        QoS::from_u8(value).ok_or(DecodeError::InvalidQoS)
    }
}

impl From<QoS> for u8 {
    fn from(q: QoS) -> u8 {
        q as u8
    }
}

impl From<QoS> for i32 {
    /// 0, 1 or 2: the integer Paho programs pass and compare.
    fn from(q: QoS) -> i32 {
        i32::from(q as u8)
    }
}

impl PartialEq<i32> for QoS {
    /// `message.qos == 1`, as a Paho program compares `msg.qos`.
    fn eq(&self, other: &i32) -> bool {
        i32::from(*self) == *other
    }
}

impl fmt::Display for QoS {
    /// `0`, `1` or `2`, as Paho prints `msg.qos` (an `int` there).
    ///
    /// ```
    /// use mqtt_tether::QoS;
    /// assert_eq!(format!("qos={}", QoS::AtLeastOnce), "qos=1");
    /// assert_eq!(i32::from(QoS::ExactlyOnce), 2);
    /// assert!(QoS::AtMostOnce == 0);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&(*self as u8), f)
    }
}

/// The control packet types, as Paho's `PacketTypes` (the value is the type
/// nibble of the fixed header), plus Paho's pseudo-type `WillMessage` (99) under
/// which will properties are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketType {
    /// CONNECT (1)
    Connect = 1,
    /// CONNACK (2)
    ConnAck = 2,
    /// PUBLISH (3)
    Publish = 3,
    /// PUBACK (4)
    PubAck = 4,
    /// PUBREC (5)
    PubRec = 5,
    /// PUBREL (6)
    PubRel = 6,
    /// PUBCOMP (7)
    PubComp = 7,
    /// SUBSCRIBE (8)
    Subscribe = 8,
    /// SUBACK (9)
    SubAck = 9,
    /// UNSUBSCRIBE (10)
    Unsubscribe = 10,
    /// UNSUBACK (11)
    UnsubAck = 11,
    /// PINGREQ (12)
    PingReq = 12,
    /// PINGRESP (13)
    PingResp = 13,
    /// DISCONNECT (14)
    Disconnect = 14,
    /// AUTH (15, MQTT 5 only)
    Auth = 15,
    /// Not a packet: the context of the will properties inside CONNECT (Paho's
    /// `PacketTypes.WILLMESSAGE`).
    WillMessage = 99,
}

impl PacketType {
    /// The type for a fixed-header type nibble (1 to 15).
    pub fn from_nibble(nibble: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match nibble {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The specification's name: "CONNECT", "PUBLISH", ...
    pub fn name(self) -> &'static str {
        use PacketType::*;
        match self {
            Connect => "CONNECT",
            ConnAck => "CONNACK",
            Publish => "PUBLISH",
            PubAck => "PUBACK",
            PubRec => "PUBREC",
            PubRel => "PUBREL",
            PubComp => "PUBCOMP",
            Subscribe => "SUBSCRIBE",
            SubAck => "SUBACK",
            Unsubscribe => "UNSUBSCRIBE",
            UnsubAck => "UNSUBACK",
            PingReq => "PINGREQ",
            PingResp => "PINGRESP",
            Disconnect => "DISCONNECT",
            Auth => "AUTH",
            WillMessage => "WILLMESSAGE",
        }
    }

    /// Paho's `PacketTypes.Names` spelling: "Connect", "Publish", ...
    pub fn title(self) -> &'static str {
        use PacketType::*;
        match self {
            Connect => "Connect",
            ConnAck => "Connack",
            Publish => "Publish",
            PubAck => "Puback",
            PubRec => "Pubrec",
            PubRel => "Pubrel",
            PubComp => "Pubcomp",
            Subscribe => "Subscribe",
            SubAck => "Suback",
            Unsubscribe => "Unsubscribe",
            UnsubAck => "Unsuback",
            PingReq => "Pingreq",
            PingResp => "Pingresp",
            Disconnect => "Disconnect",
            Auth => "Auth",
            WillMessage => "WillMessage",
        }
    }

    /// The flags the fixed header must carry (every type but PUBLISH, whose
    /// flags are DUP, QoS and RETAIN).
    pub(crate) fn required_flags(self) -> u8 {
        match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT: client to broker, the first packet of a connection.
    Connect(Connect),
    /// CONNACK: broker to client, the answer to CONNECT.
    ConnAck(ConnAck),
    /// PUBLISH, both directions.
    Publish(Publish),
    /// PUBACK: the acknowledgement of a QoS 1 PUBLISH.
    PubAck(Ack),
    /// PUBREC: the first acknowledgement of a QoS 2 PUBLISH.
    PubRec(Ack),
    /// PUBREL: the answer to PUBREC.
    PubRel(Ack),
    /// PUBCOMP: the answer to PUBREL, which ends a QoS 2 exchange.
    PubComp(Ack),
    /// SUBSCRIBE: client to broker.
    Subscribe(Subscribe),
    /// SUBACK: broker to client.
    SubAck(SubAck),
    /// UNSUBSCRIBE: client to broker.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK: broker to client.
    UnsubAck(UnsubAck),
    /// PINGREQ: client to broker (Paho also answers one from a broker).
    PingReq,
    /// PINGRESP: the answer to PINGREQ.
    PingResp,
    /// DISCONNECT: client to broker, and in MQTT 5 also broker to client.
    Disconnect(Disconnect),
    /// AUTH: MQTT 5 enhanced authentication, both directions.
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Appends the packet, encoded for `protocol`, to `out`.
    ///
    /// A CONNECT is always encoded for its own `protocol` field. On error
    /// nothing is appended.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Packet::Connect(p) => encode_with(p, protocol, out),
            Packet::ConnAck(p) => encode_with(p, protocol, out),
            Packet::Publish(p) => encode_with(&p.borrowed(), protocol, out),
            Packet::PubAck(p) => encode_with(&ack::Typed(PacketType::PubAck, p), protocol, out),
            Packet::PubRec(p) => encode_with(&ack::Typed(PacketType::PubRec, p), protocol, out),
            Packet::PubRel(p) => encode_with(&ack::Typed(PacketType::PubRel, p), protocol, out),
            Packet::PubComp(p) => encode_with(&ack::Typed(PacketType::PubComp, p), protocol, out),
            Packet::Subscribe(p) => encode_with(p, protocol, out),
            Packet::SubAck(p) => encode_with(p, protocol, out),
            Packet::Unsubscribe(p) => encode_with(p, protocol, out),
            Packet::UnsubAck(p) => encode_with(p, protocol, out),
            Packet::PingReq => {
                out.extend_from_slice(&[0xc0, 0x00]);
                Ok(())
            }
            Packet::PingResp => {
                out.extend_from_slice(&[0xd0, 0x00]);
                Ok(())
            }
            Packet::Disconnect(p) => encode_with(p, protocol, out),
            Packet::Auth(p) => encode_with(p, protocol, out),
        }
    }

    /// The packet encoded for `protocol`, as a new vector.
    pub fn to_bytes(&self, protocol: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(protocol, &mut out)?;
        Ok(out)
    }

    /// Decodes exactly one complete packet (fixed header included) from `frame`.
    ///
    /// `frame` must hold the whole packet and nothing more: a shorter buffer
    /// gives [`DecodeError::Truncated`], a longer one
    /// [`DecodeError::TrailingBytes`]. A CONNECT is decoded at its own protocol
    /// level whatever `protocol` says. For a byte stream use [`Decoder`].
    pub fn decode(frame: &[u8], protocol: ProtocolVersion) -> Result<Packet, DecodeError> {
        let header = match FixedHeader::parse(frame, protocol)? {
            Some(h) => h,
            None => return Err(DecodeError::Truncated),
        };
        let total = header.packet_len();
        if frame.len() < total {
            return Err(DecodeError::Truncated);
        }
        if frame.len() > total {
            return Err(DecodeError::TrailingBytes {
                packet_type: header.packet_type(),
                count: frame.len() - total,
            });
        }
        Packet::decode_body(&header, &frame[header.header_len()..], protocol)
    }

    /// Decodes the body of a packet whose fixed header was already parsed.
    pub(crate) fn decode_body(
        header: &FixedHeader,
        body: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        debug_assert_eq!(body.len(), header.remaining_length() as usize);
        let flags = header.flags();
        Ok(match header.packet_type() {
            PacketType::Connect => Packet::Connect(Connect::decode(body)?),
            PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(body, protocol)?),
            PacketType::Publish => Packet::Publish(Publish::decode(flags, body, protocol)?),
            PacketType::PubAck => Packet::PubAck(Ack::decode(PacketType::PubAck, body, protocol)?),
            PacketType::PubRec => Packet::PubRec(Ack::decode(PacketType::PubRec, body, protocol)?),
            PacketType::PubRel => Packet::PubRel(Ack::decode(PacketType::PubRel, body, protocol)?),
            PacketType::PubComp => {
                Packet::PubComp(Ack::decode(PacketType::PubComp, body, protocol)?)
            }
            PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(body, protocol)?),
            PacketType::SubAck => Packet::SubAck(SubAck::decode(body, protocol)?),
            PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(body, protocol)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(body, protocol)?),
            PacketType::PingReq => {
                expect_empty(PacketType::PingReq, body)?;
                Packet::PingReq
            }
            PacketType::PingResp => {
                expect_empty(PacketType::PingResp, body)?;
                Packet::PingResp
            }
            PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(body, protocol)?),
            PacketType::Auth => Packet::Auth(Auth::decode(body, protocol)?),
            PacketType::WillMessage => unreachable!("FixedHeader never yields WillMessage"),
        })
    }
}

fn expect_empty(packet_type: PacketType, body: &[u8]) -> Result<(), DecodeError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes {
            packet_type,
            count: body.len(),
        })
    }
}

/// The two halves of encoding one packet type. `body_len` validates everything
/// and measures; `write_body` then writes exactly that many bytes and cannot fail.
pub(crate) trait EncodeBody {
    /// The first byte of the fixed header (type and flags).
    fn first_byte(&self) -> u8;
    /// Validates the packet for `protocol` and returns its remaining length.
    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError>;
    /// Writes the body that `body_len` measured.
    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>);
}

/// Measures, then writes the fixed header and body, so that `out` is only
/// touched once the packet is known to be valid.
pub(crate) fn encode_with<P: EncodeBody>(
    packet: &P,
    protocol: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let len = packet.body_len(protocol)?;
    if len > MAX_VARIABLE_INTEGER as usize {
        return Err(EncodeError::PacketTooLarge {
            remaining_length: len,
        });
    }
    out.reserve(1 + variable_integer_len(len as u32) + len);
    out.push(packet.first_byte());
    put_variable_integer(out, len as u32);
    let start = out.len();
    packet.write_body(protocol, out);
    debug_assert_eq!(out.len() - start, len, "body_len and write_body disagree");
    Ok(())
}

/// Returns `Err(TrailingBytes)` when a reader still holds bytes at the end of a
/// packet that has no variable tail.
pub(crate) fn expect_end(
    packet_type: PacketType,
    reader: &wire::Reader<'_>,
) -> Result<(), DecodeError> {
    if reader.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes {
            packet_type,
            count: reader.remaining(),
        })
    }
}

/// Reads a packet identifier that must not be zero.
pub(crate) fn read_packet_id(
    r: &mut wire::Reader<'_>,
    packet_type: PacketType,
) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ZeroPacketId(packet_type)),
        id => Ok(id),
    }
}

/// Reads a property set at MQTT 5; below, there is none to read.
pub(crate) fn read_properties(
    r: &mut wire::Reader<'_>,
    packet_type: PacketType,
    protocol: ProtocolVersion,
) -> Result<Properties, DecodeError> {
    if protocol.is_v5() {
        Properties::read(r, packet_type)
    } else {
        Ok(Properties::new(packet_type))
    }
}

/// Measures a property set at MQTT 5; below, accepts only an empty one (size 0).
pub(crate) fn properties_len(
    properties: &Properties,
    packet_type: PacketType,
    protocol: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if protocol.is_v5() {
        properties.encoded_len(packet_type)
    } else {
        if properties.is_empty() {
            Ok(0)
        } else {
            Err(EncodeError::RequiresMqtt5 {
                packet_type,
                protocol,
            })
        }
    }
}
