//! The calls the handler makes: a key announced many times is read once; 10,000 records cost
//! one read per 100 distinct keys and one write per 25.

use crate::common;

use common::*;

use super::fixture;

on_both_backends!(
    repeated_keys_are_read_once,
    ten_thousand_records_over_two_thousand_keys,
    ten_thousand_distinct_keys_cost_five_hundred_calls,
);

async fn repeated_keys_are_read_once(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..3)
            .map(|i| thread_item("f", &i.to_string(), "x"))
            .collect(),
    )
    .await;
    let event = kinesis_event(
        (0..60)
            .map(|i| thread_record("f", &(i % 3).to_string(), i))
            .collect(),
    );

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty());
    assert_eq!((summary.records, summary.keys, summary.puts), (60, 3, 3));
    assert_eq!(f.calls.get("BatchGetItem"), 1, "{:?}", f.calls.snapshot());
    assert_eq!(f.calls.get("BatchWriteItem"), 1, "{:?}", f.calls.snapshot());
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        3
    );
}

async fn ten_thousand_records_over_two_thousand_keys(backend: Backend) {
    let f = fixture(backend).await;
    // 1,800 keys present on the primary, 200 announced but absent (deletes).
    put_items(
        &f.primary,
        PRIMARY,
        (0..1800)
            .map(|i| thread_item("hot", &format!("{i:05}"), "body"))
            .collect(),
    )
    .await;
    let event = kinesis_event(
        (0..10_000)
            .map(|i| thread_record("hot", &format!("{:05}", (i * 7) % 2000), i))
            .collect(),
    );

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(
        failures(&response).is_empty(),
        "{} failed",
        response.batch_item_failures.len()
    );
    assert_eq!(
        (summary.keys, summary.puts, summary.deletes),
        (2000, 1800, 200)
    );
    // One read per 100 distinct keys, one write per 25: 20 + 80 calls for 10,000 records.
    assert_eq!(f.calls.get("BatchGetItem"), 20, "{:?}", f.calls.snapshot());
    assert_eq!(
        f.calls.get("BatchWriteItem"),
        80,
        "{:?}",
        f.calls.snapshot()
    );
    let n = assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await;
    assert_eq!(n, 1800);
}

async fn ten_thousand_distinct_keys_cost_five_hundred_calls(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..10_000)
            .map(|i| thread_item("wide", &format!("{i:05}"), "b"))
            .collect(),
    )
    .await;
    let event = kinesis_event(
        (0..10_000)
            .map(|i| thread_record("wide", &format!("{i:05}"), i))
            .collect(),
    );

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty());
    assert_eq!((summary.keys, summary.puts), (10_000, 10_000));
    // 100 reads of 100 keys and 400 writes of 25: 500 calls, not 20,000.
    assert_eq!(f.calls.get("BatchGetItem"), 100, "{:?}", f.calls.snapshot());
    assert_eq!(
        f.calls.get("BatchWriteItem"),
        400,
        "{:?}",
        f.calls.snapshot()
    );
    assert_eq!(f.calls.total(), 500);
    let n = assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await;
    assert_eq!(n, 10_000);
}
