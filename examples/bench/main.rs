//! The benchmark suite (issue 8): what the client costs and how fast it is,
//! scenario by scenario, against a Mosquitto the bench starts itself on a
//! free loopback port (or `--host/--port`), or against an in-process acking
//! sink that is not a broker (`--sink`: the client alone is measured).
//!
//! ```sh
//! cargo run --release --all-features --example bench                 # everything, ~2 min
//! cargo run --release --all-features --example bench -- --quick      # a smoke run
//! cargo run --release --all-features --example bench -- --sink       # publish, client alone
//! cargo run --release --all-features --example bench -- --compare    # vs libmosquitto, Paho
//! cargo run --release --all-features --example bench -- --scenario latency --rates 5000
//! ```
//!
//! Without `--scenario` every scenario runs (with `--sink`: publish only;
//! with `--compare` alone: the comparison only), for payloads of 64 B and
//! 1 KiB and for MQTT 3.1.1 and 5 (`--payload`, `--protocol`), over TCP
//! (`--transport tcp,tls,ws` for the publish scenario). `--quick` shrinks
//! every count and duration about tenfold. Flags: `--help`.
//!
//! The scenarios (each module's docs say exactly what is timed):
//!
//! * `publish` ([`publish`]): N messages at QoS 0, 1 and 2 (QoS > 0 with
//!   in-flight windows 20 and 100); msg/s until the last acknowledgement,
//!   client CPU in microseconds per message (user+sys of the process's
//!   threads, the sink's left out), peak RSS of the process during the run.
//! * `subscribe` ([`subscribe`]): N messages at QoS 0 and 1 from
//!   `mosquitto_pub` in a child process; msg/s received and the
//!   subscriber's CPU per message.
//! * `latency` ([`latency`]): QoS 1 at 1,000 and 10,000 msg/s to the
//!   client's own subscription; round trip, publish→PUBACK, and
//!   publish→`wait_for_publish` (in the publishing thread and in a second
//!   thread): p50, p99, p99.9 and max in microseconds.
//! * `reconnect` ([`reconnect`]): the broker stops and comes back; time from
//!   its port accepting again to `on_connect` and to the PUBACK of the first
//!   message queued while it was down.
//! * `idle` ([`idle`]): a connected idle client for 30 s; CPU, wake-ups and
//!   threads per client.
//! * `queued` ([`queued`]): memory per QoS 1 message queued while
//!   disconnected.
//! * `pub-lines` ([`pub_lines`], only when named): `pub -q 1 -l` with
//!   300,000 lines of 64 B against the C client doing the same
//!   (libmosquitto, in-flight 20, waiting for every acknowledgement); wall
//!   and CPU of each process, 3 runs, same broker.
//! * `--compare` ([`compare`]): the publish and subscribe runs (QoS 0, 1, 2)
//!   with the C client libmosquitto (compiled from `mosq_bench.c` when
//!   `libmosquitto-dev` is installed) and Paho Python too, and the ratios.
//!
//! Output: first the machine (CPU, cores, kernel, Mosquitto version), then
//! per result one aligned line for people and one JSON line starting with
//! `{"scenario":` for programs. How CPU, wake-ups and memory are read from
//! /proc, and at what resolution: [`measure`].
//!
//! Figures are of one run on a shared machine: compare runs made on the same
//! machine at the same time, not across machines.

mod args;
mod compare;
mod idle;
mod latency;
mod libmosquitto;
mod measure;
mod persist;
mod pub_lines;
mod publish;
mod queued;
mod reconnect;
mod report;
mod sink;
mod subscribe;
mod target;

use std::process::{Command, ExitCode};
use std::time::Instant;

use mqtt_tether::testing::find_program;

use report::Json;
use target::Target;

fn main() -> ExitCode {
    // Run as a built binary, not through `cargo run`, the process lacks
    // CARGO_MANIFEST_DIR, by which the kit finds the Python environment
    // `.ci/run` makes (target/paho-venv): give it this crate's.
    if std::env::var_os("CARGO_MANIFEST_DIR").is_none() {
        std::env::set_var("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
    }
    let args = match args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((protocol, payload)) = args.queued_child {
        return match queued::child(protocol, payload, args.queued) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: queued: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &args::Args) -> Result<(), String> {
    machine(args.compare);
    let started = Instant::now();
    let sink = if args.sink {
        Some(sink::Sink::start()?)
    } else {
        None
    };
    // The broker: needed unless only the sink's publish runs are asked for.
    let needs_broker = args.compare
        || args
            .scenarios
            .iter()
            .any(|s| s != "publish" || sink.is_none());
    let broker = match (&args.host, needs_broker) {
        (_, false) => None,
        (Some(host), true) => Some(Target {
            host: host.clone(),
            port: args.port,
            label: format!("{host}:{}", args.port),
            own: None,
        }),
        (None, true) => Some(target::start_mosquitto()?),
    };
    if args.wants("publish") {
        match &sink {
            Some(s) => {
                let target = Target {
                    host: "127.0.0.1".into(),
                    port: s.port,
                    label: "sink".into(),
                    own: None,
                };
                publish::scenario(args, &target, Some(s));
            }
            None => publish::scenario(args, broker.as_ref().ok_or("no broker")?, None),
        }
    }
    if let Some(broker) = &broker {
        if args.wants("subscribe") {
            subscribe::scenario(args, broker);
        }
        if args.wants("latency") {
            latency::scenario(args, broker);
        }
        if args.wants("reconnect") {
            reconnect::scenario(args, broker);
        }
        if args.wants("idle") {
            idle::scenario(args, broker);
        }
        if args.wants("pub-lines") {
            pub_lines::scenario(args, broker);
        }
        if args.wants("persist") {
            persist::scenario(args, broker);
        }
        if args.compare {
            compare::run(args, broker);
        }
    }
    if args.wants("queued") {
        queued::scenario(args);
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Prints what the figures were measured on, for the README to quote.
fn machine(compare: bool) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |k| k.trim().to_string());
    let first_line = |program: &str, args: &[&str]| -> String {
        find_program(program)
            .and_then(|p| Command::new(p).args(args).output().ok())
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "not installed".into())
    };
    let mosquitto = first_line("mosquitto", &["-h"]);
    let paho = if compare {
        let python = mqtt_tether::testing::find_paho_python().unwrap_or_else(|| "python3".into());
        first_line(
            &python.to_string_lossy(),
            &[
                "-c",
                "import paho.mqtt; print('paho-mqtt', paho.mqtt.__version__)",
            ],
        )
    } else {
        String::new()
    };
    let extra = if paho.is_empty() {
        String::new()
    } else {
        format!(", {paho}")
    };
    println!("machine    {cpu}, {cores} cores, Linux {kernel}, {mosquitto}{extra}");
    println!(
        "{}",
        Json::new("machine")
            .str("cpu", &cpu)
            .int("cores", cores as u64)
            .str("kernel", &kernel)
            .str("mosquitto", &mosquitto)
            .str("paho", &paho)
            .finish()
    );
}
