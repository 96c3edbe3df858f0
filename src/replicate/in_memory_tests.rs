//! The engine and the replicator on in-memory tables: fast tests of the rules (one read per key
//! whatever the targets, a failing target fails only its keys, unprocessed reads and writes,
//! the deadline, records of several primary tables), each fault counted where it was injected.
//! What only a server shows (the SDK, timeouts, the wire) stays in `tests/`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::Instant;

use crate::aws::key::{Key, KeySchema, ScalarType};
use crate::aws::memory::{Faults, MemoryStore};
use crate::aws::retry::Deadline;
use crate::aws::table::Item;
use crate::replicate::engine::Engine;
use crate::replicate::key_queue::KeyQueue;
use crate::replicate::outcome::ReplicateError;
use crate::replicate::replicator::Replicator;
use crate::replicate::target::Target;
use crate::replicate::tuning::Tuning;

fn schema() -> KeySchema {
    KeySchema::hash_only("id", ScalarType::S)
}

fn item(id: usize, version: usize) -> Item {
    Item::from([
        ("id".to_owned(), AttributeValue::S(format!("k{id:05}"))),
        ("v".to_owned(), AttributeValue::N(version.to_string())),
    ])
}

fn key(id: usize) -> Key {
    let attributes = [("id".to_owned(), AttributeValue::S(format!("k{id:05}")))];
    schema().key(attributes.into()).expect("a key")
}

fn store(name: &str) -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new(name, schema()))
}

fn tuning() -> Tuning {
    Tuning {
        max_attempts: 4,
        concurrency: 4,
        ..Tuning::default()
    }
}

fn engine(primary: &Arc<MemoryStore>, targets: &[&Arc<MemoryStore>]) -> Engine {
    let targets = targets
        .iter()
        .map(|t| Target::everything(&t.items_name(), (*t).clone()))
        .collect();
    Engine::new(primary.clone(), schema(), targets, tuning())
}

trait Named {
    fn items_name(&self) -> String;
}

impl Named for Arc<MemoryStore> {
    fn items_name(&self) -> String {
        crate::aws::store::Store::name(self.as_ref()).to_owned()
    }
}

async fn run(
    engine: &Engine,
    keys: impl Iterator<Item = usize>,
) -> crate::replicate::outcome::Outcome {
    let keys: Vec<Key> = keys.map(key).collect();
    engine.replicate(&KeyQueue::of(keys), Deadline::NONE).await
}

fn calls(store: &MemoryStore) -> (usize, usize) {
    let gets = store.calls.batch_gets.load(Ordering::Relaxed);
    (gets, store.calls.batch_writes.load(Ordering::Relaxed))
}

#[tokio::test]
async fn every_target_ends_equal_to_the_primary_with_one_read_per_key() {
    let primary = store("primary");
    let (a, b, c) = (store("a"), store("b"), store("c"));
    for i in 0..250 {
        primary.put(item(i, 2));
    }
    for i in 0..10 {
        a.put(item(i, 1));
    }
    for i in 250..300 {
        b.put(item(i, 1)); // gone from the primary: deleted on the target
    }
    let engine = engine(&primary, &[&a, &b, &c]);
    let outcome = run(&engine, 0..300).await;
    assert_eq!((outcome.done, outcome.failed_keys()), (300, 0));
    for target in [&a, &b, &c] {
        assert_eq!(target.items(), primary.items());
    }
    assert_eq!(
        calls(&primary).0,
        3,
        "300 keys, 100 per read, however many targets"
    );
    for target in [&a, &b, &c] {
        assert_eq!(calls(target), (0, 12), "300 writes, 25 per call");
    }
    assert_eq!(outcome.puts, 750);
    assert_eq!(outcome.deletes, 150);
    assert_eq!(outcome.targets.len(), 3);
    assert!(
        outcome
            .targets
            .iter()
            .all(|t| (t.puts, t.deletes) == (250, 50))
    );
}

