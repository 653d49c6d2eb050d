//! The sans-IO protocol core of the client: one MQTT session's state
//! machine.
//!
//! It never touches a socket, never spawns a thread and never reads a clock:
//! the layer above feeds it bytes and `Instant`s and commands, writes the
//! bytes it produces, and turns its [`Event`]s into callbacks. That is what
//! makes the client's behaviour testable to the byte and to the millisecond.
//!
//! What it owns: message ids ([`MidAllocator`]), the outgoing store of QoS 1
//! and 2 messages that survives reconnects ([`OutgoingStore`]), the in-flight
//! window, inbound QoS 2 messages waiting for PUBREL, topic aliases, the
//! keepalive decisions ([`KeepAlive`]) and CONNACK handling. The rules follow
//! the Paho Python client (the crate's reference, §6, §11 to §13), except
//! where Paho has a known bug, which the docs of each item name.
//!
//! A connection's life, as the driver sees it:
//!
//! 1. [`Session::start_connection`] queues CONNECT (and re-arms the store);
//! 2. write [`Session::pending`] to the socket and report it with
//!    [`Session::written`]; feed what arrives to [`Session::received`]; call
//!    [`Session::handle_timeout`] at [`Session::next_deadline`];
//! 3. drain [`Session::poll_event`] after each of those and run callbacks;
//! 4. when a call returns a [`Close`], or the socket fails, close it and call
//!    [`Session::connection_closed`].

mod backoff;
mod config;
mod event;
mod inbound;
mod keepalive;
mod mid;
mod mid_table;
mod outgoing;
mod resubscribe;
pub mod trace;
mod transmit;

pub use backoff::{Backoff, Jitter};
pub use config::{CleanStart, SessionConfig};
pub use event::{Close, Event, Message};
pub use inbound::{InboundQos2, TopicAliases};
pub use keepalive::{KeepAlive, KeepAliveAction};
pub use mid::MidAllocator;
pub(crate) use mid_table::MidTable;
pub use outgoing::{OutState, OutgoingStore, PubRec, Resend, Stored};
pub use resubscribe::SubscriptionBook;
pub use transmit::{Completion, TransmitBuffer};

use std::collections::VecDeque;
use std::time::Instant;

use crate::error::ErrorCode;
use crate::packet::{
    Ack, Connect, Decoder, Disconnect, Packet, PacketType, Properties, ProtocolVersion, Publish,
    PublishRef, QoS, ReasonCode, Subscribe, SubscribeOptions, Unsubscribe, DEFAULT_MAX_PACKET_SIZE,
};

/// Where the connection stands, from the session's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No connection.
    Down,
    /// CONNECT queued; waiting for CONNACK.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
    /// Our DISCONNECT is queued or written.
    Disconnecting,
}

/// What [`Session::publish`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishResult {
    /// The message id (allocated for QoS 0 too, as in Paho).
    pub mid: u16,
    /// Paho's `rc` for it: `Success`; `NoConn` (QoS 0 dropped, or QoS 1/2
    /// stored while there is no connection); `QueueSize` (store full, not
    /// stored); `PayloadSize` (larger than the broker accepts, not stored).
    pub rc: ErrorCode,
    /// True if a QoS 1/2 message is in the outgoing store.
    pub stored: bool,
    /// The stored message's place in the order of publishes
    /// ([`Stored::seq`]); 0 when not stored.
    pub seq: u64,
}

/// One MQTT session (see the [module docs](self)).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    link: LinkState,
    mids: MidAllocator,
    store: OutgoingStore,
    inbound: InboundQos2,
    aliases: TopicAliases,
    keepalive: KeepAlive,
    decoder: Decoder,
    transmit: TransmitBuffer,
    events: VecDeque<Event>,
    /// How many of `events` are `Published`, so [`Session::take_published`]
    /// does not walk a queue that holds none (a backlog of messages).
    published_events: usize,
    /// A CONNECT has been sent since `connect()` (MQTT 5 clean start "first
    /// only").
    first_connect: bool,
    /// The broker's MQTT 5 Receive Maximum (65535 when not given).
    broker_receive_maximum: u16,
    /// The broker's MQTT 5 Maximum Packet Size, if it gave one.
    broker_max_packet_size: Option<u32>,
    /// The store is re-sent once the application has seen the CONNACK
    /// event, so messages published in `on_connect` go first (reference
    /// §12.4).
    resume_pending: bool,
    resume_armed: bool,
    /// CONNECT sent and no CONNACK yet (even if DISCONNECT was queued since).
    awaiting_connack: bool,
    book: SubscriptionBook,
    trace: bool,
}

