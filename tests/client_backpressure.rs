//! Backpressure and drain (issue 19): `publish_wait` waits for room when
//! the store is full instead of failing with `MQTT_ERR_QUEUE_SIZE` (Paho's
//! `publish`, which stays as it is), and `disconnect_drain` waits until
//! everything stored is acknowledged before it disconnects, saying how many
//! were left. Against Mosquitto for delivery (every message, exactly once,
//! in order) and against a `ScriptedBroker` that never acknowledges for the
//! timeouts, the callback rule and the stops.
#![cfg(feature = "testing")]

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{client, connect, subscriber};
use common::hex;
use common::scripted::connected;
use mqtt_tether::packet::Packet;
use mqtt_tether::testing::{Mosquitto, MosquittoConfig, ScriptedBroker, ScriptedConnection};
use mqtt_tether::{Client, Error, ErrorCode, Outcome, PahoErrorKind, QueueFullPolicy, StoreFull};

const WAIT: Duration = Duration::from_secs(10);
/// What a call may take beyond the deadline it was given, on a loaded
/// 2-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

/// Reads `n` PUBLISH packets from `conn`; returns their ids.
fn publishes(conn: &mut ScriptedConnection, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| match conn.read_packet().unwrap() {
            Packet::Publish(p) => p.packet_id,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect()
}

/// A client whose store is full: `max_queued_messages` 3, three QoS 1
/// messages sent to a broker that does not acknowledge them.
fn full_client(id: &str, broker: &ScriptedBroker) -> (Client, ScriptedConnection) {
    let c = client(id);
    c.max_queued_messages_set(3).unwrap();
    let mut conn = connected(&c, broker);
    for n in 0..3 {
        // With room, publish_wait is publish: it returns at once.
        let info = c
            .publish_wait("bp/t", format!("m{n}"), 1, false, Some(Duration::ZERO))
            .unwrap();
        assert_eq!(info.rc(), ErrorCode::Success);
    }
    assert_eq!(publishes(&mut conn, 3), [1, 2, 3]);
    // Paho's publish keeps failing as Paho's does.
    let info = c.publish("bp/t", "paho", 1, false).unwrap();
    assert_eq!(info.rc(), ErrorCode::QueueSize);
    (c, conn)
}

/// (a) 1,000 QoS 1 messages through Mosquitto with `max_queued_messages`
/// 10: `publish_wait` never fails, and a subscriber receives every message
/// exactly once, in order. (Paho's `publish` fails from the 11th on.)
#[test]
fn publish_wait_delivers_a_thousand_through_a_store_of_ten() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (_sub, rx) = subscriber("bp-sub", m.port(), "bp/count", 1);
    let publisher = client("bp-pub");
    publisher.max_queued_messages_set(10).unwrap();
    assert_eq!(connect(&publisher, m.port()), 0);
    let mut most_held = 0;
    for n in 0..1000 {
        let info = publisher
            .publish_wait("bp/count", n.to_string(), 1, false, Some(WAIT))
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        assert_eq!(info.rc(), ErrorCode::Success, "message {n}");
        most_held = most_held.max(publisher.memory_use().store);
    }
    let mut got = Vec::new();
    while got.len() < 1000 {
        let m = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("{} of 1000 received", got.len());
        });
        got.push(String::from_utf8(m.payload.clone()).unwrap());
    }
    let expected: Vec<String> = (0..1000).map(|n| n.to_string()).collect();
    assert_eq!(got, expected, "every message, once, in order");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "no copy"
    );
    // Ten messages of 2 + 2 + 8 + 2 + at most 3 bytes.
    assert!(most_held <= 10 * 17, "the store held {most_held} bytes");
    let _ = publisher.disconnect();
    let _ = publisher.loop_stop();
}

