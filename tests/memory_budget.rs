//! Issue 16: bounded in memory against any broker. A hostile
//! `ScriptedBroker` attacks each part of the client's `MemoryBudget` (set
//! small here, so the budget is reached at once) for a few seconds, and each
//! test asserts a figure: the bytes the client holds for that part never
//! pass the budget by more than one read of the socket or one packet, the
//! process's resident memory stays below a bound, and the broker is pushed
//! back (TCP) or the connection closed with the reason code MQTT gives.
//! Also the inbound packet size limit and our own Receive Maximum.
//!
//! The tests run one at a time (`SERIAL`): they share the process's
//! resident memory, which they measure.
#![cfg(feature = "testing")]

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::client_with;
use common::scripted::accept;
use common::{hex, v5_disconnect};
use mqtt_tether::packet::{
    Ack, ConnAck, Packet, PacketType, Properties, Property, ProtocolVersion, Publish, QoS,
};
use mqtt_tether::session::MemoryUse;
use mqtt_tether::testing::{Flood, ScriptedBroker, ScriptedConnection};
use mqtt_tether::{Client, ClientOptions, ConnectOptions, ErrorCode, MemoryBudget, Outcome};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(5);
/// How long each attack lasts (the 10 s, shortened for CI: the
/// budgets are small, so they are reached within milliseconds).
const ATTACK: Duration = Duration::from_millis(2500);
/// The QoS 2 flood's attack: the client's 4-byte PUBRECs to 8-byte
/// PUBLISHes fill the kernel's socket buffers (megabytes) before they
/// reach the client's budget, which takes seconds in a debug build.
const QOS2_ATTACK: Duration = Duration::from_secs(6);
/// What one read of the socket (64 KiB) can add past a budget: the
/// answers to it, or the messages in it.
const ONE_READ: usize = 64 * KIB;
/// How long a client must have taken nothing, at the end of an attack, to
/// count as pushed back.
const PUSHED_BACK: Duration = Duration::from_millis(250);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's resident memory in bytes (`None` off Linux).
fn rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<usize>()
        .ok()?;
    Some(kib * KIB)
}

/// The highest figures seen while an attack ran.
#[derive(Debug, Default)]
struct Peak {
    held: MemoryUse,
    /// Resident memory above what it was when the attack started.
    rss_growth: usize,
}

/// Runs `attack` while another thread samples what `c` holds (every
/// 5 ms) and the process's resident memory; returns the attack's result
/// and the peaks.
fn watch<T: Send>(c: &Client, attack: impl FnOnce() -> T + Send) -> (T, Peak) {
    let base = rss();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = Peak::default();
            loop {
                let stop = done.load(std::sync::atomic::Ordering::SeqCst);
                let m = c.memory_use();
                let p = &mut peak.held;
                p.transmit = p.transmit.max(m.transmit);
                p.transmit_capacity = p.transmit_capacity.max(m.transmit_capacity);
                p.events = p.events.max(m.events);
                p.event_count = p.event_count.max(m.event_count);
                p.inbound_qos2 = p.inbound_qos2.max(m.inbound_qos2);
                p.store = p.store.max(m.store);
                if let (Some(base), Some(now)) = (base, rss()) {
                    peak.rss_growth = peak.rss_growth.max(now.saturating_sub(base));
                }
                if stop {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let result = attack();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (result, sampler.join().unwrap())
    })
}

fn client(id: &str, protocol: ProtocolVersion, budget: MemoryBudget) -> Client {
    let c = client_with(ClientOptions {
        client_id: id.into(),
        protocol,
        ..ClientOptions::default()
    });
    c.memory_budget_set(budget);
    c
}

/// Every part unlimited but `set`.
fn only(set: impl FnOnce(&mut MemoryBudget)) -> MemoryBudget {
    let mut b = MemoryBudget {
        transmit: usize::MAX,
        events: usize::MAX,
        inbound_qos2: usize::MAX,
        store: usize::MAX,
    };
    set(&mut b);
    b
}

