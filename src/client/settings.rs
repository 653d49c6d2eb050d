//! Setters and getters: Paho's properties (`host`, `port`, `keepalive`,
//! ...), its `*_set` calls, userdata, the logger, and the beyond-Paho
//! settings (memory budget, reconnect jitter, ...).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::callbacks::UserData;
use super::{Client, IntoQos, MAX_FIELD};
use crate::driver::ConnState;
use crate::error::{Error, RuntimeReason, ValueReason};
use crate::packet::{PacketType, Properties, ProtocolVersion, Will};
use crate::session::QueueFullPolicy;

impl Client {
    /// The client id.
    pub fn client_id(&self) -> String {
        self.driver.core().session.config().client_id.clone()
    }

    /// The protocol version.
    pub fn protocol(&self) -> ProtocolVersion {
        self.driver.core().session.config().protocol
    }

    /// True after CONNACK accepted the connection, until it is lost or
    /// closed.
    pub fn is_connected(&self) -> bool {
        self.driver.core().state == ConnState::Connected
    }

    /// Beyond Paho: what the broker's last CONNACK announced (MQTT 5
    /// Receive Maximum, Maximum Packet Size, Maximum QoS, Retain Available,
    /// Topic Alias Maximum, Assigned Client Identifier, ...), which the
    /// client honours on that connection; `None` while no connection is
    /// accepted. Before MQTT 5 a broker announces nothing: the defaults.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// assert!(client.broker_limits().is_none());
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn broker_limits(&self) -> Option<crate::session::BrokerLimits> {
        self.driver.core().session.broker_limits().cloned()
    }

