//! A line-by-line port of `tests/paho_compare/session.py`: connect with
//! `clean_session=False`, subscribe, disconnect, reconnect: the second
//! CONNACK says the broker kept the session.
//!
//! ```text
//! cargo run --example compare_session -- HOST PORT CLIENT_ID
//! ```
//!
//! `tests/paho_compare.rs` compares this with the original.

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

/// Python's `str(bool)`.
fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, client_id] = &args[..] else {
        return Err("usage: compare_session HOST PORT CLIENT_ID".into());
    };
    let port: u16 = port.parse()?;

    // Paho's threading.Event()s become channels.
    let (connected_tx, connected) = mpsc::channel();
    let connected_tx = Mutex::new(connected_tx);
    let (subscribed_tx, subscribed) = mpsc::channel();
    let subscribed_tx = Mutex::new(subscribed_tx);

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: client_id.clone(),
            clean_session: Some(false),
            ..ClientOptions::default()
        },
    )?;
    mqttc.on_connect(move |_client, _userdata, flags, reason_code, _properties| {
        println!(
            "on_connect: session_present={} reason_code={reason_code}",
            py(flags.session_present)
        );
        let _ = connected_tx.lock().unwrap().send(());
    });
    mqttc.on_subscribe(
        move |_client, _userdata, mid, reason_code_list, _properties| {
            // Python prints the list of str(rc): ['Granted QoS 1'].
            let codes: Vec<String> = reason_code_list
                .iter()
                .map(|rc| format!("'{rc}'"))
                .collect();
            println!(
                "on_subscribe: mid={mid} reason_codes=[{}]",
                codes.join(", ")
            );
            let _ = subscribed_tx.lock().unwrap().send(());
        },
    );
    mqttc.on_disconnect(|_client, _userdata, _flags, reason_code, _properties| {
        println!("on_disconnect: reason_code={reason_code}");
    });

    for attempt in [1, 2] {
        // connected.clear()
        while connected.try_recv().is_ok() {}
        if attempt == 1 {
            assert_eq!(
                mqttc.connect(host, port, 60)?,
                mqtt_tether::MQTT_ERR_SUCCESS
            );
        } else {
            let rc = mqttc.reconnect()?;
            println!("reconnect: rc={}", i32::from(rc));
        }
        assert_eq!(mqttc.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
        connected
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "no CONNACK within 10 s")?;
        println!(
            "connection {attempt}: is_connected={}",
            py(mqttc.is_connected())
        );
        if attempt == 1 {
            let (result, mid) = mqttc.subscribe(&format!("compare/{client_id}/session"), 1)?;
            subscribed
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "no SUBACK within 10 s")?;
            // Printed after on_subscribe's line: printed at once, it would
            // race with the loop thread's.
            println!(
                "subscribe: result={} mid={}",
                i32::from(result),
                mid.map_or("None".to_string(), |m| m.to_string())
            );
        }
        let _ = mqttc.disconnect();
        let _ = mqttc.loop_stop();
        println!(
            "after disconnect {attempt}: is_connected={}",
            py(mqttc.is_connected())
        );
    }
    println!("done");
    Ok(())
}
