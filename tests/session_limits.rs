//! The limits an MQTT 5 broker announces in its CONNACK, honoured by the
//! sans-IO session core before and after every reconnect, to the byte and
//! with a fake clock: nothing but CONNECT before the CONNACK; then the
//! backlog first, in publish order, within the announced Receive Maximum;
//! every packet a limit forbids refused with a stated reason instead of
//! sent (issue 15). Paho enforces none of these (reference §17.3).

mod common;

use std::time::Instant;

use common::hex;
use mqtt_tether::packet::{
    ConnAck, Packet, PacketType, Properties, Property, ProtocolVersion, Publish, QoS,
    SubscribeOptions,
};
use mqtt_tether::session::{
    DroppedMessage, Event, OutState, QueueFullPolicy, Session, SessionConfig, StoreFull,
};
use mqtt_tether::{ErrorCode, ReasonCode};

use ProtocolVersion::MQTTv5 as V5;

fn take(s: &mut Session, now: Instant) -> Vec<u8> {
    let out = s.pending().to_vec();
    s.written(out.len(), now);
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The encoded v5 CONNACK (accepted) with these properties.
fn connack(session_present: bool, props: &[Property]) -> Vec<u8> {
    let mut ack = ConnAck::new(session_present, 0);
    for p in props {
        ack.properties.set(p.clone()).unwrap();
    }
    Packet::ConnAck(ack).to_bytes(V5).unwrap()
}

/// Decodes everything written as PUBLISH (topic, payload, mid, dup) and
/// PUBREL (mid) lines, in order.
fn wire(bytes: &[u8]) -> Vec<String> {
    let mut decoder = mqtt_tether::packet::Decoder::new(V5);
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        match decoder.decode(&mut rest).unwrap() {
            Some(Packet::Publish(p)) => out.push(format!(
                "PUBLISH {} {} mid {}{}",
                p.topic,
                String::from_utf8_lossy(&p.payload),
                p.packet_id,
                if p.dup { " dup" } else { "" }
            )),
            Some(Packet::PubRel(a)) => out.push(format!("PUBREL {}", a.packet_id)),
            Some(other) => out.push(format!("{:?}", other.packet_type())),
            None => break,
        }
    }
    out
}

fn v5(id: &str) -> SessionConfig {
    let mut c = SessionConfig::new(V5, id);
    c.clean_start = mqtt_tether::session::CleanStart::Never;
    c
}

fn publish(s: &mut Session, topic: &str, payload: &str, qos: QoS) -> (u16, ErrorCode) {
    let r = s.publish(Publish::new(topic, payload.as_bytes().to_vec(), qos, 0));
    (r.mid, r.rc)
}

fn ack(t: PacketType, mid: u16, reason: u8) -> Vec<u8> {
    let [hi, lo] = mid.to_be_bytes();
    let first = match t {
        PacketType::PubAck => 0x40,
        PacketType::PubRec => 0x50,
        PacketType::PubComp => 0x70,
        _ => unreachable!("an acknowledgement type"),
    };
    vec![first, 3, hi, lo, reason]
}

fn disconnect_reason(value: u8) -> ReasonCode {
    ReasonCode::from_value(PacketType::Disconnect, value).unwrap()
}

/// Item 1 and 6: 200 QoS 2 messages published right after CONNECT (before
/// CONNACK) to a broker announcing Receive Maximum 2: nothing before the
/// CONNACK, then exactly 2 in flight; every acknowledgement lets the next
/// one go, in publish order, and the window is never exceeded.
#[test]
fn nothing_goes_before_the_connack_and_the_receive_maximum_holds_from_the_first_message() {
    let t = Instant::now();
    let mut s = Session::new(v5("rm"));
    s.start_connection(t);
    let connect = take(&mut s, t);
    assert_eq!(connect[0], 0x10);
    for i in 0..200 {
        let (mid, rc) = publish(&mut s, "t", &i.to_string(), QoS::ExactlyOnce);
        assert_eq!((mid, rc), (i + 1, ErrorCode::Success));
    }
    assert!(s.pending().is_empty(), "nothing but CONNECT before CONNACK");
    s.received(&connack(false, &[Property::ReceiveMaximum(2)]), t)
        .unwrap();
    assert!(matches!(events(&mut s)[..], [Event::Connack { .. }]));
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH t 0 mid 1", "PUBLISH t 1 mid 2"]
    );
    let mut most_in_flight = 0;
    let mut order = Vec::new();
    for mid in 1..=200u16 {
        s.received(&ack(PacketType::PubRec, mid, 0), t).unwrap();
        s.received(&ack(PacketType::PubComp, mid, 0), t).unwrap();
        most_in_flight = most_in_flight.max(s.store().in_flight());
        for line in wire(&take(&mut s, t)) {
            if line.starts_with("PUBLISH") {
                order.push(line);
            }
        }
    }
    assert_eq!(most_in_flight, 2);
    let expected: Vec<String> = (2..200)
        .map(|i| format!("PUBLISH t {i} mid {}", i + 1))
        .collect();
    assert_eq!(order, expected);
}

