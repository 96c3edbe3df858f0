//! `make bench`: what the replicator and the rest of the pipeline cost, and how fast they are,
//! on local servers, one `bench case=…` line per case, each figure beside a floor measured in the
//! same run. One bench binary for both groups, in a package of its own (`benches/Cargo.toml`:
//! the shipped features, built once with the shipped binaries):
//!
//! - [`replicate`]: the replicator's handler (calls, speed against its floor and a naive loop,
//!   peak memory), on two dynalites: `10k-distinct`, `10k-over-2k`, `1k-20pct-deletes`,
//!   `2k-64kb-items`, `single-record`, `targets-3`; then the release `replicator`'s size and init;
//! - [`pipeline`]: the writer, the lag end to end, shards, backfill, `dyno diff`'s memory,
//!   seeding and the second region's reads, with kinesalite (and moto) too: `writer-{1,16,64}`,
//!   `lag-500wps`, `shards-{1,2,4}`, `backfill-20k`, `diff-rss-{20k,100k}`, `load-133k`,
//!   `regional`.
//!
//! `BENCH_CASES=a,b` runs only those cases, of either group (a name no group knows is an error);
//! `BENCH_SCALE` (default 1) scales the pipeline's item counts and durations. `--child CASE` is
//! the replicator group's child process (see `replicate/child.rs`): this binary runs itself for
//! the handler's peak memory. It exits non-zero when a check fails; it prints targets beside the
//! figures but never judges seconds.

#[path = "../../tests/it/common/mod.rs"]
mod common;
mod pipeline;
mod replicate;
mod shared;

use std::process::ExitCode;

use shared::{Cases, Report};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        return replicate::child::run(args.get(at + 1).map(String::as_str).unwrap_or_default());
    }
    let cases = Cases::from_env();
    let known: Vec<&str> = (replicate::CASES.iter().map(|c| c.name))
        .chain(pipeline::CASES.iter().copied())
        .collect();
    let unknown = cases.unknown(&known);
    if !unknown.is_empty() {
        eprintln!(
            "bench: BENCH_CASES names no case {unknown:?}; the cases are {}",
            known.join(",")
        );
        return ExitCode::FAILURE;
    }
    let mut report = Report::default();
    shared::runtime().block_on(async {
        if replicate::CASES.iter().any(|c| cases.chosen(c.name)) {
            replicate::run(&cases, &mut report).await;
        }
        if pipeline::CASES.iter().any(|c| cases.chosen(c)) {
            pipeline::run(&cases, &mut report).await;
        }
    });
    report.finish()
}
