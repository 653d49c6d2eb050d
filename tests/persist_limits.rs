//! A restored backlog larger than the broker's Receive Maximum (issue 16's
//! boundary): 200 QoS 1 and 50 QoS 2 messages stored offline by one client,
//! restored by a new client on the same directory (a restart), sent to a
//! Mosquitto announcing Receive Maximum 2 through a proxy that cuts the
//! connection twice while the backlog drains. Checked, as figures:
//!
//! * the client's packet trace (`on_log`, the order the session puts
//!   packets on the wire and reads them off it) never shows more than 2
//!   PUBLISH unacknowledged on one connection;
//! * a subscriber gets every QoS 2 message exactly once and every QoS 1
//!   message at least once, the QoS 1 copies counted (at most the window
//!   per cut);
//! * once all is acknowledged the directory holds no message any more.
#![cfg(feature = "testing")]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::{client_with, subscriber};
use mqtt_tether::testing::{FaultProxy, Mosquitto, MosquittoConfig, TempDir};
use mqtt_tether::{
    Client, ClientOptions, ConnectOptions, Durability, ErrorCode, PacketType, Properties, Property,
    ProtocolVersion,
};

const WAIT: Duration = Duration::from_secs(20);
const QOS1: usize = 200;
const QOS2: usize = 50;
/// Mosquitto's `max_inflight_messages`, announced as Receive Maximum.
const RECEIVE_MAXIMUM: usize = 2;
const CLIENT_ID: &str = "persist-limits-pub";
const TOPIC: &str = "plimits/t";

fn v5_publisher() -> Client {
    let c = client_with(ClientOptions {
        client_id: CLIENT_ID.into(),
        protocol: ProtocolVersion::MQTTv5,
        ..ClientOptions::default()
    });
    c.reconnect_delay_set(Duration::from_millis(10), Duration::from_millis(100));
    c
}

fn payload(qos: i32, n: usize) -> String {
    format!("q{qos}-{n}")
}

/// What the trace says of one run.
#[derive(Debug, Default)]
struct Wire {
    connects: usize,
    /// The most PUBLISH packets sent on one connection and not yet ended
    /// by PUBACK, PUBCOMP or a refusing PUBREC.
    most_in_flight: usize,
    /// PUBLISH packets for a message id already sent on an earlier
    /// connection: the re-sends after a cut. (DUP does not tell them: a
    /// restored message goes with DUP set, since the log cannot say whether
    /// it was on the wire before the restart.)
    resent: usize,
    publishes: usize,
}

/// Replays the trace lines (`Sending PUBLISH (d0, q1, r0, m3) ...`,
/// `Received PUBACK (mid 3)`, ...) connection by connection.
fn wire(trace: &[String]) -> Wire {
    let mut w = Wire::default();
    let mut open: HashSet<u16> = HashSet::new();
    // The 250 ids are all distinct: none is reused within the run.
    let mut ever: HashSet<u16> = HashSet::new();
    let mid_of = |rest: &str| -> u16 {
        let inner = rest.trim_start_matches(" (").split([')', ',']).next();
        inner
            .and_then(|s| s.strip_prefix("mid ").or_else(|| s.strip_prefix('m')))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no mid in {rest:?}"))
    };
    for line in trace {
        if line.starts_with("Sending CONNECT") {
            w.connects += 1;
            open.clear();
        } else if let Some(rest) = line.strip_prefix("Sending PUBLISH") {
            // "(d0, q1, r0, m3) ..."
            let fields: Vec<&str> = rest.trim_start_matches(" (").split(", ").collect();
            if fields[1] == "q0" {
                continue;
            }
            w.publishes += 1;
            let mid: u16 = fields[3]
                .split(')')
                .next()
                .and_then(|m| m.strip_prefix('m'))
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("no mid in {line:?}"));
            assert!(open.insert(mid), "m{mid} sent twice on one connection");
            if !ever.insert(mid) {
                w.resent += 1;
            }
            w.most_in_flight = w.most_in_flight.max(open.len());
        } else if let Some(rest) = line
            .strip_prefix("Received PUBACK")
            .or_else(|| line.strip_prefix("Received PUBCOMP"))
        {
            open.remove(&mid_of(rest));
        } else if let Some(rest) = line.strip_prefix("Received PUBREC") {
            // A PUBREC with a reason code of 0x80 or more ends the flow.
            if rest.contains(", ") {
                open.remove(&mid_of(rest));
            }
        }
    }
    w
}

