//! The client against a second broker besides Mosquitto: amqtt 0.12.1, a
//! Python MQTT 3.1.1 broker, started by the test kit's [`Amqtt`]. QoS 0, 1
//! and 2 both ways, retained messages, the will, a persistent session and a
//! broker restart. Each test skips with one line when amqtt is not installed
//! (`.ci/run` installs it in target/paho-venv), and fails instead on CI.
//!
//! amqtt logs every packet it reads and writes (`-d`), so besides what the
//! client's callbacks report, the tests check the packets amqtt saw from the
//! client: an outside witness of the exchanges.
//!
//! Where amqtt departs from MQTT 3.1.1 or from Mosquitto, the test asserts
//! what amqtt does and its doc comment says so: it delivers at the granted
//! QoS, even above the published one; it sends a connecting client the
//! retained messages of every subscription on the broker; it marks messages
//! queued for an offline session as retained; it drops anonymous sessions;
//! and it forgets everything on a restart.
#![cfg(feature = "testing")]

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::session::Message;
use mqtt_tether::testing::{Amqtt, AmqttConfig, FaultProxy};
use mqtt_tether::{Client, ClientOptions, ErrorCode, MessageInfo};

use common::clients::{
    client, client_with, connect, fast_reconnecting, fast_reconnecting_client, subscriber,
};

/// How long one step (a CONNACK, a SUBACK, a message) may take.
const WAIT: Duration = Duration::from_secs(5);
/// How long nothing must arrive for a test to say nothing came.
const SILENCE: Duration = Duration::from_millis(500);
/// The user name of clients that need a non-anonymous session; amqtt's
/// anonymous plugin, with anonymous clients refused, takes any password.
const USER: &str = "tether";

