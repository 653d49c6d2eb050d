//! Paho's return codes and their texts, and this crate's error type.
//!
//! Paho reports outcomes two ways, and so does this crate:
//!
//! * return codes ([`ErrorCode`], the `MQTT_ERR_*` constants), for calls that
//!   return an rc in Paho (`publish`'s `MessageInfo::rc`, `loop`, ...), with
//!   Paho's texts from [`error_string`];
//! * [`Error`], where Paho raises an exception. Its `Display` text is Paho's
//!   message, and [`Error::kind`] names the Python exception class, so ported
//!   `except ValueError` blocks have an obvious counterpart.

use std::fmt;
use std::io;

use crate::packet::{
    DecodeError, EncodeError, PacketType, PropertyError, ReasonCode, UnknownReasonCode,
};
use crate::session::StoreFull;

/// Paho's `MQTTErrorCode`: the return codes of the client's calls.
///
/// Compare with the `MQTT_ERR_*` constants, or with an integer:
/// `rc == MQTT_ERR_SUCCESS`, `rc == 0` and `rc.is_err()` all work.
///
/// A code reports a failure, so dropping one unseen is a warning
/// (`#[must_use]`); `let _ =` says that ignoring it is the point:
///
/// ```
/// # use mqtt_tether::{CallbackAPIVersion, Client, MQTT_ERR_NO_CONN};
/// let client = Client::new(CallbackAPIVersion::VERSION2)?;
/// assert_eq!(client.disconnect(), MQTT_ERR_NO_CONN);
/// let _ = client.loop_stop(); // no loop runs: MQTT_ERR_INVAL, and that is fine
/// # Ok::<(), mqtt_tether::Error>(())
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # use mqtt_tether::{CallbackAPIVersion, Client};
/// # fn main() -> Result<(), mqtt_tether::Error> {
/// let client = Client::new(CallbackAPIVersion::VERSION2)?;
/// client.disconnect(); // dropped unseen: warned
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
#[must_use = "a return code reports a failure (Paho's `rc`): check it, or drop it with `let _ =` where ignoring it is the point"]
pub enum ErrorCode {
    /// -1, used internally for "try again".
    Again = -1,
    /// 0, no error.
    Success = 0,
    /// 1, out of memory (Paho also uses it as the `loop_stop` exit sentinel).
    NoMem = 1,
    /// 2, a protocol error.
    Protocol = 2,
    /// 3, invalid arguments.
    Inval = 3,
    /// 4, not connected.
    NoConn = 4,
    /// 5, the connection was refused.
    ConnRefused = 5,
    /// 6, message not found.
    NotFound = 6,
    /// 7, the connection was lost.
    ConnLost = 7,
    /// 8, a TLS error.
    Tls = 8,
    /// 9, payload too large.
    PayloadSize = 9,
    /// 10, not supported.
    NotSupported = 10,
    /// 11, authorisation failed.
    Auth = 11,
    /// 12, access denied by ACL.
    AclDenied = 12,
    /// 13, unknown error.
    Unknown = 13,
    /// 14, error defined by errno.
    Errno = 14,
    /// 15, message queue full.
    QueueSize = 15,
    /// 16, keepalive expired.
    Keepalive = 16,
}

