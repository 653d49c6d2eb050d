//! Regression tests for bugs a review found in the client's first version;
//! each asserts the fixed behaviour.
#![cfg(feature = "testing")]

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::clients::{client, client_with};
use common::hex;
use common::scripted::connected;
use mqtt_tether::packet::{Packet, PacketType, Properties, Property, ReasonCode};
use mqtt_tether::testing::ScriptedBroker;
use mqtt_tether::{ClientOptions, ErrorCode};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn mqtt3_disconnect_ignores_a_reason_code_and_still_sends_disconnect() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r1");
    let mut conn = connected(&c, &broker);
    let reason = ReasonCode::new(PacketType::Disconnect, "Disconnect with will message").unwrap();
    assert_eq!(c.disconnect_with(Some(reason), None), ErrorCode::Success);
    conn.expect_bytes(&hex("e0 00")).unwrap();
    let _ = c.loop_stop();
}

#[test]
fn mqtt3_publish_ignores_properties_instead_of_sending_nothing() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r2");
    let mut conn = connected(&c, &broker);
    let mut props = Properties::new(PacketType::Publish);
    props.push(Property::ContentType("x".into())).unwrap();
    let info = c.publish_with("a", "x", 1, false, Some(props)).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 61 00 01 78")).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    info.wait_for_publish(Some(WAIT)).unwrap();
    assert!(info.is_published().unwrap());
    let _ = c.loop_stop();
}

/// Which thread ran each callback, and how many ever ran at once.
#[derive(Default)]
struct CallbackThreads {
    ran: Mutex<Vec<(String, ThreadId)>>,
    busy: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl CallbackThreads {
    fn run(&self, what: String, f: impl FnOnce()) {
        let now = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        self.ran
            .lock()
            .unwrap()
            .push((what, thread::current().id()));
        // Long enough for a second loop's callback to overlap this one.
        thread::sleep(Duration::from_millis(20));
        f();
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    fn ran(&self) -> Vec<(String, ThreadId)> {
        self.ran.lock().unwrap().clone()
    }
}

/// Sends its thread's id when that thread ends (a thread-local's drop).
struct ThreadEnd(mpsc::Sender<ThreadId>, ThreadId);

impl Drop for ThreadEnd {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

thread_local! {
    static THREAD_END: RefCell<Option<ThreadEnd>> = const { RefCell::new(None) };
}

#[test]
fn loop_stop_and_loop_start_from_a_callback_never_run_two_loops() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r4");
    let threads = Arc::new(CallbackThreads::default());
    let (tx, rx) = mpsc::channel();
    let (end_tx, end_rx) = mpsc::channel();
    {
        let threads = Arc::clone(&threads);
        c.on_connect(move |client, _, _, _, _| {
            threads.run("connect".into(), || {
                let me = thread::current().id();
                THREAD_END.with(|end| *end.borrow_mut() = Some(ThreadEnd(end_tx.clone(), me)));
                let _ = client.loop_stop();
                let _ = tx.send(client.loop_start());
            });
        });
    }
    {
        let threads = Arc::clone(&threads);
        c.on_message(move |_, _, m| threads.run(format!("message {:?}", m.payload), || {}));
    }
    let mut conn = connected(&c, &broker);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), ErrorCode::Inval);
    // The loop that stopped itself ends, and no other took its place.
    let first = end_rx
        .recv_timeout(WAIT)
        .expect("the loop stopped from its on_connect went on running");
    // Now that none runs, one loop may start, and only one.
    assert_eq!(c.loop_start(), ErrorCode::Success);
    assert_eq!(c.loop_start(), ErrorCode::Inval);
    for i in 1..=3u8 {
        conn.send_bytes(&[0x30, 0x04, 0x00, 0x01, b't', i]).unwrap();
    }
    let t = Instant::now();
    while threads.ran().len() < 4 {
        assert!(t.elapsed() < WAIT, "delivered: {:?}", threads.ran());
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(c.loop_stop(), ErrorCode::Success);
    let ran = threads.ran();
    let what: Vec<&str> = ran.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        what,
        ["connect", "message [1]", "message [2]", "message [3]"]
    );
    assert_eq!(ran[0].1, first);
    let second = ran[1].1;
    assert_ne!(second, first, "the ended loop delivered a message");
    assert!(ran[1..].iter().all(|(_, t)| *t == second), "{ran:?}");
    assert_eq!(threads.most_at_once.load(Ordering::SeqCst), 1);
}

