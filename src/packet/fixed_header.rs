//! The fixed header: the first byte (type and flags) and the remaining length.
//!
//! It is checked on its own, before the body has arrived, so that a bad packet
//! type, wrong reserved flags or an oversized length end the connection before
//! a single byte of the body is buffered.

use super::error::DecodeError;
use super::wire::parse_variable_integer;
use super::{PacketType, ProtocolVersion};

/// A parsed and checked fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    first_byte: u8,
    packet_type: PacketType,
    remaining_length: u32,
    header_len: u8,
}

impl FixedHeader {
    /// Parses the fixed header at the start of `buf`.
    ///
    /// Returns `Ok(None)` while `buf` is too short to hold the whole header.
    /// The type nibble and the reserved flags are checked as soon as the first
    /// byte is there; PUBLISH's QoS must not be 3, and DUP needs QoS > 0.
    pub fn parse(
        buf: &[u8],
        protocol: ProtocolVersion,
    ) -> Result<Option<FixedHeader>, DecodeError> {
        let Some(&first_byte) = buf.first() else {
            return Ok(None);
        };
        let packet_type = check_first_byte(first_byte, protocol)?;
        let Some((remaining_length, used)) = parse_variable_integer(&buf[1..])? else {
            return Ok(None);
        };
        Ok(Some(FixedHeader {
            first_byte,
            packet_type,
            remaining_length,
            header_len: 1 + used as u8,
        }))
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// The low nibble of the first byte (DUP, QoS and RETAIN for PUBLISH).
    pub fn flags(&self) -> u8 {
        self.first_byte & 0x0f
    }

    /// The number of bytes after the fixed header.
    pub fn remaining_length(&self) -> u32 {
        self.remaining_length
    }

    /// The size of the fixed header itself (2 to 5 bytes).
    pub fn header_len(&self) -> usize {
        usize::from(self.header_len)
    }

    /// The size of the whole packet, fixed header included.
    pub fn packet_len(&self) -> usize {
        self.header_len() + self.remaining_length as usize
    }
}

fn check_first_byte(byte: u8, protocol: ProtocolVersion) -> Result<PacketType, DecodeError> {
    let nibble = byte >> 4;
    let packet_type = match PacketType::from_nibble(nibble) {
        Some(PacketType::Auth) if !protocol.is_v5() => {
            return Err(DecodeError::InvalidPacketType(nibble))
        }
        Some(t) => t,
        None => return Err(DecodeError::InvalidPacketType(nibble)),
    };
    let flags = byte & 0x0f;
    if packet_type == PacketType::Publish {
        let qos = (flags >> 1) & 0b11;
        if qos == 3 {
            return Err(DecodeError::InvalidQoS);
        }
        if qos == 0 && flags & 0b1000 != 0 {
            return Err(DecodeError::InvalidFixedHeaderFlags { packet_type, flags });
        }
    } else if flags != packet_type.required_flags() && !v31_retry(packet_type, flags, protocol) {
        return Err(DecodeError::InvalidFixedHeaderFlags { packet_type, flags });
    }
    Ok(packet_type)
}

/// MQTT 3.1 sets DUP on a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE (its
/// §3.6, §3.8, §3.10); 3.1.1 made those bits reserved.
fn v31_retry(packet_type: PacketType, flags: u8, protocol: ProtocolVersion) -> bool {
    protocol == ProtocolVersion::MQTTv31
        && packet_type.required_flags() == 0b0010
        && flags == 0b1010
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: ProtocolVersion = ProtocolVersion::MQTTv311;

    #[test]
    fn parses_lengths_of_every_size() {
        // Both ends of each of the four sizes (MQTT 3.1.1 §2.2.3).
        let cases: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (length, encoded) in cases {
            let mut buf = vec![0x30];
            buf.extend_from_slice(encoded);
            // A body byte that looks like a continued length: the length
            // ends where its own last byte says.
            buf.push(0xff);
            let h = FixedHeader::parse(&buf, V4).unwrap().unwrap();
            assert_eq!(
                (h.remaining_length(), h.header_len(), h.packet_len()),
                (
                    length,
                    1 + encoded.len(),
                    1 + encoded.len() + length as usize
                ),
                "{encoded:02x?}"
            );
            // Without its last byte the length is not complete yet.
            assert_eq!(
                FixedHeader::parse(&buf[..encoded.len()], V4),
                Ok(None),
                "{encoded:02x?}"
            );
        }
        // There is no fifth size.
        assert_eq!(
            FixedHeader::parse(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], V4),
            Err(DecodeError::MalformedVariableInteger)
        );
        assert_eq!(
            FixedHeader::parse(&[0x30, 0x80, 0x80, 0x80, 0x80], V4),
            Err(DecodeError::MalformedVariableInteger)
        );
    }

    #[test]
    fn incomplete_header_needs_more() {
        assert_eq!(FixedHeader::parse(&[], V4), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30], V4), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30, 0x80, 0x80], V4), Ok(None));
    }

    #[test]
    fn first_byte_is_checked_before_the_length() {
        assert_eq!(
            FixedHeader::parse(&[0x00], V4),
            Err(DecodeError::InvalidPacketType(0))
        );
        assert_eq!(
            FixedHeader::parse(&[0xf0], V4),
            Err(DecodeError::InvalidPacketType(15))
        );
        assert!(FixedHeader::parse(&[0xf0, 0x00], ProtocolVersion::MQTTv5)
            .unwrap()
            .is_some());
        assert_eq!(
            FixedHeader::parse(&[0x36], V4),
            Err(DecodeError::InvalidQoS)
        );
        assert_eq!(
            FixedHeader::parse(&[0x60], V4),
            Err(DecodeError::InvalidFixedHeaderFlags {
                packet_type: PacketType::PubRel,
                flags: 0
            })
        );
    }
}
