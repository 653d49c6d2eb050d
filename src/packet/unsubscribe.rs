//! UNSUBSCRIBE and UNSUBACK (specification 3.1.1 §3.10, §3.11; 5.0 §3.10, §3.11).

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::read_properties;
use super::reason_code::ReasonCode;
use super::wire::{put_string, put_u16, string_len, Reader};
use super::{
    encode_with, expect_end, properties_len, read_packet_id, EncodeBody, PacketType,
    ProtocolVersion,
};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The packet identifier (never 0).
    pub packet_id: u16,
    /// UNSUBSCRIBE properties (MQTT 5 only).
    pub properties: Properties,
    /// The topic filters, at least one.
    pub filters: Vec<String>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE for these filters, without properties.
    pub fn new(packet_id: u16, filters: Vec<String>) -> Unsubscribe {
        Unsubscribe {
            packet_id,
            properties: Properties::new(PacketType::Unsubscribe),
            filters,
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(
        body: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Unsubscribe, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = read_packet_id(&mut r, PacketType::Unsubscribe)?;
        let properties = read_properties(&mut r, PacketType::Unsubscribe, protocol)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.string()?;
            if filter.is_empty() {
                return Err(DecodeError::EmptyTopicFilter);
            }
            filters.push(filter.to_owned());
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Unsubscribe));
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }
}

impl EncodeBody for Unsubscribe {
    fn first_byte(&self) -> u8 {
        0xa2
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(PacketType::Unsubscribe));
        }
        if self.filters.is_empty() {
            return Err(EncodeError::NoTopicFilters(PacketType::Unsubscribe));
        }
        let mut len = 2 + properties_len(&self.properties, PacketType::Unsubscribe, protocol)?;
        for filter in &self.filters {
            if filter.is_empty() {
                return Err(EncodeError::EmptyTopicFilter);
            }
            len += string_len(filter)?;
        }
        Ok(len)
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        put_u16(out, self.packet_id);
        if protocol.is_v5() {
            self.properties.write(out);
        }
        for filter in &self.filters {
            put_string(out, filter);
        }
    }
}

/// An UNSUBACK packet. Below MQTT 5 it carries only the packet identifier and
/// `reason_codes` is empty (Paho reports an empty list too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The packet identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// UNSUBACK properties (MQTT 5 only).
    pub properties: Properties,
    /// One reason code per filter (MQTT 5 only).
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: Vec<ReasonCode>) -> UnsubAck {
        UnsubAck {
            packet_id,
            properties: Properties::new(PacketType::UnsubAck),
            reason_codes,
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(body: &[u8], protocol: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = read_packet_id(&mut r, PacketType::UnsubAck)?;
        if !protocol.is_v5() {
            expect_end(PacketType::UnsubAck, &r)?;
            return Ok(UnsubAck::new(packet_id, Vec::new()));
        }
        let properties = Properties::read(&mut r, PacketType::UnsubAck)?;
        let codes = r.rest();
        if codes.is_empty() {
            return Err(DecodeError::NoReasonCodes(PacketType::UnsubAck));
        }
        let reason_codes = codes
            .iter()
            .map(|&code| {
                ReasonCode::checked(PacketType::UnsubAck, code).ok_or(
                    DecodeError::InvalidReasonCode {
                        packet_type: PacketType::UnsubAck,
                        code,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(UnsubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }
}

impl EncodeBody for UnsubAck {
    fn first_byte(&self) -> u8 {
        0xb0
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(PacketType::UnsubAck));
        }
        if !protocol.is_v5() {
            if !self.reason_codes.is_empty() {
                return Err(EncodeError::RequiresMqtt5 {
                    packet_type: PacketType::UnsubAck,
                    protocol,
                });
            }
            return properties_len(&self.properties, PacketType::UnsubAck, protocol).map(|_| 2);
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::NoReasonCodes(PacketType::UnsubAck));
        }
        for rc in &self.reason_codes {
            if ReasonCode::checked(PacketType::UnsubAck, rc.value()).is_none() {
                return Err(EncodeError::InvalidReasonCode {
                    packet_type: PacketType::UnsubAck,
                    code: rc.value(),
                });
            }
        }
        Ok(2 + self.properties.encoded_len(PacketType::UnsubAck)? + self.reason_codes.len())
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        put_u16(out, self.packet_id);
        if protocol.is_v5() {
            self.properties.write(out);
            out.extend(self.reason_codes.iter().map(|rc| rc.value()));
        }
    }
}