fn stop(clients: &[&Client]) {
    for c in clients {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

/// What a message was: (topic, payload, qos, retain, dup).
type Seen = (String, String, u8, bool, bool);

fn seen(m: &Message) -> Seen {
    (
        m.topic.clone(),
        String::from_utf8_lossy(&m.payload).into_owned(),
        m.qos as u8,
        m.retain,
        m.dup,
    )
}

/// A first delivery (dup 0) of `payload` on `topic`.
fn message(topic: &str, payload: &str, qos: u8, retain: bool) -> Seen {
    (topic.into(), payload.into(), qos, retain, false)
}

fn next(rx: &mpsc::Receiver<Message>, what: &str) -> Seen {
    seen(
        &rx.recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{what} did not arrive")),
    )
}

fn nothing_more(rx: &mpsc::Receiver<Message>, what: &str) {
    if let Ok(m) = rx.recv_timeout(SILENCE) {
        panic!("{what}: {:?} arrived", seen(&m));
    }
}

fn published(info: &MessageInfo, what: &str) {
    info.wait_for_publish(Some(WAIT)).unwrap();
    assert!(info.is_published().unwrap(), "{what}: {info} not published");
}

/// The packets amqtt logged for `client_id`, from the client's side: "sent"
/// what amqtt read, "got" what amqtt wrote; with the fixed header's flags
/// and the packet id. amqtt names no client on the CONNECT it reads, so the
/// list starts with the CONNACK.
fn packets(amqtt: &Amqtt, client_id: &str) -> Vec<String> {
    let (sent, got) = (
        format!(" {client_id} <-in-- "),
        format!(" {client_id} -out-> "),
    );
    let mut list = Vec::new();
    for line in amqtt.log().lines() {
        let (direction, rest) = if let Some(at) = line.find(&sent) {
            ("sent", &line[at + sent.len()..])
        } else if let Some(at) = line.find(&got) {
            ("got", &line[at + got.len()..])
        } else {
            continue;
        };
        let Some(name) = rest.split_once("Packet(").map(|(n, _)| n.to_uppercase()) else {
            continue;
        };
        let field = |key: &str| {
            rest.split_once(key).map(|(_, v)| {
                v.chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect::<String>()
            })
        };
        let mut entry = format!("{direction} {name}");
        if name == "CONNACK" {
            // The session-present flag and the return code, in amqtt's
            // spelling.
            let hex = |key| {
                let value = field(key).unwrap_or_default();
                value.strip_prefix("0x").unwrap_or(&value).to_string()
            };
            let (present, rc) = (hex("session_parent="), hex("return_code="));
            entry.push_str(&format!(" session_present={present} rc={rc}"));
        } else if let Some(flags) = field("flags=") {
            entry.push_str(&format!(" flags={flags}"));
        }
        if let Some(id) = field("packet_id=").filter(|id| id != "None") {
            entry.push_str(&format!(" id={id}"));
        }
        list.push(entry);
    }
    list
}

/// Waits until amqtt has logged `expected` for `client_id` (its log lags
/// the packets a little), and asserts it did.
fn assert_packets(amqtt: &Amqtt, client_id: &str, expected: &[&str]) {
    let deadline = Instant::now() + WAIT;
    let mut actual = packets(amqtt, client_id);
    while actual != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        actual = packets(amqtt, client_id);
    }
    assert_eq!(actual, expected, "the packets amqtt saw for {client_id}");
}

/// Our client publishes at QoS 0, 1 and 2 to three of our clients
/// subscribed at the same QoS: each message arrives once, at its QoS, and
/// amqtt's log shows both sides of every exchange, packet ids and fixed
/// header flags included (PUBLISH/PUBACK, PUBLISH/PUBREC/PUBREL/PUBCOMP).
#[test]
fn qos_0_1_2_both_ways() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let subscribers: Vec<_> = (0..=2)
        .map(|qos| subscriber(&format!("rt-sub{qos}"), a.port(), &format!("rt/{qos}"), qos))
        .collect();
    let publisher = client("rt-pub");
    assert_eq!(connect(&publisher, a.port()), 0);
    for (qos, (_, rx)) in subscribers.iter().enumerate() {
        let topic = format!("rt/{qos}");
        let payload = format!("m{qos}");
        let info = publisher
            .publish(&topic, payload.as_str(), qos as i32, false)
            .unwrap();
        published(&info, &payload);
        assert_eq!(
            next(rx, &payload),
            message(&topic, &payload, qos as u8, false)
        );
    }
    // Paho numbers every message, QoS 0 included: QoS 1 is mid 2.
    assert_packets(
        &a,
        "rt-pub",
        &[
            "got CONNACK session_present=0 rc=0",
            "sent PUBLISH flags=0",
            "sent PUBLISH flags=2 id=2",
            "got PUBACK flags=0 id=2",
            "sent PUBLISH flags=4 id=3",
            "got PUBREC flags=0 id=3",
            "sent PUBREL flags=2 id=3",
            "got PUBCOMP flags=0 id=3",
        ],
    );
    let subscribed = [
        "got CONNACK session_present=0 rc=0",
        "sent SUBSCRIBE flags=2 id=1",
        "got SUBACK flags=0 id=1",
    ];
    assert_packets(
        &a,
        "rt-sub0",
        &[&subscribed[..], &["got PUBLISH flags=0"]].concat(),
    );
    assert_packets(
        &a,
        "rt-sub1",
        &[
            &subscribed[..],
            &["got PUBLISH flags=2 id=1", "sent PUBACK flags=0 id=1"],
        ]
        .concat(),
    );
    assert_packets(
        &a,
        "rt-sub2",
        &[
            &subscribed[..],
            &[
                "got PUBLISH flags=4 id=1",
                "sent PUBREC flags=0 id=1",
                "got PUBREL flags=2 id=1",
                "sent PUBCOMP flags=0 id=1",
            ],
        ]
        .concat(),
    );
    for (c, rx) in &subscribers {
        nothing_more(rx, "a second copy");
        stop(&[c]);
    }
    stop(&[&publisher]);
}

