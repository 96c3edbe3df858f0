//! `make bench` (second half): the rest of the pipeline, each figure against a floor measured in
//! the same run, on local servers (dynalite for tables, kinesalite for the key stream), one
//! `bench case=…` line per case. Items are ~200 bytes with distinct keys; every client uses
//! `Tuning::default()`.
//!
//! - `writer-{1,16,64}`: N writes through `Writer` (`PutItem`, then the key record by group
//!   commit) at that many concurrent callers, onto a 4-shard stream. Floor: bare `PutItem` of the
//!   same items at the same concurrency. Both on fresh tables of one dynalite, interleaved, best
//!   of `reps` after an untimed warm-up each; `ratio_median` is the median writer/floor ratio of
//!   writes/s within a pair. `kinesis_calls_per_write` counts `PutRecords` attempts;
//!   `cpu_ms_per_write` is the CPU of this process and the servers over the run (the machine
//!   is small: where the servers share its cores, CPU per write bounds writes/s). Checked:
//!   every key is on the stream (records >= N, distinct partition keys = N). Beside them,
//!   `naive`: the writer before group commit, done bare (`PutItem`, then one `PutRecord` per
//!   write; best of `reps`): `speedup_vs_naive`, and `p50_ratio_to_naive`, which at one caller
//!   is the writer's own cost over the two round trips no announced write can avoid.
//! - `lag-500wps`: writes paced at 500/s (8 writers) through writer -> 2-shard stream ->
//!   `Runner` (following) -> `Replicator` -> replica; lag = the instant the batch holding a
//!   write's record was handled (the runner's observer) - the instant `put_item` returned.
//!   Floor: the same paced workload done bare (`PutItem`, then `PutRecord` of the key record;
//!   one consumer per shard: `GetRecords` at once after a page with records, 20 ms after an
//!   empty one, and per page a consistent `BatchGetItem` and a `BatchWriteItem` of what came
//!   back); its lag ends when the page's writes return. One untimed short run of each first.
//!   Checked: every write was handled, and the replica equals the primary.
//! - `shards-{1,2,4}`: M keys of a loaded primary announced on a fresh stream of that many
//!   shards, then `Runner::drain` into an empty replica: one untimed small drain, then `reps`
//!   rounds of the three counts, best of each; the floor is the 1-shard figure
//!   (`ratio_to_1_shard`, records/s over records/s). `cpu_seconds` is that of this process and
//!   the servers in the best run: near cores x `seconds`, the machine, not the shards, is the
//!   limit. Checked: the replica equals the primary.
//! - `backfill-20k`: `backfill` (8 segments, onto a fresh 4-shard stream each run; publishing
//!   only). Floor: a bare keys-only parallel `Scan` of the same 8 segments. Beside it, the same
//!   scan publishing each page's key records with bare `PutRecords` calls of 500
//!   (`publish_floor_seconds`: what the stream alone costs). Interleaved, best of `reps` after
//!   an untimed run each. Checked: every item published, every item scanned.
//! - `diff-rss-20k`, `diff-rss-100k`: the release `dyno` binary's `diff --segments 8` of two
//!   equal tables, as a child: its peak RSS (`VmHWM`, polled every 5 ms until it exits), the
//!   floor being the 20k figure (`rss_ratio_to_20k`). Checked: exit status 0.
//!
//! - `load-133k`: the release `dyno load` of AWS's own export sample (see `pipeline/load.rs`):
//!   items/s against bare `BatchWriteItem` calls of the same items, and peak RSS, four data files
//!   against one.
//!
//! `BENCH_CASES=a,b` runs only those cases (a group's reference case, e.g. `shards-1` for
//! `shards-4`, is measured anyway); `BENCH_SCALE` (default 1) scales item counts and durations.
//! The bench exits non-zero when a check fails; it prints targets but never judges seconds.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "pipeline/load.rs"]
mod load;

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::future::Future;
use std::io::Read;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use common::calls::CallCounter;
use common::{Item, Server, create_stream, create_table, put_items, thread_schema};
use dyno::aws::client::kinesis_config;
use dyno::aws::key::Key;
use dyno::aws::limits::{READ_KEYS, WRITE_REQUESTS};
use dyno::aws::retry::Backoff;
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::local::stop::Stop;
use dyno::ops::backfill::{BackfillOptions, Progress, backfill};
use dyno::ops::checkpoint::Checkpoints;
use dyno::ops::scan::Segments;
use dyno::ops::sink::KeySink;
use dyno::publish::publisher::{Change, Publisher};
use dyno::publish::writer::Writer;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;
use futures::stream::{self, StreamExt, TryStreamExt};

const REGION: &str = "us-east-1";
/// Timed runs of each side in the interleaved cases (the best of each is reported).
const REPS: usize = 3;
const ITEM_BYTES: usize = 200;
/// Calls in flight at once in the bare floors (the replicator's default concurrency).
const CONCURRENCY: usize = 8;
/// The runner's batch size and empty-shard poll interval, also the bare consumer's.
const BATCH: usize = 500;
const POLL: Duration = Duration::from_millis(20);
const LAG_RATE: f64 = 500.0;
const LAG_WRITERS: usize = 8;
const SEGMENTS: u32 = 8;

const CASES: &[&str] = &[
    "writer-1",
    "writer-16",
    "writer-64",
    "lag-500wps",
    "shards-1",
    "shards-2",
    "shards-4",
    "backfill-20k",
    "diff-rss-20k",
    "diff-rss-100k",
    "load-133k",
];

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and the bench is not a test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: skipped (run `make bench`)");
        return ExitCode::SUCCESS;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run())
}

