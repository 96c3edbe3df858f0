//! The digest agrees with `item_eq::same_item` (DynamoDB's notion of equal items): on chosen
//! cases, and on generated items and their respellings.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;

use super::*;
use crate::ops::item_eq::same_item;

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect()
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

#[test]
fn equal_items_have_one_digest_whatever_their_spelling() {
    let pairs = [
        (item(&[("n", n("1.0"))]), item(&[("n", n("1"))])),
        (item(&[("n", n("1e2"))]), item(&[("n", n("100"))])),
        (item(&[("n", n("-0"))]), item(&[("n", n("0.00"))])),
        (
            item(&[("a", s("x")), ("b", n("2"))]),
            item(&[("b", n("2.0")), ("a", s("x"))]),
        ),
        (
            item(&[("s", AttributeValue::Ss(vec!["x".into(), "y".into()]))]),
            item(&[("s", AttributeValue::Ss(vec!["y".into(), "x".into()]))]),
        ),
        (
            item(&[("s", AttributeValue::Ns(vec!["1.0".into(), "2".into()]))]),
            item(&[("s", AttributeValue::Ns(vec!["2.00".into(), "1".into()]))]),
        ),
        (
            item(&[(
                "b",
                AttributeValue::Bs(vec![Blob::new(vec![1]), Blob::new(vec![2])]),
            )]),
            item(&[(
                "b",
                AttributeValue::Bs(vec![Blob::new(vec![2]), Blob::new(vec![1])]),
            )]),
        ),
        (
            item(&[("m", AttributeValue::M(item(&[("x", n("5.50"))])))]),
            item(&[("m", AttributeValue::M(item(&[("x", n("5.5"))])))]),
        ),
    ];
    for (a, b) in pairs {
        assert!(same_item(&a, &b), "{a:?} {b:?}");
        assert_eq!(digest(&a), digest(&b), "{a:?} {b:?}");
    }
}

#[test]
fn different_items_have_different_digests() {
    let items = [
        item(&[]),
        item(&[("n", n("1"))]),
        item(&[("n", n("1.01"))]),
        item(&[("n", s("1"))]),
        item(&[("n", AttributeValue::Ns(vec!["1".into()]))]),
        item(&[("n", AttributeValue::L(vec![n("1")]))]),
        item(&[("n", AttributeValue::L(vec![n("1"), n("1")]))]),
        item(&[("n", AttributeValue::M(item(&[("n", n("1"))])))]),
        item(&[("n", AttributeValue::Bool(true))]),
        item(&[("n", AttributeValue::Bool(false))]),
        item(&[("n", AttributeValue::Null(true))]),
        item(&[("m", n("1"))]),
        item(&[("n", n("1")), ("m", n("1"))]),
        // Names and values that would run together without their lengths.
        item(&[("ab", s("c"))]),
        item(&[("a", s("bc"))]),
        item(&[("l", AttributeValue::L(vec![s("a"), s("b")]))]),
        item(&[("l", AttributeValue::L(vec![s("b"), s("a")]))]),
        item(&[("b", AttributeValue::B(Blob::new(b"1".to_vec())))]),
        item(&[("b", s("1"))]),
    ];
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate() {
            assert_eq!(i == j, digest(a) == digest(b), "{a:?} {b:?}");
            assert_eq!(i == j, same_item(a, b), "{a:?} {b:?}");
        }
    }
}

#[test]
fn a_values_encoding_tells_numbers_by_value() {
    assert_eq!(canonical_value(&n("10")), canonical_value(&n("1e1")));
    assert_ne!(canonical_value(&n("10")), canonical_value(&s("10")));
}

