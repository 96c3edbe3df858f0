//! What the handler does with each record: the seed's record copied verbatim; puts,
//! modifies, deletes and keys the primary no longer has; the Kinesis Data Streams for DynamoDB
//! format; unusable records reported while the rest is replicated.

use crate::common;

use common::*;
use serde_json::json;

use super::{fixture, get};

on_both_backends!(
    seed_record_verbatim,
    put_modify_delete_and_absent,
    kinesis_data_streams_for_dynamodb_format,
    unusable_records_are_reported_and_the_rest_replicated,
);

async fn seed_record_verbatim(backend: Backend) {
    let f = fixture(backend).await;
    let item = thread_item("DynamoDB", "DynamoDB Thread 3", "hello");
    put_items(&f.primary, PRIMARY, vec![item.clone()]).await;

    let (response, summary) = f.replicator.handle(&event_file("seed.json"), None).await;

    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!((summary.records, summary.keys, summary.puts), (1, 1, 1));
    let copied = get(&f.replica, REPLICA, "DynamoDB", "DynamoDB Thread 3").await;
    assert_eq!(copied, Some(item));
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        1
    );
}

async fn put_modify_delete_and_absent(backend: Backend) {
    let f = fixture(backend).await;
    // Replica before: b (old), c and d (deleted since on the primary). Primary now: a, b (new).
    put_items(
        &f.primary,
        PRIMARY,
        vec![thread_item("f", "a", "a1"), thread_item("f", "b", "b2")],
    )
    .await;
    put_items(
        &f.replica,
        REPLICA,
        vec![
            thread_item("f", "b", "b1"),
            thread_item("f", "c", "c1"),
            thread_item("f", "d", "d1"),
        ],
    )
    .await;
    let event = kinesis_event(vec![
        key_record(
            json!({"ForumName": {"S": "f"}, "Subject": {"S": "a"}}),
            "INSERT",
            1,
        ),
        key_record(
            json!({"Subject": {"S": "b"}, "ForumName": {"S": "f"}}),
            "MODIFY",
            2,
        ),
        key_record(
            json!({"ForumName": {"S": "f"}, "Subject": {"S": "c"}}),
            "REMOVE",
            3,
        ),
        // Announced as an insert, but the primary no longer has it: the primary decides.
        key_record(
            json!({"ForumName": {"S": "f"}, "Subject": {"S": "d"}}),
            "INSERT",
            4,
        ),
    ]);

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!((summary.puts, summary.deletes), (2, 2));
    assert_eq!(
        get(&f.replica, REPLICA, "f", "b").await,
        Some(thread_item("f", "b", "b2"))
    );
    assert_eq!(get(&f.replica, REPLICA, "f", "c").await, None);
    // The INSERT record of a key the primary no longer has deletes the replica's stale copy.
    assert_eq!(get(&f.replica, REPLICA, "f", "d").await, None);
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        2
    );
}

async fn kinesis_data_streams_for_dynamodb_format(backend: Backend) {
    let f = fixture(backend).await;
    let event = event_file("kinesis-for-dynamodb.json");
    // Every key the file announces exists on the primary, except what it says was removed.
    let mut expected = Vec::new();
    for record in &event.records {
        let change: serde_json::Value = serde_json::from_slice(&record.kinesis.data).unwrap();
        let keys = &change["dynamodb"]["Keys"];
        let forum = keys["ForumName"]["S"].as_str().unwrap().to_owned();
        let subject = keys["Subject"]["S"].as_str().unwrap().to_owned();
        if change["eventName"] != "REMOVE" {
            expected.push((forum.clone(), subject.clone()));
        }
    }
    expected.sort();
    expected.dedup();
    put_items(
        &f.primary,
        PRIMARY,
        expected
            .iter()
            .map(|(f, s)| thread_item(f, s, "from the table, not the image"))
            .collect(),
    )
    .await;

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(summary.puts, expected.len());
    let n = assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await;
    assert_eq!(n, expected.len());
}

async fn unusable_records_are_reported_and_the_rest_replicated(backend: Backend) {
    let f = fixture(backend).await;
    put_items(&f.primary, PRIMARY, vec![thread_item("f", "good", "g")]).await;
    let bad = |keys: serde_json::Value| key_record(keys, "INSERT", 9);
    let event = kinesis_event(vec![
        b"not json at all".to_vec(),
        thread_record("f", "good", 1),
        br#"{"awsRegion":"us-east-1","eventID":"x","eventName":"INSERT","dynamodb":{"SizeBytes":1}}"#
            .to_vec(),
        bad(json!({"ForumName": {"N": "1"}, "Subject": {"S": "s"}})),
        bad(json!({"ForumName": {"S": "f"}})),
        bad(json!({"ForumName": {"S": "f"}, "Subject": {"S": "s"}, "Extra": {"S": "x"}})),
        bad(json!({"ForumName": {"S": ""}, "Subject": {"S": "s"}})),
        br#"{"awsRegion":"us-east-1","eventID":"x","eventName":"INSERT","tableName":"SomeOtherTable",
            "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"S":"f"},"Subject":{"S":"good"}}}}"#
            .to_vec(),
        vec![0xff, 0xfe, 0x00],
    ]);

    let (response, summary) = f.replicator.handle(&event, None).await;

    let expected: Vec<String> = [1, 3, 4, 5, 6, 7, 8, 9]
        .iter()
        .map(|i| format!("{i:056}"))
        .collect();
    assert_eq!(failures(&response), expected);
    assert_eq!((summary.unusable_records, summary.puts), (8, 1));
    assert!(get(&f.replica, REPLICA, "f", "good").await.is_some());

    // The events/ sample of unusable records: every bad one reported, the good one replicated.
    let sample = event_file("unusable.json");
    put_items(
        &f.primary,
        PRIMARY,
        vec![thread_item("DynamoDB", "DynamoDB Thread 3", "seed")],
    )
    .await;
    let (response, summary) = f.replicator.handle(&sample, None).await;
    assert_eq!(summary.unusable_records, sample.records.len() - 1);
    assert_eq!(failures(&response).len(), sample.records.len() - 1);
    assert!(
        get(&f.replica, REPLICA, "DynamoDB", "DynamoDB Thread 3")
            .await
            .is_some()
    );
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        2
    );
}
