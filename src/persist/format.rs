//! The persistence file's format: pure encoding, and recovery over bytes
//! (no I/O here, so a fuzzer can feed it anything).
//!
//! ```text
//! file    = magic record*
//! magic   = "MQTTPST" version(1 byte, 1)
//! record  = length(u32 LE) crc(u32 LE) body[length]
//!           crc = CRC-32 (IEEE) of the 4 length bytes and the body
//! body    = kind(1 byte) fields
//!   1 base            protocol(u8) next_seq(u64 LE)     first record of a file
//!   2 stored          seq(u64 LE) PUBLISH               outgoing QoS 1/2 stored
//!   3 pubrec          mid(u16 LE)                       outgoing QoS 2: PUBREL next
//!   4 ended           mid(u16 LE)                       outgoing: acknowledged or failed
//!   5 cleared                                           outgoing store emptied
//!   6 inbound stored  PUBLISH                           inbound QoS 2 received
//!   7 inbound acked   mid(u16 LE)                       inbound QoS 2 delivered
//!   8 inbound cleared                                   inbound state forgotten
//! ```
//!
//! The PUBLISHes are the session's own encoding (the outgoing ones exactly
//! as they go on the wire, DUP clear), so storing a message is one copy and
//! restoring it none; their packet identifier is the mid.
//!
//! Reading stops at the first record that is incomplete (a torn tail: the
//! process died in the middle of a write), whose checksum does not match,
//! or that does not make sense; everything before it is the recovered
//! state, and the stop is reported as a [`Damage`] with its byte offset.
//! Since every change is one record, a stop loses only the changes from
//! there on, never half of one.

use std::collections::HashMap;

use crate::packet::{Decoder, Packet, ProtocolVersion, QoS};
use crate::session::{Restored, RestoredOut, StoreOp};

/// The first 8 bytes of a file: the name and the format version.
pub const MAGIC: [u8; 8] = *b"MQTTPST\x01";

/// A record's length and checksum.
pub const RECORD_HEAD: usize = 8;

/// The largest body a record may claim: a kind, a `seq` and the largest
/// MQTT packet (a 2^28 - 1 byte body behind a 5 byte fixed header). A
/// larger length is damage, not a record to wait for.
pub const MAX_BODY: u32 = 1 + 8 + (1 << 28) + 4;

const BASE: u8 = 1;
const STORED: u8 = 2;
const PUBREC: u8 = 3;
const ENDED: u8 = 4;
const CLEARED: u8 = 5;
const IN_STORED: u8 = 6;
const IN_ACKED: u8 = 7;
const IN_CLEARED: u8 = 8;

/// CRC-32 (IEEE 802.3, the zlib one), table-driven. Hand-rolled rather
/// than the `crc32fast` crate: these are 20 lines, and the time a record
/// costs is the write (and fsync), not its checksum.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn record(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = (len as u32).to_le_bytes();
    let mut all = Vec::with_capacity(parts.len() + 1);
    all.push(&len[..]);
    all.extend_from_slice(parts);
    let crc = crc32(&all);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Appends the base record: the protocol the PUBLISHes are encoded at, and
/// the `seq` the next stored message gets.
pub fn encode_base(protocol: ProtocolVersion, next_seq: u64, out: &mut Vec<u8>) {
    record(out, &[&[BASE, protocol.level()], &next_seq.to_le_bytes()]);
}

/// Appends the record of `op`.
pub fn encode_op(op: &StoreOp, out: &mut Vec<u8>) {
    match op {
        StoreOp::Stored { seq, packet, .. } => {
            record(out, &[&[STORED], &seq.to_le_bytes(), packet]);
        }
        StoreOp::PubRec(mid) => record(out, &[&[PUBREC], &mid.to_le_bytes()]),
        StoreOp::Ended(mid) => record(out, &[&[ENDED], &mid.to_le_bytes()]),
        StoreOp::Cleared => record(out, &[&[CLEARED]]),
        StoreOp::InboundStored { packet, .. } => record(out, &[&[IN_STORED], packet]),
        StoreOp::InboundAcked(mid) => record(out, &[&[IN_ACKED], &mid.to_le_bytes()]),
        StoreOp::InboundCleared => record(out, &[&[IN_CLEARED]]),
    }
}

/// Where a record lies in the file (its head included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The byte offset of its length.
    pub at: u64,
    /// Head and body.
    pub len: u64,
}