/// (b) A broker that never acknowledges: `publish_wait` returns after its
/// timeout with `QueueFull` naming the limit, and nothing is queued: the
/// broker gets no fourth PUBLISH, even once room comes later.
#[test]
fn publish_wait_times_out_with_the_reason_and_queues_nothing() {
    let broker = ScriptedBroker::bind().unwrap();
    let (c, mut conn) = full_client("bp-timeout", &broker);
    let timeout = Duration::from_millis(400);
    let t = Instant::now();
    let err = c
        .publish_wait("bp/t", "late", 1, false, Some(timeout))
        .unwrap_err();
    let took = t.elapsed();
    assert!(
        took >= timeout && took < timeout + MARGIN,
        "returned after {took:?}"
    );
    assert!(
        matches!(err, Error::QueueFull(StoreFull::Count(3))),
        "{err:?}"
    );
    assert_eq!(err.kind(), PahoErrorKind::ValueError);
    assert_eq!(
        err.to_string(),
        "Message is not queued due to ERR_QUEUE_SIZE: max_queued_messages (3) messages are queued"
    );
    // Three PUBLISHes of 2 + 2 + 4 + 2 + 2 bytes.
    assert_eq!(c.memory_use().store, 3 * 12, "still the three messages");
    // Acknowledging one makes room, and the late message was not kept.
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    conn.expect_silence(Duration::from_millis(300)).unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Offline with no loop to connect, a full store cannot drain:
/// `publish_wait` answers `QueueFull` at once instead of after its
/// timeout, and queues nothing.
#[test]
fn publish_wait_offline_with_no_loop_answers_queue_full_at_once() {
    let c = client("bp-offline-noloop");
    c.max_queued_messages_set(3).unwrap();
    for n in 0..3 {
        let info = c.publish("bp/o", vec![n], 1, false).unwrap();
        assert_eq!(info.rc(), ErrorCode::NoConn, "stored offline");
    }
    let t = Instant::now();
    let err = c
        .publish_wait("bp/o", "late", 1, false, Some(Duration::from_secs(5)))
        .unwrap_err();
    let took = t.elapsed();
    assert!(
        matches!(err, Error::QueueFull(StoreFull::Count(3))),
        "{err:?}"
    );
    assert!(took < Duration::from_millis(500), "returned after {took:?}");
    assert_eq!(c.stats().queued, 3, "the late message was not queued");
}

/// (c) From a callback (the loop's thread) with the store full,
/// `publish_wait` returns at once with an error naming why, instead of
/// waiting out its 10 s for acknowledgements only that loop could read.
#[test]
fn publish_wait_in_a_callback_errors_at_once_instead_of_hanging() {
    let broker = ScriptedBroker::bind().unwrap();
    let (c, mut conn) = full_client("bp-callback", &broker);
    let (tx, rx) = mpsc::channel();
    c.on_message(move |client, _, _| {
        let t = Instant::now();
        let result = client.publish_wait("bp/t", "from callback", 1, false, Some(WAIT));
        let _ = tx.send((
            t.elapsed(),
            result.map(|i| i.mid()).map_err(|e| e.to_string()),
        ));
    });
    // A QoS 0 PUBLISH to the client: "in" "x".
    conn.send_bytes(&hex("30 05 00 02 69 6e 78")).unwrap();
    let (blocked, result) = rx.recv_timeout(WAIT + MARGIN).expect("no on_message");
    assert!(
        blocked < Duration::from_millis(200),
        "blocked {} ms in the callback",
        blocked.as_millis()
    );
    assert_eq!(
        result,
        Err(
            "publish_wait() called from the network loop thread would never get room: \
             max_queued_messages (3) messages are queued"
                .to_string()
        )
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// (d) `disconnect()` or `loop_stop()` from another thread wakes a caller
/// waiting for room, with an error, long before its timeout.
#[test]
fn a_stop_wakes_a_caller_waiting_for_room() {
    for stop in ["disconnect", "loop_stop"] {
        let broker = ScriptedBroker::bind().unwrap();
        let (c, _conn) = full_client(&format!("bp-stop-{stop}"), &broker);
        let waiter = {
            let c = c.clone();
            thread::spawn(move || {
                let t = Instant::now();
                let result =
                    c.publish_wait("bp/t", "waits", 1, false, Some(Duration::from_secs(30)));
                (t.elapsed(), result.map(|i| i.mid()))
            })
        };
        thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        match stop {
            "disconnect" => assert_eq!(c.disconnect(), ErrorCode::Success),
            _ => assert_eq!(c.loop_stop(), ErrorCode::Success),
        }
        let (waited, result) = waiter.join().unwrap();
        assert!(
            t.elapsed() < MARGIN && waited < Duration::from_millis(300) + MARGIN,
            "{stop}: woken after {waited:?}"
        );
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "publish_wait() gave up: the client was stopped (disconnect(), loop_stop() or \
             reinitialise()) while max_queued_messages (3) messages are queued",
            "{stop}"
        );
        assert_eq!(err.kind(), PahoErrorKind::RuntimeError);
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

/// Drain: 500 QoS 1 messages published as fast as `publish` takes them,
/// then `disconnect_drain`: it returns with none left, and the subscriber
/// has every one (Paho's `disconnect()` would have cut the queue off).
#[test]
fn disconnect_drain_delivers_everything_queued_first() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (_sub, rx) = subscriber("drain-sub", m.port(), "drain/t", 1);
    let publisher = client("drain-pub");
    assert_eq!(connect(&publisher, m.port()), 0);
    for n in 0..500 {
        let info = publisher
            .publish("drain/t", n.to_string(), 1, false)
            .unwrap();
        assert_eq!(info.rc(), ErrorCode::Success);
    }
    let drained = publisher.disconnect_drain(Some(WAIT)).unwrap();
    assert_eq!((drained.left, drained.rc), (0, ErrorCode::Success));
    let mut got = Vec::new();
    while got.len() < 500 {
        let m = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{} of 500 received", got.len()));
        got.push(String::from_utf8(m.payload.clone()).unwrap());
    }
    let expected: Vec<String> = (0..500).map(|n| n.to_string()).collect();
    assert_eq!(got, expected);
    let _ = publisher.loop_stop();
}

/// Drain against a broker that acknowledges 2 of 5 messages: returns after
/// its timeout with exactly 3 left, then sends DISCONNECT as
/// `disconnect()` does. From a callback with messages left it errs at once
/// and does not disconnect.
#[test]
fn disconnect_drain_times_out_with_the_exact_count_left() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("drain-timeout");
    let mut conn = connected(&c, &broker);
    for n in 0..5 {
        let info = c.publish("drain/t", format!("m{n}"), 1, false).unwrap();
        assert_eq!(info.rc(), ErrorCode::Success);
    }
    assert_eq!(publishes(&mut conn, 5), [1, 2, 3, 4, 5]);
    conn.send_bytes(&hex("40 02 00 01 40 02 00 02")).unwrap();

    let (tx, rx) = mpsc::channel();
    c.on_message(move |client, _, _| {
        let t = Instant::now();
        let result = client.disconnect_drain(Some(WAIT));
        let _ = tx.send((t.elapsed(), result.map_err(|e| e.to_string())));
    });
    conn.send_bytes(&hex("30 05 00 02 69 6e 78")).unwrap();
    let (blocked, result) = rx.recv_timeout(WAIT + MARGIN).expect("no on_message");
    assert!(blocked < Duration::from_millis(200), "blocked {blocked:?}");
    assert_eq!(
        result,
        Err(
            "disconnect_drain() called from the network loop thread would never see its 3 \
             unacknowledged messages acknowledged"
                .to_string()
        )
    );
    assert!(c.is_connected(), "no disconnect from the callback");

    let timeout = Duration::from_millis(400);
    let t = Instant::now();
    let drained = c.disconnect_drain(Some(timeout)).unwrap();
    let took = t.elapsed();
    assert!(took >= timeout && took < timeout + MARGIN, "took {took:?}");
    assert_eq!((drained.left, drained.rc), (3, ErrorCode::Success));
    match conn.read_packet().unwrap() {
        Packet::Disconnect(_) => {}
        other => panic!("expected DISCONNECT, got {:?}", other.packet_type()),
    }
    let _ = c.loop_stop();
}

/// `queue_full_policy_set(DropOldest)`: offline with a store of 3, the
/// fourth message drops the first, whose `MessageInfo` ends `Evicted` at
/// once (its waiter is woken, with the reason) and which gets no
/// `on_publish`; once connected the other three reach a subscriber, in
/// order, and each gets its `on_publish`.
#[test]
fn drop_oldest_ends_the_dropped_message_stated_and_delivers_the_rest() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (_sub, rx) = subscriber("evict-sub", m.port(), "evict/t", 1);
    let publisher = client("evict-pub");
    publisher.max_queued_messages_set(3).unwrap();
    assert_eq!(publisher.queue_full_policy(), QueueFullPolicy::Refuse);
    publisher.queue_full_policy_set(QueueFullPolicy::DropOldest);
    let (ptx, prx) = mpsc::channel();
    publisher.on_publish(move |_, _, mid, _, _| {
        let _ = ptx.send(mid);
    });
    let first = publisher.publish("evict/t", "a", 1, false).unwrap();
    let waiter = {
        let first = first.clone();
        thread::spawn(move || {
            first
                .wait_for_publish(Some(WAIT))
                .map_err(|e| e.to_string())
        })
    };
    thread::sleep(Duration::from_millis(100));
    let rest: Vec<_> = ["b", "c", "d"]
        .iter()
        .map(|p| publisher.publish("evict/t", p, 1, false).unwrap())
        .collect();
    assert_eq!(first.outcome(), Outcome::Evicted);
    assert_eq!(first.rc(), ErrorCode::QueueSize);
    assert_eq!(
        waiter.join().unwrap(),
        Err(
            "Message publish failed: dropped unsent to make room for a newer message \
             (QueueFullPolicy::DropOldest)."
                .to_string()
        )
    );
    assert_eq!(connect(&publisher, m.port()), 0);
    for info in &rest {
        info.wait_for_publish(Some(WAIT)).unwrap();
    }
    let got: Vec<String> = (0..3)
        .map(|_| String::from_utf8(rx.recv_timeout(WAIT).unwrap().payload.clone()).unwrap())
        .collect();
    assert_eq!(got, ["b", "c", "d"]);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "no a");
    let mut published: Vec<u16> = prx.try_iter().collect();
    published.sort_unstable();
    assert_eq!(published, [2, 3, 4], "on_publish for the delivered only");
    let _ = publisher.disconnect();
    let _ = publisher.loop_stop();
}

