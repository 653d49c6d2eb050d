//! The persistence file's reader against random logs (issue 19), beside the
//! fuzz target `fuzz/fuzz_targets/persist_recover.rs`: random journals
//! recover to what a plain model of the stores says, and the same journals
//! cut, bit-flipped or followed by garbage recover, without a panic, to the
//! model of the records before the damage.

use std::collections::HashMap;

use mqtt_tether::packet::{ProtocolVersion, Publish, QoS};
use mqtt_tether::persist::format::{self, MAGIC};
use mqtt_tether::session::{Restored, RestoredOut, StoreOp};
use proptest::prelude::*;

const V5: ProtocolVersion = ProtocolVersion::MQTTv5;

/// A journal step: (what, mid, a payload size).
fn steps() -> impl Strategy<Value = Vec<(u8, u16, usize)>> {
    prop::collection::vec((0u8..8, 1u16..6, 0usize..300), 0..40)
}

fn ops_of(steps: &[(u8, u16, usize)]) -> Vec<StoreOp> {
    let mut seq = 0;
    steps
        .iter()
        .map(|&(what, mid, size)| {
            let packet = |qos| {
                Publish::new(format!("p/{mid}"), vec![what; size], qos, mid)
                    .borrowed()
                    .encode_boxed(V5)
                    .unwrap()
            };
            match what {
                0 | 1 => {
                    seq += 1;
                    let qos = if what == 0 {
                        QoS::AtLeastOnce
                    } else {
                        QoS::ExactlyOnce
                    };
                    StoreOp::Stored {
                        mid,
                        seq: seq - 1,
                        packet: packet(qos),
                    }
                }
                2 => StoreOp::PubRec(mid),
                3 => StoreOp::Ended(mid),
                4 if size < 10 => StoreOp::Cleared,
                4 => StoreOp::Ended(mid),
                5 => StoreOp::InboundStored {
                    mid,
                    packet: packet(QoS::ExactlyOnce),
                },
                6 => StoreOp::InboundAcked(mid),
                _ => StoreOp::InboundCleared,
            }
        })
        .collect()
}

/// The stores as plain maps: what the log must come back as.
fn model(ops: &[StoreOp]) -> Restored {
    let mut out: HashMap<u16, RestoredOut> = HashMap::new();
    let mut inbound: Vec<(u16, Box<[u8]>)> = Vec::new();
    let mut next_seq = 0;
    for op in ops {
        match op {
            StoreOp::Stored { mid, seq, packet } => {
                next_seq = seq + 1;
                out.insert(
                    *mid,
                    RestoredOut {
                        seq: *seq,
                        packet: packet.clone(),
                        pubrel: false,
                    },
                );
            }
            StoreOp::PubRec(mid) => {
                if let Some(m) = out.get_mut(mid) {
                    m.pubrel = true;
                }
            }
            StoreOp::Ended(mid) => {
                out.remove(mid);
            }
            StoreOp::Cleared => out.clear(),
            StoreOp::InboundStored { mid, packet } => {
                inbound.retain(|(m, _)| m != mid);
                inbound.push((*mid, packet.clone()));
            }
            StoreOp::InboundAcked(mid) => inbound.retain(|(m, _)| m != mid),
            StoreOp::InboundCleared => inbound.clear(),
        }
    }
    let mut outgoing: Vec<RestoredOut> = out.into_values().collect();
    outgoing.sort_by_key(|m| m.seq);
    Restored {
        next_seq,
        outgoing,
        inbound: inbound.into_iter().map(|(_, p)| p).collect(),
    }
}

/// The log of `ops`, and where each record ends (the magic and the base
/// record first).
fn log(ops: &[StoreOp]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = MAGIC.to_vec();
    format::encode_base(V5, 0, &mut bytes);
    let mut ends = vec![bytes.len()];
    for op in ops {
        format::encode_op(op, &mut bytes);
        ends.push(bytes.len());
    }
    (bytes, ends)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_log_recovers_to_the_model_of_its_journal(steps in steps()) {
        let ops = ops_of(&steps);
        let (bytes, _) = log(&ops);
        let recovery = format::recover(&bytes).unwrap();
        prop_assert_eq!(recovery.damage, None);
        prop_assert_eq!(recovery.live.restored(&bytes), model(&ops));
    }

    /// `how`: 0 cuts at `at`, 1 flips bit `bit` of byte `at`, 2 appends
    /// `garbage`; all past the magic (a damaged magic is an `Err`, tested
    /// elsewhere).
    #[test]
    fn a_damaged_log_recovers_to_the_model_of_the_records_before_the_damage(
        steps in steps(),
        how in 0u8..3,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
        garbage in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let ops = ops_of(&steps);
        let (mut bytes, ends) = log(&ops);
        let at = MAGIC.len() + at.index(bytes.len() - MAGIC.len());
        match how {
            0 => bytes.truncate(at),
            1 => bytes[at] ^= 1 << bit,
            _ => bytes.extend_from_slice(&garbage),
        }
        let recovery = format::recover(&bytes).unwrap();
        let valid = recovery.valid_len as usize;
        prop_assert!(valid <= bytes.len());
        prop_assert_eq!(recovery.damage.is_some(), valid < bytes.len());
        // It stops at a record boundary of the original log...
        let whole = ends.iter().position(|end| *end == valid);
        prop_assert!(whole.is_some() || valid == MAGIC.len(), "stopped inside a record at {}", valid);
        // ...and never past the damage (garbage may read as records only
        // if it happens to carry a valid checksum: not in 64 random bytes).
        let damaged_from = if how == 2 { ends[ends.len() - 1] } else { at };
        prop_assert!(valid <= damaged_from.max(MAGIC.len()), "read past the damage");
        let kept = whole.unwrap_or(0);
        let want = if valid > MAGIC.len() { model(&ops[..kept]) } else { Restored::default() };
        prop_assert_eq!(recovery.live.restored(&bytes), want);
    }
}