/// amqtt quirk: it delivers a message at the QoS the subscription was
/// granted, even above the QoS it was published with (MQTT 3.1.1
/// [MQTT-3.8.4-6] says the lower of the two; Mosquitto does so). Our client
/// takes the upgraded messages in stride: QoS 0 and 1 publications reach a
/// QoS 2 subscriber as QoS 2, and it completes the QoS 2 exchange for each.
#[test]
fn amqtt_delivers_at_the_granted_qos_even_above_the_published_one() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let (sub, rx) = subscriber("up-sub", a.port(), "up/#", 2);
    let publisher = client("up-pub");
    assert_eq!(connect(&publisher, a.port()), 0);
    for qos in 0..=1 {
        let payload = format!("published at {qos}");
        published(
            &publisher
                .publish("up/t", payload.as_str(), qos, false)
                .unwrap(),
            &payload,
        );
        assert_eq!(next(&rx, &payload), message("up/t", &payload, 2, false));
    }
    assert_packets(
        &a,
        "up-sub",
        &[
            "got CONNACK session_present=0 rc=0",
            "sent SUBSCRIBE flags=2 id=1",
            "got SUBACK flags=0 id=1",
            "got PUBLISH flags=4 id=1",
            "sent PUBREC flags=0 id=1",
            "got PUBREL flags=2 id=1",
            "sent PUBCOMP flags=0 id=1",
            "got PUBLISH flags=4 id=2",
            "sent PUBREC flags=0 id=2",
            "got PUBREL flags=2 id=2",
            "sent PUBCOMP flags=0 id=2",
        ],
    );
    stop(&[&sub, &publisher]);
}

/// A retained message reaches a later subscriber with the retain flag, and
/// a live one without it (it matched an established subscription); an empty
/// retained message reaches the live subscriber and clears it, so a
/// subscriber after that gets nothing.
#[test]
fn retained_messages_are_kept_sent_with_the_flag_and_cleared() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let publisher = client("ret-pub");
    assert_eq!(connect(&publisher, a.port()), 0);
    published(
        &publisher.publish("ret/kept", "kept", 1, true).unwrap(),
        "the retained message",
    );
    // The first subscriber on the broker: no other subscription is there to
    // bring the retained message at CONNECT (see the next test).
    let (late, late_rx) = subscriber("ret-late", a.port(), "ret/#", 1);
    assert_eq!(
        next(&late_rx, "the retained message"),
        message("ret/kept", "kept", 1, true)
    );
    nothing_more(&late_rx, "after the retained message");

    published(
        &publisher.publish("ret/kept", "again", 1, true).unwrap(),
        "the second retained message",
    );
    assert_eq!(
        next(&late_rx, "the second retained message, live"),
        message("ret/kept", "again", 1, false)
    );
    published(
        &publisher.publish("ret/kept", "", 1, true).unwrap(),
        "the empty retained message",
    );
    assert_eq!(
        next(&late_rx, "the empty retained message, live"),
        message("ret/kept", "", 1, false)
    );
    stop(&[&late]);

    let (after, after_rx) = subscriber("ret-after", a.port(), "ret/#", 1);
    nothing_more(&after_rx, "the cleared retained message");
    stop(&[&after, &publisher]);
}

/// amqtt quirk: at every CONNECT it sends the client, at QoS 0 with the
/// retain flag, each retained message matching any subscription on the
/// broker, whoever made it, before the client subscribed to anything.
/// (MQTT 3.1.1 sends retained messages for a client's own new
/// subscriptions only, [MQTT-3.3.1-6].) Our client delivers them to
/// `on_message` like any other.
#[test]
fn amqtt_sends_a_connecting_client_the_retained_messages_of_other_clients_subscriptions() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let (watcher, watcher_rx) = subscriber("odd-watcher", a.port(), "odd/#", 1);
    let publisher = client("odd-pub");
    assert_eq!(connect(&publisher, a.port()), 0);
    published(
        &publisher.publish("odd/kept", "kept", 1, true).unwrap(),
        "the retained message",
    );
    assert_eq!(
        next(&watcher_rx, "the retained message, live"),
        message("odd/kept", "kept", 1, false)
    );

    let newcomer = client("odd-newcomer");
    let (tx, rx) = mpsc::channel();
    newcomer.on_message(move |_, _, m| {
        let _ = tx.send(m.clone());
    });
    assert_eq!(connect(&newcomer, a.port()), 0);
    assert_eq!(
        next(&rx, "the unasked-for retained message"),
        message("odd/kept", "kept", 0, true)
    );
    nothing_more(&rx, "after the retained message");
    assert_packets(
        &a,
        "odd-newcomer",
        &["got CONNACK session_present=0 rc=0", "got PUBLISH flags=1"],
    );
    stop(&[&watcher, &publisher, &newcomer]);
}

