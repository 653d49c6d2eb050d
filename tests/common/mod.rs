//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses a different subset

pub mod clients;
pub mod examples;
pub mod pki;
pub mod raw_client;
#[cfg(feature = "testing")]
pub mod scripted;
pub mod strategies;
pub mod vectors;

use mqtt_tether::packet::{DecodeError, Decoder, Packet, ProtocolVersion};

/// Bytes from a hex string such as "10 0c 00 04"; spaces are ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd hex string {s:?}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// An MQTT 5 DISCONNECT with reason `code` and `text` as its Reason
/// String, encoded by hand (for texts under 120 bytes, so that both
/// lengths take one byte).
pub fn v5_disconnect(code: u8, text: &str) -> Vec<u8> {
    assert!(text.len() < 120, "{text}");
    let props = 3 + text.len();
    let mut b = vec![0xe0, (2 + props) as u8, code, props as u8, 0x1f, 0];
    b.push(text.len() as u8);
    b.extend_from_slice(text.as_bytes());
    b
}

/// Bytes as "10 0c 00 04".
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Feeds `chunks` to a fresh decoder one after another and collects every
/// packet, stopping at the first error.
pub fn decode_chunks<'a>(
    protocol: ProtocolVersion,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Packet>, DecodeError> {
    let mut decoder = Decoder::new(protocol);
    let mut packets = Vec::new();
    for chunk in chunks {
        let mut input = chunk;
        while let Some(packet) = decoder.decode(&mut input)? {
            packets.push(packet);
        }
        assert!(input.is_empty(), "decode returned None with input left");
    }
    Ok(packets)
}
