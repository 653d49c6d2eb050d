//! The persistence file (issue 19): its records round trip, a torn tail
//! at every byte offset and a flipped bit anywhere recover the valid
//! prefix and report where, compaction keeps exactly the live set, and the
//! directory lock refuses a second holder and dies with a killed one.
//! The session's side: its journal, restored into a new session, re-sends
//! what the broker still needs, to the byte, within the window.
#![cfg(feature = "testing")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::examples::{example, KilledOnDrop};
use common::hex;
use mqtt_tether::packet::{ProtocolVersion, Publish, QoS};
use mqtt_tether::persist::format::{self, DamageKind, FormatError, MAGIC};
use mqtt_tether::persist::{Durability, OpenError, Store};
use mqtt_tether::session::{Event, Restored, RestoredOut, Session, SessionConfig, StoreOp};
use mqtt_tether::testing::{Broker, TempDir};

const V311: ProtocolVersion = ProtocolVersion::MQTTv311;

fn publish(mid: u16, qos: QoS, payload: &str) -> Box<[u8]> {
    Publish::new(format!("t/{mid}"), payload.as_bytes().to_vec(), qos, mid)
        .borrowed()
        .encode_boxed(V311)
        .unwrap()
}

fn stored(mid: u16, seq: u64, qos: QoS) -> StoreOp {
    StoreOp::Stored {
        mid,
        seq,
        packet: publish(mid, qos, &format!("m{seq}")),
    }
}

/// A log of every kind of record: 1 and 3 end, 2 gets its PUBREC, 4 is
/// stored after 1 ended and reuses its id, an inbound message is acked
/// and another kept.
fn sample_ops() -> Vec<StoreOp> {
    vec![
        stored(1, 0, QoS::AtLeastOnce),
        stored(2, 1, QoS::ExactlyOnce),
        stored(3, 2, QoS::AtLeastOnce),
        StoreOp::PubRec(2),
        StoreOp::Ended(1),
        StoreOp::InboundStored {
            mid: 9,
            packet: publish(9, QoS::ExactlyOnce, "in9"),
        },
        StoreOp::InboundStored {
            mid: 7,
            packet: publish(7, QoS::ExactlyOnce, "in7"),
        },
        StoreOp::InboundAcked(9),
        StoreOp::Ended(3),
        stored(1, 3, QoS::ExactlyOnce),
    ]
}

fn log_of(ops: &[StoreOp]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = MAGIC.to_vec();
    format::encode_base(V311, 0, &mut bytes);
    let mut ends = vec![MAGIC.len(), bytes.len()];
    for op in ops {
        format::encode_op(op, &mut bytes);
        ends.push(bytes.len());
    }
    (bytes, ends)
}

fn expected_sample() -> Restored {
    Restored {
        next_seq: 4,
        outgoing: vec![
            RestoredOut {
                seq: 1,
                packet: publish(2, QoS::ExactlyOnce, "m1"),
                pubrel: true,
            },
            RestoredOut {
                seq: 3,
                packet: publish(1, QoS::ExactlyOnce, "m3"),
                pubrel: false,
            },
        ],
        inbound: vec![publish(7, QoS::ExactlyOnce, "in7")],
    }
}

#[test]
fn records_round_trip_to_the_live_set() {
    let (bytes, _) = log_of(&sample_ops());
    // The framing, to the byte: length, CRC-32 of length and body, body.
    let mut ended = Vec::new();
    format::encode_op(&StoreOp::Ended(0x0102), &mut ended);
    let crc = format::crc32(&[&[3, 0, 0, 0], &[4, 0x02, 0x01]]).to_le_bytes();
    assert_eq!(
        ended,
        [&[3, 0, 0, 0][..], &crc, &[4, 0x02, 0x01]].concat(),
        "ended record"
    );
    let recovery = format::recover(&bytes).unwrap();
    assert_eq!(recovery.damage, None);
    assert_eq!(recovery.valid_len, bytes.len() as u64);
    assert_eq!(recovery.live.restored(&bytes), expected_sample());
    assert_eq!((recovery.live.outgoing(), recovery.live.inbound()), (2, 1));
}

