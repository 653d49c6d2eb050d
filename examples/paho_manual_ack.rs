//! Manual acknowledgement, Paho's `manual_ack=True` with `ack(mid, qos)`
//! (Paho 2.x has no example of its own for it; this one is written in the
//! spirit of `examples/client_sub.py`).
//!
//! ```text
//! cargo run --features testing --example paho_manual_ack -- [-h HOST] [-p PORT] [-t FILTER] [--count N]
//! ```
//!
//! The client turns automatic acknowledgement off with
//! `manual_ack_set(true)`. `on_message` does not process the message: it
//! hands it (with its mid and QoS) to a worker thread, which processes it
//! and only then calls `client.ack(mid, qos)`: a PUBACK for QoS 1, a PUBCOMP
//! for QoS 2. A message whose processing never finishes is never
//! acknowledged, so a broker keeping the session sends it again. Each step
//! prints a line: `received`, `processing`, `ack(mid, qos) -> rc`.
//!
//! It subscribes to `paho/ack/#` (`-t`) at QoS 2 in `on_connect` and
//! disconnects after `--count N` messages. Without `-h` it starts the
//! in-process test broker and a second client publishes one message at QoS
//! 1 and one at QoS 2 (`--count` defaults to 2 then); against a broker
//! given with `-h` and without `--count` it runs until Ctrl-C.

#[path = "common/paho.rs"]
mod paho;

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const USAGE: &str =
    "usage: paho_manual_ack [-h HOST] [-p PORT] [-t FILTER] [--count N]  (no -h: in-process broker)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let filter = args.topic.clone().unwrap_or_else(|| "paho/ack/#".into());
    let count = args.count.or(args.own_broker().then_some(2));

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id("paho-manual-ack"),
            ..ClientOptions::default()
        },
    )?;
    mqttc.manual_ack_set(true);

    let sub_filter = filter.clone();
    mqttc.on_connect(move |client, _, _, reason_code, _| {
        println!("reason_code: {reason_code}");
        let _ = client.subscribe(&sub_filter, 2).expect("a valid filter");
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let ready_tx = Mutex::new(Some(ready_tx));
    mqttc.on_subscribe(move |_, _, mid, reason_codes, _| {
        println!("Subscribed: {mid} [{}]", reason_codes[0]);
        if let Some(tx) = ready_tx.lock().expect("not poisoned").take() {
            let _ = tx.send(());
        }
    });
    // on_message only queues the work; the acknowledgement waits for it.
    let (work_tx, work_rx) = mpsc::channel::<(u16, i32, String, Vec<u8>)>();
    let work_tx = Mutex::new(work_tx);
    mqttc.on_message(move |_, _, msg| {
        println!(
            "received mid {} at QoS {} on {}, not acknowledged yet",
            msg.mid, msg.qos as u8, msg.topic
        );
        let _ = work_tx.lock().expect("not poisoned").send((
            msg.mid,
            msg.qos as i32,
            msg.topic.clone(),
            msg.payload.clone(),
        ));
    });

    let worker_client = mqttc.clone();
    let worker = std::thread::spawn(move || {
        let mut done = 0;
        while let Ok((mid, qos, topic, payload)) = work_rx.recv() {
            println!(
                "processing mid {mid}: {topic} {}",
                String::from_utf8_lossy(&payload)
            );
            std::thread::sleep(Duration::from_millis(100)); // the "work"
            let rc = worker_client.ack(mid, qos);
            println!("ack({mid}, {qos}) -> {rc:?}");
            done += 1;
            if Some(done) == count {
                println!("processed {done} messages, disconnecting");
                let _ = worker_client.disconnect();
                break;
            }
        }
        done
    });

    let feeder = args.own_broker().then(|| {
        let base = filter.trim_end_matches('#').trim_end_matches('/');
        let base = if base.is_empty() { "paho/ack" } else { base };
        let messages = vec![
            (format!("{base}/one"), "at least once".to_string(), 1),
            (format!("{base}/two"), "exactly once".to_string(), 2),
        ];
        paho::publish_when_ready(&args.host, args.port, ready_rx, messages)
    });

    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let _ = mqttc.loop_forever(Duration::from_secs(1), false)?;
    let done = worker.join().map_err(|_| "the worker panicked")?;
    if let Some(feeder) = feeder {
        feeder.join().map_err(|_| "the publisher panicked")??;
    }
    println!("done: {done} messages processed and acknowledged");
    Ok(())
}
