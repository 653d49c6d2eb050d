//! What a broker's CONNACK says it accepts (MQTT 5 §3.2.2.3), and the one
//! check every packet passes against it before it is put on the wire.
//!
//! Paho enforces none of these (reference §17.3): it sends what the broker
//! announced it cannot take, the broker disconnects, and after the
//! reconnect the same stored message goes again, for ever. Here a packet
//! the limits forbid is never sent: the call that asked for it gets a clear
//! return code, or the stored message ends with a stated outcome.
//!
//! A limit holds for the connection whose CONNACK announced it; the next
//! CONNACK replaces all of them. MQTT 3.1 and 3.1.1 brokers announce
//! nothing, so only the client's own limits apply there.

use std::fmt;

use crate::error::ErrorCode;
use crate::packet::{PacketType, Properties, QoS, ReasonCode, SubscribeOptions};

/// The limits one CONNACK announced. [`Default`] is what a CONNACK without
/// properties means: everything allowed, except topic aliases (a client
/// may send none unless the broker gives a Topic Alias Maximum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLimits {
    /// Receive Maximum: QoS 1/2 messages the broker takes in flight at once.
    pub receive_maximum: u16,
    /// Maximum Packet Size, in bytes, if the broker gave one.
    pub maximum_packet_size: Option<u32>,
    /// Maximum QoS of a PUBLISH the broker accepts.
    pub maximum_qos: QoS,
    /// Retain Available: whether a retained PUBLISH is accepted.
    pub retain_available: bool,
    /// Wildcard Subscription Available.
    pub wildcard_subscription_available: bool,
    /// Subscription Identifiers Available.
    pub subscription_identifiers_available: bool,
    /// Shared Subscription Available.
    pub shared_subscription_available: bool,
    /// Topic Alias Maximum: the highest alias the client may send (0: none).
    pub topic_alias_maximum: u16,
    /// Server Keep Alive, when the broker overrides the client's keepalive.
    pub server_keep_alive: Option<u16>,
    /// Assigned Client Identifier, when the client sent an empty one.
    pub assigned_client_identifier: Option<String>,
}

impl BrokerLimits {
    /// True when no limit can refuse a PUBLISH without a topic alias: what
    /// nearly every broker announces (and every MQTT 3 one), so the check
    /// on the hot path is a comparison or two.
    #[inline]
    pub fn takes_any_publish(&self) -> bool {
        self.maximum_packet_size.is_none()
            && self.maximum_qos == QoS::ExactlyOnce
            && self.retain_available
    }
}

impl Default for BrokerLimits {
    fn default() -> BrokerLimits {
        BrokerLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            topic_alias_maximum: 0,
            server_keep_alive: None,
            assigned_client_identifier: None,
        }
    }
}

impl BrokerLimits {
    /// The limits a CONNACK's properties announce (absent ones take their
    /// defaults from the specification).
    pub fn from_connack(p: &Properties) -> BrokerLimits {
        let flag = |v: Option<u8>| v != Some(0);
        BrokerLimits {
            // 0 is a protocol error a lenient client reads as "no room to
            // spare": one at a time rather than none ever.
            receive_maximum: p.receive_maximum().unwrap_or(u16::MAX).max(1),
            maximum_packet_size: p.maximum_packet_size(),
            maximum_qos: match p.maximum_qos() {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            },
            retain_available: flag(p.retain_available()),
            wildcard_subscription_available: flag(p.wildcard_subscription_available()),
            subscription_identifiers_available: flag(p.subscription_identifier_available()),
            shared_subscription_available: flag(p.shared_subscription_available()),
            topic_alias_maximum: p.topic_alias_maximum().unwrap_or(0),
            server_keep_alive: p.server_keep_alive(),
            assigned_client_identifier: p.assigned_client_identifier().map(str::to_owned),
        }
    }

    /// Whether a packet of `len` bytes fits the Maximum Packet Size.
    pub fn fits(&self, len: usize) -> bool {
        self.maximum_packet_size
            .is_none_or(|max| len as u64 <= u64::from(max))
    }

