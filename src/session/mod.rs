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
//!    [`Session::connection_closed`] (for a [`Close::Protocol`] at MQTT 5,
//!    write what is pending first: it ends with the DISCONNECT that says
//!    why).

mod backoff;
mod budget;
mod config;
mod event;
mod inbound;
mod journal;
mod keepalive;
mod limits;
mod mid;
mod mid_table;
mod outgoing;
mod resubscribe;
mod room;
mod stats;
pub mod trace;
mod transmit;

pub use backoff::{Backoff, Jitter};
pub use budget::{MemoryBudget, MemoryUse, DEFAULT_MAX_INBOUND_PACKET_SIZE};
pub use config::{CleanStart, SessionConfig};
pub use event::{Close, Event, Message};
pub use inbound::{InboundQos2, TopicAliases, Unacknowledged};
pub use journal::{Restored, RestoredOut, StoreOp};
pub use keepalive::{KeepAlive, KeepAliveAction};
pub use limits::{BrokerLimits, Refusal};
pub use mid::MidAllocator;
pub(crate) use mid_table::MidTable;
pub use outgoing::{Admission, OutState, OutgoingStore, PubRec, Resend, Stored};
pub use resubscribe::SubscriptionBook;
use room::OfflineQos0;
pub use room::{DroppedMessage, QueueFullPolicy, StoreFull, MAX_STORED};
pub use stats::{Counters, Disconnects, Traffic};
pub use transmit::{Completion, TransmitBuffer};

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use crate::error::ErrorCode;
use crate::packet::{
    Ack, Connect, DecodeError, Decoder, Disconnect, Packet, PacketType, Properties, Property,
    ProtocolVersion, Publish, PublishRef, QoS, ReasonCode, Subscribe, SubscribeOptions,
    Unsubscribe,
};

/// More undelivered events than this (of any size) stop the reading of the
/// socket until the loop has delivered half of them (see
/// [`Session::over_budget`]).
const EVENT_BACKLOG: usize = 8192;

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
    /// stored); `PayloadSize` (larger than the broker accepts, not stored);
    /// `NotSupported` (a limit the broker announced forbids it, not stored).
    pub rc: ErrorCode,
    /// For a message a broker's limit refused: the DISCONNECT reason code
    /// the broker would have sent (see [`Refusal`]).
    pub refused: Option<ReasonCode>,
    /// True if a QoS 1/2 message is in the outgoing store.
    pub stored: bool,
    /// The stored message's place in the order of publishes
    /// ([`Stored::seq`]); 0 when not stored.
    pub seq: u64,
    /// With `rc` `QueueSize`: what was full ([`Session::room_for`] says
    /// when it is not any more).
    pub full: Option<StoreFull>,
    /// The encoded PUBLISH's length, for [`Session::room_for`]; 0 when the
    /// message was not encoded.
    pub len: usize,
    /// A QoS 0 message queued for the next connection
    /// ([`SessionConfig::queue_qos0_offline`]); `seq` is its place in the
    /// publish order.
    pub queued: bool,
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
    /// The [`Message::weight`] of the `Message` events in `events`.
    event_bytes: usize,
    /// Inbound QoS 1/2 messages of this connection not yet acknowledged,
    /// checked against our Receive Maximum.
    unacked: Unacknowledged,
    /// A CONNECT has been sent since `connect()` (MQTT 5 clean start "first
    /// only").
    first_connect: bool,
    /// What the last CONNACK announced (defaults until one arrives).
    limits: BrokerLimits,
    /// SUBSCRIBEs and UNSUBSCRIBEs asked for between CONNECT and CONNACK,
    /// held until the broker has said what it accepts.
    held: Vec<Packet>,
    /// Stored messages wait to be (re)sent after the CONNACK: until they
    /// have gone, a new QoS 1/2 message waits behind them.
    backlog: bool,
    /// Topic aliases a PUBLISH with its topic has set on this connection:
    /// only those may stand for an empty topic.
    aliases_set: HashSet<u16>,
    /// The store is re-sent once the application has seen the CONNACK
    /// event, so messages published in `on_connect` go first (reference
    /// §12.4).
    resume_pending: bool,
    resume_armed: bool,
    /// CONNECT sent and no CONNACK yet (even if DISCONNECT was queued since).
    awaiting_connack: bool,
    book: SubscriptionBook,
    trace: bool,
    /// QoS 0 messages queued offline (`queue_qos0_offline`), oldest first,
    /// and their packets' bytes.
    offline_qos0: VecDeque<OfflineQos0>,
    offline_qos0_bytes: usize,
    /// What the queue-full policy dropped (see [`Session::take_dropped`]).
    dropped: Vec<DroppedMessage>,
    counters: Counters,
}

