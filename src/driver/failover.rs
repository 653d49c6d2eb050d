//! Failover: which broker the next connection attempt goes to.
//!
//! The application names one broker with `connect(host, port, ...)` (the
//! primary) and may add others with `failover_set`. Attempts go through a
//! *round*: every server once, in order or shuffled. A failed attempt moves
//! to the next server of the round at once; only when the round is used up
//! does the reconnect backoff ([`Backoff`]) wait, so the delay applies to a
//! full round, not to each server. An accepted connection ends the round:
//! after it is lost the client waits one backoff step (as Paho does with one
//! broker) and starts a new round from the first server.
//!
//! An MQTT 5 broker may send the client elsewhere (CONNACK or DISCONNECT
//! with a Server Reference, reason 0x9C Use another server or 0x9D Server
//! moved). With `follow_server_reference_set(true)` the referenced servers
//! are tried next, before the rest of the round and without a wait; at most
//! [`MAX_REFERRAL_HOPS`] in a row, so two brokers that send the client to
//! each other cannot make it reconnect in a tight loop.
//!
//! [`Failover`] is pure (no sockets, no clock): the driver asks it for the
//! wait before an attempt ([`Failover::delay`]) and for the attempt's
//! server ([`Failover::next`]).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, ValueReason};
use crate::session::Backoff;
use crate::transport::Transport;

/// How many referred servers are tried in a row without a backoff wait.
pub(crate) const MAX_REFERRAL_HOPS: u32 = 4;

/// One broker of a failover list: where it is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Host name or address (the socket's path for the unix transport).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TCP, WebSockets or a unix socket.
    pub transport: Transport,
    /// TLS over the transport: with the client's `tls_set` settings when
    /// it has them, else the system's trust roots.
    pub tls: bool,
}

impl Server {
    /// Plain MQTT over TCP (`tcp://host:port`).
    pub fn tcp(host: &str, port: u16) -> Server {
        Server {
            host: host.to_string(),
            port,
            transport: Transport::Tcp,
            tls: false,
        }
    }

    /// MQTT over TLS over TCP (`ssl://host:port`).
    pub fn tls(host: &str, port: u16) -> Server {
        Server {
            tls: true,
            ..Server::tcp(host, port)
        }
    }

    /// MQTT over WebSockets (`ws://host:port`).
    #[cfg(feature = "websocket")]
    pub fn ws(host: &str, port: u16) -> Server {
        Server {
            transport: Transport::Websockets,
            ..Server::tcp(host, port)
        }
    }

    /// MQTT over WebSockets over TLS (`wss://host:port`).
    #[cfg(feature = "websocket")]
    pub fn wss(host: &str, port: u16) -> Server {
        Server {
            tls: true,
            ..Server::ws(host, port)
        }
    }

    /// A server from a Paho C / Java server URI: `tcp://host:port`
    /// (also `mqtt://`), `ssl://` (also `tls://`, `mqtts://`), `ws://`,
    /// `wss://`, or a bare `host:port` or `host` (TCP). Without a port:
    /// 1883, 8883 with TLS, 80 for `ws://`, 443 for `wss://`, as in Paho C.
    /// An IPv6 address goes in brackets: `tcp://[::1]:1883`. A URI it
    /// cannot read is a `ValueError` saying why
    /// ([`ValueReason::InvalidServerUri`]).
    pub fn parse(uri: &str) -> Result<Server, Error> {
        let bad = |why: &'static str| Error::Value(ValueReason::InvalidServerUri(why));
        let (scheme, rest) = match uri.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("tcp".to_string(), uri),
        };
        let (transport, tls, default_port) = match scheme.as_str() {
            "tcp" | "mqtt" => (Transport::Tcp, false, 1883),
            "ssl" | "tls" | "mqtts" => (Transport::Tcp, true, 8883),
            #[cfg(feature = "websocket")]
            "ws" => (Transport::Websockets, false, 80),
            #[cfg(feature = "websocket")]
            "wss" => (Transport::Websockets, true, 443),
            _ => return Err(bad("unknown scheme")),
        };
        // A WebSocket path is the client's (ws_set_options), not the list's.
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = split_host_port(authority, default_port).map_err(bad)?;
        Ok(Server {
            host,
            port,
            transport,
            tls,
        })
    }
}