/// One change, as [`Live`] applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The base record.
    Base {
        /// The protocol level byte.
        protocol: u8,
        /// The `seq` the next stored message gets.
        next_seq: u64,
    },
    /// Outgoing `mid` stored as `seq`.
    Stored {
        /// The mid.
        mid: u16,
        /// The `seq`.
        seq: u64,
    },
    /// Outgoing `mid` got its PUBREC.
    PubRec(u16),
    /// Outgoing `mid` ended.
    Ended(u16),
    /// The outgoing store emptied.
    Cleared,
    /// Inbound `mid` stored.
    InboundStored(u16),
    /// Inbound `mid` acknowledged.
    InboundAcked(u16),
    /// The inbound state forgotten.
    InboundCleared,
}

impl Change {
    /// The change a journal entry makes.
    pub fn of(op: &StoreOp) -> Change {
        match op {
            StoreOp::Stored { mid, seq, .. } => Change::Stored {
                mid: *mid,
                seq: *seq,
            },
            StoreOp::PubRec(mid) => Change::PubRec(*mid),
            StoreOp::Ended(mid) => Change::Ended(*mid),
            StoreOp::Cleared => Change::Cleared,
            StoreOp::InboundStored { mid, .. } => Change::InboundStored(*mid),
            StoreOp::InboundAcked(mid) => Change::InboundAcked(*mid),
            StoreOp::InboundCleared => Change::InboundCleared,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct OutEntry {
    seq: u64,
    stored: Span,
    pubrec: Option<Span>,
}

/// What a log amounts to: the live messages and where their records lie,
/// kept beside the file so that compaction knows what to copy without
/// holding the messages a second time.
#[derive(Debug, Clone, Default)]
pub struct Live {
    protocol: Option<u8>,
    next_seq: u64,
    out: HashMap<u16, OutEntry>,
    /// By mid: arrival number and record.
    inbound: HashMap<u16, (u64, Span)>,
    arrivals: u64,
    /// The bytes of the live records (base and magic included).
    live_bytes: u64,
}

impl Live {
    /// The protocol level the base record names, if there is one.
    pub fn protocol(&self) -> Option<u8> {
        self.protocol
    }

    /// The `seq` the next stored message gets: how many QoS 1/2 messages
    /// were ever stored through this file and its compacted ancestors.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Outgoing messages held.
    pub fn outgoing(&self) -> usize {
        self.out.len()
    }

    /// Inbound QoS 2 messages held.
    pub fn inbound(&self) -> usize {
        self.inbound.len()
    }

    /// The bytes a compacted file would hold.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes + MAGIC.len() as u64 + BASE_RECORD
    }

    /// Applies `change`, whose record lies at `span`.
    pub fn apply(&mut self, change: Change, span: Span) {
        match change {
            Change::Base { protocol, next_seq } => {
                self.protocol = Some(protocol);
                self.next_seq = self.next_seq.max(next_seq);
            }
            Change::Stored { mid, seq } => {
                self.next_seq = self.next_seq.max(seq.saturating_add(1));
                self.live_bytes += span.len;
                let entry = OutEntry {
                    seq,
                    stored: span,
                    pubrec: None,
                };
                if let Some(old) = self.out.insert(mid, entry) {
                    self.live_bytes -= old.stored.len + old.pubrec.map_or(0, |s| s.len);
                }
            }
            Change::PubRec(mid) => {
                if let Some(entry) = self.out.get_mut(&mid) {
                    self.live_bytes += span.len;
                    if let Some(old) = entry.pubrec.replace(span) {
                        self.live_bytes -= old.len;
                    }
                }
            }
            Change::Ended(mid) => {
                if let Some(old) = self.out.remove(&mid) {
                    self.live_bytes -= old.stored.len + old.pubrec.map_or(0, |s| s.len);
                }
            }
            Change::Cleared => {
                for old in self.out.drain().map(|(_, e)| e) {
                    self.live_bytes -= old.stored.len + old.pubrec.map_or(0, |s| s.len);
                }
            }
            Change::InboundStored(mid) => {
                self.arrivals += 1;
                self.live_bytes += span.len;
                if let Some((_, old)) = self.inbound.insert(mid, (self.arrivals, span)) {
                    self.live_bytes -= old.len;
                }
            }
            Change::InboundAcked(mid) => {
                if let Some((_, old)) = self.inbound.remove(&mid) {
                    self.live_bytes -= old.len;
                }
            }
            Change::InboundCleared => {
                for (_, old) in self.inbound.drain().map(|(_, e)| e) {
                    self.live_bytes -= old.len;
                }
            }
        }
    }

    /// The live records in the order a compacted file holds them: the
    /// outgoing messages in publish order (each stored record followed by
    /// its PUBREC record), then the inbound ones by arrival. The base
    /// record is not among them (see [`encode_base`]).
    pub fn spans(&self) -> Vec<Span> {
        let mut out: Vec<&OutEntry> = self.out.values().collect();
        out.sort_by_key(|e| e.seq);
        let mut inbound: Vec<&(u64, Span)> = self.inbound.values().collect();
        inbound.sort_by_key(|(n, _)| *n);
        let mut spans = Vec::with_capacity(out.len() + inbound.len());
        for e in out {
            spans.push(e.stored);
            spans.extend(e.pubrec);
        }
        spans.extend(inbound.into_iter().map(|(_, s)| *s));
        spans
    }

    /// The state to give the session, read from `file`, the bytes the
    /// spans point into.
    pub fn restored(&self, file: &[u8]) -> Restored {
        let body = |span: &Span, skip: usize| -> Box<[u8]> {
            let start = span.at as usize + RECORD_HEAD + skip;
            let end = (span.at + span.len) as usize;
            file.get(start..end).unwrap_or_default().into()
        };
        let mut out: Vec<&OutEntry> = self.out.values().collect();
        out.sort_by_key(|e| e.seq);
        let mut inbound: Vec<&(u64, Span)> = self.inbound.values().collect();
        inbound.sort_by_key(|(n, _)| *n);
        Restored {
            next_seq: self.next_seq,
            outgoing: out
                .into_iter()
                .map(|e| RestoredOut {
                    seq: e.seq,
                    packet: body(&e.stored, 1 + 8),
                    pubrel: e.pubrec.is_some(),
                })
                .collect(),
            inbound: inbound.into_iter().map(|(_, s)| body(s, 1)).collect(),
        }
    }
}

/// The size of a base record.
const BASE_RECORD: u64 = (RECORD_HEAD + 1 + 1 + 8) as u64;

/// Why reading stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// The file ends inside a record: a write the process did not finish.
    TornTail,
    /// A record whose checksum does not match its bytes.
    Checksum,
    /// A record with a valid checksum that does not make sense here (an
    /// unknown kind, a PUBLISH that does not decode, no base record first).
    Malformed(&'static str),
}

/// Where and why reading stopped; the bytes from `offset` on were not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// The byte offset of the first record not used.
    pub offset: u64,
    /// Why.
    pub kind: DamageKind,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.kind {
            DamageKind::TornTail => "a torn tail (a record cut short)",
            DamageKind::Checksum => "a record whose checksum does not match",
            DamageKind::Malformed(what) => what,
        };
        write!(f, "{why} at byte offset {}", self.offset)
    }
}

