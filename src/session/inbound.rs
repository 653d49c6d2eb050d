//! Inbound state of one session: QoS 2 messages waiting for PUBREL, and the
//! broker's MQTT 5 topic aliases.

use std::collections::HashMap;

use super::event::Message;

/// Inbound QoS 2 messages between PUBLISH (answered with PUBREC at once) and
/// PUBREL (when they are delivered). Lookups are by id in
/// O(1), so a broker holding thousands unreleased costs no quadratic time.
#[derive(Debug, Default)]
pub struct InboundQos2 {
    waiting: HashMap<u16, Message>,
    /// The [`Message::weight`] of those waiting.
    bytes: usize,
}

impl InboundQos2 {
    /// Stores a message, replacing an earlier copy with the same mid (Paho
    /// keeps the last copy; the broker may re-send with DUP).
    pub fn store(&mut self, message: Message) {
        self.bytes += message.weight();
        if let Some(old) = self.waiting.insert(message.mid, message) {
            self.bytes -= old.weight();
        }
    }

    /// Whether `message` may be stored within `budget` bytes: it fits, or
    /// it is alone (a copy of it replaced), so a budget below the largest
    /// message never makes that message undeliverable.
    pub fn fits(&self, message: &Message, budget: usize) -> bool {
        let replaced = self.waiting.get(&message.mid).map_or(0, Message::weight);
        let others = self.bytes - replaced;
        others == 0 || others.saturating_add(message.weight()) <= budget
    }

    /// PUBREL: the message to deliver, if it is known.
    pub fn release(&mut self, mid: u16) -> Option<Message> {
        let message = self.waiting.remove(&mid)?;
        self.bytes -= message.weight();
        Some(message)
    }

    /// The bytes the waiting messages hold ([`Message::weight`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many wait for PUBREL.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when none wait.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Forgets them all (a clean session starts).
    pub fn clear(&mut self) {
        self.waiting.clear();
        self.bytes = 0;
    }
}

/// The inbound QoS 1 and 2 messages of this connection not yet
/// acknowledged (QoS 1: no PUBACK yet; QoS 2: no PUBCOMP yet), by packet
/// id: the broker may have no more of them at once than our MQTT 5 Receive
/// Maximum (§4.9). A set of 65,536 bits, allocated with the first.
#[derive(Debug, Default)]
pub struct Unacknowledged {
    bits: Vec<u64>,
    count: usize,
}

impl Unacknowledged {
    /// A message `mid` arrived; a copy of one already counted (DUP) counts
    /// once. Returns how many are unacknowledged now.
    pub fn arrived(&mut self, mid: u16) -> usize {
        if self.bits.is_empty() {
            self.bits = vec![0; 1024];
        }
        let (word, bit) = (usize::from(mid >> 6), 1u64 << (mid & 63));
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.count += 1;
        }
        self.count
    }

    /// Our PUBACK or PUBCOMP for `mid` is queued.
    pub fn acknowledged(&mut self, mid: u16) {
        let (word, bit) = (usize::from(mid >> 6), 1u64 << (mid & 63));
        if let Some(w) = self.bits.get_mut(word) {
            if *w & bit != 0 {
                *w &= !bit;
                self.count -= 1;
            }
        }
    }

    /// How many are unacknowledged.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when none are.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A new connection: the broker's send quota starts over (§4.9).
    pub fn clear(&mut self) {
        if self.count > 0 {
            self.bits.iter_mut().for_each(|w| *w = 0);
            self.count = 0;
        }
    }
}

/// The broker's topic aliases for this connection (MQTT 5 §3.3.2.3.4). They
/// live only as long as the network connection.
#[derive(Debug, Default)]
pub struct TopicAliases {
    maximum: u16,
    topics: HashMap<u16, String>,
}

impl TopicAliases {
    /// Aliases 1..=`maximum` are allowed (what our CONNECT announced as Topic
    /// Alias Maximum; 0: none).
    pub fn new(maximum: u16) -> TopicAliases {
        TopicAliases {
            maximum,
            topics: HashMap::new(),
        }
    }

    /// The topic for a PUBLISH that carries `alias`: a non-empty `topic`
    /// (re)defines it, an empty one uses it. `Err` says what the broker did
    /// wrong.
    pub fn resolve(&mut self, alias: u16, topic: &str) -> Result<String, String> {
        if alias == 0 || alias > self.maximum {
            return Err(format!(
                "topic alias {alias} outside 1..={} (our Topic Alias Maximum)",
                self.maximum
            ));
        }
        if topic.is_empty() {
            self.topics
                .get(&alias)
                .cloned()
                .ok_or_else(|| format!("topic alias {alias} used before it was defined"))
        } else {
            self.topics.insert(alias, topic.to_string());
            Ok(topic.to_string())
        }
    }
}
