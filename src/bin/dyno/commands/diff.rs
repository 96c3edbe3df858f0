//! `dyno diff`: compares the primary and the replica, at any size, by a parallel scan of both.
//! Exits 0 when equal, 1 when they differ, 2 on error; the differing keys can go to a file
//! (`--keys-out`) and be made to agree (`--repair`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dyno::aws::table::Table;
use dyno::ops::atomic_file::{self, Replacement};
use dyno::ops::diff::{Counts, DiffOptions, Difference, PageError, diff_stores};
use dyno::ops::sink::KeySink;
use dyno::replicate::engine::Engine;

use super::scan::{ScanArgs, item_count, rate, segments, ttl_of};
use super::sink::{DirectArg, key_sink, publisher};
use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, exit_failure_if, usage};
use crate::progress;

/// Compare the primary and the replica, at any size: exits 0 when equal, 1 when they
/// differ, 2 on error. With --repair, announces every differing key on the stream.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// Compare only this fraction of the pages (0 < F <= 1), for a quick spot check.
    #[arg(long)]
    sample: Option<f64>,
    /// Milliseconds a key that looks different is left to settle before it is read again.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Write each differing key to this file, one JSON line each:
    /// {"kind":"missing|extra|different","key":{…}} (keys only; `dyno announce --keys-file`
    /// reads it back).
    #[arg(long)]
    keys_out: Option<PathBuf>,
    /// Announce every differing key on the stream, so the replicator makes it agree.
    #[arg(long)]
    repair: bool,
    /// Compare items whose TTL has passed too (by default they are counted apart as expired:
    /// DynamoDB deletes them days late, on either table).
    #[arg(long)]
    strict_ttl: bool,
    #[command(flatten)]
    direct: DirectArg,
    #[command(flatten)]
    targets: TargetsArg,
}

/// Exit 0 when equal, 1 when they differ, 2 on any error.
pub async fn run(at: &Connected, args: Args) -> Outcome {
    diff(at, &args).await.map_err(|f| f.with_code(2))
}

async fn diff(at: &Connected, args: &Args) -> Outcome {
    if let Some(f) = args.sample.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
        return Err(usage(format!("--sample {f} must be above 0 and at most 1")));
    }
    if let Some(specs) = targets::specs(&args.targets)? {
        return diff_targets(at, args, &specs).await;
    }
    let (primary, replica) = (at.primary(), at.replica().await?);
    let options = options(args, &primary).await?;
    let repair = match args.repair {
        true => Some(key_sink(at, &args.direct).await?),
        false => None,
    };
    let found = Found::new(args)?;
    let counts = Counts::default();
    let total = item_count(&primary).await + item_count(&replica).await;
    let bar = progress::bar("comparing", "items", total);
    let ticker = progress::follow(&bar, || {
        counts.primary_items.load(Ordering::Relaxed) + counts.replica_items.load(Ordering::Relaxed)
    });
    let result = dyno::ops::diff::diff(&primary, &replica, &options, &counts, |d| {
        found.handle(d, None, repair.as_ref())
    });
    let result =
        tokio::select! { r = result => r, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    let report = result?;
    let repaired = repair.as_ref().map(|sink| sink.describe());
    let announced = found.finish()?;
    match report.expired {
        0 => println!("{}", report.summary()),
        _ => println!("{}; --strict-ttl compares them", report.summary()),
    }
    match repaired {
        Some(how) if args.direct.direct => println!(
            "repair: {announced} keys {how}; run `dyno diff` again to check nothing raced the live replicator"
        ),
        Some(how) => println!(
            "repair: {announced} keys {how}; the replicator makes them agree (run `dyno diff` again once it has drained the stream)"
        ),
        None => {}
    }
    Ok(exit_failure_if(report.differences() > 0))
}

/// How to compare, from the flags and the primary's TTL.
async fn options(args: &Args, primary: &Table) -> Result<DiffOptions, Failure> {
    Ok(DiffOptions {
        segments: segments(&args.scan),
        rate: rate(&args.scan)?,
        sample: args.sample,
        settle: Duration::from_millis(args.settle_ms),
        ttl: ttl_of(primary).await?,
        strict_ttl: args.strict_ttl,
    })
}

