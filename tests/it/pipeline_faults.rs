//! Convergence of the whole pipeline under faults: seeded workloads through the writer, the
//! replicator's DynamoDB calls through a fault-injecting proxy, the runner re-delivering as
//! Lambda does, killed mid-run and restarted from its checkpoint, old records re-delivered after
//! new ones; then faults off: the replica must equal the primary, item for item.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use common::faults::{Fault, FaultProxy, Plan};
use common::oracle;
use common::*;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Observer, Runner, RunnerOptions};
use dyno::local::workload::{self, Op, Spec};
use dyno::publish::writer::{WriteError, Writer};
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

/// What the runners handed the replicator, record by record (by sequence number): every record
/// reported done at least once, and those reported failed and not (yet) done since.
#[derive(Debug, Default)]
struct Ledger {
    done: HashSet<String>,
    pending: BTreeSet<String>,
    failed_batches: usize,
}

impl Ledger {
    fn observer(ledger: &Arc<Mutex<Ledger>>) -> Observer<KinesisEventRecord> {
        let ledger = ledger.clone();
        Arc::new(move |records: &[KinesisEventRecord], failed: &[usize]| {
            let mut ledger = ledger.lock().unwrap();
            ledger.failed_batches += usize::from(!failed.is_empty());
            for (i, record) in records.iter().enumerate() {
                let sequence = record.kinesis.sequence_number.clone();
                if failed.contains(&i) {
                    ledger.pending.insert(sequence);
                } else {
                    ledger.pending.remove(&sequence);
                    ledger.done.insert(sequence);
                }
            }
        })
    }
}

/// After a drain with faults on, before anything is delivered again: the stream holds one
/// record a write of `applied`, every one was reported done, none that failed was left behind,
/// and the replica equals the primary (the oracle), with as many items as `applied` leave.
async fn assert_caught_up(
    step: &str,
    ledger: &Mutex<Ledger>,
    kinesis: &aws_sdk_kinesis::Client,
    (primary, replica): (&Table, &Table),
    applied: &[Vec<Op>],
) {
    let on_stream = stream_records(kinesis, STREAM).await;
    let writes: usize = applied.iter().map(Vec::len).sum();
    assert_eq!(on_stream.len(), writes, "{step}: one record a write");
    {
        let ledger = ledger.lock().unwrap();
        assert!(
            ledger.pending.is_empty(),
            "{step}: records reported failed were never done: {:?}",
            ledger.pending
        );
        let undone: Vec<&str> = on_stream
            .iter()
            .map(|r| r.sequence_number())
            .filter(|s| !ledger.done.contains(*s))
            .collect();
        assert!(undone.is_empty(), "{step}: never done: {undone:?}");
    }
    let items = oracle::assert_tables(primary, replica).await;
    assert_eq!(assert_keys(replica, applied).await, items, "{step}");
}

/// Asserts that `replica` holds the keys `applied` leave: every key written and not deleted
/// since, none deleted and not written since; not an exact set, since a workload's writes run 8
/// at a time and of two on one key, which came last is not known (see
/// [`oracle::WorkloadKeys`]). Returns how many items it holds.
async fn assert_keys(replica: &Table, applied: &[Vec<Op>]) -> usize {
    let expected = oracle::WorkloadKeys::of(applied);
    assert!(!expected.there.is_empty());
    expected.assert_on(&replica.client, &replica.name).await
}

