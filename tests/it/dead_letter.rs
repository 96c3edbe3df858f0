//! The dead-letter queue against moto's SQS: unusable records are kept byte for byte with where
//! they came from and why, and are then not failures; a send that fails leaves them failures;
//! replay reads them back. Tables live on dynalite.

use crate::common;

use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_sqs::config::Credentials;
use common::calls::CallCounter;
use common::*;
use dyno::config::Config;
use dyno::replicate::dead_letter::{DeadLetterError, DeadLetterQueue, ReplayReport, replay};
use dyno::replicate::letter::DeadLetter;
use dyno::replicate::replicator::Replicator;
use serde_json::json;
use tokio::time::Instant;

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

/// Every message on the queue, decoded (and left there, invisible for a minute).
async fn drain(f: &Fixture) -> Vec<DeadLetter> {
    let queue = DeadLetterQueue::new(f.sqs.clone(), &f.queue_url);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_records_are_kept_verbatim_and_not_failures() {
    let f = fixture().await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..10)
            .map(|i| thread_item("f", &format!("s{i}"), "b"))
            .collect(),
    )
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_queue_unusable_records_stay_failures() {
    let tables = Server::dynalite();
    let primary = client(&tables).await;
    create_table(&primary, PRIMARY, &thread_schema()).await;
    create_table(&primary, REPLICA, &thread_schema()).await;
    let lookup = |name: &str| match name {
        "PRIMARY_TABLE" => Some(PRIMARY.to_owned()),
        "REPLICA_TABLE" => Some(REPLICA.to_owned()),
        "PRIMARY_ENDPOINT_URL" | "REPLICA_ENDPOINT_URL" => Some(tables.endpoint.clone()),
        _ => None,
    };
    let config = Config::from_lookup(lookup).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    assert!(replicator.dead_letter().is_none());
    let (event, bad) = mixed_event(3);
    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(failures(&response).len(), bad.len());
    assert_eq!(
        (summary.unusable_records, summary.dead_lettered),
        (bad.len(), 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_config_wires_the_queue_and_replay_reads_it_back() {
    let tables = Server::dynalite();
    let sqs_server = Server::moto();
    let primary = client(&tables).await;
    create_table(&primary, PRIMARY, &thread_schema()).await;
    create_table(&primary, REPLICA, &thread_schema()).await;
    let sqs = sqs_client(&sqs_server, &CallCounter::default());
    let queue_url = create_queue(&sqs, "dlq").await;
    let lookup = |name: &str| match name {
        "PRIMARY_TABLE" => Some(PRIMARY.to_owned()),
        "REPLICA_TABLE" => Some(REPLICA.to_owned()),
        "PRIMARY_ENDPOINT_URL" | "REPLICA_ENDPOINT_URL" => Some(tables.endpoint.clone()),
        "DEAD_LETTER_QUEUE_URL" => Some(queue_url.clone()),
        "DEAD_LETTER_ENDPOINT_URL" => Some(sqs_server.endpoint.clone()),
        _ => None,
    };
    let config = Config::from_lookup(lookup).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    assert_eq!(
        replicator.dead_letter().map(|q| q.queue_url()),
        Some(queue_url.as_str())
    );
    let (event, bad) = mixed_event(7);
    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(summary.dead_lettered, bad.len());

    // Something that is not a dead letter is left alone; one re-submission fails.
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("hello")
        .send()
        .await
        .expect("SendMessage");
    let queue = DeadLetterQueue::new(sqs.clone(), &queue_url);
    let mut replayed = Vec::new();
    let report = replay(&queue, 100, |letter| {
        let fail = letter.data == b"not json at all";
        if !fail {
            replayed.push(letter.data);
        }
        async move {
            if fail {
                Err("stream unavailable")
            } else {
                Ok(())
            }
        }
    })
    .await
    .expect("replay");
    assert_eq!(
        report,
        ReplayReport {
            replayed: bad.len() - 1,
            failed: 1,
            unreadable: 1
        }
    );
    let mut expected: Vec<Vec<u8>> = bad
        .iter()
        .map(|&p| event.records[p].kinesis.data.to_vec())
        .filter(|d| d != b"not json at all")
        .collect();
    expected.sort();
    replayed.sort();
    assert_eq!(replayed, expected);
    // Replayed letters are gone; the two left are invisible for now.
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes");
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<usize>().ok())
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        Some(0)
    );
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        Some(2)
    );
}

/// A fault proxy in front of moto's SQS, and the fixture's replicator dead-lettering through it.
async fn dead_letters_through_a_proxy(f: &Fixture) -> (common::faults::FaultProxy, Replicator) {
    let proxy = common::faults::FaultProxy::start(f.sqs_server.port).await;
    let config = f.sqs.config().to_builder().endpoint_url(&proxy.endpoint);
    let through = aws_sdk_sqs::Client::from_conf(config.build());
    let replicator = f
        .replicator
        .clone()
        .with_dead_letter(DeadLetterQueue::new(through, &f.queue_url));
    (proxy, replicator)
}

