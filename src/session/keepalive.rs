//! Keepalive decisions on a caller-supplied clock: when to send PINGREQ, and
//! when the link is dead. No timers of its own, so tests drive it with any
//! `Instant`s they like.

use std::time::{Duration, Instant};

/// What the keepalive asks for at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveAction {
    /// Nothing to do yet.
    Idle,
    /// Send a PINGREQ now.
    SendPing,
    /// No CONNACK, or no sign of life after a PINGREQ, within the keepalive:
    /// the link is dead (Paho's `MQTT_ERR_KEEPALIVE`).
    Expired,
}

/// The keepalive state of one connection.
///
/// The rules (reference §11, made explicit, with the dead-link bound this
/// crate promises):
/// * awaiting CONNACK: dead one keepalive after the connection began (as
///   Paho); with keepalive 0, after the CONNACK timeout, if one is set
///   ([`KeepAlive::with_connack_timeout`]; Paho waits for ever);
/// * connected: a PINGREQ is due one keepalive after the last packet sent
///   *or* the last bytes received, whichever is older, so a client that only
///   sends still probes a silent broker;
/// * dead once nothing at all arrived for 1.5 × keepalive, whatever the
///   outgoing traffic (Paho: about 2 × keepalive, plus its loop timeout).
///   Bytes of a long packet count, so a large download is not mistaken for
///   a dead link; while one lasts, the PINGREQ is repeated every keepalive;
/// * keepalive 0 disables the rest, as in Paho.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    period: Option<Duration>,
    connected: bool,
    started: Instant,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
    connack_timeout: Option<Duration>,
}

impl KeepAlive {
    /// A new connection with `keepalive` seconds, begun at `now`.
    pub fn new(keepalive: u16, now: Instant) -> KeepAlive {
        KeepAlive {
            period: (keepalive > 0).then(|| Duration::from_secs(u64::from(keepalive))),
            connected: false,
            started: now,
            last_sent: now,
            last_received: now,
            ping_sent: None,
            connack_timeout: None,
        }
    }

    /// With keepalive 0, the link is dead when no CONNACK came within
    /// `timeout` of the start (`None`: never); with a keepalive, the
    /// keepalive bounds that wait and this changes nothing.
    pub fn with_connack_timeout(mut self, timeout: Option<Duration>) -> KeepAlive {
        self.connack_timeout = timeout;
        self
    }

    /// How long a CONNACK may take: the keepalive, or else the CONNACK
    /// timeout.
    fn connack_wait(&self) -> Option<Duration> {
        self.period.or(self.connack_timeout)
    }

    /// The period in effect (`None`: disabled).
    pub fn period(&self) -> Option<Duration> {
        self.period
    }

    /// CONNACK accepted the connection; `server_keepalive` (MQTT 5 Server
    /// Keep Alive) replaces the period when given.
    pub fn connected(&mut self, server_keepalive: Option<u16>, now: Instant) {
        if let Some(k) = server_keepalive {
            self.period = (k > 0).then(|| Duration::from_secs(u64::from(k)));
        }
        self.connected = true;
        self.last_received = now;
    }

    /// A packet was written.
    pub fn packet_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// Bytes arrived (any bytes: a chunk of a long packet counts).
    pub fn bytes_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// PINGRESP arrived.
    pub fn pong(&mut self) {
        self.ping_sent = None;
    }

    /// A PINGREQ was queued at `now`.
    pub fn ping_sent(&mut self, now: Instant) {
        self.ping_sent = Some(now);
        self.last_sent = now;
    }

