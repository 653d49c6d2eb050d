//! Paho's helper modules (`mqtt_tether::helpers`) against a scripted
//! broker, byte-exact where the protocol fixes the bytes: Paho's
//! 03-publish-helper scenarios (reference §18.3), the one-at-a-time order
//! of `multiple`, refusals, and `subscribe.simple` / `subscribe.callback`.
//!
//! Each helper blocks its thread, so it runs on its own thread and the test
//! thread plays the broker. Every wait is bounded.
#![cfg(feature = "testing")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::hex;
use mqtt_tether::helpers::publish::{self, Msg};
use mqtt_tether::helpers::{subscribe, Auth, Will};
use mqtt_tether::packet::{Connect, Packet, Property, ProtocolVersion, Publish, QoS};
use mqtt_tether::testing::{ScriptedBroker, ScriptedConnection};
use mqtt_tether::{Error, PahoErrorKind, UserData, ValueReason};

const WAIT: Duration = Duration::from_secs(5);
/// Long enough for a packet the client should not send to show up.
const QUIET: Duration = Duration::from_millis(200);

/// Runs `f` (a helper call) on its own thread; `wait` gives its result, or
/// fails the test when it has not returned within [`WAIT`].
struct Running<T>(mpsc::Receiver<T>);

fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Running<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    Running(rx)
}

impl<T> Running<T> {
    fn wait(self) -> T {
        self.0
            .recv_timeout(WAIT)
            .expect("the helper did not return in time")
    }
}

fn publish_options(broker: &ScriptedBroker, client_id: &str) -> publish::Options {
    publish::Options {
        hostname: "127.0.0.1".into(),
        port: broker.port(),
        client_id: client_id.into(),
        ..publish::Options::default()
    }
}

fn subscribe_options(broker: &ScriptedBroker, client_id: &str) -> subscribe::Options {
    subscribe::Options {
        hostname: "127.0.0.1".into(),
        port: broker.port(),
        client_id: client_id.into(),
        ..subscribe::Options::default()
    }
}

fn connect_bytes(protocol: ProtocolVersion, id: &str) -> Vec<u8> {
    let mut connect = Connect::new(protocol, id);
    if protocol == ProtocolVersion::MQTTv5 {
        // Unlike Paho, the client announces the largest packet it takes.
        connect
            .properties
            .set(Property::MaximumPacketSize(16 * 1024 * 1024))
            .unwrap();
    }
    Packet::Connect(connect).to_bytes(protocol).unwrap()
}

fn publish_bytes(
    protocol: ProtocolVersion,
    topic: &str,
    payload: &str,
    qos: QoS,
    mid: u16,
    retain: bool,
) -> Vec<u8> {
    let mut p = Publish::new(topic, payload, qos, mid);
    p.retain = retain;
    Packet::Publish(p).to_bytes(protocol).unwrap()
}

/// Accepts the helper's connection and answers its CONNECT (checked to the
/// byte) with `connack`.
fn accept(broker: &ScriptedBroker, connect: &[u8], connack: &str) -> ScriptedConnection {
    let mut conn = broker.accept().unwrap();
    conn.expect_bytes(connect).unwrap();
    conn.send_bytes(&hex(connack)).unwrap();
    conn
}

// ----- publish.single / publish.multiple -----------------------------------

