//! Publish throughput over each transport, against a Mosquitto the program
//! starts itself on a free loopback port (the first piece of the benchmark
//! suite). Prints one line per run and a JSON line.
//!
//! ```sh
//! cargo run --release --all-features --example bench -- [--count N] [--qos Q]
//!     [--payload BYTES] [--inflight N] [--transport tcp,tls,ws] [--sink]
//! ```
//!
//! With `--sink` the client talks to an in-process acking sink instead of
//! Mosquitto (TCP only): a peer that answers CONNECT, PUBLISH, PUBREL and
//! PINGREQ at once and does nothing else, so the figure is the client's own
//! limit, not the broker's.
//!
//! Each run: one client connects, publishes N messages of the payload size
//! at the QoS, and the clock stops when the last one is acknowledged (QoS 0:
//! written). Messages go to a topic nobody subscribes to, so the broker's
//! fan-out is not measured.

use std::time::{Duration, Instant};

use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, Transport};

struct Args {
    count: usize,
    qos: i32,
    payload: usize,
    inflight: usize,
    transports: Vec<String>,
    sink: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        count: 100_000,
        qos: 1,
        payload: 64,
        inflight: 100,
        transports: vec!["tcp".into(), "tls".into(), "ws".into()],
        sink: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--qos" => a.qos = value()?.parse().map_err(|e| format!("--qos: {e}"))?,
            "--payload" => a.payload = value()?.parse().map_err(|e| format!("--payload: {e}"))?,
            "--inflight" => {
                a.inflight = value()?.parse().map_err(|e| format!("--inflight: {e}"))?
            }
            "--transport" => a.transports = value()?.split(',').map(String::from).collect(),
            "--sink" => a.sink = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Connects a client over `transport` to the broker; the guards keep the
/// TLS files and the WebSocket front alive for the run.
fn client_for(
    transport: &str,
    plain: &Mosquitto,
    #[allow(unused_variables)] tls: Option<&(Mosquitto, mqtt_tether::testing::TempDir)>,
) -> Result<(Client, String, u16, Box<dyn std::any::Any>), String> {
    let options = ClientOptions {
        client_id: format!("bench-{transport}"),
        ..ClientOptions::default()
    };
    match transport {
        "tcp" => Ok((
            Client::with_options(CallbackAPIVersion::VERSION2, options)
                .map_err(|e| e.to_string())?,
            "127.0.0.1".into(),
            plain.port(),
            Box::new(()),
        )),
        #[cfg(feature = "tls")]
        "tls" => {
            let (m, dir) = tls.ok_or("no TLS broker")?;
            let c = Client::with_options(CallbackAPIVersion::VERSION2, options)
                .map_err(|e| e.to_string())?;
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
            let bridge =
                mqtt_tether::testing::WsBridge::start(plain.addr()).map_err(|e| e.to_string())?;
            let c = Client::with_options(
                CallbackAPIVersion::VERSION2,
                ClientOptions {
                    transport: Transport::Websockets,
                    ..options
                },
            )
            .map_err(|e| e.to_string())?;
            let port = bridge.port();
            Ok((c, "127.0.0.1".into(), port, Box::new(bridge)))
        }
        other => {
            let _ = Transport::Tcp;
            Err(format!(
                "transport {other} is not built in (features tls, websocket)"
            ))
        }
    }
}

/// The acking sink: accepts connections on 127.0.0.1 and answers each
/// packet at once (CONNACK, PUBACK, PUBREC then PUBCOMP, PINGRESP), one
/// write per chunk read. Returns its port.
fn start_sink() -> Result<u16, String> {
    use mqtt_tether::packet::{Ack, Decoder, Packet, PacketType, ProtocolVersion, QoS};
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                let protocol = ProtocolVersion::MQTTv311;
                let mut decoder = Decoder::new(protocol);
                let mut buf = vec![0u8; 256 * 1024];
                let mut out = Vec::new();
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut input = &buf[..n];
                    while let Ok(Some(packet)) = decoder.decode(&mut input) {
                        let reply = match packet {
                            Packet::Connect(_) => {
                                Some(Packet::ConnAck(mqtt_tether::packet::ConnAck::new(false, 0)))
                            }
                            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                                Some(Packet::PubAck(Ack::new(PacketType::PubAck, p.packet_id)))
                            }
                            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                                Some(Packet::PubRec(Ack::new(PacketType::PubRec, p.packet_id)))
                            }
                            Packet::PubRel(a) => {
                                Some(Packet::PubComp(Ack::new(PacketType::PubComp, a.packet_id)))
                            }
                            Packet::PingReq => Some(Packet::PingResp),
                            Packet::Disconnect(_) => return,
                            _ => None,
                        };
                        if let Some(reply) = reply {
                            let _ = reply.encode(protocol, &mut out);
                        }
                    }
                    if !out.is_empty() {
                        if stream.write_all(&out).is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
            });
        }
    });
    Ok(port)
}

