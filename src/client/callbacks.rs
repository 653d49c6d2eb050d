//! The callback registry: Paho's VERSION2 callback shapes as Rust closures.
//!
//! Callbacks run on the network loop's thread, one at a time, never with a
//! lock of the client held, so a callback may call any client method.

use std::any::Any;
use std::sync::Arc;

use crate::driver::LogLevel;
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
#[derive(Clone, Default)]
pub struct UserData(Option<Arc<dyn Any + Send + Sync>>);

impl UserData {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> UserData {
        UserData(Some(Arc::new(value)))
    }

    /// The value, if one of type `T` is stored.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|v| v.downcast_ref::<T>())
    }

    /// True when nothing is stored (Paho's `None`).
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "UserData(Some(..))"
        } else {
            "UserData(None)"
        })
    }
}

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
