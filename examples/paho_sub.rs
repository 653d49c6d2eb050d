//! A port of Paho's `examples/client_sub.py`: a subscriber that prints every
//! message it receives.
//!
//! ```text
//! cargo run --features testing --example paho_sub -- [-h HOST] [-p PORT] [-t FILTER] [-q QOS] [--count N]
//! ```
//!
//! Like the original, it prints the CONNACK's reason code, the SUBACK and
//! each message as `topic qos payload`, running the network loop with
//! `loop_forever`. What differs:
//!
//! * it subscribes in `on_connect` (the original subscribes once before the
//!   loop), so the subscription is made again after every reconnection;
//! * the filter is `paho/test/#` (`-t`), not `$SYS/#`, which the in-process
//!   test broker does not publish;
//! * `--count N` disconnects after N messages, which ends `loop_forever`;
//!   without it, against a broker given with `-h`, it runs until Ctrl-C;
//! * without `-h` it starts the in-process test broker, and a second client
//!   publishes three messages once the subscription is in place, so the
//!   example ends by itself (`--count` defaults to 3 then).

#[path = "common/paho.rs"]
mod paho;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const USAGE: &str =
    "usage: paho_sub [-h HOST] [-p PORT] [-t FILTER] [-q QOS] [--count N]  (no -h: in-process broker)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let filter = args.topic.clone().unwrap_or_else(|| "paho/test/#".into());
    let qos = args.qos.unwrap_or(1);
    // With its own broker the example feeds itself three messages.
    let count = args.count.or(args.own_broker().then_some(3));

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-sub"),
            ..ClientOptions::default()
        },
    )?;
    let sub_filter = filter.clone();
    mqttc.on_connect(move |client, _, _flags, reason_code, _| {
        println!("reason_code: {reason_code}");
        if !reason_code.is_failure() {
            let _ = client.subscribe(&sub_filter, qos).expect("a valid filter");
        }
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let ready_tx = Mutex::new(Some(ready_tx));
    mqttc.on_subscribe(move |_, _, mid, reason_codes, _| {
        let codes: Vec<String> = reason_codes.iter().map(|rc| rc.to_string()).collect();
        println!("Subscribed: {mid} [{}]", codes.join(", "));
        if let Some(tx) = ready_tx.lock().expect("not poisoned").take() {
            let _ = tx.send(());
        }
    });
    let received = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&received);
    mqttc.on_message(move |client, _, msg| {
        println!(
            "{} {} {}",
            msg.topic,
            msg.qos as u8,
            String::from_utf8_lossy(&msg.payload)
        );
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == count {
            println!("received {n} messages, disconnecting");
            let _ = client.disconnect();
        }
    });

    let feeder = args.own_broker().then(|| {
        let topic = filter.trim_end_matches('#').trim_end_matches('/');
        let topic = if topic.is_empty() { "paho/test" } else { topic };
        let messages = (1..=3)
            .map(|n| (format!("{topic}/{n}"), format!("hello {n}"), 1))
            .collect();
        paho::publish_when_ready(&args.host, args.port, ready_rx, messages)
    });

    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let _ = mqttc.loop_forever(Duration::from_secs(1), false)?;
    if let Some(feeder) = feeder {
        feeder.join().map_err(|_| "the publisher panicked")??;
    }
    println!(
        "done: {} messages received",
        received.load(Ordering::SeqCst)
    );
    Ok(())
}
