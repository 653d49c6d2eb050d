//! Session edges: inbound QoS 2 state across a reconnect (reference §12.3:
//! a persistent session keeps a message held for PUBREL, so the PUBREL that
//! comes after the reconnect delivers it once; a clean session forgets it,
//! and the PUBREL is only completed), and nothing written after our
//! DISCONNECT.

mod common;

use std::time::Instant;

use common::hex;
use mqtt_tether::packet::{Packet, ProtocolVersion, Publish, QoS};
use mqtt_tether::session::{Event, Session, SessionConfig};

fn take(s: &mut Session, now: Instant) -> Vec<u8> {
    let out = s.pending().to_vec();
    s.written(out.len(), now);
    out
}

fn messages(s: &mut Session) -> usize {
    std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, Event::Message(_)))
        .count()
}

#[test]
fn a_held_inbound_qos2_message_survives_a_persistent_reconnect_only() {
    for clean in [false, true] {
        let t = Instant::now();
        let mut c = SessionConfig::new(ProtocolVersion::MQTTv311, "in-qos2");
        c.clean_session = clean;
        let mut s = Session::new(c);
        s.start_connection(t);
        take(&mut s, t);
        s.received(&hex("20 02 00 00"), t).unwrap();
        let publish = Packet::Publish(Publish::new("t", b"m".to_vec(), QoS::ExactlyOnce, 7))
            .to_bytes(ProtocolVersion::MQTTv311)
            .unwrap();
        s.received(&publish, t).unwrap();
        assert_eq!(take(&mut s, t), hex("50 02 00 07"));
        assert_eq!(messages(&mut s), 0, "held until PUBREL");

        s.connection_closed();
        s.start_connection(t);
        take(&mut s, t);
        let connack = if clean { "20 02 00 00" } else { "20 02 01 00" };
        s.received(&hex(connack), t).unwrap();
        s.received(&hex("62 02 00 07"), t).unwrap();
        assert_eq!(
            messages(&mut s),
            usize::from(!clean),
            "clean_session={clean}: delivered once only when the session persists"
        );
        // The client acknowledges a delivered message once on_message ran.
        if !clean {
            s.ack(7, QoS::ExactlyOnce);
        }
        assert_eq!(take(&mut s, t), hex("70 02 00 07"), "PUBREL completed");
    }
}

/// Nothing follows our DISCONNECT (found by the helpers' tests: disconnect()
/// from on_message used to send the message's PUBACK after it): the ack is
/// left out, and a QoS 0 publish after it fails.
#[test]
fn nothing_is_written_after_our_disconnect() {
    let t = Instant::now();
    let mut s = Session::new(SessionConfig::new(ProtocolVersion::MQTTv311, "last"));
    s.start_connection(t);
    take(&mut s, t);
    s.received(&hex("20 02 00 00"), t).unwrap();
    let publish = Packet::Publish(Publish::new("t", b"m".to_vec(), QoS::AtLeastOnce, 5))
        .to_bytes(ProtocolVersion::MQTTv311)
        .unwrap();
    s.received(&publish, t).unwrap();
    assert_eq!(messages(&mut s), 1);
    // on_message calls disconnect(); the automatic ack comes after it.
    let _ = s.disconnect(mqtt_tether::packet::Disconnect::default());
    s.ack(5, QoS::AtLeastOnce);
    let r = s.publish(Publish::new("t", b"late".to_vec(), QoS::AtMostOnce, 0));
    assert_eq!(take(&mut s, t), hex("e0 00"));
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| e == Event::Qos0Dropped { mid: r.mid }));
}

/// The `events` budget counts the bytes of the messages waiting for the
/// application (topic + payload + properties): added as a message is
/// queued, subtracted as it is taken, added back when taken events are put
/// back (`unpoll_events`), and the reading stops past the budget until half
/// of it is left. Inbound QoS 2 messages count against `inbound_qos2` until
/// their PUBREL moves them to the events.
#[test]
fn the_events_budget_counts_message_bytes_until_they_are_taken() {
    let t = Instant::now();
    let mut c = SessionConfig::new(ProtocolVersion::MQTTv311, "event-bytes");
    c.memory_budget.events = 2500;
    let mut s = Session::new(c);
    s.start_connection(t);
    take(&mut s, t);
    s.received(&hex("20 02 00 00"), t).unwrap();
    assert!(s.poll_event().is_some(), "the CONNACK");
    let publish = |qos, mid| {
        Packet::Publish(Publish::new("t", vec![0; 999], qos, mid))
            .to_bytes(ProtocolVersion::MQTTv311)
            .unwrap()
    };
    s.received(&publish(QoS::AtMostOnce, 0), t).unwrap();
    s.received(&publish(QoS::AtLeastOnce, 1), t).unwrap();
    assert_eq!(s.memory_use().events, 2000);
    assert!(!s.over_budget());
    s.received(&publish(QoS::ExactlyOnce, 2), t).unwrap();
    assert_eq!(
        (s.memory_use().events, s.memory_use().inbound_qos2),
        (2000, 1000)
    );
    s.received(&hex("62 02 00 02"), t).unwrap();
    assert_eq!(
        (s.memory_use().events, s.memory_use().inbound_qos2),
        (3000, 0)
    );
    assert!(s.over_budget(), "3000 bytes over a budget of 2500");
    let first = s.poll_event().unwrap();
    assert_eq!(s.memory_use().events, 2000);
    assert!(!s.over_budget() && !s.under_half_budget());
    let second = s.poll_event().unwrap();
    assert_eq!(s.memory_use().events, 1000);
    assert!(s.under_half_budget());
    s.unpoll_events([first, second].into_iter());
    assert_eq!(s.memory_use().events, 3000);
    assert_eq!(messages(&mut s), 3);
    assert_eq!(s.memory_use().events, 0);
}
