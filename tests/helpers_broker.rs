//! Paho's helper modules end to end through the in-process test broker:
//! `publish.multiple` stores retained messages that `subscribe.simple` then
//! reads back, with MQTT 3.1.1 and 5, and credentials the broker checks.
#![cfg(feature = "testing")]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use mqtt_tether::helpers::{publish, subscribe, Auth};
use mqtt_tether::packet::{ProtocolVersion, QoS};
use mqtt_tether::testing::{Broker, BrokerConfig};
use mqtt_tether::{connack_string, Error, PahoErrorKind};

const WAIT: Duration = Duration::from_secs(5);

/// Runs a helper on its own thread and gives its result, bounded by WAIT.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT)
        .expect("the helper did not return in time")
}

#[test]
fn multiple_then_simple_round_trip_retained_messages() {
    let broker = Broker::start().unwrap();
    for protocol in [ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5] {
        let prefix = format!("rt{}", protocol as u8);
        let options = publish::Options {
            hostname: "127.0.0.1".into(),
            port: broker.port(),
            protocol,
            ..publish::Options::default()
        };
        let msgs = vec![
            publish::Msg::from((format!("{prefix}/a"), "one", 1, true)),
            publish::Msg::from((format!("{prefix}/b"), "two", 2, true)),
            publish::Msg::from((format!("{prefix}/c"), "three", 0, true)),
        ];
        bounded(move || publish::multiple(msgs, &options)).unwrap();

        let options = subscribe::Options {
            hostname: "127.0.0.1".into(),
            port: broker.port(),
            protocol,
            client_id: format!("{prefix}-reader"),
            ..subscribe::Options::default()
        };
        let filter = format!("{prefix}/#");
        let messages =
            bounded(move || subscribe::simple(&[filter.as_str()], 2, 3, true, &options)).unwrap();
        let mut got: Vec<(String, Vec<u8>, QoS, bool)> = messages
            .into_iter()
            .map(|m| (m.topic, m.payload, m.qos, m.retain))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (
                    format!("{prefix}/a"),
                    b"one".to_vec(),
                    QoS::AtLeastOnce,
                    true
                ),
                (
                    format!("{prefix}/b"),
                    b"two".to_vec(),
                    QoS::ExactlyOnce,
                    true
                ),
                (
                    format!("{prefix}/c"),
                    b"three".to_vec(),
                    QoS::AtMostOnce,
                    true
                ),
            ],
            "{protocol:?}"
        );
    }
}

#[test]
fn credentials_are_sent_and_a_refusal_is_reported() {
    let broker =
        Broker::start_with(BrokerConfig::default().with_credentials("user", "pw")).unwrap();
    for protocol in [ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5] {
        let options = |password: &str| publish::Options {
            hostname: "127.0.0.1".into(),
            port: broker.port(),
            protocol,
            auth: Some(Auth::new("user", Some(password))),
            ..publish::Options::default()
        };
        let good = options("pw");
        bounded(move || publish::single("auth/ok", "x", 1, false, &good)).unwrap();
        let bad = options("wrong");
        let err = bounded(move || publish::single("auth/ok", "x", 1, false, &bad)).unwrap_err();
        assert_eq!(err.kind(), PahoErrorKind::MqttException, "{protocol:?}");
        // The broker's refusal, named as connack_string names it.
        let Error::ConnectionRefused(rc) = &err else {
            panic!("{protocol:?}: {err:?}");
        };
        assert!(rc.is_failure());
        assert_eq!(err.to_string(), connack_string(*rc), "{protocol:?}");
    }
}
