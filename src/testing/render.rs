//! Renders raw bytes for failure reports: each complete packet decoded, then
//! the hex of the bytes, so a mismatch can be read without a decoder.
//!
//! A report is for a person, and a step may have read up to 16 MiB: the
//! rendering is cut (packets, line length and hex) so that an error's text
//! stays a few kilobytes instead of tens of megabytes.

use std::fmt::{self, Write as _};

use crate::packet::{Decoder, ProtocolVersion};

/// The most packets [`render_bytes`] decodes; the rest are summed up.
const MAX_PACKETS: usize = 32;

/// The most characters of one decoded packet's line (a large payload would
/// otherwise print in full).
const MAX_LINE_CHARS: usize = 1024;

/// The most bytes [`render_bytes`] shows as hex.
const MAX_HEX_BYTES: usize = 256;

/// Lowercase hex, bytes separated by spaces (the reference's notation).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `bytes` as one line per packet (decoded at `protocol`, or the decode error,
/// or the incomplete tail), followed by the hex of the bytes.
///
/// Long input is cut short: at most the first 32 packets are decoded, each
/// line is cut after 1024 characters, and only the first 256 bytes are shown
/// as hex; each cut says what it left out ("… N more bytes").
pub fn render_bytes(bytes: &[u8], protocol: ProtocolVersion) -> String {
    if bytes.is_empty() {
        return "  (nothing)".to_string();
    }
    let mut out = String::new();
    let mut decoder = Decoder::new(protocol);
    let mut input = bytes;
    let mut packets = 0;
    loop {
        let before = input.len();
        if packets == MAX_PACKETS {
            out.push_str(&format!(
                "  … {before} more byte(s) not decoded (only the first {MAX_PACKETS} packets are)\n"
            ));
            break;
        }
        match decoder.decode(&mut input) {
            Ok(Some(packet)) => {
                packets += 1;
                out.push_str("  packet: ");
                out.push_str(&limited_debug(&packet, MAX_LINE_CHARS));
                out.push('\n');
            }
            Ok(None) => {
                if decoder.buffered() > 0 {
                    out.push_str(&format!(
                        "  incomplete packet: {} byte(s) of a packet that needs more\n",
                        decoder.buffered()
                    ));
                }
                break;
            }
            Err(e) => {
                out.push_str(&format!("  undecodable: {e}\n"));
                break;
            }
        }
        if input.is_empty() || input.len() == before {
            break;
        }
    }
    let shown = bytes.len().min(MAX_HEX_BYTES);
    out.push_str(&format!(
        "  hex ({} bytes): {}",
        bytes.len(),
        to_hex(&bytes[..shown])
    ));
    if shown < bytes.len() {
        out.push_str(&format!(" … {} more bytes", bytes.len() - shown));
    }
    out
}

/// `value`'s `Debug` text, cut after `max` characters with a note. Formatting
/// stops at the cut, so a 16 MiB payload is never formatted whole.
fn limited_debug(value: &impl fmt::Debug, max: usize) -> String {
    let mut out = Limited {
        text: String::new(),
        room: max,
        cut: false,
    };
    // An error here only means the limit was hit.
    let _ = write!(out, "{value:?}");
    if out.cut {
        out.text.push_str(" … (cut)");
    }
    out.text
}

/// A `fmt::Write` that takes `room` characters and then refuses, which ends
/// the formatting.
struct Limited {
    text: String,
    room: usize,
    cut: bool,
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.room == 0 {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.room -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Packet, Publish, QoS};

    #[test]
    fn renders_packets_errors_and_tails() {
        let text = render_bytes(&[0xc0, 0x00, 0x30], ProtocolVersion::MQTTv311);
        assert!(text.contains("PingReq"), "{text}");
        assert!(text.contains("incomplete packet: 1 byte"), "{text}");
        assert!(text.contains("hex (3 bytes): c0 00 30"), "{text}");
        assert!(!text.contains('…'), "{text}");
        let bad = render_bytes(&[0x00, 0x00], ProtocolVersion::MQTTv311);
        assert!(bad.contains("undecodable"), "{bad}");
        assert_eq!(
            render_bytes(&[], ProtocolVersion::MQTTv5),
            "  (nothing)".to_string()
        );
    }

    #[test]
    fn many_packets_render_short() {
        // Half a million PINGREQs would be ~10 MB of text rendered in full.
        let bytes: Vec<u8> = [0xc0, 0x00].repeat(512 * 1024);
        let text = render_bytes(&bytes, ProtocolVersion::MQTTv311);
        assert!(text.len() < 8 * 1024, "{} bytes of report", text.len());
        assert_eq!(text.matches("PingReq").count(), MAX_PACKETS, "{text}");
        let rest = bytes.len() - 2 * MAX_PACKETS;
        assert!(
            text.contains(&format!("… {rest} more byte(s) not decoded")),
            "{text}"
        );
        let hex_rest = bytes.len() - MAX_HEX_BYTES;
        assert!(
            text.contains(&format!("hex ({} bytes): c0 00 c0", bytes.len())),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("c0 00 … {hex_rest} more bytes")),
            "{text}"
        );
    }

    #[test]
    fn a_huge_packet_renders_short() {
        let payload = vec![0x61u8; 4 * 1024 * 1024];
        let publish = Publish::new("t", payload, QoS::AtMostOnce, 0);
        let bytes = Packet::Publish(publish)
            .to_bytes(ProtocolVersion::MQTTv311)
            .unwrap();
        let text = render_bytes(&bytes, ProtocolVersion::MQTTv311);
        assert!(text.len() < 4 * 1024, "{} bytes of report", text.len());
        assert!(text.contains("packet: Publish"), "{text}");
        assert!(text.contains("… (cut)"), "{text}");
        assert!(text.contains("more bytes"), "{text}");
    }

    #[test]
    fn exactly_the_hex_limit_is_not_cut() {
        let bytes = vec![0xffu8; MAX_HEX_BYTES];
        let text = render_bytes(&bytes, ProtocolVersion::MQTTv311);
        assert!(!text.contains("more bytes"), "{text}");
    }
}
