//! `--compare`: the publish (QoS 0, 1 and 2, 64 B, MQTT 3.1.1, in-flight
//! 100) and subscribe (QoS 0, 1 and 2, 64 B, 3.1.1) runs with mqtt-tether,
//! with the C client libmosquitto and with Paho Python, in the same run
//! against the same broker, and the ratios.
//!
//! * libmosquitto: `mosq_bench.c` (next to this file, compiled by
//!   [`crate::libmosquitto`]). Its publisher waits for every
//!   acknowledgement, with `max_inflight_messages_set` as ours; its
//!   subscriber counts in `on_message` and prints nothing.
//!   (`mosquitto_pub -l` is no QoS 1 baseline: at the end of its input it
//!   disconnects with messages still unacknowledged, and `mosquitto_sub`'s
//!   CPU is mostly its output.)
//! * Paho: `paho_bench.py` (next to this file), run with the Python the
//!   tests use.
//!
//! Both take the same command line and print the same JSON line: they time
//! their publish runs themselves as the Rust side does (first publish to
//! last acknowledgement) and report their own process's CPU; subscribe runs
//! are timed here, from starting the publisher (`mosquitto_pub -l`, as for
//! ours) to their result. A client that cannot run is skipped with a line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_tether::ProtocolVersion;

use crate::report::{self, Json};
use crate::subscribe::{reap, spawn_publisher};

const PAYLOAD: usize = 64;
const INFLIGHT: usize = 100;
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench/paho_bench.py");

struct Figure {
    msg_per_s: f64,
    cpu_us_per_msg: f64,
}

fn emit(scenario: &str, client: &str, qos: i32, count: usize, f: &Figure) {
    report::emit(
        scenario,
        &format!("compare {client} v3.1.1 QoS {qos} 64 B x{count}"),
        &format!(
            "{:>9.0} msg/s  {:>6.2} us/msg CPU",
            f.msg_per_s, f.cpu_us_per_msg
        ),
        Json::new(scenario)
            .str("client", client)
            .str("protocol", "3.1.1")
            .int("qos", qos as u64)
            .int("payload", PAYLOAD as u64)
            .int("inflight", INFLIGHT as u64)
            .int("count", count as u64)
            .num("msg_per_s", f.msg_per_s, 0)
            .num("cpu_us_per_msg", f.cpu_us_per_msg, 3),
    );
}

/// A number field of a JSON line.
fn json_number(line: &str, key: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()?
        .get(key)?
        .as_f64()
}

/// The Python that has Paho (the virtual environment `.ci/run` makes, or one
/// on `PATH`), as the tests find it.
fn python() -> std::path::PathBuf {
    mqtt_tether::testing::find_paho_python().unwrap_or_else(|| "python3".into())
}

/// How to start a peer's helper process (`paho_bench.py` or `mosq_bench`).
type Helper = dyn Fn() -> Result<Command, String>;

fn paho() -> Result<Command, String> {
    if mqtt_tether::testing::find_paho_python().is_none() {
        return Err("paho-mqtt is not installed".into());
    }
    let mut command = Command::new(python());
    command.arg(SCRIPT);
    Ok(command)
}

fn libmosquitto() -> Result<Command, String> {
    crate::libmosquitto::program().map(Command::new)
}

/// A peer's publish run: it times itself.
fn helper_pub(
    helper: &Helper,
    host: &str,
    port: u16,
    qos: i32,
    count: usize,
) -> Result<Figure, String> {
    let output = helper()?
        .args(["pub", host, &port.to_string(), &count.to_string()])
        .args([qos.to_string(), PAYLOAD.to_string(), INFLIGHT.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("printed no result ({})", output.status))?;
    Ok(Figure {
        msg_per_s: json_number(line, "msg_per_s").ok_or("no msg_per_s")?,
        cpu_us_per_msg: json_number(line, "cpu_us_per_msg").ok_or("no cpu_us_per_msg")?,
    })
}

/// A peer's subscribe run: timed here, from starting the publisher to its
/// result line.
fn helper_sub(
    helper: &Helper,
    name: &str,
    host: &str,
    port: u16,
    qos: i32,
    count: usize,
) -> Result<Figure, String> {
    let topic = format!("bench/{name}_sub/{qos}");
    let mut child = helper()?
        .args(["sub", host, &port.to_string(), &count.to_string()])
        .args([qos.to_string(), topic.clone()])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    match lines.next() {
        Some(Ok(l)) if l == "ready" => {}
        other => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not get ready: {other:?}"));
        }
    }
    let start = Instant::now();
    let mut publisher = spawn_publisher(host, port, &topic, qos, PAYLOAD, count)?;
    let result = lines.next();
    let seconds = start.elapsed().as_secs_f64();
    let _ = child.wait();
    reap(&mut publisher, Duration::from_secs(30));
    let line = match result {
        Some(Ok(l)) => l,
        other => return Err(format!("printed no result: {other:?}")),
    };
    Ok(Figure {
        msg_per_s: count as f64 / seconds,
        cpu_us_per_msg: json_number(&line, "cpu_us_per_msg").ok_or("no cpu_us_per_msg")?,
    })
}

