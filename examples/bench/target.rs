//! Where the clients connect, and how a connected client is made: the
//! Mosquitto the bench starts (or `--host/--port`), the acking sink, and the
//! TLS and WebSocket fronts for the publish scenario.

use std::sync::mpsc;
use std::time::Duration;

use mqtt_tether::testing::{Mosquitto, MosquittoConfig, TempDir};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ProtocolVersion, Transport};

/// A broker (or the sink) on TCP.
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `mosquitto`, `sink` or `HOST:PORT`: goes into every result line.
    pub label: String,
    /// The Mosquitto the bench started, if it did.
    pub own: Option<Mosquitto>,
}

/// Mosquitto as the bench runs it: logging only notices (per-packet logging
/// would slow it down several times), no limit on queued messages (so a
/// fast publisher's messages are not dropped on the way to a subscriber),
/// and 100 messages in flight each way instead of 20: Mosquitto 2.0
/// disconnects an MQTT 3.1.1 client that has more unreleased QoS 2 messages
/// in flight to it than this, and announces it to MQTT 5 clients as their
/// Receive Maximum, which would cap the in-flight window 100 at 20.
/// Mosquitto's default Nagle algorithm stays on here: it coalesces the
/// broker's acks, which the throughput figures (and every client compared
/// against it) gain from; the latency scenario has its own broker, see
/// [`latency_config`].
pub fn mosquitto_config() -> MosquittoConfig {
    MosquittoConfig::default()
        .quiet_log(true)
        .line("max_queued_messages 0")
        .line("max_inflight_messages 100")
}

/// The latency scenario's Mosquitto: [`mosquitto_config`] with
/// TCP_NODELAY, which Mosquitto leaves off by default. With Nagle's
/// algorithm the PUBACK it writes right after forwarding a PUBLISH waits
/// for the peer's delayed ACK, adding milliseconds to every round trip (the
/// client sets TCP_NODELAY itself).
pub fn latency_config() -> MosquittoConfig {
    mosquitto_config().line("set_tcp_nodelay true")
}

pub fn start_mosquitto() -> Result<Target, String> {
    let m =
        Mosquitto::start(mosquitto_config()).map_err(|e| format!("cannot start mosquitto: {e}"))?;
    Ok(Target {
        host: "127.0.0.1".into(),
        port: m.port(),
        label: "mosquitto".into(),
        own: Some(m),
    })
}

/// A new client (not connected yet).
pub fn new_client(id: &str, protocol: ProtocolVersion) -> Result<Client, String> {
    client_with(id, protocol, Transport::Tcp)
}

fn client_with(
    id: &str,
    protocol: ProtocolVersion,
    transport: Transport,
) -> Result<Client, String> {
    Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.into(),
            protocol,
            transport,
            ..ClientOptions::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Connects, starts the loop thread and waits for a successful CONNACK.
/// Replaces `on_connect`; set your own afterwards if needed.
pub fn connect(client: &Client, host: &str, port: u16) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    client.on_connect(move |_, _, _, rc, _| {
        let _ = tx.send(rc.value());
    });
    assert_eq!(
        client.connect(host, port, 60).map_err(|e| e.to_string())?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(0) => Ok(()),
        Ok(rc) => Err(format!("CONNACK {rc}")),
        Err(_) => Err("no CONNACK within 10 s".into()),
    }
}

/// Ends a client's connection and its loop thread.
pub fn close(client: &Client) {
    let _ = client.disconnect();
    let _ = client.loop_stop();
}

/// A client over `transport` (tcp, tls, ws) to the bench's own Mosquitto,
/// with the host and port to connect to and a guard keeping the TLS broker or
/// the WebSocket front alive for the run.
pub fn transport_client(
    transport: &str,
    id: &str,
    protocol: ProtocolVersion,
    target: &Target,
    tls: &mut Option<Option<(Mosquitto, TempDir)>>,
) -> Result<(Client, String, u16, Box<dyn std::any::Any>), String> {
    match transport {
        "tcp" => Ok((
            new_client(id, protocol)?,
            target.host.clone(),
            target.port,
            Box::new(()),
        )),
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        "tls" => {
            if target.own.is_none() {
                return Err("TLS needs the bench's own Mosquitto".into());
            }
            let (m, dir) = tls
                .get_or_insert_with(tls_broker)
                .as_ref()
                .ok_or("could not make a certificate with openssl")?;
            let c = new_client(id, protocol)?;
            c.tls_set(mqtt_tether::transport::tls::TlsOptions {
                cert_reqs: mqtt_tether::transport::tls::CertReqs::None,
                ca_certs: Some(dir.path().join("cert.pem")),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
            Ok((c, "127.0.0.1".into(), m.port(), Box::new(())))
        }
        #[cfg(feature = "websocket")]
        "ws" => {
            let m = target
                .own
                .as_ref()
                .ok_or("WebSockets need the bench's own Mosquitto")?;
            let bridge =
                mqtt_tether::testing::WsBridge::start(m.addr()).map_err(|e| e.to_string())?;
            let c = client_with(id, protocol, Transport::Websockets)?;
            let port = bridge.port();
            Ok((c, "127.0.0.1".into(), port, Box::new(bridge)))
        }
        other => {
            let _ = tls;
            Err(format!(
                "transport {other} is not built in (features tls, websocket)"
            ))
        }
    }
}

/// A Mosquitto with a TLS listener and a self-signed certificate made with
/// the `openssl` tool if present (the example takes no dependency for it).
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn tls_broker() -> Option<(Mosquitto, TempDir)> {
    let dir = TempDir::new("bench-tls").ok()?;
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let config = mosquitto_config()
        .line(format!(
            "certfile {}",
            dir.path().join("cert.pem").display()
        ))
        .line(format!("keyfile {}", dir.path().join("key.pem").display()));
    Some((Mosquitto::start(config).ok()?, dir))
}
