//! The Paho-shaped client: [`Client`], its options, callbacks and
//! [`MessageInfo`].
//!
//! Names, defaults, return codes and error texts are Paho's (`paho-mqtt`
//! 2.x). Positional arguments stay positional for the common call
//! (`connect(host, port, keepalive)`, `publish(topic, payload, qos, retain)`,
//! `subscribe(topic, qos)`); Paho's keyword-only extras go into `..._with`
//! variants and option structs.
//!
//! This is the face over the private driver (see the crate's
//! [Architecture](crate#architecture)): it checks arguments with Paho's
//! rules and texts, hands commands to the driver, and turns the driver's
//! events into Paho callbacks. By job:
//!
//! * `mod.rs`: [`Client`], [`WeakClient`], what ends a client (`Owner`),
//!   and what the face keeps beside the driver (`Face`);
//! * `connect.rs`: [`ClientOptions`], [`ConnectOptions`], `connect`,
//!   `connect_async`, `reconnect`, `disconnect`, `reinitialise`;
//! * `publish.rs`: `publish`, `subscribe`, `unsubscribe`, `ack`,
//!   `drop_out_messages`;
//! * `loops.rs`: `loop`, `loop_forever`, `loop_start`, `loop_stop` and the
//!   external event loop's calls;
//! * `settings.rs`: Paho's properties and `*_set` calls, userdata, logging;
//! * `callbacks.rs`: the callback shapes, the registry and its setters;
//! * `events.rs`: the driver's events made Paho callbacks, and Paho's
//!   exception rules;
//! * `message_info.rs`: [`MessageInfo`] over the driver's completion;
//! * `failover.rs`: `failover_set`, Server References, `connected_server`
//!   and `stats()` (beyond Paho);
//! * `tls.rs`, `websocket.rs`, `proxy.rs`: the transport calls.

mod callbacks;
mod connect;
mod events;
mod failover;
mod loops;
mod message_info;
mod proxy;
mod publish;
mod settings;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;
#[cfg(feature = "websocket")]
mod websocket;

pub use crate::driver::{LogLevel, Outcome};
pub use callbacks::{
    ConnectFlags, DisconnectFlags, OnConnect, OnConnectFail, OnDisconnect, OnLog, OnMessage,
    OnPublish, OnSocket, OnSubscribe, UserData, UserDataError,
};
pub use connect::{ClientOptions, ConnectOptions, Drained};
pub use failover::{FailoverOrder, Server, Stats};
pub use message_info::MessageInfo;
pub use publish::Subscription;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::driver::{Driver, WeakDriver};
use crate::error::{Error, ValueReason};
use crate::packet::QoS;
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
    /// Log lines also go to the `log` crate: on unless `disable_logger()`.
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
            return Err(Error::Value(ValueReason::UnsupportedCallbackApiVersion));
        }
        let config = connect::session_config(&options)?;
        let face = Arc::new(Face {
            callbacks: Mutex::new(callbacks::Callbacks::default()),
            userdata: Mutex::new(options.userdata),
            suppress_exceptions: AtomicBool::new(false),
            logger: AtomicBool::new(true),
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
}

/// The longest string or binary field of a CONNECT (client id, username,
/// password, will topic, will payload): a two-byte length.
const MAX_FIELD: usize = 65_535;

/// A QoS as the client's calls take it: Paho's integer (`0`, `1`, `2`) or
/// a [`QoS`], such as a received [`Message::qos`](crate::Message::qos).
/// An integer outside 0 to 2 is Paho's `ValueError('Invalid QoS level.')`
/// ([`Error::InvalidQos`]) when the call checks it.
///
/// Implemented for `i32` and `QoS`; an integer literal needs no
/// annotation (it is an `i32`): `publish("t", "x", 1, false)` compiles as
/// before.
///
/// ```
/// use mqtt_tether::{CallbackAPIVersion, Client, QoS};
/// let client = Client::new(CallbackAPIVersion::VERSION2)?;
/// client.publish("a/b", "x", 1, false)?;
/// client.publish("a/b", "x", QoS::ExactlyOnce, false)?;
/// let err = client.publish("a/b", "x", 3, false).unwrap_err();
/// assert_eq!(err.to_string(), "Invalid QoS level.");
/// # Ok::<(), mqtt_tether::Error>(())
/// ```
pub trait IntoQos: sealed::Sealed {
    /// The QoS, or [`Error::InvalidQos`] for an integer outside 0 to 2.
    fn into_qos(self) -> Result<QoS, Error>;
}

impl IntoQos for i32 {
    fn into_qos(self) -> Result<QoS, Error> {
        u8::try_from(self)
            .ok()
            .and_then(QoS::from_u8)
            .ok_or(Error::InvalidQos)
    }
}

impl IntoQos for QoS {
    fn into_qos(self) -> Result<QoS, Error> {
        Ok(self)
    }
}

/// Sealed: which types are a QoS is the crate's to decide, and each must
/// give Paho's integer for the calls that check it later, in Paho's order.
pub(crate) mod sealed {
    use crate::packet::QoS;

    pub trait Sealed {
        /// The integer as Paho would hold it, out of range or not (for
        /// calls that check it later, in Paho's order).
        fn paho_int(self) -> i32;
    }
    impl Sealed for i32 {
        fn paho_int(self) -> i32 {
            self
        }
    }
    impl Sealed for QoS {
        fn paho_int(self) -> i32 {
            i32::from(self)
        }
    }
}
