//! A mosquitto_sub-like subscriber built on the public API only:
//!
//! ```text
//! cargo run --example sub -- [-h HOST] [-p PORT] -t FILTER [-t FILTER ...] [-q QOS] [-c]
//!     [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [-k|--keepalive SECONDS]
//!     [--reconnect-delay MIN MAX] [--server HOST:PORT ...] [--stats] [-C COUNT]
//!     [-W SECONDS] [-v] [-F FORMAT] [-N]
//!     [--retained-only] [--will-topic TOPIC [--will-payload PAYLOAD] [--will-qos QOS]
//!     [--will-retain]] [-D COMMAND IDENTIFIER VALUE...]
//! ```
//!
//! Prints each payload (with `-v`, `topic payload`; with `-F`, a format of
//! mosquitto_sub's: `%t` topic, `%p` payload, `%r` retain flag, `%q` QoS,
//! `%l` length, `%m` message id) on its own line (`-N`: no newline).
//! `-C` exits after COUNT messages; `-W` exits after SECONDS, with status 27
//! if COUNT was not reached; `--retained-only` prints the retained messages
//! and exits 0 at the first one that is not. `-k`/`--keepalive` (default 60)
//! goes into CONNECT. `--help` lists every option.
//!
//! A lost connection is made again automatically, first after MIN seconds
//! and then doubling up to MAX (`--reconnect-delay MIN MAX`, fractions
//! allowed, default Paho's 1 120); the filters are subscribed again at every
//! connection. Standard error tells when the connection is lost and when it
//! is back.
//!
//! As mosquitto_sub, it ends with one line on standard error and status 1
//! when the broker cannot be reached, refuses the connection or every
//! filter (an invalid one, like `a/#/b`, before connecting), and with a
//! DISCONNECT and status 0 on SIGINT (Ctrl-C) or SIGTERM, so the broker
//! does not publish its will.

#[path = "common/cli.rs"]
mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use mqtt_tether::{Message, QoS, SubscribeOptions};

/// A mosquitto_sub-like subscriber
#[derive(Parser)]
#[command(name = "sub", disable_help_flag = true)]
struct Args {
    /// Topic filter to subscribe to (repeatable)
    #[arg(short = 't', long = "topic", value_name = "FILTER", required = true)]
    filters: Vec<String>,
    /// QoS of the subscriptions
    #[arg(
        short = 'q',
        long = "qos",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=2),
    )]
    qos: u8,
    /// Exit after COUNT messages
    #[arg(short = 'C', value_name = "COUNT")]
    count: Option<usize>,
    /// Exit after SECONDS (status 27 if -C was not reached)
    #[arg(short = 'W', value_name = "SECONDS", value_parser = cli::seconds)]
    wait: Option<Duration>,
    /// Print the topic before each payload
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Print each message in FORMAT: %t topic, %p payload, %r retain flag
    /// (0 or 1), %q QoS, %l payload length, %m message id, %% a %; \n, \t,
    /// \0 and \\ as in C
    #[arg(short = 'F', value_name = "FORMAT")]
    format: Option<String>,
    /// No end of line after each message
    #[arg(short = 'N')]
    no_eol: bool,
    /// Print only retained messages; exit 0 at the first one that is not
    #[arg(long = "retained-only")]
    retained_only: bool,
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    conn: cli::Connection,
}

/// mosquitto_sub's status when `-W` expires first.
const TIMED_OUT: u8 = 27;

