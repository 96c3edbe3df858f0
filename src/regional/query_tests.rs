//! The query rule: which partition a key condition fixes, and when a session's query goes to
//! the primary.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

fn values(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_partition_value_is_read_from_the_key_condition() {
    let v = values(&[(":f", s("DynamoDB")), (":s", s("Thread")), (":t", s("U"))]);
    let read = |condition: &str, names: Option<&HashMap<String, String>>| {
        partition_value(condition, names, Some(&v), "ForumName")
    };
    assert_eq!(read("ForumName = :f", None), Some(s("DynamoDB")));
    assert_eq!(read(":f=ForumName", None), Some(s("DynamoDB")));
    assert_eq!(
        read("ForumName = :f AND begins_with(Subject, :s)", None),
        Some(s("DynamoDB"))
    );
    assert_eq!(
        read("(ForumName = :f) AND (Subject BETWEEN :s AND :t)", None),
        Some(s("DynamoDB"))
    );
    assert_eq!(
        read("Subject >= :s AND ForumName = :f", None),
        Some(s("DynamoDB"))
    );
    let aliases = names(&[("#f", "ForumName"), ("#s", "Subject")]);
    assert_eq!(
        read("#f = :f AND #s <= :s", Some(&aliases)),
        Some(s("DynamoDB"))
    );
    // The sort key's equality is not the partition's.
    assert_eq!(read("Subject = :s", None), None);
    // An alias or a value not given, two different values, an unknown character: unreadable.
    assert_eq!(read("#x = :f", Some(&aliases)), None);
    assert_eq!(read("ForumName = :nope", None), None);
    assert_eq!(read("ForumName = :f AND ForumName = :s", None), None);
    assert_eq!(read("ForumName = :f; drop", None), None);
    // `<=`, `>=` and `<>` are never read as `=`.
    assert_eq!(read("ForumName <= :f", None), None);
    assert_eq!(read("ForumName >= :f", None), None);
    assert_eq!(read("ForumName <> :f", None), None);
}

#[test]
fn a_session_queries_the_primary_only_when_a_held_key_may_be_in_range() {
    let key =
        |forum: &str, subject: &str| values(&[("ForumName", s(forum)), ("Subject", s(subject))]);
    let held = [key("a", "1"), key("b", "2")];
    let needs = |target, partition: Option<AttributeValue>, held: &[Item]| {
        needs_primary(target, "ForumName", partition.as_ref(), held)
    };
    // Nothing held: the replica, whatever the query.
    for target in [Target::Table, Target::Local, Target::Global] {
        assert!(!needs(target, None, &[]));
    }
    // The table and a local index: by partition.
    for target in [Target::Table, Target::Local] {
        assert!(needs(target, Some(s("a")), &held));
        assert!(needs(target, Some(s("b")), &held));
        assert!(!needs(target, Some(s("c")), &held));
        // An unreadable key condition: any held key sends it to the primary.
        assert!(needs(target, None, &held));
    }
    // A global index: any held key.
    assert!(needs(Target::Global, Some(s("c")), &held));
    // Numbers by value.
    let numbered = [values(&[("ForumName", n("10"))])];
    assert!(needs(Target::Table, Some(n("1e1")), &numbered));
    assert!(!needs(Target::Table, Some(n("11")), &numbered));
}

#[test]
fn indexes_are_told_apart_by_kind() {
    let indexes = Indexes {
        local: ["bySubject".to_owned()].into(),
        global: ["byAuthor".to_owned()].into(),
    };
    assert_eq!(indexes.target(None), Some(Target::Table));
    assert_eq!(indexes.target(Some("bySubject")), Some(Target::Local));
    assert_eq!(indexes.target(Some("byAuthor")), Some(Target::Global));
    assert_eq!(indexes.target(Some("other")), None);
    assert_eq!(indexes.names(), ["byAuthor", "bySubject"]);
}
