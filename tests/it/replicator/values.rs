//! Values and keys as they are: every attribute type and a 400 KB item round trip; numeric and
//! binary keys, whatever their spelling.

use crate::common;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};
use serde_json::json;

use super::{fixture, fixture_with, get};

on_both_backends!(
    every_attribute_type_and_a_400_kb_item_round_trip,
    numeric_and_binary_keys,
    number_and_binary_spellings,
);

fn every_type_item(subject: &str) -> Item {
    let nested = HashMap::from([
        ("s".to_owned(), s("inner")),
        ("n".to_owned(), AttributeValue::N("-12500".into())),
        (
            "l".to_owned(),
            AttributeValue::L(vec![
                AttributeValue::Bool(false),
                AttributeValue::Null(true),
                AttributeValue::M(HashMap::from([("deep".to_owned(), s("er"))])),
            ]),
        ),
    ]);
    HashMap::from([
        ("ForumName".to_owned(), s("types")),
        ("Subject".to_owned(), s(subject)),
        ("S".to_owned(), s("ünïcødé ✓ \u{0} text")),
        (
            "N".to_owned(),
            AttributeValue::N("12345678901234567890.123456789".into()),
        ),
        (
            "B".to_owned(),
            AttributeValue::B(Blob::new((0..=255).collect::<Vec<u8>>())),
        ),
        ("BOOL".to_owned(), AttributeValue::Bool(true)),
        ("NULL".to_owned(), AttributeValue::Null(true)),
        ("M".to_owned(), AttributeValue::M(nested)),
        (
            "L".to_owned(),
            AttributeValue::L(vec![s("a"), AttributeValue::N("1".into())]),
        ),
        (
            "SS".to_owned(),
            AttributeValue::Ss(vec!["x".into(), "y".into()]),
        ),
        (
            "NS".to_owned(),
            AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
        ),
        (
            "BS".to_owned(),
            AttributeValue::Bs(vec![Blob::new(vec![1u8, 2]), Blob::new(vec![3u8])]),
        ),
    ])
}

async fn every_attribute_type_and_a_400_kb_item_round_trip(backend: Backend) {
    let f = fixture(backend).await;
    let mut big = thread_item("types", "big", "");
    // DynamoDB allows 400 KB per item; moto counts that as 400,000 bytes: stay under both.
    big.insert("Body".into(), s(&"z".repeat(399_000)));
    let items = vec![every_type_item("all"), big];
    put_items(&f.primary, PRIMARY, items).await;
    let event = kinesis_event(vec![
        thread_record("types", "all", 1),
        thread_record("types", "big", 2),
    ]);

    let (response, _) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty(), "{response:?}");
    for subject in ["all", "big"] {
        let original = get(&f.primary, PRIMARY, "types", subject).await.unwrap();
        let copied = get(&f.replica, REPLICA, "types", subject).await.unwrap();
        assert_eq!(normalize(&copied), normalize(&original), "{subject}");
    }
    let all = get(&f.replica, REPLICA, "types", "all").await.unwrap();
    assert_eq!(normalize(&all), normalize(&every_type_item("all")));
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        2
    );
}

async fn numeric_and_binary_keys(backend: Backend) {
    let schema = KeySchema::composite(("id", ScalarType::N), ("bin", ScalarType::B));
    let f = fixture_with(backend, &schema, tuning()).await;
    let item = |id: &str, bin: &[u8]| -> Item {
        HashMap::from([
            ("id".to_owned(), AttributeValue::N(id.into())),
            ("bin".to_owned(), AttributeValue::B(Blob::new(bin.to_vec()))),
            ("v".to_owned(), s("value")),
        ])
    };
    put_items(
        &f.primary,
        PRIMARY,
        vec![item("1", &[0, 1]), item("2.5", &[255])],
    )
    .await;
    let record = |id: &str, bin: &str, seq| {
        key_record(json!({"id": {"N": id}, "bin": {"B": bin}}), "INSERT", seq)
    };
    // "1.0" and "1" are one DynamoDB key: read once, not rejected as a duplicate.
    let event = kinesis_event(vec![
        record("1", "AAE=", 1),
        record("1.0", "AAE=", 2),
        record("2.5", "/w==", 3),
        record("3", "AA==", 4),
    ]);

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!((summary.keys, summary.puts, summary.deletes), (3, 2, 1));
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        2
    );
}

/// A record that spells a number key `1.0` is answered with the item the server spells `1`: the
/// answer is matched by value (taken for absent, the replica's copy would be deleted). A binary
/// key in base64 is matched by its bytes; a spelling DynamoDB would not write (no padding) is an
/// unusable record, never a different key.
async fn number_and_binary_spellings(backend: Backend) {
    let schema = KeySchema::composite(("id", ScalarType::N), ("bin", ScalarType::B));
    let f = fixture_with(backend, &schema, tuning()).await;
    let item = |id: &str, bin: &[u8], v: &str| -> Item {
        HashMap::from([
            ("id".to_owned(), AttributeValue::N(id.into())),
            ("bin".to_owned(), AttributeValue::B(Blob::new(bin.to_vec()))),
            ("v".to_owned(), s(v)),
        ])
    };
    put_items(&f.primary, PRIMARY, vec![item("1", &[0, 1], "new")]).await;
    put_items(&f.replica, REPLICA, vec![item("1", &[0, 1], "old")]).await;
    let record = |id: &str, bin: &str, seq| {
        key_record(json!({"id": {"N": id}, "bin": {"B": bin}}), "MODIFY", seq)
    };
    let event = kinesis_event(vec![record("1.0", "AAE=", 1), record("1", "AAE", 2)]);

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert_eq!((summary.keys, summary.puts, summary.deletes), (1, 1, 0));
    assert_eq!(summary.unusable_records, 1);
    assert_eq!(failures(&response), [format!("{:056}", 2)]);
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        1
    );
}
