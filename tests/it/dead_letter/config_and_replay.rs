//! The queue from the configuration: without one, unusable records stay failures; with one
//! (`DEAD_LETTER_QUEUE_URL`), they are kept, and replay reads them back.

use crate::common;

use common::calls::CallCounter;
use common::*;
use dyno::config::Config;
use dyno::replicate::dead_letter::{DeadLetterQueue, ReplayReport, replay};

use super::{mixed_event, sqs_client};

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
