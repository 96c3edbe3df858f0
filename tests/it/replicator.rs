//! The replicator's handler against real servers: dynalite and moto, one for the primary's
//! region and one for the replica's, over HTTP with the AWS SDK.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::calls::CallCounter;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::table::Table;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;
use serde_json::json;
use tokio::time::Instant;

const REPLICA_REGION: &str = "eu-west-1";

struct Fixture {
    primary_server: Server,
    replica_server: Server,
    primary: Client,
    replica: Client,
    calls: CallCounter,
    replicator: Replicator,
}

async fn fixture_with(backend: Backend, schema: &KeySchema, tuning: Tuning) -> Fixture {
    let primary_server = Server::dynamodb(backend);
    let replica_server = Server::dynamodb(backend);
    // The replica lives in another region than the primary: two clients, two signing regions.
    let primary = client(&primary_server).await;
    let replica = client_at(&replica_server.endpoint, REPLICA_REGION, &tuning, None).await;
    create_table(&primary, PRIMARY, schema).await;
    create_table(&replica, REPLICA, schema).await;
    let calls = CallCounter::default();
    let counted = Some(&calls);
    let replicator = Replicator::connect(
        table_at(
            &primary_server.endpoint,
            "us-east-1",
            PRIMARY,
            &tuning,
            counted,
        )
        .await,
        table_at(
            &replica_server.endpoint,
            REPLICA_REGION,
            REPLICA,
            &tuning,
            counted,
        )
        .await,
        tuning,
    )
    .await
    .expect("connect");
    calls.reset();
    Fixture {
        primary_server,
        replica_server,
        primary,
        replica,
        calls,
        replicator,
    }
}

async fn fixture(backend: Backend) -> Fixture {
    fixture_with(backend, &thread_schema(), tuning()).await
}

async fn get(client: &Client, table: &str, forum: &str, subject: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("ForumName", s(forum))
        .key("Subject", s(subject))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// Runs every scenario against both DynamoDB implementations.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod dynalite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Dynalite).await })*
        }
        mod moto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Moto).await })*
        }
    };
}

on_both_backends!(
    seed_record_verbatim,
    put_modify_delete_and_absent,
    repeated_keys_are_read_once,
    ten_thousand_records_over_two_thousand_keys,
    ten_thousand_distinct_keys_cost_five_hundred_calls,
    every_attribute_type_and_a_400_kb_item_round_trip,
    kinesis_data_streams_for_dynamodb_format,
    unusable_records_are_reported_and_the_rest_replicated,
    a_dead_replica_fails_every_record,
    restart_from_lowest_failure_converges,
    deadline_stops_new_work_and_reports_the_rest,
    numeric_and_binary_keys,
    number_and_binary_spellings,
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

async fn a_dead_replica_fails_every_record(backend: Backend) {
    let mut f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..30)
            .map(|i| thread_item("f", &i.to_string(), "x"))
            .collect(),
    )
    .await;
    f.replica_server.kill();
    let mut data: Vec<Vec<u8>> = (0..30)
        .map(|i| thread_record("f", &i.to_string(), i))
        .collect();
    data.insert(5, b"garbage".to_vec());
    let event = kinesis_event(data);

    let (response, summary) = f.replicator.handle(&event, None).await;

    // Every record fails: none of their keys reached the replica, and the garbage is unusable.
    assert_eq!(failures(&response).len(), 31);
    assert_eq!(failures(&response)[0], format!("{:056}", 1));
    assert_eq!((summary.puts, summary.failed_records), (0, 31));
}

/// Lambda restarts a shard at the lowest failed sequence number, so records after it come again,
/// possibly after the primary changed: re-processing them must be harmless and converge.
async fn restart_from_lowest_failure_converges(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..6)
            .map(|i| thread_item("f", &i.to_string(), "v1"))
            .collect(),
    )
    .await;
    let mut data: Vec<Vec<u8>> = (0..6)
        .map(|i| thread_record("f", &i.to_string(), i))
        .collect();
    data.insert(3, b"poison".to_vec());
    let event = kinesis_event(data);

    let (response, _) = f.replicator.handle(&event, None).await;
    let failed = failures(&response);
    assert_eq!(failed, vec![format!("{:056}", 4)]);

    // Meanwhile the primary moves on: key 4 changes, key 5 is deleted, key 1 changes.
    put_items(
        &f.primary,
        PRIMARY,
        vec![thread_item("f", "4", "v2"), thread_item("f", "1", "v2")],
    )
    .await;
    f.primary
        .delete_item()
        .table_name(PRIMARY)
        .key("ForumName", s("f"))
        .key("Subject", s("5"))
        .send()
        .await
        .unwrap();

    // Redelivery from the lowest failure onwards, as Lambda does; then the new records.
    let lowest = failed.iter().min().unwrap().clone();
    let mut again = event.clone();
    again
        .records
        .retain(|r| r.kinesis.sequence_number >= lowest);
    assert_eq!(again.records.len(), 4);
    let (response, _) = f.replicator.handle(&again, None).await;
    assert_eq!(failures(&response), vec![lowest]);
    let later = kinesis_event(vec![thread_record("f", "1", 10)]);
    let (response, _) = f.replicator.handle(&later, None).await;
    assert!(failures(&response).is_empty());

    // Keys 0 to 4 (5 deleted on the primary, so on the replica).
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        5
    );
    assert_eq!(
        get(&f.replica, REPLICA, "f", "4").await,
        Some(thread_item("f", "4", "v2"))
    );
}

