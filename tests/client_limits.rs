//! What an application sees of the broker's MQTT 5 limits and refusals,
//! through the public `Client` against a `ScriptedBroker` (issue 15): a
//! refusing acknowledgement fails `wait_for_publish` with the broker's
//! reason while `rc` stays Paho's; a call a limit forbids gets a clear rc,
//! one WARNING `on_log` line naming the limit, and nothing on the wire; a
//! message stored before the CONNACK that forbids it ends with a stated
//! outcome and an `on_publish` carrying the reason.
#![cfg(feature = "testing")]

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::client_with;
use mqtt_tether::packet::{ConnAck, Packet, PacketType, Property};
use mqtt_tether::testing::{ScriptedBroker, ScriptedConnection};
use mqtt_tether::{
    Client, ClientOptions, ErrorCode, LogLevel, Outcome, ProtocolVersion, ReasonCode,
};

const WAIT: Duration = Duration::from_secs(5);

fn v5(id: &str) -> Client {
    client_with(ClientOptions {
        client_id: id.into(),
        protocol: ProtocolVersion::MQTTv5,
        ..ClientOptions::default()
    })
}

/// The WARNING lines `on_log` got, recorded for the test thread.
fn warnings(c: &Client) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    c.on_log(move |_, _, level, text| {
        if level == LogLevel::Warning {
            l.lock().unwrap().push(text.to_string());
        }
    });
    lines
}

/// Connects `c` (loop started) and answers with a v5 CONNACK carrying
/// `props`; returns once the client has taken it.
fn connect_v5(c: &Client, broker: &ScriptedBroker, props: &[Property]) -> ScriptedConnection {
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    let mut ack = ConnAck::new(false, 0);
    for p in props {
        ack.properties.set(p.clone()).unwrap();
    }
    conn.send_packet(&Packet::ConnAck(ack)).unwrap();
    let t = Instant::now();
    while c.broker_limits().is_none() {
        assert!(t.elapsed() < WAIT, "no CONNACK processed");
        std::thread::sleep(Duration::from_millis(5));
    }
    conn
}

fn reason(t: PacketType, value: u8) -> ReasonCode {
    ReasonCode::from_value(t, value).unwrap()
}

/// Item 2: PUBACK 0x87 and PUBREC 0x97 end their messages as refused:
/// `wait_for_publish` and `is_published` fail naming the reason,
/// `outcome()` is `Refused(reason)`, `rc()` stays `MQTT_ERR_SUCCESS` (as
/// Paho's) and `on_publish` gets the reason (as Paho's). A PUBACK 0x10 (No
/// matching subscribers, a success) is `Published`.
#[test]
fn a_refusing_acknowledgement_fails_the_wait_with_the_brokers_reason() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = v5("refused");
    let (tx, on_publish) = mpsc::channel();
    c.on_publish(move |_, _, mid, rc, _| {
        let _ = tx.send((mid, rc.value()));
    });
    let mut conn = connect_v5(&c, &broker, &[]);
    let denied = c.publish("a", "1", 1, false).unwrap();
    let quota = c.publish("b", "2", 2, false).unwrap();
    let fine = c.publish("c", "3", 1, false).unwrap();
    for _ in 0..3 {
        assert!(matches!(conn.read_packet().unwrap(), Packet::Publish(_)));
    }
    conn.send_bytes(&[0x40, 3, 0, 1, 0x87]).unwrap();
    conn.send_bytes(&[0x50, 3, 0, 2, 0x97]).unwrap();
    conn.send_bytes(&[0x40, 3, 0, 3, 0x10]).unwrap();
    let err = denied.wait_for_publish(Some(WAIT)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Message publish failed: the broker refused it: Not authorized (135)"
    );
    assert!(quota.wait_for_publish(Some(WAIT)).is_err());
    fine.wait_for_publish(Some(WAIT)).unwrap();
    assert_eq!(
        denied.outcome(),
        Outcome::Refused(reason(PacketType::PubAck, 0x87))
    );
    assert_eq!(
        quota.outcome(),
        Outcome::Refused(reason(PacketType::PubRec, 0x97))
    );
    assert_eq!(fine.outcome(), Outcome::Published);
    assert_eq!(
        (denied.rc(), quota.rc()),
        (ErrorCode::Success, ErrorCode::Success)
    );
    assert!(denied.is_published().is_err());
    assert!(fine.is_published().unwrap());
    conn.expect_silence(Duration::from_millis(100)).unwrap();
    let seen: Vec<(u16, u8)> = (0..3)
        .map(|_| on_publish.recv_timeout(WAIT).unwrap())
        .collect();
    assert_eq!(seen, [(1, 0x87), (2, 0x97), (3, 0x10)]);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// The same refusal read by the loop with no `on_publish` set (the