async fn run() -> ExitCode {
    let only = std::env::var("BENCH_CASES").ok();
    let chosen = |case: &str| {
        only.as_deref()
            .is_none_or(|names| names.split(',').any(|n| n.trim() == case))
    };
    let any = |prefix: &str| CASES.iter().any(|c| c.starts_with(prefix) && chosen(c));
    println!(
        "bench note=\"pipeline: dynalite 4.0.0 (tables) and kinesalite 3.3.3 (stream) on this \
         machine; scale={:.3}; items of ~{ITEM_BYTES} bytes; each figure beside its floor from \
         the same run; best of {REPS} interleaved reps where stated; targets are printed, \
         never judged\"",
        scale()
    );
    let mut report = Report::default();
    if any("writer-") {
        writers(&chosen, &mut report).await;
    }
    if chosen("lag-500wps") {
        report.emit("lag-500wps", lag().await);
    }
    if any("shards-") {
        shards(&chosen, &mut report).await;
    }
    if chosen("backfill-20k") {
        report.emit("backfill-20k", backfills().await);
    }
    if any("diff-rss-") {
        diff_rss(&chosen, &mut report).await;
    }
    if chosen("load-133k") {
        report.emit("load-133k", load::load_case().await);
    }
    report.finish()
}

// ---------------------------------------------------------------------------------------------
// Case 1: the writer against bare `PutItem`.

async fn writers(chosen: &impl Fn(&str) -> bool, report: &mut Report) {
    let dynamo = Dynamo::start().await;
    let kinesis = Kinesis::start().await;
    let calls = CallCounter::default();
    let config = kinesis_config(
        &common::sdk_config().await,
        Some(&kinesis.endpoint),
        &Tuning::default(),
    );
    let counted = aws_sdk_kinesis::Client::from_conf(config.interceptor(calls.clone()).build());
    let bench = WriterBench {
        dynamo,
        kinesis,
        counted,
        calls,
    };
    for callers in [1, 16, 64] {
        let case = format!("writer-{callers}");
        if chosen(&case) {
            report.emit(&case, bench.case(&case, callers).await);
        }
    }
}

struct WriterBench {
    dynamo: Dynamo,
    kinesis: Kinesis,
    /// The writers' Kinesis client, its calls counted in `calls`.
    counted: aws_sdk_kinesis::Client,
    calls: CallCounter,
}

/// One timed run of N writes.
struct Writes {
    seconds: f64,
    /// Each write's latency, sorted.
    latencies_ms: Vec<f64>,
    put_records: u64,
    /// CPU used meanwhile by this process and the servers.
    cpu: Cpu,
}

impl Writes {
    fn per_s(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.seconds
    }
}

impl WriterBench {
    async fn case(&self, case: &str, callers: usize) -> Result<Line, String> {
        let n = scaled(3_000);
        let items: Vec<Item> = (0..n).map(item).collect();
        let warm = &items[..(n / 4).max(1)];
        self.writer(warm, callers).await?;
        self.floor(warm, callers).await?;
        self.naive(warm, callers).await?;
        let (mut best, mut floor_best): (Option<Writes>, Option<Writes>) = (None, None);
        let mut naive_best: Option<Writes> = None;
        let mut ratios = Vec::new();
        for rep in 0..REPS {
            keep_faster(&mut naive_best, self.naive(&items, callers).await?);
            // Interleaved, alternating which goes first, so drift favours neither.
            let mut pair = [0.0; 2];
            for writer_turn in [rep % 2 == 0, rep % 2 != 0] {
                if writer_turn {
                    let run = self.writer(&items, callers).await?;
                    pair[0] = run.per_s();
                    keep_faster(&mut best, run);
                } else {
                    let run = self.floor(&items, callers).await?;
                    pair[1] = run.per_s();
                    keep_faster(&mut floor_best, run);
                }
            }
            ratios.push(pair[0] / pair[1]);
        }
        let (w, f) = (best.expect("reps"), floor_best.expect("reps"));
        let naive = naive_best.expect("reps");
        let naive_p50 = quantile(&naive.latencies_ms, 0.5);
        let (p50, floor_p50) = (
            quantile(&w.latencies_ms, 0.5),
            quantile(&f.latencies_ms, 0.5),
        );
        let mut line = Line::new(case)
            .int("callers", callers)
            .int("writes", n)
            .num("writes_per_s", w.per_s())
            .num("floor_writes_per_s", f.per_s())
            .num("ratio_to_floor", w.per_s() / f.per_s())
            .num("ratio_median", median(ratios))
            .num("kinesis_calls_per_write", w.put_records as f64 / n as f64)
            .num("p50_ms", p50)
            .num("p99_ms", quantile(&w.latencies_ms, 0.99))
            .num("floor_p50_ms", floor_p50)
            .num("floor_p99_ms", quantile(&f.latencies_ms, 0.99))
            .num("p50_ratio", p50 / floor_p50)
            .num("naive_writes_per_s", naive.per_s())
            .num("speedup_vs_naive", w.per_s() / naive.per_s())
            .num("naive_p50_ms", naive_p50)
            .num("p50_ratio_to_naive", p50 / naive_p50)
            .num("cpu_ms_per_write", w.cpu.all * 1000.0 / n as f64)
            .num("floor_cpu_ms_per_write", f.cpu.all * 1000.0 / n as f64)
            .num(
                "kinesalite_cpu_ms_per_write",
                w.cpu.kinesalite * 1000.0 / n as f64,
            )
            .int("reps", REPS)
            .int("shards", 4);
        line = match callers {
            64 => line
                .num("target_ratio_to_floor", 0.8)
                .num("target_kinesis_calls_per_write", 0.05),
            1 => line.num("target_p50_ratio", 2.2),
            _ => line,
        };
        Ok(line)
    }