/// Item 1: a reconnect whose CONNACK announces a smaller Receive Maximum
/// than the connection before: of the 4 messages in flight at the cut only
/// 1 goes again (the PUBREL of the one the broker had), then each of the
/// others as the one before it completes. Before, all 4 went at once.
#[test]
fn a_reconnect_with_a_smaller_window_resends_only_what_it_allows_oldest_first() {
    let t = Instant::now();
    let mut s = Session::new(v5("shrink"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[Property::ReceiveMaximum(4)]), t)
        .unwrap();
    events(&mut s);
    let _ = publish(&mut s, "a", "1", QoS::ExactlyOnce);
    for (topic, payload) in [("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")] {
        let _ = publish(&mut s, topic, payload, QoS::AtLeastOnce);
    }
    assert_eq!(wire(&take(&mut s, t)).len(), 4, "4 in flight, e queued");
    s.received(&ack(PacketType::PubRec, 1, 0), t).unwrap();
    assert_eq!(wire(&take(&mut s, t)), ["PUBREL 1"]);
    s.connection_closed();
    events(&mut s);

    s.start_connection(t);
    take(&mut s, t);
    // Published between CONNECT and CONNACK: after the backlog.
    let _ = publish(&mut s, "f", "6", QoS::AtLeastOnce);
    assert!(s.pending().is_empty());
    s.received(&connack(true, &[Property::ReceiveMaximum(1)]), t)
        .unwrap();
    events(&mut s);
    assert_eq!(s.window(), 1);
    assert_eq!(wire(&take(&mut s, t)), ["PUBREL 1"]);
    s.received(&ack(PacketType::PubComp, 1, 0), t).unwrap();
    assert_eq!(wire(&take(&mut s, t)), ["PUBLISH b 2 mid 2 dup"]);
    let mut rest = Vec::new();
    for mid in 2..=6u16 {
        s.received(&ack(PacketType::PubAck, mid, 0), t).unwrap();
        assert!(s.store().in_flight() <= 1);
        rest.extend(wire(&take(&mut s, t)));
    }
    assert_eq!(
        rest,
        [
            "PUBLISH c 3 mid 3 dup",
            "PUBLISH d 4 mid 4 dup",
            "PUBLISH e 5 mid 5",
            "PUBLISH f 6 mid 6",
        ]
    );
}

/// Item 6 (replaces Paho's quirk, reference §12.4): a message published
/// in `on_connect`, after the CONNACK but before the backlog went out,
/// follows the backlog instead of overtaking it.
#[test]
fn messages_published_in_on_connect_go_after_the_backlog() {
    let t = Instant::now();
    let mut s = Session::new(v5("order"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    let _ = publish(&mut s, "old", "1", QoS::AtLeastOnce);
    take(&mut s, t);
    s.connection_closed();
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(true, &[]), t).unwrap();
    let connack = s.poll_event();
    assert!(matches!(connack, Some(Event::Connack { .. })));
    // The application's on_connect runs now and publishes.
    let (mid, rc) = publish(&mut s, "new", "2", QoS::AtLeastOnce);
    assert_eq!((mid, rc), (2, ErrorCode::Success));
    assert!(s.poll_event().is_none());
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH old 1 mid 1 dup", "PUBLISH new 2 mid 2"]
    );
}

/// Item 3: a QoS 1 message of 300 bytes stored while offline, then a
/// CONNACK announcing Maximum Packet Size 256: it is never sent; it ends
/// with a `Published` event whose reason is 0x95 Packet too large and an
/// `Event::Refused` naming the limit; the message behind it goes.
#[test]
fn a_stored_message_over_the_maximum_packet_size_fails_and_is_never_sent() {
    let t = Instant::now();
    let mut s = Session::new(v5("mps"));
    let big = "x".repeat(300);
    let (mid, rc) = publish(&mut s, "big", &big, QoS::AtLeastOnce);
    assert_eq!((mid, rc), (1, ErrorCode::NoConn));
    let _ = publish(&mut s, "small", "ok", QoS::AtLeastOnce);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[Property::MaximumPacketSize(256)]), t)
        .unwrap();
    // The re-send runs once the CONNACK event was taken (after on_connect).
    let evs = events(&mut s);
    assert_eq!(wire(&take(&mut s, t)), ["PUBLISH small ok mid 2"]);
    assert_eq!(
        s.store().get(1).map(|m| (m.state(), m.failure())),
        Some((OutState::Failed, Some(disconnect_reason(0x95))))
    );
    let [Event::Connack { .. }, Event::Published {
        mid: 1,
        reason_code,
        ..
    }, Event::Refused(refusal)] = &evs[..]
    else {
        panic!("{evs:?}");
    };
    assert_eq!(*reason_code, disconnect_reason(0x95));
    assert_eq!(refusal.rc, ErrorCode::PayloadSize);
    assert!(
        refusal.text.contains("Maximum Packet Size of 256"),
        "{}",
        refusal.text
    );
    assert_eq!(s.release(1), Some((0, Some(disconnect_reason(0x95)))));
    // Another reconnect: it is gone for good, nothing goes again.
    s.received(&ack(PacketType::PubAck, 2, 0), t).unwrap();
    events(&mut s);
    s.release(2);
    s.connection_closed();
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(true, &[Property::MaximumPacketSize(256)]), t)
        .unwrap();
    events(&mut s);
    assert!(take(&mut s, t).is_empty());
}

