//! `dyno load`: loads a full DynamoDB export (from S3) into the existing replica, or into each
//! target of `--targets` that follows --table (filtered and projected as the replicator would),
//! file by file, resumably with `--checkpoint`; then says where the catch-up starts.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use dyno::ops::checkpoint::{Checkpoints, Owner};
use dyno::ops::export_file;
use dyno::ops::export_manifest::DataFile;
use dyno::ops::export_source::Export;
use dyno::ops::load::{self, LoadError, LoadOptions, Progress};
use dyno::replicate::engine::Engine;
use tokio::sync::Semaphore;

use super::from_export;
use super::scan::ttl_of;
use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, exit_failure_if, usage};
use crate::progress;

/// Load a full export of --table (DynamoDB's export to S3) into the existing replica, or into
/// each target of --targets that follows --table.
#[derive(clap::Args)]
pub struct Args {
    /// The export: s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT-ID/ or its ARN.
    #[arg(long, value_name = "EXPORT")]
    export: String,
    /// S3 endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_S3_ENDPOINT_URL")]
    s3_endpoint_url: Option<String>,
    /// Record each finished data file in this file: a rerun loads only the others.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Items written per second, at most.
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Load items whose TTL has passed too (by default they are skipped and counted).
    #[arg(long)]
    include_expired: bool,
    #[command(flatten)]
    targets: TargetsArg,
    /// Where the catch-up will come from: a Kinesis key stream, or the table's own DynamoDB
    /// stream (24 hours: the seed is complete only if the export is younger than that).
    #[arg(long, value_enum, default_value_t = from_export::CatchUpSource::Kinesis)]
    source: from_export::CatchUpSource,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    if args.rate.is_some_and(|r| !(0.1..=1e9).contains(&r)) {
        return Err(usage(
            "--rate must be a number of items a second from 0.1 to 1e9",
        ));
    }
    let (s3, export) = from_export::open(at, &args.export, args.s3_endpoint_url.as_deref()).await?;
    from_export::check_full(&export, "`load`")?;
    if export.summary.as_of().is_none() {
        return Err(usage(format!(
            "{}: its summary gives no exportTime, so the catch-up's position cannot be said; \
             use an export that does",
            export.place.shown()
        )));
    }
    let primary = at.primary();
    let engine = engine(at, &args).await?;
    let owner = Owner::new("load")
        .with("export", export.place.shown())
        .with(
            "keys",
            dyno::ops::sink::KeySink::Replica(Box::new(engine.clone())).fingerprint(),
        );
    let checkpoints = Checkpoints::load(args.checkpoint.clone(), owner)?;
    let ttl = match args.include_expired {
        true => None,
        false => ttl_of(&primary).await?,
    };
    let options = LoadOptions {
        rate: args.rate,
        ttl,
    };
    let counts = Progress::default();
    let total = export.summary.item_count.unwrap_or_default();
    let bar = progress::bar("loading", "items", total);
    let ticker = progress::follow(&bar, || {
        counts.written.load(Ordering::Relaxed) + counts.expired.load(Ordering::Relaxed)
    });
    let work = load_all(&s3, &export, &engine, &checkpoints, (&options, &counts));
    let (done, skipped, failed) =
        tokio::select! { r = work => r?, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    for (_, error) in &failed {
        eprintln!("not loaded: {error}");
    }
    let written = counts.written.load(Ordering::Relaxed);
    let expired = counts.expired.load(Ordering::Relaxed);
    eprintln!(
        "load: {written} items written from {done} data files ({skipped} done before, {} not \
         loaded), {expired} expired items skipped, of {} in {}",
        failed.len(),
        export.files.len(),
        export.place.shown()
    );
    eprintln!("{}", from_export::catch_up(&export));
    let window = from_export::inside_window(&export, args.source, chrono::Utc::now());
    if let Err(why) = &window {
        eprintln!("{why}");
    }
    Ok(exit_failure_if(!failed.is_empty() || window.is_err()))
}

/// The engine that writes --table's items: to --targets (those that follow --table), else to
/// --replica-table.
async fn engine(at: &Connected, args: &Args) -> Result<Engine, Failure> {
    let mut engines = match targets::specs(&args.targets)? {
        Some(chosen) => {
            let table = at.primary().name;
            let mut mine = chosen.clone();
            mine.specs
                .retain(|s| s.source.as_deref().is_none_or(|t| t == table));
            if mine.is_empty() {
                return Err(usage("--targets: no target follows --table"));
            }
            targets::engines(at, &mine, &at.tuning).await?
        }
        None => {
            let (primary, replica) = (at.primary(), at.replica().await?);
            vec![Engine::connect(primary, replica, at.tuning.clone()).await?]
        }
    };
    engines
        .pop()
        .ok_or_else(|| usage("--targets: no target follows --table"))
}

/// Every data file not done before: the counts of files loaded and done before, and each file
/// that was not loaded, with why. A checkpoint that cannot be written stops the load.
async fn load_all(
    s3: &aws_sdk_s3::Client,
    export: &Export,
    engine: &Engine,
    checkpoints: &Checkpoints,
    how: (&LoadOptions, &Progress),
) -> Result<(usize, usize, Vec<(String, LoadError)>), Failure> {
    let calls = Semaphore::new(engine.tuning().concurrency.max(1));
    let (left, before): (Vec<_>, Vec<_>) =
        (export.files.iter()).partition(|file| !checkpoints.ended(&file.data_file_s3_key));
    let fetch = |file: &DataFile| {
        let (s3, bucket, file) = (s3.clone(), export.place.bucket.clone(), file.clone());
        tokio::spawn(async move { export_file::fetch(&s3, &bucket, &file).await })
    };
    // The next file is fetched and checked (to a temporary file) while this one is written:
    // one file is written at a time, so memory stays that of a few batches.
    let mut next = left.first().map(|file| fetch(file));
    let (mut done, mut failed) = (0, Vec::new());
    for (n, file) in left.iter().enumerate() {
        let key = file.data_file_s3_key.clone();
        let fetching = next.take();
        next = left.get(n + 1).map(|file| fetch(file));
        let fetched = match fetching {
            Some(task) => task
                .await
                .map_err(|e| usage(format!("{key}: fetching it stopped: {e}")))?,
            None => continue,
        };
        let loaded = match fetched {
            Ok(fetched) => load::write_file(fetched, engine, &calls, how).await,
            Err(error) => Err(LoadError::File(error)),
        };
        match loaded {
            Ok(_) => {
                checkpoints.end(&key)?;
                done += 1;
            }
            Err(error) => failed.push((key, error)),
        }
    }
    Ok((done, before.len(), failed))
}
