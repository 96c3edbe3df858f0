//! The dead-letter queue against moto's SQS: unusable records are kept byte for byte with where
//! they came from and why, and are then not failures; a send that fails leaves them failures;
//! replay reads them back. Tables live on dynalite.

mod config_and_replay;
mod once;
mod send_faults;
mod sending;

use crate::common;

use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_sqs::config::Credentials;
use common::calls::CallCounter;
use common::*;
use dyno::replicate::dead_letter::DeadLetterQueue;
use dyno::replicate::letter::DeadLetter;
use dyno::replicate::replicator::Replicator;
use serde_json::json;

struct Fixture {
    _tables: Server,
    sqs_server: Server,
    primary: Client,
    sqs: aws_sdk_sqs::Client,
    sqs_calls: CallCounter,
    queue_url: String,
    replicator: Replicator,
}

fn sqs_client(server: &Server, counter: &CallCounter) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::new()
        .http_client(dyno::aws::client::https_client())
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "dyno-tests"))
        .endpoint_url(&server.endpoint)
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(3))
                .build(),
        )
        .interceptor(counter.clone())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn fixture() -> Fixture {
    let tables = Server::dynalite();
    let sqs_server = Server::moto();
    let primary = client(&tables).await;
    create_table(&primary, PRIMARY, &thread_schema()).await;
    create_table(&primary, REPLICA, &thread_schema()).await;
    let replicator = Replicator::connect(
        table(&tables, PRIMARY).await,
        table(&tables, REPLICA).await,
        tuning(),
    )
    .await
    .expect("connect");
    let sqs_calls = CallCounter::default();
    let sqs = sqs_client(&sqs_server, &sqs_calls);
    let queue_url = create_queue(&sqs, "dyno-dead-letters").await;
    let replicator = replicator.with_dead_letter(DeadLetterQueue::new(sqs.clone(), &queue_url));
    sqs_calls.reset();
    Fixture {
        _tables: tables,
        sqs_server,
        primary,
        sqs,
        sqs_calls,
        queue_url,
        replicator,
    }
}

/// Every message on the fixture's queue, decoded (and left there, invisible for a minute).
async fn drain(f: &Fixture) -> Vec<DeadLetter> {
    drain_queue(&f.sqs, &f.queue_url).await
}

/// The primary's ten items `f`/`s0`..`s9`, the good records of [`mixed_event`] name.
async fn put_ten_items(f: &Fixture) {
    let items = (0..10).map(|i| thread_item("f", &format!("s{i}"), "b"));
    put_items(&f.primary, PRIMARY, items.collect()).await;
}

/// Every message on the queue at `url`, decoded (and left there, invisible for a minute).
async fn drain_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<DeadLetter> {
    let queue = DeadLetterQueue::new(sqs.clone(), url);
    let mut letters = Vec::new();
    loop {
        let batch = queue
            .receive(10, Duration::ZERO, Duration::from_secs(60))
            .await
            .expect("receive");
        if batch.is_empty() {
            break;
        }
        letters.extend(batch.into_iter().map(|m| m.letter.expect("a dead letter")));
    }
    letters.sort_by(|a, b| a.sequence_number.cmp(&b.sequence_number));
    letters
}

fn unusable_data() -> Vec<Vec<u8>> {
    let bad = |keys: serde_json::Value| key_record(keys, "INSERT", 9);
    vec![
        b"not json at all".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        br#"{"awsRegion":"us-east-1","eventID":"x","eventName":"INSERT","dynamodb":{"SizeBytes":1}}"#
            .to_vec(),
        bad(json!({"ForumName": {"N": "1"}, "Subject": {"S": "s"}})),
        bad(json!({"ForumName": {"S": "f"}})),
        bad(json!({"ForumName": {"S": "f"}, "Subject": {"S": "é\u{fffe}"}, "Extra": {"S": "x"}})),
        br#"{"awsRegion":"us-east-1","eventID":"x","eventName":"INSERT","tableName":"SomeOtherTable",
            "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"S":"f"},"Subject":{"S":"g"}}}}"#
            .to_vec(),
    ]
}

/// A batch of good records (even positions) and unusable ones (odd positions).
fn mixed_event(good: usize) -> (KinesisEvent, Vec<usize>) {
    let mut data = Vec::new();
    let mut bad_positions = Vec::new();
    let mut unusable = unusable_data().into_iter();
    for i in 0..good {
        data.push(thread_record("f", &format!("s{i}"), i as u64));
        if let Some(bad) = unusable.next() {
            bad_positions.push(data.len());
            data.push(bad);
        }
    }
    let mut event = kinesis_event(data);
    for (i, record) in event.records.iter_mut().enumerate() {
        record.kinesis.partition_key = format!("pk-{i}");
        record.event_source_arn = Some("arn:aws:kinesis:us-east-1:123456789012:stream/k".into());
    }
    (event, bad_positions)
}
