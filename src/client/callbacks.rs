//! The callback registry: Paho's VERSION2 callback shapes as Rust closures,
//! and their setters (`on_connect`, ..., `message_callback_add`).
//!
//! Callbacks run on the network loop's thread, one at a time, never with a
//! lock of the client held, so a callback may call any client method (the
//! driver's events become callbacks in `events.rs`).

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::driver::{Listening, LogLevel};
use crate::packet::{Properties, ReasonCode};
use crate::session::Message;
use crate::topic::TopicMatcher;

use super::Client;

/// Paho's `ConnectFlags`: what `on_connect` learns from CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectFlags {
    /// The broker still held a session for this client.
    pub session_present: bool,
}

/// Paho's `DisconnectFlags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectFlags {
    /// True when the broker sent DISCONNECT (MQTT 5).
    pub is_disconnect_packet_from_server: bool,
}

/// What `user_data_set` stored, handed to every callback (Paho's
/// `userdata`). Closures can also capture their state directly.
///
/// Reading it names the type: [`UserData::get`] fails loudly, naming both
/// types, when another one is stored (a `&str` is not a `String`), instead
/// of looking like no userdata at all.
#[derive(Clone, Default)]
pub struct UserData(Option<Stored>);

#[derive(Clone)]
struct Stored {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl UserData {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> UserData {
        UserData(Some(Stored {
            value: Arc::new(value),
            type_name: std::any::type_name::<T>(),
        }))
    }

    /// The value, if one of type `T` is stored; otherwise an error that
    /// names the type asked for and the type stored (or says that nothing
    /// is).
    ///
    /// ```
    /// use mqtt_tether::UserData;
    /// let userdata = UserData::new("svc");
    /// assert_eq!(*userdata.get::<&str>()?, "svc");
    /// let wrong = userdata.get::<String>().unwrap_err();
    /// assert_eq!(
    ///     wrong.to_string(),
    ///     "userdata is a `&str`, not a `alloc::string::String`"
    /// );
    /// assert_eq!(wrong.found(), Some("&str"));
    /// # Ok::<(), mqtt_tether::UserDataError>(())
    /// ```
    pub fn get<T: Any>(&self) -> Result<&T, UserDataError> {
        let expected = std::any::type_name::<T>();
        let Some(stored) = &self.0 else {
            return Err(UserDataError {
                expected,
                found: None,
            });
        };
        stored.value.downcast_ref::<T>().ok_or(UserDataError {
            expected,
            found: Some(stored.type_name),
        })
    }

    /// True when nothing is stored (Paho's `None`).
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The name of the stored value's type (`None` when nothing is stored),
    /// as [`std::any::type_name`] gives it.
    pub fn type_name(&self) -> Option<&'static str> {
        self.0.as_ref().map(|s| s.type_name)
    }
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(stored) => write!(f, "UserData({})", stored.type_name),
            None => f.write_str("UserData(None)"),
        }
    }
}

/// [`UserData::get`] asked for a type that is not the one stored, or
/// nothing is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserDataError {
    expected: &'static str,
    found: Option<&'static str>,
}

impl UserDataError {
    /// The type asked for.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// The type stored; `None` when no userdata is set.
    pub fn found(&self) -> Option<&'static str> {
        self.found
    }
}

impl std::fmt::Display for UserDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.found {
            Some(found) => write!(f, "userdata is a `{found}`, not a `{}`", self.expected),
            None => write!(f, "no userdata is set (asked for a `{}`)", self.expected),
        }
    }
}

impl std::error::Error for UserDataError {}

/// `on_connect(client, userdata, flags, reason_code, properties)`.
pub type OnConnect =
    dyn Fn(&Client, &UserData, ConnectFlags, &ReasonCode, &Properties) + Send + Sync;
/// `on_connect_fail(client, userdata)`.
pub type OnConnectFail = dyn Fn(&Client, &UserData) + Send + Sync;
/// `on_disconnect(client, userdata, flags, reason_code, properties)`.
pub type OnDisconnect =
    dyn Fn(&Client, &UserData, DisconnectFlags, &ReasonCode, &Properties) + Send + Sync;
/// `on_message(client, userdata, message)`, also the shape of
/// `message_callback_add` callbacks.
pub type OnMessage = dyn Fn(&Client, &UserData, &Message) + Send + Sync;
/// `on_publish(client, userdata, mid, reason_code, properties)`.
pub type OnPublish = dyn Fn(&Client, &UserData, u16, &ReasonCode, &Properties) + Send + Sync;
/// `on_subscribe` / `on_unsubscribe(client, userdata, mid, reason_codes,
/// properties)`.
pub type OnSubscribe = dyn Fn(&Client, &UserData, u16, &[ReasonCode], &Properties) + Send + Sync;
/// `on_log(client, userdata, level, buf)`.
pub type OnLog = dyn Fn(&Client, &UserData, LogLevel, &str) + Send + Sync;
/// `on_pre_connect`, `on_socket_open`, `on_socket_close(client, userdata)`.
pub type OnSocket = dyn Fn(&Client, &UserData) + Send + Sync;

/// The registered callbacks. Each is an `Arc` so the loop can take a copy
/// and call it after releasing the registry's lock.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) on_connect: Option<Arc<OnConnect>>,
    pub(crate) on_connect_fail: Option<Arc<OnConnectFail>>,
    pub(crate) on_disconnect: Option<Arc<OnDisconnect>>,
    pub(crate) on_message: Option<Arc<OnMessage>>,
    pub(crate) on_publish: Option<Arc<OnPublish>>,
    pub(crate) on_subscribe: Option<Arc<OnSubscribe>>,
    pub(crate) on_unsubscribe: Option<Arc<OnSubscribe>>,
    pub(crate) on_log: Option<Arc<OnLog>>,
    pub(crate) on_pre_connect: Option<Arc<OnSocket>>,
    pub(crate) on_socket_open: Option<Arc<OnSocket>>,
    pub(crate) on_socket_close: Option<Arc<OnSocket>>,
    pub(crate) on_socket_register_write: Option<Arc<OnSocket>>,
    pub(crate) on_socket_unregister_write: Option<Arc<OnSocket>>,
    /// `message_callback_add` filters, matched in Paho's order.
    pub(crate) filtered: TopicMatcher<Arc<OnMessage>>,
}

impl Client {
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
    /// same lines go to the `log` crate (target `mqtt_tether`) unless
    /// [`Client::disable_logger`] turned that off.
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
    fn set_callback(&self, set: impl FnOnce(&mut Callbacks)) {
        let mut callbacks = self.face.callbacks.lock();
        set(&mut callbacks);
        self.listen(&callbacks);
    }

    /// Tells the driver what `callbacks` and the logger listen for: it then
    /// skips the work nobody wants (packet lines nobody reads, the loop's
    /// turn before a message completes when no `on_publish` runs first,
    /// write-interest bookkeeping nobody hears).
    pub(super) fn listen(&self, callbacks: &Callbacks) {
        self.driver.listen(Listening {
            published: callbacks.on_publish.is_some(),
            register_write: callbacks.on_socket_register_write.is_some(),
            unregister_write: callbacks.on_socket_unregister_write.is_some(),
            // Packet lines (DEBUG, one per packet sent or received) are made
            // only while `on_log` is set or the `log` crate's logger takes
            // this crate's DEBUG lines: a client nobody reads pays nothing.
            // Asked again at each connect, so a logger installed after the
            // client was made is heard from the next connection on.
            log: callbacks.on_log.is_some()
                || (self.face.logger.load(Ordering::SeqCst)
                    && log::log_enabled!(target: "mqtt_tether", log::Level::Debug)),
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
