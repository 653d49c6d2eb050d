//! What the session reports to the layer above (which turns events into
//! callbacks), and why it asks for a connection to be closed.

use super::Refusal;
use crate::error::ErrorCode;
use crate::packet::{Properties, Publish, QoS, ReasonCode};

/// A message received from the broker (Paho's `MQTTMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic (an MQTT 5 topic alias already resolved).
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Delivery QoS.
    pub qos: QoS,
    /// The RETAIN flag.
    pub retain: bool,
    /// The DUP flag (of the last copy received, for QoS 2).
    pub dup: bool,
    /// The packet id (0 for QoS 0).
    pub mid: u16,
    /// MQTT 5 PUBLISH properties.
    pub properties: Properties,
}

impl Message {
    /// The message a decoded PUBLISH carries, its topic as it stands (no
    /// alias resolved).
    pub(crate) fn from_publish(p: Publish) -> Message {
        Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            dup: p.dup,
            mid: p.packet_id,
            properties: p.properties,
        }
    }

    /// The bytes it holds for the memory budget: topic, payload and
    /// properties.
    pub fn weight(&self) -> usize {
        self.topic.len() + self.payload.len() + self.properties.as_bytes().len()
    }
}

/// Something the application hears about, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK arrived. A failure reason means the connection was refused;
    /// the session then also returns [`Close::Refused`].
    Connack {
        /// The session-present flag.
        session_present: bool,
        /// The reason code (MQTT 3 return codes mapped as Paho maps them).
        reason_code: ReasonCode,
        /// CONNACK properties (empty before MQTT 5).
        properties: Properties,
    },
    /// A message to deliver. For QoS 1/2, acknowledge it afterwards with
    /// [`Session::ack`](super::Session::ack) unless acks are manual.
    Message(Message),
    /// An outgoing message is complete: a QoS 0 PUBLISH was written, or the
    /// broker's PUBACK/PUBCOMP (or a failed MQTT 5 PUBREC) arrived. A
    /// failure reason code means it was not delivered: the broker's (of its
    /// PUBACK, PUBREC or PUBCOMP), or, for a message a limit the broker
    /// announced forbids, the DISCONNECT reason it would have sent.
    Published {
        /// The message id.
        mid: u16,
        /// The broker's reason code ("Success" for QoS 0).
        reason_code: ReasonCode,
        /// The acknowledgement's properties.
        properties: Properties,
    },
    /// A QoS 0 message that was queued but never written is dropped because
    /// a new connection starts (Paho sets its `rc` to `MQTT_ERR_CONN_LOST`).
    Qos0Dropped {
        /// The message id.
        mid: u16,
    },
    /// SUBACK.
    Subscribed {
        /// The message id.
        mid: u16,
        /// One reason code per filter.
        reason_codes: Vec<ReasonCode>,
        /// SUBACK properties.
        properties: Properties,
    },
    /// UNSUBACK.
    Unsubscribed {
        /// The message id.
        mid: u16,
        /// One reason code per filter (empty before MQTT 5).
        reason_codes: Vec<ReasonCode>,
        /// UNSUBACK properties.
        properties: Properties,
    },
    /// Our DISCONNECT has been completely written: close the connection.
    DisconnectWritten,
    /// A limit the broker announced refused something the application
    /// asked for: a publish, a subscription, or a stored message at the
    /// moment it was to go out. For `on_log` at WARNING; the call's return
    /// code or the message's `Published` event says the rest.
    Refused(Refusal),
    /// A packet was queued or received, described for `on_log` at DEBUG
    /// (only while [`Session::set_trace`](super::Session::set_trace) is on).
    Log(String),
}

/// Why the session asks for the connection to be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The broker broke the protocol or sent a malformed packet. At MQTT 5
    /// the session has queued a DISCONNECT saying why (MQTT 5 §4.13: 0x81
    /// Malformed Packet, 0x82 Protocol Error, 0x94 Topic Alias invalid,
    /// 0x95 Packet too large), with this text as its Reason String: write
    /// what is pending, as far as the socket takes it, then close.
    Protocol(String),
    /// CONNACK refused the connection; `rc` is what Paho's `on_disconnect`
    /// gets (`MQTT_ERR_CONN_REFUSED` for MQTT 3 codes 1 to 5, else
    /// `MQTT_ERR_PROTOCOL`).
    Refused {
        /// The error code for `on_disconnect`.
        rc: ErrorCode,
    },
    /// An MQTT 5 broker sent DISCONNECT.
    ServerDisconnect {
        /// Its reason code (0 when absent).
        reason_code: ReasonCode,
        /// Its properties.
        properties: Properties,
    },
    /// No CONNACK within the keepalive, no complete packet within a
    /// keepalive of our PINGREQ, or nothing at all for 1.5 × keepalive.
    Keepalive,
    /// The broker went past a limit of ours: our Receive Maximum (0x93),
    /// our Maximum Packet Size (0x95), or a part of the memory budget
    /// (0x97, Quota exceeded). At MQTT 5 the session has queued a
    /// DISCONNECT with `reason_code`, which the driver writes, if the
    /// socket takes it at once, before it closes.
    Exceeded {
        /// The DISCONNECT reason code.
        reason_code: ReasonCode,
        /// What happened, for the log.
        text: String,
    },
}

impl Close {
    /// The Paho error code for this close.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Close::Protocol(_) => ErrorCode::Protocol,
            Close::Refused { rc } => *rc,
            Close::ServerDisconnect { .. } => ErrorCode::Success,
            Close::Keepalive => ErrorCode::Keepalive,
            // Our own budget ran out: Paho's name for a full queue.
            Close::Exceeded { reason_code, .. } if reason_code.value() == 0x97 => {
                ErrorCode::QueueSize
            }
            // The broker ignored what our CONNECT announced.
            Close::Exceeded { .. } => ErrorCode::Protocol,
        }
    }

    /// The reason code this close gives `on_disconnect`, when it has its
    /// own (the one our DISCONNECT carried).
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            Close::Exceeded { reason_code, .. } => Some(*reason_code),
            _ => None,
        }
    }
}
