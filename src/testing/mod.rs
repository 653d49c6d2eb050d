//! A test kit for MQTT clients: a scripted broker, a fault proxy, a small
//! in-process broker and launchers for the real Mosquitto and amqtt.
//!
//! Enabled by the cargo feature `testing`. The crate's own tests use it, and
//! so can applications that want to test their reconnect handling against real
//! faults:
//!
//! * [`ScriptedBroker`] accepts connections one at a time and lets a test
//!   script the conversation to the byte, the way Paho's own client tests do
//!   (expect these bytes, send those, expect silence, expect a close).
//! * [`FaultProxy`] sits in front of any broker and cuts, refuses,
//!   black-holes, delays or throttles connections while traffic flows, or
//!   cuts them at seeded random intervals.
//! * [`Broker`] is a small but correct MQTT 3.1.1 and 5.0 broker that runs in
//!   the test process (or standalone: `cargo run --features testing --example
//!   broker -- -p PORT`). It is a test tool, not a production broker.
//! * [`Mosquitto`] starts the real `mosquitto` on a free loopback port from a
//!   generated configuration, restarts it and kills it on drop.
//! * [`Amqtt`] does the same for the Python broker amqtt (MQTT 3.1.1), a
//!   second implementation to check the client against; `.ci/run` installs
//!   it beside Paho ([`find_venv_program`] finds it).
//! * [`require_paho_python`] finds a Python with the Paho client, for tests
//!   that use Paho as an outside witness.
//! * [`TestProxy`] is a SOCKS4/4a, SOCKS5 or HTTP CONNECT proxy that checks
//!   credentials, records requests and can refuse them.
//! * `WsBridge` (with feature `websocket`) puts a WebSocket front, plain or
//!   TLS, before any TCP broker and records the upgrade requests.
//!
//! Every server listens on 127.0.0.1 port 0 (or a unix socket path), never on
//! a fixed port. Every wait has a timeout ([`DEFAULT_TIMEOUT`] unless set), so
//! a test fails instead of hanging. Everything stops its threads and closes its
//! sockets when dropped.

mod amqtt;
mod broker;
mod broker_process;
mod connect_proxy;
mod error;
mod fault_proxy;
mod mosquitto;
mod mosquitto_config;
mod net;
mod programs;
mod python;
mod render;
mod scripted_broker;
mod temp_dir;
mod upgrade_request;
#[cfg(feature = "websocket")]
mod ws_bridge;

pub use amqtt::{Amqtt, AmqttConfig, AMQTT_VERSION};
pub use broker::{Broker, BrokerConfig, BrokerEvent, BrokerLimits, CloseReason, Restart};
pub use connect_proxy::{ProxyKind, ProxyRequest, TestProxy};
pub use error::{Error, Result};
pub use fault_proxy::{ChaosSchedule, FaultCounters, FaultProxy};
pub use mosquitto::Mosquitto;
pub use mosquitto_config::MosquittoConfig;
pub use net::{Endpoint, Stream};
pub use programs::{find_program, require_program, test_action, TestAction};
pub use python::{find_paho_python, find_venv_program, require_paho_python, PAHO_VENV, PYTHON_VAR};
pub use render::{render_bytes, to_hex};
pub use scripted_broker::{Flood, ScriptedBroker, ScriptedConnection};
pub use temp_dir::TempDir;
pub use upgrade_request::UpgradeRequest;
#[cfg(feature = "websocket")]
pub use ws_bridge::WsBridge;

/// How long any step of the kit waits unless told otherwise.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
