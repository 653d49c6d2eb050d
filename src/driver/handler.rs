//! What the driver tells the layer above it: its events, and how that layer
//! answers.
//!
//! The driver knows nothing of Paho's callback shapes. It calls a
//! [`Handler`] once per event: the session's events for the application
//! (a CONNACK, a message, an acknowledgement) and its own (the connection
//! closed, a connect failed, the socket's life, a log line). What the
//! driver needs back comes as the call's [`Answer`] (a callback panicked),
//! and what it needs to know ahead (is anyone listening?) comes as a
//! command, [`Driver::listen`], not as a look into the handler's state.

use std::any::Any;

use super::Driver;
use crate::packet::{Properties, ReasonCode};
use crate::session::Event;

/// Paho's `LogLevel` (`MQTT_LOG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `MQTT_LOG_DEBUG` (16).
    Debug = 16,
    /// `MQTT_LOG_INFO` (1).
    Info = 1,
    /// `MQTT_LOG_NOTICE` (2).
    Notice = 2,
    /// `MQTT_LOG_WARNING` (4).
    Warning = 4,
    /// `MQTT_LOG_ERR` (8).
    Err = 8,
}

/// A callback's panic, handed back for the loop to re-raise.
pub(crate) type Panic = Box<dyn Any + Send>;

/// How the layer above took an event: `Err` carries the panic of a
/// callback that the application did not ask to suppress. The driver then
/// closes the connection without further events and re-raises the panic
/// out of the loop call (see [`Driver::rethrow_panic`]); a message whose
/// callback panicked is not acknowledged.
pub(crate) type Answer = Result<(), Panic>;

/// The socket's life, for an external event loop (Paho's socket callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketEvent {
    /// A connection is about to be opened (`on_pre_connect`).
    PreConnect,
    /// The connection's socket is open (`on_socket_open`).
    Open,
    /// The connection's socket is closed (`on_socket_close`).
    Close,
    /// Bytes wait to be written (`on_socket_register_write`).
    RegisterWrite,
    /// No bytes wait any more, or the socket is closing
    /// (`on_socket_unregister_write`).
    UnregisterWrite,
}

/// What the layer above listens for, so the driver skips work nobody wants
/// without asking on every step (see [`Driver::listen`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Listening {
    /// A `Published` event has something to run before its message
    /// completes: the driver then leaves the completion to the loop, after
    /// the event (otherwise whoever reads or writes completes it at once).
    pub(crate) published: bool,
    /// [`SocketEvent::RegisterWrite`] is wanted: the caller that queues
    /// bytes then leaves the writing to a loop.
    pub(crate) register_write: bool,
    /// [`SocketEvent::UnregisterWrite`] is wanted.
    pub(crate) unregister_write: bool,
    /// Log lines are wanted: the session then describes every packet.
    pub(crate) log: bool,
}

/// The layer above the driver: it hears every event, on the thread that
/// runs the loop (or on the caller's thread, for what a command does with
/// no loop running), with no lock of the driver held, so it may call any
/// driver command. One call per event.
pub(crate) trait Handler: Send + Sync {
    /// A session event for the application: [`Event::Connack`],
    /// [`Event::Message`], [`Event::Published`], [`Event::Subscribed`] or
    /// [`Event::Unsubscribed`] (the others are the driver's own).
    fn event(&self, driver: &Driver, event: &Event) -> Answer;

    /// The connection closed: `reason_code` and `properties` say why
    /// (the broker's own with `from_server`, an MQTT 5 DISCONNECT).
    fn disconnected(
        &self,
        driver: &Driver,
        reason_code: &ReasonCode,
        properties: &Properties,
        from_server: bool,
    ) -> Answer;

    /// An attempt to connect failed (its reason was logged just before).
    /// A panic here is the handler's to swallow.
    fn connect_failed(&self, driver: &Driver);

    /// The socket's life.
    fn socket(&self, driver: &Driver, event: SocketEvent) -> Answer;

    /// One log line. A panic here is the handler's to swallow.
    fn log(&self, driver: &Driver, level: LogLevel, text: &str);
}
