//! The client against real brokers: the in-process test broker, and
//! Mosquitto (skip line without it; a failure on CI).
#![cfg(feature = "testing")]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::session::Message;
use mqtt_tether::testing::{Broker, Mosquitto, MosquittoConfig};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ErrorCode, ProtocolVersion};

use common::clients::{connect, subscriber};

const WAIT: Duration = Duration::from_secs(10);

fn client(id: &str, protocol: ProtocolVersion) -> Client {
    Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.into(),
            protocol,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn round_trips(port: u16) {
    let (sub, rx) = subscriber("rt-sub", port, "rt/#", 2);
    let publisher = client("rt-pub", ProtocolVersion::MQTTv311);
    assert_eq!(connect(&publisher, port), 0);
    for qos in 0..=2 {
        let info = publisher
            .publish("rt/t", format!("m{qos}"), qos, false)
            .unwrap();
        info.wait_for_publish(Some(WAIT)).unwrap();
        assert!(info.is_published().unwrap());
        let m = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice(), m.qos as i32),
            ("rt/t", format!("m{qos}").as_bytes(), qos)
        );
    }
    // Retained: a later subscriber gets it with the flag.
    publisher
        .publish("rt/kept", "kept", 1, true)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    let (late, late_rx) = subscriber("rt-late", port, "rt/kept", 1);
    let m = late_rx.recv_timeout(WAIT).unwrap();
    assert!(m.retain && m.payload == b"kept");
    publisher
        .publish("rt/kept", "", 1, true)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    for c in [&sub, &publisher, &late] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn qos_0_1_2_and_retained_round_trips_through_the_test_broker() {
    let broker = Broker::start().unwrap();
    round_trips(broker.port());
}

#[test]
fn qos_0_1_2_and_retained_round_trips_through_mosquitto() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    round_trips(m.port());
}

#[test]
fn will_is_delivered_after_an_abnormal_close_and_not_after_disconnect() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (_watcher, rx) = subscriber("will-watcher", m.port(), "will/#", 1);
    // A clean disconnect: no will.
    let polite = client("polite", ProtocolVersion::MQTTv311);
    polite
        .will_set("will/polite", "gone", 1, false, None)
        .unwrap();
    assert_eq!(connect(&polite, m.port()), 0);
    let _ = polite.disconnect();
    let _ = polite.loop_stop();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    // An abnormal close: the broker publishes the will. A FaultProxy cut
    // plays the network failure.
    let proxy = mqtt_tether::testing::FaultProxy::start(m.addr()).unwrap();
    let rude = client("rude", ProtocolVersion::MQTTv311);
    rude.will_set("will/rude", "died", 1, false, None).unwrap();
    rude.reconnect_delay_set(Duration::from_secs(60), Duration::from_secs(60));
    assert_eq!(connect(&rude, proxy.port()), 0);
    proxy.cut_all();
    let will = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (will.topic.as_str(), will.payload.as_slice()),
        ("will/rude", &b"died"[..])
    );
    let _ = rude.disconnect();
    let _ = rude.loop_stop();
}

#[test]
fn credentials_from_a_password_file_are_accepted_or_refused_with_the_right_code() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default().user("alice", "secret"))
    else {
        return;
    };
    let good = client("good", ProtocolVersion::MQTTv311);
    good.username_pw_set(Some("alice"), Some("secret")).unwrap();
    assert_eq!(connect(&good, m.port()), 0);
    let _ = good.disconnect();
    let _ = good.loop_stop();

    let bad = client("bad", ProtocolVersion::MQTTv311);
    bad.username_pw_set(Some("alice"), Some("wrong")).unwrap();
    let (tx, rx) = mpsc::channel();
    bad.on_disconnect(move |client, _, _, rc, _| {
        let _ = tx.send(rc.value());
        // Stop the automatic retries.
        let _ = client.disconnect();
    });
    // Paho maps CONNACK 5 to reason 135 "Not authorized".
    assert_eq!(connect(&bad, m.port()), 135);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        128,
        "CONN_REFUSED maps to Unspecified error"
    );
    let _ = bad.loop_stop();
}