/// `queue_qos0_offline_set(true)`: QoS 0 messages published before the
/// connection are kept (`rc` NO_CONN, outcome pending, waitable) and reach
/// a subscriber once connected; Paho's default drops them.
#[test]
fn qos0_queued_offline_is_delivered_after_the_connack() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (_sub, rx) = subscriber("q0-sub", m.port(), "q0/t", 0);
    let paho = client("q0-paho");
    assert!(!paho.queue_qos0_offline());
    let lost = paho.publish("q0/t", "lost", 0, false).unwrap();
    assert_eq!(
        (lost.rc(), lost.outcome()),
        (ErrorCode::NoConn, Outcome::NotConnected)
    );

    let publisher = client("q0-pub");
    publisher.queue_qos0_offline_set(true);
    let infos: Vec<_> = (0..3)
        .map(|n| {
            publisher
                .publish("q0/t", format!("m{n}"), 0, false)
                .unwrap()
        })
        .collect();
    for info in &infos {
        assert_eq!(
            (info.rc(), info.outcome()),
            (ErrorCode::NoConn, Outcome::Pending)
        );
    }
    assert_eq!(connect(&publisher, m.port()), 0);
    for info in &infos {
        info.wait_for_publish(Some(WAIT)).unwrap();
        assert_eq!(info.outcome(), Outcome::Published);
    }
    let got: Vec<String> = (0..3)
        .map(|_| String::from_utf8(rx.recv_timeout(WAIT).unwrap().payload.clone()).unwrap())
        .collect();
    assert_eq!(got, ["m0", "m1", "m2"]);
    let _ = publisher.disconnect();
    let _ = publisher.loop_stop();
}