#[test]
fn a_restored_backlog_over_receive_maximum_drains_within_it_across_cuts() {
    let Some(m) = Mosquitto::start_or_skip(
        MosquittoConfig::default()
            .line("max_inflight_messages 2")
            .line("max_packet_size 256")
            .line("max_queued_messages 0"),
    ) else {
        return;
    };
    let (sub, rx) = subscriber("persist-limits-sub", m.port(), "plimits/#", 2);
    let dir = TempDir::new("persist-limits").unwrap();

    // Before the restart: everything stored, nothing sent.
    {
        let earlier = v5_publisher();
        earlier
            .persistence_set(dir.path(), Durability::Sync)
            .unwrap();
        for (qos, count) in [(1i32, QOS1), (2, QOS2)] {
            for n in 0..count {
                let info = earlier.publish(TOPIC, payload(qos, n), qos, false).unwrap();
                assert_eq!(info.rc(), ErrorCode::NoConn, "q{qos}-{n} stored offline");
            }
        }
    }

    let publisher = v5_publisher();
    let found = publisher
        .persistence_set(dir.path(), Durability::Sync)
        .unwrap();
    assert_eq!(
        (found.outgoing, found.publishes, found.damage.as_deref()),
        (QOS1 + QOS2, (QOS1 + QOS2) as u64, None),
        "{found:?}"
    );
    let trace: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let trace = Arc::clone(&trace);
        publisher.on_log(move |_, _, _, line| {
            if line.starts_with("Sending ") || line.starts_with("Received ") {
                trace.lock().unwrap().push(line.to_owned());
            }
        });
    }
    let proxy = FaultProxy::start(m.addr()).unwrap();
    // With two in flight, each round trip through the proxy (2 x 5 ms)
    // delivers two messages: the backlog takes over a second, and the cuts
    // below fall in the middle of it.
    proxy.set_latency(Duration::from_millis(5));
    let mut properties = Properties::new(PacketType::Connect);
    properties
        .set(Property::SessionExpiryInterval(300))
        .unwrap();
    publisher
        .connect_async_with(
            "127.0.0.1",
            ConnectOptions {
                port: proxy.port(),
                properties: Some(properties),
                ..ConnectOptions::default()
            },
        )
        .unwrap();
    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    let receive = |seen: &mut BTreeMap<String, usize>, until: usize| {
        while seen.len() < until {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{} of {until} received", seen.len()));
            *seen
                .entry(String::from_utf8(msg.payload.clone()).unwrap())
                .or_default() += 1;
        }
    };
    for until in [(QOS1 + QOS2) / 3, 2 * (QOS1 + QOS2) / 3] {
        receive(&mut seen, until);
        proxy
            .wait_for("a connection to cut", WAIT, |c| c.live > 0)
            .unwrap();
        assert_eq!(proxy.cut_all(), 1, "a connection to cut at {until}");
    }
    let drained = publisher.disconnect_drain(Some(WAIT)).unwrap();
    let stats = publisher.stats();
    // The rest, and late copies, if any, from the broker's queue: until
    // it has been quiet a while (the figures below say what was missing).
    while let Ok(msg) = rx.recv_timeout(Duration::from_millis(500)) {
        *seen
            .entry(String::from_utf8(msg.payload.clone()).unwrap())
            .or_default() += 1;
    }
    let _ = publisher.loop_stop();
    let _ = sub.disconnect();
    let _ = sub.loop_stop();

    let w = wire(&trace.lock().unwrap());
    let q1_copies: usize = seen
        .iter()
        .filter(|(p, _)| p.starts_with("q1-"))
        .map(|(_, c)| c - 1)
        .sum();
    let q2_twice: Vec<_> = seen
        .iter()
        .filter(|(p, c)| p.starts_with("q2-") && **c > 1)
        .collect();
    let figures = format!(
        "{w:?}; distinct {}, QoS 1 copies {q1_copies}, QoS 2 twice {q2_twice:?}, cuts {}",
        seen.len(),
        proxy.counters().cuts
    );
    eprintln!("persist limits: {figures}");
    let expected: HashSet<String> = (0..QOS1)
        .map(|n| payload(1, n))
        .chain((0..QOS2).map(|n| payload(2, n)))
        .collect();
    let got: HashSet<String> = seen.keys().cloned().collect();
    assert!(
        w.most_in_flight <= RECEIVE_MAXIMUM,
        "{} PUBLISH in flight at once: {figures}",
        w.most_in_flight
    );
    assert_eq!(drained.left, 0, "unacknowledged after {WAIT:?}: {figures}");
    assert_eq!((stats.queued, stats.in_flight), (0, 0), "{stats}");
    assert_eq!(got, expected, "{figures}");
    assert!(q2_twice.is_empty(), "{figures}");
    assert_eq!(w.connects, 3, "{figures}");
    // Each cut re-sends at most what was in flight, and only that.
    assert!(w.resent <= RECEIVE_MAXIMUM * 2, "{figures}");
    assert!(q1_copies <= w.resent, "{figures}");
    assert_eq!(w.publishes, QOS1 + QOS2 + w.resent, "{figures}");

    drop(publisher);
    let after = client_with(ClientOptions {
        protocol: ProtocolVersion::MQTTv5,
        ..ClientOptions::default()
    });
    let left = after.persistence_set(dir.path(), Durability::Sync).unwrap();
    assert_eq!(
        (left.outgoing, left.inbound, left.publishes),
        (0, 0, (QOS1 + QOS2) as u64),
        "{left:?}"
    );
    let bad: Vec<String> = m
        .log()
        .lines()
        .filter(|l| {
            l.contains("disconnected due to")
                || ((l.contains("Sending PUBACK") || l.contains("Sending PUBREC"))
                    && !l.ends_with(", rc0)"))
        })
        .map(str::to_owned)
        .collect();
    assert!(bad.is_empty(), "Mosquitto's log:\n{}", bad.join("\n"));
}
