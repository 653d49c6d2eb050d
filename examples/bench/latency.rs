//! Round-trip latency at a fixed rate: one client, subscribed at QoS 1 to
//! its own topic, publishes QoS 1 messages at R msg/s carrying the time of
//! the `publish` call. Measured per message:
//!
//! * round trip: from just before `publish` to the message's arrival back
//!   in `on_message` (client → broker → same client);
//! * publish → PUBACK: from just before `publish` to `on_publish` for its id;
//! * publish → `wait_for_publish`: in further runs with no callbacks and
//!   no subscription, from just before `publish` to the return of
//!   `wait_for_publish`, called in the publishing thread (how a Paho
//!   program usually waits for its acknowledgement), and called in a second
//!   thread that is handed each message (the publisher keeps its pace).
//!
//! The two callback paths are also compared with `wait_for_publish` under
//! the same broker work, since a subscribed client's PUBACK comes after the
//! broker delivered its own copy (Mosquitto sends the copy first):
//!
//! * in the subscribed run, a second thread calls `wait_for_publish` on
//!   every message too ("to wait_for_publish, subscribed");
//! * a run with no subscription and only `on_publish` set gives "to
//!   on_publish, not subscribed", the match of the `wait_for_publish` runs.
//!
//! Pacing is by deadline (message i is due at start + i/R; a late sender
//! catches up without drifting), never by sleeping a fixed period.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mqtt_tether::{ErrorCode, ProtocolVersion};

use crate::args::protocol_name;
use crate::measure::quantile;
use crate::report::{self, Json};

/// The clock every timestamp counts from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

pub struct Spec {
    pub protocol: ProtocolVersion,
    pub payload: usize,
    pub rate: u32,
    pub count: usize,
}

