//! Finding the external programs some tests need (`mosquitto`,
//! `mosquitto_pub`, ...), the one rule for when one is missing, and waiting
//! for child processes without ever waiting forever.
//!
//! The rule: a missing program skips the test with one line on stderr, so a
//! developer without Mosquitto can still run the suite; but when `CI` is set,
//! it fails the test, so CI can never pass by skipping everything.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::net::deadline_after;
use super::{Error, Result};

/// Where programs are looked for after `PATH`: Debian installs `mosquitto` in
/// /usr/sbin, which is not on every user's `PATH`.
const EXTRA_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// What a test that needs a program should do, from [`test_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestAction {
    /// The program is installed: run the test.
    Run,
    /// The program is missing outside CI: skip the test with one line on stderr.
    Skip,
    /// The program is missing on CI: fail the test.
    Fail,
}

/// The rule for a test that needs a program: run it if the program is
/// `installed`; otherwise fail when `ci` (the value of the `CI` environment
/// variable) says this is CI, and skip when it does not.
///
/// `ci` counts as CI when it is set to anything but an empty string, `0`,
/// `false` or `no` (case-insensitive): CI services set `CI=true` or `CI=1`.
pub fn test_action(installed: bool, ci: Option<&str>) -> TestAction {
    let on_ci = ci.is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "false" | "no")
    });
    match (installed, on_ci) {
        (true, _) => TestAction::Run,
        (false, true) => TestAction::Fail,
        (false, false) => TestAction::Skip,
    }
}

/// The path of the program `name`, looked for on `PATH` and then in /usr/sbin,
/// /usr/local/sbin, /usr/local/bin, /usr/bin, /sbin and /bin. A `name` with a
/// path separator is taken as a path. `None` if there is no such executable.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(&file))
        .find(|path| is_executable(path))
}

/// The path of the program `name` for a test that needs it (see
/// [`find_program`]). If it is missing: with `CI` set this panics with an
/// install hint; otherwise it prints one `SKIP <test>: ...` line to stderr and
/// returns `None`, and the test should return early.
pub fn require_program(name: &str) -> Option<PathBuf> {
    let found = find_program(name);
    if found.is_none() {
        skip_or_fail(name);
    }
    found
}

/// Applies the rule for the missing program `name`: panics on CI, else prints
/// the skip line.
pub(crate) fn skip_or_fail(name: &str) {
    let ci = std::env::var("CI").ok();
    let hint = install_hint(name);
    match test_action(false, ci.as_deref()) {
        TestAction::Run => {}
        TestAction::Fail => panic!(
            "{name} is not installed, and CI={}: install it ({hint})",
            ci.unwrap_or_default()
        ),
        TestAction::Skip => {
            let thread = std::thread::current();
            // The test harness names each test's thread after the test.
            let test = thread.name().filter(|n| *n != "main").unwrap_or("test");
            // Straight to the stderr handle rather than `eprintln!`, which the
            // test harness captures and hides for passing tests: a skip must
            // be seen.
            let _ = writeln!(
                io::stderr().lock(),
                "SKIP {test}: {name} is not installed ({hint})"
            );
        }
    }
}

/// How to install `name`.
fn install_hint(name: &str) -> String {
    match name {
        "mosquitto" | "mosquitto_pub" | "mosquitto_sub" | "mosquitto_passwd" => {
            "apt-get install -y mosquitto mosquitto-clients".to_string()
        }
        "paho-mqtt" => format!(
            "`.ci/run` installs it, or: python3 -m venv {venv} && \
             {venv}/bin/pip install paho-mqtt==2.2.0",
            venv = super::python::PAHO_VENV
        ),
        "amqtt" => format!(
            "`.ci/run` installs it, or: python3 -m venv {venv} && \
             {venv}/bin/pip install amqtt=={version}",
            venv = super::python::PAHO_VENV,
            version = super::amqtt::AMQTT_VERSION
        ),
        _ => format!("put `{name}` on PATH"),
    }
}

#[cfg(unix)]
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
pub(crate) fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    // std has no timed wait; a short poll is simple and never on a hot path.
    let deadline = deadline_after(timeout);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `command` to completion within `timeout` (killing it after), and
/// fails with its stderr unless it exits with success.
pub(crate) fn run(command: &mut Command, timeout: Duration) -> Result<()> {
    let what = format!("{command:?}");
    // stderr is piped and read after the exit: the programs run here write a
    // line at most, far below the pipe's buffer.
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Startup(format!("could not run {what}: {e}")))?;
    let Some(status) = wait_timeout(&mut child, timeout)? else {
        let _ = child.kill();
        let _ = wait_timeout(&mut child, timeout);
        return Err(Error::Timeout {
            waiting_for: format!("{what} to exit"),
            after: timeout,
            received: String::new(),
        });
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Err(Error::Startup(format!(
        "{what} failed ({status}): {}",
        stderr.trim()
    )))
}

