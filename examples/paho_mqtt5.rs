//! MQTT 5 with properties and reason codes, after Paho's request/response
//! examples `examples/client_rpc_math.py` and `examples/server_rpc_math.py`
//! (one program here: both sides run in this process).
//!
//! ```text
//! cargo run --features testing --example paho_mqtt5 -- [-h HOST] [-p PORT]
//! ```
//!
//! A *responder* subscribes to `paho/rpc/add` with MQTT 5 subscription
//! options (QoS 1, no local). A *requester* connects with CONNECT
//! properties (a session expiry interval and a user property), subscribes to
//! its own reply topic and publishes a request `2 3` with a user property,
//! a message expiry interval, a response topic and correlation data. The
//! responder answers `5` on the response topic with the same correlation
//! data. The requester then unsubscribes and disconnects with a reason code.
//!
//! Every reason code is printed: CONNACK (`on_connect`), SUBACK
//! (`on_subscribe`), PUBACK (`on_publish`), UNSUBACK (`on_unsubscribe`) and
//! DISCONNECT (`on_disconnect`), with the properties that came along.
//!
//! What differs from Paho's pair: Paho's server runs for ever and its
//! client sends several calls on the command line's numbers; here one call
//! is made and the program ends. Properties are built with
//! `Properties::new(PacketType::...)` and `push(Property::...)` instead of
//! Paho's attribute assignment (`props.ResponseTopic = ...`). Without `-h`
//! it starts the in-process test broker.

#[path = "common/paho.rs"]
mod paho;

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use mqtt_tether::packet::SubscribeOptions;
use mqtt_tether::session::CleanStart;
use mqtt_tether::{
    CallbackAPIVersion, Client, ClientOptions, ConnectOptions, PacketType, Properties, Property,
    ProtocolVersion, QoS, ReasonCode,
};

const USAGE: &str = "usage: paho_mqtt5 [-h HOST] [-p PORT]  (no -h: in-process broker)";

const REQUEST_TOPIC: &str = "paho/rpc/add";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Properties as `name=value` pairs, for printing.
fn show(props: &Properties) -> String {
    let items: Vec<String> = props
        .iter()
        .map(|p| match p {
            Property::UserProperty(k, v) => format!("UserProperty=({k:?}, {v:?})"),
            Property::CorrelationData(d) => {
                format!("CorrelationData={:?}", String::from_utf8_lossy(&d))
            }
            other => format!("{other:?}"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn v5_client(name: &str) -> Res<Client> {
    Ok(Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: paho::client_id(name),
            protocol: ProtocolVersion::MQTTv5,
            ..ClientOptions::default()
        },
    )?)
}

/// A channel whose sender the callbacks share.
fn events() -> (
    Mutex<mpsc::Sender<&'static str>>,
    mpsc::Receiver<&'static str>,
) {
    let (tx, rx) = mpsc::channel();
    (Mutex::new(tx), rx)
}

fn wait_for(rx: &mpsc::Receiver<&'static str>, what: &str) -> Res<()> {
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(event) if event == what => return Ok(()),
            Ok(_) => {}
            Err(_) => return Err(format!("no {what} within 10 s").into()),
        }
    }
}

