//! A port of Paho's `examples/client_sub-multiple-callback.py`: one
//! subscription, with messages routed to different callbacks by topic
//! filter through `message_callback_add`, and `on_message` for the rest.
//!
//! ```text
//! cargo run --features testing --example paho_multiple_callbacks -- [-h HOST] [-p PORT] [--count N]
//! ```
//!
//! Like the original, messages matching `.../messages/#` print as
//! `MESSAGES: topic qos payload`, those matching `.../bytes/#` as
//! `BYTES: ...`, and everything else reaches `on_message`. What differs:
//!
//! * the topics are under `paho/multi/` instead of `$SYS/broker/`, which the
//!   in-process test broker does not publish; it subscribes to
//!   `paho/multi/#` in `on_connect`;
//! * `on_message` prints `ON_MESSAGE: ...` (the original prints the bare
//!   topic) so the three routes are told apart;
//! * `--count N` disconnects after N messages; without it, against a broker
//!   given with `-h`, it runs until Ctrl-C;
//! * without `-h` it starts the in-process test broker and a second client
//!   publishes one message for each route (`--count` defaults to 3 then).

#[path = "common/paho.rs"]
mod paho;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mqtt_tether::session::Message;
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const USAGE: &str =
    "usage: paho_multiple_callbacks [-h HOST] [-p PORT] [--count N]  (no -h: in-process broker)";

/// Prints one message with its route's label, then disconnects once
/// `count` messages have come (through any route).
fn handler(
    label: &'static str,
    received: Arc<AtomicUsize>,
    count: Option<usize>,
) -> impl Fn(&Client, &mqtt_tether::UserData, &Message) + Send + Sync + 'static {
    move |client, _, msg| {
        println!(
            "{label}: {} {} {}",
            msg.topic,
            msg.qos as u8,
            String::from_utf8_lossy(&msg.payload)
        );
        let n = received.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == count {
            println!("received {n} messages, disconnecting");
            let _ = client.disconnect();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let count = args.count.or(args.own_broker().then_some(3));

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-multiple-callbacks"),
            ..ClientOptions::default()
        },
    )?;
    let received = Arc::new(AtomicUsize::new(0));
    // Add message callbacks that will only trigger on a specific
    // subscription match.
    mqttc.message_callback_add(
        "paho/multi/messages/#",
        handler("MESSAGES", Arc::clone(&received), count),
    );
    mqttc.message_callback_add(
        "paho/multi/bytes/#",
        handler("BYTES", Arc::clone(&received), count),
    );
    mqttc.on_message(handler("ON_MESSAGE", Arc::clone(&received), count));
    mqttc.on_connect(|client, _, _, reason_code, _| {
        println!("reason_code: {reason_code}");
        let _ = client.subscribe("paho/multi/#", 0).expect("a valid filter");
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let ready_tx = Mutex::new(Some(ready_tx));
    mqttc.on_subscribe(move |_, _, mid, reason_codes, _| {
        println!("Subscribed: {mid} [{}]", reason_codes[0]);
        if let Some(tx) = ready_tx.lock().expect("not poisoned").take() {
            let _ = tx.send(());
        }
    });

    let feeder = args.own_broker().then(|| {
        let messages = [
            ("paho/multi/messages/received", "12"),
            ("paho/multi/bytes/received", "3456"),
            ("paho/multi/clients/connected", "2"),
        ]
        .iter()
        .map(|(t, p)| (t.to_string(), p.to_string(), 0))
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
