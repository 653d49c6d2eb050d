//! Reconnect recovery: a connected client (loop_start, clean session,
//! automatic reconnection) loses its broker (`Mosquitto::stop`), publishes 10
//! QoS 1 messages while it is down (they wait in the client's store), and the
//! broker is started again on the same port 300 ms after it stopped. Measured from the moment the
//! port accepts a connection again (a probe connects every 0.5 ms while the
//! broker restarts) to `on_connect`, and to the PUBACK of the first queued
//! message (`on_publish`); 0 when the client got in before the probe noticed
//! (it polls every 0.5 ms). The client's reconnect backoff dominates these
//! figures, so it is set small and printed with them.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqtt_tether::testing::Mosquitto;
use mqtt_tether::ProtocolVersion;

use crate::args::protocol_name;
use crate::measure::quantile;
use crate::report::{self, Json};

const QUEUED: usize = 10;
/// How long the broker stays down each round.
const DOWN: Duration = Duration::from_millis(300);

/// Connects to `addr` again and again until it accepts; returns when.
fn first_accept(addr: SocketAddr) -> Instant {
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn micros(later: Instant, earlier: Instant) -> u64 {
    // The client may beat the probe by less than one probe interval.
    later.saturating_duration_since(earlier).as_micros() as u64
}

pub fn run(
    protocol: ProtocolVersion,
    payload: usize,
    rounds: usize,
    delay: (u64, u64),
) -> Result<(), String> {
    let mut broker = Mosquitto::start(crate::target::mosquitto_config())
        .map_err(|e| format!("cannot start mosquitto: {e}"))?;
    let client = crate::target::new_client("bench-reconnect", protocol)?;
    client.reconnect_delay_set(
        Duration::from_millis(delay.0),
        Duration::from_millis(delay.1),
    );
    crate::target::connect(&client, "127.0.0.1", broker.port())?;
    let (conn_tx, conn_rx) = mpsc::channel();
    client.on_connect(move |_, _, _, _, _| {
        let _ = conn_tx.send(Instant::now());
    });
    let (disc_tx, disc_rx) = mpsc::channel();
    client.on_disconnect(move |_, _, _, _, _| {
        let _ = disc_tx.send(());
    });
    let (ack_tx, ack_rx) = mpsc::channel();
    client.on_publish(move |_, _, mid, _, _| {
        let _ = ack_tx.send((mid, Instant::now()));
    });
    let payload = vec![b'x'; payload.max(1)];
    let (mut to_connect, mut to_ack) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        broker.stop().map_err(|e| e.to_string())?;
        let down_since = Instant::now();
        disc_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the client did not notice the broker stopping")?;
        let mut first = None;
        for _ in 0..QUEUED {
            let info = client
                .publish("bench/reconnect", &payload, 1, false)
                .map_err(|e| e.to_string())?;
            first.get_or_insert(info.mid());
        }
        while ack_rx.try_recv().is_ok() {}
        let addr = broker.addr();
        let probe = std::thread::spawn(move || first_accept(addr));
        // A real outage: long enough for the client's backoff to reach its
        // maximum, so the figures show where in its wait the client was.
        std::thread::sleep(DOWN.saturating_sub(down_since.elapsed()));
        broker.restart().map_err(|e| e.to_string())?;
        let accepted = probe.join().map_err(|_| "probe panicked")?;
        let connected = conn_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "no on_connect within 10 s of the restart")?;
        let acked = loop {
            let (mid, at) = ack_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "the first queued message was not acknowledged in 10 s")?;
            if Some(mid) == first {
                break at;
            }
        };
        to_connect.push(micros(connected, accepted));
        to_ack.push(micros(acked, accepted));
    }
    crate::target::close(&client);
    to_connect.sort_unstable();
    to_ack.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    report::emit(
        "reconnect",
        &format!(
            "v{} QoS 1 {} x{QUEUED} queued, {rounds} x {} ms down, backoff {}-{} ms",
            protocol_name(protocol),
            report::size(payload.len()),
            DOWN.as_millis(),
            delay.0,
            delay.1
        ),
        &format!(
            "accept->on_connect median {:.1} ms max {:.1} ms  accept->first PUBACK median {:.1} ms max {:.1} ms",
            ms(quantile(&to_connect, 0.5)),
            ms(to_connect.last().copied().unwrap_or(0)),
            ms(quantile(&to_ack, 0.5)),
            ms(to_ack.last().copied().unwrap_or(0)),
        ),
        Json::new("reconnect")
            .str("protocol", protocol_name(protocol))
            .int("payload", payload.len() as u64)
            .int("queued", QUEUED as u64)
            .int("rounds", rounds as u64)
            .int("down_ms", DOWN.as_millis() as u64)
            .int("backoff_min_ms", delay.0)
            .int("backoff_max_ms", delay.1)
            .num("to_connect_median_ms", ms(quantile(&to_connect, 0.5)), 3)
            .num("to_connect_max_ms", ms(to_connect.last().copied().unwrap_or(0)), 3)
            .num("to_first_ack_median_ms", ms(quantile(&to_ack, 0.5)), 3)
            .num("to_first_ack_max_ms", ms(to_ack.last().copied().unwrap_or(0)), 3),
    );
    Ok(())
}

/// The reconnect scenario: every payload and protocol, against a Mosquitto of
/// its own (it stops and restarts it).
pub fn scenario(args: &crate::args::Args, target: &crate::target::Target) {
    if target.own.is_none() {
        report::note(
            "reconnect",
            "skipped (needs a broker the bench starts and stops, not --host)",
        );
        return;
    }
    for &protocol in &args.protocols {
        for &payload in &args.payloads {
            if let Err(e) = run(protocol, payload, args.rounds(), args.reconnect_delay) {
                report::note("reconnect", &format!("skipped ({e})"));
            }
        }
    }
}
