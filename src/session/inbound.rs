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
}

impl InboundQos2 {
    /// Stores a message, replacing an earlier copy with the same mid (Paho
    /// keeps the last copy; the broker may re-send with DUP).
    pub fn store(&mut self, message: Message) {
        self.waiting.insert(message.mid, message);
    }

    /// PUBREL: the message to deliver, if it is known.
    pub fn release(&mut self, mid: u16) -> Option<Message> {
        self.waiting.remove(&mid)
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
