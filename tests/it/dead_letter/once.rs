//! Each unusable record on the queue once: across redeliveries from the lowest failure, when a
//! successful batch is delivered twice, and on a FIFO queue across containers.

use crate::common;

use common::*;
use dyno::replicate::dead_letter::DeadLetterQueue;
use dyno::replicate::letter::DeadLetter;
use dyno::replicate::replicator::Replicator;

use super::{drain, drain_queue, fixture, mixed_event, put_ten_items, unusable_data};

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
    put_ten_items(&f).await;
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
    let kept = drain_queue(&f.sqs, &url).await;
    assert_eq!(kept.len(), letters.len(), "each record kept once");
}
