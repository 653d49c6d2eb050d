//! The outgoing store: QoS 1 and 2 messages from `publish` until the broker
//! has acknowledged them. It survives reconnects (only `reinitialise` or an
//! explicit drop empties it) and decides what is (re)sent when.
//!
//! A message is kept as its encoded PUBLISH, in one allocation of exactly
//! its size: sending it is one copy into the transmit buffer, and a message
//! queued while offline costs little beyond its topic and payload.

use std::collections::VecDeque;

use super::journal::{RestoredOut, StoreOp};
use super::mid_table::MidTable;
use crate::packet::{
    DecodeError, Decoder, Packet, PacketType, ProtocolVersion, Publish, QoS, ReasonCode,
};

/// Where a stored message stands (Paho's `MessageState`, without the states
/// Paho never uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// The in-flight window was full: waiting for room (Paho `QUEUED`).
    Queued,
    /// Never sent: to be sent once the broker has accepted the connection
    /// (Paho `PUBLISH`).
    Publish,
    /// Sent at QoS 1; waiting for PUBACK.
    WaitPubAck,
    /// Sent at QoS 2; waiting for PUBREC.
    WaitPubRec,
    /// In flight when the connection was lost (no PUBREC, or a clean
    /// session): the PUBLISH is re-sent (DUP) after CONNACK, when the new
    /// window has room for it (see [`OutgoingStore::resume`]).
    ResendPublish,
    /// PUBREC received before a reconnect: PUBREL is re-sent after CONNACK,
    /// when the new window has room for it.
    ResendPubRel,
    /// PUBREL sent; waiting for PUBCOMP.
    WaitPubComp,
    /// Finished (PUBACK, PUBCOMP), out of the window, and kept until the
    /// application has had its [`Event::Published`](super::Event::Published)
    /// (see [`OutgoingStore::release`]): until then its `MessageInfo` still
    /// reads "not yet", as Paho's does until `on_publish` has run.
    Acked,
    /// Ended undelivered, out of the window, and kept like `Acked` until
    /// released: the broker answered with a failure reason (MQTT 5 PUBACK,
    /// PUBREC or PUBCOMP of 0x80 and up), or a limit the broker announced
    /// forbids sending it. Its packet is gone; [`Stored::failure`] says why.
    Failed,
}

impl OutState {
    /// True while the message occupies a slot of the in-flight window.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            OutState::WaitPubAck | OutState::WaitPubRec | OutState::WaitPubComp
        )
    }
}

/// One stored message: 24 bytes besides its packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The encoded PUBLISH; its DUP flag is what the next copy carries.
    /// Once `Failed`: the failure's packet type and reason code instead.
    packet: Box<[u8]>,
    /// The place in the order of `publish` calls (the order messages are
    /// (re)sent in) in the low 60 bits, the [`OutState`] in the top 4: a
    /// session cannot publish 2^60 messages.
    seq_state: u64,
}

const SEQ_BITS: u32 = 60;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const STATES: [OutState; 9] = [
    OutState::Queued,
    OutState::Publish,
    OutState::WaitPubAck,
    OutState::WaitPubRec,
    OutState::ResendPublish,
    OutState::ResendPubRel,
    OutState::WaitPubComp,
    OutState::Acked,
    OutState::Failed,
];

impl Stored {
    fn new(packet: Box<[u8]>, seq: u64, state: OutState) -> Stored {
        let mut m = Stored {
            packet,
            seq_state: seq & SEQ_MASK,
        };
        m.set_state(state);
        m
    }

    fn set_state(&mut self, state: OutState) {
        let bits = STATES.iter().position(|s| *s == state).unwrap_or(0) as u64;
        self.seq_state = (self.seq_state & SEQ_MASK) | bits << SEQ_BITS;
    }

