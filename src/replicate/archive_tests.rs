//! Tests of `archive.rs`: which keys a batch's TTL deletes keep and with which image, and the
//! replicator writing those images on in-memory tables (no read of the primary, a failed write
//! fails the key's records).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::*;
use crate::aws::key::ScalarType;
use crate::aws::memory::{Faults, MemoryStore};
use crate::replicate::engine::Engine;
use crate::replicate::replicator::Replicator;
use crate::replicate::target::Target;
use crate::replicate::tuning::Tuning;

const TABLE: &str = "orders";

fn schema() -> KeySchema {
    KeySchema::hash_only("id", ScalarType::S)
}

/// The item `id` at version `v`.
fn item(id: &str, v: u32) -> Item {
    Item::from([
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
        ("v".to_owned(), AttributeValue::N(v.to_string())),
    ])
}

fn image(id: &str, v: u32) -> Value {
    json!({"id": {"S": id}, "v": {"N": v.to_string()}})
}

const BY_TTL: Option<()> = Some(());

/// A record of `orders`' own stream: `name` of `id`, by TTL or not, with `old` as its old image.
fn record(name: &str, id: &str, ttl: Option<()>, old: Option<Value>, sequence: u32) -> EventRecord {
    let identity = match ttl {
        Some(()) => json!({"type": "Service", "principalId": decode::TTL_PRINCIPAL}),
        None => Value::Null,
    };
    let mut change = json!({"Keys": {"id": {"S": id}}, "SequenceNumber": sequence.to_string(),
        "SizeBytes": 9, "StreamViewType": "OLD_IMAGE", "ApproximateCreationDateTime": 1.0});
    if let Some(old) = old {
        change["OldImage"] = old;
    }
    serde_json::from_value(json!({
        "eventID": sequence.to_string(), "eventName": name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "userIdentity": identity,
        "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:1:table/{TABLE}/stream/x"),
        "dynamodb": change}))
    .expect("a DynamoDB stream record")
}

fn archive(records: &[EventRecord]) -> Archive {
    let schema = schema();
    Archive::of(records, &[(TABLE, &schema)])
}

#[test]
fn a_key_is_kept_when_its_last_usable_record_is_a_ttl_delete() {
    let records = [
        record("MODIFY", "a", None, None, 1),
        record("REMOVE", "a", BY_TTL, Some(image("a", 2)), 2),
        record("REMOVE", "b", BY_TTL, Some(image("b", 1)), 3),
        record("INSERT", "b", None, None, 4),
        record("REMOVE", "c", BY_TTL, None, 5),
        record("REMOVE", "d", None, Some(image("d", 1)), 6),
        // An image of another key, and an image without a valid key: unusable records, which
        // leave `e`'s and `f`'s last usable record as it was.
        record("MODIFY", "e", None, None, 7),
        record("REMOVE", "e", BY_TTL, Some(image("x", 1)), 8),
        record("REMOVE", "f", BY_TTL, Some(json!({"id": {"N": "1"}})), 9),
    ];
    let kept = archive(&records);
    assert_eq!(kept.images.len(), 1);
    assert_eq!(kept.images[0].key.to_string(), r#"id=S:"a""#);
    assert_eq!(kept.images[0].item, item("a", 2));
    let c = (0, schema().canonical_of_item(&item("c", 0)).unwrap());
    assert_eq!(kept.left_alone, KeySet::from_iter([c]));
    assert_eq!(kept.kept(), 2);
    let mut unusable: Vec<_> = kept.unusable.iter().collect();
    unusable.sort_by_key(|(position, _)| **position);
    assert!(matches!(
        unusable[..],
        [(7, Problem::ImageOfAnotherKey), (8, Problem::ImageKey(_))]
    ));
}

#[test]
fn a_batch_without_a_ttl_delete_keeps_nothing() {
    let records = [
        record("REMOVE", "a", None, Some(image("a", 1)), 1),
        record("MODIFY", "b", None, None, 2),
    ];
    let kept = archive(&records);
    assert_eq!((kept.kept(), kept.unusable.len()), (0, 0));
}

fn tuning() -> Tuning {
    Tuning {
        max_attempts: 2,
        ..Tuning::default()
    }
}

/// A replicator keeping TTL deletes from `primary` to `target`.
fn replicator(primary: &Arc<MemoryStore>, target: &Arc<MemoryStore>) -> Replicator {
    let target = Target::everything("archive", target.clone());
    let engine = Engine::new(primary.clone(), schema(), vec![target], tuning());
    Replicator::new(vec![engine], tuning()).keeping_ttl_deletes(true)
}

#[tokio::test]
async fn the_last_version_is_written_without_a_read_and_a_failed_write_fails_the_key() {
    let (primary, target) = (
        Arc::new(MemoryStore::new(TABLE, schema())),
        Arc::new(MemoryStore::new("archive", schema())),
    );
    target.put(item("a", 1));
    target.put(item("c", 1));
    let replicator = replicator(&primary, &target);
    let records = [
        record("MODIFY", "a", None, None, 1),
        record("REMOVE", "c", BY_TTL, None, 2),
        record("REMOVE", "a", BY_TTL, Some(image("a", 2)), 3),
    ];
    target.inject(Faults {
        failed_writes: 1,
        ..Faults::default()
    });
    let (failed, summary) = replicator.handle_records(&records, None).await;
    assert_eq!(
        failed,
        [0, 2],
        "a's records fail with its write; c's is done"
    );
    assert_eq!(target.get(&item("a", 0)), Some(item("a", 1)));
    assert_eq!(
        (summary.ttl_deletes_kept, summary.ttl_kept_without_image),
        (2, 1)
    );

    // Lambda sends the batch again from the failed record on.
    let (failed, summary) = replicator.handle_records(&records, None).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!((summary.puts, summary.deletes, summary.keys), (1, 0, 1));
    assert_eq!(target.items(), [item("a", 2), item("c", 1)]);
    assert_eq!(primary.calls.batch_gets.load(Ordering::Relaxed), 0);
}
