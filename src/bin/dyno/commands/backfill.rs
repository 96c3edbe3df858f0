//! `dyno backfill`: announces every key of the primary on the stream (or, with `--direct`,
//! copies each item at once), so a table that already has items is brought onto the replica;
//! resumable with `--checkpoint`, and shareable between machines with `--segment-range`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use dyno::ops::backfill::{self, BackfillOptions};
use dyno::ops::checkpoint::Checkpoints;
use dyno::ops::scan::{Segments, ShareError};

use super::scan::{ScanArgs, item_count, rate, segments, ttl_of};
use super::sink::{DirectArg, key_sink};
use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};
use crate::progress;

/// Announce every key of the primary on the stream, so the replicator copies each item (to
/// adopt dyno on a table that already has items).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// Run only these segments, I..J (e.g. 0..8), of --total-segments: several machines can
    /// share a large table.
    #[arg(long, requires = "total_segments", value_parser = parse_range)]
    segment_range: Option<std::ops::Range<u32>>,
    /// The number of segments the table is split into, when --segment-range is given.
    #[arg(long, requires = "segment_range")]
    total_segments: Option<u32>,
    /// Keep each segment's progress in this file: a rerun resumes where this one stopped.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Announce items whose TTL has passed too (by default they are skipped and counted).
    #[arg(long)]
    include_expired: bool,
    #[command(flatten)]
    direct: DirectArg,
    /// With --direct: copy to these targets (filtered and projected) instead of
    /// --replica-table. Without --direct the keys go on the stream, and the replicator writes
    /// its own targets. After changing a target's filter, a backfill applies it to old items.
    #[command(flatten)]
    targets: TargetsArg,
}

fn parse_range(text: &str) -> Result<std::ops::Range<u32>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not I..J"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` in `{text}` is not a whole number"))
    };
    Ok(number(start)?..number(end)?)
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let table = at.primary();
    let schema = table.key_schema().await?;
    let segments = chosen_segments(&args)?;
    let sink = match (args.direct.direct, targets::specs(&args.targets)?) {
        (true, Some(specs)) => targets::sink(at, &specs).await?,
        _ => key_sink(at, &args.direct).await?,
    };
    let owner = backfill::owner(&table, &segments, &sink.fingerprint());
    let checkpoints = Checkpoints::load(args.checkpoint.clone(), owner)?;
    let already = checkpoints.len();
    if already > 0 {
        let file = args.checkpoint.as_deref().unwrap_or(Path::new(""));
        let count = segments.count();
        eprintln!(
            "resuming from {}: {already} of {count} segments were started or done",
            file.display()
        );
    }
    let ttl = match args.include_expired {
        true => None,
        false => ttl_of(&table).await?,
    };
    let options = BackfillOptions {
        segments: segments.clone(),
        rate: rate(&args.scan)?,
        ttl,
    };
    let progress_counts = backfill::Progress::default();
    let share = segments.count() as f64 / segments.total as f64;
    let bar = progress::bar(
        "announcing",
        "keys",
        (item_count(&table).await as f64 * share) as u64,
    );
    let ticker = progress::follow(&bar, || progress_counts.published.load(Ordering::Relaxed));
    let started = std::time::Instant::now();
    let run = backfill::backfill(
        &table,
        &schema,
        &sink,
        &options,
        &checkpoints,
        &progress_counts,
    );
    let result =
        tokio::select! { r = run => r, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    let report = result?;
    let went = format!("`{}` {}", table.name, sink.describe());
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    eprintln!(
        "{}",
        backfilled(&report, &went, &segments, seconds, args.direct.direct)
    );
    Ok(ExitCode::SUCCESS)
}

/// This run's share of the segments (`--segment-range` of `--total-segments`), else all of
/// `--segments`.
fn chosen_segments(args: &Args) -> Result<Segments, Failure> {
    match (&args.segment_range, args.total_segments) {
        (Some(range), Some(total)) => Segments::share(range.clone(), total).map_err(|e| {
            let flag = match e {
                ShareError::Total(_) => "--total-segments",
                ShareError::Range { .. } => "--segment-range",
            };
            usage(format!("{flag}: {e}"))
        }),
        _ => Ok(segments(&args.scan)),
    }
}

/// Backfill's closing line: what went where, how fast, and what to do next.
fn backfilled(
    report: &backfill::BackfillReport,
    went: &str,
    segments: &Segments,
    seconds: f64,
    direct: bool,
) -> String {
    let next = match direct {
        true => "run `dyno diff` to check nothing raced the live replicator",
        false => "the replicator copies them: watch the lag, then run `dyno diff`",
    };
    let scan = &report.scan;
    let expired = match report.expired {
        0 => String::new(),
        n => format!("; {n} expired items skipped (TTL passed; --include-expired announces them)"),
    };
    format!(
        "backfill: {} keys of {went} from segments {}..{} of {} in {seconds:.1} s ({:.0} items/s; {} segments done now, {} resumed, {} done before){expired}; {next}",
        report.published,
        segments.range.start,
        segments.range.end,
        segments.total,
        scan.items as f64 / seconds,
        scan.segments_done,
        scan.segments_resumed,
        scan.segments_already_done,
    )
}
