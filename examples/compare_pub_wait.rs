//! A line-by-line port of `tests/paho_compare/pub_wait.py`: publish three
//! messages at QoS 0, 1 and 2 and wait for each with `wait_for_publish`.
//!
//! ```text
//! cargo run --example compare_pub_wait -- HOST PORT CLIENT_ID
//! ```
//!
//! `tests/paho_compare.rs` runs this and the Python original against one
//! Mosquitto and compares what they print and what Mosquitto receives.
//! Python's `True`/`False` are printed as Python prints them ([`py`]).
//! Where the output differs, it is by design (see the comments) or listed in
//! the test's documentation.

use std::sync::{mpsc, Mutex};
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, client_id] = &args[..] else {
        return Err("usage: compare_pub_wait HOST PORT CLIENT_ID".into());
    };
    let port: u16 = port.parse()?;
    let topic = format!("compare/{client_id}/pub");

    let (connected_tx, connected) = mpsc::channel();
    let connected_tx = Mutex::new(connected_tx);
    // on_publish runs on the loop thread, at a moment that races with the
    // main thread's prints (for QoS 0, right after the write): record, print
    // at the end.
    type Published = Mutex<Vec<String>>;

    let mqttc = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: client_id.clone(),
            userdata: UserData::new(Published::default()),
            ..ClientOptions::default()
        },
    )?;
    mqttc.on_connect(move |_client, _userdata, flags, reason_code, properties| {
        println!(
            "on_connect: session_present={} reason_code={reason_code} ({}) properties_empty={}",
            py(flags.session_present),
            reason_code.value(),
            py(properties.is_empty())
        );
        let _ = connected_tx.lock().unwrap().send(());
    });
    mqttc.on_publish(|_client, userdata, mid, reason_code, properties| {
        let published = userdata.get::<Published>().expect("set in ClientOptions");
        published.lock().unwrap().push(format!(
            "on_publish: mid={mid} reason_code={reason_code} ({}) properties_empty={}",
            reason_code.value(),
            py(properties.is_empty())
        ));
    });
    mqttc.on_disconnect(|_client, _userdata, flags, reason_code, _properties| {
        println!(
            "on_disconnect: from_server={} reason_code={reason_code} ({})",
            py(flags.is_disconnect_packet_from_server),
            reason_code.value()
        );
    });

    let rc = mqttc.connect(host, port, 60)?;
    println!("connect: rc={}", i32::from(rc));
    assert_eq!(mqttc.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    connected
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no CONNACK within 10 s")?;

    for qos in [0, 1, 2] {
        let msg_info = mqttc.publish(&topic, format!("message at qos {qos}"), qos, false)?;
        // `str={msg_info}`: Display prints what Paho 2.2's str() does,
        // "(<MQTTErrorCode.MQTT_ERR_SUCCESS: 0>, 1)".
        println!(
            "publish qos {qos}: mid={} rc={} str={msg_info}",
            msg_info.mid(),
            i32::from(msg_info.rc())
        );
        msg_info.wait_for_publish(Some(Duration::from_secs(10)))?;
        println!(
            "wait_for_publish mid={}: is_published={}",
            msg_info.mid(),
            py(msg_info.is_published()?)
        );
    }

    // The rc is not printed: Paho's is 0 or 4 depending on a race of its
    // own (see pub_wait.py); ours is always 0 (MQTT_ERR_SUCCESS).
    let _ = mqttc.disconnect();
    let _ = mqttc.loop_stop();
    let userdata = mqttc.user_data_get();
    let published = userdata.get::<Published>().expect("set in ClientOptions");
    for line in published.lock().unwrap().iter() {
        println!("{line}");
    }
    println!("done");
    Ok(())
}
