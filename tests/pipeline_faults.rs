//! Convergence of the whole pipeline under faults: seeded workloads through the writer, the
//! replicator's DynamoDB calls through a fault-injecting proxy, the runner re-delivering as
//! Lambda does, killed mid-run and restarted from its checkpoint, old records re-delivered after
//! new ones; then faults off: the replica must equal the primary, item for item.

mod common;

use std::time::Duration;

use common::faults::{Fault, FaultProxy, Plan};
use common::*;
use dyno::config::{Tuning, dynamodb_client, kinesis_client};
use dyno::demo::{recreate_stream, recreate_table, schema};
use dyno::diff::compare;
use dyno::handler::Replicator;
use dyno::replicate::Tables;
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
    let primary = client(&primary_server).await;
    let replica = client(&replica_server).await;
    let sdk = sdk_config().await;
    let kinesis = kinesis_client(&sdk, Some(&kinesis_server.endpoint), &tuning());
    recreate_table(&primary, PRIMARY, &schema()).await.unwrap();
    recreate_table(&replica, REPLICA, &schema()).await.unwrap();
    recreate_stream(&kinesis, STREAM, 2).await.unwrap();
    let writer = Writer::connect(primary.clone(), kinesis.clone(), PRIMARY, STREAM)
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
    };
    let via = |proxy: &FaultProxy, table: &str| dyno::config::TableTarget {
        table: table.to_owned(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(proxy.endpoint.clone()),
    };
    let tables = Tables {
        primary: dynamodb_client(&sdk, &via(&primary_proxy, PRIMARY), &faulty, &[]),
        primary_table: PRIMARY.into(),
        replica: dynamodb_client(&sdk, &via(&replica_proxy, REPLICA), &faulty, &[]),
        replica_table: REPLICA.into(),
    };
    let replicator = Replicator::connect(tables, faulty).await.unwrap();
    for (i, proxy) in [&primary_proxy, &replica_proxy].into_iter().enumerate() {
        proxy.set_plan(Plan::mix(&Fault::ALL, 0.3, seed * 10 + i as u64));
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
        Runner::connect(kinesis.clone(), STREAM, options.clone())
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
    add(Runner::connect(kinesis.clone(), STREAM, replay)
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
    let diff = compare((&primary, PRIMARY), (&replica, REPLICA), &schema())
        .await
        .unwrap();
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
    let sdk = sdk_config().await;
    let kinesis = kinesis_client(&sdk, Some(&kinesis_server.endpoint), &tuning());
    let direct = client(&primary_server).await;
    recreate_table(&direct, PRIMARY, &schema()).await.unwrap();
    recreate_stream(&kinesis, STREAM, 1).await.unwrap();
    let proxy = FaultProxy::start(primary_server.port).await;
    let through_proxy = dynamodb_client(
        &sdk,
        &dyno::config::TableTarget {
            table: PRIMARY.into(),
            region: Some("us-east-1".into()),
            endpoint_url: Some(proxy.endpoint.clone()),
        },
        &tuning(),
        &[],
    );
    let writer = Writer::connect(through_proxy, kinesis.clone(), PRIMARY, STREAM)
        .await
        .unwrap();
    proxy.set_plan(Plan::only(Fault::PartialBatch, 0.6, 5));

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
    assert!(partial > 0, "no partial batch was injected");
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
    // that answer, publishes nothing, and says which writes it cannot vouch for.
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
        Err(WriteError::NotWritten { keys, message, .. }) => {
            assert_eq!(keys.len(), 25);
            assert!(message.contains("not sent"), "{message}");
        }
        other => panic!("expected NotWritten, got {other:?}"),
    }
    let primary = scan_all(&direct, PRIMARY, &schema()).await;
    assert_eq!(primary.len(), 125, "the stranger was written");
    assert_eq!(stream_records(&kinesis, STREAM).await.len(), 100);
}
