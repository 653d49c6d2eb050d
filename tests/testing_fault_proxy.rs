//! The fault proxy's controls, observed from the client side with plain
//! sockets, in front of a small echo server.
#![cfg(feature = "testing")]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mqtt_tether::testing::{ChaosSchedule, FaultProxy};

/// How long any step of these tests waits before failing.
const WAIT: Duration = Duration::from_secs(3);

/// An upstream that echoes every byte back and counts the connections that
/// ended; it stops its threads on drop.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(0));
        let (stop2, closed2) = (Arc::clone(&stop), Arc::clone(&closed));
        let thread = thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (stop, closed) = (Arc::clone(&stop2), Arc::clone(&closed2));
                        conns.push(thread::spawn(move || echo(s, &stop, &closed)));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            for c in conns {
                c.join().unwrap();
            }
        });
        Echo {
            addr,
            stop,
            closed,
            thread: Some(thread),
        }
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Echoes until the peer closes or the server stops; the short read timeout
/// lets it see the stop flag.
fn echo(mut s: TcpStream, stop: &AtomicBool, closed: &AtomicUsize) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    closed.fetch_add(1, Ordering::SeqCst);
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An echo server and a proxy in front of it.
fn setup() -> (Echo, FaultProxy) {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).unwrap();
    (echo, proxy)
}

/// A client connection with read and write timeouts.
fn client(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy.addr(), WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `bytes` and reads the same number back.
fn roundtrip(s: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    s.write_all(bytes).unwrap();
    let mut back = vec![0u8; bytes.len()];
    s.read_exact(&mut back).unwrap();
    back
}

/// Asserts the next read sees the connection end (EOF or an error), not data
/// and not a timeout.
fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected a close, got {n} byte(s)"),
        Err(e) if is_timeout(&e) => panic!("expected a close, the read timed out"),
        Err(_) => {}
    }
}

/// Polls `cond` until it holds or `WAIT` passes.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn proxy_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<FaultProxy>();
}

#[test]
fn bytes_pass_through_and_are_counted() {
    let (_echo, proxy) = setup();
    assert_eq!(proxy.addr().ip().to_string(), "127.0.0.1");
    assert_eq!(proxy.endpoint().port(), Some(proxy.port()));
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"hello"), b"hello");
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut c2 = client(&proxy);
    let writer = {
        let mut w = c2.try_clone().unwrap();
        let big = big.clone();
        thread::spawn(move || w.write_all(&big).unwrap())
    };
    let mut back = vec![0u8; big.len()];
    c2.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == big, "large payload corrupted");

    let total = 5 + big.len() as u64;
    proxy
        .wait_for("all bytes counted", WAIT, |c| c.bytes_to_client >= total)
        .unwrap();
    let counters = proxy.counters();
    assert_eq!(counters.accepted, 2);
    assert_eq!(counters.live, 2);
    assert_eq!(counters.bytes_to_upstream, total);
    assert_eq!(counters.bytes_to_client, total);
    assert_eq!(counters.cuts, 0);
    assert_eq!(counters.refused, 0);

    // A client's close is passed on and the connection leaves the registry.
    drop(c);
    drop(c2);
    proxy
        .wait_for("both connections gone", WAIT, |c| c.live == 0)
        .unwrap();
    assert_eq!(proxy.counters().cuts, 0);
}

#[test]
fn cut_all_closes_both_sides() {
    let (echo, proxy) = setup();
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"before"), b"before");
    proxy.wait_for_connections(1, WAIT).unwrap();

    assert_eq!(proxy.cut_all(), 1);
    assert_closed(&mut c);
    eventually("the upstream side to close", || echo.closed() == 1);
    let counters = proxy.counters();
    assert_eq!(counters.cuts, 1);
    assert_eq!(counters.live, 0);

    // Nothing is left to cut, and new connections work.
    assert_eq!(proxy.cut_all(), 0);
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"after"), b"after");
    assert_eq!(proxy.counters().cuts, 1);
}

#[test]
fn refusing_resets_until_turned_off() {
    let (_echo, proxy) = setup();
    proxy.set_refusing(true);
    // The kernel may complete the handshake before the proxy resets it.
    if let Ok(mut c) = TcpStream::connect_timeout(&proxy.addr(), WAIT) {
        c.set_read_timeout(Some(WAIT)).unwrap();
        let _ = c.write_all(b"x");
        let mut buf = [0u8; 8];
        match c.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("expected a reset or EOF, got {other:?}"),
        }
    }
    proxy
        .wait_for("a refusal", WAIT, |c| c.refused == 1)
        .unwrap();
    assert_eq!(proxy.counters().accepted, 0);

    proxy.set_refusing(false);
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"ok"), b"ok");
    let counters = proxy.counters();
    assert_eq!((counters.refused, counters.accepted), (1, 1));
}

