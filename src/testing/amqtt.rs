//! Runs the `amqtt` broker (a Python MQTT 3.1.1 broker, from PyPI) for a
//! test, the way [`Mosquitto`](super::Mosquitto) runs Mosquitto: on a free
//! loopback port, from a generated YAML configuration in a temporary
//! directory, restartable on the same port, killed on drop (the process
//! handling is [`broker_process`](super::broker_process)'s).
//!
//! What amqtt 0.12.1 does differently from Mosquitto, as far as the kit
//! is concerned:
//!
//! * It keeps sessions in memory only (its persistence plugin needs
//!   `amqtt[contrib]`, which `.ci/run` does not install): a restart forgets
//!   every session, subscription and retained message.
//! * With anonymous clients allowed it marks every session anonymous, and
//!   drops an anonymous session when its client goes, whatever
//!   `clean_session` said: no persistent session without
//!   [`AmqttConfig::allow_anonymous`]`(false)` and a user name.
//! * When it cannot bind its port it logs "Broker startup failed" and keeps
//!   running without a listener; the launcher reads the log for that.
//! * Only SIGINT shuts it down in order; SIGTERM ends it at once. Nothing is
//!   saved either way, so [`Amqtt::stop`] and [`Amqtt::kill`] differ only
//!   in the signal.
//! * Its WebSocket listeners (the `websockets` library) take any request
//!   path, and refuse an upgrade that does not offer the `mqtt` subprotocol
//!   with HTTP 400 ("missing subprotocol"). With `-d` the library logs each
//!   request line and header, which is how [`Amqtt::ws_requests`] sees
//!   them.

use std::ffi::OsString;
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::broker_process::{free_port, BrokerProcess, Flavor};
use super::python::find_venv_program;
use super::temp_dir::TempDir;
use super::{programs, Endpoint, Error, Result, UpgradeRequest};

/// The amqtt version `.ci/run` installs, and the one whose behaviour the
/// kit's docs and the crate's interop tests describe.
pub const AMQTT_VERSION: &str = "0.12.1";

const FLAVOR: Flavor = Flavor {
    name: "amqtt",
    config_file: "amqtt.yaml",
    // amqtt logs to stderr only.
    log_file: None,
    // `-d`: every packet in and out is logged, for failure messages.
    args: |config| vec![OsString::from("-c"), config.into(), OsString::from("-d")],
    // Logged once every listener is open.
    ready: |log| log.lines().any(|l| l.ends_with(" - Broker started")),
    failed: |log| log.contains("Broker startup failed") || log.contains("Broker failed to start"),
    port_taken: |log| log.contains("address already in use"),
};

/// The configuration of an [`Amqtt`]: a builder whose [`Default`] is one
/// plain TCP listener on 127.0.0.1 that allows anonymous clients.
///
/// The launcher adds the listeners on free ports; the `$SYS` plugin is
/// left out, so no message arrives that a test did not publish.
#[derive(Debug, Clone)]
pub struct AmqttConfig {
    allow_anonymous: bool,
    websocket: bool,
    wss: Option<(PathBuf, PathBuf)>,
}

impl Default for AmqttConfig {
    fn default() -> AmqttConfig {
        AmqttConfig {
            allow_anonymous: true,
            websocket: false,
            wss: None,
        }
    }
}

/// One listener of the generated configuration.
struct Listener<'a> {
    name: &'a str,
    /// amqtt's listener type: `tcp` or `ws`.
    kind: &'a str,
    port: u16,
    /// Certificate and key files, for TLS.
    tls: Option<&'a (PathBuf, PathBuf)>,
}

impl AmqttConfig {
    /// The default configuration.
    pub fn new() -> AmqttConfig {
        AmqttConfig::default()
    }

    /// Whether clients without a user name may connect (default: yes).
    ///
    /// With `false`, amqtt's anonymous plugin accepts any client that sends
    /// a user name, whatever its password, and refuses the others. Only
    /// then does amqtt keep a `clean_session = false` session after its
    /// client goes (it drops every session it calls anonymous, and with
    /// anonymous clients allowed it calls every session anonymous).
    pub fn allow_anonymous(mut self, allow: bool) -> AmqttConfig {
        self.allow_anonymous = allow;
        self
    }

