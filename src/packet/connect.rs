//! CONNECT (specification 3.1.1 §3.1, 5.0 §3.1; MQTT 3.1 uses "MQIsdp").

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::wire::{binary_len, put_binary, put_string, put_u16, string_len, Reader};
use super::{expect_end, EncodeBody, PacketType, ProtocolVersion, QoS};
use super::{properties_len, read_properties};
use crate::packet::encode_with;

const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
/// The bit mosquitto and RSMB use in the level byte to mark a bridge.
const BRIDGE_BIT: u8 = 0x80;

/// A CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol level; CONNECT is always encoded and decoded at its own level.
    pub protocol: ProtocolVersion,
    /// Bridge mode: bit 0x80 of the level byte (Paho's `enable_bridge_mode`).
    pub bridge: bool,
    /// Clean session (v3) or clean start (v5).
    pub clean_start: bool,
    /// Keepalive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// CONNECT properties (MQTT 5 only; must be empty below).
    pub properties: Properties,
    /// The client identifier (may be empty).
    pub client_id: String,
    /// The will message, if any.
    pub will: Option<Will>,
    /// The user name, if any. An empty string still counts as set.
    pub username: Option<String>,
    /// The password, if any. MQTT 3.x only sends it with a user name.
    pub password: Option<Vec<u8>>,
}

/// The will message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// The topic the broker publishes the will to.
    pub topic: String,
    /// The payload (at most 65,535 bytes: it is binary data on the wire).
    pub payload: Vec<u8>,
    /// The QoS of the will.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will properties (MQTT 5 only), for packet type `WillMessage`.
    pub properties: Properties,
}

impl Will {
    /// A will without properties.
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Will {
        Will {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties: Properties::new(PacketType::WillMessage),
        }
    }
}

impl Connect {
    /// A CONNECT with Paho's defaults: clean start, keepalive 60, no will, no
    /// credentials, no properties.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<String>) -> Connect {
        Connect {
            protocol,
            bridge: false,
            clean_start: true,
            keep_alive: 60,
            properties: Properties::new(PacketType::Connect),
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
        }
    }

    /// Appends the encoded packet to `out` (at `self.protocol`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, self.protocol, out)
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL | (will.qos.as_u8() << 3);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        flags
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Connect, DecodeError> {
        let mut r = Reader::new(body);
        let name = r.string()?;
        let level_byte = r.u8()?;
        let level = level_byte & !BRIDGE_BIT;
        let protocol = match (name, level) {
            ("MQTT", 4) => ProtocolVersion::MQTTv311,
            ("MQTT", 5) => ProtocolVersion::MQTTv5,
            ("MQIsdp", 3) => ProtocolVersion::MQTTv31,
            ("MQTT", _) | ("MQIsdp", _) => {
                return Err(DecodeError::UnsupportedProtocolLevel(level_byte))
            }
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        let flags = r.u8()?;
        let will_qos = (flags >> 3) & 0b11;
        let bad_flags = flags & 0x01 != 0
            || will_qos == 3
            || (flags & WILL == 0 && flags & (WILL_RETAIN | 0b1_1000) != 0)
            || (!protocol.is_v5() && flags & PASSWORD != 0 && flags & USERNAME == 0);
        if bad_flags {
            return Err(DecodeError::InvalidConnectFlags(flags));
        }
        let keep_alive = r.u16()?;
        let properties = read_properties(&mut r, PacketType::Connect, protocol)?;
        let client_id = r.string()?.to_owned();
        let will = if flags & WILL != 0 {
            let properties = read_properties(&mut r, PacketType::WillMessage, protocol)?;
            let topic = r.string()?;
            if !is_valid_will_topic(topic) {
                return Err(DecodeError::InvalidTopicName);
            }
            Some(Will {
                topic: topic.to_owned(),
                payload: r.binary()?.to_vec(),
                qos: QoS::from_u8(will_qos).ok_or(DecodeError::InvalidQoS)?,
                retain: flags & WILL_RETAIN != 0,
                properties,
            })
        } else {
            None
        };
        let username = if flags & USERNAME != 0 {
            Some(r.string()?.to_owned())
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(r.binary()?.to_vec())
        } else {
            None
        };
        expect_end(PacketType::Connect, &r)?;
        Ok(Connect {
            protocol,
            bridge: level_byte & BRIDGE_BIT != 0,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }
}

fn is_valid_will_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#'])
}

impl EncodeBody for Connect {
    fn first_byte(&self) -> u8 {
        0x10
    }

    fn body_len(&self, _: ProtocolVersion) -> Result<usize, EncodeError> {
        let protocol = self.protocol;
        let v5 = protocol.is_v5();
        // protocol name, level, flags, keepalive
        let mut len = string_len(protocol.protocol_name())? + 1 + 1 + 2;
        len += properties_len(&self.properties, PacketType::Connect, protocol)?;
        if !v5 && self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        len += string_len(&self.client_id)?;
        if let Some(will) = &self.will {
            len += properties_len(&will.properties, PacketType::WillMessage, protocol)?;
            if !is_valid_will_topic(&will.topic) {
                return Err(EncodeError::InvalidTopicName);
            }
            len += string_len(&will.topic)? + binary_len(&will.payload)?;
        }
        if let Some(username) = &self.username {
            len += string_len(username)?;
        }
        if let Some(password) = &self.password {
            len += binary_len(password)?;
        }
        Ok(len)
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        let protocol = self.protocol;
        let v5 = protocol.is_v5();
        put_string(out, protocol.protocol_name());
        out.push(protocol.level() | if self.bridge { BRIDGE_BIT } else { 0 });
        out.push(self.flags());
        put_u16(out, self.keep_alive);
        if v5 {
            self.properties.write(out);
        }
        put_string(out, &self.client_id);
        if let Some(will) = &self.will {
            if v5 {
                will.properties.write(out);
            }
            put_string(out, &will.topic);
            put_binary(out, &will.payload);
        }
        if let Some(username) = &self.username {
            put_string(out, username);
        }
        if let Some(password) = &self.password {
            put_binary(out, password);
        }
    }
}