/// `MQTT_ERR_AGAIN` (-1).
pub const MQTT_ERR_AGAIN: ErrorCode = ErrorCode::Again;
/// `MQTT_ERR_SUCCESS` (0).
pub const MQTT_ERR_SUCCESS: ErrorCode = ErrorCode::Success;
/// `MQTT_ERR_NOMEM` (1).
pub const MQTT_ERR_NOMEM: ErrorCode = ErrorCode::NoMem;
/// `MQTT_ERR_PROTOCOL` (2).
pub const MQTT_ERR_PROTOCOL: ErrorCode = ErrorCode::Protocol;
/// `MQTT_ERR_INVAL` (3).
pub const MQTT_ERR_INVAL: ErrorCode = ErrorCode::Inval;
/// `MQTT_ERR_NO_CONN` (4).
pub const MQTT_ERR_NO_CONN: ErrorCode = ErrorCode::NoConn;
/// `MQTT_ERR_CONN_REFUSED` (5).
pub const MQTT_ERR_CONN_REFUSED: ErrorCode = ErrorCode::ConnRefused;
/// `MQTT_ERR_NOT_FOUND` (6).
pub const MQTT_ERR_NOT_FOUND: ErrorCode = ErrorCode::NotFound;
/// `MQTT_ERR_CONN_LOST` (7).
pub const MQTT_ERR_CONN_LOST: ErrorCode = ErrorCode::ConnLost;
/// `MQTT_ERR_TLS` (8).
pub const MQTT_ERR_TLS: ErrorCode = ErrorCode::Tls;
/// `MQTT_ERR_PAYLOAD_SIZE` (9).
pub const MQTT_ERR_PAYLOAD_SIZE: ErrorCode = ErrorCode::PayloadSize;
/// `MQTT_ERR_NOT_SUPPORTED` (10).
pub const MQTT_ERR_NOT_SUPPORTED: ErrorCode = ErrorCode::NotSupported;
/// `MQTT_ERR_AUTH` (11).
pub const MQTT_ERR_AUTH: ErrorCode = ErrorCode::Auth;
/// `MQTT_ERR_ACL_DENIED` (12).
pub const MQTT_ERR_ACL_DENIED: ErrorCode = ErrorCode::AclDenied;
/// `MQTT_ERR_UNKNOWN` (13).
pub const MQTT_ERR_UNKNOWN: ErrorCode = ErrorCode::Unknown;
/// `MQTT_ERR_ERRNO` (14).
pub const MQTT_ERR_ERRNO: ErrorCode = ErrorCode::Errno;
/// `MQTT_ERR_QUEUE_SIZE` (15).
pub const MQTT_ERR_QUEUE_SIZE: ErrorCode = ErrorCode::QueueSize;
/// `MQTT_ERR_KEEPALIVE` (16).
pub const MQTT_ERR_KEEPALIVE: ErrorCode = ErrorCode::Keepalive;

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::Again,
        ErrorCode::Success,
        ErrorCode::NoMem,
        ErrorCode::Protocol,
        ErrorCode::Inval,
        ErrorCode::NoConn,
        ErrorCode::ConnRefused,
        ErrorCode::NotFound,
        ErrorCode::ConnLost,
        ErrorCode::Tls,
        ErrorCode::PayloadSize,
        ErrorCode::NotSupported,
        ErrorCode::Auth,
        ErrorCode::AclDenied,
        ErrorCode::Unknown,
        ErrorCode::Errno,
        ErrorCode::QueueSize,
        ErrorCode::Keepalive,
    ];

    /// The code for a number, if Paho defines one.
    pub fn from_i32(value: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| *c as i32 == value)
    }

    /// The numeric value.
    pub fn value(self) -> i32 {
        self as i32
    }

    /// Paho's constant name, e.g. `"MQTT_ERR_NO_CONN"`.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Again => "MQTT_ERR_AGAIN",
            Success => "MQTT_ERR_SUCCESS",
            NoMem => "MQTT_ERR_NOMEM",
            Protocol => "MQTT_ERR_PROTOCOL",
            Inval => "MQTT_ERR_INVAL",
            NoConn => "MQTT_ERR_NO_CONN",
            ConnRefused => "MQTT_ERR_CONN_REFUSED",
            NotFound => "MQTT_ERR_NOT_FOUND",
            ConnLost => "MQTT_ERR_CONN_LOST",
            Tls => "MQTT_ERR_TLS",
            PayloadSize => "MQTT_ERR_PAYLOAD_SIZE",
            NotSupported => "MQTT_ERR_NOT_SUPPORTED",
            Auth => "MQTT_ERR_AUTH",
            AclDenied => "MQTT_ERR_ACL_DENIED",
            Unknown => "MQTT_ERR_UNKNOWN",
            Errno => "MQTT_ERR_ERRNO",
            QueueSize => "MQTT_ERR_QUEUE_SIZE",
            Keepalive => "MQTT_ERR_KEEPALIVE",
        }
    }

    /// Whether this is an error: a value above 0, as Paho's `rc > 0` tests.
    pub fn is_err(self) -> bool {
        self.value() > 0
    }

    /// Whether this is `MQTT_ERR_SUCCESS`.
    pub fn is_success(self) -> bool {
        self == ErrorCode::Success
    }
}