struct Figures {
    samples: usize,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

fn figures(mut samples: Vec<u64>) -> Figures {
    samples.sort_unstable();
    Figures {
        samples: samples.len(),
        p50: quantile(&samples, 0.5) / 1000,
        p99: quantile(&samples, 0.99) / 1000,
        p999: quantile(&samples, 0.999) / 1000,
        max: samples.last().copied().unwrap_or(0) / 1000,
    }
}

/// Calls `send(i)` for message `i` at start + i/rate (a late send catches
/// up without drifting); returns the seconds the sending took.
fn paced(
    count: usize,
    rate: u32,
    mut send: impl FnMut() -> Result<bool, String>,
) -> Result<f64, String> {
    let period = Duration::from_secs(1) / rate;
    let start = Instant::now();
    for i in 0..count as u32 {
        let due = start + period * i;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if !send()? {
            break;
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Prints one measure's line and JSON line.
fn emit(
    spec: &Spec,
    count: usize,
    achieved: f64,
    kind: &str,
    measure: &str,
    f: &Figures,
    note: &str,
) {
    report::emit(
        "latency",
        &format!(
            "v{} QoS 1 {} at {} msg/s x{count} {kind}",
            protocol_name(spec.protocol),
            report::size(spec.payload),
            spec.rate
        ),
        &format!(
            "p50 {:>6} us  p99 {:>6} us  p99.9 {:>6} us  max {:>6} us  (sent at {achieved:.0} msg/s){note}",
            f.p50, f.p99, f.p999, f.max
        ),
        Json::new("latency")
            .str("measure", measure)
            .str("protocol", protocol_name(spec.protocol))
            .int("payload", spec.payload as u64)
            .int("rate", u64::from(spec.rate))
            .num("achieved_rate", achieved, 0)
            .int("count", count as u64)
            .int("samples", f.samples as u64)
            .int("p50_us", f.p50)
            .int("p99_us", f.p99)
            .int("p999_us", f.p999)
            .int("max_us", f.max),
    );
}

/// A run's message count, topic and client (not yet connected). One run
/// stays within one pass of the 16-bit message ids, so an id names one
/// message (ack times are kept in a table by id).
fn setup(spec: &Spec, name: &str) -> Result<(usize, String, mqtt_tether::Client), String> {
    let count = spec.count.min(60_000);
    let topic = format!("bench/{name}/{}/{}", spec.rate, spec.payload);
    let client = crate::target::new_client(&format!("bench-{name}"), spec.protocol)?;
    client
        .max_inflight_messages_set(1000)
        .map_err(|e| e.to_string())?;
    Ok((count, topic, client))
}

pub fn run(host: &str, port: u16, spec: &Spec) -> Result<(), String> {
    let (count, topic, client) = setup(spec, "latency")?;
    let round_trips = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let received = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let round_trips = Arc::clone(&round_trips);
        let received = Arc::clone(&received);
        client.on_message(move |_, _, msg| {
            let now = now_ns();
            if let Some(stamp) = msg.payload.get(..8) {
                let sent = u64::from_le_bytes(stamp.try_into().unwrap_or_default());
                if let Ok(mut v) = round_trips.lock() {
                    v.push(now.saturating_sub(sent));
                }
            }
            if received.fetch_add(1, Ordering::Relaxed) + 1 == count {
                let _ = done_tx.send(());
            }
        });
    }
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..=u16::MAX).map(|_| AtomicU64::new(0)).collect());
    {
        let acked = Arc::clone(&acked);
        client.on_publish(move |_, _, mid, _, _| {
            acked[usize::from(mid)].store(now_ns(), Ordering::Relaxed);
        });
    }
    let (sub_tx, sub_rx) = mpsc::channel();
    client.on_subscribe(move |_, _, _, _, _| {
        let _ = sub_tx.send(());
    });
    crate::target::connect(&client, host, port)?;
    let _ = client.subscribe(&topic, 1).map_err(|e| e.to_string())?;
    sub_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no SUBACK within 10 s")?;

    let mut payload = vec![b'x'; spec.payload.max(8)];
    let mut sent = Vec::with_capacity(count);
    let (wait_tx, waiting) = wait_in_other_thread();
    let sending = paced(count, spec.rate, || {
        let stamp = now_ns();
        payload[..8].copy_from_slice(&stamp.to_le_bytes());
        let info = client
            .publish(&topic, &payload, 1, false)
            .map_err(|e| e.to_string())?;
        if info.rc() != ErrorCode::Success {
            return Err(format!("publish failed: {:?}", info.rc()));
        }
        sent.push((info.mid(), stamp));
        Ok(wait_tx.send((info, stamp)).is_ok())
    })?;
    drop(wait_tx);
    let complete = done_rx.recv_timeout(Duration::from_secs(30)).is_ok();
    let waited = waiting.join().map_err(|_| "the waiting thread panicked")?;
    crate::target::close(&client);
    let round_trip = figures(std::mem::take(
        &mut *round_trips.lock().map_err(|e| e.to_string())?,
    ));
    let to_puback = figures(
        sent.iter()
            .filter_map(|&(mid, stamp)| {
                let at = acked[usize::from(mid)].load(Ordering::Relaxed);
                (at != 0).then(|| at.saturating_sub(stamp))
            })
            .collect(),
    );
    let achieved = count as f64 / sending;
    let missing = if complete {
        String::new()
    } else {
        format!("  RECEIVED ONLY {}", round_trip.samples)
    };
    for (kind, measure, f) in [
        ("round trip", "publish_to_own_message_back", &round_trip),
        ("to PUBACK", "publish_to_puback", &to_puback),
        (
            "to wait_for_publish, subscribed",
            "publish_to_wait_for_publish_subscribed",
            &figures(waited),
        ),
    ] {
        emit(spec, count, achieved, kind, measure, f, &missing);
    }
    Ok(())
}

/// A thread that calls `wait_for_publish` on every message it is handed
/// and returns the times from publish to its return.
#[allow(clippy::type_complexity)]
fn wait_in_other_thread() -> (
    mpsc::Sender<(mqtt_tether::MessageInfo, u64)>,
    std::thread::JoinHandle<Vec<u64>>,
) {
    let (tx, rx) = mpsc::channel::<(mqtt_tether::MessageInfo, u64)>();
    let waiting = std::thread::spawn(move || {
        rx.into_iter()
            .filter_map(|(info, stamp)| {
                info.wait_for_publish(Some(Duration::from_secs(30)))
                    .is_ok()
                    .then(|| now_ns().saturating_sub(stamp))
            })
            .collect::<Vec<_>>()
    });
    (tx, waiting)
}

/// Publish → `on_publish`, with no subscription and no other callback: the
/// broker's work is that of the `wait_for_publish` runs.
pub fn run_on_publish_alone(host: &str, port: u16, spec: &Spec) -> Result<(), String> {
    let (count, topic, client) = setup(spec, "latency-on-publish")?;
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..=u16::MAX).map(|_| AtomicU64::new(0)).collect());
    let left = Arc::new(AtomicUsize::new(count));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let acked = Arc::clone(&acked);
        let left = Arc::clone(&left);
        client.on_publish(move |_, _, mid, _, _| {
            acked[usize::from(mid)].store(now_ns(), Ordering::Relaxed);
            if left.fetch_sub(1, Ordering::Relaxed) == 1 {
                let _ = done_tx.send(());
            }
        });
    }
    crate::target::connect(&client, host, port)?;
    let payload = vec![b'x'; spec.payload.max(8)];
    let mut sent = Vec::with_capacity(count);
    let sending = paced(count, spec.rate, || {
        let stamp = now_ns();
        let info = client
            .publish(&topic, &payload, 1, false)
            .map_err(|e| e.to_string())?;
        sent.push((info.mid(), stamp));
        Ok(true)
    })?;
    let _ = done_rx.recv_timeout(Duration::from_secs(30));
    crate::target::close(&client);
    let samples = sent
        .iter()
        .filter_map(|&(mid, stamp)| {
            let at = acked[usize::from(mid)].load(Ordering::Relaxed);
            (at != 0).then(|| at.saturating_sub(stamp))
        })
        .collect();
    let achieved = count as f64 / sending;
    emit(
        spec,
        count,
        achieved,
        "to on_publish, not subscribed",
        "publish_to_on_publish_not_subscribed",
        &figures(samples),
        "",
    );
    Ok(())
}

