//! Limits: deep nesting, huge strings, and empty or oversized key values fail typed; a batch at
//! Lambda's limits goes through the handler within a small multiple of its size in memory.

use crate::common;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use dyno::aws::key::{KeyError, KeySchema, ScalarType};
use dyno::replicate::decode::Problem;
use serde_json::{Value, json};

use super::{TABLE, decode_checked, envelope, thread};

#[test]
fn deep_nesting_huge_strings_and_limits_fail_typed() {
    // Nesting far past serde_json's recursion limit, as the whole record and inside a key.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        decode_checked(deep.into_bytes(), &thread()),
        Err(Problem::NotARecord(_))
    ));
    let mut nested = json!({"S": "x"});
    for _ in 0..200 {
        nested = json!({"M": {"a": nested}});
    }
    let result = decode_checked(
        envelope(json!({"ForumName": nested, "Subject": {"S": "s"}}), None),
        &thread(),
    );
    assert!(result.is_err());

    // A 5 MB string outside the key is harmless; inside the key it is too large.
    let huge = "x".repeat(5 << 20);
    let mut record: Value = serde_json::from_slice(&envelope(
        json!({"ForumName": {"S": "f"}, "Subject": {"S": "s"}}),
        None,
    ))
    .expect("json");
    record["dynamodb"]["NewImage"] = json!({"Body": {"S": huge}});
    assert!(decode_checked(serde_json::to_vec(&record).expect("json"), &thread()).is_ok());
    let result = decode_checked(
        envelope(
            json!({"ForumName": {"S": huge}, "Subject": {"S": "s"}}),
            None,
        ),
        &thread(),
    );
    assert!(matches!(
        result,
        Err(Problem::Key(KeyError::TooLarge { limit: 2048, .. }))
    ));

    // Empty and oversized key values, by type and position.
    let key = |schema: &KeySchema, h: AttributeValue, r: AttributeValue| {
        schema.key(HashMap::from([("h".to_owned(), h), ("r".to_owned(), r)]))
    };
    let ss = KeySchema::composite(("h", ScalarType::S), ("r", ScalarType::S));
    let bb = KeySchema::composite(("h", ScalarType::B), ("r", ScalarType::B));
    let nn = KeySchema::composite(("h", ScalarType::N), ("r", ScalarType::N));
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let b = |n: usize| AttributeValue::B(Blob::new(vec![7u8; n]));
    let n = |v: &str| AttributeValue::N(v.to_owned());
    assert_eq!(
        key(&ss, s(""), s("r")).unwrap_err(),
        KeyError::Empty("h".into())
    );
    assert_eq!(
        key(&bb, b(1), b(0)).unwrap_err(),
        KeyError::Empty("r".into())
    );
    assert!(key(&ss, s(&"x".repeat(2048)), s(&"y".repeat(1024))).is_ok());
    assert!(matches!(
        key(&ss, s(&"x".repeat(2049)), s("r")),
        Err(KeyError::TooLarge { limit: 2048, .. })
    ));
    assert!(matches!(
        key(&bb, b(1), b(1025)),
        Err(KeyError::TooLarge { limit: 1024, .. })
    ));
    assert!(matches!(
        key(&nn, n(""), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n(&"9".repeat(39)), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n(&"9".repeat(10_000)), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n("1e-131"), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n("Infinity"), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(key(&nn, n("-1e125"), n("1e-130")).is_ok());
}

/// Peak resident memory of this process so far (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A batch at Lambda's limits (10,000 records, about 6 MB), most of them not matching the table:
/// every record accounted for, the matching keys replicated, memory within a small multiple of
/// the event; then, with a dead-letter queue (moto's SQS), the unusable ones are kept instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_at_lambdas_limits() {
    use common::*;
    use dyno::replicate::dead_letter::DeadLetterQueue;
    use dyno::replicate::replicator::Replicator;

    let server = Server::dynalite();
    let direct = client(&server).await;
    create_table(&direct, TABLE, &thread()).await;
    create_table(&direct, REPLICA, &thread()).await;
    let keys = 500;
    put_items(
        &direct,
        TABLE,
        (0..keys)
            .map(|k| thread_item("f", &format!("s{k}"), "b"))
            .collect(),
    )
    .await;
    let pad = "p".repeat(200);
    let mut data = Vec::with_capacity(10_000);
    let mut good = 0;
    for i in 0..10_000usize {
        let k = (i / 5) % keys;
        let keys_json = match i % 5 {
            // 2,000 good records over 500 keys.
            0 => json!({"ForumName": {"S": "f"}, "Subject": {"S": format!("s{k}")}}),
            1 => json!({"ForumName": {"N": "1"}, "Subject": {"S": format!("s{k}")}}),
            2 => {
                json!({"ForumName": {"S": "f"}, "Subject": {"S": format!("s{k}")}, "Other": {"S": "x"}})
            }
            3 => json!({"ForumName": {"S": "f"}, "Subject": {"S": "y".repeat(1100)}}),
            _ => json!({"Id": {"S": format!("s{k}")}}),
        };
        if i % 5 == 0 {
            good += 1;
        }
        let mut record: Value = serde_json::from_slice(&envelope(keys_json, None)).expect("json");
        record["dynamodb"]["NewImage"] = json!({"Pad": {"S": pad}});
        data.push(serde_json::to_vec(&record).expect("json"));
    }
    let event = kinesis_event(data);
    let bytes: usize = event.records.iter().map(|r| r.kinesis.data.len()).sum();
    assert!(bytes > 5_500_000 && bytes <= 6 << 20, "{bytes} bytes");
    let replicator = Replicator::connect(
        table(&server, TABLE).await,
        table(&server, REPLICA).await,
        tuning(),
    )
    .await
    .expect("connect");

    let before = peak_rss();
    let (response, summary) = replicator.handle(&event, None).await;
    let after = peak_rss();

    assert_eq!(summary.records, 10_000);
    assert_eq!(summary.keys, keys);
    assert_eq!(summary.puts, keys);
    assert_eq!(summary.unusable_records, 10_000 - good);
    assert_eq!(failures(&response).len(), 10_000 - good);
    assert_eq!(summary.failed_records, 10_000 - good);
    if let (Some(before), Some(after)) = (before, after) {
        let grown = after.saturating_sub(before);
        println!("peak RSS grew by {grown} bytes for a {bytes}-byte event");
        assert!(grown < 40 * bytes as u64, "peak RSS grew by {grown} bytes");
    }

    // With a dead-letter queue, the 8,000 unusable records are kept and the batch succeeds.
    let moto = Server::moto();
    let sqs = dyno::aws::client::sqs_client(&sdk_config().await, Some(&moto.endpoint), &tuning());
    let queue_url = create_queue(&sqs, "dlq").await;
    let replicator = replicator.with_dead_letter(DeadLetterQueue::new(sqs, queue_url));
    // moto's SQS takes 0.1 to 0.3 s per SendMessageBatch (and slows as the queue grows), so this
    // part takes the first 250 records (200 unusable) rather than all 10,000.
    let mut head = event.clone();
    head.records.truncate(250);
    let (response, summary) = replicator.handle(&head, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(summary.unusable_records, 200);
    assert_eq!(summary.dead_lettered, 200);
    assert_eq!(summary.puts, 50);
}