    /// The message id (the packet identifier on the wire).
    pub fn mid(&self) -> u16 {
        // After the fixed header (its remaining length takes 1 to 4 bytes)
        // and the topic, both written by this crate's encoder.
        let p = &self.packet;
        let length_bytes = p[1..]
            .iter()
            .take(4)
            .take_while(|b| **b & 0x80 != 0)
            .count()
            + 1;
        let topic = 1 + length_bytes;
        let id = match p.get(topic..topic + 2) {
            Some(len) => topic + 2 + usize::from(u16::from_be_bytes([len[0], len[1]])),
            None => return 0,
        };
        p.get(id..id + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Where it stands.
    pub fn state(&self) -> OutState {
        STATES
            .get((self.seq_state >> SEQ_BITS) as usize)
            .copied()
            .unwrap_or(OutState::Queued)
    }

    /// Why a `Failed` message ended: the broker's failure reason (its
    /// PUBACK, PUBREC or PUBCOMP type), or the DISCONNECT reason a broker
    /// would have sent for a packet its limits forbid. `None` otherwise.
    pub fn failure(&self) -> Option<ReasonCode> {
        if self.state() != OutState::Failed {
            return None;
        }
        let [kind, value] = *self.packet else {
            return None;
        };
        let packet_type = PacketType::from_nibble(kind)?;
        ReasonCode::from_value(packet_type, value).ok()
    }

    /// Its place in the order of `publish` calls (increasing within one
    /// session).
    pub fn seq(&self) -> u64 {
        self.seq_state & SEQ_MASK
    }

    /// What the limits of a broker are checked against: the encoded size,
    /// the RETAIN flag, and whether the topic is empty (MQTT 5: the topic
    /// alias stands for it). The QoS is [`Stored::qos`].
    pub fn facts(&self) -> (usize, bool, bool) {
        let p = &self.packet;
        let length_bytes = p[1..]
            .iter()
            .take(4)
            .take_while(|b| **b & 0x80 != 0)
            .count()
            + 1;
        let topic = 1 + length_bytes;
        let empty_topic = p.get(topic..topic + 2) == Some(&[0, 0]);
        (p.len(), p[0] & 1 != 0, empty_topic)
    }

    /// The QoS it is published at.
    pub fn qos(&self) -> QoS {
        QoS::from_u8((self.packet[0] >> 1) & 0b11).unwrap_or(QoS::AtLeastOnce)
    }

    /// The encoded PUBLISH as its next copy goes out (DUP set once it has
    /// been sent).
    pub fn packet(&self) -> &[u8] {
        &self.packet
    }

    /// The PUBLISH, decoded (for inspection and tests; the store itself
    /// never decodes).
    pub fn publish(&self, protocol: ProtocolVersion) -> Result<Publish, DecodeError> {
        let mut bytes = &self.packet[..];
        match Decoder::new(protocol).decode(&mut bytes)? {
            Some(Packet::Publish(p)) => Ok(p),
            Some(_) => Err(DecodeError::InvalidPacketType(self.packet[0] >> 4)),
            None => Err(DecodeError::Truncated),
        }
    }
}

/// What a PUBREC did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubRec {
    /// Accepted: the message now waits for PUBCOMP; send PUBREL.
    SendPubRel,
    /// A failure reason ended the message (now `Acked`), without PUBREL.
    Ended,
    /// An unknown id, or a message not waiting for PUBREC.
    Ignored,
}

/// What the session must put on the wire for a stored message: after a
/// reconnect ([`OutgoingStore::resume`]), or when the window has room again
/// ([`OutgoingStore::next_queued`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// The stored PUBLISH of this mid (first send or re-send): take its
    /// bytes with [`OutgoingStore::send`].
    Publish(u16),
    /// A PUBREL for this mid.
    PubRel(u16),
}

/// How a new message enters the store ([`OutgoingStore::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The broker has accepted the connection and its backlog went out:
    /// send now if the window has room, else queue behind the others.
    Live,
    /// No connection, no CONNACK yet, or a backlog still to re-send: wait
    /// for [`OutgoingStore::resume`], which sends in publish order.
    AwaitResume,
}

/// The store of QoS 1/2 messages, by message id.
///
/// A publish and an acknowledgement each cost O(1) and no allocation beyond
/// the message itself; only reconnects walk (and sort) the whole store.
#[derive(Debug, Default)]
pub struct OutgoingStore {
    messages: MidTable<Stored>,
    /// Ids of messages in state `Queued`, in `seq` order: they are only
    /// ever released from the front.
    queued: VecDeque<u16>,
    in_flight: usize,
    next_seq: u64,
    /// The bytes of the stored packets (the `store` memory budget).
    bytes: usize,
    /// With persistence: the changes not yet taken (see
    /// [`StoreOp`]).
    journal: Option<Vec<StoreOp>>,
}

impl OutgoingStore {
    /// An empty store.
    pub fn new() -> OutgoingStore {
        OutgoingStore::default()
    }

    /// Turns the journal of changes on or off (see [`StoreOp`]).
    pub fn set_journal(&mut self, on: bool) {
        self.journal = on.then(Vec::new);
    }

    /// Whether the journal is on.
    pub fn journal_on(&self) -> bool {
        self.journal.is_some()
    }

    /// Appends `op` to the journal, if it is on.
    pub fn journal_push(&mut self, op: impl FnOnce() -> StoreOp) {
        if let Some(journal) = &mut self.journal {
            journal.push(op());
        }
    }

