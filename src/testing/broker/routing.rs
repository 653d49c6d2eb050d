//! The broker-wide state: sessions by client id and retained messages, and
//! how a published message reaches every matching subscription.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::packet::{PacketType, Properties, Property, PropertyId, ProtocolVersion, Publish, QoS};
use crate::topic::topic_matches_sub;

use super::limits::{publish_weight, BrokerLimits};
use super::session::Session;

#[derive(Default)]
pub(crate) struct State {
    pub(crate) sessions: HashMap<String, Session>,
    /// Retained messages by topic, kept with their MQTT 5 properties.
    pub(crate) retained: BTreeMap<String, Publish>,
    retained_bytes: usize,
    next_assigned_id: u64,
}

impl State {
    /// A client id for a client that sent an empty one.
    pub(crate) fn assign_client_id(&mut self) -> String {
        loop {
            self.next_assigned_id += 1;
            let id = format!("tether-auto-{}", self.next_assigned_id);
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Removes sessions whose expiry has passed.
    pub(crate) fn expire_sessions(&mut self, now: Instant) {
        self.sessions.retain(|_, s| !s.is_expired(now));
    }

    /// Stores or (for an empty payload) deletes the retained message. One
    /// that would pass the byte budget is not stored (the old one stays).
    pub(crate) fn retain(&mut self, publish: &Publish, limits: &BrokerLimits) {
        let old = self.retained.get(&publish.topic).map_or(0, publish_weight);
        if publish.payload.is_empty() {
            self.retained.remove(&publish.topic);
            self.retained_bytes -= old;
            return;
        }
        let new = publish_weight(publish);
        if self.retained_bytes - old + new > limits.max_retained_bytes {
            return;
        }
        let mut kept = publish.clone();
        kept.dup = false;
        kept.packet_id = 0;
        self.retained.insert(publish.topic.clone(), kept);
        self.retained_bytes = self.retained_bytes - old + new;
    }

    /// The retained messages a new subscription to `filter` receives.
    pub(crate) fn retained_matching(&self, filter: &str) -> Vec<Publish> {
        self.retained
            .values()
            .filter(|p| topic_matches_sub(filter, &p.topic))
            .cloned()
            .collect()
    }

    /// Delivers `publish` to every session with a matching subscription, once
    /// per session (at the highest QoS among its matching subscriptions).
    pub(crate) fn route(&mut self, publish: &Publish, sender: Option<&str>, limits: &BrokerLimits) {
        let now = Instant::now();
        for session in self.sessions.values_mut() {
            if session.is_expired(now) {
                continue;
            }
            let mut best: Option<QoS> = None;
            let mut retain_as_published = false;
            let mut identifiers = Vec::new();
            for (filter, sub) in &session.subscriptions {
                if !topic_matches_sub(filter, &publish.topic) {
                    continue;
                }
                if sub.options.no_local && sender == Some(session.client_id.as_str()) {
                    continue;
                }
                best = Some(best.map_or(sub.options.qos, |q| q.max(sub.options.qos)));
                retain_as_published |= sub.options.retain_as_published;
                identifiers.extend(sub.identifier);
            }
            let Some(granted) = best else { continue };
            let qos = granted.min(publish.qos);
            // Forwarded messages carry RETAIN only for retain-as-published
            // subscriptions (MQTT 5; 3.1.1 brokers clear it the same way).
            let retain = publish.retain && retain_as_published;
            let copy = copy_for(publish, session.protocol, qos, retain, &identifiers);
            session.deliver(copy, limits);
        }
    }
}

/// `publish` as one subscriber receives it: its own QoS, RETAIN, subscription
/// identifiers, and no properties for an MQTT 3 client.
pub(crate) fn copy_for(
    publish: &Publish,
    protocol: ProtocolVersion,
    qos: QoS,
    retain: bool,
    identifiers: &[u32],
) -> Publish {
    let mut copy = Publish::new(publish.topic.clone(), publish.payload.clone(), qos, 0);
    copy.retain = retain;
    if protocol == ProtocolVersion::MQTTv5 {
        let mut props = Properties::new(PacketType::Publish);
        for p in publish.properties.iter() {
            let id = p.id();
            if id != PropertyId::TopicAlias && id != PropertyId::SubscriptionIdentifier {
                // The property came from a valid PUBLISH, so it fits again.
                let _ = props.push(p);
            }
        }
        for id in identifiers {
            let _ = props.push(Property::SubscriptionIdentifier(*id));
        }
        copy.properties = props;
    }
    copy
}
