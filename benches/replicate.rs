//! `make bench`: what the replicator costs and how fast it is, against local DynamoDB-compatible
//! servers (dynalite: one for the primary, one for the replica), one line per case.
//!
//! For each case the bench fills a primary table, builds the Kinesis event, and then, each on a
//! fresh replica table:
//! - runs the library's handler in this process (`seconds`, `calls`), `reps` times after one
//!   untimed run;
//! - runs the floor, the unavoidable DynamoDB work done directly with the SDK: consistent
//!   `BatchGetItem` of the distinct keys (in the order the handler meets them) and
//!   `BatchWriteItem` of what comes back, at the same concurrency, with no decoding or
//!   bookkeeping (`floor_seconds`), interleaved with the above, also after one untimed run;
//!   `ratio_to_floor` is the best handler run over the best floor run, and `ratio_median` the
//!   median of the ratios within each interleaved pair (the two agree when the machine is quiet);
//! - runs the naive design once: per record `GetItem(ConsistentRead)` + `PutItem`/`DeleteItem`
//!   at the same concurrency (`naive_seconds`);
//! - runs the handler once more in a child process that holds only what a Lambda would (the
//!   event and the replicator, built from the environment like the `replicator` binary), for
//!   `peak_rss_mb` (its `VmHWM`) and the init time.
//!
//! A several-target case (`targets-3`) writes every key whole to `targets` fresh tables from one
//! read of the primary. Its floor reads the keys once and writes what came back to every table,
//! under one bound of `concurrency` calls in flight, as the engine does; it has no naive run and
//! no child. It prints the primary's `read_calls` beside those of the same event replicated to
//! one target (`one_target_read_calls`), and `target_ratio_to_floor` beside `ratio_to_floor`.
//!
//! Every handler run is checked (no failures; the expected keys, puts and deletes, per target),
//! and after the child's run (or the untimed run, for a several-target case) every replica must
//! equal the primary. The bench exits non-zero otherwise, and when a several-target run read the
//! primary more often than the one-target run; it never judges seconds.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use common::calls::CallCounter;
use common::{Item, Server, create_table, kinesis_event, s, thread_schema};
use dyno::aws::client::load_sdk_config;
use dyno::aws::key::KeySchema;
use dyno::aws::limits::READ_KEYS as MAX_READ_KEYS;
use dyno::config::Config;
use dyno::replicate::engine::Engine;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::target::Target;
use dyno::replicate::tuning::Tuning;
use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

/// One benchmark case: `records` records over `keys` distinct keys, items of `item_bytes`.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    records: usize,
    keys: usize,
    item_bytes: usize,
    /// Key `k` is absent from the primary (so the replica must delete it) when `k % n == 0`.
    absent_every: Option<usize>,
    /// Timed runs of the handler and of the floor (the best of each is reported).
    reps: usize,
    /// Target tables, each a full copy, written from one read of the primary per key.
    targets: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "10k-distinct",
        records: 10_000,
        keys: 10_000,
        item_bytes: 1024,
        absent_every: None,
        reps: 5,
        targets: 1,
    },
    Case {
        name: "10k-over-2k",
        records: 10_000,
        keys: 2_000,
        item_bytes: 1024,
        absent_every: None,
        reps: 15,
        targets: 1,
    },
    Case {
        name: "1k-20pct-deletes",
        records: 1_000,
        keys: 1_000,
        item_bytes: 1024,
        absent_every: Some(5),
        reps: 25,
        targets: 1,
    },
    Case {
        name: "2k-64kb-items",
        records: 2_000,
        keys: 2_000,
        item_bytes: 64 * 1024,
        absent_every: None,
        reps: 3,
        targets: 1,
    },
    Case {
        name: "single-record",
        records: 1,
        keys: 1,
        item_bytes: 1024,
        absent_every: None,
        reps: 25,
        targets: 1,
    },
    Case {
        name: "targets-3",
        records: 10_000,
        keys: 2_000,
        item_bytes: 1024,
        absent_every: None,
        reps: 9,
        targets: 3,
    },
];

impl Case {
    /// The key record `r` announces: every key, in a scattered order (7 is prime to `keys`).
    fn key_of_record(&self, r: usize) -> usize {
        (r * 7) % self.keys
    }

    fn present(&self, k: usize) -> bool {
        self.absent_every.is_none_or(|n| !k.is_multiple_of(n))
    }

    fn present_keys(&self) -> usize {
        (0..self.keys).filter(|&k| self.present(k)).count()
    }

