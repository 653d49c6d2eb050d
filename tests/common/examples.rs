//! Building the examples for the tests that run them as processes
//! (`examples_cli`, `examples_paho`, `paho_compare`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any one process may take before the test kills it and fails.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// The examples [`example`] builds (all at once, on its first call).
pub const EXAMPLES: &[&str] = &[
    "pub",
    "sub",
    "paho_sub",
    "paho_pub_wait",
    "paho_multiple_callbacks",
    "paho_session_present",
    "paho_logger",
    "paho_manual_ack",
    "paho_mqtt5",
    "paho_loop_select",
    "compare_pub_wait",
    "compare_sub",
    "compare_session",
    "persist_publisher",
];

/// A built example. `cargo test` builds the examples only when it runs
/// every target, so with `--test examples_cli` (or `examples_paho`) alone
/// they would be missing or stale: the first call builds every one of
/// [`EXAMPLES`] with the cargo running this test (a no-op when they are
/// fresh), with this test's features, into the same profile directory.
pub fn example(name: &str) -> Command {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile dir>/deps/<test>-<hash>
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
        build.arg("build");
        for name in EXAMPLES {
            build.args(["--example", name]);
        }
        build.args([
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ]);
        // The same features as this test, so the library is not built twice.
        let features: Vec<&str> = [
            ("testing", cfg!(feature = "testing")),
            ("tls", cfg!(feature = "tls")),
            ("tls-aws-lc-rs", cfg!(feature = "tls-aws-lc-rs")),
            ("rustls", cfg!(feature = "rustls")),
            ("native-tls", cfg!(feature = "native-tls")),
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

/// Runs `command` to its end (killing it after [`WATCHDOG`]), asserts
/// exit status 0 and returns its standard output.
pub fn run(mut command: Command, what: &str) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Read both pipes on threads of their own, so a full pipe never blocks
    // the example.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (out.join().unwrap(), err.join().unwrap());
            panic!("{what} did not exit within {WATCHDOG:?}\nstdout:\n{out}\nstderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "{what} failed with {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// A program started by a test, killed when dropped: a failing test must
/// not leave one running (it would hold the test's output pipe open).
pub struct KilledOnDrop(pub std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