#[test]
fn black_hole_drops_bytes_but_keeps_connections() {
    let (echo, proxy) = setup();
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"in"), b"in");

    proxy.set_black_hole(true);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    c.write_all(b"lost").unwrap();
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Err(e) if is_timeout(&e) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    // New connections are still accepted into the black hole.
    let mut c2 = client(&proxy);
    c2.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    c2.write_all(b"also lost").unwrap();
    assert!(matches!(c2.read(&mut buf), Err(e) if is_timeout(&e)));
    proxy
        .wait_for("dropped bytes counted", WAIT, |c| c.bytes_dropped >= 13)
        .unwrap();
    let counters = proxy.counters();
    assert_eq!(counters.live, 2);
    assert_eq!(counters.bytes_to_upstream, 2);
    assert_eq!(echo.closed(), 0);

    proxy.set_black_hole(false);
    c.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(roundtrip(&mut c, b"back"), b"back");
}

#[test]
fn latency_delays_each_way_and_keeps_order() {
    let (_echo, proxy) = setup();
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"warm"), b"warm");

    let latency = Duration::from_millis(100);
    proxy.set_latency(latency);
    let start = Instant::now();
    assert_eq!(roundtrip(&mut c, b"ping"), b"ping");
    // Delayed on the way there and on the way back.
    assert!(start.elapsed() >= 2 * latency, "{:?}", start.elapsed());

    // Many small writes come back whole and in order.
    let sent: Vec<u8> = (0..200u32).map(|i| (i % 256) as u8).collect();
    for piece in sent.chunks(4) {
        c.write_all(piece).unwrap();
        thread::sleep(Duration::from_micros(200));
    }
    let mut back = vec![0u8; sent.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, sent);

    proxy.set_latency(Duration::ZERO);
    assert_eq!(roundtrip(&mut c, b"fast"), b"fast");
}

#[test]
fn bandwidth_cap_paces_bytes() {
    let (_echo, proxy) = setup();
    let rate = 40_000u64;
    let n = 10_000usize;
    proxy.set_bandwidth(Some(rate));
    let mut c = client(&proxy);
    let sent: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    let start = Instant::now();
    assert_eq!(roundtrip(&mut c, &sent), sent);
    let least = Duration::from_secs_f64(0.8 * n as f64 / rate as f64);
    assert!(start.elapsed() >= least, "{:?}", start.elapsed());

    proxy.set_bandwidth(None);
    assert_eq!(roundtrip(&mut c, b"free"), b"free");
}

#[test]
fn chaos_schedule_is_repeatable_and_bounded() {
    let (min, max) = (Duration::from_millis(30), Duration::from_millis(60));
    let a: Vec<Duration> = ChaosSchedule::new(42, min, max).take(20).collect();
    let b: Vec<Duration> = ChaosSchedule::new(42, min, max).take(20).collect();
    assert_eq!(a, b);
    assert!(a.iter().all(|d| *d >= min && *d <= max), "{a:?}");
    assert!(a.iter().any(|d| *d != a[0]), "no spread: {a:?}");
    let other: Vec<Duration> = ChaosSchedule::new(43, min, max).take(20).collect();
    assert_ne!(a, other);
    // Swapped bounds mean the same range; equal bounds give that interval.
    let swapped: Vec<Duration> = ChaosSchedule::new(42, max, min).take(20).collect();
    assert_eq!(a, swapped);
    assert!(ChaosSchedule::new(1, min, min).take(5).all(|d| d == min));
    // Nothing below the floor, so a zero interval cannot spin.
    let floor = ChaosSchedule::MIN_INTERVAL;
    assert_eq!(floor, Duration::from_millis(1));
    assert!(ChaosSchedule::new(3, Duration::ZERO, Duration::ZERO)
        .take(20)
        .all(|d| d == floor));
    assert!(ChaosSchedule::new(3, Duration::ZERO, 2 * floor)
        .take(50)
        .all(|d| d >= floor && d <= 2 * floor));
}

#[test]
fn chaos_cuts_on_the_seeded_schedule() {
    let (_echo, proxy) = setup();
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"hi"), b"hi");
    proxy.wait_for_connections(1, WAIT).unwrap();

    let (seed, min, max) = (9, Duration::from_millis(20), Duration::from_millis(40));
    proxy.start_chaos(seed, min, max).unwrap();
    assert_closed(&mut c);
    eventually("three chaos rounds", || proxy.chaos_intervals().len() >= 3);
    proxy.stop_chaos();

    let used = proxy.chaos_intervals();
    assert_eq!(proxy.chaos_rounds(), used.len() as u64);
    let expected: Vec<Duration> = ChaosSchedule::new(seed, min, max)
        .take(used.len())
        .collect();
    assert_eq!(used, expected);
    assert!(proxy.counters().cuts >= 1);

    // Stopped means stopped: no more rounds, and connections survive.
    let mut c = client(&proxy);
    thread::sleep(2 * max);
    assert_eq!(proxy.chaos_intervals(), used);
    assert_eq!(roundtrip(&mut c, b"calm"), b"calm");
}

