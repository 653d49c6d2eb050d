//! Options and connecting: [`ClientOptions`] and [`ConnectOptions`] with
//! Paho's defaults, `connect`, `connect_async`, `reconnect`, `disconnect`
//! and `reinitialise`.

use std::time::Duration;

use super::callbacks::{self, UserData};
use super::{Client, MAX_FIELD};
use crate::driver::ConnectTo;
use crate::error::{Error, ErrorCode, ValueReason};
use crate::packet::{Disconnect, PacketType, Properties, ProtocolVersion, ReasonCode};
use crate::session::{CleanStart, SessionConfig};
use crate::transport::Transport;

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

/// The session configuration of `options`, with Paho's checks.
pub(super) fn session_config(options: &ClientOptions) -> Result<SessionConfig, Error> {
    let v5 = options.protocol == ProtocolVersion::MQTTv5;
    if v5 && options.clean_session.is_some() {
        return Err(Error::Value(ValueReason::CleanSessionWithMqtt5));
    }
    if options.client_id.len() > MAX_FIELD {
        // Paho accepts it, then cannot send the CONNECT.
        return Err(Error::Value(ValueReason::ClientIdTooLong));
    }
    let clean_session = options.clean_session.unwrap_or(true);
    if !clean_session && options.client_id.is_empty() {
        return Err(Error::Value(ValueReason::ClientIdRequired));
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

impl Client {
    /// `connect(host, port, keepalive)`: connects (blocking for the TCP
    /// connect, the proxy, TLS and WebSocket handshakes, all of them together
    /// within `connect_timeout`) and queues CONNECT. It does not wait for
    /// CONNACK; run a loop for that. With a failover list
    /// ([`Client::failover_set`]) a server that cannot be reached is logged
    /// and the next one tried, at most one round; the error is the last
    /// server's. `disconnect()` from another thread
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
            return Err(Error::Value(ValueReason::CleanStartBeforeMqtt5));
        }
        if !v5 && options.properties.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Value(ValueReason::PropertiesBeforeMqtt5));
        }
        self.connect_async_with(host, options)?;
        // With a failover list (`failover_set`), the next server when one
        // cannot be reached.
        self.driver.connect_round()
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
            return Err(Error::Value(ValueReason::InvalidHost));
        }
        if options.port == 0 {
            return Err(Error::Value(ValueReason::InvalidPort));
        }
        // The application's logger may have changed since the last look.
        self.listen(&self.face.callbacks.lock());
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

    /// Beyond Paho: waits up to `timeout` (`None`: no limit) until the
    /// broker has acknowledged every QoS 1/2 message the client holds,
    /// then disconnects as [`Client::disconnect`] does, and says how many
    /// were left unacknowledged when the timeout ran out (0: all
    /// delivered). Paho's `disconnect()` (and `mosquitto_pub -l`) drops
    /// what is still queued with the connection; this does not cut off a
    /// publisher's last messages.
    ///
    /// QoS 0 messages are not counted: the DISCONNECT goes out behind
    /// them, as with `disconnect()`. Messages still stored at the
    /// DISCONNECT stay stored, as with `disconnect()` (a later connection
    /// sends them). A `disconnect()`, `loop_stop()` or `reinitialise()`
    /// from another thread ends the wait early, with what was left then.
    /// Without a connection and with no loop running to make one, nothing
    /// can be acknowledged: it returns at once (with `rc`
    /// `MQTT_ERR_NO_CONN`) instead of waiting out the timeout.
    ///
    /// Called on the network loop's thread (from a callback) it cannot
    /// wait, since that loop reads the acknowledgements: with nothing left
    /// it disconnects and returns `left` 0; with messages left it returns
    /// `Error::Runtime` at once and does not disconnect (call
    /// `disconnect()` to drop them). Like [`Client::publish_wait`], it
    /// holds no lock while it waits and reads the connection itself when
    /// no loop does.
    ///
    /// ```no_run
    /// # use mqtt_tether::{CallbackAPIVersion, Client};
    /// # use std::time::Duration;
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_start();
    /// for n in 0..500 {
    ///     client.publish("counter", n.to_string(), 1, false)?;
    /// }
    /// let drained = client.disconnect_drain(Some(Duration::from_secs(10)))?;
    /// assert_eq!(drained.left, 0, "all 500 acknowledged");
    /// client.loop_stop();
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn disconnect_drain(&self, timeout: Option<Duration>) -> Result<Drained, Error> {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let left = self.driver.drain(deadline)?.left;
        let rc = self.disconnect();
        Ok(Drained { left, rc })
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
}

/// What [`Client::disconnect_drain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drained {
    /// QoS 1/2 messages the broker had not acknowledged when the wait
    /// ended (they stay stored, as with `disconnect()`); 0 when all were.
    pub left: usize,
    /// What the `disconnect()` that followed returned
    /// (`MQTT_ERR_NO_CONN` without a connection).
    pub rc: ErrorCode,
}
