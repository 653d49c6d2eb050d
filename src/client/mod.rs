//! The Paho-shaped client: [`Client`], its options, callbacks and
//! [`MessageInfo`].
//!
//! Names, defaults, return codes and error texts are Paho's (`paho-mqtt`
//! 2.x). Positional arguments stay positional for the common call
//! (`connect(host, port, keepalive)`, `publish(topic, payload, qos, retain)`,
//! `subscribe(topic, qos)`); Paho's keyword-only extras go into `..._with`
//! variants and option structs.

pub(crate) mod callbacks;
mod events;
mod message_info;
mod proxy;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;
#[cfg(feature = "websocket")]
mod websocket;

pub use crate::driver::{LogLevel, Outcome};
pub use callbacks::{
    ConnectFlags, DisconnectFlags, OnConnect, OnConnectFail, OnDisconnect, OnLog, OnMessage,
    OnPublish, OnSocket, OnSubscribe, UserData,
};
pub use message_info::MessageInfo;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::driver::{ConnState, ConnectTo, Driver, Listening, WeakDriver};
use crate::error::{Error, ErrorCode};
use crate::packet::{
    Disconnect, PacketType, Properties, ProtocolVersion, PublishRef, QoS, ReasonCode,
    SubscribeOptions, Will,
};
use crate::session::{CleanStart, Message, SessionConfig};
use crate::topic::{validate_topic_filter, validate_topic_name};
pub use crate::transport::Transport;

/// Which callback signatures the client uses. Only Paho's current shapes,
/// `VERSION2`, exist in Rust; `VERSION1` is refused with Paho's migration
/// hint.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackAPIVersion {
    /// Paho 1.x shapes (deprecated in Paho, not offered here).
    VERSION1,
    /// Paho 2.x shapes.
    VERSION2,
}

/// The keyword arguments of Paho's `Client(...)`, with its defaults.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Client id; `""` sends an empty id (MQTT 3.1 gets a random one). At
    /// most 65,535 bytes (a CONNECT field): a longer one is refused with
    /// `ValueError("Client id is too long.")`.
    pub client_id: String,
    /// MQTT 3 clean session; `None` means true. Not allowed with MQTT 5.
    pub clean_session: Option<bool>,
    /// Handed to every callback.
    pub userdata: UserData,
    /// Protocol version (default MQTT 3.1.1).
    pub protocol: ProtocolVersion,
    /// Transport (default TCP).
    pub transport: Transport,
    /// Reconnect automatically in `loop_forever` and `loop_start` (default
    /// true).
    pub reconnect_on_failure: bool,
    /// Acknowledge received QoS 1/2 messages only through
    /// [`Client::ack`] (default false).
    pub manual_ack: bool,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            client_id: String::new(),
            clean_session: None,
            userdata: UserData::default(),
            protocol: ProtocolVersion::MQTTv311,
            transport: Transport::Tcp,
            reconnect_on_failure: true,
            manual_ack: false,
        }
    }
}

/// The keyword arguments of Paho's `connect(...)` beyond host, port and
/// keepalive.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Port (default 1883).
    pub port: u16,
    /// Keepalive in seconds (default 60).
    pub keepalive: u16,
    /// Local address to bind (default any).
    pub bind_address: String,
    /// Local port to bind (default any).
    pub bind_port: u16,
    /// MQTT 5 clean start (default first connect only).
    pub clean_start: CleanStart,
    /// MQTT 5 CONNECT properties.
    pub properties: Option<Properties>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            port: 1883,
            keepalive: 60,
            bind_address: String::new(),
            bind_port: 0,
            clean_start: CleanStart::FirstOnly,
            properties: None,
        }
    }
}

