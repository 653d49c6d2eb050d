//! Runs the real `mosquitto` for a test: on a free loopback port, from a
//! generated configuration in a temporary directory, restartable on the same
//! port, killed on drop.
//!
//! Known limitation: the process is killed by the drop, so if the test
//! process itself dies without unwinding (SIGKILL, `std::process::abort`, a
//! panic with `panic = "abort"`), Mosquitto keeps running and its temporary
//! directory stays behind. The kit has no safe way to tie a child's life to
//! its parent's (that needs `prctl`, and the crate forbids unsafe code);
//! such a stray Mosquitto holds only a loopback port nobody else was given.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::deadline_after;
use super::programs::{self, find_program, sigterm, wait_timeout};
use super::temp_dir::TempDir;
use super::{Endpoint, Error, MosquittoConfig, Result, DEFAULT_TIMEOUT};

/// How many fresh ports a first start tries: another process may take the
/// port between our probe releasing it and Mosquitto binding it.
const PORT_ATTEMPTS: usize = 5;
/// How long one readiness probe waits for the TCP handshake.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
const LOG_FILE: &str = "mosquitto.log";
/// Mosquitto's stdout and stderr: errors before the log file opens (such as
/// a bad configuration line) only appear here.
const CONSOLE_FILE: &str = "console.log";

/// A running `mosquitto` (see the [module docs](super)).
///
/// Start one with [`Mosquitto::start_or_skip`] in tests (which skips the test
/// when Mosquitto is not installed, except on CI), or [`Mosquitto::start`].
/// Dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct Mosquitto {
    program: PathBuf,
    dir: TempDir,
    port: u16,
    config_text: String,
    child: Option<Child>,
    timeout: Duration,
    /// The log file's length when the last launch began.
    log_start: u64,
}

impl Mosquitto {
    /// Starts Mosquitto with `config` for a test, or skips the test.
    ///
    /// If `mosquitto` (or `mosquitto_passwd`, for a config with users) is not
    /// installed: with the `CI` environment variable set this panics; otherwise
    /// it prints `SKIP <test>: mosquitto is not installed (...)` to stderr and
    /// returns `None`, and the test should return. Any other failure to start
    /// panics with Mosquitto's log.
    pub fn start_or_skip(config: MosquittoConfig) -> Option<Mosquitto> {
        match Mosquitto::start(config) {
            Ok(m) => Some(m),
            Err(Error::NotInstalled { program }) => {
                programs::skip_or_fail(&program);
                None
            }
            Err(e) => panic!("could not start mosquitto: {e}"),
        }
    }

    /// Starts Mosquitto with `config` on a free port of 127.0.0.1 and waits
    /// (up to [`DEFAULT_TIMEOUT`]) until it accepts connections.
    ///
    /// Fails with [`Error::NotInstalled`] if `mosquitto` (or
    /// `mosquitto_passwd`, needed for users) is missing, and with
    /// [`Error::Startup`] carrying Mosquitto's log if it does not come up.
    pub fn start(config: MosquittoConfig) -> Result<Mosquitto> {
        let not_installed = |program: &str| Error::NotInstalled {
            program: program.into(),
        };
        let program = find_program("mosquitto").ok_or_else(|| not_installed("mosquitto"))?;
        let dir = TempDir::new("mosquitto")?;
        let password_file = if config.users().is_empty() {
            None
        } else {
            let passwd = find_program("mosquitto_passwd")
                .ok_or_else(|| not_installed("mosquitto_passwd"))?;
            Some(write_password_file(&passwd, dir.path(), config.users())?)
        };
        let mut mosquitto = Mosquitto {
            program,
            dir,
            port: 0,
            config_text: String::new(),
            child: None,
            timeout: DEFAULT_TIMEOUT,
            log_start: 0,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            mosquitto.port = free_port()?;
            mosquitto.config_text = config.render(
                mosquitto.port,
                mosquitto.dir.path(),
                password_file.as_deref(),
            );
            std::fs::write(mosquitto.config_path(), &mosquitto.config_text)?;
            match mosquitto.launch() {
                Ok(()) => return Ok(mosquitto),
                // Someone took the port: try another.
                Err(e) if mosquitto.port_was_taken() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Startup("mosquitto did not start".into())))
    }

