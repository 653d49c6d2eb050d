//! Publish throughput: one client publishes N messages as fast as `publish`
//! returns, to a topic nobody subscribes to (so the broker's fan-out is not
//! measured); the clock stops when the last one is acknowledged (QoS 1:
//! PUBACK, QoS 2: PUBCOMP, QoS 0: written to the socket). CPU is that of
//! the process's threads less the sink's and the WebSocket bridge's.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use mqtt_tether::{Client, ErrorCode, ProtocolVersion};

use crate::args::protocol_name;
use crate::measure::{self, CpuSnapshot};
use crate::report::{self, Json};

/// At most 65,535 messages can be unacknowledged (16-bit ids): the
/// publisher keeps its backlog under this by waiting for older ones.
const BACKLOG: usize = 30_000;

pub struct Spec {
    pub protocol: ProtocolVersion,
    pub qos: i32,
    pub payload: usize,
    /// 0 for QoS 0 (no window).
    pub inflight: usize,
    pub count: usize,
}

pub struct Outcome {
    pub msg_per_s: f64,
    pub cpu_us_per_msg: f64,
    pub peak_rss_kb: u64,
    pub seconds: f64,
}

/// One run with a client the caller made (any transport), connected to
/// `host:port` here. `exclude`: threads whose CPU is not the client's (the
/// sink's).
pub fn run(
    client: &Client,
    host: &str,
    port: u16,
    spec: &Spec,
    exclude: &dyn Fn() -> HashSet<u32>,
) -> Result<Outcome, String> {
    let payload = vec![b'x'; spec.payload];
    if spec.inflight > 0 {
        client
            .max_inflight_messages_set(spec.inflight)
            .map_err(|e| e.to_string())?;
    }
    crate::target::connect(client, host, port)?;
    measure::reset_peak_rss();
    let cpu_before = CpuSnapshot::take();
    let start = Instant::now();
    let mut backlog = VecDeque::with_capacity(BACKLOG + 1);
    for _ in 0..spec.count {
        let info = client
            .publish("bench/publish", &payload, spec.qos, false)
            .map_err(|e| e.to_string())?;
        if info.rc() != ErrorCode::Success {
            return Err(format!("publish failed: {:?}", info.rc()));
        }
        backlog.push_back(info);
        if backlog.len() > BACKLOG {
            if let Some(old) = backlog.pop_front() {
                old.wait_for_publish(Some(Duration::from_secs(120)))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    for info in backlog {
        info.wait_for_publish(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Not the client's: the sink, and the WebSocket bridge of the test kit
    // (its threads are named ws-bridge-*).
    let mut others = exclude();
    others.extend(measure::tids_named("ws-bridge"));
    let cpu = CpuSnapshot::take().since(&cpu_before, &others);
    let peak_rss_kb = measure::peak_rss_kb();
    crate::target::close(client);
    Ok(Outcome {
        msg_per_s: spec.count as f64 / elapsed,
        cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / spec.count as f64,
        peak_rss_kb,
        seconds: elapsed,
    })
}

/// Prints a run's lines.
pub fn print(target: &str, transport: &str, spec: &Spec, o: &Outcome) {
    let window = if spec.qos == 0 {
        String::new()
    } else {
        format!(" inflight {}", spec.inflight)
    };
    report::emit(
        "publish",
        &format!(
            "{target} {transport} v{} QoS {}{window} {} x{}",
            protocol_name(spec.protocol),
            spec.qos,
            report::size(spec.payload),
            spec.count
        ),
        &format!(
            "{:>9.0} msg/s  {:>6.2} us/msg CPU  peak RSS {:>6} KiB  ({:.2} s)",
            o.msg_per_s, o.cpu_us_per_msg, o.peak_rss_kb, o.seconds
        ),
        Json::new("publish")
            .str("client", "mqtt-tether")
            .str("target", target)
            .str("transport", transport)
            .str("protocol", protocol_name(spec.protocol))
            .int("qos", spec.qos as u64)
            .int("payload", spec.payload as u64)
            .int("inflight", spec.inflight as u64)
            .int("count", spec.count as u64)
            .num("msg_per_s", o.msg_per_s, 0)
            .num("cpu_us_per_msg", o.cpu_us_per_msg, 3)
            .int("peak_rss_kb", o.peak_rss_kb)
            .num("seconds", o.seconds, 3),
    );
}

/// The publish scenario: every protocol, payload, QoS and (QoS > 0)
/// in-flight window asked for, over every transport.
pub fn scenario(
    args: &crate::args::Args,
    target: &crate::target::Target,
    sink: Option<&crate::sink::Sink>,
) {
    let mut tls = None;
    let exclude = || sink.map(|s| s.tids()).unwrap_or_default();
    for transport in &args.transports {
        for &protocol in &args.protocols {
            for &payload in &args.payloads {
                for &qos in &args.qos {
                    let inflights = if qos == 0 {
                        vec![0]
                    } else {
                        args.inflights.clone()
                    };
                    for inflight in inflights {
                        let spec = Spec {
                            protocol,
                            qos,
                            payload,
                            inflight,
                            count: args.publish_count(qos),
                        };
                        let made = if sink.is_some() && transport != "tcp" {
                            Err("the sink speaks TCP only".to_string())
                        } else {
                            crate::target::transport_client(
                                transport,
                                "bench-publish",
                                protocol,
                                target,
                                &mut tls,
                            )
                        };
                        let result = made.and_then(|(client, host, port, _guard)| {
                            run(&client, &host, port, &spec, &exclude)
                        });
                        match result {
                            Ok(o) => print(&target.label, transport, &spec, &o),
                            Err(e) => report::note(
                                "publish",
                                &format!("{} {transport}: skipped ({e})", target.label),
                            ),
                        }
                    }
                }
            }
        }
    }
}
