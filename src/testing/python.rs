//! Finding a Python that has the Paho client (`paho-mqtt`), for the tests
//! and benchmarks that use Paho as an outside witness, and the programs
//! installed beside it (the `amqtt` broker).
//!
//! Debian 12's system Python refuses `pip install` outside a virtual
//! environment (PEP 668), so `.ci/run` installs Paho and amqtt into one, at
//! `target/paho-venv` in the crate's directory, and the tests look there
//! without being told. A missing Paho or amqtt follows the same rule as a
//! missing Mosquitto ([`test_action`](super::test_action)): skip with one
//! line outside CI, fail on CI.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The environment variable naming the Python to use; when set, it is the
/// only one tried.
pub const PYTHON_VAR: &str = "MQTT_TETHER_PYTHON";

/// Where `.ci/run` puts its virtual environment, relative to the crate's
/// directory.
pub const PAHO_VENV: &str = "target/paho-venv";

/// The Python interpreter that can `import paho.mqtt.client`, or `None`.
///
/// Tried in order: the interpreter named by `MQTT_TETHER_PYTHON` (and no
/// other when it is set); `target/paho-venv/bin/python3` under
/// `CARGO_MANIFEST_DIR` (set by `cargo test` and `cargo run`); `python3` and
/// `python` on `PATH`. The answer is computed once per process.
pub fn find_paho_python() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| candidates().into_iter().find(imports_paho))
        .clone()
}

/// The Python with Paho for a test that needs it (see [`find_paho_python`]).
/// If there is none: with `CI` set this panics with an install hint;
/// otherwise it prints one `SKIP <test>: ...` line to stderr and returns
/// `None`, and the test should return early.
pub fn require_paho_python() -> Option<PathBuf> {
    let found = find_paho_python();
    if found.is_none() {
        super::programs::skip_or_fail("paho-mqtt");
    }
    found
}

/// The program `name` (such as `amqtt`) installed in a virtual environment,
/// or `None`.
///
/// Looked for in the directory of the Python named by `MQTT_TETHER_PYTHON`
/// when it is set, else in `target/paho-venv` under `CARGO_MANIFEST_DIR`;
/// then, like [`find_program`](super::find_program), on `PATH`.
pub fn find_venv_program(name: &str) -> Option<PathBuf> {
    venv_script_dirs()
        .into_iter()
        .map(|dir| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .find(|path| super::programs::is_executable(path))
        .or_else(|| super::programs::find_program(name))
}

fn candidates() -> Vec<PathBuf> {
    if let Some(named) = named_python() {
        return vec![named];
    }
    let mut list: Vec<PathBuf> = venv_script_dirs()
        .into_iter()
        .map(|dir| {
            // Windows' venvs have `Scripts\python.exe`, no `python3`.
            let python = if dir.ends_with("Scripts") {
                "python.exe"
            } else {
                "python3"
            };
            dir.join(python)
        })
        .collect();
    list.extend(["python3", "python"].map(PathBuf::from));
    list
}

fn named_python() -> Option<PathBuf> {
    std::env::var_os(PYTHON_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where a virtual environment keeps its programs: beside the named Python
/// when there is one, else the `bin` (or, on Windows, `Scripts`) directory
/// of `target/paho-venv`.
fn venv_script_dirs() -> Vec<PathBuf> {
    if let Some(named) = named_python() {
        return named.parent().map(PathBuf::from).into_iter().collect();
    }
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return Vec::new();
    };
    let venv = PathBuf::from(dir).join(PAHO_VENV);
    vec![venv.join("bin"), venv.join("Scripts")]
}

fn imports_paho(python: &PathBuf) -> bool {
    Command::new(python)
        .args(["-c", "import paho.mqtt.client"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_without_paho_is_not_taken() {
        assert!(!imports_paho(&PathBuf::from("/nonexistent/python3")));
        #[cfg(unix)]
        assert!(!imports_paho(&PathBuf::from("false")));
    }

    #[test]
    fn a_program_missing_from_the_venv_and_path_is_not_found() {
        assert_eq!(find_venv_program("mqtt-tether-no-such-program"), None);
    }

    /// Programs on `PATH` count too: an amqtt installed with `pipx` or a
    /// user's own venv on `PATH` is used.
    #[cfg(unix)]
    #[test]
    fn a_program_on_path_is_found() {
        assert!(find_venv_program("sh").is_some());
    }
}
