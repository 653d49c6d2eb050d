//! A port of Paho's `examples/client_logger.py`: the client's log lines,
//! both through the standard logging facade (`enable_logger`) and through
//! the `on_log` callback.
//!
//! ```text
//! cargo run --features testing --example paho_logger -- [-h HOST] [-p PORT]
//! ```
//!
//! The original calls `logging.basicConfig(level=logging.DEBUG)` and
//! `enable_logger(logger)`, then subscribes to `$SYS/#` and loops for ever.
//! Here `enable_logger()` sends the lines to the `log` crate (target
//! `mqtt_tether`; Paho takes the logger as an argument), where a tiny
//! logger of this example prints them as
//! `log: LEVEL target: text`, and `on_log` prints them again as
//! `on_log: Level: text`. What differs:
//!
//! * both log every packet sent and received at DEBUG, but the wording of
//!   the lines differs (`Sending PUBLISH (d0, q1, r0, m3) "a/b", 5 bytes`),
//!   and no payload or password is ever shown. To show more than packets,
//!   the example (with its own broker) also stops the broker for a moment
//!   while connected: the lines about the lost connection, the failed
//!   attempts and the backoff waits follow, and then the reconnection;
//! * the `log` crate has no `basicConfig`; a real program would install
//!   `env_logger` or similar (the example keeps to the crate's own
//!   dependencies);
//! * it ends by itself instead of looping for ever.

#[path = "common/paho.rs"]
mod paho;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use mqtt_tether::testing::Restart;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const USAGE: &str = "usage: paho_logger [-h HOST] [-p PORT]  (no -h: in-process broker)";

/// Prints every record at DEBUG and above, like `basicConfig(level=DEBUG)`.
struct PrintLogger;

impl log::Log for PrintLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            println!(
                "log: {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: PrintLogger = PrintLogger;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&LOGGER).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Debug);
    let mut args = paho::Args::parse(USAGE);

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-logger"),
            ..ClientOptions::default()
        },
    )?;
    mqttc.enable_logger();
    mqttc.on_log(|_, _, level, text| println!("on_log: {level:?}: {text}"));
    mqttc.reconnect_delay_set(Duration::from_millis(100), Duration::from_millis(400));

    let (events_tx, events) = mpsc::channel::<String>();
    let tx = Mutex::new(events_tx.clone());
    mqttc.on_connect(move |client, _, _, reason_code, _| {
        println!("on_connect: {reason_code}");
        let _ = client.subscribe("paho/logger", 1).expect("a valid filter");
        let _ = tx.lock().expect("not poisoned").send("connected".into());
    });
    let tx = Mutex::new(events_tx.clone());
    mqttc.on_subscribe(move |_, _, _, _, _| {
        let _ = tx.lock().expect("not poisoned").send("subscribed".into());
    });
    mqttc.on_disconnect(|_, _, _, reason_code, _| println!("on_disconnect: {reason_code}"));
    let tx = Mutex::new(events_tx);
    mqttc.on_message(move |_, _, msg| {
        let payload = String::from_utf8_lossy(&msg.payload).into_owned();
        println!("on_message: {} {payload}", msg.topic);
        let _ = tx.lock().expect("not poisoned").send(payload);
    });
    let wait_for = |what: &str| -> Result<(), String> {
        loop {
            match events.recv_timeout(Duration::from_secs(10)) {
                Ok(event) if event == what => return Ok(()),
                Ok(_) => {}
                Err(_) => return Err(format!("no {what:?} within 10 s")),
            }
        }
    };

    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(mqttc.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    wait_for("subscribed")?;

    if let Some(broker) = args.broker.as_mut() {
        println!("== stopping the in-process broker for 0.5 s ==");
        broker.stop();
        std::thread::sleep(Duration::from_millis(500));
        broker.start_again(Restart::KeepSessions)?;
        println!("== the broker is back ==");
        wait_for("subscribed")?;
    }

    let _ = mqttc.publish("paho/logger", "hello, log", 1, false)?;
    wait_for("hello, log")?;
    let _ = mqttc.disconnect();
    let _ = mqttc.loop_stop();
    println!("done");
    Ok(())
}
