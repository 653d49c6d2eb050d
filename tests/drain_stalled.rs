//! `disconnect_drain` against a broker that accepts the connection (CONNACK)
//! and then never reads its socket again (issue 16's boundary). With
//! `loop_start` running, 16 MiB of QoS 1 messages fill both socket buffers
//! and the rest stays in the client: the drain returns at its deadline (the
//! figure: milliseconds blocked, at least the timeout and within a margin
//! for a loaded machine) with every published message left, and neither
//! its `disconnect()` (whose DISCONNECT the socket cannot take) nor the
//! `loop_stop()` after it hangs. With no loop, on the caller's thread: a
//! drain over what the buffers took ends at its deadline the same way; and
//! once the buffers are full it is `publish` that blocks, at most a
//! keepalive period, after which the link is closed and the drain returns
//! at once (no connection and no loop to make one: nothing can be
//! acknowledged) with every message left and `MQTT_ERR_NO_CONN`; so does
//! a drain on a client that never connected.
#![cfg(feature = "testing")]

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::client;
use common::hex;
use common::scripted::connected;
use mqtt_tether::testing::{ScriptedBroker, ScriptedConnection};
use mqtt_tether::{Client, Drained, ErrorCode};

const TIMEOUT: Duration = Duration::from_millis(1500);
/// What a call may take beyond its deadline on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(3);
/// A drain with nothing to wait for returns well within this, however
/// loaded the machine.
const QUICK: Duration = Duration::from_millis(500);
const MESSAGES: usize = 64;
const PAYLOAD: usize = 256 * 1024;

/// A client with no in-flight limit, so every message goes to the socket
/// at once rather than waiting in the store for a window that never opens.
fn unlimited_client(id: &str) -> Client {
    let c = client(id);
    c.max_inflight_messages_set(0).unwrap();
    c
}

fn publish_all(c: &Client) {
    let payload = vec![b'x'; PAYLOAD];
    for n in 0..MESSAGES {
        let info = c
            .publish("drain/stalled", payload.clone(), 1, false)
            .unwrap();
        assert_eq!(info.rc(), ErrorCode::Success, "message {n}");
    }
}

/// Waits until the bytes written stop growing for 300 ms; returns them. Fewer than were published: the
/// socket buffers are full and the client holds the rest.
fn wait_for_stall(c: &Client) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (0, Instant::now());
    loop {
        let sent = c.stats().counters.bytes_sent;
        if sent != last.0 {
            last = (sent, Instant::now());
        } else if last.1.elapsed() >= Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < deadline, "the writes never stalled");
        thread::sleep(Duration::from_millis(10));
    }
    let published = (MESSAGES * PAYLOAD) as u64;
    assert!(
        last.0 > 0 && last.0 < published,
        "{} of {published} bytes written: not stalled",
        last.0
    );
    last.0
}

/// `disconnect_drain(TIMEOUT)` from an application thread (no loop runs
/// on it), watched from this one so that a drain ignoring its deadline
/// fails the test instead of hanging it. Returns the milliseconds it
/// blocked (checked: at least the timeout, within the margin) and what it
/// returned.
fn drain(c: &Client, what: &str) -> Drained {
    let (blocked, drained) = drain_timed(c, what);
    assert!(
        blocked >= TIMEOUT,
        "{what}: blocked {} ms",
        blocked.as_millis()
    );
    drained
}

/// `disconnect_drain(TIMEOUT)` on a thread of its own: how long it blocked,
/// and what it returned.
fn drain_timed(c: &Client, what: &str) -> (Duration, Drained) {
    let (tx, rx) = mpsc::channel();
    let caller = c.clone();
    thread::spawn(move || {
        let t = Instant::now();
        let drained = caller.disconnect_drain(Some(TIMEOUT)).unwrap();
        let _ = tx.send((t.elapsed(), drained));
    });
    let Ok((blocked, drained)) = rx.recv_timeout(TIMEOUT + MARGIN) else {
        panic!("{what}: disconnect_drain({TIMEOUT:?}) still blocked after {MARGIN:?} more");
    };
    eprintln!(
        "{what}: disconnect_drain({TIMEOUT:?}) blocked {} ms, left {}, rc {:?}",
        blocked.as_millis(),
        drained.left,
        drained.rc
    );
    (blocked, drained)
}

#[test]
fn drain_with_the_loop_running_ends_at_its_deadline_against_a_broker_that_stops_reading() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = unlimited_client("drain-stalled-loop");
    // Connected, and the broker's side is never read again.
    let _conn = connected(&c, &broker);
    publish_all(&c);
    let written = wait_for_stall(&c);
    eprintln!("with loop: {written} bytes written before the stall");
    let drained = drain(&c, "with loop");
    // Not one message was acknowledged.
    assert_eq!((drained.left, drained.rc), (MESSAGES, ErrorCode::Success));

    let t = Instant::now();
    let rc = c.loop_stop();
    let stopping = t.elapsed();
    eprintln!("with loop: loop_stop took {} ms", stopping.as_millis());
    assert_eq!(rc, ErrorCode::Success);
    assert!(stopping < MARGIN, "loop_stop took {stopping:?}");
}