#[test]
fn publish_helper_qos0() {
    // 03-publish-helper-qos0.
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish_options(&broker, "publish-helper-qos0-test");
    let helper = run(move || publish::single("pub/qos0/test", "message", 0, false, &options));
    let mut conn = accept(
        &broker,
        &connect_bytes(ProtocolVersion::MQTTv311, "publish-helper-qos0-test"),
        "20 02 00 00",
    );
    conn.expect_bytes(&hex(
        "30 16 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 6d 65 73 73 61 67 65",
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}

#[test]
fn publish_helper_qos0_v5() {
    // 03-publish-helper-qos0-v5: a CONNECT whose property block (empty in
    // Paho's) has our Maximum Packet Size, Paho's v5 CONNACK (TopicAliasMaximum 10, ReceiveMaximum 20), the
    // PUBLISH with its empty property block.
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish::Options {
        protocol: ProtocolVersion::MQTTv5,
        ..publish_options(&broker, "publish-helper-qos0-test")
    };
    let helper = run(move || publish::single("pub/qos0/test", "message", 0, false, &options));
    let connect = connect_bytes(ProtocolVersion::MQTTv5, "publish-helper-qos0-test");
    assert_eq!(
        connect[8..18],
        hex("05 02 00 3c 05 27 01 00 00 00"),
        "v5, clean, k60, Maximum Packet Size 16 MiB"
    );
    let mut conn = accept(&broker, &connect, "20 09 00 00 06 22 00 0a 21 00 14");
    conn.expect_bytes(&hex(
        "30 17 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 00 6d 65 73 73 61 67 65",
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}

#[test]
fn publish_helper_qos1_disconnect() {
    // 03-publish-helper-qos1-disconnect: the broker drops the connection
    // before its PUBACK; loop_forever reconnects by itself (Paho's 1 s
    // delay) and sends the message again with DUP and the same id.
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish_options(&broker, "publish-helper-qos1-disconnect-test");
    let helper = run(move || publish::single("pub/qos1/test", "message", 1, false, &options));
    let connect = connect_bytes(
        ProtocolVersion::MQTTv311,
        "publish-helper-qos1-disconnect-test",
    );
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    conn.expect_bytes(&hex(
        "32 18 00 0d 70 75 62 2f 71 6f 73 31 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65",
    ))
    .unwrap();
    conn.close();
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    conn.expect_bytes(&hex(
        "3a 18 00 0d 70 75 62 2f 71 6f 73 31 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65",
    ))
    .unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}

#[test]
fn multiple_sends_one_message_at_a_time_in_order() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish_options(&broker, "multiple-order");
    let mut retained = Msg::new("order/3", "third");
    retained.retain = true;
    let msgs = vec![
        Msg::from(("order/1", "first", 1, false)),
        Msg::from(("order/2", b"second".to_vec(), 2, false)),
        retained,
    ];
    let helper = run(move || publish::multiple(&msgs, &options));
    let v4 = ProtocolVersion::MQTTv311;
    let mut conn = accept(&broker, &connect_bytes(v4, "multiple-order"), "20 02 00 00");
    conn.expect_bytes(&publish_bytes(
        v4,
        "order/1",
        "first",
        QoS::AtLeastOnce,
        1,
        false,
    ))
    .unwrap();
    // Nothing more until the first is acknowledged.
    conn.expect_silence(QUIET).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    conn.expect_bytes(&publish_bytes(
        v4,
        "order/2",
        "second",
        QoS::ExactlyOnce,
        2,
        false,
    ))
    .unwrap();
    conn.send_bytes(&hex("50 02 00 02")).unwrap();
    conn.expect_bytes(&hex("62 02 00 02")).unwrap();
    // A PUBREC does not complete a QoS 2 message: still nothing new.
    conn.expect_silence(QUIET).unwrap();
    conn.send_bytes(&hex("70 02 00 02")).unwrap();
    conn.expect_bytes(&publish_bytes(
        v4,
        "order/3",
        "third",
        QoS::AtMostOnce,
        0,
        true,
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}

#[test]
fn multiple_resends_only_the_message_in_flight_after_a_reconnect() {
    // Paho's on_connect would also publish the next message after the
    // reconnect, putting two in flight; here the next one waits its turn.
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish_options(&broker, "multiple-reconnect");
    let helper = run(move || {
        publish::multiple(
            [("r/1", "one", 1, false), ("r/2", "two", 1, false)],
            &options,
        )
    });
    let v4 = ProtocolVersion::MQTTv311;
    let connect = connect_bytes(v4, "multiple-reconnect");
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    let first = publish_bytes(v4, "r/1", "one", QoS::AtLeastOnce, 1, false);
    conn.expect_bytes(&first).unwrap();
    conn.close();
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    let mut dup = first.clone();
    dup[0] |= 0x08;
    conn.expect_bytes(&dup).unwrap();
    conn.expect_silence(QUIET).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    conn.expect_bytes(&publish_bytes(v4, "r/2", "two", QoS::AtLeastOnce, 2, false))
        .unwrap();
    conn.send_bytes(&hex("40 02 00 02")).unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}

#[test]
fn a_refused_connection_is_an_error_with_connack_string_text() {
    // v3.1.1 return code 5 reaches on_connect as the reason code "Not
    // authorized" (VERSION2), and Paho raises
    // MQTTException(connack_string(reason_code)): "Not authorized".
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish_options(&broker, "refused");
    let helper = run(move || publish::single("t", "m", 0, false, &options));
    let mut conn = accept(
        &broker,
        &connect_bytes(ProtocolVersion::MQTTv311, "refused"),
        "20 02 00 05",
    );
    // No PUBLISH, no DISCONNECT: the connection is just closed.
    conn.expect_close().unwrap();
    let err = helper.wait().unwrap_err();
    assert_eq!(err.to_string(), "Not authorized");
    assert_eq!(err.kind(), PahoErrorKind::MqttException);
    assert!(matches!(&err, Error::ConnectionRefused(rc) if rc.value() == 0x87));
    assert_eq!(
        err.to_string(),
        mqtt_tether::connack_string(mqtt_tether::convert_connack_rc_to_reason_code(5))
    );
    // And the helper does not try again.
    broker.expect_no_connection(QUIET).unwrap();
}

#[test]
fn a_refused_v5_connection_is_an_error_too() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = publish::Options {
        protocol: ProtocolVersion::MQTTv5,
        ..publish_options(&broker, "refused-v5")
    };
    let helper = run(move || publish::single("t", "m", 0, false, &options));
    let mut conn = accept(
        &broker,
        &connect_bytes(ProtocolVersion::MQTTv5, "refused-v5"),
        "20 03 00 86 00",
    );
    conn.expect_close().unwrap();
    let err = helper.wait().unwrap_err();
    assert_eq!(err.to_string(), "Bad user name or password");
}

#[test]
fn argument_errors_have_pahos_texts() {
    let options = publish::Options {
        // Nothing is reached: every error comes before connecting.
        port: 1,
        ..publish::Options::default()
    };
    let err = publish::multiple(Vec::<Msg>::new(), &options).unwrap_err();
    assert_eq!(err.to_string(), "msgs is empty");
    assert_eq!(err.kind(), PahoErrorKind::ValueError);

    let err = publish::single("a/+", "m", 0, false, &options).unwrap_err();
    assert_eq!(err.to_string(), "Publish topic cannot contain wildcards.");
    let err = publish::single("", "m", 0, false, &options).unwrap_err();
    assert_eq!(err.to_string(), "Invalid topic.");
    // A bad later message stops the call before anything is published.
    let err =
        publish::multiple([("a", "1", 0, false), ("b", "2", 3, false)], &options).unwrap_err();
    assert_eq!(err.to_string(), "Invalid QoS level.");

    let no_user = publish::Options {
        auth: Some(Auth::new("", Some("secret"))),
        ..options.clone()
    };
    let err = publish::single("a", "m", 0, false, &no_user).unwrap_err();
    assert_eq!(
        err.to_string(),
        "The 'username' key was not found, this is required for auth"
    );
    assert_eq!(err.kind(), PahoErrorKind::KeyError);
    let sub_no_user = subscribe::Options {
        auth: Some(Auth::default()),
        port: 1,
        ..subscribe::Options::default()
    };
    let err = subscribe::simple(&["a"], 0, 1, true, &sub_no_user).unwrap_err();
    assert_eq!(err.kind(), PahoErrorKind::KeyError);

    let bad_will = publish::Options {
        will: Some(Will::new("", "gone")),
        ..options.clone()
    };
    let err = publish::single("a", "m", 0, false, &bad_will).unwrap_err();
    assert_eq!(err.to_string(), "Invalid topic.");

    let sub = subscribe::Options {
        port: 1,
        ..subscribe::Options::default()
    };
    let err = subscribe::simple(&["a"], 3, 1, true, &sub).unwrap_err();
    assert_eq!(err.to_string(), "qos must be in the range 0-2");
    let err = subscribe::simple(&["a"], 0, 0, true, &sub).unwrap_err();
    assert_eq!(err.to_string(), "msg_count must be > 0");
    assert!(matches!(err, Error::Value(ValueReason::MsgCount)));
    assert_eq!(err.kind(), PahoErrorKind::ValueError);
    let err = subscribe::callback(|_, _, _| {}, &["a"], -1, UserData::default(), &sub).unwrap_err();
    assert_eq!(err.to_string(), "qos must be in the range 0-2");
    let err = subscribe::simple(&["a/#/b"], 0, 1, true, &sub).unwrap_err();
    assert_eq!(err.to_string(), "Invalid subscription filter: \"a/#/b\".");
    assert!(matches!(err, Error::InvalidSubscriptionFilter(ref f) if f == "a/#/b"));
}

#[test]
fn a_network_error_from_connect_is_returned() {
    // A port that was free a moment ago: the TCP connect is refused.
    let port = ScriptedBroker::bind().unwrap().port();
    let options = publish::Options {
        hostname: "127.0.0.1".into(),
        port,
        ..publish::Options::default()
    };
    let started = Instant::now();
    let err = publish::single("a", "m", 0, false, &options).unwrap_err();
    assert_eq!(err.kind(), PahoErrorKind::OsError, "{err}");
    assert!(started.elapsed() < WAIT, "no retry of the first connection");
}

#[test]
fn will_and_auth_go_into_the_connect_as_pahos() {
    // The bytes of Paho's 01-will-set and 01-unpwd-set CONNECTs.
    let broker = ScriptedBroker::bind().unwrap();
    let mut will = Will::new("topic/on/unexpected/disconnect", "will message");
    will.qos = 1;
    will.retain = true;
    let options = publish::Options {
        will: Some(will),
        ..publish_options(&broker, "01-will-set")
    };
    let helper = run(move || publish::single("pub/qos0/test", "message", 0, false, &options));
    let mut conn = accept(
        &broker,
        &hex(
            "10 45 00 04 4d 51 54 54 04 2e 00 3c 00 0b 30 31 2d 77 69 6c 6c 2d 73 65 74 00 1e 74 6f
             70 69 63 2f 6f 6e 2f 75 6e 65 78 70 65 63 74 65 64 2f 64 69 73 63 6f 6e 6e 65 63 74 00
             0c 77 69 6c 6c 20 6d 65 73 73 61 67 65",
        ),
        "20 02 00 00",
    );
    conn.expect_bytes(&hex(
        "30 16 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 6d 65 73 73 61 67 65",
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    helper.wait().unwrap();

    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe::Options {
        auth: Some(Auth::new("uname", Some(";'[08gn=#"))),
        ..subscribe_options(&broker, "01-unpwd-set")
    };
    let helper = run(move || subscribe::simple(&["t"], 0, 1, true, &options));
    let mut conn = accept(
        &broker,
        &hex(
            "10 2a 00 04 4d 51 54 54 04 c2 00 3c 00 0c 30 31 2d 75 6e 70 77 64 2d 73 65 74 00 05 75
             6e 61 6d 65 00 09 3b 27 5b 30 38 67 6e 3d 23",
        ),
        "20 02 00 00",
    );
    conn.expect_bytes(&hex("82 06 00 01 00 01 74 00")).unwrap();
    conn.send_bytes(&hex("90 03 00 01 00")).unwrap();
    conn.send_bytes(&publish_bytes(
        ProtocolVersion::MQTTv311,
        "t",
        "x",
        QoS::AtMostOnce,
        0,
        false,
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    assert_eq!(helper.wait().unwrap().len(), 1);
}

// ----- subscribe.simple / subscribe.callback --------------------------------

#[test]
fn simple_returns_msg_count_messages_and_skips_retained_ones() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe_options(&broker, "simple-test");
    let helper = run(move || subscribe::simple(&["s/1", "s/2"], 1, 2, false, &options));
    let v4 = ProtocolVersion::MQTTv311;
    let mut conn = accept(&broker, &connect_bytes(v4, "simple-test"), "20 02 00 00");
    // One SUBSCRIBE per topic, at the given QoS.
    conn.expect_bytes(&hex("82 08 00 01 00 03 73 2f 31 01"))
        .unwrap();
    conn.expect_bytes(&hex("82 08 00 02 00 03 73 2f 32 01"))
        .unwrap();
    conn.send_bytes(&hex("90 03 00 01 01 90 03 00 02 01"))
        .unwrap();
    // A stale retained value: skipped, not counted, but acknowledged.
    conn.send_bytes(&publish_bytes(
        v4,
        "s/1",
        "stale",
        QoS::AtLeastOnce,
        3,
        true,
    ))
    .unwrap();
    conn.expect_bytes(&hex("40 02 00 03")).unwrap();
    conn.send_bytes(&publish_bytes(v4, "s/2", "one", QoS::AtMostOnce, 0, false))
        .unwrap();
    conn.expect_silence(QUIET).unwrap();
    // The last one is acknowledged before the DISCONNECT (Paho never
    // acknowledges it), and nothing follows the DISCONNECT.
    conn.send_bytes(&publish_bytes(v4, "s/1", "two", QoS::AtLeastOnce, 7, false))
        .unwrap();
    conn.expect_bytes(&hex("40 02 00 07 e0 00")).unwrap();
    conn.expect_close().unwrap();
    let messages = helper.wait().unwrap();
    let got: Vec<(&str, &[u8], bool)> = messages
        .iter()
        .map(|m| (m.topic.as_str(), m.payload.as_slice(), m.retain))
        .collect();
    assert_eq!(
        got,
        [
            ("s/2", b"one".as_slice(), false),
            ("s/1", b"two".as_slice(), false)
        ]
    );
}

#[test]
fn simple_keeps_retained_messages_by_default_and_works_with_mqtt5() {
    // Paho's callback() passes clean_session=True to an MQTT 5 client,
    // which refuses it; both functions here leave it out for MQTT 5.
    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe::Options {
        protocol: ProtocolVersion::MQTTv5,
        ..subscribe_options(&broker, "simple-v5")
    };
    let helper = run(move || subscribe::simple(&["r"], 0, 1, true, &options));
    let v5 = ProtocolVersion::MQTTv5;
    let mut conn = broker.accept().unwrap();
    conn.set_protocol(v5);
    conn.expect_bytes(&connect_bytes(v5, "simple-v5")).unwrap();
    conn.send_bytes(&hex("20 03 00 00 00")).unwrap();
    conn.expect_bytes(&hex("82 07 00 01 00 00 01 72 00"))
        .unwrap();
    conn.send_bytes(&hex("90 04 00 01 00 00")).unwrap();
    conn.send_bytes(&publish_bytes(v5, "r", "kept", QoS::AtMostOnce, 0, true))
        .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    let messages = helper.wait().unwrap();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].retain);
    assert_eq!(messages[0].payload, b"kept");
}

#[test]
fn callback_runs_until_the_callback_disconnects_and_resubscribes_after_a_reconnect() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe_options(&broker, "callback-test");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let count = Arc::new(AtomicUsize::new(0));
    let helper = run(move || {
        subscribe::callback(
            move |client, userdata, message| {
                s.lock().unwrap().push((
                    *userdata.get::<i32>().unwrap(),
                    String::from_utf8_lossy(&message.payload).into_owned(),
                ));
                if count.fetch_add(1, Ordering::SeqCst) == 1 {
                    let _ = client.disconnect();
                }
            },
            &["c/#"],
            0,
            UserData::new(42i32),
            &options,
        )
    });
    let v4 = ProtocolVersion::MQTTv311;
    let connect = connect_bytes(v4, "callback-test");
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    conn.expect_bytes(&hex("82 08 00 01 00 03 63 2f 23 00"))
        .unwrap();
    conn.send_bytes(&hex("90 03 00 01 00")).unwrap();
    conn.send_bytes(&publish_bytes(
        v4,
        "c/a",
        "before",
        QoS::AtMostOnce,
        0,
        false,
    ))
    .unwrap();
    conn.expect_silence(QUIET).unwrap();
    // The connection is lost: the client reconnects by itself and
    // subscribes again from on_connect.
    conn.close();
    let mut conn = accept(&broker, &connect, "20 02 00 00");
    conn.expect_bytes(&hex("82 08 00 02 00 03 63 2f 23 00"))
        .unwrap();
    conn.send_bytes(&hex("90 03 00 02 00")).unwrap();
    conn.send_bytes(&publish_bytes(
        v4,
        "c/b",
        "after",
        QoS::AtMostOnce,
        0,
        false,
    ))
    .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(42, "before".to_string()), (42, "after".to_string())]
    );
}

#[test]
fn subscribe_refused_is_an_error() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe_options(&broker, "sub-refused");
    let helper = run(move || subscribe::simple(&["t"], 0, 1, true, &options));
    let mut conn = accept(
        &broker,
        &connect_bytes(ProtocolVersion::MQTTv311, "sub-refused"),
        "20 02 00 04",
    );
    conn.expect_close().unwrap();
    let err = helper.wait().unwrap_err();
    assert_eq!(err.to_string(), "Bad user name or password");
    assert_eq!(err.kind(), PahoErrorKind::MqttException);
}

#[test]
fn callback_acknowledges_after_the_callback_but_not_behind_its_disconnect() {
    let broker = ScriptedBroker::bind().unwrap();
    let options = subscribe_options(&broker, "callback-ack");
    let helper = run(move || {
        subscribe::callback(
            |client, _, message| {
                if message.payload == b"stop" {
                    let _ = client.disconnect();
                }
            },
            &["k"],
            2,
            UserData::default(),
            &options,
        )
    });
    let v4 = ProtocolVersion::MQTTv311;
    let mut conn = accept(&broker, &connect_bytes(v4, "callback-ack"), "20 02 00 00");
    conn.expect_bytes(&hex("82 06 00 01 00 01 6b 02")).unwrap();
    conn.send_bytes(&hex("90 03 00 01 02")).unwrap();
    conn.send_bytes(&publish_bytes(v4, "k", "go", QoS::AtLeastOnce, 5, false))
        .unwrap();
    conn.expect_bytes(&hex("40 02 00 05")).unwrap();
    conn.send_bytes(&publish_bytes(v4, "k", "go", QoS::ExactlyOnce, 6, false))
        .unwrap();
    conn.expect_bytes(&hex("50 02 00 06")).unwrap();
    conn.send_bytes(&hex("62 02 00 06")).unwrap();
    conn.expect_bytes(&hex("70 02 00 06")).unwrap();
    // The callback disconnects: DISCONNECT is the last packet, as in Paho.
    conn.send_bytes(&publish_bytes(v4, "k", "stop", QoS::AtLeastOnce, 8, false))
        .unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    helper.wait().unwrap();
}
