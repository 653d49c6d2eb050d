//! Runs the real `mosquitto` for a test: on a free loopback port, from a
//! generated configuration in a temporary directory, restartable on the same
//! port, killed on drop (the process handling is
//! [`broker_process`](super::broker_process)'s, shared with amqtt).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::broker_process::{BrokerProcess, Flavor};
use super::programs::{self, find_program};
use super::temp_dir::TempDir;
use super::{Endpoint, Error, MosquittoConfig, Result, DEFAULT_TIMEOUT};

const FLAVOR: Flavor = Flavor {
    name: "mosquitto",
    config_file: "mosquitto.conf",
    log_file: Some("mosquitto.log"),
    args: |config| vec![OsString::from("-c"), config.into()],
    // Logged after the listener is open.
    ready: |log| log.lines().any(|l| l.ends_with(" running")),
    // Mosquitto exits when it cannot start.
    failed: |_| false,
    port_taken: |log| log.contains("Address already in use"),
};

/// A running `mosquitto` (see the [module docs](super)).
///
/// Start one with [`Mosquitto::start_or_skip`] in tests (which skips the test
/// when Mosquitto is not installed, except on CI), or [`Mosquitto::start`].
/// Dropping it kills the process and removes its directory.
///
/// Known limitation: if the test process dies without unwinding (SIGKILL,
/// `std::process::abort`), Mosquitto keeps running and its directory stays
/// behind (the kit cannot tie a child's life to its parent's without unsafe
/// code); it holds only a loopback port nobody else was given.
#[derive(Debug)]
pub struct Mosquitto {
    process: BrokerProcess,
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
        let process = BrokerProcess::start(&FLAVOR, program, dir, |port, dir| {
            config.render(port, dir, password_file.as_deref())
        })?;
        Ok(Mosquitto { process })
    }

    /// Sets how long later steps ([`stop`](Self::stop),
    /// [`restart`](Self::restart), drop) wait (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.process.set_timeout(timeout);
    }

    /// The TCP port on 127.0.0.1. It stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// The listener as a kit [`Endpoint`].
    pub fn endpoint(&self) -> Endpoint {
        self.process.endpoint()
    }

    /// The temporary directory with the configuration, log, password and
    /// persistence files.
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }

    /// The generated `mosquitto.conf`.
    pub fn config_text(&self) -> &str {
        self.process.config_text()
    }

    /// Mosquitto's log so far (every start, `log_type all`), followed by its
    /// console output if there was any: for failure messages.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Whether the process is running (it may have exited by itself).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Stops Mosquitto gracefully: SIGTERM, so that it saves its persistence
    /// file, then SIGKILL if it has not exited within the timeout. Does
    /// nothing if it is not running.
    ///
    /// Fails if the SIGTERM could not be sent (Mosquitto is then killed
    /// anyway, so nothing was saved: a test relying on persistence must not
    /// go on as if it had been).
    pub fn stop(&mut self) -> Result<()> {
        self.process.stop()
    }

    /// Kills Mosquitto at once (SIGKILL): like a crash, nothing is saved. Does
    /// nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        self.process.kill()
    }

    /// Stops Mosquitto gracefully (see [`stop`](Self::stop)) if it runs, and
    /// starts it again with the same configuration on the same port, waiting
    /// until it accepts connections.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart()
    }
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
