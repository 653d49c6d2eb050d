//! The `pub` and `sub` examples checked from outside, as processes, against
//! the in-process broker and against Mosquitto's own tools.
#![cfg(feature = "testing")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use mqtt_tether::testing::{require_program, Broker};

/// A built example. `cargo test` builds the examples only when it runs
/// every target, so with `--test examples_cli` alone they would be missing
/// or stale: the first call builds them with the cargo running this test
/// (a no-op when they are fresh), with this test's features, into the same
/// profile directory.
fn example(name: &str) -> Command {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile dir>/deps/examples_cli-<hash>
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        // Without the variables cargo sets for this test: build scripts that
        // watch them (ring's watches CARGO_MANIFEST_DIR) would make every
        // build start over.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let set_for_tests = key.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&key.as_ref());
            if set_for_tests {
                build.env_remove(key.as_ref());
            }
        }
        build.args([
            "build",
            "--example",
            "pub",
            "--example",
            "sub",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ]);
        // The same features as this test, so the library is not built twice.
        let features: Vec<&str> = [
            ("testing", cfg!(feature = "testing")),
            ("tls", cfg!(feature = "tls")),
            ("websocket", cfg!(feature = "websocket")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        build.args(["--no-default-features", "--features", &features.join(",")]);
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
            None => {}
        }
        let out = build
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo build of the examples failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(dir)
    });
    let dir = dir.as_ref().unwrap_or_else(|e| panic!("{e}"));
    let path: PathBuf = dir.join(format!("examples/{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is missing", path.display());
    Command::new(path)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `sub` and gives it time to subscribe (it prints nothing until a
/// message comes, so the broker's log tells when the SUBACK went out).
fn start_sub(broker: &Broker, args: &[&str]) -> std::process::Child {
    let child = example("sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    broker
        .wait_for_event("sub's SUBACK", |e| {
            matches!(
                e,
                mqtt_tether::testing::BrokerEvent::PacketOut {
                    packet: mqtt_tether::packet::Packet::SubAck(_),
                    ..
                }
            )
        })
        .unwrap();
    child
}

#[test]
fn pub_count_reaches_sub_count_with_topics() {
    let broker = Broker::start().unwrap();
    let sub = start_sub(
        &broker,
        &["-t", "x/#", "-q", "1", "-C", "3", "-v", "-W", "20"],
    );
    let out = example("pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "x/y", "-m", "msg {n}", "--count", "3", "-q", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sub.wait_with_output().unwrap();
    assert!(got.status.success());
    assert_eq!(text(&got), "x/y msg 0\nx/y msg 1\nx/y msg 2\n");
}

#[test]
fn sub_exits_27_when_w_expires_before_c() {
    let broker = Broker::start().unwrap();
    let out = example("sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "nothing", "-C", "1", "-W", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(27));
}

#[test]
fn pub_lines_from_stdin_at_qos2_and_an_empty_message() {
    let broker = Broker::start().unwrap();
    let sub = start_sub(&broker, &["-t", "l", "-q", "2", "-C", "3", "-W", "20"]);
    let mut publisher = example("pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "l", "-l", "-q", "2", "-V", "5"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    publisher
        .stdin
        .take()
        .unwrap()
        .write_all(b"first\nsecond\n")
        .unwrap();
    assert!(publisher.wait().unwrap().success());
    let empty = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port().to_string(),
            "-t",
            "l",
            "-n",
        ])
        .output()
        .unwrap();
    assert!(empty.status.success());
    assert_eq!(text(&sub.wait_with_output().unwrap()), "first\nsecond\n\n");
}

#[test]
fn pub_fails_when_the_broker_refuses_or_is_absent() {
    let broker = Broker::start_with(
        mqtt_tether::testing::BrokerConfig::default().with_credentials("u", "p"),
    )
    .unwrap();
    let port = broker.port().to_string();
    let refused = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "t",
            "-m",
            "x",
            "-u",
            "u",
            "-P",
            "bad",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Not authorized"));
    let ok = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "t",
            "-m",
            "x",
            "-u",
            "u",
            "-P",
            "p",
            "-q",
            "1",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    drop(broker);
    let absent = example("pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "t", "-m", "x"])
        .output()
        .unwrap();
    assert_eq!(absent.status.code(), Some(1));
}

#[test]
fn the_examples_interoperate_with_mosquittos_tools() {
    let (Some(mpub), Some(msub)) = (
        require_program("mosquitto_pub"),
        require_program("mosquitto_sub"),
    ) else {
        return;
    };
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    // mosquitto_pub -> our sub.
    let sub = start_sub(&broker, &["-t", "i/#", "-C", "1", "-v", "-W", "20"]);
    let status = Command::new(&mpub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "i/a",
            "-m",
            "from mosquitto",
            "-q",
            "1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        text(&sub.wait_with_output().unwrap()),
        "i/a from mosquitto\n"
    );
    // Our pub -> mosquitto_sub (persistent session, message sent while away).
    let first = Command::new(&msub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            "-i",
            "msub",
            "-q",
            "1",
            "-t",
            "j",
            "-E",
        ])
        .output()
        .unwrap();
    assert!(first.status.success());
    let out = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "j",
            "-m",
            "while away",
            "-q",
            "1",
            "-c",
            "-i",
            "ourpub",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = Command::new(&msub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            "-i",
            "msub",
            "-q",
            "1",
            "-t",
            "j",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&second), "while away\n");
}
