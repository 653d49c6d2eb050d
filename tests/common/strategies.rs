//! Proptest strategies for random valid packets of every type, at every
//! protocol level that has them: the round-trip tests encode them, the
//! malformed-input tests mutate their encodings.

use mqtt_tether::packet::ProtocolVersion::{self, MQTTv31, MQTTv311, MQTTv5};
use mqtt_tether::packet::*;
use proptest::prelude::*;
use proptest::sample::select;

pub fn protocol() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![MQTTv31, MQTTv311, MQTTv5])
}

/// Any string MQTT allows (no U+0000), including multi-byte characters.
pub fn text() -> impl Strategy<Value = String> {
    "[^\\x00]{0,12}"
}

/// A topic name: at least one character, no wildcard.
pub fn topic_name() -> impl Strategy<Value = String> {
    "[^\\x00+#]{1,12}"
}

/// A topic filter: at least one character (the codec does not check wildcards).
pub fn filter() -> impl Strategy<Value = String> {
    "[^\\x00]{1,12}"
}

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

pub fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

pub fn packet_id() -> impl Strategy<Value = u16> {
    1u16..=u16::MAX
}

pub fn property(id: PropertyId) -> BoxedStrategy<Property> {
    use Property as P;
    use PropertyId as I;
    let flag = || 0u8..=1;
    match id {
        I::PayloadFormatIndicator => flag().prop_map(P::PayloadFormatIndicator).boxed(),
        I::MessageExpiryInterval => any::<u32>().prop_map(P::MessageExpiryInterval).boxed(),
        I::ContentType => text().prop_map(P::ContentType).boxed(),
        I::ResponseTopic => topic_name().prop_map(P::ResponseTopic).boxed(),
        I::CorrelationData => bytes(16).prop_map(P::CorrelationData).boxed(),
        I::SubscriptionIdentifier => (1u32..=268_435_455)
            .prop_map(P::SubscriptionIdentifier)
            .boxed(),
        I::SessionExpiryInterval => any::<u32>().prop_map(P::SessionExpiryInterval).boxed(),
        I::AssignedClientIdentifier => text().prop_map(P::AssignedClientIdentifier).boxed(),
        I::ServerKeepAlive => any::<u16>().prop_map(P::ServerKeepAlive).boxed(),
        I::AuthenticationMethod => text().prop_map(P::AuthenticationMethod).boxed(),
        I::AuthenticationData => bytes(16).prop_map(P::AuthenticationData).boxed(),
        I::RequestProblemInformation => flag().prop_map(P::RequestProblemInformation).boxed(),
        I::WillDelayInterval => any::<u32>().prop_map(P::WillDelayInterval).boxed(),
        I::RequestResponseInformation => flag().prop_map(P::RequestResponseInformation).boxed(),
        I::ResponseInformation => text().prop_map(P::ResponseInformation).boxed(),
        I::ServerReference => text().prop_map(P::ServerReference).boxed(),
        I::ReasonString => text().prop_map(P::ReasonString).boxed(),
        I::ReceiveMaximum => (1u16..=u16::MAX).prop_map(P::ReceiveMaximum).boxed(),
        I::TopicAliasMaximum => any::<u16>().prop_map(P::TopicAliasMaximum).boxed(),
        I::TopicAlias => (1u16..=u16::MAX).prop_map(P::TopicAlias).boxed(),
        I::MaximumQoS => flag().prop_map(P::MaximumQoS).boxed(),
        I::RetainAvailable => flag().prop_map(P::RetainAvailable).boxed(),
        I::UserProperty => (text(), text())
            .prop_map(|(k, v)| P::UserProperty(k, v))
            .boxed(),
        I::MaximumPacketSize => (1u32..=u32::MAX).prop_map(P::MaximumPacketSize).boxed(),
        I::WildcardSubscriptionAvailable => {
            flag().prop_map(P::WildcardSubscriptionAvailable).boxed()
        }
        I::SubscriptionIdentifierAvailable => {
            flag().prop_map(P::SubscriptionIdentifierAvailable).boxed()
        }
        I::SharedSubscriptionAvailable => flag().prop_map(P::SharedSubscriptionAvailable).boxed(),
    }
}

