//! The in-process test broker: its public face, configuration and the
//! accept loop. See [`Broker`] for what it does and does not do.

mod connection;
mod event;
mod limits;
mod routing;
mod session;

pub use event::{BrokerEvent, CloseReason};
pub use limits::BrokerLimits;

use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::net::{Endpoint, Listener, Stream};
use super::{Error, Result, DEFAULT_TIMEOUT};
use event::EventLog;
use routing::State;

/// How long a writer waits on a client that does not read before it gives
/// the connection up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the broker is set up. `Default` is anonymous access on a free
/// loopback port.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The TCP port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Listen on this unix socket path instead of TCP.
    pub unix_path: Option<PathBuf>,
    /// When set, only this username and password may connect.
    pub credentials: Option<(String, String)>,
    /// How long a new connection may take to send its CONNECT. Default 10 s.
    pub connect_timeout: Duration,
    /// What clients can make the broker hold.
    pub limits: BrokerLimits,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            port: 0,
            unix_path: None,
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            limits: BrokerLimits::default(),
        }
    }
}

impl BrokerConfig {
    /// Requires this username and password.
    pub fn with_credentials(mut self, username: &str, password: &str) -> BrokerConfig {
        self.credentials = Some((username.to_string(), password.to_string()));
        self
    }

    /// Listens on this TCP port of 127.0.0.1 (0 picks a free one).
    pub fn with_port(mut self, port: u16) -> BrokerConfig {
        self.port = port;
        self
    }

    /// Listens on a unix socket at `path` instead of TCP.
    pub fn with_unix_path(mut self, path: impl Into<PathBuf>) -> BrokerConfig {
        self.unix_path = Some(path.into());
        self
    }
}

/// What a restart does with the broker's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Keep sessions (subscriptions, queued and unacknowledged messages) and
    /// retained messages, like a broker with persistence.
    KeepSessions,
    /// Forget everything, like a broker without persistence.
    DiscardSessions,
}

/// What the broker's threads share.
pub(crate) struct Shared {
    pub(crate) config: BrokerConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) events: EventLog,
    /// Connections closed because another took their session over.
    pub(crate) taken_over: Mutex<HashSet<u64>>,
    stopping: AtomicBool,
    /// Live connections, so `stop` can close them.
    connections: Mutex<HashMap<u64, Stream>>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    next_connection: AtomicU64,
}

impl Shared {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn forget_connection(&self, connection: u64) {
        self.connections.lock().remove(&connection);
    }
}

/// A small but correct MQTT 3.1.1 and 5.0 broker that runs inside a test (or
/// standalone, as the `broker` example).
///
/// It is a test tool, not a production broker: every client gets two threads,
/// subscriptions are matched by a linear scan, and state lives in memory.
///
/// What it does: CONNECT with clean session / clean start and MQTT 5 session
/// expiry, the session-present flag, persistent sessions that queue QoS 1 and
/// 2 messages while their client is away, subscriptions with `+`/`#` and `$`
/// topics (wildcards at the first level do not match `$` topics), QoS 0, 1
/// and 2 both ways with DUP re-delivery of unacknowledged messages on
/// reconnect, retained messages, will messages (published on an abnormal
/// close, not on DISCONNECT), keepalive enforcement at 1.5 times the
/// keepalive, session takeover, optional username and password, MQTT 5
/// subscription options (no-local, retain-as-published, retain handling),
/// subscription identifiers, user properties passed through, the client's
/// Receive Maximum and Maximum Packet Size. MQTT 3.1 clients are served too.
///
/// What it does not do (and says so to MQTT 5 clients where the protocol
/// allows): shared subscriptions (refused with 0x9E), topic aliases (Topic
/// Alias Maximum 0), enhanced authentication (0x8C), will delay and message
/// expiry (wills go out at once, messages never expire), and QoS 0 queueing
/// for absent clients (dropped, as Mosquitto does by default).
///
/// It can be stopped and started again on the same port, keeping its
/// sessions and retained messages (a restart with persistence) or not, and it
/// keeps an event log ([`BrokerEvent`]) of connections and of every packet in
/// and out, for tests to assert on.
///
/// ```
/// use mqtt_tether::testing::Broker;
/// let broker = Broker::start().unwrap();
/// assert_ne!(broker.port(), 0);
/// ```
pub struct Broker {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Broker {
    /// Starts a broker with the default configuration on a free port of
    /// 127.0.0.1.
    pub fn start() -> Result<Broker> {
        Broker::start_with(BrokerConfig::default())
    }

