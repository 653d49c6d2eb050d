//! Feeds arbitrary bytes to the persistence file's reader (what a crash, a
//! full disk or another program may have left in the directory). It must
//! never panic; what it recovers must be a valid prefix: the recovered
//! state written out again reads back the same, undamaged, and every
//! message in it is a PUBLISH the session can send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_tether::packet::{Packet, ProtocolVersion, QoS};
use mqtt_tether::persist::format::{self, MAGIC};
use mqtt_tether::session::StoreOp;

fuzz_target!(|data: &[u8]| {
    // Mostly behind a valid magic, or the reader stops at once.
    let (&control, rest) = match data.split_first() {
        Some(split) => split,
        None => return,
    };
    let bytes: Vec<u8> = if control & 1 == 0 {
        [&MAGIC[..], rest].concat()
    } else {
        rest.to_vec()
    };
    let Ok(recovery) = format::recover(&bytes) else {
        return;
    };
    assert!(recovery.valid_len <= bytes.len() as u64);
    assert_eq!(
        recovery.damage.is_none(),
        recovery.valid_len == bytes.len() as u64
    );
    let restored = recovery.live.restored(&bytes);
    let level = recovery.live.protocol().unwrap_or(4);
    let protocol = match level {
        3 => ProtocolVersion::MQTTv31,
        5 => ProtocolVersion::MQTTv5,
        _ => ProtocolVersion::MQTTv311,
    };
    let mut again = MAGIC.to_vec();
    format::encode_base(protocol, restored.next_seq, &mut again);
    for m in &restored.outgoing {
        let Ok(Packet::Publish(p)) = Packet::decode(&m.packet, protocol) else {
            panic!("a recovered message that does not decode");
        };
        assert!(p.qos != QoS::AtMostOnce && p.packet_id != 0);
        format::encode_op(
            &StoreOp::Stored {
                mid: p.packet_id,
                seq: m.seq,
                packet: m.packet.clone(),
            },
            &mut again,
        );
        if m.pubrel {
            format::encode_op(&StoreOp::PubRec(p.packet_id), &mut again);
        }
    }
    for packet in &restored.inbound {
        let Ok(Packet::Publish(p)) = Packet::decode(packet, protocol) else {
            panic!("a recovered inbound message that does not decode");
        };
        assert_eq!(p.qos, QoS::ExactlyOnce);
        format::encode_op(
            &StoreOp::InboundStored {
                mid: p.packet_id,
                packet: packet.clone(),
            },
            &mut again,
        );
    }
    let reread = format::recover(&again).expect("our own file");
    assert_eq!(reread.damage, None);
    assert_eq!(reread.live.restored(&again), restored);
});
