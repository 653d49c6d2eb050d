//! Opening a connection ends within `connect_timeout` counted from the
//! start, whatever the peer does: hostile servers written here answer one
//! byte every 200 ms (a TLS ServerHello, a WebSocket 101, a SOCKS5 or HTTP
//! proxy reply), so each read gets a byte long before any per-read timeout,
//! and only a deadline for the whole open ends it. `disconnect()` and
//! `loop_stop()` abandon a connect in progress at once instead of waiting
//! for it. With keepalive 0, a broker that never sends CONNACK is given up
//! on after `connect_timeout`.
#![cfg(feature = "testing")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mqtt_tether::testing::ScriptedBroker;
use mqtt_tether::transport::proxy::{ProxySettings, ProxyType};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ErrorCode};

const WAIT: Duration = Duration::from_secs(10);
/// How often a hostile server sends its next byte.
const DRIP: Duration = Duration::from_millis(200);
/// How long it keeps dripping at most: with a deadline per read instead of
/// one for the whole open, the client would wait all of it.
const DRIP_FOR: Duration = Duration::from_secs(8);
/// The connect timeout of the tests that wait for it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How late past its deadline a connect may end on a loaded 2-core machine.
const LATE: Duration = Duration::from_millis(300);
/// How long `disconnect()` may take: it only changes state and shuts a
/// socket down.
const DISCONNECT_BOUND: Duration = Duration::from_millis(250);
/// How long `loop_stop()` may take during a connect: the documented bound
/// is "at once" (the socket is shut down from the stopping thread and the
/// loop thread ends without running the connect to its timeout); this is
/// that with margin, far below the 5 s connect timeout of those tests.
const LOOP_STOP_BOUND: Duration = Duration::from_millis(500);

/// A hostile server: accepts one connection and runs `script` on it on its
/// own thread. `started` tells the test the script has begun dripping.
struct Hostile {
    port: u16,
    dripping: mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

impl Hostile {
    fn start(script: impl FnOnce(TcpStream, mpsc::Sender<()>) + Send + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, dripping) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            script(tcp, tx);
        });
        Hostile {
            port,
            dripping,
            thread,
        }
    }

    /// Waits until it drips, and a little more, so the client is surely
    /// blocked in the step under test.
    fn wait_dripping(&self) {
        self.dripping
            .recv_timeout(WAIT)
            .expect("the hostile server never started dripping");
        std::thread::sleep(DRIP * 2);
    }

    /// Waits for its thread, which ends when the client's socket is gone
    /// (a write fails) or the drip is over: true when it ended within `t`.
    fn ends_within(self, t: Duration) -> bool {
        let started = Instant::now();
        while !self.thread.is_finished() {
            if started.elapsed() > t {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.thread.join().unwrap();
        true
    }
}

/// Sends `chunks` one every [`DRIP`], for at most [`DRIP_FOR`], until the
/// client goes away; the first one at once, then tells `dripping`.
fn drip(
    tcp: &mut TcpStream,
    chunks: impl IntoIterator<Item = Vec<u8>>,
    dripping: &mpsc::Sender<()>,
) {
    let started = Instant::now();
    for (i, chunk) in chunks.into_iter().enumerate() {
        if tcp.write_all(&chunk).is_err() || started.elapsed() > DRIP_FOR {
            return;
        }
        if i == 0 {
            let _ = dripping.send(());
        }
        std::thread::sleep(DRIP);
    }
}

fn bytes_one_by_one(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.iter().map(|b| vec![*b]).collect()
}

/// Reads an HTTP request head (up to the blank line).
fn read_head(tcp: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "the request ended early");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A SOCKS5 proxy's side up to the request: reads the greeting and the
/// CONNECT request (whatever address type), checking both.
fn read_socks5_request(tcp: &mut TcpStream) {
    let mut greeting = [0u8; 3];
    tcp.read_exact(&mut greeting).unwrap();
    assert_eq!(greeting, [5, 1, 0], "greeting without authentication");
    tcp.write_all(&[5, 0]).unwrap();
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(head[..3], [5, 1, 0], "CONNECT request");
    let rest = match head[3] {
        1 => 4 + 2,
        3 => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).unwrap();
            usize::from(len[0]) + 2
        }
        other => panic!("address type {other}"),
    };
    tcp.read_exact(&mut vec![0u8; rest]).unwrap();
}

