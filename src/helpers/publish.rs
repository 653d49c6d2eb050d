//! Paho's `paho.mqtt.publish`: publish one message ([`single`]) or several
//! ([`multiple`]) in one call, then disconnect cleanly.
//!
//! The messages go out one at a time, in order: the first when CONNACK
//! accepts the connection, each next one when the previous one is complete
//! (written for QoS 0, PUBACK for QoS 1, PUBCOMP for QoS 2), and DISCONNECT
//! after the last (`Client::disconnect_drain`, which then finds nothing
//! left to wait for). A lost connection is survived: `loop_forever`
//! reconnects (after Paho's reconnect delay, 1 s at first), the message in
//! flight is sent again (QoS 1/2 with DUP and the same message id, a QoS 0
//! one that never reached the socket anew), and the rest follow.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::fail;
use crate::client::{Client, IntoQos, MessageInfo, Outcome, UserData};
use crate::error::{Error, ValueReason};
use crate::packet::{Properties, ProtocolVersion, QoS};
use crate::topic::validate_topic_name;

/// One message for [`multiple`]: Paho's message dict (`{'topic', 'payload',
/// 'qos', 'retain', 'properties'}`) or tuple (`(topic, payload, qos,
/// retain)`, see the `From` implementation). Only the topic is required:
/// `Msg { topic: "a/b".into(), ..Msg::default() }` publishes an empty
/// payload at QoS 0, not retained, as Paho's `{'topic': 'a/b'}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg {
    /// The topic.
    pub topic: String,
    /// The payload (Paho's `None` and `""` are an empty one).
    pub payload: Vec<u8>,
    /// The QoS, 0 to 2.
    pub qos: i32,
    /// The RETAIN flag.
    pub retain: bool,
    /// MQTT 5 PUBLISH properties (Paho: the dict's `properties` key).
    /// Ignored before MQTT 5, as by `publish`.
    pub properties: Option<Properties>,
}

impl Msg {
    /// `{'topic': topic, 'payload': payload}`: QoS 0, not retained.
    pub fn new(topic: impl Into<String>, payload: impl AsRef<[u8]>) -> Msg {
        Msg {
            topic: topic.into(),
            payload: payload.as_ref().to_vec(),
            ..Msg::default()
        }
    }
}

impl<T: Into<String>, P: AsRef<[u8]>> From<(T, P, i32, bool)> for Msg {
    /// Paho's tuple form, `(topic, payload, qos, retain)`.
    fn from((topic, payload, qos, retain): (T, P, i32, bool)) -> Msg {
        Msg {
            topic: topic.into(),
            payload: payload.as_ref().to_vec(),
            qos,
            retain,
            properties: None,
        }
    }
}

impl<T: Into<String>, P: AsRef<[u8]>> From<(T, P, QoS, bool)> for Msg {
    /// The tuple form with a [`QoS`] (a received message's, say).
    fn from((topic, payload, qos, retain): (T, P, QoS, bool)) -> Msg {
        (topic, payload, i32::from(qos), retain).into()
    }
}

impl From<&Msg> for Msg {
    /// A copy, so that `multiple(&messages, ...)` works on a slice or a
    /// `Vec` that the caller keeps.
    fn from(msg: &Msg) -> Msg {
        msg.clone()
    }
}

/// The keyword arguments of Paho's `single` and `multiple`: the helpers'
/// shared [`Options`] (`clean_session`, which Paho's
/// publish helpers do not take, defaults to the client's own default).
pub use super::Options;

/// Paho's `publish.single(topic, payload, qos, retain, hostname, ...)`:
/// connects, publishes one message, waits until it is complete (written
/// for QoS 0, acknowledged for QoS 1 and 2) and disconnects.
///
/// The same as [`multiple`] with one message; see it for the errors.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use mqtt_tether::helpers::publish::{single, Options};
/// # let broker = mqtt_tether::testing::Broker::start().unwrap();
/// single(
///     "paho/test/topic",
///     "payload",
///     1,
///     false,
///     &Options {
///         hostname: "127.0.0.1".into(),
///         # port: broker.port(),
///         ..Options::default()
///     },
/// )?;
/// # }
/// # Ok::<(), mqtt_tether::Error>(())
/// ```
pub fn single(
    topic: &str,
    payload: impl AsRef<[u8]>,
    qos: impl IntoQos,
    retain: bool,
    options: &Options,
) -> Result<(), Error> {
    // Checked with the message, after its topic, as `publish` checks.
    multiple([(topic, payload, qos.paho_int(), retain)], options)
}