/// What the load test's subscriber saw, recorded in `on_message` and checked
/// in the test thread (a failed assertion in a callback on the loop_start
/// thread would not fail the test).
#[derive(Default)]
struct LoadSeen {
    /// The distinct load messages, as (thread, i).
    distinct: HashSet<(usize, usize)>,
    /// Load messages delivered, a second delivery of one included.
    deliveries: usize,
    /// The marker published after all load messages arrived.
    end: bool,
    echoes: usize,
    /// Anything else: unexpected messages, and errors of the re-entrant
    /// calls.
    wrong: Vec<String>,
}

impl LoadSeen {
    fn record(&mut self, client: &Client, m: &Message) {
        let payload = String::from_utf8_lossy(&m.payload);
        if m.topic == "echo/x" && payload == "e" {
            self.echoes += 1;
            return;
        }
        if m.topic == "load/end" && payload == "end" {
            self.end = true;
            return;
        }
        let parsed = m.topic.strip_prefix("load/").and_then(|t| {
            let (pt, i) = payload.split_once('-')?;
            (pt == t).then_some(())?;
            Some((t.parse::<usize>().ok()?, i.parse::<usize>().ok()?))
        });
        let Some((t, i)) = parsed else {
            self.wrong
                .push(format!("unexpected message {:?} {payload:?}", m.topic));
            return;
        };
        self.deliveries += 1;
        self.distinct.insert((t, i));
        // Callbacks publish and subscribe too, re-entrantly.
        if i == 0 {
            match client.publish("echo/x", "e", 0, false) {
                Ok(info) if info.rc() == ErrorCode::Success => {}
                Ok(info) => self.wrong.push(format!("echo publish: {:?}", info.rc())),
                Err(e) => self.wrong.push(format!("echo publish: {e}")),
            }
            match client.subscribe("echo/#", 0) {
                Ok((ErrorCode::Success, _)) => {}
                other => self.wrong.push(format!("echo subscribe: {other:?}")),
            }
        }
    }
}

#[test]
fn eight_threads_publish_ten_thousand_qos1_each_while_callbacks_publish_and_subscribe() {
    // Mosquitto drops QoS 1 messages beyond 1,000 queued for a slow
    // subscriber by default; this test is about the client losing nothing.
    let config = MosquittoConfig::default().line("max_queued_messages 0");
    let Some(m) = Mosquitto::start_or_skip(config) else {
        return;
    };
    const THREADS: usize = 8;
    const EACH: usize = 10_000;
    const TOTAL: usize = THREADS * EACH;
    let seen = Arc::new(Mutex::new(LoadSeen::default()));
    let sub = client("load-sub", ProtocolVersion::MQTTv311);
    let s = Arc::clone(&seen);
    sub.on_message(move |client, _, m| s.lock().unwrap().record(client, m));
    let (stx, srx) = mpsc::channel();
    sub.on_subscribe(move |_, _, _, _, _| {
        let _ = stx.send(());
    });
    assert_eq!(connect(&sub, m.port()), 0);
    let _ = sub.subscribe("load/#", 1).unwrap();
    srx.recv_timeout(WAIT).unwrap();

    let publisher = client("load-pub", ProtocolVersion::MQTTv311);
    publisher.max_inflight_messages_set(100).unwrap();
    let published = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&published);
    publisher.on_publish(move |_, _, _, _, _| {
        p.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(connect(&publisher, m.port()), 0);
    let infos = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let publisher = publisher.clone();
            let infos = Arc::clone(&infos);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let info = publisher
                        .publish(&format!("load/{t}"), format!("{t}-{i}"), 1, false)
                        .unwrap();
                    assert_eq!(info.rc(), ErrorCode::Success);
                    // Message ids are 16 bits, so no client can hold more
                    // than 65,535 unacknowledged messages (QUEUE_SIZE, as in
                    // Paho): pace on an acknowledgement every 500.
                    if i % 500 == 499 {
                        info.wait_for_publish(Some(WAIT)).unwrap();
                    }
                    if i % 1000 == 0 {
                        infos.lock().unwrap().push(info);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Sent after every load message, so the subscriber gets it after them:
    // a load message delivered twice shows by then.
    publisher
        .publish("load/end", "end", 1, false)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    // A watchdog instead of a hang: everything must arrive within a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let seen = seen.lock().unwrap();
            if seen.distinct.len() == TOTAL && seen.end {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {TOTAL} distinct messages arrived ({} deliveries, end marker {}; \
                 {} acknowledged to the publisher)",
                seen.distinct.len(),
                seen.deliveries,
                seen.end,
                published.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for info in infos.lock().unwrap().iter() {
        info.wait_for_publish(Some(WAIT)).unwrap();
        assert!(info.is_published().unwrap());
    }
    assert_eq!(published.load(Ordering::Relaxed), TOTAL + 1);
    for c in [&sub, &publisher] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.wrong, Vec::<String>::new());
    // The connection never dropped, so the broker had no reason to send a
    // message twice: each arrived exactly once.
    assert_eq!(seen.deliveries, TOTAL, "load messages delivered");
    assert!(seen.echoes <= THREADS, "{} echoes", seen.echoes);
}

fn v5_subscriber(id: &str, port: u16, filter: &str) -> (Client, mpsc::Receiver<Message>) {
    let c = client(id, ProtocolVersion::MQTTv5);
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| {
        let _ = tx.send(m.clone());
    });
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, codes, _| {
        let _ = stx.send(codes[0].value());
    });
    assert_eq!(connect(&c, port), 0);
    let _ = c.subscribe(filter, 1).unwrap();
    assert_eq!(srx.recv_timeout(WAIT).unwrap(), 1, "granted QoS 1");
    (c, rx)
}