/// A SOCKS5 reply with a 255-byte domain name as the bound address: 262
/// bytes, which the client must read in full.
fn long_socks5_reply() -> Vec<u8> {
    let mut reply = vec![5, 0, 0, 3, 255];
    reply.extend(std::iter::repeat_n(b'a', 255));
    reply.extend_from_slice(&1883u16.to_be_bytes());
    reply
}

fn client(id: &str, options: ClientOptions) -> Client {
    let c = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.into(),
            ..options
        },
    )
    .unwrap();
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(200));
    c
}

/// `connect()` on `c` must fail at `CONNECT_TIMEOUT` after it began, with
/// an error naming `layer`.
fn fails_at_the_deadline(c: &Client, host: &str, port: u16, layer: &str) {
    c.set_connect_timeout(CONNECT_TIMEOUT).unwrap();
    let started = Instant::now();
    let result = c.connect(host, port, 60);
    let blocked = started.elapsed();
    let error = result.expect_err("a connect to a server that never finishes succeeded");
    let text = error.to_string();
    eprintln!("connect() blocked {} ms: {text}", blocked.as_millis());
    assert!(
        blocked <= CONNECT_TIMEOUT + LATE,
        "connect() blocked {} ms with a connect timeout of {} ms ({text})",
        blocked.as_millis(),
        CONNECT_TIMEOUT.as_millis()
    );
    assert!(text.contains(layer), "the error names {layer:?}: {text}");
    assert!(text.contains("timed out"), "the error says why: {text}");
    // The deadline ends it, not an early error.
    assert!(
        blocked + Duration::from_millis(50) >= CONNECT_TIMEOUT,
        "connect() gave up after {} ms only ({text})",
        blocked.as_millis()
    );
    assert!(!c.is_connected());
}

#[cfg(feature = "rustls")]
mod tls {
    use super::*;
    use std::sync::Arc;

    use common::pki::Pki;
    use mqtt_tether::transport::tls::{TlsEngine, TlsOptions};

    /// The TLS engines of this build.
    fn engines() -> Vec<TlsEngine> {
        [TlsEngine::Rustls, TlsEngine::Native]
            .into_iter()
            .filter(|e| e.is_available())
            .collect()
    }

