//! A caller blocked in `wait_for_publish` reads the connection itself
//! (`driver/read_gate.rs`) while the reader thread stands by. These tests
//! pin what must not change whoever reads: the order of what arrives,
//! timeouts, the end of a connection, messages that end without any bytes
//! arriving, and the reader thread taking over again afterwards. Where the
//! design promises that the caller reads (porting guide §3.1), they check
//! `reads_by_waiting_callers`, and where it promises no read (`on_publish`
//! set, a backlog of events), that the count does not move.
#![cfg(feature = "testing")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::{client, client_with, fast_reconnecting_client};
use common::hex;
use common::scripted::{accept, connected};
use mqtt_tether::testing::ScriptedBroker;
use mqtt_tether::{Client, ClientOptions, Outcome, ProtocolVersion};

const WAIT: Duration = Duration::from_secs(5);

/// The topics `on_message` saw, in order.
fn record_topics(c: &Client) -> Arc<Mutex<Vec<String>>> {
    let topics = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&topics);
    c.on_message(move |_, _, m| seen.lock().unwrap().push(m.topic.clone()));
    topics
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn what_a_waiting_caller_reads_reaches_the_callbacks_in_order() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w1");
    let topics = record_topics(&c);
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    let script = std::thread::spawn(move || {
        conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
        // Separate writes, so the waiting caller reads more than once.
        for bytes in ["30 04 00 01 61 41", "30 04 00 01 62 42", "40 02 00 01"] {
            conn.send_bytes(&hex(bytes)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        conn.send_bytes(&hex("30 04 00 01 63 43")).unwrap();
        conn
    });
    info.wait_for_publish(Some(WAIT)).unwrap();
    assert!(info.is_published().unwrap());
    assert!(
        c.reads_by_waiting_callers() > 0,
        "the waiting caller read nothing"
    );
    let _conn = script.join().unwrap();
    wait_until("three messages", || topics.lock().unwrap().len() == 3);
    assert_eq!(*topics.lock().unwrap(), ["a", "b", "c"]);
    let _ = c.loop_stop();
}

#[test]
fn after_a_wait_times_out_the_reader_thread_reads_again() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w2");
    let topics = record_topics(&c);
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
    // A message during the wait: the caller reads it, with the socket's read
    // timeout set.
    let script = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        conn.send_bytes(&hex("30 04 00 01 61 41")).unwrap();
        conn
    });
    let t = Instant::now();
    info.wait_for_publish(Some(Duration::from_millis(300)))
        .unwrap();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "returned after {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "returned after {waited:?}");
    assert!(!info.is_published().unwrap());
    let mut conn = script.join().unwrap();
    let read_by_caller = c.reads_by_waiting_callers();
    assert!(read_by_caller > 0, "the waiting caller read nothing");
    // Set only now: with on_publish set a caller would not read.
    let (acked_tx, acked_rx) = mpsc::channel();
    c.on_publish(move |_, _, mid, _, _| acked_tx.send(mid).unwrap());
    // Nobody waits now: the acknowledgement and a message must still be
    // read (the socket's read timeout the caller used is gone).
    std::thread::sleep(Duration::from_millis(100));
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    assert_eq!(acked_rx.recv_timeout(WAIT).unwrap(), 1);
    wait_until("published", || info.is_published().unwrap());
    conn.send_bytes(&hex("30 04 00 01 62 42")).unwrap();
    wait_until("the message", || topics.lock().unwrap().len() == 2);
    assert_eq!(*topics.lock().unwrap(), ["a", "b"]);
    assert_eq!(
        c.reads_by_waiting_callers(),
        read_by_caller,
        "the reader thread read after the wait"
    );
    let _ = c.loop_stop();
}

#[test]
fn a_waiting_caller_sees_the_connection_end_and_its_message_is_resent() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = fast_reconnecting_client("w3");
    let (lost_tx, lost_rx) = mpsc::channel();
    c.on_disconnect(move |_, _, _, _, _| lost_tx.send(()).unwrap());
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
    let waiting = {
        let info = info.clone();
        std::thread::spawn(move || info.wait_for_publish(Some(WAIT)))
    };
    // Let the caller block in its read, then end the connection under it.
    // A message first: the caller reads it, so it is the caller that holds
    // the connection when it ends.
    std::thread::sleep(Duration::from_millis(100));
    conn.send_bytes(&hex("30 04 00 01 61 41")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(conn);
    lost_rx.recv_timeout(WAIT).expect("no on_disconnect");
    let mut conn = accept(&c, &broker);
    // Resent with DUP after the new CONNACK, and acknowledged.
    conn.expect_bytes(&hex("3a 06 00 01 71 00 01 78")).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    waiting.join().unwrap().unwrap();
    assert!(info.is_published().unwrap());
    assert!(
        c.reads_by_waiting_callers() > 0,
        "the waiting caller read nothing"
    );
    let _ = c.loop_stop();
}