    /// `items` through a `Writer` at `callers` at once, on a fresh table and a fresh stream;
    /// then checks that every key is on the stream.
    async fn writer(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("writer").await;
        let stream = self.kinesis.stream("writer", 4).await;
        let counted = Stream::new(self.counted.clone(), &stream.name, "STREAM")
            .at(Some(self.kinesis.endpoint.clone()));
        let writer = Writer::connect(table.clone(), counted)
            .await
            .map_err(|e| format!("Writer::connect: {e}"))?;
        let items = items.to_vec();
        let writer = &writer;
        self.calls.reset();
        let mut run = timed_writes(items, callers, |item| async move {
            let request = writer.put().set_item(Some(item));
            writer
                .put_item(request)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await?;
        run.put_records = self.calls.get("PutRecords");
        let n = run.latencies_ms.len();
        let records = common::stream_records(&self.kinesis.client, &stream.name).await;
        let distinct: HashSet<&str> = records.iter().filter_map(|r| r.partition_key()).collect();
        if records.len() < n || distinct.len() != n {
            return Err(format!(
                "{} writes, but the stream holds {} records of {} distinct keys",
                n,
                records.len(),
                distinct.len()
            ));
        }
        self.dynamo.drop_table(&table).await;
        self.kinesis.delete(&stream).await;
        Ok(run)
    }

    /// Naive: what the writer did before group commit, done bare: `PutItem`, then a
    /// `PutRecord` of its key record, per write, at `callers` at once (fresh table and stream).
    /// Its p50 at one caller is the least a confirmed-then-announced write can take here.
    async fn naive(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("naive").await;
        let stream = self.kinesis.stream("naive", 4).await;
        // Only for its record format: the naive records are the writer's.
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        let schema = thread_schema();
        let items = items.to_vec();
        let (table_ref, stream_ref, publisher, schema) = (&table, &stream, &publisher, &schema);
        let run = timed_writes(items, callers, |item| async move {
            let key = schema.key_of_item(&item).map_err(|e| e.to_string())?;
            let request = table_ref.client.put_item().table_name(&table_ref.name);
            request
                .set_item(Some(item))
                .send()
                .await
                .map_err(sdk("PutItem"))?;
            let put = stream_ref.client.put_record().stream_name(&stream_ref.name);
            put.partition_key(key.partition_key())
                .data(Blob::new(publisher.key_record(&key, Change::Modify)))
                .send()
                .await
                .map(drop)
                .map_err(sdk("PutRecord"))
        })
        .await?;
        self.dynamo.drop_table(&table).await;
        self.kinesis.delete(&stream).await;
        Ok(run)
    }

    /// The floor: bare `PutItem` of `items` at `callers` at once, on a fresh table.
    async fn floor(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("floor").await;
        let items = items.to_vec();
        let table_ref = &table;
        let run = timed_writes(items, callers, |item| async move {
            let request = table_ref.client.put_item().table_name(&table_ref.name);
            let sent = request.set_item(Some(item)).send().await;
            sent.map(drop).map_err(sdk("PutItem"))
        })
        .await?;
        self.dynamo.drop_table(&table).await;
        Ok(run)
    }
}

/// Runs `write` for each item, `callers` at once; times the whole and each write.
async fn timed_writes<F, Fut>(items: Vec<Item>, callers: usize, write: F) -> Result<Writes, String>
where
    F: Fn(Item) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let cpu = Cpu::now();
    let started = Instant::now();
    let mut latencies_ms: Vec<f64> = stream::iter(items)
        .map(|item| {
            let pending = write(item);
            async move {
                let sent = Instant::now();
                pending.await?;
                Ok::<_, String>(ms(sent.elapsed()))
            }
        })
        .buffer_unordered(callers)
        .try_collect()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = Cpu::now().since(cpu);
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Writes {
        seconds,
        latencies_ms,
        put_records: 0,
        cpu,
    })
}

fn keep_faster(best: &mut Option<Writes>, run: Writes) {
    if best.as_ref().is_none_or(|b| run.seconds < b.seconds) {
        *best = Some(run);
    }
}

// ---------------------------------------------------------------------------------------------
// Case 2: lag from a write's confirmation to its copy, at a steady 500 writes/s.

/// Instants by key (`Key`'s display form): when each write was confirmed, or handled.
type Instants = Arc<Mutex<HashMap<String, Instant>>>;

struct LagBench {
    primary: Dynamo,
    replica: Dynamo,
    kinesis: Kinesis,
}

/// One paced run: each write's lag, sorted, and the pace the writes kept.
struct Lags {
    lags_ms: Vec<f64>,
    writes_per_s: f64,
}

async fn lag() -> Result<Line, String> {
    let bench = LagBench {
        primary: Dynamo::start().await,
        replica: Dynamo::start().await,
        kinesis: Kinesis::start().await,
    };
    let n = (LAG_RATE * 20.0 * scale()).round().max(1.0) as usize;
    // One short untimed run of each first: the servers' first minutes are slower.
    let warm = (n / 10).max(1);
    bench.writer(warm).await?;
    bench.floor(warm).await?;
    let w = bench.writer(n).await?;
    let f = bench.floor(n).await?;
    let (p99, floor_p99) = (quantile(&w.lags_ms, 0.99), quantile(&f.lags_ms, 0.99));
    Ok(Line::new("lag-500wps")
        .int("writes", n)
        .num("p50_ms", quantile(&w.lags_ms, 0.5))
        .num("p99_ms", p99)
        .num("max_ms", quantile(&w.lags_ms, 1.0))
        .num("floor_p50_ms", quantile(&f.lags_ms, 0.5))
        .num("floor_p99_ms", floor_p99)
        .num("floor_max_ms", quantile(&f.lags_ms, 1.0))
        .num("p99_ratio", p99 / floor_p99)
        .num("target_p99_ratio", 2.0)
        .num("writes_per_s", w.writes_per_s)
        .num("floor_writes_per_s", f.writes_per_s)
        .int("writers", LAG_WRITERS)
        .int("shards", 2)
        .int("batch_size", BATCH)
        .int("poll_ms", POLL.as_millis()))
}