    /// The server's first flight (ServerHello, certificate, ...) for the
    /// ClientHello `tcp` brings, from a real rustls server.
    pub fn server_flight(tcp: &mut TcpStream, conn: &mut rustls::ServerConnection) -> Vec<u8> {
        while !conn.wants_write() {
            assert!(conn.read_tls(tcp).unwrap() > 0, "no ClientHello");
            conn.process_new_packets().unwrap();
        }
        let mut flight = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut flight).unwrap();
        }
        flight
    }

    /// A TLS server whose ServerHello comes one byte every 200 ms.
    pub fn dripped_server_hello(pki: &Pki) -> Hostile {
        let config = Arc::new(pki.server_config());
        Hostile::start(move |mut tcp, dripping| {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let flight = server_flight(&mut tcp, &mut conn);
            drip(&mut tcp, bytes_one_by_one(&flight), &dripping);
        })
    }

    pub fn tls_client(id: &str, pki: &Pki) -> Client {
        engine_client(id, pki, TlsEngine::default())
    }

    fn engine_client(id: &str, pki: &Pki, engine: TlsEngine) -> Client {
        let c = client(id, ClientOptions::default());
        c.tls_set(TlsOptions {
            ca_certs: Some(pki.path("ca.pem")),
            engine,
            ..TlsOptions::default()
        })
        .unwrap();
        c
    }

    #[test]
    fn a_dripped_server_hello_fails_connect_at_the_connect_timeout() {
        let pki = Pki::new();
        for engine in engines() {
            let server = dripped_server_hello(&pki);
            let c = engine_client(&format!("drip-tls-{engine}"), &pki, engine);
            fails_at_the_deadline(&c, "localhost", server.port, "TLS handshake failed");
            assert!(
                server.ends_within(WAIT),
                "{engine}: the client kept the socket"
            );
        }
    }

    /// The proxy's negotiation and the TLS handshake share one deadline: a
    /// proxy that takes 600 ms leaves the handshake 400 ms, not a fresh
    /// connect timeout.
    #[test]
    fn a_slow_proxy_and_a_dripped_server_hello_share_one_deadline() {
        let pki = Pki::new();
        let config = Arc::new(pki.server_config());
        let server = Hostile::start(move |mut tcp, dripping| {
            std::thread::sleep(Duration::from_millis(300));
            read_socks5_request(&mut tcp);
            std::thread::sleep(Duration::from_millis(300));
            tcp.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 7, 91]).unwrap();
            // Then the proxy's socket carries the "broker", a TLS server.
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let flight = server_flight(&mut tcp, &mut conn);
            drip(&mut tcp, bytes_one_by_one(&flight), &dripping);
        });
        let c = tls_client("drip-proxy-tls", &pki);
        let mut proxy = ProxySettings::new(ProxyType::Socks5, "127.0.0.1");
        proxy.proxy_port = Some(server.port);
        c.proxy_set(proxy).unwrap();
        fails_at_the_deadline(&c, "localhost", 1883, "TLS handshake failed");
    }

    #[cfg(feature = "websocket")]
    #[test]
    fn a_dripped_upgrade_reply_over_tls_fails_connect_at_the_connect_timeout() {
        let pki = Pki::new();
        for engine in engines() {
            dripped_upgrade_reply_over_tls(&pki, engine);
        }
    }

    #[cfg(feature = "websocket")]
    fn dripped_upgrade_reply_over_tls(pki: &Pki, engine: TlsEngine) {
        let config = Arc::new(pki.server_config());
        let server = Hostile::start(move |mut tcp, dripping| {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).unwrap();
            }
            let request = read_head(&mut rustls::Stream::new(&mut conn, &mut tcp));
            // Each byte of the 101 in a TLS record of its own.
            let records = super::websocket::upgrade_reply(&request)
                .iter()
                .map(|b| {
                    conn.writer().write_all(&[*b]).unwrap();
                    let mut record = Vec::new();
                    while conn.wants_write() {
                        conn.write_tls(&mut record).unwrap();
                    }
                    record
                })
                .collect::<Vec<_>>();
            drip(&mut tcp, records, &dripping);
        });
        let c = client(
            "drip-wss",
            ClientOptions {
                transport: mqtt_tether::Transport::Websockets,
                ..ClientOptions::default()
            },
        );
        c.tls_set(TlsOptions {
            ca_certs: Some(pki.path("ca.pem")),
            engine,
            ..TlsOptions::default()
        })
        .unwrap();
        fails_at_the_deadline(&c, "localhost", server.port, "WebSocket handshake error");
    }

    #[test]
    fn disconnect_and_loop_stop_abandon_a_tls_handshake_in_progress() {
        let pki = Pki::new();
        for engine in engines() {
            abandoned_while_connecting(
                engine_client(&format!("abandon-tls-{engine}"), &pki, engine),
                "localhost",
                dripped_server_hello(&pki),
                Stop::DisconnectThenLoopStop,
            );
            abandoned_while_connecting(
                engine_client(&format!("abandon-tls-2-{engine}"), &pki, engine),
                "localhost",
                dripped_server_hello(&pki),
                Stop::LoopStop,
            );
        }
    }

    /// A blocking `connect()` on one thread, `disconnect()` on another: the
    /// connect returns at once with `MQTT_ERR_NO_CONN`.
    #[test]
    fn disconnect_from_another_thread_abandons_a_blocking_connect() {
        let pki = Pki::new();
        let server = dripped_server_hello(&pki);
        let c = tls_client("abandon-blocking", &pki);
        c.set_connect_timeout(Duration::from_secs(5)).unwrap();
        let connecting = {
            let c = c.clone();
            let port = server.port;
            std::thread::spawn(move || {
                let result = c.connect("localhost", port, 60);
                (result, Instant::now())
            })
        };
        server.wait_dripping();
        let asked = Instant::now();
        let _ = c.disconnect();
        let (result, returned) = connecting.join().unwrap();
        let took = returned.saturating_duration_since(asked);
        eprintln!(
            "blocking connect(): returned {} ms after disconnect()",
            took.as_millis()
        );
        assert!(
            took <= LOOP_STOP_BOUND,
            "connect() returned {} ms after disconnect(): {result:?}",
            took.as_millis()
        );
        assert_eq!(result.unwrap(), ErrorCode::NoConn);
        assert!(server.ends_within(WAIT), "the client kept the socket");
    }
}

#[cfg(feature = "websocket")]
mod websocket {
    use super::*;

