//! The test kit's in-process broker as a standalone process, so any MQTT
//! client (mosquitto_pub, Paho, ...) can be pointed at it:
//!
//! ```text
//! cargo run --features testing --example broker -- -p 1883 -v
//! ```
//!
//! It listens on 127.0.0.1 only and runs until killed. `-v` prints every
//! connection and packet. It is a test tool, not a production broker.

use std::io::Write;
use std::process::ExitCode;

use mqtt_tether::testing::{Broker, BrokerConfig, BrokerEvent};

const USAGE: &str = "usage: broker [-p PORT] [-v] [-u USERNAME -P PASSWORD]";

fn main() -> ExitCode {
    let mut config = BrokerConfig::default();
    let mut verbose = false;
    let mut username = None;
    let mut password = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-p" | "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(port) => config.port = port,
                None => return usage("-p needs a port number"),
            },
            "-v" | "--verbose" => verbose = true,
            "-u" | "--username" => username = args.next(),
            "-P" | "--password" => password = args.next(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match (username, password) {
        (Some(u), Some(p)) => config = config.with_credentials(&u, &p),
        (None, None) => {}
        _ => return usage("-u and -P go together"),
    }
    let broker = match Broker::start_with(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("broker: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let events = broker.watch_events();
    let mut out = std::io::stdout();
    if writeln!(
        out,
        "mqtt-tether test broker listening on {}",
        broker.endpoint()
    )
    .is_err()
    {
        return ExitCode::FAILURE;
    }
    for event in events {
        // A closed stdout (`broker -v | head`) ends the program quietly
        // instead of panicking in println!.
        if verbose && writeln!(out, "{}", describe(&event)).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("broker: {problem}\n{USAGE}");
    ExitCode::from(2)
}

fn describe(event: &BrokerEvent) -> String {
    match event {
        BrokerEvent::Accepted { connection, peer } => {
            format!("[{connection}] accepted from {peer}")
        }
        BrokerEvent::PacketIn {
            connection,
            client_id,
            packet,
        } => format!("[{connection}] {client_id:?} -> {packet:?}"),
        BrokerEvent::PacketOut {
            connection,
            client_id,
            packet,
        } => format!("[{connection}] {client_id:?} <- {packet:?}"),
        BrokerEvent::Closed {
            connection,
            client_id,
            reason,
        } => format!("[{connection}] {client_id:?} closed: {reason:?}"),
        BrokerEvent::WillPublished { client_id, topic } => {
            format!("will of {client_id:?} published to {topic:?}")
        }
        other => format!("{other:?}"),
    }
}