/// Item 4: Maximum QoS 1. A QoS 2 publish once the limit is known is
/// refused at once (`MQTT_ERR_NOT_SUPPORTED`, reason 0x9B, nothing sent);
/// a QoS 2 message stored before the CONNACK fails at the re-send.
#[test]
fn maximum_qos_refuses_at_publish_and_fails_what_was_stored() {
    let t = Instant::now();
    let mut s = Session::new(v5("maxqos"));
    let _ = publish(&mut s, "stored", "2", QoS::ExactlyOnce);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[Property::MaximumQoS(1)]), t)
        .unwrap();
    let evs = events(&mut s);
    assert!(take(&mut s, t).is_empty(), "the QoS 2 message is not sent");
    assert!(
        matches!(&evs[..], [Event::Connack { .. }, Event::Published { mid: 1, reason_code, .. }, Event::Refused(_)] if *reason_code == disconnect_reason(0x9B)),
        "{evs:?}"
    );
    let r = s.publish(Publish::new("now", b"2".to_vec(), QoS::ExactlyOnce, 0));
    assert_eq!(
        (r.rc, r.stored, r.refused),
        (
            ErrorCode::NotSupported,
            false,
            Some(disconnect_reason(0x9B))
        )
    );
    assert!(
        matches!(&events(&mut s)[..], [Event::Refused(r)] if r.text.contains("Maximum QoS of 1"))
    );
    assert!(take(&mut s, t).is_empty());
    // QoS 1 and 0 still go.
    let _ = publish(&mut s, "q1", "1", QoS::AtLeastOnce);
    let _ = publish(&mut s, "q0", "0", QoS::AtMostOnce);
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH q1 1 mid 3", "PUBLISH q0 0 mid 0"]
    );
}

/// Retain Available 0: a retained publish is refused at `publish` (0x9A)
/// and a retained message stored earlier fails at its send.
#[test]
fn retain_not_available_refuses_retained_messages() {
    let t = Instant::now();
    let mut s = Session::new(v5("retain"));
    let mut stored = Publish::new("kept", b"1".to_vec(), QoS::AtLeastOnce, 0);
    stored.retain = true;
    s.publish(stored);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[Property::RetainAvailable(0)]), t)
        .unwrap();
    let evs = events(&mut s);
    assert!(take(&mut s, t).is_empty());
    assert!(matches!(
        &evs[..],
        [Event::Connack { .. }, Event::Published { mid: 1, reason_code, .. }, Event::Refused(_)]
            if *reason_code == disconnect_reason(0x9A)
    ));
    let mut now = Publish::new("kept", b"2".to_vec(), QoS::AtMostOnce, 0);
    now.retain = true;
    let r = s.publish(now);
    assert_eq!(
        (r.rc, r.refused),
        (ErrorCode::NotSupported, Some(disconnect_reason(0x9A)))
    );
    assert!(take(&mut s, t).is_empty());
}

/// Topic Alias Maximum: an alias above it is refused (0x94); an alias
/// standing for an empty topic must have been set on this connection, and
/// after a reconnect a stored alias-only message fails instead of going
/// to a broker that no longer knows the alias (Paho's endless loop, #893).
#[test]
fn topic_aliases_are_checked_against_the_maximum_and_the_connection() {
    let t = Instant::now();
    let mut s = Session::new(v5("alias"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[Property::TopicAliasMaximum(2)]), t)
        .unwrap();
    events(&mut s);
    let aliased = |topic: &str, alias: u16, qos: QoS| {
        let mut p = Publish::new(topic, b"x".to_vec(), qos, 0);
        p.properties.set(Property::TopicAlias(alias)).unwrap();
        p
    };
    let r = s.publish(aliased("a", 3, QoS::AtMostOnce));
    assert_eq!(
        (r.rc, r.refused),
        (ErrorCode::NotSupported, Some(disconnect_reason(0x94)))
    );
    let r = s.publish(aliased("", 1, QoS::AtMostOnce));
    assert_eq!(r.rc, ErrorCode::NotSupported, "alias 1 is not set yet");
    events(&mut s);
    assert!(take(&mut s, t).is_empty());
    assert_eq!(
        s.publish(aliased("a/b", 1, QoS::AtMostOnce)).rc,
        ErrorCode::Success
    );
    assert_eq!(
        s.publish(aliased("", 1, QoS::AtLeastOnce)).rc,
        ErrorCode::Success
    );
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH a/b x mid 0", "PUBLISH  x mid 4"]
    );
    events(&mut s);
    s.connection_closed();
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(true, &[Property::TopicAliasMaximum(2)]), t)
        .unwrap();
    let evs = events(&mut s);
    assert!(
        take(&mut s, t).is_empty(),
        "alias 1 is unknown to the new connection"
    );
    assert!(matches!(
        &evs[..],
        [Event::Connack { .. }, Event::Published { mid: 4, reason_code, .. }, Event::Refused(_)]
            if *reason_code == disconnect_reason(0x94)
    ));
}