/// Connects `c` at MQTT 5 with these CONNECT properties, accepts it with
/// a CONNACK without properties, and waits until the client has it.
fn connect_v5(c: &Client, broker: &ScriptedBroker, props: Properties) -> ScriptedConnection {
    let options = ConnectOptions {
        port: broker.port(),
        properties: Some(props),
        ..ConnectOptions::default()
    };
    assert_eq!(
        c.connect_with("127.0.0.1", options).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_packet(&Packet::ConnAck(ConnAck::new(false, 0)))
        .unwrap();
    wait_until(|| c.is_connected(), "the CONNACK processed");
    conn
}

fn connect_v311(c: &Client, broker: &ScriptedBroker) -> ScriptedConnection {
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    accept(c, broker)
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < WAIT, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The reason code `on_disconnect` got, for the test thread.
fn disconnect_reason(c: &Client) -> mpsc::Receiver<u8> {
    let (tx, rx) = mpsc::channel();
    c.on_disconnect(move |_, _, _, rc, _| {
        let _ = tx.send(rc.value());
    });
    rx
}

fn publish(protocol: ProtocolVersion, qos: QoS, mid: u16, payload: usize) -> Vec<u8> {
    Packet::Publish(Publish::new("t", vec![0x5a; payload], qos, mid))
        .to_bytes(protocol)
        .unwrap()
}

/// Floods `conn` for `attack` while `c` is watched.
fn flooded(
    c: &Client,
    conn: &mut ScriptedConnection,
    attack: Duration,
    next: impl FnMut(&mut Vec<u8>) + Send,
) -> (Flood, Peak) {
    // At least `attack`, longer while a loaded machine has not yet pushed
    // the broker back (see `assert_pushed_back`).
    let (flood, peak) = watch(c, || {
        conn.flood_until_pushed_back(attack, attack * 10, PUSHED_BACK + PUSHED_BACK / 2, next)
            .unwrap()
    });
    eprintln!("{flood:?}\n{peak:?}");
    (flood, peak)
}

/// The figure for "the broker is pushed back": when the attack ends, the
/// client has taken nothing for a while (it stopped reading, its socket
/// buffers are full). A client that reads on takes bytes every few
/// milliseconds, however slowly it handles them.
fn assert_pushed_back(flood: &Flood) {
    assert!(!flood.closed, "the client closed the connection: {flood:?}");
    assert!(
        flood.stalled_at_end >= PUSHED_BACK,
        "the client still read at the end of the attack ({flood:?})"
    );
}

/// Item 1: a broker that sends PINGREQs and never reads. The PINGRESPs
/// stop at the transmit budget (plus the answers to one read), the client
/// stops reading, the broker is pushed back; after the connection is gone
/// the buffer has given its memory back. Before: 40 MB/s of PINGRESPs,
/// 2.48 GB at 61 s, the capacity kept after the close.
#[test]
fn a_pingreq_flood_that_never_reads_stops_at_the_transmit_budget() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let budget = MIB;
    let c = client(
        "pingreq-flood",
        ProtocolVersion::MQTTv311,
        only(|b| b.transmit = budget),
    );
    let mut conn = connect_v311(&c, &broker);
    let (flood, peak) = flooded(&c, &mut conn, ATTACK, |b| {
        b.extend_from_slice(&[0xc0, 0x00])
    });
    assert_pushed_back(&flood);
    assert!(
        peak.held.transmit <= budget + ONE_READ,
        "{} bytes unwritten, over the budget of {budget} + {ONE_READ}",
        peak.held.transmit
    );
    // Every PINGREQ taken was answered or is still to be read.
    assert!(
        flood.sent <= (budget + ONE_READ) as u64 + 32 * MIB as u64,
        "{flood:?}"
    );
    if let Some(rss) = rss() {
        assert!(
            peak.rss_growth < 32 * MIB,
            "resident memory grew by {} bytes (now {rss})",
            peak.rss_growth
        );
    }
    conn.close();
    wait_until(|| !c.is_connected(), "the close noticed");
    let m = c.memory_use();
    assert_eq!(m.transmit, 0);
    assert!(
        m.transmit_capacity <= 64 * KIB,
        "the transmit buffer kept {} bytes after the close",
        m.transmit_capacity
    );
    let _ = c.loop_stop();
}

/// Item 1: the same with QoS 2 PUBLISHes, whose PUBRECs pile up. Before:
/// 383 MB at 30 s.
#[test]
fn a_qos2_flood_that_never_reads_stops_at_the_transmit_budget() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let budget = MIB;
    let c = client(
        "qos2-flood",
        ProtocolVersion::MQTTv5,
        only(|b| b.transmit = budget),
    );
    let mut conn = connect_v5(&c, &broker, Properties::new(PacketType::Connect));
    // 100 ids again and again: a broker re-sending what it sent (DUP).
    let mut mid = 0u16;
    let (flood, peak) = flooded(&c, &mut conn, QOS2_ATTACK, |b| {
        mid = mid % 100 + 1;
        b.extend_from_slice(&publish(ProtocolVersion::MQTTv5, QoS::ExactlyOnce, mid, 0));
    });
    assert_pushed_back(&flood);
    assert!(
        peak.held.transmit <= budget + ONE_READ,
        "{} bytes unwritten, over the budget of {budget} + {ONE_READ}",
        peak.held.transmit
    );
    assert!(peak.held.inbound_qos2 <= 100, "{peak:?}");
    if rss().is_some() {
        assert!(
            peak.rss_growth < 32 * MIB,
            "resident memory grew by {} bytes",
            peak.rss_growth
        );
    }
    conn.close();
    wait_until(|| !c.is_connected(), "the close noticed");
    assert!(c.memory_use().transmit_capacity <= 64 * KIB);
    let _ = c.loop_stop();
}