#[test]
fn a_broker_that_stops_reading_cannot_hang_loop_stop() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "r6".into(),
        ..ClientOptions::default()
    });
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 2).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = c.publish("big", vec![0u8; 64 << 20], 0, false).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = c.disconnect();
    let (tx, rx) = mpsc::channel();
    let c2 = c.clone();
    std::thread::spawn(move || {
        let _ = c2.loop_stop();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(8))
        .expect("loop_stop hung on a blocked write");
    drop(conn);
}

#[test]
fn a_failed_reconnect_leaves_no_half_open_session() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r8");
    let conn = connected(&c, &broker);
    let _ = c.loop_stop();
    drop(conn);
    drop(broker);
    assert!(c.reconnect().is_err());
    assert_eq!(
        c.publish("t", "x", 0, false).unwrap().rc(),
        ErrorCode::NoConn
    );
    assert_eq!(c.subscribe("s", 0).unwrap(), (ErrorCode::NoConn, None));
    let stored = c.publish("t", "x", 1, false).unwrap();
    assert_eq!(stored.rc(), ErrorCode::NoConn);
    // Its first send, after the next CONNACK, carries no DUP.
    let broker2 = ScriptedBroker::bind().unwrap();
    assert_eq!(
        c.connect("127.0.0.1", broker2.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn2 = broker2.accept().unwrap();
    conn2.expect_connect().unwrap();
    conn2.send_bytes(&hex("20 02 00 00")).unwrap();
    match conn2.read_packet().unwrap() {
        Packet::Publish(p) => assert!(!p.dup, "first send with DUP"),
        other => panic!("{other:?}"),
    }
    let _ = c.loop_stop();
}

#[test]
fn disconnect_during_an_automatic_reconnect_is_kept() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r9");
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(50));
    let calls = Arc::new(AtomicUsize::new(0));
    let k = Arc::clone(&calls);
    let (tx, rx) = mpsc::channel();
    c.on_pre_connect(move |_, _| {
        if k.fetch_add(1, Ordering::SeqCst) == 1 {
            let _ = tx.send(());
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let conn = connected(&c, &broker);
    drop(conn);
    rx.recv_timeout(WAIT).unwrap();
    let _ = c.disconnect();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!c.is_connected());
    let _ = c.loop_stop();
}

#[test]
fn unwritten_qos0_fails_when_the_connection_closes_without_a_reconnect() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "r10".into(),
        reconnect_on_failure: false,
        ..ClientOptions::default()
    });
    let (tx, rx) = mpsc::channel();
    c.on_message(move |client, _, _| {
        let _ = tx.send(client.publish("reply", "x", 0, false));
    });
    let mut conn = connected(&c, &broker);
    // A PUBLISH, then a malformed packet in the same write.
    conn.send_bytes(&hex("30 04 00 01 74 6d f0 00")).unwrap();
    let info = rx
        .recv_timeout(WAIT)
        .unwrap()
        .expect("publish() from on_message");
    let result = info.wait_for_publish(Some(WAIT));
    assert_eq!(
        result.unwrap_err().to_string(),
        "Message publish failed: The connection was lost."
    );
    assert_eq!(info.outcome(), mqtt_tether::Outcome::ConnectionLost);
}

#[test]
fn a_connack_read_after_disconnect_still_lets_the_disconnect_go_out() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r11");
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_write(), ErrorCode::Success);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.disconnect(), ErrorCode::Success);
    let _ = c.loop_read();
    let _ = c.loop_write();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    assert!(!c.is_connected());
}

