//! Byte-exact vectors: every packet type at every protocol level that has it.
//!
//! The vectors come from three places: the hex of Paho's test generators
//! (paho-python.md §14 and §18.4), bytes captured from paho-mqtt 2.2.0 talking
//! to a scripted broker (marked "paho capture"), and packets built by hand from
//! the specification for the broker-to-client direction.
//!
//! Each vector is checked five ways: encoding gives the bytes, one-shot
//! decoding gives the packet, the stream decoder gives it for every two-way
//! split and one byte at a time, every proper prefix leaves the stream decoder
//! waiting (and a one-shot decode of it fails with `Truncated`), and all
//! vectors of a protocol level fed back to back in one stream give them all.

mod common;

use common::vectors::{decode_only, vectors, Vector, ALL};
use common::{decode_chunks, hex, to_hex};
use mqtt_tether::packet::ProtocolVersion::{self, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;

#[test]
fn every_packet_type_is_covered_at_every_level() {
    let vectors = vectors();
    for protocol in ALL {
        let expected: Vec<u8> = if *protocol == MQTTv5 {
            (1..=15).collect()
        } else {
            (1..=14).collect()
        };
        let mut covered: Vec<u8> = vectors
            .iter()
            .filter(|v| v.protocols.contains(protocol))
            .map(|v| v.packet.packet_type() as u8)
            .collect();
        covered.sort_unstable();
        covered.dedup();
        assert_eq!(
            covered, expected,
            "packet types with a vector at {protocol}"
        );
    }
}

#[test]
fn vectors_encode_to_their_bytes() {
    for v in vectors() {
        for &protocol in v.protocols {
            let bytes = v
                .packet
                .to_bytes(protocol)
                .unwrap_or_else(|e| panic!("{} at {protocol}: encode failed: {e}", v.name));
            assert_eq!(
                to_hex(&bytes),
                to_hex(&hex(v.hex)),
                "{} at {protocol}",
                v.name
            );
        }
    }
}

#[test]
fn vectors_decode_to_their_packets() {
    for v in vectors() {
        for &protocol in v.protocols {
            let decoded = Packet::decode(&hex(v.hex), protocol)
                .unwrap_or_else(|e| panic!("{} at {protocol}: {e}", v.name));
            assert_eq!(decoded, v.packet, "{} at {protocol}", v.name);
        }
    }
    for (name, protocol, bytes, packet) in decode_only() {
        assert_eq!(Packet::decode(&hex(bytes), protocol), Ok(packet), "{name}");
    }
}

#[test]
fn vectors_decode_from_every_two_way_split_and_byte_by_byte() {
    let mut cases: Vec<(String, ProtocolVersion, Vec<u8>, Packet)> = Vec::new();
    for v in vectors() {
        for &protocol in v.protocols {
            cases.push((v.name.to_owned(), protocol, hex(v.hex), v.packet.clone()));
        }
    }
    for (name, protocol, bytes, packet) in decode_only() {
        cases.push((name.to_owned(), protocol, hex(bytes), packet));
    }
    for (name, protocol, bytes, packet) in cases {
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let got = decode_chunks(protocol, [a, b]).unwrap();
            assert_eq!(got, std::slice::from_ref(&packet), "{name} split at {cut}");
        }
        let got = decode_chunks(protocol, bytes.chunks(1)).unwrap();
        assert_eq!(got, std::slice::from_ref(&packet), "{name} byte by byte");
    }
}

#[test]
fn every_proper_prefix_waits_for_more() {
    for v in vectors() {
        for &protocol in v.protocols {
            let bytes = hex(v.hex);
            for len in 0..bytes.len() {
                let mut decoder = Decoder::new(protocol);
                let mut input = &bytes[..len];
                assert_eq!(
                    decoder.decode(&mut input),
                    Ok(None),
                    "{} prefix {len}",
                    v.name
                );
                assert_eq!(decoder.buffered(), len);
                assert_eq!(
                    Packet::decode(&bytes[..len], protocol),
                    Err(DecodeError::Truncated),
                    "{} prefix {len}",
                    v.name
                );
            }
        }
    }
}

#[test]
fn all_vectors_of_a_level_in_one_stream() {
    for protocol in ALL {
        let chosen: Vec<Vector> = vectors()
            .into_iter()
            .filter(|v| v.protocols.contains(protocol))
            .collect();
        let stream: Vec<u8> = chosen.iter().flat_map(|v| hex(v.hex)).collect();
        let expected: Vec<Packet> = chosen.iter().map(|v| v.packet.clone()).collect();
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            assert_eq!(
                decode_chunks(*protocol, stream.chunks(chunk)).unwrap(),
                expected,
                "{protocol} in chunks of {chunk}"
            );
        }
    }
}

#[test]
fn connack_reason_codes_follow_paho() {
    let name = |bytes: &str, protocol| match Packet::decode(&hex(bytes), protocol).unwrap() {
        Packet::ConnAck(c) => c.reason_code(protocol).to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(name("20 02 00 00", MQTTv311), "Success");
    assert_eq!(
        name("20 02 00 01", MQTTv311),
        "Unsupported protocol version"
    );
    assert_eq!(name("20 02 00 02", MQTTv311), "Client identifier not valid");
    assert_eq!(name("20 02 00 03", MQTTv311), "Server unavailable");
    assert_eq!(name("20 02 00 04", MQTTv311), "Bad user name or password");
    assert_eq!(name("20 02 00 05", MQTTv311), "Not authorized");
    assert_eq!(name("20 02 00 06", MQTTv311), "Unspecified error");
    assert_eq!(name("20 02 00 01", MQTTv5), "Unsupported protocol version");
    assert_eq!(name("20 03 00 86 00", MQTTv5), "Bad user name or password");
    assert_eq!(convert_connack_rc_to_reason_code(5).value(), 135);
}
