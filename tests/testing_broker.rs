//! The in-process test broker, checked packet by packet with a bare client:
//! sessions, QoS flows, re-delivery, retained and will messages, keepalive,
//! restarts, credentials and the event log.
#![cfg(feature = "testing")]

mod common;

use std::time::{Duration, Instant};

use common::raw_client::{RawClient, Received, WAIT};
use mqtt_tether::packet::{
    Ack, Connect, Disconnect, Packet, PacketType, Property, ProtocolVersion, Publish, QoS,
    RetainHandling, SubscribeOptions, Will,
};
use mqtt_tether::testing::{Broker, BrokerConfig, BrokerEvent, BrokerLimits, CloseReason, Restart};
use mqtt_tether::ReasonCode;

use ProtocolVersion::{MQTTv311 as V311, MQTTv5 as V5};

fn addr(b: &Broker) -> std::net::SocketAddr {
    b.addr().expect("tcp broker")
}

#[test]
fn qos_0_1_2_flow_both_ways_with_the_exact_acks() {
    let broker = Broker::start().unwrap();
    for protocol in [V311, V5] {
        let (mut sub, ack) = RawClient::connect_simple(addr(&broker), protocol, "sub", true);
        assert_eq!((ack.session_present, ack.return_code), (false, 0));
        let granted = sub.subscribe(1, "t/#", QoS::ExactlyOnce);
        assert_eq!(granted.reason_codes[0].value(), 2);
        let (mut publisher, _) = RawClient::connect_simple(addr(&broker), protocol, "pub", true);
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let payload = format!("m{i}");
            publisher.publish("t/x", payload.as_bytes(), qos, false, 10 + i as u16);
            let got = sub.recv_publish();
            assert_eq!((got.qos, got.topic.as_str()), (qos, "t/x"));
            assert_eq!(got.payload, payload.as_bytes());
            assert!(!got.dup && !got.retain);
            sub.ack(&got);
        }
        // The broker's QoS 2 flow towards the subscriber ends with PUBCOMP.
        broker
            .wait_for_event("PUBCOMP from sub", |e| {
                matches!(e, BrokerEvent::PacketIn { client_id, packet: Packet::PubComp(_), .. } if client_id == "sub")
            })
            .unwrap();
        publisher.disconnect();
        sub.disconnect();
        broker.clear_events();
    }
}

#[test]
fn packets_behind_a_v5_connect_in_the_same_read_decode_at_v5() {
    let broker = Broker::start().unwrap();
    let (mut sub, _) = RawClient::connect_simple(addr(&broker), V5, "s", true);
    sub.subscribe(1, "same/read", QoS::AtMostOnce);
    // CONNECT and a PUBLISH with an (empty) property block in one write: the
    // PUBLISH must not be decoded at the default 3.1.1 level, where the
    // property length byte would become payload.
    let mut bytes = Packet::Connect(Connect::new(V5, "both"))
        .to_bytes(V5)
        .unwrap();
    let publish = Publish::new("same/read", b"kept".to_vec(), QoS::AtMostOnce, 0);
    bytes.extend(Packet::Publish(publish).to_bytes(V5).unwrap());
    let mut c = RawClient::open(addr(&broker), V5);
    c.send_bytes(&bytes);
    assert!(matches!(c.recv(), Packet::ConnAck(_)));
    assert_eq!(sub.recv_publish().payload, b"kept");
}

