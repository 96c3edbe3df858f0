//! The session's rules, without a server: what a key expects, when it is forgotten, the bounds.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

fn key(id: &str) -> Item {
    HashMap::from([("id".to_owned(), AttributeValue::S(id.to_owned()))])
}

fn item(id: &str, body: &str) -> Item {
    let mut item = key(id);
    item.insert("body".to_owned(), AttributeValue::S(body.to_owned()));
    item
}

fn limits(max_keys: usize, max_age_ms: u64) -> Limits {
    Limits {
        max_keys,
        max_age: Duration::from_millis(max_age_ms),
    }
}

#[test]
fn what_a_write_expects_and_what_shows_the_replica_caught_up() {
    let written = item("a", "v2");
    let expect = Expect::of(Some(&written));
    assert!(expect.caught_up_by(Some(&written)));
    assert!(!expect.caught_up_by(Some(&item("a", "v1"))));
    assert!(!expect.caught_up_by(None));
    // Numbers by value: the replica may spell them otherwise.
    let mut one = key("n");
    one.insert("n".into(), AttributeValue::N("1.0".into()));
    let mut other = key("n");
    other.insert("n".into(), AttributeValue::N("1".into()));
    assert!(Expect::of(Some(&one)).caught_up_by(Some(&other)));
    assert_eq!(Expect::of(None), Expect::Absent);
    // The replica's absence never shows a delete caught up: it is also what the replica shows
    // before it saw the key, and a late write that read the primary before the delete may still
    // bring the item back.
    assert!(!Expect::Absent.caught_up_by(None));
    assert!(!Expect::Absent.caught_up_by(Some(&written)));
    assert!(!Expect::Unknown.caught_up_by(None));
    assert!(!Expect::Unknown.caught_up_by(Some(&written)));
}

#[test]
fn the_last_write_of_a_key_is_what_it_expects() {
    let session = Session::new("t", Limits::default());
    session.record_at(key("a"), Expect::of(Some(&item("a", "v1"))), 1);
    session.record_at(key("a"), Expect::Absent, 2);
    assert_eq!(session.expected_at(&key("a"), 3), Some(Expect::Absent));
    assert_eq!(session.expected_at(&key("b"), 3), None);
    assert_eq!(session.len(), 1);
}

#[test]
fn a_key_is_forgotten_once_caught_up_unless_written_again_meanwhile() {
    let session = Session::new("t", Limits::default());
    let v1 = Expect::of(Some(&item("a", "v1")));
    let v2 = Expect::of(Some(&item("a", "v2")));
    session.record(key("a"), v1);
    // A read saw v1 on the replica, but the session wrote v2 meanwhile: v2 stays expected.
    session.record(key("a"), v2);
    assert!(!session.caught_up(&key("a"), &v1));
    assert_eq!(session.expected(&key("a")), Some(v2));
    assert!(session.caught_up(&key("a"), &v2));
    assert_eq!(session.expected(&key("a")), None);
    assert_eq!(session.forgotten().caught_up, 1);
}

#[test]
fn an_unknown_outcome_is_settled_by_the_primary_once() {
    let session = Session::new("t", limits(100, 1_000));
    session.record_at(key("a"), Expect::Unknown, 1_000);
    let primary = Expect::of(Some(&item("a", "maybe")));
    session.seen_on_primary_at(&key("a"), &Expect::Unknown, primary, 1_500);
    assert_eq!(session.expected_at(&key("a"), 1_500), Some(primary));
    // Settled already: a settling of the unknown outcome made meanwhile changes nothing.
    session.seen_on_primary_at(&key("a"), &Expect::Unknown, Expect::Absent, 1_600);
    assert_eq!(session.expected_at(&key("a"), 1_600), Some(primary));
    // Counted from when the primary showed it.
    assert_eq!(session.expected_at(&key("a"), 2_500), Some(primary));
    assert_eq!(session.expected_at(&key("a"), 2_501), None);
}

/// Monotonic reads: the session put D, another writer put W, a session read returned W from the
/// primary. The replicator's in-flight copy of D then lands on the replica: D must not count as
/// caught up, or the next read would return D, older than W.
#[test]
fn a_newer_item_seen_on_the_primary_is_what_the_key_expects_from_then_on() {
    let session = Session::new("t", limits(100, 1_000));
    let (d, w) = (item("a", "D"), item("a", "W"));
    let mine = Expect::of(Some(&d));
    session.record_at(key("a"), mine, 1_000);
    session.seen_on_primary_at(&key("a"), &mine, Expect::of(Some(&w)), 1_200);
    let now = session.expected_at(&key("a"), 1_300).unwrap();
    assert!(
        !now.caught_up_by(Some(&d)),
        "D is older than W, already returned"
    );
    assert!(now.caught_up_by(Some(&w)));
    assert!(!session.caught_up(&key("a"), &mine));
    // The primary showing what was expected changes nothing (nor the key's age).
    session.seen_on_primary_at(&key("a"), &now, now, 1_900);
    assert_eq!(session.expected_at(&key("a"), 2_200), Some(now));
    assert_eq!(session.expected_at(&key("a"), 2_201), None);
    // A write of the session made after the read it saw W in wins over that read.
    session.record_at(key("b"), mine, 3_000);
    session.record_at(key("b"), Expect::Absent, 3_001);
    session.seen_on_primary_at(&key("b"), &mine, Expect::of(Some(&w)), 3_002);
    assert_eq!(session.expected_at(&key("b"), 3_003), Some(Expect::Absent));
}