impl fmt::Display for ErrorCode {
    /// Paho's `error_string` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(error_string(*self))
    }
}

impl From<ErrorCode> for i32 {
    fn from(code: ErrorCode) -> i32 {
        code as i32
    }
}

impl PartialEq<i32> for ErrorCode {
    fn eq(&self, other: &i32) -> bool {
        self.value() == *other
    }
}

impl PartialOrd<i32> for ErrorCode {
    fn partial_cmp(&self, other: &i32) -> Option<std::cmp::Ordering> {
        Some(self.value().cmp(other))
    }
}

/// Paho's `error_string(mqtt_errno)`: the text for a return code. Accepts an
/// [`ErrorCode`] or any integer; unknown values give "Unknown error.".
///
/// ```
/// use mqtt_tether::{error_string, MQTT_ERR_NO_CONN};
/// assert_eq!(error_string(MQTT_ERR_NO_CONN), "The client is not currently connected.");
/// assert_eq!(error_string(99), "Unknown error.");
/// ```
pub fn error_string(mqtt_errno: impl Into<i32>) -> &'static str {
    match ErrorCode::from_i32(mqtt_errno.into()) {
        Some(ErrorCode::Success) => "No error.",
        Some(ErrorCode::NoMem) => "Out of memory.",
        Some(ErrorCode::Protocol) => {
            "A network protocol error occurred when communicating with the broker."
        }
        Some(ErrorCode::Inval) => "Invalid function arguments provided.",
        Some(ErrorCode::NoConn) => "The client is not currently connected.",
        Some(ErrorCode::ConnRefused) => "The connection was refused.",
        Some(ErrorCode::NotFound) => "Message not found (internal error).",
        Some(ErrorCode::ConnLost) => "The connection was lost.",
        Some(ErrorCode::Tls) => "A TLS error occurred.",
        Some(ErrorCode::PayloadSize) => "Payload too large.",
        Some(ErrorCode::NotSupported) => "This feature is not supported.",
        Some(ErrorCode::Auth) => "Authorisation failed.",
        Some(ErrorCode::AclDenied) => "Access denied by ACL.",
        Some(ErrorCode::Errno) => "Error defined by errno.",
        Some(ErrorCode::QueueSize) => "Message queue full.",
        Some(ErrorCode::Keepalive) => {
            "Client or broker did not communicate in the keepalive interval."
        }
        Some(ErrorCode::Again) | Some(ErrorCode::Unknown) | None => "Unknown error.",
    }
}

/// Paho's `ConnackCode`: the MQTT 3.x CONNACK return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnackCode {
    /// 0, connection accepted.
    Accepted = 0,
    /// 1, unacceptable protocol version.
    RefusedProtocolVersion = 1,
    /// 2, identifier rejected.
    RefusedIdentifierRejected = 2,
    /// 3, server unavailable.
    RefusedServerUnavailable = 3,
    /// 4, bad user name or password.
    RefusedBadUsernamePassword = 4,
    /// 5, not authorised.
    RefusedNotAuthorized = 5,
}

/// `CONNACK_ACCEPTED` (0).
pub const CONNACK_ACCEPTED: ConnackCode = ConnackCode::Accepted;
/// `CONNACK_REFUSED_PROTOCOL_VERSION` (1).
pub const CONNACK_REFUSED_PROTOCOL_VERSION: ConnackCode = ConnackCode::RefusedProtocolVersion;
/// `CONNACK_REFUSED_IDENTIFIER_REJECTED` (2).
pub const CONNACK_REFUSED_IDENTIFIER_REJECTED: ConnackCode = ConnackCode::RefusedIdentifierRejected;
/// `CONNACK_REFUSED_SERVER_UNAVAILABLE` (3).
pub const CONNACK_REFUSED_SERVER_UNAVAILABLE: ConnackCode = ConnackCode::RefusedServerUnavailable;
/// `CONNACK_REFUSED_BAD_USERNAME_PASSWORD` (4).
pub const CONNACK_REFUSED_BAD_USERNAME_PASSWORD: ConnackCode =
    ConnackCode::RefusedBadUsernamePassword;
