//! Idle cost: clients connected (keepalive 60 s, loop_start) with nothing to
//! do, one per protocol, all watched over the same window (30 s by default):
//! the CPU time and the wake-ups (voluntary + involuntary context switches)
//! of each client's own threads, and how many threads each client added
//! (the process's threads counted before and after its connect+loop_start).
//! The goal: no wake-up between keepalives, two threads per client.

use std::time::Duration;

use mqtt_tether::Client;

use crate::args::protocol_name;
use crate::measure::{self, CpuSnapshot};
use crate::report::{self, Json};

pub fn scenario(args: &crate::args::Args, target: &crate::target::Target) {
    let mut clients: Vec<(Client, &str, Vec<u32>)> = Vec::new();
    for &protocol in &args.protocols {
        let before = measure::tids();
        let client = match crate::target::new_client("", protocol)
            .and_then(|c| crate::target::connect(&c, &target.host, target.port).map(|()| c))
        {
            Ok(c) => c,
            Err(e) => {
                report::note("idle", &format!("skipped ({e})"));
                continue;
            }
        };
        let threads: Vec<u32> = measure::tids()
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        clients.push((client, protocol_name(protocol), threads));
    }
    // Let the connections settle (CONNACK handling, first callbacks).
    std::thread::sleep(Duration::from_millis(200));
    let switches =
        |threads: &[u32]| -> u64 { threads.iter().map(|&t| measure::context_switches(t)).sum() };
    let start: Vec<_> = clients
        .iter()
        .map(|(_, _, t)| (CpuSnapshot::of(t), switches(t)))
        .collect();
    let secs = args.idle_secs();
    std::thread::sleep(Duration::from_secs_f64(secs));
    for ((client, protocol, threads), (cpu0, sw0)) in clients.iter().zip(start) {
        let cpu = CpuSnapshot::of(threads).since(&cpu0, &Default::default());
        let wakeups = switches(threads).saturating_sub(sw0);
        let alive = threads
            .iter()
            .filter(|&&t| measure::thread_cpu_ns(t).is_some())
            .count();
        report::emit(
            "idle",
            &format!("{} v{protocol} keepalive 60 s, {secs:.0} s", target.label),
            &format!(
                "{} threads  CPU {:>7.1} us  wake-ups {:>4} ({:.2}/s)",
                threads.len(),
                cpu.as_secs_f64() * 1e6,
                wakeups,
                wakeups as f64 / secs
            ),
            Json::new("idle")
                .str("target", &target.label)
                .str("protocol", protocol)
                .num("seconds", secs, 1)
                .int("threads", threads.len() as u64)
                .int("threads_alive_at_end", alive as u64)
                .num("cpu_us", cpu.as_secs_f64() * 1e6, 1)
                .int("wakeups", wakeups)
                .num("wakeups_per_s", wakeups as f64 / secs, 3),
        );
        crate::target::close(client);
    }
}
