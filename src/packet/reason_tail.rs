//! The optional tail of a reason code and properties that acknowledgements
//! (PUBACK, PUBREC, PUBREL, PUBCOMP), DISCONNECT and AUTH end with (MQTT 5
//! §3.4.2.1, §3.14.2.1, §3.15.2.1).
//!
//! It is written in the shortest form the protocol allows: nothing when the
//! reason is success and there are no properties (which is also all that MQTT
//! 3.x can carry), the reason code alone when there are no properties.

use super::error::{DecodeError, EncodeError};
use super::properties::Properties;
use super::reason_code::ReasonCode;
use super::wire::Reader;
use super::{expect_end, PacketType, ProtocolVersion};

/// Reads the tail: nothing (success), a reason code alone, or a reason code
/// and properties. Below MQTT 5 there must be nothing.
pub(super) fn read(
    packet_type: PacketType,
    r: &mut Reader<'_>,
    protocol: ProtocolVersion,
) -> Result<(ReasonCode, Properties), DecodeError> {
    let mut reason_code = ReasonCode::success(packet_type);
    let mut properties = Properties::new(packet_type);
    if protocol.is_v5() && !r.is_empty() {
        let code = r.u8()?;
        reason_code = ReasonCode::checked(packet_type, code)
            .ok_or(DecodeError::InvalidReasonCode { packet_type, code })?;
        if !r.is_empty() {
            properties = Properties::read(r, packet_type)?;
        }
    }
    expect_end(packet_type, r)?;
    Ok((reason_code, properties))
}

/// Validates and measures the tail in its shortest form.
pub(super) fn len(
    packet_type: PacketType,
    reason_code: &ReasonCode,
    properties: &Properties,
    protocol: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if reason_code.value() == 0 && properties.is_empty() {
        return Ok(0);
    }
    if !protocol.is_v5() {
        return Err(EncodeError::RequiresMqtt5 {
            packet_type,
            protocol,
        });
    }
    let code = reason_code.value();
    if ReasonCode::checked(packet_type, code).is_none() {
        return Err(EncodeError::InvalidReasonCode { packet_type, code });
    }
    if properties.is_empty() {
        Ok(1)
    } else {
        Ok(1 + properties.encoded_len(packet_type)?)
    }
}

pub(super) fn write(reason_code: &ReasonCode, properties: &Properties, out: &mut Vec<u8>) {
    if reason_code.value() == 0 && properties.is_empty() {
        return;
    }
    out.push(reason_code.value());
    if !properties.is_empty() {
        properties.write(out);
    }
}