/// Asks the process `pid` to terminate (SIGTERM) through the shell's builtin
/// `kill`: the crate forbids unsafe code, so no `libc::kill`, and the `kill`
/// program (procps) is missing from minimal systems, while `sh` is not.
pub(crate) fn sigterm(pid: u32, timeout: Duration) -> Result<()> {
    run(&mut sigterm_command(pid)?, timeout)
}

/// The command [`sigterm`] runs. The pid goes in as an argument, not as part
/// of the script, so nothing is ever parsed by the shell but the script.
fn sigterm_command(pid: u32) -> Result<Command> {
    let sh = find_program("sh").ok_or_else(|| Error::NotInstalled {
        program: "sh".into(),
    })?;
    let mut command = Command::new(sh);
    command.args(["-c", "kill -TERM \"$1\"", "sh", &pid.to_string()]);
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_program_runs_whatever_ci_says() {
        for ci in [None, Some("true"), Some("false"), Some("")] {
            assert_eq!(test_action(true, ci), TestAction::Run, "CI={ci:?}");
        }
    }

    #[test]
    fn a_missing_program_fails_on_ci() {
        for ci in ["true", "TRUE", "1", "yes", "github"] {
            assert_eq!(test_action(false, Some(ci)), TestAction::Fail, "CI={ci}");
        }
    }

    #[test]
    fn a_missing_program_skips_elsewhere() {
        for ci in [None, Some(""), Some("false"), Some("0"), Some("No")] {
            assert_eq!(test_action(false, ci), TestAction::Skip, "CI={ci:?}");
        }
    }

    #[test]
    fn finds_a_program_on_path_and_not_a_made_up_one() {
        // `sh` is on every unix system the kit runs on.
        #[cfg(unix)]
        assert!(find_program("sh").is_some());
        assert_eq!(find_program("mqtt-tether-no-such-program"), None);
        assert_eq!(find_program("/nonexistent/mqtt-tether"), None);
    }

    #[cfg(unix)]
    fn sleeper() -> Child {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn sigterm_terminates_a_process() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = sleeper();
        sigterm(child.id(), Duration::from_secs(5)).unwrap();
        let status = wait_timeout(&mut child, Duration::from_secs(5)).unwrap();
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(status.and_then(|s| s.signal()), Some(15), "{status:?}");
    }

    /// The `kill` program may be missing (minimal Debian has no procps): the
    /// signal must go through the shell's builtin, which works with an empty
    /// `PATH`, where no program can be found.
    #[cfg(unix)]
    #[test]
    fn sigterm_needs_no_kill_program() {
        use std::os::unix::process::ExitStatusExt;
        let empty = crate::testing::temp_dir::TempDir::new("no-programs").unwrap();
        let mut child = sleeper();
        let mut command = sigterm_command(child.id()).unwrap();
        command.env("PATH", empty.path());
        let sent = run(&mut command, Duration::from_secs(5));
        let status = wait_timeout(&mut child, Duration::from_secs(5)).unwrap();
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        sent.unwrap();
        assert_eq!(status.and_then(|s| s.signal()), Some(15), "{status:?}");
    }

    #[cfg(unix)]
    #[test]
    fn wait_timeout_takes_a_huge_timeout() {
        // `Instant::now() + Duration::MAX` would panic before the first poll.
        let mut child = Command::new("true").spawn().unwrap();
        let status = wait_timeout(&mut child, Duration::MAX).unwrap();
        assert!(status.is_some_and(|s| s.success()));
    }

    #[test]
    fn the_paho_hint_names_the_virtual_environment_the_tests_look_in() {
        assert!(install_hint("paho-mqtt").contains("python3 -m venv target/paho-venv"));
    }

    #[test]
    fn the_amqtt_hint_names_the_virtual_environment_and_the_version_ci_pins() {
        assert_eq!(
            install_hint("amqtt"),
            "`.ci/run` installs it, or: python3 -m venv target/paho-venv && \
             target/paho-venv/bin/pip install amqtt==0.12.1"
        );
    }

    #[test]
    fn the_hint_names_the_debian_packages() {
        assert_eq!(
            install_hint("mosquitto_pub"),
            "apt-get install -y mosquitto mosquitto-clients"
        );
    }
}
