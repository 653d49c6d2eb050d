//! A mosquitto_pub-like publisher built on the public API only:
//!
//! ```text
//! cargo run --example pub -- [-h HOST] [-p PORT] -t TOPIC (-m MSG | -l | -n) [-q QOS] [-r]
//!     [-c] [-i ID] [-V 31|311|5] [-u USER] [-P PASS] [-k|--keepalive SECONDS]
//!     [--reconnect-delay MIN MAX] [--server HOST:PORT ...] [--stats] [--count N]
//!     [--interval-ms MS] [--will-topic TOPIC [--will-payload PAYLOAD] [--will-qos QOS] [--will-retain]]
//!     [-D COMMAND IDENTIFIER VALUE...] [--persist DIR]
//! ```
//!
//! `-l` publishes each line of standard input, any number of them at any
//! QoS; `--count N` publishes MSG N times with `{n}` replaced by 0..N-1.
//! `-k`/`--keepalive` (default 60) goes into CONNECT. `-D` adds an MQTT 5 property as mosquitto_pub's does
//! (`-D publish user-property NAME VALUE`; it implies `-V 5`). `--help`
//! lists every option.
//!
//! Input faster than the broker acknowledges is not refused: a message that
//! finds the client's store full (all 65,535 message ids in use, where
//! Paho's `publish` and `mosquitto_pub -l` give up or drop) waits for room
//! with `publish_wait`, up to 30 s plus MAX, so reading slows to the
//! broker's pace.
//!
//! SIGINT (Ctrl-C) or SIGTERM ends it with a DISCONNECT (so the broker does
//! not publish its will) and status 0.
//!
//! The first connection must succeed. After that a lost connection is made
//! again automatically, first after MIN seconds and then doubling up to MAX
//! (`--reconnect-delay MIN MAX`, fractions allowed, default Paho's 1 120),
//! and publishing goes on meanwhile, so `-l` keeps reading its input across
//! reconnects:
//!
//! * QoS 1 and 2 messages published while disconnected are kept by the
//!   client and sent after the reconnect (as are those in flight when the
//!   connection went): none is lost.
//! * QoS 0 messages are never kept: one published while disconnected, or
//!   queued but not yet written when the connection went, is dropped. Each
//!   drop is reported on standard error (`pub: line 3 dropped: ...`, by
//!   line number for `-l`, by `{n}` otherwise) and publishing goes on.
//!
//! Standard error also tells when the connection is lost and when it is back.
//!
//! `--persist DIR` keeps the QoS 1/2 messages in DIR until the broker has
//! them (`Client::persistence_set`, fsync before each send): a run killed
//! at any moment leaves its undelivered messages there, and the next run
//! with the same DIR (and `-i ID -c`, so the broker keeps the session)
//! first delivers them, then its own input, and exits 0 only once all are
//! acknowledged.
//!
//! It exits 0 only if every message was delivered: written for QoS 0,
//! acknowledged for QoS 1 and 2. After the last message it waits for that
//! up to 30 s plus MAX. A dropped QoS 0 message makes the exit status 1, once
//! the rest is delivered.

#[path = "common/cli.rs"]
mod cli;

use std::collections::VecDeque;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use mqtt_tether::{ErrorCode, MessageInfo};

/// A mosquitto_pub-like publisher
#[derive(Parser)]
#[command(name = "pub", disable_help_flag = true)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["message", "lines", "empty"]))]
struct Args {
    /// Topic to publish to
    #[arg(short = 't', long = "topic")]
    topic: String,
    #[arg(
        short = 'm',
        long = "message",
        value_name = "MSG",
        help = "Publish MSG (with --count, n in braces, the placeholder, becomes the message number)"
    )]
    message: Option<String>,
    /// Publish each line of standard input
    #[arg(short = 'l', long = "stdin-line")]
    lines: bool,
    /// Publish an empty message
    #[arg(short = 'n', long = "null-message")]
    empty: bool,
    /// QoS; QoS 0 lines read while disconnected are dropped
    #[arg(
        short = 'q',
        long = "qos",
        default_value_t = 0,
        value_parser = clap::value_parser!(i32).range(0..=2),
    )]
    qos: i32,
    /// Retain
    #[arg(short = 'r', long = "retain")]
    retain: bool,
    /// Publish N times
    #[arg(long = "count", value_name = "N", default_value_t = 1)]
    count: usize,
    /// Wait MS milliseconds after each publish
    #[arg(long = "interval-ms", value_name = "MS", default_value_t = 0)]
    interval_ms: u64,
    /// Keep QoS 1/2 messages in DIR until acknowledged; deliver what an
    /// earlier run left there first (use with -i ID -c)
    #[arg(long = "persist", value_name = "DIR")]
    persist: Option<String>,
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    conn: cli::Connection,
}

/// How long to wait for the broker at each step.
const WAIT: Duration = Duration::from_secs(30);

enum Source {
    Message(String),
    Lines,
    Empty,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(|args: &mut Args| &mut args.conn);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pub: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let Args {
        topic,
        message,
        lines,
        empty: _,
        qos,
        retain,
        count,
        interval_ms,
        persist,
        conn,
        help: _,
    } = args;
    let source = match message {
        Some(msg) => Source::Message(msg),
        None if lines => Source::Lines,
        None => Source::Empty,
    };
    let interval = Duration::from_millis(interval_ms);
    let properties = conn.v5_properties()?;
    if properties.subscribe.is_some() {
        return Err("-D subscribe: pub subscribes to nothing".into());
    }
    let publish_properties = properties.publish;

