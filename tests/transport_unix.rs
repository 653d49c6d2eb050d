//! The unix transport against Mosquitto's unix-socket listener
//! (`listener 0 PATH`): a QoS 1 and QoS 2 round trip.
#![cfg(all(feature = "testing", unix))]

use std::sync::mpsc;
use std::time::Duration;

use mqtt_tether::testing::{Mosquitto, MosquittoConfig, TempDir};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, Transport};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn qos1_and_qos2_round_trip_over_a_unix_socket() {
    let dir = TempDir::new("unix").unwrap();
    let path = dir.path().join("mqtt.sock");
    let config = MosquittoConfig::default().line(format!("listener 0 {}", path.display()));
    let Some(_m) = Mosquitto::start_or_skip(config) else {
        return;
    };
    // Mosquitto creates the socket file once it listens.
    let deadline = std::time::Instant::now() + WAIT;
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "no socket file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let c = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: "over-unix".into(),
            transport: Transport::Unix,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| tx.send((m.qos as u8, m.payload.clone())).unwrap());
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, _, _| stx.send(()).unwrap());
    assert_eq!(
        c.connect(path.to_str().unwrap(), 1883, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert!(matches!(
        c.socket().as_deref(),
        Some(mqtt_tether::transport::Socket::Unix(_))
    ));
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let _ = c.subscribe("unix/#", 2).unwrap();
    srx.recv_timeout(WAIT).unwrap();
    for qos in [1, 2] {
        c.publish("unix/t", format!("at {qos}"), qos, false)
            .unwrap()
            .wait_for_publish(Some(WAIT))
            .unwrap();
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            (qos as u8, format!("at {qos}").into_bytes())
        );
    }
    let _ = c.disconnect();
    let _ = c.loop_stop();
}