/// A self-signed certificate for Mosquitto's TLS listener, made with the
/// `openssl` tool if present (the example takes no dependency for it).
fn tls_broker() -> Option<(Mosquitto, mqtt_tether::testing::TempDir)> {
    let dir = mqtt_tether::testing::TempDir::new("bench-tls").ok()?;
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
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
    let config = MosquittoConfig::default()
        .quiet_log(true)
        .line("max_queued_messages 0")
        .line(format!(
            "certfile {}",
            dir.path().join("cert.pem").display()
        ))
        .line(format!("keyfile {}", dir.path().join("key.pem").display()));
    Some((Mosquitto::start(config).ok()?, dir))
}

fn main() -> Result<(), String> {
    let args = parse()?;
    if args.sink {
        return run_against_sink(&args);
    }
    let plain = Mosquitto::start(
        MosquittoConfig::default()
            .quiet_log(true)
            .line("max_queued_messages 0"),
    )
    .map_err(|e| format!("cannot start mosquitto: {e}"))?;
    let tls = if args.transports.iter().any(|t| t == "tls") {
        tls_broker()
    } else {
        None
    };
    for transport in &args.transports {
        let (client, host, port, _guard) = match client_for(transport, &plain, tls.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                println!("{transport}: skipped ({e})");
                continue;
            }
        };
        publish_run(&client, transport, &host, port, &args)?;
    }
    Ok(())
}

/// `--sink`: the client alone, against the acking sink.
fn run_against_sink(args: &Args) -> Result<(), String> {
    let port = start_sink()?;
    let client = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: "bench-sink".into(),
            ..ClientOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    publish_run(&client, "sink", "127.0.0.1", port, args)
}

/// One publish run: connect, publish `args.count` messages, wait for the
/// last acknowledgement, print the figures, disconnect.
fn publish_run(
    client: &Client,
    transport: &str,
    host: &str,
    port: u16,
    args: &Args,
) -> Result<(), String> {
    let payload = vec![b'x'; args.payload];
    client
        .max_inflight_messages_set(args.inflight)
        .map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    client.on_connect(move |_, _, _, rc, _| {
        let _ = tx.send(rc.value());
    });
    client.connect(host, port, 60).map_err(|e| e.to_string())?;
    client.loop_start();
    let rc = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    if rc != 0 {
        return Err(format!("{transport}: CONNACK {rc}"));
    }
    let start = Instant::now();
    // At most 65,535 messages can be unacknowledged (16-bit ids): keep
    // the backlog under 30,000 by waiting for older ones.
    let mut backlog = std::collections::VecDeque::new();
    for _ in 0..args.count {
        let info = client
            .publish("bench/t", &payload, args.qos, false)
            .map_err(|e| e.to_string())?;
        if info.rc() != mqtt_tether::ErrorCode::Success {
            return Err(format!("publish failed: {:?}", info.rc()));
        }
        backlog.push_back(info);
        if backlog.len() > 30_000 {
            if let Some(old) = backlog.pop_front() {
                old.wait_for_publish(Some(Duration::from_secs(120)))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    for info in backlog {
        info.wait_for_publish(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed();
    let rate = args.count as f64 / elapsed.as_secs_f64();
    println!(
        "publish {transport:>3} QoS {} {:>5} B x {}: {:>9.0} msg/s ({:.3} s)",
        args.qos,
        args.payload,
        args.count,
        rate,
        elapsed.as_secs_f64()
    );
    println!(
        "{{\"scenario\":\"publish\",\"transport\":\"{transport}\",\"qos\":{},\"payload\":{},\"count\":{},\"msg_per_s\":{rate:.0}}}",
        args.qos, args.payload, args.count
    );
    client.disconnect();
    client.loop_stop();
    Ok(())
}
