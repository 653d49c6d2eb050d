//! Malformed input: every case is a typed error, never a panic, and nothing is
//! buffered beyond what arrived (and the maximum packet size bounds that).

mod common;

use common::vectors::{vectors, ALL};
use common::{decode_chunks, hex};
use mqtt_tether::packet::ProtocolVersion::{self, MQTTv31, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;

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
