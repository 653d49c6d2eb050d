//! Hands session events to the handler, in order, on the loop's thread
//! (handling the driver's own: a written DISCONNECT, log lines, lost QoS 0
//! messages), and closes connections with Paho's order of events and
//! reason codes.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{convert_disconnect_error_code_to_reason_code, ErrorCode};
use crate::packet::{PacketType, Properties, QoS};
use crate::session::{Close, Event, LinkState};

use super::{Answer, ConnState, Core, Driver, LogLevel, Outcome, SocketEvent};

/// What feeding a chunk to the session came to.
pub(crate) enum Fed {
    Ok,
    /// The chunk belongs to a connection that has been replaced.
    Stale,
    /// The connection must close.
    Failed(Cause),
}

/// Why a connection is being closed.
#[derive(Debug)]
pub(crate) enum Cause {
    /// The session asked (protocol error, refusal, keepalive, server
    /// DISCONNECT).
    Session(Close),
    /// The socket reached end of stream or failed.
    Io,
    /// Our DISCONNECT was written.
    Requested,
    /// A callback panicked: close without further callbacks.
    Panic,
}

impl Driver {
    /// Takes the handler's answer: a callback's panic is kept for the loop
    /// to re-raise once the connection is closed, so the client is never
    /// left half alive (Paho's thread dies with the socket open, reference
    /// §8.4). Returns false after a kept panic (the first one is kept).
    pub(super) fn kept(&self, answer: Answer) -> bool {
        match answer {
            Ok(()) => true,
            Err(payload) => {
                let mut slot = self.shared.panic.lock();
                if slot.is_none() {
                    *slot = Some(payload);
                }
                false
            }
        }
    }

    /// One log line, to the handler.
    pub(super) fn log(&self, level: LogLevel, text: &str) {
        self.shared.handler.log(self, level, text);
    }

    /// Tells the handler about the socket; a panic is kept (see
    /// [`Driver::kept`]).
    pub(super) fn socket_event(&self, event: SocketEvent) {
        self.kept(self.shared.handler.socket(self, event));
    }

    /// Without a handler that runs something on `Published` events first,
    /// whoever writes or reads completes messages itself (see
    /// [`Listening::published`](super::Listening)).
    #[inline]
    pub(super) fn completes_directly(&self) -> bool {
        !self.shared.listening_published.load(Ordering::SeqCst)
    }

    pub(super) fn panicked(&self) -> bool {
        self.shared.panic.lock().is_some()
    }

