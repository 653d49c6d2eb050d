//! AUTH (MQTT 5 only, specification §3.15): enhanced authentication exchanges.

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::reason_code::ReasonCode;
use super::reason_tail;
use super::wire::Reader;
use super::{encode_with, EncodeBody, PacketType, ProtocolVersion};

/// An AUTH packet (MQTT 5 only; the fixed header rejects type 15 below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// "Success", "Continue authentication" or "Re-authenticate".
    pub reason_code: ReasonCode,
    /// AUTH properties: the authentication method and data, a reason string,
    /// user properties.
    pub properties: Properties,
}

impl Auth {
    /// An AUTH with this reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Auth {
        Auth {
            reason_code,
            properties: Properties::new(PacketType::Auth),
        }
    }

    /// Appends the encoded packet to `out`; fails below MQTT 5.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(body: &[u8], protocol: ProtocolVersion) -> Result<Auth, DecodeError> {
        let (reason_code, properties) =
            reason_tail::read(PacketType::Auth, &mut Reader::new(body), protocol)?;
        Ok(Auth {
            reason_code,
            properties,
        })
    }
}

impl EncodeBody for Auth {
    fn first_byte(&self) -> u8 {
        0xf0
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if !protocol.is_v5() {
            return Err(EncodeError::RequiresMqtt5 {
                packet_type: PacketType::Auth,
                protocol,
            });
        }
        reason_tail::len(
            PacketType::Auth,
            &self.reason_code,
            &self.properties,
            protocol,
        )
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        reason_tail::write(&self.reason_code, &self.properties, out);
    }
}
