//! Failed batches kept whole in S3 and replayed: invocation records in the documented layout
//! (metadata, `KinesisBatchInfo` or `DDBStreamBatchInfo`, and the whole event as `payload`, as a
//! JSON string or an object) in moto's S3; `dyno failures replay --dry-run` lists them and changes
//! nothing; the replay puts a Kinesis batch's records back on the stream as they were and
//! replicates a DynamoDB stream batch's keys; the replica then converges.

use crate::common;

use std::process::{Command, Output};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::{Value, json};

const BUCKET: &str = "dyno-failed-batches";

struct Rig {
    tables: Server,
    kinesis: Server,
    s3: Server,
}

impl Rig {
    fn dyno(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .args(["--bucket", BUCKET, "--s3-endpoint-url", &self.s3.endpoint])
            .output()
            .unwrap()
    }

    fn replicate(&self) -> Output {
        self.command().args(["replicate"]).output().unwrap()
    }

    /// `dyno` pointed at the local servers.
    fn command(&self) -> Command {
        dyno_command(At {
            tables: Some(&self.tables.endpoint),
            replica: None,
            kinesis: Some(&self.kinesis.endpoint),
        })
    }
}

fn invocation_record(info_name: &str, shard: &str, records: usize, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-4b1c-af9c-0c604cde93a5",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:dyno-replicator",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-27T10:00:06.021Z",
        info_name: {
            "shardId": shard,
            "startSequenceNumber": "1",
            "endSequenceNumber": records.to_string(),
            "approximateArrivalOfFirstRecord": "2026-11-27T10:00:04.835Z",
            "approximateArrivalOfLastRecord": "2026-11-27T10:00:05.580Z",
            "batchSize": records,
            "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/dyno-keys"
        },
        "payload": payload
    }))
    .unwrap()
}

fn ddb_record(subject: &str, sequence: usize) -> Value {
    json!({
        "eventID": format!("e{sequence}"), "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/dyno-primary/stream/2026-11-27T00:00:00.000",
        "dynamodb": {"ApproximateCreationDateTime": 1764201600.0,
            "Keys": {"ForumName": {"S": "ddb"}, "Subject": {"S": subject}},
            "SequenceNumber": sequence.to_string(), "SizeBytes": 30, "StreamViewType": "KEYS_ONLY"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batches_in_s3_are_listed_then_replayed() {
    let rig = Rig {
        tables: Server::dynalite(),
        kinesis: Server::kinesalite(),
        s3: Server::moto(),
    };
    let db = client(&rig.tables).await;
    create_table(&db, PRIMARY, &thread_schema()).await;
    create_table(&db, REPLICA, &thread_schema()).await;
    let keys = stream(&rig.kinesis, STREAM).await;
    create_stream(&keys, 1).await;
    let mut items: Vec<Item> = (0..6)
        .map(|i| thread_item("k", &format!("s{i}"), "v"))
        .collect();
    items.extend((0..4).map(|i| thread_item("ddb", &format!("s{i}"), "v")));
    put_items(&db, PRIMARY, items).await;

    // Two Kinesis batches of three key records each (one payload a string, one an object), a
    // DynamoDB stream batch of four keys, and an object that is no invocation record.
    let kinesis_batch = |from: usize| -> KinesisEvent {
        let mut event = kinesis_event(
            (from..from + 3)
                .map(|i| thread_record("k", &format!("s{i}"), i as u64))
                .collect(),
        );
        for r in &mut event.records {
            r.kinesis.partition_key = format!("pk-{}", r.kinesis.sequence_number);
            r.event_source = Some("aws:kinesis".into());
        }
        event
    };
    let s3 = dyno::aws::client::s3_client(&sdk_config().await, Some(&rig.s3.endpoint), &tuning());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let prefix = "aws/lambda/4f2d9c4e-0000-4000-8000-000000000001";
    let objects = [
        (
            format!("{prefix}/shardId-000000000000/2026/11/27/2026-11-27T10.00.06-a1"),
            invocation_record(
                "KinesisBatchInfo",
                "shardId-000000000000",
                3,
                Value::String(serde_json::to_string(&kinesis_batch(0)).unwrap()),
            ),
        ),
        (
            format!("{prefix}/shardId-000000000000/2026/11/27/2026-11-27T10.00.07-a2"),
            invocation_record(
                "KinesisBatchInfo",
                "shardId-000000000000",
                3,
                serde_json::to_value(kinesis_batch(3)).unwrap(),
            ),
        ),
        (
            format!("{prefix}/shardId-00000001/2026/11/27/2026-11-27T10.00.08-b1"),
            invocation_record(
                "DDBStreamBatchInfo",
                "shardId-00000001",
                4,
                json!({"Records": (0..4).map(|i| ddb_record(&format!("s{i}"), 100 + i)).collect::<Vec<_>>()}),
            ),
        ),
        (
            format!("{prefix}/notes.txt"),
            b"not an invocation record".to_vec(),
        ),
    ];
    for (key, body) in objects {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    // Dry run: listed, nothing changed.
    let out = rig.dyno(&["failures", "replay", "--dry-run"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the dry run exits as the real run does (an unreadable object): {said}"
    );
    assert_eq!(
        said.matches("Kinesis batch of 3 records").count(),
        2,
        "{said}"
    );
    assert!(
        said.contains("DynamoDB stream batch of 4 records"),
        "{said}"
    );
    assert!(
        said.contains("3 failed batches (10 records) would be replayed"),
        "{said}"
    );
    assert!(
        said.contains("notes.txt"),
        "the unreadable object is named: {said}"
    );
    assert!(stream_records(&keys.client, STREAM).await.is_empty());
    assert!(scan_all(&db, REPLICA, &thread_schema()).await.is_empty());

    // Nothing written since the future.
    let out = rig.dyno(&["failures", "replay", "--since", "2999-01-01T00:00:00Z"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replayed 0 failed batches"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The replay: Kinesis records back on the stream as they were; DynamoDB keys replicated.
    let out = rig.dyno(&["failures", "replay"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("6 records put back on `dyno-keys`, 4 records' keys replicated, 0 failed, 1 objects skipped"), "{said}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable object is a failure to look at: {said}"
    );
    let back = stream_records(&keys.client, STREAM).await;
    assert_eq!(back.len(), 6);
    let originals: Vec<(String, Vec<u8>)> = [kinesis_batch(0), kinesis_batch(3)]
        .iter()
        .flat_map(|e| {
            e.records
                .iter()
                .map(|r| (r.kinesis.partition_key.clone(), r.kinesis.data.to_vec()))
        })
        .collect();
    for (pk, data) in &originals {
        assert!(
            back.iter()
                .any(|r| r.partition_key() == Some(pk.as_str())
                    && r.data().as_ref() == data.as_slice()),
            "{pk} not put back as it was"
        );
    }
    assert_eq!(scan_all(&db, REPLICA, &thread_schema()).await.len(), 4);

    // The replicator drains the stream: every key of every failed batch is on the replica.
    let out = rig.replicate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        assert_tables_equal((&db, PRIMARY), (&db, REPLICA)).await,
        10
    );
}
