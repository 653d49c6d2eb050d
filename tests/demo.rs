//! The README's first command, `cargo run --features testing --example
//! demo`, run as a process: two broker restarts, nothing lost.
#![cfg(feature = "testing")]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_demo_loses_nothing_across_two_broker_restarts() {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path: PathBuf = dir.join(format!("examples/demo{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is missing", path.display());
    let out = Command::new(path).env_remove("MQTT_HOST").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("== broker stops ==").count(), 2, "{stdout}");
    assert!(
        stdout.contains("waiting 0.100 s before reconnecting"),
        "{stdout}"
    );
    assert!(stdout.contains("session present: true"), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sent 300, received 300, lost 0, duplicates "),
        "{stdout}"
    );
}