/// `CONNACK_REFUSED_NOT_AUTHORIZED` (5).
pub const CONNACK_REFUSED_NOT_AUTHORIZED: ConnackCode = ConnackCode::RefusedNotAuthorized;

/// What [`connack_string`] accepts: a v3 return code (as a number or a
/// [`ConnackCode`]) or a v5 [`ReasonCode`].
pub trait ConnackResult {
    /// The text [`connack_string`] gives for this value.
    fn connack_text(&self) -> &'static str;
}

fn connack_text_for(code: i64) -> &'static str {
    match code {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}

impl ConnackResult for u8 {
    fn connack_text(&self) -> &'static str {
        connack_text_for(i64::from(*self))
    }
}

impl ConnackResult for i32 {
    fn connack_text(&self) -> &'static str {
        connack_text_for(i64::from(*self))
    }
}

impl ConnackResult for ConnackCode {
    fn connack_text(&self) -> &'static str {
        connack_text_for(*self as i64)
    }
}

impl ConnackResult for ReasonCode {
    fn connack_text(&self) -> &'static str {
        self.name()
    }
}

/// Paho's `connack_string(connack_code)`: the text for a v3 CONNACK return
/// code, or the name of a v5 reason code.
///
/// ```
/// use mqtt_tether::connack_string;
/// use mqtt_tether::packet::{PacketType, ReasonCode};
/// assert_eq!(connack_string(5), "Connection Refused: not authorised.");
/// let rc = ReasonCode::from_value(PacketType::ConnAck, 0x87).unwrap();
/// assert_eq!(connack_string(rc), "Not authorized");
/// ```
pub fn connack_string<C: ConnackResult>(connack_code: C) -> &'static str {
    connack_code.connack_text()
}

/// Paho's `convert_disconnect_error_code_to_reason_code`: the reason code a
/// VERSION2 `on_disconnect` gets when the broker did not send one.
/// SUCCESS is "Normal disconnection", KEEPALIVE "Keep alive timeout",
/// PROTOCOL "Protocol error", anything else "Unspecified error".
pub fn convert_disconnect_error_code_to_reason_code(rc: ErrorCode) -> ReasonCode {
    let value = match rc {
        ErrorCode::Success => 0x00,
        ErrorCode::Keepalive => 0x8d,
        ErrorCode::Protocol => 0x82,
        _ => 0x80,
    };
    ReasonCode::from_value(PacketType::Disconnect, value)
        .unwrap_or(ReasonCode::success(PacketType::Disconnect))
}

/// The Python exception class Paho raises for the same mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PahoErrorKind {
    /// `ValueError`: a bad argument.
    ValueError,
    /// `RuntimeError`: a call that the client's state does not allow.
    RuntimeError,
    /// `TypeError`: an argument of the wrong kind.
    TypeError,
    /// `paho.mqtt.MQTTException` (properties, reason codes, a refused helper
    /// connection).
    MqttException,
    /// `OSError` and its subclasses: the network.
    OsError,
    /// `KeyError`: a required key missing from a dict argument (the
    /// helpers' `auth` without a username).
    KeyError,
}