#[tokio::test]
async fn a_failing_target_fails_only_its_keys_and_a_second_run_converges() {
    let primary = store("primary");
    let (good, bad) = (store("good"), store("bad"));
    for i in 0..100 {
        primary.put(item(i, 1));
    }
    bad.inject(Faults {
        failed_writes: 1,
        ..Faults::default()
    });
    let engine = engine(&primary, &[&good, &bad]);
    let outcome = run(&engine, 0..100).await;
    assert_eq!(bad.calls.faults_injected.load(Ordering::Relaxed), 1);
    assert_eq!((outcome.done, outcome.failed_keys()), (75, 25));
    let failure = &outcome.failures[0];
    assert_eq!(failure.target.as_deref(), Some("bad"));
    assert!(matches!(failure.error, ReplicateError::Write { .. }));
    assert!(failure.error.to_string().contains("target `bad`"));
    assert_eq!(good.items().len(), 100, "the healthy target took every key");
    assert_eq!(bad.items().len(), 75);
    let failed: Vec<usize> = failure.keys.iter().map(|(i, _)| *i).collect();
    let again = run(&engine, failed.into_iter()).await;
    assert_eq!((again.done, again.failed_keys()), (25, 0));
    assert_eq!(bad.items(), primary.items());
    assert_eq!(good.items(), primary.items());
}

#[tokio::test]
async fn unprocessed_reads_and_writes_are_sent_again() {
    let primary = store("primary");
    let replica = store("replica");
    for i in 0..200 {
        primary.put(item(i, 1));
    }
    let half = Faults {
        half_done: 3,
        ..Faults::default()
    };
    primary.inject(half);
    replica.inject(half);
    let outcome = run(&engine(&primary, &[&replica]), 0..200).await;
    assert_eq!(primary.calls.faults_injected.load(Ordering::Relaxed), 3);
    assert_eq!(replica.calls.faults_injected.load(Ordering::Relaxed), 3);
    assert_eq!((outcome.done, outcome.failed_keys()), (200, 0));
    assert_eq!(replica.items(), primary.items());
}

#[tokio::test]
async fn a_failed_read_fails_its_keys_and_writes_nothing() {
    let primary = store("primary");
    let replica = store("replica");
    primary.put(item(1, 1));
    primary.inject(Faults {
        failed_reads: 1,
        ..Faults::default()
    });
    let outcome = run(&engine(&primary, &[&replica]), 0..3).await;
    assert_eq!(primary.calls.faults_injected.load(Ordering::Relaxed), 1);
    assert_eq!((outcome.done, outcome.failed_keys()), (0, 3));
    assert!(outcome.failures[0].target.is_none());
    assert!(matches!(
        outcome.failures[0].error,
        ReplicateError::Read { .. }
    ));
    assert_eq!(calls(&replica), (0, 0));
}

#[tokio::test]
async fn no_write_starts_once_the_deadline_is_too_near() {
    let primary = store("primary");
    let replica = store("replica");
    primary.put(item(1, 1));
    let engine = engine(&primary, &[&replica]);
    // Less time left than the write attempt timeout (1 s): the read may go, no write.
    let deadline = Deadline::at(Instant::now() + Duration::from_millis(500));
    let outcome = engine
        .replicate(&KeyQueue::of(vec![key(1)]), deadline)
        .await;
    assert_eq!(outcome.deadline_failures(), 1);
    assert_eq!(calls(&replica), (0, 0));
    assert!(replica.items().is_empty());
}

/// A Kinesis record announcing `id` of `table` (no table: `None`).
fn record(n: usize, table: Option<&str>, id: usize) -> KinesisEventRecord {
    let mut data = serde_json::json!({
        "eventName": "MODIFY",
        "dynamodb": {"Keys": {"id": {"S": format!("k{id:05}")}}}
    });
    match table {
        // As the dyno writer names it (`--table-arn`).
        Some("users") => {
            data["eventSourceARN"] = "arn:aws:dynamodb:us-east-1:123456789012:table/users".into()
        }
        Some(table) => data["tableName"] = table.into(),
        None => {}
    }
    let mut record = KinesisEventRecord::default();
    record.kinesis.sequence_number = format!("{n:056}");
    record.event_id = Some(format!("shardId-000000000000:{n:056}"));
    *record.kinesis.data = data.to_string().into_bytes();
    record
}

