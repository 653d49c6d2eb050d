//! What the `paho_*` examples share: `-h HOST -p PORT` and a few numeric
//! options, the in-process test broker started when no host is given, and a
//! second client that publishes test messages into it.
#![allow(dead_code)] // each example uses a different part

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use mqtt_tether::testing::Broker;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

/// The command line of a `paho_*` example.
pub struct Args {
    /// The broker's host (127.0.0.1 for the in-process broker).
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// `--count N`, if given.
    pub count: Option<usize>,
    /// `-t TOPIC`, if given.
    pub topic: Option<String>,
    /// `-q QOS`, if given.
    pub qos: Option<i32>,
    /// The in-process broker, when no `-h` was given.
    pub broker: Option<Broker>,
}

impl Args {
    /// Reads the command line; without `-h` it starts the in-process broker.
    /// `usage` is printed for `--help` and after a mistake (then exits 2).
    pub fn parse(usage: &str) -> Args {
        match Args::try_parse() {
            Ok(Some(args)) => args,
            Ok(None) => {
                println!("{usage}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("{e}\n{usage}");
                std::process::exit(2);
            }
        }
    }

    fn try_parse() -> Result<Option<Args>, String> {
        let mut host = None;
        let mut port = None;
        let mut count = None;
        let mut topic = None;
        let mut qos = None;
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "-h" => host = Some(value()?),
                "-p" => port = Some(value()?.parse().map_err(|_| "-p needs a port number")?),
                "--count" => count = Some(value()?.parse().map_err(|_| "--count needs a number")?),
                "-t" => topic = Some(value()?),
                "-q" => {
                    let q: i32 = value()?.parse().map_err(|_| "-q needs 0, 1 or 2")?;
                    if !(0..=2).contains(&q) {
                        return Err("-q needs 0, 1 or 2".into());
                    }
                    qos = Some(q);
                }
                "--help" => return Ok(None),
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        let (host, port, broker) = match host {
            Some(host) => (host, port.unwrap_or(1883), None),
            None => {
                let broker = Broker::start().map_err(|e| format!("cannot start a broker: {e}"))?;
                println!(
                    "no -h given: started the in-process test broker on 127.0.0.1:{}",
                    broker.port()
                );
                ("127.0.0.1".to_string(), broker.port(), Some(broker))
            }
        };
        Ok(Some(Args {
            host,
            port,
            count,
            topic,
            qos,
            broker,
        }))
    }

    /// True when the example runs against its own in-process broker.
    pub fn own_broker(&self) -> bool {
        self.broker.is_some()
    }
}

/// A client id unique to this process, so that runs against a shared
/// broker do not take over each other's sessions.
pub fn client_id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Once `ready` fires (or its sender is dropped), a second client publishes
/// `messages` (topic, payload, qos) and waits until the broker has them.
/// The thread prints what it sent.
pub fn publish_when_ready(
    host: &str,
    port: u16,
    ready: mpsc::Receiver<()>,
    messages: Vec<(String, String, i32)>,
) -> JoinHandle<Result<(), String>> {
    let host = host.to_string();
    std::thread::spawn(move || {
        let _ = ready.recv();
        let publisher = Client::with_options(
            CallbackAPIVersion::VERSION2,
            ClientOptions {
                client_id: client_id("paho-example-publisher"),
                ..ClientOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let (connected_tx, connected_rx) = mpsc::channel();
        let connected_tx = std::sync::Mutex::new(connected_tx);
        publisher.on_connect(move |_, _, _, _, _| {
            let _ = connected_tx.lock().expect("not poisoned").send(());
        });
        assert_eq!(
            publisher
                .connect(&host, port, 60)
                .map_err(|e| e.to_string())?,
            mqtt_tether::MQTT_ERR_SUCCESS
        );
        assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        connected_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the second client did not connect")?;
        for (topic, payload, qos) in messages {
            let info = publisher
                .publish(&topic, &payload, qos, false)
                .map_err(|e| e.to_string())?;
            info.wait_for_publish(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            if !info.is_published().map_err(|e| e.to_string())? {
                return Err(format!("{payload:?} was not published within 10 s"));
            }
            println!("(second client) published {payload:?} to {topic} at QoS {qos}");
        }
        let _ = publisher.disconnect();
        let _ = publisher.loop_stop();
        Ok(())
    })
}
