//! The handler under injected faults: a seeded fault-injecting proxy sits between the SDK and a
//! real dynalite. For every fault type, and for a random mix: the handler never panics, never
//! reports a record done whose key the replica does not match, reports well-formed
//! `batchItemFailures`, respects the invocation deadline and bounds its retries; and seeded
//! workloads, re-delivered as Lambda does (from the lowest failure, with duplicates and old
//! records after new ones), converge to a replica equal to the primary.

mod bad_answers;
mod matrix;

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_dynamodb::Client;
use common::calls::CallCounter;
use common::faults::FaultProxy;
use common::oracle;
use common::*;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

/// Quick to give up, with a call timeout the proxy's slow answers exceed.
fn fault_tuning() -> Tuning {
    Tuning {
        concurrency: 4,
        max_attempts: 3,
        call_timeout: Duration::from_millis(400),
        deadline_margin: Duration::from_millis(300),
        ..Tuning::default()
    }
}

struct Rig {
    _server: Server,
    proxy: FaultProxy,
    /// Straight to dynalite, never faulted: what the test inspects and writes the primary with.
    direct: Client,
    calls: CallCounter,
    replicator: Replicator,
}

async fn rig() -> Rig {
    let server = Server::dynalite();
    let direct = client(&server).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    let proxy = FaultProxy::start(server.port).await;
    let calls = CallCounter::default();
    let tuning = fault_tuning();
    let through =
        |table: &'static str| table_at(&proxy.endpoint, "us-east-1", table, &tuning, Some(&calls));
    let replicator = Replicator::connect(
        through(PRIMARY).await,
        through(REPLICA).await,
        fault_tuning(),
    )
    .await
    .expect("connect through the proxy");
    calls.reset();
    Rig {
        _server: server,
        proxy,
        direct,
        calls,
        replicator,
    }
}

/// The stream of one shard: record data in order; sequence number of index i is i + 1.
fn sequence(i: usize) -> String {
    format!("{:056}", i + 1)
}

fn event_for(stream: &[Vec<u8>], from: usize, to: usize) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    for (i, data) in stream.iter().enumerate().take(to).skip(from) {
        let mut record = KinesisEventRecord::default();
        record.event_id = Some(format!("shardId-000000000000:{}", sequence(i)));
        record.event_source = Some("aws:kinesis".into());
        record.kinesis.sequence_number = sequence(i);
        record.kinesis.partition_key = "pk".into();
        *record.kinesis.data = data.clone();
        record.kinesis.approximate_arrival_timestamp.0 = chrono::Utc::now();
        event.records.push(record);
    }
    event
}

/// The key a workload record announces, read from the record as the test built it, as the
/// oracle names keys.
fn oracle_key(record: &KinesisEventRecord) -> oracle::Key {
    let data: serde_json::Value = serde_json::from_slice(&record.kinesis.data).expect("json");
    let keys = &data["dynamodb"]["Keys"];
    let text = |name: &str| keys[name]["S"].as_str().expect("a string key").to_owned();
    oracle::Key(vec![
        ("ForumName".to_owned(), oracle::Value::S(text("ForumName"))),
        ("Subject".to_owned(), oracle::Value::S(text("Subject"))),
    ])
}

/// Checks one handled batch: failures are this batch's records, each once, all or none of a
/// key's records; and every record not reported has its key equal on both tables (the oracle's
/// scans and normalized items). Returns the
/// number of records reported done.
async fn check(rig: &Rig, event: &KinesisEvent, response: &KinesisEventResponse) -> usize {
    let failed = failures(response);
    let unique: HashSet<&String> = failed.iter().collect();
    assert_eq!(unique.len(), failed.len(), "a failure reported twice");
    let in_batch: HashSet<&String> = event
        .records
        .iter()
        .map(|r| &r.kinesis.sequence_number)
        .collect();
    assert!(
        unique.iter().all(|s| in_batch.contains(s)),
        "a failure that is not in the batch"
    );
    let names = ["ForumName".to_owned(), "Subject".to_owned()];
    let primary = oracle::scan(&rig.direct, PRIMARY, &names).await;
    let replica = oracle::scan(&rig.direct, REPLICA, &names).await;
    let mut per_key: HashMap<oracle::Key, bool> = HashMap::new();
    let mut done = 0;
    for record in &event.records {
        let key = oracle_key(record);
        let is_failed = unique.contains(&record.kinesis.sequence_number);
        if let Some(before) = per_key.insert(key.clone(), is_failed) {
            assert_eq!(before, is_failed, "records of one key disagree");
        }
        if !is_failed {
            done += 1;
            assert_eq!(
                primary.get(&key),
                replica.get(&key),
                "record {} reported done, but its key differs on the replica",
                record.kinesis.sequence_number
            );
        }
    }
    done
}
