//! Publishing and subscribing: `publish`, `subscribe`, `unsubscribe`,
//! `ack` and `drop_out_messages`.

use std::time::{Duration, Instant};

use super::{Client, IntoQos, MessageInfo};
use crate::error::{Error, ErrorCode, ValueReason};
use crate::packet::{PacketType, Properties, ProtocolVersion, PublishRef, SubscribeOptions};
use crate::session::{Message, PublishResult, Session};
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
            publish_checked(session, topic, payload, qos, retain, properties.as_ref())
        })?;
        Ok(MessageInfo::new(completion))
    }

    /// Beyond Paho: [`Client::publish`], waiting for room when the client
    /// holds all it may, up to `timeout` (`None`: no limit).
    ///
    /// Paho's `publish` refuses a message with `MQTT_ERR_QUEUE_SIZE` when
    /// the outgoing store is full: all 65,535 message ids held by messages
    /// not yet acknowledged, `max_queued_messages` reached, or (QoS 1/2)
    /// the store's memory budget ([`MemoryBudget::store`](crate::MemoryBudget::store)), or (QoS 0)
    /// the bytes waiting for the socket at their budget. This call waits
    /// instead until acknowledgements make room, then queues the message
    /// as `publish` does, so a publisher faster than its broker is slowed
    /// to the broker's pace rather than failed. With room it returns at
    /// once, exactly as `publish`.
    ///
    /// Errors, with nothing queued:
    /// * what `publish` errs for (topic, QoS, size);
    /// * [`Error::QueueFull`] (with the reason, e.g.
    ///   [`StoreFull::Count`](crate::StoreFull::Count)) when `timeout`
    ///   passes without room, or at once when there is no connection and
    ///   no loop runs to make one (no room can come);
    /// * [`RuntimeReason::PublishWaitOnLoopThread`](crate::RuntimeReason::PublishWaitOnLoopThread)
    ///   at once when called on the network loop's thread (from a
    ///   callback) while the store is full: the acknowledgements that would
    ///   make room are read and delivered by that loop, so the wait would
    ///   never end (as `wait_for_publish` from a callback);
    /// * [`RuntimeReason::PublishWaitStopped`](crate::RuntimeReason::PublishWaitStopped)
    ///   when `disconnect()`, `loop_stop()` or `reinitialise()` is called
    ///   while it waits, or `disconnect()` was called before (no room comes
    ///   after a disconnect).
    ///
    /// It holds no lock while it waits: callbacks run, and other threads
    /// publish, meanwhile (who gets room first is not promised). Room
    /// comes from acknowledgements, so something must read the
    /// connection: a loop (`loop_start`, `loop_forever` on another thread),
    /// or, when none runs now, this caller itself, which reads the
    /// connection in the reader thread's place as `wait_for_publish` does
    /// (once a loop has run on this connection). With `on_publish` set, a
    /// message leaves the store only once `on_publish` has run for it, so
    /// a loop must run.
    ///
    /// ```no_run
    /// # use mqtt_tether::{CallbackAPIVersion, Client};
    /// # use std::time::Duration;
    /// let client = Client::new(CallbackAPIVersion::VERSION2)?;
    /// client.max_queued_messages_set(10)?;
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_start();
    /// for n in 0..1000 {
    ///     // At most 10 unacknowledged at any time; never QUEUE_SIZE.
    ///     client.publish_wait("counter", n.to_string(), 1, false, Some(Duration::from_secs(30)))?;
    /// }
    /// # Ok::<(), mqtt_tether::Error>(())
    /// ```
    pub fn publish_wait(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: impl IntoQos,
        retain: bool,
        timeout: Option<Duration>,
    ) -> Result<MessageInfo, Error> {
        self.publish_wait_with(topic, payload, qos, retain, None, timeout)
    }

    /// [`Client::publish_wait`] with MQTT 5 properties.
    pub fn publish_wait_with(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: impl IntoQos,
        retain: bool,
        properties: Option<Properties>,
        timeout: Option<Duration>,
    ) -> Result<MessageInfo, Error> {
        let qos = qos.into_qos()?;
        let payload = payload.as_ref();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let completion = self.driver.publish_wait(
            qos,
            |session| publish_checked(session, topic, payload, qos, retain, properties.as_ref()),
            deadline,
        )?;
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

/// Checks a message against the session's protocol and publishes it
/// (`publish`, under the driver's core lock).
fn publish_checked(
    session: &mut Session,
    topic: &str,
    payload: &[u8],
    // By path: imported, it would make the docs' explicit links to
    // `crate::QoS` redundant.
    qos: crate::packet::QoS,
    retain: bool,
    properties: Option<&Properties>,
) -> Result<PublishResult, Error> {
    let protocol = session.config().protocol;
    let v5 = protocol == ProtocolVersion::MQTTv5;
    validate_topic_name(topic, protocol)?;
    // Properties exist from MQTT 5 on; before it Paho leaves them out.
    let properties = properties.filter(|_| v5);
    let has_alias = properties.is_some_and(|p| p.topic_alias().is_some());
    if topic.is_empty() && !has_alias {
        // MQTT 5 allows an empty topic only together with a topic alias.
        return Err(Error::InvalidTopic);
    }
    let props_len = properties.map_or(0, |p| p.as_bytes().len());
    // The whole packet must fit the largest remaining length.
    if payload.len() + topic.len() + props_len + 16 > 268_435_455 {
        return Err(Error::Value(ValueReason::PayloadTooLarge));
    }
    let no_properties;
    let properties = match properties {
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
}
