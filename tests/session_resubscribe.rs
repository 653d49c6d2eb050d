//! Automatic resubscribe on the sans-IO session core, byte-exact: what is
//! sent again after which CONNACK, and what the book forgets.

mod common;

use std::time::Instant;

use common::hex;
use mqtt_tether::packet::{
    PacketType, Properties, Property, ProtocolVersion, QoS, SubscribeOptions,
};
use mqtt_tether::session::{Event, Session, SessionConfig};
use mqtt_tether::ErrorCode;

fn take(s: &mut Session, now: Instant) -> Vec<u8> {
    let out = s.pending().to_vec();
    s.written(out.len(), now);
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn session(protocol: ProtocolVersion, auto: bool) -> Session {
    let mut c = SessionConfig::new(protocol, "r");
    c.clean_session = protocol == ProtocolVersion::MQTTv5;
    c.auto_resubscribe = auto;
    Session::new(c)
}

/// Opens a connection and feeds `connack`; returns what the session then
/// wants to write.
fn reconnect(s: &mut Session, connack: &str, t: Instant) -> Vec<u8> {
    s.connection_closed();
    s.start_connection(t);
    take(s, t);
    s.received(&hex(connack), t).unwrap();
    events(s);
    take(s, t)
}

fn sub(filter: &str, qos: QoS) -> (String, SubscribeOptions) {
    (filter.to_string(), SubscribeOptions::new(qos))
}

fn no_props() -> Properties {
    Properties::new(PacketType::Subscribe)
}

#[test]
fn off_by_default_nothing_is_sent_again() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv311, false);
    assert!(reconnect(&mut s, "20 02 00 00", t).is_empty());
    assert_eq!(
        s.subscribe(vec![sub("a/b", QoS::AtLeastOnce)], no_props())
            .1,
        Some(1)
    );
    assert!(reconnect(&mut s, "20 02 00 00", t).is_empty());
    assert!(s.subscriptions().is_empty());
}

#[test]
fn a_lost_session_gets_every_filter_again_and_a_kept_one_nothing() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv311, true);
    reconnect(&mut s, "20 02 00 00", t);
    let _ = s.subscribe(
        vec![sub("a/b", QoS::AtLeastOnce), sub("c", QoS::AtMostOnce)],
        no_props(),
    );
    assert_eq!(
        take(&mut s, t),
        hex("82 0c 00 01 00 03 61 2f 62 01 00 01 63 00")
    );
    s.received(&hex("90 04 00 01 01 00"), t).unwrap();
    events(&mut s);
    // session_present 0: both filters, one SUBSCRIBE, a fresh id.
    assert_eq!(
        reconnect(&mut s, "20 02 00 00", t),
        hex("82 0c 00 02 00 03 61 2f 62 01 00 01 63 00")
    );
    // Its SUBACK reaches on_subscribe like any other.
    s.received(&hex("90 04 00 02 01 00"), t).unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Subscribed { mid: 2, .. }]
    ));
    // session_present 1 and everything confirmed: nothing.
    assert!(reconnect(&mut s, "20 02 01 00", t).is_empty());
}

#[test]
fn a_subscribe_made_offline_is_sent_at_the_next_connack_whatever_the_session() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv311, true);
    assert_eq!(
        s.subscribe(vec![sub("x", QoS::ExactlyOnce)], no_props()),
        (ErrorCode::NoConn, None),
        "Paho's rc"
    );
    assert_eq!(
        reconnect(&mut s, "20 02 01 00", t),
        hex("82 06 00 01 00 01 78 02")
    );
    // Lost with the connection before its SUBACK: sent again even though
    // the broker says it kept the session.
    assert_eq!(
        reconnect(&mut s, "20 02 01 00", t),
        hex("82 06 00 02 00 01 78 02")
    );
}

#[test]
fn unsubscribed_and_refused_filters_are_forgotten() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv311, true);
    reconnect(&mut s, "20 02 00 00", t);
    let _ = s.subscribe(
        vec![
            sub("keep", QoS::AtMostOnce),
            sub("refused", QoS::AtMostOnce),
        ],
        no_props(),
    );
    let _ = s.subscribe(vec![sub("gone", QoS::AtMostOnce)], no_props());
    take(&mut s, t);
    s.received(&hex("90 04 00 01 00 80"), t).unwrap();
    let _ = s.unsubscribe(
        vec!["gone".to_string()],
        Properties::new(PacketType::Unsubscribe),
    );
    let filters: Vec<&str> = s.subscriptions().filters().map(|(f, _)| f).collect();
    assert_eq!(filters, ["keep"]);
    assert_eq!(
        reconnect(&mut s, "20 02 00 00", t),
        hex("82 09 00 04 00 04 6b 65 65 70 00")
    );
}

#[test]
fn asking_again_replaces_the_options_of_a_filter() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv311, true);
    let _ = s.subscribe(vec![sub("f", QoS::AtMostOnce)], no_props());
    let _ = s.subscribe(vec![sub("f", QoS::ExactlyOnce)], no_props());
    assert_eq!(s.subscriptions().len(), 1);
    assert_eq!(
        reconnect(&mut s, "20 02 00 00", t),
        hex("82 06 00 01 00 01 66 02")
    );
}

#[test]
fn mqtt5_subscriptions_keep_their_own_properties() {
    let t = Instant::now();
    let mut s = session(ProtocolVersion::MQTTv5, true);
    let with_id = |id: u32| {
        let mut p = Properties::new(PacketType::Subscribe);
        p.push(Property::SubscriptionIdentifier(id)).unwrap();
        p
    };
    let _ = s.subscribe(vec![sub("a", QoS::AtMostOnce)], with_id(1));
    let _ = s.subscribe(vec![sub("b", QoS::AtMostOnce)], with_id(2));
    let _ = s.subscribe(vec![sub("c", QoS::AtMostOnce)], with_id(1));
    // Two SUBSCRIBEs: a and c with identifier 1, b with identifier 2.
    assert_eq!(
        reconnect(&mut s, "20 03 00 00 00", t),
        hex("82 0d 00 01 02 0b 01 00 01 61 00 00 01 63 00 82 09 00 02 02 0b 02 00 01 62 00")
    );
}
