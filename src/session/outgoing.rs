//! The outgoing store: QoS 1 and 2 messages from `publish` until the broker
//! has acknowledged them. It survives reconnects (only `reinitialise` or an
//! explicit drop empties it) and decides what is (re)sent when.
//!
//! A message is kept as its encoded PUBLISH, in one allocation of exactly
//! its size: sending it is one copy into the transmit buffer, and a message
//! queued while offline costs little beyond its topic and payload.

use std::collections::VecDeque;

use super::mid_table::MidTable;
use crate::packet::{DecodeError, Decoder, Packet, ProtocolVersion, Publish, QoS};

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
    /// session): the PUBLISH is re-sent (DUP) after CONNACK. It keeps its
    /// in-flight slot meanwhile (see [`OutgoingStore::reset_for_reconnect`]).
    ResendPublish,
    /// PUBREC received before a reconnect: PUBREL is re-sent after CONNACK.
    /// It keeps its in-flight slot meanwhile.
    ResendPubRel,
    /// PUBREL sent; waiting for PUBCOMP.
    WaitPubComp,
    /// Finished (PUBACK, PUBCOMP, or a failed MQTT 5 PUBREC), out of the
    /// window, and kept until the application has had its
    /// [`Event::Published`](super::Event::Published) (see
    /// [`OutgoingStore::release`]): until then its `MessageInfo` still
    /// reads "not yet", as Paho's does until `on_publish` has run.
    Acked,
}

impl OutState {
    /// True while the message occupies a slot of the in-flight window.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            OutState::WaitPubAck
                | OutState::WaitPubRec
                | OutState::WaitPubComp
                | OutState::ResendPublish
                | OutState::ResendPubRel
        )
    }
}

/// One stored message: 24 bytes besides its packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The encoded PUBLISH; its DUP flag is what the next copy carries.
    packet: Box<[u8]>,
    /// The place in the order of `publish` calls (the order messages are
    /// (re)sent in) in the low 60 bits, the [`OutState`] in the top 4: a
    /// session cannot publish 2^60 messages.
    seq_state: u64,
}

const SEQ_BITS: u32 = 60;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const STATES: [OutState; 8] = [
    OutState::Queued,
    OutState::Publish,
    OutState::WaitPubAck,
    OutState::WaitPubRec,
    OutState::ResendPublish,
    OutState::ResendPubRel,
    OutState::WaitPubComp,
    OutState::Acked,
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
        STATES[(self.seq_state >> SEQ_BITS) as usize & 7]
    }

    /// Its place in the order of `publish` calls (increasing within one
    /// session).
    pub fn seq(&self) -> u64 {
        self.seq_state & SEQ_MASK
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

/// What the session must put on the wire for the store after a reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// The stored PUBLISH of this mid (first send or re-send): take its
    /// bytes with [`OutgoingStore::send`].
    Publish(u16),
    /// A PUBREL for this mid.
    PubRel(u16),
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
}

impl OutgoingStore {
    /// An empty store.
    pub fn new() -> OutgoingStore {
        OutgoingStore::default()
    }