    /// A WebSocket listener (amqtt's `type: ws`) beside the TCP one, on a
    /// port of its own ([`Amqtt::ws_port`]).
    pub fn websocket(mut self, on: bool) -> AmqttConfig {
        self.websocket = on;
        self
    }

    /// A WebSocket listener over TLS (`type: ws` with `ssl: true`), with
    /// this certificate (chain) and key, both PEM files, on a port of its
    /// own ([`Amqtt::wss_port`]).
    pub fn wss(mut self, certfile: impl Into<PathBuf>, keyfile: impl Into<PathBuf>) -> AmqttConfig {
        self.wss = Some((certfile.into(), keyfile.into()));
        self
    }

    /// The YAML for the listeners; the first is amqtt's `default`, whose
    /// settings the others inherit.
    fn render(&self, listeners: &[Listener<'_>]) -> String {
        let mut text = String::from("# Generated by mqtt_tether::testing::Amqtt.\nlisteners:\n");
        for Listener {
            name,
            kind,
            port,
            tls,
        } in listeners
        {
            // Only loopback, never a fixed port: the launcher picks free ones.
            let _ = write!(
                text,
                "  {name}:\n    type: {kind}\n    bind: 127.0.0.1:{port}\n"
            );
            if let Some((certfile, keyfile)) = tls {
                let _ = write!(
                    text,
                    "    ssl: true\n    certfile: {}\n    keyfile: {}\n",
                    yaml_string(certfile),
                    yaml_string(keyfile)
                );
            }
        }
        text.push_str(
            "plugins:\n  amqtt.plugins.logging_amqtt.EventLoggerPlugin: {}\n  \
             amqtt.plugins.logging_amqtt.PacketLoggerPlugin: {}\n  \
             amqtt.plugins.authentication.AnonymousAuthPlugin:\n",
        );
        let _ = writeln!(text, "    allow_anonymous: {}", self.allow_anonymous);
        text
    }
}

/// `path` as a double-quoted YAML string.
fn yaml_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A running `amqtt` broker (see the [module docs](super)).
///
/// Start one with [`Amqtt::start_or_skip`] in tests (which skips the test
/// when amqtt is not installed, except on CI), or [`Amqtt::start`]. The
/// program is looked for with [`find_venv_program`](super::find_venv_program):
/// in `target/paho-venv`, where `.ci/run` installs it, then on `PATH`.
/// Dropping it kills the process and removes its directory.
///
/// amqtt speaks MQTT 3.1 and 3.1.1 only. It keeps no state across a
/// restart; see the module docs for its other differences from Mosquitto.
#[derive(Debug)]
pub struct Amqtt {
    process: BrokerProcess,
    ws_port: Option<u16>,
    wss_port: Option<u16>,
}

impl Amqtt {
    /// Starts amqtt with `config` for a test, or skips the test.
    ///
    /// If `amqtt` is not installed: with the `CI` environment variable set
    /// this panics; otherwise it prints `SKIP <test>: amqtt is not installed
    /// (...)` to stderr and returns `None`, and the test should return. Any
    /// other failure to start panics with amqtt's log.
    pub fn start_or_skip(config: AmqttConfig) -> Option<Amqtt> {
        match Amqtt::start(config) {
            Ok(a) => Some(a),
            Err(Error::NotInstalled { program }) => {
                programs::skip_or_fail(&program);
                None
            }
            Err(e) => panic!("could not start amqtt: {e}"),
        }
    }

    /// Starts amqtt with `config` on a free port of 127.0.0.1 and waits (up
    /// to [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)) until it accepts
    /// connections.
    ///
    /// Fails with [`Error::NotInstalled`] if `amqtt` is missing, and with
    /// [`Error::Startup`] carrying amqtt's log if it does not come up.
    pub fn start(config: AmqttConfig) -> Result<Amqtt> {
        let program = find_venv_program("amqtt").ok_or_else(|| Error::NotInstalled {
            program: "amqtt".into(),
        })?;
        let dir = TempDir::new("amqtt")?;
        let (mut ws_port, mut wss_port) = (None, None);
        let process = BrokerProcess::start(&FLAVOR, program, dir, |port, _| {
            // Fresh ports at every attempt: a taken one fails the start,
            // which the launcher retries.
            let mut listeners = vec![Listener {
                name: "default",
                kind: "tcp",
                port,
                tls: None,
            }];
            ws_port = config.websocket.then(free_port).and_then(Result::ok);
            if let Some(port) = ws_port {
                listeners.push(Listener {
                    name: "ws",
                    kind: "ws",
                    port,
                    tls: None,
                });
            }
            wss_port = config.wss.as_ref().and_then(|_| free_port().ok());
            if let Some(port) = wss_port {
                listeners.push(Listener {
                    name: "wss",
                    kind: "ws",
                    port,
                    tls: config.wss.as_ref(),
                });
            }
            config.render(&listeners)
        })?;
        Ok(Amqtt {
            process,
            ws_port,
            wss_port,
        })
    }

