//! The table of byte-exact vectors, shared by the vector, malformed-input and
//! fuzz-seed tests. See `tests/codec_vectors.rs` for where the bytes come from.

use mqtt_tether::packet::ProtocolVersion::{self, MQTTv31, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;

pub struct Vector {
    pub name: &'static str,
    pub protocols: &'static [ProtocolVersion],
    pub hex: &'static str,
    pub packet: Packet,
}

pub const V3: &[ProtocolVersion] = &[MQTTv31, MQTTv311];
pub const ALL: &[ProtocolVersion] = &[MQTTv31, MQTTv311, MQTTv5];
pub const V31: &[ProtocolVersion] = &[MQTTv31];
pub const V311: &[ProtocolVersion] = &[MQTTv311];
pub const V5: &[ProtocolVersion] = &[MQTTv5];

fn props(packet_type: PacketType, items: Vec<Property>) -> Properties {
    let mut p = Properties::new(packet_type);
    for item in items {
        p.push(item).unwrap();
    }
    p
}

fn connect(protocol: ProtocolVersion, id: &str, keep_alive: u16, clean: bool) -> Connect {
    let mut c = Connect::new(protocol, id);
    c.keep_alive = keep_alive;
    c.clean_start = clean;
    c
}

fn publish(topic: &str, payload: &[u8], qos: QoS, id: u16, dup: bool, retain: bool) -> Publish {
    let mut p = Publish::new(topic, payload.to_vec(), qos, id);
    p.dup = dup;
    p.retain = retain;
    p
}

fn rc(t: PacketType, v: u8) -> ReasonCode {
    ReasonCode::from_value(t, v).unwrap()
}

fn ack(t: PacketType, id: u16, code: u8, properties: Vec<Property>) -> Ack {
    Ack {
        packet_id: id,
        reason_code: rc(t, code),
        properties: props(t, properties),
    }
}

fn user(k: &str, v: &str) -> Property {
    Property::UserProperty(k.into(), v.into())
}

pub fn vectors() -> Vec<Vector> {
    use PacketType as T;
    use Property as P;
    let mut v = Vec::new();
    let mut add = |name, protocols, hex, packet| {
        v.push(Vector {
            name,
            protocols,
            hex,
            packet,
        })
    };

    // ---- CONNECT ----
    add(
        "CONNECT 01-keepalive-pingreq k=4",
        V311,
        "10 20 00 04 4d 51 54 54 04 02 00 04 00 14 30 31 2d 6b 65 65 70 61 6c 69 76 65 2d 70 69 6e 67 72 65 71",
        Packet::Connect(connect(MQTTv311, "01-keepalive-pingreq", 4, true)),
    );
    add(
        "CONNECT 01-no-clean-session",
        V311,
        "10 1f 00 04 4d 51 54 54 04 00 00 3c 00 13 30 31 2d 6e 6f 2d 63 6c 65 61 6e 2d 73 65 73 73 69 6f 6e",
        Packet::Connect(connect(MQTTv311, "01-no-clean-session", 60, false)),
    );
    add(
        "CONNECT 01-unpwd-set",
        V311,
        "10 2a 00 04 4d 51 54 54 04 c2 00 3c 00 0c 30 31 2d 75 6e 70 77 64 2d 73 65 74 00 05 75 6e 61 6d 65 00 09 3b 27 5b 30 38 67 6e 3d 23",
        Packet::Connect(Connect {
            username: Some("uname".into()),
            password: Some(b";'[08gn=#".to_vec()),
            ..connect(MQTTv311, "01-unpwd-set", 60, true)
        }),
    );
    add(
        "CONNECT 01-unpwd-empty-set",
        V311,
        "10 1c 00 04 4d 51 54 54 04 c2 00 3c 00 0c 30 31 2d 75 6e 70 77 64 2d 73 65 74 00 00 00 00",
        Packet::Connect(Connect {
            username: Some(String::new()),
            password: Some(Vec::new()),
            ..connect(MQTTv311, "01-unpwd-set", 60, true)
        }),
    );
    add(
        "CONNECT 01-will-set",
        V311,
        "10 45 00 04 4d 51 54 54 04 2e 00 3c 00 0b 30 31 2d 77 69 6c 6c 2d 73 65 74 00 1e 74 6f 70 69 63 2f 6f 6e 2f 75 6e 65 78 70 65 63 74 65 64 2f 64 69 73 63 6f 6e 6e 65 63 74 00 0c 77 69 6c 6c 20 6d 65 73 73 61 67 65",
        Packet::Connect(Connect {
            will: Some(Will::new(
                "topic/on/unexpected/disconnect",
                b"will message".to_vec(),
                QoS::AtLeastOnce,
                true,
            )),
            ..connect(MQTTv311, "01-will-set", 60, true)
        }),
    );
    add(
        "CONNECT zero-length client id",
        V311,
        "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00",
        Packet::Connect(connect(MQTTv311, "", 60, true)),
    );
    add(
        "CONNECT bridge mode",
        V311,
        "10 0c 00 04 4d 51 54 54 84 02 00 3c 00 00",
        Packet::Connect(Connect {
            bridge: true,
            ..connect(MQTTv311, "", 60, true)
        }),
    );
    add(
        "CONNECT v3.1 01-con-discon-success",
        V31,
        "10 23 00 06 4d 51 49 73 64 70 03 02 00 3c 00 15 30 31 2d 63 6f 6e 2d 64 69 73 63 6f 6e 2d 73 75 63 63 65 73 73",
        Packet::Connect(connect(MQTTv31, "01-con-discon-success", 60, true)),
    );
    add(
        "CONNECT v5 client-id, no properties",
        V5,
        "10 16 00 04 4d 51 54 54 05 02 00 3c 00 00 09 63 6c 69 65 6e 74 2d 69 64",
        Packet::Connect(connect(MQTTv5, "client-id", 60, true)),
    );
    let will3 = Will::new("will/topic", b"bye".to_vec(), QoS::ExactlyOnce, false);
    let creds = |c: Connect| Connect {
        will: Some(will3.clone()),
        username: Some("user".into()),
        password: Some(b"pass".to_vec()),
        ..c
    };
    add(
        "CONNECT will q2 + credentials (paho capture)",
        V311,
        "10 2c 00 04 4d 51 54 54 04 d6 00 1e 00 03 63 61 70 00 0a 77 69 6c 6c 2f 74 6f 70 69 63 00 03 62 79 65 00 04 75 73 65 72 00 04 70 61 73 73",
        Packet::Connect(creds(connect(MQTTv311, "cap", 30, true))),
    );
    add(
        "CONNECT v3.1 will q2 + credentials (paho capture)",
        V31,
        "10 2e 00 06 4d 51 49 73 64 70 03 d6 00 1e 00 03 63 61 70 00 0a 77 69 6c 6c 2f 74 6f 70 69 63 00 03 62 79 65 00 04 75 73 65 72 00 04 70 61 73 73",
        Packet::Connect(creds(connect(MQTTv31, "cap", 30, true))),
    );
    add(
        "CONNECT v5 properties, will properties, credentials (paho capture)",
        V5,
        "10 4f 00 04 4d 51 54 54 05 d6 00 1e 0f 11 00 00 00 1e 21 00 0a 26 00 01 6b 00 01 76 00 03 63 61 70 12 03 00 0a 74 65 78 74 2f 70 6c 61 69 6e 18 00 00 00 05 00 0a 77 69 6c 6c 2f 74 6f 70 69 63 00 03 62 79 65 00 04 75 73 65 72 00 04 70 61 73 73",
        Packet::Connect(Connect {
            properties: props(
                T::Connect,
                vec![P::SessionExpiryInterval(30), P::ReceiveMaximum(10), user("k", "v")],
            ),
            will: Some(Will {
                properties: props(
                    T::WillMessage,
                    vec![P::ContentType("text/plain".into()), P::WillDelayInterval(5)],
                ),
                ..will3.clone()
            }),
            ..creds(connect(MQTTv5, "cap", 30, true))
        }),
    );

    // ---- CONNACK ----
    add(
        "CONNACK 0",
        V3,
        "20 02 00 00",
        Packet::ConnAck(ConnAck::new(false, 0)),
    );
    add(
        "CONNACK 1",
        V3,
        "20 02 00 01",
        Packet::ConnAck(ConnAck::new(false, 1)),
    );
    add(
        "CONNACK session present",
        V311,
        "20 02 01 00",
        Packet::ConnAck(ConnAck::new(true, 0)),
    );
    add(
        "CONNACK v5 empty properties",
        V5,
        "20 03 00 00 00",
        Packet::ConnAck(ConnAck::new(false, 0)),
    );
    add(
        "CONNACK v5 (Paho helper: TopicAliasMaximum=10, ReceiveMaximum=20)",
        V5,
        "20 09 00 00 06 22 00 0a 21 00 14",
        Packet::ConnAck(ConnAck {
            properties: props(
                T::ConnAck,
                vec![P::TopicAliasMaximum(10), P::ReceiveMaximum(20)],
            ),
            ..ConnAck::new(false, 0)
        }),
    );
    add(
        "CONNACK v5 session present, assigned id, server keep alive",
        V5,
        "20 0c 01 00 09 12 00 03 61 62 63 13 00 2a",
        Packet::ConnAck(ConnAck {
            properties: props(
                T::ConnAck,
                vec![
                    P::AssignedClientIdentifier("abc".into()),
                    P::ServerKeepAlive(42),
                ],
            ),
            ..ConnAck::new(true, 0)
        }),
    );
    add(
        "CONNACK v5 not authorized",
        V5,
        "20 03 00 87 00",
        Packet::ConnAck(ConnAck::new(false, 0x87)),
    );

    // ---- PUBLISH ----
    add(
        "PUBLISH q0",
        V3,
        "30 16 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "pub/qos0/test",
            b"message",
            QoS::AtMostOnce,
            0,
            false,
            false,
        )),
    );
    add(
        "PUBLISH q0 v5",
        V5,
        "30 17 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 00 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "pub/qos0/test",
            b"message",
            QoS::AtMostOnce,
            0,
            false,
            false,
        )),
    );
    add(
        "PUBLISH q0 no payload",
        V3,
        "30 0f 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74",
        Packet::Publish(publish(
            "pub/qos0/test",
            b"",
            QoS::AtMostOnce,
            0,
            false,
            false,
        )),
    );
    add(
        "PUBLISH q0 retain",
        V3,
        "31 22 00 10 72 65 74 61 69 6e 2f 71 6f 73 30 2f 74 65 73 74 72 65 74 61 69 6e 65 64 20 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "retain/qos0/test",
            b"retained message",
            QoS::AtMostOnce,
            0,
            false,
            true,
        )),
    );
    add(
        "PUBLISH q1 mid1",
        V3,
        "32 18 00 0d 70 75 62 2f 71 6f 73 31 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "pub/qos1/test",
            b"message",
            QoS::AtLeastOnce,
            1,
            false,
            false,
        )),
    );
    add(
        "PUBLISH q1 mid1 DUP",
        V3,
        "3a 18 00 0d 70 75 62 2f 71 6f 73 31 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "pub/qos1/test",
            b"message",
            QoS::AtLeastOnce,
            1,
            true,
            false,
        )),
    );
    add(
        "PUBLISH q2 mid1 DUP",
        V3,
        "3c 18 00 0d 70 75 62 2f 71 6f 73 32 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65",
        Packet::Publish(publish(
            "pub/qos2/test",
            b"message",
            QoS::ExactlyOnce,
            1,
            true,
            false,
        )),
    );
    add(
        "PUBLISH q2 mid2 (paho capture)",
        V3,
        "34 0c 00 03 78 2f 79 00 02 68 65 6c 6c 6f",
        Packet::Publish(publish("x/y", b"hello", QoS::ExactlyOnce, 2, false, false)),
    );
    add(
        "PUBLISH UTF-8 topic",
        V3,
        "30 06 00 03 e2 98 83 78",
        Packet::Publish(publish("☃", b"x", QoS::AtMostOnce, 0, false, false)),
    );
    add(
        "PUBLISH v5 q1 retain with every message property (paho capture)",
        V5,
        "33 3f 00 03 78 2f 79 00 02 32 01 01 02 00 00 00 3c 03 00 0a 74 65 78 74 2f 70 6c 61 69 6e 08 00 08 72 65 70 6c 79 2f 74 6f 09 00 02 01 02 26 00 01 61 00 01 62 26 00 01 63 00 01 64 68 65 6c 6c 6f",
        Packet::Publish(Publish {
            properties: props(
                T::Publish,
                vec![
                    P::PayloadFormatIndicator(1),
                    P::MessageExpiryInterval(60),
                    P::ContentType("text/plain".into()),
                    P::ResponseTopic("reply/to".into()),
                    P::CorrelationData(vec![1, 2]),
                    user("a", "b"),
                    user("c", "d"),
                ],
            ),
            ..publish("x/y", b"hello", QoS::AtLeastOnce, 2, false, true)
        }),
    );
    add(
        "PUBLISH v5 empty topic with topic alias",
        V5,
        "30 07 00 00 03 23 00 01 6d",
        Packet::Publish(Publish {
            properties: props(T::Publish, vec![P::TopicAlias(1)]),
            ..publish("", b"m", QoS::AtMostOnce, 0, false, false)
        }),
    );
    add(
        "PUBLISH v5 two subscription identifiers (broker to client)",
        V5,
        "30 0a 00 01 74 05 0b 01 0b 80 01 78",
        Packet::Publish(Publish {
            properties: props(
                T::Publish,
                vec![P::SubscriptionIdentifier(1), P::SubscriptionIdentifier(128)],
            ),
            ..publish("t", b"x", QoS::AtMostOnce, 0, false, false)
        }),
    );

    // ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----
    add(
        "PUBACK mid1",
        ALL,
        "40 02 00 01",
        Packet::PubAck(Ack::new(T::PubAck, 1)),
    );
    add(
        "PUBREC mid1",
        ALL,
        "50 02 00 01",
        Packet::PubRec(Ack::new(T::PubRec, 1)),
    );
    add(
        "PUBREL mid1",
        ALL,
        "62 02 00 01",
        Packet::PubRel(Ack::new(T::PubRel, 1)),
    );
    add(
        "PUBCOMP mid1",
        ALL,
        "70 02 00 01",
        Packet::PubComp(Ack::new(T::PubComp, 1)),
    );
    add(
        "PUBACK v5 no matching subscribers",
        V5,
        "40 03 00 01 10",
        Packet::PubAck(ack(T::PubAck, 1, 0x10, vec![])),
    );
    add(
        "PUBREC v5 not authorized with reason string",
        V5,
        "50 09 00 02 87 05 1f 00 02 6e 6f",
        Packet::PubRec(ack(T::PubRec, 2, 0x87, vec![P::ReasonString("no".into())])),
    );
    add(
        "PUBREL v5 packet identifier not found",
        V5,
        "62 03 00 03 92",
        Packet::PubRel(ack(T::PubRel, 3, 0x92, vec![])),
    );
    add(
        "PUBCOMP v5 success with a user property",
        V5,
        "70 0b 00 04 00 07 26 00 01 6b 00 01 76",
        Packet::PubComp(ack(T::PubComp, 4, 0, vec![user("k", "v")])),
    );

    // ---- SUBSCRIBE / SUBACK ----
    add(
        "SUBSCRIBE mid1 qos0/test",
        V3,
        "82 0e 00 01 00 09 71 6f 73 30 2f 74 65 73 74 00",
        Packet::Subscribe(Subscribe::new(
            1,
            vec![("qos0/test".into(), SubscribeOptions::new(QoS::AtMostOnce))],
        )),
    );
    add(
        "SUBSCRIBE two filters (paho capture)",
        V3,
        "82 10 00 01 00 05 61 2f 2b 2f 63 01 00 03 62 2f 23 02",
        Packet::Subscribe(Subscribe::new(
            1,
            vec![
                ("a/+/c".into(), SubscribeOptions::new(QoS::AtLeastOnce)),
                ("b/#".into(), SubscribeOptions::new(QoS::ExactlyOnce)),
            ],
        )),
    );
    add(
        "SUBSCRIBE v5 options and subscription identifier (paho capture)",
        V5,
        "82 0d 00 01 02 0b 07 00 05 61 2f 2b 2f 63 2d",
        Packet::Subscribe(Subscribe {
            properties: props(T::Subscribe, vec![P::SubscriptionIdentifier(7)]),
            ..Subscribe::new(
                1,
                vec![(
                    "a/+/c".into(),
                    SubscribeOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                )],
            )
        }),
    );
    add(
        "SUBACK mid1 granted 0",
        V3,
        "90 03 00 01 00",
        Packet::SubAck(SubAck::new(1, vec![rc(T::SubAck, 0)])),
    );
    add(
        "SUBACK three codes with a failure",
        V3,
        "90 05 00 01 00 02 80",
        Packet::SubAck(SubAck::new(
            1,
            vec![rc(T::SubAck, 0), rc(T::SubAck, 2), rc(T::SubAck, 0x80)],
        )),
    );
    add(
        "SUBACK v5",
        V5,
        "90 06 00 01 00 00 01 a2",
        Packet::SubAck(SubAck::new(
            1,
            vec![rc(T::SubAck, 0), rc(T::SubAck, 1), rc(T::SubAck, 0xa2)],
        )),
    );
    add(
        "SUBACK v5 with reason string",
        V5,
        "90 09 00 05 05 1f 00 02 6e 6f 87",
        Packet::SubAck(SubAck {
            properties: props(T::SubAck, vec![P::ReasonString("no".into())]),
            ..SubAck::new(5, vec![rc(T::SubAck, 0x87)])
        }),
    );

    // ---- UNSUBSCRIBE / UNSUBACK ----
    add(
        "UNSUBSCRIBE mid1 unsubscribe/test",
        V3,
        "a2 14 00 01 00 10 75 6e 73 75 62 73 63 72 69 62 65 2f 74 65 73 74",
        Packet::Unsubscribe(Unsubscribe::new(1, vec!["unsubscribe/test".into()])),
    );
    add(
        "UNSUBSCRIBE two filters (paho capture)",
        V3,
        "a2 0c 00 03 00 05 61 2f 2b 2f 63 00 01 7a",
        Packet::Unsubscribe(Unsubscribe::new(3, vec!["a/+/c".into(), "z".into()])),
    );
    add(
        "UNSUBSCRIBE v5 with a user property (paho capture)",
        V5,
        "a2 14 00 03 07 26 00 01 75 00 01 31 00 05 61 2f 2b 2f 63 00 01 7a",
        Packet::Unsubscribe(Unsubscribe {
            properties: props(T::Unsubscribe, vec![user("u", "1")]),
            ..Unsubscribe::new(3, vec!["a/+/c".into(), "z".into()])
        }),
    );
    add(
        "UNSUBACK mid1",
        V3,
        "b0 02 00 01",
        Packet::UnsubAck(UnsubAck::new(1, vec![])),
    );
    add(
        "UNSUBACK v5",
        V5,
        "b0 05 00 01 00 00 11",
        Packet::UnsubAck(UnsubAck::new(
            1,
            vec![rc(T::UnsubAck, 0), rc(T::UnsubAck, 0x11)],
        )),
    );

    // ---- PINGREQ, PINGRESP ----
    add("PINGREQ", ALL, "c0 00", Packet::PingReq);
    add("PINGRESP", ALL, "d0 00", Packet::PingResp);

    // ---- DISCONNECT ----
    add(
        "DISCONNECT",
        ALL,
        "e0 00",
        Packet::Disconnect(Disconnect::default()),
    );
    add(
        "DISCONNECT v5 reason only",
        V5,
        "e0 01 87",
        Packet::Disconnect(Disconnect::new(rc(T::Disconnect, 0x87))),
    );
    add(
        "DISCONNECT v5 reason string bye (Paho test_broker_disconnect_reason)",
        V5,
        "e0 08 87 06 1f 00 03 62 79 65",
        Packet::Disconnect(Disconnect {
            properties: props(T::Disconnect, vec![P::ReasonString("bye".into())]),
            ..Disconnect::new(rc(T::Disconnect, 0x87))
        }),
    );
    add(
        "DISCONNECT v5 with will, session expiry and reason string (paho capture)",
        V5,
        "e0 0e 04 0c 11 00 00 00 00 1f 00 04 64 6f 6e 65",
        Packet::Disconnect(Disconnect {
            properties: props(
                T::Disconnect,
                vec![P::SessionExpiryInterval(0), P::ReasonString("done".into())],
            ),
            ..Disconnect::new(rc(T::Disconnect, 4))
        }),
    );

    // ---- AUTH ----
    add(
        "AUTH success",
        V5,
        "f0 00",
        Packet::Auth(Auth::new(rc(T::Auth, 0))),
    );
    add(
        "AUTH continue with method and data",
        V5,
        "f0 0e 18 0c 15 00 04 53 43 52 4d 16 00 02 01 02",
        Packet::Auth(Auth {
            properties: props(
                T::Auth,
                vec![
                    P::AuthenticationMethod("SCRM".into()),
                    P::AuthenticationData(vec![1, 2]),
                ],
            ),
            ..Auth::new(rc(T::Auth, 0x18))
        }),
    );
    v
}

