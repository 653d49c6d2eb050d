//! A line-by-line port of `tests/paho_compare/sub.py`: subscribe in
//! `on_connect`, print what arrives, disconnect after 4 messages.
//!
//! ```text
//! cargo run --example compare_sub -- HOST PORT CLIENT_ID
//! ```
//!
//! The messages come from the client itself, one at a time so that their
//! order is fixed: `on_connect` publishes a retained message (QoS 1) before
//! it subscribes, so the subscription delivers it; each message received
//! then publishes the next (QoS 0, then 2, then 1) until the fourth, which
//! disconnects. `tests/paho_compare.rs` compares this with the original.

use std::sync::Mutex;
use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, UserData};

/// Python's `str(bool)`.
fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The userdata: the messages received so far (Paho's list; only their
/// number is used).
type Received = Mutex<Vec<mqtt_tether::session::Message>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, client_id] = &args[..] else {
        return Err("usage: compare_sub HOST PORT CLIENT_ID".into());
    };
    let port: u16 = port.parse()?;
    let prefix = format!("compare/{client_id}");
    // (topic, payload, qos) published after the n-th message received.
    let chain: Vec<(String, &str, i32)> = vec![
        (format!("{prefix}/one"), "first", 0),
        (format!("{prefix}/two"), "second", 2),
        (format!("{prefix}/three"), "third", 1),
    ];
    let count = chain.len() + 1;

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: client_id.clone(),
            userdata: UserData::new(Received::default()),
            ..ClientOptions::default()
        },
    )?;
    let on_connect_prefix = prefix.clone();
    mqttc.on_connect(move |client, _userdata, flags, reason_code, _properties| {
        let prefix = &on_connect_prefix;
        println!(
            "on_connect: session_present={} reason_code={reason_code}",
            py(flags.session_present)
        );
        let msg_info = client
            .publish(&format!("{prefix}/retained"), "kept", 1, true)
            .expect("a valid topic");
        println!("publish retained: mid={}", msg_info.mid());
        let (result, mid) = client
            .subscribe_many(&[(&format!("{prefix}/#"), 2), (&format!("{prefix}/never"), 0)])
            .expect("valid filters");
        // Paho's mid is an int (None only when the subscribe failed).
        println!(
            "subscribe: result={} mid={}",
            i32::from(result),
            mid.map_or("None".to_string(), |m| m.to_string())
        );
    });
    mqttc.on_subscribe(|_client, _userdata, mid, reason_code_list, _properties| {
        let codes: Vec<String> = reason_code_list
            .iter()
            .map(|rc| format!("{rc} ({})", rc.value()))
            .collect();
        println!(
            "on_subscribe: mid={mid} reason_codes=[{}]",
            codes.join(", ")
        );
    });
    mqttc.on_message(move |client, userdata, message| {
        let received = userdata.get::<Received>().expect("set in ClientOptions");
        let n = {
            let mut received = received.lock().unwrap();
            received.push(message.clone());
            received.len()
        };
        println!(
            "on_message {n}: topic={} qos={} retain={} payload={}",
            message.topic,
            message.qos as i32,
            py(message.retain),
            String::from_utf8_lossy(&message.payload)
        );
        if n < count {
            let (topic, payload, qos) = &chain[n - 1];
            let msg_info = client
                .publish(topic, payload, *qos, false)
                .expect("a valid topic");
            println!("publish {payload}: mid={}", msg_info.mid());
        } else {
            println!("received {count} messages, disconnecting");
            let _ = client.disconnect();
        }
    });
    mqttc.on_disconnect(|_client, _userdata, _flags, reason_code, _properties| {
        println!("on_disconnect: reason_code={reason_code}");
    });

    assert_eq!(
        mqttc.connect(host, port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    // Paho's loop_forever() defaults: timeout 1 s, retry_first_connection
    // False.
    let rc = mqttc.loop_forever(Duration::from_secs(1), false)?;
    println!("loop_forever: rc={}", i32::from(rc));
    Ok(())
}
