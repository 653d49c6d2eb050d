//! Paho's `paho.mqtt.subscribe`: wait for a number of messages
//! ([`simple`]) or hand every message to a function until it disconnects
//! ([`callback`]).
//!
//! Each topic is subscribed from `on_connect`, each in its own SUBSCRIBE,
//! so the subscriptions are made again after every reconnect.

use std::sync::Arc;

use parking_lot::Mutex;

use super::fail;
use crate::client::{Client, IntoQos, UserData};
use crate::error::{Error, ValueReason};
use crate::packet::{ProtocolVersion, QoS};
use crate::session::Message;
use crate::topic::validate_topic_filter;

/// The keyword arguments of Paho's `simple` and `callback` (after `qos`,
/// `msg_count`, `retained` and `userdata`): the helpers' shared
/// [`Options`]. (Not to be confused with
/// [`SubscribeOptions`](crate::packet::SubscribeOptions), the MQTT 5
/// subscription options.)
pub use super::Options;

/// Paho's `subscribe.callback(callback, topics, qos, userdata, hostname,
/// ...)`: connects, subscribes to each of `topics` at `qos`, and calls
/// `callback(client, userdata, message)` for every message, on this
/// thread, until the callback calls `client.disconnect()`. Then it returns.
///
/// Paho's `topics` is a string or a list of strings; here it is always a
/// slice (`&["a/b"]` for one topic). Each topic gets its own SUBSCRIBE, from
/// `on_connect`, so the subscriptions are made again after a reconnect; a
/// lost connection is not an error (the client reconnects by itself).
///
/// A panic in `callback` closes the connection and continues out of this
/// function (Paho: an exception in the callback escapes `loop_forever`).
///
/// Errors, with Paho's texts:
/// * `qos` outside 0 to 2: `ValueError('qos must be in the range 0-2')`;
/// * an invalid filter: the error `subscribe` would give ("Invalid
///   subscription filter."). Checked before connecting (Paho raises it from
///   `on_connect`);
/// * an `auth` without a username: [`Error::Key`]; a bad `will`, `tls`,
///   `proxy_args` or `client_id` (empty with `clean_session` false): the
///   client's error for it;
/// * the connection cannot be made (DNS, TCP, TLS, proxy): that error;
/// * the broker refuses the connection: [`Error::ConnectionRefused`], whose
///   text is `connack_string(reason_code)` (Paho's `MQTTException`).
pub fn callback<F>(
    callback: F,
    topics: &[&str],
    qos: impl IntoQos,
    userdata: UserData,
    options: &Options,
) -> Result<(), Error>
where
    F: Fn(&Client, &UserData, &Message) + Send + Sync + 'static,
{
    run(
        move |client, userdata, message| {
            callback(client, userdata, message);
            // As in Paho, the acknowledgement follows the callback, and a
            // callback that disconnected has sent the last packet: Paho
            // never writes what is queued behind its DISCONNECT.
            if client.is_connected() {
                ack(client, message);
            }
        },
        topics,
        qos,
        userdata,
        options,
    )
}

/// Acknowledges a received QoS 1 or 2 message (the helpers' clients ack
/// manually, so that nothing is sent after their DISCONNECT).
fn ack(client: &Client, message: &Message) {
    if message.qos != QoS::AtMostOnce {
        // Always MQTT_ERR_SUCCESS (a manual-ack client acknowledges or
        // has nothing to acknowledge).
        let _ = client.ack(message.mid, message.qos);
    }
}

/// Both functions: Paho's `callback` with `on_message` as the client's
/// message callback.
fn run(
    on_message: impl Fn(&Client, &UserData, &Message) + Send + Sync + 'static,
    topics: &[&str],
    qos: impl IntoQos,
    userdata: UserData,
    options: &Options,
) -> Result<(), Error> {
    let qos = qos
        .into_qos()
        .map_err(|_| Error::Value(ValueReason::HelperQos))?;
    let v5 = options.protocol == ProtocolVersion::MQTTv5;
    for topic in topics {
        if topic.is_empty() && !v5 {
            return Err(Error::InvalidTopic);
        }
        validate_topic_filter(topic)?;
    }
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    let error = Arc::new(Mutex::new(None));
    let connection = options.connection(true);
    let client = connection.client(userdata, |client| {
        let e = Arc::clone(&error);
        client.on_connect(move |client, _, _, reason_code, _| {
            if reason_code.value() != 0 {
                fail(client, &e, Error::ConnectionRefused(*reason_code));
                return;
            }
            for topic in &topics {
                if let Err(err) = client.subscribe(topic, qos) {
                    fail(client, &e, err);
                    return;
                }
            }
        });
        client.on_message(on_message);
    })?;
    let result = connection.run(&client);
    if let Some(error) = error.lock().take() {
        return Err(error);
    }
    result.map(|_| ())
}

/// Paho's `subscribe.simple(topics, qos, msg_count, retained, hostname,
/// ...)`: connects, subscribes to each of `topics` at `qos`, waits for
/// `msg_count` messages, disconnects and returns them in the order they
/// arrived.
///
/// With `retained` false, messages with the RETAIN flag set (stale values
/// the broker keeps for the topic) are skipped and not counted.
///
/// Paho returns a single `MQTTMessage` when `msg_count` is 1 and a list
/// otherwise; this function always returns a `Vec` (of one message when
/// `msg_count` is 1).
///
/// Errors: `msg_count` 0 is `ValueError('msg_count must be > 0')`; the
/// rest as for [`callback`]. `clean_session` is ignored with MQTT 5, as in
/// Paho.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use mqtt_tether::helpers::{publish, subscribe};
/// # let broker = mqtt_tether::testing::Broker::start().unwrap();
/// # let retained = publish::Options {
/// #     hostname: "127.0.0.1".into(),
/// #     port: broker.port(),
/// #     ..publish::Options::default()
/// # };
/// # publish::single("paho/test/topic", "kept", 1, true, &retained)?;
/// // Waits for one message (here the retained one the broker keeps).
/// let messages = subscribe::simple(
///     &["paho/test/#"],
///     0,
///     1,
///     true,
///     &subscribe::Options {
///         hostname: "127.0.0.1".into(),
///         # port: broker.port(),
///         ..subscribe::Options::default()
///     },
/// )?;
/// assert_eq!(messages[0].payload, b"kept");
/// # }
/// # Ok::<(), mqtt_tether::Error>(())
/// ```
pub fn simple(
    topics: &[&str],
    qos: impl IntoQos,
    msg_count: usize,
    retained: bool,
    options: &Options,
) -> Result<Vec<Message>, Error> {
    if msg_count < 1 {
        return Err(Error::Value(ValueReason::MsgCount));
    }
    let collected = Arc::new(Mutex::new(Vec::with_capacity(msg_count)));
    let c = Arc::clone(&collected);
    let on_message = move |client: &Client, _: &UserData, message: &Message| {
        let mut messages = c.lock();
        if messages.len() == msg_count {
            // DISCONNECT is queued: nothing more goes out.
            return;
        }
        // Acknowledged before a DISCONNECT can be queued (Paho never
        // acknowledges the last message).
        ack(client, message);
        // Stale retained messages are skipped when `retained` is false.
        if message.retain && !retained {
            return;
        }
        messages.push(message.clone());
        if messages.len() == msg_count {
            drop(messages);
            // Called from on_message, so the connection is up.
            let _ = client.disconnect();
        }
    };
    run(on_message, topics, qos, UserData::default(), options)?;
    let messages = std::mem::take(&mut *collected.lock());
    Ok(messages)
}
