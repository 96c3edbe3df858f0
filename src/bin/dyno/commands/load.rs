//! `dyno load`: loads a full DynamoDB export (from S3) into the existing replica, or into each
//! target of `--targets` that follows --table (filtered and projected as the replicator would),
//! file by file, resumably with `--checkpoint`; then says where the catch-up starts.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use dyno::ops::checkpoint::{Checkpoints, Owner};
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
    #[arg(long)]
    rate: Option<f64>,
    /// Load items whose TTL has passed too (by default they are skipped and counted).
    #[arg(long)]
    include_expired: bool,
    #[command(flatten)]
    targets: TargetsArg,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(usage("--rate must be a number of items a second above 0"));
    }
    let (s3, export) = from_export::open(at, &args.export, args.s3_endpoint_url.as_deref()).await?;
    from_export::check_full(&export, "`load`")?;
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
    Ok(exit_failure_if(!failed.is_empty()))
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
    let (mut done, mut skipped, mut failed) = (0, 0, Vec::new());
    for file in &export.files {
        let key = &file.data_file_s3_key;
        if checkpoints.ended(key) {
            skipped += 1;
            continue;
        }
        match load::load_file(s3, &export.place.bucket, file, engine, &calls, how).await {
            Ok(_) => {
                checkpoints.end(key)?;
                done += 1;
            }
            Err(error) => failed.push((key.clone(), error)),
        }
    }
    Ok((done, skipped, failed))
}
