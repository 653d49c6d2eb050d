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

use clap::Parser;
use mqtt_tether::testing::{Broker, BrokerConfig, BrokerEvent};

/// The test kit's in-process broker, on 127.0.0.1 (a test tool, not a
/// production broker)
#[derive(Parser)]
#[command(name = "broker")]
struct Args {
    /// Port to listen on (default: a free one)
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Print every connection and packet
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Accept only this user name (with -P)
    #[arg(short = 'u', long = "username", requires = "password")]
    username: Option<String>,
    /// Its password
    #[arg(short = 'P', long = "password", requires = "username")]
    password: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = BrokerConfig::default();
    if let Some(port) = args.port {
        config.port = port;
    }
    if let (Some(u), Some(p)) = (&args.username, &args.password) {
        config = config.with_credentials(u, p);
    }
    let verbose = args.verbose;
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