/// An error this crate reports where Paho raises an exception. `Display` gives
/// Paho's message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `ValueError('Invalid topic.')`
    InvalidTopic,
    /// `ValueError('Publish topic cannot contain wildcards.')`
    PublishTopicWildcards,
    /// `ValueError('Publish topic is too long.')`
    PublishTopicTooLong,
    /// Paho's `ValueError('Invalid subscription filter.')`, naming the
    /// filter: `Invalid subscription filter: "a/#/b".` (a filter longer
    /// than 100 bytes is cut short in the text, not in the field).
    InvalidSubscriptionFilter(String),
    /// `ValueError('Invalid QoS level.')`
    InvalidQos,
    /// A property that does not apply to the packet, or is out of range
    /// (Paho's `MQTTException`).
    Property(PropertyError),
    /// A reason code that the packet type does not define.
    ReasonCode(UnknownReasonCode),
    /// A packet could not be encoded.
    Encode(EncodeError),
    /// The peer sent bytes that are not a valid packet.
    Decode(DecodeError),
    /// A network error.
    Io(io::Error),
    /// Any other `ValueError` of Paho's: what was wrong, to match on; its
    /// `Display` is Paho's exact text (for example "Invalid host.").
    Value(ValueReason),
    /// A `RuntimeError` of Paho's: what failed, to match on; its `Display`
    /// is Paho's text (for example "Message publish failed: The client is
    /// not currently connected.").
    Runtime(RuntimeReason),
    /// The broker refused a helper's connection (the [`helpers`] modules;
    /// Paho raises `MQTTException(connack_string(reason_code))`). The text
    /// is [`connack_string`] of the reason code `on_connect` got, e.g.
    /// "Not authorized".
    ///
    /// [`helpers`]: crate::helpers
    ConnectionRefused(ReasonCode),
    /// A `KeyError` of Paho's, with its text (for example "The 'username'
    /// key was not found, this is required for auth").
    Key(String),
    /// [`Client::publish_wait`](crate::Client::publish_wait) found no room
    /// for its message before its timeout, for this reason; nothing was
    /// queued. The text is Paho's for `MQTT_ERR_QUEUE_SIZE` ("Message is
    /// not queued due to ERR_QUEUE_SIZE") and the reason (a `ValueError`,
    /// as Paho's).
    QueueFull(StoreFull),
}

impl Error {
    /// The Python exception class Paho raises in the same case.
    pub fn kind(&self) -> PahoErrorKind {
        match self {
            Error::InvalidTopic
            | Error::PublishTopicWildcards
            | Error::PublishTopicTooLong
            | Error::InvalidSubscriptionFilter(_)
            | Error::InvalidQos
            | Error::ReasonCode(_)
            | Error::Encode(_)
            | Error::Value(_)
            | Error::QueueFull(_) => PahoErrorKind::ValueError,
            Error::Runtime(_) => PahoErrorKind::RuntimeError,
            Error::Property(_) | Error::Decode(_) | Error::ConnectionRefused(_) => {
                PahoErrorKind::MqttException
            }
            Error::Key(_) => PahoErrorKind::KeyError,
            Error::Io(_) => PahoErrorKind::OsError,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidTopic => f.write_str("Invalid topic."),
            Error::PublishTopicWildcards => f.write_str("Publish topic cannot contain wildcards."),
            Error::PublishTopicTooLong => f.write_str("Publish topic is too long."),
            Error::InvalidSubscriptionFilter(filter) => {
                // A filter can be 65,535 bytes: the text shows its start.
                let mut end = filter.len().min(100);
                while !filter.is_char_boundary(end) {
                    end -= 1;
                }
                if end < filter.len() {
                    write!(
                        f,
                        "Invalid subscription filter: {:?}... ({} bytes).",
                        &filter[..end],
                        filter.len()
                    )
                } else {
                    write!(f, "Invalid subscription filter: {filter:?}.")
                }
            }
            Error::InvalidQos => f.write_str("Invalid QoS level."),
            Error::Property(e) => fmt::Display::fmt(e, f),
            Error::ReasonCode(e) => fmt::Display::fmt(e, f),
            Error::Encode(e) => fmt::Display::fmt(e, f),
            Error::Decode(e) => fmt::Display::fmt(e, f),
            Error::Io(e) => fmt::Display::fmt(e, f),
            Error::ConnectionRefused(rc) => f.write_str(connack_string(*rc)),
            Error::Value(reason) => fmt::Display::fmt(reason, f),
            Error::Runtime(reason) => fmt::Display::fmt(reason, f),
            Error::Key(text) => f.write_str(text),
            Error::QueueFull(full) => {
                write!(f, "Message is not queued due to ERR_QUEUE_SIZE: {full}")
            }
        }
    }
}

