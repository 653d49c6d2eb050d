//! CONNACK (specification 3.1.1 §3.2, 5.0 §3.2).

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::properties_len;
use super::reason_code::ReasonCode;
use super::wire::Reader;
use super::{encode_with, expect_end, EncodeBody, PacketType, ProtocolVersion};

/// A CONNACK packet.
///
/// `return_code` is the byte on the wire: a v3 return code (0 to 5, other
/// values are kept as they came) or a v5 reason code. Use
/// [`reason_code`](ConnAck::reason_code) for the MQTT 5 view of either, as
/// Paho's VERSION2 `on_connect` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// The session-present flag, exactly as the broker sent it.
    pub session_present: bool,
    /// The raw return code (v3) or reason code (v5).
    pub return_code: u8,
    /// CONNACK properties (MQTT 5 only).
    pub properties: Properties,
}

impl ConnAck {
    /// A CONNACK with this code and no properties.
    pub fn new(session_present: bool, return_code: u8) -> ConnAck {
        ConnAck {
            session_present,
            return_code,
            properties: Properties::new(PacketType::ConnAck),
        }
    }

    /// The reason code as Paho reports it to a VERSION2 `on_connect`: v3 codes
    /// go through [`convert_connack_rc_to_reason_code`]; at v5, code 1 (the
    /// answer of a v3-only broker) becomes 132 "Unsupported protocol version".
    pub fn reason_code(&self, protocol: ProtocolVersion) -> ReasonCode {
        if protocol.is_v5() {
            ReasonCode::checked(PacketType::ConnAck, self.return_code)
                .unwrap_or_else(|| convert_connack_rc_to_reason_code(self.return_code))
        } else {
            convert_connack_rc_to_reason_code(self.return_code)
        }
    }

    /// Appends the encoded packet to `out`.
    pub fn encode(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_with(self, protocol, out)
    }

    pub(crate) fn decode(body: &[u8], protocol: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        // MQTT 3.1 reserved the whole byte; 3.1.1 and 5 define bit 0 only.
        if protocol != ProtocolVersion::MQTTv31 && flags & 0xfe != 0 {
            return Err(DecodeError::InvalidConnackFlags(flags));
        }
        let return_code = r.u8()?;
        let properties = if protocol.is_v5() {
            // A v3-only broker answers a v5 CONNECT with `20 02 00 01`: a v3
            // code and no property length. Paho accepts code 1 at v5 and
            // reports "Unsupported protocol version"; so do we.
            if return_code == 0x01 && r.is_empty() {
                Properties::new(PacketType::ConnAck)
            } else if return_code == 0x01 {
                Properties::read(&mut r, PacketType::ConnAck)?
            } else {
                if ReasonCode::checked(PacketType::ConnAck, return_code).is_none() {
                    return Err(DecodeError::InvalidReasonCode {
                        packet_type: PacketType::ConnAck,
                        code: return_code,
                    });
                }
                if r.is_empty() {
                    // Paho accepts a v5 CONNACK without a property length.
                    Properties::new(PacketType::ConnAck)
                } else {
                    Properties::read(&mut r, PacketType::ConnAck)?
                }
            }
        } else {
            Properties::new(PacketType::ConnAck)
        };
        expect_end(PacketType::ConnAck, &r)?;
        Ok(ConnAck {
            session_present: flags & 0x01 != 0,
            return_code,
            properties,
        })
    }
}

/// Paho's `convert_connack_rc_to_reason_code`: the MQTT 5 reason code for a
/// v3 CONNACK return code (0 Success, 1 Unsupported protocol version (132),
/// 2 Client identifier not valid (133), 3 Server unavailable (136), 4 Bad user
/// name or password (134), 5 Not authorized (135), anything else Unspecified
/// error (128)).
pub fn convert_connack_rc_to_reason_code(return_code: u8) -> ReasonCode {
    let value = match return_code {
        0 => 0x00,
        1 => 0x84,
        2 => 0x85,
        3 => 0x88,
        4 => 0x86,
        5 => 0x87,
        _ => 0x80,
    };
    ReasonCode::checked(PacketType::ConnAck, value)
        .unwrap_or(ReasonCode::success(PacketType::ConnAck))
}

impl EncodeBody for ConnAck {
    fn first_byte(&self) -> u8 {
        0x20
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        if protocol.is_v5() && ReasonCode::checked(PacketType::ConnAck, self.return_code).is_none()
        {
            return Err(EncodeError::InvalidReasonCode {
                packet_type: PacketType::ConnAck,
                code: self.return_code,
            });
        }
        Ok(2 + properties_len(&self.properties, PacketType::ConnAck, protocol)?)
    }

    fn write_body(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) {
        out.push(u8::from(self.session_present));
        out.push(self.return_code);
        if protocol.is_v5() {
            self.properties.write(out);
        }
    }
}