/// Connects `c` with no loop running: the broker's side on a thread of its
/// own, since the client writes its CONNECT only when this thread runs its
/// loop. Returns the broker's side of the connection, never read again.
fn connected_without_loop(c: &Client, keepalive: u16) -> ScriptedConnection {
    let broker = ScriptedBroker::bind().unwrap();
    let port = broker.port();
    let accepting = thread::spawn(move || {
        let mut conn = broker.accept().unwrap();
        conn.expect_connect().unwrap();
        conn.send_bytes(&hex("20 02 00 00")).unwrap();
        conn
    });
    assert_eq!(
        c.connect("127.0.0.1", port, keepalive).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.is_connected() {
        assert!(Instant::now() < deadline, "no CONNACK processed");
        let _ = c.loop_once(Duration::from_millis(50));
    }
    accepting.join().unwrap()
}

/// With no loop, `publish` writes on the caller's thread (as Paho's does)
/// and `disconnect_drain` reads there: 2 MiB, which the socket buffers
/// take whole, then a drain that ends at its deadline with all 8 left and
/// a DISCONNECT the socket still takes.
#[test]
fn drain_with_no_loop_ends_at_its_deadline_against_a_broker_that_stops_reading() {
    const FEW: usize = 8;
    let c = unlimited_client("drain-stalled-noloop");
    let _conn = connected_without_loop(&c, 60);
    let payload = vec![b'x'; PAYLOAD];
    for n in 0..FEW {
        let info = c
            .publish("drain/stalled", payload.clone(), 1, false)
            .unwrap();
        assert_eq!(info.rc(), ErrorCode::Success, "message {n}");
    }
    let written = c.stats().counters.bytes_sent;
    assert!(written >= (FEW * PAYLOAD) as u64, "{written} bytes written");
    let drained = drain(&c, "no loop");
    assert_eq!((drained.left, drained.rc), (FEW, ErrorCode::Success));
}

/// With no loop and the socket buffers full, it is `publish` that waits:
/// its write gives up when nothing could be written for a keepalive period
/// (2 s here) and closes the connection, as a silent broker's would be.
/// The figure: the longest `publish` blocked, at most the keepalive plus a
/// margin. The drain after it, with no connection, ends at its deadline
/// with every message left (none was acknowledged) and `MQTT_ERR_NO_CONN`.
#[test]
fn with_no_loop_a_stalled_socket_blocks_publish_at_most_a_keepalive() {
    const KEEPALIVE: Duration = Duration::from_secs(2);
    let c = unlimited_client("drain-stalled-noloop-full");
    let _conn = connected_without_loop(&c, KEEPALIVE.as_secs() as u16);
    let payload = vec![b'x'; PAYLOAD];
    let (mut longest, mut published) = (Duration::ZERO, 0);
    while c.is_connected() {
        assert!(published < MESSAGES, "{published} messages never stalled");
        let t = Instant::now();
        let info = c
            .publish("drain/stalled", payload.clone(), 1, false)
            .unwrap();
        longest = longest.max(t.elapsed());
        assert!(
            matches!(info.rc(), ErrorCode::Success | ErrorCode::NoConn),
            "{:?}",
            info.rc()
        );
        published += 1;
    }
    eprintln!(
        "no loop, stalled: the longest publish blocked {} ms ({published} published, keepalive {KEEPALIVE:?})",
        longest.as_millis()
    );
    assert!(
        longest >= KEEPALIVE && longest < KEEPALIVE + MARGIN,
        "the longest publish blocked {} ms",
        longest.as_millis()
    );
    // The keepalive closed the connection and no loop runs to make
    // another: nothing can be acknowledged, so the drain does not wait.
    let (blocked, drained) = drain_timed(&c, "no loop, stalled");
    assert_eq!((drained.left, drained.rc), (published, ErrorCode::NoConn));
    assert!(
        blocked < QUICK,
        "no connection, no loop: blocked {} ms",
        blocked.as_millis()
    );
}

#[test]
fn drain_never_connected_and_no_loop_returns_at_once_with_every_message_left() {
    // Stored while offline; no loop will ever connect.
    let c = unlimited_client("drain-never-connected");
    for n in 0..5 {
        let info = c.publish("drain/offline", vec![n], 1, false).unwrap();
        // Paho's rc for a message queued while not connected.
        assert_eq!(info.rc(), ErrorCode::NoConn, "message {n}");
    }
    let (blocked, drained) = drain_timed(&c, "never connected, no loop");
    assert_eq!((drained.left, drained.rc), (5, ErrorCode::NoConn));
    assert!(blocked < QUICK, "blocked {} ms", blocked.as_millis());
}