    /// Delivers every queued session event to the handler.
    ///
    /// Events are taken from the session in batches, one core lock per
    /// batch rather than per event (a chunk read from the socket can hold
    /// hundreds of PUBACKs). The batch is shared: a callback that leads to
    /// a nested dispatch (a close, say) delivers the rest of it first, so
    /// events keep their order. A batch ends after a CONNACK, because taking
    /// the next event arms the re-send that must wait until `on_connect`
    /// has run.
    ///
    /// Between two events it looks for a stop (see
    /// [`Driver::stop_requested`]): from then on no message is delivered, so
    /// a broker that never pauses cannot hold `loop_stop()` or
    /// `disconnect()` for longer than the callback that is running. The
    /// other events (answers to the application's own requests, so as many
    /// as it made) are still delivered: the DISCONNECT completes, and
    /// `on_publish` and `wait_for_publish` learn. The messages stay the
    /// session's, in order, for the next loop (see [`Driver::hold_messages`]).
    pub(super) fn dispatch(&self) {
        const BATCH: usize = 256;
        // Messages taken out of the session no longer count against its
        // `events` budget: a batch of large ones stops early.
        const BATCH_BYTES: usize = 1024 * 1024;
        // Stored messages whose Published event was delivered: they leave
        // the store (and their MessageInfos read published) at the next
        // core lock, one lock for the batch.
        let mut delivered: Vec<u16> = Vec::new();
        loop {
            if self.panicked() {
                // What was taken and not delivered stays the session's.
                let rest: Vec<Event> = self.shared.batch.lock().drain(..).map(|(e, _)| e).collect();
                {
                    let mut core = self.shared.core.lock();
                    for mid in delivered.drain(..) {
                        core.release(mid);
                    }
                    if !rest.is_empty() {
                        core.session.unpoll_events(rest.into_iter());
                    }
                }
                self.shared.info_waiters.notify();
                return;
            }
            let next = self.shared.batch.lock().pop_front();
            if let Some((event, manual_ack)) = next {
                if matches!(event, Event::Message(_)) && self.stop_asked() {
                    let mut core = self.shared.core.lock();
                    if self.stop_requested(&core) {
                        // This one and the batch's other messages go back.
                        let mut held = vec![event];
                        let mut batch = self.shared.batch.lock();
                        let mut others = std::collections::VecDeque::with_capacity(batch.len());
                        for (e, m) in batch.drain(..) {
                            if matches!(e, Event::Message(_)) {
                                held.push(e);
                            } else {
                                others.push_back((e, m));
                            }
                        }
                        *batch = others;
                        drop(batch);
                        self.hold_messages(&mut core, held);
                        continue;
                    }
                    drop(core);
                }
                if let Some(mid) = self.deliver(event, manual_ack) {
                    delivered.push(mid);
                }
                continue;
            }
            let mut core = self.shared.core.lock();
            let mut notes = Vec::new();
            let persist_error = core.persist.as_mut().and_then(|p| p.take_error());
            let released = !delivered.is_empty();
            for mid in delivered.drain(..) {
                core.release(mid);
            }
            // Stopping, every event is looked at (the queue is bounded by
            // the event backlog), so the DISCONNECT's completion behind a
            // flood of messages is found.
            let stopping = self.stop_asked() && self.stop_requested(&core);
            let mut held = Vec::new();
            let mut batch = self.shared.batch.lock();
            let manual_ack = core.session.config().manual_ack;
            let mut batch_bytes = 0;
            while stopping || (batch.len() < BATCH && batch_bytes < BATCH_BYTES) {
                let event = core.session.poll_event();
                if let Some(Event::Message(m)) = &event {
                    batch_bytes += m.weight();
                }
                let connack = matches!(event, Some(Event::Connack { .. }));
                if let Some(Event::Connack { reason_code, .. }) = &event {
                    // A disconnect() made before the CONNACK stays in charge.
                    let disconnecting = matches!(
                        core.state,
                        ConnState::Disconnecting | ConnState::Disconnected
                    );
                    if !reason_code.is_failure() && !disconnecting {
                        // As in Paho, on_connect already sees the state
                        // connected and the backoff reset.
                        core.state = ConnState::Connected;
                        core.backoff.connected(Instant::now());
                        core.failover.connected();
                        core.last_connack = Some(std::time::SystemTime::now());
                    }
                }
                if let Some(Event::Connack {
                    reason_code,
                    properties,
                    ..
                }) = &event
                {
                    if reason_code.is_failure() {
                        notes.extend(refer(&mut core, properties));
                    }
                }
                if refused_v311_retry(&mut core, &event) {
                    // Not for on_connect; look at the next event.
                    continue;
                }
                let Some(event) = event else { break };
                if stopping && matches!(event, Event::Message(_)) {
                    held.push(event);
                    continue;
                }
                batch.push_back((event, manual_ack));
                if connack {
                    break;
                }
            }
            let done = batch.is_empty();
            drop(batch);
            if !held.is_empty() {
                self.hold_messages(&mut core, held);
            }
            drop(core);
            for note in notes {
                self.log(LogLevel::Warning, &note);
            }
            if let Some(text) = persist_error {
                self.log(LogLevel::Err, &text);
            }
            if released {
                self.shared.info_waiters.notify();
            }
            if done {
                if !stopping {
                    // A reader waiting for a backlog to go may look again.
                    let _ = self.shared.drained_tx.try_send(());
                }
                return;
            }
        }
    }

    /// Whether a stop may have been asked: a cheap look (no lock) before
    /// [`Driver::stop_requested`], which needs the core lock.
    fn stop_asked(&self) -> bool {
        self.shared.stop_asked.load(Ordering::SeqCst)
    }

    /// A connection begins, so the state no longer says `disconnect()`:
    /// the stop hint is cleared, unless `loop_stop()` is in force. Called
    /// under the core lock, as `disconnect()` sets it, and after clearing it
    /// looks at `terminate` again, which `loop_stop()` sets first.
    pub(super) fn stop_asked_again(&self) {
        self.shared.stop_asked.store(false, Ordering::SeqCst);
        if self.terminating() {
            self.shared.stop_asked.store(true, Ordering::SeqCst);
        }
    }

    /// The loop is to stop delivering messages: `disconnect()` was called
    /// (or the connection is closed after it), or `loop_stop()` while the
    /// `loop_start` thread (or `loop_forever`) runs.
    pub(super) fn stop_requested(&self, core: &Core) -> bool {
        matches!(
            core.state,
            ConnState::Disconnecting | ConnState::Disconnected
        ) || (core.auto_reconnect && self.terminating())
    }

