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
/// The rules (reference §11, made explicit):
/// * awaiting CONNACK: dead one keepalive after the connection began;
/// * connected: a PINGREQ is due one keepalive after the last packet sent
///   *or* the last bytes received, whichever is older, so a client that only
///   sends still probes a silent broker;
/// * after a PINGREQ: dead if nothing at all arrives within one keepalive
///   (bytes of a long packet count, so a large download is not mistaken for
///   a dead link);
/// * keepalive 0 disables all of it, as in Paho.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    period: Option<Duration>,
    connected: bool,
    started: Instant,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
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
        }
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
        let period = self.period?;
        Some(if !self.connected {
            self.started + period
        } else if let Some(ping) = self.ping_sent {
            ping.max(self.last_received) + period
        } else {
            self.last_sent.min(self.last_received) + period
        })
    }

    /// What to do at `now`.
    pub fn check(&self, now: Instant) -> KeepAliveAction {
        let Some(deadline) = self.deadline() else {
            return KeepAliveAction::Idle;
        };
        if now < deadline {
            KeepAliveAction::Idle
        } else if !self.connected || self.ping_sent.is_some() {
            KeepAliveAction::Expired
        } else {
            KeepAliveAction::SendPing
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
    fn silent_broker_gets_a_ping_then_is_declared_dead() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(2, t0);
        k.connected(None, t0);
        assert_eq!(k.check(t0 + secs(2)), KeepAliveAction::SendPing);
        k.ping_sent(t0 + secs(2));
        assert_eq!(
            k.check(t0 + Duration::from_millis(3999)),
            KeepAliveAction::Idle
        );
        assert_eq!(k.check(t0 + secs(4)), KeepAliveAction::Expired);
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
        for tenth in 11..=30 {
            let now = t0 + Duration::from_millis(tenth * 100);
            k.bytes_received(now);
            assert_ne!(k.check(now), KeepAliveAction::Expired);
        }
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
