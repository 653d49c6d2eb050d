//! Failover at its boundaries (issue 16): a round that ends on a broker
//! other than Mosquitto (amqtt) while QoS 1 messages stream, and a first
//! server that accepts the connection but drips its CONNACK one byte a
//! second, with `connect_async` + loop and with the blocking `connect()`.
//! Every test asserts a figure (messages lost, milliseconds blocked) and
//! prints it.
#![cfg(feature = "testing")]

mod common;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::clients::{client_with, subscriber};
use mqtt_tether::session::Message;
use mqtt_tether::testing::{
    Amqtt, AmqttConfig, Broker, Error as KitError, Mosquitto, MosquittoConfig, ScriptedBroker,
    ScriptedConnection,
};
use mqtt_tether::{
    Client, ClientOptions, ErrorCode, FailoverOrder, MessageInfo, ProtocolVersion, Server,
};

/// How long a test waits for what must happen at once (generous: a loaded
/// 2-core CI machine).
const WAIT: Duration = Duration::from_secs(10);
/// What a deadline that is the behaviour under test may overrun by on a
/// loaded machine (thread wake-ups, a refused connect, a CONNECT/CONNACK
/// exchange with a Python broker).
const MARGIN: Duration = Duration::from_secs(2);

fn client(id: &str, protocol: ProtocolVersion) -> Client {
    client_with(ClientOptions {
        client_id: id.into(),
        protocol,
        ..ClientOptions::default()
    })
}

