//! Memory per message queued while disconnected: a client whose broker is
//! not there (it connects, asynchronously, to a loopback port nobody listens
//! on, and keeps retrying with its loop thread) publishes N QoS 1 messages
//! to a short topic; the growth of the process's resident set (VmRSS)
//! divided by N is the cost of one queued message, and what exceeds topic
//! plus payload is the client's overhead. The MessageInfos are dropped as
//! they come (not kept in a Vec), so only the client's own store is counted.
//!
//! Each measurement runs in a fresh process (the bench runs itself with
//! `--queued-child`): in a process that already freed memory, the allocator
//! would hand that memory out again and the resident set would not grow.
//!
//! The issue asks for 100,000 messages; one client can hold at most 65,535
//! (message ids are 16-bit and each stored message keeps its id until
//! acknowledged; mqtt-tether refuses the next with MQTT_ERR_QUEUE_SIZE,
//! where Paho silently overwrites its queued messages past that), so the
//! default is 60,000.

use std::process::Command;
use std::time::Duration;

use mqtt_tether::{ErrorCode, ProtocolVersion};

use crate::args::protocol_name;
use crate::measure;
use crate::report::{self, Json};

const TOPIC: &str = "b/q";

pub fn scenario(args: &crate::args::Args) {
    report::note(
        "queued",
        "100,000 QoS 1 messages cannot be held: message ids are 16-bit, so at most 65,535 wait unacknowledged (mqtt-tether refuses more with MQTT_ERR_QUEUE_SIZE; Paho silently overwrites queued messages past that)",
    );
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return report::note("queued", &format!("skipped ({e})")),
    };
    for &protocol in &args.protocols {
        for &payload in &args.payloads {
            let status = Command::new(&exe)
                .arg("--queued-child")
                .arg(format!("{}:{payload}", protocol_name(protocol)))
                .arg("--queued")
                .arg(args.queued.to_string())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                report::note(
                    "queued",
                    &format!(
                        "v{} {payload} B: the measuring process failed ({status:?})",
                        protocol_name(protocol)
                    ),
                );
            }
        }
    }
}

/// In the fresh process: one measurement, printed.
pub fn child(protocol: ProtocolVersion, payload: usize, count: usize) -> Result<(), String> {
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let client = crate::target::new_client("bench-queued", protocol)?;
    client
        .connect_async("127.0.0.1", dead_port, 60)
        .map_err(|e| e.to_string())?;
    assert_eq!(client.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let payload_bytes = vec![b'x'; payload];
    // Let the loop thread fail its first connect and settle into backoff.
    std::thread::sleep(Duration::from_millis(200));
    let before = measure::rss_kb();
    let (mut held, mut refused) = (0usize, 0usize);
    for _ in 0..count {
        let info = client
            .publish(TOPIC, &payload_bytes, 1, false)
            .map_err(|e| e.to_string())?;
        match info.rc() {
            ErrorCode::QueueSize => refused += 1,
            _ => held += 1,
        }
    }
    let after = measure::rss_kb();
    let _ = client.loop_stop();
    let per_msg = (after.saturating_sub(before) * 1024) as f64 / held.max(1) as f64;
    let overhead = per_msg - (TOPIC.len() + payload) as f64;
    let refused_note = if refused > 0 {
        format!(", {refused} refused")
    } else {
        String::new()
    };
    report::emit(
        "queued",
        &format!(
            "v{} QoS 1 {} to '{TOPIC}', {held} held{refused_note}",
            protocol_name(protocol),
            report::size(payload)
        ),
        &format!(
            "{per_msg:>7.0} B/msg  overhead {overhead:>5.0} B/msg beyond topic+payload  RSS {before} -> {after} KiB (MessageInfos dropped)"
        ),
        Json::new("queued")
            .str("protocol", protocol_name(protocol))
            .int("payload", payload as u64)
            .int("topic_len", TOPIC.len() as u64)
            .int("asked", count as u64)
            .int("held", held as u64)
            .int("refused", refused as u64)
            .int("rss_before_kb", before)
            .int("rss_after_kb", after)
            .num("bytes_per_msg", per_msg, 1)
            .num("overhead_bytes_per_msg", overhead, 1)
            .str("message_infos", "dropped"),
    );
    Ok(())
}
