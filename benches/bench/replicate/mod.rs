//! The replicator's group: what the replicator costs and how fast it is, against local
//! DynamoDB-compatible servers (dynalite: one for the primary, one for the replica), one line per
//! case.
//!
//! For each case the bench fills a primary table, builds the Kinesis event, and then, each on a
//! fresh replica table:
//! - runs the library's handler in this process (`seconds`, `calls`), `reps` times after one
//!   untimed run (`handler.rs`); its `cpu_seconds` is this process's CPU time from the event to
//!   the answer, as an invocation's (the replicator is built before it, as at the function's
//!   init);
//! - runs the floor, the unavoidable DynamoDB work done directly with the SDK: consistent
//!   `BatchGetItem` of the distinct keys (in the order the handler meets them) and
//!   `BatchWriteItem` of what comes back, at the same concurrency, with no decoding or
//!   bookkeeping (`floor_seconds`, and `floor_cpu_seconds` over the same span), interleaved with
//!   the above, also after one untimed run (`floor.rs`); `cpu_ratio` is the least handler CPU
//!   over the least floor CPU, and `cpu_ratio_median` the median of the CPU ratios within each
//!   pair (the machine's slow spells, which move both, cancel out); `ratio_to_floor` is the best handler run over the best floor run, and
//!   `ratio_median` the median of the ratios within each interleaved pair (the two agree when the
//!   machine is quiet) (`one_target.rs`);
//! - runs the naive design once: per record `GetItem(ConsistentRead)` + `PutItem`/`DeleteItem`
//!   at the same concurrency (`naive_seconds`, `floor.rs`);
//! - runs the handler once more in a child process that holds only what a Lambda would (the
//!   event and the replicator, built from the environment like the `replicator` binary), for
//!   `peak_rss_mb` (its `VmHWM`) and the init time (`child.rs`).
//!
//! A several-target case (`targets-3`, `targets.rs`) writes every key whole to `targets` fresh
//! tables from one read of the primary. Its floor reads the keys once and writes what came back
//! to every table, under one bound of `concurrency` calls in flight, as the engine does; it has no
//! naive run and no child. It prints the primary's `read_calls` beside those of the same event
//! replicated to one target (`one_target_read_calls`), and `target_ratio_to_floor` beside
//! `ratio_to_floor`.
//!
//! Every handler run is checked (no failures; the expected keys, puts and deletes, per target),
//! and after the child's run (or the untimed run, for a several-target case) every replica must
//! equal the primary. The bench exits non-zero otherwise, and when a several-target run read the
//! primary more often than the one-target run; it never judges seconds. `BENCH_SCALE` does not
//! apply here: the cases are as named.

pub mod child;
mod floor;
mod handler;
mod one_target;
mod shared;
mod targets;

use aws_lambda_events::event::kinesis::KinesisEvent;

use self::shared::Bench;
use crate::common::{self, kinesis_event};
use crate::shared::{Cases, Report, release_binary};

/// One benchmark case: `records` records over `keys` distinct keys, items of `item_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
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

pub const CASES: &[Case] = &[
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
                    common::thread_record(&shared::forum(k), &shared::subject(k), r as u64)
                })
                .collect(),
        )
    }
}

/// The group: the chosen cases, one line each, then the release `replicator`'s size and the
/// median init time of the children.
pub async fn run(cases: &Cases, report: &mut Report) {
    let bench = Bench::start().await;
    println!(
        "bench note=\"dynalite 4.0.0 x2 (primary, replica); concurrency={} calls in flight; \
         seconds and floor_seconds are the best of reps interleaved runs after one untimed run \
         each, ratio_median the median ratio within a pair, naive_seconds one run, \
         each on a fresh replica table; peak_rss_mb is VmHWM of a child process that handles the \
         event\"",
        bench.tuning.concurrency
    );
    let mut inits = Vec::new();
    for case in CASES.iter().filter(|case| cases.chosen(case.name)) {
        match case.targets {
            1 => inits.extend(one_target::run(&bench, case, report).await),
            _ => targets::run(&bench, case, report).await,
        }
    }

    inits.sort_by(f64::total_cmp);
    let init = inits.get(inits.len() / 2).copied().unwrap_or(f64::NAN);
    match release_binary("replicator").and_then(|b| std::fs::metadata(b).map_err(|e| e.to_string()))
    {
        Ok(meta) => println!(
            "bench binary=replicator size_bytes={} size_mb={:.2} init_ms={init:.1} \
             init=\"Config::from_env, SDK config, clients, DescribeTable of both tables; median \
             of {} fresh processes\"",
            meta.len(),
            meta.len() as f64 / (1024.0 * 1024.0),
            inits.len()
        ),
        Err(error) => {
            println!("bench binary=replicator error={error:?} init_ms={init:.1}");
            report.problem(error);
        }
    }
}