    fn event(&self) -> KinesisEvent {
        kinesis_event(
            (0..self.records)
                .map(|r| {
                    let k = self.key_of_record(r);
                    common::thread_record(&forum(k), &subject(k), r as u64)
                })
                .collect(),
        )
    }
}

fn forum(k: usize) -> String {
    format!("forum-{:02}", k % 16)
}

fn subject(k: usize) -> String {
    format!("subject-{k:06}")
}

fn key_item(k: usize) -> Item {
    Item::from([
        ("ForumName".to_owned(), s(&forum(k))),
        ("Subject".to_owned(), s(&subject(k))),
    ])
}

/// Item `k`, `item_bytes` in DynamoDB's measure (names plus values), with a varied body.
fn item(k: usize, item_bytes: usize, pool: &str) -> Item {
    let (forum, subject) = (forum(k), subject(k));
    let overhead = "ForumName".len() + forum.len() + "Subject".len() + subject.len() + "Body".len();
    let len = item_bytes - overhead;
    let start = (k * 131) % (pool.len() - len);
    common::thread_item(&forum, &subject, &pool[start..start + len])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        return child(args.get(at + 1).map(String::as_str).unwrap_or_default());
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and the bench is not a test.
    if !args.iter().any(|a| a == "--bench") {
        println!("bench: skipped (run `make bench`)");
        return ExitCode::SUCCESS;
    }
    runtime().block_on(parent())
}

/// A multi-threaded runtime, like `#[tokio::main]` in the replicator binary.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// The parent: servers, tables, timed runs, the report.

struct Bench {
    _primary_server: Server,
    _replica_server: Server,
    /// Measured clients (the handler's, the floor's and the naive loop's), counted.
    primary: Client,
    replica: Client,
    calls: CallCounter,
    /// Set-up and inspection clients, not counted.
    admin_primary: Client,
    admin_replica: Client,
    primary_endpoint: String,
    replica_endpoint: String,
    tuning: Tuning,
    schema: KeySchema,
    tables: AtomicUsize,
}

/// One case's figures.
#[derive(Debug, Default)]
struct Figures {
    calls: u64,
    seconds: f64,
    floor_seconds: f64,
    /// The median over reps of handler seconds / floor seconds in the same rep.
    ratio_median: f64,
    /// This process's CPU time (user + system) in the fastest handler and floor runs.
    cpu_seconds: f64,
    floor_cpu_seconds: f64,
    /// Decoding the event's records and finding the distinct keys, alone.
    decode_seconds: f64,
    naive_seconds: f64,
    peak_rss_kb: u64,
    init_ms: f64,
}

/// A several-target case's figures (the handler writes `case.targets` full copies).
#[derive(Debug, Default)]
struct TargetsFigures {
    /// `BatchGetItem` calls (the primary's reads) in each handler run: all the same, else the
    /// first count that differed from `one_target_read_calls`.
    read_calls: u64,
    /// `BatchGetItem` calls when the same event is replicated to one target.
    one_target_read_calls: u64,
    /// `BatchWriteItem` calls over every target, in the fastest handler run.
    write_calls: u64,
    seconds: f64,
    floor_seconds: f64,
    ratio_median: f64,
    cpu_seconds: f64,
    floor_cpu_seconds: f64,
}

/// The goal for a several-target case's `ratio_to_floor`: printed beside it, never judged.
const TARGETS_RATIO_GOAL: f64 = 1.15;

/// A case's primary table (filled), its event, and its distinct keys in the order the handler
/// meets them, reversed (the floor's workers take from the end).
struct Prepared {
    pool: String,
    primary_table: String,
    event: KinesisEvent,
    distinct: Vec<Item>,
}