impl LagBench {
    /// Fresh primary, replica and 2-shard stream.
    async fn fresh(&self) -> (Table, Table, Stream) {
        let primary = self.primary.table("lag-primary").await;
        let replica = self.replica.table("lag-replica").await;
        let stream = self.kinesis.stream("lag", 2).await;
        (primary, replica, stream)
    }

    async fn clean(&self, primary: &Table, replica: &Table, stream: &Stream) {
        self.primary.drop_table(primary).await;
        self.replica.drop_table(replica).await;
        self.kinesis.delete(stream).await;
    }

    /// `n` paced writes through the writer, replicated by a following runner; then checks that
    /// every write was handled and that the replica equals the primary.
    async fn writer(&self, n: usize) -> Result<Lags, String> {
        let (primary, replica, stream) = self.fresh().await;
        let writer = Writer::connect(primary.clone(), stream.clone())
            .await
            .map_err(|e| format!("Writer::connect: {e}"))?;
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .map_err(|e| format!("Replicator::connect: {e}"))?;
        let handled = Instants::default();
        let observer = {
            let (handled, schema, table) = (handled.clone(), thread_schema(), primary.name.clone());
            Arc::new(move |records: &[KinesisEventRecord], failed: &[usize]| {
                let now = Instant::now();
                let mut handled = handled.lock().expect("handled");
                for (at, record) in records.iter().enumerate() {
                    if failed.contains(&at) {
                        continue;
                    }
                    if let Ok(key) = dyno::replicate::decode::decode(record, &schema, &table) {
                        handled.entry(key.to_string()).or_insert(now);
                    }
                }
            })
        };
        let runner = Runner::connect(stream.clone(), runner_options())
            .await
            .map_err(|e| format!("Runner::connect: {e}"))?
            .observe(observer);
        let (stop, stopped) = Stop::on_request();
        let following = tokio::spawn(async move { runner.run(&replicator, stopped).await });
        let writer = &writer;
        let paced = paced(n, |item| async move {
            let request = writer.put().set_item(Some(item));
            writer
                .put_item(request)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        stop.stop();
        let stats = following
            .await
            .map_err(|e| format!("runner task: {e}"))?
            .map_err(|e| format!("runner: {e}"))?;
        let (confirmed, writes_per_s) = paced?;
        check_run(&stats, n)?;
        same_tables(&primary, &replica, n).await?;
        let lags_ms = lags(&confirmed, &handled)?;
        self.clean(&primary, &replica, &stream).await;
        Ok(Lags {
            lags_ms,
            writes_per_s,
        })
    }

    /// The floor: `n` paced bare writes (`PutItem`, then `PutRecord`) and a bare consumer per
    /// shard.
    async fn floor(&self, n: usize) -> Result<Lags, String> {
        let (primary, replica, stream) = self.fresh().await;
        let handled = Instants::default();
        let (stop, stopped) = Stop::on_request();
        let shards = stream.shards().await.map_err(|e| e.to_string())?;
        let consumers: Vec<_> = shards
            .into_iter()
            .map(|shard| {
                let consumer = BareConsumer {
                    primary: primary.clone(),
                    replica: replica.clone(),
                    stream: stream.clone(),
                    handled: handled.clone(),
                };
                tokio::spawn(consumer.run(shard.id, stopped.clone()))
            })
            .collect();
        // Only for its record format: the floor's records are the writer's.
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        let schema = thread_schema();
        let (primary_ref, stream_ref, publisher, schema) = (&primary, &stream, &publisher, &schema);
        let paced = paced(n, |item| async move {
            let key = schema.key_of_item(&item).map_err(|e| e.to_string())?;
            let request = primary_ref.client.put_item().table_name(&primary_ref.name);
            let written = request.set_item(Some(item)).send().await;
            written.map_err(sdk("PutItem"))?;
            let put = stream_ref.client.put_record().stream_name(&stream_ref.name);
            put.partition_key(key.partition_key())
                .data(Blob::new(publisher.key_record(&key, Change::Modify)))
                .send()
                .await
                .map_err(sdk("PutRecord"))?;
            Ok(())
        })
        .await;
        stop.stop();
        for consumer in consumers {
            consumer
                .await
                .map_err(|e| format!("consumer task: {e}"))??;
        }
        let (confirmed, writes_per_s) = paced?;
        let lags_ms = lags(&confirmed, &handled)?;
        self.clean(&primary, &replica, &stream).await;
        Ok(Lags {
            lags_ms,
            writes_per_s,
        })
    }
}

/// Writes `n` items at `LAG_RATE` a second, at most `LAG_WRITERS` at once; returns when each
/// write returned (by key), and the pace kept.
async fn paced<F, Fut>(n: usize, write: F) -> Result<(Vec<(String, Instant)>, f64), String>
where
    F: Fn(Item) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let period = Duration::from_secs_f64(1.0 / LAG_RATE);
    let schema = thread_schema();
    let schema = &schema;
    let write = &write;
    let started = tokio::time::Instant::now();
    let confirmed: Vec<(String, Instant)> = stream::iter(0..n)
        .then(|k| async move {
            tokio::time::sleep_until(started + period * k as u32).await;
            k
        })
        .map(|k| async move {
            let value = item(k);
            let key = schema.key_of_item(&value).map_err(|e| e.to_string())?;
            write(value).await?;
            Ok::<_, String>((key.to_string(), Instant::now()))
        })
        .buffer_unordered(LAG_WRITERS)
        .try_collect()
        .await?;
    Ok((confirmed, n as f64 / started.elapsed().as_secs_f64()))
}

/// Each write's lag (handled - confirmed, at least 0), sorted; every write must be handled.
fn lags(confirmed: &[(String, Instant)], handled: &Instants) -> Result<Vec<f64>, String> {
    let handled = handled.lock().expect("handled");
    let mut lags = Vec::with_capacity(confirmed.len());
    for (key, at) in confirmed {
        let Some(done) = handled.get(key) else {
            return Err(format!("the write of {key} was never handled"));
        };
        lags.push(ms(done.saturating_duration_since(*at)));
    }
    lags.sort_by(f64::total_cmp);
    Ok(lags)
}

/// The floor's consumer of one shard: read, copy each page's keys, record when done.
struct BareConsumer {
    primary: Table,
    replica: Table,
    stream: Stream,
    handled: Instants,
}

/// A key record, as far as the bare consumer reads it.
#[derive(serde::Deserialize)]
struct BareRecord {
    dynamodb: BareKeys,
}

#[derive(serde::Deserialize)]
struct BareKeys {
    #[serde(rename = "Keys")]
    keys: serde_dynamo::Item,
}

impl BareConsumer {
    /// Reads `shard` from its start until `stop` is true and the shard is caught up.
    async fn run(self, shard: String, stop: Stop) -> Result<(), String> {
        let kinesis = &self.stream.client;
        let start = kinesis
            .get_shard_iterator()
            .stream_name(&self.stream.name)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(sdk("GetShardIterator"))?;
        let mut iterator = start.shard_iterator.ok_or("no shard iterator")?;
        loop {
            let page = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(BATCH as i32)
                .send()
                .await
                .map_err(sdk("GetRecords"))?;
            let caught_up = page.millis_behind_latest.unwrap_or(0) == 0;
            iterator = page.next_shard_iterator.ok_or("the shard closed")?;
            if page.records.is_empty() {
                if caught_up && stop.asked() {
                    return Ok(());
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            let mut partition_keys = Vec::with_capacity(page.records.len());
            let mut keys = Vec::with_capacity(page.records.len());
            for record in &page.records {
                let parsed: BareRecord = serde_json::from_slice(record.data.as_ref())
                    .map_err(|e| format!("a key record: {e}"))?;
                let key: Item = (parsed.dynamodb.keys.into_inner().into_iter())
                    .map(|(name, value)| (name, value.into()))
                    .collect();
                // The partition key is the key's display form (distinct keys: no duplicates).
                partition_keys.push(record.partition_key.clone().unwrap_or_default());
                keys.push(key);
            }
            bare_copy(&self.primary, &self.replica, keys).await?;
            let now = Instant::now();
            let mut handled = self.handled.lock().expect("handled");
            for key in partition_keys {
                handled.entry(key).or_insert(now);
            }
            drop(handled);
        }
    }
}

/// Consistent `BatchGetItem` of `keys` from `primary`, then `BatchWriteItem` of what came back
/// to `replica`, `CONCURRENCY` calls at once.
async fn bare_copy(primary: &Table, replica: &Table, keys: Vec<Item>) -> Result<(), String> {
    let read: Vec<Vec<Item>> = stream::iter(keys.chunks(READ_KEYS).map(<[Item]>::to_vec))
        .map(|chunk| bare_read(primary, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let writes: Vec<WriteRequest> = read.into_iter().flatten().map(put_request).collect();
    stream::iter(writes.chunks(WRITE_REQUESTS).map(<[WriteRequest]>::to_vec))
        .map(|chunk| bare_write(replica, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn bare_read(table: &Table, mut keys: Vec<Item>) -> Result<Vec<Item>, String> {
    let mut items = Vec::with_capacity(keys.len());
    while !keys.is_empty() {
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| e.to_string())?;
        let request = table
            .client
            .batch_get_item()
            .request_items(&table.name, wanted);
        let mut answer = request.send().await.map_err(sdk("BatchGetItem"))?;
        let got = answer
            .responses
            .as_mut()
            .and_then(|r| r.remove(&table.name));
        items.extend(got.unwrap_or_default());
        let left = answer
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(&table.name));
        keys = left.map(|k| k.keys).unwrap_or_default();
    }
    Ok(items)
}

async fn bare_write(table: &Table, mut writes: Vec<WriteRequest>) -> Result<(), String> {
    while !writes.is_empty() {
        let request = table
            .client
            .batch_write_item()
            .request_items(&table.name, writes);
        let answer = request.send().await.map_err(sdk("BatchWriteItem"))?;
        let left = answer
            .unprocessed_items
            .and_then(|mut u| u.remove(&table.name));
        writes = left.unwrap_or_default();
    }
    Ok(())
}

fn put_request(item: Item) -> WriteRequest {
    let put = PutRequest::builder().set_item(Some(item)).build();
    WriteRequest::builder()
        .put_request(put.expect("a put request"))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Case 3: draining an announced backlog with 1, 2 and 4 shards.

async fn shards(chosen: &impl Fn(&str) -> bool, report: &mut Report) {
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
        .filter(|&s| s == 1 || chosen(&format!("shards-{s}")))
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
        if chosen(&case) {
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

// ---------------------------------------------------------------------------------------------
// Case 4: backfill against a bare keys-only parallel scan.

async fn backfills() -> Result<Line, String> {
    let dynamo = Dynamo::start().await;
    let kinesis = Kinesis::start().await;
    let n = scaled(20_000);
    let primary = dynamo.table("backfill").await;
    for slice in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let items = slice.iter().map(|&k| item(k)).collect();
        put_items(&primary.client, &primary.name, items).await;
    }
    // Turn 0: the backfill; 1: the floor (keys-only scan); 2: the scan that also publishes.
    let run = |turn: usize| {
        let (primary, kinesis) = (&primary, &kinesis);
        async move {
            match turn {
                0 => backfill_once(primary, kinesis, n).await,
                1 => keys_scan(primary, None, n).await.map(|s| (s, 0)),
                _ => keys_scan(primary, Some(kinesis), n).await.map(|s| (s, 0)),
            }
        }
    };
    // One untimed run of each first.
    for turn in 0..3 {
        run(turn).await?;
    }
    let (mut best, mut calls) = ([f64::INFINITY; 3], 0);
    let mut ratios = Vec::new();
    for rep in 0..REPS {
        // Interleaved, each rep starting with another, so drift favours none.
        let mut seconds = [0.0; 3];
        for turn in (0..3).map(|t| (t + rep) % 3) {
            let (took, put_records) = run(turn).await?;
            if turn == 0 && took < best[0] {
                calls = put_records;
            }
            best[turn] = best[turn].min(took);
            seconds[turn] = took;
        }
        ratios.push(seconds[0] / seconds[1]);
    }
    let [backfill, floor, publish_floor] = best;
    Ok(Line::new("backfill-20k")
        .int("items", n)
        .num("items_per_s", n as f64 / backfill)
        .num("floor_items_per_s", n as f64 / floor)
        .num("seconds", backfill)
        .num("floor_seconds", floor)
        .num("ratio_to_floor", backfill / floor)
        .num("ratio_median", median(ratios))
        .num("target_ratio_to_floor", 1.15)
        .num("publish_floor_seconds", publish_floor)
        .num("ratio_to_publish_floor", backfill / publish_floor)
        .int("put_records_calls", calls)
        .int("segments", SEGMENTS)
        .int("shards", 4)
        .text("stream", "fresh each run")
        .int("reps", REPS))
}

/// One backfill of `primary` onto a fresh 4-shard stream: its seconds and `PutRecords` calls.
async fn backfill_once(primary: &Table, kinesis: &Kinesis, n: usize) -> Result<(f64, u64), String> {
    let stream = kinesis.stream("backfill", 4).await;
    let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
    let options = BackfillOptions {
        segments: Segments::all(SEGMENTS),
        rate: None,
        ttl: None,
    };
    let checkpoints = Checkpoints::in_memory();
    let progress = Progress::default();
    let schema = thread_schema();
    let started = Instant::now();
    let report = backfill(
        primary,
        &schema,
        &KeySink::Stream(publisher.clone()),
        &options,
        &checkpoints,
        &progress,
    )
    .await
    .map_err(|e| format!("backfill: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if report.published != n as u64 {
        return Err(format!(
            "backfill published {} keys of {n} items",
            report.published
        ));
    }
    kinesis.delete(&stream).await;
    Ok((seconds, publisher.calls()))
}

/// The floor: every segment of a keys-only `Scan` at once, nothing else; checks the count.
/// With `publish`, each segment also puts its pages' key records on a fresh 4-shard stream
/// with bare `PutRecords` calls of 500 before it reads on (the backfill's work, done bare).
async fn keys_scan(table: &Table, publish: Option<&Kinesis>, n: usize) -> Result<f64, String> {
    let stream = match publish {
        Some(kinesis) => Some(kinesis.stream("publish", 4).await),
        None => None,
    };
    let publisher = stream
        .as_ref()
        .map(|s| Publisher::new(s.clone(), REGION, Backoff::default()));
    let publisher = publisher.as_ref();
    let started = Instant::now();
    let segments = (0..SEGMENTS).map(|segment| async move {
        let mut from = None;
        let mut count = 0;
        loop {
            let answer = table
                .client
                .scan()
                .table_name(&table.name)
                .segment(segment as i32)
                .total_segments(SEGMENTS as i32)
                .projection_expression("#h, #r")
                .expression_attribute_names("#h", "ForumName")
                .expression_attribute_names("#r", "Subject")
                .set_exclusive_start_key(from)
                .send()
                .await
                .map_err(sdk("Scan"))?;
            count += answer.items().len();
            if let Some(publisher) = publisher {
                bare_publish(publisher, answer.items()).await?;
            }
            match answer.last_evaluated_key {
                Some(last) => from = Some(last),
                None => return Ok::<_, String>(count),
            }
        }
    });
    let counts = futures::future::try_join_all(segments).await?;
    let seconds = started.elapsed().as_secs_f64();
    let scanned: usize = counts.iter().sum();
    if scanned != n {
        return Err(format!("the keys-only scan read {scanned} of {n} items"));
    }
    if let (Some(kinesis), Some(stream)) = (publish, &stream) {
        kinesis.delete(stream).await;
    }
    Ok(seconds)
}

/// The key records of `items`, put with `PutRecords` calls of 500 (the publisher's record
/// format and partition keys; no group commit, no retries: any failed record is an error).
async fn bare_publish(publisher: &Publisher, items: &[Item]) -> Result<(), String> {
    let schema = thread_schema();
    for chunk in items.chunks(500) {
        let mut records = Vec::with_capacity(chunk.len());
        for item in chunk {
            let key = schema.key_of_item(item).map_err(|e| e.to_string())?;
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(key.partition_key())
                .data(Blob::new(publisher.key_record(&key, Change::Modify)))
                .build()
                .map_err(|e| e.to_string())?;
            records.push(entry);
        }
        let stream = publisher.stream();
        let answer = stream
            .client
            .put_records()
            .stream_name(&stream.name)
            .set_records(Some(records))
            .send()
            .await
            .map_err(sdk("PutRecords"))?;
        if answer.failed_record_count().unwrap_or(0) > 0 {
            return Err(format!(
                "PutRecords: {} records failed",
                answer.failed_record_count().unwrap_or(0)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Case 5: the peak memory of `dyno diff` at two table sizes.

async fn diff_rss(chosen: &impl Fn(&str) -> bool, report: &mut Report) {
    let primary = Dynamo::start().await;
    let replica = Dynamo::start().await;
    let mut base = None;
    for (case, items) in [("diff-rss-20k", 20_000), ("diff-rss-100k", 100_000)] {
        // The 20k figure is the 100k line's reference: measured whenever the group runs.
        if !(chosen(case) || items == 20_000) {
            continue;
        }
        let result = diff_once(&primary, &replica, scaled(items)).await;
        let result = result.map(|run| {
            let mb = run.peak_kb as f64 / 1024.0;
            let base_mb = *base.get_or_insert(mb);
            let line = Line::new(case)
                .int("items", run.items)
                .num("peak_rss_mb", mb)
                .num("seconds", run.seconds)
                .int("exit", run.exit)
                .num("fill_seconds", run.fill_seconds)
                .int("segments", SEGMENTS);
            match items {
                20_000 => line,
                _ => line
                    .num("rss_ratio_to_20k", mb / base_mb)
                    .num("target_rss_ratio", 1.1),
            }
        });
        if chosen(case) || result.is_err() {
            report.emit(case, result);
        }
    }
}

struct DiffRun {
    items: usize,
    fill_seconds: f64,
    seconds: f64,
    peak_kb: u64,
    exit: i32,
}

/// Fills a fresh table on each server with the same `n` items, then runs `dyno diff` on them.
async fn diff_once(primary: &Dynamo, replica: &Dynamo, n: usize) -> Result<DiffRun, String> {
    let (p, r) = (primary.table("diff").await, replica.table("diff").await);
    let filling = Instant::now();
    for slice in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<Item> = slice.iter().map(|&k| item(k)).collect();
        tokio::join!(
            put_items(&p.client, &p.name, items.clone()),
            put_items(&r.client, &r.name, items)
        );
    }
    let fill_seconds = filling.elapsed().as_secs_f64();
    let mut command = std::process::Command::new(release_dyno()?);
    command
        .args(["--table", &p.name, "--replica-table", &r.name])
        .args(["--endpoint-url", &primary.endpoint])
        .args(["--replica-endpoint-url", &replica.endpoint])
        .args(["diff", "--segments", &SEGMENTS.to_string()]);
    common::local_aws_env(&mut command);
    let run = tokio::task::spawn_blocking(move || peak_rss(command))
        .await
        .map_err(|e| format!("diff child: {e}"))??;
    let exit = run.status.code().unwrap_or(-1);
    if exit != 0 || !run.stdout.contains("0 differences") {
        return Err(format!(
            "dyno diff of equal tables exited {} ({}): {} {}",
            exit,
            run.status,
            run.stdout.trim(),
            run.stderr.trim()
        ));
    }
    primary.drop_table(&p).await;
    replica.drop_table(&r).await;
    Ok(DiffRun {
        items: n,
        fill_seconds,
        seconds: run.seconds,
        peak_kb: run.peak_kb,
        exit,
    })
}

/// The release `dyno` binary beside this bench's (`make bench` builds it).
fn release_dyno() -> Result<std::path::PathBuf, String> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("dyno")))
        .filter(|path| path.exists())
        .ok_or_else(|| {
            "no release dyno binary: run `cargo build --release --bin dyno` (`make bench` does)"
                .to_owned()
        })
}

struct ChildRun {
    status: ExitStatus,
    seconds: f64,
    peak_kb: u64,
    stdout: String,
    stderr: String,
}

/// Runs `command`, reading its `VmHWM` every 5 ms until it exits (each reading is taken before
/// the child is reaped, so it is this child's).
fn peak_rss(mut command: std::process::Command) -> Result<ChildRun, String> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting dyno: {e}"))?;
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let mut peak_kb = 0;
    let status = loop {
        peak_kb = peak_kb.max(common::vmhwm_kb(&child.id().to_string()));
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for dyno: {e}")),
        }
    };
    Ok(ChildRun {
        status,
        seconds: started.elapsed().as_secs_f64(),
        peak_kb,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

// ---------------------------------------------------------------------------------------------
// Shared: servers, fresh tables and streams, items, checks, figures, the report.

/// A dynalite and a client for it.
struct Dynamo {
    _server: Server,
    endpoint: String,
    client: aws_sdk_dynamodb::Client,
}

impl Dynamo {
    async fn start() -> Dynamo {
        let server = Server::dynalite();
        let client = common::client_at(&server.endpoint, REGION, &Tuning::default(), None).await;
        Dynamo {
            endpoint: server.endpoint.clone(),
            _server: server,
            client,
        }
    }

    /// A fresh, empty Thread table (names are never reused).
    async fn table(&self, prefix: &str) -> Table {
        let name = fresh_name(prefix);
        create_table(&self.client, &name, &thread_schema()).await;
        Table::new(self.client.clone(), name, "TABLE")
            .at(Some(self.endpoint.clone()), Some(REGION.to_owned()))
    }

    async fn drop_table(&self, table: &Table) {
        let _ = self
            .client
            .delete_table()
            .table_name(&table.name)
            .send()
            .await;
    }
}

/// A kinesalite and a client for it.
struct Kinesis {
    _server: Server,
    endpoint: String,
    client: aws_sdk_kinesis::Client,
}

impl Kinesis {
    async fn start() -> Kinesis {
        let server = Server::kinesalite();
        let config = kinesis_config(
            &common::sdk_config().await,
            Some(&server.endpoint),
            &Tuning::default(),
        );
        Kinesis {
            endpoint: server.endpoint.clone(),
            _server: server,
            client: aws_sdk_kinesis::Client::from_conf(config.build()),
        }
    }

    /// A fresh stream of `shards` shards (names are never reused).
    async fn stream(&self, prefix: &str, shards: i32) -> Stream {
        let stream = Stream::new(self.client.clone(), fresh_name(prefix), "STREAM")
            .at(Some(self.endpoint.clone()));
        create_stream(&stream, shards).await;
        stream
    }

    async fn delete(&self, stream: &Stream) {
        let _ = self
            .client
            .delete_stream()
            .stream_name(&stream.name)
            .send()
            .await;
    }
}

/// CPU time (user + system, seconds) of this process and of its children (the servers): all
/// of it, and kinesalite's share.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    all: f64,
    kinesalite: f64,
}

impl Cpu {
    fn now() -> Cpu {
        let me = std::process::id();
        let mut cpu = Cpu {
            all: cpu_of("self").map_or(0.0, |(_, seconds)| seconds),
            kinesalite: 0.0,
        };
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            match cpu_of(pid) {
                Some((parent, seconds)) if parent == me => {
                    cpu.all += seconds;
                    let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    if String::from_utf8_lossy(&command).contains("kinesalite") {
                        cpu.kinesalite += seconds;
                    }
                }
                _ => {}
            }
        }
        cpu
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            all: self.all - earlier.all,
            kinesalite: self.kinesalite - earlier.kinesalite,
        }
    }
}

/// A process's parent and its CPU seconds so far, from `/proc/<pid>/stat` (ticks of 10 ms).
fn cpu_of(pid: &str) -> Option<(u32, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((parent, ticks as f64 / 100.0))
}

fn fresh_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("bench-{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn runner_options() -> RunnerOptions {
    RunnerOptions {
        batch_size: BATCH,
        poll_interval: POLL,
        ..RunnerOptions::default()
    }
}

/// Item `k`: a Thread item of ~`ITEM_BYTES` bytes in DynamoDB's measure, with a varied body.
fn item(k: usize) -> Item {
    static POOL: OnceLock<String> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        std::iter::repeat_with(fastrand::alphanumeric)
            .take(4 * ITEM_BYTES)
            .collect()
    });
    let (forum, subject) = (format!("forum-{:02}", k % 16), format!("subject-{k:07}"));
    let overhead = "ForumName".len() + forum.len() + "Subject".len() + subject.len() + "Body".len();
    let len = ITEM_BYTES - overhead;
    let start = (k * 131) % (pool.len() - len);
    common::thread_item(&forum, &subject, &pool[start..start + len])
}

/// The runner replicated each of `n` records once, skipping none.
fn check_run(stats: &RunStats, n: usize) -> Result<(), String> {
    if !stats.skipped.is_empty() || stats.records != n {
        return Err(format!(
            "the runner did {} records of {n} and skipped {:?}",
            stats.records, stats.skipped
        ));
    }
    Ok(())
}

/// The replica holds exactly the primary's `n` items.
async fn same_tables(primary: &Table, replica: &Table, n: usize) -> Result<(), String> {
    let diff = dyno::ops::diff::compare(primary, replica)
        .await
        .map_err(|e| format!("compare: {e}"))?;
    if diff.differences() > 0 || diff.items != n {
        return Err(format!(
            "replica {} differs from primary {} ({} items, {n} expected): {} missing, {} extra, \
             {} different",
            replica.name,
            primary.name,
            diff.items,
            diff.missing.len(),
            diff.extra.len(),
            diff.different.len()
        ));
    }
    Ok(())
}

/// `BENCH_SCALE` (default 1): multiplies item counts and durations.
fn scale() -> f64 {
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("BENCH_SCALE")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(1.0)
    })
}

fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(1)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        len => sorted[((len - 1) as f64 * q).round() as usize],
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

/// An SDK error, with every cause.
fn sdk<E: std::error::Error>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {}", DisplayErrorContext(e))
}

/// One `bench case=… key=value …` line.
struct Line(String);

impl Line {
    fn new(case: &str) -> Line {
        Line(format!("bench case={case}"))
    }

    fn int(mut self, key: &str, value: impl Display) -> Line {
        self.0 += &format!(" {key}={value}");
        self
    }

    fn num(mut self, key: &str, value: f64) -> Line {
        self.0 += &format!(" {key}={value:.3}");
        self
    }

    fn text(mut self, key: &str, value: &str) -> Line {
        self.0 += &format!(" {key}={value:?}");
        self
    }
}

/// Prints each case's line, or its error, and remembers the errors for the exit status.
#[derive(Default)]
struct Report {
    errors: Vec<String>,
}

impl Report {
    fn emit(&mut self, case: &str, result: Result<Line, String>) {
        match result {
            Ok(line) => println!("{}", line.0),
            Err(error) => {
                println!("bench case={case} error={error:?}");
                self.errors.push(format!("{case}: {error}"));
            }
        }
    }

    fn finish(self) -> ExitCode {
        if self.errors.is_empty() {
            return ExitCode::SUCCESS;
        }
        eprintln!("bench: {} problem(s):", self.errors.len());
        for error in &self.errors {
            eprintln!("  {error}");
        }
        ExitCode::FAILURE
    }
}
