//! `--scenario pub-lines` (issue 19, not in the default run): `seq 1
//! 300000` padded to 64-byte lines, piped into `pub -q 1 -l` (the crate's
//! example, which waits for room with `publish_wait` and exits once every
//! message is acknowledged) and into the C client doing the same
//! (`mosq_bench lines`: libmosquitto, `max_inflight_messages_set(20)`, at
//! most 30,000 unacknowledged, exit once every `on_publish` has come),
//! alternately, 3 runs each, against the same broker. Both are measured
//! from outside, the same way: wall time from spawn to exit, CPU as the
//! child's user + system time (this process's `cutime` + `cstime` from
//! /proc, in clock ticks of 10 ms), so start-up and connection count for
//! both. `--count` sets the lines (`--quick`: 30,000).
//!
//! `pub` must be built next to the bench (`cargo build --release
//! --all-features --example pub`); a client that cannot run is skipped with
//! a line.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_tether::testing::TempDir;

use crate::report::{self, Json};
use crate::target::Target;

const RUNS: usize = 3;
const LINE: usize = 64;
const INFLIGHT: usize = 20;

/// The children's CPU time so far (user + system of waited-for children).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name, which may hold spaces, in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // cutime and cstime are fields 16 and 17 (1-based), 14 and 15 here.
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The crate's `pub` example next to the bench's executable.
fn pub_program() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let program = exe.with_file_name("pub");
    if program.exists() {
        Ok(program)
    } else {
        Err(format!(
            "{} is missing: cargo build --release --all-features --example pub",
            program.display()
        ))
    }
}

/// Runs `command` with `input` as its standard input; wall and CPU.
fn measure(mut command: Command, input: &std::path::Path) -> Result<(Duration, Duration), String> {
    let stdin = std::fs::File::open(input).map_err(|e| e.to_string())?;
    let cpu0 = children_cpu();
    let t = Instant::now();
    let status = command
        .stdin(stdin)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let wall = t.elapsed();
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    Ok((wall, children_cpu().saturating_sub(cpu0)))
}

pub fn scenario(args: &crate::args::Args, broker: &Target) {
    let lines = args.lines_count();
    let dir = match TempDir::new("bench-lines") {
        Ok(d) => d,
        Err(e) => return eprintln!("bench: pub-lines: {e}"),
    };
    let input = dir.path().join("lines");
    let mut text = String::with_capacity(lines * (LINE + 1));
    for n in 1..=lines {
        text.push_str(&format!("{n:0>LINE$}\n"));
    }
    if let Err(e) = std::fs::write(&input, text) {
        return eprintln!("bench: pub-lines: {e}");
    }
    let port = broker.port.to_string();
    let ours = pub_program().map(|program| {
        let mut c = Command::new(program);
        c.args([
            "-h",
            &broker.host,
            "-p",
            &port,
            "-t",
            "bench/lines",
            "-q",
            "1",
        ])
        .args(["-l", "-i", "bench-lines-pub"]);
        c
    });
    let c_client = crate::libmosquitto::program().map(|program| {
        let mut c = Command::new(program);
        c.args(["lines", &broker.host, &port, "bench/lines", "1"])
            .arg(INFLIGHT.to_string());
        c
    });
    let make = |which: &Result<Command, String>| -> Result<Command, String> {
        let c = which.as_ref().map_err(Clone::clone)?;
        let mut fresh = Command::new(c.get_program());
        fresh.args(c.get_args());
        Ok(fresh)
    };
    for run in 1..=RUNS {
        for (client, which) in [("mqtt-tether pub -l", &ours), ("libmosquitto", &c_client)] {
            let result = make(which).and_then(|c| measure(c, &input));
            match result {
                Ok((wall, cpu)) => emit(client, run, lines, wall, cpu, &broker.label),
                Err(e) => eprintln!("bench: pub-lines {client}: {e}"),
            }
        }
    }
}

fn emit(client: &str, run: usize, lines: usize, wall: Duration, cpu: Duration, broker: &str) {
    report::emit(
        "pub-lines",
        &format!("pub-lines {client} QoS 1 {LINE} B x{lines} run {run}"),
        &format!(
            "{:>7.3} s wall  {:>7.3} s CPU  {:>9.0} msg/s",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            lines as f64 / wall.as_secs_f64()
        ),
        Json::new("pub-lines")
            .str("client", client)
            .str("broker", broker)
            .int("run", run as u64)
            .int("lines", lines as u64)
            .int("payload", LINE as u64)
            .int("inflight", INFLIGHT as u64)
            .num("wall_s", wall.as_secs_f64(), 3)
            .num("cpu_s", cpu.as_secs_f64(), 3),
    );
}