impl fmt::Display for Server {
    /// The server as a URI (`tcp://host:port`, `ssl://`, `ws://`, `wss://`,
    /// `unix://path`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.transport, self.tls) {
            (Transport::Tcp, false) => "tcp",
            (Transport::Tcp, true) => "ssl",
            #[cfg(unix)]
            (Transport::Unix, _) => return write!(f, "unix://{}", self.host),
            #[cfg(feature = "websocket")]
            (Transport::Websockets, false) => "ws",
            #[cfg(feature = "websocket")]
            (Transport::Websockets, true) => "wss",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// `host:port`, `host`, `[v6]:port` or `[v6]`; the port defaults to
/// `default_port`.
fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("no closing bracket")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("junk after ']'")?)),
        }
    } else {
        match s.rsplit_once(':') {
            // A bare IPv6 address has more than one colon: no port then.
            Some((host, _)) if host.contains(':') => (s, None),
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("bad port"),
            Ok(p) => p,
        },
    };
    Ok((host.to_string(), port))
}

/// The order servers are tried in within a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailoverOrder {
    /// The primary (`connect`'s), then the list, in its order (Paho C and
    /// Java).
    #[default]
    InOrder,
    /// Every round in a new random order (ActiveMQ's `randomize`): clients
    /// that share a list spread over its brokers.
    Shuffled,
}

/// Which server an attempt goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The one `connect()` named (the core's host, port and transport).
    Primary,
    /// Entry `i` of the failover list.
    Listed(usize),
    /// A server a broker referred the client to.
    Referred(Server),
}

/// The failover state of one client (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    servers: Vec<Server>,
    order: FailoverOrder,
    follow_references: bool,
    /// What is left of the current round.
    round: VecDeque<Target>,
    /// Servers a broker referred the client to, tried before the round.
    referrals: VecDeque<Server>,
    /// Referred servers tried since the last wait or accepted connection.
    hops: u32,
    /// The server of the last attempt.
    current: Option<Target>,
    rng: u64,
}

impl Default for Failover {
    fn default() -> Failover {
        Failover {
            servers: Vec::new(),
            order: FailoverOrder::InOrder,
            follow_references: false,
            round: VecDeque::new(),
            referrals: VecDeque::new(),
            hops: 0,
            current: None,
            rng: 0x2545_F491_4F6C_DD1D,
        }
    }
}

impl Failover {
    /// The servers tried after the primary, and in what order; the round
    /// starts over.
    pub(crate) fn set_servers(&mut self, servers: Vec<Server>, order: FailoverOrder, seed: u64) {
        self.servers = servers;
        self.order = order;
        self.rng = seed;
        self.round.clear();
    }

    /// The failover list.
    pub(crate) fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Whether MQTT 5 Server References are followed.
    pub(crate) fn set_follow_references(&mut self, on: bool) {
        self.follow_references = on;
        if !on {
            self.referrals.clear();
        }
    }

    /// A new `connect()`: the next attempt starts a new round, at the
    /// primary when in order; references to follow are forgotten.
    pub(crate) fn restart(&mut self) {
        self.round.clear();
        self.referrals.clear();
        self.hops = 0;
    }

    /// A CONNACK accepted the connection: the round is over, and a lost
    /// connection will start a new one after the backoff wait.
    pub(crate) fn connected(&mut self) {
        self.round.clear();
        self.hops = 0;
    }

    /// The wait before the next attempt: none while the round (or a
    /// referral) has a server left, else the backoff's next delay, after
    /// which a new round begins.
    pub(crate) fn delay(&mut self, backoff: &mut Backoff) -> Duration {
        if !self.referrals.is_empty() && self.hops < MAX_REFERRAL_HOPS {
            return Duration::ZERO;
        }
        if self.referrals.is_empty() && !self.round.is_empty() {
            return Duration::ZERO;
        }
        self.hops = 0;
        backoff.next_delay()
    }

    /// The server of the next attempt (referred ones first), starting a new
    /// round when the last one is used up.
    pub(crate) fn next(&mut self) -> Target {
        let target = if let Some(server) = self.referrals.pop_front() {
            self.hops += 1;
            Target::Referred(server)
        } else {
            if self.round.is_empty() {
                self.new_round();
            }
            self.round.pop_front().unwrap_or(Target::Primary)
        };
        self.current = Some(target.clone());
        target
    }

    /// The last attempt's server is to be tried again at once (Paho's
    /// retry of a refused MQTT 3.1.1 CONNECT at MQTT 3.1).
    pub(crate) fn again(&mut self) {
        match self.current.clone() {
            Some(Target::Referred(server)) => {
                self.hops = self.hops.saturating_sub(1);
                self.referrals.push_front(server);
            }
            Some(target) => self.round.push_front(target),
            None => {}
        }
    }

    /// Entry `i` of the list.
    pub(crate) fn listed(&self, i: usize) -> Option<&Server> {
        self.servers.get(i)
    }

