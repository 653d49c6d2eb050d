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
    c.disconnect();
    c.loop_stop();
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
            c.connect("localhost", port, 60).unwrap();
            c.loop_start();
            if accepted {
                // The CONNACK alone first: what is at stake is the
                // DISCONNECT.
                events.wait_for("on_connect 0 Success", WAIT);
                go.send(()).unwrap();
            }
            events.wait_for_disconnect(WAIT);
            c.loop_stop();
            server.join().unwrap();
            assert_eq!(events.seen(), expected, "over TLS: {tls}");
        }
    }
}
