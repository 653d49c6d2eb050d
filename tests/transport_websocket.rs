//! The websockets transport: the upgrade request Paho sends (path,
//! headers, custom headers, a header function) seen by a WebSocket peer,
//! and QoS 1/2 round trips through the test kit's WebSocket front to
//! Mosquitto, plain and over TLS. (Debian's Mosquitto 2.0.11 is built
//! without websockets, so the front stands in for its `protocol websockets`
//! listener.)
#![cfg(all(feature = "testing", feature = "websocket"))]

mod common;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use mqtt_tether::testing::{Mosquitto, MosquittoConfig, WsBridge};
use mqtt_tether::transport::websocket::WsHeaders;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, Transport};

const WAIT: Duration = Duration::from_secs(10);

fn ws_client(id: &str) -> Client {
    Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.into(),
            transport: Transport::Websockets,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// QoS 1 and QoS 2 round trips on `c`, already connected with loop_start.
fn round_trips(c: &Client) {
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| tx.send((m.qos as u8, m.payload.clone())).unwrap());
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, _, _| stx.send(()).unwrap());
    c.subscribe("ws/#", 2).unwrap();
    srx.recv_timeout(WAIT).unwrap();
    for qos in [1, 2] {
        let text = format!("over websockets at {qos}");
        c.publish("ws/t", text.clone(), qos, false)
            .unwrap()
            .wait_for_publish(Some(WAIT))
            .unwrap();
        assert_eq!(
            rx.recv_timeout(WAIT).unwrap(),
            (qos as u8, text.into_bytes())
        );
    }
}

fn connected(c: &Client, port: u16) {
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, _, _, rc, _| tx.send(rc.value()).unwrap());
    c.connect("localhost", port, 60).unwrap();
    c.loop_start();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
}

#[test]
fn the_upgrade_carries_pahos_headers_the_path_and_custom_headers() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let bridge = WsBridge::start(m.addr()).unwrap();
    let c = ws_client("ws-headers");
    c.ws_set_options(
        "custom/path",
        WsHeaders::Merge(vec![
            ("X-Token".into(), "abc".into()),
            ("origin".into(), "http://replaced".into()),
        ]),
    );
    connected(&c, bridge.port());
    round_trips(&c);
    c.disconnect();
    c.loop_stop();
    let request = &bridge.requests()[0];
    assert_eq!(request.path, "/custom/path");
    let host = format!("localhost:{}", bridge.port());
    assert_eq!(request.header("Host"), Some(host.as_str()));
    assert_eq!(request.header("Upgrade"), Some("websocket"));
    assert_eq!(request.header("Sec-WebSocket-Protocol"), Some("mqtt"));
    assert_eq!(request.header("Sec-WebSocket-Version"), Some("13"));
    assert_eq!(request.header("X-Token"), Some("abc"));
    assert_eq!(
        request.header("Origin"),
        Some("http://replaced"),
        "replaced, not added"
    );
    assert_eq!(
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("origin"))
            .count(),
        1
    );
}

#[test]
fn a_header_function_gets_the_defaults_and_decides() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let bridge = WsBridge::start(m.addr()).unwrap();
    let c = ws_client("ws-header-fn");
    c.ws_set_options(
        "/mqtt",
        WsHeaders::Function(Arc::new(|mut defaults| {
            assert!(defaults.iter().any(|(n, _)| n == "Sec-WebSocket-Key"));
            defaults.retain(|(n, _)| n != "Origin");
            defaults.push(("Authorization".into(), "Bearer t".into()));
            defaults
        })),
    );
    connected(&c, bridge.port());
    c.disconnect();
    c.loop_stop();
    let request = &bridge.requests()[0];
    assert_eq!(request.path, "/mqtt");
    assert_eq!(request.header("Origin"), None);
    assert_eq!(request.header("Authorization"), Some("Bearer t"));
}

#[test]
fn a_refused_upgrade_is_a_failed_connect_that_says_so() {
    // A plain MQTT listener answers the upgrade request with nothing HTTP.
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let c = ws_client("ws-refused");
    c.set_connect_timeout(Duration::from_secs(1)).unwrap();
    let err = c.connect("127.0.0.1", m.port(), 60).unwrap_err();
    assert!(
        err.to_string().contains("WebSocket handshake error"),
        "{err}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn qos_round_trips_over_websockets_over_tls() {
    use mqtt_tether::transport::tls::TlsOptions;

    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let pki = common::pki::Pki::new();
    let config = pki.server_config();
    let bridge = WsBridge::start_tls(m.addr(), Arc::new(config)).unwrap();
    let c = ws_client("wss");
    c.tls_set(TlsOptions {
        ca_certs: Some(pki.path("ca.pem")),
        ..TlsOptions::default()
    })
    .unwrap();
    connected(&c, bridge.port());
    round_trips(&c);
    c.disconnect();
    c.loop_stop();
    let request = &bridge.requests()[0];
    let origin = format!("https://localhost:{}", bridge.port());
    assert_eq!(request.header("Origin"), Some(origin.as_str()));
}