/// Item 5, and the subscription limits: a SUBSCRIBE over the Maximum
/// Packet Size, a wildcard, a shared subscription or a subscription
/// identifier the broker announced it lacks: refused with a clear rc and
/// no mid, never sent, an `Event::Refused` naming the limit.
#[test]
fn subscriptions_the_broker_cannot_take_are_refused_and_not_sent() {
    let t = Instant::now();
    let mut s = Session::new(v5("subs"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(
        &connack(
            false,
            &[
                Property::MaximumPacketSize(30),
                Property::WildcardSubscriptionAvailable(0),
                Property::SharedSubscriptionAvailable(0),
                Property::SubscriptionIdentifierAvailable(0),
            ],
        ),
        t,
    )
    .unwrap();
    events(&mut s);
    let sub = |f: &str| vec![(f.to_string(), SubscribeOptions::new(QoS::AtLeastOnce))];
    let none = || Properties::new(PacketType::Subscribe);
    // 39 bytes: over 30.
    let long = "a".repeat(29);
    assert_eq!(
        s.subscribe(sub(&long), none()),
        (ErrorCode::PayloadSize, None)
    );
    assert_eq!(
        s.subscribe(sub("a/+"), none()),
        (ErrorCode::NotSupported, None)
    );
    assert_eq!(
        s.subscribe(sub("$share/g/a"), none()),
        (ErrorCode::NotSupported, None)
    );
    let mut with_id = none();
    with_id.set(Property::SubscriptionIdentifier(1)).unwrap();
    assert_eq!(
        s.subscribe(sub("a"), with_id),
        (ErrorCode::NotSupported, None)
    );
    assert_eq!(
        s.unsubscribe(vec![long.clone()], Properties::new(PacketType::Unsubscribe)),
        (ErrorCode::PayloadSize, None)
    );
    let refusals: Vec<String> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            Event::Refused(r) => format!("{:#04x}", r.reason_code.value()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(refusals, ["0x95", "0xa2", "0x9e", "0xa1", "0x95"]);
    assert!(take(&mut s, t).is_empty(), "nothing was sent");
    // One that fits goes.
    let (rc, mid) = s.subscribe(sub("ok"), none());
    assert_eq!((rc, mid), (ErrorCode::Success, Some(6)));
    assert_eq!(take(&mut s, t), hex("82 08 00 06 00 00 02 6f 6b 01"));
}

/// Item 5 with automatic resubscribe: a filter that no longer fits (or
/// that the new broker's limits forbid) is reported failed and leaves the
/// book; the others are asked for; no SUBSCRIBE over the limit goes, and
/// the next reconnect does not try again.
#[test]
fn auto_resubscribe_skips_what_the_new_limits_forbid_and_moves_on() {
    let t = Instant::now();
    let mut c = v5("resub");
    c.auto_resubscribe = true;
    let mut s = Session::new(c);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    let sub = |f: &str| vec![(f.to_string(), SubscribeOptions::new(QoS::AtMostOnce))];
    let none = || Properties::new(PacketType::Subscribe);
    let long = "l".repeat(40);
    for f in ["a", "b/+", long.as_str()] {
        assert_eq!(s.subscribe(sub(f), none()).0, ErrorCode::Success);
    }
    take(&mut s, t);
    for (mid, f) in [(1u16, "a"), (2, "b/+"), (3, long.as_str())] {
        let _ = f;
        let [hi, lo] = mid.to_be_bytes();
        s.received(&[0x90, 4, hi, lo, 0, 0], t).unwrap();
    }
    events(&mut s);
    s.connection_closed();
    for round in 0..2 {
        s.start_connection(t);
        take(&mut s, t);
        s.received(
            &connack(
                false,
                &[
                    Property::MaximumPacketSize(30),
                    Property::WildcardSubscriptionAvailable(0),
                ],
            ),
            t,
        )
        .unwrap();
        let evs = events(&mut s);
        let refused = evs
            .iter()
            .filter(|e| matches!(e, Event::Refused(_)))
            .count();
        let sent = take(&mut s, t);
        assert!(sent.len() <= 30, "round {round}: {} bytes", sent.len());
        let [0x82, _, _, _, 0, 0, 1, b'a', 0] = sent[..] else {
            panic!("round {round}: only `a` is asked for again: {sent:02x?} {evs:?}");
        };
        assert_eq!(
            refused,
            if round == 0 { 2 } else { 0 },
            "round {round}: {evs:?}"
        );
        let filters: Vec<&str> = s.subscriptions().filters().map(|(f, _)| f).collect();
        assert_eq!(filters, ["a"], "round {round}");
        s.connection_closed();
    }
}

/// Between CONNECT and CONNACK: SUBSCRIBEs wait for the CONNACK and are
/// then checked against it (one it forbids ends with a SUBACK event of
/// failure codes, never on the wire); QoS 1/2 messages wait too; a QoS 0
/// message goes at once, as in Paho (a loop-less script relies on it).
#[test]
fn subscriptions_wait_for_the_connack_and_are_checked_against_it() {
    let t = Instant::now();
    let mut s = Session::new(v5("held"));
    s.start_connection(t);
    take(&mut s, t);
    let sub = |f: &str| vec![(f.to_string(), SubscribeOptions::new(QoS::AtMostOnce))];
    let none = || Properties::new(PacketType::Subscribe);
    assert_eq!(
        s.subscribe(sub("x/#"), none()),
        (ErrorCode::Success, Some(1))
    );
    assert_eq!(
        publish(&mut s, "q1", "later", QoS::AtLeastOnce),
        (2, ErrorCode::Success)
    );
    assert_eq!(s.subscribe(sub("y"), none()), (ErrorCode::Success, Some(3)));
    assert_eq!(
        publish(&mut s, "q0", "now", QoS::AtMostOnce),
        (4, ErrorCode::Success)
    );
    assert_eq!(wire(&take(&mut s, t)), ["PUBLISH q0 now mid 0"]);
    assert!(matches!(
        events(&mut s)[..],
        [Event::Published { mid: 4, .. }]
    ));
    s.received(
        &connack(false, &[Property::WildcardSubscriptionAvailable(0)]),
        t,
    )
    .unwrap();
    let evs = events(&mut s);
    assert_eq!(
        wire(&take(&mut s, t)),
        ["Subscribe", "PUBLISH q1 later mid 2"]
    );
    assert!(matches!(evs[0], Event::Connack { .. }), "{evs:?}");
    let wildcard = ReasonCode::from_value(PacketType::SubAck, 0xA2).unwrap();
    assert!(
        evs.iter().any(|e| matches!(e, Event::Subscribed { mid: 1, reason_codes, .. } if reason_codes[..] == [wildcard])),
        "{evs:?}"
    );
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Event::Refused(_)))
            .count(),
        1
    );
}