#[test]
fn v5_properties_round_trip_through_mosquitto() {
    use mqtt_tether::packet::{PacketType, Properties, Property};
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (sub, rx) = v5_subscriber("props-sub", m.port(), "props/#");
    let publisher = client("props-pub", ProtocolVersion::MQTTv5);
    assert_eq!(connect(&publisher, m.port()), 0);
    let mut props = Properties::new(PacketType::Publish);
    props
        .push(Property::UserProperty("k1".into(), "v1".into()))
        .unwrap();
    props
        .push(Property::UserProperty("k2".into(), "v2".into()))
        .unwrap();
    props.set(Property::MessageExpiryInterval(3600)).unwrap();
    props
        .set(Property::ResponseTopic("props/reply".into()))
        .unwrap();
    props.set(Property::CorrelationData(vec![1, 2, 3])).unwrap();
    props
        .set(Property::ContentType("text/plain".into()))
        .unwrap();
    publisher
        .publish_with("props/t", "with properties", 1, false, Some(props))
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    let got = rx.recv_timeout(WAIT).unwrap();
    let p = &got.properties;
    assert_eq!(
        p.user_properties().collect::<Vec<_>>(),
        [("k1", "v1"), ("k2", "v2")]
    );
    let expiry = p.message_expiry_interval().unwrap();
    assert!(expiry > 0 && expiry <= 3600, "expiry {expiry}");
    assert_eq!(p.response_topic(), Some("props/reply"));
    assert_eq!(p.correlation_data(), Some(&[1u8, 2, 3][..]));
    assert_eq!(p.content_type(), Some("text/plain"));
    for c in [&sub, &publisher] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn a_shared_subscription_splits_messages_between_two_clients() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let (a, rx_a) = v5_subscriber("share-a", m.port(), "$share/g/share/t");
    let (b, rx_b) = v5_subscriber("share-b", m.port(), "$share/g/share/t");
    let publisher = client("share-pub", ProtocolVersion::MQTTv5);
    assert_eq!(connect(&publisher, m.port()), 0);
    const N: usize = 20;
    for i in 0..N {
        publisher
            .publish("share/t", format!("{i}"), 1, false)
            .unwrap()
            .wait_for_publish(Some(WAIT))
            .unwrap();
    }
    let mut got_a = 0;
    let mut got_b = 0;
    let deadline = Instant::now() + WAIT;
    while got_a + got_b < N && Instant::now() < deadline {
        while rx_a.try_recv().is_ok() {
            got_a += 1;
        }
        while rx_b.try_recv().is_ok() {
            got_b += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got_a + got_b, N, "each message goes to exactly one member");
    assert!(got_a > 0 && got_b > 0, "split {got_a}/{got_b}");
    for c in [&a, &b, &publisher] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}
