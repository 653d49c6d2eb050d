//! Malformed input: every case is a typed error, never a panic, and nothing is
//! buffered beyond what arrived (and the maximum packet size bounds that).
//!
//! Besides the hand-written cases, valid packets of every type and protocol
//! level are mutated where their structure is (variable header, properties,
//! payload, the lengths that frame them, the fixed header's flags) and fed to
//! the decoder; see `mutated_packets_decode_or_fail_cleanly`.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use common::strategies::{properties_of, protocol, protocol_and_packet, run_cases};
use common::vectors::{vectors, ALL};
use common::{decode_chunks, hex};
use mqtt_tether::packet::ProtocolVersion::{self, MQTTv31, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;
use proptest::prelude::*;
use proptest::sample::{select, Index};

fn decode(bytes: &str, protocol: ProtocolVersion) -> Result<Packet, DecodeError> {
    let bytes = hex(bytes);
    let one_shot = Packet::decode(&bytes, protocol);
    // The stream decoder must agree, fed whole and byte by byte.
    let whole = decode_chunks(protocol, [&bytes[..]]);
    let bytewise = decode_chunks(protocol, bytes.chunks(1));
    match &one_shot {
        Ok(p) => {
            assert_eq!(whole.as_deref(), Ok(&[p.clone()][..]));
            assert_eq!(bytewise.as_deref(), Ok(&[p.clone()][..]));
        }
        Err(e) => {
            assert_eq!(
                whole.as_ref().unwrap_err(),
                e,
                "stream decode of {bytes:02x?}"
            );
            assert_eq!(
                bytewise.as_ref().unwrap_err(),
                e,
                "bytewise decode of {bytes:02x?}"
            );
        }
    }
    one_shot
}

fn err(bytes: &str, protocol: ProtocolVersion) -> DecodeError {
    match decode(bytes, protocol) {
        Ok(p) => panic!("{bytes} decoded at {protocol} to {p:?}"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

/// Re-frames a packet so that its remaining length covers only the first
/// `cut` bytes of its body.
fn reframe(bytes: &[u8], protocol: ProtocolVersion, cut: usize) -> Vec<u8> {
    let header = FixedHeader::parse(bytes, protocol).unwrap().unwrap();
    let body = &bytes[header.header_len()..];
    let mut out = vec![bytes[0]];
    out.extend(varint(cut));
    out.extend_from_slice(&body[..cut]);
    out
}

#[test]
fn a_body_cut_at_every_byte_is_an_error_or_a_shorter_valid_packet() {
    for v in vectors() {
        for &protocol in v.protocols {
            let bytes = hex(v.hex);
            let body_len = FixedHeader::parse(&bytes, protocol)
                .unwrap()
                .unwrap()
                .remaining_length() as usize;
            // Packets without an optional tail: every cut must fail.
            let no_tail = matches!(v.packet, Packet::Connect(_))
                || (protocol != MQTTv5
                    && matches!(
                        v.packet,
                        Packet::ConnAck(_)
                            | Packet::PubAck(_)
                            | Packet::PubRec(_)
                            | Packet::PubRel(_)
                            | Packet::PubComp(_)
                            | Packet::UnsubAck(_)
                    ));
            for cut in 0..body_len {
                let framed = reframe(&bytes, protocol, cut);
                match Packet::decode(&framed, protocol) {
                    Err(e) => assert!(!e.to_string().is_empty()),
                    Ok(p) => {
                        assert!(!no_tail, "{} cut at {cut} decoded to {p:?}", v.name);
                        // A shorter packet that is valid in its own right
                        // (a shorter payload, a v5 short form, fewer filters)
                        // must survive a round trip.
                        let again = p.to_bytes(protocol).unwrap();
                        assert_eq!(p.packet_type(), v.packet.packet_type());
                        assert_eq!(
                            Packet::decode(&again, protocol),
                            Ok(p),
                            "{} cut {cut}",
                            v.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn remaining_length_of_five_bytes() {
    for p in ALL {
        assert_eq!(
            err("30 ff ff ff ff 01", *p),
            DecodeError::MalformedVariableInteger
        );
        assert_eq!(
            err("c0 80 80 80 80 00", *p),
            DecodeError::MalformedVariableInteger
        );
    }
}

#[test]
fn reserved_flag_bits() {
    for protocol in ALL {
        for nibble in 1u8..=15 {
            if nibble == 3 || (nibble == 15 && *protocol != MQTTv5) {
                continue;
            }
            let packet_type = PacketType::from_nibble(nibble).unwrap();
            let required = if matches!(nibble, 6 | 8 | 10) { 2 } else { 0 };
            for flags in 0u8..16 {
                // MQTT 3.1 re-sends PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP.
                let v31_retry = *protocol == MQTTv31 && required == 2 && flags == 0b1010;
                if flags == required || v31_retry {
                    continue;
                }
                let bytes = format!("{:02x} 00", nibble << 4 | flags);
                assert_eq!(
                    err(&bytes, *protocol),
                    DecodeError::InvalidFixedHeaderFlags { packet_type, flags },
                    "{bytes} at {protocol}"
                );
            }
        }
    }
    // PUBREL, SUBSCRIBE and UNSUBSCRIBE without 0x02.
    assert!(matches!(
        err("60 02 00 01", MQTTv311),
        DecodeError::InvalidFixedHeaderFlags { .. }
    ));
    assert!(matches!(
        err("80 06 00 01 00 01 61 00", MQTTv311),
        DecodeError::InvalidFixedHeaderFlags { .. }
    ));
    assert!(matches!(
        err("a0 05 00 01 00 01 61", MQTTv311),
        DecodeError::InvalidFixedHeaderFlags { .. }
    ));
    // DUP on a QoS 0 PUBLISH.
    assert_eq!(
        err("38 04 00 01 74 78", MQTTv311),
        DecodeError::InvalidFixedHeaderFlags {
            packet_type: PacketType::Publish,
            flags: 0b1000
        }
    );
}

#[test]
fn mqtt_3_1_retries_carry_dup() {
    assert!(decode("6a 02 00 01", MQTTv31).is_ok());
    assert!(decode("8a 06 00 01 00 01 61 00", MQTTv31).is_ok());
    assert!(decode("aa 05 00 01 00 01 61", MQTTv31).is_ok());
    assert!(matches!(
        err("6a 02 00 01", MQTTv311),
        DecodeError::InvalidFixedHeaderFlags { .. }
    ));
}

#[test]
fn reserved_and_unknown_packet_types() {
    assert_eq!(err("00 00", MQTTv311), DecodeError::InvalidPacketType(0));
    assert_eq!(err("f0 00", MQTTv311), DecodeError::InvalidPacketType(15));
    assert_eq!(err("f0 00", MQTTv31), DecodeError::InvalidPacketType(15));
    assert!(decode("f0 00", MQTTv5).is_ok());
}

#[test]
fn qos_3_anywhere() {
    for first in ["36", "37", "3e", "3f"] {
        assert_eq!(
            err(&format!("{first} 06 00 01 74 00 01 78"), MQTTv311),
            DecodeError::InvalidQoS
        );
    }
    // Will QoS 3 (flags 0x1e: clean, will, QoS bits 11).
    assert_eq!(
        err(
            "10 16 00 04 4d 51 54 54 04 1e 00 3c 00 00 00 01 74 00 01 78 00 00 00 00",
            MQTTv311
        ),
        DecodeError::InvalidConnectFlags(0x1e)
    );
    // Subscription QoS 3, v3 and v5.
    assert_eq!(
        err("82 06 00 01 00 01 61 03", MQTTv311),
        DecodeError::InvalidQoS
    );
    let e = err("82 07 00 01 00 00 01 61 03", MQTTv5);
    assert_eq!(e, DecodeError::InvalidSubscribeOptions(0x03));
    assert_eq!(e.reason_code(), 0x82, "§3.8.3.1: a protocol error");
}

#[test]
fn zero_packet_identifiers() {
    use PacketType as T;
    assert_eq!(
        err("32 08 00 03 78 2f 79 00 00 78", MQTTv311),
        DecodeError::ZeroPacketId(T::Publish)
    );
    assert_eq!(
        err("34 07 00 03 78 2f 79 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::Publish)
    );
    assert_eq!(
        err("40 02 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::PubAck)
    );
    assert_eq!(
        err("50 02 00 00", MQTTv5),
        DecodeError::ZeroPacketId(T::PubRec)
    );
    assert_eq!(
        err("62 02 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::PubRel)
    );
    assert_eq!(
        err("70 02 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::PubComp)
    );
    assert_eq!(
        err("82 06 00 00 00 01 61 00", MQTTv311),
        DecodeError::ZeroPacketId(T::Subscribe)
    );
    assert_eq!(
        err("90 03 00 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::SubAck)
    );
    assert_eq!(
        err("a2 05 00 00 00 01 61", MQTTv311),
        DecodeError::ZeroPacketId(T::Unsubscribe)
    );
    assert_eq!(
        err("b0 02 00 00", MQTTv311),
        DecodeError::ZeroPacketId(T::UnsubAck)
    );
}

#[test]
fn properties_duplicated_misplaced_unknown_out_of_range() {
    use PropertyId as I;
    let prop = |e: DecodeError| match e {
        DecodeError::Property(p) => p,
        other => panic!("expected a property error, got {other:?}"),
    };
    // PUBLISH with MessageExpiryInterval twice.
    assert_eq!(
        prop(err(
            "30 0f 00 01 74 0a 02 00 00 00 01 02 00 00 00 02 78",
            MQTTv5
        )),
        PropertyError::Duplicate(I::MessageExpiryInterval)
    );
    // Two user properties are fine.
    assert!(decode(
        "30 11 00 01 74 0c 26 00 01 61 00 00 26 00 01 61 00 00 78",
        MQTTv5
    )
    .is_ok());
    // SUBSCRIBE with two subscription identifiers.
    assert_eq!(
        prop(err("82 0b 00 01 04 0b 01 0b 02 00 01 61 00", MQTTv5)),
        PropertyError::Duplicate(I::SubscriptionIdentifier)
    );
    // SessionExpiryInterval in PUBLISH; ServerKeepAlive in CONNECT; TopicAlias in a will.
    assert_eq!(
        prop(err("30 0a 00 01 74 05 11 00 00 00 01 78", MQTTv5)),
        PropertyError::NotAllowed {
            property: I::SessionExpiryInterval,
            packet_type: PacketType::Publish
        }
    );
    assert_eq!(
        prop(err(
            "10 10 00 04 4d 51 54 54 05 02 00 3c 03 13 00 05 00 00",
            MQTTv5
        )),
        PropertyError::NotAllowed {
            property: I::ServerKeepAlive,
            packet_type: PacketType::Connect
        }
    );
    assert_eq!(
        prop(err(
            "10 17 00 04 4d 51 54 54 05 06 00 3c 00 00 00 03 23 00 01 00 01 74 00 01 78",
            MQTTv5
        )),
        PropertyError::NotAllowed {
            property: I::TopicAlias,
            packet_type: PacketType::WillMessage
        }
    );
    // A reason string in a PUBLISH, an unknown identifier, identifier 0.
    assert!(matches!(
        prop(err("30 08 00 01 74 03 1f 00 00 78", MQTTv5)),
        PropertyError::NotAllowed { .. }
    ));
    assert_eq!(
        prop(err("30 06 00 01 74 01 05 78", MQTTv5)),
        PropertyError::Unknown(5)
    );
    assert_eq!(
        prop(err("30 06 00 01 74 01 00 78", MQTTv5)),
        PropertyError::Unknown(0)
    );
    // Out of range: TopicAlias 0, PayloadFormatIndicator 2, ReceiveMaximum 0 in CONNACK,
    // SubscriptionIdentifier 0.
    assert_eq!(
        prop(err("30 08 00 01 74 03 23 00 00 78", MQTTv5)),
        PropertyError::OutOfRange {
            property: I::TopicAlias,
            value: 0
        }
    );
    assert!(matches!(
        prop(err("30 07 00 01 74 02 01 02 78", MQTTv5)),
        PropertyError::OutOfRange { .. }
    ));
    assert!(matches!(
        prop(err("20 06 00 00 03 21 00 00", MQTTv5)),
        PropertyError::OutOfRange { .. }
    ));
    assert!(matches!(
        prop(err("82 09 00 01 02 0b 00 00 01 61 00", MQTTv5)),
        PropertyError::OutOfRange { .. }
    ));
    // A property value that runs past the property length, or a property
    // length that runs past the packet.
    assert_eq!(
        err("30 08 00 01 74 02 02 00 00 00", MQTTv5),
        DecodeError::Truncated
    );
    assert_eq!(err("30 05 00 01 74 09 78", MQTTv5), DecodeError::Truncated);
    // A subscription identifier of five bytes.
    assert_eq!(
        err("30 0a 00 01 74 06 0b ff ff ff ff 01", MQTTv5),
        DecodeError::MalformedVariableInteger
    );
    // Paho's test_malformed_connack: a property length of 0x80 with nothing after it.
    assert_eq!(err("20 03 00 00 80", MQTTv5), DecodeError::Truncated);
}

#[test]
fn invalid_utf8_and_forbidden_code_points() {
    // Topic b"\xff" (Paho's test_invalid_utf8_topic), an encoded surrogate
    // U+D800, an overlong NUL, and a real U+0000.
    assert_eq!(err("30 04 00 01 ff 78", MQTTv311), DecodeError::InvalidUtf8);
    assert_eq!(
        err("30 06 00 03 ed a0 80 78", MQTTv311),
        DecodeError::InvalidUtf8
    );
    assert_eq!(
        err("30 05 00 02 c0 80 78", MQTTv311),
        DecodeError::InvalidUtf8
    );
    assert_eq!(
        err("30 06 00 03 61 00 62 78", MQTTv311),
        DecodeError::NullCharacter
    );
    // U+0000 in a client id, a user property name, a subscription filter.
    assert_eq!(
        err("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 00", MQTTv311),
        DecodeError::NullCharacter
    );
    assert_eq!(
        err("30 0c 00 01 74 07 26 00 01 00 00 01 61 78", MQTTv5),
        DecodeError::NullCharacter
    );
    assert_eq!(
        err("82 06 00 01 00 01 00 00", MQTTv311),
        DecodeError::NullCharacter
    );
    // An invalid reason string.
    assert_eq!(
        err("40 08 00 01 87 04 1f 00 01 ff", MQTTv5),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn declared_length_over_the_maximum_is_refused_from_the_header() {
    let mut decoder = Decoder::new(MQTTv311).with_max_packet_size(100);
    // 0x30, remaining length 1000: refused as soon as the header is complete,
    // before any body byte is there.
    let mut input: &[u8] = &[0x30, 0xe8];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    let mut input: &[u8] = &[0x07];
    assert_eq!(
        decoder.decode(&mut input),
        Err(DecodeError::PacketTooLarge {
            size: 1003,
            maximum: 100
        })
    );
    assert_eq!(decoder.buffered(), 0);
    // Exactly the maximum is accepted; one byte more is not.
    let ok = {
        let mut p = vec![0x30, 98, 0x00, 0x01, b't'];
        p.resize(100, b'x');
        p
    };
    let mut input = &ok[..];
    assert!(matches!(
        decoder.decode(&mut input),
        Ok(Some(Packet::Publish(_)))
    ));
    let mut too_big = vec![0x30, 99, 0x00, 0x01, b't'];
    too_big.resize(101, b'x');
    let mut input = &too_big[..];
    assert!(matches!(
        decoder.decode(&mut input),
        Err(DecodeError::PacketTooLarge { size: 101, .. })
    ));
}

#[test]
fn the_buffer_never_grows_beyond_the_packet() {
    let max = 600_000;
    let mut frame = vec![0x30];
    frame.extend(varint(max - 4));
    frame.extend([0x00, 0x01, b't']);
    frame.resize(max, b'x');
    let mut decoder = Decoder::new(MQTTv311).with_max_packet_size(max);
    let mut got = None;
    for chunk in frame.chunks(1000) {
        let mut input = chunk;
        if let Some(p) = decoder.decode(&mut input).unwrap() {
            got = Some(p);
        }
        assert!(decoder.capacity() <= max, "capacity {}", decoder.capacity());
        assert!(decoder.capacity() <= 2 * decoder.buffered().max(1000));
    }
    assert!(matches!(got, Some(Packet::Publish(p)) if p.payload.len() == max - 7));
}

#[test]
fn a_huge_declared_length_buffers_only_what_arrived() {
    // The default maximum accepts 256 MiB; a peer that announces that much and
    // sends 10 bytes makes the decoder hold 10 bytes plus the header, not 256 MiB.
    let mut decoder = Decoder::new(MQTTv311);
    let mut input: &[u8] = &[
        0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, b't', 1, 2, 3, 4, 5, 6, 7,
    ];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert_eq!(decoder.buffered(), 15);
    assert!(decoder.capacity() < 64);
}

#[test]
fn trailing_bytes() {
    use PacketType as T;
    let trailing = |b: &str, p| match err(b, p) {
        DecodeError::TrailingBytes { packet_type, count } => (packet_type, count),
        other => panic!("{b}: {other:?}"),
    };
    assert_eq!(trailing("c0 01 00", MQTTv311), (T::PingReq, 1));
    assert_eq!(trailing("d0 02 00 00", MQTTv5), (T::PingResp, 2));
    assert_eq!(trailing("e0 01 00", MQTTv311), (T::Disconnect, 1));
    assert_eq!(trailing("40 03 00 01 00", MQTTv311), (T::PubAck, 1));
    assert_eq!(trailing("b0 03 00 01 00", MQTTv311), (T::UnsubAck, 1));
    assert_eq!(trailing("20 03 00 00 00", MQTTv311), (T::ConnAck, 1));
    assert_eq!(
        trailing("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 00 ff", MQTTv311),
        (T::Connect, 1)
    );
    assert_eq!(trailing("e0 03 87 00 00", MQTTv5), (T::Disconnect, 1));
}

#[test]
fn connect_header_rules() {
    // Unknown protocol name; known name with an unknown level; a mismatch.
    assert_eq!(
        err("10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00", MQTTv311),
        DecodeError::InvalidProtocolName
    );
    assert_eq!(
        err("10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00", MQTTv311),
        DecodeError::UnsupportedProtocolLevel(6)
    );
    assert_eq!(
        err("10 0c 00 04 4d 51 54 54 03 02 00 3c 00 00", MQTTv311),
        DecodeError::UnsupportedProtocolLevel(3)
    );
    assert_eq!(
        DecodeError::UnsupportedProtocolLevel(6).reason_code(),
        0x84,
        "a broker answers it with CONNACK 0x84"
    );
    // The reserved flag bit; will retain or QoS without the will flag;
    // a password without a user name below v5.
    for flags in ["03", "22", "0a", "42"] {
        let bytes = format!("10 0c 00 04 4d 51 54 54 04 {flags} 00 3c 00 00");
        assert!(
            matches!(err(&bytes, MQTTv311), DecodeError::InvalidConnectFlags(_)),
            "flags {flags}"
        );
    }
    // v5 allows a password without a user name.
    let c = decode(
        "10 10 00 04 4d 51 54 54 05 42 00 3c 00 00 00 00 01 70",
        MQTTv5,
    )
    .unwrap();
    assert!(matches!(
        c,
        Packet::Connect(Connect {
            username: None,
            password: Some(_),
            ..
        })
    ));
    // A will topic with a wildcard, an empty will topic.
    assert_eq!(
        err(
            "10 12 00 04 4d 51 54 54 04 06 00 3c 00 00 00 01 23 00 01 78",
            MQTTv311
        ),
        DecodeError::InvalidTopicName
    );
    assert_eq!(
        err(
            "10 11 00 04 4d 51 54 54 04 06 00 3c 00 00 00 00 00 01 78",
            MQTTv311
        ),
        DecodeError::InvalidTopicName
    );
}

#[test]
fn connack_rules() {
    assert_eq!(
        err("20 02 02 00", MQTTv311),
        DecodeError::InvalidConnackFlags(2)
    );
    assert_eq!(
        err("20 03 80 00 00", MQTTv5),
        DecodeError::InvalidConnackFlags(0x80)
    );
    // Code 1 is a v3 code, accepted at v5 as Paho does (a v3-only broker's
    // refusal); any other v3 code is not a v5 reason code.
    let Packet::ConnAck(c) = decode("20 03 00 01 00", MQTTv5).unwrap() else {
        panic!("not a CONNACK")
    };
    assert_eq!(c.reason_code(MQTTv5), "Unsupported protocol version");
    assert_eq!(
        err("20 03 00 02 00", MQTTv5),
        DecodeError::InvalidReasonCode {
            packet_type: PacketType::ConnAck,
            code: 2
        }
    );
    assert!(matches!(
        err("20 03 00 8d 00", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
}

#[test]
fn topic_names_in_publish() {
    assert_eq!(
        err("30 05 00 01 23 78 78", MQTTv311),
        DecodeError::InvalidTopicName
    );
    assert_eq!(
        err("30 06 00 03 61 2f 2b 78", MQTTv311),
        DecodeError::InvalidTopicName
    );
    assert_eq!(
        err("30 03 00 00 78", MQTTv311),
        DecodeError::InvalidTopicName
    );
    assert_eq!(
        err("30 04 00 00 00 78", MQTTv5),
        DecodeError::InvalidTopicName
    );
    assert_eq!(DecodeError::InvalidTopicName.reason_code(), 0x82);
}

#[test]
fn subscription_rules() {
    use PacketType as T;
    assert_eq!(
        err("82 02 00 01", MQTTv311),
        DecodeError::NoTopicFilters(T::Subscribe)
    );
    assert_eq!(
        err("82 03 00 01 00", MQTTv5),
        DecodeError::NoTopicFilters(T::Subscribe)
    );
    assert_eq!(
        err("a2 02 00 01", MQTTv311),
        DecodeError::NoTopicFilters(T::Unsubscribe)
    );
    assert_eq!(
        err("90 02 00 01", MQTTv311),
        DecodeError::NoReasonCodes(T::SubAck)
    );
    assert_eq!(
        err("b0 03 00 01 00", MQTTv5),
        DecodeError::NoReasonCodes(T::UnsubAck)
    );
    // Options: reserved bits, retain handling 3; a v3 byte with option bits.
    let reserved = err("82 07 00 01 00 00 01 61 40", MQTTv5);
    assert_eq!(reserved, DecodeError::InvalidSubscribeOptions(0x40));
    assert_eq!(reserved.reason_code(), 0x81, "[MQTT-3.8.3-5]: malformed");
    let retain_3 = err("82 07 00 01 00 00 01 61 30", MQTTv5);
    assert_eq!(retain_3, DecodeError::InvalidSubscribeOptions(0x30));
    assert_eq!(retain_3.reason_code(), 0x82, "§3.8.3.1: a protocol error");
    // Empty topic filters [MQTT-4.7.3-1].
    assert_eq!(
        err("82 05 00 01 00 00 00", MQTTv311),
        DecodeError::EmptyTopicFilter
    );
    assert_eq!(
        err("a2 06 00 01 00 00 00 00", MQTTv311),
        DecodeError::EmptyTopicFilter
    );
    assert_eq!(
        DecodeError::NoTopicFilters(T::Subscribe).reason_code(),
        0x82
    );
    assert_eq!(
        err("82 06 00 01 00 01 61 04", MQTTv311),
        DecodeError::InvalidSubscribeOptions(0x04)
    );
    // SUBACK codes: 3 in v3, a CONNACK-only code in v5; UNSUBACK with a SUBACK code.
    assert_eq!(
        err("90 03 00 01 03", MQTTv311),
        DecodeError::InvalidReasonCode {
            packet_type: T::SubAck,
            code: 3
        }
    );
    assert!(matches!(
        err("90 03 00 01 97", MQTTv311),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err("90 04 00 01 00 84", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err("b0 04 00 01 00 01", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
    // Ack reason codes that do not belong to the packet.
    assert!(matches!(
        err("40 03 00 01 92", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err("62 03 00 01 10", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err("e0 01 84", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err("f0 01 87", MQTTv5),
        DecodeError::InvalidReasonCode { .. }
    ));
}

#[test]
fn errors_map_to_disconnect_reason_codes() {
    assert_eq!(DecodeError::MalformedVariableInteger.reason_code(), 0x81);
    assert_eq!(DecodeError::InvalidUtf8.reason_code(), 0x81);
    assert_eq!(
        DecodeError::PacketTooLarge {
            size: 10,
            maximum: 5
        }
        .reason_code(),
        0x95
    );
    assert_eq!(
        DecodeError::Property(PropertyError::Duplicate(PropertyId::ContentType)).reason_code(),
        0x82
    );
    // §2.2.2.2: a property the packet does not allow is a malformed packet.
    assert_eq!(
        DecodeError::Property(PropertyError::NotAllowed {
            property: PropertyId::TopicAlias,
            packet_type: PacketType::Connect
        })
        .reason_code(),
        0x81
    );
}

#[test]
fn an_error_resets_the_stream_decoder() {
    let mut decoder = Decoder::new(MQTTv311);
    let mut input: &[u8] = &[0x30, 0x05, 0x00, 0x01];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    let mut input: &[u8] = b"#xy";
    assert_eq!(
        decoder.decode(&mut input),
        Err(DecodeError::InvalidTopicName)
    );
    assert_eq!(decoder.buffered(), 0);
    let mut input: &[u8] = &[0xd0, 0x00];
    assert_eq!(decoder.decode(&mut input), Ok(Some(Packet::PingResp)));
}

#[test]
fn decoded_properties_take_only_the_bytes_that_arrived() {
    // 10,000 subscription identifiers of two bytes each: kept as the 20,000
    // bytes that came, not as 10,000 owned values.
    let props: Vec<u8> = [0x0b, 0x01].repeat(10_000);
    let mut body = vec![0x00, 0x01, b't'];
    body.extend(varint(props.len()));
    body.extend(&props);
    let mut frame = vec![0x30];
    frame.extend(varint(body.len()));
    frame.extend(&body);
    let Packet::Publish(p) = Packet::decode(&frame, MQTTv5).unwrap() else {
        panic!("not a PUBLISH");
    };
    assert_eq!(p.properties.as_bytes().len(), 20_000);
    assert_eq!(p.properties.subscription_identifiers().count(), 10_000);
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n & 0x7f) as u8;
        n >>= 7;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

// ---- Structure-aware mutation ----
//
// Random bytes are refused at the first byte or two, so they never reach the
// body decoders. Here every input starts as a valid packet, split where its
// structure is, and is changed at those places; the lengths that frame a
// changed part follow the change unless a mutation says otherwise, so most
// inputs get past the fixed header (the test counts that they do).

/// A valid packet's encoding, split into the parts mutations aim at.
#[derive(Debug, Clone)]
struct Frame {
    first_byte: u8,
    /// The variable header up to the properties (all of it without them).
    head: Vec<u8>,
    /// The MQTT 5 property block, one encoded property per entry; `None`
    /// when the packet has no block (below MQTT 5, or a short v5 form).
    properties: Option<Vec<Vec<u8>>>,
    /// What follows: the payload (with the will properties of a v5 CONNECT).
    tail: Vec<u8>,
    /// Added to the true property length when it is written.
    property_length_delta: i64,
    /// Writes the property length with a needless continuation byte.
    property_length_overlong: bool,
    remaining_length: RemainingLength,
    /// Keeps only this many bytes of the frame.
    cut: Option<Index>,
    /// Bytes after the frame.
    extra: Vec<u8>,
}

/// How the fixed header states the remaining length.
#[derive(Debug, Clone, Copy)]
enum RemainingLength {
    /// The body's true length, give or take `delta` bytes.
    Off(i64),
    /// The true length with a needless continuation byte (4 bytes at most).
    Overlong,
    /// Any length that takes this many bytes (1 to 4), whatever the body.
    Width(u8, Index),
    /// Five bytes, which no length may take.
    FiveBytes,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Head,
    Properties,
    Tail,
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Flips one bit of a byte.
    Flip(Part, Index, u8),
    /// Replaces a byte.
    Set(Part, Index, u8),
    /// Overwrites two bytes (where a length prefix or packet identifier may be).
    SetU16(Part, Index, u16),
    /// Moves the 16-bit value a part starts with (a string length, a packet
    /// identifier) by `delta`.
    Prefix(Part, i16),
    Insert(Part, Index, Vec<u8>),
    Remove(Part, Index, u8),
    /// Repeats a property right after itself.
    RepeatProperty(Index),
    DropProperty(Index),
    /// Gives a property another identifier byte, keeping its value.
    RenameProperty(Index, u8),
    /// Moves the length prefix of a string or binary property value.
    PropertyValueLength(Index, i16),
    /// Writes the property length `delta` off, or overlong.
    PropertyLength(i8, bool),
    RemainingLength(RemainingLength),
    /// Sets the fixed header's flag bits.
    Flags(u8),
    /// Declares another packet type (with the flags that type needs), so
    /// that one type's body reaches another type's decoder.
    Type(u8),
    Cut(Index),
    Append(Vec<u8>),
}

impl Frame {
    fn new(packet: &Packet, protocol: ProtocolVersion) -> Frame {
        let bytes = packet.to_bytes(protocol).unwrap();
        let header = FixedHeader::parse(&bytes, protocol).unwrap().unwrap();
        let body = &bytes[header.header_len()..];
        let v5 = match packet {
            Packet::Connect(c) => c.protocol == MQTTv5,
            _ => protocol == MQTTv5,
        };
        // Where the property block starts, and whether the packet has one.
        let (start, has_block) = match packet {
            Packet::Connect(c) => (2 + c.protocol.protocol_name().len() + 4, v5),
            Packet::ConnAck(_)
            | Packet::Subscribe(_)
            | Packet::SubAck(_)
            | Packet::Unsubscribe(_)
            | Packet::UnsubAck(_) => (2, v5),
            Packet::Publish(p) => {
                let id = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
                (2 + p.topic.len() + id, v5)
            }
            // The short forms: no reason code, or no properties.
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => {
                (3.min(body.len()), body.len() > 3)
            }
            Packet::Disconnect(_) | Packet::Auth(_) => (1.min(body.len()), body.len() > 1),
            Packet::PingReq | Packet::PingResp => (0, false),
        };
        let (properties, tail) = if has_block {
            let props = properties_of(packet).unwrap();
            let raw = props.as_bytes();
            let prefix = varint(raw.len());
            let end = start + prefix.len() + raw.len();
            assert_eq!(&body[start..end], [&prefix[..], raw].concat(), "{packet:?}");
            let entries: Vec<Vec<u8>> = props
                .iter()
                .map(|p| {
                    let mut one = Properties::new(props.packet_type());
                    one.push(p).unwrap();
                    one.as_bytes().to_vec()
                })
                .collect();
            assert_eq!(entries.concat(), raw);
            (Some(entries), &body[end..])
        } else {
            (None, &body[start..])
        };
        Frame {
            first_byte: bytes[0],
            head: body[..start].to_vec(),
            properties,
            tail: tail.to_vec(),
            property_length_delta: 0,
            property_length_overlong: false,
            remaining_length: RemainingLength::Off(0),
            cut: None,
            extra: Vec::new(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut body = self.head.clone();
        if let Some(entries) = &self.properties {
            let raw = entries.concat();
            let len = (raw.len() as i64 + self.property_length_delta).clamp(0, 268_435_455);
            body.extend(overlong(
                varint(len as usize),
                self.property_length_overlong,
            ));
            body.extend(raw);
        }
        body.extend(&self.tail);
        let mut out = vec![self.first_byte];
        out.extend(match self.remaining_length {
            RemainingLength::Off(delta) => {
                varint((body.len() as i64 + delta).clamp(0, 268_435_455) as usize)
            }
            RemainingLength::Overlong => overlong(varint(body.len()), true),
            RemainingLength::Width(width, at) => {
                let (low, high) = [
                    (0, 127),
                    (128, 16_383),
                    (16_384, 2_097_151),
                    (2_097_152, 268_435_455),
                ][usize::from(width - 1)];
                varint(low + at.index(high - low + 1))
            }
            RemainingLength::FiveBytes => vec![0xff, 0xff, 0xff, 0xff, 0x01],
        });
        out.extend(body);
        if let Some(cut) = self.cut {
            out.truncate(cut.index(out.len()));
        }
        out.extend(&self.extra);
        out
    }

    /// The bytes of `part` and a position in them: `room` is 1 for an
    /// insertion (which may go after the last byte), 0 for an edit (`None`
    /// when the part is empty). Properties resolve to one entry.
    fn at(&mut self, part: Part, at: Index, room: usize) -> Option<(&mut Vec<u8>, usize)> {
        // An edit aimed at an empty part goes to the first part with bytes.
        let part = if room == 0 && self.len(part) == 0 {
            [Part::Head, Part::Properties, Part::Tail]
                .into_iter()
                .find(|p| self.len(*p) > 0)?
        } else {
            part
        };
        let bytes = match part {
            Part::Head => &mut self.head,
            Part::Tail => &mut self.tail,
            // Below MQTT 5 the bytes before the payload are the variable header.
            Part::Properties if self.properties.is_none() => &mut self.head,
            Part::Properties => {
                let entries = self.properties.as_mut()?;
                let total: usize = entries.iter().map(Vec::len).sum();
                if total + room == 0 {
                    return None;
                }
                let mut pos = at.index(total + room);
                if entries.is_empty() {
                    entries.push(Vec::new());
                }
                let last = entries.len() - 1;
                for (i, entry) in entries.iter_mut().enumerate() {
                    if pos < entry.len() + usize::from(i == last) * room {
                        return Some((entry, pos));
                    }
                    pos -= entry.len();
                }
                unreachable!("the position lies in some entry")
            }
        };
        if bytes.len() + room == 0 {
            return None;
        }
        let pos = at.index(bytes.len() + room);
        Some((bytes, pos))
    }

    fn len(&self, part: Part) -> usize {
        match (part, &self.properties) {
            (Part::Head, _) | (Part::Properties, None) => self.head.len(),
            (Part::Properties, Some(entries)) => entries.iter().map(Vec::len).sum(),
            (Part::Tail, _) => self.tail.len(),
        }
    }

    fn apply(&mut self, mutation: &Mutation) {
        use Mutation as M;
        let no_properties = self.properties.as_ref().is_none_or(Vec::is_empty);
        match mutation {
            // Without properties to work on, change the variable header.
            M::RepeatProperty(at) if no_properties => {
                if let Some((b, i)) = self.at(Part::Head, *at, 0) {
                    b.insert(i, b[i]);
                }
            }
            M::DropProperty(at) if no_properties => self.apply(&M::Remove(Part::Head, *at, 1)),
            M::RenameProperty(at, id) if no_properties => self.apply(&M::Set(Part::Head, *at, *id)),
            M::PropertyValueLength(_, delta) if no_properties => {
                self.apply(&M::Prefix(Part::Head, *delta))
            }
            M::PropertyLength(0, _) if self.properties.is_none() => {
                self.remaining_length = RemainingLength::Overlong
            }
            M::PropertyLength(delta, _) if self.properties.is_none() => {
                self.remaining_length = RemainingLength::Off(i64::from(*delta))
            }
            // An empty body (PINGREQ, a short DISCONNECT) can only grow.
            M::Flip(..) | M::Set(..) | M::SetU16(..) | M::Prefix(..)
                if self.head.len() + self.len(Part::Properties) + self.tail.len() == 0 =>
            {
                self.head.push(0x80);
            }
            M::Flip(part, at, bit) => {
                if let Some((b, i)) = self.at(*part, *at, 0) {
                    b[i] ^= 1 << bit;
                }
            }
            M::Set(part, at, value) => {
                if let Some((b, i)) = self.at(*part, *at, 0) {
                    b[i] = *value;
                }
            }
            M::SetU16(part, at, value) => {
                if let Some((b, i)) = self.at(*part, *at, 0) {
                    let end = (i + 2).min(b.len());
                    b[i..end].copy_from_slice(&value.to_be_bytes()[..end - i]);
                }
            }
            M::Prefix(part, delta) => {
                let b = match part {
                    Part::Head | Part::Properties => &mut self.head,
                    Part::Tail => &mut self.tail,
                };
                if b.len() < 2 {
                    b.resize(2, 0);
                }
                let v = u16::from_be_bytes([b[0], b[1]]).wrapping_add_signed(*delta);
                b[..2].copy_from_slice(&v.to_be_bytes());
            }
            M::Insert(part, at, bytes) => {
                if let Some((b, i)) = self.at(*part, *at, 1) {
                    b.splice(i..i, bytes.iter().copied());
                }
            }
            M::Remove(part, at, count) => {
                if let Some((b, i)) = self.at(*part, *at, 0) {
                    let end = (i + usize::from(*count)).min(b.len());
                    b.drain(i..end);
                }
            }
            M::RepeatProperty(which) => {
                if let Some(entries) = self.properties.as_mut().filter(|e| !e.is_empty()) {
                    let i = which.index(entries.len());
                    entries.insert(i + 1, entries[i].clone());
                }
            }
            M::DropProperty(which) => {
                if let Some(entries) = self.properties.as_mut().filter(|e| !e.is_empty()) {
                    entries.remove(which.index(entries.len()));
                }
            }
            M::RenameProperty(which, id) => {
                if let Some(entries) = self.properties.as_mut().filter(|e| !e.is_empty()) {
                    let i = which.index(entries.len());
                    if let Some(first) = entries[i].first_mut() {
                        *first = *id;
                    }
                }
            }
            M::PropertyValueLength(which, delta) => {
                let entries = self.properties.as_mut().unwrap();
                let i = which.index(entries.len());
                let entry = &mut entries[i];
                let prefixed = entry.len() >= 3
                    && PropertyId::from_u8(entry[0]).is_some_and(|id| {
                        matches!(
                            id.value_type(),
                            PropertyType::Utf8String
                                | PropertyType::Utf8StringPair
                                | PropertyType::BinaryData
                        )
                    });
                if prefixed {
                    let v = u16::from_be_bytes([entry[1], entry[2]]).wrapping_add_signed(*delta);
                    entry[1..3].copy_from_slice(&v.to_be_bytes());
                }
            }
            M::PropertyLength(delta, overlong) => {
                self.property_length_delta += i64::from(*delta);
                self.property_length_overlong = *overlong;
            }
            M::RemainingLength(r) => self.remaining_length = *r,
            M::Flags(flags) => self.first_byte = (self.first_byte & 0xf0) | flags,
            M::Type(nibble) => {
                let flags = if matches!(nibble, 6 | 8 | 10) { 2 } else { 0 };
                self.first_byte = nibble << 4 | flags;
            }
            M::Cut(at) => self.cut = Some(*at),
            M::Append(bytes) => self.extra.extend(bytes),
        }
    }
}

/// `encoded` with a needless continuation byte (`80` on its last byte and a
/// `00` after it) while that still fits four bytes.
fn overlong(mut encoded: Vec<u8>, overlong: bool) -> Vec<u8> {
    if overlong && encoded.len() < 4 {
        *encoded.last_mut().unwrap() |= 0x80;
        encoded.push(0x00);
    }
    encoded
}

/// What a decoded packet holds: bytes of strings and binary fields, and
/// slots of its lists (capacity, not length: what was allocated).
fn held(packet: &Packet) -> usize {
    let props = properties_of(packet).map_or(0, |p| p.as_bytes().len());
    props
        + match packet {
            Packet::Connect(c) => {
                c.client_id.capacity()
                    + c.will.as_ref().map_or(0, |w| {
                        w.topic.capacity() + w.payload.capacity() + w.properties.as_bytes().len()
                    })
                    + c.username.as_ref().map_or(0, String::capacity)
                    + c.password.as_ref().map_or(0, Vec::capacity)
            }
            Packet::Publish(p) => p.topic.capacity() + p.payload.capacity(),
            Packet::Subscribe(p) => {
                p.filters.capacity() + p.filters.iter().map(|f| f.0.capacity()).sum::<usize>()
            }
            Packet::Unsubscribe(p) => {
                p.filters.capacity() + p.filters.iter().map(String::capacity).sum::<usize>()
            }
            Packet::SubAck(p) => p.reason_codes.capacity(),
            Packet::UnsubAck(p) => p.reason_codes.capacity(),
            _ => 0,
        }
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        3 => Just(Part::Head),
        4 => Just(Part::Properties),
        2 => Just(Part::Tail),
    ]
}

/// Bytes on the edges decoders test: zero, one, the continuation bit, all ones.
fn edge_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        select(vec![0x00, 0x01, 0x02, 0x7f, 0x80, 0xff]),
        any::<u8>()
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use Mutation as M;
    let property_id = prop_oneof![
        // Every defined identifier, unknown ones, and a continuation byte.
        select(
            PropertyId::ALL
                .iter()
                .map(|id| *id as u8)
                .collect::<Vec<_>>()
        ),
        select(vec![0u8, 4, 0x2b, 0x7f, 0x80, 0xff]),
    ];
    let remaining_length = prop_oneof![
        select(vec![-3i64, -2, -1, 1, 2, 3]).prop_map(RemainingLength::Off),
        Just(RemainingLength::Overlong),
        (1u8..=4, any::<Index>()).prop_map(|(w, i)| RemainingLength::Width(w, i)),
        Just(RemainingLength::FiveBytes),
    ];
    prop_oneof![
        6 => (part(), any::<Index>(), 0u8..8).prop_map(|(p, i, b)| M::Flip(p, i, b)),
        6 => (part(), any::<Index>(), edge_byte()).prop_map(|(p, i, v)| M::Set(p, i, v)),
        2 => (part(), any::<Index>(), prop_oneof![select(vec![0u16, 1, 0x80, 0xffff]), any::<u16>()])
            .prop_map(|(p, i, v)| M::SetU16(p, i, v)),
        3 => (part(), select(vec![-3i16, -2, -1, 1, 2, 3])).prop_map(|(p, d)| M::Prefix(p, d)),
        3 => (part(), any::<Index>(), prop::collection::vec(edge_byte(), 1..4))
            .prop_map(|(p, i, b)| M::Insert(p, i, b)),
        3 => (part(), any::<Index>(), 1u8..4).prop_map(|(p, i, n)| M::Remove(p, i, n)),
        3 => any::<Index>().prop_map(M::RepeatProperty),
        1 => any::<Index>().prop_map(M::DropProperty),
        2 => (any::<Index>(), property_id).prop_map(|(i, id)| M::RenameProperty(i, id)),
        3 => (any::<Index>(), select(vec![-2i16, -1, 1, 2, 0x100]))
            .prop_map(|(i, d)| M::PropertyValueLength(i, d)),
        2 => (select(vec![-3i8, -2, -1, 1, 2, 3]), any::<bool>())
            .prop_map(|(d, o)| M::PropertyLength(d, o)),
        1 => Just(M::PropertyLength(0, true)),
        2 => remaining_length.prop_map(M::RemainingLength),
        1 => (0u8..16).prop_map(M::Flags),
        2 => (1u8..16).prop_map(M::Type),
        1 => any::<Index>().prop_map(M::Cut),
        1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(M::Append),
    ]
}

/// A valid packet to start from: one of the byte-exact vectors (real
/// brokers' and clients' packets) or a random one.
fn seed() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    let table: Vec<(ProtocolVersion, Packet)> = vectors()
        .into_iter()
        .flat_map(|v| v.protocols.iter().map(move |p| (*p, v.packet.clone())))
        .collect();
    prop_oneof![1 => select(table), 2 => protocol_and_packet()]
}

/// What the body decoders made of the inputs that reached them.
#[derive(Debug, Default)]
struct Reached {
    cases: usize,
    /// Inputs the mutations left as they were (say, a property mutation on a
    /// packet without properties).
    unchanged: usize,
    /// Inputs whose fixed header passed and whose length matched, so that a
    /// body decoder ran.
    past_header: usize,
    decoded: usize,
    refused: usize,
    /// `DecodeError` variants the body decoders returned, and how often.
    errors: BTreeMap<String, usize>,
    types: BTreeSet<PacketType>,
    protocols: BTreeSet<ProtocolVersion>,
}

/// What a stream decoder made of an input: its first packet or error (`None`
/// while it waits for more), and how many bytes it still holds.
struct Streamed {
    first: Option<Result<Packet, DecodeError>>,
    buffered: usize,
}

/// Feeds `input` to fresh stream decoders (whole, byte by byte, in two
/// halves) and checks memory as it goes: never more than twice what arrived,
/// never more than the fixed header claims.
fn stream(input: &[u8], protocol: ProtocolVersion) -> Result<Vec<Streamed>, TestCaseError> {
    let half = input.len() / 2;
    let ways: [Vec<&[u8]>; 3] = [
        vec![input],
        input.chunks(1).collect(),
        vec![&input[..half], &input[half..]],
    ];
    let claim = match FixedHeader::parse(input, protocol) {
        Ok(Some(h)) => h.packet_len(),
        _ => 5,
    };
    let mut results = Vec::new();
    for chunks in ways {
        let mut decoder = Decoder::new(protocol);
        let mut first = None;
        let mut fed = 0;
        'feed: for chunk in chunks {
            fed += chunk.len();
            let mut rest = chunk;
            while first.is_none() {
                match decoder.decode(&mut rest) {
                    Ok(Some(p)) => first = Some(Ok(p)),
                    Ok(None) => break,
                    Err(e) => {
                        first = Some(Err(e));
                        break 'feed;
                    }
                }
            }
            if first.is_none() {
                prop_assert!(decoder.buffered() <= fed);
                prop_assert!(
                    decoder.capacity() <= (2 * fed).min(claim).max(8),
                    "{} bytes held for {} fed, {} claimed",
                    decoder.capacity(),
                    fed,
                    claim
                );
            }
        }
        results.push(Streamed {
            first,
            buffered: decoder.buffered(),
        });
    }
    Ok(results)
}

/// Checks one mutated input: the one-shot and stream decoders agree, a packet
/// that comes out encodes again (to no more bytes, with the same first byte)
/// and decodes to itself, an error explains itself; and records what the
/// body decoders did.
fn check_mutated(
    input: &[u8],
    protocol: ProtocolVersion,
    reached: &mut Reached,
) -> Result<(), TestCaseError> {
    let one_shot = Packet::decode(input, protocol);
    let streams = stream(input, protocol)?;
    reached.cases += 1;
    let header = match FixedHeader::parse(input, protocol) {
        Err(e) => {
            prop_assert_eq!(&one_shot, &Err(e.clone()));
            for s in &streams {
                prop_assert_eq!(&s.first, &Some(Err(e.clone())));
            }
            return Ok(());
        }
        Ok(None) => None,
        Ok(Some(h)) if h.packet_len() > input.len() => None,
        Ok(Some(h)) => Some(h),
    };
    let Some(header) = header else {
        // The header, or the body it announces, has not all arrived.
        prop_assert_eq!(&one_shot, &Err(DecodeError::Truncated));
        for s in &streams {
            prop_assert_eq!(&s.first, &None);
            prop_assert_eq!(s.buffered, input.len());
        }
        return Ok(());
    };
    let frame = &input[..header.packet_len()];
    let result = Packet::decode(frame, protocol);
    if frame.len() < input.len() {
        prop_assert_eq!(
            &one_shot,
            &Err(DecodeError::TrailingBytes {
                packet_type: header.packet_type(),
                count: input.len() - frame.len()
            })
        );
    } else {
        prop_assert_eq!(&one_shot, &result);
        reached.past_header += 1;
        reached.types.insert(header.packet_type());
        reached.protocols.insert(protocol);
    }
    for s in &streams {
        prop_assert_eq!(&s.first, &Some(result.clone()));
    }
    match result {
        Ok(packet) => {
            reached.decoded += usize::from(frame.len() == input.len());
            prop_assert_eq!(packet.packet_type(), header.packet_type());
            prop_assert!(
                held(&packet) <= 2 * frame.len(),
                "{} bytes held for a {}-byte frame",
                held(&packet),
                frame.len()
            );
            match packet.to_bytes(protocol) {
                Ok(again) => {
                    prop_assert_eq!(Packet::decode(&again, protocol), Ok(packet.clone()));
                    // The encoder writes the shortest form (a v5 CONNACK
                    // read without its property length, as Paho reads it,
                    // gets one back), and the flags the packet carries
                    // (except MQTT 3.1's DUP on a retry, which no field keeps).
                    let no_property_length = protocol == MQTTv5
                        && matches!(packet, Packet::ConnAck(_))
                        && frame.len() == 4;
                    prop_assert!(
                        again.len() <= frame.len() + usize::from(no_property_length),
                        "{:02x?}",
                        again
                    );
                    let v31_retry = protocol == MQTTv31 && frame[0] & 0x0f == 0b1010;
                    if !v31_retry {
                        prop_assert_eq!(again[0], frame[0]);
                    }
                }
                // The one thing read but never written: a v3 broker's
                // CONNACK 1 answering a v5 CONNECT.
                Err(e) => prop_assert!(
                    matches!(&packet, Packet::ConnAck(c) if protocol == MQTTv5 && c.return_code == 1),
                    "{:?} does not encode: {}",
                    packet,
                    e
                ),
            }
        }
        Err(e) => {
            reached.refused += usize::from(frame.len() == input.len());
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(e.reason_code() >= 0x80);
            let name = format!("{e:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or_default();
            let name = match &e {
                DecodeError::Property(p) => format!("{name}::{:?}", p)
                    .split(['(', ' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                _ => name.to_owned(),
            };
            *reached.errors.entry(name).or_default() += 1;
        }
    }
    Ok(())
}

#[test]
fn mutated_packets_decode_or_fail_cleanly() {
    let reached = RefCell::new(Reached::default());
    run_cases(
        file!(),
        4000,
        (
            seed(),
            prop::option::weighted(0.1, protocol()),
            prop::collection::vec(mutation(), 1..=3),
        ),
        |((protocol, packet), decode_at, mutations)| {
            let mut frame = Frame::new(&packet, protocol);
            for m in &mutations {
                frame.apply(m);
            }
            let input = frame.bytes();
            let decode_at = decode_at.unwrap_or(protocol);
            let mut reached = reached.borrow_mut();
            if decode_at == protocol && input == packet.to_bytes(protocol).unwrap() {
                reached.unchanged += 1;
            }
            check_mutated(&input, decode_at, &mut reached)
        },
    );
    let r = reached.into_inner();
    // The mutations must keep reaching the body decoders, or this test would
    // quietly become the random-bytes test that stops at the first byte.
    let changed = r.cases - r.unchanged;
    assert!(r.unchanged * 10 <= r.cases, "{r:#?}");
    assert!(r.past_header * 10 >= changed * 6, "{r:#?}");
    // Some mutations keep the packet valid (a flipped payload bit), most do
    // not; both kinds must be common.
    assert!(r.decoded * 100 >= changed * 15, "{r:#?}");
    assert!(r.refused * 100 >= changed * 30, "{r:#?}");
    assert_eq!(r.types.len(), 15, "{r:#?}");
    assert_eq!(r.protocols.len(), 3, "{r:#?}");
    // Between them the body decoders and the property decoder explained
    // themselves in many ways, among them every way a property set can be wrong
    // short of a value out of range (few properties have a range).
    assert!(r.errors.len() >= 12, "{r:#?}");
    for e in [
        "Property::Duplicate",
        "Property::NotAllowed",
        "Property::Unknown",
    ] {
        assert!(r.errors.contains_key(e), "{e}: {r:#?}");
    }
}
