//! What the launchers of real brokers ([`Mosquitto`](super::Mosquitto),
//! [`Amqtt`](super::Amqtt)) share: a child process on a free loopback port,
//! started from a generated configuration in a temporary directory, judged
//! ready by its log and a connect, restartable on the same port, killed on
//! drop, with its log kept for failure messages.
//!
//! Known limitation: the process is killed by the drop, so if the test
//! process itself dies without unwinding (SIGKILL, `std::process::abort`, a
//! panic with `panic = "abort"`), the broker keeps running and its temporary
//! directory stays behind. The kit has no safe way to tie a child's life to
//! its parent's (that needs `prctl`, and the crate forbids unsafe code);
//! such a stray broker holds only a loopback port nobody else was given.

use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::deadline_after;
use super::programs::{sigterm, wait_timeout};
use super::temp_dir::TempDir;
use super::{Endpoint, Error, Result, DEFAULT_TIMEOUT};

/// How many fresh ports a first start tries: another process may take the
/// port between our probe releasing it and the broker binding it.
const PORT_ATTEMPTS: usize = 5;
/// How long one readiness probe waits for the TCP handshake.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// The broker's stdout and stderr: errors before its own log file opens
/// (such as a bad configuration line) only appear here.
const CONSOLE_FILE: &str = "console.log";

/// What differs between the brokers the kit launches.
#[derive(Debug)]
pub(crate) struct Flavor {
    /// The program's name, for messages.
    pub name: &'static str,
    /// The configuration file's name in the temporary directory.
    pub config_file: &'static str,
    /// The log file the broker writes itself, if any; without one, its
    /// console output is its log.
    pub log_file: Option<&'static str>,
    /// The arguments, given the configuration file's path.
    pub args: fn(&Path) -> Vec<OsString>,
    /// Whether the log of one start says the listener is open.
    pub ready: fn(&str) -> bool,
    /// Whether the log of one start says that start failed; a broker that
    /// exits on failure needs no such line (the exit says it).
    pub failed: fn(&str) -> bool,
    /// Whether the log of one start says the port was taken.
    pub port_taken: fn(&str) -> bool,
}

/// A running broker process (see the module docs).
#[derive(Debug)]
pub(crate) struct BrokerProcess {
    flavor: &'static Flavor,
    program: PathBuf,
    dir: TempDir,
    port: u16,
    config_text: String,
    child: Option<Child>,
    timeout: Duration,
    /// The log file's length when the last launch began.
    log_start: u64,
}

impl BrokerProcess {
    /// Starts `program` on a free port of 127.0.0.1, with the configuration
    /// `render` makes for that port (given the port and the directory), and
    /// waits (up to [`DEFAULT_TIMEOUT`]) until it accepts connections.
    pub fn start(
        flavor: &'static Flavor,
        program: PathBuf,
        dir: TempDir,
        mut render: impl FnMut(u16, &Path) -> String,
    ) -> Result<BrokerProcess> {
        let mut broker = BrokerProcess {
            flavor,
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
            broker.port = free_port()?;
            broker.config_text = render(broker.port, broker.dir.path());
            std::fs::write(broker.config_path(), &broker.config_text)?;
            match broker.launch() {
                Ok(()) => return Ok(broker),
                // Someone took the port: try another.
                Err(e) if broker.port_was_taken() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Startup(format!("{} did not start", flavor.name))))
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Tcp(self.addr())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_text(&self) -> &str {
        &self.config_text
    }

    /// The log so far (every start), followed by the console output if the
    /// broker has a log file of its own and wrote anything else.
    pub fn log(&self) -> String {
        let console = std::fs::read_to_string(self.dir().join(CONSOLE_FILE)).unwrap_or_default();
        let Some(log_file) = self.flavor.log_file else {
            return console;
        };
        let mut text = std::fs::read_to_string(self.dir().join(log_file)).unwrap_or_default();
        if !console.trim().is_empty() {
            text.push_str("--- console ---\n");
            text.push_str(&console);
        }
        text
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within the timeout. Does
    /// nothing if it is not running. Fails if the SIGTERM could not be sent
    /// (it is then killed anyway).
    pub fn stop(&mut self) -> Result<()> {
        self.stop_with(sigterm)
    }

    /// [`stop`](Self::stop) with the way of sending SIGTERM passed in, so a
    /// test can make it fail.
    fn stop_with(&mut self, send_term: impl FnOnce(u32, Duration) -> Result<()>) -> Result<()> {
        let name = self.flavor.name;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Err(e) = send_term(child.id(), self.timeout) {
            log::warn!(
                "{name} on port {}: could not send SIGTERM ({e}): killing it",
                self.port
            );
            // Never leave it running, but report that the stop was no
            // graceful one.
            let _ = kill_child(name, &mut child, self.timeout);
            return Err(Error::Startup(format!(
                "could not stop {name} on port {} gracefully (SIGTERM failed: {e}); it was killed",
                self.port
            )));
        }
        if wait_timeout(&mut child, self.timeout)?.is_some() {
            return Ok(());
        }
        log::warn!(
            "{name} on port {} did not exit on SIGTERM: killing it",
            self.port
        );
        kill_child(name, &mut child, self.timeout)
    }

    /// SIGKILL at once. Does nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        match self.child.take() {
            Some(mut child) => kill_child(self.flavor.name, &mut child, self.timeout),
            None => Ok(()),
        }
    }

