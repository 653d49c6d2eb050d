//! What clients can make the broker hold, and how much each thing weighs.
//!
//! A test broker still must not grow without bound because of what a client
//! sends: every store (per-connection write backlog, per-session queue,
//! retained messages, the event log) has a count or byte budget, and what
//! does not fit is dropped or the offending connection is closed.

use crate::packet::{Packet, Publish};

/// Bounds on what clients can make the broker hold. `Default` suits tests:
/// generous, but finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerLimits {
    /// The largest packet accepted from a client (also announced to MQTT 5
    /// clients as Maximum Packet Size); bigger ones close the connection.
    /// Default 1 MiB.
    pub max_packet_size: usize,
    /// Live connections; more are closed at once. Default 1,024.
    pub max_connections: usize,
    /// Sessions, connected or not; a CONNECT that needs one more is refused
    /// (3.1.1: 3 "server unavailable"; 5.0: 0x97 "quota exceeded").
    /// Default 10,000.
    pub max_sessions: usize,
    /// QoS 1/2 messages one session holds (queued or in flight); more are
    /// dropped. Default 10,000.
    pub max_queued_messages: usize,
    /// Bytes of QoS 1/2 messages one session holds; more are dropped.
    /// Default 64 MiB.
    pub max_queued_bytes: usize,
    /// Bytes waiting to be written to one connection; a client that reads
    /// slower than that is disconnected. Default 64 MiB.
    pub max_backlog_bytes: usize,
    /// Bytes of retained messages; a retained message that does not fit is
    /// forwarded but not stored. Default 64 MiB.
    pub max_retained_bytes: usize,
    /// Events the log keeps (the oldest go first). Default 100,000.
    pub event_log_limit: usize,
    /// Bytes of packets the log keeps (the oldest go first). Default 64 MiB.
    pub event_log_bytes: usize,
}

impl Default for BrokerLimits {
    fn default() -> BrokerLimits {
        const MIB: usize = 1 << 20;
        BrokerLimits {
            max_packet_size: MIB,
            max_connections: 1024,
            max_sessions: 10_000,
            max_queued_messages: 10_000,
            max_queued_bytes: 64 * MIB,
            max_backlog_bytes: 64 * MIB,
            max_retained_bytes: 64 * MIB,
            event_log_limit: 100_000,
            event_log_bytes: 64 * MIB,
        }
    }
}

/// What a packet costs to hold: its variable parts plus a fixed overhead for
/// the structure around them.
pub(crate) fn packet_weight(packet: &Packet) -> usize {
    match packet {
        Packet::Publish(p) => publish_weight(p),
        Packet::Connect(c) => {
            64 + c.client_id.len()
                + c.will
                    .as_ref()
                    .map_or(0, |w| w.topic.len() + w.payload.len())
                + c.properties.as_bytes().len()
        }
        Packet::Subscribe(s) => 64 + s.filters.iter().map(|(f, _)| f.len() + 8).sum::<usize>(),
        Packet::Unsubscribe(u) => 64 + u.filters.iter().map(|f| f.len() + 8).sum::<usize>(),
        _ => 64,
    }
}

pub(crate) fn publish_weight(p: &Publish) -> usize {
    64 + p.topic.len() + p.payload.len() + p.properties.as_bytes().len()
}