    /// A broker's Server Reference (MQTT 5 §3.2.2.3.16: a space-separated
    /// list of `host:port` or `host`), given the server that sent it: when
    /// references are followed, its servers are tried next, in its order,
    /// with the sender's transport, TLS and (when not given) port. Returns
    /// the entries that could not be read, for the log; `None` when
    /// references are not followed.
    pub(crate) fn refer(&mut self, reference: &str, from: &Server) -> Option<Vec<String>> {
        if !self.follow_references {
            return None;
        }
        let mut bad = Vec::new();
        let mut referred = VecDeque::new();
        for entry in reference.split_ascii_whitespace() {
            match split_host_port(entry, from.port) {
                Ok((host, port)) => referred.push_back(Server {
                    host,
                    port,
                    ..from.clone()
                }),
                Err(why) => bad.push(format!("{entry:?} ({why})")),
            }
        }
        if reference.trim().is_empty() {
            bad.push("an empty reference".to_string());
        }
        if !referred.is_empty() {
            self.referrals = referred;
        }
        Some(bad)
    }

    fn new_round(&mut self) {
        self.round.push_back(Target::Primary);
        self.round
            .extend((0..self.servers.len()).map(Target::Listed));
        if self.order == FailoverOrder::Shuffled {
            // Fisher-Yates.
            for i in (1..self.round.len()).rev() {
                let j = (self.random() % (i as u64 + 1)) as usize;
                self.round.swap(i, j);
            }
        }
    }

    /// splitmix64: enough to spread clients, not for cryptography.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const S: Duration = Duration::from_secs(1);

    fn two() -> Failover {
        let mut f = Failover::default();
        f.set_servers(
            vec![Server::tcp("b", 1884), Server::tcp("c", 1885)],
            FailoverOrder::InOrder,
            1,
        );
        f
    }

    /// One attempt: the wait before it and where it goes.
    fn attempt(f: &mut Failover, backoff: &mut Backoff) -> (Duration, Target) {
        let d = f.delay(backoff);
        (d, f.next())
    }

    #[test]
    fn each_failure_moves_to_the_next_server_and_the_backoff_waits_once_per_round() {
        let mut f = two();
        let mut b = Backoff::new(S, 8 * S);
        // The first connect() does not wait.
        assert_eq!(f.next(), Target::Primary);
        let seen: Vec<_> = (0..8).map(|_| attempt(&mut f, &mut b)).collect();
        use Target::*;
        assert_eq!(
            seen,
            vec![
                (Duration::ZERO, Listed(0)),
                (Duration::ZERO, Listed(1)),
                (S, Primary),
                (Duration::ZERO, Listed(0)),
                (Duration::ZERO, Listed(1)),
                (2 * S, Primary),
                (Duration::ZERO, Listed(0)),
                (Duration::ZERO, Listed(1)),
            ]
        );
    }

    #[test]
    fn without_a_list_every_failure_waits_as_paho_does() {
        let mut f = Failover::default();
        let mut b = Backoff::new(S, 4 * S);
        assert_eq!(f.next(), Target::Primary);
        let waits: Vec<_> = (0..4).map(|_| attempt(&mut f, &mut b)).collect();
        assert_eq!(
            waits,
            vec![
                (S, Target::Primary),
                (2 * S, Target::Primary),
                (4 * S, Target::Primary),
                (4 * S, Target::Primary),
            ]
        );
    }

    #[test]
    fn a_lost_connection_waits_one_step_then_starts_a_new_round_at_the_primary() {
        let mut f = two();
        let mut b = Backoff::new(S, 8 * S);
        let t0 = Instant::now();
        assert_eq!(f.next(), Target::Primary);
        assert_eq!(attempt(&mut f, &mut b), (Duration::ZERO, Target::Listed(0)));
        // Listed(0) accepted the connection (the driver resets the backoff
        // with the CONNACK, as Paho does), then it was lost.
        b.connected(t0);
        f.connected();
        b.connection_lost(t0 + 10 * S);
        assert_eq!(attempt(&mut f, &mut b), (S, Target::Primary));
        assert_eq!(attempt(&mut f, &mut b), (Duration::ZERO, Target::Listed(0)));
        // With reset_after, a connection that did not last keeps the
        // doubling: the next round waits longer.
        let mut b = Backoff::new(S, 8 * S);
        b.set_reset_after(Some(60 * S));
        let mut f = two();
        assert_eq!(f.next(), Target::Primary);
        for _ in 0..2 {
            attempt(&mut f, &mut b);
        }
        assert_eq!(attempt(&mut f, &mut b), (S, Target::Primary));
        b.connected(t0);
        f.connected();
        b.connection_lost(t0 + S);
        assert_eq!(attempt(&mut f, &mut b), (2 * S, Target::Primary));
    }