/// Item 2: a PUBACK, PUBREC or PUBCOMP with a failure reason ends its
/// message failed, with that reason in its `Published` event and in the
/// store until released; a failed PUBREC gets no PUBREL (§4.3.3).
#[test]
fn a_refusing_acknowledgement_fails_its_message_with_the_brokers_reason() {
    let t = Instant::now();
    let mut s = Session::new(v5("refused"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    let _ = publish(&mut s, "a", "1", QoS::AtLeastOnce);
    let _ = publish(&mut s, "b", "2", QoS::ExactlyOnce);
    let _ = publish(&mut s, "c", "3", QoS::ExactlyOnce);
    take(&mut s, t);
    s.received(&ack(PacketType::PubAck, 1, 0x87), t).unwrap();
    s.received(&ack(PacketType::PubRec, 2, 0x97), t).unwrap();
    s.received(&ack(PacketType::PubRec, 3, 0), t).unwrap();
    assert_eq!(wire(&take(&mut s, t)), ["PUBREL 3"], "no PUBREL for 2");
    s.received(&ack(PacketType::PubComp, 3, 0x92), t).unwrap();
    let reasons: Vec<(u16, u8)> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            Event::Published {
                mid, reason_code, ..
            } => (mid, reason_code.value()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reasons, [(1, 0x87), (2, 0x97), (3, 0x92)]);
    for (mid, t, value) in [
        (1, PacketType::PubAck, 0x87),
        (2, PacketType::PubRec, 0x97),
        (3, PacketType::PubComp, 0x92),
    ] {
        let reason = ReasonCode::from_value(t, value).unwrap();
        assert_eq!(s.release(mid), Some((u64::from(mid) - 1, Some(reason))));
    }
    assert!(s.store().is_empty());
}

/// The rest of the CONNACK: the limits are readable after it, hold for
/// that connection only, and the next CONNACK replaces them all.
#[test]
fn the_limits_are_readable_and_belong_to_one_connection() {
    let t = Instant::now();
    let mut s = Session::new(SessionConfig::new(V5, ""));
    assert!(s.broker_limits().is_none());
    s.start_connection(t);
    take(&mut s, t);
    assert!(s.broker_limits().is_none(), "none before the CONNACK");
    s.received(
        &connack(
            false,
            &[
                Property::AssignedClientIdentifier("auto-1".into()),
                Property::MaximumQoS(0),
                Property::ServerKeepAlive(7),
            ],
        ),
        t,
    )
    .unwrap();
    events(&mut s);
    let l = s.broker_limits().unwrap();
    assert_eq!(l.assigned_client_identifier.as_deref(), Some("auto-1"));
    assert_eq!(
        (l.maximum_qos, l.server_keep_alive),
        (QoS::AtMostOnce, Some(7))
    );
    s.connection_closed();
    assert!(s.broker_limits().is_none());
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    let l = s.broker_limits().unwrap();
    assert_eq!(
        (l.maximum_qos, l.assigned_client_identifier.as_deref()),
        (QoS::ExactlyOnce, None)
    );
    assert_eq!(
        publish(&mut s, "t", "2", QoS::ExactlyOnce).1,
        ErrorCode::Success
    );
}

// ----- room in the store (issue 19, backpressure) ---------------------------

/// A connected v5 session with `config`, its CONNECT and CONNACK done.
fn connected(config: SessionConfig, t: Instant) -> Session {
    let mut s = Session::new(config);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    take(&mut s, t);
    s
}

/// Takes the `Published` events and releases their messages, as the
/// driver does once the application has had them.
fn release_published(s: &mut Session) -> Vec<u16> {
    let mut released = Vec::new();
    for event in events(s) {
        if let Event::Published { mid, .. } = event {
            s.release(mid);
            released.push(mid);
        }
    }
    released
}

/// `publish_wait` waits on what the core decides: with `max_queued` 2 the
/// third QoS 1 message is refused with the reason (`Count(2)`) and the
/// length its PUBLISH would take; `room_for` says no until the broker's
/// PUBACK has been delivered and the message released (an acknowledged
/// message holds its place until then, as its `MessageInfo` still reads
/// "not yet"), then yes; the message then goes out with the next free id.
#[test]
fn a_full_store_says_why_and_has_room_once_an_acknowledged_message_is_released() {
    let t = Instant::now();
    let mut config = v5("room");
    config.max_queued = 2;
    let mut s = connected(config, t);
    assert_eq!(
        publish(&mut s, "t", "a", QoS::AtLeastOnce),
        (1, ErrorCode::Success)
    );
    assert_eq!(
        publish(&mut s, "t", "b", QoS::AtLeastOnce),
        (2, ErrorCode::Success)
    );
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH t a mid 1", "PUBLISH t b mid 2"]
    );
    let refused = s.publish(Publish::new("t", b"c".to_vec(), QoS::AtLeastOnce, 0));
    assert_eq!(refused.rc, ErrorCode::QueueSize);
    assert_eq!(refused.full, Some(StoreFull::Count(2)));
    assert!(!refused.stored);
    assert_eq!(s.store().len(), 2, "nothing stored");
    assert!(take(&mut s, t).is_empty(), "nothing sent");
    assert_eq!(s.room_for(QoS::AtLeastOnce, 8), Err(StoreFull::Count(2)));
    // QoS 0 needs no place in the store.
    assert_eq!(s.room_for(QoS::AtMostOnce, 8), Ok(()));

    s.received(&ack(PacketType::PubAck, 1, 0), t).unwrap();
    assert_eq!(s.store().unfinished(), 1, "message 1 is acknowledged");
    assert_eq!(
        s.room_for(QoS::AtLeastOnce, 8),
        Err(StoreFull::Count(2)),
        "acknowledged, not yet released"
    );
    assert_eq!(release_published(&mut s), [1]);
    assert_eq!(s.room_for(QoS::AtLeastOnce, 8), Ok(()));
    let stored = s.publish(Publish::new("t", b"c".to_vec(), QoS::AtLeastOnce, 0));
    assert_eq!((stored.rc, stored.full), (ErrorCode::Success, None));
    // Id 3 went to the refused attempt (as Paho's counter moves too).
    assert_eq!(wire(&take(&mut s, t)), ["PUBLISH t c mid 4"]);
    s.received(&ack(PacketType::PubAck, 2, 0), t).unwrap();
    s.received(&ack(PacketType::PubAck, 4, 0), t).unwrap();
    assert_eq!(s.store().unfinished(), 0, "what a drain waits for");
}

/// The store's bytes budget: refused with `Bytes(budget)` and the length
/// the message needs, which `room_for` weighs; one message alone is
/// always accepted, however large.
#[test]
fn the_store_bytes_budget_refuses_with_its_reason_until_bytes_are_released() {
    let t = Instant::now();
    let mut config = v5("bytes");
    // "PUBLISH t <10 bytes> mid n", v5: 2 + 3 + 2 + 1 + 10 = 18 bytes.
    config.memory_budget.store = 40;
    let mut s = connected(config, t);
    let payload = "0123456789";
    let first = s.publish(Publish::new(
        "t",
        payload.as_bytes().to_vec(),
        QoS::AtLeastOnce,
        0,
    ));
    assert_eq!((first.rc, first.len), (ErrorCode::Success, 18));
    assert_eq!(
        publish(&mut s, "t", payload, QoS::AtLeastOnce).1,
        ErrorCode::Success
    );
    assert_eq!(s.store().bytes(), 36);
    let refused = s.publish(Publish::new(
        "t",
        payload.as_bytes().to_vec(),
        QoS::AtLeastOnce,
        0,
    ));
    assert_eq!(refused.rc, ErrorCode::QueueSize);
    assert_eq!(
        (refused.full, refused.len),
        (Some(StoreFull::Bytes(40)), 18)
    );
    assert_eq!(s.room_for(QoS::AtLeastOnce, 4), Ok(()), "4 more bytes fit");
    assert_eq!(s.room_for(QoS::AtLeastOnce, 18), Err(StoreFull::Bytes(40)));
    take(&mut s, t);
    s.received(&ack(PacketType::PubAck, 1, 0), t).unwrap();
    release_published(&mut s);
    assert_eq!(s.room_for(QoS::AtLeastOnce, 18), Ok(()));
    // Alone in the store, a message over the whole budget still goes in.
    s.received(&ack(PacketType::PubAck, 2, 0), t).unwrap();
    release_published(&mut s);
    let big = "x".repeat(100);
    assert_eq!(s.room_for(QoS::AtLeastOnce, 200), Ok(()));
    assert_eq!(
        publish(&mut s, "t", &big, QoS::AtLeastOnce).1,
        ErrorCode::Success
    );
}

/// All 65,535 ids held (offline, so nothing is acknowledged): QoS 1 and
/// QoS 0 alike are refused with `Ids`, without an id (mid 0).
#[test]
fn with_every_id_held_the_store_is_full_for_every_qos() {
    let mut s = Session::new(v5("ids"));
    for _ in 0..mqtt_tether::session::MAX_STORED {
        assert_eq!(
            publish(&mut s, "t", "", QoS::AtLeastOnce).1,
            ErrorCode::NoConn
        );
    }
    for qos in [QoS::AtLeastOnce, QoS::AtMostOnce] {
        let refused = s.publish(Publish::new("t", Vec::new(), qos, 0));
        assert_eq!(
            (refused.mid, refused.rc, refused.full),
            (0, ErrorCode::QueueSize, Some(StoreFull::Ids))
        );
        assert_eq!(s.room_for(qos, 8), Err(StoreFull::Ids));
    }
}

// ----- offline queue limits (issue 19) ---------------------------------------

/// `DropOldest`: offline, the fourth QoS 1 message into a store of 3 drops
/// the oldest (reported for its `MessageInfo`), and after the CONNACK the
/// other three go out in publish order. Connected, only a message never
/// sent may go: one queued behind the in-flight window is dropped, those in
/// flight never are, and with only those held the new one is refused.
#[test]
fn drop_oldest_drops_only_what_was_never_sent_and_reports_it() {
    let t = Instant::now();
    let mut config = v5("drop");
    config.max_queued = 3;
    config.queue_full_policy = QueueFullPolicy::DropOldest;
    let mut s = Session::new(config);
    for (n, text) in ["a", "b", "c", "d"].iter().enumerate() {
        let r = s.publish(Publish::new(
            "t",
            text.as_bytes().to_vec(),
            QoS::AtLeastOnce,
            0,
        ));
        assert_eq!(
            (r.mid, r.rc, r.full),
            (n as u16 + 1, ErrorCode::NoConn, None)
        );
    }
    assert_eq!(
        s.take_dropped(),
        [DroppedMessage::Stored { mid: 1, seq: 0 }]
    );
    assert_eq!(s.store().len(), 3);
    assert_eq!(s.counters().dropped, 1, "the dropped message is counted");
    s.start_connection(t);
    take(&mut s, t);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    assert_eq!(
        wire(&take(&mut s, t)),
        [
            "PUBLISH t b mid 2",
            "PUBLISH t c mid 3",
            "PUBLISH t d mid 4"
        ]
    );
    for mid in 2..=4 {
        s.received(&ack(PacketType::PubAck, mid, 0), t).unwrap();
    }
    release_published(&mut s);

    // Window 2: e and f in flight, g queued behind them.
    s.config_mut().max_inflight = 2;
    for text in ["e", "f", "g"] {
        assert_eq!(
            publish(&mut s, "t", text, QoS::AtLeastOnce).1,
            ErrorCode::Success
        );
    }
    assert_eq!(
        wire(&take(&mut s, t)),
        ["PUBLISH t e mid 5", "PUBLISH t f mid 6"]
    );
    assert_eq!(
        publish(&mut s, "t", "h", QoS::AtLeastOnce),
        (8, ErrorCode::Success)
    );
    assert_eq!(
        s.take_dropped(),
        [DroppedMessage::Stored { mid: 7, seq: 6 }]
    );
    s.config_mut().max_queued = 2;
    // e and f in flight, h queued: h goes, and then nothing is left to drop.
    let refused = s.publish(Publish::new("t", b"i".to_vec(), QoS::AtLeastOnce, 0));
    assert_eq!(
        (refused.rc, refused.full),
        (ErrorCode::QueueSize, Some(StoreFull::Count(2)))
    );
    assert_eq!(
        s.take_dropped(),
        [DroppedMessage::Stored { mid: 8, seq: 7 }]
    );
    assert_eq!(s.store().len(), 2);
    assert!(take(&mut s, t).is_empty(), "neither h nor i went out");
    s.received(&ack(PacketType::PubAck, 5, 0), t).unwrap();
    s.received(&ack(PacketType::PubAck, 6, 0), t).unwrap();
    assert!(take(&mut s, t).is_empty(), "the dropped g and h never go");
    // a, g and h dropped; i refused by publish.
    assert_eq!((s.counters().dropped, s.counters().rejected), (3, 1));
}

/// `queue_qos0_offline`: QoS 0 messages published offline are queued
/// (`rc` NoConn, `queued`), nothing goes before the CONNACK, and after it
/// they are written first, in order, then the stored QoS 1 message; each
/// completes when written. Off (Paho's default) they are dropped. They
/// count against `max_queued`, and `DropOldest` drops the oldest of either
/// kind.
#[test]
fn qos0_published_offline_is_queued_only_when_asked_and_goes_after_the_connack() {
    let t = Instant::now();
    let mut paho = Session::new(v5("q0-off"));
    let dropped = paho.publish(Publish::new("t", b"x".to_vec(), QoS::AtMostOnce, 0));
    assert_eq!((dropped.rc, dropped.queued), (ErrorCode::NoConn, false));
    assert_eq!(paho.memory_use().store, 0);

    let mut config = v5("q0-on");
    config.queue_qos0_offline = true;
    config.max_queued = 3;
    config.queue_full_policy = QueueFullPolicy::DropOldest;
    let mut s = Session::new(config);
    let a = s.publish(Publish::new("t", b"a".to_vec(), QoS::AtMostOnce, 0));
    assert_eq!(
        (a.mid, a.rc, a.queued, a.stored),
        (1, ErrorCode::NoConn, true, false)
    );
    assert_eq!(
        publish(&mut s, "t", "b", QoS::AtLeastOnce),
        (2, ErrorCode::NoConn)
    );
    assert_eq!(
        publish(&mut s, "t", "c", QoS::AtMostOnce),
        (3, ErrorCode::NoConn)
    );
    // "PUBLISH t a" at v5: 2 + 3 + 1 + 1 = 7 bytes; b (QoS 1) 9.
    assert_eq!(s.memory_use().store, 7 + 9 + 7);
    assert_eq!(s.room_for(QoS::AtMostOnce, 7), Err(StoreFull::Count(3)));
    assert_eq!(
        publish(&mut s, "t", "d", QoS::AtMostOnce),
        (4, ErrorCode::NoConn)
    );
    assert_eq!(s.take_dropped(), [DroppedMessage::Qos0 { mid: 1 }]);
    // Queued is not lost: only the one the policy dropped counts.
    assert_eq!(s.counters().dropped, 1);

    s.start_connection(t);
    let connect = take(&mut s, t);
    assert_eq!(wire(&connect), ["Connect"]);
    s.received(&connack(false, &[]), t).unwrap();
    events(&mut s);
    assert_eq!(
        wire(&take(&mut s, t)),
        [
            "PUBLISH t c mid 0",
            "PUBLISH t d mid 0",
            "PUBLISH t b mid 2"
        ]
    );
    let written: Vec<u16> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Published { mid, .. } => Some(mid),
            _ => None,
        })
        .collect();
    assert_eq!(written, [3, 4], "the QoS 0 messages completed on writing");
    // c and d (7 bytes each) counted as sent when written.
    assert_eq!(
        (s.counters().sent[0].messages, s.counters().sent[0].bytes),
        (2, 14)
    );
    assert_eq!(s.counters().dropped, 1);
    assert_eq!(s.memory_use().store, 9, "only b is held");
    // Connected with nothing queued: QoS 0 goes at once again.
    let live = s.publish(Publish::new("t", b"e".to_vec(), QoS::AtMostOnce, 0));
    assert_eq!((live.rc, live.queued), (ErrorCode::Success, false));
}
