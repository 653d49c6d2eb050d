//! The amqtt launcher of the test kit, against the real `amqtt`: it starts
//! on loopback, logs every packet, restarts on the same port, copes with a
//! taken port (amqtt stays up without a listener then), and refuses or
//! takes anonymous clients as configured. Each test skips (one line on
//! stderr) when amqtt is not installed, and fails instead on CI.
#![cfg(feature = "testing")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqtt_tether::testing::{Amqtt, AmqttConfig, Endpoint, DEFAULT_TIMEOUT};

use common::clients::{client, connect};

/// Connects a client `id` (with `user`, if any) and disconnects it; returns
/// the CONNACK's reason code value.
fn connect_once(amqtt: &Amqtt, id: &str, user: Option<&str>) -> u8 {
    let c = client(id);
    c.username_pw_set(user, None).unwrap();
    let (tx, rx) = mpsc::channel();
    // A refused client would retry forever.
    c.on_disconnect(move |c, _, _, _, _| {
        let _ = c.disconnect();
        let _ = tx.send(());
    });
    let rc = connect(&c, amqtt.port());
    if rc != 0 {
        let _ = rx.recv_timeout(DEFAULT_TIMEOUT);
    }
    let _ = c.disconnect();
    let _ = c.loop_stop();
    rc
}

#[test]
fn it_starts_on_loopback_and_logs_every_packet() {
    let Some(amqtt) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    assert_eq!(amqtt.endpoint(), Endpoint::Tcp(amqtt.addr()));
    assert!(amqtt.addr().ip().is_loopback());
    let bind = format!("    bind: 127.0.0.1:{}\n", amqtt.port());
    assert!(
        amqtt.config_text().contains(&bind),
        "{}",
        amqtt.config_text()
    );
    assert_eq!(connect_once(&amqtt, "tether-start", None), 0);
    // amqtt logs a packet from a task of its own, a little after sending it.
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    while !amqtt.log().contains("tether-start -out-> ConnackPacket(") {
        assert!(
            Instant::now() < deadline,
            "the CONNACK is not in the log:\n{}",
            amqtt.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restart_keeps_the_port_and_drop_cleans_up() {
    let Some(mut amqtt) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    let port = amqtt.port();
    let pid = amqtt.pid();
    amqtt.restart().unwrap();
    assert_eq!(amqtt.port(), port);
    assert_ne!(amqtt.pid(), pid);
    assert_eq!(connect_once(&amqtt, "tether-restart", None), 0);

    amqtt.stop().unwrap();
    assert!(!amqtt.is_running());
    assert!(TcpStream::connect(amqtt.addr()).is_err());
    amqtt.restart().unwrap();
    assert!(amqtt.is_running());
    // Every start is in the log.
    assert_eq!(
        amqtt.log().matches(" - Broker started").count(),
        3,
        "{}",
        amqtt.log()
    );

    let dir = amqtt.dir().to_path_buf();
    drop(amqtt);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// amqtt does not exit when it cannot bind its port: it logs "Broker
/// startup failed" and runs on without a listener. The launcher reads that
/// in the log, kills it and says so at once, instead of waiting out its
/// timeout for a listener that never comes.
#[test]
fn a_restart_onto_a_taken_port_fails_with_the_log_then_recovers() {
    let Some(mut amqtt) = Amqtt::start_or_skip(AmqttConfig::default()) else {
        return;
    };
    // restart() waits this long for the port to come free, so keep it
    // short; but a Python start on a loaded machine takes a second or more
    // to log its failure, and 500 ms saw only "did not accept connections".
    amqtt.set_timeout(Duration::from_secs(4));
    amqtt.stop().unwrap();
    let squatter = TcpListener::bind(amqtt.addr()).unwrap();
    let err = amqtt.restart().unwrap_err().to_string();
    assert!(err.contains("failed to start"), "{err}");
    assert!(err.contains("address already in use"), "{err}");
    assert!(!amqtt.is_running());
    drop(squatter);
    // The short timeout was for the failing restart; a real start may take
    // longer on a loaded machine.
    amqtt.set_timeout(DEFAULT_TIMEOUT);
    amqtt.restart().unwrap();
    assert_eq!(connect_once(&amqtt, "tether-recovered", None), 0);
}

/// With anonymous clients refused, amqtt's anonymous plugin takes any user
/// name (no password is checked) and refuses a client without one: CONNACK
/// 5, which Paho reports as 135 "Not authorized".
#[test]
fn anonymous_clients_can_be_refused() {
    let Some(amqtt) = Amqtt::start_or_skip(AmqttConfig::default().allow_anonymous(false)) else {
        return;
    };
    assert!(amqtt
        .config_text()
        .ends_with("    allow_anonymous: false\n"));
    assert_eq!(connect_once(&amqtt, "tether-anonymous", None), 135);
    assert_eq!(connect_once(&amqtt, "tether-named", Some("anyone")), 0);
}

/// The WebSocket listeners get ports of their own, in the configuration,
/// and keep them across a restart.
#[test]
fn websocket_listeners_have_their_own_ports_and_keep_them() {
    let pki = common::pki::Pki::new();
    let config = AmqttConfig::default()
        .websocket(true)
        .wss(pki.path("server.pem"), pki.path("server-key.pem"));
    let Some(mut amqtt) = Amqtt::start_or_skip(config) else {
        return;
    };
    let (ws, wss) = (amqtt.ws_port().unwrap(), amqtt.wss_port().unwrap());
    assert!(ws != amqtt.port() && wss != amqtt.port() && ws != wss);
    let text = amqtt.config_text();
    assert!(
        text.contains(&format!("  ws:\n    type: ws\n    bind: 127.0.0.1:{ws}\n"))
            && text.contains(&format!(
                "  wss:\n    type: ws\n    bind: 127.0.0.1:{wss}\n    ssl: true\n"
            )),
        "{text}"
    );
    amqtt.restart().unwrap();
    assert_eq!((amqtt.ws_port(), amqtt.wss_port()), (Some(ws), Some(wss)));
    for port in [ws, wss] {
        TcpStream::connect(("127.0.0.1", port)).unwrap();
    }
    assert!(Amqtt::start_or_skip(AmqttConfig::default())
        .unwrap()
        .ws_port()
        .is_none());
}