impl std::error::Error for Error {
    /// The cause behind the wrapped error's own text: `Display` already
    /// shows the wrapped error (Paho's message), so its source is the next
    /// link, and a chain printer shows every text once (as `io::Error`
    /// does for the error it wraps).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Property(e) => e.source(),
            Error::ReasonCode(e) => e.source(),
            Error::Encode(e) => e.source(),
            Error::Decode(e) => e.source(),
            Error::Io(e) => e.source(),
            _ => None,
        }
    }
}

/// Why Paho would raise a `ValueError` ([`Error::Value`]). `Display` is
/// Paho's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueReason {
    /// "Invalid host."
    InvalidHost,
    /// "Invalid port number."
    InvalidPort,
    /// "Payload too large."
    PayloadTooLarge,
    /// "Username is too long." (over 65,535 bytes; Paho accepts it).
    UsernameTooLong,
    /// "Password is too long." (over 65,535 bytes; Paho accepts it).
    PasswordTooLong,
    /// "Client id is too long." (over 65,535 bytes; Paho accepts it).
    ClientIdTooLong,
    /// "A client id must be provided if clean session is False."
    ClientIdRequired,
    /// "Clean session is not used for MQTT 5.0"
    CleanSessionWithMqtt5,
    /// "Clean start only applies to MQTT V5"
    CleanStartBeforeMqtt5,
    /// "Properties only apply to MQTT V5"
    PropertiesBeforeMqtt5,
    /// "Empty topic list" (`subscribe` with no filter).
    EmptyTopicList,
    /// "No topic specified, or incorrect topic type." (`unsubscribe`
    /// with no filter).
    NoTopic,
    /// "Message is not queued due to ERR_QUEUE_SIZE"
    NotQueued,
    /// "timeout must be a positive number"
    NonPositiveTimeout,
    /// "max_inbound_packet_size must be 1 to 268435455."
    MaxInboundPacketSize,
    /// "proxy_type and/or proxy_addr are invalid."
    InvalidProxy,
    /// "Must configure SSL context before using tls_insecure_set."
    TlsNotConfigured,
    /// "SSL/TLS has already been configured."
    TlsAlreadyConfigured,
    /// "Unsupported callback API version: ..." (`VERSION1`).
    UnsupportedCallbackApiVersion,
    /// "msgs is empty" (`publish.multiple`).
    NoMessages,
    /// "msg_count must be > 0" (`subscribe.simple`).
    MsgCount,
    /// "qos must be in the range 0-2" (the subscribe helpers).
    HelperQos,
    /// "Invalid server URI: {why}." (`Server::parse`; beyond Paho Python,
    /// which takes no URIs).
    InvalidServerUri(&'static str),
}

impl fmt::Display for ValueReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ValueReason::*;
        let text = match self {
            InvalidHost => "Invalid host.",
            InvalidPort => "Invalid port number.",
            PayloadTooLarge => "Payload too large.",
            UsernameTooLong => "Username is too long.",
            PasswordTooLong => "Password is too long.",
            ClientIdTooLong => "Client id is too long.",
            ClientIdRequired => "A client id must be provided if clean session is False.",
            CleanSessionWithMqtt5 => "Clean session is not used for MQTT 5.0",
            CleanStartBeforeMqtt5 => "Clean start only applies to MQTT V5",
            PropertiesBeforeMqtt5 => "Properties only apply to MQTT V5",
            EmptyTopicList => "Empty topic list",
            NoTopic => "No topic specified, or incorrect topic type.",
            NotQueued => "Message is not queued due to ERR_QUEUE_SIZE",
            NonPositiveTimeout => "timeout must be a positive number",
            MaxInboundPacketSize => {
                return write!(
                    f,
                    "max_inbound_packet_size must be 1 to {}.",
                    crate::packet::MAX_VARIABLE_INTEGER
                )
            }
            InvalidProxy => "proxy_type and/or proxy_addr are invalid.",
            TlsNotConfigured => "Must configure SSL context before using tls_insecure_set.",
            TlsAlreadyConfigured => "SSL/TLS has already been configured.",
            UnsupportedCallbackApiVersion => {
                "Unsupported callback API version: only VERSION2 callbacks exist in mqtt-tether, see docs/migrations.rst for details"
            }
            NoMessages => "msgs is empty",
            MsgCount => "msg_count must be > 0",
            HelperQos => "qos must be in the range 0-2",
            InvalidServerUri(why) => return write!(f, "Invalid server URI: {why}."),
        };
        f.write_str(text)
    }
}