impl Session {
    /// A session with `config`; no connection yet.
    pub fn new(config: SessionConfig) -> Session {
        let now = Instant::now();
        let decoder = Decoder::new(config.protocol);
        let mut transmit = TransmitBuffer::new();
        transmit.set_keep_capacity(config.memory_budget.transmit / 2);
        Session {
            keepalive: KeepAlive::new(config.keepalive, now),
            config,
            link: LinkState::Down,
            mids: MidAllocator::new(),
            store: OutgoingStore::new(),
            inbound: InboundQos2::default(),
            aliases: TopicAliases::default(),
            decoder,
            transmit,
            events: VecDeque::new(),
            published_events: 0,
            event_bytes: 0,
            unacked: Unacknowledged::default(),
            first_connect: true,
            limits: BrokerLimits::default(),
            held: Vec::new(),
            backlog: false,
            aliases_set: HashSet::new(),
            resume_pending: false,
            resume_armed: false,
            awaiting_connack: false,
            book: SubscriptionBook::new(),
            trace: false,
            offline_qos0: VecDeque::new(),
            offline_qos0_bytes: 0,
            dropped: Vec::new(),
            counters: Counters::default(),
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

    /// What it has counted so far (see [`Counters`]).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, for what the driver counts itself (connections that
    /// failed or ended).
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// Sets the memory budget ([`SessionConfig::memory_budget`]), in effect
    /// at once.
    pub fn set_memory_budget(&mut self, budget: MemoryBudget) {
        self.config.memory_budget = budget;
        self.transmit.set_keep_capacity(budget.transmit / 2);
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

    /// What the broker's last CONNACK announced; `None` until a CONNACK
    /// accepted this connection.
    pub fn broker_limits(&self) -> Option<&BrokerLimits> {
        matches!(self.link, LinkState::Connected | LinkState::Disconnecting).then_some(&self.limits)
    }

    /// The in-flight window in effect: `max_inflight` (0: none) lowered to
    /// the broker's Receive Maximum, which Paho ignores.
    pub fn window(&self) -> usize {
        let broker = usize::from(self.limits.receive_maximum);
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
        self.drop_unsent();
        let clean = self.clean();
        self.backlog = self.store.reset_for_reconnect(clean);
        if clean {
            if !self.inbound.is_empty() {
                self.store.journal_push(|| StoreOp::InboundCleared);
            }
            self.inbound.clear();
        }
        self.decoder =
            Decoder::new(self.config.protocol).with_max_packet_size(self.max_inbound() as usize);
        self.transmit
            .set_keep_capacity(self.config.memory_budget.transmit / 2);
        self.unacked.clear();
        let alias_max = if self.config.protocol == ProtocolVersion::MQTTv5 {
            self.config
                .connect_properties
                .topic_alias_maximum()
                .unwrap_or(0)
        } else {
            0
        };
        self.aliases = TopicAliases::new(alias_max);
        self.keepalive = KeepAlive::new(self.config.keepalive, now)
            .with_connack_timeout(self.config.connack_timeout);
        self.limits = BrokerLimits::default();
        self.aliases_set.clear();
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
            if connect.properties.maximum_packet_size().is_none() {
                // What the decoder enforces, so the broker knows (§3.1.2.11.4:
                // it must not send a larger packet); in range, as the setter
                // checked it.
                let announced = connect
                    .properties
                    .set(Property::MaximumPacketSize(c.max_inbound_packet_size));
                debug_assert!(announced.is_ok(), "{announced:?}");
            }
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
        self.drop_unsent();
    }

    /// Drops what was queued or held for a connection that is gone: its
    /// QoS 0 messages are reported as [`Event::Qos0Dropped`], so nobody
    /// waits for them; held SUBSCRIBEs and UNSUBSCRIBEs go as they would
    /// have gone had they been written to the dead socket (automatic
    /// resubscribe asks again).
    fn drop_unsent(&mut self) {
        for completion in self.transmit.clear() {
            if let Completion::Qos0(mid) = completion {
                self.counters.dropped += 1;
                self.events.push_back(Event::Qos0Dropped { mid });
            }
        }
        self.held.clear();
    }

    /// The bytes waiting to be written. With the journal on, its changes
    /// must have been taken first (see [`StoreOp`]).
    pub fn pending(&mut self) -> &[u8] {
        self.check_journal_taken();
        self.maybe_resume();
        self.transmit.pending()
    }

    /// The bytes already queued, without starting the re-send that a
    /// CONNACK armed ([`Session::pending`] starts it): for a driver writing
    /// from a thread other than the one that delivers the CONNACK event.
    pub fn queued_bytes(&self) -> &[u8] {
        self.check_journal_taken();
        self.transmit.pending()
    }

    /// Moves the bytes waiting to be written to the end of `out`, so they
    /// can be written without holding whatever guards the session; report
    /// them with [`Session::written`].
    pub fn take_pending(&mut self, out: &mut Vec<u8>) {
        self.check_journal_taken();
        self.maybe_resume();
        self.transmit.take(out);
    }

    /// A PUBLISH stored, a PUBREL or a PUBREC is only promised once its
    /// journal entry is written: a driver that takes bytes first breaks
    /// that promise, and tests stop on it here. (Ops made while taking, by
    /// a re-send the limits refuse, promise nothing on the wire.)
    fn check_journal_taken(&self) {
        debug_assert!(
            !self.store.journal_pending()
                || self.transmit.pending().is_empty() && !self.resume_armed,
            "transmit bytes taken before the journal"
        );
    }

    /// Turns the journal of store changes on or off (see
    /// [`StoreOp`]): for a driver that keeps the stores on
    /// disk.
    pub fn set_journal(&mut self, on: bool) {
        self.store.set_journal(on);
    }

    /// Moves the journal's changes, in order, to the end of `into`. Call it
    /// before taking the bytes to write ([`Session::pending`],
    /// [`Session::take_pending`], [`Session::queued_bytes`]) and write what
    /// it gave first: the bytes may depend on it.
    pub fn take_journal(&mut self, into: &mut Vec<StoreOp>) {
        self.store.take_journal(into);
    }

    /// True when the journal holds changes not yet taken.
    pub fn journal_pending(&self) -> bool {
        self.store.journal_pending()
    }

    /// Puts back what a persistence kept ([`Restored`]), before the first
    /// connection: the outgoing messages wait, in publish order, for the
    /// next CONNACK (then PUBLISH with DUP, or PUBREL for a QoS 2 message
    /// the broker had received), later publishes count their `seq` on from
    /// [`Restored::next_seq`], and inbound QoS 2 messages wait for their
    /// PUBREL again. An inbound packet that does not decode at this
    /// session's protocol is left out and counted in the answer.
    pub fn restore(&mut self, restored: Restored) -> usize {
        // They wait like messages published offline: start_connection
        // arms the backlog that sends them first.
        self.store.restore(restored.outgoing, restored.next_seq);
        let mut skipped = 0;
        for packet in restored.inbound {
            let mut bytes = &packet[..];
            match Decoder::new(self.config.protocol).decode(&mut bytes) {
                Ok(Some(Packet::Publish(p))) if p.qos == QoS::ExactlyOnce => {
                    self.inbound.store(Message::from_publish(p))
                }
                _ => skipped += 1,
            }
        }
        skipped
    }

    /// The `seq` the next stored message gets: with a persistence, how many
    /// QoS 1/2 messages were ever stored through it.
    pub fn next_seq(&self) -> u64 {
        self.store.next_seq()
    }

    /// The largest packet accepted from the broker: the application's MQTT 5
    /// Maximum Packet Size property if it set one, else
    /// [`SessionConfig::max_inbound_packet_size`].
    pub fn max_inbound(&self) -> u32 {
        match self.config.protocol {
            ProtocolVersion::MQTTv5 => self.config.connect_properties.maximum_packet_size(),
            _ => None,
        }
        .unwrap_or(self.config.max_inbound_packet_size)
    }

    /// What the session holds now, part by part (see [`MemoryBudget`]).
    pub fn memory_use(&self) -> MemoryUse {
        MemoryUse {
            transmit: self.transmit.unwritten(),
            transmit_capacity: self.transmit.capacity(),
            events: self.event_bytes,
            event_count: self.events.len(),
            inbound_qos2: self.inbound.bytes(),
            store: self.store.bytes() + self.offline_qos0_bytes,
        }
    }

    /// True when whoever reads the socket must stop until the loop has
    /// delivered events and written bytes: more than 8,192 events, or
    /// their messages over the `events` budget, or the unwritten bytes at
    /// the `transmit` budget. A broker that sends faster than the
    /// application or the socket take is then slowed down by TCP.
    pub fn over_budget(&self) -> bool {
        let budget = &self.config.memory_budget;
        self.events.len() > EVENT_BACKLOG
            || self.event_bytes > budget.events
            || self.transmit_full()
    }

    /// True once [`Session::over_budget`] has dropped to half: reading may
    /// go on.
    pub fn under_half_budget(&self) -> bool {
        let budget = &self.config.memory_budget;
        self.events.len() <= EVENT_BACKLOG / 2
            && self.event_bytes <= budget.events / 2
            && self.transmit.unwritten() <= budget.transmit / 2
    }

    /// The unwritten bytes have reached the `transmit` budget (a buffer
    /// under it takes one more packet of any size).
    fn transmit_full(&self) -> bool {
        let unwritten = self.transmit.unwritten();
        unwritten > 0 && unwritten >= self.config.memory_budget.transmit
    }

    /// Queues an event; a message's bytes count against the `events`
    /// budget until it is taken.
    fn push_message(&mut self, message: Message) {
        self.event_bytes += message.weight();
        self.events.push_back(Event::Message(message));
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
    /// releases their messages (see [`Session::release`]) and hands each
    /// one's mid, reason code and release to `done`: for a driver that
    /// completes messages itself when the application has no callback for
    /// them. The other events keep their order.
    pub fn take_published(
        &mut self,
        mut done: impl FnMut(u16, ReasonCode, Option<(u64, Option<ReasonCode>)>),
    ) {
        if self.published_events == 0 {
            return;
        }
        self.published_events = 0;
        let store = &mut self.store;
        self.events.retain(|e| match e {
            Event::Published {
                mid, reason_code, ..
            } => {
                done(*mid, *reason_code, store.release(*mid));
                false
            }
            _ => true,
        });
    }

    /// The application has had the [`Event::Published`] of `mid`: a QoS 1/2
    /// message leaves the store only now (see [`OutState::Acked`]). Returns
    /// its `seq` and, if it failed, why ([`OutgoingStore::release`]).
    pub fn release(&mut self, mid: u16) -> Option<(u64, Option<ReasonCode>)> {
        self.store.release(mid)
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
        self.counters.bytes_sent += n as u64;
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
        match &event {
            Event::Published { .. } => self.published_events -= 1,
            Event::Message(m) => self.event_bytes -= m.weight(),
            _ => {}
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
            match &event {
                Event::Published { .. } => self.published_events += 1,
                Event::Message(m) => self.event_bytes += m.weight(),
                _ => {}
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
        self.send_offline_qos0();
        let window = self.window();
        self.backlog = false;
        for resend in self.store.resume(window) {
            self.resend(resend);
        }
        // Messages the limits refused left the window: fill it again.
        self.fill_window();
    }

    /// Writes the QoS 0 messages queued offline, in publish order, each
    /// checked against the broker's limits as a QoS 0 `publish` is: a
    /// refused one ends with a `Published` event carrying the reason, as a
    /// stored message the CONNACK forbids does.
    fn send_offline_qos0(&mut self) {
        while let Some(m) = self.offline_qos0.pop_front() {
            self.offline_qos0_bytes -= m.packet.len();
            let facts = (m.packet.len(), m.retain, m.empty_topic, m.alias);
            match self.check_publish(QoS::AtMostOnce, facts) {
                Ok(()) => {
                    let buf = self.transmit.buf();
                    let start = buf.len();
                    buf.extend_from_slice(&m.packet);
                    self.transmit.mark(Completion::Qos0(m.mid));
                    self.counters.sent(QoS::AtMostOnce, m.packet.len(), false);
                    self.trace_sent(start);
                }
                Err(refusal) => {
                    self.counters.refused += 1;
                    self.published_events += 1;
                    self.events.push_back(Event::Published {
                        mid: m.mid,
                        reason_code: refusal.reason_code,
                        properties: Properties::new(PacketType::PubAck),
                    });
                    self.events.push_back(Event::Refused(refusal));
                }
            }
        }
    }

    /// Puts a stored message's next packet on the wire.
    fn resend(&mut self, resend: Resend) {
        match resend {
            Resend::Publish(mid) => self.send_stored(mid),
            Resend::PubRel(mid) => {
                self.queue(&Packet::PubRel(Ack::new(PacketType::PubRel, mid)), None)
            }
        }
    }

    /// Sends queued messages while the window has room (on a connection the
    /// broker accepted, and not after our DISCONNECT).
    fn fill_window(&mut self) {
        if self.link != LinkState::Connected {
            return;
        }
        let window = self.window();
        while let Some(resend) = self.store.next_queued(window) {
            self.resend(resend);
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
    /// connection to close when the broker stayed silent or left our
    /// PINGREQ unanswered (see [`KeepAlive`]).
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
        self.counters.bytes_received += bytes.len() as u64;
        while !bytes.is_empty() {
            // A packet split over chunks began in the decoder's buffer.
            let before = bytes.len() + self.decoder.buffered();
            match self.decoder.decode(&mut bytes) {
                Ok(Some(packet)) => {
                    if let Packet::Publish(p) = &packet {
                        self.counters.received(p.qos, before - bytes.len());
                    }
                    self.handle_packet(packet, now)?
                }
                Ok(None) => break,
                Err(e @ DecodeError::PacketTooLarge { .. }) => {
                    // Refused from its fixed header: none of its body was
                    // buffered.
                    return Err(self.exceeded(0x95, e.to_string()));
                }
                Err(e) => {
                    // A broker sending a CONNECT (0x84 is for CONNACK) broke
                    // the protocol; every other code is one DISCONNECT takes.
                    let code = match e.reason_code() {
                        0x84 => 0x82,
                        code => code,
                    };
                    return Err(self.broken(code, e.to_string()));
                }
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
        // Any complete packet answers a PINGREQ; bytes alone do not.
        self.keepalive.packet_received(now);
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
                    // Codes 1 to 5 at any level, v5 included (a 3.1.1-only
                    // broker's refusal of a v5 CONNECT): checked against
                    // Paho 2.2.0, whose loop returns MQTT_ERR_CONN_REFUSED.
                    let rc = if (1..=5).contains(&ack.return_code) {
                        ErrorCode::ConnRefused
                    } else {
                        ErrorCode::Protocol
                    };
                    return Err(Close::Refused { rc });
                }
                // What this broker accepts, for this connection only; MQTT 3
                // brokers announce nothing.
                self.limits = if v5 {
                    BrokerLimits::from_connack(&ack.properties)
                } else {
                    BrokerLimits::default()
                };
                if let Some(k) = self.limits.server_keep_alive {
                    // Later CONNECTs carry it too (Paho 2.2).
                    self.config.keepalive = k;
                }
                self.keepalive.connected(self.limits.server_keep_alive, now);
                self.counters.connects += 1;
                // A DISCONNECT queued before the CONNACK stays in charge.
                if self.link == LinkState::Connecting {
                    self.link = LinkState::Connected;
                    self.resume_pending = true;
                    if self.config.auto_resubscribe {
                        self.resubscribe(ack.session_present);
                    }
                    self.release_held();
                }
            }
            Packet::ConnAck(_) => return Err(self.broken(0x82, "unexpected CONNACK".into())),
            Packet::Publish(p) => self.handle_publish(p)?,
            Packet::PubAck(a) => {
                if self.store.on_puback(a.packet_id, a.reason_code) {
                    self.published(a);
                }
            }
            Packet::PubRec(a) => match self.store.on_pubrec(a.packet_id, a.reason_code) {
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
                if self.store.on_pubcomp(a.packet_id, a.reason_code) {
                    self.published(a);
                }
            }
            Packet::PubRel(a) => {
                if let Some(message) = self.inbound.release(a.packet_id) {
                    self.push_message(message);
                } else if !self.config.manual_ack {
                    // Unknown id: complete anyway so the broker does not
                    // hang (Paho's choice, reference §13).
                    self.unacked.acknowledged(a.packet_id);
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
                return Err(self.broken(
                    0x82,
                    format!("a broker may not send {} here", other.packet_type()),
                ))
            }
        }
        Ok(())
    }

    /// The broker broke the protocol (MQTT 5 §4.13): at MQTT 5 a
    /// DISCONNECT with reason `code` (0x81 Malformed Packet, 0x82 Protocol
    /// Error, or a more specific one such as 0x94 Topic Alias invalid or
    /// 0x95 Packet too large) is queued behind what is queued already, with
    /// `text` as its Reason String when the broker's Maximum Packet Size
    /// leaves room, for the driver to write as it closes; nothing is queued
    /// after it. Earlier levels just close, and so does a session whose own
    /// DISCONNECT is already queued.
    fn broken(&mut self, code: u8, text: String) -> Close {
        self.goodbye(code, &text);
        Close::Protocol(text)
    }

    /// The DISCONNECT of [`Session::broken`] and [`Session::exceeded`].
    fn goodbye(&mut self, code: u8, text: &str) {
        let v5 = self.config.protocol == ProtocolVersion::MQTTv5;
        if v5 && matches!(self.link, LinkState::Connecting | LinkState::Connected) {
            let reason_code = ReasonCode::from_value(PacketType::Disconnect, code)
                .or_else(|_| ReasonCode::from_value(PacketType::Disconnect, 0x82))
                .unwrap_or_else(|_| ReasonCode::success(PacketType::Disconnect));
            let bare = Disconnect::new(reason_code);
            let mut told = bare.clone();
            let fits = told
                .properties
                .set(Property::ReasonString(text.to_string()))
                .is_ok()
                && Packet::Disconnect(told.clone())
                    .to_bytes(self.config.protocol)
                    .is_ok_and(|b| {
                        self.limits
                            .maximum_packet_size
                            .is_none_or(|max| b.len() <= max as usize)
                    });
            let disconnect = if fits { told } else { bare };
            self.queue(&Packet::Disconnect(disconnect), None);
            self.link = LinkState::Disconnecting;
        }
    }

    fn published(&mut self, ack: Ack) {
        self.published_events += 1;
        self.counters.refused += u64::from(ack.reason_code.is_failure());
        self.events.push_back(Event::Published {
            mid: ack.packet_id,
            reason_code: ack.reason_code,
            properties: ack.properties,
        });
        self.fill_window();
    }

    fn handle_publish(&mut self, p: Publish) -> Result<(), Close> {
        let qos = p.qos;
        let mut message = Message::from_publish(p);
        message.topic = match message.properties.topic_alias() {
            Some(alias) => match self.aliases.resolve(alias, &message.topic) {
                Ok(topic) => topic,
                Err(text) => {
                    // §3.3.2.3.4: 0 or over the maximum our CONNECT
                    // announced is "Topic Alias invalid"; an alias never
                    // set is a plain protocol error.
                    let maximum = self
                        .config
                        .connect_properties
                        .topic_alias_maximum()
                        .unwrap_or(0);
                    let code = if alias == 0 || alias > maximum {
                        0x94
                    } else {
                        0x82
                    };
                    return Err(self.broken(code, text));
                }
            },
            None if message.topic.is_empty() => {
                return Err(self.broken(0x82, "PUBLISH without a topic".into()))
            }
            None => std::mem::take(&mut message.topic),
        };
        if qos != QoS::AtMostOnce {
            let unacked = self.unacked.arrived(message.mid);
            if unacked > usize::from(self.receive_maximum()) {
                return Err(self.exceeded(
                    0x93,
                    format!(
                        "the broker sent {unacked} QoS 1/2 messages unacknowledged, more than \
                         our Receive Maximum of {}",
                        self.receive_maximum()
                    ),
                ));
            }
        }
        if qos == QoS::ExactlyOnce {
            let budget = self.config.memory_budget.inbound_qos2;
            if !self.inbound.fits(&message, budget) {
                return Err(self.exceeded(
                    0x97,
                    format!(
                        "inbound QoS 2 messages waiting for PUBREL would pass their memory \
                         budget of {budget} bytes"
                    ),
                ));
            }
            // PUBREC at once; delivery waits for PUBREL (reference §13).
            let mid = message.mid;
            if self.store.journal_on() {
                let protocol = self.config.protocol;
                let publish = Publish {
                    dup: false,
                    qos: message.qos,
                    retain: message.retain,
                    topic: message.topic.clone(),
                    packet_id: mid,
                    properties: message.properties.clone(),
                    payload: message.payload.clone(),
                };
                // It decoded, so it encodes.
                if let Ok(packet) = publish.borrowed().encode_boxed(protocol) {
                    self.store
                        .journal_push(|| StoreOp::InboundStored { mid, packet });
                }
            }
            self.inbound.store(message);
            self.queue(&Packet::PubRec(Ack::new(PacketType::PubRec, mid)), None);
        } else {
            self.push_message(message);
        }
        Ok(())
    }

    /// Our Receive Maximum: what the CONNECT announced (MQTT 5), else the
    /// most a 16-bit packet id allows.
    fn receive_maximum(&self) -> u16 {
        match self.config.protocol {
            ProtocolVersion::MQTTv5 => self.config.connect_properties.receive_maximum(),
            _ => None,
        }
        .unwrap_or(u16::MAX)
    }

    /// The broker went past a limit of ours (0x93 Receive Maximum
    /// exceeded, 0x95 Packet too large, 0x97 Quota exceeded): at MQTT 5 a
    /// DISCONNECT with reason `code` and `text` as its Reason String is
    /// queued, as for [`Session::broken`]; earlier levels just close.
    fn exceeded(&mut self, code: u8, text: String) -> Close {
        self.goodbye(code, &text);
        let reason_code = ReasonCode::from_value(PacketType::Disconnect, code)
            .unwrap_or_else(|_| ReasonCode::success(PacketType::Disconnect));
        Close::Exceeded { reason_code, text }
    }

    /// Acknowledges a received message: PUBACK for QoS 1, PUBCOMP for QoS 2
    /// (whose PUBREC went out on arrival); nothing for QoS 0. The layer above
    /// calls it after `on_message`, or the application does (manual ack).
    pub fn ack(&mut self, mid: u16, qos: QoS) {
        // Delivered: a restart must not deliver it again, connected or not.
        if qos == QoS::ExactlyOnce {
            self.store.journal_push(|| StoreOp::InboundAcked(mid));
        }
        if self.link == LinkState::Down {
            return;
        }
        if qos != QoS::AtMostOnce {
            self.unacked.acknowledged(mid);
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

    /// Takes the [`Event::Message`]s out of the queue, in order; the other
    /// events keep theirs. For messages of a connection that is gone, which
    /// the application will not get (see [`Session::not_delivered`]).
    pub fn take_messages(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        for event in std::mem::take(&mut self.events) {
            match event {
                Event::Message(m) => {
                    self.event_bytes -= m.weight();
                    messages.push(m);
                }
                other => self.events.push_back(other),
            }
        }
        messages
    }

    /// A message the application was handed in an [`Event::Message`] but
    /// did not take (its callback panicked, or the connection closed before
    /// it was delivered). A QoS 2 message, which PUBREL released, waits for
    /// PUBREL again, so the broker's next one (it re-sends it on
    /// reconnecting) delivers it instead of being answered PUBCOMP unseen.
    /// QoS 1 needs nothing (unacknowledged, the broker sends it again) and
    /// QoS 0 is lost.
    pub fn not_delivered(&mut self, message: Message) {
        // Not checked against the `inbound_qos2` budget: the message left
        // it at PUBREL (or counted against `events` since), and dropping it
        // now would lose it for good.
        if message.qos == QoS::ExactlyOnce {
            self.inbound.store(message);
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
    ///
    /// No QoS 1/2 message goes out before the CONNACK, which says how many
    /// may be in flight: they are stored, and after it the stored backlog
    /// goes first, in publish order, within the window; one published
    /// while a backlog waits (in `on_connect`, say) follows it. (Paho sends
    /// at once, even before the CONNACK, and overruns the window.) QoS 0
    /// goes at once, as in Paho. Once the broker's limits are known, a
    /// message they forbid is refused here (`rc` `NotSupported` or
    /// `PayloadSize`, with an [`Event::Refused`]).
    pub fn publish_ref(&mut self, publish: PublishRef<'_>) -> PublishResult {
        let qos0 = publish.qos == QoS::AtMostOnce;
        let result = self.publish_counted(publish);
        match result.rc {
            ErrorCode::Success => {}
            // Stored for the next connection, or a QoS 0 message lost.
            // A QoS 0 message queued offline is not lost (yet).
            ErrorCode::NoConn => self.counters.dropped += u64::from(qos0 && !result.queued),
            _ => self.counters.rejected += 1,
        }
        result
    }

    fn publish_counted(&mut self, mut publish: PublishRef<'_>) -> PublishResult {
        // Every id, QoS 0 included, skips ids of stored messages, so a
        // MessageInfo is never confused with another after a wrap-around.
        let store = &self.store;
        let mid = match self.mids.next_free_from(|from| store.first_free_id(from)) {
            Some(mid) => mid,
            None => return self.full(0, StoreFull::Ids, 0),
        };
        publish.dup = false;
        publish.packet_id = if publish.qos == QoS::AtMostOnce {
            0
        } else {
            mid
        };
        let alias = publish.properties.topic_alias();
        if publish.qos == QoS::AtMostOnce {
            return self.publish_qos0(mid, &publish, alias);
        }
        if let Err(full) = self.make_room(Session::count_room) {
            return self.full(mid, full, 0);
        }
        let packet = match publish.encode_boxed(self.config.protocol) {
            Ok(packet) => packet,
            Err(_) => return self.not_stored(mid, ErrorCode::PayloadSize),
        };
        let len = packet.len();
        if let Err(full) = self.make_room(|s| s.bytes_room(len)) {
            return self.full(mid, full, len);
        }
        let facts = (
            packet.len(),
            publish.retain,
            publish.topic.is_empty(),
            alias,
        );
        if self.link == LinkState::Connected {
            // Whether an alias is set is checked when the message goes out:
            // a message queued ahead of it may set it.
            let checked = self
                .limits
                .check_publish(facts.0, publish.qos, publish.retain, alias);
            if let Err(refusal) = checked {
                return self.refuse(mid, refusal);
            }
        }
        // A backlog goes first: a new message waits behind it (and also
        // before the CONNACK, which says how many may be in flight).
        let admission = if self.link == LinkState::Connected && !self.backlog {
            Admission::Live
        } else {
            self.backlog = true;
            Admission::AwaitResume
        };
        let window = self.window();
        if self.store.admit(mid, packet, admission, window) {
            // Checked against the limits just above: only its alias is left.
            match self.check_alias(facts) {
                Ok(()) => self.put_stored(mid),
                Err(refusal) => self.fail_stored(mid, refusal),
            }
        }
        PublishResult {
            mid,
            rc: if self.link == LinkState::Down {
                ErrorCode::NoConn
            } else {
                ErrorCode::Success
            },
            refused: None,
            stored: true,
            seq: self.store.get(mid).map_or(0, Stored::seq),
            full: None,
            len: facts.0,
            queued: false,
        }
    }

    /// A QoS 0 message: dropped without a connection, else written; once
    /// the CONNACK has announced the broker's limits, checked first.
    fn publish_qos0(
        &mut self,
        mid: u16,
        publish: &PublishRef<'_>,
        alias: Option<u16>,
    ) -> PublishResult {
        let queued = PublishResult {
            mid,
            rc: ErrorCode::Success,
            refused: None,
            stored: false,
            seq: 0,
            full: None,
            len: 0,
            queued: false,
        };
        if self.queues_qos0() {
            return self.queue_offline_qos0(mid, publish, alias);
        }
        match self.link {
            LinkState::Down => self.not_stored(mid, ErrorCode::NoConn),
            LinkState::Disconnecting => {
                // Nothing may follow our DISCONNECT (see `queue`).
                self.counters.dropped += 1;
                self.events.push_back(Event::Qos0Dropped { mid });
                queued
            }
            LinkState::Connecting | LinkState::Connected if self.transmit_full() => {
                let full = StoreFull::Transmit(self.config.memory_budget.transmit);
                self.full(mid, full, 0)
            }
            LinkState::Connecting | LinkState::Connected => {
                let buf = self.transmit.buf();
                let start = buf.len();
                let encoded = publish.encode(self.config.protocol, buf);
                let len = buf.len() - start;
                if encoded.is_err() {
                    self.transmit.buf().truncate(start);
                    return self.not_stored(mid, ErrorCode::PayloadSize);
                }
                let facts = (len, publish.retain, publish.topic.is_empty(), alias);
                let checked = if self.link == LinkState::Connected {
                    self.check_publish(QoS::AtMostOnce, facts)
                } else {
                    // Before the CONNACK (as Paho, which a loop-less script
                    // relies on) with no limits known yet; it still sets
                    // its alias.
                    self.note_alias(facts);
                    Ok(())
                };
                if let Err(refusal) = checked {
                    self.transmit.buf().truncate(start);
                    return self.refuse(mid, refusal);
                }
                self.transmit.mark(Completion::Qos0(mid));
                self.counters.sent(QoS::AtMostOnce, len, false);
                self.trace_sent(start);
                queued
            }
        }
    }

    /// Queues a QoS 0 message for the next CONNACK (see
    /// [`SessionConfig::queue_qos0_offline`]); `rc` is `NoConn` while
    /// offline, as for a QoS 1/2 message stored then.
    fn queue_offline_qos0(
        &mut self,
        mid: u16,
        publish: &PublishRef<'_>,
        alias: Option<u16>,
    ) -> PublishResult {
        let packet = match publish.encode_boxed(self.config.protocol) {
            Ok(packet) => packet,
            Err(_) => return self.not_stored(mid, ErrorCode::PayloadSize),
        };
        let len = packet.len();
        let room = self
            .make_room(Session::count_room)
            .and_then(|()| self.make_room(|s| s.bytes_room(len)));
        if let Err(full) = room {
            return self.full(mid, full, len);
        }
        let seq = self.store.take_seq();
        self.offline_qos0_bytes += len;
        self.offline_qos0.push_back(OfflineQos0 {
            mid,
            seq,
            packet,
            retain: publish.retain,
            empty_topic: publish.topic.is_empty(),
            alias,
        });
        PublishResult {
            queued: true,
            len,
            seq,
            ..self.not_stored(
                mid,
                if self.link == LinkState::Down {
                    ErrorCode::NoConn
                } else {
                    ErrorCode::Success
                },
            )
        }
    }

    /// The broker's limits for a PUBLISH about to go out, given as its
    /// (length, retain, empty topic, alias), and whether an empty topic's
    /// alias is set on this connection; a PUBLISH that passes and carries
    /// its topic sets its alias.
    fn check_publish(
        &mut self,
        qos: QoS,
        (len, retain, empty_topic, alias): (usize, bool, bool, Option<u16>),
    ) -> Result<(), Refusal> {
        self.limits.check_publish(len, qos, retain, alias)?;
        self.check_alias((len, retain, empty_topic, alias))
    }

    /// Whether an empty topic's alias is set on this connection; a PUBLISH
    /// that carries its topic sets its alias.
    fn check_alias(&mut self, facts: (usize, bool, bool, Option<u16>)) -> Result<(), Refusal> {
        match facts {
            (_, _, true, Some(alias)) if !self.aliases_set.contains(&alias) => {
                Err(Refusal::unknown_alias(alias))
            }
            _ => {
                self.note_alias(facts);
                Ok(())
            }
        }
    }

    /// A PUBLISH that carries its topic and an alias sets the alias.
    fn note_alias(&mut self, (_, _, empty_topic, alias): (usize, bool, bool, Option<u16>)) {
        if let (false, Some(alias)) = (empty_topic, alias) {
            self.aliases_set.insert(alias);
        }
    }

    /// A message the broker's limits forbid, refused at `publish`.
    fn refuse(&mut self, mid: u16, refusal: Refusal) -> PublishResult {
        let result = PublishResult {
            refused: Some(refusal.reason_code),
            ..self.not_stored(mid, refusal.rc)
        };
        self.events.push_back(Event::Refused(refusal));
        result
    }

    /// Puts stored message `mid` on the wire (marking it sent), unless the
    /// broker's limits forbid it: then it fails, its `Published` event
    /// carrying the reason, and leaves the window. After our DISCONNECT it
    /// stays stored, marked sent, for the next connection.
    fn send_stored(&mut self, mid: u16) {
        if self.limits.takes_any_publish() && self.config.protocol != ProtocolVersion::MQTTv5 {
            // MQTT 3: no alias, and nothing the broker announced to check.
            return self.put_stored(mid);
        }
        let Some(m) = self.store.get(mid) else {
            return;
        };
        let qos = m.qos();
        let (len, retain, empty_topic) = m.facts();
        // Only MQTT 5 has aliases; read without decoding the message.
        let alias = if self.config.protocol == ProtocolVersion::MQTTv5 {
            crate::packet::encoded_topic_alias(m.packet())
        } else {
            None
        };
        match self.check_publish(qos, (len, retain, empty_topic, alias)) {
            Ok(()) => self.put_stored(mid),
            Err(refusal) => self.fail_stored(mid, refusal),
        }
    }

    /// Puts stored message `mid` on the wire, checked.
    fn put_stored(&mut self, mid: u16) {
        let buf = self.transmit.buf();
        let start = buf.len();
        if !self.store.send(mid, buf) {
            return;
        }
        if self.link == LinkState::Disconnecting {
            self.transmit.buf().truncate(start);
            return;
        }
        let buf = self.transmit.buf();
        let first = buf[start];
        let qos = if first & 0b0110 == 0b0100 {
            QoS::ExactlyOnce
        } else {
            QoS::AtLeastOnce
        };
        let len = buf.len() - start;
        self.counters.sent(qos, len, first & 0b1000 != 0);
        self.trace_sent(start);
    }

    /// Ends stored message `mid` unsent, because a limit of the broker
    /// forbids it.
    fn fail_stored(&mut self, mid: u16, refusal: Refusal) {
        if self.store.fail(mid, refusal.reason_code) {
            self.counters.refused += 1;
            self.published_events += 1;
            self.events.push_back(Event::Published {
                mid,
                reason_code: refusal.reason_code,
                properties: Properties::new(PacketType::PubAck),
            });
            self.events.push_back(Event::Refused(refusal));
        }
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
            refused: None,
            stored: false,
            seq: 0,
            full: None,
            len: 0,
            queued: false,
        }
    }

    /// Refused for want of room (`MQTT_ERR_QUEUE_SIZE`), and why.
    fn full(&self, mid: u16, full: StoreFull, len: usize) -> PublishResult {
        PublishResult {
            full: Some(full),
            len,
            ..self.not_stored(mid, ErrorCode::QueueSize)
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

    /// Sends the book again after a CONNACK (automatic resubscribe). A
    /// filter this broker's limits forbid leaves the book, with an
    /// [`Event::Refused`]; a SUBSCRIBE too large for the broker goes as one
    /// per filter instead.
    fn resubscribe(&mut self, session_present: bool) {
        for (filters, properties) in self.book.to_send(session_present) {
            let (allowed, forbidden): (Vec<_>, Vec<_>) = filters
                .into_iter()
                .partition(|(f, _)| self.limits.check_filter(f).is_ok());
            for (filter, _) in forbidden {
                if let Err(refusal) = self.limits.check_filter(&filter) {
                    self.book.refused(&[filter]);
                    self.events.push_back(Event::Refused(refusal));
                }
            }
            if allowed.is_empty() {
                continue;
            }
            // Any valid id gives the size.
            let whole = Subscribe::new(1, allowed.clone());
            let fits = self.check_request(&Packet::Subscribe(Subscribe {
                properties: properties.clone(),
                ..whole
            }));
            let packets = if fits.is_ok() || allowed.len() == 1 {
                vec![allowed]
            } else {
                allowed.into_iter().map(|f| vec![f]).collect()
            };
            for filters in packets {
                let sent = filters.clone();
                let properties = properties.clone();
                let (rc, mid) = self.request(|mid| {
                    let mut s = Subscribe::new(mid, filters);
                    s.properties = properties;
                    Packet::Subscribe(s)
                });
                match (rc, mid) {
                    (ErrorCode::Success, Some(mid)) => self.book.sent(mid, &sent),
                    (ErrorCode::Success | ErrorCode::QueueSize, _) => {}
                    // Refused by a limit (with its event): asking again
                    // would be refused again.
                    _ => self
                        .book
                        .refused(&sent.into_iter().map(|(f, _)| f).collect::<Vec<_>>()),
                }
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
    /// by a stored message): held until the CONNACK, then checked against
    /// the broker's limits. A refusal returns its return code and no mid,
    /// with an [`Event::Refused`].
    fn request(&mut self, build: impl FnOnce(u16) -> Packet) -> (ErrorCode, Option<u16>) {
        if self.link == LinkState::Down {
            return (ErrorCode::NoConn, None);
        }
        if self.transmit_full() {
            return (ErrorCode::QueueSize, None);
        }
        let store = &self.store;
        let Some(mid) = self.mids.next_free_from(|from| store.first_free_id(from)) else {
            return (ErrorCode::QueueSize, None);
        };
        let packet = build(mid);
        if self.link == LinkState::Connecting {
            self.held.push(packet);
            return (ErrorCode::Success, Some(mid));
        }
        if let Err(refusal) = self.check_request(&packet) {
            let rc = refusal.rc;
            self.events.push_back(Event::Refused(refusal));
            return (rc, None);
        }
        self.queue(&packet, None);
        (ErrorCode::Success, Some(mid))
    }

    /// The broker's limits for a SUBSCRIBE or UNSUBSCRIBE.
    fn check_request(&self, packet: &Packet) -> Result<(), Refusal> {
        let len = packet
            .to_bytes(self.config.protocol)
            .map_or(usize::MAX, |b| b.len());
        match packet {
            Packet::Subscribe(s) => self.limits.check_subscribe(len, &s.filters, &s.properties),
            _ => self.limits.check_unsubscribe(len),
        }
    }

    /// The CONNACK accepted the connection: the SUBSCRIBEs and UNSUBSCRIBEs
    /// asked for since the CONNECT go out now, in order, each checked
    /// against the limits the CONNACK announced. A refused one ends with an
    /// acknowledgement event whose reason codes are failures, and an
    /// [`Event::Refused`].
    fn release_held(&mut self) {
        for packet in std::mem::take(&mut self.held) {
            match self.check_request(&packet) {
                Ok(()) => self.queue(&packet, None),
                Err(refusal) => self.refuse_held_request(packet, refusal),
            }
        }
    }

    /// A SUBSCRIBE or UNSUBSCRIBE whose call already returned success, and
    /// which the limits refuse: its acknowledgement event says so, with a
    /// failure reason code per filter (the SUBACK code for the limit where
    /// MQTT has one, else 0x80).
    fn refuse_held_request(&mut self, packet: Packet, refusal: Refusal) {
        let code = |packet_type, value| {
            ReasonCode::from_value(packet_type, value)
                .or_else(|_| ReasonCode::from_value(packet_type, 0x80))
                .unwrap_or_else(|_| ReasonCode::success(packet_type))
        };
        let value = refusal.reason_code.value();
        self.events.push_back(Event::Refused(refusal));
        match packet {
            Packet::Subscribe(s) => {
                let granted = vec![false; s.filters.len()];
                if self.config.auto_resubscribe {
                    self.book.suback(s.packet_id, &granted);
                }
                self.events.push_back(Event::Subscribed {
                    mid: s.packet_id,
                    reason_codes: vec![code(PacketType::SubAck, value); s.filters.len()],
                    properties: Properties::new(PacketType::SubAck),
                });
            }
            Packet::Unsubscribe(u) => self.events.push_back(Event::Unsubscribed {
                mid: u.packet_id,
                reason_codes: vec![code(PacketType::UnsubAck, 0x80); u.filters.len()],
                properties: Properties::new(PacketType::UnsubAck),
            }),
            _ => {}
        }
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
        self.backlog = false;
        let dropped = self.store.drain();
        self.counters.dropped += dropped.len() as u64;
        dropped
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
