//! What the pipeline's cases share: servers with a client each, fresh tables and streams, items,
//! timed and paced writes, the bare calls the floors make, the runner's options, the checks of a
//! run, CPU time of this process and the servers, a child's peak memory, and `BENCH_SCALE`.

use std::future::Future;
use std::io::Read;
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::WriteRequest;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use dyno::aws::client::kinesis_config;
use dyno::aws::key::Key;
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::RunnerOptions;
use dyno::publish::publisher::{Change, Publisher};
use dyno::replicate::tuning::Tuning;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{BATCH, ITEM_BYTES, LAG_RATE, LAG_WRITERS, POLL, REGION};
use crate::common::{self, Item, create_stream, create_table, thread_schema};
use crate::shared::{Own, body_pool, cpu_of, ms, own_cpu_seconds, sdk, sized_item};

/// A dynalite of the bench's own and a client for it.
pub struct Dynamo {
    _server: Own,
    pub endpoint: String,
    pub client: aws_sdk_dynamodb::Client,
}

impl Dynamo {
    pub async fn start() -> Dynamo {
        let server = Own::dynalite();
        let client = common::client_at(&server.endpoint, REGION, &Tuning::default(), None).await;
        Dynamo {
            endpoint: server.endpoint.clone(),
            _server: server,
            client,
        }
    }

    /// A fresh, empty Thread table (names are never reused).
    pub async fn table(&self, prefix: &str) -> Table {
        let name = fresh_name(prefix);
        create_table(&self.client, &name, &thread_schema()).await;
        Table::new(self.client.clone(), name, "TABLE")
            .at(Some(self.endpoint.clone()), Some(REGION.to_owned()))
    }

    pub async fn drop_table(&self, table: &Table) {
        let _ = self
            .client
            .delete_table()
            .table_name(&table.name)
            .send()
            .await;
    }
}

/// A kinesalite of the bench's own and a client for it.
pub struct Kinesis {
    _server: Own,
    pub endpoint: String,
    pub client: aws_sdk_kinesis::Client,
}

impl Kinesis {
    pub async fn start() -> Kinesis {
        let server = Own::kinesalite();
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
    pub async fn stream(&self, prefix: &str, shards: i32) -> Stream {
        let stream = Stream::new(self.client.clone(), fresh_name(prefix), "STREAM")
            .at(Some(self.endpoint.clone()));
        create_stream(&stream, shards).await;
        stream
    }

    pub async fn delete(&self, stream: &Stream) {
        let _ = self
            .client
            .delete_stream()
            .stream_name(&stream.name)
            .send()
            .await;
    }
}

pub fn fresh_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("bench-{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Item `k`: a Thread item of ~`ITEM_BYTES` bytes in DynamoDB's measure, with a varied body.
pub fn item(k: usize) -> Item {
    static POOL: OnceLock<String> = OnceLock::new();
    let pool = POOL.get_or_init(|| body_pool(4 * ITEM_BYTES));
    let (forum, subject) = (format!("forum-{:02}", k % 16), format!("subject-{k:07}"));
    sized_item(&forum, &subject, ITEM_BYTES, pool, k)
}

/// CPU time (user + system, seconds) of this process and of its children (the servers): all
/// of it, and kinesalite's share.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub all: f64,
    pub kinesalite: f64,
}

impl Cpu {
    pub fn now() -> Cpu {
        let me = std::process::id();
        let mut cpu = Cpu {
            all: own_cpu_seconds(),
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

    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            all: self.all - earlier.all,
            kinesalite: self.kinesalite - earlier.kinesalite,
        }
    }
}

/// One timed run of N writes (or reads).
pub struct Writes {
    pub seconds: f64,
    /// Each write's latency, sorted.
    pub latencies_ms: Vec<f64>,
    pub put_records: u64,
    /// CPU used meanwhile by this process and the servers.
    pub cpu: Cpu,
}

impl Writes {
    pub fn per_s(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.seconds
    }
}

/// Runs `write` for each item, `callers` at once; times the whole and each write.
pub async fn timed_writes<F, Fut>(
    items: Vec<Item>,
    callers: usize,
    write: F,
) -> Result<Writes, String>
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

/// Writes `n` items at `LAG_RATE` a second, at most `LAG_WRITERS` at once; returns when each
/// write returned (by key), and the pace kept.
pub async fn paced<F, Fut>(n: usize, write: F) -> Result<(Vec<(String, Instant)>, f64), String>
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

/// `BatchWriteItem` of `writes` to `table`, re-sent while some come back unprocessed.
pub async fn bare_write(table: &Table, mut writes: Vec<WriteRequest>) -> Result<(), String> {
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

/// The key record of `key` as the publisher puts it (its format and partition key).
pub fn record_entry(
    publisher: &Publisher,
    key: &Key,
    change: Change,
) -> Result<PutRecordsRequestEntry, String> {
    PutRecordsRequestEntry::builder()
        .partition_key(key.partition_key())
        .data(Blob::new(publisher.key_record(key, change)))
        .build()
        .map_err(|e| e.to_string())
}

/// One bare `PutRecord` of `key`'s record (the publisher's format, `MODIFY`, its partition key)
/// onto `stream`.
pub async fn bare_put_record(
    stream: &Stream,
    publisher: &Publisher,
    key: &Key,
) -> Result<(), String> {
    let put = stream.client.put_record().stream_name(&stream.name);
    put.partition_key(key.partition_key())
        .data(Blob::new(publisher.key_record(key, Change::Modify)))
        .send()
        .await
        .map(drop)
        .map_err(sdk("PutRecord"))
}

/// One bare `PutRecords` of `records` onto the publisher's stream (no group commit, no retries:
/// any failed record is an error).
pub async fn bare_put_records(
    publisher: &Publisher,
    records: Vec<PutRecordsRequestEntry>,
) -> Result<(), String> {
    let stream = publisher.stream();
    let answer = stream
        .client
        .put_records()
        .stream_name(&stream.name)
        .set_records(Some(records))
        .send()
        .await
        .map_err(sdk("PutRecords"))?;
    match answer.failed_record_count().unwrap_or(0) {
        0 => Ok(()),
        failed => Err(format!("PutRecords: {failed} records failed")),
    }
}

pub fn runner_options() -> RunnerOptions {
    RunnerOptions {
        batch_size: BATCH,
        poll_interval: POLL,
        ..RunnerOptions::default()
    }
}

/// The runner replicated each of `n` records once, skipping none.
pub fn check_run(stats: &RunStats, n: usize) -> Result<(), String> {
    if !stats.skipped.is_empty() || stats.records != n {
        return Err(format!(
            "the runner did {} records of {n} and skipped {:?}",
            stats.records, stats.skipped
        ));
    }
    Ok(())
}

/// The replica holds exactly the primary's `n` items.
pub async fn same_tables(primary: &Table, replica: &Table, n: usize) -> Result<(), String> {
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

/// A child run of a release binary: how it ended, and its peak memory.
pub struct ChildRun {
    pub status: ExitStatus,
    pub seconds: f64,
    pub peak_kb: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command`, reading its `VmHWM` every 5 ms until it exits (each reading is taken before
/// the child is reaped, so it is this child's).
pub fn peak_rss(mut command: std::process::Command) -> Result<ChildRun, String> {
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

/// `BENCH_SCALE` (default 1): multiplies item counts and durations.
pub fn scale() -> f64 {
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("BENCH_SCALE")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(1.0)
    })
}

pub fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(1)
}