#[test]
fn at_most_max_keys_the_oldest_write_forgotten_first() {
    let session = Session::new("t", limits(3, 60_000));
    for (at, id) in ["a", "b", "c", "d"].iter().enumerate() {
        session.record_at(key(id), Expect::Absent, at as u64);
    }
    let held: Vec<Item> = session.held_at(10).into_iter().map(|h| h.key).collect();
    assert_eq!(held, [key("b"), key("c"), key("d")]);
    // Writing a held key again makes it the newest.
    session.record_at(key("b"), Expect::Absent, 11);
    session.record_at(key("e"), Expect::Absent, 12);
    let held: Vec<Item> = session.held_at(13).into_iter().map(|h| h.key).collect();
    assert_eq!(held, [key("d"), key("b"), key("e")]);
    assert_eq!(session.forgotten().over_bound, 2);
}

#[test]
fn a_key_older_than_max_age_is_dropped() {
    let session = Session::new("t", limits(100, 1_000));
    session.record_at(key("a"), Expect::Absent, 10_000);
    session.record_at(key("b"), Expect::Absent, 10_500);
    assert_eq!(session.expected_at(&key("a"), 11_000), Some(Expect::Absent));
    assert_eq!(session.expected_at(&key("a"), 11_001), None);
    assert_eq!(session.expected_at(&key("b"), 11_001), Some(Expect::Absent));
    assert_eq!(session.held_at(11_501), []);
    assert_eq!(session.forgotten().aged, 2);
}

#[test]
fn a_clock_that_steps_back_keeps_write_order_as_age_order() {
    let session = Session::new("t", limits(100, 1_000));
    session.record_at(key("a"), Expect::Absent, 5_000);
    // The clock went back: "b" is taken as written at 5,000 too, not before "a".
    session.record_at(key("b"), Expect::Absent, 4_000);
    let held = session.held_at(5_500);
    assert_eq!(held.len(), 2);
    assert_eq!(held[1].at_ms, 5_000);
    assert_eq!(session.held_at(6_001), []);
}

#[test]
fn restored_as_saved_within_the_bounds_of_the_loader() {
    let session = Session::new("t", limits(10, 60_000));
    for (at, id) in ["a", "b", "c"].iter().enumerate() {
        session.record_at(key(id), Expect::Unknown, 1_000 + at as u64);
    }
    let saved = session.held_at(2_000);
    let same = Session::restore("t", limits(10, 60_000), saved.clone(), 2_000);
    assert_eq!(same.held_at(2_000), saved);
    assert_eq!(same.revision(), 0);
    let smaller = Session::restore("t", limits(2, 60_000), saved.clone(), 2_000);
    assert_eq!(smaller.held_at(2_000), saved[1..]);
    let later = Session::restore("t", limits(10, 500), saved, 1_502);
    assert_eq!(later.held_at(1_502).len(), 1);
}

#[test]
fn every_change_moves_the_revision() {
    let session = Session::new("t", Limits::default());
    let r0 = session.revision();
    session.record(key("a"), Expect::Absent);
    let r1 = session.revision();
    assert!(r1 > r0);
    let _ = session.expected(&key("a"));
    assert_eq!(session.revision(), r1);
    assert!(session.caught_up(&key("a"), &Expect::Absent));
    assert!(session.revision() > r1);
}

/// One entry timed far in the future (`u64::MAX`, or a clock ahead) once disabled `max_age` for
/// the whole session: every later write was taken as written then.
#[test]
fn a_key_from_the_future_neither_outlives_max_age_nor_ages_later_writes() {
    let future = Held {
        key: key("a"),
        expect: Expect::Absent,
        at_ms: u64::MAX,
    };
    let session = Session::restore("t", limits(100, 1_000), vec![future], 10_000);
    assert_eq!(
        session.held_at(10_000)[0].at_ms,
        10_000,
        "taken as written now"
    );
    session.record_at(key("b"), Expect::Absent, 10_500);
    assert_eq!(session.held_at(10_500)[1].at_ms, 10_500);
    assert_eq!(session.expected_at(&key("a"), 11_001), None);
    assert_eq!(session.expected_at(&key("b"), 11_001), Some(Expect::Absent));
    assert_eq!(session.held_at(11_501), []);
}

#[test]
fn limits_are_checked_when_made_and_a_literal_is_brought_within_them() {
    assert!(Limits::new(1, Duration::from_millis(1)).is_ok());
    assert!(Limits::new(Limits::MAX_KEYS, Limits::MAX_AGE).is_ok());
    let err = Limits::new(0, Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 to 1000000, not 0"), "{err}");
    assert!(Limits::new(Limits::MAX_KEYS + 1, Duration::from_secs(1)).is_err());
    let err = Limits::new(1, Duration::ZERO).unwrap_err().to_string();
    assert!(err.contains("at most 366 days"), "{err}");
    assert!(Limits::new(1, Limits::MAX_AGE + Duration::from_millis(1)).is_err());
    // A literal past the bounds: no truncation of a huge age into a small one.
    let wild = Limits {
        max_keys: 0,
        max_age: Duration::MAX,
    };
    assert_eq!(wild.clamped(), Limits::new(1, Limits::MAX_AGE).unwrap());
    assert_eq!(wild.max_age_ms(), u64::MAX);
    let session = Session::new("t", wild);
    session.record_at(key("a"), Expect::Absent, 1);
    session.record_at(key("b"), Expect::Absent, 2);
    assert_eq!(session.len(), 1);
    assert_eq!(
        session.expected_at(&key("b"), 1_000_000),
        Some(Expect::Absent)
    );
}
