//! TLS against the real Mosquitto, with certificates made inside the test
//! (nothing checked in that could expire): server authentication, client
//! certificates, a wrong CA and a wrong host name (both keep retrying with
//! backoff), the insecure mode, and ALPN; each with every TLS engine built
//! in (rustls, and the native one with `native-tls`). Then the certificates
//! of Mosquitto's TLS guide, made by the `openssl` tool as the guide makes
//! them: the native engine connects with them, as Paho does, and rustls
//! refuses them with an error that says why and what to do.
#![cfg(all(feature = "testing", feature = "rustls"))]

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::{fast_reconnecting_client as client, ConnectionEvents};
use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
use mqtt_tether::transport::tls::{CertReqs, TlsEngine, TlsOptions};
use mqtt_tether::{Client, ErrorCode, PahoErrorKind};

const WAIT: Duration = Duration::from_secs(10);

mod common;

use common::pki::{GuidePki, Pki};

/// The TLS engines of this build.
fn engines() -> Vec<TlsEngine> {
    [TlsEngine::Rustls, TlsEngine::Native]
        .into_iter()
        .filter(|e| e.is_available())
        .collect()
}

/// A client id for `engine`'s run of a test.
fn id(engine: TlsEngine, base: &str) -> String {
    format!("{base}-{engine}")
}

/// The test's own additions to the shared certificates.
trait PkiExt {
    fn mosquitto(&self, require_certificate: bool) -> Option<Mosquitto>;
    fn options(&self, ca: &str) -> TlsOptions;
    fn options_for(&self, engine: TlsEngine, ca: &str) -> TlsOptions {
        TlsOptions {
            engine,
            ..self.options(ca)
        }
    }
}

impl PkiExt for Pki {
    /// Mosquitto with its main listener on TLS.
    fn mosquitto(&self, require_certificate: bool) -> Option<Mosquitto> {
        let mut config = MosquittoConfig::default();
        for line in self.listener_lines() {
            config = config.line(line);
        }
        if require_certificate {
            config = config.line("require_certificate true");
        }
        Mosquitto::start_or_skip(config)
    }

    fn options(&self, ca: &str) -> TlsOptions {
        TlsOptions {
            ca_certs: Some(self.path(ca)),
            ..TlsOptions::default()
        }
    }
}

/// What the automatic loop reported: on_connect reason codes, and
/// on_connect_fail calls.
#[derive(Clone, Default)]
struct Outcomes {
    connects: Arc<Mutex<Vec<u8>>>,
    fails: Arc<Mutex<usize>>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Outcomes {
    fn watch(c: &Client) -> Outcomes {
        let o = Outcomes::default();
        let connects = Arc::clone(&o.connects);
        c.on_connect(move |_, _, _, rc, _| connects.lock().unwrap().push(rc.value()));
        let fails = Arc::clone(&o.fails);
        c.on_connect_fail(move |_, _| *fails.lock().unwrap() += 1);
        let logs = Arc::clone(&o.logs);
        c.on_log(move |_, _, _, text| logs.lock().unwrap().push(text.to_string()));
        o
    }

    fn wait(&self, what: &str, done: impl Fn(&Outcomes) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "no {what}: connects {:?}, fails {}, log {:?}",
                self.connects.lock().unwrap(),
                self.fails.lock().unwrap(),
                self.logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A QoS 1 round trip over the client's TLS connection.
fn round_trip(c: &Client) {
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| tx.send(m.payload.clone()).unwrap());
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, _, _| stx.send(()).unwrap());
    let _ = c.subscribe("tls/echo", 1).unwrap();
    srx.recv_timeout(WAIT).unwrap();
    c.publish("tls/echo", "over TLS", 1, false)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"over TLS");
}

