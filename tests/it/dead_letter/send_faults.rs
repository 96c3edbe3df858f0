//! Sends under injected faults (a fault proxy in front of moto's SQS): per-entry and whole-call
//! failures leave exactly those records failures; letters whose answer is lost are sent again,
//! never lost.

use crate::common;

use common::*;
use dyno::replicate::dead_letter::DeadLetterQueue;
use dyno::replicate::replicator::Replicator;

use super::{Fixture, drain, fixture};

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