/// A file that is not this format at all: nothing is recovered from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The first bytes are not [`MAGIC`].
    NotOurs,
    /// Our name, another format version.
    Version(u8),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::NotOurs => f.write_str("not an mqtt-tether persistence file"),
            FormatError::Version(v) => write!(
                f,
                "an mqtt-tether persistence file of format version {v}; this version reads {}",
                MAGIC[7]
            ),
        }
    }
}

/// What [`recover`] read.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The state of the valid prefix.
    pub live: Live,
    /// How many bytes are valid (where the next record would go).
    pub valid_len: u64,
    /// Why reading stopped early, if it did.
    pub damage: Option<Damage>,
}

/// Reads a whole file: the state its valid prefix amounts to, and where it
/// stopped if it did not reach the end. An empty file (or one cut inside
/// its magic) is an empty state.
pub fn recover(bytes: &[u8]) -> Result<Recovery, FormatError> {
    let mut live = Live::default();
    let magic = MAGIC.len().min(bytes.len());
    if bytes[..magic] != MAGIC[..magic] {
        if bytes.len() >= 7 && bytes[..7] == MAGIC[..7] {
            return Err(FormatError::Version(bytes[7]));
        }
        return Err(FormatError::NotOurs);
    }
    if bytes.len() < MAGIC.len() {
        let damage = (!bytes.is_empty()).then_some(Damage {
            offset: 0,
            kind: DamageKind::TornTail,
        });
        return Ok(Recovery {
            live,
            valid_len: 0,
            damage,
        });
    }
    let mut at = MAGIC.len();
    let mut protocol: Option<ProtocolVersion> = None;
    let damage = loop {
        if at == bytes.len() {
            break None;
        }
        let stop = |kind| {
            Some(Damage {
                offset: at as u64,
                kind,
            })
        };
        let rest = &bytes[at..];
        if rest.len() < RECORD_HEAD {
            break stop(DamageKind::TornTail);
        }
        let len_bytes = &rest[..4];
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_BODY {
            break stop(DamageKind::Malformed(
                "a record longer than any MQTT packet",
            ));
        }
        let Some(body) = rest.get(RECORD_HEAD..RECORD_HEAD + len as usize) else {
            break stop(DamageKind::TornTail);
        };
        if crc32(&[len_bytes, body]) != crc {
            break stop(DamageKind::Checksum);
        }
        let span = Span {
            at: at as u64,
            len: (RECORD_HEAD + body.len()) as u64,
        };
        let change = match parse(body, protocol, at == MAGIC.len()) {
            Ok(change) => change,
            Err(what) => break stop(DamageKind::Malformed(what)),
        };
        if let Change::Base { protocol: p, .. } = change {
            protocol = protocol_of(p);
        }
        live.apply(change, span);
        at += span.len as usize;
    };
    Ok(Recovery {
        live,
        valid_len: damage.map_or(bytes.len() as u64, |d| d.offset),
        damage,
    })
}

