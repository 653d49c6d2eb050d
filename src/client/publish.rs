//! Publishing and subscribing: `publish`, `subscribe`, `unsubscribe`,
//! `ack` and `drop_out_messages`.

use super::{qos_from, Client, MessageInfo};
use crate::error::{Error, ErrorCode};
use crate::packet::{PacketType, Properties, ProtocolVersion, PublishRef, SubscribeOptions};
use crate::session::Message;
use crate::topic::{validate_topic_filter, validate_topic_name};

impl Client {
    /// `publish(topic, payload, qos, retain)`: queues a message and returns
    /// its [`MessageInfo`]. The payload is anything that is bytes (`&str`,
    /// `String`, `&[u8]`, `Vec<u8>`); numbers are formatted by the caller
    /// (Paho's `42` is `42.to_string()`).
    ///
    /// Errors with Paho's texts for a bad topic or QoS; nothing is queued
    /// then. Without a connection, QoS 0 is dropped (`rc` is
    /// `MQTT_ERR_NO_CONN`), and QoS 1/2 is stored and sent after the next
    /// CONNACK.
    ///
    /// ```
    /// # use mqtt_tether::{CallbackAPIVersion, Client, ErrorCode, Outcome};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// // Not connected yet: a QoS 1 message waits in the outgoing store.
    /// let info = client.publish("sensors/temp", "21.5", 1, false)?;
    /// assert_eq!((info.mid(), info.rc()), (1, ErrorCode::NoConn));
    /// assert_eq!(info.outcome(), Outcome::Pending);
    /// assert_eq!(
    ///     client.publish("sensors/#", "x", 0, false).unwrap_err().to_string(),
    ///     "Publish topic cannot contain wildcards."
    /// );
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: i32,
        retain: bool,
    ) -> Result<MessageInfo, Error> {
        self.publish_with(topic, payload, qos, retain, None)
    }

    /// `publish(topic, payload, qos, retain, properties)` (MQTT 5).
    pub fn publish_with(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: i32,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<MessageInfo, Error> {
        let qos = qos_from(qos)?;
        let payload = payload.as_ref();
        // The checks need the protocol: they run in the driver's one core
        // lock for the whole publish.
        let completion = self.driver.publish(|session| {
            let protocol = session.config().protocol;
            let v5 = protocol == ProtocolVersion::MQTTv5;
            validate_topic_name(topic, protocol)?;
            // Properties exist from MQTT 5 on; before it Paho leaves them out.
            let properties = properties.filter(|_| v5);
            let has_alias = properties
                .as_ref()
                .is_some_and(|p| p.topic_alias().is_some());
            if topic.is_empty() && !has_alias {
                // MQTT 5 allows an empty topic only together with a topic alias.
                return Err(Error::InvalidTopic);
            }
            let props_len = properties.as_ref().map_or(0, |p| p.as_bytes().len());
            // The whole packet must fit the largest remaining length.
            if payload.len() + topic.len() + props_len + 16 > 268_435_455 {
                return Err(Error::Value("Payload too large.".into()));
            }
            let no_properties;
            let properties = match &properties {
                Some(p) => p,
                None => {
                    no_properties = Properties::new(PacketType::Publish);
                    &no_properties
                }
            };
            Ok(session.publish_ref(PublishRef {
                dup: false,
                qos,
                retain,
                topic,
                packet_id: 0,
                properties,
                payload,
            }))
        })?;
        Ok(MessageInfo::new(completion))
    }

    /// `subscribe(topic, qos)`: one filter. Returns `(rc, mid)`.
    pub fn subscribe(&self, topic: &str, qos: i32) -> Result<(ErrorCode, Option<u16>), Error> {
        self.subscribe_many(&[(topic, qos)])
    }

    /// `subscribe([(topic, qos), ...])`: several filters in one SUBSCRIBE.
    pub fn subscribe_many(
        &self,
        topics: &[(&str, i32)],
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        let mut filters = Vec::with_capacity(topics.len());
        for (topic, qos) in topics {
            let qos = qos_from(*qos)?;
            filters.push((topic.to_string(), SubscribeOptions::new(qos)));
        }
        self.subscribe_with(filters, None)
    }

    /// `subscribe(...)` with MQTT 5 subscription options and properties.
    pub fn subscribe_with(
        &self,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Option<Properties>,
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        if filters.is_empty() {
            return Err(Error::Value("Empty topic list".into()));
        }
        let v5 = self.protocol() == ProtocolVersion::MQTTv5;
        for (topic, _) in &filters {
            if topic.is_empty() && !v5 {
                return Err(Error::InvalidTopic);
            }
            validate_topic_filter(topic)?;
        }
        let properties = self.v5_only(properties, PacketType::Subscribe);
        Ok(self
            .driver
            .request(|session| session.subscribe(filters, properties)))
    }

    /// `unsubscribe(topic)`.
    pub fn unsubscribe(&self, topic: &str) -> Result<(ErrorCode, Option<u16>), Error> {
        self.unsubscribe_many(&[topic])
    }

    /// `unsubscribe([topic, ...])`.
    pub fn unsubscribe_many(&self, topics: &[&str]) -> Result<(ErrorCode, Option<u16>), Error> {
        self.unsubscribe_with(topics, None)
    }

    /// `unsubscribe(topics, properties)` (MQTT 5 properties).
    pub fn unsubscribe_with(
        &self,
        topics: &[&str],
        properties: Option<Properties>,
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        if topics.is_empty() {
            // Paho would send an UNSUBSCRIBE without filters, which MQTT
            // forbids (3.1.1 §3.10.3); refuse it instead.
            return Err(Error::Value(
                "No topic specified, or incorrect topic type.".into(),
            ));
        }
        if topics.iter().any(|t| t.is_empty()) {
            return Err(Error::InvalidTopic);
        }
        let filters = topics.iter().map(|t| t.to_string()).collect();
        let properties = self.v5_only(properties, PacketType::Unsubscribe);
        Ok(self
            .driver
            .request(|session| session.unsubscribe(filters, properties)))
    }

    /// `properties` for a packet of `packet_type`: an empty set when none
    /// were given, and also before MQTT 5, where Paho leaves them out.
    fn v5_only(&self, properties: Option<Properties>, packet_type: PacketType) -> Properties {
        let v5 = self.protocol() == ProtocolVersion::MQTTv5;
        properties
            .filter(|_| v5)
            .unwrap_or_else(|| Properties::new(packet_type))
    }

    /// `ack(mid, qos)`: with manual acks, acknowledges a received message
    /// (PUBACK for QoS 1, PUBCOMP for QoS 2). Without manual acks, does
    /// nothing.
    pub fn ack(&self, mid: u16, qos: i32) -> ErrorCode {
        let Ok(qos) = qos_from(qos) else {
            return ErrorCode::Success;
        };
        self.driver.ack(mid, qos);
        ErrorCode::Success
    }

    /// `drop_out_messages()` (Paho 2.2): empties the outgoing QoS 1/2 store
    /// and returns the messages it held, oldest first. Paho's intended use
    /// is inside `on_connect`, after a broker reboot forgot the topic aliases
    /// the stored messages use. Unlike Paho, each dropped message's
    /// [`MessageInfo`] ends with [`Outcome::Dropped`](super::Outcome::Dropped) instead of staying
    /// unpublished forever, and the in-flight window is emptied too.
    pub fn drop_out_messages(&self) -> Vec<Message> {
        self.driver.drop_out_messages()
    }
}
