//! A deterministic producer over a persistence directory, for the crash
//! test (`tests/persist_crash.rs`) and as an example of resuming:
//!
//! ```text
//! persist_publisher HOST PORT CLIENT_ID DIR QOS1_COUNT QOS2_COUNT [sync|every-MS] [RATE]
//! ```
//!
//! Message `n` (counting from 0) is `q1/n` at QoS 1 or `q2/n` at QoS 2
//! ([`qos_of`]: the two alternate while both remain, so a kill at any
//! moment finds both kinds in flight), all on topic `persist/test`. With
//! RATE it publishes at most RATE messages a second (the crash test keeps
//! it from finishing before its last kill). On start
//! it opens DIR, where the messages a killed run left go out again first,
//! and resumes at the message `persisted_publishes()` names: every one
//! before it was stored, so is delivered or still in DIR. It keeps at most
//! 200 unacknowledged, and exits 0 once every message is acknowledged.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, Durability, ErrorCode};

/// Unacknowledged messages it keeps at most.
const AHEAD: u64 = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        eprintln!(
            "usage: persist_publisher HOST PORT CLIENT_ID DIR QOS1_COUNT QOS2_COUNT [sync|every-MS] [RATE]"
        );
        return ExitCode::from(2);
    }
    let (host, port, id, dir) = (&args[0], &args[1], &args[2], &args[3]);
    let port: u16 = port.parse().expect("a port");
    let qos1: u64 = args[4].parse().expect("a count");
    let qos2: u64 = args[5].parse().expect("a count");
    let durability = match args.get(6).map(String::as_str) {
        None | Some("sync") => Durability::Sync,
        Some(every) => Durability::Every(Duration::from_millis(
            every
                .strip_prefix("every-")
                .and_then(|ms| ms.parse().ok())
                .expect("sync or every-MS"),
        )),
    };
    let client = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.clone(),
            clean_session: Some(false),
            ..ClientOptions::default()
        },
    )
    .expect("a client");
    let found = match client.persistence_set(dir, durability) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("persist_publisher: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(damage) = &found.damage {
        eprintln!("persist_publisher: {damage}");
    }
    eprintln!(
        "persist_publisher: recovered {} outgoing, resuming at {}",
        found.outgoing, found.publishes
    );
    let acked = Arc::new(AtomicU64::new(0));
    {
        let acked = Arc::clone(&acked);
        client.on_publish(move |_, _, _, _, _| {
            acked.fetch_add(1, Ordering::SeqCst);
        });
    }
    client.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(500));
    if let Err(e) = client.connect(host, port, 60) {
        eprintln!("persist_publisher: connect: {e}");
        return ExitCode::from(1);
    }
    let _ = client.loop_start();
    // The recovered ones count as unacknowledged too.
    let mut published = found.outgoing as u64;
    let total = qos1 + qos2;
    let started = Instant::now();
    let rate: u64 = args.get(7).map_or(0, |r| r.parse().expect("a rate"));
    let deadline = started + Duration::from_secs(120);
    for n in found.publishes..total {
        if rate > 0 {
            let due = started + Duration::from_secs_f64((n - found.publishes) as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        while published - acked.load(Ordering::SeqCst) >= AHEAD {
            if Instant::now() > deadline {
                eprintln!("persist_publisher: no acknowledgements for message {n}");
                return ExitCode::from(1);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let qos = qos_of(n, qos1, qos2);
        let payload = format!("q{qos}/{n}");
        match client.publish("persist/test", payload, qos, false) {
            Ok(info) if matches!(info.rc(), ErrorCode::Success | ErrorCode::NoConn) => {}
            Ok(info) => {
                eprintln!("persist_publisher: message {n} not stored: {:?}", info.rc());
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("persist_publisher: message {n}: {e}");
                return ExitCode::from(1);
            }
        }
        published += 1;
    }
    while acked.load(Ordering::SeqCst) < published {
        if Instant::now() > deadline {
            eprintln!(
                "persist_publisher: {} of {published} acknowledged",
                acked.load(Ordering::SeqCst)
            );
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = client.disconnect();
    let _ = client.loop_stop();
    eprintln!("persist_publisher: all {published} acknowledged");
    ExitCode::SUCCESS
}

/// The QoS of message `n`: 1 and 2 alternate (1 first) while both kinds
/// remain, then the rest are of the kind with more.
pub fn qos_of(n: u64, qos1: u64, qos2: u64) -> i32 {
    let pairs = qos1.min(qos2);
    if n < 2 * pairs {
        if n % 2 == 0 {
            1
        } else {
            2
        }
    } else if qos1 > qos2 {
        1
    } else {
        2
    }
}