    fn size(&self, len: usize, what: &str) -> Result<(), Refusal> {
        match self.maximum_packet_size {
            Some(max) if len as u64 > u64::from(max) => Err(Refusal::new(
                0x95,
                ErrorCode::PayloadSize,
                format!(
                    "the {what} is {len} bytes, over the broker's Maximum Packet Size of {max}"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The check for a PUBLISH of `len` encoded bytes. `alias` is its Topic
    /// Alias, if any (whether the alias is known on this connection is the
    /// session's to check).
    #[inline]
    pub fn check_publish(
        &self,
        len: usize,
        qos: QoS,
        retain: bool,
        alias: Option<u16>,
    ) -> Result<(), Refusal> {
        if alias.is_none() && self.takes_any_publish() {
            return Ok(());
        }
        self.check_publish_limits(len, qos, retain, alias)
    }

    fn check_publish_limits(
        &self,
        len: usize,
        qos: QoS,
        retain: bool,
        alias: Option<u16>,
    ) -> Result<(), Refusal> {
        if qos > self.maximum_qos {
            return Err(Refusal::new(
                0x9B,
                ErrorCode::NotSupported,
                format!(
                    "QoS {} is over the broker's Maximum QoS of {}",
                    qos as u8, self.maximum_qos as u8
                ),
            ));
        }
        if retain && !self.retain_available {
            return Err(Refusal::new(
                0x9A,
                ErrorCode::NotSupported,
                "the broker announced Retain Available 0: it takes no retained message".into(),
            ));
        }
        if let Some(alias) = alias.filter(|a| *a > self.topic_alias_maximum) {
            return Err(Refusal::new(
                0x94,
                ErrorCode::NotSupported,
                format!(
                    "topic alias {alias} is over the broker's Topic Alias Maximum of {}",
                    self.topic_alias_maximum
                ),
            ));
        }
        self.size(len, "PUBLISH")
    }

    /// The check for a SUBSCRIBE of `len` encoded bytes carrying `filters`
    /// and `properties`.
    pub fn check_subscribe(
        &self,
        len: usize,
        filters: &[(String, SubscribeOptions)],
        properties: &Properties,
    ) -> Result<(), Refusal> {
        for (filter, _) in filters {
            self.check_filter(filter)?;
        }
        if !self.subscription_identifiers_available
            && properties.subscription_identifiers().next().is_some()
        {
            return Err(Refusal::new(
                0xA1,
                ErrorCode::NotSupported,
                "the broker announced Subscription Identifiers Available 0".into(),
            ));
        }
        self.size(len, "SUBSCRIBE")
    }

    /// The check of one subscription filter: wildcards and shared
    /// subscriptions where the broker announced it has none.
    pub fn check_filter(&self, filter: &str) -> Result<(), Refusal> {
        if !self.shared_subscription_available && filter.starts_with("$share/") {
            return Err(Refusal::new(
                0x9E,
                ErrorCode::NotSupported,
                format!("'{filter}' is a shared subscription; the broker announced Shared Subscription Available 0"),
            ));
        }
        if !self.wildcard_subscription_available && filter.contains(['+', '#']) {
            return Err(Refusal::new(
                0xA2,
                ErrorCode::NotSupported,
                format!("'{filter}' has a wildcard; the broker announced Wildcard Subscription Available 0"),
            ));
        }
        Ok(())
    }

    /// The check for an UNSUBSCRIBE of `len` encoded bytes.
    pub fn check_unsubscribe(&self, len: usize) -> Result<(), Refusal> {
        self.size(len, "UNSUBSCRIBE")
    }
}

/// Why a packet may not go to this broker: the reason code the broker
/// would have disconnected with, the return code the call gets, and a text
/// naming the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The MQTT 5 DISCONNECT reason code the broker would have sent
    /// (0x95 Packet too large, 0x9B QoS not supported, ...).
    pub reason_code: ReasonCode,
    /// The return code for the call: `MQTT_ERR_PAYLOAD_SIZE` for a size,
    /// `MQTT_ERR_NOT_SUPPORTED` for everything else.
    pub rc: ErrorCode,
    /// What was refused and which limit refused it.
    pub text: String,
}

impl Refusal {
    fn new(value: u8, rc: ErrorCode, text: String) -> Refusal {
        Refusal {
            reason_code: ReasonCode::from_value(PacketType::Disconnect, value)
                .unwrap_or_else(|_| ReasonCode::success(PacketType::Disconnect)),
            rc,
            text,
        }
    }

    /// The refusal of a topic alias the client has not set on this
    /// connection (the broker would read the empty topic as an error).
    pub fn unknown_alias(alias: u16) -> Refusal {
        Refusal::new(
            0x94,
            ErrorCode::NotSupported,
            format!("topic alias {alias} is not set on this connection and the topic is empty"),
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Property;

    fn connack(props: &[Property]) -> BrokerLimits {
        let mut p = Properties::new(PacketType::ConnAck);
        for prop in props {
            p.set(prop.clone()).unwrap();
        }
        BrokerLimits::from_connack(&p)
    }

    #[test]
    fn absent_properties_allow_everything_but_aliases() {
        let l = connack(&[]);
        assert_eq!(l, BrokerLimits::default());
        assert!(l
            .check_publish(1 << 20, QoS::ExactlyOnce, true, None)
            .is_ok());
        let alias = l.check_publish(10, QoS::AtMostOnce, false, Some(1));
        assert_eq!(alias.unwrap_err().reason_code.value(), 0x94);
    }

    #[test]
    fn each_limit_refuses_with_its_reason_and_rc() {
        let l = connack(&[
            Property::ReceiveMaximum(2),
            Property::MaximumPacketSize(256),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::TopicAliasMaximum(3),
            Property::WildcardSubscriptionAvailable(0),
            Property::SharedSubscriptionAvailable(0),
            Property::SubscriptionIdentifierAvailable(0),
        ]);
        assert_eq!(l.receive_maximum, 2);
        let refused = |r: Result<(), Refusal>| {
            let r = r.unwrap_err();
            (r.reason_code.value(), r.rc)
        };
        assert_eq!(
            refused(l.check_publish(10, QoS::ExactlyOnce, false, None)),
            (0x9B, ErrorCode::NotSupported)
        );
        assert_eq!(
            refused(l.check_publish(10, QoS::AtLeastOnce, true, None)),
            (0x9A, ErrorCode::NotSupported)
        );
        assert_eq!(
            refused(l.check_publish(10, QoS::AtLeastOnce, false, Some(4))),
            (0x94, ErrorCode::NotSupported)
        );
        assert_eq!(
            refused(l.check_publish(257, QoS::AtLeastOnce, false, Some(3))),
            (0x95, ErrorCode::PayloadSize)
        );
        assert!(l
            .check_publish(256, QoS::AtLeastOnce, false, Some(3))
            .is_ok());
        let props = Properties::new(PacketType::Subscribe);
        let sub = |f: &str| vec![(f.to_string(), SubscribeOptions::new(QoS::AtMostOnce))];
        assert_eq!(
            refused(l.check_subscribe(20, &sub("a/+"), &props)),
            (0xA2, ErrorCode::NotSupported)
        );
        assert_eq!(
            refused(l.check_subscribe(20, &sub("$share/g/a"), &props)),
            (0x9E, ErrorCode::NotSupported)
        );
        assert_eq!(
            refused(l.check_subscribe(300, &sub("a"), &props)),
            (0x95, ErrorCode::PayloadSize)
        );
        let mut with_id = Properties::new(PacketType::Subscribe);
        with_id.set(Property::SubscriptionIdentifier(7)).unwrap();
        assert_eq!(
            refused(l.check_subscribe(20, &sub("a"), &with_id)),
            (0xA1, ErrorCode::NotSupported)
        );
        let text = l
            .check_publish(300, QoS::AtMostOnce, false, None)
            .unwrap_err()
            .text;
        assert!(text.contains("Maximum Packet Size of 256"), "{text}");
    }
}