/// The fault proxy in front of moto's SQS: per-entry failures in a `SendMessageBatch` answer
/// leave exactly those records failures, and a queue that keeps failing leaves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_entry_and_whole_call_send_failures() {
    use common::faults::{Fault, Plan};

    let f = fixture().await;
    let (proxy, replicator) = dead_letters_through_a_proxy(&f).await;
    let event = kinesis_event((0..35).map(|i| format!("junk {i}").into_bytes()).collect());

    // Some entries of every call come back in `Failed`: those records, and only those, fail.
    proxy.set_plan(Plan::on(
        &["SendMessageBatch"],
        &[Fault::PartialBatch],
        1.0,
        3,
    ));
    let (response, summary) = replicator.handle(&event, None).await;
    let failed: Vec<String> = failures(&response);
    assert!(!failed.is_empty() && failed.len() < 35, "{failed:?}");
    assert_eq!(summary.dead_lettered + failed.len(), 35);
    let kept: Vec<String> = drain(&f)
        .await
        .into_iter()
        .map(|l| l.sequence_number)
        .collect();
    assert_eq!(kept.len(), summary.dead_lettered);
    assert!(
        kept.iter().all(|s| !failed.contains(s)),
        "a failed record was kept"
    );
    assert_eq!(proxy.stats().faults.get(&Fault::PartialBatch), Some(&4));

    // Every call refused (retried, then given up): every record of a new batch fails.
    for (first, fault) in [(100, Fault::InternalServerError), (200, Fault::ResetBefore)] {
        proxy.set_plan(Plan::on(&["SendMessageBatch"], &[fault], 1.0, 4));
        let junk = (0..35).map(|i| format!("junk {i}").into_bytes()).collect();
        let event = kinesis_event_from(first, junk);
        let (response, summary) = replicator.handle(&event, None).await;
        assert_eq!(failures(&response).len(), 35, "{fault:?}");
        assert_eq!(summary.dead_lettered, 0, "{fault:?}");
    }
}

/// The proxy in front of moto's SQS resets every connection after forwarding: the letters were
/// kept but the replicator cannot know it, so it reports their records as failed; delivered again
/// with the queue healthy, they are sent again. Duplicate dead letters are tolerated; lost ones
/// never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_whose_answer_is_lost_are_sent_again_never_lost() {
    use common::faults::{Fault, Plan};

    let f = fixture().await;
    let (proxy, replicator) = dead_letters_through_a_proxy(&f).await;
    let event = kinesis_event((0..12).map(|i| format!("junk {i}").into_bytes()).collect());

    proxy.set_plan(Plan::on(
        &["SendMessageBatch"],
        &[Fault::ResetAfter],
        1.0,
        9,
    ));
    let (response, _) = replicator.handle(&event, None).await;
    assert_eq!(
        failures(&response).len(),
        12,
        "the sends' outcome is unknown"
    );
    // Two calls (10 letters and 2), each tried twice by the SDK (the fixture's SQS client makes
    // two attempts), every attempt forwarded and its answer lost.
    let attempts = 2;
    assert_eq!(
        proxy
            .stats()
            .injected("SendMessageBatch", Fault::ResetAfter),
        2 * attempts
    );

    proxy.set_plan(Plan::off());
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.dead_lettered, 12);
    let kept = drain(&f).await;
    for record in &event.records {
        let copies = kept
            .iter()
            .filter(|l| l.sequence_number == record.kinesis.sequence_number)
            .count();
        // One a lost attempt, and the one sent once the queue answered.
        assert_eq!(
            copies,
            attempts as usize + 1,
            "{}: {copies} letters",
            record.kinesis.sequence_number
        );
    }
}

