//! Cases `shards-{1,2,4}`: M keys of a loaded primary announced on a fresh stream of that many
//! shards, then `Runner::drain` into an empty replica: one untimed small drain, then `REPS`
//! rounds of the three counts, best of each; the floor is the 1-shard figure
//! (`ratio_to_1_shard`, records/s over records/s). `cpu_seconds` is that of this process and the
//! servers in the best run: near cores x `seconds`, the machine, not the shards, is the limit.
//! Checked: the replica equals the primary.

use std::time::Instant;

use dyno::aws::key::Key;
use dyno::aws::retry::Backoff;
use dyno::aws::table::Table;
use dyno::local::runner::Runner;
use dyno::publish::publisher::{Change, Publisher};
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

use super::shared::{Cpu, Dynamo, Kinesis, check_run, item, runner_options, same_tables, scaled};
use super::{BATCH, REGION, REPS};
use crate::common::{put_items, thread_schema};
use crate::shared::{Cases, Line, Report};

pub async fn shards(cases: &Cases, report: &mut Report) {
    let bench = ShardBench {
        primary: Dynamo::start().await,
        replica: Dynamo::start().await,
        kinesis: Kinesis::start().await,
    };
    let m = scaled(10_000);
    let primary = bench.primary.table("shards-primary").await;
    for slice in (0..m).collect::<Vec<_>>().chunks(5_000) {
        let items = slice.iter().map(|&k| item(k)).collect();
        put_items(&primary.client, &primary.name, items).await;
    }
    let schema = thread_schema();
    let keys: Vec<Key> = (0..m)
        .map(|k| schema.key_of_item(&item(k)).expect("a key"))
        .collect();
    // The 1-shard figure is every line's reference: measured whenever the group runs.
    let counts: Vec<i32> = [1, 2, 4]
        .into_iter()
        .filter(|&s| s == 1 || cases.chosen(&format!("shards-{s}")))
        .collect();
    // One untimed small drain first (the servers' first pass is slower), then `REPS` rounds
    // of every shard count, interleaved; the best of each is reported.
    let mut best = vec![(f64::INFINITY, 0.0); counts.len()];
    let mut failed = bench
        .drain(&primary, &keys[..(m / 5).max(1)], 1, false)
        .await
        .err()
        .map(|e| format!("warm-up: {e}"));
    for _ in 0..REPS {
        for (at, &shards) in counts.iter().enumerate() {
            if failed.is_some() {
                break;
            }
            match bench.drain(&primary, &keys, shards, true).await {
                Ok(run) if run.0 < best[at].0 => best[at] = run,
                Ok(_) => {}
                Err(error) => failed = Some(format!("{shards} shard(s): {error}")),
            }
        }
    }
    if let Some(error) = failed {
        report.emit("shards-1", Err(error));
        return;
    }
    let base = m as f64 / best[0].0;
    for (&shards, (seconds, cpu)) in counts.iter().zip(best) {
        let case = format!("shards-{shards}");
        let per_s = m as f64 / seconds;
        let line = Line::new(&case)
            .int("shards", shards)
            .int("records", m)
            .num("records_per_s", per_s)
            .num("seconds", seconds)
            .num("cpu_seconds", cpu)
            .int("batch_size", BATCH)
            .int("reps", REPS);
        if cases.chosen(&case) {
            report.emit(
                &case,
                Ok(if shards == 1 {
                    line
                } else {
                    line.num("ratio_to_1_shard", per_s / base)
                }),
            );
        }
    }
}

struct ShardBench {
    primary: Dynamo,
    replica: Dynamo,
    kinesis: Kinesis,
}

impl ShardBench {
    /// Announces `keys` on a fresh stream of `shards` shards, then times `Runner::drain` into
    /// a fresh replica (seconds, and the CPU seconds of this process and the servers); checks
    /// the run, and, when `keys` are all of the primary's (`whole`), that the replica equals
    /// the primary.
    async fn drain(
        &self,
        primary: &Table,
        keys: &[Key],
        shards: i32,
        whole: bool,
    ) -> Result<(f64, f64), String> {
        let stream = self.kinesis.stream("shards", shards).await;
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        for chunk in keys.chunks(500) {
            let announced: Vec<(Key, Change)> =
                chunk.iter().map(|k| (k.clone(), Change::Modify)).collect();
            publisher
                .publish(&announced)
                .await
                .map_err(|e| e.to_string())?;
        }
        let replica = self.replica.table("shards-replica").await;
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .map_err(|e| format!("Replicator::connect: {e}"))?;
        let runner = Runner::connect(stream.clone(), runner_options())
            .await
            .map_err(|e| format!("Runner::connect: {e}"))?;
        let cpu = Cpu::now();
        let started = Instant::now();
        let stats = runner
            .drain(&replicator)
            .await
            .map_err(|e| format!("drain: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = Cpu::now().since(cpu).all;
        check_run(&stats, keys.len())?;
        if whole {
            same_tables(primary, &replica, keys.len()).await?;
        }
        self.replica.drop_table(&replica).await;
        self.kinesis.delete(&stream).await;
        Ok((seconds, cpu))
    }
}
