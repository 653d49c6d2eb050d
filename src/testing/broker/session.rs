//! One client's session: its subscriptions, the messages it still has to
//! receive or acknowledge, and the QoS 2 ids it sent us. The I/O is the
//! connection's; a session only hands packets to its [`Link`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::limits::{packet_weight, publish_weight, BrokerLimits};
use crate::packet::{Ack, Packet, PacketType, ProtocolVersion, Publish, QoS, SubscribeOptions};
use crate::testing::net::Stream;

/// What a connection's writer thread is told to do.
pub(crate) enum Outbound {
    /// Write this packet; the number is its weight in the backlog. Boxed:
    /// the channel holds many of these and most are small.
    Packet(Box<Packet>, usize),
    /// Close the socket.
    Close,
}

/// The way into one connection's writer thread, with its backlog budget.
#[derive(Clone)]
pub(crate) struct Outlet {
    pub(crate) tx: Sender<Outbound>,
    /// Weight of the packets handed to the writer and not yet written.
    pub(crate) backlog: Arc<AtomicUsize>,
    pub(crate) max_backlog: usize,
    /// Shut down when the client falls too far behind.
    pub(crate) closer: Arc<Stream>,
}

impl Outlet {
    /// Hands a packet to the writer. A client whose backlog would pass the
    /// limit is disconnected instead: its reader then detaches the session,
    /// and unsent QoS 1/2 messages stay queued.
    pub(crate) fn send(&self, packet: Packet) {
        let weight = packet_weight(&packet);
        let before = self.backlog.fetch_add(weight, Ordering::SeqCst);
        if before + weight > self.max_backlog {
            self.backlog.fetch_sub(weight, Ordering::SeqCst);
            let _ = self.closer.shutdown(Shutdown::Both);
            return;
        }
        if self
            .tx
            .send(Outbound::Packet(Box::new(packet), weight))
            .is_err()
        {
            self.backlog.fetch_sub(weight, Ordering::SeqCst);
        }
    }

    /// Tells the writer to close the socket after what is queued.
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Outbound::Close);
    }
}

/// The live connection a session is attached to.
pub(crate) struct Link {
    pub(crate) connection: u64,
    pub(crate) outlet: Outlet,
    pub(crate) protocol: ProtocolVersion,
    /// The client's MQTT 5 Receive Maximum (65535 when not given).
    pub(crate) receive_maximum: u16,
    /// The client's MQTT 5 Maximum Packet Size, if it set one.
    pub(crate) max_packet_size: Option<u32>,
}

impl Link {
    pub(crate) fn send(&self, packet: Packet) {
        self.outlet.send(packet);
    }