/// The will: not published after a DISCONNECT; published, as set, when
/// the client's connection dies without one (a FaultProxy cut plays the
/// network failure).
#[test]
fn the_will_is_published_when_the_connection_dies_and_not_after_disconnect() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let (watcher, rx) = subscriber("will-watcher", a.port(), "will/#", 1);

    let polite = client("will-polite");
    polite
        .will_set("will/polite", "gone", 1, false, None)
        .unwrap();
    assert_eq!(connect(&polite, a.port()), 0);
    stop(&[&polite]);
    nothing_more(&rx, "the will after a DISCONNECT");

    let proxy = FaultProxy::start(a.addr()).unwrap();
    let rude = client("will-rude");
    rude.will_set("will/rude", "died", 1, false, None).unwrap();
    // The cut ends this client's part: no reconnect during the test.
    rude.reconnect_delay_set(Duration::from_secs(60), Duration::from_secs(60));
    assert_eq!(connect(&rude, proxy.port()), 0);
    assert_eq!(proxy.cut_all(), 1);
    assert_eq!(
        next(&rx, "the will"),
        message("will/rude", "died", 1, false)
    );
    nothing_more(&rx, "a second will");
    stop(&[&rude, &watcher]);
}

/// A client with a persistent session (clean_session false), with the
/// connection events it saw and the messages it got.
struct Persistent {
    client: Client,
    /// The session-present flag of each CONNACK.
    connacks: mpsc::Receiver<bool>,
    messages: mpsc::Receiver<Message>,
}

impl Persistent {
    fn new(id: &str, user: Option<&str>) -> Persistent {
        let client = client_with(ClientOptions {
            client_id: id.into(),
            clean_session: Some(false),
            ..ClientOptions::default()
        });
        client.username_pw_set(user, None).unwrap();
        let (tx, connacks) = mpsc::channel();
        client.on_connect(move |_, _, flags, _, _| {
            let _ = tx.send(flags.session_present);
        });
        let (tx, messages) = mpsc::channel();
        client.on_message(move |_, _, m| {
            let _ = tx.send(m.clone());
        });
        Persistent {
            client,
            connacks,
            messages,
        }
    }

    /// Connects with `loop_start`; returns the session-present flag.
    fn connect(&self, port: u16) -> bool {
        assert_eq!(
            self.client.connect("127.0.0.1", port, 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(self.client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        self.connacks.recv_timeout(WAIT).expect("no CONNACK")
    }

    fn subscribe(&self, filter: &str, qos: i32) {
        let (tx, rx) = mpsc::channel();
        self.client.on_subscribe(move |_, _, _, codes, _| {
            let _ = tx.send(codes.iter().map(|c| c.value()).collect::<Vec<_>>());
        });
        let _ = self.client.subscribe(filter, qos).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).expect("no SUBACK"), [qos as u8]);
    }
}

/// Subscribes a persistent session, leaves with DISCONNECT, has `user`
/// publish three QoS 1 messages meanwhile, and comes back: returns the
/// session-present flag of the return, and the subscriber.
fn away_and_back(a: &Amqtt, user: Option<&str>) -> (bool, Persistent) {
    let sub = Persistent::new("ps-sub", user);
    assert!(!sub.connect(a.port()), "a new session");
    sub.subscribe("ps/#", 1);
    stop(&[&sub.client]);

    let publisher = client("ps-pub");
    publisher.username_pw_set(user, None).unwrap();
    assert_eq!(connect(&publisher, a.port()), 0);
    for i in 0..3 {
        let payload = format!("while away {i}");
        published(
            &publisher
                .publish("ps/t", payload.as_str(), 1, false)
                .unwrap(),
            &payload,
        );
    }
    stop(&[&publisher]);
    let present = sub.connect(a.port());
    (present, sub)
}

/// clean_session false: the session outlives the client's connection, and
/// QoS 1 messages published while it was away arrive after it comes back,
/// without a new SUBSCRIBE, in order.
///
/// amqtt quirks: a session is kept only for a client with a user name
/// (anonymous clients refused, see the next test); and it sends the
/// queued messages with the retain flag set, although they are no retained
/// messages (MQTT 3.1.1 [MQTT-3.3.1-9]: 0 for an established
/// subscription; Mosquitto sends 0).
#[test]
fn a_persistent_session_gets_what_was_published_while_it_was_away() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default().allow_anonymous(false)) else {
        return;
    };
    let (present, sub) = away_and_back(&a, Some(USER));
    assert!(present, "the session was not kept");
    for i in 0..3 {
        let payload = format!("while away {i}");
        assert_eq!(
            next(&sub.messages, &payload),
            message("ps/t", &payload, 1, true)
        );
    }
    nothing_more(&sub.messages, "after the queued messages");
    // The subscription came back with the session: no SUBSCRIBE after the
    // second CONNACK. (Each PUBACK follows its PUBLISH, but may come before
    // or after the next PUBLISH: only the sets are compared.)
    let mut seen_by_amqtt = packets(&a, "ps-sub");
    let deadline = Instant::now() + WAIT;
    while seen_by_amqtt.len() < 11 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen_by_amqtt = packets(&a, "ps-sub");
    }
    let mut after_return = seen_by_amqtt.split_off(seen_by_amqtt.len().min(5));
    assert_eq!(
        seen_by_amqtt,
        [
            "got CONNACK session_present=0 rc=0",
            "sent SUBSCRIBE flags=2 id=1",
            "got SUBACK flags=0 id=1",
            "sent DISCONNECT flags=0",
            "got CONNACK session_present=1 rc=0",
        ]
    );
    after_return.sort();
    // Flags 3: QoS 1 and the retain flag, as amqtt sent them.
    assert_eq!(
        after_return,
        [
            "got PUBLISH flags=3 id=1",
            "got PUBLISH flags=3 id=2",
            "got PUBLISH flags=3 id=3",
            "sent PUBACK flags=0 id=1",
            "sent PUBACK flags=0 id=2",
            "sent PUBACK flags=0 id=3",
        ]
    );
    stop(&[&sub.client]);
}

