//! The limits a real broker announces, honoured end to end (issue 15):
//! Mosquitto started with `max_inflight_messages 2`, `max_packet_size 256`,
//! `max_qos 1` and `retain_available false` announces Receive Maximum 2,
//! Maximum Packet Size 256, Maximum QoS 1 and Retain Available 0 in its
//! MQTT 5 CONNACK (checked here). An MQTT 5 publisher bursts 500 QoS 1 and
//! 500 QoS 2 messages, some over 256 bytes and some retained, right after
//! `connect` + `loop_start` (before the CONNACK) and while offline, through
//! a fault proxy that cuts its connection every 100 to 500 ms. Checked:
//!
//! * every message ends with an outcome: the ordinary QoS 1 ones
//!   `Published`, the large ones `TooLarge`, the retained ones and every
//!   QoS 2 one `NotSupported` with the reason the broker would have
//!   disconnected for (0x9A, 0x9B), stated at `publish` or, for a message
//!   stored before the CONNACK, through `on_publish`;
//! * a subscriber connected to Mosquitto directly (QoS 1 subscription, kept
//!   session) receives every published message, none of the refused ones,
//!   and the first copies in publish order; later copies are the QoS 1
//!   re-sends of a reconnect, at most the Receive Maximum per reconnect;
//! * Mosquitto's log shows the publisher's messages first received in
//!   publish order, no client disconnected for breaking a limit or the
//!   protocol, and no PUBACK refusing a message (0x97 Quota exceeded, ...).
//!
//! A second test runs the same burst without faults and asserts the figures:
//! one connection (no reconnect), nothing lost, nothing out of order, no
//! copy, and how many messages each refusal ended.
#![cfg(feature = "testing")]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::client_with;
use mqtt_tether::testing::{FaultProxy, Mosquitto, MosquittoConfig};
use mqtt_tether::{
    Client, ClientOptions, ConnectOptions, ErrorCode, MessageInfo, Outcome, PacketType, Properties,
    Property, ProtocolVersion, ReasonCode,
};

/// How long one step (a CONNACK, a SUBACK) may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long every message may take to reach its outcome: a watchdog.
const BURST_WAIT: Duration = Duration::from_secs(15);
/// The proxy's latency each way (a round trip takes twice that).
const LATENCY: Duration = Duration::from_millis(5);
/// Messages per QoS in the burst.
const N: usize = 500;
/// The announced limits, as configured below.
const RECEIVE_MAXIMUM: usize = 2;
const MAXIMUM_PACKET_SIZE: usize = 256;

const TOPIC_Q1: &str = "limits/q1";
const TOPIC_Q2: &str = "limits/q2";

fn limited_mosquitto() -> Option<Mosquitto> {
    Mosquitto::start_or_skip(
        MosquittoConfig::default()
            .line("max_inflight_messages 2")
            .line(format!("max_packet_size {MAXIMUM_PACKET_SIZE}"))
            .line("max_qos 1")
            .line("retain_available false"),
    )
}

/// What the QoS 1 message `i` of the burst is, and so how it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ordinary,
    /// Over the Maximum Packet Size.
    Large,
    /// Retained, which the broker does not take.
    Retained,
}

fn kind(i: usize) -> Kind {
    match i % 50 {
        7 => Kind::Large,
        32 => Kind::Retained,
        _ => Kind::Ordinary,
    }
}

/// The payload of QoS 1 message `i`: its sequence number first.
fn q1_payload(i: usize) -> String {
    match kind(i) {
        Kind::Large => format!("{i}-{}", "x".repeat(MAXIMUM_PACKET_SIZE)),
        _ => i.to_string(),
    }
}

fn reason(t: PacketType, value: u8) -> ReasonCode {
    ReasonCode::from_value(t, value).unwrap()
}

/// An MQTT 5 client with a session that outlives its connection (5
/// minutes), so a cut neither loses the subscriber's queue nor starts the
/// publisher's session anew.
fn v5_client(id: &str) -> Client {
    let c = client_with(ClientOptions {
        client_id: id.into(),
        protocol: ProtocolVersion::MQTTv5,
        ..ClientOptions::default()
    });
    c.reconnect_delay_set(Duration::from_millis(10), Duration::from_millis(100));
    c
}

/// Connects `c` with a kept session and, if given, announces a Receive
/// Maximum of its own.
fn persistent_connect(c: &Client, port: u16, receive_maximum: Option<u16>) {
    let mut properties = Properties::new(PacketType::Connect);
    properties
        .set(Property::SessionExpiryInterval(300))
        .unwrap();
    if let Some(n) = receive_maximum {
        properties.set(Property::ReceiveMaximum(n)).unwrap();
    }
    c.connect_async_with(
        "127.0.0.1",
        ConnectOptions {
            port,
            keepalive: 60,
            properties: Some(properties),
            ..ConnectOptions::default()
        },
    )
    .unwrap();
}

