//! Failover (issue 19): a list of brokers tried in rounds, the backoff once
//! per round, MQTT 5 Server References when asked for, and `stats()` counts
//! to the byte. Scripted brokers for the exact exchanges; two Mosquittos for
//! a broker killed mid-stream.
#![cfg(feature = "testing")]

mod common;

use std::collections::BTreeSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::client_with;
use common::hex;
use mqtt_tether::packet::{ConnAck, Disconnect, Packet, PacketType, Property};
use mqtt_tether::testing::{Mosquitto, MosquittoConfig, ScriptedBroker, ScriptedConnection};
use mqtt_tether::{
    Client, ClientOptions, ErrorCode, FailoverOrder, LogLevel, MessageInfo, ProtocolVersion,
    ReasonCode, Server,
};

/// Longer than any test here waits for a connection: an attempt that
/// waited for it instead of moving on would fail the test.
const LONG_DELAY: Duration = Duration::from_secs(60);
/// How long a test waits for what must happen at once (generous: a loaded
/// 2-core CI machine).
const WAIT: Duration = Duration::from_secs(10);

fn client(id: &str, protocol: ProtocolVersion) -> Client {
    client_with(ClientOptions {
        client_id: id.into(),
        protocol,
        ..ClientOptions::default()
    })
}

/// A loopback port nothing listens on (so a connect there is refused).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Every log line, for the test thread.
fn log_lines(c: &Client) -> Arc<Mutex<Vec<(LogLevel, String)>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    c.on_log(move |_, _, level, text| l.lock().unwrap().push((level, text.to_string())));
    lines
}

/// The server `connected_server()` named inside each `on_connect`, with
/// the reason code.
fn connects(c: &Client) -> mpsc::Receiver<(u8, Option<Server>)> {
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |client, _, _, rc, _| {
        let _ = tx.send((rc.value(), client.connected_server()));
    });
    rx
}

fn v5_connack(session_present: bool, code: u8, reference: Option<&str>) -> Packet {
    let mut ack = ConnAck::new(session_present, code);
    if let Some(r) = reference {
        ack.properties
            .set(Property::ServerReference(r.into()))
            .unwrap();
    }
    Packet::ConnAck(ack)
}

fn accept(broker: &ScriptedBroker) -> ScriptedConnection {
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn
}

#[test]
fn a_refused_or_unreachable_broker_moves_the_client_to_the_next_one_at_once() {
    let a = ScriptedBroker::bind().unwrap();
    let b = ScriptedBroker::bind().unwrap();
    let c = client("fo-round", ProtocolVersion::MQTTv311);
    c.reconnect_delay_set(LONG_DELAY, LONG_DELAY);
    let log = log_lines(&c);
    let connected = connects(&c);
    let dead = dead_port();
    c.failover_set(
        &[
            Server::tcp("127.0.0.1", a.port()),
            Server::tcp("127.0.0.1", b.port()),
        ],
        FailoverOrder::InOrder,
    )
    .unwrap();
    let t0 = Instant::now();
    c.connect_async("127.0.0.1", dead, 60).unwrap();
    assert_eq!(c.loop_start(), ErrorCode::Success);
    // The primary refuses the TCP connect; A answers, then refuses the
    // connection (3: server unavailable); B accepts. No reconnect delay in
    // between: the round is not used up.
    let mut conn_a = accept(&a);
    conn_a.send_bytes(&hex("20 02 00 03")).unwrap();
    let (rc, server) = connected.recv_timeout(WAIT).unwrap();
    // Paho's VERSION2 on_connect gets CONNACK 3 as 136, Server unavailable.
    assert_eq!(
        (rc, server),
        (136, Some(Server::tcp("127.0.0.1", a.port())))
    );
    let mut conn_b = accept(&b);
    conn_b.send_bytes(&hex("20 02 00 00")).unwrap();
    let (rc, server) = connected.recv_timeout(WAIT).unwrap();
    assert!(t0.elapsed() < WAIT, "a reconnect delay was waited");
    assert_eq!((rc, server), (0, Some(Server::tcp("127.0.0.1", b.port()))));
    let expected = format!("Connected to tcp://127.0.0.1:{}", b.port());
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|(level, l)| *level == LogLevel::Info && *l == expected),
        "no {expected:?} in {:?}",
        log.lock().unwrap()
    );
    let stats = c.stats();
    assert_eq!(stats.counters.connects, 1);
    assert_eq!(
        stats.counters.connect_failures, 1,
        "the primary's refused TCP connect"
    );
    assert_eq!(stats.counters.disconnects.refused, 1, "A's CONNACK 3");
    assert_eq!(stats.server, Some(Server::tcp("127.0.0.1", b.port())));
    assert!(stats.last_connack.is_some());
    let _ = c.disconnect();
    let _ = c.loop_stop();
    assert_eq!(c.connected_server(), None);
}