/// The server side: answers `a b` with `a+b` on the request's response
/// topic, with its correlation data.
fn start_responder(args: &paho::Args) -> Res<Client> {
    let responder = v5_client("paho-mqtt5-responder")?;
    let (tx, ready) = events();
    responder.on_connect(|client, _, _, reason_code, _| {
        println!("responder: CONNACK {reason_code}");
        let mut options = SubscribeOptions::new(QoS::AtLeastOnce);
        options.no_local = true;
        let _ = client
            .subscribe_with(vec![(REQUEST_TOPIC.to_string(), options)], None)
            .expect("a valid filter");
    });
    responder.on_subscribe(move |_, _, _, reason_codes, _| {
        println!("responder: SUBACK {}", reason_codes[0]);
        let _ = tx.lock().expect("not poisoned").send("subscribed");
    });
    responder.on_message(|client, _, msg| {
        let props = &msg.properties;
        println!(
            "responder: request {:?} with {}",
            String::from_utf8_lossy(&msg.payload),
            show(props)
        );
        let Some(response_topic) = props.response_topic() else {
            println!("responder: no response topic, nothing to answer");
            return;
        };
        let sum: i64 = String::from_utf8_lossy(&msg.payload)
            .split_whitespace()
            .filter_map(|n| n.parse::<i64>().ok())
            .sum();
        let mut reply = Properties::new(PacketType::Publish);
        if let Some(data) = props.correlation_data() {
            reply
                .push(Property::CorrelationData(data.to_vec()))
                .expect("allowed in PUBLISH");
        }
        reply
            .push(Property::UserProperty(
                "served-by".into(),
                "responder".into(),
            ))
            .expect("allowed in PUBLISH");
        let _ = client
            .publish_with(response_topic, sum.to_string(), 1, false, Some(reply))
            .expect("a valid reply");
    });
    assert_eq!(
        responder.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(responder.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    wait_for(&ready, "subscribed")?;
    Ok(responder)
}

fn main() -> Res<()> {
    let args = paho::Args::parse(USAGE);
    let responder = start_responder(&args)?;

    let requester = v5_client("paho-mqtt5-requester")?;
    let reply_topic = format!("paho/rpc/reply/{}", requester.client_id());
    let (tx, progress) = events();
    let tx = std::sync::Arc::new(tx);
    let (t, topic) = (tx.clone(), reply_topic.clone());
    requester.on_connect(move |client, _, flags, reason_code, props| {
        println!(
            "requester: CONNACK {reason_code} (value {}), session present {}, properties {}",
            reason_code.value(),
            flags.session_present,
            show(props)
        );
        let _ = client.subscribe(&topic, 1).expect("a valid filter");
        let _ = t.lock().expect("not poisoned").send("connected");
    });
    let t = tx.clone();
    requester.on_subscribe(move |_, _, mid, reason_codes, props| {
        let codes: Vec<String> = reason_codes
            .iter()
            .map(|rc| format!("{rc} ({})", rc.value()))
            .collect();
        println!(
            "requester: SUBACK mid {mid}: {} {}",
            codes.join(", "),
            show(props)
        );
        let _ = t.lock().expect("not poisoned").send("subscribed");
    });
    requester.on_publish(|_, _, mid, reason_code, props| {
        println!(
            "requester: PUBACK mid {mid}: {reason_code} (value {}) {}",
            reason_code.value(),
            show(props)
        );
    });
    let t = tx.clone();
    requester.on_message(move |_, _, msg| {
        println!(
            "requester: reply {:?} on {} with {}",
            String::from_utf8_lossy(&msg.payload),
            msg.topic,
            show(&msg.properties)
        );
        let matches = msg.properties.correlation_data() == Some(b"request-1".as_slice());
        println!("requester: correlation data matches the request: {matches}");
        let _ = t
            .lock()
            .expect("not poisoned")
            .send(if matches && msg.payload == b"5" {
                "answered"
            } else {
                "wrong answer"
            });
    });
    let t = tx.clone();
    requester.on_unsubscribe(move |_, _, mid, reason_codes, _| {
        let codes: Vec<String> = reason_codes.iter().map(|rc| rc.to_string()).collect();
        println!("requester: UNSUBACK mid {mid}: {}", codes.join(", "));
        let _ = t.lock().expect("not poisoned").send("unsubscribed");
    });
    requester.on_disconnect(|_, _, flags, reason_code, props| {
        println!(
            "requester: disconnected: {reason_code} (value {}), from the server: {}, {}",
            reason_code.value(),
            flags.is_disconnect_packet_from_server,
            show(props)
        );
    });

    // CONNECT properties: the session ends with the connection (expiry 0)
    // and a user property the broker may look at.
    let mut connect_props = Properties::new(PacketType::Connect);
    connect_props.push(Property::SessionExpiryInterval(0))?;
    connect_props.push(Property::UserProperty(
        "example".into(),
        "paho_mqtt5".into(),
    ))?;
    assert_eq!(
        requester.connect_with(
            &args.host,
            ConnectOptions {
                port: args.port,
                keepalive: 60,
                clean_start: CleanStart::Always,
                properties: Some(connect_props),
                ..ConnectOptions::default()
            },
        )?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(requester.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    wait_for(&progress, "subscribed")?;

    let mut request = Properties::new(PacketType::Publish);
    request.push(Property::UserProperty("operation".into(), "add".into()))?;
    request.push(Property::MessageExpiryInterval(30))?;
    request.push(Property::ResponseTopic(reply_topic.clone()))?;
    request.push(Property::CorrelationData(b"request-1".to_vec()))?;
    println!("requester: request \"2 3\" with {}", show(&request));
    let info = requester.publish_with(REQUEST_TOPIC, "2 3", 1, false, Some(request))?;
    info.wait_for_publish(Some(Duration::from_secs(10)))?;
    wait_for(&progress, "answered")?;

    let _ = requester.unsubscribe(&reply_topic)?;
    wait_for(&progress, "unsubscribed")?;
    let _ = requester.disconnect_with(
        Some(ReasonCode::new(
            PacketType::Disconnect,
            "Normal disconnection",
        )?),
        None,
    );
    let _ = requester.loop_stop();
    let _ = responder.disconnect();
    let _ = responder.loop_stop();
    println!("done: 2 + 3 = 5 came back with the request's correlation data");
    Ok(())
}