/// Paho's `publish.multiple(msgs, hostname, ...)`: connects, publishes the
/// messages one at a time in order (each after the previous one is
/// complete), then disconnects. It returns once the DISCONNECT is written.
///
/// `msgs` is anything that yields [`Msg`]s or `(topic, payload, qos,
/// retain)` tuples: an array, a `Vec`, a slice of `Msg` (`&msgs`), an
/// iterator.
///
/// Errors, with Paho's texts:
/// * no messages: `ValueError('msgs is empty')`;
/// * a message with a bad topic or QoS: the error `publish` would give
///   ("Invalid topic.", "Invalid QoS level.", ...). Unlike Paho, which
///   raises when that message's turn comes (after publishing the ones
///   before it), every message is checked before connecting, so nothing is
///   published;
/// * an `auth` without a username: [`Error::Key`]; a bad `will`, `tls` or
///   `proxy_args`: the error of `will_set`, `tls_set` or `proxy_set`;
/// * the connection cannot be made (DNS, TCP, TLS, proxy): that error, as
///   Paho lets `connect()` raise it;
/// * the broker refuses the connection: [`Error::ConnectionRefused`], whose
///   text is `connack_string(reason_code)` (Paho's `MQTTException`). Paho
///   raises it out of `on_connect` and leaves the socket to the garbage
///   collector; here the helper closes the connection and returns.
///
/// A connection lost on the way is not an error: the client reconnects by
/// itself and finishes the job. Unlike Paho, which also publishes the next
/// message from `on_connect` after a reconnect (so two are in flight and it
/// may disconnect while one is still unacknowledged), the message in flight
/// stays the only one until it is complete.
pub fn multiple<I>(msgs: I, options: &Options) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Into<Msg>,
{
    let queue: VecDeque<Msg> = msgs.into_iter().map(Into::into).collect();
    if queue.is_empty() {
        return Err(Error::Value(ValueReason::NoMessages));
    }
    for msg in &queue {
        check(msg, options.protocol)?;
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue,
            in_flight: None,
        }),
        error: Mutex::new(None),
    });
    let connection = options.connection(false);
    let client = connection.client(UserData::default(), |client| {
        let s = Arc::clone(&shared);
        client.on_connect(move |client, _, _, reason_code, _| {
            if reason_code.value() != 0 {
                fail(client, &s.error, Error::ConnectionRefused(*reason_code));
                return;
            }
            s.on_connect(client);
        });
        let s = Arc::clone(&shared);
        client.on_publish(move |client, _, mid, _, _| s.on_publish(client, mid));
    })?;
    let result = connection.run(&client);
    if let Some(error) = shared.error.lock().take() {
        return Err(error);
    }
    result.map(|_| ())
}

/// The checks `publish` makes on a message, made before connecting.
fn check(msg: &Msg, protocol: ProtocolVersion) -> Result<(), Error> {
    validate_topic_name(&msg.topic, protocol)?;
    let has_alias = protocol == ProtocolVersion::MQTTv5
        && msg
            .properties
            .as_ref()
            .is_some_and(|p| p.topic_alias().is_some());
    if msg.topic.is_empty() && !has_alias {
        return Err(Error::InvalidTopic);
    }
    u8::try_from(msg.qos)
        .ok()
        .and_then(QoS::from_u8)
        .ok_or(Error::InvalidQos)?;
    Ok(())
}

/// What the helper's callbacks share (Paho keeps the deque as the client's
/// userdata).
struct Shared {
    state: Mutex<State>,
    /// The first error a callback met (Paho raises it from the callback).
    error: Mutex<Option<Error>>,
}

struct State {
    /// Messages not published yet, in order.
    queue: VecDeque<Msg>,
    /// The one message published and not complete yet.
    in_flight: Option<(Msg, MessageInfo)>,
}

impl Shared {
    /// A CONNACK accepted the connection: the first message goes out; after
    /// a reconnect, the one in flight is left to the client, which sends a
    /// QoS 1/2 message again by itself, and a QoS 0 one that never reached
    /// the socket is published again.
    fn on_connect(&self, client: &Client) {
        let again = {
            let state = self.state.lock();
            match &state.in_flight {
                None => None,
                Some((_, info)) if info.outcome() == Outcome::Pending => return,
                Some((msg, _)) => Some(msg.clone()),
            }
        };
        match again {
            Some(msg) => self.send(client, msg),
            None => self.send_next(client),
        }
    }

    /// `on_publish`: the message in flight is complete; the next one goes
    /// out, or DISCONNECT when none is left.
    fn on_publish(&self, client: &Client, mid: u16) {
        {
            let mut state = self.state.lock();
            match &state.in_flight {
                Some((_, info)) if info.mid() == mid => state.in_flight = None,
                _ => return,
            }
        }
        self.send_next(client);
    }

    fn send_next(&self, client: &Client) {
        let next = self.state.lock().queue.pop_front();
        match next {
            Some(msg) => self.send(client, msg),
            None => {
                // Sent one at a time, everything is acknowledged by now:
                // the drain finds nothing left and disconnects. In a
                // callback it cannot wait, so were anything left it errs,
                // and a plain disconnect drops the rest, as Paho's does.
                if client.disconnect_drain(Some(Duration::ZERO)).is_err() {
                    let _ = client.disconnect();
                }
            }
        }
    }

    /// Publishes `msg` and makes it the message in flight. The state's lock
    /// is not held during `publish`.
    fn send(&self, client: &Client, msg: Msg) {
        let published = client.publish_with(
            &msg.topic,
            &msg.payload,
            msg.qos,
            msg.retain,
            msg.properties.clone(),
        );
        match published {
            Ok(info) => self.state.lock().in_flight = Some((msg, info)),
            Err(e) => fail(client, &self.error, e),
        }
    }
}