#[tokio::test]
async fn records_of_two_primary_tables_reach_their_own_targets() {
    let (orders, users) = (store("orders"), store("users"));
    let (orders_copy, users_copy) = (store("orders-copy"), store("users-copy"));
    orders.put(item(1, 1));
    users.put(item(1, 7));
    users.put(item(2, 7));
    let replicator = Replicator::new(
        vec![
            engine(&orders, &[&orders_copy]),
            engine(&users, &[&users_copy]),
        ],
        tuning(),
    );
    let records = [
        record(0, Some("orders"), 1),
        record(1, Some("users"), 1),
        record(2, Some("elsewhere"), 1),
        record(3, None, 2),
        record(4, Some("users"), 2),
    ];
    let (failed, summary) = replicator.handle_records(&records, None).await;
    assert_eq!(
        failed,
        [2, 3],
        "a table no target follows, and a record naming none"
    );
    assert_eq!((summary.keys, summary.unusable_records), (3, 2));
    assert_eq!(orders_copy.items(), orders.items());
    assert_eq!(users_copy.items(), users.items());
    assert_eq!(calls(&orders).0 + calls(&users).0, 2, "one read per table");
}

#[tokio::test]
async fn a_record_fails_when_any_target_failed_its_key() {
    let primary = store("primary");
    let (good, bad) = (store("good"), store("bad"));
    for i in 0..30 {
        primary.put(item(i, 1));
    }
    bad.inject(Faults {
        failed_writes: 1,
        ..Faults::default()
    });
    let replicator = Replicator::new(vec![engine(&primary, &[&good, &bad])], tuning());
    let records: Vec<_> = (0..30).map(|i| record(i, None, i)).collect();
    let (failed, summary) = replicator.handle_records(&records, None).await;
    assert_eq!(bad.calls.faults_injected.load(Ordering::Relaxed), 1);
    assert_eq!(
        failed,
        (0..25).collect::<Vec<_>>(),
        "the first call of 25 failed on `bad`"
    );
    let bad_counts = summary
        .targets
        .iter()
        .find(|t| t.name == "bad")
        .expect("bad");
    assert_eq!((bad_counts.failed_keys, bad_counts.puts), (25, 5));
    assert_eq!(good.items().len(), 30);
}

/// A store that notes the `id` of each put and delete sent to it, in front of a memory store.
#[derive(Debug)]
struct Noting {
    store: Arc<MemoryStore>,
    sent: std::sync::Mutex<Vec<(&'static str, String)>>,
}

impl Noting {
    /// The ids sent with `kind` ("put" or "delete"), sorted.
    fn sent(&self, kind: &str) -> Vec<String> {
        let sent = self.sent.lock().expect("not poisoned");
        let mut ids: Vec<String> = sent
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

impl crate::aws::store::Store for Noting {
    fn name(&self) -> &str {
        crate::aws::store::Store::name(self.store.as_ref())
    }

    fn setting(&self) -> &'static str {
        self.store.setting()
    }

    fn batch_get<'a>(
        &'a self,
        keys: Vec<Item>,
        attributes: Option<&'a [String]>,
    ) -> futures::future::BoxFuture<
        'a,
        Result<crate::aws::store::ReadAnswer, crate::aws::error::AwsError>,
    > {
        self.store.batch_get(keys, attributes)
    }

    fn batch_write(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        call: crate::aws::table::WriteCall,
    ) -> futures::future::BoxFuture<
        '_,
        Result<Vec<aws_sdk_dynamodb::types::WriteRequest>, crate::aws::error::AwsError>,
    > {
        let id = |attributes: &Item| match attributes.get("id") {
            Some(AttributeValue::S(id)) => id.clone(),
            other => panic!("a write without an id: {other:?}"),
        };
        let mut sent = self.sent.lock().expect("not poisoned");
        for request in &requests {
            if let Some(put) = &request.put_request {
                sent.push(("put", id(&put.item)));
            }
            if let Some(delete) = &request.delete_request {
                sent.push(("delete", id(&delete.key)));
            }
        }
        self.store.batch_write(requests, call)
    }

