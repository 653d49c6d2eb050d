//! A tour of the codec, the layer under the client.
//!
//! It encodes the packets of a small Paho-style session at MQTT 3.1.1 and 5.0,
//! decodes them again from a stream that arrives in awkward pieces, shows how
//! a malformed packet is refused, and dispatches topics through the filter
//! trie.
//!
//! Run it with `cargo run --example codec_tour`.

use mqtt_tether::packet::{
    Connect, Decoder, Packet, PacketType, Properties, Property, ProtocolVersion, Publish,
    Subscribe, SubscribeOptions, Will,
};
use mqtt_tether::topic::TopicMatcher;
use mqtt_tether::{connack_string, error_string, topic_matches_sub, QoS, MQTT_ERR_NO_CONN};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for protocol in [ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5] {
        println!("== A session at {protocol} ==");
        let mut connect = Connect::new(protocol, "demo-client");
        connect.will = Some(Will::new(
            "demo/status",
            b"offline".to_vec(),
            QoS::AtLeastOnce,
            true,
        ));
        let mut publish = Publish::new("demo/temperature", b"21.5".to_vec(), QoS::AtLeastOnce, 2);
        if protocol == ProtocolVersion::MQTTv5 {
            connect
                .properties
                .set(Property::SessionExpiryInterval(300))?;
            let mut props = Properties::new(PacketType::Publish);
            props.set(Property::ContentType("text/plain".into()))?;
            props.set(Property::UserProperty("unit".into(), "celsius".into()))?;
            publish.properties = props;
        }
        let packets = vec![
            Packet::Connect(connect),
            Packet::Subscribe(Subscribe::new(
                1,
                vec![("demo/#".into(), SubscribeOptions::new(QoS::ExactlyOnce))],
            )),
            Packet::Publish(publish),
            Packet::PingReq,
        ];
        let mut stream = Vec::new();
        for packet in &packets {
            let start = stream.len();
            packet.encode(protocol, &mut stream)?;
            println!(
                "{:<9} {}",
                packet.packet_type().name(),
                hex(&stream[start..])
            );
        }

        // The same bytes, arriving three at a time as from a slow socket.
        let mut decoder = Decoder::new(protocol);
        let mut decoded = Vec::new();
        for piece in stream.chunks(3) {
            let mut input = piece;
            while let Some(packet) = decoder.decode(&mut input)? {
                decoded.push(packet);
            }
        }
        assert_eq!(decoded, packets);
        println!(
            "decoded {} packets from {} bytes in 3-byte pieces\n",
            decoded.len(),
            stream.len()
        );
    }

    println!("== Malformed input is a typed error, never a panic ==");
    for (what, bytes) in [
        ("PUBLISH with QoS 3", &[0x36u8, 0x03, 0x00, 0x01, b't'][..]),
        (
            "remaining length of 5 bytes",
            &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        (
            "topic that is not UTF-8",
            &[0x30, 0x04, 0x00, 0x01, 0xff, b'x'],
        ),
        ("PUBREL without its 0x02 flags", &[0x60, 0x02, 0x00, 0x01]),
    ] {
        let err = Packet::decode(bytes, ProtocolVersion::MQTTv311).unwrap_err();
        println!(
            "{what:<30} -> {err} (MQTT 5 reason {:#04x})",
            err.reason_code()
        );
    }

    println!("\n== Topic filters, as message_callback_add will dispatch them ==");
    let mut callbacks = TopicMatcher::new();
    callbacks.insert("demo/+/temperature", "per-room handler");
    callbacks.insert("demo/#", "catch-all handler");
    for topic in ["demo/kitchen/temperature", "demo/door", "$SYS/uptime"] {
        let handlers: Vec<_> = callbacks.matches(topic).map(|(_, h)| *h).collect();
        println!("{topic:<26} -> {handlers:?}");
    }
    assert!(topic_matches_sub("demo/#", "demo"));

    println!("\n== Paho's texts ==");
    println!(
        "error_string(MQTT_ERR_NO_CONN) = {:?}",
        error_string(MQTT_ERR_NO_CONN)
    );
    println!("connack_string(5)              = {:?}", connack_string(5));
    Ok(())
}
