//! How `diff` and `backfill` scan a table: the segments and rate flags, the table's TTL, and its
//! approximate item count for a progress bar.

use dyno::aws::table::Table;
use dyno::ops::definition;
use dyno::ops::scan::Segments;
use dyno::ops::ttl::Ttl;

use crate::failure::{Failure, usage};

/// How much of the table to scan, and how fast.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// Parallel scan segments [default: four per core, 4 to 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub segments: Option<u32>,
    /// Items scanned per second, over all segments (hold the scan to a share of the table's
    /// read capacity) [default: as fast as the table answers].
    #[arg(long)]
    pub rate: Option<f64>,
}

/// `--segments`, else as many as suit this machine.
pub fn segments(args: &ScanArgs) -> Segments {
    args.segments
        .map_or_else(Segments::for_this_machine, Segments::all)
}

/// `--rate`, checked to be a number of items per second above 0.
pub fn rate(args: &ScanArgs) -> Result<Option<f64>, Failure> {
    match args.rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(usage(format!(
            "--rate {r} must be a number of items per second above 0"
        ))),
        other => Ok(other),
    }
}

/// The table's TTL, judged now, once the table is known to exist (so that a missing table is
/// named by `DescribeTable`).
pub async fn ttl_of(table: &Table) -> Result<Option<Ttl>, Failure> {
    table.describe().await?;
    Ok(definition::ttl_attribute(table).await?.map(Ttl::now))
}

/// DescribeTable's item count (updated about every six hours), for a progress bar's length.
pub async fn item_count(table: &Table) -> u64 {
    let known = table.describe().await.ok().and_then(|d| d.item_count());
    known.map_or(0, |n| n.max(0) as u64)
}