/// Bytes that decode to a packet but are not how we encode it (shorter forms
/// are allowed on the wire; we always write the shortest).
pub fn decode_only() -> Vec<(&'static str, ProtocolVersion, &'static str, Packet)> {
    use PacketType as T;
    vec![
        (
            "v5 PUBACK with explicit success",
            MQTTv5,
            "40 03 00 01 00",
            Packet::PubAck(Ack::new(T::PubAck, 1)),
        ),
        (
            "v5 PUBACK with explicit success and empty properties",
            MQTTv5,
            "40 04 00 01 00 00",
            Packet::PubAck(Ack::new(T::PubAck, 1)),
        ),
        (
            "v5 DISCONNECT with explicit normal reason",
            MQTTv5,
            "e0 01 00",
            Packet::Disconnect(Disconnect::default()),
        ),
        (
            "v5 DISCONNECT reason and empty properties",
            MQTTv5,
            "e0 02 87 00",
            Packet::Disconnect(Disconnect::new(rc(T::Disconnect, 0x87))),
        ),
        (
            "v5 CONNACK without property length (Paho accepts it)",
            MQTTv5,
            "20 02 00 00",
            Packet::ConnAck(ConnAck::new(false, 0)),
        ),
        (
            "v5 CONNACK 1 from a v3-only broker",
            MQTTv5,
            "20 02 00 01",
            Packet::ConnAck(ConnAck::new(false, 1)),
        ),
        (
            "v3.1 CONNACK with reserved flag bits",
            MQTTv31,
            "20 02 fe 00",
            Packet::ConnAck(ConnAck::new(false, 0)),
        ),
        (
            "non-minimal remaining length",
            MQTTv311,
            "c0 80 00",
            Packet::PingReq,
        ),
    ]
}