async fn converge_under_faults(seed: u64) {
    let primary_server = Server::dynalite();
    let replica_server = Server::dynalite();
    let kinesis_server = Server::kinesalite();
    let primary = table(&primary_server, PRIMARY).await;
    let replica = table(&replica_server, REPLICA).await;
    let stream = stream(&kinesis_server, STREAM).await;
    create_table(&primary.client, PRIMARY, &thread_schema()).await;
    create_table(&replica.client, REPLICA, &thread_schema()).await;
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
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let runner_with = |options: RunnerOptions| {
        let (stream, ledger) = (stream.clone(), &ledger);
        async move {
            Runner::connect(stream, options)
                .await
                .unwrap()
                .observe(Ledger::observer(ledger))
        }
    };
    let runner = || runner_with(options.clone());
    let spec = |seed| Spec {
        seed,
        keys: 60,
        ops: 250,
        max_body: 2048,
        hot_share: 0.1,
    };
    let mut stats = RunStats::default();
    // Adds a finished drain's counts; returns how many records it did.
    let mut add = |s: RunStats| {
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
        // Every record handed over is done or handed over again (nothing is skipped), in
        // batches of at most 40.
        assert_eq!(s.deliveries, s.records + s.redelivered, "{s:?}");
        assert!(s.deliveries <= s.batches * 40, "{s:?}");
        stats.records += s.records;
        stats.deliveries += s.deliveries;
        stats.redelivered += s.redelivered;
        stats.batches += s.batches;
        s.records
    };
    let kinesis = stream.client.clone();
    // Every workload written, in order (250 writes each).
    let mut applied: Vec<Vec<Op>> = Vec::new();
    let write = async |round_seed: u64| -> Vec<Op> {
        let ops = workload::generate(&spec(round_seed));
        let written = workload::apply(&writer, ops.clone(), 8, |_| {})
            .await
            .unwrap();
        assert_eq!(written, 250);
        ops
    };

    // 1. A workload, and a runner killed right after a batch with failures (its checkpoint
    // written): a restart must read the failed records again. Whether a fault gets past the
    // SDK's retries depends on where the faults fall: more writes (at most 5 rounds) until one
    // has.
    for round in 0.. {
        assert!(round < 5, "no batch failed in {round} rounds of writes");
        applied.push(write(seed + 1000 * round).await);
        let first = runner().await;
        let failed_once = async {
            while ledger.lock().unwrap().failed_batches == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            // A round with no failure: its drain did the round's 250 records, each once.
            done = first.drain(&replicator) => assert_eq!(add(done.unwrap()), 250),
            () = failed_once => break,
        }
    }

    // 1b. A new runner resumes from the checkpoint and drains, faults still on: straight after
    // it, nothing is left behind and the tables agree. It does what the killed runner had not
    // checkpointed: at least the failed record, at most the killed round's 250 (where it was
    // killed is timing).
    let resumed = add(runner().await.drain(&replicator).await.unwrap());
    assert!((1..=250).contains(&resumed), "{resumed} records resumed");
    let tables = (&primary, &replica);
    assert_caught_up("resumed", &ledger, &kinesis, tables, &applied).await;

    // 2. More writes; a new runner resumes from the checkpoint and drains, faults still on;
    // again (at most 5 rounds) until every kind of fault has been injected: which call gets
    // which fault depends on the calls' contents and timing.
    let injected = || -> BTreeMap<Fault, u64> {
        Fault::ALL
            .iter()
            .map(|f| {
                let n = [&primary_proxy, &replica_proxy]
                    .iter()
                    .map(|p| p.stats().faults.get(f).copied().unwrap_or(0))
                    .sum();
                (*f, n)
            })
            .collect()
    };
    for round in 0..5 {
        applied.push(write(seed + 100 + round).await);
        // From the checkpoint: exactly the round's 250 records, each done once.
        assert_eq!(add(runner().await.drain(&replicator).await.unwrap()), 250);
        assert_caught_up("more writes", &ledger, &kinesis, tables, &applied).await;
        if injected().values().all(|n| *n > 0) {
            break;
        }
    }

    // 3. Duplicate delivery of everything, old records after new: a runner with no checkpoint
    // does every record on the stream, each once.
    let replayed = add(runner_with(RunnerOptions {
        checkpoint: None,
        ..options.clone()
    })
    .await
    .drain(&replicator)
    .await
    .unwrap());
    assert_eq!(replayed, 250 * applied.len());
    assert_caught_up("replayed", &ledger, &kinesis, tables, &applied).await;

    // 4. Faults off: nothing is left to do, and the tables agree item for item.
    let injected = injected();
    for proxy in [&primary_proxy, &replica_proxy] {
        proxy.set_plan(Plan::off());
    }
    let last = runner().await.drain(&replicator).await.unwrap();
    assert_eq!((last.records, last.deliveries, last.batches), (0, 0, 0));
    add(last);
    let items = oracle::assert_tables(&primary, &replica).await;
    assert_eq!(assert_keys(&replica, &applied).await, items);
    eprintln!(
        "pipeline under faults: seed={seed} faults_injected={injected:?} records={} deliveries={} redelivered={} batches={} failed_batches={} items={items}",
        stats.records,
        stats.deliveries,
        stats.redelivered,
        stats.batches,
        ledger.lock().unwrap().failed_batches,
    );
    for (fault, n) in &injected {
        assert!(*n > 0, "{fault:?} was never injected: {injected:?}");
    }
    // The faults got past the SDK's retries: batches failed and their records were delivered
    // again (how many depends on where the faults fall).
    assert!(stats.redelivered > 0, "no record was re-delivered");
    assert!(ledger.lock().unwrap().failed_batches > 0);
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
    create_table(&direct, PRIMARY, &thread_schema()).await;
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

    assert_eq!(
        proxy
            .stats()
            .injected("BatchWriteItem", Fault::PartialBatch),
        4,
        "the script's partial batches were not all injected"
    );
    assert_eq!(proxy.stats().requests.get("BatchWriteItem"), Some(&8));
    assert_eq!(
        scan_all(&direct, PRIMARY, &thread_schema()).await.len(),
        100
    );
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
    assert_eq!(proxy.stats().injected("BatchWriteItem", Fault::Stranger), 1);
    let primary = scan_all(&direct, PRIMARY, &thread_schema()).await;
    assert_eq!(
        primary.len(),
        125,
        "the stranger was written, or a write was lost"
    );
    assert_eq!(stream_records(&kinesis, STREAM).await.len(), 125);
}
