//! Convergence of the whole pipeline under faults: seeded workloads through the writer, the
//! replicator's DynamoDB calls through a fault-injecting proxy, the runner re-delivering as
//! Lambda does, killed mid-run and restarted from its checkpoint, old records re-delivered after
//! new ones; then faults off: the replica must equal the primary, item for item.

mod common;

use std::time::Duration;

use common::faults::{Fault, FaultProxy, Plan};
use common::*;
use dyno::config::Tuning;
use dyno::demo::schema;
use dyno::diff::compare;
use dyno::handler::Replicator;
use dyno::runner::{RunStats, Runner, RunnerOptions};
use dyno::workload::{self, Spec};
use dyno::writer::{WriteError, Writer};

const PRIMARY: &str = "dyno-primary";
const REPLICA: &str = "dyno-replica";
const STREAM: &str = "dyno-keys";

async fn converge_under_faults(seed: u64) {
    let primary_server = Server::dynalite();
    let replica_server = Server::dynalite();
    let kinesis_server = Server::kinesalite();
    let primary = table(&primary_server, PRIMARY).await;
    let replica = table(&replica_server, REPLICA).await;
    let stream = stream(&kinesis_server, STREAM).await;
    create_table(&primary.client, PRIMARY, &schema()).await;
    create_table(&replica.client, REPLICA, &schema()).await;
    create_stream(&stream, 2).await;
    let writer = Writer::connect(primary.clone(), stream.clone())
        .await
        .unwrap();

    // The replicator reaches both tables only through proxies.
    let primary_proxy = FaultProxy::start(primary_server.port).await;
    let replica_proxy = FaultProxy::start(replica_server.port).await;
    let faulty = Tuning {
        concurrency: 4,
        max_attempts: 3,
        call_timeout: Duration::from_millis(500),
        deadline_margin: Duration::from_millis(200),
        ..Tuning::default()
    };
    let replicator = Replicator::connect(
        table_at(&primary_proxy.endpoint, "us-east-1", PRIMARY, &faulty, None).await,
        table_at(&replica_proxy.endpoint, "us-east-1", REPLICA, &faulty, None).await,
        faulty,
    )
    .await
    .unwrap();
    for (i, proxy) in [&primary_proxy, &replica_proxy].into_iter().enumerate() {
        proxy.set_plan(Plan::mix(&Fault::ALL, 0.5, seed * 10 + i as u64));
    }

    let dir = std::env::temp_dir().join(format!("dyno-faults-{seed}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = RunnerOptions {
        batch_size: 40,
        checkpoint: Some(dir.join("positions.json")),
        max_retries: None, // as Lambda with MaximumRetryAttempts -1: until it succeeds
        timeout: Duration::from_secs(3),
        poll_interval: Duration::from_millis(20),
        ..RunnerOptions::default()
    };
    let runner = || async {
        Runner::connect(stream.clone(), options.clone())
            .await
            .unwrap()
    };
    let spec = |seed| Spec {
        seed,
        keys: 60,
        ops: 250,
        max_body: 2048,
        hot_share: 0.1,
    };
    let mut stats = RunStats::default();
    let mut add = |s: RunStats| {
        stats.records += s.records;
        stats.deliveries += s.deliveries;
        stats.redelivered += s.redelivered;
        stats.batches += s.batches;
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    };

    // 1. A workload, and a runner killed mid-run.
    workload::apply(&writer, workload::generate(&spec(seed)), 8, |_| {})
        .await
        .unwrap();
    // Killed as soon as it has checkpointed its first batch: mid-run, likely mid-batch.
    let first = runner().await;
    let checkpoint = dir.join("positions.json");
    let checkpointed = async {
        while !checkpoint.exists() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        done = first.drain(&replicator) => panic!("the first runner finished before it was killed: {done:?}"),
        () = checkpointed => {}
    }

    // 2. More writes; a new runner resumes from the checkpoint and drains, faults still on.
    workload::apply(&writer, workload::generate(&spec(seed + 100)), 8, |_| {})
        .await
        .unwrap();
    add(runner().await.drain(&replicator).await.unwrap());

    // 3. Duplicate delivery of everything, old records after new: a runner with no checkpoint.
    let replay = RunnerOptions {
        checkpoint: None,
        ..options.clone()
    };
    add(Runner::connect(stream.clone(), replay)
        .await
        .unwrap()
        .drain(&replicator)
        .await
        .unwrap());

    // 4. Faults off: nothing is left to do, and the tables agree item for item.
    let injected: u64 = [&primary_proxy, &replica_proxy]
        .iter()
        .map(|p| p.stats().faults.values().sum::<u64>())
        .sum();
    for proxy in [&primary_proxy, &replica_proxy] {
        proxy.set_plan(Plan::off());
    }
    add(runner().await.drain(&replicator).await.unwrap());
    let diff = compare(&primary, &replica).await.unwrap();
    eprintln!(
        "pipeline under faults: seed={seed} faults_injected={injected} records={} deliveries={} redelivered={} batches={} items={} differences={}",
        stats.records,
        stats.deliveries,
        stats.redelivered,
        stats.batches,
        diff.items,
        diff.differences()
    );
    assert!(injected > 20, "the plan injected only {injected} faults");
    // The faults got past the SDK's retries: records failed and were delivered again.
    assert!(stats.redelivered > 0, "no record was re-delivered");
    assert_eq!(diff.differences(), 0, "{diff:?}");
    assert!(diff.items > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_converges_under_faults_seed_1() {
    converge_under_faults(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_converges_under_faults_seed_2() {
    converge_under_faults(2).await;
}

/// The writer's batch path under partial results: what DynamoDB leaves unprocessed is re-sent
/// until written, and every written key (and only those) is announced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_batches_survive_unprocessed_items() {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let primary_server = Server::dynalite();
    let kinesis_server = Server::kinesalite();
    let stream = stream(&kinesis_server, STREAM).await;
    let kinesis = stream.client.clone();
    let direct = client(&primary_server).await;
    create_table(&direct, PRIMARY, &schema()).await;
    create_stream(&stream, 1).await;
    let proxy = FaultProxy::start(primary_server.port).await;
    let through_proxy = table_at(&proxy.endpoint, "us-east-1", PRIMARY, &tuning(), None).await;
    let writer = Writer::connect(through_proxy, stream.clone())
        .await
        .unwrap();
    // A fixed plan: the writer's calls are sequential, so the run is the same every time.
    let partial = Some(Fault::PartialBatch);
    // Chunk 1: partial, partial, done; chunks 2 and 3: partial, done; chunk 4: done at once.
    let script = [partial, partial, None, partial, None, partial, None, None];
    proxy.set_plan(Plan::script(&["BatchWriteItem"], &script));

    let requests: Vec<WriteRequest> = (0..100)
        .map(|i| {
            let mut item = workload::key(i);
            item.insert(
                "n".into(),
                aws_sdk_dynamodb::types::AttributeValue::N(i.to_string()),
            );
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    assert_eq!(writer.write_batch(requests).await.unwrap(), 100);

    let partial = proxy
        .stats()
        .faults
        .get(&Fault::PartialBatch)
        .copied()
        .unwrap_or(0);
    assert_eq!(
        partial, 4,
        "the script's partial batches were not all injected"
    );
    assert_eq!(proxy.stats().requests.get("BatchWriteItem"), Some(&8));
    assert_eq!(scan_all(&direct, PRIMARY, &schema()).await.len(), 100);
    let records = stream_records(&kinesis, STREAM).await;
    let mut keys: Vec<String> = records
        .iter()
        .map(|r| r.partition_key().unwrap_or_default().to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!((records.len(), keys.len()), (100, 100));

    // A server whose answer names a write that was not sent: the writer re-sends nothing of
    // that answer (the stranger is never written), and since nobody can say what became of
    // the 25 writes sent, it announces their keys and says their outcome is unknown.
    proxy.set_plan(Plan::only(Fault::Stranger, 1.0, 6));
    let requests: Vec<WriteRequest> = (100..125)
        .map(|i| {
            let put = PutRequest::builder()
                .set_item(Some(workload::key(i)))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    match writer.write_batch(requests).await {
        Err(WriteError::Batch(batch)) => {
            assert_eq!((batch.unknown.len(), batch.not_written.len()), (25, 0));
            let message = batch.to_string();
            assert!(message.contains("not sent"), "{message}");
            assert!(message.contains("unknown outcome"), "{message}");
        }
        other => panic!("expected an unknown outcome for the batch, got {other:?}"),
    }
    assert!(proxy.stats().faults.get(&Fault::Stranger) > Some(&0));
    let primary = scan_all(&direct, PRIMARY, &schema()).await;
    assert_eq!(
        primary.len(),
        125,
        "the stranger was written, or a write was lost"
    );
    assert_eq!(stream_records(&kinesis, STREAM).await.len(), 125);
}