    /// Messages taken from the session that a stop leaves undelivered. On a
    /// live connection they go back to the front of the session's queue, in
    /// order, for the next loop. Once their connection is closed they are
    /// not delivered at all: their acknowledgements could only go to
    /// another connection, where the same packet id may name another
    /// message. A QoS 0 message is lost then (as one still in the socket's
    /// buffer would be), a QoS 1 message is sent again by a broker that
    /// kept the session (it was never acknowledged), and a QoS 2 message
    /// waits for the PUBREL the broker sends again (see
    /// [`Session::not_delivered`](crate::session::Session::not_delivered)).
    pub(super) fn hold_messages(&self, core: &mut Core, held: Vec<Event>) {
        if core.session.link_state() == LinkState::Down {
            drop_messages(core, held);
            drop_stale_messages(core);
        } else {
            core.session.unpoll_events(held.into_iter());
        }
    }

    /// Hands `event` to the handler, or handles it here when it is the
    /// driver's own; returns the mid of a Published event, whose stored
    /// message the caller then releases.
    fn deliver(&self, event: Event, manual_ack: bool) -> Option<u16> {
        match event {
            Event::DisconnectWritten => {
                // The DISCONNECT the application asked for is out: the
                // close is the end it wanted, whatever the code says.
                let _ = self.close_connection(Cause::Requested);
                None
            }
            Event::Log(text) => {
                self.log(LogLevel::Debug, &text);
                None
            }
            Event::Refused(refusal) => {
                self.log(LogLevel::Warning, &refusal.text);
                None
            }
            Event::Qos0Dropped { mid } => {
                let info = self.shared.infos.lock().remove(mid);
                if let Some(info) = info {
                    info.complete(Outcome::ConnectionLost);
                    self.shared.info_waiters.notify();
                }
                None
            }
            event => {
                if let Event::Connack { reason_code, .. } = &event {
                    if !reason_code.is_failure() {
                        let server = self
                            .shared
                            .core
                            .lock()
                            .conn
                            .as_ref()
                            .map(|c| c.server.to_string());
                        if let Some(server) = server {
                            self.log(LogLevel::Info, &format!("Connected to {server}"));
                        }
                    }
                }
                let handled = self.kept(self.shared.handler.event(self, &event));
                match event {
                    // The acknowledgement follows the callback (reference
                    // §13), and a message whose callback panicked is not
                    // acknowledged, so the broker delivers it again: a QoS 1
                    // message whole, a QoS 2 message at the PUBREL it
                    // re-sends, for which it waits again.
                    Event::Message(message) => {
                        if !handled {
                            self.shared.core.lock().session.not_delivered(message);
                        } else if !manual_ack && message.qos != QoS::AtMostOnce {
                            self.shared
                                .core
                                .lock()
                                .session
                                .ack(message.mid, message.qos);
                        }
                        None
                    }
                    Event::Published {
                        mid, reason_code, ..
                    } => {
                        // Out of the table first: `notify` must run with no
                        // lock held (a waiter holds its lock and then takes
                        // the core lock).
                        let info = self.shared.infos.lock().remove(mid);
                        if let Some(info) = info {
                            info.complete(Outcome::of_published(reason_code));
                            self.shared.info_waiters.notify();
                        }
                        // A QoS 1/2 message leaves the store only after
                        // this, so its MessageInfo reads published after
                        // on_publish, as in Paho.
                        Some(mid)
                    }
                    _ => None,
                }
            }
        }
    }

    /// Completes the `MessageInfo`s of the messages the session reports
    /// delivered, taking those events out of its queue: for when no
    /// `on_publish` has to run first, so the waiters learn without waiting
    /// for the loop thread. Under the core lock, so no new message can take
    /// a finished message's id meanwhile.
    /// Returns true if any completed: the caller wakes the waiters once it
    /// has let go of the core lock.
    pub(super) fn complete_published(&self, core: &mut Core) -> bool {
        let mut infos = None;
        let mut any = false;
        let epochs = &core.epochs;
        core.session.take_published(|mid, reason_code, released| {
            any = true;
            if let Some((seq, Some(failure))) = released {
                epochs.record(seq, Outcome::of_failure(failure));
            }
            let infos = infos.get_or_insert_with(|| self.shared.infos.lock());
            if let Some(info) = infos.remove(mid) {
                info.complete(Outcome::of_published(reason_code));
            }
        });
        any
    }