/// CONNACK 0x9C (Use another server) with a Server Reference to B, from A,
/// the primary; returns the connection A refused.
fn refused_with_a_reference(c: &Client, a: &ScriptedBroker, b: &ScriptedBroker) {
    c.connect_async("127.0.0.1", a.port(), 60).unwrap();
    assert_eq!(c.loop_start(), ErrorCode::Success);
    let mut conn = accept(a);
    let reference = format!("127.0.0.1:{}", b.port());
    conn.send_packet(&v5_connack(false, 0x9C, Some(&reference)))
        .unwrap();
    conn.expect_close().unwrap();
}

#[test]
fn a_connack_server_reference_is_followed_at_once_when_asked() {
    let a = ScriptedBroker::bind().unwrap();
    let b = ScriptedBroker::bind().unwrap();
    let c = client("fo-ref-on", ProtocolVersion::MQTTv5);
    c.reconnect_delay_set(LONG_DELAY, LONG_DELAY);
    c.follow_server_reference_set(true);
    let connected = connects(&c);
    let log = log_lines(&c);
    refused_with_a_reference(&c, &a, &b);
    assert_eq!(connected.recv_timeout(WAIT).unwrap().0, 0x9C);
    let mut conn = accept(&b);
    conn.send_packet(&v5_connack(false, 0, None)).unwrap();
    let (rc, server) = connected.recv_timeout(WAIT).unwrap();
    assert_eq!((rc, server), (0, Some(Server::tcp("127.0.0.1", b.port()))));
    assert!(
        log.lock().unwrap().iter().any(|(_, l)| l
            == &format!(
                "Server Reference from tcp://127.0.0.1:{}: \"127.0.0.1:{}\"",
                a.port(),
                b.port()
            )),
        "{:?}",
        log.lock().unwrap()
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn a_connack_server_reference_is_not_followed_unless_asked() {
    let a = ScriptedBroker::bind().unwrap();
    let b = ScriptedBroker::bind().unwrap();
    let c = client("fo-ref-off", ProtocolVersion::MQTTv5);
    c.reconnect_delay_set(Duration::from_millis(200), Duration::from_millis(200));
    let log = log_lines(&c);
    refused_with_a_reference(&c, &a, &b);
    // After the reconnect delay the client comes back to A, never to B.
    let mut conn = accept(&a);
    conn.send_packet(&v5_connack(false, 0, None)).unwrap();
    b.expect_no_connection(Duration::from_millis(500)).unwrap();
    let expected = format!(
        "tcp://127.0.0.1:{} refers to \"127.0.0.1:{}\": not followed (follow_server_reference_set)",
        a.port(),
        b.port()
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|(level, l)| *level == LogLevel::Warning && *l == expected),
        "{:?}",
        log.lock().unwrap()
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn a_disconnect_server_reference_moves_a_connected_client_and_bad_entries_are_logged() {
    let a = ScriptedBroker::bind().unwrap();
    let b = ScriptedBroker::bind().unwrap();
    let c = client("fo-ref-disc", ProtocolVersion::MQTTv5);
    c.reconnect_delay_set(LONG_DELAY, LONG_DELAY);
    c.follow_server_reference_set(true);
    let connected = connects(&c);
    let log = log_lines(&c);
    assert_eq!(
        c.connect("127.0.0.1", a.port(), 60).unwrap(),
        ErrorCode::Success
    );
    assert_eq!(c.loop_start(), ErrorCode::Success);
    let mut conn = accept(&a);
    conn.send_packet(&v5_connack(false, 0, None)).unwrap();
    assert_eq!(connected.recv_timeout(WAIT).unwrap().0, 0);
    let mut d = Disconnect::new(ReasonCode::from_value(PacketType::Disconnect, 0x9D).unwrap());
    d.properties
        .set(Property::ServerReference(format!(
            "[::1 nowhere:port 127.0.0.1:{}",
            b.port()
        )))
        .unwrap();
    conn.send_packet(&Packet::Disconnect(d)).unwrap();
    let mut conn = accept(&b);
    conn.send_packet(&v5_connack(false, 0, None)).unwrap();
    let (rc, server) = connected.recv_timeout(WAIT).unwrap();
    assert_eq!((rc, server), (0, Some(Server::tcp("127.0.0.1", b.port()))));
    let warnings: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, _)| *level == LogLevel::Warning)
        .map(|(_, l)| l.clone())
        .collect();
    let from = format!("tcp://127.0.0.1:{}", a.port());
    for bad in [
        "\"[::1\" (no closing bracket)",
        "\"nowhere:port\" (bad port)",
    ] {
        let line = format!("Server Reference from {from}: ignored {bad}");
        assert!(warnings.contains(&line), "no {line:?} in {warnings:?}");
    }
    assert_eq!(c.stats().counters.disconnects.by_server, 1);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Item 2: exact counts for a scripted MQTT 5 exchange: 3 QoS 1 messages
/// sent, one refused (PUBACK 0x87), the connection cut with one unanswered,
/// which is re-sent (DUP) on the next connection; 2 messages received.
#[test]
fn stats_count_a_scripted_exchange_to_the_byte() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("fo-stats", ProtocolVersion::MQTTv5);
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(50));
    let connected = connects(&c);
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        ErrorCode::Success
    );
    assert_eq!(c.loop_start(), ErrorCode::Success);
    let mut conn = accept(&broker);
    conn.send_packet(&v5_connack(false, 0, None)).unwrap();
    assert_eq!(connected.recv_timeout(WAIT).unwrap().0, 0);
    let infos: Vec<MessageInfo> = ["a", "b", "c"]
        .iter()
        .map(|p| c.publish("t", *p, 1, false).unwrap())
        .collect();
    // 9 bytes each: 32 07, topic 00 01 74, id, no properties, payload.
    for (mid, p) in [(1, "61"), (2, "62"), (3, "63")] {
        conn.expect_bytes(&hex(&format!("32 07 00 01 74 00 0{mid} 00 {p}")))
            .unwrap();
    }
    let in_the_air = c.stats();
    assert_eq!((in_the_air.in_flight, in_the_air.queued), (3, 0));
    // A QoS 1 message (11 bytes) and a QoS 0 one (7 bytes) to the client.
    let to_client = hex("32 09 00 01 75 00 07 00 71 71 71 30 05 00 01 75 00 30");
    conn.send_bytes(&to_client).unwrap();
    conn.expect_bytes(&hex("40 02 00 07")).unwrap();
    // PUBACK 1 success, PUBACK 2 0x87 Not authorized, then the cut.
    let acks = hex("40 02 00 01 40 04 00 02 87 00");
    conn.send_bytes(&acks).unwrap();
    infos[0].wait_for_publish(Some(WAIT)).unwrap();
    assert!(infos[1].wait_for_publish(Some(WAIT)).is_err());
    drop(conn);
    let mut conn = accept(&broker);
    conn.send_packet(&v5_connack(true, 0, None)).unwrap();
    assert_eq!(connected.recv_timeout(WAIT).unwrap().0, 0);
    conn.expect_bytes(&hex("3a 07 00 01 74 00 03 00 63"))
        .unwrap();
    conn.send_bytes(&hex("40 02 00 03")).unwrap();
    infos[2].wait_for_publish(Some(WAIT)).unwrap();
    let s = c.stats();
    assert_eq!(s.counters.connects, 2);
    assert_eq!(s.counters.disconnects.lost, 1);
    assert_eq!(s.counters.sent[1].messages, 4, "3 messages and 1 re-send");
    assert_eq!(s.counters.sent[1].bytes, 4 * 9);
    assert_eq!(s.counters.resent, 1);
    assert_eq!(s.counters.refused, 1);
    assert_eq!(
        (s.counters.sent[0].messages, s.counters.sent[2].messages),
        (0, 0)
    );
    assert_eq!(s.counters.received[1].messages, 1);
    assert_eq!(s.counters.received[1].bytes, 11);
    assert_eq!(s.counters.received[0].messages, 1);
    assert_eq!(s.counters.received[0].bytes, 7);
    // Both CONNACKs (v5 success, no properties: 20 03 xx 00 00, 5 bytes).
    assert_eq!(
        s.counters.bytes_received,
        (5 + to_client.len() + acks.len() + 5 + 4) as u64
    );
    assert_eq!((s.in_flight, s.queued), (0, 0));
    assert_eq!(s.server, Some(Server::tcp("127.0.0.1", broker.port())));
    let line = s.to_string();
    assert!(
        line.contains(
            " sent=q0:0/0B,q1:4/36B,q2:0/0B received=q0:1/7B,q1:1/11B,q2:0/0B resent=1 refused=1 "
        ),
        "{line}"
    );
    assert_eq!(c.disconnect(), ErrorCode::Success);
    let _ = c.loop_stop();
    assert_eq!(c.stats().counters.disconnects.requested, 1);
}