#[test]
fn server_authentication_with_a_ca_file() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(false) else {
        return;
    };
    for engine in engines() {
        let c = client(&id(engine, "tls-server-auth"));
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        assert_eq!(
            c.tls_set(pki.options_for(engine, "ca.pem"))
                .unwrap_err()
                .to_string(),
            "SSL/TLS has already been configured."
        );
        let o = Outcomes::watch(&c);
        assert_eq!(
            c.connect("localhost", m.port(), 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
        assert_eq!(*o.connects.lock().unwrap(), [0], "{engine}");
        round_trip(&c);
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn client_certificates_are_accepted_and_their_absence_refused() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(true) else {
        return;
    };
    for engine in engines() {
        let with = client(&id(engine, "tls-client-cert"));
        with.tls_set(TlsOptions {
            certfile: Some(pki.path("client.pem")),
            keyfile: Some(pki.path("client-key.pem")),
            ..pki.options_for(engine, "ca.pem")
        })
        .unwrap();
        let o = Outcomes::watch(&with);
        assert_eq!(
            with.connect("localhost", m.port(), 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(with.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
        round_trip(&with);
        let _ = with.disconnect();
        let _ = with.loop_stop();

        // Without a certificate: Mosquitto ends the session during or right
        // after the handshake; each attempt is a failed connect, retried.
        let without = client(&id(engine, "tls-no-cert"));
        without.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        let o = Outcomes::watch(&without);
        without.connect_async("localhost", m.port(), 60).unwrap();
        assert_eq!(without.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("three failed attempts", |o| *o.fails.lock().unwrap() >= 3);
        assert!(o.connects.lock().unwrap().is_empty(), "{engine}");
        let _ = without.disconnect();
        let _ = without.loop_stop();
    }
}

#[test]
fn a_wrong_ca_fails_the_handshake_and_keeps_retrying() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(false) else {
        return;
    };
    for engine in engines() {
        let c = client(&id(engine, "tls-wrong-ca"));
        c.tls_set(pki.options_for(engine, "other-ca.pem")).unwrap();
        let err = c.connect("localhost", m.port(), 60).unwrap_err();
        assert_eq!(err.kind(), PahoErrorKind::OsError);
        // Each engine's own words for it (Mosquitto sends its CA along,
        // which OpenSSL names).
        let unknown_issuer = match engine {
            TlsEngine::Rustls => "UnknownIssuer",
            TlsEngine::Native => "certificate verify failed",
        };
        assert!(
            err.to_string().contains("TLS handshake failed")
                && err.to_string().contains(unknown_issuer),
            "{err}"
        );
        let o = Outcomes::watch(&c);
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("three failed attempts", |o| *o.fails.lock().unwrap() >= 3);
        assert!(o.connects.lock().unwrap().is_empty());
        assert!(
            o.logs
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("Waiting ")),
            "backoff between attempts"
        );
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn a_wrong_host_name_fails_unless_insecure() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(false) else {
        return;
    };
    for engine in engines() {
        let c = client(&id(engine, "tls-wrong-name"));
        assert_eq!(
            c.tls_insecure_set(true).unwrap_err().to_string(),
            "Must configure SSL context before using tls_insecure_set."
        );
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        // The certificate names localhost, not 127.0.0.1.
        let err = c.connect("127.0.0.1", m.port(), 60).unwrap_err();
        assert!(err.to_string().contains("TLS handshake failed"), "{err}");
        let wrong_name = match engine {
            TlsEngine::Rustls => "not valid for name",
            TlsEngine::Native => "IP address mismatch",
        };
        assert!(err.to_string().contains(wrong_name), "{err}");
        let o = Outcomes::watch(&c);
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("two failed attempts", |o| *o.fails.lock().unwrap() >= 2);
        let _ = c.loop_stop();

        c.tls_insecure_set(true).unwrap();
        assert_eq!(
            c.connect("127.0.0.1", m.port(), 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
        round_trip(&c);
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn cert_reqs_none_accepts_any_certificate() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(false) else {
        return;
    };
    for engine in engines() {
        let c = client(&id(engine, "tls-cert-none"));
        c.tls_set(TlsOptions {
            cert_reqs: CertReqs::None,
            ..pki.options_for(engine, "other-ca.pem")
        })
        .unwrap();
        let o = Outcomes::watch(&c);
        assert_eq!(
            c.connect("127.0.0.1", m.port(), 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
}

#[test]
fn bad_files_and_encrypted_keys_are_errors_of_tls_set() {
    let pki = Pki::new();
    for engine in engines() {
        let c = client(&id(engine, "tls-files"));
        let missing = c
            .tls_set(pki.options_for(engine, "no-such-file.pem"))
            .unwrap_err();
        assert_eq!(missing.kind(), PahoErrorKind::OsError);
        assert!(
            missing.to_string().contains("no-such-file.pem"),
            "{missing}"
        );
        let key_for_other_cert = c
            .tls_set(TlsOptions {
                certfile: Some(pki.path("client.pem")),
                keyfile: Some(pki.path("server-key.pem")),
                ..pki.options_for(engine, "ca.pem")
            })
            .unwrap_err();
        assert_eq!(key_for_other_cert.kind(), PahoErrorKind::OsError);
        if engine == TlsEngine::Rustls {
            // The native engine's password test is the guide's encrypted
            // key, below: without a certificate Paho ignores it.
            let encrypted = c
                .tls_set(TlsOptions {
                    keyfile_password: Some("password".into()),
                    ..pki.options_for(engine, "ca.pem")
                })
                .unwrap_err();
            assert!(
                encrypted.to_string().contains("encrypted private keys")
                    && encrypted.to_string().contains("TlsEngine::Native"),
                "{encrypted}"
            );
        }
        // Nothing was configured by the failed calls.
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
    }
}

/// ALPN: the protocols given to tls_set are offered in the ClientHello, as
/// a rustls server in the test sees them.
#[test]
fn alpn_protocols_are_offered() {
    let pki = Pki::new();
    for engine in engines() {
        let mut config = pki.server_config();
        config.alpn_protocols = vec![b"paho-test-protocol".to_vec()];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).unwrap();
            }
            conn.alpn_protocol().map(<[u8]>::to_vec)
        });
        let c = client(&id(engine, "tls-alpn"));
        c.tls_set(TlsOptions {
            alpn_protocols: vec!["paho-test-protocol".into(), "mqtt".into()],
            ..pki.options_for(engine, "ca.pem")
        })
        .unwrap();
        assert_eq!(
            c.connect("localhost", port, 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(
            server.join().unwrap().as_deref(),
            Some(&b"paho-test-protocol"[..]),
            "{engine}"
        );
        assert_eq!(
            c.tls_alpn_protocol().as_deref(),
            Some(&b"paho-test-protocol"[..]),
            "{engine}"
        );
    }
}

/// How a client refused by Mosquitto for a wrong password is told, over
/// `tls` or plain TCP: its connection callbacks in the order they ran (see
/// `ConnectionEvents`), with the first failure of a manual `loop()`, or
/// with `loop_start` until the first `on_disconnect`.
fn refused(
    port: u16,
    protocol: mqtt_tether::ProtocolVersion,
    tls: Option<TlsOptions>,
    manual: bool,
) -> Vec<String> {
    let c = common::clients::client_with(mqtt_tether::ClientOptions {
        client_id: "tls-refused".into(),
        protocol,
        ..mqtt_tether::ClientOptions::default()
    });
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(200));
    let host = if tls.is_some() {
        "localhost"
    } else {
        "127.0.0.1"
    };
    if let Some(options) = tls {
        c.tls_set(options).unwrap();
    }
    c.username_pw_set(Some("alice"), Some("wrong")).unwrap();
    let events = ConnectionEvents::record(&c);
    assert_eq!(
        c.connect(host, port, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    if !manual {
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        events.wait_for_disconnect(WAIT);
        let _ = c.loop_stop();
        return events.seen();
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let rc = c.loop_once(Duration::from_millis(100));
        if rc != mqtt_tether::ErrorCode::Success {
            let mut seen = events.seen();
            seen.push(format!("loop {rc:?}"));
            return seen;
        }
        assert!(Instant::now() < deadline, "{:?}", events.seen());
    }
}

/// Mosquitto's TLS listener answers a wrong password with CONNACK 5 (or
/// reason 135) and closes the TLS session at once: the CONNACK and the
/// close_notify may come in one read. The refusal must reach on_connect as
/// it does over plain TCP, not be lost as a failed connect retried for
/// ever.
#[test]
fn a_refusal_over_tls_is_reported_as_over_plain_tcp() {
    let pki = Pki::new();
    let mut config = MosquittoConfig::default().user("alice", "secret");
    for line in pki.listener_lines() {
        config = config.line(line);
    }
    let Some(secure) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let Some(plain) = Mosquitto::start_or_skip(MosquittoConfig::default().user("alice", "secret"))
    else {
        return;
    };
    use mqtt_tether::ProtocolVersion::{MQTTv311, MQTTv5};
    for protocol in [MQTTv311, MQTTv5] {
        for manual in [false, true] {
            let over_tcp = refused(plain.port(), protocol, None, manual);
            // Paho maps CONNACK 5 to reason 135 "Not authorized" (MQTT 5
            // brokers send 135 itself), and closes with
            // MQTT_ERR_CONN_REFUSED, or MQTT_ERR_PROTOCOL for MQTT 5. A
            // refusal is a connection made and refused, not a failed
            // connect.
            let (disconnect, rc) = match protocol {
                MQTTv5 => ("on_disconnect 130 Protocol error", "loop Protocol"),
                _ => ("on_disconnect 128 Unspecified error", "loop ConnRefused"),
            };
            let mut expected = vec!["on_connect 135 Not authorized", disconnect];
            if manual {
                expected.push(rc);
            }
            assert_eq!(over_tcp, expected, "{protocol:?}, manual loop {manual}");
            for engine in engines() {
                let options = pki.options_for(engine, "ca.pem");
                let over_tls = refused(secure.port(), protocol, Some(options), manual);
                assert_eq!(
                    over_tls,
                    over_tcp,
                    "{engine}, {protocol:?}, manual loop {manual}\n{}",
                    secure.log()
                );
            }
        }
    }
}

/// How the scripted TLS server ends right after its last bytes (an alert
/// or a record in the same TCP write as them).
#[derive(Debug, Clone, Copy)]
enum TlsEnd {
    /// Its close_notify alert.
    CloseNotify,
    /// A record that does not decrypt (its tag altered).
    BadRecord,
    /// No alert: the end of the TCP stream (FIN) right after the data.
    Fin,
    /// None: the connection stays open until the client closes it.
    Open,
}

/// A one-connection TLS server in the test, for what Mosquitto does not
/// send: after the handshake it reads the client's CONNECT, writes
/// `connack`, then, once told on the returned sender, `last` and `end`,
/// and waits for the client to close.
fn tls_server_ending_after(
    pki: &Pki,
    connack: Vec<u8>,
    last: Vec<u8>,
    end: TlsEnd,
) -> (u16, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let config = Arc::new(pki.server_config());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go, told) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        let mut connect = [0u8; 256];
        loop {
            if let Ok(n @ 1..) = conn.reader().read(&mut connect) {
                assert_eq!(connect[0], 0x10, "a CONNECT: {:02x?}", &connect[..n]);
                break;
            }
            conn.complete_io(&mut tcp).unwrap();
        }
        let records = |conn: &mut rustls::ServerConnection| {
            let mut wire = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut wire).unwrap();
            }
            wire
        };
        conn.writer().write_all(&connack).unwrap();
        tcp.write_all(&records(&mut conn)).unwrap();
        told.recv_timeout(WAIT).unwrap();
        conn.writer().write_all(&last).unwrap();
        let mut wire = records(&mut conn);
        match end {
            TlsEnd::CloseNotify => conn.send_close_notify(),
            TlsEnd::BadRecord => conn.writer().write_all(b"never read").unwrap(),
            TlsEnd::Fin | TlsEnd::Open => {}
        }
        let mut ending = records(&mut conn);
        if let TlsEnd::BadRecord = end {
            *ending.last_mut().unwrap() ^= 1;
        }
        wire.extend_from_slice(&ending);
        tcp.write_all(&wire).unwrap();
        if let TlsEnd::Fin = end {
            tcp.shutdown(std::net::Shutdown::Write).unwrap();
        }
        // Until the client has closed: the end it sees is the TLS one.
        let mut rest = [0u8; 1024];
        while matches!(tcp.read(&mut rest), Ok(1..)) {}
    });
    (port, go, server)
}

/// A server DISCONNECT, after a message, right before the end of the TLS
/// stream (a close_notify, or a record that does not decrypt, in the same
/// TCP write; or a FIN): the client delivers the message, then the DISCONNECT as its
/// reason to close, as it would over plain TCP.
#[test]
fn a_server_disconnect_right_before_the_tls_stream_ends_is_the_reason() {
    let pki = Pki::new();
    let runs = engines()
        .into_iter()
        .flat_map(|e| [TlsEnd::CloseNotify, TlsEnd::BadRecord, TlsEnd::Fin].map(|end| (e, end)));
    for (engine, end) in runs {
        // MQTT 5: CONNACK 0; then PUBLISH t "bye" at QoS 0, and DISCONNECT
        // 139 (server shutting down).
        let (port, go, server) = tls_server_ending_after(
            &pki,
            common::hex("20 03 00 00 00"),
            common::hex("30 07 00 01 74 00 62 79 65  e0 01 8b"),
            end,
        );
        let c = common::clients::client_with(mqtt_tether::ClientOptions {
            client_id: "tls-server-disconnect".into(),
            protocol: mqtt_tether::ProtocolVersion::MQTTv5,
            ..mqtt_tether::ClientOptions::default()
        });
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        let events = ConnectionEvents::record(&c);
        assert_eq!(
            c.connect("localhost", port, 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        // The CONNACK alone first: what is at stake is the DISCONNECT.
        events.wait_for("on_connect 0 Success", WAIT);
        go.send(()).unwrap();
        events.wait_for_disconnect(WAIT);
        let _ = c.loop_stop();
        server.join().unwrap();
        assert_eq!(
            events.seen(),
            [
                "on_connect 0 Success",
                "on_message t bye",
                "on_disconnect 139 Server shutting down (from the server)"
            ],
            "{engine}, {end:?}"
        );
    }
}

/// Many PUBLISHes in one TLS record, which one read of the socket brings
/// in whole: every one is delivered, in order, with nothing more arriving
/// after it. The loop waits for its socket with `poll`, which says
/// "readable" only for bytes in the socket; plaintext a TLS layer decrypted
/// and kept back would wait there until the next record.
#[test]
fn every_publish_of_one_tls_record_is_delivered_without_more_bytes() {
    let pki = Pki::new();
    for engine in engines() {
        // 300 x PUBLISH "t" at QoS 0, payload one byte each: 1,800 bytes, one
        // record (a record holds up to 16 KiB).
        let publishes: Vec<u8> = (0..300u16)
            .flat_map(|i| [0x30, 0x04, 0x00, 0x01, b't', (i % 251) as u8])
            .collect();
        let (port, go, server) =
            tls_server_ending_after(&pki, common::hex("20 02 00 00"), publishes, TlsEnd::Open);
        let c = client(&id(engine, "tls-one-record"));
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        let events = ConnectionEvents::record(&c);
        // After `record`, which sets one of its own.
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        c.on_message(move |_, _, m| {
            let _ = tx.lock().unwrap().send(m.payload.clone());
        });
        assert_eq!(
            c.connect("localhost", port, 60).unwrap(),
            ErrorCode::Success
        );
        assert_eq!(c.loop_start(), ErrorCode::Success);
        events.wait_for("on_connect 0 Success", WAIT);
        go.send(()).unwrap();
        for i in 0..300u16 {
            let payload = rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("{engine}: only {i} of 300 messages delivered"));
            assert_eq!(payload, [(i % 251) as u8], "{engine}: message {i}");
        }
        assert_eq!(c.disconnect(), ErrorCode::Success);
        let _ = c.loop_stop();
        server.join().unwrap();
    }
}

/// Mosquitto on TLS with the guide's server certificate `crt`, requiring
/// client certificates or not.
fn guide_mosquitto(guide: &GuidePki, crt: &str, require_certificate: bool) -> Option<Mosquitto> {
    let mut config = MosquittoConfig::default();
    for line in guide.listener_lines(crt) {
        config = config.line(line);
    }
    if require_certificate {
        config = config.line("require_certificate true");
    }
    Mosquitto::start_or_skip(config)
}

fn guide_options(guide: &GuidePki, engine: TlsEngine) -> TlsOptions {
    TlsOptions {
        ca_certs: Some(guide.path("ca.crt")),
        engine,
        ..TlsOptions::default()
    }
}

/// The certificates of Mosquitto's TLS guide (version 1, or version 3
/// without a subjectAltName; the host name in the CN only): the native
/// engine connects with them as Paho does, also through
/// `tls_insecure_set`; rustls refuses them, and its error says in one line
/// why and both ways out.
#[test]
fn guide_certificates_connect_natively_and_explain_themselves_with_rustls() {
    let Some(guide) = GuidePki::new() else {
        return;
    };
    for (crt, what) in [
        ("server.crt", "the broker's certificate is X.509 version 1"),
        (
            "server-v3.crt",
            "the broker's certificate names its host only in the subject CN, with no subjectAltName",
        ),
    ] {
        let Some(m) = guide_mosquitto(&guide, crt, false) else {
            return;
        };
        if TlsEngine::Native.is_available() {
            let c = client(&format!("guide-native-{crt}"));
            c.tls_set(guide_options(&guide, TlsEngine::Native)).unwrap();
            let o = Outcomes::watch(&c);
            assert_eq!(c.connect("localhost", m.port(), 60).unwrap(), mqtt_tether::MQTT_ERR_SUCCESS);
            assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
            o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
            assert_eq!(*o.connects.lock().unwrap(), [0], "{crt}");
            round_trip(&c);
            let _ = c.disconnect();
            let _ = c.loop_stop();
        }

        let c = client(&format!("guide-rustls-{crt}"));
        c.tls_set(guide_options(&guide, TlsEngine::Rustls)).unwrap();
        let err = c.connect("localhost", m.port(), 60).unwrap_err().to_string();
        assert!(!err.contains('\n'), "one line: {err}");
        for part in [
            "TLS handshake failed: invalid peer certificate: ",
            what,
            "which rustls refuses and OpenSSL (Paho's engine) accepts",
            "reissue it as an X.509 v3 certificate with a subjectAltName naming the host",
            "or use the native TLS engine (feature `native-tls`, TlsOptions::engine = \
             TlsEngine::Native)",
        ] {
            assert!(err.contains(part), "{part:?} missing from: {err}");
        }
        if crt == "server.crt" {
            assert!(err.contains("UnsupportedCertVersion"), "rustls's cause: {err}");
            // The hostname check is not what refuses it.
            c.tls_insecure_set(true).unwrap();
            let err = c.connect("localhost", m.port(), 60).unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
    }
}

/// A rustls error about a certificate that is neither version 1 nor
/// without names keeps rustls's own words, with no hint.
#[test]
fn other_certificate_errors_carry_no_guide_hint() {
    let pki = Pki::new();
    let Some(m) = pki.mosquitto(false) else {
        return;
    };
    let c = client("tls-no-hint");
    c.tls_set(pki.options_for(TlsEngine::Rustls, "ca.pem"))
        .unwrap();
    let err = c
        .connect("127.0.0.1", m.port(), 60)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid for name"), "{err}");
    assert!(!err.contains("native"), "{err}");
}

/// The guide's client certificate, with its key encrypted by
/// `genrsa -des3`, against Mosquitto's `require_certificate true`: the
/// native engine decrypts it with `keyfile_password` and connects; no
/// password or a wrong one is an error of tls_set that says which; rustls
/// reads no encrypted key and points at the native engine.
#[test]
fn the_guides_encrypted_client_key_loads_with_keyfile_password() {
    let Some(guide) = GuidePki::new() else {
        return;
    };
    let Some(m) = guide_mosquitto(&guide, "server.crt", true) else {
        return;
    };
    let with_key = |engine, password: Option<&str>| TlsOptions {
        certfile: Some(guide.path("client.crt")),
        keyfile: Some(guide.path("client.key")),
        keyfile_password: password.map(Into::into),
        ..guide_options(&guide, engine)
    };
    if TlsEngine::Native.is_available() {
        let c = client("guide-client-cert");
        let err = c
            .tls_set(with_key(TlsEngine::Native, None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client.key")
                && err.contains("it is encrypted: give its password as keyfile_password"),
            "{err}"
        );
        let err = c
            .tls_set(with_key(TlsEngine::Native, Some("not the password")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it does not decrypt with keyfile_password"),
            "{err}"
        );
        c.tls_set(with_key(
            TlsEngine::Native,
            Some(GuidePki::CLIENT_KEY_PASSWORD),
        ))
        .unwrap();
        let o = Outcomes::watch(&c);
        assert_eq!(
            c.connect("localhost", m.port(), 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("CONNACK", |o| !o.connects.lock().unwrap().is_empty());
        assert_eq!(*o.connects.lock().unwrap(), [0]);
        round_trip(&c);
        let _ = c.disconnect();
        let _ = c.loop_stop();

        // Without the certificate, Mosquitto refuses the session.
        let without = client("guide-no-client-cert");
        without
            .tls_set(guide_options(&guide, TlsEngine::Native))
            .unwrap();
        let o = Outcomes::watch(&without);
        without.connect_async("localhost", m.port(), 60).unwrap();
        assert_eq!(without.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        o.wait("two failed attempts", |o| *o.fails.lock().unwrap() >= 2);
        assert!(o.connects.lock().unwrap().is_empty());
        let _ = without.disconnect();
        let _ = without.loop_stop();
    }

    let c = client("guide-client-rustls");
    let err = c
        .tls_set(with_key(
            TlsEngine::Rustls,
            Some(GuidePki::CLIENT_KEY_PASSWORD),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encrypted private keys are not supported by the rustls engine")
            && err.contains("TlsEngine::Native"),
        "{err}"
    );
    let err = c
        .tls_set(with_key(TlsEngine::Rustls, None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("client.key")
            && err.contains("it is encrypted, and the rustls engine reads no encrypted key")
            && err.contains("TlsEngine::Native"),
        "{err}"
    );
}

/// An engine this build lacks is an error of tls_set that names its
/// feature.
#[test]
fn an_engine_not_compiled_in_is_named_with_its_feature() {
    let pki = Pki::new();
    for engine in [TlsEngine::Rustls, TlsEngine::Native] {
        let result = client(&id(engine, "tls-engine")).tls_set(pki.options_for(engine, "ca.pem"));
        match (engine.is_available(), result) {
            (true, result) => result.unwrap(),
            (false, Err(e)) => {
                let feature = if engine == TlsEngine::Native {
                    "native-tls"
                } else {
                    "tls"
                };
                assert!(e.to_string().contains(&format!("`{feature}`")), "{e}");
            }
            (false, Ok(())) => panic!("{engine} is not built in, yet tls_set took it"),
        }
    }
    assert_eq!("native".parse::<TlsEngine>(), Ok(TlsEngine::Native));
    assert_eq!("rustls".parse::<TlsEngine>(), Ok(TlsEngine::Rustls));
    assert!("openssl".parse::<TlsEngine>().is_err());
}

/// The broker's close_notify alone, with its TCP connection left open: the
/// TLS session has ended, and the client says so at once, as over a closed
/// socket, with either engine.
#[test]
fn a_close_notify_alone_ends_the_connection() {
    let pki = Pki::new();
    for engine in engines() {
        // MQTT 5: CONNACK 0; then nothing but the close_notify.
        let (port, go, server) = tls_server_ending_after(
            &pki,
            common::hex("20 03 00 00 00"),
            Vec::new(),
            TlsEnd::CloseNotify,
        );
        let c = common::clients::client_with(mqtt_tether::ClientOptions {
            client_id: id(engine, "tls-close-notify"),
            protocol: mqtt_tether::ProtocolVersion::MQTTv5,
            ..mqtt_tether::ClientOptions::default()
        });
        c.tls_set(pki.options_for(engine, "ca.pem")).unwrap();
        let events = ConnectionEvents::record(&c);
        assert_eq!(
            c.connect("localhost", port, 60).unwrap(),
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        events.wait_for("on_connect 0 Success", WAIT);
        go.send(()).unwrap();
        events.wait_for_disconnect(WAIT);
        let _ = c.disconnect();
        let _ = c.loop_stop();
        server.join().unwrap();
        assert_eq!(
            events.seen(),
            [
                "on_connect 0 Success",
                "on_disconnect 128 Unspecified error"
            ],
            "{engine}"
        );
    }
}
