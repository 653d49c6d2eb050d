//! Beyond Paho: failover to other brokers (`failover_set`), MQTT 5 Server
//! References, and `stats()`.

use std::fmt;
use std::time::SystemTime;

use super::Client;
pub use crate::driver::{FailoverOrder, Server};
use crate::error::{Error, ValueReason};
use crate::session::Counters;

/// What the client has counted since it was made (or reinitialised), and
/// where it stands: [`Client::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The counters, from the client's creation (or `reinitialise`) on:
    /// connects, disconnects by reason, PUBLISH messages and bytes by QoS,
    /// re-sent, refused, rejected, dropped, MQTT bytes both ways.
    pub counters: Counters,
    /// QoS 1/2 messages stored and not yet sent on this connection.
    pub queued: usize,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub in_flight: usize,
    /// The broker of the connection in place, or of the last one.
    pub server: Option<Server>,
    /// When a CONNACK last accepted a connection.
    pub last_connack: Option<SystemTime>,
}

impl fmt::Display for Stats {
    /// One line, `key=value` pairs (what the tools' `--stats` print).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let d = &c.disconnects;
        write!(
            f,
            "connects={} connect_failures={} disconnects=requested:{},server:{},lost:{},keepalive:{},protocol:{},refused:{}",
            c.connects, c.connect_failures, d.requested, d.by_server, d.lost, d.keepalive, d.protocol, d.refused
        )?;
        for (name, traffic) in [("sent", &c.sent), ("received", &c.received)] {
            write!(f, " {name}=")?;
            for (qos, t) in traffic.iter().enumerate() {
                let sep = if qos == 0 { "" } else { "," };
                write!(f, "{sep}q{qos}:{}/{}B", t.messages, t.bytes)?;
            }
        }
        write!(
            f,
            " resent={} refused={} rejected={} dropped={} bytes_sent={} bytes_received={} queued={} in_flight={} server={}",
            c.resent,
            c.refused,
            c.rejected,
            c.dropped,
            c.bytes_sent,
            c.bytes_received,
            self.queued,
            self.in_flight,
            self.server.as_ref().map_or_else(|| "-".to_string(), Server::to_string),
        )
    }
}

impl Client {
    /// Beyond Paho (Paho C's `serverURIs`, Paho Java's `setServerURIs`):
    /// brokers to try when the one `connect()` names cannot be reached.
    /// `connect(host, port, ...)` stays the way to name the first one, so a
    /// ported program keeps its `connect` line; `servers` follow it.
    ///
    /// Every attempt (the first `connect()`, `reconnect()`, the automatic
    /// reconnects of `loop_forever` and `loop_start`) goes to the next
    /// server of a *round*: the primary and `servers`, in `order`. A failed
    /// attempt (refused, unreachable, closed before or refused by its
    /// CONNACK) moves to the next server at once; the reconnect delay
    /// (`reconnect_delay_set`) is waited once per round, not per server.
    /// After an accepted connection is lost, the client waits one delay
    /// and starts a new round (in order: at the primary again, as Paho C
    /// and Java do). [`Client::connected_server`] says which one answered.
    ///
    /// Each server has its own transport and TLS flag; a TLS server uses
    /// the `tls_set` settings when there are some, else the system's trust
    /// roots; proxy, WebSocket path and headers, bind address and connect
    /// timeout are the client's. An empty list goes back to the primary
    /// alone. `ValueError` for a server without host or port.
    pub fn failover_set(&self, servers: &[Server], order: FailoverOrder) -> Result<(), Error> {
        for s in servers {
            if s.host.is_empty() {
                return Err(Error::Value(ValueReason::InvalidHost));
            }
            if s.port == 0 && s.transport == crate::transport::Transport::Tcp {
                return Err(Error::Value(ValueReason::InvalidPort));
            }
        }
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ self.driver.identity() as u64;
        self.driver
            .core()
            .failover
            .set_servers(servers.to_vec(), order, seed);
        Ok(())
    }

    /// The failover list given to [`Client::failover_set`].
    pub fn failover_servers(&self) -> Vec<Server> {
        self.driver.core().failover.servers().to_vec()
    }

    /// Beyond Paho (off by default): follow an MQTT 5 broker's Server
    /// Reference, sent with a CONNACK or DISCONNECT (reason 0x9C Use
    /// another server, 0x9D Server moved): the next attempt goes to the
    /// servers it names (`host:port` or `host`, space-separated; the
    /// sender's port, transport and TLS when not given), at once, then the
    /// usual rotation goes on. At most 4 references are followed in a row
    /// without a reconnect delay, so brokers referring to each other
    /// cannot make the client spin. Entries that cannot be read are logged
    /// and ignored; off, a reference is only logged.
    pub fn follow_server_reference_set(&self, on: bool) {
        self.driver.core().failover.set_follow_references(on);
    }

    /// Beyond Paho: the broker of the connection in place (the one that
    /// answered, inside `on_connect`), or `None` without a connection.
    pub fn connected_server(&self) -> Option<Server> {
        self.driver.core().conn.as_ref().map(|c| c.server.clone())
    }

    /// Beyond Paho: what the client has counted, and where it stands (see
    /// [`Stats`]). The counters are plain fields the client updates under
    /// the lock it already holds for each step, so counting costs nothing
    /// extra; this call takes that lock once. Counting [`Stats::queued`]
    /// walks the stored messages while it holds it (one pass, no
    /// allocation; up to 65,535 of them), so call it now and then (a
    /// monitor's once a second), not once per message.
    pub fn stats(&self) -> Stats {
        let core = self.driver.core();
        let c = core.session.counters();
        let store = core.session.store();
        let in_flight = store.in_flight();
        let queued = store.waiting();
        Stats {
            counters: *c,
            queued,
            in_flight,
            server: core.last_server.clone(),
            last_connack: core.last_connack,
        }
    }
}