/// A client compared with ours: its name and how to run it.
type Peer<'a> = (&'a str, &'a mut dyn FnMut() -> Result<Figure, String>);

/// Prints our figure, runs each peer in turn and prints its figure, then
/// the ratios.
fn side_by_side(scenario: &str, qos: i32, count: usize, ours: &Figure, peers: [Peer<'_>; 2]) {
    emit(scenario, "mqtt-tether", qos, count, ours);
    let mut results = Vec::new();
    for (name, run) in peers {
        let result = run();
        if let Ok(f) = &result {
            emit(scenario, name, qos, count, f);
        }
        results.push((name, result));
    }
    ratios(scenario, qos, ours, &results);
}

fn ratios(scenario: &str, qos: i32, ours: &Figure, others: &[(&str, Result<Figure, String>)]) {
    for (name, other) in others {
        match other {
            Ok(f) => {
                let speed = ours.msg_per_s / f.msg_per_s;
                let cpu = ours.cpu_us_per_msg / f.cpu_us_per_msg;
                report::emit(
                    "ratio",
                    &format!("{scenario} QoS {qos} mqtt-tether / {name}"),
                    &format!("msg/s x{speed:.2}  CPU/msg x{cpu:.2}"),
                    Json::new("ratio")
                        .str("of", scenario)
                        .int("qos", qos as u64)
                        .str("versus", name)
                        .num("msg_per_s_ratio", speed, 3)
                        .num("cpu_per_msg_ratio", cpu, 3),
                );
            }
            Err(e) => report::note(
                "ratio",
                &format!("{scenario} QoS {qos} versus {name}: none ({e})"),
            ),
        }
    }
}

pub fn run(args: &crate::args::Args, target: &crate::target::Target) {
    let (host, port) = (target.host.as_str(), target.port);
    for qos in [0, 1, 2] {
        let count = args.publish_count(qos);
        let spec = crate::publish::Spec {
            protocol: ProtocolVersion::MQTTv311,
            qos,
            payload: PAYLOAD,
            inflight: if qos == 0 { 0 } else { INFLIGHT },
            count,
        };
        let ours = crate::target::new_client("bench-compare", spec.protocol)
            .and_then(|c| crate::publish::run(&c, host, port, &spec, &Default::default));
        let ours = match ours {
            Ok(o) => o,
            Err(e) => {
                report::note("compare", &format!("publish QoS {qos}: skipped ({e})"));
                continue;
            }
        };
        let ours = Figure {
            msg_per_s: ours.msg_per_s,
            cpu_us_per_msg: ours.cpu_us_per_msg,
        };
        side_by_side(
            "publish",
            qos,
            count,
            &ours,
            [
                ("libmosquitto", &mut || {
                    helper_pub(&libmosquitto, host, port, qos, count)
                }),
                ("paho-python", &mut || {
                    helper_pub(&paho, host, port, qos, count)
                }),
            ],
        );
    }
    let count = args.sub_count();
    for qos in [0, 1, 2] {
        let ours =
            match crate::subscribe::run(host, port, ProtocolVersion::MQTTv311, qos, PAYLOAD, count)
            {
                Ok(o) => Figure {
                    msg_per_s: o.msg_per_s,
                    cpu_us_per_msg: o.cpu_us_per_msg,
                },
                Err(e) => {
                    report::note("compare", &format!("subscribe QoS {qos}: skipped ({e})"));
                    continue;
                }
            };
        side_by_side(
            "subscribe",
            qos,
            count,
            &ours,
            [
                ("libmosquitto", &mut || {
                    helper_sub(&libmosquitto, "mosq", host, port, qos, count)
                }),
                ("paho-python", &mut || {
                    helper_sub(&paho, "paho", host, port, qos, count)
                }),
            ],
        );
    }
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::json_number;

    #[test]
    fn a_number_is_read_from_its_own_field_only() {
        // A field of the same name in a nested object is not the line's
        // own; spaces after the colons are Python's json.dumps default.
        let line = r#"{"peer": {"msg_per_s": 1}, "msg_per_s": 2.5e3, "cpu_us_per_msg": 7}"#;
        assert_eq!(json_number(line, "msg_per_s"), Some(2500.0));
        assert_eq!(json_number(line, "cpu_us_per_msg"), Some(7.0));
        assert_eq!(json_number(line, "missing"), None);
        assert_eq!(json_number("not json", "msg_per_s"), None);
    }
}
