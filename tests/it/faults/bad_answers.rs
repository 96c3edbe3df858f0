//! Answers a handler must not trust or cannot wait for: a key nobody asked for (also a binary
//! one) fails the call; writes refused for one chunk fail exactly its records; the deadline
//! binds under slow answers.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::faults::{Fault, FaultProxy, Plan};
use common::oracle;
use common::*;
use dyno::replicate::replicator::Replicator;
use tokio::time::Instant;

use super::{check, event_for, fault_tuning, oracle_key, rig};

/// A server whose answer names a key nobody asked for: the handler trusts none of that answer
/// (taking a read at its word could delete a replica item that exists, or count a write done
/// that is not), reports the records as failures, and replicates them once the server behaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_naming_keys_not_asked_for_fail_the_call() {
    let rig = rig().await;
    let keys = 30;
    let subject = |k: usize| format!("s{k}");
    // Every key has an old copy on the replica; every fifth is gone from the primary.
    put_items(
        &rig.direct,
        REPLICA,
        (0..keys)
            .map(|k| thread_item("f", &subject(k), "old"))
            .collect(),
    )
    .await;
    put_items(
        &rig.direct,
        PRIMARY,
        (0..keys)
            .filter(|k| k % 5 != 0)
            .map(|k| thread_item("f", &subject(k), "new"))
            .collect(),
    )
    .await;
    let stream: Vec<Vec<u8>> = (0..keys)
        .map(|k| thread_record("f", &subject(k), k as u64))
        .collect();
    let event = event_for(&stream, 0, keys);

    for operation in ["BatchGetItem", "BatchWriteItem"] {
        rig.proxy.reset_stats();
        rig.proxy
            .set_plan(Plan::on(&[operation], &[Fault::Stranger], 1.0, 3));
        let (response, summary) = rig.replicator.handle(&event, None).await;
        assert!(
            rig.proxy.stats().faults.get(&Fault::Stranger) > Some(&0),
            "{operation}: no stranger injected"
        );
        assert_eq!(failures(&response).len(), keys, "{operation}");
        assert_eq!(check(&rig, &event, &response).await, 0, "{operation}");
        assert_eq!((summary.puts, summary.deletes), (0, 0), "{operation}");
        if operation == "BatchGetItem" {
            // Nothing was written from the untrusted answers: every old copy is still there.
            let replica = scan_all(&rig.direct, REPLICA, &thread_schema()).await;
            assert_eq!(replica.len(), keys);
            assert!(
                replica
                    .values()
                    .all(|item| item.get("Body") == Some(&s("old")))
            );
        }
    }

    rig.proxy.set_plan(Plan::off());
    let (response, summary) = rig.replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty());
    assert_eq!((summary.puts, summary.deletes), (24, 6));
    assert_eq!(
        assert_tables_equal((&rig.direct, PRIMARY), (&rig.direct, REPLICA)).await,
        24
    );
}

/// Writes refused for one chunk only: its 25 keys' records fail, exactly those, and the other
/// keys are replicated; delivered again with the replica healthy, they converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_fail_exactly_the_records_of_their_keys() {
    let rig = rig().await;
    let keys = 30;
    put_items(
        &rig.direct,
        PRIMARY,
        (0..keys)
            .map(|k| thread_item("f", &format!("s{k:02}"), "new"))
            .collect(),
    )
    .await;
    let stream: Vec<Vec<u8>> = (0..keys)
        .map(|k| thread_record("f", &format!("s{k:02}"), k as u64))
        .collect();
    let event = event_for(&stream, 0, keys);
    // One read of 30 keys, then two writes: 25 and 5. Every attempt of the first is refused.
    rig.proxy.set_plan(Plan::script(
        &["BatchWriteItem"],
        &[Some(Fault::InternalServerError); 3],
    ));
    let (response, summary) = rig.replicator.handle(&event, None).await;
    assert_eq!(
        rig.proxy
            .stats()
            .injected("BatchWriteItem", Fault::InternalServerError),
        3
    );
    assert_eq!((summary.puts, summary.failed_records), (5, 25));
    // `check` asserts that every record reported done has its key equal on both tables; here
    // also that every record reported failed has its key missing from the replica.
    assert_eq!(check(&rig, &event, &response).await, 5);
    let names = ["ForumName".to_owned(), "Subject".to_owned()];
    let replica = oracle::scan(&rig.direct, REPLICA, &names).await;
    assert_eq!(replica.len(), 5);
    for record in &event.records {
        let failed = failures(&response).contains(&record.kinesis.sequence_number);
        assert_eq!(failed, !replica.contains_key(&oracle_key(record)));
    }

    rig.proxy.set_plan(Plan::off());
    let (response, _) = rig.replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty());
    assert_eq!(
        assert_tables_equal((&rig.direct, PRIMARY), (&rig.direct, REPLICA)).await,
        keys
    );
}