fn stop(clients: &[&Client]) {
    for c in clients {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The connection callbacks in the order they ran, each with the moment
/// and, for `on_connect`, the server `connected_server()` named inside it.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(Instant, String)>>>);

impl Events {
    fn record(c: &Client) -> Events {
        let events = Events::default();
        let e = events.clone();
        c.on_connect(move |client, _, _, rc, _| {
            let server = client
                .connected_server()
                .map_or("none".to_string(), |s| s.to_string());
            e.push(format!("on_connect {} {server}", rc.value()));
        });
        let e = events.clone();
        c.on_connect_fail(move |_, _| e.push("on_connect_fail".into()));
        let e = events.clone();
        c.on_disconnect(move |_, _, _, rc, _| {
            e.push(format!("on_disconnect {} {}", rc.value(), rc.get_name()))
        });
        events
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap().push((Instant::now(), line));
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// When `line` was first recorded, waiting up to `limit` for it.
    fn wait_for(&self, line: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((at, _)) = self.0.lock().unwrap().iter().find(|(_, l)| l == line) {
                return *at;
            }
            assert!(
                Instant::now() < deadline,
                "no {line:?} within {limit:?}: {:?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Every payload that arrived on `rx` so far, with how often.
fn drain(rx: &mpsc::Receiver<Message>, into: &mut BTreeMap<String, usize>) {
    while let Ok(m) = rx.try_recv() {
        *into
            .entry(String::from_utf8_lossy(&m.payload).into_owned())
            .or_default() += 1;
    }
}

/// Item 1: Mosquitto first, amqtt second. The publisher streams 300 paced
/// QoS 1 messages; Mosquitto is killed after a third of them. The client
/// waits one reconnect delay (the connection had been accepted, so the
/// backoff starts over at its minimum), finds Mosquitto refusing
/// (`on_connect_fail`), and moves on to amqtt at once. Every message
/// reached a subscriber on one broker or the other: lost = 0. Messages in
/// flight at the kill may arrive twice (QoS 1), once from each broker.
#[test]
fn killing_mosquitto_mid_stream_moves_the_client_to_amqtt_and_loses_no_qos1_message() {
    let Some(mut mosquitto) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let Some(amqtt) = Amqtt::start_or_skip(AmqttConfig::new()) else {
        return;
    };
    let first = Server::tcp("127.0.0.1", mosquitto.port());
    let second = Server::tcp("127.0.0.1", amqtt.port());
    let (min_delay, max_delay) = (Duration::from_millis(400), Duration::from_secs(2));
    let topic = "fb/stream";
    let (on_mosquitto, from_mosquitto) = subscriber("fb-sub-m", mosquitto.port(), topic, 1);
    let (on_amqtt, from_amqtt) = subscriber("fb-sub-a", amqtt.port(), topic, 1);

    let publisher = client("fb-pub", ProtocolVersion::MQTTv311);
    publisher.reconnect_delay_set(min_delay, max_delay);
    publisher
        .failover_set(std::slice::from_ref(&second), FailoverOrder::InOrder)
        .unwrap();
    let events = Events::record(&publisher);
    assert_eq!(
        publisher
            .connect("127.0.0.1", mosquitto.port(), 60)
            .unwrap(),
        ErrorCode::Success
    );
    assert_eq!(publisher.loop_start(), ErrorCode::Success);
    events.wait_for(&format!("on_connect 0 {first}"), WAIT);

    const N: usize = 300;
    const KILL_AT: usize = N / 3;
    let mut infos: Vec<MessageInfo> = Vec::new();
    let mut offline = 0;
    let mut killed_at = None;
    for i in 0..N {
        if i == KILL_AT {
            // Before the kill: the client may see its connection close
            // before kill() has reaped the process.
            killed_at = Some(Instant::now());
            mosquitto.kill().unwrap();
        }
        let info = publisher.publish(topic, i.to_string(), 1, false).unwrap();
        if info.rc() == ErrorCode::NoConn {
            offline += 1;
        }
        infos.push(info);
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed_at = killed_at.unwrap();
    let moved_at = events.wait_for(&format!("on_connect 0 {second}"), WAIT);
    let moved_in = moved_at - killed_at;
    eprintln!(
        "from the kill to amqtt's CONNACK: {} ms (reconnect delay {} ms to {} ms)",
        ms(moved_in),
        ms(min_delay),
        ms(max_delay)
    );
    assert!(
        moved_in >= min_delay && moved_in < min_delay + MARGIN,
        "{} ms",
        ms(moved_in)
    );
    assert_eq!(publisher.connected_server(), Some(second.clone()));
    assert_eq!(
        events.lines(),
        vec![
            format!("on_connect 0 {first}"),
            "on_disconnect 128 Unspecified error".to_string(),
            "on_connect_fail".to_string(),
            format!("on_connect 0 {second}"),
        ]
    );
    for info in &infos {
        info.wait_for_publish(Some(WAIT)).unwrap();
        assert!(info.is_published().unwrap(), "{info}");
    }

    let (mut got_m, mut got_a) = (BTreeMap::new(), BTreeMap::new());
    let deadline = Instant::now() + WAIT;
    let distinct = |m: &BTreeMap<String, usize>, a: &BTreeMap<String, usize>| {
        m.keys()
            .chain(a.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    loop {
        drain(&from_mosquitto, &mut got_m);
        drain(&from_amqtt, &mut got_a);
        if distinct(&got_m, &got_a) == N || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let lost: Vec<usize> = (0..N)
        .filter(|i| {
            let p = i.to_string();
            !got_m.contains_key(&p) && !got_a.contains_key(&p)
        })
        .collect();
    let received: usize = got_m.values().chain(got_a.values()).sum();
    let duplicates = received - distinct(&got_m, &got_a);
    eprintln!(
        "{N} QoS 1 messages: {} received from Mosquitto, {} from amqtt (distinct), {offline} published while offline, lost {}, duplicates {duplicates}",
        got_m.len(),
        got_a.len(),
        lost.len()
    );
    assert_eq!(lost, Vec::<usize>::new(), "lost");
    assert!(
        !got_m.is_empty() && !got_a.is_empty(),
        "both brokers carried the stream"
    );
    assert!(
        got_m.keys().all(|p| p.parse::<usize>().unwrap() < KILL_AT),
        "Mosquitto delivered only what was published before the kill"
    );
    let stats = publisher.stats();
    assert_eq!(stats.counters.connects, 2);
    assert_eq!(stats.counters.connect_failures, 1, "Mosquitto refusing");
    assert_eq!(stats.server, Some(second));
    stop(&[&publisher, &on_mosquitto, &on_amqtt]);
}

/// An MQTT 5 CONNACK (success) whose Reason String makes it 48 bytes long:
/// dripped one byte a second it would take 48 s to arrive.
fn long_connack() -> Vec<u8> {
    let reason = "z".repeat(40);
    // Remaining length 46: flags, reason code, property length 43, then
    // the Reason String (0x1F, length 40).
    let mut b = vec![0x20, 46, 0x00, 0x00, 43, 0x1f, 0x00, 40];
    b.extend_from_slice(reason.as_bytes());
    b
}

/// What the dripping server saw.
#[derive(Debug, Default)]
struct Drip {
    /// CONNACK bytes it got out before the client left.
    sent: usize,
    /// What the client sent after its CONNECT, rendered (it must send
    /// nothing before a CONNACK).
    heard: Vec<String>,
    /// Whether the client closed the connection.
    closed: bool,
}

/// Sends `bytes` one a second on `conn`, listening in between, until they
/// are all sent or the client closes the connection.
fn drip(mut conn: ScriptedConnection, bytes: Vec<u8>) -> JoinHandle<Drip> {
    std::thread::spawn(move || {
        let mut drip = Drip::default();
        for b in bytes {
            if conn.send_bytes(&[b]).is_err() {
                drip.closed = true;
                break;
            }
            drip.sent += 1;
            match conn.expect_silence(Duration::from_secs(1)) {
                Ok(()) => {}
                Err(KitError::Closed { .. }) => {
                    drip.closed = true;
                    break;
                }
                // Keep the connection, so that the client meets the same
                // silent broker either way.
                Err(e) => drip.heard.push(e.to_string()),
            }
        }
        drip
    })
}

/// What a round with a dripping first server showed.
struct DripRound {
    /// From the call to connect (or connect_async) to the second server's
    /// CONNACK.
    blocked: Duration,
    drip: Drip,
    events: Vec<String>,
    /// Distinct payloads of the messages queued before connect that the
    /// second server's subscriber received.
    delivered: usize,
    dripper: Server,
    healthy: Server,
}

const QUEUED: usize = 20;

/// Runs a round whose first server (the primary) drips a 48-byte CONNACK
/// and whose second (the kit's broker) is healthy, with `QUEUED` QoS 1
/// messages published before connecting. `sync`: the blocking `connect()`
/// (whose return value and duration are checked), else `connect_async`.
fn drip_round(id: &str, keepalive: u16, connect_timeout: Duration, sync: bool) -> DripRound {
    let dripping = ScriptedBroker::bind().unwrap();
    let healthy = Broker::start().unwrap();
    let dripper = Server::tcp("127.0.0.1", dripping.port());
    let second = Server::tcp("127.0.0.1", healthy.port());
    let topic = format!("fb/{id}");
    let (sub, received) = subscriber(&format!("{id}-sub"), healthy.port(), &topic, 1);

    let c = client(id, ProtocolVersion::MQTTv5);
    // Longer than the test waits: the second server is reached within the
    // round, never after a backoff wait.
    c.reconnect_delay_set(Duration::from_secs(60), Duration::from_secs(60));
    c.set_connect_timeout(connect_timeout).unwrap();
    c.failover_set(std::slice::from_ref(&second), FailoverOrder::InOrder)
        .unwrap();
    let events = Events::record(&c);
    let infos: Vec<MessageInfo> = (0..QUEUED)
        .map(|i| c.publish(&topic, i.to_string(), 1, false).unwrap())
        .collect();
    assert!(
        infos.iter().all(|i| i.rc() == ErrorCode::NoConn),
        "queued, as Paho queues before a connection"
    );
    let t0 = Instant::now();
    if sync {
        let rc = c.connect("127.0.0.1", dripping.port(), keepalive).unwrap();
        let returned_in = t0.elapsed();
        eprintln!(
            "connect() to the dripping server returned {rc:?} in {} ms",
            ms(returned_in)
        );
        // Documented: connect() opens the connection and queues CONNECT; it
        // does not wait for CONNACK, so the drip cannot hold it.
        assert_eq!(rc, ErrorCode::Success);
        assert!(returned_in < connect_timeout, "{} ms", ms(returned_in));
        assert_eq!(c.connected_server(), Some(dripper.clone()));
        assert!(!c.is_connected());
    } else {
        c.connect_async("127.0.0.1", dripping.port(), keepalive)
            .unwrap();
    }
    assert_eq!(c.loop_start(), ErrorCode::Success);
    let mut conn = dripping.accept().unwrap();
    conn.expect_connect().unwrap();
    let dripper_thread = drip(conn, long_connack());
    let connected = events.wait_for(&format!("on_connect 0 {second}"), WAIT + WAIT);
    let blocked = connected - t0;
    // The client closed the connection it gave up on before it went on, so
    // the drip thread has seen that close (or hears it within a second).
    let drip = dripper_thread.join().unwrap();
    for info in &infos {
        info.wait_for_publish(Some(WAIT)).unwrap();
    }
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < QUEUED && Instant::now() < deadline {
        if let Ok(m) = received.recv_timeout(Duration::from_millis(100)) {
            *got.entry(String::from_utf8_lossy(&m.payload).into_owned())
                .or_insert(0) += 1;
        }
    }
    let stats = c.stats();
    assert_eq!(stats.counters.connects, 1);
    assert_eq!(stats.counters.disconnects.keepalive, 1, "{stats}");
    assert_eq!(stats.server, Some(second.clone()));
    let round = DripRound {
        blocked,
        drip,
        events: events.lines(),
        delivered: got.len(),
        dripper,
        healthy: second,
    };
    eprintln!(
        "{id}: keepalive {keepalive}, connect_timeout {} ms: blocked {} ms on the dripping server ({} of {} CONNACK bytes dripped); {} of {QUEUED} queued messages delivered",
        ms(connect_timeout),
        ms(round.blocked),
        round.drip.sent,
        long_connack().len(),
        round.delivered
    );
    stop(&[&c, &sub]);
    round
}

/// What Paho does when no CONNACK comes in time: `on_disconnect` with
/// MQTT_ERR_KEEPALIVE ("Keep alive timeout", 141), no `on_connect_fail`
/// (Paho fires that only for a connect that raised); then the next server
/// of the round, at once, accepts.
fn assert_paho_events(round: &DripRound) {
    assert_eq!(
        round.events,
        vec![
            "on_disconnect 141 Keep alive timeout".to_string(),
            format!("on_connect 0 {}", round.healthy),
        ],
        "dripping server {}",
        round.dripper
    );
    assert_eq!(round.delivered, QUEUED, "lost queued messages");
    // The queued QoS 1 messages wait for a CONNACK: none was spent on the
    // server that never gave one.
    assert_eq!(round.drip.heard, Vec::<String>::new());
    assert!(
        round.drip.closed,
        "the client closed the connection it left"
    );
    assert!(round.drip.sent < long_connack().len());
}

/// Longer than the drip's one second, so a wait that each dripped byte
/// extended would never end.
const DRIP_TIMEOUT: Duration = Duration::from_millis(1500);

/// Item 2: keepalive 0, so `connect_timeout` (1.5 s) bounds the wait for
/// the CONNACK (porting guide: "Keepalive 0 still bounds the wait for
/// CONNACK"), counted from the start: the bytes dripping in do not extend
/// it.
#[test]
fn a_dripped_connack_moves_the_round_on_after_connect_timeout() {
    let timeout = DRIP_TIMEOUT;
    let round = drip_round("fb-drip0", 0, timeout, false);
    assert!(
        round.blocked >= timeout && round.blocked < timeout + MARGIN,
        "blocked {} ms",
        ms(round.blocked)
    );
    assert_paho_events(&round);
}

/// Item 2 with a keepalive: the keepalive (2 s), not `connect_timeout`
/// (1 s), bounds the wait for CONNACK, as in Paho; a dripping server holds
/// the round for one keepalive.
#[test]
fn with_a_keepalive_a_dripped_connack_holds_the_round_one_keepalive() {
    let timeout = Duration::from_secs(1);
    let keepalive = Duration::from_secs(2);
    let round = drip_round("fb-drip2", 2, timeout, false);
    assert!(
        round.blocked >= keepalive && round.blocked < keepalive + MARGIN,
        "blocked {} ms",
        ms(round.blocked)
    );
    assert_paho_events(&round);
}

/// Item 3: the blocking `connect()` returns Success as soon as the
/// dripping server's TCP connection is up (it does not wait for CONNACK),
/// naming that server; the loop then gives up on it after
/// `connect_timeout` and moves on, as with `connect_async` (porting guide,
/// "Failover").
#[test]
fn connect_returns_at_once_on_a_dripping_server_and_the_loop_moves_on() {
    let timeout = DRIP_TIMEOUT;
    let round = drip_round("fb-drip-sync", 0, timeout, true);
    assert!(
        round.blocked >= timeout && round.blocked < timeout + MARGIN,
        "blocked {} ms",
        ms(round.blocked)
    );
    assert_paho_events(&round);
}