impl Session {
    /// A session with `config`; no connection yet.
    pub fn new(config: SessionConfig) -> Session {
        let now = Instant::now();
        let decoder = Decoder::new(config.protocol);
        Session {
            keepalive: KeepAlive::new(config.keepalive, now),
            config,
            link: LinkState::Down,
            mids: MidAllocator::new(),
            store: OutgoingStore::new(),
            inbound: InboundQos2::default(),
            aliases: TopicAliases::default(),
            decoder,
            transmit: TransmitBuffer::new(),
            events: VecDeque::new(),
            published_events: 0,
            first_connect: true,
            broker_receive_maximum: u16::MAX,
            broker_max_packet_size: None,
            resume_pending: false,
            resume_armed: false,
            awaiting_connack: false,
            book: SubscriptionBook::new(),
            trace: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The configuration, to change between connections.
    pub fn config_mut(&mut self) -> &mut SessionConfig {
        &mut self.config
    }

    /// Where the connection stands.
    pub fn link_state(&self) -> LinkState {
        self.link
    }

    /// True after CONNACK accepted the connection and until it closes.
    pub fn is_connected(&self) -> bool {
        self.link == LinkState::Connected
    }

    /// The outgoing store (read-only).
    pub fn store(&self) -> &OutgoingStore {
        &self.store
    }

    /// Inbound QoS 2 messages waiting for PUBREL.
    pub fn inbound_qos2(&self) -> &InboundQos2 {
        &self.inbound
    }

    /// Makes the next CONNECT the "first" one again (what Paho's `connect()`
    /// does for MQTT 5 clean start).
    pub fn mark_first_connect(&mut self) {
        self.first_connect = true;
    }

    /// The in-flight window in effect: `max_inflight` (0: none) lowered to
    /// the broker's Receive Maximum, which Paho ignores.
    pub fn window(&self) -> usize {
        let broker = usize::from(self.broker_receive_maximum);
        match self.config.max_inflight {
            0 => broker,
            n => n.min(broker),
        }
    }

    /// Whether the next CONNECT starts a clean session.
    fn clean(&self) -> bool {
        match self.config.protocol {
            ProtocolVersion::MQTTv5 => match self.config.clean_start {
                CleanStart::Always => true,
                CleanStart::Never => false,
                CleanStart::FirstOnly => self.first_connect,
            },
            _ => self.config.clean_session,
        }
    }

    /// Begins a new connection at `now`: drops what was queued for the old
    /// one (unwritten QoS 0 messages are reported as
    /// [`Event::Qos0Dropped`]), re-arms the store for re-sending (reference
    /// §12.3), and queues CONNECT.
    pub fn start_connection(&mut self, now: Instant) {
        for completion in self.transmit.clear() {
            if let Completion::Qos0(mid) = completion {
                self.events.push_back(Event::Qos0Dropped { mid });
            }
        }
        let clean = self.clean();
        self.store.reset_for_reconnect(clean);
        if clean {
            self.inbound.clear();
        }
        self.decoder = Decoder::new(self.config.protocol).with_max_packet_size(
            self.config
                .connect_properties
                .maximum_packet_size()
                .map_or(DEFAULT_MAX_PACKET_SIZE, |m| m as usize),
        );
        let alias_max = if self.config.protocol == ProtocolVersion::MQTTv5 {
            self.config
                .connect_properties
                .topic_alias_maximum()
                .unwrap_or(0)
        } else {
            0
        };
        self.aliases = TopicAliases::new(alias_max);
        self.keepalive = KeepAlive::new(self.config.keepalive, now);
        self.broker_receive_maximum = u16::MAX;
        self.broker_max_packet_size = None;
        self.resume_pending = false;
        self.resume_armed = false;
        self.awaiting_connack = true;
        self.link = LinkState::Connecting;

        let c = &self.config;
        let mut connect = Connect::new(c.protocol, c.client_id.clone());
        connect.bridge = c.bridge;
        connect.clean_start = clean;
        connect.keep_alive = c.keepalive;
        connect.will = c.will.clone();
        // The password flag needs the username flag (Paho, reference §3.2).
        connect.username = c.username.clone();
        connect.password = c.username.as_ref().and(c.password.clone());
        if c.protocol == ProtocolVersion::MQTTv5 {
            connect.properties = c.connect_properties.clone();
        }
        self.queue(&Packet::Connect(connect), None);
        self.keepalive.packet_sent(now);
    }

    /// The connection is gone (closed by either side, or failed). QoS 0
    /// messages that were never written are reported as
    /// [`Event::Qos0Dropped`] now, so nobody waits for them.
    pub fn connection_closed(&mut self) {
        self.link = LinkState::Down;
        self.awaiting_connack = false;
        self.resume_pending = false;
        self.resume_armed = false;
        for completion in self.transmit.clear() {
            if let Completion::Qos0(mid) = completion {
                self.events.push_back(Event::Qos0Dropped { mid });
            }
        }
    }

    /// The bytes waiting to be written.
    pub fn pending(&mut self) -> &[u8] {
        self.maybe_resume();
        self.transmit.pending()
    }

    /// The bytes already queued, without starting the re-send that a
    /// CONNACK armed ([`Session::pending`] starts it): for a driver writing
    /// from a thread other than the one that delivers the CONNACK event.
    pub fn queued_bytes(&self) -> &[u8] {
        self.transmit.pending()
    }

    /// Moves the bytes waiting to be written to the end of `out`, so they
    /// can be written without holding whatever guards the session; report
    /// them with [`Session::written`].
    pub fn take_pending(&mut self, out: &mut Vec<u8>) {
        self.maybe_resume();
        self.transmit.take(out);
    }

    /// True when events wait for [`Session::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// How many events wait for [`Session::poll_event`].
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Takes the [`Event::Published`] events out of the queue, in order,
    /// releases their messages (see [`Session::release`]) and hands their
    /// mids to `done`: for a driver that completes acknowledged messages
    /// itself when the application has no callback for them. The other
    /// events keep their order.
    pub fn take_published(&mut self, mut done: impl FnMut(u16)) {
        if self.published_events == 0 {
            return;
        }
        self.published_events = 0;
        let store = &mut self.store;
        self.events.retain(|e| match e {
            Event::Published { mid, .. } => {
                store.release(*mid);
                done(*mid);
                false
            }
            _ => true,
        });
    }

    /// The application has had the [`Event::Published`] of `mid`: a QoS 1/2
    /// message leaves the store only now (see [`OutState::Acked`]).
    pub fn release(&mut self, mid: u16) {
        self.store.release(mid);
    }

    /// True when bytes wait to be written (Paho's `want_write`).
    pub fn wants_write(&self) -> bool {
        !self.transmit.is_empty() || self.resume_armed
    }

    /// True when everything queued so far has been reported written.
    pub fn is_flushed(&self) -> bool {
        self.transmit.is_flushed() && !self.resume_armed
    }

    /// `n` more bytes (of [`Session::pending`] or of what
    /// [`Session::take_pending`] handed out) were written at `now`.
    pub fn written(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.keepalive.packet_sent(now);
        }
        for completion in self.transmit.advance(n) {
            let event = match completion {
                Completion::Qos0(mid) => {
                    self.published_events += 1;
                    Event::Published {
                        mid,
                        reason_code: ReasonCode::success(PacketType::PubAck),
                        properties: Properties::new(PacketType::PubAck),
                    }
                }
                Completion::Disconnect => Event::DisconnectWritten,
            };
            self.events.push_back(event);
        }
    }

    /// The next event for the application, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.maybe_resume();
        let event = self.events.pop_front()?;
        if matches!(event, Event::Published { .. }) {
            self.published_events -= 1;
        }
        if matches!(&event, Event::Connack { reason_code, .. } if !reason_code.is_failure()) {
            // Re-send once the application has had this event (and run
            // on_connect), at its next call.
            self.resume_armed = self.resume_pending;
        }
        Some(event)
    }

