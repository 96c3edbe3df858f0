//! `dyno diff`: compares the primary and the replica, at any size, by a parallel scan of both.
//! Exits 0 when equal, 1 when they differ, 2 on error; the differing keys can go to a file
//! (`--keys-out`) and be made to agree (`--repair`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dyno::ops::atomic_file::{self, Replacement};
use dyno::ops::diff::{Counts, DiffOptions, Difference, PageError};
use dyno::ops::sink::KeySink;

use super::scan::{ScanArgs, item_count, rate, segments, ttl_of};
use super::sink::{DirectArg, key_sink};
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
}

/// Exit 0 when equal, 1 when they differ, 2 on any error.
pub async fn run(at: &Connected, args: Args) -> Outcome {
    diff(at, &args).await.map_err(|f| f.with_code(2))
}

async fn diff(at: &Connected, args: &Args) -> Outcome {
    let (primary, replica) = (at.primary(), at.replica().await?);
    if let Some(f) = args.sample.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
        return Err(usage(format!("--sample {f} must be above 0 and at most 1")));
    }
    let options = DiffOptions {
        segments: segments(&args.scan),
        rate: rate(&args.scan)?,
        sample: args.sample,
        settle: Duration::from_millis(args.settle_ms),
        ttl: ttl_of(&primary).await?,
        strict_ttl: args.strict_ttl,
    };
    let found = Found::new(at, args).await?;
    let counts = Counts::default();
    let total = item_count(&primary).await + item_count(&replica).await;
    let bar = progress::bar("comparing", "items", total);
    let ticker = progress::follow(&bar, || {
        counts.primary_items.load(Ordering::Relaxed) + counts.replica_items.load(Ordering::Relaxed)
    });
    let result = dyno::ops::diff::diff(&primary, &replica, &options, &counts, |d| found.handle(d));
    let result =
        tokio::select! { r = result => r, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    let report = result?;
    let repaired = found.repair.as_ref().map(|sink| sink.describe());
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

/// What `diff` does with the differing keys of each page: write them to `--keys-out` (which
/// replaces the file only when the comparison completes), and with `--repair` announce them.
struct Found {
    keys_out: Option<(Replacement, Mutex<std::io::BufWriter<std::fs::File>>)>,
    repair: Option<KeySink>,
    announced: AtomicU64,
}

impl Found {
    async fn new(at: &Connected, args: &Args) -> Result<Self, Failure> {
        let keys_out = match &args.keys_out {
            Some(path) => {
                let flag = |e: &dyn std::fmt::Display| usage(format!("--keys-out: {e}"));
                let mut file = atomic_file::begin(path).map_err(|e| flag(&e))?;
                let out = file.file().try_clone().map_err(|e| flag(&e))?;
                Some((file, Mutex::new(std::io::BufWriter::new(out))))
            }
            None => None,
        };
        let repair = match args.repair {
            true => Some(key_sink(at, &args.direct).await?),
            false => None,
        };
        Ok(Found {
            keys_out,
            repair,
            announced: AtomicU64::new(0),
        })
    }

    async fn handle(&self, differences: Vec<Difference>) -> Result<(), PageError> {
        if let Some((_, out)) = &self.keys_out {
            let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
            for d in &differences {
                writeln!(out, "{}", d.to_line()).map_err(|e| PageError::Handled(e.into()))?;
            }
        }
        if let Some(sink) = &self.repair {
            let keys: Vec<_> = differences.into_iter().map(|d| d.key).collect();
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