    /// Sets how long later steps ([`stop`](Self::stop),
    /// [`restart`](Self::restart), drop) wait (default
    /// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.process.set_timeout(timeout);
    }

    /// The TCP port on 127.0.0.1. It stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The port of the WebSocket listener ([`AmqttConfig::websocket`]) on
    /// 127.0.0.1. It stays the same across restarts.
    pub fn ws_port(&self) -> Option<u16> {
        self.ws_port
    }

    /// The port of the WebSocket listener over TLS ([`AmqttConfig::wss`])
    /// on 127.0.0.1. It stays the same across restarts.
    pub fn wss_port(&self) -> Option<u16> {
        self.wss_port
    }

    /// The WebSocket upgrade requests amqtt received so far (on either
    /// WebSocket listener, accepted or refused), in order, as its log tells
    /// them: each request line's path and every header, names as sent.
    pub fn ws_requests(&self) -> Vec<UpgradeRequest> {
        ws_requests_in(&self.log())
    }

    /// The TCP listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// The listener as a kit [`Endpoint`].
    pub fn endpoint(&self) -> Endpoint {
        self.process.endpoint()
    }

    /// The temporary directory with the configuration and the log.
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }

    /// The generated `amqtt.yaml`.
    pub fn config_text(&self) -> &str {
        self.process.config_text()
    }

    /// amqtt's log so far (every start; debug level, so every packet in and
    /// out): for failure messages.
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

    /// Stops amqtt: SIGTERM, then SIGKILL if it has not exited within the
    /// timeout. Does nothing if it is not running. amqtt ends at once on
    /// SIGTERM and saves nothing. Fails if the SIGTERM could not be sent
    /// (amqtt is then killed anyway).
    pub fn stop(&mut self) -> Result<()> {
        self.process.stop()
    }

    /// Kills amqtt at once (SIGKILL). Does nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        self.process.kill()
    }

    /// Stops amqtt (see [`stop`](Self::stop)) if it runs, and starts it
    /// again with the same configuration on the same port, waiting until it
    /// accepts connections. The new amqtt knows no session, subscription or
    /// retained message of the old one.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart()
    }
}