/// Item 1: the application publishes QoS 0 as fast as it can to a broker
/// that never reads. Once the unwritten bytes reach the budget, `publish`
/// says `MQTT_ERR_QUEUE_SIZE` (outcome `QueueFull`), and so do `subscribe`
/// and `unsubscribe`. Before: 2 million `publish` calls all returned
/// Success, 387 MB.
#[test]
fn qos0_publishes_to_a_broker_that_never_reads_are_refused_at_the_budget() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let budget = MIB;
    let c = client(
        "qos0-never-read",
        ProtocolVersion::MQTTv311,
        only(|b| b.transmit = budget),
    );
    let conn = connect_v311(&c, &broker);
    let payload = vec![0x42u8; KIB];
    let ((accepted, refused, refused_info), peak) = watch(&c, || {
        let (mut accepted, mut refused, mut refused_info) = (0u64, 0u64, None);
        let end = Instant::now() + ATTACK;
        while Instant::now() < end {
            let info = c.publish("flood", &payload, 0, false).unwrap();
            match info.rc() {
                ErrorCode::Success => accepted += 1,
                ErrorCode::QueueSize => {
                    refused += 1;
                    refused_info.get_or_insert(info);
                }
                rc => panic!("publish returned {rc:?}"),
            }
        }
        (accepted, refused, refused_info)
    });
    eprintln!("accepted {accepted}, refused {refused}\n{peak:?}");
    assert!(refused > 0, "all {accepted} publishes accepted");
    let refused_info = refused_info.unwrap();
    assert_eq!(refused_info.outcome(), Outcome::QueueFull);
    assert!(
        peak.held.transmit <= budget + payload.len() + 16,
        "{} bytes unwritten, over the budget of {budget} + one packet",
        peak.held.transmit
    );
    // The budget and what the kernel's socket buffers took.
    // Topic "flood": 3 + 2 + 5 + 1024.
    let packet = 1034;
    assert!(
        accepted * packet <= (budget + 32 * MIB) as u64,
        "{accepted} publishes of {packet} bytes accepted"
    );
    if rss().is_some() {
        assert!(
            peak.rss_growth < 32 * MIB,
            "resident memory grew by {} bytes",
            peak.rss_growth
        );
    }
    assert_eq!(c.subscribe("t", 0).unwrap(), (ErrorCode::QueueSize, None));
    assert_eq!(c.unsubscribe("t").unwrap(), (ErrorCode::QueueSize, None));
    drop(conn);
    wait_until(|| !c.is_connected(), "the close noticed");
    assert!(c.memory_use().transmit_capacity <= 64 * KIB);
    let _ = c.loop_stop();
}

