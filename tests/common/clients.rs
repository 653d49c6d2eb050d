//! The clients the integration tests make: VERSION2 callbacks, Paho's
//! defaults otherwise.

use std::sync::mpsc;
use std::time::Duration;

use mqtt_tether::session::Message;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

/// How long [`connect`] and [`subscriber`] wait for the broker's answer.
const WAIT: Duration = Duration::from_secs(10);

/// A client with these options.
pub fn client_with(options: ClientOptions) -> Client {
    Client::with_options(CallbackAPIVersion::VERSION2, options).unwrap()
}

/// A client with this id.
pub fn client(id: &str) -> Client {
    client_with(ClientOptions {
        client_id: id.into(),
        ..ClientOptions::default()
    })
}

/// A client with this id that reconnects after 50 ms, doubling to 200 ms
/// (Paho's 1 s to 120 s would make fault tests slow).
pub fn fast_reconnecting_client(id: &str) -> Client {
    fast_reconnecting(client(id))
}

/// `c`, set to reconnect after 50 ms, doubling to 200 ms.
pub fn fast_reconnecting(c: Client) -> Client {
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(200));
    c
}

/// `c`'s connection callbacks, recorded in the order they ran as lines such
/// as `on_connect 135 Not authorized`, `on_connect_fail`,
/// `on_message t/x payload` and `on_disconnect 139 Server shutting down
/// (from the server)`, for the test thread to compare. `on_disconnect` also
/// calls `disconnect()`, which ends the automatic retries.
pub struct ConnectionEvents {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    disconnected: std::sync::mpsc::Receiver<()>,
}

impl ConnectionEvents {
    pub fn record(c: &Client) -> ConnectionEvents {
        use std::sync::{mpsc, Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        c.on_connect(move |_, _, _, rc, _| {
            s.lock()
                .unwrap()
                .push(format!("on_connect {} {}", rc.value(), rc.get_name()))
        });
        let s = Arc::clone(&seen);
        c.on_connect_fail(move |_, _| s.lock().unwrap().push("on_connect_fail".into()));
        let s = Arc::clone(&seen);
        c.on_message(move |_, _, m| {
            s.lock().unwrap().push(format!(
                "on_message {} {}",
                m.topic,
                String::from_utf8_lossy(&m.payload)
            ))
        });
        let (tx, disconnected) = mpsc::channel();
        let s = Arc::clone(&seen);
        c.on_disconnect(move |client, _, flags, rc, _| {
            let from = if flags.is_disconnect_packet_from_server {
                " (from the server)"
            } else {
                ""
            };
            s.lock().unwrap().push(format!(
                "on_disconnect {} {}{from}",
                rc.value(),
                rc.get_name()
            ));
            let _ = client.disconnect();
            let _ = tx.send(());
        });
        ConnectionEvents { seen, disconnected }
    }

    /// What was recorded so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits up to `limit` until `line` was recorded; fails with what was
    /// recorded if it is not.
    pub fn wait_for(&self, line: &str, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while !self.seen().iter().any(|l| l == line) {
            if std::time::Instant::now() >= deadline {
                panic!("no {line:?} within {limit:?}: {:?}", self.seen());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `limit` for the first `on_disconnect`; fails with what
    /// was recorded if none comes.
    pub fn wait_for_disconnect(&self, limit: Duration) {
        if self.disconnected.recv_timeout(limit).is_err() {
            panic!("no on_disconnect within {limit:?}: {:?}", self.seen());
        }
    }
}

/// Connects `c` to 127.0.0.1:`port` with `loop_start` and waits for the
/// CONNACK (replacing `on_connect`); returns its reason code value.
pub fn connect(c: &Client, port: u16) -> u8 {
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, _, _, rc, _| {
        let _ = tx.send(rc.value());
    });
    assert_eq!(
        c.connect("127.0.0.1", port, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    rx.recv_timeout(WAIT).expect("no CONNACK")
}

/// An MQTT 3.1.1 client `id`, connected to 127.0.0.1:`port` and subscribed
/// to `filter` at `qos` (SUBACK received); every message it gets arrives on
/// the receiver.
pub fn subscriber(
    id: &str,
    port: u16,
    filter: &str,
    qos: i32,
) -> (Client, mpsc::Receiver<Message>) {
    let c = client(id);
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| {
        let _ = tx.send(m.clone());
    });
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, _, _| {
        let _ = stx.send(());
    });
    assert_eq!(connect(&c, port), 0);
    let _ = c.subscribe(filter, qos).unwrap();
    srx.recv_timeout(WAIT).expect("no SUBACK");
    (c, rx)
}
