//! DISCONNECT (specification 3.1.1 §3.14, 5.0 §3.14).

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::reason_code::ReasonCode;
use super::reason_tail;
use super::wire::Reader;
use super::{encode_with, EncodeBody, PacketType, ProtocolVersion};

/// A DISCONNECT packet. Below MQTT 5 it is always `e0 00`; at MQTT 5 it may
/// carry a reason code and properties, and a broker may send it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// The reason code (0 "Normal disconnection" when absent).
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (MQTT 5 only).
    pub properties: Properties,
}

impl Default for Disconnect {
    fn default() -> Self {
        Disconnect::new(ReasonCode::success(PacketType::Disconnect))
    }
}

impl Disconnect {
    /// A DISCONNECT with this reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: Properties::new(PacketType::Disconnect),
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(
        body: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Disconnect, DecodeError> {
        let (reason_code, properties) =
            reason_tail::read(PacketType::Disconnect, &mut Reader::new(body), protocol)?;
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }
}

impl EncodeBody for Disconnect {
    fn first_byte(&self) -> u8 {
        0xe0
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        reason_tail::len(
            PacketType::Disconnect,
            &self.reason_code,
            &self.properties,
            protocol,
        )
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        reason_tail::write(&self.reason_code, &self.properties, out);
    }
}
