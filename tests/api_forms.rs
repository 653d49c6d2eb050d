//! The Rust forms around Paho's names (issue 20): QoS as an integer or a
//! `QoS`, one ownership style for subscription lists, the common MQTT 5
//! properties in one call each, loud userdata, matchable errors whose
//! chains print each text once, and the helpers' shared options. Each form
//! is checked on the wire where the protocol fixes the bytes, next to the
//! Paho form it must equal.
#![cfg(feature = "testing")]

mod common;

use std::error::Error as _;
use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

use common::clients::{client, client_with};
use common::hex;
use common::scripted::connected;
use mqtt_tether::helpers::{self, publish, subscribe};
use mqtt_tether::packet::PropertyError;
use mqtt_tether::testing::{Broker, ScriptedBroker};
use mqtt_tether::{
    CleanStart, ClientOptions, Error, Message, PacketType, PahoErrorKind, Properties, Property,
    ProtocolVersion, QoS, ReasonCode, RetainHandling, RuntimeReason, SubscribeOptions, UserData,
    ValueReason,
};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn publish_subscribe_and_will_take_an_integer_or_a_qos_with_the_same_bytes() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("qos-forms");
    // The will's QoS travels in the CONNECT flags: 0x2c is will flag, will
    // QoS 1, clean session.
    c.will_set("w", "gone", QoS::AtLeastOnce, false, None)
        .unwrap();
    assert_eq!(c.connect("127.0.0.1", broker.port(), 60).unwrap(), 0);
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    let connect = conn.expect_connect().unwrap();
    assert_eq!(connect.will.map(|w| w.qos), Some(QoS::AtLeastOnce));
    conn.send_bytes(&hex("20 02 00 00")).unwrap();

    // Integer literals need no annotation, and the enum gives the same bytes.
    let by_int = c.publish("a/b", "x", 1, false).unwrap();
    let by_enum = c.publish("a/b", "x", QoS::AtLeastOnce, false).unwrap();
    assert_eq!((by_int.mid(), by_enum.mid()), (1, 2));
    conn.expect_bytes(&hex("32 08 00 03 61 2f 62 00 01 78"))
        .unwrap();
    conn.expect_bytes(&hex("32 08 00 03 61 2f 62 00 02 78"))
        .unwrap();

    assert_eq!(c.subscribe("s/#", 2).unwrap().1, Some(3));
    assert_eq!(c.subscribe("s/#", QoS::ExactlyOnce).unwrap().1, Some(4));
    conn.expect_bytes(&hex("82 08 00 03 00 03 73 2f 23 02"))
        .unwrap();
    conn.expect_bytes(&hex("82 08 00 04 00 03 73 2f 23 02"))
        .unwrap();

    // Paho's `qos=3` is still ValueError('Invalid QoS level.') everywhere.
    for err in [
        c.publish("a/b", "x", 3, false).unwrap_err(),
        c.subscribe("s/#", 3).unwrap_err(),
        c.subscribe_many(&[("s/#", 1), ("t", 3)]).unwrap_err(),
        c.will_set("w", "x", -1, false, None).unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidQos), "{err:?}");
        assert_eq!(err.to_string(), "Invalid QoS level.");
        assert_eq!(err.kind(), PahoErrorKind::ValueError);
    }
    conn.expect_silence(Duration::from_millis(200)).unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn a_received_messages_qos_acks_and_prints_as_paho_prints_msg_qos() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "ack-qos".into(),
        manual_ack: true,
        ..ClientOptions::default()
    });
    let (tx, rx) = mpsc::channel::<Message>();
    c.on_message(move |_, _, message| {
        let _ = tx.send(message.clone());
    });
    let mut conn = connected(&c, &broker);
    // PUBLISH QoS 1, mid 7, "q" "hi".
    conn.send_bytes(&hex("32 07 00 01 71 00 07 68 69")).unwrap();
    let message = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(format!("qos={}", message.qos), "qos=1");
    assert_eq!(i32::from(message.qos), 1);
    assert!(message.qos == 1);
    // No `as i32`: the message's own QoS is what `ack` takes.
    assert_eq!(
        c.ack(message.mid, message.qos),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    conn.expect_bytes(&hex("40 02 00 07")).unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn subscription_lists_are_one_style_owned_or_borrowed() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client("sub-lists");
    let mut conn = connected(&c, &broker);
    // SUBSCRIBE mid m: "a/#" QoS 1, "b" QoS 2.
    let expected = |mid: u8| {
        let mut b = hex("82 0c 00 00 00 03 61 2f 23 01 00 01 62 02");
        b[3] = mid;
        b
    };

    let (rc, mid) = c.subscribe_many(&[("a/#", 1), ("b", 2)]).unwrap();
    assert_eq!((rc, mid), (mqtt_tether::MQTT_ERR_SUCCESS, Some(1)));
    conn.expect_bytes(&expected(1)).unwrap();

    let owned = vec![
        (String::from("a/#"), QoS::AtLeastOnce),
        (String::from("b"), QoS::ExactlyOnce),
    ];
    let _ = c.subscribe_many(&owned).unwrap();
    conn.expect_bytes(&expected(2)).unwrap();
    let _ = c.subscribe_many(owned).unwrap();
    conn.expect_bytes(&expected(3)).unwrap();

    // The MQTT 5 form takes the same shapes (`&str` now, not only String).
    let _ = c
        .subscribe_with(
            [
                ("a/#", SubscribeOptions::new(QoS::AtLeastOnce)),
                ("b", SubscribeOptions::new(QoS::ExactlyOnce)),
            ],
            None,
        )
        .unwrap();
    conn.expect_bytes(&expected(4)).unwrap();
    let topics = ["a/#", "b"];
    let _ = c.subscribe_many(topics.into_iter().zip([1, 2])).unwrap();
    conn.expect_bytes(&expected(5)).unwrap();

    let none: [(&str, i32); 0] = [];
    let err = c.subscribe_many(none).unwrap_err();
    assert!(matches!(err, Error::Value(ValueReason::EmptyTopicList)));
    assert_eq!(err.to_string(), "Empty topic list");
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn the_common_mqtt5_properties_are_one_call_to_set_and_to_read() {
    let broker = ScriptedBroker::bind().unwrap();
    let c = client_with(ClientOptions {
        client_id: "props".into(),
        protocol: ProtocolVersion::MQTTv5,
        ..ClientOptions::default()
    });
    let (tx, rx) = mpsc::channel::<Message>();
    c.on_message(move |_, _, message| {
        let _ = tx.send(message.clone());
    });
    assert_eq!(c.connect("127.0.0.1", broker.port(), 60).unwrap(), 0);
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    conn.set_protocol(ProtocolVersion::MQTTv5);
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 03 00 00 00")).unwrap();

    let props = Properties::new(PacketType::Publish)
        .with_message_expiry_interval(60)
        .unwrap()
        .with_user_property("k", "v")
        .unwrap();
    let _ = c.publish_with("a", "x", 0, false, Some(props)).unwrap();
    // Message Expiry Interval 60, then the user property: identifier order.
    conn.expect_bytes(&hex(
        "30 11 00 01 61 0c 02 00 00 00 3c 26 00 01 6b 00 01 76 78",
    ))
    .unwrap();

    // A request with Response Topic, Correlation Data and Content Type,
    // read back with one call each and printed as Paho prints them.
    conn.send_bytes(&hex(
        "30 1d 00 01 71 18 03 00 01 6a 08 00 05 72 65 70 6c 79 09 00 02 00 ff 26 00 01 6b 00 01 76 78",
    ))
    .unwrap();
    let m = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(m.properties.response_topic(), Some("reply"));
    assert_eq!(m.properties.correlation_data(), Some(&[0x00, 0xff][..]));
    assert_eq!(m.properties.content_type(), Some("j"));
    assert_eq!(m.properties.message_expiry_interval(), None);
    assert_eq!(
        m.properties.user_properties().collect::<Vec<_>>(),
        [("k", "v")]
    );
    assert_eq!(
        m.properties.to_string(),
        "[ContentType : j, ResponseTopic : reply, CorrelationData : b'\\x00\\xff', \
         UserProperty : [('k', 'v')]]"
    );
    assert_eq!(
        Property::MessageExpiryInterval(20).to_string(),
        "MessageExpiryInterval : 20"
    );

    // A property the packet does not take is Paho's error, at the call.
    let err = Properties::new(PacketType::Subscribe)
        .with_message_expiry_interval(1)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Property MessageExpiryInterval does not apply to packet type Subscribe"
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn python_reprs_in_printed_properties_escape_like_python() {
    let props = Properties::new(PacketType::Publish)
        .with_user_property("it's", "a\\b\n")
        .unwrap()
        .with_correlation_data(b"'q\"\t")
        .unwrap();
    assert_eq!(
        props.to_string(),
        r#"[CorrelationData : b'\'q"\t', UserProperty : [("it's", 'a\\b\n')]]"#
    );
    let mut ids = Properties::new(PacketType::Publish);
    ids.set(Property::SubscriptionIdentifier(1)).unwrap();
    ids.set(Property::SubscriptionIdentifier(2)).unwrap();
    assert_eq!(ids.to_string(), "[SubscriptionIdentifier : [1, 2]]");
    assert_eq!(Properties::new(PacketType::Publish).to_string(), "[]");
}

#[test]
fn userdata_of_another_type_is_a_loud_error_naming_both_types() {
    let userdata = UserData::new("svc");
    let err = userdata.get::<String>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "userdata is a `&str`, not a `alloc::string::String`"
    );
    assert_eq!(
        (err.expected(), err.found()),
        ("alloc::string::String", Some("&str"))
    );
    assert_eq!(userdata.get::<&str>().copied(), Ok("svc"));
    assert_eq!(format!("{userdata:?}"), "UserData(&str)");

    let none = UserData::default();
    assert_eq!(
        none.get::<u32>().unwrap_err().to_string(),
        "no userdata is set (asked for a `u32`)"
    );

    // What a callback receives reads the same way.
    let c = client_with(ClientOptions {
        client_id: "userdata".into(),
        userdata: UserData::new("svc"),
        ..ClientOptions::default()
    });
    let broker = ScriptedBroker::bind().unwrap();
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, userdata, _, _, _| {
        let _ = tx.send(userdata.get::<String>().cloned().map_err(|e| e.to_string()));
    });
    let _conn = connected(&c, &broker);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Err("userdata is a `&str`, not a `alloc::string::String`".to_string())
    );
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