    /// Closes connection `generation` (the current one for `None`) and
    /// reports it; returns the loop's return code for it. A close that
    /// belongs to an older connection (a user's `reconnect()` replaced it)
    /// does nothing.
    pub(super) fn close_connection_of(&self, cause: Cause, generation: Option<u64>) -> ErrorCode {
        let (silent, unsupported_v311) = {
            let mut core = self.shared.core.lock();
            let unsupported = std::mem::take(&mut core.unsupported_v311);
            (std::mem::take(&mut core.silent_retry), unsupported)
        };
        let cause = match cause {
            // Paho's handler returns MQTT_ERR_PROTOCOL for a 3.1.1 CONNACK 1
            // it will not answer with a downgrade (reference §10.4).
            Cause::Session(Close::Refused { .. }) if unsupported_v311 => {
                Cause::Session(Close::Protocol("Unsupported protocol version".into()))
            }
            cause => cause,
        };
        if silent && matches!(cause, Cause::Session(Close::Refused { .. })) {
            // The same broker again, at MQTT 3.1.
            self.shared.core.lock().failover.again();
            // reconnect() closes the refused socket itself.
            return match self.reconnect() {
                Ok(_) => ErrorCode::Success,
                Err(_) => ErrorCode::ConnRefused,
            };
        }
        let mut notes = Vec::new();
        let (was_disconnecting, failed_connect) = {
            let mut core = self.shared.core.lock();
            if generation.is_some_and(|g| g != core.generation) {
                return ErrorCode::Success;
            }
            let Some(conn) = core.conn.take() else {
                return ErrorCode::NoConn;
            };
            // The broker broke the protocol or a limit of ours: at MQTT 5
            // the session queued a DISCONNECT saying why (and set its link
            // to Disconnecting).
            if matches!(
                cause,
                Cause::Session(Close::Protocol(_) | Close::Exceeded { .. })
            ) && core.session.link_state() == LinkState::Disconnecting
            {
                self.write_goodbye(&mut core, &conn);
            }
            if let Cause::Session(Close::ServerDisconnect { properties, .. }) = &cause {
                let server = conn.server.clone();
                notes = refer_from(&mut core, properties, &server);
            }
            let _ = conn.writer.shutdown(std::net::Shutdown::Both);
            let before_connack = core.session.link_state() == LinkState::Connecting;
            core.session.connection_closed();
            core.backoff.connection_lost(Instant::now());
            let was = matches!(
                core.state,
                ConnState::Disconnecting | ConnState::Disconnected
            );
            // Unlike Paho, whose is_connected() lags after protocol errors and
            // server DISCONNECTs (reference §5), the state changes now.
            core.state = if was || matches!(cause, Cause::Panic) {
                ConnState::Disconnected
            } else {
                ConnState::ConnectionLost
            };
            // Under automatic reconnection, a connection that breaks before
            // its CONNACK (reset, end of stream) failed to connect: the same
            // report as a refused TCP connect, whatever layer refused.
            let failed =
                before_connack && !was && matches!(cause, Cause::Io) && core.auto_reconnect;
            count_close(
                core.session.counters_mut(),
                &cause,
                was,
                before_connack && !was,
            );
            (was, failed)
        };
        for note in notes {
            self.log(LogLevel::Warning, &note);
        }
        if failed_connect {
            self.socket_closing();
            self.socket_event(SocketEvent::Close);
            self.connect_failed(None);
            self.dispatch();
            return ErrorCode::ConnLost;
        }
        self.shared.wake();
        let from_server = matches!(cause, Cause::Session(Close::ServerDisconnect { .. }));
        let (rc, reason_code, properties) = match cause {
            Cause::Panic => return ErrorCode::ConnLost,
            Cause::Requested => (ErrorCode::Success, None, None),
            Cause::Io if was_disconnecting => (ErrorCode::Success, None, None),
            Cause::Io => (ErrorCode::ConnLost, None, None),
            Cause::Session(Close::ServerDisconnect {
                reason_code,
                properties,
            }) => (ErrorCode::ConnLost, Some(reason_code), Some(properties)),
            Cause::Session(close) if was_disconnecting => {
                let _ = close;
                (ErrorCode::Success, None, None)
            }
            Cause::Session(close) => (close.error_code(), close.reason_code(), None),
        };
        let reason_code =
            reason_code.unwrap_or_else(|| convert_disconnect_error_code_to_reason_code(rc));
        let properties = properties.unwrap_or_else(|| Properties::new(PacketType::Disconnect));
        let disconnect = || {
            self.kept(self.shared.handler.disconnected(
                self,
                &reason_code,
                &properties,
                from_server,
            ));
        };
        let socket_close = || {
            self.socket_closing();
            self.socket_event(SocketEvent::Close);
        };
        // Paho's order: a clean disconnect reports first, then closes; a lost
        // connection is closed first, then reported.
        if rc == ErrorCode::Success && !from_server {
            disconnect();
            socket_close();
        } else {
            socket_close();
            disconnect();
        }
        // QoS 0 messages that never reached the socket fail now, so no
        // waiter is left behind when no reconnect follows.
        self.dispatch();
        if rc == ErrorCode::Success {
            ErrorCode::NoConn
        } else {
            rc
        }
    }

