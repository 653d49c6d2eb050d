//! `MessageInfo`: the handle `publish` returns (Paho's `MQTTMessageInfo`).

use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{error_string, Error, ErrorCode};

/// What became of a published message: every [`MessageInfo`] ends in one
/// of the final outcomes, with the reason when it was not delivered (beyond
/// Paho, whose `MQTTMessageInfo` can stay unpublished forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Queued or in flight; QoS 1/2 messages stay here across disconnects
    /// until they are acknowledged.
    Pending,
    /// Delivered: written (QoS 0) or acknowledged by the broker (QoS 1/2).
    Published,
    /// Never queued: `max_queued_messages`, or all 65,535 message ids held
    /// (`MQTT_ERR_QUEUE_SIZE`).
    QueueFull,
    /// A QoS 0 message published without a connection (`MQTT_ERR_NO_CONN`).
    NotConnected,
    /// Never queued: larger than the broker's MQTT 5 Maximum Packet Size
    /// (`MQTT_ERR_PAYLOAD_SIZE`).
    TooLarge,
    /// A QoS 0 message whose connection ended before it was written
    /// (`MQTT_ERR_CONN_LOST`).
    ConnectionLost,
    /// `reinitialise()` emptied the queue before it was delivered.
    Reinitialised,
    /// `drop_out_messages()` removed it before it was delivered.
    Dropped,
}

#[derive(Debug)]
struct State {
    rc: ErrorCode,
    outcome: Outcome,
    published: bool,
    /// A QoS 1/2 message stored while offline: Paho reports `NoConn` but
    /// sends it after the next CONNACK; waiting for it is meaningful.
    stored: bool,
}

#[derive(Debug)]
pub(crate) struct InfoInner {
    mid: u16,
    state: Mutex<State>,
    changed: Condvar,
    /// The thread running the network loop when the message was published
    /// is checked at wait time through this.
    loop_thread: Arc<Mutex<Option<ThreadId>>>,
}

/// The result of [`Client::publish`](crate::Client::publish): its message id,
/// its return code, and a way to wait until it is delivered.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub(crate) inner: Arc<InfoInner>,
}

impl MessageInfo {
    pub(crate) fn new(
        mid: u16,
        rc: ErrorCode,
        stored: bool,
        loop_thread: Arc<Mutex<Option<ThreadId>>>,
    ) -> MessageInfo {
        MessageInfo {
            inner: Arc::new(InfoInner {
                mid,
                state: Mutex::new(State {
                    rc,
                    outcome: match rc {
                        ErrorCode::QueueSize => Outcome::QueueFull,
                        ErrorCode::NoConn if !stored => Outcome::NotConnected,
                        ErrorCode::PayloadSize => Outcome::TooLarge,
                        _ => Outcome::Pending,
                    },
                    published: false,
                    stored,
                }),
                changed: Condvar::new(),
                loop_thread,
            }),
        }
    }

    /// The message id.
    pub fn mid(&self) -> u16 {
        self.inner.mid
    }

    /// Paho's `rc`: `MQTT_ERR_SUCCESS`, or why the message was not (or not
    /// yet) sent.
    pub fn rc(&self) -> ErrorCode {
        self.inner.state.lock().rc
    }

    /// What became of the message so far.
    pub fn outcome(&self) -> Outcome {
        self.inner.state.lock().outcome
    }

    /// Ends the message with `outcome` and wakes waiters. A failure also
    /// sets Paho's rc (`MQTT_ERR_CONN_LOST`), so Paho-style checks fail too.
    pub(crate) fn complete(&self, outcome: Outcome) {
        let mut state = self.inner.state.lock();
        if outcome != Outcome::Published {
            state.rc = ErrorCode::ConnLost;
        }
        state.outcome = outcome;
        state.published = true;
        drop(state);
        self.inner.changed.notify_all();
    }

    fn check(&self) -> Result<(), Error> {
        let state = self.inner.state.lock();
        match state.rc {
            ErrorCode::QueueSize => Err(Error::Value(
                "Message is not queued due to ERR_QUEUE_SIZE".into(),
            )),
            ErrorCode::Success | ErrorCode::Again => Ok(()),
            // Stored while offline: it will go out after CONNACK, so it can
            // be waited for (Paho raises here although it delivers).
            ErrorCode::NoConn if state.stored => Ok(()),
            _ if state.outcome == Outcome::Reinitialised => Err(Error::Runtime(
                "Message publish failed: the client was reinitialised.".into(),
            )),
            _ if state.outcome == Outcome::Dropped => Err(Error::Runtime(
                "Message publish failed: dropped by drop_out_messages().".into(),
            )),
            rc => Err(Error::Runtime(format!(
                "Message publish failed: {}",
                error_string(rc)
            ))),
        }
    }

    /// True once the message is delivered: written for QoS 0, acknowledged
    /// for QoS 1 and 2. `false` means "not yet". Errors as in
    /// [`MessageInfo::wait_for_publish`].
    pub fn is_published(&self) -> Result<bool, Error> {
        self.check()?;
        let published = self.inner.state.lock().published;
        self.check()?;
        Ok(published)
    }

    /// Waits until the message is delivered, or `timeout` passes (`None`:
    /// no limit). A timeout returns `Ok(())`, as in Paho: check
    /// [`MessageInfo::is_published`].
    ///
    /// Errors with Paho's texts when the message was not queued or failed.
    /// Called on the network loop's own thread (from a callback) it returns
    /// an error at once instead of waiting for a loop that cannot run.
    pub fn wait_for_publish(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.check()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.inner.state.lock();
        if !state.published {
            let on_loop = *self.inner.loop_thread.lock() == Some(std::thread::current().id());
            if on_loop {
                return Err(Error::Runtime(
                    "wait_for_publish() called from the network loop thread would never return"
                        .into(),
                ));
            }
        }
        while !state.published {
            match deadline {
                Some(d) => {
                    if self.inner.changed.wait_until(&mut state, d).timed_out() {
                        break;
                    }
                }
                None => self.inner.changed.wait(&mut state),
            }
        }
        drop(state);
        self.check()
    }
}

impl std::fmt::Display for MessageInfo {
    /// What Paho 2.2's `str(info)` prints:
    /// `(<MQTTErrorCode.MQTT_ERR_SUCCESS: 0>, 1)`, the `(rc, mid)` tuple with
    /// the enum shown as Python shows it, so ported programs print the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rc = self.rc();
        write!(
            f,
            "(<MQTTErrorCode.{}: {}>, {})",
            rc.name(),
            i32::from(rc),
            self.mid()
        )
    }
}