/// Item 5: an `on_message` that stalls and a flood of 128 KB messages.
/// The undelivered messages stay within the events budget (plus one read
/// and the message it completes), and the broker is pushed back; once the
/// callback goes on, the backlog is delivered and reading resumes. Before:
/// the bound was 8,192 events whatever their size, 1.09 GB.
#[test]
fn a_flood_of_large_messages_stops_at_the_events_budget() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let budget = 4 * MIB;
    let size = 128 * 1000;
    let c = client(
        "large-messages",
        ProtocolVersion::MQTTv311,
        only(|b| b.events = budget),
    );
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = Arc::clone(&delivered);
    let (go_on, stalled) = mpsc::channel::<()>();
    let stalled = Mutex::new(stalled);
    c.on_message(move |_, _, _| {
        if d.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let _ = stalled
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
    });
    let mut conn = connect_v311(&c, &broker);
    let message = publish(ProtocolVersion::MQTTv311, QoS::AtMostOnce, 0, size);
    let (flood, peak) = flooded(&c, &mut conn, ATTACK, |b| b.extend_from_slice(&message));
    assert_pushed_back(&flood);
    // The budget, a read and the message it completes, and the batch the
    // loop took before the callback stalled (1 MiB and its last message).
    assert!(
        peak.held.events <= budget + MIB + ONE_READ + 2 * size,
        "{} bytes of messages undelivered, over the budget of {budget}",
        peak.held.events
    );
    if rss().is_some() {
        assert!(
            peak.rss_growth < 32 * MIB,
            "resident memory grew by {} bytes",
            peak.rss_growth
        );
    }
    go_on.send(()).unwrap();
    // Every whole message the client took is delivered.
    let taken = flood.sent / message.len() as u64;
    wait_until(
        || delivered.load(std::sync::atomic::Ordering::SeqCst) >= taken,
        "the backlog delivered",
    );
    assert_eq!(c.memory_use().events, 0);
    conn.close();
    let _ = c.loop_stop();
}

/// Item 5: an `on_message` slower than the broker. What the client holds
/// undelivered (in the session, and in the batch its loop is delivering)
/// stays within the events budget, plus one read, the message it
/// completes, and one batch (1 MiB): the loop takes no more than that out
/// of the session at a time, so the reader cannot refill behind it.
#[test]
fn a_slow_on_message_keeps_undelivered_messages_within_the_events_budget() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let budget = 4 * MIB;
    let size = 128 * 1000;
    let c = client(
        "slow-on-message",
        ProtocolVersion::MQTTv311,
        only(|b| b.events = budget),
    );
    c.on_message(|_, _, _| std::thread::sleep(Duration::from_millis(2)));
    let mut conn = connect_v311(&c, &broker);
    let message = publish(ProtocolVersion::MQTTv311, QoS::AtMostOnce, 0, size);
    let (flood, peak) = flooded(&c, &mut conn, ATTACK, |b| b.extend_from_slice(&message));
    assert!(!flood.closed);
    assert!(
        peak.held.events <= budget + MIB + ONE_READ + 2 * size,
        "{} bytes of messages undelivered, over the budget of {budget} + one batch",
        peak.held.events
    );
    conn.close();
    let _ = c.loop_stop();
}

/// Item 5: inbound QoS 2 messages held for PUBREL stop at their budget:
/// the message that would pass it closes the connection, at MQTT 5 with
/// DISCONNECT 0x97 (Quota exceeded), at 3.1.1 without a word. Before: up to
/// 65,535 of the largest packet (531 MB with 8 KB ones).
#[test]
fn inbound_qos2_messages_without_pubrel_stop_at_their_budget() {
    let _serial = serial();
    for protocol in [ProtocolVersion::MQTTv5, ProtocolVersion::MQTTv311] {
        let broker = ScriptedBroker::bind().unwrap();
        // Eight messages of 8,001 bytes (topic "t" and 8,000 of payload).
        let c = client("qos2-budget", protocol, only(|b| b.inbound_qos2 = 64 * KIB));
        let reason = disconnect_reason(&c);
        let mut conn = if protocol == ProtocolVersion::MQTTv5 {
            connect_v5(&c, &broker, Properties::new(PacketType::Connect))
        } else {
            connect_v311(&c, &broker)
        };
        for mid in 1..=8u16 {
            conn.send_bytes(&publish(protocol, QoS::ExactlyOnce, mid, 8000))
                .unwrap();
            conn.expect_packet(&Packet::PubRec(Ack::new(PacketType::PubRec, mid)))
                .unwrap();
        }
        wait_until(|| c.memory_use().inbound_qos2 == 8 * 8001, "eight held");
        // A copy of one held replaces it.
        conn.send_bytes(&publish(protocol, QoS::ExactlyOnce, 8, 8000))
            .unwrap();
        conn.expect_packet(&Packet::PubRec(Ack::new(PacketType::PubRec, 8)))
            .unwrap();
        conn.send_bytes(&publish(protocol, QoS::ExactlyOnce, 9, 8000))
            .unwrap();
        if protocol == ProtocolVersion::MQTTv5 {
            conn.expect_bytes(&v5_disconnect(
                0x97,
                "inbound QoS 2 messages waiting for PUBREL would pass their memory budget \
                 of 65536 bytes",
            ))
            .unwrap();
        }
        conn.expect_close().unwrap();
        let rc = reason.recv_timeout(WAIT).unwrap();
        assert_eq!(rc, 0x97, "{protocol}");
        let _ = c.loop_stop();
    }
}

