//! SUBSCRIBE and SUBACK (specification 3.1.1 §3.8, §3.9; 5.0 §3.8, §3.9), and
//! the MQTT 5 subscription options.

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::read_properties;
use super::reason_code::ReasonCode;
use super::wire::{put_string, put_u16, string_len, Reader};
use super::{
    encode_with, properties_len, read_packet_id, EncodeBody, PacketType, ProtocolVersion, QoS,
};

/// When the broker sends retained messages for a new subscription (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendOnSubscribe = 0,
    /// 1: send them only if the subscription did not exist yet.
    SendIfNewSub = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// Paho's `SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE` (0).
pub const RETAIN_SEND_ON_SUBSCRIBE: RetainHandling = RetainHandling::SendOnSubscribe;
/// Paho's `SubscribeOptions.RETAIN_SEND_IF_NEW_SUB` (1).
pub const RETAIN_SEND_IF_NEW_SUB: RetainHandling = RetainHandling::SendIfNewSub;
/// Paho's `SubscribeOptions.RETAIN_DO_NOT_SEND` (2).
pub const RETAIN_DO_NOT_SEND: RetainHandling = RetainHandling::DoNotSend;

/// The options of one subscription, as Paho's `SubscribeOptions`. Below MQTT 5
/// only the QoS is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscribeOptions {
    /// The maximum QoS of deliveries.
    pub qos: QoS,
    /// Do not deliver this client's own publications back to it.
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages as published.
    pub retain_as_published: bool,
    /// When retained messages are sent.
    pub retain_handling: RetainHandling,
}

impl SubscribeOptions {
    /// Options with this QoS and every other option off.
    pub fn new(qos: QoS) -> SubscribeOptions {
        SubscribeOptions {
            qos,
            ..SubscribeOptions::default()
        }
    }

    /// Paho's `pack()`: `retainHandling<<4 | retainAsPublished<<3 | noLocal<<2 | QoS`.
    pub fn pack(self) -> u8 {
        ((self.retain_handling as u8) << 4)
            | (u8::from(self.retain_as_published) << 3)
            | (u8::from(self.no_local) << 2)
            | self.qos.as_u8()
    }

    /// Paho's `unpack()`: reads an options byte; reserved bits, QoS 3 and
    /// retain handling 3 are [`DecodeError::InvalidSubscribeOptions`].
    pub fn unpack(byte: u8) -> Result<SubscribeOptions, DecodeError> {
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::SendOnSubscribe,
            1 => RetainHandling::SendIfNewSub,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidSubscribeOptions(byte)),
        };
        if byte & 0xc0 != 0 {
            return Err(DecodeError::InvalidSubscribeOptions(byte));
        }
        Ok(SubscribeOptions {
            qos: QoS::from_u8(byte & 0b11).ok_or(DecodeError::InvalidSubscribeOptions(byte))?,
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        })
    }
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The packet identifier (never 0).
    pub packet_id: u16,
    /// SUBSCRIBE properties (MQTT 5 only).
    pub properties: Properties,
    /// The topic filters and their options, at least one.
    pub filters: Vec<(String, SubscribeOptions)>,
}

impl Subscribe {
    /// A SUBSCRIBE for these filters, without properties.
    pub fn new(packet_id: u16, filters: Vec<(String, SubscribeOptions)>) -> Subscribe {
        Subscribe {
            packet_id,
            properties: Properties::new(PacketType::Subscribe),
            filters,
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(body: &[u8], protocol: ProtocolVersion) -> Result<Subscribe, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = read_packet_id(&mut r, PacketType::Subscribe)?;
        let properties = read_properties(&mut r, PacketType::Subscribe, protocol)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.string()?;
            if filter.is_empty() {
                return Err(DecodeError::EmptyTopicFilter);
            }
            let filter = filter.to_owned();
            let byte = r.u8()?;
            let options = if protocol.is_v5() {
                SubscribeOptions::unpack(byte)?
            } else if byte & 0xfc != 0 {
                return Err(DecodeError::InvalidSubscribeOptions(byte));
            } else {
                SubscribeOptions::new(QoS::from_u8(byte).ok_or(DecodeError::InvalidQoS)?)
            };
            filters.push((filter, options));
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Subscribe));
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters,
        })
    }
}

impl EncodeBody for Subscribe {
    fn first_byte(&self) -> u8 {
        0x82
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(PacketType::Subscribe));
        }
        if self.filters.is_empty() {
            return Err(EncodeError::NoTopicFilters(PacketType::Subscribe));
        }
        let mut len = 2 + properties_len(&self.properties, PacketType::Subscribe, protocol)?;
        for (filter, _) in &self.filters {
            if filter.is_empty() {
                return Err(EncodeError::EmptyTopicFilter);
            }
            len += string_len(filter)? + 1;
        }
        Ok(len)
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        put_u16(out, self.packet_id);
        if protocol.is_v5() {
            self.properties.write(out);
        }
        for (filter, options) in &self.filters {
            put_string(out, filter);
            out.push(if protocol.is_v5() {
                options.pack()
            } else {
                options.qos.as_u8()
            });
        }
    }
}

/// A SUBACK packet.
///
/// Below MQTT 5 the return codes 0, 1, 2 and 0x80 are carried as the reason
/// codes "Granted QoS 0/1/2" and "Unspecified error", as Paho reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The packet identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// SUBACK properties (MQTT 5 only).
    pub properties: Properties,
    /// One reason code per filter of the SUBSCRIBE, in order.
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    /// A SUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: Vec<ReasonCode>) -> SubAck {
        SubAck {
            packet_id,
            properties: Properties::new(PacketType::SubAck),
            reason_codes,
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(body: &[u8], protocol: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = read_packet_id(&mut r, PacketType::SubAck)?;
        let properties = read_properties(&mut r, PacketType::SubAck, protocol)?;
        let codes = r.rest();
        if codes.is_empty() {
            return Err(DecodeError::NoReasonCodes(PacketType::SubAck));
        }
        let reason_codes = codes
            .iter()
            .map(|&code| {
                suback_code(code, protocol).ok_or(DecodeError::InvalidReasonCode {
                    packet_type: PacketType::SubAck,
                    code,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }
}

/// A SUBACK code valid at `protocol` (v3 knows only 0, 1, 2 and 0x80).
fn suback_code(code: u8, protocol: ProtocolVersion) -> Option<ReasonCode> {
    if !protocol.is_v5() && !matches!(code, 0 | 1 | 2 | 0x80) {
        return None;
    }
    ReasonCode::checked(PacketType::SubAck, code)
}

impl EncodeBody for SubAck {
    fn first_byte(&self) -> u8 {
        0x90
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(PacketType::SubAck));
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::NoReasonCodes(PacketType::SubAck));
        }
        for rc in &self.reason_codes {
            if suback_code(rc.value(), protocol).is_none() {
                return Err(EncodeError::InvalidReasonCode {
                    packet_type: PacketType::SubAck,
                    code: rc.value(),
                });
            }
        }
        Ok(
            2 + properties_len(&self.properties, PacketType::SubAck, protocol)?
                + self.reason_codes.len(),
        )
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        put_u16(out, self.packet_id);
        if protocol.is_v5() {
            self.properties.write(out);
        }
        out.extend(self.reason_codes.iter().map(|rc| rc.value()));
    }
}