/// An MQTT client with the API of Paho's `paho.mqtt.client.Client`.
///
/// It is a cheap handle: clones share one client, and every method may be
/// called from any thread, callbacks included.
///
/// When the last handle the application holds is dropped, the client stops:
/// a `loop_start` thread ends and the connection closes (Paho's daemon thread
/// would go on). The `&Client` a callback receives does not count as such a
/// handle, and neither do clones made from it.
///
/// A handle the client itself keeps does count, so a callback must not
/// capture one: the client would hold itself and never stop. A callback
/// that needs the client beyond its `&Client` argument (to hand it to
/// another thread, say) captures a [`WeakClient`] from
/// [`Client::downgrade`] instead, and so does userdata that refers to the
/// client.
///
/// ```
/// # use mqtt_tether::{CallbackAPIVersion, Client};
/// let client = Client::new(CallbackAPIVersion::VERSION2)?;
/// let weak = client.downgrade();
/// client.on_message(move |_, _, message| {
///     // Another thread answers; it needs a handle of its own.
///     let Some(client) = weak.upgrade() else { return };
///     let topic = format!("{}/ack", message.topic);
///     std::thread::spawn(move || client.publish(&topic, "ok", 0, false));
/// });
/// let probe = client.downgrade();
/// assert!(probe.upgrade().is_some());
/// drop(client);
/// // The callback's WeakClient did not keep it: it has stopped.
/// assert!(probe.upgrade().is_none());
/// # Ok::<(), mqtt_tether::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    driver: Driver,
    face: Arc<Face>,
    /// Present in the application's handles; the last one to go stops the
    /// client.
    _owner: Option<Arc<Owner>>,
}

/// What the face keeps beside the driver: Paho's callbacks and userdata,
/// and how it reports (the driver holds it as its event handler, see
/// `events.rs`).
pub(crate) struct Face {
    callbacks: Mutex<callbacks::Callbacks>,
    userdata: Mutex<UserData>,
    /// Paho's `suppress_exceptions`.
    suppress_exceptions: AtomicBool,
    /// `enable_logger()`: log lines also go to the `log` crate.
    logger: AtomicBool,
    /// What the application's handles share; a `WeakClient` upgrades only
    /// while it lives. Set once, right after the driver is made.
    owner: OnceLock<Weak<Owner>>,
}

/// A handle to a [`Client`] that does not keep it running, for callbacks
/// and userdata (see [`Client::downgrade`]). Like
/// [`std::sync::Weak`], it upgrades while the application still holds a
/// `Client` handle, and never again once the last one is dropped.
#[derive(Clone)]
pub struct WeakClient {
    driver: WeakDriver,
    face: Weak<Face>,
    owner: Weak<Owner>,
}

impl WeakClient {
    /// A full handle, while the client runs; `None` once the application's
    /// last `Client` handle is dropped. The handle counts as the
    /// application's: hold it only as long as it is needed.
    pub fn upgrade(&self) -> Option<Client> {
        let owner = self.owner.upgrade()?;
        Some(Client {
            driver: self.driver.upgrade()?,
            face: self.face.upgrade()?,
            _owner: Some(owner),
        })
    }
}

impl std::fmt::Debug for WeakClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.upgrade() {
            Some(client) => f.debug_tuple("WeakClient").field(&client).finish(),
            None => f.write_str("WeakClient(stopped)"),
        }
    }
}

/// Stops the client when the application's last handle is dropped.
pub(crate) struct Owner(WeakDriver);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(driver) = self.0.upgrade() {
            driver.shut_down();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.driver.core();
        f.debug_struct("Client")
            .field("client_id", &core.session.config().client_id)
            .field("state", &core.state)
            .finish()
    }
}

impl Client {
    /// `Client(callback_api_version)` with Paho's defaults.
    pub fn new(callback_api_version: CallbackAPIVersion) -> Result<Client, Error> {
        Client::with_options(callback_api_version, ClientOptions::default())
    }

    /// `Client(callback_api_version, client_id=..., clean_session=..., ...)`.
    pub fn with_options(
        callback_api_version: CallbackAPIVersion,
        options: ClientOptions,
    ) -> Result<Client, Error> {
        if callback_api_version != CallbackAPIVersion::VERSION2 {
            return Err(Error::Value(
                "Unsupported callback API version: only VERSION2 callbacks exist in mqtt-tether, see docs/migrations.rst for details".into(),
            ));
        }
        let config = session_config(&options)?;
        let face = Arc::new(Face {
            callbacks: Mutex::new(callbacks::Callbacks::default()),
            userdata: Mutex::new(options.userdata),
            suppress_exceptions: AtomicBool::new(false),
            logger: AtomicBool::new(false),
            owner: OnceLock::new(),
        });
        let driver = Driver::new(
            config,
            options.transport,
            options.reconnect_on_failure,
            Box::new(Arc::clone(&face)),
        );
        let owner = Arc::new(Owner(driver.downgrade()));
        let _ = face.owner.set(Arc::downgrade(&owner));
        Ok(Client {
            driver,
            face,
            _owner: Some(owner),
        })
    }

