//! PUBLISH (specification 3.1.1 §3.3, 5.0 §3.3).

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::wire::{put_string, put_u16, string_len, Reader};
use super::{encode_with, EncodeBody, PacketType, ProtocolVersion, QoS};
use super::{properties_len, read_properties};

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery. Only meaningful with QoS > 0.
    pub dup: bool,
    /// The QoS of this delivery.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// The topic name. At MQTT 5 it may be empty when a TopicAlias property
    /// stands for it.
    pub topic: String,
    /// The packet identifier; 0 (and not on the wire) for QoS 0.
    pub packet_id: u16,
    /// PUBLISH properties (MQTT 5 only).
    pub properties: Properties,
    /// The application message.
    pub payload: Vec<u8>,
}

impl Publish {
    /// A PUBLISH without DUP, RETAIN or properties.
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        packet_id: u16,
    ) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            packet_id: if qos == QoS::AtMostOnce { 0 } else { packet_id },
            properties: Properties::new(PacketType::Publish),
            payload: payload.into(),
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(&self.borrowed(), protocol, out)
    }

    /// The same packet as borrowed parts.
    pub fn borrowed(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: &self.topic,
            packet_id: self.packet_id,
            properties: &self.properties,
            payload: &self.payload,
        }
    }

    pub(crate) fn decode(
        flags: u8,
        body: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
        let mut r = Reader::new(body);
        let topic = r.string()?;
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            match r.u16()? {
                0 => return Err(DecodeError::ZeroPacketId(PacketType::Publish)),
                id => id,
            }
        };
        let properties = read_properties(&mut r, PacketType::Publish, protocol)?;
        if !topic_is_valid(topic, &properties, protocol) {
            return Err(DecodeError::InvalidTopicName);
        }
        Ok(Publish {
            dup: flags & 0b1000 != 0,
            qos,
            retain: flags & 0b0001 != 0,
            topic: topic.to_owned(),
            packet_id,
            properties,
            payload: r.rest().to_vec(),
        })
    }
}

/// The Topic Alias of an MQTT 5 PUBLISH this crate encoded (`packet`, the
/// whole packet), read without decoding it: the property block is walked
/// only when it is not empty. `None` without one, or for bytes that are not
/// such a PUBLISH.
pub(crate) fn encoded_topic_alias(packet: &[u8]) -> Option<u16> {
    let qos = QoS::from_u8((packet.first()? >> 1) & 0b11)?;
    let mut r = Reader::new(packet.get(1..)?);
    r.variable_integer().ok()?;
    r.string().ok()?;
    if qos != QoS::AtMostOnce {
        r.u16().ok()?;
    }
    let len = r.variable_integer().ok()? as usize;
    if len == 0 {
        return None;
    }
    let mut props = Reader::new(r.bytes(len).ok()?);
    while !props.is_empty() {
        let id = u8::try_from(props.variable_integer().ok()?)
            .ok()
            .and_then(super::property::PropertyId::from_u8)?;
        let value = super::property::read_value(id, &mut props).ok()?;
        if id == super::property::PropertyId::TopicAlias {
            return match value {
                super::property::Value::Int(n) => u16::try_from(n).ok(),
                _ => None,
            };
        }
    }
    None
}

/// A topic name has no wildcard, and is empty only at MQTT 5 with a topic
/// alias standing for it.
fn topic_is_valid(topic: &str, properties: &Properties, protocol: ProtocolVersion) -> bool {
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return false;
    }
    !topic.is_empty() || (protocol.is_v5() && properties.topic_alias().is_some())
}

/// A PUBLISH made of borrowed parts: what the client encodes a message from,
/// straight from the caller's topic and payload, without first copying them
/// into a [`Publish`].
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    /// DUP: this may be a re-delivery. Only meaningful with QoS > 0.
    pub dup: bool,
    /// The QoS of this delivery.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// The topic name (see [`Publish::topic`]).
    pub topic: &'a str,
    /// The packet identifier; 0 (and not on the wire) for QoS 0.
    pub packet_id: u16,
    /// PUBLISH properties (MQTT 5 only).
    pub properties: &'a Properties,
    /// The application message.
    pub payload: &'a [u8],
}

impl PublishRef<'_> {
    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    /// The encoded packet in an allocation of exactly its size (what the
    /// outgoing store keeps of a QoS 1/2 message).
    pub fn encode_boxed(&self, protocol: ProtocolVersion) -> Result<Box<[u8]>, EncodeError> {
        let body = self.body_len(protocol)?;
        if body > super::MAX_VARIABLE_INTEGER as usize {
            return Err(EncodeError::PacketTooLarge {
                remaining_length: body,
            });
        }
        let mut out = Vec::with_capacity(1 + super::wire::variable_integer_len(body as u32) + body);
        encode_with(self, protocol, &mut out)?;
        Ok(out.into_boxed_slice())
    }
}

impl EncodeBody for PublishRef<'_> {
    fn first_byte(&self) -> u8 {
        0x30 | (u8::from(self.dup) << 3) | (self.qos.as_u8() << 1) | u8::from(self.retain)
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if !topic_is_valid(self.topic, self.properties, protocol) {
            return Err(EncodeError::InvalidTopicName);
        }
        let mut len = string_len(self.topic)? + self.payload.len();
        if self.qos == QoS::AtMostOnce {
            if self.dup {
                return Err(EncodeError::DupWithQoS0);
            }
        } else {
            if self.packet_id == 0 {
                return Err(EncodeError::ZeroPacketId(PacketType::Publish));
            }
            len += 2;
        }
        len += properties_len(self.properties, PacketType::Publish, protocol)?;
        Ok(len)
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        put_string(out, self.topic);
        if self.qos != QoS::AtMostOnce {
            put_u16(out, self.packet_id);
        }
        if protocol.is_v5() {
            self.properties.write(out);
        }
        out.extend_from_slice(self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Property;

    #[test]
    fn the_alias_of_an_encoded_publish_is_read_back() {
        let v5 = ProtocolVersion::MQTTv5;
        let mut p = Publish::new("t", b"x".to_vec(), QoS::AtLeastOnce, 7);
        let encoded = |p: &Publish| p.borrowed().encode_boxed(v5).unwrap();
        assert_eq!(encoded_topic_alias(&encoded(&p)), None);
        p.properties
            .set(Property::UserProperty("k".into(), "v".into()))
            .unwrap();
        p.properties.set(Property::TopicAlias(513)).unwrap();
        assert_eq!(encoded_topic_alias(&encoded(&p)), Some(513));
        p.qos = QoS::AtMostOnce;
        p.packet_id = 0;
        assert_eq!(encoded_topic_alias(&encoded(&p)), Some(513));
        assert_eq!(encoded_topic_alias(&[0x32, 0x7f]), None);
    }
}
