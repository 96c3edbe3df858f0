//! `dyno export` (alias `scan`): writes every item of the primary as line-delimited DynamoDB
//! JSON, to standard output or to a file replaced only once the export is complete.

use std::path::PathBuf;
use std::process::ExitCode;

use dyno::ops::jsonl::{self, Target};

use crate::Outcome;
use crate::connect::Connected;
use crate::progress;

/// Write every item of the primary as line-delimited DynamoDB JSON ('{"Item":{…}}'). A file
/// is replaced only once the export is complete, and keeps its permissions; anything but a
/// regular file or a new path (a device, a FIFO, a symbolic link) is refused.
#[derive(clap::Args)]
#[command(alias = "scan")]
pub struct Args {
    /// The file; `-` or none: standard output.
    file: Option<PathBuf>,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let table = at.primary();
    let target = match args.file {
        Some(path) if path.as_os_str() != "-" => Target::File(path),
        _ => Target::Stdout,
    };
    // DescribeTable's item count (updated about every six hours) gives the bar its length.
    let known = table.describe().await.ok().and_then(|d| d.item_count());
    let bar = match known {
        Some(total) if total > 0 => progress::bar("exporting", "items", total as u64),
        _ => progress::counter("exporting", "items"),
    };
    let result = jsonl::export(&table, &target, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let count = result?;
    eprintln!("exported {count} items from `{}`", table.name);
    Ok(ExitCode::SUCCESS)
}
