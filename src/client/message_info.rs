//! `MessageInfo`: the handle `publish` returns (Paho's `MQTTMessageInfo`),
//! over the driver's [`Completion`] of its message.

use std::time::{Duration, Instant};

use crate::driver::{Completion, Outcome};
use crate::error::{Error, ErrorCode, RuntimeReason, ValueReason};

/// The result of [`Client::publish`](crate::Client::publish): its message id,
/// its return code, and a way to wait until it is delivered. Dropping one
/// unseen is a warning (`#[must_use]`): its `rc` may say the message was
/// not queued.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # use mqtt_tether::{CallbackAPIVersion, Client};
/// # fn main() -> Result<(), mqtt_tether::Error> {
/// let client = Client::new(CallbackAPIVersion::VERSION2)?;
/// client.publish("a/b", "x", 0, false)?; // dropped unseen: warned
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a MessageInfo reports whether the message was queued (`rc`) and delivered (`wait_for_publish`)"]
pub struct MessageInfo {
    completion: Completion,
}

impl std::fmt::Debug for MessageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageInfo")
            .field("mid", &self.mid())
            .field("rc", &self.rc())
            .field("outcome", &self.outcome())
            .finish()
    }
}

impl MessageInfo {
    /// The handle of `completion`.
    #[inline]
    pub(crate) fn new(completion: Completion) -> MessageInfo {
        MessageInfo { completion }
    }

    /// The message id.
    pub fn mid(&self) -> u16 {
        self.completion.mid()
    }

    /// Paho's `rc`: `MQTT_ERR_SUCCESS`, or why the message was not (or not
    /// yet) sent.
    pub fn rc(&self) -> ErrorCode {
        self.completion.rc_state().rc
    }

    /// What became of the message so far.
    pub fn outcome(&self) -> Outcome {
        self.completion.state().outcome
    }

    fn check(&self) -> Result<(), Error> {
        let state = self.completion.rc_state();
        match (state.rc, state.outcome) {
            (_, Outcome::Refused(reason)) => {
                Err(Error::Runtime(RuntimeReason::PublishRefused(reason)))
            }
            (_, Outcome::Evicted) => Err(Error::Runtime(RuntimeReason::PublishEvicted)),
            (ErrorCode::QueueSize, _) => Err(Error::Value(ValueReason::NotQueued)),
            (ErrorCode::Success | ErrorCode::Again, _) => Ok(()),
            // Stored while offline: it will go out after CONNACK, so it can
            // be waited for (Paho raises here although it delivers).
            (ErrorCode::NoConn, _) if state.stored => Ok(()),
            (_, Outcome::Reinitialised) => Err(Error::Runtime(RuntimeReason::PublishReinitialised)),
            (_, Outcome::Dropped) => Err(Error::Runtime(RuntimeReason::PublishDropped)),
            (rc, Outcome::NotSupported(reason)) => Err(Error::Runtime(
                RuntimeReason::PublishNotSupported(rc, reason),
            )),
            (rc, _) => Err(Error::Runtime(RuntimeReason::PublishFailed(rc))),
        }
    }

    /// True once the message is delivered: written for QoS 0, acknowledged
    /// for QoS 1 and 2. `false` means "not yet". Errors as in
    /// [`MessageInfo::wait_for_publish`].
    pub fn is_published(&self) -> Result<bool, Error> {
        self.check()?;
        let published = self.completion.state().published;
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
    ///
    /// While it waits for a QoS 1/2 message, the calling thread reads the
    /// connection in the reader thread's place, so the acknowledgement wakes
    /// it directly (see the porting guide, §3.1).
    pub fn wait_for_publish(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.check()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if self.completion.state().published {
            return self.check();
        }
        // Nobody would complete it while this thread waits.
        if self.completion.on_loop_thread() {
            return Err(Error::Runtime(RuntimeReason::WaitOnLoopThread));
        }
        self.completion.wait(deadline);
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
