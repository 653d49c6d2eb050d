//! Automatic reconnection against faults injected by the test kit's
//! FaultProxy: refused connections and the backoff between attempts.
#![cfg(feature = "testing")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::testing::{Broker, FaultProxy};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ErrorCode};

const WAIT: Duration = Duration::from_secs(10);

fn client(id: &str) -> Client {
    Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.into(),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

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
    c.disconnect();
    let (rc, ended) = runner.join().unwrap();
    // As in Paho's loop_forever, the rc of the last failed pass.
    assert_eq!(rc.unwrap(), ErrorCode::ConnLost);
    let latency = ended - asked;
    assert!(latency < Duration::from_millis(50), "took {latency:?}");
    assert_eq!(timeline.count("connect"), 0);
    assert_eq!(timeline.count("disconnect"), 0);
}