    /// True when the journal holds changes not yet taken.
    pub fn journal_pending(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| !j.is_empty())
    }

    /// Moves the journal's changes, in order, to the end of `into`.
    pub fn take_journal(&mut self, into: &mut Vec<StoreOp>) {
        if let Some(journal) = &mut self.journal {
            into.append(journal);
        }
    }

    /// The `seq` the next stored message gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Puts back messages a persistence kept (see
    /// [`super::Restored`]): each waits for the next connection's
    /// CONNACK, a PUBLISH (DUP set: it may have gone out before) or, for a
    /// QoS 2 message the broker had PUBREC'd, a PUBREL. Later publishes
    /// count on from `next_seq`. No journal entry: they are on disk.
    pub fn restore(&mut self, messages: Vec<RestoredOut>, next_seq: u64) {
        for m in messages {
            let mut packet = m.packet;
            if packet.is_empty() {
                continue;
            }
            packet[0] |= 0b1000;
            let state = if m.pubrel {
                OutState::ResendPubRel
            } else {
                OutState::ResendPublish
            };
            let stored = Stored::new(packet, m.seq, state);
            let mid = stored.mid();
            if mid == 0 {
                continue;
            }
            self.bytes += stored.packet.len();
            if let Some(old) = self.messages.insert(mid, stored) {
                self.bytes -= old.packet.len();
            }
            self.next_seq = self.next_seq.max(m.seq + 1);
        }
        self.next_seq = self.next_seq.max(next_seq);
    }

    /// How many messages are stored (queued and in flight), the number
    /// `max_queued_messages` limits.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// The bytes the stored messages' packets hold: what the `store` part
    /// of the memory budget measures.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many stored messages the broker has not yet acknowledged (nor
    /// refused): what a drain waits for. Walks the store.
    pub fn unfinished(&self) -> usize {
        self.messages
            .iter()
            .filter(|(_, m)| !matches!(m.state(), OutState::Acked | OutState::Failed))
            .count()
    }

    /// The oldest message never sent on any connection (`Publish` or
    /// `Queued`), as `(seq, mid)`. Walks the store.
    pub fn oldest_unsent(&self) -> Option<(u64, u16)> {
        self.messages
            .iter()
            .filter(|(_, m)| matches!(m.state(), OutState::Publish | OutState::Queued))
            .map(|(mid, m)| (m.seq(), mid))
            .min()
    }

    /// Removes `mid` if it was never sent (see [`Self::oldest_unsent`]);
    /// its id is free again. Returns its `seq`.
    pub fn remove_unsent(&mut self, mid: u16) -> Option<u64> {
        let state = self.messages.get(mid).map(Stored::state)?;
        if !matches!(state, OutState::Publish | OutState::Queued) {
            return None;
        }
        if state == OutState::Queued {
            if let Some(at) = self.queued.iter().position(|m| *m == mid) {
                self.queued.remove(at);
            }
        }
        let m = self.messages.remove(mid)?;
        self.bytes -= m.packet.len();
        // Dropped for good: a restart must not bring it back.
        self.journal_push(|| StoreOp::Ended(mid));
        Some(m.seq())
    }

    /// A place in the publish order for a message kept elsewhere (a QoS 0
    /// message queued offline), so the oldest of all can be told.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.messages.len() == 0
    }

    /// True if `mid` belongs to a stored message.
    pub fn contains(&self, mid: u16) -> bool {
        self.messages.contains(mid)
    }

    /// The first id from `from` on (wrapping 65535 to 1) that no stored
    /// message holds; `None` when all 65,535 are held. A few word
    /// operations, however many are held.
    pub fn first_free_id(&self, from: u16) -> Option<u16> {
        self.messages.first_free_from(from)
    }

    /// The stored message `mid`.
    pub fn get(&self, mid: u16) -> Option<&Stored> {
        self.messages.get(mid)
    }

    /// Messages occupying the in-flight window.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The stored messages in the order they were published.
    pub fn iter(&self) -> impl Iterator<Item = &Stored> {
        let mut all: Vec<&Stored> = self.messages.iter().map(|(_, m)| m).collect();
        all.sort_by_key(|m| m.seq());
        all.into_iter()
    }

    /// Messages stored that wait for their first send on this connection
    /// (neither in flight nor acknowledged nor failed). One pass over the
    /// store, in no order and without allocating: O(stored).
    pub fn waiting(&self) -> usize {
        self.messages
            .iter()
            .filter(|(_, m)| {
                !m.state().in_flight() && !matches!(m.state(), OutState::Acked | OutState::Failed)
            })
            .count()
    }

    fn has_room(&self, window: usize) -> bool {
        window == 0 || self.in_flight < window
    }

    /// Moves `mid` to `state`, keeping the in-flight count right (the
    /// caller keeps `queued` right).
    fn set_state(&mut self, mid: u16, state: OutState) {
        let Some(m) = self.messages.get_mut(mid) else {
            return;
        };
        if m.state().in_flight() {
            self.in_flight -= 1;
        }
        m.set_state(state);
        if state.in_flight() {
            self.in_flight += 1;
        }
    }

    /// Marks `mid` sent and appends its PUBLISH to `out`; a later copy of
    /// it is a re-delivery (DUP). False for an unknown id.
    pub fn send(&mut self, mid: u16, out: &mut Vec<u8>) -> bool {
        let Some(m) = self.messages.get_mut(mid) else {
            return false;
        };
        let state = wait_state(m.qos());
        // Taken into the window already when sent from the queue.
        let counted = m.state().in_flight();
        m.set_state(state);
        out.extend_from_slice(&m.packet);
        m.packet[0] |= 0b1000;
        if !counted {
            self.in_flight += 1;
        }
        true
    }

    /// Stores a new QoS 1/2 message, given as its encoded PUBLISH (DUP
    /// clear, packet identifier `mid`), and says whether to send it now
    /// (with [`Self::send`]): only when `admission` is
    /// [`Admission::Live`], the window (`window`, 0: no limit) has room and
    /// nothing queued is waiting ahead of it.
    pub fn admit(
        &mut self,
        mid: u16,
        packet: Box<[u8]>,
        admission: Admission,
        window: usize,
    ) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let state = match admission {
            Admission::AwaitResume => OutState::Publish,
            Admission::Live if self.has_room(window) && self.queued.is_empty() => OutState::Publish,
            Admission::Live => {
                self.queued.push_back(mid);
                OutState::Queued
            }
        };
        self.bytes += packet.len();
        if let Some(journal) = &mut self.journal {
            journal.push(StoreOp::Stored {
                mid,
                seq,
                packet: packet.clone(),
            });
        }
        self.messages.insert(mid, Stored::new(packet, seq, state));
        admission == Admission::Live && state == OutState::Publish
    }

    /// Ends `mid` undelivered with `reason` (see [`OutState::Failed`]):
    /// out of the window, its packet freed. False for an unknown id or a
    /// message already ended.
    pub fn fail(&mut self, mid: u16, reason: ReasonCode) -> bool {
        match self.messages.get(mid).map(Stored::state) {
            None | Some(OutState::Acked | OutState::Failed) => return false,
            Some(_) => {}
        }
        self.set_state(mid, OutState::Failed);
        if let Some(m) = self.messages.get_mut(mid) {
            let failure: Box<[u8]> = Box::new([reason.packet_type() as u8, reason.value()]);
            self.bytes = self.bytes - m.packet.len() + failure.len();
            m.packet = failure;
        }
        self.journal_push(|| StoreOp::Ended(mid));
        true
    }

    /// Removes an ended (`Acked` or `Failed`) message once the application
    /// has had its `Published` event; anything else stays. Returns the
    /// removed message's `seq` and, if it failed, why.
    pub fn release(&mut self, mid: u16) -> Option<(u64, Option<ReasonCode>)> {
        let failed = match self.messages.get(mid).map(Stored::state) {
            Some(OutState::Acked) => false,
            Some(OutState::Failed) => true,
            _ => return None,
        };
        let m = self.messages.remove(mid)?;
        self.bytes -= m.packet.len();
        Some((m.seq(), if failed { m.failure() } else { None }))
    }

    /// PUBACK with `reason`: the QoS 1 message is done (`Acked`), or failed
    /// when the reason is a failure. Unknown or duplicate ids: false.
    pub fn on_puback(&mut self, mid: u16, reason: ReasonCode) -> bool {
        self.end(mid, OutState::WaitPubAck, reason)
    }

    /// PUBREC with `reason` (MQTT 5: a failure, 0x80 and up, ends the
    /// message without PUBREL, §4.3.3).
    pub fn on_pubrec(&mut self, mid: u16, reason: ReasonCode) -> PubRec {
        if self.messages.get(mid).map(Stored::state) != Some(OutState::WaitPubRec) {
            return PubRec::Ignored;
        }
        if reason.is_failure() {
            self.fail(mid, reason);
            return PubRec::Ended;
        }
        self.set_state(mid, OutState::WaitPubComp);
        self.journal_push(|| StoreOp::PubRec(mid));
        PubRec::SendPubRel
    }

    /// PUBCOMP with `reason`: the QoS 2 message is done, or failed (a
    /// broker that lost the exchange answers 0x92, Packet identifier not
    /// found). Unknown ids: false.
    pub fn on_pubcomp(&mut self, mid: u16, reason: ReasonCode) -> bool {
        self.end(mid, OutState::WaitPubComp, reason)
    }

    /// Ends `mid` if it is in `state`: `Acked`, or `Failed` for a failure
    /// `reason`.
    fn end(&mut self, mid: u16, state: OutState, reason: ReasonCode) -> bool {
        if self.messages.get(mid).map(Stored::state) != Some(state) {
            return false;
        }
        if reason.is_failure() {
            self.fail(mid, reason)
        } else {
            self.set_state(mid, OutState::Acked);
            self.journal_push(|| StoreOp::Ended(mid));
            true
        }
    }

    /// The next queued message to put on the wire now that the window has
    /// room, in publish order: taken into the window, and returned as what
    /// to send for it.
    pub fn next_queued(&mut self, window: usize) -> Option<Resend> {
        while self.has_room(window) {
            let mid = self.queued.pop_front()?;
            if let Some(resend) = self.take_slot(mid) {
                return Some(resend);
            }
        }
        None
    }

    /// Takes a window slot for `mid` if it waits for one, and says what to
    /// send: PUBREL for a QoS 2 message the broker has received, else the
    /// PUBLISH.
    fn take_slot(&mut self, mid: u16) -> Option<Resend> {
        let m = self.messages.get_mut(mid)?;
        let (state, resend) = match m.state() {
            OutState::ResendPubRel => (OutState::WaitPubComp, Resend::PubRel(mid)),
            OutState::Publish | OutState::Queued | OutState::ResendPublish => {
                (wait_state(m.qos()), Resend::Publish(mid))
            }
            _ => return None,
        };
        // None of those states is in flight.
        m.set_state(state);
        self.in_flight += 1;
        Some(resend)
    }

    /// Prepares the store for a new connection (Paho's
    /// `_messages_reconnect_reset`, reference §12.3). `clean` is whether the
    /// CONNECT starts a clean session.
    ///
    /// Every message that was in flight leaves the window: nothing goes out
    /// on the new connection before its CONNACK, whose Receive Maximum may
    /// be smaller than the last one, and [`Self::resume`] then gives the
    /// slots again, oldest first. Returns whether any message waits for it.
    pub fn reset_for_reconnect(&mut self, clean: bool) -> bool {
        let mut waiting = false;
        for m in self.messages.values_mut() {
            let qos = m.qos();
            let state = match (qos, m.state(), clean) {
                // A PUBREC was received: with the session kept, finish with
                // PUBREL; with a clean session, the broker forgot the id, so
                // the flow restarts with the PUBLISH (DUP already set).
                (QoS::ExactlyOnce, OutState::WaitPubComp | OutState::ResendPubRel, false) => {
                    OutState::ResendPubRel
                }
                (_, state @ (OutState::Acked | OutState::Failed), _) => state,
                (_, state, _)
                    if state.in_flight()
                        || matches!(state, OutState::ResendPublish | OutState::ResendPubRel) =>
                {
                    OutState::ResendPublish
                }
                _ => OutState::Publish,
            };
            waiting |= !matches!(state, OutState::Acked | OutState::Failed);
            m.set_state(state);
        }
        self.queued.clear();
        self.in_flight = 0;
        waiting
    }

    /// What to send after CONNACK accepted the connection: the stored
    /// messages in publish order, within the in-flight window `window` (0:
    /// no limit), which the broker's Receive Maximum may have narrowed.
    /// Unlike Paho, which re-sends everything and overruns `max_inflight`
    /// (its xfail test 03-publish-fill-inflight) and any Receive Maximum,
    /// messages beyond the window wait, in order, for acknowledgements to
    /// make room ([`Self::next_queued`]), PUBRELs to send included.
    pub fn resume(&mut self, window: usize) -> Vec<Resend> {
        let mut order: Vec<(u64, u16)> = self
            .messages
            .iter()
            .filter(|(_, m)| {
                matches!(
                    m.state(),
                    OutState::Publish
                        | OutState::Queued
                        | OutState::ResendPublish
                        | OutState::ResendPubRel
                )
            })
            .map(|(mid, m)| (m.seq(), mid))
            .collect();
        order.sort_unstable();
        self.queued.clear();
        let mut out = Vec::new();
        for (_, mid) in order {
            if self.has_room(window) {
                out.extend(self.take_slot(mid));
                continue;
            }
            if self.messages.get(mid).map(Stored::state) == Some(OutState::Publish) {
                self.set_state(mid, OutState::Queued);
            }
            self.queued.push_back(mid);
        }
        out
    }

    /// Empties the store and returns the messages not yet delivered, in
    /// publish order (`reinitialise`, `drop_out_messages`); `Acked` and
    /// `Failed` ones have ended already and just go.
    pub fn drain(&mut self) -> Vec<Stored> {
        self.journal_push(|| StoreOp::Cleared);
        self.queued.clear();
        self.in_flight = 0;
        self.bytes = 0;
        let mut all: Vec<Stored> = self
            .messages
            .drain()
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| !matches!(m.state(), OutState::Acked | OutState::Failed))
            .collect();
        all.sort_by_key(Stored::seq);
        all
    }
}

