//! The demo: a Paho-style persistent subscriber and a QoS 1 publisher, the
//! broker restarted twice in the middle of the stream, and nothing lost.
//!
//! It needs nothing installed: the broker is the test kit's in-process
//! broker, restarted with its sessions kept (like Mosquitto with
//! persistence). With `MQTT_HOST` (and optionally `MQTT_PORT`) set it uses
//! that broker instead, and since it cannot restart it, it cuts both
//! clients' connections twice through the kit's fault proxy.
//!
//! Every disconnect, backoff wait and reconnect is one log line. Run it with
//! `cargo run --features testing --example demo`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::testing::{Broker, FaultProxy, Restart};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, LogLevel, MessageInfo};

/// Messages the publisher sends, one every `PACE`.
const MESSAGES: usize = 300;
const PACE: Duration = Duration::from_millis(10);
/// How long the broker stays down at each restart.
const DOWN: Duration = Duration::from_millis(700);
/// The most the demo waits for the last messages before it gives up.
const DRAIN: Duration = Duration::from_secs(10);

/// Prints one line with the time since the demo started.
#[derive(Clone)]
struct Say(Instant);

impl Say {
    fn line(&self, text: &str) {
        println!("[{:6.3} s] {text}", self.0.elapsed().as_secs_f64());
    }
}

/// Where the clients connect, and how the demo breaks that connection.
enum Target {
    /// The in-process broker, restarted with its sessions kept.
    InProcess(Broker),
    /// An external broker, reached through a fault proxy that cuts.
    External(FaultProxy),
}

impl Target {
    fn start(say: &Say) -> Result<Target, Box<dyn std::error::Error>> {
        match std::env::var("MQTT_HOST") {
            Ok(host) => {
                let port: u16 = std::env::var("MQTT_PORT")
                    .ok()
                    .map(|p| p.parse())
                    .transpose()?
                    .unwrap_or(1883);
                let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?
                    .next()
                    .ok_or("MQTT_HOST does not resolve")?;
                let proxy = FaultProxy::start(upstream)?;
                say.line(&format!(
                    "broker {host}:{port}, reached through a fault proxy on 127.0.0.1:{}",
                    proxy.port()
                ));
                Ok(Target::External(proxy))
            }
            Err(_) => {
                let broker = Broker::start()?;
                say.line(&format!(
                    "in-process broker on 127.0.0.1:{} (set MQTT_HOST to use another)",
                    broker.port()
                ));
                Ok(Target::InProcess(broker))
            }
        }
    }

    fn port(&self) -> u16 {
        match self {
            Target::InProcess(broker) => broker.port(),
            Target::External(proxy) => proxy.port(),
        }
    }

    /// Takes the broker away for [`DOWN`], then brings it back.
    fn break_once(&mut self, say: &Say) -> Result<(), Box<dyn std::error::Error>> {
        match self {
            Target::InProcess(broker) => {
                say.line("== broker stops ==");
                broker.stop();
                std::thread::sleep(DOWN);
                broker.start_again(Restart::KeepSessions)?;
                say.line("== broker is back, with its sessions ==");
            }
            Target::External(proxy) => {
                say.line("== network cut, connections refused ==");
                proxy.set_refusing(true);
                proxy.cut_all();
                std::thread::sleep(DOWN);
                proxy.set_refusing(false);
                say.line("== network is back ==");
            }
        }
        Ok(())
    }
}

/// A client whose connection events are one log line each.
fn client(
    name: &'static str,
    clean_session: bool,
    say: &Say,
) -> Result<Client, Box<dyn std::error::Error>> {
    let client = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: format!("demo-{name}"),
            clean_session: Some(clean_session),
            ..ClientOptions::default()
        },
    )?;
    client.reconnect_delay_set(Duration::from_millis(100), Duration::from_secs(1));
    let s = say.clone();
    client.on_disconnect(move |_, _, _, reason_code, _| {
        if reason_code.is_failure() {
            s.line(&format!("{name}: connection lost ({reason_code})"));
        } else {
            s.line(&format!("{name}: disconnected ({reason_code})"));
        }
    });
    let s = say.clone();
    client.on_connect_fail(move |_, _| s.line(&format!("{name}: connect failed")));
    let s = say.clone();
    client.on_log(move |_, _, level, text| {
        if level == LogLevel::Info && text.starts_with("Waiting ") {
            s.line(&format!("{name}: {}", text.to_lowercase()));
        }
    });
    Ok(client)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let say = Say(Instant::now());
    let mut target = Target::start(&say)?;

    // The subscriber, as a Paho program writes it: a persistent session,
    // subscribing in on_connect when the broker kept no session for it.
    let sub = client("subscriber", false, &say)?;
    let seen: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let s = say.clone();
    let connected = Arc::new(std::sync::Barrier::new(2));
    let first = Arc::new(Mutex::new(Some(Arc::clone(&connected))));
    sub.on_connect(move |client, _, flags, reason_code, _| {
        s.line(&format!(
            "subscriber: connected ({reason_code}), session present: {}",
            flags.session_present
        ));
        if !flags.session_present {
            let _ = client.subscribe("demo/stream", 1).expect("a valid filter");
        }
    });
    sub.on_subscribe(move |_, _, _, _, _| {
        if let Some(barrier) = first.lock().expect("not poisoned").take() {
            barrier.wait();
        }
    });
    let counts = Arc::clone(&seen);
    sub.on_message(move |_, _, message| {
        if let Some(n) = std::str::from_utf8(&message.payload)
            .ok()
            .and_then(|p| p.strip_prefix("message "))
            .and_then(|n| n.parse().ok())
        {
            *counts.lock().expect("not poisoned").entry(n).or_insert(0) += 1;
        }
    });
    assert_eq!(
        sub.connect("127.0.0.1", target.port(), 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(sub.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    connected.wait();

    let publisher = client("publisher", true, &say)?;
    let s = say.clone();
    publisher.on_connect(move |_, _, flags, reason_code, _| {
        s.line(&format!(
            "publisher: connected ({reason_code}), session present: {}",
            flags.session_present
        ));
    });
    assert_eq!(
        publisher.connect("127.0.0.1", target.port(), 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);

    let mut infos: Vec<MessageInfo> = Vec::with_capacity(MESSAGES);
    for n in 0..MESSAGES {
        if n == MESSAGES / 3 || n == 2 * MESSAGES / 3 {
            target.break_once(&say)?;
        }
        infos.push(publisher.publish("demo/stream", format!("message {n}"), 1, false)?);
        if n % 100 == 99 {
            say.line(&format!(
                "publisher: {} messages handed to the client",
                n + 1
            ));
        }
        std::thread::sleep(PACE);
    }

    let deadline = Instant::now() + DRAIN;
    for info in &infos {
        let left = deadline.saturating_duration_since(Instant::now());
        info.wait_for_publish(Some(left))?;
    }
    while seen.lock().expect("not poisoned").len() < MESSAGES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let acknowledged = infos
        .iter()
        .filter(|i| i.is_published().unwrap_or(false))
        .count();
    let seen = seen.lock().expect("not poisoned").clone();
    let received = seen.len();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    for client in [&sub, &publisher] {
        let _ = client.disconnect();
        let _ = client.loop_stop();
    }
    say.line(&format!(
        "acknowledged by the broker: {acknowledged} of {MESSAGES}"
    ));
    println!(
        "sent {MESSAGES}, received {received}, lost {}, duplicates {duplicates}",
        MESSAGES - received
    );
    if received < MESSAGES {
        return Err("messages were lost".into());
    }
    Ok(())
}
