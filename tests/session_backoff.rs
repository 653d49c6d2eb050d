//! The reconnect backoff on a fake clock: Paho's doubling sequence and reset
//! rules, the jitter bounds, and the stable-connection reset.

use std::time::{Duration, Instant};

use mqtt_tether::session::{Backoff, Jitter};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn pahos_defaults_double_from_one_second_to_two_minutes() {
    let mut b = Backoff::default();
    let waits: Vec<u64> = (0..10).map(|_| b.next_delay().as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
}

#[test]
fn an_accepted_connack_starts_over_and_a_refusal_does_not() {
    let t0 = Instant::now();
    let mut b = Backoff::new(secs(1), secs(8));
    assert_eq!(b.next_delay(), secs(1));
    assert_eq!(b.next_delay(), secs(2));
    // A refused CONNACK or a TCP failure changes nothing: the next wait
    // keeps doubling (Paho's reference §10.2, verified 1, 2, 4, 8).
    assert_eq!(b.next_delay(), secs(4));
    b.connected(t0);
    b.connection_lost(t0 + Duration::from_millis(10));
    assert_eq!(b.next_delay(), secs(1), "CONNACK 0 resets");
}

#[test]
fn new_bounds_start_over_and_fractions_of_a_second_work() {
    let mut b = Backoff::default();
    b.next_delay();
    b.next_delay();
    b.set_bounds(Duration::from_millis(250), Duration::from_millis(900));
    let waits: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
    assert_eq!(waits, [250, 500, 900, 900]);
    assert_eq!(
        b.bounds(),
        (Duration::from_millis(250), Duration::from_millis(900))
    );
}

#[test]
fn full_jitter_stays_between_zero_and_the_doubling_value() {
    let mut b = Backoff::new(secs(1), secs(120));
    b.set_jitter(Jitter::Full, 42);
    let mut plain = Backoff::new(secs(1), secs(120));
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..200 {
        let cap = plain.next_delay();
        let wait = b.next_delay();
        assert!(wait <= cap, "{wait:?} > {cap:?}");
        distinct.insert(wait);
    }
    assert!(distinct.len() > 150, "the waits are spread");
}

#[test]
fn proportional_jitter_stays_within_its_fraction() {
    let mut b = Backoff::new(secs(10), secs(10));
    b.set_jitter(Jitter::Proportional(0.2), 7);
    for _ in 0..1000 {
        let wait = b.next_delay();
        assert!(wait >= secs(8) && wait <= secs(10), "{wait:?}");
    }
    // Out-of-range fractions are clamped.
    let mut b = Backoff::new(secs(4), secs(4));
    b.set_jitter(Jitter::Proportional(7.0), 1);
    for _ in 0..100 {
        assert!(b.next_delay() <= secs(4));
    }
}

#[test]
fn the_same_seed_gives_the_same_waits() {
    let run = |seed| {
        let mut b = Backoff::default();
        b.set_jitter(Jitter::Full, seed);
        (0..20).map(|_| b.next_delay()).collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn with_reset_after_only_a_connection_that_stayed_up_starts_over() {
    let t0 = Instant::now();
    let mut b = Backoff::new(secs(1), secs(64));
    b.set_reset_after(Some(secs(30)));
    assert_eq!(b.next_delay(), secs(1));
    // Accepted, then kicked after 2 s: the delay keeps growing.
    b.connected(t0);
    b.connection_lost(t0 + secs(2));
    assert_eq!(b.next_delay(), secs(2));
    b.connected(t0 + secs(10));
    b.connection_lost(t0 + secs(12));
    assert_eq!(b.next_delay(), secs(4));
    // Up for 30 s: starts over.
    b.connected(t0 + secs(20));
    b.connection_lost(t0 + secs(50));
    assert_eq!(b.next_delay(), secs(1));
    // Back to Paho's rule.
    b.set_reset_after(None);
    b.next_delay();
    b.connected(t0 + secs(60));
    assert_eq!(b.next_delay(), secs(1));
}