    /// [`stop`](Self::stop) if it runs, then starts it again with the same
    /// configuration on the same port, waiting until it accepts connections.
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
        self.dir().join(self.flavor.config_file)
    }

    fn log_path(&self) -> PathBuf {
        self.dir()
            .join(self.flavor.log_file.unwrap_or(CONSOLE_FILE))
    }

    /// Spawns the process and waits until it accepts connections.
    fn launch(&mut self) -> Result<()> {
        // The log is appended to on every start; readiness and failures are
        // judged on what this start writes.
        self.log_start = std::fs::metadata(self.log_path()).map_or(0, |m| m.len());
        let console = File::options()
            .create(true)
            .append(true)
            .open(self.dir().join(CONSOLE_FILE))?;
        let mut child = Command::new(&self.program)
            .args((self.flavor.args)(&self.config_path()))
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
                let _ = kill_child(self.flavor.name, &mut child, self.timeout);
                Err(e)
            }
        }
    }

    /// Waits until `child` has logged that its listener is open and accepts
    /// a connection.
    fn wait_ready(&self, child: &mut Child) -> Result<()> {
        let deadline = deadline_after(self.timeout);
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(self.startup_error(&format!("exited with {status}")));
            }
            let log = self.this_start_log();
            if (self.flavor.failed)(&log) {
                return Err(self.startup_error("failed to start"));
            }
            // The line comes once the listener is open; the connect then
            // proves the port answers (and the broker, not someone else,
            // holds it: it says so in the log when it cannot bind).
            if (self.flavor.ready)(&log)
                && TcpStream::connect_timeout(&self.addr(), PROBE_TIMEOUT).is_ok()
            {
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
        let bytes = std::fs::read(self.log_path()).unwrap_or_default();
        let start = usize::try_from(self.log_start).map_or(0, |s| s.min(bytes.len()));
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    fn port_was_taken(&self) -> bool {
        (self.flavor.port_taken)(&self.this_start_log())
    }

    fn startup_error(&self, what: &str) -> Error {
        Error::Startup(format!(
            "{} on 127.0.0.1:{} {what}\n--- config ---\n{}--- log ---\n{}",
            self.flavor.name,
            self.port,
            self.config_text,
            self.log()
        ))
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn kill_child(name: &str, child: &mut Child, timeout: Duration) -> Result<()> {
    // Fails only if it has already exited, which is what we want anyway.
    let _ = child.kill();
    match wait_timeout(child, timeout)? {
        Some(_) => Ok(()),
        None => Err(Error::Timeout {
            waiting_for: format!("{name} (pid {}) to die", child.id()),
            after: timeout,
            received: String::new(),
        }),
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    static SLEEP: Flavor = Flavor {
        name: "sleep",
        config_file: "unused.conf",
        log_file: None,
        args: |_| vec!["30".into()],
        ready: |_| true,
        failed: |_| false,
        port_taken: |_| false,
    };

    /// A process that is `sleep 30`: enough for stop and drop, and runs
    /// where no broker is installed.
    fn sleeping() -> BrokerProcess {
        let child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        BrokerProcess {
            flavor: &SLEEP,
            program: PathBuf::from("sleep"),
            dir: TempDir::new("broker-process-unit").unwrap(),
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

    /// A broker that stays up after failing to start (amqtt logs "Broker
    /// startup failed" and keeps its event loop running) is not waited on
    /// until the timeout, and is killed.
    #[test]
    fn a_start_the_log_calls_failed_ends_at_once_and_is_killed() {
        static FAILING: Flavor = Flavor {
            name: "failing",
            config_file: "failing.conf",
            log_file: None,
            // The shell logs the failure to its console and sleeps on.
            args: |_| {
                ["-c", "echo 'startup failed' >&2; exec sleep 30"]
                    .map(OsString::from)
                    .to_vec()
            },
            ready: |_| false,
            failed: |log| log.contains("startup failed"),
            port_taken: |_| false,
        };
        let started = Instant::now();
        let dir = TempDir::new("broker-process-failing").unwrap();
        let err = BrokerProcess::start(&FAILING, PathBuf::from("sh"), dir, |_, _| String::new())
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("failing on 127.0.0.1:"), "{text}");
        assert!(text.contains("failed to start"), "{text}");
        assert!(
            text.contains("startup failed"),
            "the log is in the error: {text}"
        );
        assert!(
            started.elapsed() < DEFAULT_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }
}
