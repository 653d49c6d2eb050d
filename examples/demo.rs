//! The demo: a Paho-style subscriber and publisher, a network cut in the
//! middle, and nothing lost.
//!
//! It needs nothing installed: the broker is the test kit's in-process
//! broker, and the cut is made by the kit's fault proxy standing between the
//! subscriber and the broker. Run it with
//! `cargo run --features testing --example demo`.

use std::sync::mpsc;
use std::time::Duration;

use mqtt_tether::testing::{Broker, FaultProxy};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

const WAIT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::start()?;
    let proxy = FaultProxy::start(broker.addr().ok_or("the broker has no TCP address")?)?;
    println!(
        "broker on 127.0.0.1:{}, proxy on 127.0.0.1:{}",
        broker.port(),
        proxy.port()
    );

    // The subscriber, as a Paho program would write it: a persistent session,
    // subscribing in on_connect when the broker has no session for it.
    let sub = Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: "demo-subscriber".into(),
            clean_session: Some(false),
            ..ClientOptions::default()
        },
    )?;
    let (subscribed_tx, subscribed) = mpsc::channel();
    let (message_tx, messages) = mpsc::channel();
    sub.on_connect(|client, _userdata, flags, reason_code, _properties| {
        println!(
            "subscriber: connected ({reason_code}), session present: {}",
            flags.session_present
        );
        if !flags.session_present {
            client.subscribe("demo/#", 1).expect("a valid filter");
        }
    });
    sub.on_subscribe(move |_client, _userdata, mid, reason_codes, _properties| {
        println!("subscriber: subscribed (mid {mid}, {})", reason_codes[0]);
        let _ = subscribed_tx.send(());
    });
    sub.on_message(move |_client, _userdata, message| {
        println!(
            "subscriber: {} {:?} (QoS {}, dup {})",
            message.topic,
            String::from_utf8_lossy(&message.payload),
            message.qos as u8,
            message.dup
        );
        let _ = message_tx.send(message.topic.clone());
    });
    sub.on_disconnect(|_client, _userdata, _flags, reason_code, _properties| {
        if reason_code.is_failure() {
            println!("subscriber: connection lost ({reason_code}); reconnecting by itself");
        } else {
            println!("subscriber: disconnected ({reason_code})");
        }
    });
    sub.reconnect_delay_set(Duration::from_millis(200), Duration::from_secs(2));
    sub.connect("127.0.0.1", proxy.port(), 60)?;
    sub.loop_start();
    subscribed.recv_timeout(WAIT)?;

    let publisher = Client::new(CallbackAPIVersion::VERSION2)?;
    publisher.connect("127.0.0.1", broker.port(), 60)?;
    publisher.loop_start();
    for qos in 0..=2 {
        let info = publisher.publish("demo/live", format!("hello at QoS {qos}"), qos, false)?;
        info.wait_for_publish(Some(WAIT))?;
        messages.recv_timeout(WAIT)?;
    }

    println!("-- the network between subscriber and broker is cut --");
    proxy.cut_all();
    for n in 1..=3 {
        let info = publisher.publish("demo/while-away", format!("message {n}"), 1, false)?;
        info.wait_for_publish(Some(WAIT))?;
        println!(
            "publisher: message {n} delivered to the broker (mid {})",
            info.mid()
        );
    }
    // A message whose PUBACK the cut swallowed comes again with DUP set:
    // that is QoS 1 doing its job. Wait for the three sent during the cut.
    let mut arrived = 0;
    while arrived < 3 {
        if messages.recv_timeout(WAIT)? == "demo/while-away" {
            arrived += 1;
        }
    }
    println!("-- all 3 messages published during the cut arrived after the reconnect --");

    for client in [&sub, &publisher] {
        client.disconnect();
        client.loop_stop();
    }
    Ok(())
}
