//! Sending dead letters: unusable records kept verbatim, with where they came from and why, and
//! then not failures; sends batched ten at a time and by size; a send that fails (a missing
//! queue, a record too large, SQS gone) leaves its records failures.

use crate::common;

use std::time::Duration;

use common::*;
use dyno::replicate::dead_letter::{DeadLetterError, DeadLetterQueue};
use dyno::replicate::letter::DeadLetter;
use tokio::time::Instant;

use super::{drain, fixture, mixed_event, put_ten_items};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_records_are_kept_verbatim_and_not_failures() {
    let f = fixture().await;
    put_ten_items(&f).await;
    let (event, bad) = mixed_event(10);

    let (response, summary) = f.replicator.handle(&event, None).await;

    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(summary.unusable_records, bad.len());
    assert_eq!(summary.dead_lettered, bad.len());
    assert_eq!(summary.failed_records, 0);
    assert_eq!(summary.puts, 10);
    let letters = drain(&f).await;
    assert_eq!(letters.len(), bad.len());
    for (letter, &position) in letters.iter().zip(&bad) {
        let record = &event.records[position];
        assert_eq!(letter.data, record.kinesis.data.to_vec());
        assert_eq!(letter.sequence_number, record.kinesis.sequence_number);
        assert_eq!(letter.shard, "shardId-000000000000");
        assert_eq!(letter.partition_key, format!("pk-{position}"));
        assert_eq!(letter.event_source_arn, record.event_source_arn);
        assert_eq!(
            letter.approximate_arrival.timestamp_millis(),
            record
                .kinesis
                .approximate_arrival_timestamp
                .0
                .timestamp_millis()
        );
        assert!(!letter.reason.is_empty());
    }
    assert!(
        letters[0]
            .reason
            .contains("not a DynamoDB Streams JSON record")
    );
    assert!(
        letters[3].reason.contains("must be of type S"),
        "{letters:?}"
    );
    assert!(letters[6].reason.contains("SomeOtherTable"));
    // One SendMessageBatch call for 7 letters.
    assert_eq!(f.sqs_calls.get("SendMessageBatch"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_batched_ten_at_a_time_and_by_size() {
    let f = fixture().await;
    // 25 small unusable records: 3 calls. Then 12 of 60 KB each: at most 4 fit in 256 KiB.
    let event = kinesis_event((0..25).map(|i| format!("junk {i}").into_bytes()).collect());
    let (response, summary) = f.replicator.handle(&event, None).await;
    assert_eq!(failures(&response).len(), 0);
    assert_eq!(summary.dead_lettered, 25);
    assert_eq!(f.sqs_calls.get("SendMessageBatch"), 3);

    f.sqs_calls.reset();
    let big = (0..12).map(|i| vec![b'a' + i as u8; 60_000]).collect();
    let event = kinesis_event_from(1000, big);
    let (response, summary) = f.replicator.handle(&event, None).await;
    assert_eq!(failures(&response).len(), 0);
    assert_eq!(summary.dead_lettered, 12);
    assert_eq!(f.sqs_calls.get("SendMessageBatch"), 4);
    let letters = drain(&f).await;
    assert_eq!(letters.len(), 37);
    assert!(letters.iter().any(|l| l.data == vec![b'a' + 11; 60_000]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_leaves_the_record_a_failure() {
    let f = fixture().await;
    put_items(&f.primary, PRIMARY, vec![thread_item("f", "s0", "b")]).await;

    // A queue that does not exist: the whole call fails.
    let missing = format!("{}-missing", f.queue_url);
    let replicator = f
        .replicator
        .clone()
        .with_dead_letter(DeadLetterQueue::new(f.sqs.clone(), missing));
    let (event, bad) = mixed_event(3);
    let (response, summary) = replicator.handle(&event, None).await;
    let expected: Vec<String> = bad
        .iter()
        .map(|&p| event.records[p].kinesis.sequence_number.clone())
        .collect();
    assert_eq!(failures(&response), expected);
    assert_eq!(
        (summary.dead_lettered, summary.puts, summary.deletes),
        (0, 1, 2)
    );

    // A record too large for one SQS message: that one alone is a failure.
    let mut data = vec![b"small junk".to_vec(), vec![b'x'; 200_000]];
    data.push(thread_record("f", "s0", 3));
    let event = kinesis_event(data);
    let (response, summary) = f.replicator.handle(&event, None).await;
    assert_eq!(failures(&response), vec![format!("{:056}", 2)]);
    assert_eq!(summary.dead_lettered, 1);
    let sent = DeadLetterQueue::new(f.sqs.clone(), &f.queue_url)
        .send(
            &[DeadLetter::from_record(&event.records[1], "too big")],
            dyno::aws::retry::Deadline::NONE,
        )
        .await;
    assert!(
        matches!(&sent[..], [Err(DeadLetterError::TooLarge { bytes, .. })] if *bytes > 262_144),
        "{sent:?}"
    );

    // SQS gone altogether, with a deadline: the handler returns in time, records are failures.
    f.sqs_server.pause();
    let (event, bad) = mixed_event(2);
    let started = Instant::now();
    let (response, summary) = f
        .replicator
        .handle(&event, Some(Instant::now() + Duration::from_secs(2)))
        .await;
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(failures(&response).len(), bad.len());
    assert_eq!(summary.dead_lettered, 0);
    f.sqs_server.resume();
}
