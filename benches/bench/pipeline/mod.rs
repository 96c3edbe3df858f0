//! The pipeline's group: the rest of the pipeline, each figure against a floor measured in the
//! same run, on local servers (dynalite for tables, kinesalite for the key stream), one
//! `bench case=…` line per case. Items are ~200 bytes with distinct keys; every client uses
//! `Tuning::default()`.
//!
//! - `writer-{1,16,64}` (`writer.rs`): N writes through `Writer` (`PutItem`, then the key record
//!   by group commit) at that many concurrent callers, against bare `PutItem`, and against bare
//!   `PutItem` then a bare one-record `PutRecords` (the writer's calls at one caller, with
//!   nothing of its own: the floor of its CPU), interleaved; and the naive writer before group
//!   commit.
//! - `lag-500wps` (`lag.rs`): writes paced at 500/s through writer -> 2-shard stream -> `Runner`
//!   -> `Replicator` -> replica, against the same paced workload done bare.
//! - `shards-{1,2,4}` (`shards.rs`): an announced backlog drained through 1, 2 and 4 shards; the
//!   floor is the 1-shard figure.
//! - `backfill-20k` (`backfill.rs`): `backfill` against a bare keys-only parallel `Scan`, and the
//!   same scan publishing with bare `PutRecords`.
//! - `diff-rss-20k`, `diff-rss-100k` (`diff_rss.rs`): the release `dyno diff`'s peak RSS, the
//!   floor being the 20k figure.
//! - `load-133k` (`load.rs`): the release `dyno load` of AWS's own export sample: items/s against
//!   bare `BatchWriteItem` calls of the same items, and peak RSS, four data files against one.
//! - `regional` (`regional.rs`): session reads against plain replica reads, and the share of a
//!   session's reads the replica serves at 500 writes/s.
//!
//! Each file says how its case is measured and checked. A group's reference case (e.g.
//! `shards-1` for `shards-4`) is measured whenever the group runs; `BENCH_SCALE` (default 1)
//! scales item counts and durations. The helpers the cases share are in `shared.rs`.

mod backfill;
mod diff_rss;
mod lag;
mod load;
mod regional;
mod shards;
mod shared;
mod writer;

use std::time::Duration;

use self::shared::scale;
use crate::shared::{Cases, Report};

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

pub const CASES: &[&str] = &[
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
    "regional",
];

/// The group: the chosen cases, one line each.
pub async fn run(cases: &Cases, report: &mut Report) {
    let any = |prefix: &str| (CASES.iter()).any(|c| c.starts_with(prefix) && cases.chosen(c));
    println!(
        "bench note=\"pipeline: dynalite 4.0.0 (tables) and kinesalite 3.3.3 (stream) on this \
         machine; scale={:.3}; items of ~{ITEM_BYTES} bytes; each figure beside its floor from \
         the same run; best of {REPS} interleaved reps where stated; targets are printed, \
         never judged\"",
        scale()
    );
    if any("writer-") {
        writer::writers(cases, report).await;
    }
    if cases.chosen("lag-500wps") {
        report.emit("lag-500wps", lag::lag().await);
    }
    if any("shards-") {
        shards::shards(cases, report).await;
    }
    if cases.chosen("backfill-20k") {
        report.emit("backfill-20k", backfill::backfills().await);
    }
    if any("diff-rss-") {
        diff_rss::diff_rss(cases, report).await;
    }
    if cases.chosen("load-133k") {
        report.emit("load-133k", load::load_case().await);
    }
    if cases.chosen("regional") {
        report.emit("regional", regional::regional_case().await);
    }
}