    /// The 101 a WebSocket server answers `request` with, padded by a long
    /// header so that dripped it lasts.
    pub fn upgrade_reply(request: &str) -> Vec<u8> {
        let key = request
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("Sec-WebSocket-Key")
                    .then(|| value.trim().to_string())
            })
            .expect("no Sec-WebSocket-Key");
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: mqtt\r\nX-Padding: {}\r\n\r\n",
            tungstenite::handshake::derive_accept_key(key.as_bytes()),
            "p".repeat(100)
        )
        .into_bytes()
    }

    /// A WebSocket server whose 101 comes one byte every 200 ms.
    pub fn dripped_upgrade() -> Hostile {
        Hostile::start(|mut tcp, dripping| {
            let request = read_head(&mut tcp);
            drip(
                &mut tcp,
                bytes_one_by_one(&upgrade_reply(&request)),
                &dripping,
            );
        })
    }

    pub fn ws_client(id: &str) -> Client {
        client(
            id,
            ClientOptions {
                transport: mqtt_tether::Transport::Websockets,
                ..ClientOptions::default()
            },
        )
    }

    #[test]
    fn a_dripped_upgrade_reply_fails_connect_at_the_connect_timeout() {
        let server = dripped_upgrade();
        let c = ws_client("drip-ws");
        fails_at_the_deadline(&c, "127.0.0.1", server.port, "WebSocket handshake error");
        assert!(server.ends_within(WAIT), "the client kept the socket");
    }

    #[test]
    fn disconnect_and_loop_stop_abandon_an_upgrade_in_progress() {
        abandoned_while_connecting(
            ws_client("abandon-ws"),
            "127.0.0.1",
            dripped_upgrade(),
            Stop::DisconnectThenLoopStop,
        );
        abandoned_while_connecting(
            ws_client("abandon-ws-2"),
            "127.0.0.1",
            dripped_upgrade(),
            Stop::LoopStop,
        );
    }
}

/// A SOCKS5 proxy whose reply to the CONNECT request comes one byte every
/// 200 ms.
fn dripped_socks5_reply() -> Hostile {
    Hostile::start(|mut tcp, dripping| {
        read_socks5_request(&mut tcp);
        drip(&mut tcp, bytes_one_by_one(&long_socks5_reply()), &dripping);
    })
}

fn socks5_client(id: &str, proxy_port: u16) -> Client {
    let c = client(id, ClientOptions::default());
    let mut proxy = ProxySettings::new(ProxyType::Socks5, "127.0.0.1");
    proxy.proxy_port = Some(proxy_port);
    c.proxy_set(proxy).unwrap();
    c
}

#[test]
fn a_dripping_socks5_proxy_fails_connect_at_the_connect_timeout() {
    let server = dripped_socks5_reply();
    let c = socks5_client("drip-socks5", server.port);
    fails_at_the_deadline(&c, "127.0.0.1", 1883, "proxy:");
    assert!(server.ends_within(WAIT), "the client kept the socket");
}

#[test]
fn a_dripping_http_proxy_fails_connect_at_the_connect_timeout() {
    let server = Hostile::start(|mut tcp, dripping| {
        read_head(&mut tcp);
        // A head that never ends (well under the 16 KiB the client takes).
        let mut reply = b"HTTP/1.1 200 Connection established\r\n".to_vec();
        reply.extend(std::iter::repeat_n(b'x', 4000));
        drip(&mut tcp, bytes_one_by_one(&reply), &dripping);
    });
    let c = client("drip-http", ClientOptions::default());
    let mut proxy = ProxySettings::new(ProxyType::Http, "127.0.0.1");
    proxy.proxy_port = Some(server.port);
    c.proxy_set(proxy).unwrap();
    fails_at_the_deadline(&c, "127.0.0.1", 1883, "proxy:");
}

#[test]
fn disconnect_and_loop_stop_abandon_a_proxy_negotiation_in_progress() {
    let server = dripped_socks5_reply();
    let port = server.port;
    abandoned_while_connecting(
        socks5_client("abandon-socks5", port),
        "127.0.0.1",
        server,
        Stop::DisconnectThenLoopStop,
    );
    let server = dripped_socks5_reply();
    let port = server.port;
    abandoned_while_connecting(
        socks5_client("abandon-socks5-2", port),
        "127.0.0.1",
        server,
        Stop::LoopStop,
    );
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    DisconnectThenLoopStop,
    LoopStop,
}