#[test]
fn drop_out_messages_ends_a_wait_although_nothing_arrives() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w4");
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
    let waiting = {
        let info = info.clone();
        std::thread::spawn(move || {
            let result = info.wait_for_publish(None);
            (result, Instant::now())
        })
    };
    // A message first, which the caller reads: then it is the caller, in
    // its read, that must notice the drop.
    std::thread::sleep(Duration::from_millis(100));
    conn.send_bytes(&hex("30 04 00 01 61 41")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let dropped_at = Instant::now();
    assert_eq!(c.drop_out_messages().len(), 1);
    let (result, returned_at) = waiting.join().unwrap();
    assert_eq!(
        result.unwrap_err().to_string(),
        "Message publish failed: dropped by drop_out_messages()."
    );
    assert!(returned_at.duration_since(dropped_at) < Duration::from_secs(1));
    assert_eq!(info.outcome(), Outcome::Dropped);
    assert!(
        c.reads_by_waiting_callers() > 0,
        "the waiting caller read nothing"
    );
    let _ = c.loop_stop();
}

#[test]
fn a_waiting_caller_answers_pubrec_with_pubrel() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w5");
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 2, false).unwrap();
    let script = std::thread::spawn(move || {
        conn.expect_bytes(&hex("34 06 00 01 71 00 01 78")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        conn.send_bytes(&hex("50 02 00 01")).unwrap();
        conn.expect_bytes(&hex("62 02 00 01")).unwrap();
        conn.send_bytes(&hex("70 02 00 01")).unwrap();
        conn
    });
    info.wait_for_publish(Some(WAIT)).unwrap();
    assert!(info.is_published().unwrap());
    assert!(
        c.reads_by_waiting_callers() > 0,
        "the waiting caller read nothing"
    );
    let _conn = script.join().unwrap();
    let _ = c.loop_stop();
}

#[test]
fn two_callers_waiting_at_once_both_return() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w6");
    let mut conn = connected(&c, &broker);
    let first = c.publish("q", "x", 1, false).unwrap();
    let second = c.publish("q", "y", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 02 79")).unwrap();
    let waiters: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|info| std::thread::spawn(move || info.wait_for_publish(Some(WAIT))))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // The second message's acknowledgement first, then the first's.
    conn.send_bytes(&hex("40 02 00 02")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    assert!(first.is_published().unwrap() && second.is_published().unwrap());
    // One of them read; the other waited to be woken.
    assert!(
        c.reads_by_waiting_callers() > 0,
        "no waiting caller read anything"
    );
    let _ = c.loop_stop();
}

#[test]
fn with_on_publish_set_the_waiting_caller_leaves_reading_to_the_reader() {
    // The loop completes the message only after on_publish, and wakes the
    // sleeping waiters; a caller blocked reading would not hear it (it
    // found out only at the end of its read slice, 20 ms per message).
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w7");
    let (acked_tx, acked_rx) = mpsc::channel();
    c.on_publish(move |_, _, mid, _, _| acked_tx.send(mid).unwrap());
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    let script = std::thread::spawn(move || {
        conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        conn.send_bytes(&hex("40 02 00 01")).unwrap();
        conn
    });
    info.wait_for_publish(Some(WAIT)).unwrap();
    assert!(info.is_published().unwrap());
    assert_eq!(
        acked_rx.try_recv().unwrap(),
        1,
        "published before on_publish ran"
    );
    assert_eq!(c.reads_by_waiting_callers(), 0);
    let _conn = script.join().unwrap();
    let _ = c.loop_stop();
}

