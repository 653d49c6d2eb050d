//! Property-based round trips: random valid packets of every type, at every
//! protocol level that has them, encode and decode back to themselves, one at
//! a time and as a stream cut at random places.
//!
//! Generated packets are small, so some are grown (a longer payload, more
//! filters or reason codes, user properties) until their remaining length
//! needs each width the field has: 1, 2, 3 and 4 bytes. The single-packet test
//! counts the widths it reached and fails if one was missed, so it cannot
//! quietly shrink back to small packets only.

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;

use common::decode_chunks;
use common::strategies::{
    bytes, packet, properties_mut, protocol, protocol_and, protocol_and_packet, run_cases,
};
use mqtt_tether::packet::ProtocolVersion::{self, MQTTv31, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;
use proptest::prelude::*;
use proptest::sample::{select, Index};

fn protocol_and_packets(max: usize) -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>)> {
    protocol_and(move |p| prop::collection::vec(packet(p), 1..max))
}

/// Cuts `bytes` into chunks at the given (sorted, deduplicated) positions.
fn cut_at(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.retain(|c| *c <= bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for c in cuts {
        chunks.push(&bytes[start..c]);
        start = c;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// The width of the remaining-length field for a body of `len` bytes
/// (§2.2.3): one byte up to 127, two up to 16,383, three up to 2,097,151,
/// four above.
fn length_width(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// A body size to grow a generated packet to, and the byte to fill with.
/// Kept apart from the packet so that a failing case prints as a small packet
/// and two numbers, not megabytes of payload.
#[derive(Debug, Clone, Copy)]
struct Grow {
    body: usize,
    fill: u8,
}

/// Most packets stay as generated (a 1- or 2-byte length); the rest are grown
/// into each wider class, the largest rarely and just past its floor (a
/// payload of one repeated byte costs little, even in a debug build), or
/// exactly onto a class boundary.
fn grow_to() -> impl Strategy<Value = Option<Grow>> {
    let body = prop_oneof![
        20 => 128usize..16_384,
        6 => 16_384usize..300_000,
        1 => 300_000usize..=2_097_151,
        2 => 2_097_152usize..2_150_000,
        3 => select(vec![127usize, 128, 16_383, 16_384, 2_097_151, 2_097_152]),
    ];
    prop_oneof![
        2 => Just(None),
        1 => (body, any::<u8>()).prop_map(|(body, fill)| Some(Grow { body, fill })),
    ]
}

fn body_len(packet: &Packet, protocol: ProtocolVersion) -> usize {
    let bytes = packet.to_bytes(protocol).expect("a valid packet encodes");
    let header = FixedHeader::parse(&bytes, protocol).unwrap().unwrap();
    bytes.len() - header.header_len()
}

/// Grows `packet`'s body to about `to.body` bytes with content that keeps it
/// valid: exactly where one field takes any size (a PUBLISH payload), within
/// a few bytes elsewhere (the last filter or user property may not fit the
/// gap). A packet with nothing that can grow (PINGREQ, an MQTT 3 PUBACK)
/// stays as it is; an MQTT 3 CONNECT grows only as far as its four
/// 65,535-byte fields take it, an MQTT 3 SUBACK as far as 16,500 reason codes (just past 16,383)
/// (each is a table look-up, slow by the million in a debug build).
fn grow(packet: &mut Packet, protocol: ProtocolVersion, to: Grow) {
    let Some(mut need) = to.body.checked_sub(body_len(packet, protocol)) else {
        return;
    };
    let letter = char::from(b'a' + to.fill % 26);
    let text = |n: usize| letter.to_string().repeat(n);
    match packet {
        Packet::Publish(p) => {
            p.payload.resize(p.payload.len() + need, to.fill);
            return;
        }
        Packet::SubAck(SubAck { reason_codes, .. })
        | Packet::UnsubAck(UnsubAck { reason_codes, .. })
            if !reason_codes.is_empty() =>
        {
            let n = need.min(16_500);
            reason_codes.resize(reason_codes.len() + n, reason_codes[0]);
            need -= n;
        }
        Packet::Subscribe(p) => {
            let options = p.filters[0].1;
            while need > 0 {
                // A filter costs its length prefix and options byte too.
                let n = need.saturating_sub(3).clamp(1, 65_535);
                p.filters.push((text(n), options));
                need = need.saturating_sub(n + 3);
            }
        }
        Packet::Unsubscribe(p) => {
            while need > 0 {
                let n = need.saturating_sub(2).clamp(1, 65_535);
                p.filters.push(text(n));
                need = need.saturating_sub(n + 2);
            }
        }
        Packet::Connect(c) if c.protocol != MQTTv5 => {
            // MQTT 3 sends a password only with a user name.
            let username = c.username.get_or_insert_with(String::new);
            let mut take = |have: usize| {
                let n = need.min(65_535 - have);
                need -= n;
                n
            };
            let password = c.password.get_or_insert_with(Vec::new);
            password.resize(password.len() + take(password.len()), to.fill);
            if let Some(will) = &mut c.will {
                will.payload
                    .resize(will.payload.len() + take(will.payload.len()), to.fill);
            }
            username.push_str(&text(take(username.len())));
            let more = take(c.client_id.len());
            c.client_id.push_str(&text(more));
        }
        _ => {}
    }
    if protocol != MQTTv5 {
        return;
    }
    let Some(properties) = properties_mut(packet) else {
        return;
    };
    // A user property with an empty name costs its value and 5 bytes.
    while need > 5 {
        let n = (need - 5).min(65_535);
        properties
            .push(Property::UserProperty(String::new(), text(n)))
            .unwrap();
        need -= n + 5;
    }
}

/// The packet in full when it is small; its type and size when printing it
/// would bury the failure under megabytes.
fn show(packets: &[Packet], protocol: ProtocolVersion) -> String {
    let shown: Vec<String> = packets
        .iter()
        .map(|p| match p.to_bytes(protocol) {
            Ok(b) if b.len() > 2048 => format!("{} of {} bytes", p.packet_type(), b.len()),
            _ => format!("{p:?}"),
        })
        .collect();
    shown.join(", ")
}

/// Encodes, checks the fixed header against the specification, decodes in one
/// piece and as a stream cut inside and after the fixed header and halfway
/// through the body. Returns the width of the remaining-length field.
fn check_round_trip(packet: &Packet, protocol: ProtocolVersion) -> Result<usize, TestCaseError> {
    let bytes = packet.to_bytes(protocol).expect("a valid packet encodes");
    let header = FixedHeader::parse(&bytes, protocol).unwrap().unwrap();
    prop_assert_eq!(header.packet_len(), bytes.len());
    prop_assert_eq!(header.packet_type(), packet.packet_type());
    let body = bytes.len() - header.header_len();
    let width = length_width(body);
    prop_assert_eq!(header.remaining_length() as usize, body);
    prop_assert_eq!(
        header.header_len(),
        1 + width,
        "for a body of {} bytes",
        body
    );

    let decoded = Packet::decode(&bytes, protocol);
    prop_assert!(
        decoded.as_ref() == Ok(packet),
        "{} decoded to {:?}",
        show(std::slice::from_ref(packet), protocol),
        decoded.map(|p| show(&[p], protocol))
    );

    let mut cuts: Vec<usize> = (1..=header.header_len()).collect();
    cuts.push(header.header_len() + body / 2);
    cuts.retain(|&c| c < bytes.len());
    for cut in cuts {
        let (first, second) = bytes.split_at(cut);
        let mut decoder = Decoder::new(protocol);
        let mut input = first;
        prop_assert_eq!(decoder.decode(&mut input), Ok(None), "cut at {}", cut);
        prop_assert_eq!(decoder.buffered(), cut);
        // Memory follows what arrived, not what the header announced.
        prop_assert!(
            decoder.capacity() <= (2 * cut).max(8),
            "cut at {}: {}",
            cut,
            decoder.capacity()
        );
        let mut input = second;
        let got = decoder.decode(&mut input);
        prop_assert!(
            got.as_ref() == Ok(&Some(packet.clone())),
            "cut at {}: {} decoded to {:?}",
            cut,
            show(std::slice::from_ref(packet), protocol),
            got.map(|p| p.map(|p| show(&[p], protocol)))
        );
        prop_assert!(input.is_empty());
        prop_assert_eq!(decoder.buffered(), 0);
    }
    Ok(width)
}

#[test]
fn every_packet_round_trips_at_every_length_width() {
    // For each width of the remaining-length field: how many packets had it,
    // and of which types.
    let reached: RefCell<[(usize, BTreeSet<PacketType>); 4]> = RefCell::default();
    run_cases(
        file!(),
        2000,
        (protocol_and_packet(), grow_to()),
        |((protocol, mut packet), to)| {
            if let Some(to) = to {
                grow(&mut packet, protocol, to);
            }
            let width = check_round_trip(&packet, protocol)?;
            let mut reached = reached.borrow_mut();
            reached[width - 1].0 += 1;
            reached[width - 1].1.insert(packet.packet_type());
            Ok(())
        },
    );
    let reached = reached.into_inner();
    for (i, (count, types)) in reached.iter().enumerate() {
        // At least three packet types per width: the growth reaches more than
        // PUBLISH's payload.
        assert!(
            *count > 0 && types.len() >= 3,
            "{}-byte remaining lengths: {count} packets, types {types:?}",
            i + 1
        );
    }
}

#[test]
fn publish_bodies_on_both_sides_of_each_length_boundary() {
    // Random cases land on a boundary only now and then; these always do.
    for protocol in [MQTTv31, MQTTv311, MQTTv5] {
        for (body, width) in [
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
        ] {
            let mut packet = Packet::Publish(Publish::new("t", vec![], QoS::AtLeastOnce, 1));
            grow(&mut packet, protocol, Grow { body, fill: 0xa5 });
            assert_eq!(body_len(&packet, protocol), body);
            match check_round_trip(&packet, protocol) {
                Ok(w) => assert_eq!(w, width, "body {body} at {protocol}"),
                Err(e) => panic!("body {body} at {protocol}: {e}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_stream_cut_anywhere_gives_the_same_packets(
        (protocol, mut packets) in protocol_and_packets(8),
        (to, which) in (grow_to(), any::<Index>()),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        // One packet of the stream may be a large one.
        if let Some(to) = to {
            let i = which.index(packets.len());
            grow(&mut packets[i], protocol, to);
        }
        let mut stream = Vec::new();
        for p in &packets {
            p.encode(protocol, &mut stream).unwrap();
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        let got = decode_chunks(protocol, cut_at(&stream, cuts)).unwrap();
        prop_assert!(
            got == packets,
            "{} decoded to {}",
            show(&packets, protocol),
            show(&got, protocol)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(protocol in protocol(), data in bytes(512), chunk in 1usize..64) {
        // Whatever the result, it is a value, not a panic, and the decoder
        // never holds more than it was given.
        let mut decoder = Decoder::new(protocol).with_max_packet_size(1024);
        for piece in data.chunks(chunk) {
            let mut input = piece;
            loop {
                match decoder.decode(&mut input) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(e) => { prop_assert!(!e.to_string().is_empty()); break; }
                }
            }
            prop_assert!(decoder.buffered() <= data.len());
        }
        let _ = Packet::decode(&data, protocol);
    }
}
