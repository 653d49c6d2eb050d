//! Publishing and subscribing: `publish`, `subscribe`, `unsubscribe`,
//! `ack` and `drop_out_messages`.

use super::{Client, IntoQos, MessageInfo};
use crate::error::{Error, ErrorCode, ValueReason};
use crate::packet::{PacketType, Properties, ProtocolVersion, PublishRef, SubscribeOptions};
use crate::session::Message;
use crate::topic::{validate_topic_filter, validate_topic_name};

/// One filter of a SUBSCRIBE, as [`Client::subscribe_many`] and
/// [`Client::subscribe_with`] take it: `(topic, qos)` with Paho's integer
/// or a [`QoS`](crate::QoS), or `(topic, SubscribeOptions)`, by value or by reference;
/// the topic is anything string-like (`&str`, `String`).
pub trait Subscription {
    /// The filter and its options; [`Error::InvalidQos`] for an integer QoS
    /// outside 0 to 2.
    fn into_subscription(self) -> Result<(String, SubscribeOptions), Error>;
}

impl<T: Into<String>, Q: IntoQos> Subscription for (T, Q) {
    fn into_subscription(self) -> Result<(String, SubscribeOptions), Error> {
        let qos = self.1.into_qos()?;
        Ok((self.0.into(), SubscribeOptions::new(qos)))
    }
}

impl<T: Into<String>> Subscription for (T, SubscribeOptions) {
    fn into_subscription(self) -> Result<(String, SubscribeOptions), Error> {
        Ok((self.0.into(), self.1))
    }
}

impl<T: AsRef<str>, Q: IntoQos + Copy> Subscription for &(T, Q) {
    fn into_subscription(self) -> Result<(String, SubscribeOptions), Error> {
        (self.0.as_ref(), self.1).into_subscription()
    }
}

impl<T: AsRef<str>> Subscription for &(T, SubscribeOptions) {
    fn into_subscription(self) -> Result<(String, SubscribeOptions), Error> {
        Ok((self.0.as_ref().to_string(), self.1))
    }
}

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
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<MessageInfo, Error> {
        self.publish_with(topic, payload, qos, retain, None)
    }

    /// `publish(topic, payload, qos, retain, properties)` (MQTT 5).
    pub fn publish_with(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: impl IntoQos,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<MessageInfo, Error> {
        let qos = qos.into_qos()?;
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
                return Err(Error::Value(ValueReason::PayloadTooLarge));
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

    /// `subscribe(topic, qos)`: one filter, at a QoS given as Paho's
    /// integer or a [`QoS`](crate::QoS). Returns `(rc, mid)`.
    pub fn subscribe(
        &self,
        topic: &str,
        qos: impl IntoQos,
    ) -> Result<(ErrorCode, Option<u16>), Error> {
        self.subscribe_with([(topic, qos)], None)
    }

    /// `subscribe([(topic, qos), ...])`: several filters in one SUBSCRIBE.
    /// Each is a `(topic, qos)` or a `(topic, SubscribeOptions)` pair (see
    /// [`Subscription`]), owned or borrowed: `&[("a/#", 1)]`,
    /// `vec![(String::from("a/#"), QoS::AtLeastOnce)]`, an iterator.
    ///
    /// ```
    /// use mqtt_tether::{CallbackAPIVersion, Client, QoS, SubscribeOptions};
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.subscribe_many(&[("a/#", 1), ("b/#", 2)])?;
    /// let topics = vec![String::from("c/#"), String::from("d/#")];
    /// client.subscribe_many(topics.iter().map(|t| (t.as_str(), QoS::AtLeastOnce)))?;
    /// client.subscribe_many([("e/#", SubscribeOptions::new(QoS::ExactlyOnce))])?;
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn subscribe_many<I>(&self, topics: I) -> Result<(ErrorCode, Option<u16>), Error>
    where
        I: IntoIterator,
        I::Item: Subscription,
    {
        self.subscribe_with(topics, None)
    }

    /// `subscribe(...)` with MQTT 5 properties; each filter is a
    /// [`Subscription`] as in [`Client::subscribe_many`], so a
    /// `(topic, SubscribeOptions)` pair carries MQTT 5 subscription options.
    pub fn subscribe_with<I>(
        &self,
        filters: I,
        properties: Option<Properties>,
    ) -> Result<(ErrorCode, Option<u16>), Error>
    where
        I: IntoIterator,
        I::Item: Subscription,
    {
        let filters = filters
            .into_iter()
            .map(Subscription::into_subscription)
            .collect::<Result<Vec<_>, Error>>()?;
        if filters.is_empty() {
            return Err(Error::Value(ValueReason::EmptyTopicList));
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
            return Err(Error::Value(ValueReason::NoTopic));
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
    pub fn ack(&self, mid: u16, qos: impl IntoQos) -> ErrorCode {
        let Ok(qos) = qos.into_qos() else {
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