async fn deadline_stops_new_work_and_reports_the_rest(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..10)
            .map(|i| thread_item("f", &i.to_string(), "x"))
            .collect(),
    )
    .await;
    let event = kinesis_event(
        (0..10)
            .map(|i| thread_record("f", &i.to_string(), i))
            .collect(),
    );

    // Already inside the margin: nothing is started, everything is reported.
    let near = Instant::now() + Duration::from_millis(100);
    let (response, summary) = f.replicator.handle(&event, Some(near)).await;
    assert_eq!(failures(&response).len(), 10);
    assert_eq!(summary.puts, 0);
    assert_eq!(f.calls.total(), 0, "{:?}", f.calls.snapshot());

    // A primary that stops answering: the handler returns before the deadline, all failed.
    f.primary_server.pause();
    let deadline = Instant::now() + Duration::from_secs(3);
    let (response, _) = f.replicator.handle(&event, Some(deadline)).await;
    let returned = Instant::now();
    f.primary_server.resume();
    assert_eq!(failures(&response).len(), 10);
    assert!(
        returned < deadline,
        "returned {:?} after the deadline",
        returned - deadline
    );
    assert!(
        scan_all(&f.replica, REPLICA, &thread_schema())
            .await
            .is_empty()
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

/// The deadline of a real Lambda context, through `function_handler`: with the primary not
/// answering, the handler returns before the invocation's deadline with every record failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_handler_returns_before_the_context_deadline() {
    let f = fixture(Backend::Dynalite).await;
    let event = kinesis_event(
        (0..10)
            .map(|i| thread_record("f", &i.to_string(), i))
            .collect(),
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = lambda_runtime::Context::default();
    context.deadline = now_ms + 2_000;
    let deadline = Instant::now() + Duration::from_millis(2_000);
    f.primary_server.pause();
    let response = dyno::replicate::lambda::function_handler(
        &f.replicator,
        lambda_runtime::LambdaEvent::new(raw(&event), context),
    )
    .await
    .expect("a response");
    let returned = Instant::now();
    f.primary_server.resume();
    assert_eq!(response_failures(&response).len(), 10);
    assert!(returned < deadline, "{:?} late", returned - deadline);
    // It did wait for the primary until the margin before the deadline (500 ms in tests); how
    // much sooner it returns depends on when its last attempt started.
    assert!(
        returned + Duration::from_millis(700) >= deadline,
        "gave up early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_errors_name_the_setting_to_fix() {
    let mut server = Server::dynalite();
    let c = client(&server).await;
    create_table(&c, PRIMARY, &thread_schema()).await;
    create_table(
        &c,
        "other-shape",
        &KeySchema::hash_only("id", ScalarType::N),
    )
    .await;
    let primary_table = |name: &'static str| Table::new(c.clone(), name, "PRIMARY_TABLE");
    let replica_table = |name: &'static str| Table::new(c.clone(), name, "REPLICA_TABLE");

    let err = Replicator::connect(primary_table("missing"), replica_table(PRIMARY), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("PRIMARY_TABLE=missing: DescribeTable failed"),
        "{err}"
    );
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    let err = Replicator::connect(
        primary_table(PRIMARY),
        replica_table("other-shape"),
        tuning(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("REPLICA_TABLE=other-shape: its key schema"),
        "{err}"
    );

    // A table cannot be its own replica.
    let err = Replicator::connect(primary_table(PRIMARY), replica_table(PRIMARY), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("REPLICA_TABLE=dyno-primary is the primary table itself"),
        "{err}"
    );

    server.kill();
    let err = Replicator::connect(primary_table(PRIMARY), replica_table("r"), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("PRIMARY_TABLE=dyno-primary: DescribeTable failed"),
        "{err}"
    );
}

#[test]
fn the_lambda_binary_stops_at_init_naming_a_missing_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replicator"))
        .env_clear()
        .env("REPLICA_TABLE", "r")
        .output()
        .expect("run the replicator binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PRIMARY_TABLE is not set"), "{stderr}");
}
