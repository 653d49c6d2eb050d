//! The broker's event log: what tests assert on, and what `-v` prints.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::limits::packet_weight;
use crate::packet::Packet;
use crate::testing::net::{deadline_after, Endpoint};
use crate::testing::{Error, Result};

/// Why the broker closed (or lost) a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT (a clean close: no will).
    ClientDisconnect,
    /// The client sent an MQTT 5 DISCONNECT with reason 0x04, "disconnect with
    /// will message": clean, but the will is published.
    ClientDisconnectWithWill,
    /// The client closed the socket without DISCONNECT.
    PeerClosed,
    /// Nothing arrived for 1.5 times the keepalive.
    KeepaliveTimeout,
    /// The client broke the protocol; the text says how.
    ProtocolError(String),
    /// Another connection with the same client id took the session over.
    TakenOver,
    /// The CONNECT was refused with this CONNACK return or reason code.
    Refused(u8),
    /// The broker was stopped.
    BrokerStopped,
    /// The broker already had its maximum of live connections.
    TooManyConnections,
}

impl CloseReason {
    /// True when the will message is published for this close.
    pub fn publishes_will(&self) -> bool {
        !matches!(
            self,
            CloseReason::ClientDisconnect
                | CloseReason::Refused(_)
                | CloseReason::BrokerStopped
                | CloseReason::TooManyConnections
        )
    }
}

/// One entry of the broker's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// The broker started listening.
    Listening {
        /// Where it listens.
        endpoint: Endpoint,
    },
    /// A connection was accepted.
    Accepted {
        /// The broker's number for the connection.
        connection: u64,
        /// The peer's address.
        peer: String,
    },
    /// A packet arrived from a client.
    PacketIn {
        /// The connection it arrived on.
        connection: u64,
        /// The client id (empty before the CONNECT is read).
        client_id: String,
        /// The packet.
        packet: Packet,
    },
    /// A packet was written to a client.
    PacketOut {
        /// The connection it was written to.
        connection: u64,
        /// The client id.
        client_id: String,
        /// The packet.
        packet: Packet,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        connection: u64,
        /// The client id (empty if no CONNECT was accepted).
        client_id: String,
        /// Why.
        reason: CloseReason,
    },
    /// A client's will message was published.
    WillPublished {
        /// The client whose will it was.
        client_id: String,
        /// The will topic.
        topic: String,
    },
    /// The broker stopped listening and closed every connection.
    Stopped,
}

/// A bounded log with waiting and optional live watchers.
pub(crate) struct EventLog {
    inner: Mutex<LogInner>,
    changed: Condvar,
}

struct LogInner {
    events: VecDeque<BrokerEvent>,
    /// The weight of each event in `events`, in the same order.
    weights: VecDeque<usize>,
    bytes: usize,
    limit: usize,
    byte_limit: usize,
    watchers: Vec<mpsc::Sender<BrokerEvent>>,
}

fn weight(event: &BrokerEvent) -> usize {
    match event {
        BrokerEvent::PacketIn { packet, .. } | BrokerEvent::PacketOut { packet, .. } => {
            packet_weight(packet)
        }
        _ => 64,
    }
}

impl EventLog {
    pub(crate) fn new(limit: usize, byte_limit: usize) -> EventLog {
        EventLog {
            inner: Mutex::new(LogInner {
                events: VecDeque::new(),
                weights: VecDeque::new(),
                bytes: 0,
                limit: limit.max(1),
                byte_limit,
                watchers: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn push(&self, event: BrokerEvent) {
        let mut inner = self.inner.lock();
        inner.watchers.retain(|w| w.send(event.clone()).is_ok());
        // Bounded so a long-running standalone broker does not grow forever;
        // tests read the recent past.
        let w = weight(&event);
        inner.events.push_back(event);
        inner.weights.push_back(w);
        inner.bytes += w;
        while inner.events.len() > inner.limit
            || (inner.bytes > inner.byte_limit && inner.events.len() > 1)
        {
            inner.events.pop_front();
            let gone = inner.weights.pop_front().unwrap_or(0);
            inner.bytes -= gone;
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub(crate) fn snapshot(&self) -> Vec<BrokerEvent> {
        self.inner.lock().events.iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.events.clear();
        inner.weights.clear();
        inner.bytes = 0;
    }

    pub(crate) fn watch(&self) -> mpsc::Receiver<BrokerEvent> {
        let (tx, rx) = mpsc::channel();
        self.inner.lock().watchers.push(tx);
        rx
    }

    /// Waits until an event in the log satisfies `pred` (events already
    /// logged count) and returns the first such event. `pred` runs with the
    /// log locked, so it must not call back into the log.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&BrokerEvent) -> bool,
    ) -> Result<BrokerEvent> {
        let deadline = deadline_after(timeout);
        let mut inner = self.inner.lock();
        loop {
            if let Some(e) = inner.events.iter().find(|e| pred(e)) {
                return Ok(e.clone());
            }
            if self.changed.wait_until(&mut inner, deadline).timed_out() {
                if let Some(e) = inner.events.iter().find(|e| pred(e)) {
                    return Ok(e.clone());
                }
                return Err(Error::Timeout {
                    waiting_for: what.to_string(),
                    after: timeout,
                    received: String::new(),
                });
            }
        }
    }
}
