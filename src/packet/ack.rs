//! PUBACK, PUBREC, PUBREL and PUBCOMP: one body shape, four packet types
//! (specification 3.1.1 §3.4 to §3.7, 5.0 §3.4 to §3.7).

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::reason_code::ReasonCode;
use super::reason_tail;
use super::wire::{put_u16, Reader};
use super::{encode_with, read_packet_id, EncodeBody, PacketType, ProtocolVersion};

/// The body shared by PUBACK, PUBREC, PUBREL and PUBCOMP.
///
/// It is encoded in the shortest form the protocol allows: the packet
/// identifier alone (remaining length 2) when the reason is success and there
/// are no properties, which is also what Paho sends at every level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The packet identifier of the PUBLISH this acknowledges.
    pub packet_id: u16,
    /// The reason code (MQTT 5; always success below).
    pub reason_code: ReasonCode,
    /// The properties (MQTT 5 only).
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgement of `packet_id` for `packet_type` (one of
    /// PubAck, PubRec, PubRel, PubComp).
    pub fn new(packet_type: PacketType, packet_id: u16) -> Ack {
        Ack {
            packet_id,
            reason_code: ReasonCode::success(packet_type),
            properties: Properties::new(packet_type),
        }
    }

    pub(crate) fn decode(
        packet_type: PacketType,
        body: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Ack, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = read_packet_id(&mut r, packet_type)?;
        let (reason_code, properties) = reason_tail::read(packet_type, &mut r, protocol)?;
        Ok(Ack {
            packet_id,
            reason_code,
            properties,
        })
    }
}

/// An [`Ack`] together with the packet type it is encoded as.
pub(crate) struct Typed<'a>(pub PacketType, pub &'a Ack);

impl EncodeBody for Typed<'_> {
    fn first_byte(&self) -> u8 {
        ((self.0 as u8) << 4) | self.0.required_flags()
    }

    fn body_len(&self, protocol: ProtocolVersion) -> Result<usize, EncodeError> {
        let Typed(packet_type, ack) = *self;
        if ack.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(packet_type));
        }
        Ok(2 + reason_tail::len(packet_type, &ack.reason_code, &ack.properties, protocol)?)
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        put_u16(out, self.1.packet_id);
        reason_tail::write(&self.1.reason_code, &self.1.properties, out);
    }
}

macro_rules! typed_encode {
    ($($(#[$doc:meta])* $fn:ident => $t:ident;)*) => {
        impl Ack {
            $(
                $(#[$doc])*
                pub fn $fn(&self, protocol: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                    encode_with(&Typed(PacketType::$t, self), protocol, out)
                }
            )*
        }
    };
}

typed_encode! {
    /// Appends this body, encoded as a PUBACK, to `out`.
    encode_puback => PubAck;
    /// Appends this body, encoded as a PUBREC, to `out`.
    encode_pubrec => PubRec;
    /// Appends this body, encoded as a PUBREL, to `out`.
    encode_pubrel => PubRel;
    /// Appends this body, encoded as a PUBCOMP, to `out`.
    encode_pubcomp => PubComp;
}
