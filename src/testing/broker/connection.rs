//! One client connection: a reader thread that decodes and handles packets,
//! and a writer thread that owns every write, so a slow client never blocks
//! the broker's shared state.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::event::{BrokerEvent, CloseReason};
use super::routing::copy_for;
use super::session::{Expiry, Link, Outbound, Outlet, Session, Subscription};
use super::Shared;
use crate::packet::{
    Ack, ConnAck, Connect, DecodeError, Decoder, Disconnect, Packet, PacketType, Properties,
    Property, PropertyId, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, SubAck,
    Subscribe, UnsubAck, Unsubscribe, Will,
};
use crate::testing::net::{deadline_after, Stream};
use crate::topic::{validate_topic_filter, validate_topic_name};

/// What ends a connection: the reason, plus the MQTT 5 DISCONNECT reason
/// code the broker sends first, if any.
struct End {
    reason: CloseReason,
    disconnect_code: Option<u8>,
}

impl End {
    fn new(reason: CloseReason) -> End {
        End {
            reason,
            disconnect_code: None,
        }
    }

    fn protocol_error(text: impl Into<String>, code: u8) -> End {
        End {
            reason: CloseReason::ProtocolError(text.into()),
            disconnect_code: Some(code),
        }
    }
}

/// Serves one accepted connection until it ends. Runs on its own thread.
pub(crate) fn serve(shared: Arc<Shared>, stream: Stream, connection: u64) {
    let peer = stream.peer();
    shared
        .events
        .push(BrokerEvent::Accepted { connection, peer });
    let mut conn = Connection {
        decoder: Decoder::new(ProtocolVersion::MQTTv311)
            .with_max_packet_size(shared.config.limits.max_packet_size),
        deadline: Some(deadline_after(shared.config.connect_timeout)),
        keepalive: None,
        shared,
        connection,
        stream,
        unread: Vec::new(),
        client_id: String::new(),
        protocol: ProtocolVersion::MQTTv311,
        will: None,
        writer: None,
        outlet: None,
    };
    let end = conn.run();
    conn.finish(end);
}

struct Connection {
    shared: Arc<Shared>,
    connection: u64,
    stream: Stream,
    decoder: Decoder,
    /// Bytes read but not yet given to the decoder (at most one read).
    unread: Vec<u8>,
    /// When the connection ends unless a complete packet arrives first: the
    /// CONNECT deadline, then 1.5 keepalive periods after the last packet.
    deadline: Option<Instant>,
    /// 1.5 times the client's keepalive, if it has one.
    keepalive: Option<Duration>,
    client_id: String,
    protocol: ProtocolVersion,
    will: Option<Will>,
    writer: Option<thread::JoinHandle<()>>,
    outlet: Option<Outlet>,
}

impl Connection {
    fn run(&mut self) -> End {
        let connect = match self.read_packet() {
            Ok(Packet::Connect(c)) => c,
            Ok(other) => {
                return End::new(CloseReason::ProtocolError(format!(
                    "the first packet was {}, not CONNECT",
                    other.packet_type()
                )))
            }
            Err(end) => return end,
        };
        if let Err(end) = self.accept_connect(&connect) {
            return end;
        }
        self.keepalive = match connect.keep_alive {
            0 => None,
            // The specification's grace: one and a half keepalive periods.
            k => Some(Duration::from_millis(u64::from(k) * 1500)),
        };
        self.deadline = self.keepalive.map(|k| Instant::now() + k);
        loop {
            let packet = match self.read_packet() {
                Ok(p) => p,
                Err(end) => return end,
            };
            if let Some(end) = self.handle(packet) {
                return end;
            }
        }
    }