/// acknowledgement is completed by whichever thread reads it).
#[test]
fn a_refusal_is_stated_without_on_publish_too() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = v5("refused-quiet");
    let mut conn = connect_v5(&c, &broker, &[]);
    let info = c.publish("a", "1", 1, false).unwrap();
    assert!(matches!(conn.read_packet().unwrap(), Packet::Publish(_)));
    conn.send_bytes(&[0x40, 3, 0, 1, 0x97]).unwrap();
    assert!(info.wait_for_publish(Some(WAIT)).is_err());
    assert_eq!(
        info.outcome(),
        Outcome::Refused(reason(PacketType::PubAck, 0x97))
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Item 4 and the rest of the CONNACK, at the call: Maximum QoS 1 and
/// Retain Available 0 refuse with `MQTT_ERR_NOT_SUPPORTED`, Maximum Packet
/// Size with `MQTT_ERR_PAYLOAD_SIZE`, Wildcard Subscription Available 0
/// refuses a subscribe with no mid; each with one WARNING line naming the
/// limit, nothing sent, and the connection kept.
#[test]
fn calls_a_limit_forbids_get_a_clear_rc_a_warning_and_send_nothing() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = v5("limits");
    let lines = warnings(&c);
    let mut conn = connect_v5(
        &c,
        &broker,
        &[
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::MaximumPacketSize(64),
            Property::WildcardSubscriptionAvailable(0),
            Property::AssignedClientIdentifier("given".into()),
        ],
    );
    let limits = c.broker_limits().unwrap();
    assert_eq!(limits.assigned_client_identifier.as_deref(), Some("given"));
    let qos2 = c.publish("t", "x", 2, false).unwrap();
    let retained = c.publish("t", "x", 1, true).unwrap();
    let big = c.publish("t", vec![0u8; 100], 0, false).unwrap();
    let wildcard = c.subscribe("a/#", 1).unwrap();
    assert_eq!(
        (qos2.rc(), retained.rc(), big.rc()),
        (
            ErrorCode::NotSupported,
            ErrorCode::NotSupported,
            ErrorCode::PayloadSize
        )
    );
    assert_eq!(
        qos2.outcome(),
        Outcome::NotSupported(reason(PacketType::Disconnect, 0x9B))
    );
    assert_eq!(big.outcome(), Outcome::TooLarge);
    assert_eq!(wildcard, (ErrorCode::NotSupported, None));
    let err = qos2.wait_for_publish(Some(WAIT)).unwrap_err().to_string();
    assert_eq!(
        err,
        "Message publish failed: This feature is not supported. (QoS not supported)"
    );
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    assert!(c.is_connected());
    let ok = c.publish("t", "fits", 1, false).unwrap();
    assert_eq!(ok.rc(), ErrorCode::Success);
    assert!(matches!(conn.read_packet().unwrap(), Packet::Publish(p) if p.payload == b"fits"));
    let _ = c.disconnect();
    let _ = c.loop_stop();
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (line, limit) in lines.iter().zip([
        "Maximum QoS of 1",
        "Retain Available 0",
        "Maximum Packet Size of 64",
        "Wildcard Subscription Available 0",
    ]) {
        assert!(line.contains(limit), "{line:?} names {limit:?}");
    }
}