/// Where `wait_for_publish` is called in [`run_wait`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Waiter {
    /// Right after `publish`, in the publishing thread: how a Paho program
    /// usually waits (`info = publish(...); info.wait_for_publish()`).
    SameThread,
    /// In a second thread that is handed each `MessageInfo`, so the
    /// publisher keeps its pace whatever the wait.
    OtherThread,
}

/// Publish → `wait_for_publish` returns, with no callbacks set.
pub fn run_wait(host: &str, port: u16, spec: &Spec, waiter: Waiter) -> Result<(), String> {
    let (count, topic, client) = setup(spec, "latency-wait")?;
    crate::target::connect(&client, host, port)?;
    let payload = vec![b'x'; spec.payload.max(8)];
    let publish = || {
        client
            .publish(&topic, &payload, 1, false)
            .map_err(|e| e.to_string())
    };
    let wait = |info: &mqtt_tether::MessageInfo, stamp: u64| {
        info.wait_for_publish(Some(Duration::from_secs(30)))
            .is_ok()
            .then(|| now_ns().saturating_sub(stamp))
    };
    let (sending, samples) = match waiter {
        Waiter::SameThread => {
            let mut samples = Vec::with_capacity(count);
            let sending = paced(count, spec.rate, || {
                let stamp = now_ns();
                let info = publish()?;
                samples.extend(wait(&info, stamp));
                Ok(true)
            })?;
            (sending, samples)
        }
        Waiter::OtherThread => {
            let (tx, waiting) = wait_in_other_thread();
            let sending = paced(count, spec.rate, || {
                let stamp = now_ns();
                let info = publish()?;
                Ok(tx.send((info, stamp)).is_ok())
            })?;
            drop(tx);
            let samples = waiting.join().map_err(|_| "the waiting thread panicked")?;
            (sending, samples)
        }
    };
    crate::target::close(&client);
    let achieved = count as f64 / sending;
    let (kind, measure) = match waiter {
        Waiter::SameThread => ("to wait_for_publish", "publish_to_wait_for_publish"),
        Waiter::OtherThread => (
            "to wait_for_publish, other thread",
            "publish_to_wait_for_publish_other_thread",
        ),
    };
    emit(spec, count, achieved, kind, measure, &figures(samples), "");
    Ok(())
}

/// The latency scenario: every rate, payload and protocol. Against the
/// bench's own Mosquitto it starts one with TCP_NODELAY (see
/// `target::latency_config`); an outside broker is measured as it is.
pub fn scenario(args: &crate::args::Args, target: &crate::target::Target) {
    let own = match &target.own {
        Some(_) => match mqtt_tether::testing::Mosquitto::start(crate::target::latency_config()) {
            Ok(m) => Some(m),
            Err(e) => {
                report::note("latency", &format!("skipped (cannot start mosquitto: {e})"));
                return;
            }
        },
        None => None,
    };
    let (host, port) = match &own {
        Some(m) => ("127.0.0.1".to_string(), m.port()),
        None => (target.host.clone(), target.port),
    };
    report::note(
        "latency",
        "round trip = publish() called -> same message back in on_message through the broker; to PUBACK = publish() called -> on_publish",
    );
    for &protocol in &args.protocols {
        for &payload in &args.payloads {
            for &rate in &args.rates {
                let spec = Spec {
                    protocol,
                    payload,
                    rate,
                    count: (f64::from(rate) * args.latency_secs()).ceil() as usize,
                };
                if let Err(e) = run(&host, port, &spec) {
                    report::note("latency", &format!("skipped ({e})"));
                }
                if let Err(e) = run_on_publish_alone(&host, port, &spec) {
                    report::note("latency", &format!("skipped ({e})"));
                }
                for waiter in [Waiter::SameThread, Waiter::OtherThread] {
                    if let Err(e) = run_wait(&host, port, &spec, waiter) {
                        report::note("latency", &format!("skipped ({e})"));
                    }
                }
            }
        }
    }
}
