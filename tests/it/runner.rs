//! The local event source mapping against kinesalite: it follows splits and merges made while a
//! workload runs (children read only after their parents are read to the end), rides out a
//! failing stream (throttling, 5xx, resets, expired iterators) behind the fault proxy, waits out
//! an outage when it follows the stream, and gives up with a message when it only drains it.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use common::faults::{Fault, FaultProxy, Plan};
use common::oracle;
use common::pipeline::{Pipeline, drain};
use common::*;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Observer, Runner, RunnerOptions};
use dyno::local::stop::Stop;
use dyno::local::workload::{self, Op, Spec};

/// What only these tests ask of the system.
impl Pipeline {
    /// Asserts that the replica equals the primary (the oracle) and holds the keys `written`
    /// leave: every key written and not deleted since, none deleted and not written since. Not
    /// an exact set: the writes of a workload run 4 at a time, so of two on one key, which came
    /// last is not known (see [`oracle::WorkloadKeys`]).
    async fn assert_converged(&self, written: &[Vec<Op>]) {
        let items = oracle::assert_tables(&self.primary, &self.replica).await;
        let expected = oracle::WorkloadKeys::of(written);
        assert!(!expected.there.is_empty());
        let on_replica = expected
            .assert_on(&self.replica.client, &self.replica.name)
            .await;
        assert_eq!(on_replica, items);
    }

    /// Every shard (open or closed) with its parents, from `ListShards`.
    async fn lineage(&self) -> BTreeMap<String, Vec<String>> {
        let listed = self
            .stream
            .client
            .list_shards()
            .stream_name(STREAM)
            .send()
            .await
            .expect("ListShards");
        listed
            .shards()
            .iter()
            .map(|s| {
                let parents = [s.parent_shard_id(), s.adjacent_parent_shard_id()];
                let parents = parents.into_iter().flatten().map(str::to_owned).collect();
                (s.shard_id().to_owned(), parents)
            })
            .collect()
    }

    /// Applies a workload of `ops` writes (4 at a time); returns its operations.
    async fn write(&self, seed: u64, ops: usize) -> Vec<Op> {
        let spec = Spec {
            seed,
            keys: 80,
            ops,
            max_body: 512,
            hot_share: 0.1,
        };
        let generated = workload::generate(&spec);
        let written = workload::apply(&self.writer, generated.clone(), 4, |_| {})
            .await
            .expect("workload");
        assert_eq!(written, ops);
        generated
    }

    /// The open shards, with their hash key ranges.
    async fn open_shards(&self) -> Vec<(String, u128, u128)> {
        let listed = self
            .stream
            .client
            .list_shards()
            .stream_name(STREAM)
            .send()
            .await
            .expect("ListShards");
        let mut open: Vec<(String, u128, u128)> = listed
            .shards()
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .is_some_and(|r| r.ending_sequence_number().is_none())
            })
            .map(|s| {
                let range = s.hash_key_range().expect("a hash key range");
                let start = range.starting_hash_key().parse().expect("a number");
                let end = range.ending_hash_key().parse().expect("a number");
                (s.shard_id().to_owned(), start, end)
            })
            .collect();
        open.sort_by_key(|s| s.1);
        open
    }

    async fn wait_active(&self) {
        for _ in 0..100 {
            let (status, _) = self.stream.summary().await.expect("summary");
            if status == aws_sdk_kinesis::types::StreamStatus::Active {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the stream did not become ACTIVE");
    }

    async fn split(&self) {
        let (shard, start, end) = self.open_shards().await.remove(0);
        self.stream
            .client
            .split_shard()
            .stream_name(STREAM)
            .shard_to_split(&shard)
            .new_starting_hash_key((start + (end - start) / 2).to_string())
            .send()
            .await
            .expect("SplitShard");
        self.wait_active().await;
    }

    async fn merge(&self) {
        let open = self.open_shards().await;
        let (first, second) = (&open[0].0, &open[1].0);
        self.stream
            .client
            .merge_shards()
            .stream_name(STREAM)
            .shard_to_merge(first)
            .adjacent_shard_to_merge(second)
            .send()
            .await
            .expect("MergeShards");
        self.wait_active().await;
    }
}

/// Tells the shard of each batch the runner hands the replicator, in the order they were handled.
fn batch_order() -> (Arc<Mutex<Vec<String>>>, Observer<KinesisEventRecord>) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    let observer: Observer<KinesisEventRecord> = Arc::new(move |records, _failed| {
        let first = records.first().and_then(|r| r.event_id.as_deref());
        let shard = first
            .and_then(|id| id.split(':').next())
            .unwrap_or_default();
        assert!(
            records
                .iter()
                .all(|r| r.event_id.as_deref().unwrap_or_default().starts_with(shard)),
            "a batch of records of several shards"
        );
        seen.lock().unwrap().push(shard.to_owned());
    });
    (order, observer)
}