/// Why Paho would raise a `RuntimeError` ([`Error::Runtime`]). `Display`
/// is Paho's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuntimeReason {
    /// "updating {setting} on established connection is not supported": a
    /// property setter while a connection exists or is being made.
    SettingWhileConnected(&'static str),
    /// "Message publish failed: {error_string(rc)}": the message was not
    /// sent, for the reason `rc` gives.
    PublishFailed(ErrorCode),
    /// "Message publish failed: {error_string(rc)} ({reason})": the
    /// broker's DISCONNECT said why (a feature it does not support).
    PublishNotSupported(ErrorCode, ReasonCode),
    /// "Message publish failed: the broker refused it: {reason} ({value})":
    /// an MQTT 5 PUBACK/PUBREC with an error reason code.
    PublishRefused(ReasonCode),
    /// "Message publish failed: the client was reinitialised."
    PublishReinitialised,
    /// "Message publish failed: dropped by drop_out_messages()."
    PublishDropped,
    /// "Message publish failed: dropped unsent to make room for a newer
    /// message (QueueFullPolicy::DropOldest)." (its outcome
    /// [`Outcome::Evicted`](crate::Outcome::Evicted)).
    PublishEvicted,
    /// "wait_for_publish() called from the network loop thread would never
    /// return"
    WaitOnLoopThread,
    /// "publish_wait() called from the network loop thread would never get
    /// room: {full}": [`Client::publish_wait`](crate::Client::publish_wait)
    /// in a callback with the store full.
    PublishWaitOnLoopThread(StoreFull),
    /// "publish_wait() gave up: the client was stopped (disconnect(),
    /// loop_stop() or reinitialise()) while {full}".
    PublishWaitStopped(StoreFull),
    /// "disconnect_drain() called from the network loop thread would never
    /// see its {left} unacknowledged messages acknowledged": nothing was
    /// disconnected.
    DrainOnLoopThread(usize),
    /// Beyond Paho: "persistence_set: this client has a persistence
    /// directory already".
    PersistenceAlreadySet,
    /// Beyond Paho: "persistence_set: messages are stored in memory
    /// already; set persistence before publishing".
    PersistenceAfterPublish,
}

impl fmt::Display for RuntimeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RuntimeReason::*;
        match self {
            SettingWhileConnected(name) => write!(
                f,
                "updating {name} on established connection is not supported"
            ),
            PublishFailed(rc) => write!(f, "Message publish failed: {}", error_string(*rc)),
            PublishNotSupported(rc, reason) => write!(
                f,
                "Message publish failed: {} ({})",
                error_string(*rc),
                reason.name()
            ),
            PublishRefused(reason) => write!(
                f,
                "Message publish failed: the broker refused it: {} ({})",
                reason.name(),
                reason.value()
            ),
            PublishReinitialised => {
                f.write_str("Message publish failed: the client was reinitialised.")
            }
            PublishDropped => {
                f.write_str("Message publish failed: dropped by drop_out_messages().")
            }
            PublishEvicted => f.write_str(
                "Message publish failed: dropped unsent to make room for a newer message \
                 (QueueFullPolicy::DropOldest).",
            ),
            WaitOnLoopThread => f.write_str(
                "wait_for_publish() called from the network loop thread would never return",
            ),
            PublishWaitOnLoopThread(full) => write!(
                f,
                "publish_wait() called from the network loop thread would never get room: {full}"
            ),
            PublishWaitStopped(full) => write!(
                f,
                "publish_wait() gave up: the client was stopped (disconnect(), loop_stop() or \
                 reinitialise()) while {full}"
            ),
            DrainOnLoopThread(left) => write!(
                f,
                "disconnect_drain() called from the network loop thread would never see its \
                 {left} unacknowledged messages acknowledged"
            ),
            PersistenceAlreadySet => {
                f.write_str("persistence_set: this client has a persistence directory already")
            }
            PersistenceAfterPublish => f.write_str(
                "persistence_set: messages are stored in memory already; set persistence \
                 before publishing",
            ),
        }
    }
}

