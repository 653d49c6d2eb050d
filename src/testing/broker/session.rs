//! One client's session: its subscriptions, the messages it still has to
//! receive or acknowledge, and the QoS 2 ids it sent us. Pure state: the
//! connection code does the I/O.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::packet::{Ack, Packet, PacketType, ProtocolVersion, Publish, QoS, SubscribeOptions};

/// What a connection's writer thread is told to do.
pub(crate) enum Outbound {
    Packet(Packet),
    /// Flush what is queued, then close the socket.
    Close,
}

/// The live connection a session is attached to.
pub(crate) struct Link {
    pub(crate) connection: u64,
    pub(crate) tx: Sender<Outbound>,
    /// The client's MQTT 5 Receive Maximum (65535 when not given).
    pub(crate) receive_maximum: u16,
}

impl Link {
    pub(crate) fn send(&self, packet: Packet) {
        // A closed writer means the connection is going away; its reader
        // detaches the session, and unsent messages stay queued.
        let _ = self.tx.send(Outbound::Packet(packet));
    }
}

/// One subscription of a session.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) options: SubscribeOptions,
    pub(crate) identifier: Option<u32>,
}

/// Where an outgoing QoS 1 or 2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// Not written yet (client away, or its receive window was full).
    Queued,
    /// Written; waiting for PUBACK or PUBREC.
    Sent,
    /// PUBREC received and PUBREL written; waiting for PUBCOMP.
    Released,
}

pub(crate) struct Outgoing {
    pub(crate) publish: Publish,
    pub(crate) state: OutState,
}

/// When a session ends once its client is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// At disconnect (clean session, or MQTT 5 session expiry 0).
    AtDisconnect,
    /// This long after disconnect (MQTT 5 session expiry interval).
    After(Duration),
    /// Never (MQTT 3 clean session 0, or MQTT 5 expiry 0xFFFFFFFF).
    Never,
}

pub(crate) struct Session {
    pub(crate) client_id: String,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) link: Option<Link>,
    pub(crate) expiry: Expiry,
    pub(crate) disconnected_at: Option<Instant>,
    pub(crate) subscriptions: BTreeMap<String, Subscription>,
    /// Outgoing QoS 1/2 messages in the order they must be delivered.
    pub(crate) outgoing: VecDeque<Outgoing>,
    /// Packet ids of inbound QoS 2 messages waiting for PUBREL.
    pub(crate) inbound_qos2: HashSet<u16>,
    next_packet_id: u16,
}

impl Session {
    pub(crate) fn new(client_id: String, protocol: ProtocolVersion, expiry: Expiry) -> Session {
        Session {
            client_id,
            protocol,
            link: None,
            expiry,
            disconnected_at: None,
            subscriptions: BTreeMap::new(),
            outgoing: VecDeque::new(),
            inbound_qos2: HashSet::new(),
            next_packet_id: 1,
        }
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        match (self.expiry, self.disconnected_at) {
            (_, None) => false,
            (Expiry::AtDisconnect, Some(_)) => true,
            (Expiry::After(d), Some(at)) => now.saturating_duration_since(at) >= d,
            (Expiry::Never, Some(_)) => false,
        }
    }

    /// A free packet id, or `None` when all 65535 are in use.
    fn allocate_packet_id(&mut self) -> Option<u16> {
        if self.outgoing.len() >= usize::from(u16::MAX) {
            return None;
        }
        let in_use: HashSet<u16> = self.outgoing.iter().map(|o| o.publish.packet_id).collect();
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = if id == u16::MAX { 1 } else { id + 1 };
            if !in_use.contains(&id) {
                return Some(id);
            }
        }
    }

    /// Delivers (or queues) one message. Returns false if it was dropped
    /// because the queue limit was reached.
    pub(crate) fn deliver(&mut self, mut publish: Publish, queue_limit: usize) -> bool {
        if publish.qos == QoS::AtMostOnce {
            // QoS 0 is not queued for an absent client (Mosquitto's default).
            if let Some(link) = &self.link {
                link.send(Packet::Publish(publish));
            }
            return true;
        }
        if self.outgoing.len() >= queue_limit {
            return false;
        }
        let Some(id) = self.allocate_packet_id() else {
            return false;
        };
        publish.packet_id = id;
        publish.dup = false;
        self.outgoing.push_back(Outgoing {
            publish,
            state: OutState::Queued,
        });
        self.pump();
        true
    }

    fn in_flight(&self) -> usize {
        self.outgoing
            .iter()
            .filter(|o| o.state != OutState::Queued)
            .count()
    }

    /// Writes queued messages while the client's receive window has room.
    pub(crate) fn pump(&mut self) {
        let Some(link) = &self.link else { return };
        let mut room = usize::from(link.receive_maximum).saturating_sub(self.in_flight());
        for out in self.outgoing.iter_mut() {
            if room == 0 {
                break;
            }
            if out.state == OutState::Queued {
                out.state = OutState::Sent;
                link.send(Packet::Publish(out.publish.clone()));
                room -= 1;
            }
        }
    }

    /// After a reconnect to an existing session: re-send what was in flight
    /// (PUBLISH with DUP, PUBREL as is), then what was queued.
    pub(crate) fn resume(&mut self) {
        let Some(link) = &self.link else { return };
        for out in self.outgoing.iter_mut() {
            match out.state {
                OutState::Sent => {
                    out.publish.dup = true;
                    link.send(Packet::Publish(out.publish.clone()));
                }
                OutState::Released => link.send(Packet::PubRel(Ack::new(
                    PacketType::PubRel,
                    out.publish.packet_id,
                ))),
                OutState::Queued => {}
            }
        }
        self.pump();
    }

    /// PUBACK, or PUBCOMP: the message is done.
    pub(crate) fn complete(&mut self, packet_id: u16) {
        self.outgoing.retain(|o| o.publish.packet_id != packet_id);
        self.pump();
    }

    /// PUBREC: answer PUBREL, unless the client refused the message.
    pub(crate) fn received(&mut self, packet_id: u16, refused: bool) {
        if refused {
            self.complete(packet_id);
            return;
        }
        if let Some(out) = self
            .outgoing
            .iter_mut()
            .find(|o| o.publish.packet_id == packet_id)
        {
            out.state = OutState::Released;
        }
        // PUBREL is sent even for an unknown id, so the client can finish.
        if let Some(link) = &self.link {
            link.send(Packet::PubRel(Ack::new(PacketType::PubRel, packet_id)));
        }
    }
}