/// amqtt quirk: with anonymous clients allowed, amqtt marks every session
/// anonymous and keeps no message for an anonymous session while its
/// client is away, whatever clean_session said (MQTT 3.1.1 §3.1.2.4 says it
/// must); it drops the session itself within a second. So the messages
/// published meanwhile never arrive. (The CONNACK's session-present flag
/// depends on whether the drop came first, so it is not checked.)
#[test]
fn amqtt_keeps_no_messages_for_an_anonymous_persistent_session() {
    let Some(a) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let (_, sub) = away_and_back(&a, None);
    nothing_more(&sub.messages, "a message published while away");
    stop(&[&sub.client]);
}

/// amqtt stopped and started again on the same port, while QoS 1 messages
/// are published: both clients reconnect by themselves (`loop_start`), the
/// messages published while amqtt was down are sent after the reconnect,
/// acknowledged, and delivered once each, in order.
///
/// amqtt quirk: it keeps sessions in memory only, so the restarted amqtt
/// has forgotten the subscriber's persistent session (session-present 0)
/// and the subscriber, which subscribes whenever its session is new, asks
/// again. A message reaching amqtt before that would go nowhere, so the
/// publisher reaches amqtt through a FaultProxy that refuses it until the
/// subscriber has its SUBACK (with Mosquitto's persistence the session
/// would survive, see reconnect_chaos.rs).
#[test]
fn after_a_broker_restart_both_clients_reconnect_and_queued_messages_arrive() {
    let Some(mut a) = Amqtt::start_or_skip(AmqttConfig::default().allow_anonymous(false)) else {
        return;
    };
    let sub = fast_reconnecting(client_with(ClientOptions {
        client_id: "rs-sub".into(),
        clean_session: Some(false),
        ..ClientOptions::default()
    }));
    sub.username_pw_set(Some(USER), None).unwrap();
    let (connack_tx, sub_connacks) = mpsc::channel();
    // A re-entrant subscribe; its errors are recorded for the test thread.
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&errors);
    sub.on_connect(move |c, _, flags, _, _| {
        if !flags.session_present {
            match c.subscribe("rs/#", 1) {
                Ok((ErrorCode::Success, _)) => {}
                other => e.lock().unwrap().push(format!("{other:?}")),
            }
        }
        let _ = connack_tx.send(flags.session_present);
    });
    let (suback_tx, subacks) = mpsc::channel();
    sub.on_subscribe(move |_, _, _, codes, _| {
        let _ = suback_tx.send(codes.iter().map(|c| c.value()).collect::<Vec<_>>());
    });
    let (tx, received) = mpsc::channel();
    sub.on_message(move |_, _, m| {
        let _ = tx.send(m.clone());
    });
    let (lost_tx, sub_lost) = mpsc::channel();
    sub.on_disconnect(move |_, _, _, _, _| {
        let _ = lost_tx.send(());
    });
    sub.connect_async("127.0.0.1", a.port(), 60).unwrap();
    assert_eq!(sub.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    assert!(!sub_connacks.recv_timeout(WAIT).expect("no CONNACK"));
    assert_eq!(subacks.recv_timeout(WAIT).expect("no SUBACK"), [1]);

    let proxy = FaultProxy::start(a.addr()).unwrap();
    let publisher = fast_reconnecting_client("rs-pub");
    publisher.username_pw_set(Some(USER), None).unwrap();
    let (connack_tx, pub_connacks) = mpsc::channel();
    publisher.on_connect(move |_, _, _, rc, _| {
        let _ = connack_tx.send(rc.value());
    });
    let (lost_tx, pub_lost) = mpsc::channel();
    publisher.on_disconnect(move |_, _, _, _, _| {
        let _ = lost_tx.send(());
    });
    publisher
        .connect_async("127.0.0.1", proxy.port(), 60)
        .unwrap();
    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    assert_eq!(pub_connacks.recv_timeout(WAIT).expect("no CONNACK"), 0);
    published(
        &publisher.publish("rs/t", "before", 1, false).unwrap(),
        "before",
    );
    assert_eq!(
        seen(&received.recv_timeout(WAIT).expect("before")),
        message("rs/t", "before", 1, false)
    );

    proxy.set_refusing(true);
    a.stop().unwrap();
    pub_lost
        .recv_timeout(WAIT)
        .expect("the publisher did not notice");
    sub_lost
        .recv_timeout(WAIT)
        .expect("the subscriber did not notice");
    let queued: Vec<MessageInfo> = (0..5)
        .map(|i| {
            let info = publisher
                .publish("rs/t", format!("while down {i}"), 1, false)
                .unwrap();
            // NoConn, or Success during one of the refused attempts
            // (between its TCP connect and the reset): stored either way.
            assert!(
                matches!(info.rc(), ErrorCode::NoConn | ErrorCode::Success),
                "while down {i}: {info}"
            );
            assert!(!info.is_published().unwrap(), "while down {i}: {info}");
            info
        })
        .collect();

    a.restart()
        .unwrap_or_else(|e| panic!("restart failed: {e}\n{}", a.log()));
    assert!(
        !sub_connacks
            .recv_timeout(WAIT)
            .expect("the subscriber did not come back"),
        "amqtt kept the session across its restart"
    );
    assert_eq!(
        subacks
            .recv_timeout(WAIT)
            .expect("no SUBACK after the restart"),
        [1]
    );
    proxy.set_refusing(false);
    assert_eq!(
        pub_connacks
            .recv_timeout(WAIT)
            .expect("the publisher did not come back"),
        0
    );
    for (i, info) in queued.iter().enumerate() {
        published(info, &format!("while down {i}"));
    }
    for i in 0..5 {
        let payload = format!("while down {i}");
        assert_eq!(
            seen(&received.recv_timeout(WAIT).expect(&payload)),
            message("rs/t", &payload, 1, false)
        );
    }
    if let Ok(m) = received.recv_timeout(SILENCE) {
        panic!("a second copy: {:?}", seen(&m));
    }
    assert_eq!(*errors.lock().unwrap(), Vec::<String>::new());
    // What the restarted amqtt got from the publisher: the five messages,
    // each once, in order, as first deliveries (flags 2: QoS 1, no DUP);
    // "before" was mid 1.
    let expected: Vec<String> = (1..=6)
        .map(|id| format!("sent PUBLISH flags=2 id={id}"))
        .collect();
    let publishes = || -> Vec<String> {
        packets(&a, "rs-pub")
            .into_iter()
            .filter(|p| p.starts_with("sent PUBLISH"))
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    while publishes() != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(publishes(), expected);
    stop(&[&publisher, &sub]);
}