/// (a) at the broker's small MQTT 5 limits (Receive Maximum 2, Maximum
/// Packet Size 256): 500 QoS 1 messages through a store of 10 all arrive,
/// once, in order, never more than 2 in flight; a message over the packet
/// size, published midway, is refused with `PAYLOAD_SIZE` within 200 ms
/// and never reaches the subscriber.
#[test]
fn publish_wait_at_small_mqtt5_limits_delivers_all_and_refuses_the_oversized_at_once() {
    let Some(m) = Mosquitto::start_or_skip(
        MosquittoConfig::default()
            .line("max_inflight_messages 2")
            .line("max_packet_size 256"),
    ) else {
        return;
    };
    let (_sub, rx) = subscriber("bp-small-sub", m.port(), "bp/small", 1);
    let publisher = common::clients::client_with(mqtt_tether::ClientOptions {
        client_id: "bp-small-pub".into(),
        protocol: mqtt_tether::ProtocolVersion::MQTTv5,
        ..mqtt_tether::ClientOptions::default()
    });
    publisher.max_queued_messages_set(10).unwrap();
    assert_eq!(connect(&publisher, m.port()), 0);
    assert_eq!(publisher.broker_limits().unwrap().receive_maximum, 2);
    let (mut most_in_flight, mut oversized_ms) = (0, u128::MAX);
    for n in 0..500 {
        if n == 250 {
            let started = Instant::now();
            let refused = publisher.publish_wait("bp/small", vec![b'x'; 300], 1, false, Some(WAIT));
            oversized_ms = started.elapsed().as_millis();
            let rc = match refused {
                Ok(info) => info.rc(),
                Err(e) => panic!("the oversized message: {e}"),
            };
            assert_eq!(rc, ErrorCode::PayloadSize);
        }
        let info = publisher
            .publish_wait("bp/small", n.to_string(), 1, false, Some(WAIT))
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        assert_eq!(info.rc(), ErrorCode::Success, "message {n}");
        most_in_flight = most_in_flight.max(publisher.stats().in_flight);
    }
    let mut got = Vec::new();
    while got.len() < 500 {
        let m = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("{} of 500 received", got.len());
        });
        got.push(String::from_utf8(m.payload.clone()).unwrap());
    }
    let expected: Vec<String> = (0..500).map(|n| n.to_string()).collect();
    assert_eq!(got, expected, "every message, once, in order");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "no copy, and not the oversized one"
    );
    assert!(most_in_flight <= 2, "{most_in_flight} in flight");
    assert!(
        oversized_ms < 200,
        "the oversized message waited {oversized_ms} ms for room"
    );
    let _ = publisher.disconnect();
    let _ = publisher.loop_stop();
}