    /// Best effort, as connection `conn` closes: writes what the session
    /// has queued, which ends with the MQTT 5 DISCONNECT that says why, as
    /// far as the socket takes it without waiting. Only when nobody else is
    /// writing (a write in progress would interleave), so a broker that
    /// does not read gets no DISCONNECT, only the close, and the close is
    /// never held up.
    fn write_goodbye(&self, core: &mut Core, conn: &super::Conn) {
        let Some(_writing) = self.shared.write_lock.try_lock() else {
            return;
        };
        let now = Instant::now();
        core.persist_journal(true);
        match &conn.layers {
            None => loop {
                let pending = core.session.queued_bytes();
                if pending.is_empty() {
                    return;
                }
                match conn.writer.try_send(pending) {
                    Ok(n) if n > 0 => core.session.written(n, now),
                    _ => return,
                }
            },
            Some(layers) => {
                let mut plain = Vec::new();
                core.session.take_pending(&mut plain);
                let mut layers = layers.lock();
                if layers.encode(&plain).is_err() {
                    return;
                }
                while !layers.out().is_empty() {
                    match conn.writer.try_send(layers.out()) {
                        Ok(n) if n > 0 => layers.consume(n),
                        _ => return,
                    }
                }
            }
        }
    }

    /// Closes the current connection; see [`Driver::close_connection_of`].
    ///
    /// After a refusal that Paho retries silently (reference §10.4) the
    /// close reports nothing and a new connection starts at once.
    pub(super) fn close_connection(&self, cause: Cause) -> ErrorCode {
        self.close_connection_of(cause, None)
    }

    /// Feeds bytes of connection `generation` to the session at `now`, then
    /// delivers the events (an external event loop's read).
    pub(super) fn feed(&self, bytes: &[u8], generation: u64, now: Instant) -> ErrorCode {
        let result = self.feed_session(bytes, generation, now);
        self.dispatch();
        if self.panicked() {
            return self.close_connection_of(Cause::Panic, Some(generation));
        }
        match result {
            Fed::Ok | Fed::Stale => ErrorCode::Success,
            Fed::Failed(cause) => self.close_connection_of(cause, Some(generation)),
        }
    }

    /// Feeds bytes of connection `generation` to the session at `now`,
    /// through its layers if it has any; delivers nothing.
    pub(super) fn feed_session(&self, bytes: &[u8], generation: u64, now: Instant) -> Fed {
        let mut core = self.shared.core.lock();
        if core.generation != generation {
            return Fed::Stale;
        }
        let result = match core.conn.as_ref().and_then(|c| c.layers.clone()) {
            // Plain TCP or unix: one lock per chunk, as before layers.
            None => core.session.received(bytes, now),
            Some(layers) => {
                // Decrypt and unframe outside the core lock.
                drop(core);
                let mut plain = Vec::new();
                let decoded = layers.lock().decode(bytes, &mut plain);
                core = self.shared.core.lock();
                if core.generation != generation {
                    return Fed::Stale;
                }
                // What was decoded before the layers' end or error happened
                // first: a refusing CONNACK or a server DISCONNECT right
                // before a TLS close_notify or WebSocket CLOSE is the
                // reason the connection ends, and its events come first.
                match core.session.received(&plain, now) {
                    Ok(()) => match decoded {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            drop(core);
                            self.log(LogLevel::Err, &format!("connection failed: {e}"));
                            return Fed::Failed(Cause::Io);
                        }
                    },
                    closed => closed,
                }
            }
        };
        match result {
            Ok(()) => Fed::Ok,
            Err(close) => Fed::Failed(Cause::Session(close)),
        }
    }

    pub(super) fn terminating(&self) -> bool {
        self.shared.terminate.load(Ordering::SeqCst)
    }
}

