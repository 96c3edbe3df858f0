//! `dyno replicate`: runs the local event source mapping, replicating from the key stream (or the
//! primary table's own DynamoDB stream) to the replica, until drained or, with `--follow`,
//! until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Runner, RunnerOptions, StartingPosition};
use dyno::local::shards::DynamoDbStreamSource;
use dyno::local::stop::Stop;
use dyno::replicate::dead_letter::DeadLetterQueue;
use dyno::replicate::replicator::Replicator;

use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};
use crate::progress;

/// Run the local event source mapping: replicate from the stream to the replica.
#[derive(clap::Args)]
pub struct Args {
    /// Records per batch (1 to 10,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    batch_size: u16,
    /// Milliseconds to gather records before a partial batch.
    #[arg(long, default_value_t = 0)]
    batching_window_ms: u64,
    #[arg(long, value_enum, default_value_t = Start::TrimHorizon)]
    starting_position: Start,
    /// Start each shard with no checkpoint at the first record that reached the stream at or
    /// after this time (RFC 3339, e.g. 2026-12-07T06:00:00Z): the catch-up after `dyno load`,
    /// from before the export's time (Kinesis source only).
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "starting_position")]
    from_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep per-shard positions in this file (a restart resumes from it).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Keep following the stream instead of stopping once it is drained.
    #[arg(long)]
    follow: bool,
    /// Where the records come from: the Kinesis key stream (--stream), or the primary table's
    /// own DynamoDB stream (its latest; the table needs a stream, of any view type).
    #[arg(long, value_enum, default_value_t = SourceKind::Kinesis)]
    source: SourceKind,
    /// DynamoDB Streams endpoint (local servers) [default: --endpoint-url, else AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_STREAMS_ENDPOINT_URL")]
    streams_endpoint_url: Option<String>,
    /// Retries of a failing batch before its lowest failing record is skipped (the run then
    /// exits non-zero and names it); -1: retry until it succeeds.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-1..))]
    max_retries: i64,
    #[command(flatten)]
    queue: OptionalQueueArgs,
    /// An archive replica that keeps what the primary's TTL deletes (it must not have TTL): a
    /// TTL delete writes the item's old image (a stream with images: OLD_IMAGE or
    /// NEW_AND_OLD_IMAGES), or else leaves the replica's item alone. TTL deletes come on the
    /// table's own stream (--source dynamodb-stream) and on a Kinesis Data Streams for DynamoDB
    /// stream (--source kinesis); a dyno key stream never carries one, so with it this changes
    /// nothing.
    #[arg(long)]
    keep_ttl_deletes: bool,
    #[command(flatten)]
    targets: TargetsArg,
}

/// The dead-letter queue, if unusable records are to go to one.
#[derive(clap::Args)]
pub struct OptionalQueueArgs {
    /// Send unusable records to this SQS queue instead of retrying them.
    #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
    dead_letter_queue_url: Option<String>,
    /// SQS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DEAD_LETTER_ENDPOINT_URL")]
    sqs_endpoint_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SourceKind {
    Kinesis,
    DynamodbStream,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Start {
    TrimHorizon,
    Latest,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    if args.from_timestamp.is_some() && matches!(args.source, SourceKind::DynamodbStream) {
        return Err(usage(
            "--from-timestamp: a DynamoDB stream has no AT_TIMESTAMP; it starts at its trim \
             horizon (24 hours back at most), which is where --source dynamodb-stream starts",
        ));
    }
    let replicator = replicator(at, &args).await?;
    let options = options(&args);
    // Following: until Ctrl-C; else a drain.
    let (_stop, stopped) = match args.follow {
        true => Stop::on_request(),
        false => (Stop::on_request().0, Stop::when_drained()),
    };
    let bar = progress::counter("replicating", "records");
    let stats = match args.source {
        SourceKind::Kinesis => {
            let runner = Runner::connect(at.stream(), options).await?;
            let runner = runner.observe(progress::batches(&bar));
            runner.run(&replicator, stopped).await?
        }
        SourceKind::DynamodbStream => {
            let arn = table_stream_arn(&at.primary()).await?;
            let streams = at.streams(args.streams_endpoint_url.as_deref());
            let runner = Runner::new(DynamoDbStreamSource::new(streams, arn), options)?;
            let runner = runner.observe(progress::batches(&bar));
            runner.run(&replicator, stopped).await?
        }
    };
    bar.finish_and_clear();
    Ok(report(&stats))
}

/// The replicator from the primary to the replica, with the dead-letter queue when one is given.
async fn replicator(at: &Connected, args: &Args) -> Result<Replicator, Failure> {
    let tuning = dyno::replicate::tuning::Tuning {
        max_attempts: 8,
        ..at.tuning.clone()
    };
    let replicator = match targets::specs(&args.targets)? {
        Some(specs) => {
            let engines = targets::engines(at, &specs, &tuning).await?;
            Replicator::new(engines, tuning)
        }
        None => Replicator::connect(at.primary(), at.replica().await?, tuning).await?,
    };
    let mut replicator = replicator.keeping_ttl_deletes(args.keep_ttl_deletes);
    if let Some(url) = &args.queue.dead_letter_queue_url {
        let sqs = at.sqs(args.queue.sqs_endpoint_url.as_deref());
        replicator = replicator.with_dead_letter(DeadLetterQueue::new(sqs, url.clone()));
    }
    Ok(replicator)
}

/// A time as RFC 3339 (`2026-12-07T06:00:00Z`).
fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e}), e.g. 2026-12-07T06:00:00Z"))
}

/// The runner's options, from the flags.
fn options(args: &Args) -> RunnerOptions {
    RunnerOptions {
        batch_size: args.batch_size as usize,
        batching_window: Duration::from_millis(args.batching_window_ms),
        starting_position: match (args.from_timestamp, args.starting_position) {
            (Some(at), _) => StartingPosition::AtTimestamp(at),
            (None, Start::TrimHorizon) => StartingPosition::TrimHorizon,
            (None, Start::Latest) => StartingPosition::Latest,
        },
        checkpoint: args.checkpoint.clone(),
        max_retries: u32::try_from(args.max_retries).ok(),
        // Following the stream, an outage is waited out; a drain gives up after a minute.
        patience: (!args.follow).then_some(Duration::from_secs(60)),
        ..RunnerOptions::default()
    }
}

/// What the run did; exit 1 when records were skipped.
fn report(stats: &RunStats) -> ExitCode {
    eprintln!(
        "replicated {} records in {} batches ({} re-delivered, {} skipped)",
        stats.records - stats.skipped.len(),
        stats.batches,
        stats.redelivered,
        stats.skipped.len()
    );
    if !stats.skipped.is_empty() {
        eprintln!(
            "error: {} records were skipped after every retry failed, so their keys may differ \
             on the replica: {}; find and repair them with `dyno diff`",
            stats.skipped.len(),
            stats.skipped.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The primary table's latest DynamoDB stream.
async fn table_stream_arn(table: &Table) -> Result<String, Failure> {
    let description = table.describe().await?;
    description
        .latest_stream_arn()
        .map(str::to_owned)
        .ok_or_else(|| {
            usage(format!(
                "{} has no DynamoDB stream: enable one (any view type; KEYS_ONLY is enough), or \
             replicate from the key stream with --source kinesis",
                table.label()
            ))
        })
}
