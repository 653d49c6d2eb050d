//! What a session is configured with: the CONNECT fields and the store
//! limits, with Paho's defaults.

use std::time::Duration;

use super::budget::{MemoryBudget, DEFAULT_MAX_INBOUND_PACKET_SIZE};
use super::room::QueueFullPolicy;
use crate::packet::{PacketType, Properties, ProtocolVersion, Will};

/// MQTT 5 clean start (Paho's `clean_start` argument of `connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanStart {
    /// Set the flag on every CONNECT.
    Always,
    /// Never set it.
    Never,
    /// Set it only on the first CONNECT after `connect()` (Paho's default,
    /// `MQTT_CLEAN_START_FIRST_ONLY`).
    #[default]
    FirstOnly,
}

/// The session's configuration. `SessionConfig::new` gives Paho's defaults.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Protocol level.
    pub protocol: ProtocolVersion,
    /// Client id (may be empty, except with `clean_session` false).
    pub client_id: String,
    /// MQTT 3 clean session (default true).
    pub clean_session: bool,
    /// MQTT 5 clean start (default first connect only).
    pub clean_start: CleanStart,
    /// Keepalive in seconds (default 60; 0 disables it). A v5 Server Keep
    /// Alive replaces it, for later CONNECTs too.
    pub keepalive: u16,
    /// How long a CONNACK may take when `keepalive` is 0 (default 5 s,
    /// Paho's `connect_timeout`; the client sets its own
    /// `connect_timeout`). Past it the connection closes as a keepalive
    /// failure. With a keepalive the keepalive bounds the wait, as in
    /// Paho; Paho with keepalive 0 waits for ever. `None`: wait for ever.
    pub connack_timeout: Option<Duration>,
    /// Username (the password is only sent with a username, as in Paho).
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// The will message.
    pub will: Option<Will>,
    /// MQTT 5 CONNECT properties.
    pub connect_properties: Properties,
    /// The in-flight window for QoS 1/2 (default 20; 0: unlimited). The
    /// broker's MQTT 5 Receive Maximum lowers it further.
    pub max_inflight: usize,
    /// Most QoS 1/2 messages held, queued or in flight (default 0:
    /// unlimited), QoS 0 messages queued offline included.
    pub max_queued: usize,
    /// Beyond Paho: what a publish does when `max_queued` or the store's
    /// bytes budget is reached (default [`QueueFullPolicy::Refuse`], Paho's).
    pub queue_full_policy: QueueFullPolicy,
    /// Beyond Paho (default false, Paho's: dropped with
    /// `MQTT_ERR_NO_CONN`): QoS 0 messages published without a connection
    /// are queued and written after the next CONNACK, counted against
    /// `max_queued` and the store's bytes budget.
    pub queue_qos0_offline: bool,
    /// When true, received QoS 1/2 messages are acknowledged only by
    /// [`Session::ack`](super::Session::ack).
    pub manual_ack: bool,
    /// Bridge mode (bit 0x80 of the protocol level).
    pub bridge: bool,
    /// Beyond Paho (default false): remember what `subscribe` asked for and
    /// ask again when a CONNACK says the broker has no session for us (see
    /// [`SubscriptionBook`](super::SubscriptionBook)).
    pub auto_resubscribe: bool,
    /// Beyond Paho: the memory the client may hold for each part (see
    /// [`MemoryBudget`]).
    pub memory_budget: MemoryBudget,
    /// Beyond Paho: the largest packet accepted from the broker, fixed
    /// header included (default
    /// [`DEFAULT_MAX_INBOUND_PACKET_SIZE`], 16 MiB), at every protocol
    /// level; MQTT 5 CONNECTs announce it as Maximum Packet Size. A
    /// Maximum Packet Size in `connect_properties` takes its place.
    pub max_inbound_packet_size: u32,
}

impl SessionConfig {
    /// Paho's defaults for `protocol` and `client_id`.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<String>) -> SessionConfig {
        SessionConfig {
            protocol,
            client_id: client_id.into(),
            clean_session: true,
            clean_start: CleanStart::default(),
            keepalive: 60,
            connack_timeout: Some(Duration::from_secs(5)),
            username: None,
            password: None,
            will: None,
            connect_properties: Properties::new(PacketType::Connect),
            max_inflight: 20,
            max_queued: 0,
            queue_full_policy: QueueFullPolicy::Refuse,
            queue_qos0_offline: false,
            manual_ack: false,
            bridge: false,
            auto_resubscribe: false,
            memory_budget: MemoryBudget::default(),
            max_inbound_packet_size: DEFAULT_MAX_INBOUND_PACKET_SIZE,
        }
    }
}
