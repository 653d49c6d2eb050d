//! Topic names and topic filters: validation with Paho's error texts,
//! [`topic_matches_sub`], and a filter trie ([`TopicMatcher`]) that finds every
//! filter matching a topic.
//!
//! Matching follows Paho (and the specification): `+` matches exactly one
//! level, which may be empty; `#` as the last level matches its parent level
//! and everything below; and a wildcard in the first level never matches a
//! topic that starts with `$` (so `#` does not match `$SYS/broker/uptime`, but
//! `$SYS/#` does).

mod matcher;

pub use matcher::{Matches, TopicMatcher};

use crate::error::Error;
use crate::packet::ProtocolVersion;

/// The longest topic name or filter MQTT can carry, in bytes.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Checks a topic name for `publish()` as Paho does, with Paho's messages:
/// empty (below MQTT 5, where a topic alias may stand for it) gives
/// "Invalid topic.", `+` or `#` "Publish topic cannot contain wildcards.",
/// more than 65,535 bytes "Publish topic is too long.". A U+0000, which Paho
/// would send and the broker would reject, gives "Invalid topic.".
///
/// ```
/// use mqtt_tether::topic::validate_topic_name;
/// use mqtt_tether::packet::ProtocolVersion::{MQTTv311, MQTTv5};
/// assert!(validate_topic_name("a/b", MQTTv311).is_ok());
/// assert!(validate_topic_name("", MQTTv5).is_ok());
/// assert_eq!(validate_topic_name("a/+", MQTTv311).unwrap_err().to_string(),
///            "Publish topic cannot contain wildcards.");
/// ```
pub fn validate_topic_name(topic: &str, protocol: ProtocolVersion) -> Result<(), Error> {
    if topic.is_empty() && protocol != ProtocolVersion::MQTTv5 {
        return Err(Error::InvalidTopic);
    }
    if topic.contains(['+', '#']) {
        return Err(Error::PublishTopicWildcards);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(Error::PublishTopicTooLong);
    }
    if topic.contains('\0') {
        return Err(Error::InvalidTopic);
    }
    Ok(())
}

/// Checks a subscription filter as Paho does: it is refused with "Invalid
/// subscription filter." when it is empty, longer than 65,535 bytes, has a
/// level of more than one character that contains `+` or `#`, or contains
/// `#/` (so `#` can only be the last level). A U+0000 is refused too.
///
/// ```
/// use mqtt_tether::topic::validate_topic_filter;
/// assert!(validate_topic_filter("sport/+/player1/#").is_ok());
/// assert!(validate_topic_filter("sport/#/ranking").is_err());
/// assert!(validate_topic_filter("sport+").is_err());
/// ```
pub fn validate_topic_filter(filter: &str) -> Result<(), Error> {
    let bad = filter.is_empty()
        || filter.len() > MAX_TOPIC_LEN
        || filter.contains("#/")
        || filter.contains('\0')
        || filter
            .split('/')
            .any(|level| level.len() > 1 && level.contains(['+', '#']));
    if bad {
        Err(Error::InvalidSubscriptionFilter(filter.to_string()))
    } else {
        Ok(())
    }
}

/// Paho's `topic_matches_sub(sub, topic)`: whether the filter `sub` matches
/// the topic name `topic`. The filter is not validated; a `#` that is not the
/// last level is compared literally, as Paho's trie does.
///
/// ```
/// use mqtt_tether::topic_matches_sub;
/// assert!(topic_matches_sub("foo/+/#", "foo/bar/baz"));
/// assert!(topic_matches_sub("foo/#", "foo"));
/// assert!(!topic_matches_sub("#", "$SYS/bar"));
/// ```
pub fn topic_matches_sub(sub: &str, topic: &str) -> bool {
    let normal = !topic.starts_with('$');
    let mut filter_levels = sub.split('/').peekable();
    let mut topic_levels = topic.split('/');
    let mut first = true;
    loop {
        let wildcard_allowed = normal || !first;
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) if filter_levels.peek().is_none() => return wildcard_allowed,
            (Some("+"), Some(_)) if wildcard_allowed => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_validation_uses_pahos_texts() {
        use ProtocolVersion::*;
        let msg = |t: &str, p| validate_topic_name(t, p).unwrap_err().to_string();
        assert_eq!(msg("", MQTTv311), "Invalid topic.");
        assert_eq!(msg("", MQTTv31), "Invalid topic.");
        assert_eq!(
            msg("a/#", MQTTv5),
            "Publish topic cannot contain wildcards."
        );
        assert_eq!(
            msg("+", MQTTv311),
            "Publish topic cannot contain wildcards."
        );
        assert_eq!(
            msg(&"x".repeat(65_536), MQTTv311),
            "Publish topic is too long."
        );
        assert_eq!(msg("a\0b", MQTTv311), "Invalid topic.");
        assert!(validate_topic_name(&"x".repeat(65_535), MQTTv311).is_ok());
        assert!(validate_topic_name("☃/$SYS//", MQTTv311).is_ok());
    }

    #[test]
    fn filter_validation_follows_paho() {
        for ok in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "+/+",
            "/",
            "$SYS/#",
            "a//b",
            "$share/g/a",
        ] {
            assert!(validate_topic_filter(ok).is_ok(), "{ok:?} should be valid");
        }
        for bad in ["", "a/#/b", "#/", "a#", "a/b+", "++", "a/+b/c", "x\0"] {
            assert_eq!(
                validate_topic_filter(bad).unwrap_err().to_string(),
                format!("Invalid subscription filter: {bad:?}."),
                "{bad:?} should be invalid"
            );
        }
        assert!(validate_topic_filter(&"x".repeat(65_536)).is_err());
        // A long filter's start is shown, and its length.
        let long = format!("a/#/{}", "x".repeat(65_530));
        assert_eq!(
            validate_topic_filter(&long).unwrap_err().to_string(),
            format!(
                "Invalid subscription filter: \"a/#/{}\"... (65534 bytes).",
                "x".repeat(96)
            )
        );
    }
}
