//! A mosquitto_pub-like publisher built on the public API only:
//!
//! ```text
//! cargo run --example pub -- [-h HOST] [-p PORT] -t TOPIC (-m MSG | -l | -n) [-q QOS] [-r]
//!     [-c] [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [--count N] [--interval-ms MS]
//! ```
//!
//! `-l` publishes each line of standard input; `--count N` publishes MSG N
//! times with `{n}` replaced by 0..N-1. It exits 0 only after every QoS 1/2
//! message has been acknowledged.

#[path = "common/cli.rs"]
mod cli;

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

const USAGE: &str = "usage: pub [-h HOST] [-p PORT] -t TOPIC (-m MSG | -l | -n) [-q QOS] [-r] [-c] [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [--count N] [--interval-ms MS]";

/// How long to wait for the broker at each step.
const WAIT: Duration = Duration::from_secs(30);

enum Source {
    Message(String),
    Lines,
    Empty,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pub: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut conn = cli::Connection::default();
    let mut topic = None;
    let mut source = None;
    let mut qos = 0;
    let mut retain = false;
    let mut count = 1usize;
    let mut interval = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if conn.take(&flag, &mut args)? {
            continue;
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-t" => topic = Some(value()?),
            "-m" => source = Some(Source::Message(value()?)),
            "-l" => source = Some(Source::Lines),
            "-n" => source = Some(Source::Empty),
            "-q" => qos = value()?.parse().map_err(|_| "-q needs 0, 1 or 2")?,
            "-r" => retain = true,
            "--count" => count = value()?.parse().map_err(|_| "--count needs a number")?,
            "--interval-ms" => {
                interval = Duration::from_millis(
                    value()?
                        .parse()
                        .map_err(|_| "--interval-ms needs a number")?,
                )
            }
            "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let topic = topic.ok_or_else(|| format!("-t TOPIC is needed\n{USAGE}"))?;
    let source = source.ok_or_else(|| format!("one of -m, -l or -n is needed\n{USAGE}"))?;

    let client = conn.client()?;
    let (connected_tx, connected) = mpsc::channel();
    client.on_connect(move |_, _, _, reason_code, _| {
        let _ = connected_tx.send(*reason_code);
    });
    conn.connect(&client)?;
    client.loop_start();
    let reason_code = connected
        .recv_timeout(WAIT)
        .map_err(|_| "no CONNACK from the broker".to_string())?;
    if reason_code.is_failure() {
        client.disconnect();
        client.loop_stop();
        return Err(format!("connection refused: {reason_code}"));
    }

    let mut infos = Vec::new();
    let mut publish = |payload: &[u8]| -> Result<(), String> {
        let info = client
            .publish(&topic, payload, qos, retain)
            .map_err(|e| e.to_string())?;
        infos.push(info);
        if !interval.is_zero() {
            std::thread::sleep(interval);
        }
        Ok(())
    };
    match source {
        Source::Message(msg) => {
            for n in 0..count {
                publish(msg.replace("{n}", &n.to_string()).as_bytes())?;
            }
        }
        Source::Empty => {
            for _ in 0..count {
                publish(b"")?;
            }
        }
        Source::Lines => {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| e.to_string())?;
                publish(line.as_bytes())?;
            }
        }
    }
    // Success means delivered: written for QoS 0, acknowledged otherwise.
    for info in &infos {
        info.wait_for_publish(Some(WAIT))
            .map_err(|e| e.to_string())?;
        if !info.is_published().map_err(|e| e.to_string())? {
            return Err(format!(
                "message {} was not acknowledged in time",
                info.mid()
            ));
        }
    }
    client.disconnect();
    client.loop_stop();
    Ok(())
}