fn protocol_of(level: u8) -> Option<ProtocolVersion> {
    [
        ProtocolVersion::MQTTv31,
        ProtocolVersion::MQTTv311,
        ProtocolVersion::MQTTv5,
    ]
    .into_iter()
    .find(|p| p.level() == level)
}

fn mid_of(field: &[u8]) -> Result<u16, &'static str> {
    match *field {
        [a, b] => Ok(u16::from_le_bytes([a, b])),
        _ => Err("a record of the wrong length"),
    }
}

/// The mid of a stored PUBLISH, checked: it decodes whole at `protocol`,
/// at QoS 1 or 2 (QoS 2 for an inbound one).
fn publish_mid(
    packet: &[u8],
    protocol: Option<ProtocolVersion>,
    inbound: bool,
) -> Result<u16, &'static str> {
    let protocol = protocol.ok_or("a message before the base record")?;
    let mut bytes = packet;
    match Decoder::new(protocol).decode(&mut bytes) {
        Ok(Some(Packet::Publish(p)))
            if bytes.is_empty()
                && p.packet_id != 0
                && p.qos != QoS::AtMostOnce
                && (!inbound || p.qos == QoS::ExactlyOnce) =>
        {
            Ok(p.packet_id)
        }
        _ => Err("a stored message that is not a valid QoS 1/2 PUBLISH"),
    }
}

fn parse(
    body: &[u8],
    protocol: Option<ProtocolVersion>,
    first: bool,
) -> Result<Change, &'static str> {
    let (&kind, fields) = body.split_first().ok_or("an empty record")?;
    if first != (kind == BASE) {
        return Err(if first {
            "a file whose first record is not the base record"
        } else {
            "a second base record"
        });
    }
    match kind {
        BASE => match *fields {
            [level, a, b, c, d, e, f, g, h] => {
                protocol_of(level).ok_or("a base record naming no MQTT protocol level")?;
                Ok(Change::Base {
                    protocol: level,
                    next_seq: u64::from_le_bytes([a, b, c, d, e, f, g, h]),
                })
            }
            _ => Err("a record of the wrong length"),
        },
        STORED => {
            let (seq, packet) = fields
                .split_first_chunk::<8>()
                .ok_or("a record of the wrong length")?;
            let seq = u64::from_le_bytes(*seq);
            let mid = publish_mid(packet, protocol, false)?;
            Ok(Change::Stored { mid, seq })
        }
        PUBREC => Ok(Change::PubRec(mid_of(fields)?)),
        ENDED => Ok(Change::Ended(mid_of(fields)?)),
        IN_ACKED => Ok(Change::InboundAcked(mid_of(fields)?)),
        CLEARED | IN_CLEARED if !fields.is_empty() => Err("a record of the wrong length"),
        CLEARED => Ok(Change::Cleared),
        IN_CLEARED => Ok(Change::InboundCleared),
        IN_STORED => Ok(Change::InboundStored(publish_mid(fields, protocol, true)?)),
        _ => Err("a record of an unknown kind"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }
}