/// An error with a cause, as a TLS library's error inside an `io::Error`.
#[derive(Debug)]
struct Handshake(Certificate);
#[derive(Debug)]
struct Certificate;

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("handshake failed")
    }
}
impl fmt::Display for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("certificate expired")
    }
}
impl std::error::Error for Handshake {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Certificate {}

/// Every text of the chain, as an error reporter prints it.
fn chain(error: &Error) -> Vec<String> {
    let mut texts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        texts.push(e.to_string());
        next = e.source();
    }
    texts
}

#[test]
fn an_error_chain_prints_each_text_once() {
    let io = Error::from(std::io::Error::other(Handshake(Certificate)));
    assert_eq!(chain(&io), ["handshake failed", "certificate expired"]);
    let property = Error::from(PropertyError::Duplicate(
        mqtt_tether::packet::PropertyId::TopicAlias,
    ));
    assert_eq!(chain(&property).len(), 1, "{:?}", chain(&property));
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(chain(&Error::from(refused)).len(), 1);
}

#[test]
fn paho_value_and_runtime_errors_are_matchable_and_keep_pahos_text() {
    let c = client("reasons");
    let err = c.set_host("").unwrap_err();
    assert!(matches!(err, Error::Value(ValueReason::InvalidHost)));
    assert_eq!(err.to_string(), "Invalid host.");
    assert_eq!(err.kind(), PahoErrorKind::ValueError);
    let err = c.set_connect_timeout(Duration::ZERO).unwrap_err();
    assert!(matches!(err, Error::Value(ValueReason::NonPositiveTimeout)));
    assert_eq!(err.to_string(), "timeout must be a positive number");

    let broker = ScriptedBroker::bind().unwrap();
    let mut conn = connected(&c, &broker);
    let err = c.set_port(1884).unwrap_err();
    assert!(matches!(
        err,
        Error::Runtime(RuntimeReason::SettingWhileConnected("port"))
    ));
    assert_eq!(
        err.to_string(),
        "updating port on established connection is not supported"
    );
    assert_eq!(err.kind(), PahoErrorKind::RuntimeError);

    // The invalid-filter error says which filter.
    let err = c.subscribe("ok/#", 0).and(c.subscribe("x/#/y", 0));
    let err = err.unwrap_err();
    assert!(matches!(&err, Error::InvalidSubscriptionFilter(f) if f == "x/#/y"));
    assert_eq!(err.to_string(), "Invalid subscription filter: \"x/#/y\".");
    conn.expect_bytes(&hex("82 09 00 01 00 04 6f 6b 2f 23 00"))
        .unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn the_helpers_share_one_options_struct_and_take_a_qos() {
    let broker = Broker::start().unwrap();
    let options = helpers::Options {
        hostname: "127.0.0.1".into(),
        port: broker.port(),
        ..helpers::Options::default()
    };
    // The same value serves both modules: one struct, two names.
    let as_publish: &publish::Options = &options;
    let as_subscribe: &subscribe::Options = &options;
    publish::single("api/kept", "v", QoS::AtLeastOnce, true, as_publish).unwrap();
    let got = subscribe::simple(&["api/#"], QoS::AtLeastOnce, 1, true, as_subscribe).unwrap();
    assert_eq!(
        (got[0].topic.as_str(), &got[0].payload[..], got[0].qos),
        ("api/kept", &b"v"[..], QoS::AtLeastOnce)
    );
    let err = subscribe::simple(&["api/#"], 3, 1, true, &options).unwrap_err();
    assert!(matches!(err, Error::Value(ValueReason::HelperQos)));
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn helper_tls_is_as_brief_as_pahos_ca_certs_dict() {
    match helpers::Tls::ca_certs("ca.pem") {
        helpers::Tls::Options { options, insecure } => {
            assert_eq!(options.ca_certs, Some("ca.pem".into()));
            assert_eq!(
                (options.certfile, options.keyfile, insecure),
                (None, None, false)
            );
            let defaults = mqtt_tether::TlsOptions::default();
            assert_eq!(options.cert_reqs, defaults.cert_reqs);
        }
        #[allow(unreachable_patterns)]
        other => panic!("not the dict form: {other:?}"),
    }
}

#[test]
fn a_program_names_its_types_from_the_crate_root() {
    // Each of these was reachable only through a module path before.
    let options = SubscribeOptions {
        retain_handling: RetainHandling::DoNotSend,
        ..SubscribeOptions::new(QoS::AtLeastOnce)
    };
    assert_eq!(options.retain_handling, RetainHandling::DoNotSend);
    assert_eq!(CleanStart::default(), CleanStart::FirstOnly);
    let success: ReasonCode = ReasonCode::success(PacketType::ConnAck);
    assert_eq!(success.value(), 0);
    fn topic(message: &Message) -> &str {
        &message.topic
    }
    let _ = topic;
}