/// The upgrade requests in an amqtt `-d` log: the `websockets` library
/// logs `< GET <path> HTTP/1.1`, then `< <name>: <value>` for each header,
/// on consecutive lines.
fn ws_requests_in(log: &str) -> Vec<UpgradeRequest> {
    let mut requests: Vec<UpgradeRequest> = Vec::new();
    let mut in_request = false;
    for line in log.lines() {
        let received = line
            .contains("websockets.server")
            .then(|| line.split_once(" - < ").map(|(_, rest)| rest))
            .flatten();
        let Some(received) = received else {
            in_request = false;
            continue;
        };
        if let Some(path) = received
            .strip_prefix("GET ")
            .and_then(|rest| rest.strip_suffix(" HTTP/1.1"))
        {
            requests.push(UpgradeRequest {
                path: path.to_string(),
                headers: Vec::new(),
            });
            in_request = true;
        } else if let (true, Some((name, value)), Some(request)) =
            (in_request, received.split_once(": "), requests.last_mut())
        {
            request.headers.push((name.to_string(), value.to_string()));
        } else {
            in_request = false;
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> Listener<'static> {
        Listener {
            name: "default",
            kind: "tcp",
            port,
            tls: None,
        }
    }

    #[test]
    fn the_default_is_one_anonymous_loopback_listener() {
        let text = AmqttConfig::new().render(&[tcp(1883)]);
        assert_eq!(
            text,
            "# Generated by mqtt_tether::testing::Amqtt.\n\
             listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:1883\n\
             plugins:\n  amqtt.plugins.logging_amqtt.EventLoggerPlugin: {}\n  \
             amqtt.plugins.logging_amqtt.PacketLoggerPlugin: {}\n  \
             amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        );
    }

    #[test]
    fn more_listeners_follow_the_default_and_anonymous_can_be_refused() {
        let tls = (
            PathBuf::from("/tmp/a \"b\"/server.pem"),
            PathBuf::from("key.pem"),
        );
        let text = AmqttConfig::new().allow_anonymous(false).render(&[
            tcp(2000),
            Listener {
                name: "ws",
                kind: "ws",
                port: 2001,
                tls: None,
            },
            Listener {
                name: "wss",
                kind: "ws",
                port: 2002,
                tls: Some(&tls),
            },
        ]);
        assert!(
            text.contains(
                "  default:\n    type: tcp\n    bind: 127.0.0.1:2000\n  \
                 ws:\n    type: ws\n    bind: 127.0.0.1:2001\n  \
                 wss:\n    type: ws\n    bind: 127.0.0.1:2002\n    ssl: true\n    \
                 certfile: \"/tmp/a \\\"b\\\"/server.pem\"\n    keyfile: \"key.pem\"\n\
                 plugins:\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("    allow_anonymous: false\n"), "{text}");
    }

    #[test]
    fn upgrade_requests_are_read_from_the_log() {
        // Lines as amqtt 0.12.1 (websockets 15) writes them with `-d`.
        let log = "\
[2026-12-06 09:55:30,286] websockets.server:559 :: DEBUG - < GET /some/path HTTP/1.1
[2026-12-06 09:55:30,286] websockets.server:561 :: DEBUG - < Host: localhost:18832
[2026-12-06 09:55:30,286] websockets.server:561 :: DEBUG - < X-Token: a: b
[2026-12-06 09:55:30,287] websockets.server:574 :: DEBUG - < EOF
[2026-12-06 09:55:30,288] amqtt.broker:1 :: DEBUG - < Not: a header
[2026-12-06 09:55:30,288] websockets.server:559 :: DEBUG - < GET /mqtt HTTP/1.1
[2026-12-06 09:55:30,288] websockets.server:561 :: DEBUG - < Sec-WebSocket-Protocol: other
[2026-12-06 09:55:30,291] websockets.server:518 :: DEBUG - > HTTP/1.1 400 Bad Request
[2026-12-06 09:55:30,291] websockets.server:520 :: DEBUG - > Connection: close
";
        assert_eq!(
            ws_requests_in(log),
            [
                UpgradeRequest {
                    path: "/some/path".into(),
                    headers: vec![
                        ("Host".into(), "localhost:18832".into()),
                        ("X-Token".into(), "a: b".into()),
                    ],
                },
                UpgradeRequest {
                    path: "/mqtt".into(),
                    headers: vec![("Sec-WebSocket-Protocol".into(), "other".into())],
                },
            ]
        );
    }

    #[test]
    fn the_log_lines_the_launcher_waits_for_are_amqtts() {
        // Lines as amqtt 0.12.1 writes them with `-d`.
        assert!((FLAVOR.ready)(
            "[2026-12-06 08:10:38,930] amqtt.broker:270 :: DEBUG - Broker started\n"
        ));
        assert!(!(FLAVOR.ready)(
            "[2026-12-06 08:10:38,929] amqtt.broker:256 :: DEBUG - Broker starting\n"
        ));
        let taken = "[2026-12-06 08:11:13,655] :: ERROR - Broker startup failed\n\
                     OSError: [Errno 98] error while attempting to bind on address \
                     ('127.0.0.1', 18831): address already in use\n";
        assert!((FLAVOR.failed)(taken));
        assert!((FLAVOR.port_taken)(taken));
    }

    /// `.ci/run` installs the version the kit documents.
    #[test]
    fn ci_installs_this_version() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run");
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(
            text.lines().any(|l| l == format!("amqtt={AMQTT_VERSION}")),
            "{} does not install amqtt {AMQTT_VERSION}",
            script.display()
        );
    }
}
