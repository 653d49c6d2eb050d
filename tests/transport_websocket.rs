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
    let _ = c.subscribe("ws/#", 2).unwrap();
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
    assert_eq!(
        c.connect("localhost", port, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
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
    let _ = c.disconnect();
    let _ = c.loop_stop();
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
    let _ = c.disconnect();
    let _ = c.loop_stop();
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

#[cfg(feature = "rustls")]
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
    let _ = c.disconnect();
    let _ = c.loop_stop();
    let request = &bridge.requests()[0];
    let origin = format!("https://localhost:{}", bridge.port());
    assert_eq!(request.header("Origin"), Some(origin.as_str()));
}

/// A one-connection WebSocket server in the test (over TLS with `tls`),
/// for what the bridge does not send on purpose: after the upgrade it reads
/// the client's CONNECT, answers `connack` (when given, and then waits to be
/// told on the returned sender), then `last`, its CLOSE frame and, over
/// TLS, its close_notify in the same TCP write, and waits for the client
/// to close.
fn ws_server_closing_after(
    connack: Option<Vec<u8>>,
    last: Vec<u8>,
    tls: Option<rustls_or_none::ServerConfig>,
) -> (u16, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use tungstenite::Message;

    /// Reads from the connection; keeps what is written until `send`, so
    /// frames queued together leave in one TCP write.
    struct Held {
        tcp: TcpStream,
        tls: Option<rustls_or_none::ServerConnection>,
        out: Vec<u8>,
    }
    impl Read for Held {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match &mut self.tls {
                #[cfg(feature = "rustls")]
                Some(conn) => rustls::Stream::new(conn, &mut self.tcp).read(buf),
                #[cfg(not(feature = "rustls"))]
                Some(never) => match *never {},
                None => self.tcp.read(buf),
            }
        }
    }
    impl Write for Held {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Held {
        /// Writes what was kept; with `last`, the TLS close_notify too.
        fn send(&mut self, last: bool) {
            let out = std::mem::take(&mut self.out);
            let wire = match &mut self.tls {
                #[cfg(feature = "rustls")]
                Some(conn) => {
                    conn.writer().write_all(&out).unwrap();
                    if last {
                        conn.send_close_notify();
                    }
                    let mut wire = Vec::new();
                    while conn.wants_write() {
                        conn.write_tls(&mut wire).unwrap();
                    }
                    wire
                }
                #[cfg(not(feature = "rustls"))]
                Some(never) => match *never {},
                None => {
                    let _ = last;
                    out
                }
            };
            self.tcp.write_all(&wire).unwrap();
        }
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go, told) = mpsc::channel();
    let server = std::thread::spawn(move || {
        #[cfg_attr(not(feature = "rustls"), allow(unused_mut))]
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let tls = tls.map(|config| {
            #[cfg(feature = "rustls")]
            {
                let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
                while conn.is_handshaking() {
                    conn.complete_io(&mut tcp).unwrap();
                }
                conn
            }
            #[cfg(not(feature = "rustls"))]
            match config {}
        });
        let held = Held {
            tcp,
            tls,
            out: Vec::new(),
        };
        // The client asks for the "mqtt" subprotocol and needs it agreed.
        #[allow(clippy::result_large_err)]
        let agree = |_: &tungstenite::handshake::server::Request,
                     mut response: tungstenite::handshake::server::Response| {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
            Ok(response)
        };
        let mut ws = tungstenite::accept_hdr(held, agree).unwrap();
        ws.get_mut().send(false);
        match ws.read().unwrap() {
            Message::Binary(connect) => assert_eq!(connect[0], 0x10, "{connect:02x?}"),
            other => panic!("not a CONNECT: {other:?}"),
        }
        if let Some(connack) = connack {
            ws.send(Message::binary(connack)).unwrap();
            ws.get_mut().send(false);
            told.recv_timeout(WAIT).unwrap();
        }
        ws.send(Message::binary(last)).unwrap();
        let _ = ws.close(None);
        let _ = ws.flush();
        ws.get_mut().send(true);
        // Until the client has closed: the end it sees is the CLOSE.
        let mut rest = [0u8; 1024];
        while matches!(ws.get_mut().tcp.read(&mut rest), Ok(1..)) {}
    });
    (port, go, server)
}

/// rustls's server types with `tls`, types without values otherwise.
mod rustls_or_none {
    #[cfg(feature = "rustls")]
    pub use rustls::{ServerConfig, ServerConnection};
    #[cfg(not(feature = "rustls"))]
    pub enum ServerConfig {}
    #[cfg(not(feature = "rustls"))]
    pub enum ServerConnection {}
}

/// A refusing CONNACK, or a server DISCONNECT after a message, right before
/// the broker's CLOSE frame (and, over TLS, its close_notify; in one TCP
/// write): the client delivers what came before the CLOSE, and the refusal
/// or the DISCONNECT is its reason to close, as over plain TCP.
#[test]
fn what_comes_right_before_a_close_frame_is_delivered_first() {
    use common::clients::ConnectionEvents;
    use mqtt_tether::ProtocolVersion::MQTTv5;
    #[cfg(feature = "rustls")]
    let pki = common::pki::Pki::new();
    #[allow(unused_mut)]
    let mut over_tls = vec![false];
    #[cfg(feature = "rustls")]
    over_tls.push(true);
    // MQTT 5 CONNACK 135 (not authorized), with the CLOSE.
    let refused = (None, common::hex("20 03 00 87 00"));
    // CONNACK 0; then PUBLISH t "bye" at QoS 0 and DISCONNECT 139 (server
    // shutting down), with the CLOSE.
    let shut_down = (
        Some(common::hex("20 03 00 00 00")),
        common::hex("30 07 00 01 74 00 62 79 65  e0 01 8b"),
    );
    let expected: [&[&str]; 2] = [
        &[
            "on_connect 135 Not authorized",
            "on_disconnect 130 Protocol error",
        ],
        &[
            "on_connect 0 Success",
            "on_message t bye",
            "on_disconnect 139 Server shutting down (from the server)",
        ],
    ];
    for tls in over_tls {
        for ((connack, last), expected) in [refused.clone(), shut_down.clone()]
            .into_iter()
            .zip(expected)
        {
            let c = Client::with_options(
                CallbackAPIVersion::VERSION2,
                ClientOptions {
                    client_id: "ws-close".into(),
                    protocol: MQTTv5,
                    transport: Transport::Websockets,
                    ..ClientOptions::default()
                },
            )
            .unwrap();
            #[allow(unused_mut)]
            let mut config = None;
            #[cfg(feature = "rustls")]
            if tls {
                config = Some(pki.server_config());
                c.tls_set(mqtt_tether::transport::tls::TlsOptions {
                    ca_certs: Some(pki.path("ca.pem")),
                    ..Default::default()
                })
                .unwrap();
            }
            let accepted = connack.is_some();
            let (port, go, server) = ws_server_closing_after(connack, last, config);
            let events = ConnectionEvents::record(&c);
            assert_eq!(
                c.connect("localhost", port, 60).unwrap(),
                mqtt_tether::MQTT_ERR_SUCCESS
            );
            assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
            if accepted {
                // The CONNACK alone first: what is at stake is the
                // DISCONNECT.
                events.wait_for("on_connect 0 Success", WAIT);
                go.send(()).unwrap();
            }
            events.wait_for_disconnect(WAIT);
            let _ = c.loop_stop();
            server.join().unwrap();
            assert_eq!(events.seen(), expected, "over TLS: {tls}");
        }
    }
}

/// The same transport against a real WebSocket broker: amqtt's `ws`
/// listener (and a `wss` one over TLS), where the upgrade request is read
/// from amqtt's own log. amqtt takes any path and needs the `mqtt`
/// subprotocol; see the kit's `Amqtt` docs for its other quirks.
mod amqtt {
    use super::*;
    use common::clients::{client as tcp_client, connect as tcp_connect, ConnectionEvents};
    use mqtt_tether::testing::{Amqtt, AmqttConfig, UpgradeRequest};

    /// Subscribes `c` to `q/1/#` at QoS 1 and `q/2/#` at QoS 2 (SUBACK
    /// received); its messages arrive on the receiver as (topic, QoS,
    /// payload).
    fn subscribed(c: &Client) -> mpsc::Receiver<(String, u8, Vec<u8>)> {
        let (tx, rx) = mpsc::channel();
        c.on_message(move |_, _, m| {
            let _ = tx.send((m.topic.clone(), m.qos as u8, m.payload.clone()));
        });
        let (stx, srx) = mpsc::channel();
        c.on_subscribe(move |_, _, _, codes, _| {
            let _ = stx.send(codes.iter().map(|c| c.value()).collect::<Vec<_>>());
        });
        let _ = c.subscribe_many(&[("q/1/#", 1), ("q/2/#", 2)]).unwrap();
        assert_eq!(srx.recv_timeout(WAIT).unwrap(), [1, 2]);
        rx
    }

    /// QoS 1 and 2 round trips through amqtt on `c` (connected, looping),
    /// each at its own filter and QoS.
    fn amqtt_round_trips(c: &Client) {
        let messages = subscribed(c);
        for qos in [1u8, 2] {
            let topic = format!("q/{qos}/self");
            let payload = format!("over wss at QoS {qos}").into_bytes();
            c.publish(&topic, payload.clone(), i32::from(qos), false)
                .unwrap()
                .wait_for_publish(Some(WAIT))
                .unwrap();
            assert_eq!(messages.recv_timeout(WAIT).unwrap(), (topic, qos, payload));
        }
    }

    /// amqtt with a `ws` listener, or the test skips.
    fn amqtt_ws(config: AmqttConfig) -> Option<Amqtt> {
        let amqtt = Amqtt::start_or_skip(config.websocket(true))?;
        assert!(amqtt.ws_port().is_some(), "{}", amqtt.config_text());
        Some(amqtt)
    }

    /// The upgrade requests amqtt logged, once there are `n` (it logs them
    /// from its own task, a little after reading them).
    fn requests(amqtt: &Amqtt, n: usize) -> Vec<UpgradeRequest> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let requests = amqtt.ws_requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} upgrade request(s) logged, not {n}:\n{}",
                requests.len(),
                amqtt.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn amqtt_receives_pahos_headers_the_path_and_custom_headers() {
        let Some(amqtt) = amqtt_ws(AmqttConfig::default()) else {
            return;
        };
        let port = amqtt.ws_port().unwrap();
        let c = ws_client("ws-amqtt-headers");
        c.ws_set_options(
            "custom/path",
            WsHeaders::Merge(vec![
                ("X-Token".into(), "abc".into()),
                ("origin".into(), "http://replaced".into()),
            ]),
        );
        connected(&c, port);
        let _ = c.disconnect();
        let _ = c.loop_stop();

        let f = ws_client("ws-amqtt-header-fn");
        f.ws_set_options(
            "/mqtt",
            WsHeaders::Function(Arc::new(|mut defaults| {
                defaults.retain(|(n, _)| n != "Origin");
                defaults.push(("Authorization".into(), "Bearer t".into()));
                defaults
            })),
        );
        connected(&f, port);
        let _ = f.disconnect();
        let _ = f.loop_stop();

        let requests = requests(&amqtt, 2);
        let (merged, function) = (&requests[0], &requests[1]);
        assert_eq!(merged.path, "/custom/path");
        let host = format!("localhost:{port}");
        assert_eq!(merged.header("Host"), Some(host.as_str()));
        assert_eq!(merged.header("Upgrade"), Some("websocket"));
        assert_eq!(merged.header("Connection"), Some("Upgrade"));
        assert_eq!(merged.header("Sec-WebSocket-Protocol"), Some("mqtt"));
        assert_eq!(merged.header("Sec-WebSocket-Version"), Some("13"));
        assert_eq!(merged.header("X-Token"), Some("abc"));
        assert_eq!(merged.header("Origin"), Some("http://replaced"));
        assert_eq!(
            merged
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("origin"))
                .count(),
            1,
            "replaced, not added: {merged:?}"
        );
        // Nothing else: tungstenite sends the headers in an order of its
        // own (and a custom name in lower case), but no more of them.
        assert_eq!(merged.headers.len(), 8, "{merged:?}");
        assert_eq!(function.path, "/mqtt");
        assert_eq!(function.header("Origin"), None);
        assert_eq!(function.header("Authorization"), Some("Bearer t"));
    }

    /// QoS 1 and 2 in both directions between a WebSocket client and a TCP
    /// one, each at its own QoS (amqtt delivers at the granted QoS, so each
    /// QoS has its own filter), each publish acknowledged end to end.
    #[test]
    fn qos_1_and_2_both_ways_between_websocket_and_tcp_clients() {
        let Some(amqtt) = amqtt_ws(AmqttConfig::default()) else {
            return;
        };
        let ws = ws_client("ws-amqtt-qos");
        connected(&ws, amqtt.ws_port().unwrap());
        let ws_messages = subscribed(&ws);
        let tcp = tcp_client("tcp-amqtt-qos");
        assert_eq!(tcp_connect(&tcp, amqtt.port()), 0);
        let tcp_messages = subscribed(&tcp);

        for (from, messages, way) in [
            (&ws, &tcp_messages, "ws-to-tcp"),
            (&tcp, &ws_messages, "tcp-to-ws"),
        ] {
            for qos in [1u8, 2] {
                let topic = format!("q/{qos}/{way}");
                let payload = format!("{way} at QoS {qos}").into_bytes();
                from.publish(&topic, payload.clone(), i32::from(qos), false)
                    .unwrap()
                    .wait_for_publish(Some(WAIT))
                    .unwrap();
                // The publisher is subscribed too: each side sees its own
                // message and the other's; here the receiver's.
                let expected = (topic, qos, payload);
                let got = loop {
                    let m = messages.recv_timeout(WAIT).unwrap();
                    if m.0.ends_with(way) {
                        break m;
                    }
                };
                assert_eq!(got, expected);
            }
        }
        for c in [ws, tcp] {
            let _ = c.disconnect();
            let _ = c.loop_stop();
        }
    }

    /// wss: amqtt's WebSocket listener over TLS, with every TLS engine of
    /// the build; the upgrade's Origin says https.
    #[cfg(feature = "rustls")]
    #[test]
    fn qos_round_trips_over_wss() {
        use mqtt_tether::transport::tls::{TlsEngine, TlsOptions};
        let pki = common::pki::Pki::new();
        let config = AmqttConfig::default().wss(pki.path("server.pem"), pki.path("server-key.pem"));
        let Some(amqtt) = Amqtt::start_or_skip(config) else {
            return;
        };
        let port = amqtt.wss_port().unwrap();
        let engines = [TlsEngine::Rustls, TlsEngine::Native]
            .into_iter()
            .filter(|e| e.is_available());
        for (n, engine) in engines.enumerate() {
            let c = ws_client(&format!("wss-amqtt-{engine}"));
            c.tls_set(TlsOptions {
                ca_certs: Some(pki.path("ca.pem")),
                engine,
                ..TlsOptions::default()
            })
            .unwrap();
            connected(&c, port);
            amqtt_round_trips(&c);
            let _ = c.disconnect();
            let _ = c.loop_stop();
            let request = &requests(&amqtt, n + 1)[n];
            let origin = format!("https://localhost:{port}");
            assert_eq!(request.header("Origin"), Some(origin.as_str()), "{engine}");
        }
    }

    /// Refusals through amqtt's WebSocket listener: an upgrade without the
    /// `mqtt` subprotocol is answered HTTP 400, a failed connect that says
    /// so; a CONNACK refusal (anonymous clients not allowed) reaches the
    /// client as it does over amqtt's TCP listener.
    #[test]
    fn amqtt_refusals_over_websockets() {
        let Some(amqtt) = amqtt_ws(AmqttConfig::default().allow_anonymous(false)) else {
            return;
        };
        let port = amqtt.ws_port().unwrap();
        let c = ws_client("ws-amqtt-no-subprotocol");
        c.ws_set_options(
            "/mqtt",
            WsHeaders::Function(Arc::new(|mut defaults| {
                defaults.retain(|(n, _)| n != "Sec-WebSocket-Protocol");
                defaults
            })),
        );
        let err = c.connect("localhost", port, 60).unwrap_err().to_string();
        assert!(
            err.contains("WebSocket handshake error") && err.contains("400"),
            "{err}"
        );
        assert_eq!(
            requests(&amqtt, 1)[0].header("Sec-WebSocket-Protocol"),
            None
        );

        let refused = |transport: Transport, port: u16| {
            let c = Client::with_options(
                CallbackAPIVersion::VERSION2,
                ClientOptions {
                    client_id: format!("amqtt-anonymous-{}", transport.name()),
                    transport,
                    ..ClientOptions::default()
                },
            )
            .unwrap();
            let events = ConnectionEvents::record(&c);
            assert_eq!(
                c.connect("localhost", port, 60).unwrap(),
                mqtt_tether::MQTT_ERR_SUCCESS
            );
            assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
            events.wait_for_disconnect(WAIT);
            let _ = c.disconnect();
            let _ = c.loop_stop();
            events.seen()
        };
        let over_tcp = refused(Transport::Tcp, amqtt.port());
        assert_eq!(over_tcp[0], "on_connect 135 Not authorized", "{over_tcp:?}");
        assert_eq!(refused(Transport::Websockets, port), over_tcp);
    }
}