    /// Reads the next packet, logging it. Errors are the end of the
    /// connection.
    ///
    /// Packets are decoded one at a time from the bytes read so far, because
    /// the CONNECT decides the protocol level of the packets behind it, which
    /// may have arrived in the same read.
    fn read_packet(&mut self) -> Result<Packet, End> {
        let mut buf = [0u8; 8192];
        loop {
            if !self.unread.is_empty() {
                let mut input = &self.unread[..];
                let result = self.decoder.decode(&mut input);
                let consumed = self.unread.len() - input.len();
                self.unread.drain(..consumed);
                match result {
                    Ok(Some(p)) => {
                        // Only a complete control packet counts as activity
                        // (MQTT 3.1.1 §3.1.2.10), not a byte dripped in.
                        if let Some(k) = self.keepalive {
                            self.deadline = Some(Instant::now() + k);
                        }
                        let client_id = match &p {
                            Packet::Connect(c) => c.client_id.clone(),
                            _ => self.client_id.clone(),
                        };
                        self.shared.events.push(BrokerEvent::PacketIn {
                            connection: self.connection,
                            client_id,
                            packet: p.clone(),
                        });
                        return Ok(p);
                    }
                    Ok(None) => {}
                    Err(DecodeError::UnsupportedProtocolLevel(_)) if self.outlet.is_none() => {
                        // MQTT 3.1.1 §3.2.2.3: answer 0x01 and close.
                        self.write_direct(&Packet::ConnAck(ConnAck::new(false, 1)));
                        return Err(End::new(CloseReason::Refused(1)));
                    }
                    Err(e) => {
                        let code = e.reason_code();
                        return Err(End::protocol_error(format!("malformed packet: {e}"), code));
                    }
                }
            }
            // A zero timeout would mean "block forever" to the socket.
            let timeout = self.deadline.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            let _ = self.stream.set_read_timeout(timeout);
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(End::new(CloseReason::PeerClosed)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    if self.deadline.is_some_and(|d| Instant::now() < d) {
                        continue;
                    }
                    return Err(if self.outlet.is_none() {
                        End::new(CloseReason::ProtocolError(
                            "no CONNECT arrived in time".into(),
                        ))
                    } else {
                        End {
                            reason: CloseReason::KeepaliveTimeout,
                            disconnect_code: Some(0x8D),
                        }
                    });
                }
                Err(_) => return Err(End::new(CloseReason::PeerClosed)),
            };
            self.unread.extend_from_slice(&buf[..n]);
        }
    }

    /// Writes a packet before the writer thread exists (refused CONNECTs).
    fn write_direct(&mut self, packet: &Packet) {
        if let Ok(bytes) = packet.to_bytes(self.protocol) {
            // Logged first, as the writer thread does.
            self.shared.events.push(BrokerEvent::PacketOut {
                connection: self.connection,
                client_id: self.client_id.clone(),
                packet: packet.clone(),
            });
            let _ = self.stream.set_write_timeout(Some(super::WRITE_TIMEOUT));
            let _ = self.stream.write_all(&bytes);
        }
    }

    fn refuse(&mut self, v3_code: u8, v5_code: u8) -> End {
        let code = if self.protocol == ProtocolVersion::MQTTv5 {
            v5_code
        } else {
            v3_code
        };
        self.write_direct(&Packet::ConnAck(ConnAck::new(false, code)));
        End::new(CloseReason::Refused(code))
    }

    /// Checks the CONNECT, sets up the session and the writer, and answers
    /// CONNACK.
    fn accept_connect(&mut self, connect: &Connect) -> Result<(), End> {
        let v5 = connect.protocol == ProtocolVersion::MQTTv5;
        self.protocol = connect.protocol;
        self.decoder.set_protocol(connect.protocol);
        self.client_id = connect.client_id.clone();

        if let Some((user, password)) = &self.shared.config.credentials {
            match (&connect.username, &connect.password) {
                (Some(u), Some(p)) if u == user && p.as_slice() == password.as_bytes() => {}
                // Mosquitto answers 5 "not authorized" at 3.1.1, whatever was
                // wrong; MQTT 5 has a precise code.
                (None, _) => return Err(self.refuse(5, 0x87)),
                _ => return Err(self.refuse(5, 0x86)),
            }
        }
        if v5 && connect.properties.authentication_method().is_some() {
            return Err(self.refuse(5, 0x8C));
        }
        let mut assigned = None;
        if connect.client_id.is_empty() {
            let allowed = match connect.protocol {
                ProtocolVersion::MQTTv31 => false,
                ProtocolVersion::MQTTv311 => connect.clean_start,
                ProtocolVersion::MQTTv5 => true,
            };
            if !allowed {
                return Err(self.refuse(2, 0x85));
            }
            let id = self.shared.state.lock().assign_client_id();
            self.client_id = id.clone();
            assigned = Some(id);
        }
        let expiry = if v5 {
            match connect.properties.session_expiry_interval().unwrap_or(0) {
                0 => Expiry::AtDisconnect,
                u32::MAX => Expiry::Never,
                secs => Expiry::After(Duration::from_secs(u64::from(secs))),
            }
        } else if connect.clean_start {
            Expiry::AtDisconnect
        } else {
            Expiry::Never
        };
        let receive_maximum = if v5 {
            connect.properties.receive_maximum().unwrap_or(u16::MAX)
        } else {
            u16::MAX
        };
        let max_packet_size = if v5 {
            connect.properties.maximum_packet_size()
        } else {
            None
        };
        self.will = connect.will.clone();
        let limits = self.shared.config.limits;
        {
            let state = self.shared.state.lock();
            if !state.sessions.contains_key(&self.client_id)
                && state.sessions.len() >= limits.max_sessions
            {
                drop(state);
                return Err(self.refuse(3, 0x97));
            }
        }

        // Bounded in bytes by the link's backlog check, not by the channel.
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer_stream = self
            .stream
            .try_clone()
            .map_err(|_| End::new(CloseReason::PeerClosed))?;
        let closer = Arc::new(
            self.stream
                .try_clone()
                .map_err(|_| End::new(CloseReason::PeerClosed))?,
        );
        let backlog = Arc::new(AtomicUsize::new(0));
        let outlet = Outlet {
            tx,
            backlog: Arc::clone(&backlog),
            max_backlog: limits.max_backlog_bytes,
            closer,
        };
        let writer = Writer {
            shared: Arc::clone(&self.shared),
            stream: writer_stream,
            connection: self.connection,
            client_id: self.client_id.clone(),
            protocol: self.protocol,
            max_packet_size,
            backlog,
        };
        let spawned = thread::Builder::new()
            .name(format!("tether-broker-write-{}", self.connection))
            .spawn(move || writer.run(rx));
        self.writer = Some(spawned.map_err(|_| End::new(CloseReason::PeerClosed))?);
        self.outlet = Some(outlet.clone());

        let mut connack = ConnAck::new(false, 0);
        if v5 {
            let mut props = Properties::new(PacketType::ConnAck);
            if let Some(id) = assigned {
                let _ = props.set(Property::AssignedClientIdentifier(id));
            }
            // MQTT 5 §3.2.2.3.6: without it the client may assume no limit.
            let max = u32::try_from(limits.max_packet_size).unwrap_or(u32::MAX);
            let _ = props.set(Property::MaximumPacketSize(max));
            // No shared subscriptions and no topic aliases from clients: the
            // test broker does not implement them, and says so.
            let _ = props.set(Property::SharedSubscriptionAvailable(0));
            connack.properties = props;
        }

        let now = Instant::now();
        let mut state = self.shared.state.lock();
        state.expire_sessions(now);
        if let Some(old) = state.sessions.get_mut(&self.client_id) {
            if let Some(link) = old.link.take() {
                // Marked before the close, so the old connection's cleanup
                // cannot miss it.
                self.shared.taken_over.lock().insert(link.connection);
                if old.protocol == ProtocolVersion::MQTTv5 {
                    link.send(Packet::Disconnect(Disconnect::new(
                        ReasonCode::from_value(PacketType::Disconnect, 0x8E)
                            .unwrap_or(ReasonCode::success(PacketType::Disconnect)),
                    )));
                }
                link.outlet.close();
                // The old network connection is over, and a session that was
                // to end with it ends now (MQTT 3.1.1 §3.1.2.4, MQTT 5
                // §3.1.2.11.2): the new client must not be told it exists.
                old.disconnected_at = Some(now);
                if old.is_expired(now) {
                    state.sessions.remove(&self.client_id);
                }
            }
        }
        // The session-present bit is reserved in MQTT 3.1.
        let present = connect.protocol != ProtocolVersion::MQTTv31
            && !connect.clean_start
            && state.sessions.contains_key(&self.client_id);
        if connect.clean_start {
            state.sessions.remove(&self.client_id);
        }
        connack.session_present = present;
        let session = state
            .sessions
            .entry(self.client_id.clone())
            .or_insert_with(|| Session::new(self.client_id.clone(), connect.protocol, expiry));
        session.protocol = connect.protocol;
        session.expiry = expiry;
        session.disconnected_at = None;
        let link = Link {
            connection: self.connection,
            outlet,
            protocol: connect.protocol,
            receive_maximum,
            max_packet_size,
        };
        link.send(Packet::ConnAck(connack));
        session.link = Some(link);
        if present {
            session.resume();
        }
        Ok(())
    }

    fn send(&self, packet: Packet) {
        if let Some(outlet) = &self.outlet {
            outlet.send(packet);
        }
    }

    fn with_session(&self, f: impl FnOnce(&mut Session)) {
        let mut state = self.shared.state.lock();
        if let Some(s) = state.sessions.get_mut(&self.client_id) {
            if s.is_linked_to(self.connection) {
                f(s);
            }
        }
    }

    /// Handles one packet after CONNECT; `Some` ends the connection.
    fn handle(&mut self, packet: Packet) -> Option<End> {
        let v5 = self.protocol == ProtocolVersion::MQTTv5;
        match packet {
            Packet::Publish(p) => return self.handle_publish(p),
            Packet::PubAck(a) => self.with_session(|s| s.acknowledged(a.packet_id)),
            Packet::PubComp(a) => self.with_session(|s| s.completed(a.packet_id)),
            Packet::PubRec(a) => {
                let refused = a.reason_code.is_failure();
                self.with_session(|s| s.received(a.packet_id, refused))
            }
            Packet::PubRel(a) => {
                self.with_session(|s| {
                    s.inbound_qos2.remove(&a.packet_id);
                });
                self.send(Packet::PubComp(Ack::new(PacketType::PubComp, a.packet_id)));
            }
            Packet::Subscribe(s) => self.handle_subscribe(s),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(u),
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(secs) = d.properties.session_expiry_interval() {
                    let mut bad = false;
                    self.with_session(|s| {
                        // MQTT 5 §3.14.2.2.2: a session that was to end at
                        // disconnect may not be given a lifetime now.
                        if s.expiry == Expiry::AtDisconnect && secs != 0 {
                            bad = true;
                        } else {
                            s.expiry = match secs {
                                0 => Expiry::AtDisconnect,
                                u32::MAX => Expiry::Never,
                                n => Expiry::After(Duration::from_secs(u64::from(n))),
                            };
                        }
                    });
                    if bad {
                        return Some(End::protocol_error(
                            "DISCONNECT set a session expiry after CONNECT set 0",
                            0x82,
                        ));
                    }
                }
                return Some(End::new(if v5 && d.reason_code.value() == 0x04 {
                    CloseReason::ClientDisconnectWithWill
                } else {
                    CloseReason::ClientDisconnect
                }));
            }
            other => {
                return Some(End::protocol_error(
                    format!("a client may not send {} here", other.packet_type()),
                    0x82,
                ))
            }
        }
        None
    }

    fn handle_publish(&mut self, p: Publish) -> Option<End> {
        if validate_topic_name(&p.topic, self.protocol).is_err() || p.topic.is_empty() {
            return Some(End::protocol_error(
                format!("invalid topic name {:?} in PUBLISH", p.topic),
                0x90,
            ));
        }
        if p.properties.topic_alias().is_some() {
            return Some(End::protocol_error(
                "topic alias used, but the broker's Topic Alias Maximum is 0",
                0x94,
            ));
        }
        let limits = self.shared.config.limits;
        let mut state = self.shared.state.lock();
        if p.qos == QoS::ExactlyOnce {
            let mine = state
                .sessions
                .get_mut(&self.client_id)
                .filter(|s| s.is_linked_to(self.connection));
            if let Some(s) = mine {
                // A re-sent QoS 2 PUBLISH we already hold is not routed again.
                if !s.inbound_qos2.insert(p.packet_id) {
                    drop(state);
                    self.send(Packet::PubRec(Ack::new(PacketType::PubRec, p.packet_id)));
                    return None;
                }
            }
        }
        if p.retain {
            state.retain(&p, &limits);
        }
        state.route(&p, Some(&self.client_id), &limits);
        drop(state);
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.send(Packet::PubAck(Ack::new(PacketType::PubAck, p.packet_id)))
            }
            QoS::ExactlyOnce => {
                self.send(Packet::PubRec(Ack::new(PacketType::PubRec, p.packet_id)))
            }
        }
        None
    }

    fn handle_subscribe(&mut self, s: Subscribe) {
        let v5 = self.protocol == ProtocolVersion::MQTTv5;
        let limits = self.shared.config.limits;
        let identifier = s.properties.subscription_identifiers().next();
        let ids: Vec<u32> = identifier.into_iter().collect();
        let mut state = self.shared.state.lock();
        let mut codes = Vec::with_capacity(s.filters.len());
        let mut wants_retained = Vec::new();
        // A connection whose session was taken over refuses every filter
        // (0x80 is a failure at every level) and touches nothing.
        let mut session = state
            .sessions
            .get_mut(&self.client_id)
            .filter(|s| s.is_linked_to(self.connection));
        for (filter, options) in &s.filters {
            let code = match session.as_mut() {
                None => 0x80,
                Some(_) if validate_topic_filter(filter).is_err() => match v5 {
                    true => 0x8F,
                    false => 0x80,
                },
                Some(_) if filter.starts_with("$share/") => match v5 {
                    true => 0x9E,
                    false => 0x80,
                },
                Some(session) => {
                    let sub = Subscription {
                        options: *options,
                        identifier,
                    };
                    let existed = session.subscriptions.insert(filter.clone(), sub).is_some();
                    let send = match options.retain_handling {
                        RetainHandling::SendOnSubscribe => true,
                        RetainHandling::SendIfNewSub => !existed,
                        RetainHandling::DoNotSend => false,
                    };
                    if send {
                        wants_retained.push((filter.clone(), *options));
                    }
                    options.qos.as_u8()
                }
            };
            codes.push(reason(PacketType::SubAck, code));
        }
        let mut retained = Vec::new();
        for (filter, options) in &wants_retained {
            for p in state.retained_matching(filter) {
                let qos = p.qos.min(options.qos);
                retained.push(copy_for(&p, self.protocol, qos, true, &ids));
            }
        }
        // SUBACK first, then the retained messages (Mosquitto's order).
        self.send(Packet::SubAck(SubAck::new(s.packet_id, codes)));
        if let Some(session) = state
            .sessions
            .get_mut(&self.client_id)
            .filter(|s| s.is_linked_to(self.connection))
        {
            for p in retained {
                session.deliver(p, &limits);
            }
        }
    }

    fn handle_unsubscribe(&mut self, u: Unsubscribe) {
        let mut codes = Vec::new();
        {
            let mut state = self.shared.state.lock();
            let mut session = state
                .sessions
                .get_mut(&self.client_id)
                .filter(|s| s.is_linked_to(self.connection));
            for filter in &u.filters {
                let code = match session.as_mut() {
                    None => 0x80,
                    Some(s) => {
                        if s.subscriptions.remove(filter).is_some() {
                            0x00
                        } else {
                            // MQTT 5: "no subscription existed", a success.
                            0x11
                        }
                    }
                };
                codes.push(reason(PacketType::UnsubAck, code));
            }
        }
        // MQTT 3 UNSUBACK has no reason codes.
        if self.protocol != ProtocolVersion::MQTTv5 {
            codes.clear();
        }
        self.send(Packet::UnsubAck(UnsubAck::new(u.packet_id, codes)));
    }

    /// Detaches the session, publishes the will if the close calls for it,
    /// stops the writer and logs the close.
    fn finish(mut self, end: End) {
        let stopping = self.shared.is_stopping();
        let mut taken_over = false;
        let mut reason = end.reason;
        if self.outlet.is_some() {
            let limits = self.shared.config.limits;
            let mut state = self.shared.state.lock();
            // Checked under the state lock, which the taking-over connection
            // holds while it marks us.
            taken_over = self.shared.taken_over.lock().remove(&self.connection);
            if stopping {
                reason = CloseReason::BrokerStopped;
            } else if taken_over {
                reason = CloseReason::TakenOver;
            }
            let now = Instant::now();
            let mut remove = false;
            if let Some(s) = state.sessions.get_mut(&self.client_id) {
                if s.is_linked_to(self.connection) {
                    s.link = None;
                    s.disconnected_at = Some(now);
                    remove = s.is_expired(now);
                }
            }
            if remove {
                state.sessions.remove(&self.client_id);
            }
            if reason.publishes_will() {
                if let Some(will) = self.will.take() {
                    // Logged before routing, so the log shows the cause
                    // before the deliveries it makes.
                    self.shared.events.push(BrokerEvent::WillPublished {
                        client_id: self.client_id.clone(),
                        topic: will.topic.clone(),
                    });
                    let publish = will_to_publish(&will);
                    if publish.retain {
                        state.retain(&publish, &limits);
                    }
                    state.route(&publish, Some(&self.client_id), &limits);
                }
            }
        } else if stopping {
            reason = CloseReason::BrokerStopped;
        }
        if let Some(outlet) = self.outlet.take() {
            if self.protocol == ProtocolVersion::MQTTv5 && !stopping && !taken_over {
                if let Some(code) = end.disconnect_code {
                    outlet.send(Packet::Disconnect(Disconnect::new(reason_code_or_success(
                        PacketType::Disconnect,
                        code,
                    ))));
                }
            }
            outlet.close();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.shared.forget_connection(self.connection);
        self.shared.events.push(BrokerEvent::Closed {
            connection: self.connection,
            client_id: self.client_id.clone(),
            reason,
        });
    }
}