/// `c` (`connect_async` + `loop_start`, connect timeout 5 s) is blocked
/// opening its connection to `server`, which drips; `stop` must end it at
/// once: `disconnect()` within [`DISCONNECT_BOUND`], `loop_stop()` within
/// [`LOOP_STOP_BOUND`], no `on_connect_fail` (nothing failed: the connect
/// was abandoned), and the socket closed.
fn abandoned_while_connecting(c: Client, host: &str, server: Hostile, stop: Stop) {
    c.set_connect_timeout(Duration::from_secs(5)).unwrap();
    let (fail_tx, fails) = mpsc::channel();
    c.on_connect_fail(move |_, _| {
        let _ = fail_tx.send(());
    });
    c.connect_async(host, server.port, 60).unwrap();
    assert_eq!(c.loop_start(), ErrorCode::Success);
    server.wait_dripping();
    if let Stop::DisconnectThenLoopStop = stop {
        let asked = Instant::now();
        assert_eq!(c.disconnect(), ErrorCode::NoConn);
        let took = asked.elapsed();
        eprintln!("{stop:?}: disconnect() took {} ms", took.as_millis());
        assert!(
            took <= DISCONNECT_BOUND,
            "{stop:?}: disconnect() blocked {} ms",
            took.as_millis()
        );
    }
    let asked = Instant::now();
    assert_eq!(c.loop_stop(), ErrorCode::Success);
    let took = asked.elapsed();
    eprintln!("{stop:?}: loop_stop() took {} ms", took.as_millis());
    assert!(
        took <= LOOP_STOP_BOUND,
        "{stop:?}: loop_stop() blocked {} ms during a connect (connect timeout 5 s)",
        took.as_millis()
    );
    assert!(
        fails.try_recv().is_err(),
        "on_connect_fail for an abandoned connect"
    );
    assert!(!c.is_connected());
    // The server's next write fails: the client's socket is gone, not left
    // to the connect timeout.
    assert!(
        server.ends_within(Duration::from_secs(2)),
        "the abandoned socket stayed open"
    );
}

/// Keepalive 0 disables the keepalive, which is what ends a wait for a
/// CONNACK that never comes (Paho then waits for ever): here the connect
/// timeout bounds it, and the client closes as for a missing CONNACK with a
/// keepalive (`on_disconnect` with MQTT_ERR_KEEPALIVE, then a reconnect).
#[test]
fn with_keepalive_0_a_missing_connack_is_given_up_after_the_connect_timeout() {
    let broker = ScriptedBroker::bind().unwrap().with_timeout(WAIT);
    let c = client("no-connack", ClientOptions::default());
    c.set_connect_timeout(CONNECT_TIMEOUT).unwrap();
    let (tx, disconnects) = mpsc::channel();
    c.on_disconnect(move |_, _, _, rc, _| {
        let _ = tx.send((Instant::now(), rc.value()));
    });
    c.connect_async("127.0.0.1", broker.port(), 0).unwrap();
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let mut conn = broker.accept().unwrap();
    assert_eq!(conn.expect_connect().unwrap().keep_alive, 0);
    let connect_seen = Instant::now();
    conn.expect_close()
        .expect("the client kept waiting for the CONNACK");
    let closed = connect_seen.elapsed();
    let (at, rc) = disconnects.recv_timeout(WAIT).expect("no on_disconnect");
    eprintln!(
        "keepalive 0, no CONNACK: closed {} ms after the CONNECT arrived, on_disconnect {rc}",
        closed.as_millis()
    );
    // 141 "Keep alive timeout": MQTT_ERR_KEEPALIVE, as without keepalive 0.
    assert_eq!(rc, 141, "on_disconnect reason code");
    // The clock starts when the connection is open, just before the CONNECT
    // is written.
    assert!(
        closed + Duration::from_millis(100) >= CONNECT_TIMEOUT,
        "gave up after {} ms only",
        closed.as_millis()
    );
    assert!(
        closed <= CONNECT_TIMEOUT + LATE,
        "gave up after {} ms",
        closed.as_millis()
    );
    assert!(at.saturating_duration_since(connect_seen) <= CONNECT_TIMEOUT + LATE);
    // And it tries again, as after any lost connection.
    let mut again = broker.accept().expect("no reconnect");
    again.expect_connect().unwrap();
    let _ = c.disconnect();
    let _ = c.loop_stop();
}