    /// Beyond Paho: a [`WeakClient`], which does not keep the client
    /// running. What a callback keeps of its client must be one (see
    /// [`Client`]); from a callback's `&Client` argument too.
    pub fn downgrade(&self) -> WeakClient {
        WeakClient {
            driver: self.driver.downgrade(),
            face: Arc::downgrade(&self.face),
            owner: self.face.owner.get().cloned().unwrap_or_default(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> String {
        self.driver.core().session.config().client_id.clone()
    }

    /// The protocol version.
    pub fn protocol(&self) -> ProtocolVersion {
        self.driver.core().session.config().protocol
    }

    // ----- connecting -------------------------------------------------

    /// `connect(host, port, keepalive)`: connects (blocking for the TCP
    /// connect, the proxy, TLS and WebSocket handshakes, all of them together
    /// within `connect_timeout`) and queues CONNECT. It does not wait for
    /// CONNACK; run a loop for that. `disconnect()` from another thread
    /// abandons it at once (it then returns `MQTT_ERR_NO_CONN`).
    pub fn connect(&self, host: &str, port: u16, keepalive: u16) -> Result<ErrorCode, Error> {
        self.connect_with(
            host,
            ConnectOptions {
                port,
                keepalive,
                ..ConnectOptions::default()
            },
        )
    }

    /// `connect(host, ...)` with every keyword argument.
    pub fn connect_with(&self, host: &str, options: ConnectOptions) -> Result<ErrorCode, Error> {
        let v5 = self.protocol() == ProtocolVersion::MQTTv5;
        if !v5 && options.clean_start != CleanStart::FirstOnly {
            return Err(Error::Value("Clean start only applies to MQTT V5".into()));
        }
        if !v5 && options.properties.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Value("Properties only apply to MQTT V5".into()));
        }
        self.connect_async_with(host, options)?;
        self.reconnect()
    }

    /// Paho's `reconnect()` (reference §10.1): opens a new connection and
    /// queues CONNECT. Blocking for the TCP connect, the proxy, TLS and
    /// WebSocket handshakes, all of them within `connect_timeout`; does not
    /// wait for CONNACK.
    ///
    /// `disconnect()` from any thread, or `loop_stop()` of the loop running
    /// it, abandons a connect in progress at once: its socket is shut down
    /// and this returns `MQTT_ERR_NO_CONN` (no `on_connect_fail`).
    pub fn reconnect(&self) -> Result<ErrorCode, Error> {
        self.driver.reconnect()
    }

    /// `connect_async(host, port, keepalive)`: stores where to connect; the
    /// connection is made by `loop_forever` or the `loop_start` thread.
    pub fn connect_async(&self, host: &str, port: u16, keepalive: u16) -> Result<(), Error> {
        self.connect_async_with(
            host,
            ConnectOptions {
                port,
                keepalive,
                ..ConnectOptions::default()
            },
        )
    }

    /// `connect_async(host, ...)` with every keyword argument.
    pub fn connect_async_with(&self, host: &str, options: ConnectOptions) -> Result<(), Error> {
        if host.is_empty() {
            return Err(Error::Value("Invalid host.".into()));
        }
        if options.port == 0 {
            return Err(Error::Value("Invalid port number.".into()));
        }
        self.driver.connect_async(ConnectTo {
            host: host.to_string(),
            port: options.port,
            keepalive: options.keepalive,
            bind_address: options.bind_address,
            bind_port: options.bind_port,
            clean_start: options.clean_start,
            properties: options.properties,
        });
        Ok(())
    }

    /// `disconnect()`: queues DISCONNECT behind what is already queued.
    /// Without a connection, returns `MQTT_ERR_NO_CONN` (and stops a
    /// pending automatic reconnect). Never blocks: a connect in progress on
    /// any thread is abandoned (its socket shut down), not waited for.
    ///
    /// From this call on no further message is delivered, so the loop
    /// writes the DISCONNECT and closes within the callback that is running
    /// plus a short constant, however fast the broker sends. Messages
    /// received and not yet delivered are dropped with the connection, as
    /// [`Client::loop_stop`] describes.
    pub fn disconnect(&self) -> ErrorCode {
        self.disconnect_with(None, None)
    }

    /// `disconnect(reasoncode, properties)` (MQTT 5).
    pub fn disconnect_with(
        &self,
        reason_code: Option<ReasonCode>,
        properties: Option<Properties>,
    ) -> ErrorCode {
        self.driver.disconnect(|v5| {
            // Before MQTT 5 a DISCONNECT has neither (Paho ignores them).
            let reason_code = reason_code.filter(|_| v5);
            let mut d = Disconnect::new(
                reason_code.unwrap_or_else(|| ReasonCode::success(PacketType::Disconnect)),
            );
            if let Some(p) = properties.filter(|_| v5) {
                d.properties = p;
            }
            d
        })
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

    /// True after CONNACK accepted the connection, until it is lost or
    /// closed.
    pub fn is_connected(&self) -> bool {
        self.driver.core().state == ConnState::Connected
    }

    // ----- publish / subscribe ----------------------------------------

    /// `publish(topic, payload, qos, retain)`: queues a message and returns
    /// its [`MessageInfo`]. The payload is anything that is bytes (`&str`,
    /// `String`, `&[u8]`, `Vec<u8>`); numbers are formatted by the caller
    /// (Paho's `42` is `42.to_string()`).
    ///
    /// Errors with Paho's texts for a bad topic or QoS; nothing is queued
    /// then. Without a connection, QoS 0 is dropped (`rc` is
    /// `MQTT_ERR_NO_CONN`), and QoS 1/2 is stored and sent after the next
    /// CONNACK.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client, ErrorCode, Outcome};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// // Not connected yet: a QoS 1 message waits in the outgoing store.
    /// let info = client.publish("sensors/temp", "21.5", 1, false)?;
    /// assert_eq!((info.mid(), info.rc()), (1, ErrorCode::NoConn));
    /// assert_eq!(info.outcome(), Outcome::Pending);
    /// assert_eq!(
    ///     client.publish("sensors/#", "x", 0, false).unwrap_err().to_string(),
    ///     "Publish topic cannot contain wildcards."
    /// );
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: i32,
        retain: bool,
    ) -> Result<MessageInfo, Error> {
        self.publish_with(topic, payload, qos, retain, None)
    }

    /// `publish(topic, payload, qos, retain, properties)` (MQTT 5).
    pub fn publish_with(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: i32,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<MessageInfo, Error> {
        let qos = qos_from(qos)?;
        let payload = payload.as_ref();
        // The checks need the protocol: they run in the driver's one core
        // lock for the whole publish.
        let completion = self.driver.publish(|session| {
            let protocol = session.config().protocol;
            let v5 = protocol == ProtocolVersion::MQTTv5;
            validate_topic_name(topic, protocol)?;
            // Properties exist from MQTT 5 on; before it Paho leaves them out.
            let properties = properties.filter(|_| v5);
            let has_alias = properties
                .as_ref()
                .is_some_and(|p| p.topic_alias().is_some());
            if topic.is_empty() && !has_alias {
                // MQTT 5 allows an empty topic only together with a topic alias.
                return Err(Error::InvalidTopic);
            }
            let props_len = properties.as_ref().map_or(0, |p| p.as_bytes().len());
            // The whole packet must fit the largest remaining length.
            if payload.len() + topic.len() + props_len + 16 > 268_435_455 {
                return Err(Error::Value("Payload too large.".into()));
            }
            let no_properties;
            let properties = match &properties {
                Some(p) => p,
                None => {
                    no_properties = Properties::new(PacketType::Publish);
                    &no_properties
                }
            };
            Ok(session.publish_ref(PublishRef {
                dup: false,
                qos,
                retain,
                topic,
                packet_id: 0,
                properties,
                payload,
            }))
        })?;
        Ok(MessageInfo::new(completion))
    }

    /// `subscribe(topic, qos)`: one filter. Returns `(rc, mid)`.
    pub fn subscribe(&self, topic: &str, qos: i32) -> Result<(ErrorCode, Option<u16>), Error> {
        self.subscribe_many(&[(topic, qos)])
    }

    /// `subscribe([(topic, qos), ...])`: several filters in one SUBSCRIBE.
    pub fn subscribe_many(
        &self,
        topics: &[(&str, i32)],
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        let mut filters = Vec::with_capacity(topics.len());
        for (topic, qos) in topics {
            let qos = qos_from(*qos)?;
            filters.push((topic.to_string(), SubscribeOptions::new(qos)));
        }
        self.subscribe_with(filters, None)
    }

    /// `subscribe(...)` with MQTT 5 subscription options and properties.
    pub fn subscribe_with(
        &self,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Option<Properties>,
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        if filters.is_empty() {
            return Err(Error::Value("Empty topic list".into()));
        }
        let v5 = self.protocol() == ProtocolVersion::MQTTv5;
        for (topic, _) in &filters {
            if topic.is_empty() && !v5 {
                return Err(Error::InvalidTopic);
            }
            validate_topic_filter(topic)?;
        }
        let properties = self.v5_only(properties, PacketType::Subscribe);
        Ok(self
            .driver
            .request(|session| session.subscribe(filters, properties)))
    }

    /// `unsubscribe(topic)`.
    pub fn unsubscribe(&self, topic: &str) -> Result<(ErrorCode, Option<u16>), Error> {
        self.unsubscribe_many(&[topic])
    }

    /// `unsubscribe([topic, ...])`.
    pub fn unsubscribe_many(&self, topics: &[&str]) -> Result<(ErrorCode, Option<u16>), Error> {
        self.unsubscribe_with(topics, None)
    }

    /// `unsubscribe(topics, properties)` (MQTT 5 properties).
    pub fn unsubscribe_with(
        &self,
        topics: &[&str],
        properties: Option<Properties>,
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        if topics.is_empty() {
            // Paho would send an UNSUBSCRIBE without filters, which MQTT
            // forbids (3.1.1 §3.10.3); refuse it instead.
            return Err(Error::Value(
                "No topic specified, or incorrect topic type.".into(),
            ));
        }
        if topics.iter().any(|t| t.is_empty()) {
            return Err(Error::InvalidTopic);
        }
        let filters = topics.iter().map(|t| t.to_string()).collect();
        let properties = self.v5_only(properties, PacketType::Unsubscribe);
        Ok(self
            .driver
            .request(|session| session.unsubscribe(filters, properties)))
    }

    /// `properties` for a packet of `packet_type`: an empty set when none
    /// were given, and also before MQTT 5, where Paho leaves them out.
    fn v5_only(&self, properties: Option<Properties>, packet_type: PacketType) -> Properties {
        let v5 = self.protocol() == ProtocolVersion::MQTTv5;
        properties
            .filter(|_| v5)
            .unwrap_or_else(|| Properties::new(packet_type))
    }

    /// `ack(mid, qos)`: with manual acks, acknowledges a received message
    /// (PUBACK for QoS 1, PUBCOMP for QoS 2). Without manual acks, does
    /// nothing.
    pub fn ack(&self, mid: u16, qos: i32) -> ErrorCode {
        let Ok(qos) = qos_from(qos) else {
            return ErrorCode::Success;
        };
        self.driver.ack(mid, qos);
        ErrorCode::Success
    }

    // ----- loops ------------------------------------------------------

    /// `loop(timeout)`: one pass of the network loop; never reconnects.
    /// (`loop` is a Rust keyword: call it as `client.r#loop(...)` or
    /// [`Client::loop_once`].)
    ///
    /// One loop runs at a time, so callbacks never run on two threads at
    /// once: while another thread runs a loop (`loop_forever`, the
    /// `loop_start` thread, `loop`, an external loop's step), this returns
    /// `MQTT_ERR_INVAL` at once. From a callback, on the loop's own thread,
    /// it runs nested. The same holds for `loop_forever`, `loop_read`,
    /// `loop_write` and `loop_misc`.
    pub fn r#loop(&self, timeout: Duration) -> ErrorCode {
        self.loop_once(timeout)
    }

    /// Same as `Client::r#loop` (Paho's `loop`).
    pub fn loop_once(&self, timeout: Duration) -> ErrorCode {
        self.driver.loop_once(timeout)
    }

    /// `loop_forever(timeout, retry_first_connection)`: runs the network
    /// loop, reconnecting by itself, until `disconnect()` completes, the
    /// connection is lost with `reconnect_on_failure` off, or `loop_stop()`.
    /// A panic in a callback closes the connection and then continues
    /// unwinding out of this call.
    ///
    /// `Ok(MQTT_ERR_INVAL)` at once while another thread runs a loop (see
    /// [`Client::r#loop`](Client::loop)); Paho would run both.
    ///
    /// `timeout` is accepted so Paho calls port unchanged, but is not
    /// needed: the loop is woken by every event (bytes, a queued packet,
    /// `disconnect()`, `loop_stop()`) and by the keepalive deadline, so an
    /// idle connected client sleeps until its next PINGREQ (Paho wakes every
    /// `timeout` seconds).
    pub fn loop_forever(
        &self,
        timeout: Duration,
        retry_first_connection: bool,
    ) -> Result<ErrorCode, Error> {
        self.driver.loop_forever(timeout, retry_first_connection)
    }

    /// `loop_start()`: runs `loop_forever(retry_first_connection=True)` on a
    /// new thread. `MQTT_ERR_INVAL` if one is already running, or if
    /// another thread runs `loop_forever` or `loop`.
    pub fn loop_start(&self) -> ErrorCode {
        self.driver.loop_start()
    }

    /// `loop_stop()`: stops the `loop_start` thread once what was queued is
    /// written, and waits for it (unless called from it).
    /// `MQTT_ERR_INVAL` if no thread runs.
    ///
    /// It does not wait on the broker: a connect the thread has in progress
    /// is abandoned at once (its socket shut down from here, so the blocked
    /// handshake returns), a write the broker does not take is given up
    /// within a quarter of a second, and once asked to stop the loop
    /// delivers no further message, however fast the broker sends. So it
    /// returns within that, plus the callback that is running.
    ///
    /// Messages received and not yet delivered stay the session's, in
    /// order, and the next loop on this connection (`loop_start`,
    /// `loop_forever`, `loop`) delivers them first. If the connection
    /// closes (or is replaced) before that, they are dropped
    /// unacknowledged: a QoS 0 message is lost, as one still in the socket
    /// would be; a broker that keeps the session sends a QoS 1 message
    /// again, and a QoS 2 message is delivered at the PUBREL it sends
    /// again. Other events (acknowledgements of the application's own
    /// messages and subscriptions) are still delivered.
    pub fn loop_stop(&self) -> ErrorCode {
        self.driver.loop_stop()
    }

    // ----- external event loops ---------------------------------------

    /// `socket()`: the connection's socket, for an external event loop to
    /// watch: readable means call [`Client::loop_read`], writable (while
    /// [`Client::want_write`]) means call [`Client::loop_write`].
    ///
    /// Unless one of the client's own loops (`loop`, `loop_forever`,
    /// `loop_start`) has already read from this connection, asking for the
    /// socket hands it to the caller's event loop: it becomes non-blocking,
    /// and no reader thread will take its bytes, so its readiness is
    /// exact. (If a client loop runs later anyway, it takes the socket back.)
    pub fn socket(&self) -> Option<Arc<crate::transport::Socket>> {
        self.driver.socket()
    }

    /// `want_write()`: true when bytes wait to be written.
    pub fn want_write(&self) -> bool {
        self.driver.want_write()
    }

    /// `loop_read()`: handles what has arrived, without waiting.
    pub fn loop_read(&self) -> ErrorCode {
        self.driver.loop_read()
    }

    /// `loop_write()`: writes what is queued.
    pub fn loop_write(&self) -> ErrorCode {
        self.driver.loop_write()
    }

    /// `loop_misc()`: keepalive (call it about once a second).
    pub fn loop_misc(&self) -> ErrorCode {
        self.driver.loop_misc()
    }

    /// `reinitialise(client_id, clean_session, userdata)`: closes the
    /// connection and returns the client to a new client's state (MQTT
    /// 3.1.1, no callbacks, empty queues, mid counter reset). Messages still
    /// in the outgoing store fail: their `wait_for_publish` returns an error.
    pub fn reinitialise(&self, options: ClientOptions) -> Result<(), Error> {
        let config = session_config(&options)?;
        self.driver
            .reinitialise(config, options.transport, options.reconnect_on_failure);
        {
            let mut callbacks = self.face.callbacks.lock();
            *callbacks = callbacks::Callbacks::default();
            *self.face.userdata.lock() = options.userdata;
            self.listen(&callbacks);
        }
        self.driver.wake();
        Ok(())
    }

    // ----- configuration ----------------------------------------------

    /// `drop_out_messages()` (Paho 2.2): empties the outgoing QoS 1/2 store
    /// and returns the messages it held, oldest first. Paho's intended use
    /// is inside `on_connect`, after a broker reboot forgot the topic aliases
    /// the stored messages use. Unlike Paho, each dropped message's
    /// [`MessageInfo`] ends with [`Outcome::Dropped`] instead of staying
    /// unpublished forever, and the in-flight window is emptied too.
    pub fn drop_out_messages(&self) -> Vec<Message> {
        self.driver.drop_out_messages()
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
            return Err(Error::Value("Username is too long.".into()));
        }
        if password.is_some_and(|p| p.len() > MAX_FIELD) {
            return Err(Error::Value("Password is too long.".into()));
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
        qos: i32,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<(), Error> {
        if topic.is_empty() {
            return Err(Error::InvalidTopic);
        }
        let qos = qos_from(qos)?;
        if topic.len() > MAX_FIELD {
            return Err(Error::PublishTopicTooLong);
        }
        if payload.as_ref().len() > MAX_FIELD {
            return Err(Error::Value("Payload too large.".into()));
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
            return Err(Error::Value(format!(
                "max_inbound_packet_size must be 1 to {}.",
                crate::packet::MAX_VARIABLE_INTEGER
            )));
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
            return Err(Error::Value("Invalid host.".into()));
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
            return Err(Error::Value("Invalid port number.".into()));
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

    /// `enable_logger()`: the client's log lines also go to the `log` crate
    /// (target `mqtt_tether`). `on_log` gets them either way. With either,
    /// every packet sent or received gets a DEBUG line, such as
    /// `Sending PUBLISH (d0, q1, r0, m3) "a/b", 5 bytes` (payloads and
    /// passwords are never shown).
    pub fn enable_logger(&self) {
        self.face.logger.store(true, Ordering::SeqCst);
        self.listen(&self.face.callbacks.lock());
    }

    /// `disable_logger()`.
    pub fn disable_logger(&self) {
        self.face.logger.store(false, Ordering::SeqCst);
        self.listen(&self.face.callbacks.lock());
    }

    /// `connect_timeout` (default 5 s): the bound on opening a connection,
    /// all of it (TCP connect, proxy, TLS handshake, WebSocket upgrade,
    /// counted together from the start), and, with keepalive 0, on the wait
    /// for CONNACK (Paho waits for ever; with a keepalive, the keepalive
    /// bounds that wait, as in Paho).
    pub fn set_connect_timeout(&self, timeout: Duration) -> Result<(), Error> {
        if timeout.is_zero() {
            return Err(Error::Value("timeout must be a positive number".into()));
        }
        self.settable("connect_timeout")?;
        self.driver.core().transport.tcp.connect_timeout = timeout;
        Ok(())
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
    fn settable(&self, name: &str) -> Result<(), Error> {
        let core = self.driver.core();
        let closed = match core.state {
            ConnState::New => true,
            ConnState::Disconnecting | ConnState::Disconnected => core.conn.is_none(),
            _ => false,
        };
        if closed {
            Ok(())
        } else {
            Err(Error::Runtime(format!(
                "updating {name} on established connection is not supported"
            )))
        }
    }

    // ----- callbacks --------------------------------------------------

    /// Sets `on_connect`.
    pub fn on_connect(
        &self,
        f: impl Fn(&Client, &UserData, ConnectFlags, &ReasonCode, &Properties) + Send + Sync + 'static,
    ) {
        self.set_callback(|c| c.on_connect = Some(Arc::new(f)));
    }

    /// Sets `on_connect_fail`.
    pub fn on_connect_fail(&self, f: impl Fn(&Client, &UserData) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_connect_fail = Some(Arc::new(f)));
    }

    /// Sets `on_disconnect`.
    pub fn on_disconnect(
        &self,
        f: impl Fn(&Client, &UserData, DisconnectFlags, &ReasonCode, &Properties)
            + Send
            + Sync
            + 'static,
    ) {
        self.set_callback(|c| c.on_disconnect = Some(Arc::new(f)));
    }

    /// Sets `on_message`.
    pub fn on_message(&self, f: impl Fn(&Client, &UserData, &Message) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_message = Some(Arc::new(f)));
    }

    /// Sets `on_publish`.
    pub fn on_publish(
        &self,
        f: impl Fn(&Client, &UserData, u16, &ReasonCode, &Properties) + Send + Sync + 'static,
    ) {
        self.set_callback(|c| c.on_publish = Some(Arc::new(f)));
    }

    /// Sets `on_subscribe`.
    pub fn on_subscribe(
        &self,
        f: impl Fn(&Client, &UserData, u16, &[ReasonCode], &Properties) + Send + Sync + 'static,
    ) {
        self.set_callback(|c| c.on_subscribe = Some(Arc::new(f)));
    }

    /// Sets `on_unsubscribe`.
    pub fn on_unsubscribe(
        &self,
        f: impl Fn(&Client, &UserData, u16, &[ReasonCode], &Properties) + Send + Sync + 'static,
    ) {
        self.set_callback(|c| c.on_unsubscribe = Some(Arc::new(f)));
    }

    /// Sets `on_log`: every log line of the client, with its level. The
    /// same lines go to the `log` crate.
    pub fn on_log(&self, f: impl Fn(&Client, &UserData, LogLevel, &str) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_log = Some(Arc::new(f)));
    }

    /// Sets `on_pre_connect`.
    pub fn on_pre_connect(&self, f: impl Fn(&Client, &UserData) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_pre_connect = Some(Arc::new(f)));
    }

    /// Sets `on_socket_open`.
    pub fn on_socket_open(&self, f: impl Fn(&Client, &UserData) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_socket_open = Some(Arc::new(f)));
    }