/// Item 1 with the real broker: two Mosquittos; the first is killed while
/// a publisher streams QoS 1 messages to a subscriber. Both move to the
/// second within one backoff step; the subscriber (automatic resubscribe)
/// keeps receiving; every message published while the publisher had no
/// broker is delivered.
#[test]
fn killing_the_first_mosquitto_moves_publisher_and_subscriber_to_the_second() {
    let Some(mut m1) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let Some(m2) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let second = Server::tcp("127.0.0.1", m2.port());
    // The subscriber comes back faster than the publisher, so it has
    // subscribed on the second broker before the queued messages reach it.
    let sub_delay = Duration::from_millis(100);
    let pub_delay = Duration::from_millis(1500);

    let sub = client("fo-sub", ProtocolVersion::MQTTv311);
    sub.reconnect_delay_set(sub_delay, sub_delay);
    sub.auto_resubscribe_set(true);
    sub.failover_set(std::slice::from_ref(&second), FailoverOrder::InOrder)
        .unwrap();
    let (msg_tx, received) = mpsc::channel();
    sub.on_message(move |client, _, m| {
        let _ = msg_tx.send((
            String::from_utf8_lossy(&m.payload).to_string(),
            client.connected_server(),
        ));
    });
    let (suback_tx, subacks) = mpsc::channel();
    sub.on_subscribe(move |client, _, _, _, _| {
        let _ = suback_tx.send(client.connected_server());
    });
    let sub_connects = connects(&sub);
    assert_eq!(
        sub.connect("127.0.0.1", m1.port(), 60).unwrap(),
        ErrorCode::Success
    );
    assert_eq!(sub.loop_start(), ErrorCode::Success);
    assert_eq!(sub_connects.recv_timeout(WAIT).unwrap().0, 0);
    assert_eq!(sub.subscribe("fo/stream", 1).unwrap().0, ErrorCode::Success);
    subacks.recv_timeout(WAIT).unwrap();

    let publisher = client("fo-pub", ProtocolVersion::MQTTv311);
    publisher.reconnect_delay_set(pub_delay, pub_delay);
    publisher
        .failover_set(std::slice::from_ref(&second), FailoverOrder::InOrder)
        .unwrap();
    let (ack_tx, acked_by) = mpsc::channel();
    publisher.on_publish(move |client, _, mid, _, _| {
        let _ = ack_tx.send((mid, client.connected_server()));
    });
    let (pub_tx, pub_connects) = mpsc::channel();
    publisher.on_connect(move |client, _, _, rc, _| {
        let _ = pub_tx.send((Instant::now(), rc.value(), client.connected_server()));
    });
    assert_eq!(
        publisher.connect("127.0.0.1", m1.port(), 60).unwrap(),
        ErrorCode::Success
    );
    assert_eq!(publisher.loop_start(), ErrorCode::Success);
    assert_eq!(pub_connects.recv_timeout(WAIT).unwrap().1, 0);

    const N: usize = 600;
    let mut infos = Vec::new();
    let mut offline = BTreeSet::new();
    let mut killed_at = None;
    for i in 0..N {
        let info = publisher
            .publish("fo/stream", format!("{i}"), 1, false)
            .unwrap();
        if info.rc() == ErrorCode::NoConn {
            offline.insert(i.to_string());
        }
        infos.push(info);
        if i == N / 4 {
            m1.kill().unwrap();
            killed_at = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed_at = killed_at.unwrap();
    let (at, rc, server) = pub_connects.recv_timeout(WAIT).unwrap();
    assert_eq!((rc, server), (0, Some(second.clone())));
    let moved_in = at - killed_at;
    eprintln!("publisher: from the kill to the second broker's CONNACK: {moved_in:?}");
    // One backoff step, plus a refused connect to the dead broker and a
    // connect to the live one: a generous margin for a loaded machine.
    assert!(
        moved_in < pub_delay + Duration::from_secs(3),
        "{moved_in:?}"
    );
    for info in &infos {
        info.wait_for_publish(Some(WAIT)).unwrap();
    }
    assert!(
        !offline.is_empty(),
        "some messages were published while the publisher had no broker"
    );
    let mut by_second = BTreeSet::new();
    while let Ok((mid, server)) = acked_by.try_recv() {
        if server.as_ref() == Some(&second) {
            by_second.insert(mid);
        }
    }
    let acked_by_second: BTreeSet<String> = infos
        .iter()
        .enumerate()
        .filter(|(_, info)| by_second.contains(&info.mid()))
        .map(|(i, _)| i.to_string())
        .collect();
    // Every message the second broker acknowledged reaches the subscriber.
    let deadline = Instant::now() + WAIT;
    let mut got = BTreeSet::new();
    let mut from_first = 0;
    while !acked_by_second.is_subset(&got) && Instant::now() < deadline {
        if let Ok((payload, server)) = received.recv_timeout(Duration::from_millis(100)) {
            if server.as_ref() == Some(&second) {
                got.insert(payload);
            } else {
                from_first += 1;
            }
        }
    }
    let missing: Vec<_> = acked_by_second.difference(&got).collect();
    assert!(missing.is_empty(), "not received: {missing:?}");
    assert!(offline.is_subset(&acked_by_second), "{offline:?}");
    assert!(
        from_first > 0,
        "the subscriber received from the first broker"
    );
    eprintln!(
        "{} messages: {} published while offline, {} acknowledged by the second broker, {} received from it (distinct), {} from the first",
        N,
        offline.len(),
        acked_by_second.len(),
        got.len(),
        from_first
    );
    let stats = publisher.stats();
    assert_eq!(stats.counters.connects, 2);
    assert!(stats.counters.connect_failures >= 1, "{stats}");
    assert_eq!(sub.stats().counters.connects, 2);
    assert_eq!(subacks.recv_timeout(WAIT).unwrap(), Some(second.clone()));
    for c in [&publisher, &sub] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn connect_goes_on_to_the_next_server_when_one_cannot_be_reached() {
    let b = ScriptedBroker::bind().unwrap();
    let c = client("fo-connect", ProtocolVersion::MQTTv311);
    let log = log_lines(&c);
    c.failover_set(
        &[Server::tcp("127.0.0.1", b.port())],
        FailoverOrder::InOrder,
    )
    .unwrap();
    // As Paho C's connect with serverURIs: no error while one server is left.
    assert_eq!(
        c.connect("127.0.0.1", dead_port(), 60).unwrap(),
        ErrorCode::Success
    );
    assert_eq!(
        c.connected_server(),
        Some(Server::tcp("127.0.0.1", b.port()))
    );
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|(level, l)| *level == LogLevel::Warning && l.starts_with("Connection failed: ")));
    let mut conn = accept(&b);
    assert_eq!(c.loop_start(), ErrorCode::Success);
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    // Every server unreachable: the last one's error.
    let c = client("fo-connect-none", ProtocolVersion::MQTTv311);
    c.failover_set(
        &[Server::tcp("127.0.0.1", dead_port())],
        FailoverOrder::InOrder,
    )
    .unwrap();
    assert!(c.connect("127.0.0.1", dead_port(), 60).is_err());
    assert_eq!(c.stats().counters.connect_failures, 2);
}