    /// MQTT 5 §3.1.2.11.4: a packet larger than the client's Maximum Packet
    /// Size is not sent; the broker acts as if it had been delivered.
    pub(crate) fn fits(&self, publish: &Publish) -> bool {
        let Some(max) = self.max_packet_size else {
            return true;
        };
        let mut bytes = Vec::new();
        publish.encode(self.protocol, &mut bytes).is_ok() && bytes.len() as u64 <= u64::from(max)
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
    /// Not written on the current connection yet (client away, or its
    /// receive window was full). `publish.dup` says whether it was written on
    /// an earlier one.
    Queued,
    /// Written; waiting for PUBACK or PUBREC.
    Sent,
    /// PUBREC received and PUBREL written; waiting for PUBCOMP.
    Released,
}

pub(crate) struct Outgoing {
    pub(crate) publish: Publish,
    pub(crate) state: OutState,
    weight: usize,
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
    outgoing: VecDeque<Outgoing>,
    queued_bytes: usize,
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
            queued_bytes: 0,
            inbound_qos2: HashSet::new(),
            next_packet_id: 1,
        }
    }

    /// True if this session's live link is `connection`.
    pub(crate) fn is_linked_to(&self, connection: u64) -> bool {
        self.link.as_ref().map(|l| l.connection) == Some(connection)
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

    /// Delivers (or queues) one message; what the limits do not allow is
    /// dropped.
    pub(crate) fn deliver(&mut self, mut publish: Publish, limits: &BrokerLimits) {
        if publish.qos == QoS::AtMostOnce {
            // QoS 0 is not queued for an absent client (Mosquitto's default).
            if let Some(link) = self.link.as_ref().filter(|l| l.fits(&publish)) {
                link.send(Packet::Publish(publish));
            }
            return;
        }
        let weight = publish_weight(&publish);
        if self.outgoing.len() >= limits.max_queued_messages
            || self.queued_bytes + weight > limits.max_queued_bytes
        {
            return;
        }
        let Some(id) = self.allocate_packet_id() else {
            return;
        };
        publish.packet_id = id;
        publish.dup = false;
        self.queued_bytes += weight;
        self.outgoing.push_back(Outgoing {
            publish,
            state: OutState::Queued,
            weight,
        });
        self.pump();
    }

    fn in_flight(&self) -> usize {
        self.outgoing
            .iter()
            .filter(|o| o.state != OutState::Queued)
            .count()
    }

    /// Writes queued messages, in order, while the client's receive window
    /// has room.
    pub(crate) fn pump(&mut self) {
        let in_flight = self.in_flight();
        let Session {
            link,
            outgoing,
            queued_bytes,
            ..
        } = self;
        let Some(link) = link else { return };
        let mut room = usize::from(link.receive_maximum).saturating_sub(in_flight);
        let mut i = 0;
        while i < outgoing.len() && room > 0 {
            let out = &mut outgoing[i];
            if out.state == OutState::Queued {
                if !link.fits(&out.publish) {
                    *queued_bytes -= out.weight;
                    outgoing.remove(i);
                    continue;
                }
                out.state = OutState::Sent;
                link.send(Packet::Publish(out.publish.clone()));
                // Any later copy of this message is a re-delivery.
                out.publish.dup = true;
                room -= 1;
            }
            i += 1;
        }
    }

    /// After a reconnect to an existing session: re-send what was in flight
    /// (PUBLISH with DUP within the new receive window, PUBREL as is), then
    /// what was queued.
    pub(crate) fn resume(&mut self) {
        let Some(link) = &self.link else { return };
        let mut room = usize::from(link.receive_maximum);
        for out in self.outgoing.iter_mut() {
            match out.state {
                OutState::Released => {
                    link.send(Packet::PubRel(Ack::new(
                        PacketType::PubRel,
                        out.publish.packet_id,
                    )));
                    room = room.saturating_sub(1);
                }
                OutState::Sent if room > 0 => {
                    link.send(Packet::Publish(out.publish.clone()));
                    room -= 1;
                }
                // Outside the (possibly smaller) new window: wait in order.
                OutState::Sent => out.state = OutState::Queued,
                OutState::Queued => {}
            }
        }
        self.pump();
    }

    fn remove_where(&mut self, packet_id: u16, state: OutState, qos: QoS) -> bool {
        let found = self.outgoing.iter().position(|o| {
            o.publish.packet_id == packet_id && o.state == state && o.publish.qos == qos
        });
        if let Some(i) = found {
            if let Some(out) = self.outgoing.remove(i) {
                self.queued_bytes -= out.weight;
            }
            self.pump();
        }
        found.is_some()
    }

    /// PUBACK: a sent QoS 1 message is done.
    pub(crate) fn acknowledged(&mut self, packet_id: u16) {
        self.remove_where(packet_id, OutState::Sent, QoS::AtLeastOnce);
    }

    /// PUBCOMP: a released QoS 2 message is done.
    pub(crate) fn completed(&mut self, packet_id: u16) {
        self.remove_where(packet_id, OutState::Released, QoS::ExactlyOnce);
    }

    /// PUBREC: answer PUBREL, unless the client refused the message.
    pub(crate) fn received(&mut self, packet_id: u16, refused: bool) {
        if refused {
            self.remove_where(packet_id, OutState::Sent, QoS::ExactlyOnce);
            return;
        }
        if let Some(out) = self
            .outgoing
            .iter_mut()
            .find(|o| o.publish.packet_id == packet_id && o.publish.qos == QoS::ExactlyOnce)
        {
            out.state = OutState::Released;
        }
        // PUBREL is sent even for an unknown id, so the client can finish.
        if let Some(link) = &self.link {
            link.send(Packet::PubRel(Ack::new(PacketType::PubRel, packet_id)));
        }
    }
}