/// Asserts that every shard was read, and no batch of a child shard was handled before the last
/// batch of each of its parents.
fn assert_parents_first(order: &[String], lineage: &BTreeMap<String, Vec<String>>) {
    for (child, parents) in lineage {
        let first = order
            .iter()
            .position(|s| s == child)
            .unwrap_or_else(|| panic!("{child} was never read: {order:?}"));
        for parent in parents {
            let last = order.iter().rposition(|s| s == parent);
            assert!(
                last.is_some_and(|last| last < first),
                "{child} was handed over at batch {first}, before its parent {parent} was \
                 drained (its last batch: {last:?}): {order:?}"
            );
        }
    }
}

/// Splits and merges while the writer writes and the runner follows the stream: the closed
/// parents are read to their end before their children, and the replica converges; read again
/// from the start by a runner that finds every shard at once, the same holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_and_merges_during_a_workload_converge() {
    bounded(Duration::from_secs(180), "resharding", async {
        let rig = Pipeline::start(2).await;
        let dir = std::env::temp_dir().join(format!("dyno-reshard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let checkpoint = dir.join("positions.json");
        let options = RunnerOptions {
            batch_size: 50,
            checkpoint: Some(checkpoint.clone()),
            poll_interval: Duration::from_millis(20),
            ..RunnerOptions::default()
        };
        let (order, observer) = batch_order();
        let runner = Runner::connect(rig.stream.clone(), options.clone())
            .await
            .expect("runner")
            .observe(observer);
        let (stop, stopped) = Stop::on_request();
        let work = async {
            let mut written = vec![rig.write(1, 300).await];
            rig.split().await;
            written.push(rig.write(2, 300).await);
            rig.merge().await;
            written.push(rig.write(3, 300).await);
            rig.split().await;
            written.push(rig.write(4, 200).await);
            stop.stop();
            written
        };
        let (written, stats) = tokio::join!(work, runner.run(&rig.replicator, stopped));
        let stats: RunStats = stats.expect("run");
        println!(
            "resharding: {} records in {} batches, {} shards ended",
            stats.records, stats.batches, stats.shards_ended
        );
        // Two shards closed by the splits, two by the merge.
        assert_eq!(stats.shards_ended, 4, "{stats:?}");
        assert_eq!(stats.records, 1100);
        rig.assert_converged(&written).await;
        let lineage = rig.lineage().await;
        assert_eq!(lineage.len(), 7, "{lineage:?}");
        assert_parents_first(&order.lock().unwrap(), &lineage);
        let saved = checkpoint_positions(&checkpoint);
        assert_eq!(saved.values().filter(|v| *v == "END").count(), 4);

        // A restart from the checkpoint reads nothing again, ended shards included.
        let again = drain(&rig.stream, &rig.replicator, options.clone()).await;
        assert_eq!((again.records, again.batches), (0, 0));

        // From the start, every shard listed at once, closed parents and all: still parents first.
        let (order, observer) = batch_order();
        let fresh = RunnerOptions {
            checkpoint: None,
            ..options
        };
        let replay = Runner::connect(rig.stream.clone(), fresh)
            .await
            .expect("runner")
            .observe(observer)
            .drain(&rig.replicator)
            .await
            .expect("drain");
        assert_eq!((replay.records, replay.shards_ended), (1100, 4));
        assert_parents_first(&order.lock().unwrap(), &lineage);
        rig.assert_converged(&written).await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// The runner reads the stream through the fault proxy: throttling, 5xx and resets on every
/// call it makes, then expired iterators. It retries, gets fresh iterators, and converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_rides_out_a_failing_stream() {
    bounded(Duration::from_secs(180), "stream faults", async {
        let rig = Pipeline::start(2).await;
        let proxy = FaultProxy::start(rig.servers[2].port).await;
        let through = stream_at(&proxy.endpoint, STREAM).await;
        let options = RunnerOptions {
            batch_size: 40,
            poll_interval: Duration::from_millis(20),
            ..RunnerOptions::default()
        };
        let runner = Runner::connect(through, options).await.expect("runner");
        let faults = [
            Fault::ProvisionedThroughputExceeded,
            Fault::InternalServerError,
            Fault::ResetBefore,
            Fault::ResetAfter,
        ];
        let operations = ["GetRecords", "GetShardIterator", "ListShards"];
        // Which request gets which fault depends on the calls made, which depend on timing: a
        // run goes on (at most 4 rounds of 400 writes) until every kind has hit `GetRecords`.
        let mut retries = 0;
        let mut written = Vec::new();
        for round in 1..=4 {
            written.push(rig.write(40 + round, 400).await);
            proxy.set_plan(Plan::on(&operations, &faults, 0.6, 30 + round));
            let run = runner.drain(&rig.replicator).await.expect("drain");
            // Exactly the records written, each once: a lost answer is asked again from the
            // same iterator, never from elsewhere.
            assert_eq!(run.records, 400, "round {round}: {run:?}");
            retries += run.stream_retries;
            rig.assert_converged(&written).await;
            let stats = proxy.stats();
            if faults.iter().all(|f| stats.injected("GetRecords", *f) > 0) {
                break;
            }
        }
        let stats = proxy.stats();
        println!("stream faults: {stats:?}; runner retried {retries} calls");
        for fault in faults {
            assert!(
                stats.injected("GetRecords", fault) > 0,
                "{fault:?}: {stats:?}"
            );
        }
        assert!(retries > 0, "the faults never got past the SDK's retries");

        // Expired iterators: the runner gets fresh ones from where it was and goes on (rounds of
        // 200 writes, at most 4, until one was injected).
        for round in 1..=4 {
            written.push(rig.write(60 + round, 200).await);
            proxy.set_plan(Plan::on(
                &["GetRecords"],
                &[Fault::ExpiredIterator],
                0.3,
                31 + round,
            ));
            let run = runner.drain(&rig.replicator).await.expect("drain");
            // Exactly the records written: a fresh iterator from where the shard was left.
            assert_eq!(run.records, 200, "round {round}: {run:?}");
            rig.assert_converged(&written).await;
            if proxy.stats().injected("GetRecords", Fault::ExpiredIterator) > 0 {
                break;
            }
        }
        assert!(proxy.stats().injected("GetRecords", Fault::ExpiredIterator) > 0);
    })
    .await;
}

/// Following the stream, the runner waits out an outage (every call fails for a while); when it
/// only drains, it gives up after its patience with a message that names the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_waited_out_when_following_and_reported_when_draining() {
    bounded(Duration::from_secs(120), "outage", async {
        let rig = Pipeline::start(1).await;
        let proxy = FaultProxy::start(rig.servers[2].port).await;
        let through = stream_at(&proxy.endpoint, STREAM).await;
        let follow = RunnerOptions {
            patience: None,
            poll_interval: Duration::from_millis(20),
            ..RunnerOptions::default()
        };
        let runner = Runner::connect(through.clone(), follow)
            .await
            .expect("runner");
        let mut written = vec![rig.write(7, 100).await];
        let (stop, stopped) = Stop::on_request();
        let outage = async {
            let every_call = ["GetRecords", "GetShardIterator", "ListShards"];
            proxy.set_plan(Plan::on(&every_call, &[Fault::ServiceUnavailable], 1.0, 1));
            tokio::time::sleep(Duration::from_secs(3)).await;
            let injected = proxy.stats().total();
            proxy.set_plan(Plan::off());
            let more = rig.write(8, 100).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.stop();
            (injected, more)
        };
        let ((injected, more), run) = tokio::join!(outage, runner.run(&rig.replicator, stopped));
        written.push(more);
        let run = run.expect("the runner waited the outage out");
        // How many calls the runner makes in 3 s depends on its backoff's jitter.
        assert!(injected >= 3, "only {injected} faults in the outage");
        assert_eq!(run.records, 200);
        rig.assert_converged(&written).await;

        let drain = RunnerOptions {
            patience: Some(Duration::from_secs(1)),
            ..RunnerOptions::default()
        };
        let runner = Runner::connect(through, drain).await.expect("runner");
        proxy.set_plan(Plan::on(
            &["GetShardIterator", "ListShards"],
            &[Fault::InternalServerError],
            1.0,
            2,
        ));
        let err = runner.drain(&rig.replicator).await.unwrap_err().to_string();
        assert!(err.contains("STREAM=dyno-keys"), "{err}");
        assert!(err.contains("still failing after"), "{err}");
    })
    .await;
}