#[test]
fn subscription_qos_caps_delivery_and_overlaps_deliver_once() {
    let broker = Broker::start().unwrap();
    let (mut sub, _) = RawClient::connect_simple(addr(&broker), V311, "s", true);
    sub.subscribe(1, "a/+", QoS::AtMostOnce);
    sub.subscribe(2, "a/#", QoS::AtLeastOnce);
    let (mut publisher, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    publisher.publish("a/b", b"x", QoS::ExactlyOnce, false, 1);
    let got = sub.recv_publish();
    assert_eq!(
        got.qos,
        QoS::AtLeastOnce,
        "highest matching subscription QoS"
    );
    sub.ack(&got);
    sub.expect_silence(Duration::from_millis(200));
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let broker = Broker::start().unwrap();
    let (mut sub, _) = RawClient::connect_simple(addr(&broker), V311, "s", true);
    sub.subscribe(1, "#", QoS::AtMostOnce);
    sub.subscribe(2, "+/x", QoS::AtMostOnce);
    let (mut dollar, _) = RawClient::connect_simple(addr(&broker), V311, "d", true);
    dollar.subscribe(1, "$SYS/#", QoS::AtMostOnce);
    let (mut publisher, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    publisher.publish("$SYS/x", b"1", QoS::AtMostOnce, false, 0);
    publisher.publish("n/x", b"2", QoS::AtMostOnce, false, 0);
    let got = dollar.recv_publish();
    assert_eq!(got.topic, "$SYS/x");
    assert_eq!(sub.recv_publish().topic, "n/x");
    sub.expect_silence(Duration::from_millis(200));
}

#[test]
fn persistent_session_queues_while_away_and_reports_session_present() {
    let broker = Broker::start().unwrap();
    let (mut c, ack) = RawClient::connect_simple(addr(&broker), V311, "keep", false);
    assert!(!ack.session_present);
    c.subscribe(1, "q/#", QoS::ExactlyOnce);
    c.disconnect();
    assert!(broker.has_session("keep"));

    let (mut publisher, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    publisher.publish("q/0", b"zero", QoS::AtMostOnce, false, 0);
    publisher.publish("q/1", b"one", QoS::AtLeastOnce, false, 1);
    publisher.publish("q/2", b"two", QoS::ExactlyOnce, false, 2);

    let (mut c, ack) = RawClient::connect_simple(addr(&broker), V311, "keep", false);
    assert!(ack.session_present);
    let one = c.recv_publish();
    let two = c.recv_publish();
    assert_eq!((one.topic.as_str(), one.qos), ("q/1", QoS::AtLeastOnce));
    assert_eq!((two.topic.as_str(), two.qos), ("q/2", QoS::ExactlyOnce));
    // QoS 0 is not queued for an absent client.
    c.ack(&one);
    c.ack(&two);
    c.expect_silence(Duration::from_millis(200));
    c.disconnect();

    // A clean session discards it, and says so.
    let (c, ack) = RawClient::connect_simple(addr(&broker), V311, "keep", true);
    assert!(!ack.session_present);
    c.disconnect();
    assert!(!broker.has_session("keep"));
}

#[test]
fn unacknowledged_messages_are_redelivered_with_dup_and_the_same_id() {
    let broker = Broker::start().unwrap();
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V311, "dup", false);
    c.subscribe(1, "d", QoS::ExactlyOnce);
    let (mut publisher, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    publisher.publish("d", b"q1", QoS::AtLeastOnce, false, 1);
    publisher.publish("d", b"q2", QoS::ExactlyOnce, false, 2);
    let first = c.recv_publish();
    let second = c.recv_publish();
    assert!(!first.dup && !second.dup);
    // Acknowledge the QoS 2 message halfway (PUBREC), then vanish.
    c.send(&Packet::PubRec(Ack::new(
        PacketType::PubRec,
        second.packet_id,
    )));
    match c.recv() {
        Packet::PubRel(a) => assert_eq!(a.packet_id, second.packet_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    c.abort();
    broker
        .wait_for_event(
            "the close of dup",
            |e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "dup"),
        )
        .unwrap();

    let (mut c, ack) = RawClient::connect_simple(addr(&broker), V311, "dup", false);
    assert!(ack.session_present);
    let again = c.recv_publish();
    assert!(again.dup, "re-delivery carries DUP");
    assert_eq!(
        (again.packet_id, again.payload.as_slice()),
        (first.packet_id, &b"q1"[..])
    );
    // The QoS 2 message already past PUBREC is resumed with PUBREL, not PUBLISH.
    match c.recv() {
        Packet::PubRel(a) => assert_eq!(a.packet_id, second.packet_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    c.ack(&again);
    c.send(&Packet::PubComp(Ack::new(
        PacketType::PubComp,
        second.packet_id,
    )));
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn inbound_qos2_duplicate_is_not_routed_twice() {
    let broker = Broker::start().unwrap();
    let (mut sub, _) = RawClient::connect_simple(addr(&broker), V311, "s", true);
    sub.subscribe(1, "x", QoS::AtMostOnce);
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    let publish = Publish::new("x", b"once".to_vec(), QoS::ExactlyOnce, 7);
    p.send(&Packet::Publish(publish.clone()));
    assert!(matches!(p.recv(), Packet::PubRec(a) if a.packet_id == 7));
    let mut again = publish;
    again.dup = true;
    p.send(&Packet::Publish(again));
    assert!(matches!(p.recv(), Packet::PubRec(a) if a.packet_id == 7));
    p.send(&Packet::PubRel(Ack::new(PacketType::PubRel, 7)));
    assert!(matches!(p.recv(), Packet::PubComp(a) if a.packet_id == 7));
    assert_eq!(sub.recv_publish().payload, b"once");
    sub.expect_silence(Duration::from_millis(200));
}

#[test]
fn retained_messages_are_stored_replaced_cleared_and_sent_on_subscribe() {
    let broker = Broker::start().unwrap();
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    p.publish("r/a", b"old", QoS::AtLeastOnce, true, 1);
    p.publish("r/a", b"new", QoS::AtLeastOnce, true, 2);
    p.publish("r/b", b"b", QoS::AtMostOnce, true, 0);
    p.sync();
    assert_eq!(broker.retained_topics(), vec!["r/a", "r/b"]);

    let (mut s, _) = RawClient::connect_simple(addr(&broker), V311, "s", true);
    let ack = s.subscribe(1, "r/+", QoS::AtMostOnce);
    assert_eq!(ack.packet_id, 1);
    let mut got: Vec<(String, Vec<u8>, bool)> = (0..2)
        .map(|_| {
            let m = s.recv_publish();
            (m.topic, m.payload, m.retain)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("r/a".into(), b"new".to_vec(), true),
            ("r/b".into(), b"b".to_vec(), true)
        ]
    );
    // Live messages to an existing subscription are not flagged retained.
    p.publish("r/a", b"live", QoS::AtMostOnce, true, 0);
    let live = s.recv_publish();
    assert!(!live.retain);
    // An empty retained payload clears the topic.
    p.publish("r/a", b"", QoS::AtMostOnce, true, 0);
    let _ = s.recv_publish();
    p.publish("r/b", b"", QoS::AtMostOnce, true, 0);
    let _ = s.recv_publish();
    p.sync();
    assert!(broker.retained_topics().is_empty());
}

#[test]
fn v5_retain_handling_and_retain_as_published() {
    let broker = Broker::start().unwrap();
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V5, "p", true);
    p.publish("rh", b"kept", QoS::AtMostOnce, true, 0);
    p.sync();
    let (mut s, _) = RawClient::connect_simple(addr(&broker), V5, "s", true);
    let mut opts = SubscribeOptions::new(QoS::AtMostOnce);
    opts.retain_handling = RetainHandling::DoNotSend;
    s.subscribe_with(1, "rh", opts);
    s.expect_silence(Duration::from_millis(150));
    opts.retain_handling = RetainHandling::SendIfNewSub;
    s.subscribe_with(2, "rh", opts);
    s.expect_silence(Duration::from_millis(150));
    opts.retain_as_published = true;
    opts.retain_handling = RetainHandling::SendOnSubscribe;
    s.subscribe_with(3, "rh", opts);
    assert!(s.recv_publish().retain);
    p.publish("rh", b"live", QoS::AtMostOnce, true, 0);
    assert!(
        s.recv_publish().retain,
        "retain-as-published keeps the flag"
    );
}

#[test]
fn v5_no_local_subscription_identifiers_and_user_properties() {
    let broker = Broker::start().unwrap();
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V5, "c", true);
    let mut opts = SubscribeOptions::new(QoS::AtLeastOnce);
    opts.no_local = true;
    let mut sub = mqtt_tether::packet::Subscribe::new(1, vec![("nl/#".into(), opts)]);
    sub.properties
        .set(Property::SubscriptionIdentifier(42))
        .unwrap();
    c.send(&Packet::Subscribe(sub));
    assert!(matches!(c.recv(), Packet::SubAck(_)));
    c.publish("nl/own", b"mine", QoS::AtMostOnce, false, 0);
    c.expect_silence(Duration::from_millis(150));

    let (mut other, _) = RawClient::connect_simple(addr(&broker), V5, "o", true);
    let mut msg = Publish::new("nl/x", b"theirs".to_vec(), QoS::AtLeastOnce, 5);
    msg.properties
        .push(Property::UserProperty("k".into(), "v".into()))
        .unwrap();
    other.send(&Packet::Publish(msg));
    assert!(matches!(other.recv(), Packet::PubAck(_)));
    let got = c.recv_publish();
    assert_eq!(
        got.properties.user_properties().collect::<Vec<_>>(),
        vec![("k", "v")]
    );
    assert_eq!(
        got.properties
            .subscription_identifiers()
            .collect::<Vec<_>>(),
        vec![42]
    );
}

#[test]
fn v5_session_expiry_and_assigned_client_id() {
    let broker = Broker::start().unwrap();
    let mut connect = Connect::new(V5, "");
    connect
        .properties
        .set(Property::SessionExpiryInterval(1))
        .unwrap();
    let (c, ack) = RawClient::connect(addr(&broker), connect);
    let id = ack
        .properties
        .assigned_client_identifier()
        .expect("assigned id")
        .to_string();
    c.disconnect();
    assert!(broker.has_session(&id));
    // After the 1 s expiry the session is gone.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(!broker.has_session(&id));

    // Session expiry 0 (the v5 default) ends the session at disconnect even
    // without clean start.
    let (c, _) = RawClient::connect_simple(addr(&broker), V5, "zero", false);
    c.disconnect();
    assert!(!broker.has_session("zero"));
}

#[test]
fn will_is_published_on_abnormal_close_only() {
    let broker = Broker::start().unwrap();
    let (mut watcher, _) = RawClient::connect_simple(addr(&broker), V311, "w", true);
    watcher.subscribe(1, "will/#", QoS::AtLeastOnce);

    let mut connect = Connect::new(V311, "dies");
    connect.will = Some(Will::new(
        "will/dies",
        b"gone".to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    let (c, _) = RawClient::connect(addr(&broker), connect.clone());
    c.abort();
    let will = watcher.recv_publish();
    assert_eq!(
        (will.topic.as_str(), will.payload.as_slice()),
        ("will/dies", &b"gone"[..])
    );
    watcher.ack(&will);
    broker
        .wait_for_event("WillPublished", |e| {
            matches!(e, BrokerEvent::WillPublished { .. })
        })
        .unwrap();

    let (c, _) = RawClient::connect(addr(&broker), connect);
    c.disconnect();
    watcher.expect_silence(Duration::from_millis(200));
}

#[test]
fn v5_disconnect_with_will_message_publishes_the_will() {
    let broker = Broker::start().unwrap();
    let (mut watcher, _) = RawClient::connect_simple(addr(&broker), V5, "w", true);
    watcher.subscribe(1, "will", QoS::AtMostOnce);
    let mut connect = Connect::new(V5, "leaver");
    connect.will = Some(Will::new("will", b"bye".to_vec(), QoS::AtMostOnce, false));
    let (mut c, _) = RawClient::connect(addr(&broker), connect);
    let code = ReasonCode::from_value(PacketType::Disconnect, 0x04).unwrap();
    c.send(&Packet::Disconnect(Disconnect::new(code)));
    assert_eq!(watcher.recv_publish().payload, b"bye");
}

#[test]
fn keepalive_is_enforced_at_one_and_a_half_periods_and_publishes_the_will() {
    let broker = Broker::start().unwrap();
    let (mut watcher, _) = RawClient::connect_simple(addr(&broker), V311, "w", true);
    watcher.subscribe(1, "ka", QoS::AtMostOnce);
    let mut connect = Connect::new(V311, "sleepy");
    connect.keep_alive = 1;
    connect.will = Some(Will::new("ka", b"timeout".to_vec(), QoS::AtMostOnce, false));
    let started = Instant::now();
    let (mut c, _) = RawClient::connect(addr(&broker), connect);
    c.expect_closed(Duration::from_secs(4));
    // Not before 1.5 s: the broker must allow the grace period.
    assert!(started.elapsed() >= Duration::from_millis(1450));
    assert_eq!(watcher.recv_publish().payload, b"timeout");
    let closed = broker
        .wait_for_event(
            "sleepy closed",
            |e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "sleepy"),
        )
        .unwrap();
    assert!(matches!(
        closed,
        BrokerEvent::Closed {
            reason: CloseReason::KeepaliveTimeout,
            ..
        }
    ));
}

#[test]
fn pings_keep_a_connection_alive() {
    let broker = Broker::start().unwrap();
    let mut connect = Connect::new(V311, "pinger");
    connect.keep_alive = 2;
    let (mut c, _) = RawClient::connect(addr(&broker), connect);
    // Each gap is longer than the 3 s grace in total, but no single gap is.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1200));
        c.send(&Packet::PingReq);
        assert_eq!(c.recv(), Packet::PingResp);
    }
}

#[test]
fn credentials_are_checked() {
    let broker =
        Broker::start_with(BrokerConfig::default().with_credentials("user", "pw")).unwrap();
    let mut connect = Connect::new(V311, "c");
    let (mut c, ack) = RawClient::connect(addr(&broker), connect.clone());
    assert_eq!(ack.return_code, 5, "no credentials: not authorized");
    c.expect_closed(WAIT);
    connect.username = Some("user".into());
    connect.password = Some(b"wrong".to_vec());
    let (_, ack) = RawClient::connect(addr(&broker), connect.clone());
    assert_eq!(ack.return_code, 5);
    let mut v5 = connect.clone();
    v5.protocol = V5;
    let (_, ack) = RawClient::connect(addr(&broker), v5);
    assert_eq!(ack.return_code, 0x86, "MQTT 5: bad user name or password");
    connect.password = Some(b"pw".to_vec());
    let (_, ack) = RawClient::connect(addr(&broker), connect);
    assert_eq!(ack.return_code, 0);
}

#[test]
fn client_id_rules_and_protocol_errors() {
    let broker = Broker::start().unwrap();
    // 3.1.1: an empty id needs clean session.
    let (mut c, ack) = RawClient::connect_simple(addr(&broker), V311, "", false);
    assert_eq!(ack.return_code, 2);
    c.expect_closed(WAIT);
    // An unknown protocol level is refused with 1.
    let mut raw = RawClient::open(addr(&broker), V311);
    raw.send_bytes(&[0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 9, 2, 0, 60, 0, 0]);
    assert_eq!(
        raw.expect_closed(WAIT),
        vec![Packet::ConnAck(mqtt_tether::packet::ConnAck::new(false, 1))]
    );
    // A first packet other than CONNECT closes the connection.
    let mut raw = RawClient::open(addr(&broker), V311);
    raw.send(&Packet::PingReq);
    assert!(raw.expect_closed(WAIT).is_empty());
    // Wildcards in a PUBLISH topic are a protocol error.
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V311, "bad", true);
    // (Our encoder refuses such a topic, so the bytes are written by hand.)
    c.send_bytes(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#']);
    c.expect_closed(WAIT);
    // Malformed bytes close the connection; MQTT 5 says why first.
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V5, "junk", true);
    c.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    let seen = c.expect_closed(WAIT);
    assert!(
        matches!(seen.as_slice(), [Packet::Disconnect(d)] if d.reason_code.is_failure()),
        "{seen:?}"
    );
}

#[test]
fn session_takeover_closes_the_old_connection() {
    let broker = Broker::start().unwrap();
    let (mut old, _) = RawClient::connect_simple(addr(&broker), V5, "same", true);
    let (_new, ack) = RawClient::connect_simple(addr(&broker), V5, "same", true);
    assert_eq!(ack.return_code, 0);
    let seen = old.expect_closed(WAIT);
    assert!(matches!(seen.as_slice(), [Packet::Disconnect(d)] if d.reason_code.value() == 0x8E));
    broker
        .wait_for_event("takeover", |e| {
            matches!(
                e,
                BrokerEvent::Closed {
                    reason: CloseReason::TakenOver,
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(broker.connected_clients(), vec!["same"]);
}

#[test]
fn restart_on_the_same_port_keeps_or_discards_sessions() {
    let mut broker = Broker::start().unwrap();
    let port = broker.port();
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V311, "persist", false);
    c.subscribe(1, "p", QoS::AtLeastOnce);
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    p.publish("kept", b"retained", QoS::AtMostOnce, true, 0);
    p.sync();

    broker.restart(Restart::KeepSessions).unwrap();
    assert_eq!(broker.port(), port);
    assert!(
        matches!(c.recv_timeout(WAIT), Received::Closed),
        "restart cuts clients"
    );
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    p.publish("p", b"while away", QoS::AtLeastOnce, false, 1);
    let (mut c, ack) = RawClient::connect_simple(addr(&broker), V311, "persist", false);
    assert!(ack.session_present);
    assert_eq!(c.recv_publish().payload, b"while away");
    assert_eq!(broker.retained_topics(), vec!["kept"]);

    broker.restart(Restart::DiscardSessions).unwrap();
    assert_eq!(broker.port(), port);
    let (_c, ack) = RawClient::connect_simple(addr(&broker), V311, "persist", false);
    assert!(!ack.session_present);
    assert!(broker.retained_topics().is_empty());
    assert!(broker
        .events()
        .iter()
        .any(|e| matches!(e, BrokerEvent::Stopped)));
}

#[test]
fn stop_refuses_connections_until_started_again() {
    let mut broker = Broker::start().unwrap();
    let a = addr(&broker);
    broker.stop();
    assert!(!broker.is_running());
    assert!(std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err());
    broker.start_again(Restart::KeepSessions).unwrap();
    let (_c, ack) = RawClient::connect_simple(a, V311, "back", true);
    assert_eq!(ack.return_code, 0);
}

#[test]
fn event_log_records_packets_in_and_out_in_order() {
    let broker = Broker::start().unwrap();
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V311, "log", true);
    c.send(&Packet::PingReq);
    assert_eq!(c.recv(), Packet::PingResp);
    c.disconnect();
    broker
        .wait_for_event("close", |e| matches!(e, BrokerEvent::Closed { .. }))
        .unwrap();
    let kinds: Vec<String> = broker
        .events()
        .into_iter()
        .filter_map(|e| match e {
            BrokerEvent::PacketIn { packet, .. } => Some(format!("in {}", packet.packet_type())),
            BrokerEvent::PacketOut { packet, .. } => Some(format!("out {}", packet.packet_type())),
            BrokerEvent::Closed { reason, .. } => Some(format!("closed {reason:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "in CONNECT",
            "out CONNACK",
            "in PINGREQ",
            "out PINGRESP",
            "in DISCONNECT",
            "closed ClientDisconnect"
        ]
    );
}

#[cfg(unix)]
#[test]
fn serves_a_unix_socket() {
    use std::io::{Read, Write};
    let path = std::env::temp_dir().join(format!("tether-broker-{}.sock", std::process::id()));
    let broker = Broker::start_with(BrokerConfig::default().with_unix_path(&path)).unwrap();
    assert_eq!(broker.port(), 0);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&[0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0])
        .unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    drop(broker);
    assert!(!path.exists(), "the socket file is removed on drop");
}

fn limited(limits: BrokerLimits) -> Broker {
    Broker::start_with(BrokerConfig {
        limits,
        ..BrokerConfig::default()
    })
    .unwrap()
}

#[test]
fn taking_over_a_clean_session_does_not_report_or_keep_it() {
    let broker = Broker::start().unwrap();
    let (mut old, _) = RawClient::connect_simple(addr(&broker), V311, "twin", true);
    old.subscribe(1, "old/sub", QoS::AtMostOnce);
    let (mut new, ack) = RawClient::connect_simple(addr(&broker), V311, "twin", false);
    assert!(
        !ack.session_present,
        "the clean session ended with its connection"
    );
    old.expect_closed(WAIT);
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    p.publish("old/sub", b"x", QoS::AtMostOnce, false, 0);
    p.sync();
    new.expect_silence(Duration::from_millis(200));
}

#[test]
fn mqtt31_never_sets_the_reserved_session_present_bit() {
    let broker = Broker::start().unwrap();
    let v31 = ProtocolVersion::MQTTv31;
    let (c, _) = RawClient::connect_simple(addr(&broker), v31, "old-timer", false);
    c.disconnect();
    let (_c, ack) = RawClient::connect_simple(addr(&broker), v31, "old-timer", false);
    assert!(!ack.session_present);
    assert!(broker.has_session("old-timer"));
}

#[test]
fn v5_connack_announces_the_maximum_packet_size() {
    let broker = Broker::start().unwrap();
    let (_c, ack) = RawClient::connect_simple(addr(&broker), V5, "c", true);
    assert_eq!(ack.properties.maximum_packet_size(), Some(1 << 20));
}

#[test]
fn a_message_over_the_clients_maximum_packet_size_is_dropped_not_stuck() {
    let broker = Broker::start().unwrap();
    let mut connect = Connect::new(V5, "small");
    connect.properties.set(Property::ReceiveMaximum(1)).unwrap();
    connect
        .properties
        .set(Property::MaximumPacketSize(100))
        .unwrap();
    let (mut c, _) = RawClient::connect(addr(&broker), connect);
    c.subscribe(1, "big/#", QoS::AtLeastOnce);
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V5, "p", true);
    p.publish("big/1", &[7u8; 500], QoS::AtLeastOnce, false, 1);
    p.publish("big/2", b"small", QoS::AtLeastOnce, false, 2);
    let got = c.recv_publish();
    assert_eq!(
        got.payload, b"small",
        "the oversized message must not block the window"
    );
}

#[test]
fn resume_respects_a_smaller_receive_window() {
    let broker = Broker::start().unwrap();
    let mut connect = Connect::new(V5, "window");
    connect.clean_start = false;
    connect
        .properties
        .set(Property::SessionExpiryInterval(60))
        .unwrap();
    let (mut c, _) = RawClient::connect(addr(&broker), connect.clone());
    c.subscribe(1, "w", QoS::AtLeastOnce);
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V5, "p", true);
    p.publish("w", b"1", QoS::AtLeastOnce, false, 1);
    p.publish("w", b"2", QoS::AtLeastOnce, false, 2);
    let _ = c.recv_publish();
    let _ = c.recv_publish();
    c.abort();
    broker
        .wait_for_event(
            "window closed",
            |e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "window"),
        )
        .unwrap();
    connect.properties.set(Property::ReceiveMaximum(1)).unwrap();
    let (mut c, ack) = RawClient::connect(addr(&broker), connect);
    assert!(ack.session_present);
    let first = c.recv_publish();
    assert!(first.dup && first.payload == b"1");
    c.expect_silence(Duration::from_millis(200));
    c.ack(&first);
    let second = c.recv_publish();
    assert!(second.dup && second.payload == b"2", "{second:?}");
}

/// How long past its deadline the broker may take to close a connection that
/// drips bytes, and so how long the drip goes on past the deadline: a close
/// that only comes once the bytes stop proves nothing.
const DRIP_MARGIN: Duration = Duration::from_secs(1);

/// Far inside either deadline, so a broker that restarts its clock on every
/// byte never closes while the bytes drip in.
const DRIP_GAP: Duration = Duration::from_millis(100);

/// Sends `bytes` one at a time, `DRIP_GAP` apart, until the broker closes;
/// returns when the close came, counted from `since`. Fails if the connection
/// is still open `deadline + DRIP_MARGIN` after `since`, bytes still arriving.
fn closed_while_dripping(
    c: &mut RawClient,
    bytes: &[u8],
    since: Instant,
    deadline: Duration,
) -> Duration {
    let until = since + deadline + DRIP_MARGIN;
    let mut sent = 0;
    for &b in bytes {
        if Instant::now() >= until {
            break;
        }
        // The broker may close between two bytes: a write that fails is
        // that close.
        if !c.try_send_bytes(&[b]) {
            return since.elapsed();
        }
        sent += 1;
        if let Received::Closed = c.recv_timeout(DRIP_GAP) {
            return since.elapsed();
        }
    }
    panic!(
        "still open {:?} after the start ({deadline:?} deadline): {sent} byte(s) dripped in{}",
        since.elapsed(),
        if sent == bytes.len() {
            ", the drip ran out of bytes"
        } else {
            ""
        }
    );
}

#[test]
fn keepalive_counts_whole_packets_not_dripped_bytes() {
    let broker = Broker::start().unwrap();
    let mut connect = Connect::new(V311, "drip");
    connect.keep_alive = 1;
    let grace = Duration::from_millis(1500);
    // The broker's clock starts at the CONNECT, after this.
    let started = Instant::now();
    let (mut c, _) = RawClient::connect(addr(&broker), connect);
    // A PUBLISH that never completes: 127 bytes announced, sent one by one.
    let mut publish = vec![0x30u8, 0x7f, 0x00, 0x01, b'x'];
    publish.resize(2 + 127, b'p');
    let closed = closed_while_dripping(&mut c, &publish, started, grace);
    assert!(
        closed >= grace && closed < grace + DRIP_MARGIN,
        "closed {closed:?} after the CONNECT, keepalive grace {grace:?}"
    );
    broker
        .wait_for_event("the keepalive close", |e| {
            matches!(
                e,
                BrokerEvent::Closed {
                    reason: CloseReason::KeepaliveTimeout,
                    ..
                }
            )
        })
        .unwrap();
}

#[test]
fn the_connect_deadline_is_not_reset_by_dripped_bytes() {
    let connect_timeout = Duration::from_millis(500);
    let broker = Broker::start_with(BrokerConfig {
        connect_timeout,
        ..BrokerConfig::default()
    })
    .unwrap();
    // The broker's clock starts when it accepts the connection, after this.
    let started = Instant::now();
    let mut c = RawClient::open(addr(&broker), V311);
    // A CONNECT that never completes: 127 bytes announced, sent one by one.
    let mut connect = vec![
        0x10u8, 0x7f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 115,
    ];
    connect.resize(2 + 127, b'd');
    let closed = closed_while_dripping(&mut c, &connect, started, connect_timeout);
    assert!(
        closed >= connect_timeout && closed < connect_timeout + DRIP_MARGIN,
        "closed {closed:?} after the accept, connect timeout {connect_timeout:?}"
    );
    broker
        .wait_for_event("the connect-timeout close", |e| {
            matches!(
                e,
                BrokerEvent::Closed {
                    reason: CloseReason::ProtocolError(text),
                    ..
                } if text == "no CONNECT arrived in time"
            )
        })
        .unwrap();
}

#[test]
fn a_client_that_never_reads_is_disconnected_at_the_backlog_limit() {
    let broker = limited(BrokerLimits {
        max_backlog_bytes: 256 << 10,
        ..BrokerLimits::default()
    });
    let (mut c, _) = RawClient::connect_simple(addr(&broker), V311, "deaf", true);
    c.subscribe(1, "echo", QoS::AtMostOnce);
    // It publishes to itself and never reads: the socket buffers fill, then
    // the backlog, then the broker gives up on it.
    let chunk = Packet::Publish(Publish::new(
        "echo",
        vec![0u8; 16 << 10],
        QoS::AtMostOnce,
        0,
    ))
    .to_bytes(V311)
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut cut = false;
    while Instant::now() < deadline {
        if !c.try_send_bytes(&chunk) {
            cut = true;
            break;
        }
        if broker
            .events()
            .iter()
            .any(|e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "deaf"))
        {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "the broker kept buffering for a client that does not read"
    );
}

#[test]
fn the_event_log_keeps_to_its_byte_budget() {
    let budget = 200 << 10;
    let broker = limited(BrokerLimits {
        event_log_bytes: budget,
        ..BrokerLimits::default()
    });
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    // Three of these fit the budget, four do not; each payload says which
    // one it is.
    for i in 0..20u8 {
        p.publish("nobody/listens", &[i; 60 << 10], QoS::AtMostOnce, false, 0);
    }
    p.sync();
    let events = broker.events();
    let held: usize = events
        .iter()
        .map(|e| match e {
            BrokerEvent::PacketIn {
                packet: Packet::Publish(p),
                ..
            } => p.payload.len(),
            _ => 0,
        })
        .sum();
    assert!(held <= budget, "the log holds {held} payload bytes");
    // The oldest go first, and only as many as must: the log still holds the
    // newest entries that fit.
    let kept: Vec<String> = events
        .iter()
        .map(|e| match e {
            BrokerEvent::PacketIn {
                packet: Packet::Publish(p),
                ..
            } => format!("in PUBLISH {}", p.payload[0]),
            BrokerEvent::PacketIn { packet, .. } => format!("in {}", packet.packet_type()),
            BrokerEvent::PacketOut { packet, .. } => format!("out {}", packet.packet_type()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kept,
        [
            "in PUBLISH 17",
            "in PUBLISH 18",
            "in PUBLISH 19",
            "in PINGREQ",
            "out PINGRESP"
        ]
    );
}

#[test]
fn retained_messages_keep_to_their_byte_budget() {
    let broker = limited(BrokerLimits {
        max_retained_bytes: 10 << 10,
        ..BrokerLimits::default()
    });
    let (mut p, _) = RawClient::connect_simple(addr(&broker), V311, "p", true);
    p.publish("r/small", b"fits", QoS::AtLeastOnce, true, 1);
    p.publish("r/big", &[0u8; 20 << 10], QoS::AtLeastOnce, true, 2);
    assert_eq!(broker.retained_topics(), vec!["r/small"]);
}

#[test]
fn session_and_connection_limits_refuse_cleanly() {
    let broker = limited(BrokerLimits {
        max_sessions: 1,
        max_connections: 2,
        ..BrokerLimits::default()
    });
    let (_a, ack) = RawClient::connect_simple(addr(&broker), V311, "a", true);
    assert_eq!(ack.return_code, 0);
    let (mut b, ack) = RawClient::connect_simple(addr(&broker), V311, "b", true);
    assert_eq!(
        ack.return_code, 3,
        "server unavailable: no room for a session"
    );
    b.expect_closed(WAIT);
    let (_b5, ack) = RawClient::connect_simple(addr(&broker), V5, "b5", true);
    assert_eq!(ack.return_code, 0x97, "quota exceeded");
    drop(_b5);
    broker
        .wait_for_event(
            "b5 closed",
            |e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "b5"),
        )
        .unwrap();
    let _second = RawClient::open(addr(&broker), V311);
    let mut third = RawClient::open(addr(&broker), V311);
    third.expect_closed(WAIT);
    broker
        .wait_for_event("too many", |e| {
            matches!(
                e,
                BrokerEvent::Closed {
                    reason: CloseReason::TooManyConnections,
                    ..
                }
            )
        })
        .unwrap();
}
