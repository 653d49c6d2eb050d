//! A port of Paho's `examples/client_session_present.py`: what
//! `flags.session_present` says on successive connections of one client id.
//!
//! ```text
//! cargo run --features testing --example paho_session_present -- [-h HOST] [-p PORT]
//! ```
//!
//! Like the original, it connects three times with the same client id, runs
//! `loop_forever` for each connection and prints `Session present` and the
//! reason code in `on_connect`: twice with `clean_session=False` (the second
//! time the broker has kept the session), and a third time with
//! `clean_session=True` (the session is gone). What differs:
//!
//! * between the first and the second connection, while the client is away,
//!   a second client publishes a QoS 1 message to the topic the first
//!   connection subscribed to; the second connection receives it (the
//!   original only looks at the flag);
//! * the client id is made unique per process (the original uses the fixed
//!   id `asdfj`);
//! * without `-h` it starts the in-process test broker, which keeps
//!   persistent sessions as a broker should.

#[path = "common/paho.rs"]
mod paho;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, UserData};

const USAGE: &str = "usage: paho_session_present [-h HOST] [-p PORT]  (no -h: in-process broker)";

const TOPIC: &str = "paho/session-present";

/// Which connection this is; the client's userdata, as in the original.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    First,
    Second,
    Third,
}

fn client(id: &str, clean_session: bool, phase: Phase) -> Result<Client, mqtt_tether::Error> {
    Client::with_options(
        CallbackAPIVersion::VERSION2,
        ClientOptions {
            client_id: id.to_string(),
            clean_session: Some(clean_session),
            userdata: UserData::new(phase),
            ..ClientOptions::default()
        },
    )
}

/// The callbacks of every connection: print, then end the connection (and
/// so `loop_forever`) once this phase has done its part.
fn set_callbacks(mqttc: &Client, received: &Arc<Mutex<Vec<String>>>) {
    mqttc.on_connect(|client, userdata, flags, reason_code, _| {
        let phase = *userdata.get::<Phase>().expect("a phase");
        match phase {
            Phase::First => println!("First connection:"),
            Phase::Second => println!("Second connection:"),
            Phase::Third => println!("Third connection (with clean session=True):"),
        }
        println!("    Session present: {}", flags.session_present);
        println!("    Connection result: {reason_code}");
        match phase {
            // A persistent subscription, kept by the broker while away.
            Phase::First => {
                let _ = client.subscribe(TOPIC, 1).expect("a valid filter");
            }
            // The message comes by itself; on_message disconnects.
            Phase::Second => {}
            Phase::Third => {
                let _ = client.disconnect();
            }
        }
    });
    mqttc.on_subscribe(|client, _, _, reason_codes, _| {
        println!("    Subscribed to {TOPIC}: {}", reason_codes[0]);
        let _ = client.disconnect();
    });
    let received = Arc::clone(received);
    mqttc.on_message(move |client, _, msg| {
        let payload = String::from_utf8_lossy(&msg.payload).into_owned();
        println!("    Received while away: {} {payload:?}", msg.topic);
        received.lock().expect("not poisoned").push(payload);
        let _ = client.disconnect();
    });
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = paho::Args::parse(USAGE);
    let id = paho::client_id("paho-session-present");
    let received = Arc::new(Mutex::new(Vec::new()));

    let mqttc = client(&id, false, Phase::First)?;
    set_callbacks(&mqttc, &received);
    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let _ = mqttc.loop_forever(Duration::from_secs(1), false)?;
    println!("Disconnected; the broker keeps the session");

    // While the client is away, another client publishes to its topic.
    let (ready_tx, ready_rx) = mpsc::channel();
    ready_tx.send(())?;
    paho::publish_when_ready(
        &args.host,
        args.port,
        ready_rx,
        vec![(TOPIC.into(), "published while away".into(), 1)],
    )
    .join()
    .map_err(|_| "the publisher panicked")??;

    mqttc.user_data_set(UserData::new(Phase::Second));
    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let _ = mqttc.loop_forever(Duration::from_secs(1), false)?;

    // A new client with the same id and a clean session.
    let mqttc = client(&id, true, Phase::Third)?;
    set_callbacks(&mqttc, &received);
    assert_eq!(
        mqttc.connect(&args.host, args.port, 60)?,
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    let _ = mqttc.loop_forever(Duration::from_secs(1), false)?;

    let received = received.lock().expect("not poisoned");
    if received.as_slice() != ["published while away"] {
        return Err(format!("expected the message published while away, got {received:?}").into());
    }
    println!("done: the kept session delivered the message published while away");
    Ok(())
}