/// Items 3 and 4 through the client: messages stored while offline that
/// the first CONNACK's limits forbid are never sent; each ends with its
/// stated outcome and an `on_publish` carrying the DISCONNECT reason a
/// broker would have used; the one that fits goes, and the connection
/// stays up (Paho: disconnect, reconnect, send again, for ever).
#[test]
fn stored_messages_the_connack_forbids_end_stated_and_the_rest_goes() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = v5("stored");
    let (tx, on_publish) = mpsc::channel();
    c.on_publish(move |_, _, mid, rc, _| {
        let _ = tx.send((mid, rc.value()));
    });
    let big = c.publish("t", vec![7u8; 300], 1, false).unwrap();
    let qos2 = c.publish("t", "two", 2, false).unwrap();
    let fits = c.publish("t", "one", 1, false).unwrap();
    assert_eq!(big.rc(), ErrorCode::NoConn, "stored while offline, as Paho");
    let mut conn = connect_v5(
        &c,
        &broker,
        &[Property::MaximumPacketSize(256), Property::MaximumQoS(1)],
    );
    match conn.read_packet().unwrap() {
        Packet::Publish(p) => assert_eq!((p.payload.as_slice(), p.packet_id), (&b"one"[..], 3)),
        other => panic!("{other:?}"),
    }
    conn.send_bytes(&[0x40, 2, 0, 3]).unwrap();
    fits.wait_for_publish(Some(WAIT)).unwrap();
    assert!(big.wait_for_publish(Some(WAIT)).is_err());
    assert_eq!(big.outcome(), Outcome::TooLarge);
    assert_eq!(
        qos2.outcome(),
        Outcome::NotSupported(reason(PacketType::Disconnect, 0x9B))
    );
    let mut seen: Vec<(u16, u8)> = (0..3)
        .map(|_| on_publish.recv_timeout(WAIT).unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [(1, 0x95), (2, 0x9B), (3, 0)]);
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    assert!(c.is_connected());
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Items 1 and 3 across a reconnect, byte-exact on the ScriptedBroker: 3
/// messages in flight under Receive Maximum 3 (a fourth queued), the
/// connection cut, and the new CONNACK announces Receive Maximum 1 and
/// Maximum Packet Size 256. Exactly one message goes again (the oldest, as
/// a DUP), the next only after its PUBACK; the 300-byte message that no
/// longer fits is never sent and ends `TooLarge` with `on_publish` 0x95;
/// the queued one follows the re-sends, not a DUP. (Before: all three
/// went again at once, the large one on every reconnect.)
#[test]
fn a_reconnect_to_smaller_limits_resends_within_them_and_fails_what_no_longer_fits() {
    use mqtt_tether::packet::{Publish, QoS};
    let broker = ScriptedBroker::bind().unwrap();
    let c = v5("shrink");
    c.reconnect_delay_set(Duration::from_millis(20), Duration::from_millis(100));
    let (tx, on_publish) = mpsc::channel();
    c.on_publish(move |_, _, mid, rc, _| {
        let _ = tx.send((mid, rc.value()));
    });
    let mut conn = connect_v5(&c, &broker, &[Property::ReceiveMaximum(3)]);
    let a = c.publish("a", "1", 1, false).unwrap();
    let big = c.publish("b", vec![b'x'; 300], 1, false).unwrap();
    let cc = c.publish("c", "3", 1, false).unwrap();
    let d = c.publish("d", "4", 1, false).unwrap();
    for mid in 1..=3 {
        assert!(matches!(conn.read_packet().unwrap(), Packet::Publish(p) if p.packet_id == mid));
    }
    conn.expect_silence(Duration::from_millis(100)).unwrap();
    conn.close();

    let mut conn = broker.accept().unwrap();
    assert!(
        !conn.expect_connect().unwrap().clean_start,
        "the session is kept"
    );
    let mut ack = ConnAck::new(true, 0);
    ack.properties.set(Property::ReceiveMaximum(1)).unwrap();
    ack.properties
        .set(Property::MaximumPacketSize(256))
        .unwrap();
    conn.send_packet(&Packet::ConnAck(ack)).unwrap();
    let publish = |topic: &str, payload: &str, mid: u16, dup: bool| {
        let mut p = Publish::new(topic, payload.as_bytes().to_vec(), QoS::AtLeastOnce, mid);
        p.dup = dup;
        Packet::Publish(p)
    };
    conn.expect_packet(&publish("a", "1", 1, true)).unwrap();
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    conn.send_bytes(&[0x40, 2, 0, 1]).unwrap();
    conn.expect_packet(&publish("c", "3", 3, true)).unwrap();
    conn.expect_silence(Duration::from_millis(100)).unwrap();
    conn.send_bytes(&[0x40, 2, 0, 3]).unwrap();
    conn.expect_packet(&publish("d", "4", 4, false)).unwrap();
    conn.send_bytes(&[0x40, 2, 0, 4]).unwrap();
    for info in [&a, &cc, &d] {
        info.wait_for_publish(Some(WAIT)).unwrap();
    }
    assert!(big.wait_for_publish(Some(WAIT)).is_err());
    assert_eq!(big.outcome(), Outcome::TooLarge);
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    let mut seen: Vec<(u16, u8)> = (0..4)
        .map(|_| on_publish.recv_timeout(WAIT).unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [(1, 0), (2, 0x95), (3, 0), (4, 0)]);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}