impl From<PropertyError> for Error {
    fn from(e: PropertyError) -> Self {
        Error::Property(e)
    }
}

impl From<UnknownReasonCode> for Error {
    fn from(e: UnknownReasonCode) -> Self {
        Error::ReasonCode(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_strings_are_pahos() {
        let expect = [
            (-1, "Unknown error."),
            (0, "No error."),
            (1, "Out of memory."),
            (
                2,
                "A network protocol error occurred when communicating with the broker.",
            ),
            (3, "Invalid function arguments provided."),
            (4, "The client is not currently connected."),
            (5, "The connection was refused."),
            (6, "Message not found (internal error)."),
            (7, "The connection was lost."),
            (8, "A TLS error occurred."),
            (9, "Payload too large."),
            (10, "This feature is not supported."),
            (11, "Authorisation failed."),
            (12, "Access denied by ACL."),
            (13, "Unknown error."),
            (14, "Error defined by errno."),
            (15, "Message queue full."),
            (
                16,
                "Client or broker did not communicate in the keepalive interval.",
            ),
            (17, "Unknown error."),
            (-2, "Unknown error."),
        ];
        for (value, text) in expect {
            assert_eq!(error_string(value), text, "error_string({value})");
            if let Some(code) = ErrorCode::from_i32(value) {
                assert_eq!(code.value(), value);
                assert_eq!(code.to_string(), text);
            }
        }
        assert_eq!(ErrorCode::ALL.len(), 18);
        assert!(MQTT_ERR_SUCCESS == 0 && !MQTT_ERR_SUCCESS.is_err());
        assert!(MQTT_ERR_NO_CONN > 0 && MQTT_ERR_NO_CONN.is_err());
        assert_eq!(MQTT_ERR_QUEUE_SIZE.name(), "MQTT_ERR_QUEUE_SIZE");
    }

    #[test]
    fn connack_strings_are_pahos() {
        let expect = [
            (0u8, "Connection Accepted."),
            (1, "Connection Refused: unacceptable protocol version."),
            (2, "Connection Refused: identifier rejected."),
            (3, "Connection Refused: broker unavailable."),
            (4, "Connection Refused: bad user name or password."),
            (5, "Connection Refused: not authorised."),
            (6, "Connection Refused: unknown reason."),
            (255, "Connection Refused: unknown reason."),
        ];
        for (code, text) in expect {
            assert_eq!(connack_string(code), text);
            assert_eq!(connack_string(i32::from(code)), text);
        }
        assert_eq!(connack_string(-1), "Connection Refused: unknown reason.");
        assert_eq!(
            connack_string(CONNACK_REFUSED_NOT_AUTHORIZED),
            "Connection Refused: not authorised."
        );
        let rc = ReasonCode::from_value(PacketType::ConnAck, 0x86).unwrap();
        assert_eq!(connack_string(rc), "Bad user name or password");
    }

    #[test]
    fn helper_errors_are_pahos() {
        let rc = crate::packet::convert_connack_rc_to_reason_code(5);
        let refused = Error::ConnectionRefused(rc);
        assert_eq!(refused.to_string(), "Not authorized");
        assert_eq!(refused.kind(), PahoErrorKind::MqttException);
        let key = Error::Key("The 'username' key was not found".into());
        assert_eq!(key.to_string(), "The 'username' key was not found");
        assert_eq!(key.kind(), PahoErrorKind::KeyError);
    }

    #[test]
    fn disconnect_codes_map_like_paho() {
        let name = |rc| convert_disconnect_error_code_to_reason_code(rc).to_string();
        assert_eq!(name(MQTT_ERR_SUCCESS), "Normal disconnection");
        assert_eq!(name(MQTT_ERR_KEEPALIVE), "Keep alive timeout");
        assert_eq!(name(MQTT_ERR_CONN_LOST), "Unspecified error");
        assert_eq!(name(MQTT_ERR_PROTOCOL), "Protocol error");
        assert_eq!(name(MQTT_ERR_CONN_REFUSED), "Unspecified error");
    }
}