    /// Beyond Paho Python (Paho C's `MQTTCLIENT_PERSISTENCE_DEFAULT` with a
    /// directory): keeps the outgoing QoS 1/2 store (each message, and
    /// whether its PUBREC came) and the inbound QoS 2 state (messages
    /// received and not yet acknowledged) in the directory `dir` (created
    /// if missing), so a process killed at any moment and started again
    /// with the same directory, client id and `clean_session=False` loses
    /// nothing: at the next connection the recovered messages go out again
    /// with their ids, in publish order, within the broker's window, before
    /// anything published later. See [`crate::persist`] for the format,
    /// and [`Durability`](crate::Durability) for when records reach the
    /// disk and what each setting costs.
    ///
    /// Call it before `connect` and before publishing. What it found comes
    /// back ([`PersistReport`](crate::PersistReport)): how many messages
    /// were recovered, and how many were ever published through the
    /// directory (where a deterministic producer resumes). A damaged log is
    /// read up to the damage, which is reported there and logged at
    /// WARNING (set `on_log` first to see it). Errors (an
    /// [`Error::Io`]): another client holds the directory
    /// (`ErrorKind::ResourceBusy`; the lock dies with its process), the
    /// file is not a persistence file or of another format version
    /// (`InvalidData`), it holds messages of another protocol level
    /// (`InvalidInput`), or the file system failed.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client, Durability};
    /// # let dir = std::env::temp_dir().join(format!("mqtt-tether-doc-{}", std::process::id()));
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// let found = client.persistence_set(&dir, Durability::Sync)?;
    /// assert_eq!((found.outgoing, found.publishes), (0, 0));
    /// assert_eq!(client.persisted_publishes(), Some(0));
    /// let second = Client::new(CallbackAPIVersion::VERSION2)?;
    /// let busy = second.persistence_set(&dir, Durability::Sync).unwrap_err();
    /// assert!(busy.to_string().contains("in use by another client"), "{busy}");
    /// # drop(client);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn persistence_set(
        &self,
        dir: impl AsRef<std::path::Path>,
        durability: crate::Durability,
    ) -> Result<crate::PersistReport, Error> {
        self.driver.persistence_set(dir.as_ref(), durability)
    }

    /// Beyond Paho: how many QoS 1/2 messages were ever stored through the
    /// persistence directory ([`Client::persistence_set`]), counting across
    /// restarts; `None` without one. Each `publish` that stored a message
    /// has written its record before it returned, so after a crash a
    /// producer numbering its messages resumes at this number without
    /// publishing any message twice. (With
    /// [`Client::queue_qos0_offline_set`] on, QoS 0 messages queued while
    /// offline take a number in the same sequence, so it counts those
    /// too.)
    pub fn persisted_publishes(&self) -> Option<u64> {
        self.driver.persisted_publishes()
    }

    /// `username_pw_set(username, password)`; takes effect on the next
    /// CONNECT.
    ///
    /// Unlike Paho, which accepts them and then cannot send the CONNECT, a
    /// username or password over 65,535 bytes (what a CONNECT field holds)
    /// is refused here: `ValueError("Username is too long.")` or
    /// `("Password is too long.")`, and the credentials stay as they were.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.username_pw_set(Some("alice"), Some("secret"))?;
    /// let long = "x".repeat(65_536);
    /// let refused = client.username_pw_set(Some(&long), None).unwrap_err();
    /// assert_eq!(refused.to_string(), "Username is too long.");
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn username_pw_set(
        &self,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<(), Error> {
        if username.is_some_and(|u| u.len() > MAX_FIELD) {
            return Err(Error::Value(ValueReason::UsernameTooLong));
        }
        if password.is_some_and(|p| p.len() > MAX_FIELD) {
            return Err(Error::Value(ValueReason::PasswordTooLong));
        }
        let mut core = self.driver.core();
        let c = core.session.config_mut();
        c.username = username.map(str::to_string);
        c.password = password.map(|p| p.as_bytes().to_vec());
        Ok(())
    }

    /// `will_set(topic, payload, qos, retain, properties)`.
    ///
    /// A will topic or payload over 65,535 bytes (what a CONNECT field
    /// holds) is refused here, with Paho's texts for a topic or payload
    /// over its limit: `ValueError('Publish topic is too long.')` and
    /// `ValueError('Payload too large.')` (Paho accepts them, then cannot
    /// send the CONNECT).
    pub fn will_set(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: impl IntoQos,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<(), Error> {
        if topic.is_empty() {
            return Err(Error::InvalidTopic);
        }
        let qos = qos.into_qos()?;
        if topic.len() > MAX_FIELD {
            return Err(Error::PublishTopicTooLong);
        }
        if payload.as_ref().len() > MAX_FIELD {
            return Err(Error::Value(ValueReason::PayloadTooLarge));
        }
        let mut will = Will::new(topic, payload.as_ref().to_vec(), qos, retain);
        if let Some(mut p) = properties {
            // The will's properties travel in the CONNECT's will context.
            let mut wp = Properties::new(PacketType::WillMessage);
            for prop in p.iter() {
                wp.push(prop)?;
            }
            p.clear();
            will.properties = wp;
        }
        self.driver.core().session.config_mut().will = Some(will);
        Ok(())
    }

    /// `will_clear()`.
    pub fn will_clear(&self) {
        self.driver.core().session.config_mut().will = None;
    }

    /// `max_inflight_messages_set(inflight)` (0: unlimited).
    pub fn max_inflight_messages_set(&self, inflight: usize) -> Result<(), Error> {
        self.settable("max_inflight_messages")?;
        self.driver.core().session.config_mut().max_inflight = inflight;
        Ok(())
    }

    /// `max_queued_messages_set(queue_size)` (0: unlimited).
    pub fn max_queued_messages_set(&self, queue_size: usize) -> Result<(), Error> {
        self.settable("max_queued_messages")?;
        self.driver.core().session.config_mut().max_queued = queue_size;
        Ok(())
    }

    /// Beyond Paho: what `publish` does when `max_queued_messages` or the
    /// store's bytes budget ([`MemoryBudget::store`](crate::MemoryBudget::store))
    /// is reached: [`QueueFullPolicy::Refuse`] (Paho's
    /// `MQTT_ERR_QUEUE_SIZE`, the default) or [`QueueFullPolicy::DropOldest`]
    /// (the oldest message never sent makes room; its `MessageInfo` ends
    /// [`Outcome::Evicted`](crate::Outcome::Evicted), without
    /// `on_publish`). In effect for the next publish, connected or not.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client, Outcome, QueueFullPolicy};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.max_queued_messages_set(2)?;
    /// client.queue_full_policy_set(QueueFullPolicy::DropOldest);
    /// let first = client.publish("t", "1", 1, false)?;
    /// client.publish("t", "2", 1, false)?;
    /// client.publish("t", "3", 1, false)?; // offline: "1" makes room
    /// assert_eq!(first.outcome(), Outcome::Evicted);
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn queue_full_policy_set(&self, policy: QueueFullPolicy) {
        self.driver.core().session.config_mut().queue_full_policy = policy;
    }

    /// The queue-full policy ([`Client::queue_full_policy_set`]).
    pub fn queue_full_policy(&self) -> QueueFullPolicy {
        self.driver.core().session.config().queue_full_policy
    }

    /// Beyond Paho: with `true`, a QoS 0 message published without a
    /// connection is queued (its `rc` `MQTT_ERR_NO_CONN`, as a QoS 1/2
    /// message stored offline, its outcome `Pending`) and written after
    /// the next CONNACK, before the stored QoS 1/2 messages go again; it
    /// counts against `max_queued_messages` and the store's bytes budget,
    /// and the queue-full policy applies to it. Paho drops it
    /// (`MQTT_ERR_NO_CONN`, outcome `NotConnected`): that stays the
    /// default. A queued QoS 0 message is still sent at most once: if the
    /// connection ends before it is written, it is lost
    /// ([`Outcome::ConnectionLost`](crate::Outcome::ConnectionLost)).
    pub fn queue_qos0_offline_set(&self, queue: bool) {
        self.driver.core().session.config_mut().queue_qos0_offline = queue;
    }

    /// Whether QoS 0 messages are queued offline
    /// ([`Client::queue_qos0_offline_set`]).
    pub fn queue_qos0_offline(&self) -> bool {
        self.driver.core().session.config().queue_qos0_offline
    }

    /// Beyond Paho: sets the memory the client may hold for each part (the
    /// bytes waiting for the socket, undelivered messages, inbound QoS 2
    /// messages, the outgoing store), and so what a broker can make it
    /// hold. See [`MemoryBudget`](crate::MemoryBudget) for the defaults and
    /// what happens at each budget. Takes effect at once, also while
    /// connected; what is held already stays.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client, MemoryBudget};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.memory_budget_set(MemoryBudget {
    ///     store: 8 * 1024 * 1024,
    ///     ..MemoryBudget::default()
    /// });
    /// assert_eq!(client.memory_budget().store, 8 * 1024 * 1024);
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn memory_budget_set(&self, budget: crate::MemoryBudget) {
        self.driver.core().session.set_memory_budget(budget);
    }

    /// The memory budget in effect (see [`Client::memory_budget_set`]).
    pub fn memory_budget(&self) -> crate::MemoryBudget {
        self.driver.core().session.config().memory_budget
    }

    /// Beyond Paho: the largest packet the client accepts from the broker,
    /// fixed header included, at every protocol level (default 16 MiB;
    /// Paho has no limit, and MQTT allows 256 MiB). A larger packet closes
    /// the connection as soon as its fixed header arrives, before any of
    /// its body is held: MQTT 5 with DISCONNECT 0x95 (Packet too large),
    /// earlier levels without a word. An MQTT 5 CONNECT announces it as
    /// Maximum Packet Size, so a broker drops such a message for this
    /// client instead (§3.1.2.11.4). A Maximum Packet Size the application
    /// puts in the CONNECT properties itself takes its place. Takes effect
    /// at the next connection. Fails for 0 and above 268,435,455.
    pub fn max_inbound_packet_size_set(&self, bytes: u32) -> Result<(), Error> {
        if bytes == 0 || bytes > crate::packet::MAX_VARIABLE_INTEGER {
            return Err(Error::Value(ValueReason::MaxInboundPacketSize));
        }
        self.driver
            .core()
            .session
            .config_mut()
            .max_inbound_packet_size = bytes;
        Ok(())
    }

    /// The largest packet accepted from the broker (see
    /// [`Client::max_inbound_packet_size_set`]); an MQTT 5 Maximum Packet
    /// Size among the CONNECT properties takes its place.
    pub fn max_inbound_packet_size(&self) -> u32 {
        self.driver.core().session.max_inbound()
    }

    /// `reconnect_delay_set(min_delay, max_delay)` (defaults 1 s and
    /// 120 s): the first automatic reconnect waits `min_delay`, each further
    /// failed attempt doubles the wait up to `max_delay`, and an accepted
    /// connection starts over. Fractions of a second are fine.
    pub fn reconnect_delay_set(&self, min_delay: Duration, max_delay: Duration) {
        self.driver.core().backoff.set_bounds(min_delay, max_delay);
    }

    /// Beyond Paho (off by default): the client remembers what
    /// `subscribe` asked for (and `unsubscribe` did not remove) and asks
    /// again whenever a CONNACK says the broker kept no session for it, and
    /// after any CONNACK for filters the broker never confirmed (asked while
    /// offline, or lost with a connection before their SUBACK). The SUBACKs
    /// reach `on_subscribe` as usual. A filter the broker refuses is
    /// forgotten. With it on, a `subscribe` made while offline still returns
    /// `MQTT_ERR_NO_CONN` (as Paho) but is sent at the next CONNACK.
    pub fn auto_resubscribe_set(&self, on: bool) {
        self.driver.core().session.config_mut().auto_resubscribe = on;
    }

    /// Beyond Paho (off by default): randomises each reconnect wait so that
    /// many clients that lost the same broker do not return at the same
    /// instant. See [`Jitter`](crate::session::Jitter).
    pub fn reconnect_jitter_set(&self, jitter: crate::session::Jitter) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (self.driver.identity() as u64);
        self.driver.core().backoff.set_jitter(jitter, seed);
    }

    /// Beyond Paho (off by default): the reconnect delay starts over only
    /// after a connection has stayed up for `stable` (Paho: at every
    /// accepted CONNACK), so a broker that accepts and then drops the client
    /// at once cannot make it reconnect in a tight loop. `None` restores
    /// Paho's rule.
    pub fn reconnect_reset_after_set(&self, stable: Option<Duration>) {
        self.driver.core().backoff.set_reset_after(stable);
    }

    /// The `host` property.
    pub fn host(&self) -> String {
        self.driver.core().host.clone()
    }

    /// Sets the `host` property (not while connected or connecting).
    pub fn set_host(&self, host: &str) -> Result<(), Error> {
        if host.is_empty() {
            return Err(Error::Value(ValueReason::InvalidHost));
        }
        self.settable("host")?;
        self.driver.core().host = host.to_string();
        Ok(())
    }

    /// The `port` property.
    pub fn port(&self) -> u16 {
        self.driver.core().port
    }

    /// Sets the `port` property (not while connected or connecting).
    pub fn set_port(&self, port: u16) -> Result<(), Error> {
        if port == 0 {
            return Err(Error::Value(ValueReason::InvalidPort));
        }
        self.settable("port")?;
        self.driver.core().port = port;
        Ok(())
    }

    /// The `keepalive` property (a v5 Server Keep Alive replaces it).
    pub fn keepalive(&self) -> u16 {
        self.driver.core().session.config().keepalive
    }

    /// Sets the `keepalive` property (not while connected or connecting).
    pub fn set_keepalive(&self, keepalive: u16) -> Result<(), Error> {
        self.settable("keepalive")?;
        self.driver.core().session.config_mut().keepalive = keepalive;
        Ok(())
    }

    /// The `connect_timeout` property.
    pub fn connect_timeout(&self) -> Duration {
        self.driver.core().transport.tcp.connect_timeout
    }

    /// `connect_timeout` (default 5 s): the bound on opening a connection,
    /// all of it (TCP connect, proxy, TLS handshake, WebSocket upgrade,
    /// counted together from the start), and, with keepalive 0, on the wait
    /// for CONNACK (Paho waits for ever; with a keepalive, the keepalive
    /// bounds that wait, as in Paho).
    pub fn set_connect_timeout(&self, timeout: Duration) -> Result<(), Error> {
        if timeout.is_zero() {
            return Err(Error::Value(ValueReason::NonPositiveTimeout));
        }
        self.settable("connect_timeout")?;
        self.driver.core().transport.tcp.connect_timeout = timeout;
        Ok(())
    }

    /// The `max_inflight_messages` property.
    pub fn max_inflight_messages(&self) -> usize {
        self.driver.core().session.config().max_inflight
    }

    /// The `max_queued_messages` property.
    pub fn max_queued_messages(&self) -> usize {
        self.driver.core().session.config().max_queued
    }

    /// The `will_topic` property (`""` without a will).
    pub fn will_topic(&self) -> String {
        let core = self.driver.core();
        core.session
            .config()
            .will
            .as_ref()
            .map(|w| w.topic.clone())
            .unwrap_or_default()
    }

    /// The `will_payload` property (empty without a will).
    pub fn will_payload(&self) -> Vec<u8> {
        let core = self.driver.core();
        core.session
            .config()
            .will
            .as_ref()
            .map(|w| w.payload.clone())
            .unwrap_or_default()
    }

    /// `enable_logger()`: the client's log lines go to the `log` crate
    /// (target `mqtt_tether`), which is the default here: as Rust libraries
    /// do, the client always logs and the application's logger (its level,
    /// its filter on the target) decides what is kept. So this call only
    /// undoes [`Client::disable_logger`]; it does nothing else (Paho's
    /// `enable_logger(logger)` routes to a Python logger, which has no
    /// counterpart: filter on the target instead). `on_log` gets the lines
    /// either way. Every packet sent or received gets a DEBUG line, such
    /// as `Sending PUBLISH (d0, q1, r0, m3) "a/b", 5 bytes` (payloads and
    /// passwords are never shown), made only while `on_log` is set or the
    /// logger takes DEBUG lines of the target (asked at each `connect`,
    /// and whenever a callback or this switch changes).
    pub fn enable_logger(&self) {
        self.face.logger.store(true, Ordering::SeqCst);
        self.listen(&self.face.callbacks.lock());
    }

    /// `disable_logger()`: this client's lines no longer go to the `log`
    /// crate (`on_log` still gets them), until `enable_logger()`.
    pub fn disable_logger(&self) {
        self.face.logger.store(false, Ordering::SeqCst);
        self.listen(&self.face.callbacks.lock());
    }

    /// `enable_bridge_mode()`: sets bit 0x80 of the protocol level in the
    /// next CONNECTs (the Mosquitto/RSMB bridge extension, Paho's
    /// `MQTT_BRIDGE` client mode).
    pub fn enable_bridge_mode(&self) {
        self.driver.core().session.config_mut().bridge = true;
    }

    /// `manual_ack_set(on)`.
    pub fn manual_ack_set(&self, on: bool) {
        self.driver.core().session.config_mut().manual_ack = on;
    }

    /// Paho's `suppress_exceptions`: when true, a panicking callback is
    /// logged and the loop goes on; when false (the default), the connection
    /// is closed and the panic continues out of the loop call.
    pub fn set_suppress_exceptions(&self, on: bool) {
        self.face.suppress_exceptions.store(on, Ordering::SeqCst);
    }

    /// `user_data_set(userdata)`.
    pub fn user_data_set(&self, userdata: UserData) {
        *self.face.userdata.lock() = userdata;
    }

    /// `user_data_get()`.
    pub fn user_data_get(&self) -> UserData {
        self.face.userdata.lock().clone()
    }

    /// Paho's rule for property setters: not while a connection exists or
    /// is being made.
    fn settable(&self, name: &'static str) -> Result<(), Error> {
        let core = self.driver.core();
        let closed = match core.state {
            ConnState::New => true,
            ConnState::Disconnecting | ConnState::Disconnected => core.conn.is_none(),
            _ => false,
        };
        if closed {
            Ok(())
        } else {
            Err(Error::Runtime(RuntimeReason::SettingWhileConnected(name)))
        }
    }

    /// How many chunks callers blocked in
    /// [`MessageInfo::wait_for_publish`] read themselves (instead of the
    /// reader thread). For tests of the test kit's users and of this crate.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn reads_by_waiting_callers(&self) -> u64 {
        self.driver.waiter_reads()
    }

    /// How many events (messages, acknowledgements, ...) wait for the loop
    /// to take them; a batch it is delivering is not counted. This is the
    /// figure the event backlog is measured on: past it nobody reads the
    /// connection. For tests.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn pending_events(&self) -> usize {
        self.driver.core().session.event_count()
    }

    /// What the client holds now, part by part, against its
    /// [`MemoryBudget`](crate::MemoryBudget), the messages the loop is
    /// delivering included. For tests.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn memory_use(&self) -> crate::session::MemoryUse {
        self.driver.memory_use()
    }
}