    /// How many messages are stored (queued and in flight), the number
    /// `max_queued_messages` limits.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.messages.len() == 0
    }

    /// True if `mid` belongs to a stored message.
    pub fn contains(&self, mid: u16) -> bool {
        self.messages.contains(mid)
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
        let Some(m) = self.messages.get(mid) else {
            return false;
        };
        let state = wait_state(m.qos());
        self.set_state(mid, state);
        if let Some(m) = self.messages.get_mut(mid) {
            out.extend_from_slice(&m.packet);
            m.packet[0] |= 0b1000;
        }
        true
    }

    /// Stores a new QoS 1/2 message, given as its encoded PUBLISH (DUP
    /// clear, packet identifier `mid`), and says whether to send it now
    /// (with [`Self::send`]).
    ///
    /// `link_open` is true when a connection exists (Paho sends even before
    /// CONNACK); `window` is the effective in-flight limit (0: none).
    pub fn admit(&mut self, mid: u16, packet: Box<[u8]>, link_open: bool, window: usize) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let room = self.has_room(window);
        let state = if room {
            OutState::Publish
        } else {
            self.queued.push_back(mid);
            OutState::Queued
        };
        self.messages.insert(mid, Stored::new(packet, seq, state));
        room && link_open
    }

    /// Ends `mid` if it is in `state`: out of the window, kept as `Acked`
    /// until released.
    fn finish(&mut self, mid: u16, state: OutState) -> bool {
        if self.messages.get(mid).map(Stored::state) != Some(state) {
            return false;
        }
        self.set_state(mid, OutState::Acked);
        true
    }

    /// Removes an `Acked` message once the application has had its
    /// `Published` event; anything else stays. True if it was removed.
    pub fn release(&mut self, mid: u16) -> bool {
        if self.messages.get(mid).map(Stored::state) != Some(OutState::Acked) {
            return false;
        }
        self.messages.remove(mid).is_some()
    }

    /// PUBACK: the QoS 1 message is done (now `Acked`). Unknown or
    /// duplicate ids: false.
    pub fn on_puback(&mut self, mid: u16) -> bool {
        self.finish(mid, OutState::WaitPubAck)
    }

    /// PUBREC, with a failure reason (MQTT 5, 0x80 and up) or not.
    pub fn on_pubrec(&mut self, mid: u16, failed: bool) -> PubRec {
        if self.messages.get(mid).map(Stored::state) != Some(OutState::WaitPubRec) {
            return PubRec::Ignored;
        }
        if failed {
            self.finish(mid, OutState::WaitPubRec);
            return PubRec::Ended;
        }
        self.set_state(mid, OutState::WaitPubComp);
        PubRec::SendPubRel
    }

    /// PUBCOMP: the QoS 2 message is done (now `Acked`). Unknown ids:
    /// false.
    pub fn on_pubcomp(&mut self, mid: u16) -> bool {
        self.finish(mid, OutState::WaitPubComp)
    }

    /// The next queued message to send now that the window has room (after
    /// an acknowledgement freed a slot): its id, for [`Self::send`].
    pub fn next_queued(&mut self, window: usize) -> Option<u16> {
        while self.has_room(window) {
            let mid = self.queued.pop_front()?;
            if self.messages.get(mid).map(Stored::state) == Some(OutState::Queued) {
                return Some(mid);
            }
        }
        None
    }

    /// Prepares the store for a new connection (Paho's
    /// `_messages_reconnect_reset`, reference §12.3). `clean` is whether the
    /// CONNECT starts a clean session.
    ///
    /// Unlike Paho, which sets its in-flight count to 0 here, the messages
    /// that were in flight keep their slots until they are re-sent after
    /// CONNACK. Otherwise a message published between the new CONNECT and
    /// the re-send takes a slot that the re-sent message (or its PUBREL)
    /// then takes again, and the client has more than `max_inflight`
    /// messages in flight. The broker still holds the QoS 2 messages it has
    /// received and not released, and Mosquitto counts them against its
    /// limit of incoming in-flight messages per client (its
    /// `max_inflight_messages`, 20 by default, as is the client's
    /// `max_inflight`): a PUBLISH beyond it is dropped, answered for MQTT
    /// 3.1.1 with what reads as an ordinary PUBACK, and the client is
    /// disconnected. Found by the chaos test (tests/reconnect_chaos.rs),
    /// which lost a QoS 1 message that way.
    pub fn reset_for_reconnect(&mut self, clean: bool) {
        let mut in_flight = 0;
        for m in self.messages.values_mut() {
            let qos = m.qos();
            let state = match (qos, m.state(), clean) {
                // A PUBREC was received: with the session kept, finish with
                // PUBREL; with a clean session, the broker forgot the id, so
                // the flow restarts with the PUBLISH (DUP already set).
                (QoS::ExactlyOnce, OutState::WaitPubComp | OutState::ResendPubRel, false) => {
                    OutState::ResendPubRel
                }
                (_, OutState::Acked, _) => OutState::Acked,
                (_, state, _) if state.in_flight() => OutState::ResendPublish,
                _ => OutState::Publish,
            };
            m.set_state(state);
            if state.in_flight() {
                in_flight += 1;
            }
        }
        self.queued.clear();
        self.in_flight = in_flight;
    }

    /// What to send after CONNACK accepted the connection, in store order,
    /// within the in-flight window. Unlike Paho, which re-sends everything
    /// and overruns `max_inflight` (its xfail test 03-publish-fill-inflight),
    /// messages beyond the window wait as `Queued`. Messages that were in
    /// flight go out in any case: they have kept their slots.
    pub fn resume(&mut self, window: usize) -> Vec<Resend> {
        let mut order: Vec<(u64, u16, OutState)> = self
            .messages
            .iter()
            .map(|(mid, m)| (m.seq(), mid, m.state()))
            .collect();
        order.sort_unstable_by_key(|&(seq, _, _)| seq);
        self.queued.clear();
        let mut out = Vec::new();
        for (_, mid, state) in order {
            match state {
                // PUBREL must go out to finish the exchange, in the slot the
                // message kept.
                OutState::ResendPubRel => {
                    self.set_state(mid, OutState::WaitPubComp);
                    out.push(Resend::PubRel(mid));
                }
                OutState::ResendPublish => out.push(Resend::Publish(mid)),
                OutState::Publish | OutState::Queued if self.has_room(window) => {
                    // In flight from now on, so the window counts it; the
                    // session's `send` of it leaves the count as it is.
                    let qos = self.messages.get(mid).map_or(QoS::AtLeastOnce, Stored::qos);
                    self.set_state(mid, wait_state(qos));
                    out.push(Resend::Publish(mid));
                }
                OutState::Publish | OutState::Queued => {
                    self.set_state(mid, OutState::Queued);
                    self.queued.push_back(mid);
                }
                _ => {}
            }
        }
        out
    }

    /// Empties the store and returns the messages not yet delivered, in
    /// publish order (`reinitialise`, `drop_out_messages`); `Acked` ones
    /// were delivered and just go.
    pub fn drain(&mut self) -> Vec<Stored> {
        self.queued.clear();
        self.in_flight = 0;
        let mut all: Vec<Stored> = self
            .messages
            .drain()
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| m.state() != OutState::Acked)
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

    fn admit(s: &mut OutgoingStore, mid: u16, qos: QoS, link_open: bool, window: usize) -> bool {
        let p = Publish::new(format!("t/{mid}"), b"x".to_vec(), qos, mid);
        s.admit(
            mid,
            p.borrowed().encode_boxed(V311).unwrap(),
            link_open,
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

    fn release(s: &mut OutgoingStore, window: usize) -> Vec<(u16, bool)> {
        let mut sent = Vec::new();
        while let Some(mid) = s.next_queued(window) {
            sent.push(send(s, mid));
        }
        sent
    }

    fn resume(s: &mut OutgoingStore, window: usize) -> Vec<String> {
        s.resume(window)
            .into_iter()
            .map(|r| match r {
                Resend::Publish(mid) => {
                    let (id, dup) = send(s, mid);
                    format!("publish {id} dup {dup}")
                }
                Resend::PubRel(mid) => format!("pubrel {mid}"),
            })
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
        assert!(s.on_puback(1));
        assert_eq!(release(&mut s, 2), [(3, false)]);
        assert!(!s.on_puback(1), "a duplicate ack is ignored");
        assert!(s.contains(1), "kept until released");
        assert!(s.release(1) && !s.contains(1));
        assert_eq!(s.on_pubrec(2, false), PubRec::SendPubRel);
        assert!(release(&mut s, 2).is_empty(), "PUBREL still holds the slot");
        assert!(s.on_pubcomp(2));
        assert_eq!(release(&mut s, 2), [(4, false)]);
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
        assert_eq!(s.on_pubrec(2, false), PubRec::SendPubRel);
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
        assert!(s.on_puback(1));
        assert_eq!(release(&mut s, 10), [(11, false)]);
    }

    /// Messages in flight at a cut keep their slots until they are re-sent:
    /// one published before the re-send (between CONNECT and CONNACK, from
    /// another thread) waits instead of taking a slot the re-send needs, and
    /// the window is never overrun. (Paho resets its in-flight count to 0
    /// here; so did this store, and with Mosquitto's limit of 20 incoming
    /// messages per client that lost a QoS 1 message in the chaos test.)
    #[test]
    fn messages_in_flight_at_a_cut_keep_their_slots_until_resent() {
        for clean in [false, true] {
            let mut s = OutgoingStore::new();
            assert!(admit(&mut s, 1, QoS::ExactlyOnce, true, 2));
            send(&mut s, 1);
            assert!(admit(&mut s, 2, QoS::AtLeastOnce, true, 2));
            send(&mut s, 2);
            assert_eq!(s.on_pubrec(1, false), PubRec::SendPubRel);
            s.reset_for_reconnect(clean);
            assert_eq!(s.in_flight(), 2, "clean={clean}");
            assert!(
                !admit(&mut s, 3, QoS::AtLeastOnce, true, 2),
                "no slot free before the re-send, clean={clean}"
            );
            let first = if clean {
                "publish 1 dup true"
            } else {
                "pubrel 1"
            };
            assert_eq!(
                resume(&mut s, 2),
                [first, "publish 2 dup true"],
                "clean={clean}"
            );
            assert_eq!(s.in_flight(), 2);
            assert!(s.on_puback(2));
            assert_eq!(release(&mut s, 2), [(3, false)]);
        }
    }

    #[test]
    fn a_failed_pubrec_ends_the_message_without_pubrel() {
        let mut s = OutgoingStore::new();
        admit(&mut s, 7, QoS::ExactlyOnce, true, 0);
        send(&mut s, 7);
        assert_eq!(s.on_pubrec(7, true), PubRec::Ended);
        assert_eq!(s.get(7).map(Stored::state), Some(OutState::Acked));
        assert_eq!(s.in_flight(), 0);
        assert!(s.release(7) && s.is_empty());
        assert_eq!(
            s.on_pubrec(8, false),
            PubRec::Ignored,
            "unknown id: no PUBREL"
        );
    }

    #[test]
    fn drain_returns_messages_in_publish_order_and_decodable() {
        let mut s = OutgoingStore::new();
        admit(&mut s, 9, QoS::AtLeastOnce, false, 0);
        admit(&mut s, 2, QoS::ExactlyOnce, false, 0);
        admit(&mut s, 4, QoS::AtLeastOnce, true, 0);
        send(&mut s, 4);
        assert!(s.on_puback(4), "delivered: not among the undelivered");
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
        assert!(s.admit(4242, long.borrowed().encode_boxed(V311).unwrap(), true, 0));
        let m = s.get(4242).unwrap();
        assert_eq!(
            (m.mid(), m.qos(), m.state(), m.seq()),
            (4242, QoS::ExactlyOnce, OutState::Publish, 0)
        );
        send(&mut s, 4242);
        assert_eq!(s.get(4242).unwrap().state(), OutState::WaitPubRec);
        assert_eq!(s.get(4242).unwrap().seq(), 0);
        assert_eq!(std::mem::size_of::<Option<Stored>>(), 24);
    }
}