#[test]
fn unreachable_upstream_closes_the_client() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let proxy = FaultProxy::start(addr).unwrap();
    assert_eq!(proxy.upstream(), addr);
    let mut c = client(&proxy);
    assert_closed(&mut c);
    proxy.wait_for_connections(1, WAIT).unwrap();
    let counters = proxy.counters();
    assert_eq!((counters.upstream_failures, counters.live), (1, 0));
}

#[test]
fn drop_closes_every_connection() {
    let (echo, proxy) = setup();
    // Several connections at once, each piped through to the echo server.
    let mut clients: Vec<TcpStream> = (0..3u8)
        .map(|i| {
            let mut c = client(&proxy);
            assert_eq!(roundtrip(&mut c, &[i]), [i]);
            c
        })
        .collect();
    assert_eq!(proxy.counters().live, 3);
    proxy.set_latency(Duration::from_secs(60));
    for c in &mut clients {
        c.write_all(b"stuck").unwrap();
    }
    let start = Instant::now();
    // Dropped on its own thread: a connection the drop leaves open must fail
    // the checks below, not hang the test in the drop's joins.
    let dropping = thread::spawn(move || drop(proxy));
    for c in &mut clients {
        assert_closed(c);
    }
    dropping.join().unwrap();
    // A pending minute of latency does not hold the drop up.
    assert!(start.elapsed() < WAIT, "{:?}", start.elapsed());
    eventually("every upstream side to close", || echo.closed() == 3);
}

#[test]
fn wait_for_times_out_with_the_counters() {
    let (_echo, proxy) = setup();
    let err = proxy
        .wait_for_connections(1, Duration::from_millis(30))
        .unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains("accepted: 0"), "{text}");
}

#[test]
fn chaos_at_zero_intervals_neither_spins_nor_grows_without_bound() {
    let (_echo, proxy) = setup();
    let started = Instant::now();
    proxy
        .start_chaos(1, Duration::ZERO, Duration::ZERO)
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    proxy.stop_chaos();
    // The sleep overruns on a loaded machine: the bound is the time the
    // chaos really ran.
    let ran_ms = started.elapsed().as_millis() as usize;
    let used = proxy.chaos_intervals();
    // At most one round a millisecond (a spinning thread made hundreds of
    // thousands in 300 ms).
    assert!(
        used.len() <= ran_ms + 1,
        "{} rounds in {ran_ms} ms",
        used.len()
    );
    assert!(!used.is_empty());
    assert!(used.iter().all(|d| *d == ChaosSchedule::MIN_INTERVAL));
    assert_eq!(proxy.chaos_rounds(), used.len() as u64);
    assert_eq!(FaultProxy::MAX_CHAOS_INTERVALS, 10_000);
    // The proxy still works after the storm.
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"calm"), b"calm");
}

#[test]
fn wait_for_may_call_the_proxy_from_its_condition() {
    let (_echo, proxy) = setup();
    let proxy = Arc::new(proxy);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let proxy = Arc::clone(&proxy);
        // Its own thread, so that a deadlock fails the test instead of
        // hanging it.
        thread::spawn(move || {
            let result = proxy.wait_for("a connection, seen through the proxy", WAIT, |_| {
                proxy.counters().accepted >= 1
            });
            let timed_out = proxy.wait_for("never", Duration::from_millis(50), |_| {
                proxy.counters().accepted > 100
            });
            let _ = tx.send((result.is_ok(), timed_out.is_err()));
        })
    };
    // The condition fails at first, so the wait goes round its loop before a
    // connection makes it hold.
    thread::sleep(Duration::from_millis(50));
    let mut c = client(&proxy);
    assert_eq!(roundtrip(&mut c, b"hi"), b"hi");
    match rx.recv_timeout(WAIT + Duration::from_secs(2)) {
        Ok(outcome) => assert_eq!(outcome, (true, true)),
        Err(_) => panic!("wait_for deadlocked on a condition that calls the proxy"),
    }
    waiter.join().unwrap();
}

#[test]
fn lifting_a_tiny_bandwidth_cap_applies_at_once() {
    let (_echo, proxy) = setup();
    proxy.set_bandwidth(Some(1));
    let mut c = client(&proxy);
    c.write_all(b"ab").unwrap();
    // The first byte goes at once; the second is due a second later.
    let mut buf = [0u8; 1];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"a");
    thread::sleep(Duration::from_millis(100));
    let lifted = Instant::now();
    proxy.set_bandwidth(None);
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"b");
    let waited = lifted.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "{waited:?} after lifting the cap"
    );
}

#[test]
fn raising_a_bandwidth_cap_applies_at_once() {
    let (_echo, proxy) = setup();
    proxy.set_bandwidth(Some(1));
    let mut c = client(&proxy);
    c.write_all(b"ab").unwrap();
    let mut buf = [0u8; 1];
    c.read_exact(&mut buf).unwrap();
    thread::sleep(Duration::from_millis(100));
    let raised = Instant::now();
    proxy.set_bandwidth(Some(1_000_000));
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"b");
    let waited = raised.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "{waited:?} after raising the cap"
    );
}
