//! The network loops: `loop`, `loop_forever`, `loop_start`/`loop_stop`,
//! and the external event loop's `socket`, `loop_read`, `loop_write` and
//! `loop_misc`. All of them are the driver's; these are Paho's names and
//! documentation for them.

use std::sync::Arc;
use std::time::Duration;

use super::Client;
use crate::error::{Error, ErrorCode};

impl Client {
    /// `loop(timeout)`: one pass of the network loop; never reconnects.
    /// (`loop` is a Rust keyword: call it as `client.r#loop(...)` or
    /// [`Client::loop_once`].)
    ///
    /// One loop runs at a time, so callbacks never run on two threads at
    /// once: while another thread runs a loop (`loop_forever`, the
    /// `loop_start` thread, `loop`, an external loop's step), this returns
    /// `MQTT_ERR_INVAL` at once. From a callback, on the loop's own thread,
    /// it runs nested. The same holds for `loop_forever`, `loop_read`,
    /// `loop_write` and `loop_misc`.
    pub fn r#loop(&self, timeout: Duration) -> ErrorCode {
        self.loop_once(timeout)
    }

    /// Same as `Client::r#loop` (Paho's `loop`).
    pub fn loop_once(&self, timeout: Duration) -> ErrorCode {
        self.driver.loop_once(timeout)
    }

    /// `loop_forever(timeout, retry_first_connection)`: runs the network
    /// loop, reconnecting by itself, until `disconnect()` completes, the
    /// connection is lost with `reconnect_on_failure` off, or `loop_stop()`.
    /// A panic in a callback closes the connection and then continues
    /// unwinding out of this call.
    ///
    /// `Ok(MQTT_ERR_INVAL)` at once while another thread runs a loop (see
    /// [`Client::r#loop`](Client::loop)); Paho would run both.
    ///
    /// `timeout` is accepted so Paho calls port unchanged, but is not
    /// needed: the loop is woken by every event (bytes, a queued packet,
    /// `disconnect()`, `loop_stop()`) and by the keepalive deadline, so an
    /// idle connected client sleeps until its next PINGREQ (Paho wakes every
    /// `timeout` seconds).
    pub fn loop_forever(
        &self,
        timeout: Duration,
        retry_first_connection: bool,
    ) -> Result<ErrorCode, Error> {
        self.driver.loop_forever(timeout, retry_first_connection)
    }

    /// `loop_start()`: runs `loop_forever(retry_first_connection=True)` on a
    /// new thread. `MQTT_ERR_INVAL` if one is already running, or if
    /// another thread runs `loop_forever` or `loop`.
    pub fn loop_start(&self) -> ErrorCode {
        self.driver.loop_start()
    }

    /// `loop_stop()`: stops the `loop_start` thread once what was queued is
    /// written, and waits for it (unless called from it).
    /// `MQTT_ERR_INVAL` if no thread runs.
    ///
    /// It does not wait on the broker: a connect the thread has in progress
    /// is abandoned at once (its socket shut down from here, so the blocked
    /// handshake returns), a write the broker does not take is given up
    /// within a quarter of a second, and once asked to stop the loop
    /// delivers no further message, however fast the broker sends. So it
    /// returns within that, plus the callback that is running.
    ///
    /// Messages received and not yet delivered stay the session's, in
    /// order, and the next loop on this connection (`loop_start`,
    /// `loop_forever`, `loop`) delivers them first. If the connection
    /// closes (or is replaced) before that, they are dropped
    /// unacknowledged: a QoS 0 message is lost, as one still in the socket
    /// would be; a broker that keeps the session sends a QoS 1 message
    /// again, and a QoS 2 message is delivered at the PUBREL it sends
    /// again. Other events (acknowledgements of the application's own
    /// messages and subscriptions) are still delivered.
    pub fn loop_stop(&self) -> ErrorCode {
        self.driver.loop_stop()
    }

    /// `socket()`: the connection's socket, for an external event loop to
    /// watch: readable means call [`Client::loop_read`], writable (while
    /// [`Client::want_write`]) means call [`Client::loop_write`].
    ///
    /// Unless one of the client's own loops (`loop`, `loop_forever`,
    /// `loop_start`) has already read from this connection, asking for the
    /// socket hands it to the caller's event loop: it becomes non-blocking,
    /// and no reader thread will take its bytes, so its readiness is
    /// exact. (If a client loop runs later anyway, it takes the socket back.)
    pub fn socket(&self) -> Option<Arc<crate::transport::Socket>> {
        self.driver.socket()
    }

    /// `want_write()`: true when bytes wait to be written.
    pub fn want_write(&self) -> bool {
        self.driver.want_write()
    }

    /// `loop_read()`: handles what has arrived, without waiting.
    pub fn loop_read(&self) -> ErrorCode {
        self.driver.loop_read()
    }

    /// `loop_write()`: writes what is queued.
    pub fn loop_write(&self) -> ErrorCode {
        self.driver.loop_write()
    }

    /// `loop_misc()`: keepalive (call it about once a second).
    pub fn loop_misc(&self) -> ErrorCode {
        self.driver.loop_misc()
    }
}