/// Item 5: our Receive Maximum, announced in the CONNECT, is enforced: a
/// broker with more QoS 1/2 messages unacknowledged at once gets
/// DISCONNECT 0x93 (Receive Maximum exceeded). A DUP copy of one not yet
/// acknowledged does not count again; an acknowledged one frees its place.
#[test]
fn a_broker_past_our_receive_maximum_is_disconnected_with_0x93() {
    let _serial = serial();
    let broker = ScriptedBroker::bind().unwrap();
    let c = client(
        "receive-max",
        ProtocolVersion::MQTTv5,
        MemoryBudget::default(),
    );
    c.manual_ack_set(true);
    let (tx, received) = mpsc::channel();
    c.on_message(move |_, _, m| {
        let _ = tx.send(m.mid);
    });
    let reason = disconnect_reason(&c);
    let mut props = Properties::new(PacketType::Connect);
    props.set(Property::ReceiveMaximum(10)).unwrap();
    let mut conn = connect_v5(&c, &broker, props);
    let v5 = ProtocolVersion::MQTTv5;
    for mid in 1..=10u16 {
        conn.send_bytes(&publish(v5, QoS::AtLeastOnce, mid, 10))
            .unwrap();
        assert_eq!(received.recv_timeout(WAIT).unwrap(), mid);
    }
    // A re-delivery of an unacknowledged one.
    let mut dup = publish(v5, QoS::AtLeastOnce, 3, 10);
    dup[0] |= 0x08;
    conn.send_bytes(&dup).unwrap();
    assert_eq!(received.recv_timeout(WAIT).unwrap(), 3);
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    // One acknowledged makes room for one more.
    assert_eq!(c.ack(1, 1), ErrorCode::Success);
    conn.expect_bytes(&hex("40 02 00 01")).unwrap();
    conn.send_bytes(&publish(v5, QoS::AtLeastOnce, 11, 10))
        .unwrap();
    assert_eq!(received.recv_timeout(WAIT).unwrap(), 11);
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    // The eleventh unacknowledged.
    conn.send_bytes(&publish(v5, QoS::AtLeastOnce, 12, 10))
        .unwrap();
    conn.expect_bytes(&v5_disconnect(
        0x93,
        "the broker sent 11 QoS 1/2 messages unacknowledged, more than our Receive Maximum of 10",
    ))
    .unwrap();
    conn.expect_close().unwrap();
    assert_eq!(reason.recv_timeout(WAIT).unwrap(), 0x93);
    assert!(
        received.try_recv().is_err(),
        "the message past the Receive Maximum was delivered"
    );
    let _ = c.loop_stop();
}