#[test]
fn loop_stop_returns_when_a_callback_calls_loop_start() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r12");
    let (tx, rx) = mpsc::channel();
    c.on_message(move |client, _, _| {
        let _ = tx.send(());
        std::thread::sleep(Duration::from_millis(300));
        let _ = client.loop_start();
    });
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 02 00 00 30 04 00 01 74 6d"))
        .unwrap();
    rx.recv_timeout(WAIT).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let c2 = c.clone();
    std::thread::spawn(move || {
        let _ = c2.loop_stop();
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(WAIT).expect("loop_stop hung");
}

#[test]
fn dropping_the_last_handle_stops_the_loop_thread_and_closes_the_socket() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r5");
    let mut conn = connected(&c, &broker);
    let extra = c.clone();
    drop(c);
    conn.expect_silence(Duration::from_millis(100)).unwrap();
    drop(extra);
    conn.expect_close().unwrap();
    // And no automatic reconnect follows.
    broker
        .expect_no_connection(Duration::from_millis(1500))
        .unwrap();
}

#[test]
fn mqtt3_subscribe_ignores_properties_instead_of_sending_nothing() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r13");
    let mut conn = connected(&c, &broker);
    let mut props = Properties::new(PacketType::Subscribe);
    props.set(Property::SubscriptionIdentifier(7)).unwrap();
    let filters = vec![(
        "a".to_string(),
        mqtt_tether::SubscribeOptions::new(mqtt_tether::QoS::AtMostOnce),
    )];
    assert_eq!(
        c.subscribe_with(filters, Some(props)).unwrap(),
        (ErrorCode::Success, Some(1))
    );
    conn.expect_bytes(&hex("82 06 00 01 00 01 61 00")).unwrap();
    let _ = c.loop_stop();
}

/// Voluntary context switches of this process's thread named `name` (Linux
/// `/proc`), or None when there is no such thread.
#[cfg(target_os = "linux")]
fn context_switches(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok());
        }
    }
    None
}

/// An idle connected client does not wake up between keepalives (it used
/// to wake every second, like Paho's select() timeout).
#[cfg(target_os = "linux")]
#[test]
fn an_idle_connected_client_does_not_wake_up() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("i");
    let _conn = connected(&c, &broker);
    std::thread::sleep(Duration::from_millis(200));
    // Thread names are cut to 15 bytes by the kernel.
    let before = context_switches("mqtt-tether-i").expect("the loop thread");
    std::thread::sleep(Duration::from_millis(2500));
    let after = context_switches("mqtt-tether-i").expect("the loop thread");
    assert_eq!(after - before, 0, "the loop thread woke up while idle");
    assert!(c.is_connected());
}

