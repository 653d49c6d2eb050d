//! A client connected to a `ScriptedBroker`, for tests that script the
//! broker's side byte by byte.

use std::time::{Duration, Instant};

use mqtt_tether::testing::{ScriptedBroker, ScriptedConnection};
use mqtt_tether::Client;

use super::hex;

const WAIT: Duration = Duration::from_secs(5);

/// Connects `c` to `broker` (MQTT 3.1.1), starts its loop, and accepts the
/// connection with CONNACK 0.
pub fn connected(c: &Client, broker: &ScriptedBroker) -> ScriptedConnection {
    assert_eq!(
        c.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    accept(c, broker)
}

/// Accepts `c`'s next connection with an MQTT 3.1.1 CONNACK 0, and waits
/// until the client has processed it.
pub fn accept(c: &Client, broker: &ScriptedBroker) -> ScriptedConnection {
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    let t = Instant::now();
    while !c.is_connected() {
        assert!(t.elapsed() < WAIT, "no CONNACK processed");
        std::thread::sleep(Duration::from_millis(5));
    }
    conn
}