    /// Starts a broker with `config`.
    pub fn start_with(config: BrokerConfig) -> Result<Broker> {
        let limits = config.limits;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            events: EventLog::new(limits.event_log_limit, limits.event_log_bytes),
            taken_over: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            next_connection: AtomicU64::new(1),
        });
        let listener = match &shared.config.unix_path {
            Some(path) => Listener::bind_unix(path)?,
            None => Listener::bind_loopback(shared.config.port)?,
        };
        let endpoint = listener.endpoint()?;
        let mut broker = Broker {
            shared,
            endpoint,
            acceptor: None,
        };
        broker.spawn_acceptor(listener);
        Ok(broker)
    }

    fn spawn_acceptor(&mut self, listener: Listener) {
        let shared = Arc::clone(&self.shared);
        shared.events.push(BrokerEvent::Listening {
            endpoint: self.endpoint.clone(),
        });
        self.acceptor = Some(thread::spawn(move || accept_loop(shared, listener)));
    }

    /// Where the broker listens.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The TCP port (0 for a unix socket broker).
    pub fn port(&self) -> u16 {
        self.endpoint.port().unwrap_or(0)
    }

    /// The TCP address, or `None` for a unix socket broker.
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.endpoint {
            Endpoint::Tcp(addr) => Some(*addr),
            Endpoint::Unix(_) => None,
        }
    }

    /// True while the broker accepts connections.
    pub fn is_running(&self) -> bool {
        self.acceptor.is_some()
    }

    /// Stops listening and closes every connection (no wills are published).
    /// Sessions and retained messages stay until [`Broker::start_again`]
    /// decides. Does nothing if already stopped.
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The acceptor polls `stopping`, so this join is short; once it is
        // done, no new connection can appear behind our back.
        let _ = acceptor.join();
        for stream in self.shared.connections.lock().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = std::mem::take(&mut *self.shared.threads.lock());
        for t in threads {
            let _ = t.join();
        }
        let mut state = self.shared.state.lock();
        let now = Instant::now();
        for session in state.sessions.values_mut() {
            if session.link.take().is_some() {
                session.disconnected_at = Some(now);
            }
        }
        state.expire_sessions(now);
        drop(state);
        self.shared.events.push(BrokerEvent::Stopped);
    }

    /// Starts listening again on the same port (or path) after
    /// [`Broker::stop`], keeping or discarding what the broker remembered.
    pub fn start_again(&mut self, restart: Restart) -> Result<()> {
        if self.acceptor.is_some() {
            return Err(Error::Startup("the broker is already running".into()));
        }
        if restart == Restart::DiscardSessions {
            *self.shared.state.lock() = State::default();
        }
        self.shared.taken_over.lock().clear();
        let listener = match &self.endpoint {
            Endpoint::Tcp(addr) => Listener::bind_loopback(addr.port())?,
            Endpoint::Unix(path) => Listener::bind_unix(path)?,
        };
        self.shared.stopping.store(false, Ordering::SeqCst);
        self.spawn_acceptor(listener);
        Ok(())
    }

    /// [`Broker::stop`] then [`Broker::start_again`]: a broker restart on the
    /// same port.
    pub fn restart(&mut self, restart: Restart) -> Result<()> {
        self.stop();
        self.start_again(restart)
    }

    /// A copy of the event log, oldest first.
    pub fn events(&self) -> Vec<BrokerEvent> {
        self.shared.events.snapshot()
    }

    /// Empties the event log.
    pub fn clear_events(&self) {
        self.shared.events.clear();
    }

    /// Waits up to [`DEFAULT_TIMEOUT`] for a logged event (already logged
    /// ones count) that satisfies `pred`; `what` names it in the error.
    /// `pred` runs with the log locked: it must not call the broker's event
    /// methods.
    pub fn wait_for_event(
        &self,
        what: &str,
        pred: impl FnMut(&BrokerEvent) -> bool,
    ) -> Result<BrokerEvent> {
        self.shared.events.wait_for(what, DEFAULT_TIMEOUT, pred)
    }

    /// [`Broker::wait_for_event`] with an explicit timeout.
    pub fn wait_for_event_timeout(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&BrokerEvent) -> bool,
    ) -> Result<BrokerEvent> {
        self.shared.events.wait_for(what, timeout, pred)
    }

    /// A channel that receives every event from now on (the `-v` output of
    /// the `broker` example).
    pub fn watch_events(&self) -> mpsc::Receiver<BrokerEvent> {
        self.shared.events.watch()
    }

    /// The client ids with a live connection, sorted.
    pub fn connected_clients(&self) -> Vec<String> {
        let state = self.shared.state.lock();
        let mut ids: Vec<String> = state
            .sessions
            .values()
            .filter(|s| s.link.is_some())
            .map(|s| s.client_id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// True if the broker holds a session for `client_id` (connected or not,
    /// and not expired).
    pub fn has_session(&self, client_id: &str) -> bool {
        let state = self.shared.state.lock();
        state
            .sessions
            .get(client_id)
            .is_some_and(|s| !s.is_expired(Instant::now()))
    }

    /// The topics that hold a retained message, sorted.
    pub fn retained_topics(&self) -> Vec<String> {
        self.shared.state.lock().retained.keys().cloned().collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often the acceptor looks at `stopping` while no one connects.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

fn accept_loop(shared: Arc<Shared>, listener: Listener) {
    // Polling a non-blocking listener, rather than waking a blocking accept
    // with a connection of our own, means `stop` can never wait on a wake-up
    // that fails (full backlog, no file descriptors, a deleted socket file).
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !shared.is_stopping() {
        let stream = match listener.accept() {
            Ok(s) => s,
            Err(_) => {
                // WouldBlock, or EMFILE and the like: wait instead of spinning.
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        let connection = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        let refuse = |reason: CloseReason| {
            let _ = stream.shutdown(Shutdown::Both);
            shared.events.push(BrokerEvent::Closed {
                connection,
                client_id: String::new(),
                reason,
            });
        };
        let mut connections = shared.connections.lock();
        if connections.len() >= shared.config.limits.max_connections {
            drop(connections);
            refuse(CloseReason::TooManyConnections);
            continue;
        }
        // Without a handle for `stop` to shut down, the connection could
        // outlive the broker: refuse it.
        let Ok(handle) = stream.try_clone() else {
            drop(connections);
            refuse(CloseReason::PeerClosed);
            continue;
        };
        connections.insert(connection, handle);
        drop(connections);
        let worker_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("tether-broker-conn-{connection}"))
            .spawn(move || connection::serve(worker_shared, stream, connection));
        match spawned {
            Ok(t) => {
                let mut threads = shared.threads.lock();
                // A long-running broker must not keep a handle per past
                // connection.
                threads.retain(|t| !t.is_finished());
                threads.push(t);
            }
            Err(_) => {
                // Out of threads: the stream went with the failed closure,
                // so shut the connection down through its handle.
                if let Some(handle) = shared.connections.lock().remove(&connection) {
                    let _ = handle.shutdown(Shutdown::Both);
                }
            }
        }
    }
}