/// A stored message's `MessageInfo` keeps no state of its own: it reads the
/// store. It must still read "not yet" until `on_publish` has run, as in
/// Paho, whose info is marked published after the callback.
#[test]
fn a_qos1_info_reads_published_only_after_on_publish_has_run() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r-order");
    let done = Arc::new(AtomicUsize::new(0));
    {
        let done = Arc::clone(&done);
        c.on_publish(move |_, _, _, _, _| {
            std::thread::sleep(Duration::from_millis(200));
            done.store(1, Ordering::SeqCst);
        });
    }
    let mut conn = connected(&c, &broker);
    let info = c.publish("t", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 74 00 01 78")).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    info.wait_for_publish(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1, "on_publish ran first");
    assert_eq!(info.outcome(), mqtt_tether::Outcome::Published);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Messages delivered before `drop_out_messages` stay published; the ones
/// it dropped fail, and so do, after `reinitialise`, the ones stored then,
/// however many `MessageInfo` clones there are.
#[test]
fn stored_infos_tell_delivered_from_dropped_and_reinitialised() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("r-epochs");
    let mut conn = connected(&c, &broker);
    let delivered = c.publish("t", "a", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 74 00 01 61")).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    delivered
        .wait_for_publish(Some(Duration::from_secs(5)))
        .unwrap();
    let dropped = c.publish("t", "b", 1, false).unwrap();
    let copy = dropped.clone();
    assert_eq!(dropped.outcome(), mqtt_tether::Outcome::Pending);
    assert_eq!(c.drop_out_messages().len(), 1);
    let later = c.publish("t", "c", 2, false).unwrap();
    let _ = c.loop_stop();
    c.reinitialise(ClientOptions::default()).unwrap();
    assert_eq!(delivered.outcome(), mqtt_tether::Outcome::Published);
    assert_eq!(copy.outcome(), mqtt_tether::Outcome::Dropped);
    assert_eq!(dropped.rc(), ErrorCode::ConnLost);
    assert_eq!(later.outcome(), mqtt_tether::Outcome::Reinitialised);
    assert!(later.wait_for_publish(None).is_err());
    drop(conn);
}

/// Found by review: completing a QoS 0 info in dispatch woke the waiters
/// while still holding the table of infos, and a waiter of a stored message
/// holds its wait lock while it reads the store under the core lock, while
/// a publisher holds the core lock and wants the table: three threads
/// stuck. With `on_publish` set (so QoS 0 completions go through dispatch)
/// it hung within a few hundred publishes.
#[test]
fn completing_infos_cannot_deadlock_against_waiters_and_publishers() {
    use std::sync::atomic::{AtomicBool, AtomicU64};
    let broker = mqtt_tether::testing::Broker::start().unwrap();
    let c = client("r-deadlock");
    c.on_publish(|_, _, _, _, _| {});
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, _, _, _, _| {
        let _ = tx.send(());
    });
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    rx.recv_timeout(WAIT).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for qos in [1, 1, 0, 0] {
        let (c, stop, progress) = (c.clone(), stop.clone(), progress.clone());
        threads.push(std::thread::spawn(move || {
            let payload = vec![0u8; 2048];
            while !stop.load(Ordering::SeqCst) {
                let info = c.publish("t", &payload, qos, false).unwrap();
                if qos == 1 {
                    let _ = info.wait_for_publish(Some(WAIT));
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let start = Instant::now();
    let (mut last, mut since) = (0, Instant::now());
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        let now = progress.load(Ordering::SeqCst);
        if now != last {
            (last, since) = (now, Instant::now());
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "no progress for 2 s after {now} publishes: deadlocked"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// Found by review: the reader thread, writing what the session queued,
/// started the re-send of stored messages while `on_connect` still ran in
/// the loop thread. The re-send must wait for `on_connect`: that is where
/// Paho's `drop_out_messages()` is meant to be called (reference §12.5),
/// and what it drops must never go out. (Messages published in
/// `on_connect` follow the backlog: tests/session_limits.rs.)
#[test]
fn with_a_reader_thread_the_resend_waits_for_on_connect() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "r-resume".into(),
        clean_session: Some(false),
        ..ClientOptions::default()
    });
    let _old = c.publish("old", "1", 1, false).unwrap();
    let (tx, dropped) = mpsc::channel();
    c.on_connect(move |c, _, _, _, _| {
        std::thread::sleep(Duration::from_millis(300));
        let _ = tx.send(c.drop_out_messages().len());
        let _ = c.publish("new", "2", 1, false);
    });
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_connack(false, 0).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Something for the reader while on_connect runs.
    conn.send_bytes(&hex("d0 00")).unwrap();
    let first = conn.read_packet().unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
    assert_eq!(
        dropped.recv_timeout(WAIT).unwrap(),
        1,
        "on_connect dropped `old`"
    );
    match first {
        Packet::Publish(p) => assert_eq!(p.topic, "new", "the dropped message never goes"),
        other => panic!("expected a PUBLISH, got {other:?}"),
    }
}

/// A stored message's info reads the client's store; once the client is
/// dropped with it undelivered, the info fails instead of reading "not
/// yet" forever.
#[test]
fn infos_of_messages_a_dropped_client_still_held_fail() {
    let c = client("r-dropped");
    let info = c.publish("t", "x", 1, false).unwrap();
    assert_eq!(info.outcome(), mqtt_tether::Outcome::Pending);
    drop(c);
    assert_eq!(info.outcome(), mqtt_tether::Outcome::ConnectionLost);
    assert!(info.wait_for_publish(None).is_err());
}
