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
    /// No CONNACK within the keepalive, no complete packet within a
    /// keepalive of a PINGREQ, or 1.5 × keepalive of silence: the link is
    /// dead (Paho's `MQTT_ERR_KEEPALIVE`).
    Expired,
}

/// The keepalive state of one connection.
///
/// The rules (reference §11, made explicit, with the dead-link bounds this
/// crate promises):
/// * awaiting CONNACK: dead one keepalive after the connection began (as
///   Paho); with keepalive 0, after the CONNACK timeout, if one is set
///   ([`KeepAlive::with_connack_timeout`]; Paho waits for ever);
/// * connected: a PINGREQ is due one keepalive after the last packet sent
///   *or* the last complete packet received, whichever is older, so a
///   client that only sends still probes a silent broker, and one that
///   only receives the bytes of a packet that never ends probes it too;
/// * dead one keepalive after a PINGREQ that no complete packet (its
///   PINGRESP or any other) followed. Bytes of a packet still arriving do
///   not count: a broker trickling a packet it never finishes is dead
///   (Paho 2.2 counts any byte as life and never says so). A download of
///   one packet therefore has between one and two keepalives to complete;
/// * dead once nothing at all arrived for 1.5 × keepalive, whatever the
///   outgoing traffic (Paho: about 2 × keepalive, plus its loop timeout);
/// * keepalive 0 disables the rest, as in Paho.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    period: Option<Duration>,
    connected: bool,
    started: Instant,
    last_sent: Instant,
    /// The last complete packet received.
    last_packet: Instant,
    /// The last bytes received (of a complete packet or not).
    last_bytes: Instant,
    /// A PINGREQ no complete packet has followed yet.
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
            last_packet: now,
            last_bytes: now,
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
        self.packet_received(now);
    }

    /// A packet was written.
    pub fn packet_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// Bytes arrived (any bytes: a chunk of a long packet counts), which
    /// only postpones the 1.5 × keepalive silence bound; see
    /// [`KeepAlive::packet_received`].
    pub fn bytes_received(&mut self, now: Instant) {
        self.last_bytes = now;
    }

    /// A complete packet arrived: it answers an outstanding PINGREQ, as a
    /// PINGRESP does, and postpones the next one.
    pub fn packet_received(&mut self, now: Instant) {
        self.last_packet = now;
        self.last_bytes = now;
        self.ping_sent = None;
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

    /// True while a PINGREQ waits for its PINGRESP (or any complete
    /// packet).
    pub fn ping_outstanding(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// The next moment `check` may have something to do (`None`: never).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.connected {
            return self.connack_wait().map(|wait| self.started + wait);
        }
        let period = self.period?;
        let silent = self.last_bytes + period + period / 2;
        Some(match self.ping_sent {
            Some(ping) => (ping + period).min(silent),
            None => (self.last_sent.min(self.last_packet) + period).min(silent),
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
        if now >= self.last_bytes + period + period / 2 {
            return KeepAliveAction::Expired;
        }
        match self.ping_sent {
            Some(ping) if now >= ping + period => KeepAliveAction::Expired,
            Some(_) => KeepAliveAction::Idle,
            None if now >= self.last_sent.min(self.last_packet) + period => {
                KeepAliveAction::SendPing
            }
            None => KeepAliveAction::Idle,
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
        // The PINGRESP.
        k.bytes_received(t0 + secs(11));
        k.packet_received(t0 + secs(11));
        k.pong();
        k.packet_sent(t0 + secs(15));
        k.bytes_received(t0 + secs(16));
        k.packet_received(t0 + secs(16));
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

    /// Issue 16 changed this test: bytes alone no longer keep the link
    /// alive (they kept it alive for ever, a packet never finishing); a
    /// packet must complete within a keepalive of each PINGREQ.
    #[test]
    fn a_long_download_lives_while_a_packet_completes_within_a_keepalive_of_each_ping() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(1, t0);
        k.connected(None, t0);
        k.ping_sent(t0 + secs(1));
        let mut pings = Vec::new();
        for tenth in 11..=39 {
            let now = t0 + Duration::from_millis(tenth * 100);
            k.bytes_received(now);
            // Packets complete at 1.5 s and 2.5 s, then none.
            if tenth % 10 == 5 && tenth < 30 {
                k.packet_received(now);
            }
            match k.check(now) {
                KeepAliveAction::Expired => panic!("dead at {tenth} tenths"),
                KeepAliveAction::SendPing => {
                    pings.push(tenth);
                    k.ping_sent(now);
                }
                KeepAliveAction::Idle => {}
            }
        }
        assert_eq!(
            pings,
            [20, 30],
            "pinged again every keepalive while bytes arrive"
        );
        // The bytes go on, but no packet follows the PINGREQ of 3 s.
        assert_eq!(k.deadline(), Some(t0 + secs(4)));
        assert_eq!(k.check(t0 + secs(4)), KeepAliveAction::Expired);
    }

    /// Issue 16: a broker that sends a byte a second of a packet it never
    /// finishes is dead one keepalive after the PINGREQ, however busy the
    /// client is sending.
    #[test]
    fn a_trickle_that_never_completes_a_packet_is_a_dead_link() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(3, t0);
        k.connected(None, t0);
        let mut pings = Vec::new();
        for tenth in 1..=59 {
            let now = t0 + Duration::from_millis(tenth * 100);
            k.packet_sent(now);
            if tenth % 10 == 0 {
                k.bytes_received(now);
            }
            match k.check(now) {
                KeepAliveAction::Expired => panic!("dead at {tenth} tenths"),
                KeepAliveAction::SendPing => {
                    pings.push(tenth);
                    k.ping_sent(now);
                }
                KeepAliveAction::Idle => {}
            }
        }
        assert_eq!(pings, [30], "one PINGREQ, a keepalive after the CONNACK");
        assert_eq!(k.deadline(), Some(t0 + secs(6)));
        assert_eq!(k.check(t0 + secs(6)), KeepAliveAction::Expired);
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