/// `--targets`: each target against what its filter and projection make of its primary's
/// items, one summary line each; exits 1 when any differs.
async fn diff_targets(at: &Connected, args: &Args, specs: &targets::Chosen) -> Outcome {
    let engines = targets::engines(at, specs, &at.tuning).await?;
    let found = Found::new(args)?;
    let mut differing = 0;
    for engine in &engines {
        let mut primary = at.primary();
        primary.name = engine.primary().name().to_owned();
        let options = options(args, &primary).await?;
        let repair = repair_sink(at, args, engine, &primary).await?;
        for target in engine.targets() {
            let counts = Counts::default();
            let shaped = (target.store.as_ref(), &target.shape);
            let handle = |d| found.handle(d, Some(&target.name), repair.as_ref());
            let report = diff_stores(
                engine.primary(),
                shaped,
                engine.schema(),
                &options,
                &counts,
                handle,
            )
            .await?;
            differing += usize::from(report.differences() > 0);
            println!("target `{}`: {}", target.name, report.summary());
        }
    }
    let announced = found.finish()?;
    if args.repair {
        println!(
            "repair: {announced} keys {}; run `dyno diff --targets` again once they are replicated",
            match args.direct.direct {
                true => "copied to their targets",
                false => "announced, each for the primary its target follows",
            }
        );
    }
    Ok(exit_failure_if(differing > 0))
}

/// Where `--repair` sends the differing keys of `engine`'s targets: copied at once by that
/// engine (`--direct`), or announced on the stream naming the primary they follow (`primary`,
/// by the ARN DynamoDB gives it), so the replicator hands them to that primary's targets.
async fn repair_sink(
    at: &Connected,
    args: &Args,
    engine: &Engine,
    primary: &Table,
) -> Result<Option<KeySink>, Failure> {
    if !args.repair {
        return Ok(None);
    }
    if args.direct.direct {
        return Ok(Some(KeySink::Replica(Box::new(engine.clone()))));
    }
    let arn = primary.identity().await?.arn.ok_or_else(|| {
        usage(format!(
            "{}: DescribeTable gave no TableArn to name it by in the records",
            primary.label()
        ))
    })?;
    Ok(Some(KeySink::Stream(
        publisher(at).await?.with_table_arn(arn),
    )))
}

/// What `diff` does with the differing keys of each page: write them to `--keys-out` (which
/// replaces the file only when the comparison completes), and with `--repair` announce them.
struct Found {
    keys_out: Option<(Replacement, Mutex<std::io::BufWriter<std::fs::File>>)>,
    announced: AtomicU64,
}

impl Found {
    fn new(args: &Args) -> Result<Self, Failure> {
        let keys_out = match &args.keys_out {
            Some(path) => {
                let flag = |e: &dyn std::fmt::Display| usage(format!("--keys-out: {e}"));
                let mut file = atomic_file::begin(path).map_err(|e| flag(&e))?;
                let out = file.file().try_clone().map_err(|e| flag(&e))?;
                Some((file, Mutex::new(std::io::BufWriter::new(out))))
            }
            None => None,
        };
        Ok(Found {
            keys_out,
            announced: AtomicU64::new(0),
        })
    }

    /// Writes `differences` (of `target`, when comparing targets) out, and sends them to
    /// `repair` when given.
    async fn handle(
        &self,
        differences: Vec<Difference>,
        target: Option<&str>,
        repair: Option<&KeySink>,
    ) -> Result<(), PageError> {
        if let Some((_, out)) = &self.keys_out {
            let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
            for d in &differences {
                writeln!(out, "{}", d.to_line(target)).map_err(|e| PageError::Handled(e.into()))?;
            }
        }
        if let Some(sink) = repair {
            // An expired item (compared only when asked to) is left to TTL, never repaired.
            let keys: Vec<_> = (differences.into_iter())
                .filter(|d| !d.expired)
                .map(|d| d.key)
                .collect();
            let count = keys.len() as u64;
            sink.send(keys)
                .await
                .map_err(|e| PageError::Handled(e.into()))?;
            self.announced.fetch_add(count, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Flushes `--keys-out` and puts it in place; returns how many keys were announced.
    fn finish(self) -> Result<u64, Failure> {
        if let Some((file, out)) = self.keys_out {
            let mut out = out.into_inner().unwrap_or_else(|e| e.into_inner());
            out.flush().map_err(|e| usage(format!("--keys-out: {e}")))?;
            file.commit()
                .map_err(|e| usage(format!("--keys-out: {e}")))?;
        }
        Ok(self.announced.into_inner())
    }
}
