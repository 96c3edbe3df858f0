//! `dyno export-s3`: asks DynamoDB for an export of --table to S3 (from point-in-time recovery:
//! full, as of a moment, or incremental, of a window), waits for it, and says where it is and as
//! of when: what `load`, `create --from-export` and `announce --from-export` take.

use chrono::{DateTime, Utc};
use dyno::ops::export_table::{self, ExportWhat};

use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{exit_failure_if, usage};
use crate::progress;

/// Export --table to S3 with DynamoDB's own engine (point-in-time recovery must be on).
#[derive(clap::Args)]
pub struct Args {
    /// The bucket the export goes to.
    #[arg(long)]
    bucket: String,
    /// A prefix for the export's keys in the bucket.
    #[arg(long)]
    prefix: Option<String>,
    /// The moment to export the table as of (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "incremental")]
    at: Option<DateTime<Utc>>,
    /// An incremental export: what changed from --from to --to (to heal a gap with `dyno
    /// announce --from-export`).
    #[arg(long, requires_all = ["from", "to"])]
    incremental: bool,
    /// With --incremental: the window's start (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "incremental")]
    from: Option<DateTime<Utc>>,
    /// With --incremental: the window's end (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "incremental")]
    to: Option<DateTime<Utc>>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e}), e.g. 2026-12-07T06:00:00Z"))
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let what = match (args.incremental, args.from, args.to) {
        (true, Some(from), Some(to)) if from < to => ExportWhat::Incremental { from, to },
        (true, _, _) => return Err(usage("--from must be before --to")),
        (false, _, _) => ExportWhat::Full { at: args.at },
    };
    let table = at.primary();
    let bar = progress::counter("exporting", "polls");
    let place = (args.bucket.as_str(), args.prefix.as_deref());
    let done = export_table::export(&table, place, what, |_| bar.inc(1)).await;
    bar.finish_and_clear();
    let done = done?;
    let folder = done.folder.clone().unwrap_or_else(|| {
        let prefix = args.prefix.as_deref().map_or(String::new(), |p| format!("{p}/"));
        format!(
            "s3://{}/{prefix}AWSDynamoDB/ (DynamoDB named no manifest: look for the export's id there)",
            args.bucket
        )
    });
    println!("export: {}", done.arn);
    println!("status: {}", done.status);
    println!("folder: {folder}");
    if let Some(time) = &done.export_time {
        println!("exportTime: {time}");
    }
    if let Some(items) = done.items {
        println!("items: {items}");
    }
    if let Some(failure) = &done.failure {
        eprintln!("the export failed: {failure}");
    }
    let failed = done.status != "COMPLETED";
    if !failed {
        eprintln!(
            "next: `dyno create --from-export {folder}` (a new replica) or `dyno load --export \
             {folder}` (an existing one), then replicate from before its exportTime"
        );
    }
    Ok(exit_failure_if(failed))
}
