//! Topic matching: Paho's matcher vectors (paho-python.md §17.5), the filter
//! trie's dispatch order, agreement between the two, and very deep topics.

use mqtt_tether::topic::{validate_topic_filter, TopicMatcher};
use mqtt_tether::topic_matches_sub;
use proptest::prelude::*;

const MATCHING: &[(&str, &str)] = &[
    ("foo/bar", "foo/bar"),
    ("foo/+", "foo/bar"),
    ("foo/+/baz", "foo/bar/baz"),
    ("foo/+/#", "foo/bar/baz"),
    ("A/B/+/#", "A/B/B/C"),
    ("#", "foo/bar/baz"),
    ("#", "/foo/bar"),
    ("/#", "/foo/bar"),
    ("$SYS/bar", "$SYS/bar"),
    ("$SYS/#", "$SYS/foo/bar"),
    // From the reference's prose: `+` matches an empty level, `#` its parent.
    ("+/+", "/foo"),
    ("foo/#", "foo"),
];

const NOT_MATCHING: &[(&str, &str)] = &[
    ("test/6/#", "test/3"),
    ("foo/bar", "foo"),
    ("foo/+", "foo/bar/baz"),
    ("foo/+/baz", "foo/bar/bar"),
    ("foo/+/#", "fo2/bar/baz"),
    ("/#", "foo/bar"),
    ("#", "$SYS/bar"),
    ("$BOB/bar", "$SYS/bar"),
    ("+/bar", "$SYS/bar"),
];

#[test]
fn topic_matches_sub_passes_pahos_vectors() {
    for (sub, topic) in MATCHING {
        assert!(topic_matches_sub(sub, topic), "{sub} should match {topic}");
    }
    for (sub, topic) in NOT_MATCHING {
        assert!(
            !topic_matches_sub(sub, topic),
            "{sub} should not match {topic}"
        );
    }
}

#[test]
fn the_trie_passes_the_same_vectors() {
    for (sub, topic) in MATCHING {
        let mut m = TopicMatcher::new();
        m.insert(sub, ());
        assert_eq!(m.matches(topic).count(), 1, "{sub} should match {topic}");
    }
    for (sub, topic) in NOT_MATCHING {
        let mut m = TopicMatcher::new();
        m.insert(sub, ());
        assert_eq!(
            m.matches(topic).count(),
            0,
            "{sub} should not match {topic}"
        );
    }
}

#[test]
fn the_trie_returns_every_matching_filter_in_pahos_order() {
    // Paho's test_message_callback: "topic/callback/1" reaches both cb1 and
    // cb2 ("topic/callback/+"); "topic/value" reaches neither.
    let mut m = TopicMatcher::new();
    m.insert("topic/callback/1", "cb1");
    m.insert("topic/callback/+", "cb2");
    let found = |t| m.matches(t).map(|(_, v)| *v).collect::<Vec<_>>();
    assert_eq!(found("topic/callback/1"), ["cb1", "cb2"]);
    assert_eq!(found("topic/callback/3"), ["cb2"]);
    assert!(found("topic/value").is_empty());

    // Depth first; exact before `+` before `#` at every level.
    let mut m = TopicMatcher::new();
    for f in ["#", "a/#", "+/b", "a/b", "a/+", "+/+", "a/b/#", "+/#"] {
        m.insert(f, ());
    }
    let order: Vec<&str> = m.matches("a/b").map(|(f, _)| f).collect();
    assert_eq!(
        order,
        ["a/b", "a/b/#", "a/+", "a/#", "+/b", "+/+", "+/#", "#"]
    );
}

#[test]
fn insert_get_remove() {
    let mut m = TopicMatcher::new();
    assert_eq!(m.insert("a/+/c", 1), None);
    assert_eq!(m.insert("a/+/c", 2), Some(1));
    assert_eq!(m.insert("a/+", 3), None);
    assert_eq!(m.len(), 2);
    assert_eq!(m.get("a/+/c"), Some(&2));
    assert_eq!(m.get("a/x/c"), None, "get is exact, not a match");
    assert_eq!(m.remove("a/+/c"), Some(2));
    assert_eq!(
        m.remove("a/+/c"),
        None,
        "removing an unknown filter is ignored"
    );
    assert_eq!(
        m.get("a/+"),
        Some(&3),
        "a shorter filter on the same path survives"
    );
    assert_eq!(m.remove("a/+"), Some(3));
    assert!(m.is_empty());
    assert_eq!(m.matches("a/b").count(), 0);
    m.insert("x", 9);
    assert_eq!(m.iter().collect::<Vec<_>>(), [("x", &9)]);
}

#[test]
fn very_deep_filters_and_topics_do_not_overflow_the_stack() {
    // 65,535 levels: the most a 65,535-byte filter can have. Run on a thread
    // with a small stack to prove nothing recurses per level.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let deep = "/".repeat(65_534);
            let mut m = TopicMatcher::new();
            m.insert(&deep, 1);
            m.insert(&format!("{deep}#"), 2);
            let plus = "+/".repeat(30_000) + "+";
            m.insert(&plus, 3);
            assert_eq!(m.matches(&deep).count(), 2);
            assert!(topic_matches_sub(&deep, &deep));
            assert_eq!(m.remove(&deep), Some(1));
            drop(m);
        })
        .unwrap()
        .join()
        .unwrap();
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("+".to_owned()),
        Just("#".to_owned()),
        Just(String::new()),
        Just("$SYS".to_owned()),
        "[ab]{1,2}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5).prop_map(|l| l.join("/"))
}

proptest! {
    #[test]
    fn topic_matches_sub_agrees_with_the_trie(sub in path(), topic in "[ab$/]{0,8}") {
        let mut m = TopicMatcher::new();
        m.insert(&sub, ());
        prop_assert_eq!(topic_matches_sub(&sub, &topic), m.matches(&topic).count() > 0);
    }

    #[test]
    fn valid_filters_match_what_the_spec_says(sub in path(), topic in "[ab]{1,2}(/[ab]{0,2}){0,3}") {
        prop_assume!(validate_topic_filter(&sub).is_ok());
        // A reference matcher written from the specification's rules.
        let f: Vec<&str> = sub.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        let mut expected = true;
        for (i, level) in f.iter().enumerate() {
            if *level == "#" { expected = true; break; }
            match t.get(i) {
                None => { expected = false; break; }
                Some(tl) if *level == "+" || level == tl => {}
                Some(_) => { expected = false; break; }
            }
            if i == f.len() - 1 && t.len() != f.len() { expected = false; }
        }
        prop_assert_eq!(topic_matches_sub(&sub, &topic), expected);
    }
}