/// A random valid property set for `packet_type` (empty below MQTT 5).
pub fn properties(packet_type: PacketType, protocol: ProtocolVersion) -> BoxedStrategy<Properties> {
    if protocol != MQTTv5 {
        return Just(Properties::new(packet_type)).boxed();
    }
    let allowed: Vec<BoxedStrategy<Property>> = PropertyId::ALL
        .iter()
        .filter(|id| id.allowed_in(packet_type))
        .map(|id| property(*id))
        .collect();
    prop::collection::vec(proptest::strategy::Union::new(allowed), 0..5)
        .prop_map(move |items| {
            let mut p = Properties::new(packet_type);
            for item in items {
                // A second copy of a property that may not repeat is refused;
                // dropping it keeps the set valid.
                let _ = p.push(item);
            }
            p
        })
        .boxed()
}

/// A reason code valid in `packet_type` at `protocol`.
pub fn reason_code(
    packet_type: PacketType,
    protocol: ProtocolVersion,
) -> BoxedStrategy<ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .filter_map(|v| ReasonCode::from_value(packet_type, v).ok())
        .filter(|rc| {
            protocol == MQTTv5
                || match packet_type {
                    PacketType::SubAck => matches!(rc.value(), 0 | 1 | 2 | 0x80),
                    _ => rc.value() == 0,
                }
        })
        .collect();
    select(codes).boxed()
}

pub fn will(protocol: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic_name(),
        bytes(32),
        qos(),
        any::<bool>(),
        properties(PacketType::WillMessage, protocol),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

pub fn connect(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
        properties(PacketType::Connect, protocol),
        text(),
        prop::option::of(will(protocol)),
        prop::option::of(text()),
        prop::option::of(bytes(16)),
    )
        .prop_map(
            move |(
                bridge,
                clean_start,
                keep_alive,
                properties,
                client_id,
                will,
                username,
                password,
            )| {
                // MQTT 3.x cannot send a password without a user name.
                let username = match (&username, &password, protocol) {
                    (None, Some(_), p) if p != MQTTv5 => Some(String::new()),
                    _ => username,
                };
                Packet::Connect(Connect {
                    protocol,
                    bridge,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                })
            },
        )
}

pub fn connack(protocol: ProtocolVersion) -> BoxedStrategy<Packet> {
    let code: BoxedStrategy<u8> = if protocol == MQTTv5 {
        reason_code(PacketType::ConnAck, protocol)
            .prop_map(|rc| rc.value())
            .boxed()
    } else {
        any::<u8>().boxed()
    };
    (
        any::<bool>(),
        code,
        properties(PacketType::ConnAck, protocol),
    )
        .prop_map(|(session_present, return_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                return_code,
                properties,
            })
        })
        .boxed()
}

pub fn publish(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        properties(PacketType::Publish, protocol),
        bytes(256),
        any::<bool>(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, id, mut properties, payload, use_alias)| {
                let mut topic = topic;
                if protocol == MQTTv5 && use_alias {
                    // An empty topic stands on a topic alias.
                    properties.set(Property::TopicAlias(7)).unwrap();
                    topic.clear();
                }
                Packet::Publish(Publish {
                    dup: dup && qos != QoS::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    packet_id: if qos == QoS::AtMostOnce { 0 } else { id },
                    properties,
                    payload,
                })
            },
        )
}

pub fn ack(packet_type: PacketType, protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        reason_code(packet_type, protocol),
        properties(packet_type, protocol),
    )
        .prop_map(move |(packet_id, reason_code, properties)| {
            let a = Ack {
                packet_id,
                reason_code,
                properties,
            };
            match packet_type {
                PacketType::PubAck => Packet::PubAck(a),
                PacketType::PubRec => Packet::PubRec(a),
                PacketType::PubRel => Packet::PubRel(a),
                _ => Packet::PubComp(a),
            }
        })
}

pub fn subscribe_options(protocol: ProtocolVersion) -> BoxedStrategy<SubscribeOptions> {
    if protocol != MQTTv5 {
        return qos().prop_map(SubscribeOptions::new).boxed();
    }
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendOnSubscribe,
            RetainHandling::SendIfNewSub,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(
            |(qos, no_local, retain_as_published, retain_handling)| SubscribeOptions {
                qos,
                no_local,
                retain_as_published,
                retain_handling,
            },
        )
        .boxed()
}

pub fn subscribe(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        properties(PacketType::Subscribe, protocol),
        prop::collection::vec((filter(), subscribe_options(protocol)), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        })
}

