//! A mosquitto_sub-like subscriber built on the public API only:
//!
//! ```text
//! cargo run --example sub -- [-h HOST] [-p PORT] -t FILTER [-t FILTER ...] [-q QOS] [-c]
//!     [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [-k|--keepalive SECONDS]
//!     [--reconnect-delay MIN MAX] [--server HOST:PORT ...] [--stats] [-C COUNT] [-W SECONDS] [-v]
//! ```
//!
//! Prints each payload (with `-v`, `topic payload`) on its own line.
//! `-C` exits after COUNT messages; `-W` exits after SECONDS, with status 27
//! if COUNT was not reached. `-k`/`--keepalive` (default 60) goes into
//! CONNECT.
//!
//! A lost connection is made again automatically, first after MIN seconds
//! and then doubling up to MAX (`--reconnect-delay MIN MAX`, fractions
//! allowed, default Paho's 1 120); the filters are subscribed again at every
//! connection. Standard error tells when the connection is lost and when it
//! is back. A refused connection ends sub with status 1 and the broker's
//! reason on standard error.

#[path = "common/cli.rs"]
mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: sub [-h HOST] [-p PORT] -t FILTER [-t FILTER ...] [-q QOS] [-c] [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [-k|--keepalive SECONDS] [--reconnect-delay MIN MAX] [--server HOST:PORT ...] [--stats] [-C COUNT] [-W SECONDS] [-v]";

const HELP: &str = "\
options:
  -t FILTER                  topic filter to subscribe to (repeatable)
  -q 0|1|2                   QoS of the subscriptions (default 0)
  -C COUNT                   exit after COUNT messages
  -W SECONDS                 exit after SECONDS (status 27 if -C was not reached)
  -v                         print the topic before each payload";

/// mosquitto_sub's status when `-W` expires first.
const TIMED_OUT: u8 = 27;

/// What the callbacks tell the main thread.
enum Inbox {
    /// A message, as printed.
    Line(Vec<u8>),
    /// The broker refused the connection, for this reason.
    Refused(String),
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sub: {e}\n{USAGE}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut conn = cli::Connection::default();
    let mut filters = Vec::new();
    let mut qos = 0;
    let mut count: Option<usize> = None;
    let mut wait: Option<Duration> = None;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if conn.take(&flag, &mut args)? {
            continue;
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-t" => filters.push(value()?),
            "-q" => qos = value()?.parse().map_err(|_| "-q needs 0, 1 or 2")?,
            "-C" => count = Some(value()?.parse().map_err(|_| "-C needs a number")?),
            "-W" => {
                let secs: f64 = value()?.parse().map_err(|_| "-W needs seconds")?;
                wait = Some(Duration::from_secs_f64(secs.max(0.0)));
            }
            "-v" => verbose = true,
            "--help" => {
                println!("{USAGE}\n{HELP}\n{}", cli::HELP);
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if filters.is_empty() {
        return Err("at least one -t FILTER is needed".into());
    }
    let client = conn.client()?;
    let _stats = conn.stats_at_exit(&client, "sub");
    let (tx, inbox) = mpsc::channel::<Inbox>();
    let refused_tx = tx.clone();
    let subscriptions: Vec<(String, i32)> = filters.iter().map(|f| (f.clone(), qos)).collect();
    let reconnecting = AtomicBool::new(false);
    client.on_connect(move |client, _, _, reason_code, _| {
        if reason_code.is_failure() {
            // As mosquitto_sub: a refusal ends the tool (with the loop
            // stopped, nothing else would).
            let _ = client.disconnect();
            let _ = refused_tx.send(Inbox::Refused(reason_code.to_string()));
            return;
        }
        if reconnecting.swap(true, Ordering::SeqCst) {
            eprintln!("sub: reconnected");
        }
        let topics: Vec<(&str, i32)> = subscriptions
            .iter()
            .map(|(f, q)| (f.as_str(), *q))
            .collect();
        if let Err(e) = client.subscribe_many(&topics) {
            eprintln!("sub: {e}");
            let _ = client.disconnect();
        }
    });
    client.on_message(move |_, _, message| {
        let mut line = Vec::new();
        if verbose {
            line.extend_from_slice(message.topic.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&message.payload);
        line.push(b'\n');
        let _ = tx.send(Inbox::Line(line));
    });
    cli::report_connection_loss(&client, "sub");
    conn.connect(&client)?;
    assert_eq!(client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);

    let started = Instant::now();
    let mut received = 0;
    let mut stdout = std::io::stdout();
    let outcome = loop {
        if count.is_some_and(|c| received >= c) {
            break ExitCode::SUCCESS;
        }
        let left = match wait {
            Some(w) => match w.checked_sub(started.elapsed()) {
                Some(left) => left,
                None => break ExitCode::from(TIMED_OUT),
            },
            None => Duration::from_secs(3600),
        };
        match inbox.recv_timeout(left) {
            Ok(Inbox::Refused(reason)) => {
                eprintln!("sub: connection refused: {reason}");
                break ExitCode::from(1);
            }
            Ok(Inbox::Line(line)) => {
                // Flushed per message, so a pipe sees each line at once.
                if stdout
                    .write_all(&line)
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    break ExitCode::SUCCESS;
                }
                received += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if wait.is_some() => {
                break ExitCode::from(TIMED_OUT)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break ExitCode::from(1),
        }
    };
    let _ = client.disconnect();
    let _ = client.loop_stop();
    Ok(outcome)
}