/// A reason code this broker only ever builds from known values.
fn reason(packet_type: PacketType, value: u8) -> ReasonCode {
    reason_code_or_success(packet_type, value)
}

fn reason_code_or_success(packet_type: PacketType, value: u8) -> ReasonCode {
    ReasonCode::from_value(packet_type, value).unwrap_or(ReasonCode::success(packet_type))
}

/// The will as the PUBLISH subscribers receive, with the will properties that
/// MQTT 5 §3.1.3.2 says travel with it (not the Will Delay Interval).
fn will_to_publish(will: &Will) -> Publish {
    let mut p = Publish::new(will.topic.clone(), will.payload.clone(), will.qos, 0);
    p.retain = will.retain;
    let mut props = Properties::new(PacketType::Publish);
    for prop in will.properties.iter() {
        if prop.id() != PropertyId::WillDelayInterval {
            let _ = props.push(prop);
        }
    }
    p.properties = props;
    p
}

/// The thread that owns a connection's writes.
struct Writer {
    shared: Arc<Shared>,
    stream: Stream,
    connection: u64,
    client_id: String,
    protocol: ProtocolVersion,
    max_packet_size: Option<u32>,
    backlog: Arc<AtomicUsize>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Outbound>) {
        // A client that stops reading must not hold a writer thread forever.
        let _ = self.stream.set_write_timeout(Some(super::WRITE_TIMEOUT));
        for out in rx.iter() {
            let (packet, weight) = match out {
                Outbound::Packet(p, w) => (*p, w),
                Outbound::Close => break,
            };
            let written = self.write(packet);
            self.backlog.fetch_sub(weight, Ordering::SeqCst);
            if !written {
                break;
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Writes one packet; false when the connection is unusable.
    fn write(&mut self, packet: Packet) -> bool {
        let Ok(bytes) = packet.to_bytes(self.protocol) else {
            return true;
        };
        // MQTT 5 §3.1.2.11.4: never more than the client's Maximum Packet
        // Size (sessions already drop oversized PUBLISHes; this guards the
        // rest).
        if self
            .max_packet_size
            .is_some_and(|max| bytes.len() as u64 > u64::from(max))
        {
            return true;
        }
        // Logged before the write, so a test that reacts to the packet can
        // never observe its own reaction logged first.
        self.shared.events.push(BrokerEvent::PacketOut {
            connection: self.connection,
            client_id: self.client_id.clone(),
            packet,
        });
        self.stream.write_all(&bytes).is_ok()
    }
}