    /// Puts events taken with [`Session::poll_event`] back in front of the
    /// queue, in their order (the application could not take them after
    /// all).
    pub fn unpoll_events(&mut self, events: impl DoubleEndedIterator<Item = Event>) {
        for event in events.rev() {
            if matches!(event, Event::Published { .. }) {
                self.published_events += 1;
            }
            self.events.push_front(event);
        }
    }

    fn maybe_resume(&mut self) {
        if !self.resume_armed {
            return;
        }
        self.resume_armed = false;
        self.resume_pending = false;
        // Nothing may follow our DISCONNECT (one queued in on_connect).
        if self.link != LinkState::Connected {
            return;
        }
        let window = self.window();
        for resend in self.store.resume(window) {
            match resend {
                Resend::Publish(mid) => self.send_stored(mid),
                Resend::PubRel(mid) => {
                    self.queue(&Packet::PubRel(Ack::new(PacketType::PubRel, mid)), None)
                }
            }
        }
    }

    /// When [`Session::handle_timeout`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.link {
            LinkState::Down => None,
            _ => self.keepalive.deadline(),
        }
    }

    /// Keepalive at `now`: queues a PINGREQ when one is due, or asks for the
    /// connection to close when the broker stayed silent.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Close> {
        if self.link == LinkState::Down {
            return Ok(());
        }
        match self.keepalive.check(now) {
            KeepAliveAction::Idle => Ok(()),
            KeepAliveAction::SendPing => {
                self.queue(&Packet::PingReq, None);
                self.keepalive.ping_sent(now);
                Ok(())
            }
            KeepAliveAction::Expired => Err(Close::Keepalive),
        }
    }

    /// Bytes from the connection, at `now`. Events are queued for each
    /// complete packet; an `Err` means: close the connection.
    pub fn received(&mut self, mut bytes: &[u8], now: Instant) -> Result<(), Close> {
        self.keepalive.bytes_received(now);
        while !bytes.is_empty() {
            match self.decoder.decode(&mut bytes) {
                Ok(Some(packet)) => self.handle_packet(packet, now)?,
                Ok(None) => break,
                Err(e) => return Err(Close::Protocol(format!("malformed packet: {e}"))),
            }
        }
        Ok(())
    }

    /// With `on`, every packet queued or received is also described in an
    /// [`Event::Log`] (for `on_log`); off by default, so nothing is
    /// formatted for a client nobody listens to.
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// One packet from the broker.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) -> Result<(), Close> {
        let v5 = self.config.protocol == ProtocolVersion::MQTTv5;
        if self.trace {
            self.events.push_back(Event::Log(trace::describe(
                trace::Direction::Received,
                &packet,
                self.config.protocol,
            )));
        }
        match packet {
            Packet::ConnAck(ack) if self.awaiting_connack => {
                self.awaiting_connack = false;
                let reason_code = ack.reason_code(self.config.protocol);
                // After any CONNACK, refused or not (Paho).
                self.first_connect = false;
                let refused = reason_code.is_failure() || (!v5 && ack.return_code != 0);
                self.events.push_back(Event::Connack {
                    session_present: ack.session_present,
                    reason_code,
                    properties: ack.properties.clone(),
                });
                if refused {
                    let rc = if !v5 && (1..=5).contains(&ack.return_code) {
                        ErrorCode::ConnRefused
                    } else {
                        ErrorCode::Protocol
                    };
                    return Err(Close::Refused { rc });
                }
                let p = &ack.properties;
                if let Some(k) = p.server_keep_alive() {
                    // Later CONNECTs carry it too (Paho 2.2).
                    self.config.keepalive = k;
                }
                self.keepalive.connected(p.server_keep_alive(), now);
                self.broker_receive_maximum = p.receive_maximum().unwrap_or(u16::MAX).max(1);
                self.broker_max_packet_size = p.maximum_packet_size();
                // A DISCONNECT queued before the CONNACK stays in charge.
                if self.link == LinkState::Connecting {
                    self.link = LinkState::Connected;
                    self.resume_pending = true;
                    if self.config.auto_resubscribe {
                        self.resubscribe(ack.session_present);
                    }
                }
            }
            Packet::ConnAck(_) => return Err(Close::Protocol("unexpected CONNACK".into())),
            Packet::Publish(p) => self.handle_publish(p)?,
            Packet::PubAck(a) => {
                if self.store.on_puback(a.packet_id) {
                    self.published(a);
                }
            }
            Packet::PubRec(a) => match self
                .store
                .on_pubrec(a.packet_id, a.reason_code.is_failure())
            {
                PubRec::SendPubRel => self.queue(
                    &Packet::PubRel(Ack::new(PacketType::PubRel, a.packet_id)),
                    None,
                ),
                PubRec::Ignored => {}
                // MQTT 5 §4.3.3: a failed PUBREC ends the exchange. Paho sends
                // PUBREL anyway and waits for a PUBCOMP that may never come.
                PubRec::Ended => self.published(a),
            },
            Packet::PubComp(a) => {
                if self.store.on_pubcomp(a.packet_id) {
                    self.published(a);
                }
            }
            Packet::PubRel(a) => {
                if let Some(message) = self.inbound.release(a.packet_id) {
                    self.events.push_back(Event::Message(message));
                } else if !self.config.manual_ack {
                    // Unknown id: complete anyway so the broker does not
                    // hang (Paho's choice, reference §13).
                    self.queue(
                        &Packet::PubComp(Ack::new(PacketType::PubComp, a.packet_id)),
                        None,
                    );
                }
            }
            Packet::SubAck(s) => {
                if self.config.auto_resubscribe {
                    let granted: Vec<bool> =
                        s.reason_codes.iter().map(|r| !r.is_failure()).collect();
                    self.book.suback(s.packet_id, &granted);
                }
                self.events.push_back(Event::Subscribed {
                    mid: s.packet_id,
                    reason_codes: s.reason_codes,
                    properties: s.properties,
                })
            }
            Packet::UnsubAck(u) => self.events.push_back(Event::Unsubscribed {
                mid: u.packet_id,
                reason_codes: u.reason_codes,
                properties: u.properties,
            }),
            Packet::PingResp => self.keepalive.pong(),
            Packet::PingReq => self.queue(&Packet::PingResp, None),
            Packet::Disconnect(d) if v5 => {
                return Err(Close::ServerDisconnect {
                    reason_code: d.reason_code,
                    properties: d.properties,
                })
            }
            other => {
                return Err(Close::Protocol(format!(
                    "a broker may not send {} here",
                    other.packet_type()
                )))
            }
        }
        Ok(())
    }

    fn published(&mut self, ack: Ack) {
        self.published_events += 1;
        self.events.push_back(Event::Published {
            mid: ack.packet_id,
            reason_code: ack.reason_code,
            properties: ack.properties,
        });
        let window = self.window();
        while let Some(mid) = self.store.next_queued(window) {
            self.send_stored(mid);
        }
    }

    fn handle_publish(&mut self, p: Publish) -> Result<(), Close> {
        let topic = match p.properties.topic_alias() {
            Some(alias) => self
                .aliases
                .resolve(alias, &p.topic)
                .map_err(Close::Protocol)?,
            None if p.topic.is_empty() => {
                return Err(Close::Protocol("PUBLISH without a topic".into()))
            }
            None => p.topic,
        };
        let message = Message {
            topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            dup: p.dup,
            mid: p.packet_id,
            properties: p.properties,
        };
        if p.qos == QoS::ExactlyOnce {
            // PUBREC at once; delivery waits for PUBREL (reference §13).
            let mid = message.mid;
            self.inbound.store(message);
            self.queue(&Packet::PubRec(Ack::new(PacketType::PubRec, mid)), None);
        } else {
            self.events.push_back(Event::Message(message));
        }
        Ok(())
    }

    /// Acknowledges a received message: PUBACK for QoS 1, PUBCOMP for QoS 2
    /// (whose PUBREC went out on arrival); nothing for QoS 0. The layer above
    /// calls it after `on_message`, or the application does (manual ack).
    pub fn ack(&mut self, mid: u16, qos: QoS) {
        if self.link == LinkState::Down {
            return;
        }
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.queue(&Packet::PubAck(Ack::new(PacketType::PubAck, mid)), None)
            }
            QoS::ExactlyOnce => {
                self.queue(&Packet::PubComp(Ack::new(PacketType::PubComp, mid)), None)
            }
        }
    }

    /// Publishes `publish` (its `packet_id` is replaced by the new mid). The
    /// caller has validated topic and QoS.
    pub fn publish(&mut self, publish: Publish) -> PublishResult {
        self.publish_ref(publish.borrowed())
    }

    /// [`Session::publish`] from borrowed parts: the message is encoded
    /// once, straight into the transmit buffer (QoS 0) or into the store's
    /// copy of it (QoS 1/2), with no other copy of topic or payload.
    pub fn publish_ref(&mut self, mut publish: PublishRef<'_>) -> PublishResult {
        // Every id, QoS 0 included, skips ids of stored messages, so a
        // MessageInfo is never confused with another after a wrap-around.
        let store = &self.store;
        let mid = match self.mids.next_free(|m| store.contains(m)) {
            Some(mid) => mid,
            None => return self.not_stored(0, ErrorCode::QueueSize),
        };
        publish.dup = false;
        publish.packet_id = if publish.qos == QoS::AtMostOnce {
            0
        } else {
            mid
        };
        let fits = |len: usize| {
            self.broker_max_packet_size
                .is_none_or(|max| len as u64 <= u64::from(max))
        };
        let link_open = self.link != LinkState::Down;
        if publish.qos == QoS::AtMostOnce {
            if !link_open {
                return self.not_stored(mid, ErrorCode::NoConn);
            }
            if self.link == LinkState::Disconnecting {
                // Nothing may follow our DISCONNECT (see `queue`).
                self.events.push_back(Event::Qos0Dropped { mid });
            } else {
                let buf = self.transmit.buf();
                let start = buf.len();
                let encoded = publish.encode(self.config.protocol, buf);
                let len = buf.len() - start;
                if encoded.is_err() || !fits(len) {
                    self.transmit.buf().truncate(start);
                    return self.not_stored(mid, ErrorCode::PayloadSize);
                }
                self.transmit.mark(Completion::Qos0(mid));
                self.trace_sent(start);
            }
            return PublishResult {
                mid,
                rc: ErrorCode::Success,
                stored: false,
                seq: 0,
            };
        }
        if self.config.max_queued > 0 && self.store.len() >= self.config.max_queued {
            return self.not_stored(mid, ErrorCode::QueueSize);
        }
        let packet = match publish.encode_boxed(self.config.protocol) {
            Ok(packet) if fits(packet.len()) => packet,
            _ => return self.not_stored(mid, ErrorCode::PayloadSize),
        };
        let window = self.window();
        if self.store.admit(mid, packet, link_open, window) {
            self.send_stored(mid);
        }
        PublishResult {
            mid,
            rc: if link_open {
                ErrorCode::Success
            } else {
                ErrorCode::NoConn
            },
            stored: true,
            seq: self.store.get(mid).map_or(0, Stored::seq),
        }
    }

    /// Puts stored message `mid` on the wire (marking it sent). After our
    /// DISCONNECT it stays stored, marked sent, for the next connection.
    fn send_stored(&mut self, mid: u16) {
        let buf = self.transmit.buf();
        let start = buf.len();
        if !self.store.send(mid, buf) {
            return;
        }
        if self.link == LinkState::Disconnecting {
            self.transmit.buf().truncate(start);
            return;
        }
        self.trace_sent(start);
    }

    /// With tracing on, logs the packet encoded into the transmit buffer
    /// from `start` on.
    fn trace_sent(&mut self, start: usize) {
        if !self.trace {
            return;
        }
        let mut bytes = &self.transmit.buf()[start..];
        if let Ok(Some(packet)) = Decoder::new(self.config.protocol).decode(&mut bytes) {
            self.events.push_back(Event::Log(trace::describe(
                trace::Direction::Sending,
                &packet,
                self.config.protocol,
            )));
        }
    }

    fn not_stored(&self, mid: u16, rc: ErrorCode) -> PublishResult {
        PublishResult {
            mid,
            rc,
            stored: false,
            seq: 0,
        }
    }

    /// Subscribes. Without a connection nothing is queued and the result is
    /// `(NoConn, None)`, as in Paho.
    pub fn subscribe(
        &mut self,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Properties,
    ) -> (ErrorCode, Option<u16>) {
        let remember = self
            .config
            .auto_resubscribe
            .then(|| (filters.clone(), properties.clone()));
        let result = self.request(|mid| {
            let mut s = Subscribe::new(mid, filters);
            s.properties = properties;
            Packet::Subscribe(s)
        });
        if let Some((filters, properties)) = remember {
            // Also when not sent (no connection): the next CONNACK sends it.
            if result.0 == ErrorCode::Success || result.0 == ErrorCode::NoConn {
                self.book.subscribed(&filters, &properties, result.1);
            }
        }
        result
    }

    /// What automatic resubscribe holds (empty unless
    /// [`SessionConfig::auto_resubscribe`]).
    pub fn subscriptions(&self) -> &SubscriptionBook {
        &self.book
    }

    /// Sends the book again after a CONNACK (automatic resubscribe).
    fn resubscribe(&mut self, session_present: bool) {
        for (filters, properties) in self.book.to_send(session_present) {
            let sent = filters.clone();
            if let (ErrorCode::Success, Some(mid)) = self.request(|mid| {
                let mut s = Subscribe::new(mid, filters);
                s.properties = properties;
                Packet::Subscribe(s)
            }) {
                self.book.sent(mid, &sent);
            }
        }
    }

    /// Unsubscribes; like [`Session::subscribe`] without a connection.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<String>,
        properties: Properties,
    ) -> (ErrorCode, Option<u16>) {
        if self.config.auto_resubscribe {
            self.book.unsubscribed(&filters);
        }
        self.request(|mid| {
            let mut u = Unsubscribe::new(mid, filters);
            u.properties = properties;
            Packet::Unsubscribe(u)
        })
    }

    /// Queues a SUBSCRIBE or UNSUBSCRIBE built for a fresh id (one not used
    /// by a stored message).
    fn request(&mut self, build: impl FnOnce(u16) -> Packet) -> (ErrorCode, Option<u16>) {
        if self.link == LinkState::Down {
            return (ErrorCode::NoConn, None);
        }
        let store = &self.store;
        let Some(mid) = self.mids.next_free(|m| store.contains(m)) else {
            return (ErrorCode::QueueSize, None);
        };
        self.queue(&build(mid), None);
        (ErrorCode::Success, Some(mid))
    }

    /// Queues DISCONNECT behind everything already queued. Without a
    /// connection: `NoConn`, and nothing is queued.
    pub fn disconnect(&mut self, disconnect: Disconnect) -> ErrorCode {
        if self.link == LinkState::Down {
            return ErrorCode::NoConn;
        }
        self.link = LinkState::Disconnecting;
        self.queue(
            &Packet::Disconnect(disconnect),
            Some(Completion::Disconnect),
        );
        ErrorCode::Success
    }

    /// Empties the outgoing store (Paho 2.2's `drop_out_messages`, and
    /// `reinitialise`) and returns what it held.
    pub fn drop_out_messages(&mut self) -> Vec<Stored> {
        self.store.drain()
    }

    fn queue(&mut self, packet: &Packet, completion: Option<Completion>) {
        // Nothing may follow our DISCONNECT (MQTT 3.1.1 §3.14.4, 5.0
        // §3.14.4): acks the application gives after disconnect() (from
        // on_message, say), answers to what the broker still sends, pings,
        // and publishes are left out. A QoS 0 message left out fails; QoS
        // 1/2 messages stay stored for the next connection, and a broker
        // that keeps the session sends unacknowledged messages again.
        if self.link == LinkState::Disconnecting && !matches!(packet, Packet::Disconnect(_)) {
            if let Some(Completion::Qos0(mid)) = completion {
                self.events.push_back(Event::Qos0Dropped { mid });
            }
            return;
        }
        if self.trace {
            self.events.push_back(Event::Log(trace::describe(
                trace::Direction::Sending,
                packet,
                self.config.protocol,
            )));
        }
        // Every packet here is built from parts the client validated, so
        // encoding cannot fail; if a path ever lets one through, tests stop
        // on it here, and a release build leaves it out rather than sending
        // it half-built.
        let encoded = packet.encode(self.config.protocol, self.transmit.buf());
        debug_assert!(encoded.is_ok(), "unencodable {packet:?}: {encoded:?}");
        if encoded.is_ok() {
            if let Some(c) = completion {
                self.transmit.mark(c);
            }
        }
    }
}