/// A record that fails, with unusable records before and after it. Lambda delivers everything
/// from the lowest failure again, so only the unusable record before it is dead-lettered on the
/// first delivery; the ones after it are dead-lettered on the delivery that gets past it. Each
/// unusable record is dead-lettered exactly once across the deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unusable_record_is_dead_lettered_once_across_redeliveries() {
    use common::faults::{Fault, FaultProxy, Plan};

    let f = fixture().await;
    let tables = Server::dynalite();
    let direct = client(&tables).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    put_items(
        &direct,
        PRIMARY,
        vec![thread_item("f", "a", "x"), thread_item("f", "b", "y")],
    )
    .await;
    let proxy = FaultProxy::start(tables.port).await;
    let primary = table_at(&proxy.endpoint, "us-east-1", PRIMARY, &tuning(), None).await;
    let replicator = Replicator::connect(primary, table(&tables, REPLICA).await, tuning())
        .await
        .expect("connect")
        .with_dead_letter(DeadLetterQueue::new(f.sqs.clone(), &f.queue_url));
    let stream = vec![
        b"unusable 0".to_vec(),
        thread_record("f", "a", 1),
        b"unusable 1".to_vec(),
        thread_record("f", "b", 2),
        b"unusable 2".to_vec(),
    ];
    let event = kinesis_event(stream);
    let mut letters_sent = 0;

    // First delivery: every read of the primary fails (three attempts of one BatchGetItem).
    proxy.set_plan(Plan::script(
        &["BatchGetItem"],
        &[Some(Fault::InternalServerError); 3],
    ));
    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(
        proxy
            .stats()
            .injected("BatchGetItem", Fault::InternalServerError),
        3
    );
    let failed = failures(&response);
    let lowest = failed.iter().min().cloned().expect("failures");
    assert_eq!(
        lowest,
        format!("{:056}", 2),
        "the first usable record failed"
    );
    assert_eq!(summary.dead_lettered, 1, "only the record before it");
    letters_sent += summary.dead_lettered;

    // Lambda delivers again from the lowest failure; the primary answers now.
    proxy.set_plan(Plan::off());
    let mut again = event.clone();
    again
        .records
        .retain(|r| r.kinesis.sequence_number >= lowest);
    assert_eq!(again.records.len(), 4);
    let (response, summary) = replicator.handle(&again, None).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(summary.dead_lettered, 2);
    letters_sent += summary.dead_lettered;

    let kept = drain(&f).await;
    assert_eq!(letters_sent, 3);
    let mut per_record: Vec<(String, usize)> = [1, 3, 5]
        .iter()
        .map(|i| {
            let seq = format!("{i:056}");
            let n = kept.iter().filter(|l| l.sequence_number == seq).count();
            (seq, n)
        })
        .collect();
    per_record.sort();
    assert!(per_record.iter().all(|(_, n)| *n == 1), "{per_record:?}");
    assert_eq!(kept.len(), 3);
}

/// A batch that succeeded (its unusable records kept, every key replicated) is delivered again,
/// as an event source mapping may do: the records are not failures either time, and each
/// unusable record is on the queue once, not once a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_batch_delivered_twice_is_dead_lettered_once() {
    let f = fixture().await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..10)
            .map(|i| thread_item("f", &format!("s{i}"), "b"))
            .collect(),
    )
    .await;
    let (event, bad) = mixed_event(10);

    for delivery in 1..=2 {
        let (response, summary) = f.replicator.handle(&event, None).await;
        assert_eq!(
            failures(&response),
            Vec::<String>::new(),
            "delivery {delivery}"
        );
        assert_eq!(summary.puts, 10, "delivery {delivery}");
    }

    let kept = drain(&f).await;
    let per_record: Vec<(String, usize)> = bad
        .iter()
        .map(|&p| {
            let sequence = &event.records[p].kinesis.sequence_number;
            let n = kept
                .iter()
                .filter(|l| &l.sequence_number == sequence)
                .count();
            (sequence.clone(), n)
        })
        .collect();
    assert!(
        per_record.iter().all(|(_, n)| *n == 1),
        "dead letters per unusable record: {per_record:?}"
    );
    assert_eq!(kept.len(), bad.len());
}

/// Two containers (two queues' memories) dead-letter the same records: a FIFO queue keeps each
/// once, by the deduplication id made of the record's source, shard and sequence number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_queue_keeps_a_record_once_across_containers() {
    let f = fixture().await;
    let url = f
        .sqs
        .create_queue()
        .queue_name("dyno-dead-letters.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL");
    let event = kinesis_event(unusable_data());
    let letters: Vec<DeadLetter> = event
        .records
        .iter()
        .map(|r| DeadLetter::from_record(r, "unusable".to_owned()))
        .collect();
    for container in 0..2 {
        let queue = DeadLetterQueue::new(f.sqs.clone(), &url);
        let sent = queue.send(&letters, dyno::aws::retry::Deadline::NONE).await;
        assert!(
            sent.iter().all(Result::is_ok),
            "container {container}: {sent:?}"
        );
    }
    let queue = DeadLetterQueue::new(f.sqs.clone(), &url);
    let mut kept = Vec::new();
    loop {
        let batch = queue
            .receive(10, Duration::ZERO, Duration::from_secs(60))
            .await
            .expect("receive");
        if batch.is_empty() {
            break;
        }
        kept.extend(batch.into_iter().map(|m| m.letter.expect("a dead letter")));
    }
    assert_eq!(kept.len(), letters.len(), "each record kept once");
}
