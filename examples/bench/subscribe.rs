//! Subscribe throughput: an mqtt-tether subscriber receives N messages from
//! a fast publisher, `mosquitto_pub -l` in a child process (fed by
//! `yes | head`; one after another per 60,000 messages), so the process measured holds the subscriber alone: its CPU
//! is all the subscriber's. The clock runs from starting the publisher to the
//! N-th message received.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mqtt_tether::testing::find_program;
use mqtt_tether::ProtocolVersion;

use crate::args::protocol_name;
use crate::measure::CpuSnapshot;
use crate::report::{self, Json};

pub struct Outcome {
    pub msg_per_s: f64,
    pub cpu_us_per_msg: f64,
    pub received: usize,
    pub seconds: f64,
}

/// The most messages one `mosquitto_pub -l` is given: it stops at the first
/// acknowledgement of the last message id it sent, and past 65,535 messages
/// ids repeat, so a longer run ends early (at about N - 65,535 messages).
pub const MOSQUITTO_PUB_MAX: usize = 60_000;

/// Starts `mosquitto_pub -l` publishing `count` messages of `payload` bytes
/// at `qos` (in-flight window 100) to `topic`: one process after another for
/// every [`MOSQUITTO_PUB_MAX`] messages.
pub fn spawn_publisher(
    host: &str,
    port: u16,
    topic: &str,
    qos: i32,
    payload: usize,
    count: usize,
) -> Result<Child, String> {
    let program = find_program("mosquitto_pub").ok_or("mosquitto_pub is not installed")?;
    let line = "x".repeat(payload);
    let mut runs = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(MOSQUITTO_PUB_MAX);
        runs.push(format!(
            "yes {line} | head -n {n} | '{}' -h {host} -p {port} -t {topic} -q {qos} -M 100 -l",
            program.display()
        ));
        left -= n;
    }
    Command::new("sh")
        .arg("-c")
        .arg(runs.join(" && "))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run mosquitto_pub: {e}"))
}

/// Waits for `child`, giving up (and killing it) after `timeout`.
pub fn reap(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn run(
    host: &str,
    port: u16,
    protocol: ProtocolVersion,
    qos: i32,
    payload: usize,
    count: usize,
) -> Result<Outcome, String> {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let topic = format!("bench/subscribe/{}", RUN.fetch_add(1, Ordering::Relaxed));
    let client = crate::target::new_client("bench-subscribe", protocol)?;
    let received = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let seen = Arc::clone(&received);
    client.on_message(move |_, _, _| {
        if seen.fetch_add(1, Ordering::Relaxed) + 1 == count {
            let _ = done_tx.send(Instant::now());
        }
    });
    let (sub_tx, sub_rx) = mpsc::channel();
    client.on_subscribe(move |_, _, _, _, _| {
        let _ = sub_tx.send(());
    });
    crate::target::connect(&client, host, port)?;
    let _ = client.subscribe(&topic, qos).map_err(|e| e.to_string())?;
    sub_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no SUBACK within 10 s")?;
    let cpu_before = CpuSnapshot::take();
    let start = Instant::now();
    let mut publisher = spawn_publisher(host, port, &topic, qos, payload, count)?;
    // Until the last message, or until the publisher is gone and nothing
    // more arrives for 3 s (messages lost: reported, not waited for).
    let mut last = (0, Instant::now());
    let end = loop {
        match done_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(at) => break at,
            Err(_) => {
                let now_received = received.load(Ordering::Relaxed);
                if now_received != last.0 {
                    last = (now_received, Instant::now());
                } else if matches!(publisher.try_wait(), Ok(Some(_)))
                    && last.1.elapsed() > Duration::from_secs(3)
                {
                    break last.1;
                }
            }
        }
    };
    let cpu = CpuSnapshot::take().since(&cpu_before, &Default::default());
    crate::target::close(&client);
    reap(&mut publisher, Duration::from_secs(30));
    let got = received.load(Ordering::Relaxed).min(count);
    let seconds = end.duration_since(start).as_secs_f64();
    Ok(Outcome {
        msg_per_s: got as f64 / seconds,
        cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / got.max(1) as f64,
        received: got,
        seconds,
    })
}

pub fn print(
    target: &str,
    client: &str,
    protocol: ProtocolVersion,
    qos: i32,
    payload: usize,
    count: usize,
    o: &Outcome,
) {
    let lost = if o.received < count {
        format!("  RECEIVED ONLY {}", o.received)
    } else {
        String::new()
    };
    report::emit(
        "subscribe",
        &format!(
            "{target} {client} v{} QoS {qos} {} x{count}",
            protocol_name(protocol),
            report::size(payload)
        ),
        &format!(
            "{:>9.0} msg/s  {:>6.2} us/msg CPU  ({:.2} s){lost}",
            o.msg_per_s, o.cpu_us_per_msg, o.seconds
        ),
        Json::new("subscribe")
            .str("client", client)
            .str("target", target)
            .str("protocol", protocol_name(protocol))
            .int("qos", qos as u64)
            .int("payload", payload as u64)
            .int("count", count as u64)
            .int("received", o.received as u64)
            .num("msg_per_s", o.msg_per_s, 0)
            .num("cpu_us_per_msg", o.cpu_us_per_msg, 3)
            .num("seconds", o.seconds, 3),
    );
}

/// The subscribe scenario: QoS 0 and 1, every payload and protocol.
pub fn scenario(args: &crate::args::Args, target: &crate::target::Target) {
    let count = args.sub_count();
    for &protocol in &args.protocols {
        for &payload in &args.payloads {
            for qos in [0, 1] {
                match run(&target.host, target.port, protocol, qos, payload, count) {
                    Ok(o) => print(
                        &target.label,
                        "mqtt-tether",
                        protocol,
                        qos,
                        payload,
                        count,
                        &o,
                    ),
                    Err(e) => report::note("subscribe", &format!("skipped ({e})")),
                }
            }
        }
    }
}
