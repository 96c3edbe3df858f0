//! `dyno demo`: the main job, locally, start to end; the steps are in the demo's own module
//! (`crate::demo`), this is its subcommand: the flags, and what it prints.

use dyno::local::workload;

use crate::Outcome;
use crate::connect::Connected;
use crate::demo::{self, Setup};
use crate::failure::exit_failure_if;

/// The main job, locally: the tables and stream, a mixed workload through the writer,
/// replication by the local event source mapping, and a full comparison.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 300)]
    keys: usize,
    #[arg(long, default_value_t = 3000)]
    ops: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Delete and create the tables and the stream first (local servers only).
    #[arg(long)]
    recreate: bool,
}

/// Runs on the local servers whatever the flags say (`commands::run` connects it locally).
pub async fn run(at: &Connected, args: Args) -> Outcome {
    let setup = Setup {
        primary: at.primary(),
        replica: at.replica().await?,
        stream: at.stream(),
        shards: 2,
        recreate: args.recreate,
    };
    let spec = workload::Spec {
        seed: args.seed,
        keys: args.keys,
        ops: args.ops,
        ..workload::Spec::default()
    };
    let report = demo::run(&setup, &spec, |line| println!("{line}")).await?;
    for line in demo::describe(&report) {
        println!("{line}");
    }
    Ok(exit_failure_if(report.diff.differences() > 0))
}