    /// Sets `on_socket_close`.
    pub fn on_socket_close(&self, f: impl Fn(&Client, &UserData) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_socket_close = Some(Arc::new(f)));
    }

    /// Sets `on_socket_register_write`: bytes now wait to be written, so an
    /// external event loop should watch [`Client::socket`] for writability
    /// and call [`Client::loop_write`]. Called on the thread that queued
    /// them, once until `on_socket_unregister_write`.
    pub fn on_socket_register_write(&self, f: impl Fn(&Client, &UserData) + Send + Sync + 'static) {
        self.set_callback(|c| c.on_socket_register_write = Some(Arc::new(f)));
    }

    /// Sets `on_socket_unregister_write`: a write left nothing queued (or
    /// the socket is closing), so the external loop can stop watching for
    /// writability.
    pub fn on_socket_unregister_write(
        &self,
        f: impl Fn(&Client, &UserData) + Send + Sync + 'static,
    ) {
        self.set_callback(|c| c.on_socket_unregister_write = Some(Arc::new(f)));
    }

    /// Changes the registry, and tells the driver what is listened for
    /// now (under the registry's lock, so two setters cannot tell it in the
    /// wrong order).
    fn set_callback(&self, set: impl FnOnce(&mut callbacks::Callbacks)) {
        let mut callbacks = self.face.callbacks.lock();
        set(&mut callbacks);
        self.listen(&callbacks);
    }

    /// Tells the driver what `callbacks` and the logger listen for: it then
    /// skips the work nobody wants (packet lines nobody reads, the loop's
    /// turn before a message completes when no `on_publish` runs first,
    /// write-interest bookkeeping nobody hears).
    fn listen(&self, callbacks: &callbacks::Callbacks) {
        self.driver.listen(Listening {
            published: callbacks.on_publish.is_some(),
            register_write: callbacks.on_socket_register_write.is_some(),
            unregister_write: callbacks.on_socket_unregister_write.is_some(),
            // Packet lines (DEBUG, one per packet sent or received) are made
            // only while `on_log` is set or `enable_logger()` is on.
            log: self.face.logger.load(Ordering::SeqCst) || callbacks.on_log.is_some(),
        });
    }

    /// `message_callback_add(sub, callback)`: messages matching `sub` go to
    /// `callback` (every matching filter's callback runs; `on_message` only
    /// when none matched).
    pub fn message_callback_add(
        &self,
        sub: &str,
        f: impl Fn(&Client, &UserData, &Message) + Send + Sync + 'static,
    ) {
        self.face.callbacks.lock().filtered.insert(sub, Arc::new(f));
    }

    /// `message_callback_remove(sub)`; an unknown filter is ignored.
    pub fn message_callback_remove(&self, sub: &str) {
        self.face.callbacks.lock().filtered.remove(sub);
    }
}