    #[test]
    fn shuffled_rounds_hold_every_server_once_in_a_seeded_order() {
        let mut f = two();
        f.set_servers(f.servers().to_vec(), FailoverOrder::Shuffled, 0xDEAD_BEEF);
        let mut b = Backoff::new(S, S);
        let mut rounds = Vec::new();
        let mut first = f.next();
        for _ in 0..6 {
            let mut round = vec![first];
            for _ in 0..2 {
                let (d, t) = attempt(&mut f, &mut b);
                assert_eq!(d, Duration::ZERO);
                round.push(t);
            }
            let (d, t) = attempt(&mut f, &mut b);
            assert_eq!(d, S, "one wait per round");
            first = t;
            let mut sorted = round.clone();
            sorted.sort_by_key(|t| format!("{t:?}"));
            assert_eq!(
                sorted,
                vec![Target::Listed(0), Target::Listed(1), Target::Primary]
            );
            rounds.push(round);
        }
        rounds.dedup();
        assert!(
            rounds.len() > 1,
            "the order changes between rounds: {rounds:?}"
        );
    }

    #[test]
    fn a_followed_reference_is_tried_next_without_a_wait_but_not_forever() {
        let mut f = Failover::default();
        let mut b = Backoff::new(S, 8 * S);
        let from = Server::tls("a", 8883);
        assert_eq!(f.refer("x:1", &from), None, "off by default");
        assert_eq!(f.next(), Target::Primary);
        assert_eq!(attempt(&mut f, &mut b), (S, Target::Primary));
        f.set_follow_references(true);
        let bad = f.refer("x:1 y  [::1]:7 z:0 w:port [v6", &from).unwrap();
        assert_eq!(bad.len(), 3, "{bad:?}");
        let d = f.delay(&mut b);
        assert_eq!(d, Duration::ZERO);
        assert_eq!(f.next(), Target::Referred(Server::tls("x", 1)));
        assert_eq!(
            attempt(&mut f, &mut b),
            (Duration::ZERO, Target::Referred(Server::tls("y", 8883)))
        );
        assert_eq!(
            attempt(&mut f, &mut b),
            (Duration::ZERO, Target::Referred(Server::tls("::1", 7)))
        );
        // Referred servers that keep referring: a wait after MAX hops.
        let mut hops = 3;
        loop {
            f.refer("x:1", &from).unwrap();
            let (d, t) = attempt(&mut f, &mut b);
            assert_eq!(t, Target::Referred(Server::tls("x", 1)));
            hops += 1;
            if d > Duration::ZERO {
                assert_eq!(hops, MAX_REFERRAL_HOPS + 1);
                break;
            }
            assert!(hops <= MAX_REFERRAL_HOPS);
        }
        // A reference with nothing usable changes nothing.
        assert_eq!(f.refer("   ", &from).unwrap().len(), 1);
        assert_eq!(f.refer(":1883", &from).unwrap().len(), 1);
        assert_eq!(attempt(&mut f, &mut b).1, Target::Primary);
    }

    #[test]
    fn again_retries_the_same_server() {
        let mut f = two();
        let mut b = Backoff::new(S, S);
        assert_eq!(f.next(), Target::Primary);
        assert_eq!(attempt(&mut f, &mut b), (Duration::ZERO, Target::Listed(0)));
        f.again();
        assert_eq!(attempt(&mut f, &mut b), (Duration::ZERO, Target::Listed(0)));
    }

    #[test]
    fn uris_parse_as_paho_c_reads_them() {
        let p = |s| Server::parse(s).map(|s| s.to_string());
        assert_eq!(p("tcp://a:1").unwrap(), "tcp://a:1");
        assert_eq!(p("mqtt://a").unwrap(), "tcp://a:1883");
        assert_eq!(p("a").unwrap(), "tcp://a:1883");
        assert_eq!(p("a:2").unwrap(), "tcp://a:2");
        assert_eq!(p("SSL://a").unwrap(), "ssl://a:8883");
        assert_eq!(p("mqtts://[::1]:9").unwrap(), "ssl://[::1]:9");
        assert_eq!(p("::1").unwrap(), "tcp://[::1]:1883");
        #[cfg(feature = "websocket")]
        {
            assert_eq!(p("ws://a/mqtt").unwrap(), "ws://a:80");
            assert_eq!(p("wss://a:9001").unwrap(), "wss://a:9001");
        }
        for bad in [
            "",
            "tcp://",
            "tcp://:1",
            "a:0",
            "a:x",
            "a:70000",
            "gopher://a",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad:?}");
        }
    }
}
