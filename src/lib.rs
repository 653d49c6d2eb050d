//! # mqtt-tether
//!
//! A blocking MQTT 3.1, 3.1.1 and 5.0 client for Rust with the API of the
//! Eclipse Paho Python client (`paho-mqtt` 2.x), so that Paho programs port
//! line by line, and with reconnection that can be trusted.
//!
//! ## What is here
//!
//! * [`Client`] ([`client`]): Paho's `Client`: `connect`, `publish` with a
//!   [`MessageInfo`], `subscribe`, the VERSION2 callbacks, and the `loop`,
//!   `loop_forever`, `loop_start` network loops with automatic reconnection.
//!   Callbacks run on the loop's thread with no lock of the client held, so
//!   they may call any client method; `wait_for_publish` on that thread
//!   returns an error instead of hanging.
//! * [`helpers`]: Paho's one-shot helpers, `publish.single` and
//!   `publish.multiple` ([`helpers::publish`]), `subscribe.simple` and
//!   `subscribe.callback` ([`helpers::subscribe`]): one call connects, does
//!   the job (surviving a lost connection) and disconnects.
//! * [`transport`]: how the client reaches a broker: TCP, TLS (feature
//!   `tls`, rustls, or `native-tls`, OpenSSL on Linux as in Paho; chosen
//!   per client), WebSockets (feature `websocket`), unix sockets, and SOCKS
//!   or HTTP proxies.
//! * [`packet`]: the codec. Every control packet of MQTT 3.1, 3.1.1 and 5.0
//!   in both directions, MQTT 5 properties and reason codes, and an
//!   incremental [`packet::Decoder`] that bounds memory by a maximum packet
//!   size. It is pure: no sockets, no threads, no clock.
//! * [`topic`]: topic name and filter validation with Paho's messages,
//!   [`topic_matches_sub`], and a filter trie ([`topic::TopicMatcher`]).
//! * [`error`]: Paho's return codes ([`ErrorCode`], `MQTT_ERR_*`),
//!   [`error_string`], [`connack_string`], and the crate's [`Error`].
//! * [`session`]: the sans-IO session core the client is built on: message
//!   ids, the outgoing store that survives reconnects, the in-flight window,
//!   inbound QoS 2, keepalive and CONNACK handling. No sockets, threads or
//!   clock.
//! * [`porting`]: the porting guide for Paho programs: every Paho name and
//!   its equivalent here, how Python idioms translate, every deliberate
//!   difference from Paho, and a complete program side by side.
//! * `testing` (cargo feature `testing`): a test kit for MQTT clients, with a
//!   scripted broker, a fault proxy, an in-process broker and a Mosquitto
//!   launcher.
//!
//! Under the client, a private `driver` owns the threads: the loop, one
//! reader thread per connection, the reconnect wait and callback dispatch.
//!
//! ## A first program
//!
//! Paho's usual shape: callbacks, `connect`, a network loop, then publish
//! and subscribe. (Here against the test kit's in-process broker, so the
//! example runs anywhere; give your broker's host and port instead.)
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use mqtt_tether::{CallbackAPIVersion, Client};
//!
//! # let broker = mqtt_tether::testing::Broker::start().unwrap();
//! # let port = broker.port();
//! let client = Client::new(CallbackAPIVersion::VERSION2)?;
//! let (tx, rx) = mpsc::channel();
//! client.on_connect(|client, _userdata, _flags, reason_code, _properties| {
//!     println!("connected: {reason_code}");
//!     client.subscribe("greetings/#", 1).expect("a valid filter");
//! });
//! client.on_message(move |_client, _userdata, message| {
//!     tx.send(message.payload.clone()).unwrap();
//! });
//! let (subscribed_tx, subscribed) = mpsc::channel();
//! client.on_subscribe(move |_client, _userdata, _mid, _reason_codes, _properties| {
//!     subscribed_tx.send(()).unwrap();
//! });
//! client.connect("127.0.0.1", port, 60)?;
//! client.loop_start();
//! subscribed.recv_timeout(Duration::from_secs(5)).unwrap();
//! let info = client.publish("greetings/en", "hello", 1, false)?;
//! info.wait_for_publish(Some(Duration::from_secs(5)))?;
//! assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), b"hello");
//! client.disconnect();
//! client.loop_stop();
//! # }
//! # Ok::<(), mqtt_tether::Error>(())
//! ```
//!
//! ## Out of scope
//!
//! An async API (the crate is blocking and threaded, like Paho), and being a
//! production broker (the test broker of the `testing` feature is a test tool).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// docs.rs (`--cfg docsrs`, nightly): each item says which features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
mod driver;
pub mod error;
pub mod helpers;
pub mod packet;
pub mod porting;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topic;
pub mod transport;

pub use client::{
    CallbackAPIVersion, Client, ClientOptions, ConnectFlags, ConnectOptions, DisconnectFlags,
    LogLevel, MessageInfo, Outcome, Transport, UserData, WeakClient,
};
pub use error::{
    connack_string, convert_disconnect_error_code_to_reason_code, error_string, ConnackCode, Error,
    ErrorCode, PahoErrorKind, CONNACK_ACCEPTED, CONNACK_REFUSED_BAD_USERNAME_PASSWORD,
    CONNACK_REFUSED_IDENTIFIER_REJECTED, CONNACK_REFUSED_NOT_AUTHORIZED,
    CONNACK_REFUSED_PROTOCOL_VERSION, CONNACK_REFUSED_SERVER_UNAVAILABLE, MQTT_ERR_ACL_DENIED,
    MQTT_ERR_AGAIN, MQTT_ERR_AUTH, MQTT_ERR_CONN_LOST, MQTT_ERR_CONN_REFUSED, MQTT_ERR_ERRNO,
    MQTT_ERR_INVAL, MQTT_ERR_KEEPALIVE, MQTT_ERR_NOMEM, MQTT_ERR_NOT_FOUND, MQTT_ERR_NOT_SUPPORTED,
    MQTT_ERR_NO_CONN, MQTT_ERR_PAYLOAD_SIZE, MQTT_ERR_PROTOCOL, MQTT_ERR_QUEUE_SIZE,
    MQTT_ERR_SUCCESS, MQTT_ERR_TLS, MQTT_ERR_UNKNOWN,
};
pub use packet::{
    convert_connack_rc_to_reason_code, PacketType, Properties, Property, ProtocolVersion, QoS,
    ReasonCode, SubscribeOptions,
};
pub use session::{BrokerLimits, MemoryBudget};
pub use topic::topic_matches_sub;

/// Compiles and runs the README's Rust examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