#[test]
fn a_server_disconnect_read_by_a_waiting_caller_reaches_on_disconnect() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "w8".into(),
        protocol: ProtocolVersion::MQTTv5,
        reconnect_on_failure: false,
        ..ClientOptions::default()
    });
    let (reason_tx, reason_rx) = mpsc::channel();
    c.on_disconnect(move |_, _, flags, rc, _| {
        reason_tx
            .send((flags.is_disconnect_packet_from_server, rc.value()))
            .unwrap();
    });
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 03 00 00 00")).unwrap();
    wait_until("CONNACK", || c.is_connected());
    let info = c.publish("q", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 07 00 01 71 00 01 00 78"))
        .unwrap();
    let waiting = {
        let info = info.clone();
        std::thread::spawn(move || info.wait_for_publish(Some(Duration::from_millis(500))))
    };
    std::thread::sleep(Duration::from_millis(100));
    // A message first, which the caller reads (a read that ends the
    // connection is not counted): the count shows the caller holds the
    // connection when the DISCONNECT comes.
    conn.send_bytes(&hex("30 05 00 01 61 00 41")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // DISCONNECT "Server shutting down", and the end of the stream at once:
    // the end must not be reported before the packet read with it.
    conn.send_bytes(&hex("e0 01 8b")).unwrap();
    conn.close();
    assert_eq!(reason_rx.recv_timeout(WAIT).unwrap(), (true, 0x8b));
    waiting.join().unwrap().unwrap();
    assert!(!info.is_published().unwrap());
    assert!(
        c.reads_by_waiting_callers() > 0,
        "the waiting caller read nothing"
    );
    let _ = c.loop_stop();
}

#[test]
fn past_the_event_backlog_a_waiting_caller_reads_nothing_and_the_reader_stops() {
    // EVENT_BACKLOG in driver/reader_feed.rs: more undelivered events than
    // this, and nobody reads until the loop has delivered them.
    const BACKLOG: usize = 8192;
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("w9");
    let delivered = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let d = Arc::clone(&delivered);
    c.on_message(move |_, _, _| {
        if d.fetch_add(1, Ordering::SeqCst) == 0 {
            // The first message holds the loop thread, so events pile up.
            let _ = entered_tx.send(());
            let _ = release_rx.lock().unwrap().recv_timeout(WAIT * 4);
        }
    });
    let mut conn = connected(&c, &broker);
    let info = c.publish("q", "x", 1, false).unwrap();
    conn.expect_bytes(&hex("32 06 00 01 71 00 01 78")).unwrap();
    conn.send_bytes(&hex("30 04 00 01 62 42")).unwrap();
    entered_rx.recv_timeout(WAIT).expect("no on_message");

    // One event past the backlog, read by a waiting caller: the last
    // message read puts it over, so the caller stops with nothing left
    // unread and lets the connection go.
    let script = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        conn.send_bytes(&hex("30 03 00 01 61").repeat(BACKLOG + 1))
            .unwrap();
        conn
    });
    info.wait_for_publish(Some(Duration::from_millis(500)))
        .unwrap();
    let mut conn = script.join().unwrap();
    assert!(!info.is_published().unwrap());
    let read_by_caller = c.reads_by_waiting_callers();
    assert!(read_by_caller > 0, "the waiting caller read nothing");
    assert_eq!(c.pending_events(), BACKLOG + 1);

    // A caller waiting again, with the connection free and the backlog
    // still there, must not read: the acknowledgement is the reader
    // thread's to read, which then waits for the loop.
    let waiting = {
        let info = info.clone();
        std::thread::spawn(move || info.wait_for_publish(Some(WAIT)))
    };
    std::thread::sleep(Duration::from_millis(100));
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    waiting.join().unwrap().unwrap();
    assert!(info.is_published().unwrap());
    assert_eq!(
        c.reads_by_waiting_callers(),
        read_by_caller,
        "a waiting caller read past the event backlog"
    );

    // Nobody reads now: a PINGREQ goes unanswered (the reader thread
    // answers one at once while the loop is free) until the loop delivers.
    conn.send_bytes(&hex("c0 00")).unwrap();
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    assert_eq!(c.pending_events(), BACKLOG + 1);
    release_tx.send(()).unwrap();
    conn.expect_bytes(&hex("d0 00")).unwrap();
    wait_until("every message", || {
        delivered.load(Ordering::SeqCst) == BACKLOG + 2
    });
    assert_eq!(c.pending_events(), 0);
    let _ = c.loop_stop();
}