    let client = conn.client()?;
    let _stats = conn.stats_at_exit(&client, "pub");
    if let Some(dir) = &persist {
        let found = client
            .persistence_set(dir, mqtt_tether::Durability::Sync)
            .map_err(|e| e.to_string())?;
        if let Some(damage) = &found.damage {
            eprintln!("pub: {damage}");
        }
        if found.outgoing > 0 {
            eprintln!("pub: {} messages left in {dir} go first", found.outgoing);
        }
    }
    let (connected_tx, connected) = mpsc::channel();
    let reconnecting = AtomicBool::new(false);
    client.on_connect(move |_, _, _, reason_code, _| {
        // The first answer is main's to judge; later refusals would
        // otherwise go unseen while the client keeps trying.
        if reconnecting.swap(true, Ordering::SeqCst) {
            if reason_code.is_failure() {
                eprintln!("pub: reconnect refused: {reason_code}");
            } else {
                eprintln!("pub: reconnected");
            }
        } else {
            let _ = connected_tx.send(*reason_code);
        }
    });
    cli::report_connection_loss(&client, "pub");
    {
        let (client, conn) = (client.clone(), conn.clone());
        cli::on_interrupt(move || {
            conn.disconnect(&client);
            // exit() runs no destructor: --stats' guard prints here.
            drop(conn.stats_at_exit(&client, "pub"));
            std::process::exit(0);
        })?;
    }
    conn.connect(&client)?;
    assert_eq!(client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let reason_code = connected
        .recv_timeout(WAIT)
        .map_err(|_| "no CONNACK from the broker".to_string())?;
    if reason_code.is_failure() {
        let _ = client.disconnect();
        let _ = client.loop_stop();
        return Err(format!("connection refused: {reason_code}"));
    }

    let what = match source {
        Source::Lines => "line",
        _ => "message",
    };
    let mut outbox = Outbox {
        what,
        qos0: qos == 0,
        pending: VecDeque::new(),
        dropped: 0,
    };
    let mut total = 0;
    let room_wait = conn.reconnect_delay().1;
    // `number` names the message in reports: its line number for -l, its
    // {n} otherwise.
    let mut publish = |number: usize, payload: &[u8]| -> Result<(), String> {
        total += 1;
        // A publish without a connection is no error here: QoS 1/2 messages
        // are kept and sent after the reconnect; QoS 0 ones are reported.
        // A full store slows the input down instead of failing it; the
        // wait allows for one reconnect at the longest delay.
        let info = client
            .publish_wait_with(
                &topic,
                payload,
                qos,
                retain,
                publish_properties.clone(),
                Some(WAIT + room_wait),
            )
            .map_err(|e| format!("{what} {number}: {e}"))?;
        outbox.pending.push_back((number, info));
        outbox.settle()?;
        if !interval.is_zero() {
            std::thread::sleep(interval);
        }
        Ok(())
    };
    match source {
        Source::Message(msg) => {
            for n in 0..count {
                publish(n, msg.replace("{n}", &n.to_string()).as_bytes())?;
            }
        }
        Source::Empty => {
            for n in 0..count {
                publish(n, b"")?;
            }
        }
        Source::Lines => {
            for (i, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line.map_err(|e| e.to_string())?;
                publish(i + 1, line.as_bytes())?;
            }
        }
    }
    // Success means delivered: written for QoS 0, acknowledged otherwise.
    // The wait allows for one reconnect at the longest delay.
    let deadline = Instant::now().checked_add(WAIT + conn.reconnect_delay().1);
    loop {
        outbox.settle()?;
        let Some((n, info)) = outbox.pending.front() else {
            break;
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(format!("{what} {n} was not delivered in time"));
        }
        // A failure shows in settle().
        let _ = info.wait_for_publish(left);
    }
    // What an earlier run left in the persistence directory has no
    // MessageInfo here: it is delivered once the store is empty.
    while persist.is_some() && {
        let stats = client.stats();
        stats.queued + stats.in_flight > 0
    } {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(
                "messages from the persistence directory were not delivered in time".into(),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    conn.disconnect(&client);
    if outbox.dropped > 0 {
        return Err(format!(
            "{} of {total} QoS 0 {what}s dropped while disconnected",
            outbox.dropped
        ));
    }
    Ok(())
}

/// The messages not yet delivered, oldest first, each with the number it
/// is reported by.
struct Outbox {
    what: &'static str,
    qos0: bool,
    pending: VecDeque<(usize, MessageInfo)>,
    /// QoS 0 messages dropped for want of a connection.
    dropped: usize,
}

impl Outbox {
    /// Forgets the delivered messages at the front and reports the dropped
    /// ones. A QoS 1/2 message that failed (it was not kept) is an error.
    fn settle(&mut self) -> Result<(), String> {
        while let Some((n, info)) = self.pending.front() {
            match info.is_published() {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let why = match info.rc() {
                        ErrorCode::NoConn if self.qos0 => {
                            "not connected (QoS 0 is not kept while disconnected)"
                        }
                        ErrorCode::ConnLost if self.qos0 => {
                            "the connection was lost before it was written"
                        }
                        _ => return Err(format!("{} {n}: {e}", self.what)),
                    };
                    eprintln!("pub: {} {n} dropped: {why}", self.what);
                    self.dropped += 1;
                }
            }
            self.pending.pop_front();
        }
        Ok(())
    }
}