    /// Sets how long later steps ([`stop`](Self::stop),
    /// [`restart`](Self::restart), drop) wait (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The TCP port on 127.0.0.1. It stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The listener as a kit [`Endpoint`].
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Tcp(self.addr())
    }

    /// The temporary directory with the configuration, log, password and
    /// persistence files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated `mosquitto.conf`.
    pub fn config_text(&self) -> &str {
        &self.config_text
    }

    /// Mosquitto's log so far (every start, `log_type all`), followed by its
    /// console output if there was any: for failure messages.
    pub fn log(&self) -> String {
        let mut text = std::fs::read_to_string(self.dir().join(LOG_FILE)).unwrap_or_default();
        let console = std::fs::read_to_string(self.dir().join(CONSOLE_FILE)).unwrap_or_default();
        if !console.trim().is_empty() {
            text.push_str("--- console ---\n");
            text.push_str(&console);
        }
        text
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (it may have exited by itself).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops Mosquitto gracefully: SIGTERM, so that it saves its persistence
    /// file, then SIGKILL if it has not exited within the timeout. Does
    /// nothing if it is not running.
    ///
    /// Fails if the SIGTERM could not be sent (Mosquitto is then killed
    /// anyway, so nothing was saved: a test relying on persistence must not
    /// go on as if it had been).
    pub fn stop(&mut self) -> Result<()> {
        self.stop_with(sigterm)
    }

    /// [`stop`](Self::stop) with the way of sending SIGTERM passed in, so a
    /// test can make it fail.
    fn stop_with(&mut self, send_term: impl FnOnce(u32, Duration) -> Result<()>) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Err(e) = send_term(child.id(), self.timeout) {
            log::warn!(
                "mosquitto on port {}: could not send SIGTERM ({e}): killing it",
                self.port
            );
            // Never leave it running, but report that the stop was no
            // graceful one.
            let _ = kill_child(&mut child, self.timeout);
            return Err(Error::Startup(format!(
                "could not stop mosquitto on port {} gracefully (SIGTERM failed: {e}); it was killed",
                self.port
            )));
        }
        if wait_timeout(&mut child, self.timeout)?.is_some() {
            return Ok(());
        }
        log::warn!(
            "mosquitto on port {} did not exit on SIGTERM: killing it",
            self.port
        );
        kill_child(&mut child, self.timeout)
    }

    /// Kills Mosquitto at once (SIGKILL): like a crash, nothing is saved. Does
    /// nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        match self.child.take() {
            Some(mut child) => kill_child(&mut child, self.timeout),
            None => Ok(()),
        }
    }

    /// Stops Mosquitto gracefully (see [`stop`](Self::stop)) if it runs, and
    /// starts it again with the same configuration on the same port, waiting
    /// until it accepts connections.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let deadline = deadline_after(self.timeout);
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                // The port must stay the same, so wait for whoever holds it.
                Err(_) if self.port_was_taken() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir().join("mosquitto.conf")
    }

    /// Spawns the process and waits until it accepts connections.
    fn launch(&mut self) -> Result<()> {
        // The log is appended to on every start; readiness and failures are
        // judged on what this start writes.
        self.log_start = std::fs::metadata(self.dir().join(LOG_FILE)).map_or(0, |m| m.len());
        let console = File::options()
            .create(true)
            .append(true)
            .open(self.dir().join(CONSOLE_FILE))?;
        let mut child = Command::new(&self.program)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .spawn()
            .map_err(|e| {
                Error::Startup(format!("could not run {}: {e}", self.program.display()))
            })?;
        match self.wait_ready(&mut child) {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = kill_child(&mut child, self.timeout);
                Err(e)
            }
        }
    }

    /// Waits until `child` has logged that it runs and accepts a connection.
    fn wait_ready(&self, child: &mut Child) -> Result<()> {
        let deadline = deadline_after(self.timeout);
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(self.startup_error(&format!("exited with {status}")));
            }
            // The "running" line comes after the listener is open; the connect
            // then proves the port answers (and Mosquitto, not someone else,
            // holds it: it exits when it cannot bind).
            let running = self
                .this_start_log()
                .lines()
                .any(|l| l.ends_with(" running"));
            if running && TcpStream::connect_timeout(&self.addr(), PROBE_TIMEOUT).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.startup_error("did not accept connections in time"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log written since the last launch began.
    fn this_start_log(&self) -> String {
        let bytes = std::fs::read(self.dir().join(LOG_FILE)).unwrap_or_default();
        let start = usize::try_from(self.log_start).map_or(0, |s| s.min(bytes.len()));
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    fn port_was_taken(&self) -> bool {
        self.this_start_log().contains("Address already in use")
    }

    fn startup_error(&self, what: &str) -> Error {
        Error::Startup(format!(
            "mosquitto on 127.0.0.1:{} {what}\n--- config ---\n{}--- log ---\n{}",
            self.port,
            self.config_text,
            self.log()
        ))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn kill_child(child: &mut Child, timeout: Duration) -> Result<()> {
    // Fails only if it has already exited, which is what we want anyway.
    let _ = child.kill();
    match wait_timeout(child, timeout)? {
        Some(_) => Ok(()),
        None => Err(Error::Timeout {
            waiting_for: format!("mosquitto (pid {}) to die", child.id()),
            after: timeout,
            received: String::new(),
        }),
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Makes the password file with `mosquitto_passwd -b` (its hash format is
/// Mosquitto's own, so the kit does not write it itself).
fn write_password_file(passwd: &Path, dir: &Path, users: &[(String, String)]) -> Result<PathBuf> {
    let file = dir.join("passwd");
    for (i, (name, password)) in users.iter().enumerate() {
        let mut command = Command::new(passwd);
        // `-c` creates the file; later users are added to it.
        if i == 0 {
            command.arg("-c");
        }
        command.arg("-b").arg(&file).arg(name).arg(password);
        programs::run(&mut command, DEFAULT_TIMEOUT)?;
    }
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A `Mosquitto` whose process is `sleep 30`: enough for stop and drop,
    /// and runs where Mosquitto is not installed.
    fn sleeping() -> Mosquitto {
        let child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Mosquitto {
            program: PathBuf::from("sleep"),
            dir: TempDir::new("mosquitto-unit").unwrap(),
            port: 0,
            config_text: String::new(),
            child: Some(child),
            timeout: DEFAULT_TIMEOUT,
            log_start: 0,
        }
    }

    #[test]
    fn stop_fails_if_sigterm_cannot_be_sent_and_still_kills() {
        let mut m = sleeping();
        let err = m
            .stop_with(|_, _| {
                Err(Error::NotInstalled {
                    program: "sh".into(),
                })
            })
            .unwrap_err();
        assert!(err.to_string().contains("SIGTERM"), "{err}");
        assert!(!m.is_running());
        assert_eq!(m.pid(), None);
    }

    #[test]
    fn stop_ends_the_process_with_sigterm() {
        let mut m = sleeping();
        let mut sent = None;
        m.stop_with(|pid, timeout| {
            sent = Some(pid);
            sigterm(pid, timeout)
        })
        .unwrap();
        assert!(sent.is_some());
        assert!(!m.is_running());
    }

    /// `Duration::MAX` means "wait as long as it takes", not a panic (which
    /// in a drop during unwinding would abort the test run).
    #[test]
    fn a_huge_timeout_neither_panics_in_stop_nor_in_drop() {
        let mut m = sleeping();
        m.set_timeout(Duration::MAX);
        m.stop().unwrap();
        let mut m = sleeping();
        m.set_timeout(Duration::MAX);
        let pid = m.pid().unwrap();
        drop(m);
        // The drop killed and reaped it (checked where /proc exists).
        if Path::new("/proc/self").exists() {
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "pid {pid}");
        }
    }
}
