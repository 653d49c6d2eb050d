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

/// The options every `paho_*` example accepts (each one's usage names
/// those it uses; `--help` lists only those).
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct Raw {
    /// Broker host (none: the in-process test broker)
    #[arg(short = 'h', value_name = "HOST")]
    host: Option<String>,
    /// Broker port (default 1883 with -h)
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// Messages to handle
    #[arg(long = "count", value_name = "N")]
    count: Option<usize>,
    /// Topic or filter
    #[arg(short = 't', value_name = "TOPIC")]
    topic: Option<String>,
    /// QoS
    #[arg(short = 'q', value_name = "QOS", value_parser = clap::value_parser!(i32).range(0..=2))]
    qos: Option<i32>,
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
}

impl Args {
    /// Reads the command line; without `-h` it starts the in-process broker.
    /// `usage` heads `--help` and follows a mistake (then exits 2).
    pub fn parse(usage: &'static str) -> Args {
        use clap::{CommandFactory, FromArgMatches};
        let line = usage.strip_prefix("usage: ").unwrap_or(usage);
        let name = line.split_whitespace().next().unwrap_or("example");
        let mut command = Raw::command()
            .name(name)
            .override_usage(line.to_string())
            .help_template("usage: {usage}\n\n{all-args}");
        // An option this example does not use is still accepted, but not
        // offered.
        for (id, flag) in [
            ("host", "-h "),
            ("port", "-p "),
            ("count", "--count "),
            ("topic", "-t "),
            ("qos", "-q "),
        ] {
            let used = usage.contains(flag);
            command = command.mut_arg(id, |arg| arg.hide(!used));
        }
        let raw = command
            .try_get_matches()
            .and_then(|m| Raw::from_arg_matches(&m))
            .unwrap_or_else(|e| e.exit());
        match Args::start(raw) {
            Ok(args) => args,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }

    fn start(raw: Raw) -> Result<Args, String> {
        let Raw {
            host,
            port,
            count,
            topic,
            qos,
            help: _,
        } = raw;
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
        Ok(Args {
            host,
            port,
            count,
            topic,
            qos,
            broker,
        })
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
