//! Codec throughput: encode and decode of PUBLISH packets with 64-byte and
//! 1 KiB payloads, at MQTT 3.1.1 and 5.0.
//!
//! Run with `cargo bench --bench codec`. It prints one line per scenario
//! (packets/s and GB/s of encoded bytes, the median of several rounds) and a
//! JSON line with the same figures for tools. This is a program that prints
//! figures, not a test: nothing here asserts a speed.
//!
//! * encode: `Publish::encode` into a reused buffer (no allocation).
//! * decode in place: one `Decoder::decode` call per packet over a buffer
//!   that holds many packets (the fast path: whole packets in the read buffer).
//! * decode 4 KiB reads: the same stream handed over in 4 KiB pieces, as a
//!   socket would, so some packets straddle two reads and are buffered.
//!
//! Decoding includes building the owned `Publish` (topic `String`, payload
//! `Vec`) and dropping it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mqtt_tether::packet::{Decoder, Packet, ProtocolVersion, Publish, QoS};

const ROUNDS: usize = 7;
const TARGET: Duration = Duration::from_millis(300);

struct Figure {
    scenario: String,
    packets_per_sec: f64,
    gbytes_per_sec: f64,
}

/// Runs `f` (which processes `packets` packets of `bytes` bytes in all) until
/// each round lasts about TARGET, and returns the median round's rates.
fn measure(scenario: String, packets: usize, bytes: usize, mut f: impl FnMut()) -> Figure {
    // Calibrate how many repetitions fill a round.
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_micros(1));
    let reps = ((TARGET.as_secs_f64() / once.as_secs_f64()).ceil() as usize).max(1);
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        rates.push(start.elapsed().as_secs_f64() / reps as f64);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    let secs = rates[ROUNDS / 2];
    Figure {
        scenario,
        packets_per_sec: packets as f64 / secs,
        gbytes_per_sec: bytes as f64 / secs / 1e9,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mut figures = Vec::new();
    for protocol in [ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5] {
        for payload_len in [64usize, 1024] {
            let publish = Publish::new(
                "bench/sensors/room-42/temperature",
                vec![0xa5; payload_len],
                QoS::AtLeastOnce,
                4242,
            );
            let n = 10_000;
            let mut one = Vec::new();
            publish.encode(protocol, &mut one).unwrap();
            let packet_len = one.len();
            let label = |what: &str| format!("{what:<18} {protocol:<8} payload {payload_len:>4} B");

            let mut buf = Vec::with_capacity(packet_len * n);
            figures.push(measure(label("encode"), n, packet_len * n, || {
                buf.clear();
                for _ in 0..n {
                    publish.encode(protocol, &mut buf).unwrap();
                }
                black_box(&buf);
            }));

            let stream: Vec<u8> = one.iter().copied().cycle().take(packet_len * n).collect();
            figures.push(measure(label("decode in place"), n, stream.len(), || {
                let mut decoder = Decoder::new(protocol);
                let mut input = &stream[..];
                while let Some(packet) = decoder.decode(&mut input).unwrap() {
                    if let Packet::Publish(p) = black_box(packet) {
                        black_box(p.payload.len());
                    }
                }
            }));

            figures.push(measure(
                label("decode 4 KiB reads"),
                n,
                stream.len(),
                || {
                    let mut decoder = Decoder::new(protocol);
                    for read in stream.chunks(4096) {
                        let mut input = read;
                        while let Some(packet) = decoder.decode(&mut input).unwrap() {
                            black_box(packet);
                        }
                    }
                },
            ));
        }
    }
    for f in &figures {
        println!(
            "{}  {:>12.0} packets/s  {:>6.2} GB/s",
            f.scenario, f.packets_per_sec, f.gbytes_per_sec
        );
    }
    let json: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{{\"scenario\":\"{}\",\"packets_per_sec\":{:.0},\"gbytes_per_sec\":{:.3}}}",
                f.scenario.split_whitespace().collect::<Vec<_>>().join(" "),
                f.packets_per_sec,
                f.gbytes_per_sec
            )
        })
        .collect();
    println!("{{\"bench\":\"codec\",\"results\":[{}]}}", json.join(","));
}