/// Item 5 and the inbound maximum packet size: a packet larger than the
/// maximum closes the connection from its fixed header alone (its body is
/// never sent here, so a client waiting for it would hang): MQTT 5 with
/// DISCONNECT 0x95 (Packet too large) after announcing the maximum in its
/// CONNECT, 3.1.1 without a word. A packet of exactly the maximum is
/// delivered. Before: no limit below MQTT's 256 MiB at 3.1.1 (a 255 MB
/// PUBLISH arrived, 515 MB peak).
#[test]
fn an_inbound_packet_over_the_maximum_closes_from_its_fixed_header() {
    let _serial = serial();
    for protocol in [ProtocolVersion::MQTTv5, ProtocolVersion::MQTTv311] {
        let broker = ScriptedBroker::bind().unwrap();
        let c = client("too-large", protocol, MemoryBudget::default());
        c.max_inbound_packet_size_set(1000).unwrap();
        assert_eq!(c.max_inbound_packet_size(), 1000);
        let (tx, received) = mpsc::channel();
        c.on_message(move |_, _, m| {
            let _ = tx.send(m.payload.len());
        });
        let reason = disconnect_reason(&c);
        let mut conn = if protocol == ProtocolVersion::MQTTv5 {
            let options = ConnectOptions {
                port: broker.port(),
                ..ConnectOptions::default()
            };
            assert_eq!(
                c.connect_with("127.0.0.1", options).unwrap(),
                mqtt_tether::MQTT_ERR_SUCCESS
            );
            assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
            let mut conn = broker.accept().unwrap();
            // Maximum Packet Size 1000 (0x3e8), announced.
            conn.expect_bytes(&hex(
                "10 1b 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00 03 e8 00 09 74 6f 6f 2d 6c 61 72 67 65",
            ))
            .unwrap();
            conn.set_protocol(protocol);
            conn.send_packet(&Packet::ConnAck(ConnAck::new(false, 0)))
                .unwrap();
            wait_until(|| c.is_connected(), "the CONNACK processed");
            conn
        } else {
            connect_v311(&c, &broker)
        };
        // 1000 bytes: 3 of fixed header, 3 of topic, 1 of properties
        // (MQTT 5), the payload.
        let payload = if protocol == ProtocolVersion::MQTTv5 {
            993
        } else {
            994
        };
        let exact = publish(protocol, QoS::AtMostOnce, 0, payload);
        assert_eq!(exact.len(), 1000, "{protocol}");
        conn.send_bytes(&exact).unwrap();
        assert_eq!(received.recv_timeout(WAIT).unwrap(), payload);
        // 1001 bytes announced: 0x30, remaining length 998.
        conn.send_bytes(&hex("30 e6 07")).unwrap();
        if protocol == ProtocolVersion::MQTTv5 {
            conn.expect_bytes(&v5_disconnect(
                0x95,
                "packet of 1001 bytes exceeds the maximum packet size of 1000 bytes",
            ))
            .unwrap();
        }
        conn.expect_close().unwrap();
        assert_eq!(reason.recv_timeout(WAIT).unwrap(), 0x95, "{protocol}");
        let _ = c.loop_stop();
    }
}

/// Item 5: the outgoing store stops at its budget in bytes: publishing
/// QoS 1 offline is refused with `MQTT_ERR_QUEUE_SIZE` (outcome
/// `QueueFull`) once the next message would pass it; what was stored stays,
/// and room made by `drop_out_messages` is taken again.
#[test]
fn publishing_offline_stops_at_the_store_budget() {
    let _serial = serial();
    let budget = MIB;
    let c = client(
        "store-budget",
        ProtocolVersion::MQTTv311,
        only(|b| b.store = budget),
    );
    let payload = vec![7u8; 10 * KIB];
    // Topic "t": 2 + 1 + 2 (packet id) + 10,240 = 10,245, plus a 3-byte
    // fixed header.
    let packet = 10_248;
    let fits = budget / packet;
    let (results, peak) = watch(&c, || {
        (0..fits + 10)
            .map(|_| c.publish("t", &payload, 1, false).unwrap())
            .collect::<Vec<_>>()
    });
    let stored = results
        .iter()
        .take_while(|i| i.rc() == ErrorCode::NoConn)
        .count();
    assert_eq!(stored, fits);
    for info in &results[fits..] {
        assert_eq!(
            (info.rc(), info.outcome()),
            (ErrorCode::QueueSize, Outcome::QueueFull)
        );
    }
    assert_eq!(c.memory_use().store, fits * packet);
    assert!(peak.held.store <= budget);
    assert_eq!(c.drop_out_messages().len(), fits);
    assert_eq!(c.memory_use().store, 0);
    assert_eq!(
        c.publish("t", &payload, 1, false).unwrap().rc(),
        ErrorCode::NoConn
    );
    // One message larger than the whole budget still goes into an empty
    // store.
    c.drop_out_messages();
    let large = vec![1u8; 2 * MIB];
    assert_eq!(
        c.publish("t", &large, 1, false).unwrap().rc(),
        ErrorCode::NoConn
    );
    assert_eq!(
        c.publish("t", b"x", 1, false).unwrap().rc(),
        ErrorCode::QueueSize
    );
}
