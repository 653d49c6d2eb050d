//! The tools' `--server` (the failover list after -h/-p) and `--stats`
//! (issue 19), run as processes against the in-process broker.
#![cfg(feature = "testing")]

mod common;

use std::process::Stdio;

use mqtt_tether::packet::Packet;
use mqtt_tether::testing::{Broker, BrokerEvent};

use common::examples::example;

/// A loopback port nothing listens on.
fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port().to_string()
}

/// The `TOOL: stats: ` line of `stderr`.
fn stats_line(stderr: &[u8], tool: &str) -> String {
    let prefix = format!("{tool}: stats: ");
    String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no {prefix:?} in {}", String::from_utf8_lossy(stderr)))
}

#[test]
fn pub_and_sub_fail_over_to_the_next_server_and_print_their_counters() {
    let broker = Broker::start().unwrap();
    let dead = dead_port();
    let live = format!("127.0.0.1:{}", broker.port());
    let primary = ["-h", "127.0.0.1", "-p", dead.as_str(), "--server", &live];
    let sub = example("sub")
        .args(primary)
        .args(["-t", "fo/t", "-q", "1", "-C", "3", "-W", "30", "--stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    broker
        .wait_for_event("sub's SUBACK", |e| {
            matches!(
                e,
                BrokerEvent::PacketOut {
                    packet: Packet::SubAck(_),
                    ..
                }
            )
        })
        .unwrap();
    let publisher = example("pub")
        .args(primary)
        .args([
            "-t", "fo/t", "-m", "m{n}", "--count", "3", "-q", "1", "--stats",
        ])
        .output()
        .unwrap();
    let pub_err = String::from_utf8_lossy(&publisher.stderr).into_owned();
    assert!(publisher.status.success(), "{pub_err}");
    let got = sub.wait_with_output().unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&got.stdout), "m0\nm1\nm2\n");
    // Each PUBLISH: 32 0a, topic 00 04 "fo/t", id, "mN": 12 bytes.
    let line = stats_line(&publisher.stderr, "pub");
    for part in [
        "connects=1 connect_failures=1 disconnects=requested:1,",
        " sent=q0:0/0B,q1:3/36B,q2:0/0B ",
        " resent=0 refused=0 rejected=0 dropped=0 ",
        " queued=0 in_flight=0 ",
        &format!(" server=tcp://{live}"),
    ] {
        assert!(line.contains(part), "no {part:?} in {line:?}");
    }
    let line = stats_line(&got.stderr, "sub");
    for part in [
        "connects=1 connect_failures=1 ",
        " received=q0:0/0B,q1:3/36B,q2:0/0B ",
        &format!(" server=tcp://{live}"),
    ] {
        assert!(line.contains(part), "no {part:?} in {line:?}");
    }
}

#[test]
fn a_bad_server_is_refused_with_its_reason() {
    let out = example("pub")
        .args(["--server", "127.0.0.1:0", "-t", "x", "-m", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--server 127.0.0.1:0: Invalid server URI: bad port."),
        "{err}"
    );
}