fn wait_state(qos: QoS) -> OutState {
    if qos == QoS::ExactlyOnce {
        OutState::WaitPubRec
    } else {
        OutState::WaitPubAck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V311: ProtocolVersion = ProtocolVersion::MQTTv311;

    fn ok(t: PacketType) -> ReasonCode {
        ReasonCode::success(t)
    }

    fn rc(t: PacketType, value: u8) -> ReasonCode {
        ReasonCode::from_value(t, value).unwrap()
    }

    /// Admits `mid` as live (connected, backlog sent) or awaiting the
    /// re-send; true if it is to be sent now.
    fn admit(s: &mut OutgoingStore, mid: u16, qos: QoS, live: bool, window: usize) -> bool {
        let p = Publish::new(format!("t/{mid}"), b"x".to_vec(), qos, mid);
        let admission = if live {
            Admission::Live
        } else {
            Admission::AwaitResume
        };
        s.admit(
            mid,
            p.borrowed().encode_boxed(V311).unwrap(),
            admission,
            window,
        )
    }

    /// Sends `mid` as the session would; returns (packet id, DUP) of the
    /// copy that went out.
    fn send(s: &mut OutgoingStore, mid: u16) -> (u16, bool) {
        let mut out = Vec::new();
        assert!(s.send(mid, &mut out), "{mid} is stored");
        let mut bytes = &out[..];
        match Decoder::new(V311).decode(&mut bytes) {
            Ok(Some(Packet::Publish(p))) => (p.packet_id, p.dup),
            other => panic!("not a PUBLISH: {other:?}"),
        }
    }

    fn describe(s: &mut OutgoingStore, r: Resend) -> String {
        match r {
            Resend::Publish(mid) => {
                let (id, dup) = send(s, mid);
                format!("publish {id} dup {dup}")
            }
            Resend::PubRel(mid) => format!("pubrel {mid}"),
        }
    }

    fn release(s: &mut OutgoingStore, window: usize) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(r) = s.next_queued(window) {
            sent.push(describe(s, r));
        }
        sent
    }

    fn resume(s: &mut OutgoingStore, window: usize) -> Vec<String> {
        s.resume(window)
            .into_iter()
            .map(|r| describe(s, r))
            .collect()
    }

    #[test]
    fn window_queues_and_acks_release_in_order() {
        let mut s = OutgoingStore::new();
        assert!(admit(&mut s, 1, QoS::AtLeastOnce, true, 2));
        assert_eq!(send(&mut s, 1), (1, false));
        assert!(admit(&mut s, 2, QoS::ExactlyOnce, true, 2));
        assert_eq!(send(&mut s, 2), (2, false));
        assert!(!admit(&mut s, 3, QoS::AtLeastOnce, true, 2));
        assert!(!admit(&mut s, 4, QoS::AtLeastOnce, true, 2));
        assert_eq!(s.in_flight(), 2);
        assert_eq!(s.waiting(), 2, "3 and 4 wait behind the window");
        assert!(s.on_puback(1, ok(PacketType::PubAck)));
        assert_eq!(s.waiting(), 2, "an acknowledged message does not wait");
        assert_eq!(release(&mut s, 2), ["publish 3 dup false"]);
        assert_eq!(s.waiting(), 1);
        assert!(
            !s.on_puback(1, ok(PacketType::PubAck)),
            "a duplicate ack is ignored"
        );
        assert!(s.contains(1), "kept until released");
        assert_eq!(s.release(1), Some((0, None)));
        assert!(!s.contains(1));
        assert_eq!(s.on_pubrec(2, ok(PacketType::PubRec)), PubRec::SendPubRel);
        assert!(release(&mut s, 2).is_empty(), "PUBREL still holds the slot");
        assert!(s.on_pubcomp(2, ok(PacketType::PubComp)));
        assert_eq!(release(&mut s, 2), ["publish 4 dup false"]);
        assert_eq!(send(&mut s, 4), (4, true), "a second copy is a DUP");
    }

    #[test]
    fn published_while_offline_goes_out_after_connack() {
        let mut s = OutgoingStore::new();
        assert!(!admit(&mut s, 1, QoS::AtLeastOnce, false, 20));
        s.reset_for_reconnect(true);
        assert_eq!(resume(&mut s, 20), ["publish 1 dup false"]);
        assert_eq!(s.in_flight(), 1);
    }

    /// Reference §12.3, the verified wire sequence: a1 (QoS 1 unacked), b2
    /// (QoS 2, PUBREC received), c2 (QoS 2, no PUBREC), then dis1 and dis2
    /// published while disconnected.
    fn three_in_flight_two_offline() -> OutgoingStore {
        let mut s = OutgoingStore::new();
        for (mid, qos) in [
            (1, QoS::AtLeastOnce),
            (2, QoS::ExactlyOnce),
            (3, QoS::ExactlyOnce),
        ] {
            assert!(admit(&mut s, mid, qos, true, 20));
            send(&mut s, mid);
        }
        assert_eq!(s.on_pubrec(2, ok(PacketType::PubRec)), PubRec::SendPubRel);
        admit(&mut s, 4, QoS::AtLeastOnce, false, 20);
        admit(&mut s, 5, QoS::ExactlyOnce, false, 20);
        s
    }

    #[test]
    fn reconnect_with_a_kept_session_resends_pubrel_for_received_qos2() {
        let mut s = three_in_flight_two_offline();
        s.reset_for_reconnect(false);
        assert_eq!(
            resume(&mut s, 20),
            [
                "publish 1 dup true",
                "pubrel 2",
                "publish 3 dup true",
                "publish 4 dup false",
                "publish 5 dup false",
            ]
        );
        assert_eq!(s.in_flight(), 5);
    }

    #[test]
    fn reconnect_with_a_clean_session_restarts_qos2_with_a_dup_publish() {
        let mut s = three_in_flight_two_offline();
        s.reset_for_reconnect(true);
        assert_eq!(
            resume(&mut s, 20),
            [
                "publish 1 dup true",
                "publish 2 dup true",
                "publish 3 dup true",
                "publish 4 dup false",
                "publish 5 dup false",
            ]
        );
    }

    #[test]
    fn resume_respects_the_window_paho_overruns() {
        let mut s = OutgoingStore::new();
        for mid in 1..=12 {
            if admit(&mut s, mid, QoS::AtLeastOnce, true, 10) {
                send(&mut s, mid);
            }
        }
        s.reset_for_reconnect(false);
        let sent = resume(&mut s, 10);
        assert_eq!(sent.len(), 10);
        assert_eq!(s.in_flight(), 10);
        assert!(s.on_puback(1, ok(PacketType::PubAck)));
        assert_eq!(release(&mut s, 10), ["publish 11 dup false"]);
    }

    /// A reconnect whose CONNACK announces a smaller window than the one
    /// the messages were in flight in: only as many as the new window
    /// allows go out again, oldest first, PUBRELs included; the rest follow
    /// as acknowledgements free slots, and nothing published meanwhile
    /// overtakes them. (Paho re-sends everything whatever the window; this
    /// store used to re-send everything that had been in flight.)
    #[test]
    fn messages_in_flight_at_a_cut_resume_within_the_new_window_in_order() {
        for clean in [false, true] {
            let mut s = OutgoingStore::new();
            assert!(admit(&mut s, 1, QoS::ExactlyOnce, true, 3));
            send(&mut s, 1);
            assert!(admit(&mut s, 2, QoS::AtLeastOnce, true, 3));
            send(&mut s, 2);
            assert!(admit(&mut s, 3, QoS::AtLeastOnce, true, 3));
            send(&mut s, 3);
            assert_eq!(s.on_pubrec(1, ok(PacketType::PubRec)), PubRec::SendPubRel);
            s.reset_for_reconnect(clean);
            assert_eq!(s.in_flight(), 0, "nothing in flight before CONNACK");
            assert!(
                !admit(&mut s, 4, QoS::AtLeastOnce, false, 3),
                "nothing new is sent before the re-send, clean={clean}"
            );
            let first = if clean {
                "publish 1 dup true"
            } else {
                "pubrel 1"
            };
            assert_eq!(resume(&mut s, 1), [first], "clean={clean}");
            assert_eq!(s.in_flight(), 1);
            let done = if clean {
                assert_eq!(s.on_pubrec(1, ok(PacketType::PubRec)), PubRec::SendPubRel);
                s.on_pubcomp(1, ok(PacketType::PubComp))
            } else {
                s.on_pubcomp(1, ok(PacketType::PubComp))
            };
            assert!(done);
            assert_eq!(release(&mut s, 1), ["publish 2 dup true"]);
            assert!(s.on_puback(2, ok(PacketType::PubAck)));
            assert_eq!(release(&mut s, 1), ["publish 3 dup true"]);
            assert!(s.on_puback(3, ok(PacketType::PubAck)));
            assert_eq!(release(&mut s, 1), ["publish 4 dup false"]);
        }
    }

    #[test]
    fn a_failed_pubrec_ends_the_message_without_pubrel() {
        let mut s = OutgoingStore::new();
        admit(&mut s, 7, QoS::ExactlyOnce, true, 0);
        send(&mut s, 7);
        let quota = rc(PacketType::PubRec, 0x97);
        assert_eq!(s.on_pubrec(7, quota), PubRec::Ended);
        assert_eq!(s.get(7).map(Stored::state), Some(OutState::Failed));
        assert_eq!(s.get(7).and_then(Stored::failure), Some(quota));
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.release(7), Some((0, Some(quota))));
        assert!(s.is_empty());
        assert_eq!(
            s.on_pubrec(8, ok(PacketType::PubRec)),
            PubRec::Ignored,
            "unknown id: no PUBREL"
        );
    }

    /// A broker's refusal ends the message as failed, keeps its reason,
    /// frees its packet and its slot; the next queued message takes it.
    #[test]
    fn a_refusing_puback_or_pubcomp_fails_the_message_with_its_reason() {
        let mut s = OutgoingStore::new();
        assert!(admit(&mut s, 1, QoS::AtLeastOnce, true, 1));
        send(&mut s, 1);
        assert!(!admit(&mut s, 2, QoS::ExactlyOnce, true, 1));
        let denied = rc(PacketType::PubAck, 0x87);
        assert!(s.on_puback(1, denied));
        let m = s.get(1).unwrap();
        assert_eq!((m.state(), m.failure()), (OutState::Failed, Some(denied)));
        assert_eq!(m.packet().len(), 2, "the PUBLISH is freed");
        assert_eq!(release(&mut s, 1), ["publish 2 dup false"]);
        assert_eq!(s.on_pubrec(2, ok(PacketType::PubRec)), PubRec::SendPubRel);
        let lost = rc(PacketType::PubComp, 0x92);
        assert!(s.on_pubcomp(2, lost));
        assert_eq!(s.release(2), Some((1, Some(lost))));
        assert!(s.drain().is_empty(), "the failed 1 is not undelivered");
    }

    #[test]
    fn drain_returns_messages_in_publish_order_and_decodable() {
        let mut s = OutgoingStore::new();
        admit(&mut s, 9, QoS::AtLeastOnce, false, 0);
        admit(&mut s, 2, QoS::ExactlyOnce, false, 0);
        admit(&mut s, 4, QoS::AtLeastOnce, true, 0);
        send(&mut s, 4);
        assert!(
            s.on_puback(4, ok(PacketType::PubAck)),
            "delivered: not among the undelivered"
        );
        let all = s.drain();
        assert_eq!(all.iter().map(Stored::mid).collect::<Vec<_>>(), [9, 2]);
        let p = all[1].publish(V311).unwrap();
        assert_eq!(
            (p.topic.as_str(), p.qos, p.packet_id),
            ("t/2", QoS::ExactlyOnce, 2)
        );
        assert!(s.is_empty() && s.in_flight() == 0);
    }

    #[test]
    fn a_stored_message_reads_its_id_and_keeps_seq_and_state_in_one_word() {
        let mut s = OutgoingStore::new();
        let long = Publish::new("t".repeat(300), vec![7; 20_000], QoS::ExactlyOnce, 4242);
        assert!(s.admit(
            4242,
            long.borrowed().encode_boxed(V311).unwrap(),
            Admission::Live,
            0
        ));
        let m = s.get(4242).unwrap();
        assert_eq!(
            (m.mid(), m.qos(), m.state(), m.seq()),
            (4242, QoS::ExactlyOnce, OutState::Publish, 0)
        );
        assert_eq!(m.facts(), (m.packet().len(), false, false));
        send(&mut s, 4242);
        assert_eq!(s.get(4242).unwrap().state(), OutState::WaitPubRec);
        assert_eq!(s.get(4242).unwrap().seq(), 0);
        assert_eq!(std::mem::size_of::<Option<Stored>>(), 24);
        // Every state survives the packing.
        for state in STATES {
            let mut m = Stored::new(Box::new([0x30, 0]), 77, state);
            assert_eq!((m.state(), m.seq()), (state, 77));
            m.set_state(OutState::Queued);
            assert_eq!(m.state(), OutState::Queued);
        }
    }
}