/// The longest string or binary field of a CONNECT (client id, username,
/// password, will topic, will payload): a two-byte length.
const MAX_FIELD: usize = 65_535;

fn qos_from(qos: i32) -> Result<QoS, Error> {
    u8::try_from(qos)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or(Error::InvalidQos)
}

fn session_config(options: &ClientOptions) -> Result<SessionConfig, Error> {
    let v5 = options.protocol == ProtocolVersion::MQTTv5;
    if v5 && options.clean_session.is_some() {
        return Err(Error::Value(
            "Clean session is not used for MQTT 5.0".into(),
        ));
    }
    if options.client_id.len() > MAX_FIELD {
        // Paho accepts it, then cannot send the CONNECT.
        return Err(Error::Value("Client id is too long.".into()));
    }
    let clean_session = options.clean_session.unwrap_or(true);
    if !clean_session && options.client_id.is_empty() {
        return Err(Error::Value(
            "A client id must be provided if clean session is False.".into(),
        ));
    }
    let client_id = if options.client_id.is_empty() && options.protocol == ProtocolVersion::MQTTv31
    {
        crate::driver::random_client_id()
    } else {
        options.client_id.clone()
    };
    let mut config = SessionConfig::new(options.protocol, client_id);
    config.clean_session = clean_session;
    config.manual_ack = options.manual_ack;
    Ok(config)
}
