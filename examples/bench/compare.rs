//! `--compare`: the publish (QoS 0 and 1, 64 B, MQTT 3.1.1, in-flight 100)
//! and subscribe (QoS 0 and 1, 64 B, 3.1.1) runs with mqtt-tether, with
//! Mosquitto's own clients and with Paho Python, in the same run against the
//! same broker, and the ratios.
//!
//! * `mosquitto_pub -l -M 100` publishes lines from a file (stdin), at most
//!   60,000 (past 65,535 it stops early: see
//!   [`crate::subscribe::MOSQUITTO_PUB_MAX`]), so every client's publish
//!   count is capped at that here; timed
//!   from start to exit, so its figure includes process start, connect and
//!   disconnect (a few ms). `mosquitto_sub -C N` is timed from starting the
//!   publisher to its exit. Their CPU is the cutime+cstime the kernel adds
//!   to this process when it reaps them (10 ms ticks).
//! * Paho: `paho_bench.py` (next to this file), run with `python3`; it times
//!   its publish runs itself as the Rust side does and reports
//!   `time.process_time()`; its subscribe runs are timed here like the
//!   others. Skipped with a line when `import paho.mqtt.client` fails.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_tether::testing::{find_program, TempDir};
use mqtt_tether::ProtocolVersion;

use crate::measure::children_cpu;
use crate::report::{self, Json};
use crate::subscribe::{reap, spawn_publisher, MOSQUITTO_PUB_MAX};

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

/// A number field of a flat JSON line.
fn json_number(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(&format!("\"{key}\":"))? + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// The Python that has Paho (the virtual environment `.ci/run` makes, or one
/// on `PATH`), as the tests find it.
fn python() -> std::path::PathBuf {
    mqtt_tether::testing::find_paho_python().unwrap_or_else(|| "python3".into())
}

fn mosquitto_pub(
    host: &str,
    port: u16,
    qos: i32,
    count: usize,
    dir: &TempDir,
) -> Result<Figure, String> {
    let program = find_program("mosquitto_pub").ok_or("mosquitto_pub is not installed")?;
    let input = dir.path().join(format!("lines-{count}"));
    if !input.exists() {
        let mut text = Vec::with_capacity((PAYLOAD + 1) * count);
        for _ in 0..count {
            text.extend_from_slice(&[b'x'; PAYLOAD]);
            text.push(b'\n');
        }
        std::fs::write(&input, text).map_err(|e| e.to_string())?;
    }
    let stdin = std::fs::File::open(&input).map_err(|e| e.to_string())?;
    let cpu0 = children_cpu();
    let start = Instant::now();
    let status = Command::new(program)
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-t",
            "bench/mosquitto_pub",
        ])
        .args(["-q", &qos.to_string(), "-M", &INFLIGHT.to_string(), "-l"])
        .stdin(stdin)
        .status()
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("mosquitto_pub: {status}"));
    }
    Ok(Figure {
        msg_per_s: count as f64 / seconds,
        cpu_us_per_msg: (children_cpu() - cpu0).as_secs_f64() * 1e6 / count as f64,
    })
}

fn mosquitto_sub(host: &str, port: u16, qos: i32, count: usize) -> Result<Figure, String> {
    let program = find_program("mosquitto_sub").ok_or("mosquitto_sub is not installed")?;
    let topic = format!("bench/mosquitto_sub/{qos}");
    let cpu0 = children_cpu();
    let mut sub = Command::new(program)
        .args(["-h", host, "-p", &port.to_string(), "-t", &topic])
        .args(["-q", &qos.to_string(), "-C", &count.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    // mosquitto_sub says nothing when subscribed: give it time.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let mut publisher = spawn_publisher(host, port, &topic, qos, PAYLOAD, count)?;
    let deadline = start + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = sub.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sub.kill();
            let _ = sub.wait();
            reap(&mut publisher, Duration::from_secs(10));
            return Err("mosquitto_sub did not get every message in 120 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let seconds = start.elapsed().as_secs_f64();
    // Its CPU, before the publisher is reaped and adds its own.
    let cpu = children_cpu() - cpu0;
    reap(&mut publisher, Duration::from_secs(30));
    if !status.success() {
        return Err(format!("mosquitto_sub: {status}"));
    }
    Ok(Figure {
        msg_per_s: count as f64 / seconds,
        cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / count as f64,
    })
}

fn paho_pub(host: &str, port: u16, qos: i32, count: usize) -> Result<Figure, String> {
    let output = Command::new(python())
        .args([SCRIPT, "pub", host, &port.to_string(), &count.to_string()])
        .args([qos.to_string(), PAYLOAD.to_string(), INFLIGHT.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or("paho_bench printed no result")?;
    Ok(Figure {
        msg_per_s: json_number(line, "msg_per_s").ok_or("no msg_per_s")?,
        cpu_us_per_msg: json_number(line, "cpu_us_per_msg").ok_or("no cpu_us_per_msg")?,
    })
}

fn paho_sub(host: &str, port: u16, qos: i32, count: usize) -> Result<Figure, String> {
    let topic = format!("bench/paho_sub/{qos}");
    let mut child = Command::new(python())
        .args([SCRIPT, "sub", host, &port.to_string(), &count.to_string()])
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
            return Err(format!("paho_bench did not get ready: {other:?}"));
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
        other => return Err(format!("paho_bench printed no result: {other:?}")),
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
    let paho = mqtt_tether::testing::find_paho_python().is_some();
    if !paho {
        report::note(
            "compare",
            "Paho Python skipped: no python3 (nor target/paho-venv) imports paho.mqtt.client",
        );
    }
    let dir = match TempDir::new("bench-compare") {
        Ok(d) => d,
        Err(e) => return report::note("compare", &format!("skipped ({e})")),
    };
    let skipped = || Err::<Figure, String>("paho-mqtt is not installed".into());
    for qos in [0, 1] {
        let count = args.publish_count(qos).min(MOSQUITTO_PUB_MAX);
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
                ("mosquitto_pub", &mut || {
                    mosquitto_pub(host, port, qos, count, &dir)
                }),
                ("paho-python", &mut || {
                    if paho {
                        paho_pub(host, port, qos, count)
                    } else {
                        skipped()
                    }
                }),
            ],
        );
    }
    let count = args.sub_count();
    for qos in [0, 1] {
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
                ("mosquitto_sub", &mut || {
                    mosquitto_sub(host, port, qos, count)
                }),
                ("paho-python", &mut || {
                    if paho {
                        paho_sub(host, port, qos, count)
                    } else {
                        skipped()
                    }
                }),
            ],
        );
    }
    let _ = std::io::stdout().flush();
}
