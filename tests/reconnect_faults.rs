//! Automatic reconnection against faults injected by the test kit's
//! FaultProxy: refused connections and the backoff between attempts.
#![cfg(feature = "testing")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::client;
use mqtt_tether::testing::{Broker, FaultProxy};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ErrorCode};

const WAIT: Duration = Duration::from_secs(10);

/// What happened, in order, with when.
#[derive(Clone, Default)]
struct Timeline(Arc<Mutex<Vec<(Instant, String)>>>);

impl Timeline {
    fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push((Instant::now(), what.into()));
    }
    fn get(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().clone()
    }
    fn count(&self, what: &str) -> usize {
        self.get().iter().filter(|(_, w)| w == what).count()
    }
    fn wait_for(&self, what: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.count(what) < n {
            assert!(
                Instant::now() < deadline,
                "no {n} x {what}: {:?}",
                self.names()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fn names(&self) -> Vec<String> {
        self.get().into_iter().map(|(_, w)| w).collect()
    }
}

/// A broker that accepts TCP and resets at once: every attempt is reported
/// through on_connect_fail (never on_connect/on_disconnect), the attempts
/// follow the doubling backoff with exactly one wait between two attempts
/// (Paho waits twice after a failed first connect_async attempt), and
/// disconnect() during a wait ends the loop within 50 ms (Paho: up to 1 s).
#[test]
fn refused_connections_follow_the_backoff_and_disconnect_ends_the_wait_at_once() {
    let broker = Broker::start().unwrap();
    let proxy = FaultProxy::start(broker.addr().unwrap()).unwrap();
    proxy.set_refusing(true);
    let c = client("refused");
    c.reconnect_delay_set(Duration::from_millis(40), Duration::from_millis(320));
    let timeline = Timeline::default();
    let t = timeline.clone();
    c.on_connect_fail(move |_, _| t.push("connect_fail"));
    let t = timeline.clone();
    c.on_connect(move |_, _, _, _, _| t.push("connect"));
    let t = timeline.clone();
    c.on_disconnect(move |_, _, _, _, _| t.push("disconnect"));
    let t = timeline.clone();
    c.on_log(move |_, _, _, text| {
        if text.starts_with("Waiting ") {
            t.push("wait");
        }
    });
    c.connect_async("127.0.0.1", proxy.port(), 60).unwrap();
    let runner = {
        let c = c.clone();
        std::thread::spawn(move || {
            let rc = c.loop_forever(Duration::from_secs(1), true);
            (rc, Instant::now())
        })
    };
    timeline.wait_for("connect_fail", 6);

    let events = timeline.get();
    let fails: Vec<Instant> = events
        .iter()
        .filter(|(_, w)| w == "connect_fail")
        .map(|(at, _)| *at)
        .collect();
    for (i, pair) in fails.windows(2).take(5).enumerate() {
        let expected = Duration::from_millis((40u64 << i).min(320));
        let gap = pair[1] - pair[0];
        assert!(
            gap >= expected,
            "attempt {} came after {gap:?}, not {expected:?}",
            i + 2
        );
    }
    // Exactly one wait between two attempts, and no other callback.
    let names: Vec<&str> = events.iter().map(|(_, w)| w.as_str()).collect();
    let first = names.iter().position(|w| *w == "connect_fail").unwrap();
    for pair in names[first..].chunks(2).take(5) {
        assert_eq!(pair, ["connect_fail", "wait"], "{names:?}");
    }
    assert!(proxy.counters().refused >= 6);

    // Disconnect in the middle of a 320 ms wait.
    timeline.wait_for("wait", 7);
    std::thread::sleep(Duration::from_millis(20));
    let asked = Instant::now();
    let _ = c.disconnect();
    let (rc, ended) = runner.join().unwrap();
    // As in Paho's loop_forever, the rc of the last failed pass.
    assert_eq!(rc.unwrap(), ErrorCode::ConnLost);
    let latency = ended - asked;
    assert!(latency < Duration::from_millis(50), "took {latency:?}");
    assert_eq!(timeline.count("connect"), 0);
    assert_eq!(timeline.count("disconnect"), 0);
}

/// The in-process broker restarted without its sessions: the persistent
/// subscriber sees session_present 0 and, with automatic resubscribe, keeps
/// receiving; on_subscribe reports the SUBACK of the resubscribe.
#[test]
fn after_a_broker_restart_without_sessions_auto_resubscribe_keeps_messages_coming() {
    use mqtt_tether::testing::Restart;
    let mut broker = Broker::start().unwrap();
    let port = broker.port();
    let sub = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: "resub".into(),
            clean_session: Some(false),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    sub.reconnect_delay_set(Duration::from_millis(20), Duration::from_millis(100));
    sub.auto_resubscribe_set(true);
    let timeline = Timeline::default();
    let t = timeline.clone();
    sub.on_connect(move |_, _, flags, _, _| t.push(format!("connect {}", flags.session_present)));
    let t = timeline.clone();
    sub.on_subscribe(move |_, _, _, _, _| t.push("suback"));
    let t = timeline.clone();
    sub.on_message(move |_, _, m| t.push(String::from_utf8_lossy(&m.payload).into_owned()));
    // Asked before connecting: Paho's rc, and sent at the first CONNACK.
    assert_eq!(sub.subscribe("news/#", 1).unwrap().0, ErrorCode::NoConn);
    sub.connect_async("127.0.0.1", port, 60).unwrap();
    assert_eq!(sub.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    timeline.wait_for("suback", 1);

    let publish = |text: &str| {
        let p = client(&format!("pub-{text}"));
        assert_eq!(
            p.connect("127.0.0.1", port, 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(p.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        p.publish("news/a", text, 1, false)
            .unwrap()
            .wait_for_publish(Some(WAIT))
            .unwrap();
        let _ = p.disconnect();
        let _ = p.loop_stop();
    };
    publish("before");
    timeline.wait_for("before", 1);

    broker.restart(Restart::DiscardSessions).unwrap();
    timeline.wait_for("suback", 2);
    publish("after");
    timeline.wait_for("after", 1);
    let names = timeline.names();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("connect"))
            .collect::<Vec<_>>(),
        ["connect false", "connect false"],
        "{names:?}"
    );
    let _ = sub.disconnect();
    let _ = sub.loop_stop();
}

/// loop_stop() during a backoff wait ends the loop_start thread within
/// 50 ms (Paho: up to 1 s), and no further attempt is made.
#[test]
fn loop_stop_during_a_backoff_wait_returns_at_once() {
    let broker = Broker::start().unwrap();
    let proxy = FaultProxy::start(broker.addr().unwrap()).unwrap();
    proxy.set_refusing(true);
    let c = client("stop-in-wait");
    c.reconnect_delay_set(Duration::from_secs(5), Duration::from_secs(5));
    let timeline = Timeline::default();
    let t = timeline.clone();
    c.on_log(move |_, _, _, text| {
        if text.starts_with("Waiting ") {
            t.push("wait");
        }
    });
    c.connect_async("127.0.0.1", proxy.port(), 60).unwrap();
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    timeline.wait_for("wait", 1);
    std::thread::sleep(Duration::from_millis(20));
    let asked = Instant::now();
    assert_eq!(c.loop_stop(), ErrorCode::Success);
    let latency = asked.elapsed();
    assert!(latency < Duration::from_millis(50), "took {latency:?}");
    let attempts = proxy.counters().refused;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(proxy.counters().refused, attempts);
}

/// Paho's retry_first_connection: a connect_async() client whose first
/// attempt is refused gets on_connect_fail, and loop_forever(.., false)
/// returns the error instead of retrying.
#[test]
fn without_retry_first_connection_a_refused_first_attempt_is_returned() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let c = client("first-refused");
    let timeline = Timeline::default();
    let t = timeline.clone();
    c.on_connect_fail(move |_, _| t.push("connect_fail"));
    c.connect_async("127.0.0.1", port, 60).unwrap();
    let err = c.loop_forever(Duration::from_secs(1), false).unwrap_err();
    assert_eq!(err.kind(), mqtt_tether::PahoErrorKind::OsError, "{err}");
    assert_eq!(timeline.names(), ["connect_fail"]);
}

/// A failed attempt says which layer failed, in the error and in on_log,
/// and the automatic loop keeps trying.
#[test]
fn a_failed_attempt_names_its_layer_in_the_error_and_the_log() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let c = client("layer-named");
    c.reconnect_delay_set(Duration::from_millis(20), Duration::from_millis(20));
    let err = c.connect("127.0.0.1", port, 60).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("TCP connect to 127.0.0.1:{port} failed")),
        "{err}"
    );
    let timeline = Timeline::default();
    let t = timeline.clone();
    c.on_log(move |_, _, _, text| {
        if text.starts_with("Connection failed: TCP connect") {
            t.push("named");
        }
    });
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    timeline.wait_for("named", 2);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}
