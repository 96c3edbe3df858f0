//! `dyno plan`: what a write load needs and costs per million writes (shards, Lambda, read and
//! write units), next to Global Tables' replicated writes, and its lag budget; with `--efo`, what
//! Kinesis enhanced fan-out adds; arithmetic only, no call to AWS.

use std::process::ExitCode;

use dyno::ops::plan::{Load, Prices, describe};
use dyno::ops::plan_seed::{self, EnginePrices, Seed};

use crate::Outcome;
use crate::failure::{Failure, usage};

/// What a write load needs and costs per million writes (shards, Lambda, read and write
/// units), next to Global Tables' replicated writes for the same load, and its lag budget.
/// Makes no call.
#[derive(clap::Args)]
pub struct Args {
    /// Writes per second to the primary.
    #[arg(long, default_value_t = 500.0)]
    writes_per_second: f64,
    /// Item size in KB.
    #[arg(long, default_value_t = 1.0)]
    item_kb: f64,
    /// Distinct keys per write within a batch (1: every write a new key; 0.1: hot keys).
    #[arg(long, default_value_t = 1.0)]
    distinct_fraction: f64,
    /// The event source mapping's BatchSize.
    #[arg(long, default_value_t = 1000.0)]
    batch_size: f64,
    /// The event source mapping's batching window, in seconds.
    #[arg(long, default_value_t = 1.0)]
    batching_window_seconds: f64,
    /// Global secondary indexes on the replica (each replicated write also writes them).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=20))]
    gsis: u32,
    /// The replicator's time for one batch, in ms, as `make bench` measures it (default: the
    /// model's Lambda duration).
    #[arg(long)]
    batch_ms: Option<f64>,
    /// The replicator's CPU per record, in µs, as `make bench` measures it (`cpu_seconds` over
    /// the records): sets each memory size's duration a batch.
    #[arg(long, default_value_t = dyno::ops::plan_memory::MEASURED_CPU_US_PER_RECORD)]
    cpu_us_per_record: f64,
    /// The lag the cheapest memory size is chosen within, in ms.
    #[arg(long, default_value_t = 3000.0)]
    lag_target_ms: f64,
    /// Add Kinesis enhanced fan-out (the template's EnhancedFanOut): its cost per million writes
    /// and per month for the plan's shards, and its lag budget next to polling's.
    #[arg(long)]
    efo: bool,
    /// Instead: seeding a replica of an existing table, priced both ways (backfill against
    /// export + import or export + load).
    #[arg(long, requires = "table_gb")]
    seed: bool,
    /// With --seed: the table's size in GB.
    #[arg(long)]
    table_gb: Option<f64>,
    /// With --seed: backfill's items a second (as `make bench` measures it here).
    #[arg(long, default_value_t = 17_000.0)]
    backfill_rate: f64,
    /// With --seed: load's items a second (as `make bench` measures it here).
    #[arg(long, default_value_t = 17_000.0)]
    load_rate: f64,
}

pub fn run(args: Args) -> Outcome {
    check(&args)?;
    if args.seed {
        return seed(&args);
    }
    let load = Load {
        writes_per_second: args.writes_per_second,
        item_kb: args.item_kb,
        distinct_fraction: args.distinct_fraction,
        batch_size: args.batch_size,
        batching_window_s: args.batching_window_seconds,
        gsis: f64::from(args.gsis),
        batch_ms: args.batch_ms,
        cpu_us_per_record: args.cpu_us_per_record,
        lag_target_ms: args.lag_target_ms,
        ..Load::default()
    };
    for line in describe(&load, &Prices::default(), args.efo) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--seed`: the ways to seed a replica of a table of `--table-gb`, side by side.
fn seed(args: &Args) -> Outcome {
    let table_gb = args.table_gb.unwrap_or_default();
    for (flag, value) in [
        ("--table-gb", table_gb),
        ("--backfill-rate", args.backfill_rate),
        ("--load-rate", args.load_rate),
    ] {
        if !(value.is_finite() && value > 0.0 && value <= 1e9) {
            return Err(usage(format!(
                "{flag} {value} must be above 0 and at most 1e9"
            )));
        }
    }
    let seed = Seed {
        table_gb,
        item_kb: args.item_kb,
        backfill_rate: args.backfill_rate,
        load_rate: args.load_rate,
    };
    for line in plan_seed::describe(&seed, &Prices::default(), &EnginePrices::default()) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A number flag's bounds: (flag, value, lowest, whether the lowest itself is allowed, highest,
/// why the highest).
type Bound = (&'static str, f64, f64, bool, f64, &'static str);

/// Each number flag is finite and within its bounds.
fn check(args: &Args) -> Result<(), Failure> {
    let batch_ms = args.batch_ms.map(|ms| {
        (
            "--batch-ms",
            ms,
            0.0,
            false,
            900_000.0,
            "Lambda's 15-minute limit",
        )
    });
    for (flag, value, low, low_ok, high, why) in bounds(args).into_iter().chain(batch_ms) {
        if value.is_finite() && value > high {
            return Err(usage(format!("{flag} {value} is more than {high} ({why})")));
        }
        let above = if low_ok { value >= low } else { value > low };
        if !(value.is_finite() && above) {
            let least = if low_ok { "at least" } else { "above" };
            return Err(usage(format!(
                "{flag} {value} must be a number {least} {low}, at most {high}"
            )));
        }
    }
    Ok(())
}

fn bounds(args: &Args) -> [Bound; 7] {
    [
        (
            "--cpu-us-per-record",
            args.cpu_us_per_record,
            0.0,
            false,
            1e6,
            "a second a record",
        ),
        (
            "--lag-target-ms",
            args.lag_target_ms,
            0.0,
            false,
            3.6e6,
            "an hour",
        ),
        (
            "--writes-per-second",
            args.writes_per_second,
            0.0,
            false,
            1e7,
            "a plan's limit",
        ),
        (
            "--item-kb",
            args.item_kb,
            0.0,
            false,
            400.0,
            "DynamoDB's item limit",
        ),
        (
            "--distinct-fraction",
            args.distinct_fraction,
            0.0,
            false,
            1.0,
            "every write a new key",
        ),
        (
            "--batch-size",
            args.batch_size,
            1.0,
            true,
            10_000.0,
            "an event source mapping's limit",
        ),
        (
            "--batching-window-seconds",
            args.batching_window_seconds,
            0.0,
            true,
            300.0,
            "an event source mapping's limit",
        ),
    ]
}