/// Paho's two silent retries for an MQTT 3.1.1 refusal (reference §10.4):
/// return code 1 downgrades to MQTT 3.1 for good; return code 2 with an
/// empty client id makes up an id. Both reconnect at once with no
/// callbacks, and only with `reconnect_on_failure`. Without it, return code
/// 1 skips `on_connect` (the close still reports a protocol error). Returns
/// true when the CONNACK event must not reach `on_connect`.
fn refused_v311_retry(core: &mut super::Core, event: &Option<Event>) -> bool {
    let Some(Event::Connack { reason_code, .. }) = event else {
        return false;
    };
    let config = core.session.config();
    if config.protocol != crate::packet::ProtocolVersion::MQTTv311 {
        return false;
    }
    let unsupported = reason_code.value() == 132;
    let bad_empty_id = reason_code.value() == 133 && config.client_id.is_empty();
    if !core.reconnect_on_failure {
        core.unsupported_v311 = unsupported;
        return unsupported;
    }
    if unsupported {
        core.session.config_mut().protocol = crate::packet::ProtocolVersion::MQTTv31;
    } else if bad_empty_id {
        core.session.config_mut().client_id = random_client_id();
    } else {
        return false;
    }
    core.silent_retry = true;
    true
}

/// Takes the messages out of `events` for good (see
/// [`Driver::hold_messages`]).
/// Counts a connection that ended because of `cause` (`was_disconnecting`:
/// after our DISCONNECT; `before_connack`: it never had its CONNACK).
fn count_close(
    counters: &mut crate::session::Counters,
    cause: &Cause,
    was_disconnecting: bool,
    before_connack: bool,
) {
    let d = &mut counters.disconnects;
    match cause {
        Cause::Io if before_connack => counters.connect_failures += 1,
        Cause::Requested => d.requested += 1,
        Cause::Io if was_disconnecting => d.requested += 1,
        Cause::Io | Cause::Panic => d.lost += 1,
        Cause::Session(Close::ServerDisconnect { .. }) => d.by_server += 1,
        Cause::Session(Close::Keepalive) => d.keepalive += 1,
        Cause::Session(Close::Refused { .. }) => d.refused += 1,
        Cause::Session(Close::Protocol(_) | Close::Exceeded { .. }) => d.protocol += 1,
    }
}

/// A refusing CONNACK's Server Reference, from the last connection's
/// broker (the connection may be closed already): followed when the
/// application asked for it (see `failover.rs`); returns the log lines to
/// write once the core lock is let go.
fn refer(core: &mut Core, properties: &Properties) -> Vec<String> {
    match core.last_server.clone() {
        Some(server) => refer_from(core, properties, &server),
        None => Vec::new(),
    }
}

/// A Server Reference in `properties` of a packet from `server`.
fn refer_from(core: &mut Core, properties: &Properties, server: &super::Server) -> Vec<String> {
    let Some(reference) = properties.server_reference() else {
        return Vec::new();
    };
    match core.failover.refer(reference, server) {
        None => vec![format!(
            "{server} refers to {reference:?}: not followed (follow_server_reference_set)"
        )],
        Some(bad) => {
            let mut notes = vec![format!("Server Reference from {server}: {reference:?}")];
            notes.extend(
                bad.into_iter()
                    .map(|b| format!("Server Reference from {server}: ignored {b}")),
            );
            notes
        }
    }
}

fn drop_messages(core: &mut Core, events: Vec<Event>) {
    for event in events {
        if let Event::Message(message) = event {
            core.session.not_delivered(message);
        }
    }
}

/// Messages the session still holds for a connection that is being
/// replaced (a stop or a panic left them undelivered): dropped, as
/// [`Driver::hold_messages`] drops them once their connection is closed.
/// The other events stay, in order.
pub(crate) fn drop_stale_messages(core: &mut Core) {
    for message in core.session.take_messages() {
        core.session.not_delivered(message);
    }
}

/// 22 base62 characters, as Paho makes for MQTT 3.1 clients without an id.
/// `RandomState` is seeded randomly per process and per instance, which is
/// all an id needs.
pub(crate) fn random_client_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(22);
    while out.len() < 22 {
        let mut bits = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        for _ in 0..10 {
            if out.len() == 22 {
                break;
            }
            out.push(ALPHABET[(bits % 62) as usize] as char);
            bits /= 62;
        }
    }
    out
}