/// A binary-keyed table, and a server whose read answers name a binary key nobody asked for:
/// the read fails as a whole, and nothing is written from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_strangers_fail_the_call() {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use dyno::aws::key::{KeySchema, ScalarType};

    let server = Server::dynalite();
    let direct = client(&server).await;
    let schema = KeySchema::hash_only("id", ScalarType::B);
    create_table(&direct, PRIMARY, &schema).await;
    create_table(&direct, REPLICA, &schema).await;
    let item = |b: u8| -> Item {
        HashMap::from([("id".to_owned(), AttributeValue::B(Blob::new(vec![b, b])))])
    };
    put_items(&direct, PRIMARY, (1..=5).map(item).collect()).await;
    let proxy = FaultProxy::start(server.port).await;
    let tuning = fault_tuning();
    let replicator = Replicator::connect(
        table_at(&proxy.endpoint, "us-east-1", PRIMARY, &tuning, None).await,
        table_at(&proxy.endpoint, "us-east-1", REPLICA, &tuning, None).await,
        tuning,
    )
    .await
    .expect("connect");
    let records = (1..=5u8)
        .map(|b| {
            use base64::Engine as _;
            let spelled = base64::engine::general_purpose::STANDARD.encode([b, b]);
            key_record(
                serde_json::json!({"id": {"B": spelled}}),
                "MODIFY",
                b as u64,
            )
        })
        .collect();
    let event = kinesis_event(records);

    proxy.set_plan(Plan::on(&["BatchGetItem"], &[Fault::Stranger], 1.0, 5));
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(proxy.stats().injected("BatchGetItem", Fault::Stranger) > 0);
    assert_eq!(failures(&response).len(), 5);
    assert_eq!((summary.puts, summary.deletes), (0, 0));
    assert!(scan_all(&direct, REPLICA, &schema).await.is_empty());

    proxy.set_plan(Plan::off());
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.puts, 5);
}

/// Every answer slower than the call timeout, and a deadline that comes before the attempts run
/// out: the deadline is what stops the handler, and it says so for every key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_binds_under_slow_answers() {
    let rig = rig().await;
    let stream: Vec<Vec<u8>> = (0..40)
        .map(|k| thread_record("f", &format!("s{k}"), k as u64))
        .collect();
    let event = event_for(&stream, 0, 40);
    rig.proxy.set_plan(Plan::only(Fault::Slow, 1.0, 8));
    // Three attempts of 400 ms each take longer than the 900 ms left before the margin.
    let deadline = Instant::now() + Duration::from_millis(1_200);
    let (response, summary) = rig.replicator.handle(&event, Some(deadline)).await;
    let returned = Instant::now();
    assert!(returned <= deadline, "{:?} late", returned - deadline);
    assert_eq!(failures(&response).len(), 40);
    assert_eq!(summary.deadline_failures, 40, "{summary:?}");
    // How many attempts start before the deadline depends on the backoff's jitter.
    assert!(rig.proxy.stats().injected("BatchGetItem", Fault::Slow) >= 1);
}