pub fn suback(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        properties(PacketType::SubAck, protocol),
        prop::collection::vec(reason_code(PacketType::SubAck, protocol), 1..5),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

pub fn unsubscribe(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        properties(PacketType::Unsubscribe, protocol),
        prop::collection::vec(filter(), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        })
}

pub fn unsuback(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let count = if protocol == MQTTv5 { 1..5 } else { 0..1 };
    (
        packet_id(),
        properties(PacketType::UnsubAck, protocol),
        prop::collection::vec(reason_code(PacketType::UnsubAck, protocol), count),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

pub fn disconnect(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        reason_code(PacketType::Disconnect, protocol),
        properties(PacketType::Disconnect, protocol),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
}

pub fn auth() -> impl Strategy<Value = Packet> {
    (
        reason_code(PacketType::Auth, MQTTv5),
        properties(PacketType::Auth, MQTTv5),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
}

/// Any valid packet at `protocol`.
pub fn packet(protocol: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut all = vec![
        connect(protocol).boxed(),
        connack(protocol),
        publish(protocol).boxed(),
        ack(PacketType::PubAck, protocol).boxed(),
        ack(PacketType::PubRec, protocol).boxed(),
        ack(PacketType::PubRel, protocol).boxed(),
        ack(PacketType::PubComp, protocol).boxed(),
        subscribe(protocol).boxed(),
        suback(protocol).boxed(),
        unsubscribe(protocol).boxed(),
        unsuback(protocol).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(protocol).boxed(),
    ];
    if protocol == MQTTv5 {
        all.push(auth().boxed());
    }
    proptest::strategy::Union::new(all).boxed()
}

/// A protocol level and one valid packet at it. The three strategies are
/// built once, not for every case as `prop_flat_map` would.
pub fn protocol_and_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    protocol_and(packet)
}

/// A protocol level and a value that `strategy` makes for it.
pub fn protocol_and<T: std::fmt::Debug + 'static, S: Strategy<Value = T> + 'static>(
    strategy: impl Fn(ProtocolVersion) -> S,
) -> impl Strategy<Value = (ProtocolVersion, T)> {
    let at = |p: ProtocolVersion| (Just(p), strategy(p)).boxed();
    prop_oneof![at(MQTTv31), at(MQTTv311), at(MQTTv5)]
}

/// Runs `test` on `cases` values of `strategy` as `proptest!` does (a failure
/// is shrunk, and its seed saved beside `source_file`), but inside a plain
/// test, so that the caller can count what the cases reached and assert on it
/// once they have all run.
pub fn run_cases<S: Strategy>(
    source_file: &'static str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = ProptestConfig {
        source_file: Some(source_file),
        ..ProptestConfig::with_cases(cases)
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// The properties of a packet that has them (every type but PINGREQ and
/// PINGRESP; empty below MQTT 5).
pub fn properties_of(packet: &Packet) -> Option<&Properties> {
    match packet {
        Packet::Connect(p) => Some(&p.properties),
        Packet::ConnAck(p) => Some(&p.properties),
        Packet::Publish(p) => Some(&p.properties),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            Some(&p.properties)
        }
        Packet::Subscribe(p) => Some(&p.properties),
        Packet::SubAck(p) => Some(&p.properties),
        Packet::Unsubscribe(p) => Some(&p.properties),
        Packet::UnsubAck(p) => Some(&p.properties),
        Packet::Disconnect(p) => Some(&p.properties),
        Packet::Auth(p) => Some(&p.properties),
        Packet::PingReq | Packet::PingResp => None,
    }
}

pub fn properties_mut(packet: &mut Packet) -> Option<&mut Properties> {
    match packet {
        Packet::Connect(p) => Some(&mut p.properties),
        Packet::ConnAck(p) => Some(&mut p.properties),
        Packet::Publish(p) => Some(&mut p.properties),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            Some(&mut p.properties)
        }
        Packet::Subscribe(p) => Some(&mut p.properties),
        Packet::SubAck(p) => Some(&mut p.properties),
        Packet::Unsubscribe(p) => Some(&mut p.properties),
        Packet::UnsubAck(p) => Some(&mut p.properties),
        Packet::Disconnect(p) => Some(&mut p.properties),
        Packet::Auth(p) => Some(&mut p.properties),
        Packet::PingReq | Packet::PingResp => None,
    }
}
