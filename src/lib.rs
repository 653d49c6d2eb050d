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
//! Under the client, a private driver owns the threads (the loop, and a
//! reader thread per connection where the loop does not read the socket
//! itself), the sockets and the reconnect wait; the client
//! turns its events into Paho's callbacks (see [Architecture](#architecture)).
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
//!     let (rc, _mid) = client.subscribe("greetings/#", 1).expect("a valid filter");
//!     println!("subscribe: {rc}");
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
//! assert!(client.disconnect().is_success());
//! assert!(client.loop_stop().is_success());
//! # }
//! # Ok::<(), mqtt_tether::Error>(())
//! ```
//!
//! ## Architecture
//!
//! Four layers, each a folder under `src/`; each imports only from the
//! layers below it, never from one above:
//!
//! ```text
//!   client/     the face: Paho's API (Client, options, callbacks,
//!                 MessageInfo); Paho's argument checks and texts; turns
//!                 the driver's events into Paho callbacks
//!      |        (helpers/, Paho's one-shot helpers, sit on the client)
//!   driver/     private: the threads, the sockets, the reconnect wait, the
//!                 core lock over the session, message completion; commands
//!                 in, events out; knows nothing of Paho's callbacks
//!      |
//!   transport/  opening a connection: TCP, TLS, WebSocket, unix, proxies;
//!   session/      the sans-IO protocol state (no sockets, threads, clock)
//!      |
//!   packet/, topic.rs, error.rs: the codec, topic rules, return codes
//! ```
//!
//! The driver is a type of its own (`driver::Driver`, a cheap handle). The
//! client calls its commands (connect, publish, subscribe, disconnect, the
//! loops, stop) and implements its `driver::Handler`, which the driver calls
//! once per event: the session's (CONNACK, message, acknowledgement,
//! SUBACK, UNSUBACK) and its own (disconnected, connect failed, the
//! socket's life, log lines). The client makes each one the Paho callback,
//! with a `&Client` built from the driver's handle; what the driver needs
//! back (a callback panicked: close and re-raise, and do not acknowledge
//! the message) is the call's answer, and what it needs to know ahead (is
//! an `on_publish` or a write-interest callback set, are log lines read) the
//! client tells it by a command whenever it changes. Message completion
//! (what a [`MessageInfo`] reads and waits on, and the [`Outcome`]s) is the
//! driver's, so whoever learns that a message ended completes it without
//! knowing `MessageInfo`.
//!
//! Threads, for one client:
//!
//! * the loop thread (the `loop_start` thread, or the caller of
//!   `loop_forever`, `loop` or an external loop's step; one at a time):
//!   runs every callback, writes, keeps alive, closes connections, waits
//!   between reconnects. On unix the `loop_start` thread and
//!   `loop_forever` also read: they wait for the socket and their wake-up
//!   together (`poll`) and feed what they read to the session themselves,
//!   so a callback runs without a hand-off between threads;
//! * a reader thread per connection where the loop does not read: off
//!   unix, and for a connection first read by the application's `loop()`
//!   calls (so the exchange goes on between two calls). Blocking reads; it
//!   feeds each chunk to the session at once, writes the protocol's answers
//!   the socket takes without waiting, completes messages no `on_publish`
//!   has to see first, and wakes the loop only for what is left (events,
//!   unwritten bytes, the end). A polling loop's connection gets one too
//!   where it still pays: messages queue behind the in-flight window (the
//!   acknowledgements that let them go are read while the loop writes), a
//!   caller waits behind a backlog of events a callback keeps the loop from
//!   delivering, or the broker does not take a write at once;
//! * the application's threads: commands only enqueue and wake the loop
//!   (`connect` and `reconnect` block while the connection opens), except
//!   that a caller writes in the sleeping loop's place when the
//!   socket takes the bytes at once, writes (and runs the callbacks) itself
//!   when no loop runs at all (as in Paho), and reads in the loop's (or
//!   the reader thread's) place while it waits in `wait_for_publish`.
//!
//! So on unix `loop_start` costs one thread, the loop, over TCP, TLS,
//! WebSocket or a unix socket alike (two in the cases above); elsewhere two
//! while connected (the loop and the reader).
//!
//! Which file holds what:
//!
//! * `client/`: `mod.rs` ([`Client`], [`WeakClient`], what stops a client
//!   whose last handle is dropped), `connect.rs` (options, connecting,
//!   `reinitialise`), `publish.rs` (publish, subscribe, ack), `loops.rs`,
//!   `settings.rs` (Paho's properties and `*_set` calls), `callbacks.rs`
//!   (the callback shapes and setters), `events.rs` (driver events to
//!   callbacks, Paho's exception rules), `message_info.rs`, and `tls.rs`,
//!   `websocket.rs`, `proxy.rs` (the transport calls);
//! * `driver/`: `mod.rs` (the `Driver`, its core and locks), `commands.rs`,
//!   `handler.rs` (the events and the `Handler` trait), `dispatch.rs`
//!   (session events to the handler, in order; closing a connection),
//!   `network_loop.rs` (one pass, the polling loop's wait and read, the
//!   external loop's steps, who runs the loop), `flush.rs` (writing, in
//!   bounded slices), `reconnect.rs` (`loop_forever` with reconnects, the
//!   backoff wait, `reconnect`), `failover.rs` (which broker each attempt
//!   goes to: the failover round, Server References; pure), `reader.rs`,
//!   `reader_feed.rs` and `read_gate.rs` (the reader thread, what it does
//!   with a chunk, a waiting caller reading in its place, the polling
//!   loop's reads), `waker.rs` (the loop's wake-up, pollable on unix),
//!   `write_interest.rs` (writing in
//!   the loop's place, write-interest events), and `completion/` (outcomes,
//!   the state word, epochs of stored messages, waiting);
//! * `persist/` (opt-in persistence, beside the driver, which owns its
//!   file): `format.rs` (the log's records and recovery over bytes, no
//!   I/O), `file.rs` (the directory's lock, appending, syncing,
//!   compaction); the session only journals its store changes
//!   (`session/journal.rs`) and the driver writes them before the bytes
//!   that depend on them;
//! * `session/`, `packet/`, `transport/`, `topic/`: see their module docs.
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
pub mod persist;
pub mod porting;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topic;
pub mod transport;

