//! What the session counts for `stats()`: plain counters, bumped under the
//! core lock the session already runs under, so counting costs no lock and
//! no atomic operation of its own.

use crate::packet::QoS;

/// Messages and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// PUBLISH packets.
    pub messages: u64,
    /// Their bytes on the wire (fixed header, topic, properties, payload).
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

/// Connections that ended, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Disconnects {
    /// By the application's `disconnect()`.
    pub requested: u64,
    /// By an MQTT 5 DISCONNECT from the broker.
    pub by_server: u64,
    /// The socket failed or reached its end.
    pub lost: u64,
    /// The broker stayed silent past the keepalive.
    pub keepalive: u64,
    /// A protocol error or a broken limit, either side's.
    pub protocol: u64,
    /// The CONNACK refused the connection.
    pub refused: u64,
}

/// The session's counters, from its creation on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections a CONNACK accepted.
    pub connects: u64,
    /// Attempts that got no CONNACK: the transport failed to open, or the
    /// connection ended before the CONNACK.
    pub connect_failures: u64,
    /// Connections that ended, by why.
    pub disconnects: Disconnects,
    /// PUBLISH packets handed to a connection, by QoS (index 0, 1, 2),
    /// re-sends included.
    pub sent: [Traffic; 3],
    /// PUBLISH packets received, by QoS.
    pub received: [Traffic; 3],
    /// Of `sent`, the re-sends of stored messages after a reconnect (DUP).
    pub resent: u64,
    /// Messages the broker refused (MQTT 5 PUBACK, PUBREC or PUBCOMP with a
    /// reason code of 0x80 or more), or a limit it announced forbade.
    pub refused: u64,
    /// Messages `publish` did not take (`MQTT_ERR_QUEUE_SIZE`,
    /// `MQTT_ERR_PAYLOAD_SIZE`, `MQTT_ERR_NOT_SUPPORTED`).
    pub rejected: u64,
    /// Messages that ended undelivered: QoS 0 ones published without a
    /// connection or never written before it closed, and stored ones
    /// `drop_out_messages` removed.
    pub dropped: u64,
    /// MQTT bytes written, every packet.
    pub bytes_sent: u64,
    /// MQTT bytes received, every packet.
    pub bytes_received: u64,
}

impl Counters {
    /// A PUBLISH of `bytes` went to the connection.
    pub(crate) fn sent(&mut self, qos: QoS, bytes: usize, dup: bool) {
        self.sent[qos as usize].add(bytes);
        self.resent += u64::from(dup);
    }

    /// A PUBLISH of `bytes` arrived.
    pub(crate) fn received(&mut self, qos: QoS, bytes: usize) {
        self.received[qos as usize].add(bytes);
    }
}
