//! Log lines reach the `log` crate without `enable_logger()`, as Rust
//! libraries log: the application's logger filters them. `disable_logger()`
//! is the switch that stops one client's lines. (A test binary of its own:
//! the logger is the process's.)
#![cfg(feature = "testing")]

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::clients::client;
use common::scripted::connected;
use mqtt_tether::testing::ScriptedBroker;

/// Keeps every record of the crate's target, with the client id it names.
struct Recorder(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "mqtt_tether"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), line));
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

fn lines_with(text: &str) -> Vec<(log::Level, String)> {
    RECORDER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| line.contains(text))
        .cloned()
        .collect()
}

#[test]
fn lines_reach_the_log_crate_without_enable_logger_until_disable_logger() {
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);

    let broker = ScriptedBroker::bind().unwrap();
    // No on_log and no enable_logger(): only the logger listens.
    let c = client("logged-by-default");
    let mut conn = connected(&c, &broker);
    let _ = c.publish("logged/a", "x", 0, false).unwrap();
    conn.expect_bytes(&common::hex("30 0b 00 08 6c 6f 67 67 65 64 2f 61 78"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines_with("\"logged/a\"").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = lines_with("Sending PUBLISH");
    assert_eq!(
        sent,
        [(
            log::Level::Debug,
            "Sending PUBLISH (d0, q0, r0, m0) \"logged/a\", 1 bytes".to_string()
        )]
    );
    assert!(
        !lines_with("Sending CONNECT").is_empty(),
        "{:?}",
        RECORDER.0.lock().unwrap()
    );

    // disable_logger() is the one switch: nothing more from this client.
    c.disable_logger();
    let _ = c.publish("quiet/b", "x", 0, false).unwrap();
    conn.expect_bytes(&common::hex("30 0a 00 07 71 75 69 65 74 2f 62 78"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lines_with("quiet/b"), []);

    // enable_logger() turns it back on.
    c.enable_logger();
    let _ = c.publish("again/c", "x", 0, false).unwrap();
    conn.expect_bytes(&common::hex("30 0a 00 07 61 67 61 69 6e 2f 63 78"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines_with("again/c").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(lines_with("again/c").len(), 1);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}
