//! A client whose callbacks keep a `WeakClient` stops when the application
//! drops its last handle: its threads end and its sockets close. Alone in
//! its test binary, because it counts the process's threads and file
//! descriptors.
#![cfg(all(feature = "testing", target_os = "linux"))]

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::clients::client;
use mqtt_tether::testing::{Broker, BrokerEvent, CloseReason};
use mqtt_tether::ErrorCode;

const CLIENTS: usize = 100;
const WAIT: Duration = Duration::from_secs(10);

/// How long the dropped clients' threads and sockets may take to go.
const STOP_BOUND: Duration = Duration::from_secs(2);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// This process's threads called `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn dropping_the_last_handle_stops_clients_whose_callbacks_hold_a_weak_client() {
    let broker = Broker::start().unwrap();
    let baseline = (threads(), fds());
    let (tx, upgraded) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let c = client(&format!("weak-{i}"));
            let (tx, weak) = (tx.clone(), c.downgrade());
            c.on_message(move |_, _, _| {
                // A handle beyond the callback's own `&Client` argument.
                if let Some(me) = weak.upgrade() {
                    let _ = tx.send(me.client_id());
                }
            });
            assert_eq!(
                c.connect("127.0.0.1", broker.port(), 60).unwrap(),
                mqtt_tether::MQTT_ERR_SUCCESS
            );
            let _ = c.subscribe("all", 0).unwrap();
            assert_eq!(c.loop_start(), ErrorCode::Success);
            c
        })
        .collect();
    let t = Instant::now();
    while broker.connected_clients().len() < CLIENTS {
        assert!(t.elapsed() < WAIT, "not all connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Every subscription is in place once its SUBACK has gone out.
    for i in 0..CLIENTS {
        let id = format!("weak-{i}");
        broker
            .wait_for_event("a SUBACK", |e| {
                matches!(e, BrokerEvent::PacketOut { client_id, packet, .. }
                    if *client_id == id && matches!(packet, mqtt_tether::packet::Packet::SubAck(_)))
            })
            .unwrap();
    }
    let _ = clients[0].publish("all", "x", 0, false).unwrap();
    let mut seen: Vec<String> = (0..CLIENTS)
        .map(|_| upgraded.recv_timeout(WAIT).expect("a callback's upgrade"))
        .collect();
    seen.sort();
    let mut ids: Vec<String> = (0..CLIENTS).map(|i| format!("weak-{i}")).collect();
    ids.sort();
    assert_eq!(seen, ids, "each callback upgraded its own client");
    assert!(threads() >= baseline.0 + CLIENTS, "a loop each");
    // On Linux the loop waits for its socket itself: one thread per
    // client, no reader thread (`mqtt-tether-read-<id>`, which the kernel
    // cuts to 15 bytes).
    assert_eq!(threads_named("mqtt-tether-wea"), CLIENTS, "a loop each");
    assert_eq!(threads_named("mqtt-tether-rea"), 0, "no reader threads");
    drop(clients);
    let t = Instant::now();
    while (threads(), fds()) != baseline || !broker.connected_clients().is_empty() {
        assert!(
            t.elapsed() < STOP_BOUND,
            "{} ms after the drop: {} threads and {} fds (baseline {} and {}), {} still connected",
            t.elapsed().as_millis(),
            threads(),
            fds(),
            baseline.0,
            baseline.1,
            broker.connected_clients().len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let closed = broker
        .events()
        .into_iter()
        .filter(|e| {
            matches!(e, BrokerEvent::Closed { client_id, reason: CloseReason::PeerClosed, .. }
                if client_id.starts_with("weak-"))
        })
        .count();
    assert_eq!(closed, CLIENTS, "the broker saw each client close");
}