#[test]
fn a_number_with_a_huge_exponent_neither_panics_nor_wraps() {
    // Once a panic (debug) or a wrapped exponent (release): `-scale` of i64::MIN.
    for text in [
        "10e9223372036854775807",
        "100e9223372036854775807",
        "1e-9223372036854775808",
    ] {
        let huge = item(&[("n", n(text))]);
        let d = digest(&huge);
        // Marked apart: equal to no number DynamoDB can store.
        assert_ne!(d, digest(&item(&[("n", n("1"))])), "{text}");
        assert_ne!(d, digest(&item(&[("n", n("0"))])), "{text}");
        assert_eq!(d, digest(&huge), "{text}");
    }
    assert_ne!(
        digest(&item(&[("n", n("10e9223372036854775807"))])),
        digest(&item(&[("n", n("1e9223372036854775807"))]))
    );
    // DynamoDB's range is still read by value.
    assert_eq!(
        digest(&item(&[("n", n("1E125"))])),
        digest(&item(&[("n", n("10e124"))]))
    );
}

/// The key's rule (`crate::aws::key`) refuses what the digest marks apart, naming the attribute.
#[test]
fn a_key_number_with_a_huge_exponent_is_refused_naming_the_attribute() {
    use crate::aws::key::{KeyError, KeySchema, ScalarType};
    let schema = KeySchema::hash_only("n", ScalarType::N);
    for text in [
        "10e9223372036854775807",
        "100e9223372036854775807",
        "1e-9223372036854775808",
        "1e99999999999999999999",
        "1e1001",
        "1e126",
        "0.1e-130",
    ] {
        let err = schema.key(item(&[("n", n(text))])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("key attribute `n`"), "{text}: {message}");
        assert!(message.contains("1E-130 .. 9.9E125"), "{text}: {message}");
        assert!(
            matches!(err, KeyError::BadNumber { .. }),
            "{text}: {message}"
        );
    }
    for text in ["1e125", "10E-131", "0e999", "-9.9e125"] {
        assert!(schema.key(item(&[("n", n(text))])).is_ok(), "{text}");
    }
}

/// A value of every type, small, nested at most `depth` deep.
fn value(depth: u32) -> BoxedStrategy<AttributeValue> {
    let number = (-50i64..50, 0u32..3).prop_map(|(m, scale)| {
        let text = format!("{}", m as f64 / 10f64.powi(scale as i32));
        AttributeValue::N(text)
    });
    let leaf = prop_oneof![
        "[a-c]{0,2}".prop_map(AttributeValue::S),
        number,
        proptest::collection::vec(0u8..3, 1..3).prop_map(|b| AttributeValue::B(Blob::new(b))),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        proptest::collection::btree_set("[a-c]{1,2}", 1..3)
            .prop_map(|s| AttributeValue::Ss(s.into_iter().collect())),
        proptest::collection::btree_set(-5i64..5, 1..3)
            .prop_map(|s| AttributeValue::Ns(s.into_iter().map(|n| n.to_string()).collect())),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => proptest::collection::vec(value(depth - 1), 0..3).prop_map(AttributeValue::L),
        1 => proptest::collection::hash_map("[a-c]", value(depth - 1), 0..3)
            .prop_map(AttributeValue::M),
    ]
    .boxed()
}

fn generated() -> impl Strategy<Value = Item> {
    proptest::collection::hash_map("[a-d]", value(2), 0..4)
}

/// The same item spelled otherwise: numbers with a trailing `.0` or `0`, sets reversed.
fn respelled(value: &AttributeValue) -> AttributeValue {
    let number = |n: &str| match n.contains('.') {
        true => format!("{n}0"),
        false => format!("{n}.0"),
    };
    match value {
        AttributeValue::N(x) => AttributeValue::N(number(x)),
        AttributeValue::Ns(v) => AttributeValue::Ns(v.iter().rev().map(|n| number(n)).collect()),
        AttributeValue::Ss(v) => AttributeValue::Ss(v.iter().rev().cloned().collect()),
        AttributeValue::M(m) => {
            AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), respelled(v))).collect())
        }
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(respelled).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn digests_agree_with_item_equality(a in generated(), b in generated()) {
        prop_assert_eq!(digest(&a) == digest(&b), same_item(&a, &b), "{:?} vs {:?}", a, b);
        let again: Item = a.iter().map(|(k, v)| (k.clone(), respelled(v))).collect::<HashMap<_, _>>();
        prop_assert!(same_item(&a, &again));
        prop_assert_eq!(digest(&a), digest(&again));
    }
}