async fn parent() -> ExitCode {
    let bench = Bench::start().await;
    let tuning = &bench.tuning;
    println!(
        "bench note=\"dynalite 4.0.0 x2 (primary, replica); concurrency={} calls in flight; \
         seconds and floor_seconds are the best of reps interleaved runs after one untimed run \
         each, ratio_median the median ratio within a pair, naive_seconds one run, \
         each on a fresh replica table; peak_rss_mb is VmHWM of a child process that handles the \
         event\"",
        tuning.concurrency
    );
    let mut errors = Vec::new();
    let mut inits = Vec::new();
    // `BENCH_CASES=10k-distinct,single-record make bench` runs only those cases.
    let only = std::env::var("BENCH_CASES").ok();
    let chosen = |case: &&Case| {
        only.as_deref()
            .is_none_or(|names| names.split(',').any(|n| n.trim() == case.name))
    };
    for case in CASES.iter().filter(chosen) {
        if case.targets > 1 {
            if let Err(error) = bench.report_targets_case(case).await {
                println!("bench case={} error={error:?}", case.name);
                errors.push(error);
            }
            continue;
        }
        match bench.case(case).await {
            Ok(f) => {
                inits.push(f.init_ms);
                let records = case.records as f64;
                println!(
                    "bench case={} records={} keys={} item_bytes={} calls={} \
                     calls_per_record={:.4} seconds={:.4} records_per_s={:.0} \
                     floor_seconds={:.4} ratio_to_floor={:.3} ratio_median={:.3} \
                     naive_seconds={:.3} speedup_vs_naive={:.1} peak_rss_mb={:.1} reps={} stat=min \
                     cpu_seconds={:.3} floor_cpu_seconds={:.3} decode_seconds={:.4}",
                    case.name,
                    case.records,
                    case.keys,
                    case.item_bytes,
                    f.calls,
                    f.calls as f64 / records,
                    f.seconds,
                    records / f.seconds,
                    f.floor_seconds,
                    f.seconds / f.floor_seconds,
                    f.ratio_median,
                    f.naive_seconds,
                    f.naive_seconds / f.seconds,
                    f.peak_rss_kb as f64 / 1024.0,
                    case.reps,
                    f.cpu_seconds,
                    f.floor_cpu_seconds,
                    f.decode_seconds,
                );
            }
            Err(error) => {
                println!("bench case={} error={error:?}", case.name);
                errors.push(error);
            }
        }
    }

    inits.sort_by(f64::total_cmp);
    let init = inits.get(inits.len() / 2).copied().unwrap_or(f64::NAN);
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("replicator")));
    match binary.as_ref().and_then(|b| std::fs::metadata(b).ok()) {
        Some(meta) => println!(
            "bench binary=replicator size_bytes={} size_mb={:.2} init_ms={init:.1} \
             init=\"Config::from_env, SDK config, clients, DescribeTable of both tables; median \
             of {} fresh processes\"",
            meta.len(),
            meta.len() as f64 / (1024.0 * 1024.0),
            inits.len()
        ),
        None => {
            let error = format!(
                "no release replicator binary at {binary:?}: run `cargo build --release --bin \
                 replicator` first (`make bench` does)"
            );
            println!("bench binary=replicator error={error:?} init_ms={init:.1}");
            errors.push(error);
        }
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench: {} problem(s):", errors.len());
        for error in &errors {
            eprintln!("  {error}");
        }
        ExitCode::FAILURE
    }
}

impl Bench {
    async fn start() -> Bench {
        let primary_server = Server::dynalite();
        let replica_server = Server::dynalite();
        let tuning = Tuning::default();
        let calls = CallCounter::default();
        let counted = Some(&calls);
        let primary =
            common::client_at(&primary_server.endpoint, "us-east-1", &tuning, counted).await;
        let replica =
            common::client_at(&replica_server.endpoint, "us-east-1", &tuning, counted).await;
        Bench {
            admin_primary: common::client(&primary_server).await,
            admin_replica: common::client(&replica_server).await,
            primary_endpoint: primary_server.endpoint.clone(),
            replica_endpoint: replica_server.endpoint.clone(),
            _primary_server: primary_server,
            _replica_server: replica_server,
            primary,
            replica,
            calls,
            tuning,
            schema: thread_schema(),
            tables: AtomicUsize::new(0),
        }
    }

    /// A fresh replica table (names are never reused); for cases with deletes it holds stale
    /// copies of the keys that are absent from the primary.
    async fn fresh_replica(&self, case: &Case, pool: &str) -> Result<String, String> {
        let n = self.tables.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench-replica-{n}");
        create_table(&self.admin_replica, &name, &self.schema).await;
        wait_active(&self.admin_replica, &name).await?;
        let stale: Vec<Item> = (0..case.keys)
            .filter(|&k| !case.present(k))
            .map(|k| item(k, case.item_bytes, pool))
            .collect();
        if !stale.is_empty() {
            common::put_items(&self.admin_replica, &name, stale).await;
        }
        Ok(name)
    }

    async fn drop_table(client: &Client, name: &str) {
        let _ = client.delete_table().table_name(name).send().await;
    }