    /// True while a PINGREQ waits for its PINGRESP.
    pub fn ping_outstanding(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// The next moment `check` may have something to do (`None`: never).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.connected {
            return self.connack_wait().map(|wait| self.started + wait);
        }
        let period = self.period?;
        let dead = self.last_received + period + period / 2;
        Some(match self.ping_sent {
            // Bytes since the PINGREQ (a long download): ping again a
            // keepalive after it.
            Some(ping) if self.last_received > ping => (ping + period).min(dead),
            Some(_) => dead,
            None => (self.last_sent.min(self.last_received) + period).min(dead),
        })
    }

    /// What to do at `now`.
    pub fn check(&self, now: Instant) -> KeepAliveAction {
        if !self.connected {
            return match self.connack_wait() {
                Some(wait) if now >= self.started + wait => KeepAliveAction::Expired,
                _ => KeepAliveAction::Idle,
            };
        }
        let Some(period) = self.period else {
            return KeepAliveAction::Idle;
        };
        if now >= self.last_received + period + period / 2 {
            return KeepAliveAction::Expired;
        }
        let ping_due = match self.ping_sent {
            Some(ping) => self.last_received > ping && now >= ping + period,
            None => now >= self.last_sent.min(self.last_received) + period,
        };
        if ping_due {
            KeepAliveAction::SendPing
        } else {
            KeepAliveAction::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn missing_connack_expires_after_one_keepalive() {
        let t0 = Instant::now();
        let k = KeepAlive::new(2, t0);
        assert_eq!(k.deadline(), Some(t0 + secs(2)));
        assert_eq!(
            k.check(t0 + Duration::from_millis(1999)),
            KeepAliveAction::Idle
        );
        assert_eq!(k.check(t0 + secs(2)), KeepAliveAction::Expired);
    }

    #[test]
    fn with_keepalive_0_a_missing_connack_expires_after_the_connack_timeout() {
        let t0 = Instant::now();
        let k = KeepAlive::new(0, t0).with_connack_timeout(Some(secs(3)));
        assert_eq!(k.deadline(), Some(t0 + secs(3)));
        assert_eq!(
            k.check(t0 + Duration::from_millis(2999)),
            KeepAliveAction::Idle
        );
        assert_eq!(k.check(t0 + secs(3)), KeepAliveAction::Expired);
        // A keepalive bounds the wait by itself, as in Paho.
        let k = KeepAlive::new(10, t0).with_connack_timeout(Some(secs(3)));
        assert_eq!(k.check(t0 + secs(9)), KeepAliveAction::Idle);
        assert_eq!(k.deadline(), Some(t0 + secs(10)));
        // Connected, keepalive 0 is off again.
        let mut k = KeepAlive::new(0, t0).with_connack_timeout(Some(secs(3)));
        k.connected(None, t0 + secs(1));
        assert_eq!(k.deadline(), None);
        assert_eq!(k.check(t0 + secs(1000)), KeepAliveAction::Idle);
    }

    #[test]
    fn silent_broker_gets_a_ping_then_is_declared_dead() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(2, t0);
        k.connected(None, t0);
        assert_eq!(k.check(t0 + secs(2)), KeepAliveAction::SendPing);
        k.ping_sent(t0 + secs(2));
        // Dead 1.5 keepalives after the last byte received (t0).
        assert_eq!(k.deadline(), Some(t0 + secs(3)));
        assert_eq!(
            k.check(t0 + Duration::from_millis(2999)),
            KeepAliveAction::Idle
        );
        assert_eq!(k.check(t0 + secs(3)), KeepAliveAction::Expired);
    }

    #[test]
    fn outgoing_traffic_does_not_hide_a_dead_link() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(10, t0);
        k.connected(None, t0);
        for ms in (100..15_000).step_by(100) {
            let now = t0 + Duration::from_millis(ms);
            k.packet_sent(now);
            match k.check(now) {
                KeepAliveAction::SendPing => k.ping_sent(now),
                KeepAliveAction::Idle => {}
                KeepAliveAction::Expired => panic!("dead too early at {ms} ms"),
            }
        }
        assert_eq!(k.check(t0 + secs(15)), KeepAliveAction::Expired);
    }

    #[test]
    fn pingresp_resets_and_traffic_both_ways_postpones_the_ping() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(10, t0);
        k.connected(None, t0);
        k.ping_sent(t0 + secs(10));
        k.bytes_received(t0 + secs(11));
        k.pong();
        k.packet_sent(t0 + secs(15));
        k.bytes_received(t0 + secs(16));
        // Due 10 s after the older of last-sent (15) and last-received (16).
        assert_eq!(k.deadline(), Some(t0 + secs(25)));
    }

    #[test]
    fn a_client_that_only_sends_still_probes_the_broker() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(5, t0);
        k.connected(None, t0);
        for s in 1..=4 {
            k.packet_sent(t0 + secs(s));
        }
        assert_eq!(k.check(t0 + secs(5)), KeepAliveAction::SendPing);
    }

    #[test]
    fn a_long_download_is_not_a_dead_link() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(1, t0);
        k.connected(None, t0);
        k.ping_sent(t0 + secs(1));
        let mut pings = 0;
        for tenth in 11..=30 {
            let now = t0 + Duration::from_millis(tenth * 100);
            k.bytes_received(now);
            match k.check(now) {
                KeepAliveAction::Expired => panic!("a download is not a dead link"),
                KeepAliveAction::SendPing => {
                    pings += 1;
                    k.ping_sent(now);
                }
                KeepAliveAction::Idle => {}
            }
        }
        assert_eq!(pings, 2, "pinged again every keepalive while bytes arrive");
    }

    #[test]
    fn server_keep_alive_replaces_the_period_and_zero_disables() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(60, t0);
        k.connected(Some(42), t0);
        assert_eq!(k.period(), Some(secs(42)));
        let mut off = KeepAlive::new(0, t0);
        assert_eq!(off.deadline(), None);
        off.connected(None, t0);
        assert_eq!(off.check(t0 + secs(1_000_000)), KeepAliveAction::Idle);
    }
}
