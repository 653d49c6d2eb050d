//! A port of Paho's `examples/client_pub-wait.py`: publish, then wait until
//! the broker has each message, with `MessageInfo::wait_for_publish`.
//!
//! ```text
//! cargo run --features testing --example paho_pub_wait -- [-h HOST] [-p PORT] [-t TOPIC] [-q QOS] [--count N]
//! ```
//!
//! Like the original, the network loop runs on its own thread
//! (`loop_start`), `on_connect` and `on_publish` print what happens, and the
//! main thread waits on each message's info. What differs:
//!
//! * the original publishes two messages at QoS 2 (keeping one result as a
//!   `(rc, mid)` tuple, which Rust has no use for); this one publishes
//!   `--count` messages (default 5) to `paho/test/pub-wait` (`-t`) at QoS 2
//!   (`-q`) and prints, for each, its mid, `is_published()` before and after
//!   the wait, and how long the wait took;
//! * `wait_for_publish` takes a timeout (10 s here) and returns an error
//!   instead of blocking for ever when a message cannot be delivered;
//! * without `-h` it starts the in-process test broker.

#[path = "common/paho.rs"]
mod paho;

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const USAGE: &str =
    "usage: paho_pub_wait [-h HOST] [-p PORT] [-t TOPIC] [-q QOS] [--count N]  (no -h: in-process broker)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| "paho/test/pub-wait".into());
    let qos = args.qos.unwrap_or(2);
    let count = args.count.unwrap_or(5);

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-pub-wait"),
            ..ClientOptions::default()
        },
    )?;
    let (connected_tx, connected_rx) = mpsc::channel();
    let connected_tx = Mutex::new(connected_tx);
    mqttc.on_connect(move |_, _, _, reason_code, _| {
        println!("reason_code: {reason_code}");
        let _ = connected_tx.lock().expect("not poisoned").send(());
    });
    mqttc.on_publish(|_, _, mid, reason_code, _| {
        println!("on_publish: mid {mid} ({reason_code})");
    });
    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(mqttc.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    // Paho's MessageInfo errors for a message published before the
    // connection is up (rc MQTT_ERR_NO_CONN), so wait for CONNACK first.
    connected_rx.recv_timeout(Duration::from_secs(10))?;

    for n in 1..=count {
        let info = mqttc.publish(&topic, format!("message {n}"), qos, false)?;
        println!(
            "publish mid {}: rc {:?}, is_published() = {}",
            info.mid(),
            info.rc(),
            info.is_published().unwrap_or(false)
        );
        let started = Instant::now();
        // A timeout returns Ok, as in Paho: is_published() tells.
        info.wait_for_publish(Some(Duration::from_secs(10)))?;
        let published = info.is_published()?;
        println!(
            "wait_for_publish mid {}: done in {} ms, is_published() = {published}",
            info.mid(),
            started.elapsed().as_millis(),
        );
        if !published {
            return Err(format!("mid {} was not published within 10 s", info.mid()).into());
        }
    }
    let _ = mqttc.disconnect();
    let _ = mqttc.loop_stop();
    println!("published {count} messages at QoS {qos}, each waited for");
    Ok(())
}
