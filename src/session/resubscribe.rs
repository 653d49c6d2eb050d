//! Automatic resubscribe (beyond Paho, opt-in): what `subscribe()` asked
//! for, so it can be asked again when a broker has forgotten it.
//!
//! Paho leaves this to the application (subscribe in `on_connect`). With
//! [`SessionConfig::auto_resubscribe`](super::SessionConfig::auto_resubscribe)
//! the session sends the book again after a CONNACK whose session-present
//! flag is 0, and after any CONNACK the entries the broker never confirmed
//! (asked while offline, or lost with a connection before their SUBACK).

use std::collections::HashMap;

use crate::packet::{Properties, SubscribeOptions};

/// One filter, as last asked.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    filter: String,
    options: SubscribeOptions,
    properties: Properties,
    /// A SUBACK granted it on the current session.
    confirmed: bool,
}

/// The filters `subscribe()` asked for and `unsubscribe()` did not remove,
/// in the order first asked.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionBook {
    entries: Vec<Entry>,
    /// SUBSCRIBE packet id -> the filters it carried.
    waiting: HashMap<u16, Vec<String>>,
}

impl SubscriptionBook {
    /// An empty book.
    pub fn new() -> SubscriptionBook {
        SubscriptionBook::default()
    }

    /// Number of filters held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no filter is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The filters held, in order.
    pub fn filters(&self) -> impl Iterator<Item = (&str, SubscribeOptions)> {
        self.entries.iter().map(|e| (e.filter.as_str(), e.options))
    }

    /// `subscribe()` asked for `filters` (sent as packet `mid`, or not sent
    /// at all when `mid` is `None`). A filter asked again replaces its entry.
    pub fn subscribed(
        &mut self,
        filters: &[(String, SubscribeOptions)],
        properties: &Properties,
        mid: Option<u16>,
    ) {
        for (filter, options) in filters {
            let entry = Entry {
                filter: filter.clone(),
                options: *options,
                properties: properties.clone(),
                confirmed: false,
            };
            match self.entries.iter_mut().find(|e| &e.filter == filter) {
                Some(e) => *e = entry,
                None => self.entries.push(entry),
            }
        }
        if let Some(mid) = mid {
            self.waiting
                .insert(mid, filters.iter().map(|(f, _)| f.clone()).collect());
        }
    }

    /// `unsubscribe()` removed `filters`.
    pub fn unsubscribed(&mut self, filters: &[String]) {
        self.entries.retain(|e| !filters.contains(&e.filter));
    }

    /// `filters` cannot be asked for from this broker (a limit it announced
    /// forbids them): they leave the book, as a refused SUBACK's do.
    pub fn refused(&mut self, filters: &[String]) {
        self.entries.retain(|e| !filters.contains(&e.filter));
    }

    /// A SUBACK for `mid` arrived; `granted[i]` says whether its i-th filter
    /// was granted. A refused filter leaves the book: asking again would be
    /// refused again.
    pub fn suback(&mut self, mid: u16, granted: &[bool]) {
        let Some(filters) = self.waiting.remove(&mid) else {
            return;
        };
        for (filter, ok) in filters.iter().zip(granted) {
            if *ok {
                if let Some(e) = self.entries.iter_mut().find(|e| &e.filter == filter) {
                    e.confirmed = true;
                }
            } else {
                self.entries.retain(|e| &e.filter != filter);
            }
        }
    }

    /// A CONNACK accepted a connection: the SUBSCRIBEs to send now, one per
    /// distinct property set, each as its filters and properties. With
    /// `session_present` false every entry goes; otherwise only those the
    /// broker never confirmed.
    pub fn to_send(
        &mut self,
        session_present: bool,
    ) -> Vec<(Vec<(String, SubscribeOptions)>, Properties)> {
        self.waiting.clear();
        let mut packets: Vec<(Vec<(String, SubscribeOptions)>, Properties)> = Vec::new();
        for e in &mut self.entries {
            if session_present && e.confirmed {
                continue;
            }
            e.confirmed = false;
            match packets.iter_mut().find(|(_, p)| *p == e.properties) {
                Some((filters, _)) => filters.push((e.filter.clone(), e.options)),
                None => packets.push((vec![(e.filter.clone(), e.options)], e.properties.clone())),
            }
        }
        packets
    }

    /// A SUBSCRIBE built by [`to_send`](Self::to_send) went out as `mid`.
    pub fn sent(&mut self, mid: u16, filters: &[(String, SubscribeOptions)]) {
        self.waiting
            .insert(mid, filters.iter().map(|(f, _)| f.clone()).collect());
    }
}