pub use client::{
    CallbackAPIVersion, Client, ClientOptions, ConnectFlags, ConnectOptions, DisconnectFlags,
    Drained, FailoverOrder, IntoQos, LogLevel, MessageInfo, Outcome, Server, Stats, Subscription,
    Transport, UserData, UserDataError, WeakClient,
};
pub use error::{
    connack_string, convert_disconnect_error_code_to_reason_code, error_string, ConnackCode, Error,
    ErrorCode, PahoErrorKind, RuntimeReason, ValueReason, CONNACK_ACCEPTED,
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD, CONNACK_REFUSED_IDENTIFIER_REJECTED,
    CONNACK_REFUSED_NOT_AUTHORIZED, CONNACK_REFUSED_PROTOCOL_VERSION,
    CONNACK_REFUSED_SERVER_UNAVAILABLE, MQTT_ERR_ACL_DENIED, MQTT_ERR_AGAIN, MQTT_ERR_AUTH,
    MQTT_ERR_CONN_LOST, MQTT_ERR_CONN_REFUSED, MQTT_ERR_ERRNO, MQTT_ERR_INVAL, MQTT_ERR_KEEPALIVE,
    MQTT_ERR_NOMEM, MQTT_ERR_NOT_FOUND, MQTT_ERR_NOT_SUPPORTED, MQTT_ERR_NO_CONN,
    MQTT_ERR_PAYLOAD_SIZE, MQTT_ERR_PROTOCOL, MQTT_ERR_QUEUE_SIZE, MQTT_ERR_SUCCESS, MQTT_ERR_TLS,
    MQTT_ERR_UNKNOWN,
};
pub use packet::{
    convert_connack_rc_to_reason_code, PacketType, Properties, Property, ProtocolVersion, QoS,
    ReasonCode, RetainHandling, SubscribeOptions,
};
pub use persist::{Durability, PersistReport};
pub use session::{BrokerLimits, CleanStart, MemoryBudget, Message, QueueFullPolicy, StoreFull};
pub use topic::topic_matches_sub;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub use transport::tls::TlsOptions;

/// Compiles and runs the README's Rust examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