/// What the callbacks and the signal handler tell the main thread.
enum Inbox {
    /// A message, as printed.
    Line(Vec<u8>),
    /// A message without the retain flag, with `--retained-only`.
    Fresh,
    /// The broker refused the connection, for this reason.
    Refused(String),
    /// The filters could not be subscribed: why.
    Failed(String),
    /// SIGINT or SIGTERM.
    Stop,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(|args: &mut Args| &mut args.conn);
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // A runtime failure, not a usage mistake: one line, no usage.
            eprintln!("sub: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let Args {
        filters,
        qos,
        count,
        wait,
        verbose,
        format,
        no_eol,
        retained_only,
        conn,
        help: _,
    } = args;
    // As mosquitto_sub: a filter that can never be subscribed fails before
    // connecting, naming it.
    for filter in &filters {
        if mqtt_tether::topic::validate_topic_filter(filter).is_err() {
            return Err(format!("invalid subscription filter {filter:?}"));
        }
    }
    let properties = conn.v5_properties()?;
    if properties.publish.is_some() {
        return Err("-D publish: sub publishes nothing".into());
    }
    let qos = QoS::from_u8(qos).expect("clap checked 0..=2");
    let client = conn.client()?;
    let _stats = conn.stats_at_exit(&client, "sub");
    let (tx, inbox) = mpsc::channel::<Inbox>();
    let connect_tx = tx.clone();
    let suback_tx = tx.clone();
    let stop_tx = tx.clone();
    let reconnecting = AtomicBool::new(false);
    let subscribe_properties = properties.subscribe;
    client.on_connect(move |client, _, _, reason_code, _| {
        if reason_code.is_failure() {
            // As mosquitto_sub: a refusal ends the tool (with the loop
            // stopped, nothing else would).
            let _ = client.disconnect();
            let _ = connect_tx.send(Inbox::Refused(reason_code.to_string()));
            return;
        }
        if reconnecting.swap(true, Ordering::SeqCst) {
            eprintln!("sub: reconnected");
        }
        let topics = filters
            .iter()
            .map(|f| (f.as_str(), SubscribeOptions::new(qos)));
        if let Err(e) = client.subscribe_with(topics, subscribe_properties.clone()) {
            let _ = client.disconnect();
            let _ = connect_tx.send(Inbox::Failed(e.to_string()));
        }
    });
    client.on_subscribe(move |client, _, _, reason_codes, _| {
        // As mosquitto_sub: nothing granted, nothing will ever arrive.
        if reason_codes.iter().all(|c| c.is_failure()) {
            let _ = client.disconnect();
            let codes: Vec<String> = reason_codes.iter().map(|c| c.to_string()).collect();
            let _ = suback_tx.send(Inbox::Failed(format!(
                "the broker refused every filter ({})",
                codes.join(", ")
            )));
        }
    });
    client.on_message(move |_, _, message| {
        if retained_only && !message.retain {
            let _ = tx.send(Inbox::Fresh);
            return;
        }
        let mut line = match &format {
            Some(format) => formatted(format, message),
            None if verbose => [message.topic.as_bytes(), b" ", &message.payload].concat(),
            None => message.payload.clone(),
        };
        if !no_eol {
            line.push(b'\n');
        }
        let _ = tx.send(Inbox::Line(line));
    });
    cli::report_connection_loss(&client, "sub");
    cli::on_interrupt(move || {
        let _ = stop_tx.send(Inbox::Stop);
    })?;
    conn.connect(&client)?;
    assert_eq!(client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);

    let started = Instant::now();
    let mut received = 0;
    let mut stdout = std::io::stdout();
    let outcome = loop {
        if count.is_some_and(|c| received >= c) {
            break Ok(ExitCode::SUCCESS);
        }
        let left = match wait {
            Some(w) => match w.checked_sub(started.elapsed()) {
                Some(left) => left,
                None => break Ok(ExitCode::from(TIMED_OUT)),
            },
            None => Duration::from_secs(3600),
        };
        match inbox.recv_timeout(left) {
            Ok(Inbox::Refused(reason)) => break Err(format!("connection refused: {reason}")),
            Ok(Inbox::Failed(reason)) => break Err(format!("cannot subscribe: {reason}")),
            Ok(Inbox::Stop | Inbox::Fresh) => break Ok(ExitCode::SUCCESS),
            Ok(Inbox::Line(line)) => {
                // Flushed per message, so a pipe sees each line at once.
                if stdout
                    .write_all(&line)
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    break Ok(ExitCode::SUCCESS);
                }
                received += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if wait.is_some() => {
                break Ok(ExitCode::from(TIMED_OUT))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(ExitCode::from(1)),
        }
    };
    conn.disconnect(&client);
    outcome
}

/// A message printed by a `-F` format (mosquitto_sub's sequences that need
/// no clock or MQTT 5 property; any other is printed as it stands).
fn formatted(format: &str, message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next() {
                Some('t') => out.extend_from_slice(message.topic.as_bytes()),
                Some('p') => out.extend_from_slice(&message.payload),
                Some('r') => out.push(if message.retain { b'1' } else { b'0' }),
                Some('q') => out.push(b'0' + message.qos.as_u8()),
                Some('l') => out.extend_from_slice(message.payload.len().to_string().as_bytes()),
                Some('m') => out.extend_from_slice(message.mid.to_string().as_bytes()),
                Some('%') => out.push(b'%'),
                Some(other) => out.extend_from_slice(format!("%{other}").as_bytes()),
                None => out.push(b'%'),
            },
            '\\' => match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('r') => out.push(b'\r'),
                Some('0') => out.push(0),
                Some('\\') => out.push(b'\\'),
                Some(other) => out.extend_from_slice(format!("\\{other}").as_bytes()),
                None => out.push(b'\\'),
            },
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}