    /// The case's primary table, filled; its event; and its distinct keys for the floor.
    async fn prepare(&self, case: &Case) -> Result<Prepared, String> {
        let pool: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(2 * case.item_bytes)
            .collect();
        let primary_table = format!("bench-primary-{}", case.name);
        create_table(&self.admin_primary, &primary_table, &self.schema).await;
        wait_active(&self.admin_primary, &primary_table).await?;
        // Filled in slices, so the parent never holds much more than a slice of items.
        let present: Vec<usize> = (0..case.keys).filter(|&k| case.present(k)).collect();
        for slice in present.chunks(1000) {
            let items = slice
                .iter()
                .map(|&k| item(k, case.item_bytes, &pool))
                .collect();
            common::put_items(&self.admin_primary, &primary_table, items).await;
        }
        let event = case.event();
        // The floor reads the keys in the order the handler meets them (its workers take from
        // the end of this list).
        let mut seen = HashSet::new();
        let mut distinct: Vec<Item> = (0..case.records)
            .map(|r| case.key_of_record(r))
            .filter(|&k| seen.insert(k))
            .map(key_item)
            .collect();
        distinct.reverse();
        Ok(Prepared {
            pool,
            primary_table,
            event,
            distinct,
        })
    }

    async fn case(&self, case: &Case) -> Result<Figures, String> {
        let Prepared {
            pool,
            primary_table,
            event,
            distinct,
        } = self.prepare(case).await?;
        let mut figures = Figures {
            seconds: f64::INFINITY,
            floor_seconds: f64::INFINITY,
            ..Figures::default()
        };

        // One untimed run of each first: the servers' first pass over a new table is slower.
        for handler_turn in [true, false] {
            let replica_table = self.fresh_replica(case, &pool).await?;
            if handler_turn {
                self.handler(case, &primary_table, &replica_table, &event)
                    .await?;
                self.compare(&primary_table, &replica_table).await?;
            } else {
                self.floor(&primary_table, &replica_table, distinct.clone())
                    .await?;
            }
            Bench::drop_table(&self.admin_replica, &replica_table).await;
        }

        let mut ratios = Vec::with_capacity(case.reps);
        for rep in 0..case.reps {
            // Interleaved, alternating which goes first, so drift favours neither.
            let mut pair = [0.0; 2];
            for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
                let replica_table = self.fresh_replica(case, &pool).await?;
                if handler_turn {
                    let cpu = cpu_seconds();
                    let (seconds, calls) = self
                        .handler(case, &primary_table, &replica_table, &event)
                        .await?;
                    if seconds < figures.seconds {
                        figures.cpu_seconds = cpu_seconds() - cpu;
                    }
                    figures.seconds = figures.seconds.min(seconds);
                    figures.calls = calls;
                    pair[0] = seconds;
                } else {
                    let cpu = cpu_seconds();
                    let seconds = self
                        .floor(&primary_table, &replica_table, distinct.clone())
                        .await?;
                    if seconds < figures.floor_seconds {
                        figures.floor_cpu_seconds = cpu_seconds() - cpu;
                    }
                    figures.floor_seconds = figures.floor_seconds.min(seconds);
                    pair[1] = seconds;
                }
                Bench::drop_table(&self.admin_replica, &replica_table).await;
            }
            ratios.push(pair[0] / pair[1]);
        }
        ratios.sort_by(f64::total_cmp);
        figures.ratio_median = ratios[ratios.len() / 2];

        figures.decode_seconds = self.decode(&primary_table, &event);

        let replica_table = self.fresh_replica(case, &pool).await?;
        figures.naive_seconds = self.naive(&primary_table, &replica_table, &event).await?;
        Bench::drop_table(&self.admin_replica, &replica_table).await;