/// One delivery at the subscriber.
#[derive(Debug, Clone)]
struct Arrival {
    topic: String,
    seq: Option<usize>,
    retain: bool,
    len: usize,
}

/// The subscriber, straight on Mosquitto (no faults), with a QoS 1
/// subscription (the broker's maximum) to both streams. Returns it and the
/// deliveries in arrival order.
fn subscriber(m: &Mosquitto) -> (Client, Arc<Mutex<Vec<Arrival>>>) {
    let sub = v5_client("limits-sub");
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let a = Arc::clone(&arrivals);
    sub.on_message(move |_, _, m| {
        let text = String::from_utf8_lossy(&m.payload);
        a.lock().unwrap().push(Arrival {
            topic: m.topic.clone(),
            seq: text.split('-').next().and_then(|s| s.parse().ok()),
            retain: m.retain,
            len: m.payload.len(),
        });
    });
    let (ctx, connacks) = mpsc::channel();
    sub.on_connect(move |_, _, _, _, _| {
        let _ = ctx.send(());
    });
    let (stx, subacks) = mpsc::channel();
    sub.on_subscribe(move |_, _, _, codes, _| {
        let _ = stx.send(codes.iter().map(|c| c.value()).collect::<Vec<u8>>());
    });
    // Without a Receive Maximum of its own, Mosquitto lets the subscriber
    // have `max_inflight_messages` (2) in flight and queues the rest; and
    // 2.0.11 sends a message that arrives when a slot is free ahead of
    // those queued (`db__message_insert` checks only for a free slot).
    // Seen in a burst of QoS 1 and QoS 2 messages: received in publish
    // order by the broker (its log), delivered out of order. With room
    // for the whole burst nothing queues, and what the subscriber sees is
    // the order the publisher sent in.
    persistent_connect(&sub, m.port(), Some(u16::MAX));
    assert_eq!(sub.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    connacks
        .recv_timeout(WAIT)
        .expect("no CONNACK for the subscriber");
    let (rc, _) = sub.subscribe_many(&[(TOPIC_Q1, 1), (TOPIC_Q2, 1)]).unwrap();
    assert_eq!(rc, ErrorCode::Success);
    assert_eq!(subacks.recv_timeout(WAIT).expect("no SUBACK"), [1, 1]);
    (sub, arrivals)
}

/// What the publisher's callbacks saw.
#[derive(Default, Clone)]
struct Heard {
    /// Each CONNACK's reason code and properties.
    connacks: Vec<(u8, Properties)>,
    /// Each `on_disconnect` reason code.
    disconnects: Vec<u8>,
    /// Each `on_publish` (mid, reason code).
    published: Vec<(u16, ReasonCode)>,
}

impl Heard {
    /// How many `on_disconnect`s came with each reason code.
    fn disconnect_reasons(&self) -> BTreeMap<u8, usize> {
        let mut counts = BTreeMap::new();
        for &rc in &self.disconnects {
            *counts.entry(rc).or_default() += 1;
        }
        counts
    }
}

fn publisher(port: u16) -> (Client, Arc<Mutex<Heard>>) {
    let c = v5_client("limits-pub");
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = Arc::clone(&heard);
    c.on_connect(move |_, _, _, rc, props| {
        h.lock().unwrap().connacks.push((rc.value(), props.clone()));
    });
    let h = Arc::clone(&heard);
    c.on_disconnect(move |_, _, _, rc, _| {
        h.lock().unwrap().disconnects.push(rc.value());
    });
    let h = Arc::clone(&heard);
    c.on_publish(move |_, _, mid, rc, _| {
        h.lock().unwrap().published.push((mid, *rc));
    });
    persistent_connect(&c, port, None);
    (c, heard)
}

/// One published message: which stream, its sequence number, the rc
/// `publish` returned and its handle.
struct Sent {
    qos: u8,
    seq: usize,
    rc: ErrorCode,
    info: MessageInfo,
}

/// Publishes QoS 1 message `i` and QoS 2 message `i` for each `i`.
fn burst(c: &Client, range: std::ops::Range<usize>, sent: &mut Vec<Sent>) {
    for i in range {
        let retain = kind(i) == Kind::Retained;
        let info = c.publish(TOPIC_Q1, q1_payload(i), 1, retain).unwrap();
        sent.push(Sent {
            qos: 1,
            seq: i,
            rc: info.rc(),
            info,
        });
        let info = c.publish(TOPIC_Q2, i.to_string(), 2, false).unwrap();
        sent.push(Sent {
            qos: 2,
            seq: i,
            rc: info.rc(),
            info,
        });
    }
}

/// Waits (with a watchdog) until no message is pending any more.
fn wait_for_outcomes(sent: &[Sent], context: impl Fn() -> String) {
    let deadline = Instant::now() + BURST_WAIT;
    loop {
        let pending: Vec<String> = sent
            .iter()
            .filter(|s| s.info.outcome() == Outcome::Pending)
            .map(|s| format!("q{}-{}", s.qos, s.seq))
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {BURST_WAIT:?} {} messages still pending, first {:?}; {}",
            pending.len(),
            &pending[..pending.len().min(10)],
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publishes a QoS 1 end marker and waits for it at the subscriber: what
/// the broker queued before it has then been delivered.
fn end_marker(c: &Client, arrivals: &Mutex<Vec<Arrival>>) {
    let marker = c.publish(TOPIC_Q1, "end", 1, false).unwrap();
    marker.wait_for_publish(Some(WAIT)).unwrap();
    assert_eq!(marker.outcome(), Outcome::Published, "the end marker");
    let deadline = Instant::now() + WAIT;
    while !arrivals
        .lock()
        .unwrap()
        .iter()
        .any(|a| a.len == 3 && a.seq.is_none())
    {
        assert!(Instant::now() < deadline, "the end marker did not arrive");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The CONNACK Mosquitto sends with these limits.
fn assert_announced(props: &Properties) {
    assert_eq!(
        (
            props.receive_maximum(),
            props.maximum_packet_size(),
            props.maximum_qos(),
            props.retain_available()
        ),
        (
            Some(RECEIVE_MAXIMUM as u16),
            Some(MAXIMUM_PACKET_SIZE as u32),
            Some(1),
            Some(0)
        ),
        "{props:?}"
    );
}

/// The figures of one run, checked by [`check`].
#[derive(Debug)]
struct Figures {
    published: usize,
    too_large: usize,
    retain_refused: usize,
    qos2_refused_at_publish: usize,
    qos2_failed_when_sent: usize,
    /// Published messages the subscriber never received.
    lost: usize,
    /// First copies that came after a later message's first copy.
    out_of_order: usize,
    /// Second and later copies (QoS 1 re-sends).
    copies: usize,
}

/// Checks every outcome against what the limits make of the message, and
/// what the subscriber received against the outcomes; returns the figures.
fn check(sent: &[Sent], heard: &Heard, arrivals: &[Arrival]) -> Figures {
    let not_supported = |v| Outcome::NotSupported(reason(PacketType::Disconnect, v));
    let failures: HashMap<u16, ReasonCode> = heard
        .published
        .iter()
        .filter(|(_, r)| r.is_failure())
        .copied()
        .collect();
    let mut f = Figures {
        published: 0,
        too_large: 0,
        retain_refused: 0,
        qos2_refused_at_publish: 0,
        qos2_failed_when_sent: 0,
        lost: 0,
        out_of_order: 0,
        copies: 0,
    };
    for s in sent {
        let what = format!("q{}-{} (rc at publish {:?})", s.qos, s.seq, s.rc);
        let outcome = s.info.outcome();
        let expected = match (s.qos, kind(s.seq)) {
            (2, _) => not_supported(0x9B),
            (_, Kind::Large) => Outcome::TooLarge,
            (_, Kind::Retained) => not_supported(0x9A),
            (_, Kind::Ordinary) => Outcome::Published,
        };
        assert_eq!(outcome, expected, "{what}");
        if outcome == Outcome::Published {
            f.published += 1;
            continue;
        }
        // A stated failure: `wait_for_publish` says so, and the message
        // was refused at `publish` (while the limits were known) or ended
        // through `on_publish` with the same reason (stored before).
        assert!(s.info.wait_for_publish(Some(WAIT)).is_err(), "{what}");
        let refused_rc = match outcome {
            Outcome::TooLarge => ErrorCode::PayloadSize,
            _ => ErrorCode::NotSupported,
        };
        let at_publish = s.rc == refused_rc;
        if at_publish {
            assert!(!failures.contains_key(&s.info.mid()), "{what}: on_publish");
        } else {
            assert!(
                matches!(s.rc, ErrorCode::Success | ErrorCode::NoConn),
                "{what}"
            );
            let expected_reason = match outcome {
                Outcome::TooLarge => reason(PacketType::Disconnect, 0x95),
                Outcome::NotSupported(r) => r,
                _ => unreachable!(),
            };
            assert_eq!(
                failures.get(&s.info.mid()),
                Some(&expected_reason),
                "{what}: on_publish"
            );
        }
        match (s.qos, outcome, at_publish) {
            (2, _, true) => f.qos2_refused_at_publish += 1,
            (2, _, false) => f.qos2_failed_when_sent += 1,
            (_, Outcome::TooLarge, _) => f.too_large += 1,
            _ => f.retain_refused += 1,
        }
    }

    // Only the QoS 1 stream reaches the subscriber, unretained, and of it
    // only the published messages.
    let mut count = vec![0usize; N];
    let mut newest = None;
    for a in arrivals {
        if a.seq.is_none() && a.len == 3 {
            continue; // the end marker
        }
        let seq = a.seq.filter(|&s| s < N);
        let Some(seq) = seq.filter(|_| a.topic == TOPIC_Q1) else {
            panic!("unexpected delivery {a:?}");
        };
        assert!(!a.retain, "{a:?}");
        assert_eq!(
            kind(seq),
            Kind::Ordinary,
            "a refused message arrived: {a:?}"
        );
        count[seq] += 1;
        if count[seq] > 1 {
            f.copies += 1;
        } else if newest.is_some_and(|n| seq < n) {
            f.out_of_order += 1;
        } else {
            newest = Some(seq);
        }
    }
    f.lost = sent
        .iter()
        .filter(|s| s.qos == 1 && s.info.outcome() == Outcome::Published && count[s.seq] == 0)
        .count();
    f
}

/// Mosquitto's log lines that tell of a client disconnected for what it
/// sent, or of a message refused: none may appear.
fn violations(m: &Mosquitto) -> Vec<String> {
    m.log()
        .lines()
        .filter(|l| {
            l.contains("disconnected due to")
                || l.contains("Bad socket")
                || l.contains("Too high QoS")
                || l.contains("Dropped too large")
                || l.contains("Reused message ID")
                // A refusing PUBACK (0x97 quota exceeded, ...).
                || (l.contains("Sending PUBACK") && !l.ends_with(", rc0)"))
                // Any DISCONNECT but "session taken over" (0x8E), which a
                // reconnect after an unnoticed cut may earn the old one.
                || (l.contains("Sending DISCONNECT") && !l.ends_with("(rc142)"))
        })
        .map(str::to_owned)
        .collect()
}

/// How many of the publisher's messages Mosquitto first received after one
/// published later, from its log (`Received PUBLISH from ... mN`): message
/// ids are given in publish order and the burst does not wrap them.
fn received_out_of_order(m: &Mosquitto, client_id: &str) -> usize {
    let prefix = format!("Received PUBLISH from {client_id} (");
    let mut seen = HashSet::new();
    let mut newest = 0;
    let mut late = 0;
    for line in m.log().lines() {
        let Some((_, rest)) = line.split_once(&prefix) else {
            continue;
        };
        // "d0, q1, r0, m12, 'limits/q1', ..."
        let mid: u32 = rest
            .split(", ")
            .find_map(|f| f.strip_prefix('m')?.parse().ok())
            .unwrap_or_else(|| panic!("no message id in {line:?}"));
        if !seen.insert(mid) {
            continue;
        }
        if mid < newest {
            late += 1;
        }
        newest = newest.max(mid);
    }
    assert!(!seen.is_empty(), "no PUBLISH from {client_id} in the log");
    late
}

fn stop(clients: &[&Client]) {
    for c in clients {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

/// The burst, half of it right after `connect` + `loop_start` and half
/// while offline, through a proxy cutting the publisher's connection every
/// 100 to 500 ms.
#[test]
fn a_burst_through_chaos_ends_as_the_announced_limits_say() {
    let Some(m) = limited_mosquitto() else {
        return;
    };
    let (sub, arrivals) = subscriber(&m);
    let proxy = FaultProxy::start(m.addr()).unwrap();
    // On loopback two messages in flight at a time drain the burst in a
    // few hundred ms, before the first cut; with a LAN's latency it takes
    // seconds, and the cuts fall in the middle of it.
    proxy.set_latency(LATENCY);
    let (publisher, heard) = publisher(proxy.port());
    let mut sent = Vec::with_capacity(2 * N);

    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    proxy
        .start_chaos(
            0x15_0001,
            Duration::from_millis(100),
            Duration::from_millis(500),
        )
        .unwrap();
    burst(&publisher, 0..N / 2, &mut sent);
    // Offline: the connection cut and no new one let through.
    proxy.set_refusing(true);
    proxy.cut_all();
    let deadline = Instant::now() + WAIT;
    while publisher.is_connected() {
        assert!(Instant::now() < deadline, "the publisher stayed connected");
        std::thread::sleep(Duration::from_millis(1));
    }
    burst(&publisher, N / 2..N, &mut sent);
    proxy.set_refusing(false);

    let context = || {
        let h = heard.lock().unwrap();
        format!(
            "CONNACKs {}, disconnects by reason {:?}, proxy {:?}, received {}; Mosquitto: {:?}",
            h.connacks.len(),
            h.disconnect_reasons(),
            proxy.counters(),
            arrivals.lock().unwrap().len(),
            violations(&m).iter().take(3).collect::<Vec<_>>()
        )
    };
    wait_for_outcomes(&sent, context);
    proxy.stop_chaos();
    end_marker(&publisher, &arrivals);
    // Copies, before the stop's own disconnect is heard.
    let heard = heard.lock().unwrap().clone();
    let arrivals = arrivals.lock().unwrap().clone();
    stop(&[&publisher, &sub]);

    let cuts = proxy.counters().cuts;
    let f = check(&sent, &heard, &arrivals);
    let connects = heard.connacks.len();
    eprintln!(
        "chaos: {f:?}; CONNACKs {connects}, cuts {cuts}, chaos rounds {}",
        proxy.chaos_rounds()
    );
    eprintln!("Mosquitto's CONNACK: {:?}", heard.connacks[0]);
    for (rc, props) in &heard.connacks {
        assert_eq!(*rc, 0);
        assert_announced(props);
    }
    // The chaos happened while the burst drained.
    assert!(connects >= 3, "only {connects} connections");
    assert_eq!(
        (f.lost, f.out_of_order),
        (0, 0),
        "lost, out of order: {f:?}"
    );
    // A reconnect sends again what was in flight at the cut: at most the
    // Receive Maximum.
    assert!(
        f.copies <= RECEIVE_MAXIMUM * (connects - 1),
        "{} copies after {} reconnects",
        f.copies,
        connects - 1
    );
    assert_eq!(f.qos2_refused_at_publish + f.qos2_failed_when_sent, N);
    assert!(f.qos2_failed_when_sent > 0, "none was stored: {f:?}");
    // Every connection ended by a cut, none by the broker.
    assert!(
        connects as u64 <= cuts + 1,
        "{connects} connections, {cuts} cuts"
    );
    assert_eq!(received_out_of_order(&m, "limits-pub"), 0, "at the broker");
    let bad = violations(&m);
    assert!(bad.is_empty(), "Mosquitto's log:\n{}", bad.join("\n"));
}

/// The same burst without faults, all of it right after `connect` +
/// `loop_start`: one connection, nothing lost, nothing out of order, no
/// copy, every refusal stated.
#[test]
fn a_burst_without_faults_keeps_one_connection_and_loses_nothing() {
    let Some(m) = limited_mosquitto() else {
        return;
    };
    let (sub, arrivals) = subscriber(&m);
    let (publisher, heard) = publisher(m.port());
    let mut sent = Vec::with_capacity(2 * N);
    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    burst(&publisher, 0..N, &mut sent);
    wait_for_outcomes(&sent, || {
        format!(
            "disconnects by reason {:?}; Mosquitto: {:?}",
            heard.lock().unwrap().disconnect_reasons(),
            violations(&m).iter().take(3).collect::<Vec<_>>()
        )
    });
    end_marker(&publisher, &arrivals);
    let heard = heard.lock().unwrap().clone();
    let arrivals = arrivals.lock().unwrap().clone();
    stop(&[&publisher, &sub]);

    let f = check(&sent, &heard, &arrivals);
    eprintln!("no faults: {f:?}; CONNACKs {}", heard.connacks.len());
    assert_eq!(heard.connacks.len(), 1, "reconnects");
    eprintln!("Mosquitto's CONNACK: {:?}", heard.connacks[0]);
    assert_announced(&heard.connacks[0].1);
    assert_eq!(heard.disconnects, [] as [u8; 0]);
    assert_eq!((f.lost, f.out_of_order, f.copies), (0, 0, 0), "{f:?}");
    // 10 large and 10 retained among the 500.
    assert_eq!(
        (f.published, f.too_large, f.retain_refused),
        (N - 20, 10, 10),
        "{f:?}"
    );
    assert_eq!(received_out_of_order(&m, "limits-pub"), 0, "at the broker");
    let bad = violations(&m);
    assert!(bad.is_empty(), "Mosquitto's log:\n{}", bad.join("\n"));
}
