//! Renders raw bytes for failure reports: each complete packet decoded, then
//! the hex of all the bytes, so a mismatch can be read without a decoder.

use crate::packet::{Decoder, ProtocolVersion};

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
/// or the incomplete tail), followed by the hex of everything.
pub fn render_bytes(bytes: &[u8], protocol: ProtocolVersion) -> String {
    if bytes.is_empty() {
        return "  (nothing)".to_string();
    }
    let mut out = String::new();
    let mut decoder = Decoder::new(protocol);
    let mut input = bytes;
    loop {
        let before = input.len();
        match decoder.decode(&mut input) {
            Ok(Some(packet)) => out.push_str(&format!("  packet: {packet:?}\n")),
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
    out.push_str(&format!("  hex ({} bytes): {}", bytes.len(), to_hex(bytes)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_packets_errors_and_tails() {
        let text = render_bytes(&[0xc0, 0x00, 0x30], ProtocolVersion::MQTTv311);
        assert!(text.contains("PingReq"), "{text}");
        assert!(text.contains("incomplete packet: 1 byte"), "{text}");
        assert!(text.contains("hex (3 bytes): c0 00 30"), "{text}");
        let bad = render_bytes(&[0x00, 0x00], ProtocolVersion::MQTTv311);
        assert!(bad.contains("undecodable"), "{bad}");
        assert_eq!(
            render_bytes(&[], ProtocolVersion::MQTTv5),
            "  (nothing)".to_string()
        );
    }
}