        let replica_table = self.fresh_replica(case, &pool).await?;
        let child = self.child(case, &primary_table, &replica_table).await?;
        self.compare(&primary_table, &replica_table).await?;
        figures.peak_rss_kb = child.vmhwm_kb;
        figures.init_ms = child.init_ms;
        Bench::drop_table(&self.admin_replica, &replica_table).await;
        Bench::drop_table(&self.admin_primary, &primary_table).await;
        Ok(figures)
    }

    /// Runs a several-target case and prints its line. Fails when a handler run read the primary
    /// more often than the one-target run: one read per key, whatever the number of targets.
    async fn report_targets_case(&self, case: &Case) -> Result<(), String> {
        let f = self.targets_case(case).await?;
        let records = case.records as f64;
        let calls = f.read_calls + f.write_calls;
        println!(
            "bench case={} records={} keys={} item_bytes={} targets={} calls={} \
             calls_per_record={:.4} read_calls={} one_target_read_calls={} write_calls={} \
             seconds={:.4} records_per_s={:.0} floor_seconds={:.4} ratio_to_floor={:.3} \
             target_ratio_to_floor={:.2} ratio_median={:.3} reps={} stat=min cpu_seconds={:.3} \
             floor_cpu_seconds={:.3}",
            case.name,
            case.records,
            case.keys,
            case.item_bytes,
            case.targets,
            calls,
            calls as f64 / records,
            f.read_calls,
            f.one_target_read_calls,
            f.write_calls,
            f.seconds,
            records / f.seconds,
            f.floor_seconds,
            f.seconds / f.floor_seconds,
            TARGETS_RATIO_GOAL,
            f.ratio_median,
            case.reps,
            f.cpu_seconds,
            f.floor_cpu_seconds,
        );
        if f.read_calls != f.one_target_read_calls {
            return Err(format!(
                "{}: {} BatchGetItem calls with {} targets, {} with one: the primary must be \
                 read once per key whatever the number of targets",
                case.name, f.read_calls, case.targets, f.one_target_read_calls
            ));
        }
        Ok(())
    }

    /// `case.targets` fresh tables on the replica server.
    async fn fresh_replicas(&self, case: &Case, pool: &str) -> Result<Vec<String>, String> {
        let mut tables = Vec::with_capacity(case.targets);
        for _ in 0..case.targets {
            tables.push(self.fresh_replica(case, pool).await?);
        }
        Ok(tables)
    }

    async fn drop_tables(&self, tables: &[String]) {
        for table in tables {
            Bench::drop_table(&self.admin_replica, table).await;
        }
    }

    /// A case with `case.targets` full-copy targets: the handler against a floor that reads the
    /// keys once and writes what came back to every table (see [`Bench::floor_to`]), interleaved
    /// as in [`Bench::case`]; and the primary's reads against those of the same event replicated
    /// to one target.
    async fn targets_case(&self, case: &Case) -> Result<TargetsFigures, String> {
        let Prepared {
            pool,
            primary_table,
            event,
            distinct,
        } = self.prepare(case).await?;
        let mut figures = TargetsFigures {
            seconds: f64::INFINITY,
            floor_seconds: f64::INFINITY,
            ..TargetsFigures::default()
        };

        // The same event to one target: the reads to compare with (and the primary's first
        // pass, untimed).
        let replica_table = self.fresh_replica(case, &pool).await?;
        let (_, calls) = self
            .handler_to(
                case,
                &primary_table,
                std::slice::from_ref(&replica_table),
                &event,
            )
            .await?;
        figures.one_target_read_calls = read_calls(&calls);
        self.compare(&primary_table, &replica_table).await?;
        Bench::drop_table(&self.admin_replica, &replica_table).await;
        // Every run's reads must be the one-target run's; the first that differs is kept.
        figures.read_calls = figures.one_target_read_calls;
        let note_reads = |figures: &mut TargetsFigures, calls: &BTreeMap<String, u64>| {
            if figures.read_calls == figures.one_target_read_calls {
                figures.read_calls = read_calls(calls);
            }
        };

        // One untimed run of each, then interleaved pairs, as in `case`.
        for handler_turn in [true, false] {
            let tables = self.fresh_replicas(case, &pool).await?;
            if handler_turn {
                let (_, calls) = self
                    .handler_to(case, &primary_table, &tables, &event)
                    .await?;
                note_reads(&mut figures, &calls);
                for table in &tables {
                    self.compare(&primary_table, table).await?;
                }
            } else {
                self.floor_to(&primary_table, &tables, distinct.clone())
                    .await?;
            }
            self.drop_tables(&tables).await;
        }

        let mut ratios = Vec::with_capacity(case.reps);
        for rep in 0..case.reps {
            // Interleaved, alternating which goes first, so drift favours neither.
            let mut pair = [0.0; 2];
            for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
                let tables = self.fresh_replicas(case, &pool).await?;
                let cpu = cpu_seconds();
                if handler_turn {
                    let (seconds, calls) = self
                        .handler_to(case, &primary_table, &tables, &event)
                        .await?;
                    note_reads(&mut figures, &calls);
                    if seconds < figures.seconds {
                        figures.seconds = seconds;
                        figures.cpu_seconds = cpu_seconds() - cpu;
                        figures.write_calls = calls.get("BatchWriteItem").copied().unwrap_or(0);
                    }
                    pair[0] = seconds;
                } else {
                    let seconds = self
                        .floor_to(&primary_table, &tables, distinct.clone())
                        .await?;
                    if seconds < figures.floor_seconds {
                        figures.floor_seconds = seconds;
                        figures.floor_cpu_seconds = cpu_seconds() - cpu;
                    }
                    pair[1] = seconds;
                }
                self.drop_tables(&tables).await;
            }
            ratios.push(pair[0] / pair[1]);
        }
        ratios.sort_by(f64::total_cmp);
        figures.ratio_median = ratios[ratios.len() / 2];
        Bench::drop_table(&self.admin_primary, &primary_table).await;
        Ok(figures)
    }

    /// The library's handler, in this process: seconds and DynamoDB calls (retries included).
    async fn handler(
        &self,
        case: &Case,
        primary_table: &str,
        replica_table: &str,
        event: &KinesisEvent,
    ) -> Result<(f64, u64), String> {
        let replicas = [replica_table.to_owned()];
        let (seconds, calls) = self
            .handler_to(case, primary_table, &replicas, event)
            .await?;
        Ok((seconds, calls.values().sum()))
    }

    /// The library's handler, in this process, writing every item whole to each of
    /// `replica_tables` (one: the replicator `Replicator::connect` builds; more: one engine with
    /// a full-copy target per table): seconds and DynamoDB calls by operation (retries included).
    async fn handler_to(
        &self,
        case: &Case,
        primary_table: &str,
        replica_tables: &[String],
        event: &KinesisEvent,
    ) -> Result<(f64, BTreeMap<String, u64>), String> {
        let primary = common::table_of(&self.primary, primary_table);
        let replicator = match replica_tables {
            [replica_table] => Replicator::connect(
                primary,
                common::table_of(&self.replica, replica_table),
                self.tuning.clone(),
            )
            .await
            .map_err(|e| format!("connect: {e}"))?,
            _ => {
                let targets = replica_tables
                    .iter()
                    .map(|name| {
                        Target::everything(name, Arc::new(common::table_of(&self.replica, name)))
                    })
                    .collect();
                let engine = Engine::new(
                    Arc::new(primary),
                    self.schema.clone(),
                    targets,
                    self.tuning.clone(),
                );
                Replicator::new(vec![engine], self.tuning.clone())
            }
        };
        self.calls.reset();
        let started = Instant::now();
        let (response, summary) = replicator.handle(event, None).await;
        let seconds = started.elapsed().as_secs_f64();
        let calls = self.calls.snapshot();
        let failed = response.batch_item_failures.len();
        let n = replica_tables.len();
        let got = (failed, summary.keys, summary.puts / n, summary.deletes / n);
        check(case, "handler", got)?;
        // Each target, on its own: every key written, none failed.
        let present = case.present_keys();
        let each: Vec<(&str, usize, usize, usize)> = summary
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t.puts, t.deletes, t.failed_keys))
            .collect();
        let expected: Vec<(&str, usize, usize, usize)> = replica_tables
            .iter()
            .map(|name| (name.as_str(), present, case.keys - present, 0))
            .collect();
        if each != expected || summary.puts != n * present {
            return Err(format!(
                "handler: per target (name, puts, deletes, failed keys) = {each:?} of {} puts, \
                 expected {expected:?}",
                summary.puts
            ));
        }
        Ok((seconds, calls))
    }

    /// Decodes every record and finds the distinct keys as the handler does, best of 3.
    fn decode(&self, primary_table: &str, event: &KinesisEvent) -> f64 {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                let mut keys = std::collections::HashMap::new();
                for record in &event.records {
                    if let Ok(key) =
                        dyno::replicate::decode::decode(record, &self.schema, primary_table)
                    {
                        let next = keys.len();
                        keys.entry(key).or_insert(next);
                    }
                }
                std::hint::black_box(keys);
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// The floor: only the DynamoDB work the case needs, straight through the SDK, by
    /// `concurrency` workers that take keys from one queue. Like the engine, a read asks for no
    /// more keys than the server last managed to return whole, so no item is read twice.
    async fn floor(
        &self,
        primary_table: &str,
        replica_table: &str,
        keys: Vec<Item>,
    ) -> Result<f64, String> {
        self.floor_to(primary_table, &[replica_table.to_owned()], keys)
            .await
    }

    /// [`Bench::floor`], writing what each read returns to every one of `replica_tables` at once,
    /// with at most `concurrency` calls in flight in all, as the engine does (with one table
    /// each worker has one call in flight, so the bound never waits).
    async fn floor_to(
        &self,
        primary_table: &str,
        replica_tables: &[String],
        keys: Vec<Item>,
    ) -> Result<f64, String> {
        let queue = Mutex::new(keys);
        let hint = AtomicUsize::new(MAX_READ_KEYS);
        let calls = Semaphore::new(self.tuning.concurrency.max(1));
        let started = Instant::now();
        let workers = (0..self.tuning.concurrency)
            .map(|_| self.floor_worker(primary_table, replica_tables, &queue, &hint, &calls));
        futures::future::try_join_all(workers).await?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Reads keys (first what came back unprocessed) and writes each answer to every table, until
    /// none are left.
    async fn floor_worker(
        &self,
        primary_table: &str,
        replica_tables: &[String],
        queue: &Mutex<Vec<Item>>,
        hint: &AtomicUsize,
        calls: &Semaphore,
    ) -> Result<(), String> {
        let mut pending: Vec<Item> = Vec::new();
        loop {
            let want = hint.load(Ordering::Relaxed);
            if pending.len() < want {
                let mut queue = queue.lock().expect("queue");
                let at = queue.len().saturating_sub(want - pending.len());
                pending.extend(queue.drain(at..));
            }
            if pending.is_empty() {
                return Ok(());
            }
            let request: Vec<Item> = pending.drain(..want.min(pending.len())).collect();
            let requested = request.clone();
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(request))
                .consistent_read(true)
                .build()
                .map_err(|e| e.to_string())?;
            let mut answer = {
                let _permit = calls.acquire().await.map_err(|e| e.to_string())?;
                self.primary
                    .batch_get_item()
                    .request_items(primary_table, wanted)
                    .send()
                    .await
                    .map_err(|e| format!("floor BatchGetItem: {}", DisplayErrorContext(e)))?
            };
            let items = answer
                .responses
                .as_mut()
                .and_then(|r| r.remove(primary_table))
                .unwrap_or_default();
            let unprocessed = answer
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(primary_table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !unprocessed.is_empty() {
                hint.fetch_min(items.len().max(1), Ordering::Relaxed);
            }
            let seen: HashSet<&str> = items
                .iter()
                .chain(&unprocessed)
                .filter_map(|i| i.get("Subject")?.as_s().ok().map(String::as_str))
                .collect();
            let deletes: Vec<WriteRequest> = requested
                .iter()
                .filter(|k| {
                    k.get("Subject")
                        .and_then(|s| s.as_s().ok())
                        .is_some_and(|s| !seen.contains(s.as_str()))
                })
                .map(|k| delete_request(k.clone()))
                .collect();
            let mut writes: Vec<WriteRequest> = items.into_iter().map(put_request).collect();
            writes.extend(deletes);
            // Every table but the last gets a copy; the last, the writes themselves.
            let mut each: Vec<Vec<WriteRequest>> =
                (1..replica_tables.len()).map(|_| writes.clone()).collect();
            each.push(writes);
            let rounds = replica_tables
                .iter()
                .zip(each)
                .map(|(table, writes)| self.floor_write(table, writes, calls));
            futures::future::try_join_all(rounds).await?;
            pending.extend(unprocessed);
        }
    }

    /// `writes` to `replica_table` in `BatchWriteItem` calls of 25, one after another, each
    /// re-sent (under the same permit, as the engine does) while the answer leaves some
    /// unprocessed.
    async fn floor_write(
        &self,
        replica_table: &str,
        mut writes: Vec<WriteRequest>,
        calls: &Semaphore,
    ) -> Result<(), String> {
        while !writes.is_empty() {
            let mut batch: Vec<WriteRequest> = writes.drain(..writes.len().min(25)).collect();
            let _permit = calls.acquire().await.map_err(|e| e.to_string())?;
            while !batch.is_empty() {
                let answer = self
                    .replica
                    .batch_write_item()
                    .request_items(replica_table, batch)
                    .send()
                    .await
                    .map_err(|e| format!("floor BatchWriteItem: {}", DisplayErrorContext(e)))?;
                batch = answer
                    .unprocessed_items
                    .and_then(|mut u| u.remove(replica_table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// The design as first sketched: per record, a consistent `GetItem`, then a `PutItem` or
    /// `DeleteItem`, at the same concurrency.
    async fn naive(
        &self,
        primary_table: &str,
        replica_table: &str,
        event: &KinesisEvent,
    ) -> Result<f64, String> {
        let started = Instant::now();
        stream::iter(&event.records)
            .map(|record| async move {
                let key = dyno::replicate::decode::decode(record, &self.schema, primary_table)
                    .map_err(|e| e.to_string())?;
                let got = self
                    .primary
                    .get_item()
                    .table_name(primary_table)
                    .set_key(Some(key.to_attributes()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| format!("naive GetItem: {}", DisplayErrorContext(e)))?;
                match got.item {
                    Some(item) => self
                        .replica
                        .put_item()
                        .table_name(replica_table)
                        .set_item(Some(item))
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| format!("naive PutItem: {}", DisplayErrorContext(e))),
                    None => self
                        .replica
                        .delete_item()
                        .table_name(replica_table)
                        .set_key(Some(key.to_attributes()))
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| format!("naive DeleteItem: {}", DisplayErrorContext(e))),
                }
            })
            .buffer_unordered(self.tuning.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Runs the case's event through a fresh process built like the `replicator` binary.
    async fn child(
        &self,
        case: &Case,
        primary_table: &str,
        replica_table: &str,
    ) -> Result<ChildReport, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(exe);
        common::local_aws_env(&mut command)
            .args(["--child", case.name])
            .env("PRIMARY_TABLE", primary_table)
            .env("REPLICA_TABLE", replica_table)
            .env("PRIMARY_ENDPOINT_URL", &self.primary_endpoint)
            .env("REPLICA_ENDPOINT_URL", &self.replica_endpoint);
        let output = tokio::process::Command::from(command)
            .output()
            .await
            .map_err(|e| format!("child: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "child failed ({}): {stdout} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let field = |name: &str| -> Result<f64, String> {
            stdout
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("child: no {name} in {stdout:?}"))
        };
        let got = (
            field("failed")? as usize,
            field("keys")? as usize,
            field("puts")? as usize,
            field("deletes")? as usize,
        );
        check(case, "child", got)?;
        Ok(ChildReport {
            init_ms: field("init_ms")?,
            vmhwm_kb: field("vmhwm_kb")? as u64,
        })
    }

    /// Whether the replica table holds exactly what the primary table holds.
    async fn compare(&self, primary_table: &str, replica_table: &str) -> Result<(), String> {
        let diff = dyno::ops::diff::compare(
            &common::table_of(&self.admin_primary, primary_table),
            &common::table_of(&self.admin_replica, replica_table),
        )
        .await
        .map_err(|e| e.to_string())?;
        if diff.differences() > 0 {
            return Err(format!(
                "replica {replica_table} differs from primary {primary_table}: {} missing, {} extra, {} different of {} items",
                diff.missing.len(),
                diff.extra.len(),
                diff.different.len(),
                diff.items
            ));
        }
        Ok(())
    }
}

struct ChildReport {
    init_ms: f64,
    vmhwm_kb: u64,
}

/// The primary's reads among `calls` (only the engine's reads are `BatchGetItem`s).
fn read_calls(calls: &BTreeMap<String, u64>) -> u64 {
    calls.get("BatchGetItem").copied().unwrap_or(0)
}

/// `(failed records, keys, puts, deletes)` must be what the case implies.
fn check(case: &Case, who: &str, got: (usize, usize, usize, usize)) -> Result<(), String> {
    let present = case.present_keys();
    let expected = (0, case.keys, present, case.keys - present);
    if got != expected {
        return Err(format!(
            "{who}: (failed, keys, puts, deletes) = {got:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

fn put_request(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("put"),
        )
        .build()
}

fn delete_request(key: Item) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .expect("delete"),
        )
        .build()
}

// ---------------------------------------------------------------------------------------------
// The child: what a Lambda holds, and nothing else.

fn child(case_name: &str) -> ExitCode {
    let Some(case) = CASES.iter().find(|c| c.name == case_name) else {
        eprintln!("--child: no case named {case_name:?}");
        return ExitCode::FAILURE;
    };
    let runtime = runtime();
    let report = runtime.block_on(async {
        let started = Instant::now();
        let config = Config::from_env().map_err(|e| e.to_string())?;
        let sdk = load_sdk_config().await;
        let replicator = config.replicator(&sdk).await.map_err(|e| e.to_string())?;
        let init = started.elapsed();
        let event = case.event();
        let (response, summary) = replicator.handle(&event, None).await;
        Ok::<_, String>(format!(
            "init_ms={:.3} seconds={:.4} failed={} keys={} puts={} deletes={}",
            init.as_secs_f64() * 1000.0,
            summary.duration.as_secs_f64(),
            response.batch_item_failures.len(),
            summary.keys,
            summary.puts,
            summary.deletes
        ))
    });
    drop(runtime);
    match report {
        Ok(report) => {
            println!("{report} vmhwm_kb={}", common::vmhwm_kb("self"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("--child {case_name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Waits until a new table is ACTIVE (dynalite's `--createTableMs 0` still takes an event-loop
/// turn, and a busy machine can slip a request in before it).
async fn wait_active(client: &Client, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::TableStatus;
    for _ in 0..200 {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .ok()
            .and_then(|d| d.table?.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(format!("table {table} did not become ACTIVE"))
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` (in ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(") ")?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}
