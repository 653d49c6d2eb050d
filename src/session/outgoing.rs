//! The outgoing store: QoS 1 and 2 messages from `publish` until the broker
//! has acknowledged them. It survives reconnects (only `reinitialise` or an
//! explicit drop empties it) and decides what is (re)sent when.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::packet::{Publish, QoS};

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

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The message; its `packet_id` is its mid and `dup` is what the next
    /// PUBLISH of it carries.
    pub publish: Publish,
    /// Where it stands.
    pub state: OutState,
}

/// What the session must put on the wire for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// A PUBLISH (first send or re-send).
    Publish(Publish),
    /// A PUBREL for this mid.
    PubRel(u16),
}

/// The ordered store of QoS 1/2 messages.
///
/// Every operation a publish or an acknowledgement triggers is O(log n) or
/// better, so a store holding a large backlog (everything published while
/// offline, or beyond the window) does not slow each message down; only
/// reconnects walk the whole store.
#[derive(Debug, Default)]
pub struct OutgoingStore {
    /// By insertion sequence: the order messages are (re)sent in.
    messages: BTreeMap<u64, Stored>,
    by_mid: HashMap<u16, u64>,
    /// Sequences of messages in state `Queued`.
    queued: BTreeSet<u64>,
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
        self.messages.is_empty()
    }

    /// True if `mid` belongs to a stored message.
    pub fn contains(&self, mid: u16) -> bool {
        self.by_mid.contains_key(&mid)
    }

    /// Messages occupying the in-flight window.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The stored messages in order.
    pub fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.messages.values()
    }

    fn has_room(&self, window: usize) -> bool {
        window == 0 || self.in_flight < window
    }

    /// Moves the message `seq` to `state`, keeping the counters right.
    fn set_state(&mut self, seq: u64, state: OutState) {
        let Some(m) = self.messages.get_mut(&seq) else {
            return;
        };
        if m.state.in_flight() {
            self.in_flight -= 1;
        }
        if m.state == OutState::Queued {
            self.queued.remove(&seq);
        }
        m.state = state;
        if state.in_flight() {
            self.in_flight += 1;
        }
        if state == OutState::Queued {
            self.queued.insert(seq);
        }
    }

    /// Marks `seq` sent and returns the PUBLISH to write; a later copy of it
    /// is a re-delivery (DUP).
    fn send(&mut self, seq: u64) -> Option<Publish> {
        let qos = self.messages.get(&seq)?.publish.qos;
        self.set_state(seq, wait_state(qos));
        let m = self.messages.get_mut(&seq)?;
        let out = m.publish.clone();
        m.publish.dup = true;
        Some(out)
    }

    /// Stores a new QoS 1/2 message and says whether to send it now.
    ///
    /// `link_open` is true when a connection exists (Paho sends even before
    /// CONNACK); `window` is the effective in-flight limit (0: none).
    pub fn admit(
        &mut self,
        mut publish: Publish,
        link_open: bool,
        window: usize,
    ) -> Option<Publish> {
        debug_assert!(publish.qos != QoS::AtMostOnce);
        publish.dup = false;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_mid.insert(publish.packet_id, seq);
        let send_now = self.has_room(window) && link_open;
        let state = if !self.has_room(window) {
            OutState::Queued
        } else {
            OutState::Publish
        };
        self.messages.insert(seq, Stored { publish, state });
        if state == OutState::Queued {
            self.queued.insert(seq);
        }
        if send_now {
            self.send(seq)
        } else {
            None
        }
    }

    fn take(&mut self, mid: u16, state: OutState) -> Option<Stored> {
        let seq = *self.by_mid.get(&mid)?;
        if self.messages.get(&seq)?.state != state {
            return None;
        }
        self.set_state(seq, OutState::Publish);
        self.by_mid.remove(&mid);
        let mut m = self.messages.remove(&seq)?;
        m.state = state;
        Some(m)
    }

    /// PUBACK: the QoS 1 message is done. Unknown or duplicate ids: `None`.
    pub fn on_puback(&mut self, mid: u16) -> Option<Stored> {
        self.take(mid, OutState::WaitPubAck)
    }

    /// PUBREC. A success moves the message to wait for PUBCOMP and returns
    /// true (send PUBREL). A failure reason (MQTT 5, 0x80 and up) ends the
    /// message: it is removed and returned in `Err`. Unknown ids: `Ok(false)`.
    pub fn on_pubrec(&mut self, mid: u16, failed: bool) -> Result<bool, Stored> {
        if failed {
            return match self.take(mid, OutState::WaitPubRec) {
                Some(m) => Err(m),
                None => Ok(false),
            };
        }
        let Some(&seq) = self.by_mid.get(&mid) else {
            return Ok(false);
        };
        if self.messages.get(&seq).map(|m| m.state) != Some(OutState::WaitPubRec) {
            return Ok(false);
        }
        self.set_state(seq, OutState::WaitPubComp);
        Ok(true)
    }

    /// PUBCOMP: the QoS 2 message is done. Unknown ids: `None`.
    pub fn on_pubcomp(&mut self, mid: u16) -> Option<Stored> {
        self.take(mid, OutState::WaitPubComp)
    }

    /// Sends queued messages, in order, while the window has room (after an
    /// acknowledgement freed a slot).
    pub fn release_queued(&mut self, window: usize) -> Vec<Publish> {
        let mut out = Vec::new();
        while self.has_room(window) {
            let Some(&seq) = self.queued.iter().next() else {
                break;
            };
            out.extend(self.send(seq));
        }
        out
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
        for m in self.messages.values_mut() {
            m.state = match (m.publish.qos, m.state, clean) {
                // A PUBREC was received: with the session kept, finish with
                // PUBREL; with a clean session, the broker forgot the id, so
                // the flow restarts with the PUBLISH (DUP already set).
                (QoS::ExactlyOnce, OutState::WaitPubComp | OutState::ResendPubRel, false) => {
                    OutState::ResendPubRel
                }
                (_, state, _) if state.in_flight() => OutState::ResendPublish,
                _ => OutState::Publish,
            };
        }
        self.queued.clear();
        self.in_flight = self
            .messages
            .values()
            .filter(|m| m.state.in_flight())
            .count();
    }

    /// What to send after CONNACK accepted the connection, in store order,
    /// within the in-flight window. Unlike Paho, which re-sends everything
    /// and overruns `max_inflight` (its xfail test 03-publish-fill-inflight),
    /// messages beyond the window wait as `Queued`. Messages that were in
    /// flight go out in any case: they have kept their slots.
    pub fn resume(&mut self, window: usize) -> Vec<Resend> {
        let mut out = Vec::new();
        let seqs: Vec<(u64, OutState)> = self.messages.iter().map(|(s, m)| (*s, m.state)).collect();
        for (seq, state) in seqs {
            match state {
                // PUBREL must go out to finish the exchange, in the slot the
                // message kept.
                OutState::ResendPubRel => {
                    self.set_state(seq, OutState::WaitPubComp);
                    out.push(Resend::PubRel(self.messages[&seq].publish.packet_id));
                }
                OutState::ResendPublish => {
                    out.extend(self.send(seq).map(Resend::Publish));
                }
                OutState::Publish | OutState::Queued if self.has_room(window) => {
                    out.extend(self.send(seq).map(Resend::Publish));
                }
                OutState::Publish => self.set_state(seq, OutState::Queued),
                _ => {}
            }
        }
        out
    }

    /// Empties the store and returns what it held (`reinitialise`,
    /// `drop_out_messages`).
    pub fn drain(&mut self) -> Vec<Stored> {
        self.by_mid.clear();
        self.queued.clear();
        self.in_flight = 0;
        std::mem::take(&mut self.messages).into_values().collect()
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

    fn msg(mid: u16, qos: QoS) -> Publish {
        Publish::new(format!("t/{mid}"), b"x".to_vec(), qos, mid)
    }

    fn mids(sends: &[Publish]) -> Vec<(u16, bool)> {
        sends.iter().map(|p| (p.packet_id, p.dup)).collect()
    }

    #[test]
    fn window_queues_and_acks_release_in_order() {
        let mut s = OutgoingStore::new();
        assert!(s.admit(msg(1, QoS::AtLeastOnce), true, 2).is_some());
        assert!(s.admit(msg(2, QoS::ExactlyOnce), true, 2).is_some());
        assert!(s.admit(msg(3, QoS::AtLeastOnce), true, 2).is_none());
        assert!(s.admit(msg(4, QoS::AtLeastOnce), true, 2).is_none());
        assert_eq!(s.in_flight(), 2);
        assert!(s.on_puback(1).is_some());
        assert_eq!(mids(&s.release_queued(2)), [(3, false)]);
        assert!(s.on_puback(1).is_none(), "a duplicate ack is ignored");
        assert_eq!(s.on_pubrec(2, false), Ok(true));
        assert!(
            s.release_queued(2).is_empty(),
            "PUBREL still holds the slot"
        );
        assert!(s.on_pubcomp(2).is_some());
        assert_eq!(mids(&s.release_queued(2)), [(4, false)]);
    }

    #[test]
    fn published_while_offline_goes_out_after_connack() {
        let mut s = OutgoingStore::new();
        assert!(s.admit(msg(1, QoS::AtLeastOnce), false, 20).is_none());
        s.reset_for_reconnect(true);
        assert_eq!(s.resume(20), [Resend::Publish(msg(1, QoS::AtLeastOnce))]);
    }

    /// Reference §12.3, the verified wire sequence: a1 (QoS 1 unacked), b2
    /// (QoS 2, PUBREC received), c2 (QoS 2, no PUBREC), then dis1 and dis2
    /// published while disconnected.
    fn three_in_flight_two_offline() -> OutgoingStore {
        let mut s = OutgoingStore::new();
        s.admit(msg(1, QoS::AtLeastOnce), true, 20);
        s.admit(msg(2, QoS::ExactlyOnce), true, 20);
        s.admit(msg(3, QoS::ExactlyOnce), true, 20);
        assert_eq!(s.on_pubrec(2, false), Ok(true));
        s.admit(msg(4, QoS::AtLeastOnce), false, 20);
        s.admit(msg(5, QoS::ExactlyOnce), false, 20);
        s
    }

    #[test]
    fn reconnect_with_a_kept_session_resends_pubrel_for_received_qos2() {
        let mut s = three_in_flight_two_offline();
        s.reset_for_reconnect(false);
        let dup = |mid, qos| {
            let mut p = msg(mid, qos);
            p.dup = true;
            Resend::Publish(p)
        };
        assert_eq!(
            s.resume(20),
            [
                dup(1, QoS::AtLeastOnce),
                Resend::PubRel(2),
                dup(3, QoS::ExactlyOnce),
                Resend::Publish(msg(4, QoS::AtLeastOnce)),
                Resend::Publish(msg(5, QoS::ExactlyOnce)),
            ]
        );
    }

    #[test]
    fn reconnect_with_a_clean_session_restarts_qos2_with_a_dup_publish() {
        let mut s = three_in_flight_two_offline();
        s.reset_for_reconnect(true);
        let sent: Vec<(u16, bool)> = s
            .resume(20)
            .into_iter()
            .map(|r| match r {
                Resend::Publish(p) => (p.packet_id, p.dup),
                Resend::PubRel(mid) => panic!("no PUBREL after a clean start, got {mid}"),
            })
            .collect();
        assert_eq!(
            sent,
            [(1, true), (2, true), (3, true), (4, false), (5, false)]
        );
    }

    #[test]
    fn resume_respects_the_window_paho_overruns() {
        let mut s = OutgoingStore::new();
        for mid in 1..=12 {
            s.admit(msg(mid, QoS::AtLeastOnce), true, 10);
        }
        s.reset_for_reconnect(false);
        let sent = s.resume(10);
        assert_eq!(sent.len(), 10);
        assert_eq!(s.in_flight(), 10);
        s.on_puback(1);
        let next = s.release_queued(10);
        assert_eq!(mids(&next), [(11, false)]);
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
            assert!(s.admit(msg(1, QoS::ExactlyOnce), true, 2).is_some());
            assert!(s.admit(msg(2, QoS::AtLeastOnce), true, 2).is_some());
            assert_eq!(s.on_pubrec(1, false), Ok(true));
            s.reset_for_reconnect(clean);
            assert_eq!(s.in_flight(), 2, "clean={clean}");
            assert!(
                s.admit(msg(3, QoS::AtLeastOnce), true, 2).is_none(),
                "no slot free before the re-send, clean={clean}"
            );
            let resent: Vec<String> = s
                .resume(2)
                .into_iter()
                .map(|r| match r {
                    Resend::Publish(p) => format!("publish {} dup {}", p.packet_id, p.dup),
                    Resend::PubRel(mid) => format!("pubrel {mid}"),
                })
                .collect();
            let first = if clean {
                "publish 1 dup true"
            } else {
                "pubrel 1"
            };
            assert_eq!(resent, [first, "publish 2 dup true"], "clean={clean}");
            assert_eq!(s.in_flight(), 2);
            assert!(s.on_puback(2).is_some());
            assert_eq!(mids(&s.release_queued(2)), [(3, false)]);
        }
    }

    #[test]
    fn a_failed_pubrec_ends_the_message_without_pubrel() {
        let mut s = OutgoingStore::new();
        s.admit(msg(7, QoS::ExactlyOnce), true, 0);
        let done = s.on_pubrec(7, true).unwrap_err();
        assert_eq!(done.publish.packet_id, 7);
        assert!(s.is_empty());
        assert_eq!(s.on_pubrec(8, false), Ok(false), "unknown id: no PUBREL");
    }
}