    fn scan_page(
        &self,
        request: crate::aws::store::PageRequest,
    ) -> futures::future::BoxFuture<
        '_,
        Result<crate::aws::store::ScannedPage, crate::aws::error::AwsError>,
    > {
        self.store.scan_page(request)
    }
}

fn ids(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("k{i:05}")).collect()
}

#[tokio::test]
async fn a_filter_that_fails_on_an_item_leaves_the_target_s_copy_and_fails_its_records() {
    let primary = store("primary");
    let (odd, all) = (store("odd"), store("all"));
    for i in 0..40 {
        // `v` is 1 for odd items; items 30.. have no `v`: the filter fails on them.
        let mut item = item(i, i % 2);
        if i >= 30 {
            item.remove("v");
        }
        primary.put(item);
    }
    // A stale copy of an item the filter now leaves out is deleted; the copies of the items
    // the filter fails on stay exactly as they are.
    odd.put(item(2, 1));
    for i in 30..40 {
        odd.put(item(i, 7));
    }
    let spec = crate::replicate::targets::TargetSpec {
        filter: Some("item.v == 1".to_owned()),
        ..crate::replicate::targets::TargetSpec::new("odd", "odd")
    };
    let keys = ["id".to_owned()].into();
    let shape = crate::replicate::shape::Shape::new(&spec, &keys).expect("a shape");
    let noting = Arc::new(Noting {
        store: odd.clone(),
        sent: Default::default(),
    });
    let filtered = Target {
        name: "odd".to_owned(),
        store: noting.clone(),
        shape,
    };
    let everything = Target::everything("all", all.clone());
    let engine = Engine::new(
        primary.clone(),
        schema(),
        vec![filtered, everything],
        tuning(),
    );
    let replicator = Replicator::new(vec![engine], tuning());
    let records: Vec<_> = (0..40).map(|i| record(i, None, i)).collect();
    let (failed, summary) = replicator.handle_records(&records, None).await;
    assert_eq!(
        failed,
        (30..40).collect::<Vec<_>>(),
        "the filter failed on them"
    );
    let counts = |name: &str| {
        let counts = summary.targets.iter().find(|t| t.name == name).expect(name);
        let kinds = (counts.puts, counts.deletes, counts.failed_keys);
        (kinds, counts.filtered_out, counts.filter_errors)
    };
    // Odd items below 30 are put: 15; the 15 even ones go; the 10 without `v` fail.
    assert_eq!(counts("odd"), ((15, 15, 10), 15, 10));
    assert_eq!(counts("all"), ((40, 0, 0), 0, 0));
    let mut held: Vec<Item> = (0..30).filter(|i| i % 2 == 1).map(|i| item(i, 1)).collect();
    held.extend((30..40).map(|i| item(i, 7)));
    assert_eq!(
        odd.items(),
        held,
        "the items the filter failed on are as they were"
    );
    assert_eq!(
        all.items(),
        primary.items(),
        "the other target got every write"
    );
    assert_eq!(noting.sent("put"), ids((0..30).filter(|i| i % 2 == 1)));
    assert_eq!(noting.sent("delete"), ids((0..30).filter(|i| i % 2 == 0)));

    // Run again on those keys alone: they fail on `odd`, which gets no call at all.
    let engine = Engine::new(
        primary.clone(),
        schema(),
        vec![Target {
            name: "odd".to_owned(),
            store: noting.clone(),
            shape: crate::replicate::shape::Shape::new(&spec, &keys).expect("a shape"),
        }],
        tuning(),
    );
    let writes_before = calls(&odd).1;
    let outcome = run(&engine, 30..40).await;
    assert_eq!((outcome.done, outcome.failed_keys()), (0, 10));
    assert_eq!(calls(&odd).1, writes_before);
    let failure = &outcome.failures[0];
    assert_eq!(
        (outcome.failures.len(), failure.target.as_deref()),
        (1, Some("odd"))
    );
    assert!(matches!(failure.error, ReplicateError::Filter { .. }));
    assert_eq!(
        failure.error.to_string(),
        "target `odd`: the filter failed: No such key: v; the target's item was left as it is"
    );
    assert_eq!(odd.items(), held);
}