#[test]
fn a_torn_tail_at_every_offset_recovers_the_whole_records_before_it() {
    let ops = sample_ops();
    let (bytes, ends) = log_of(&ops);
    for cut in 0..=bytes.len() {
        let recovery = format::recover(&bytes[..cut]).unwrap_or_else(|e| panic!("{cut}: {e}"));
        // The records wholly inside the cut.
        let whole = ends.iter().rposition(|end| *end <= cut);
        let valid = whole.map_or(0, |i| ends[i]);
        assert_eq!(recovery.valid_len, valid as u64, "cut at {cut}");
        let damage = recovery.damage.map(|d| (d.offset, d.kind));
        if cut == valid {
            assert_eq!(damage, None, "cut at a record boundary {cut}");
        } else {
            assert_eq!(
                damage,
                Some((valid as u64, DamageKind::TornTail)),
                "cut at {cut}"
            );
        }
        // The state is that of the ops whose records are whole.
        let kept = whole.map_or(0, |i| i.saturating_sub(1));
        let (prefix, _) = log_of(&ops[..kept]);
        let want = format::recover(&prefix).unwrap();
        let got = recovery.live.restored(&bytes[..cut]);
        if kept > 0 || cut >= ends[1] {
            assert_eq!(got, want.live.restored(&prefix), "cut at {cut}");
        } else {
            assert_eq!(got, Restored::default(), "cut at {cut}");
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_stops_reading_at_its_record() {
    let ops = sample_ops();
    let (bytes, ends) = log_of(&ops);
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << bit;
            let recovery = match format::recover(&damaged) {
                Ok(r) => r,
                Err(FormatError::NotOurs | FormatError::Version(_)) => {
                    assert!(at < MAGIC.len(), "byte {at} bit {bit}: not ours");
                    continue;
                }
            };
            assert!(at >= MAGIC.len(), "byte {at} bit {bit} in the magic read");
            // The record holding the flipped byte, and everything after
            // it, is not used; everything before it is.
            let record = ends.iter().rposition(|end| *end <= at).unwrap();
            let start = ends[record] as u64;
            let damage = recovery.damage.expect("a flip is found");
            assert_eq!(damage.offset, start, "byte {at} bit {bit}");
            assert_eq!(recovery.valid_len, start);
            // In the checksum or the body: the checksum catches it; in the
            // length, it may also read as a record cut short or too long.
            let in_length = (at as u64) < start + 4;
            if !in_length {
                assert_eq!(damage.kind, DamageKind::Checksum, "byte {at} bit {bit}");
            }
        }
    }
}

#[test]
fn garbage_is_an_error_not_an_empty_store() {
    assert_eq!(
        format::recover(b"{\"not\": \"ours\"}").unwrap_err(),
        FormatError::NotOurs
    );
    let mut future = MAGIC.to_vec();
    future[7] = 2;
    assert_eq!(
        format::recover(&future).unwrap_err(),
        FormatError::Version(2)
    );
    assert!(format::recover(&[]).unwrap().damage.is_none());
}

#[test]
fn compaction_keeps_exactly_the_live_set_and_the_count() {
    let dir = TempDir::new("persist-compact").unwrap();
    let opened = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    assert_eq!(opened.restored, Restored::default());
    let mut store = opened.store;
    // 3000 messages of 1 KiB, all but every 100th acknowledged: the log
    // passes 1 MiB with a small live share, so it compacts (maybe more
    // than once) on the way.
    let mut largest = 0;
    let mut expected = Vec::new();
    for seq in 0..3000u64 {
        let mid = (seq % 60_000 + 1) as u16;
        let packet = Publish::new("c/t", vec![b'x'; 1024], QoS::ExactlyOnce, mid)
            .borrowed()
            .encode_boxed(V311)
            .unwrap();
        store.append(&[StoreOp::Stored {
            mid,
            seq,
            packet: packet.clone(),
        }]);
        if seq % 100 == 0 {
            store.append(&[StoreOp::PubRec(mid)]);
            expected.push(RestoredOut {
                seq,
                packet,
                pubrel: true,
            });
        } else {
            store.append(&[StoreOp::Ended(mid)]);
        }
        largest = largest.max(store.len());
    }
    assert!(store.take_error().is_none());
    let log_len = std::fs::metadata(dir.path().join("store.log"))
        .unwrap()
        .len();
    assert_eq!(log_len, store.len());
    assert!(
        largest < 4 * 1024 * 1024 + 64 * 1024,
        "compaction kept the log near 4x its live set: {largest}"
    );
    assert!(
        log_len < 1024 * 1024 + 64 * 1024,
        "compacted at least once: {log_len}"
    );
    drop(store);
    let reopened = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    assert_eq!(reopened.damage, None);
    // Compared by summary first: a failure prints 30 lines, not 30 KiB.
    let summary = |r: &[RestoredOut]| -> Vec<(u64, bool, usize)> {
        r.iter()
            .map(|m| (m.seq, m.pubrel, m.packet.len()))
            .collect()
    };
    assert_eq!(
        summary(&reopened.restored.outgoing),
        summary(&expected),
        "seq, PUBREC, size"
    );
    assert!(
        reopened.restored
            == Restored {
                next_seq: 3000,
                outgoing: expected,
                inbound: Vec::new(),
            },
        "the very bytes"
    );
    assert_eq!(reopened.store.next_seq(), 3000);
}

#[test]
fn a_damaged_log_is_cut_at_the_damage_and_rewritten_clean() {
    let dir = TempDir::new("persist-torn").unwrap();
    let (mut bytes, ends) = log_of(&sample_ops());
    // The process died in the middle of the last record.
    bytes.truncate(ends[ends.len() - 1] - 3);
    std::fs::write(dir.path().join("store.log"), &bytes).unwrap();
    let opened = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    let damage = opened.damage.expect("reported");
    assert_eq!(
        (damage.offset, damage.kind),
        (ends[ends.len() - 2] as u64, DamageKind::TornTail)
    );
    assert!(
        damage
            .to_string()
            .contains(&format!("byte offset {}", damage.offset)),
        "{damage}"
    );
    // Message 1's second life was the torn record: only 2 is left.
    assert_eq!(opened.restored.outgoing.len(), 1);
    assert_eq!(opened.restored.next_seq, 3);
    drop(opened);
    let again = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    assert_eq!(again.damage, None, "rewritten without the damage");
    assert_eq!(again.restored.outgoing.len(), 1);
}

#[test]
fn a_log_of_another_protocol_level_is_refused() {
    let dir = TempDir::new("persist-level").unwrap();
    let (bytes, _) = log_of(&sample_ops());
    std::fs::write(dir.path().join("store.log"), &bytes).unwrap();
    let e = Store::open(dir.path(), ProtocolVersion::MQTTv5, Durability::Sync).unwrap_err();
    assert!(
        matches!(
            e,
            OpenError::Protocol {
                stored: 4,
                client: 5,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_second_holder_is_refused_and_a_killed_holder_frees_the_lock() {
    let dir = TempDir::new("persist-lock").unwrap();
    // In this process.
    let first = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    let second = Store::open(dir.path(), V311, Durability::Sync).unwrap_err();
    assert!(matches!(second, OpenError::Locked(_)), "{second}");
    assert!(
        second.to_string().contains("in use by another client"),
        "{second}"
    );
    drop(first);
    drop(Store::open(dir.path(), V311, Durability::Sync).unwrap());

    // In another process, killed (SIGKILL) while it holds the lock: the
    // crash test's publisher, sending one message a second to the kit's
    // broker, says on standard error once it has opened the directory.
    let broker = Broker::start().unwrap();
    let mut holder = KilledOnDrop(
        example("persist_publisher")
            .args([
                "127.0.0.1",
                &broker.port().to_string(),
                "lock-holder",
                dir.path().to_str().unwrap(),
                "1000",
                "0",
                "sync",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(holder.0.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = lines.next().expect("the holder says it holds").unwrap();
        if line.starts_with("persist_publisher: recovered") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let busy = Store::open(dir.path(), V311, Durability::Sync).unwrap_err();
    assert!(matches!(busy, OpenError::Locked(_)), "{busy}");
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    let after = Store::open(dir.path(), V311, Durability::Sync);
    assert!(
        after.is_ok(),
        "the killed holder's lock died with it: {after:?}"
    );
}

/// Takes everything the session wants written, journal first, as the
/// driver does.
fn take(s: &mut Session, journal: &mut Vec<StoreOp>, now: Instant) -> Vec<u8> {
    s.take_journal(journal);
    let out = s.pending().to_vec();
    s.written(out.len(), now);
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The session's side, with a fake clock: what it journals for each step of
/// the QoS 1 and 2 flows both ways, and what a new session restored from
/// that journal sends after the next CONNACK: PUBREL for the QoS 2 message
/// the broker had, PUBLISH with DUP for the rest in publish order, within
/// the broker's Receive Maximum, and inbound QoS 2 delivered at PUBREL.
#[test]
fn a_restored_session_resends_its_journal_in_order_within_the_window() {
    let t = Instant::now();
    let mut config = SessionConfig::new(ProtocolVersion::MQTTv5, "p");
    config.clean_start = mqtt_tether::session::CleanStart::Never;
    let mut s = Session::new(config.clone());
    s.set_journal(true);
    let mut journal = Vec::new();
    s.start_connection(t);
    take(&mut s, &mut journal, t);
    s.received(&hex("20 03 00 00 00"), t).unwrap();
    events(&mut s);
    for (payload, qos) in [("a", QoS::AtLeastOnce), ("b", QoS::ExactlyOnce)] {
        let r = s.publish(Publish::new("t", payload.as_bytes().to_vec(), qos, 0));
        assert!(r.stored);
    }
    let c = s.publish(Publish::new("t", b"c".to_vec(), QoS::AtLeastOnce, 0));
    let d = s.publish(Publish::new("t", b"d".to_vec(), QoS::ExactlyOnce, 0));
    assert_eq!((c.mid, d.mid), (3, 4));
    let sent = take(&mut s, &mut journal, t);
    assert_eq!(sent.len(), 4 * 9, "four PUBLISHes of 9 bytes");
    // a acknowledged, b received (PUBREC), an inbound QoS 2 arrives.
    s.received(&hex("40 02 00 01"), t).unwrap();
    s.received(&hex("50 02 00 02"), t).unwrap();
    s.received(&hex("34 07 00 01 69 00 05 00 78"), t).unwrap();
    let answers = take(&mut s, &mut journal, t);
    assert_eq!(
        answers,
        hex("62 02 00 02 50 02 00 05"),
        "PUBREL 2, PUBREC 5"
    );
    let kinds: Vec<String> = journal
        .iter()
        .map(|op| match op {
            StoreOp::Stored { mid, seq, .. } => format!("stored {mid} seq {seq}"),
            StoreOp::InboundStored { mid, .. } => format!("inbound {mid}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "stored 1 seq 0",
            "stored 2 seq 1",
            "stored 3 seq 2",
            "stored 4 seq 3",
            "Ended(1)",
            "PubRec(2)",
            "inbound 5"
        ]
    );
    // kill -9 here. What the disk holds comes back in a new session.
    let (bytes, _) = {
        let mut bytes = MAGIC.to_vec();
        format::encode_base(ProtocolVersion::MQTTv5, 0, &mut bytes);
        for op in &journal {
            format::encode_op(op, &mut bytes);
        }
        (bytes, ())
    };
    let recovery = format::recover(&bytes).unwrap();
    let mut again = Session::new(config);
    again.set_journal(true);
    assert_eq!(again.restore(recovery.live.restored(&bytes)), 0);
    assert_eq!(again.next_seq(), 4);
    let mut journal = Vec::new();
    again.start_connection(t);
    take(&mut again, &mut journal, t);
    // Receive Maximum 2.
    again.received(&hex("20 06 01 00 03 21 00 02"), t).unwrap();
    events(&mut again);
    let resent = take(&mut again, &mut journal, t);
    assert_eq!(
        resent,
        hex("62 02 00 02 3a 07 00 01 74 00 03 00 63"),
        "PUBREL 2, then c again (DUP), and no more: the window is 2"
    );
    again.received(&hex("70 02 00 02"), t).unwrap();
    let next = take(&mut again, &mut journal, t);
    assert_eq!(next, hex("3c 07 00 01 74 00 04 00 64"), "d (DUP, QoS 2)");
    // The broker releases the inbound message it had: delivered once.
    again.received(&hex("62 02 00 05"), t).unwrap();
    let delivered: Vec<Vec<u8>> = events(&mut again)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [b"x".to_vec()]);
    // A new publish counts on from the restored sequence.
    let e = again.publish(Publish::new("t", b"e".to_vec(), QoS::AtLeastOnce, 0));
    assert_eq!(e.seq, 4);
}

/// A message the queue-full policy drops (`DropOldest`) is gone from the
/// directory too: a restart does not bring it back.
#[test]
fn a_message_the_queue_policy_drops_leaves_the_directory() {
    use mqtt_tether::{CallbackAPIVersion, Client, QueueFullPolicy};
    let dir = TempDir::new("persist-evict").unwrap();
    let c = Client::new(CallbackAPIVersion::VERSION2).unwrap();
    c.persistence_set(dir.path(), Durability::Sync).unwrap();
    c.max_queued_messages_set(2).unwrap();
    c.queue_full_policy_set(QueueFullPolicy::DropOldest);
    for text in ["a", "b", "c"] {
        let info = c.publish("t", text, 1, false).unwrap();
        assert_eq!(info.rc(), mqtt_tether::ErrorCode::NoConn, "stored offline");
    }
    drop(c);
    let opened = Store::open(dir.path(), V311, Durability::Sync).unwrap();
    let payloads: Vec<Vec<u8>> = opened
        .restored
        .outgoing
        .iter()
        .map(|m| {
            mqtt_tether::packet::Packet::decode(&m.packet, V311)
                .map(|p| match p {
                    mqtt_tether::packet::Packet::Publish(p) => p.payload,
                    _ => Vec::new(),
                })
                .unwrap()
        })
        .collect();
    assert_eq!(payloads, [b"b".to_vec(), b"c".to_vec()], "a was dropped");
    assert_eq!(opened.restored.next_seq, 3);
}
