//! What the replicator logs: keys and counts, never item content. Batches whose items, records
//! and unusable records carry a distinctive secret run with every log line captured as JSON
//! (dyno at trace level, every other crate at debug: more than the template's `RUST_LOG=info`);
//! the secret must never appear, while the summary line must. (The AWS SDK's own *trace* level
//! logs whole response bodies, so `tests/it/template.rs` checks that the function never runs at it.)

use crate::common;

use std::io;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use common::alone;
use common::*;
use dyno::replicate::dead_letter::DeadLetterQueue;
use dyno::replicate::replicator::Replicator;
use serde_json::{Value, json};

const SECRET: &str = "SECRET-7f3a9c-do-not-log";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

async fn replicator(primary: &Server, replica_endpoint: &str) -> Replicator {
    let replica = table_at(replica_endpoint, "us-east-1", REPLICA, &tuning(), None).await;
    Replicator::connect(table(primary, PRIMARY).await, replica, tuning())
        .await
        .expect("connect")
}

fn record_with_image(subject: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "awsRegion": "us-east-1", "eventID": "e", "eventName": "MODIFY", "tableName": PRIMARY,
        "dynamodb": {
            "Keys": {"ForumName": {"S": "f"}, "Subject": {"S": subject}},
            "NewImage": {"ForumName": {"S": "f"}, "Subject": {"S": subject}, "Body": {"S": SECRET}},
            "SizeBytes": 90
        }
    }))
    .expect("json")
}

/// Unusable records that carry the secret where a decoder error could quote it.
fn hostile_records() -> Vec<Vec<u8>> {
    vec![
        format!(r#"{{"dynamodb":"{SECRET}"}}"#).into_bytes(),
        format!(r#"{{"dynamodb":{{"Keys":"{SECRET}"}}}}"#).into_bytes(),
        format!(
            r#"{{"dynamodb":{{"Keys":{{"ForumName":{{"S":"f"}},"Subject":{{"SS":"{SECRET}"}}}}}}}}"#
        )
        .into_bytes(),
        format!(
            r#"{{"dynamodb":{{"Keys":{{"ForumName":{{"N":"{SECRET}"}},"Subject":{{"S":"s"}}}}}}}}"#
        )
        .into_bytes(),
        format!(
            r#"{{"eventName":"{SECRET}","dynamodb":{{"Keys":{{"ForumName":{{"B":"{SECRET}"}}}}}}}}"#
        )
        .into_bytes(),
        format!("{SECRET} not json").into_bytes(),
        serde_json::to_vec(&json!({
            "tableName": "Other", "awsRegion": "r", "eventID": "e", "eventName": "INSERT",
            "dynamodb": {"Keys": {"ForumName": {"S": "f"}, "Subject": {"S": "s"}},
                         "NewImage": {"Body": {"S": SECRET}}, "SizeBytes": 1}
        }))
        .expect("json"),
    ]
}

async fn secret_items(client: &Client, n: usize) {
    put_items(
        client,
        PRIMARY,
        (0..n)
            .map(|i| thread_item("f", &format!("s{i}"), SECRET))
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_keys_and_counts_never_item_content() {
    // The subscriber is the process's: other tests' lines would be captured too.
    let name = "logs_hold_keys_and_counts_never_item_content";
    if !alone::in_own_process(&format!("{}::{name}", module_path!())) {
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,dyno=trace"))
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");

    let server = Server::dynalite();
    let direct = client(&server).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    secret_items(&direct, 30).await;
    let mut data: Vec<Vec<u8>> = (0..30)
        .map(|i| thread_record("f", &format!("s{i}"), i))
        .collect();
    data.extend((30..40).map(|i| record_with_image(&format!("s{i}"))));
    data.extend(hostile_records());
    let event = kinesis_event(data);
    let hostile = hostile_records().len();

    // 1. Replicated items and unusable records, no dead-letter queue.
    let ok = replicator(&server, &server.endpoint).await;
    let (response, summary) = ok.handle(&event, None).await;
    assert_eq!((summary.puts, summary.deletes), (30, 10));
    assert_eq!(failures(&response).len(), hostile);

    // 2. A replica that cannot be reached: every key fails, with errors logged.
    let mut gone = Server::dynalite();
    create_table(&client(&gone).await, REPLICA, &thread_schema()).await;
    let unreachable = gone.endpoint.clone();
    let failing = replicator(&server, &unreachable).await;
    gone.kill();
    let (response, _) = failing.handle(&event, None).await;
    assert_eq!(failures(&response).len(), event.records.len());

    // 3. Unusable records to a dead-letter queue (moto's SQS).
    let moto = Server::moto();
    let sqs = dyno::aws::client::sqs_client(&sdk_config().await, Some(&moto.endpoint), &tuning());
    let url = create_queue(&sqs, "dlq").await;
    let with_queue = ok.with_dead_letter(DeadLetterQueue::new(sqs, url));
    let (response, summary) = with_queue.handle(&event, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(summary.dead_lettered, hostile);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    assert!(
        !text.contains(SECRET) && !text.contains("7f3a9c"),
        "the secret was logged: {}",
        text.lines()
            .filter(|l| l.contains("7f3a9c"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summaries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "batch replicated")
        .collect();
    assert_eq!(summaries.len(), 3);
    assert_eq!(
        summaries[0]["fields"]["records"],
        json!(event.records.len())
    );
    assert_eq!(summaries[0]["fields"]["puts"], json!(30));
    assert_eq!(summaries[0]["fields"]["unusable_records"], json!(hostile));
    assert_eq!(summaries[2]["fields"]["dead_lettered"], json!(hostile));
    // Keys may be logged (they identify the work), and are.
    assert!(
        lines.iter().any(|l| l["fields"]["first_key"]
            .as_str()
            .is_some_and(|k| k.contains("Subject=S:"))),
        "failed keys are named"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "unusable record: sent to the dead-letter queue")
    );
}
