//! The `dyno` command-line tool: parses the command line and hands each subcommand to its own
//! function in `commands`, each a thin layer over the library. Errors print as one line (the
//! service's error code and what to do); `-v` prints every cause.

mod commands;
mod connect;
mod demo;
mod failover;
mod failure;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dyno::config::local;

/// Keep a DynamoDB replica table in step with a primary table.
///
/// Writes go to the primary; once DynamoDB confirms one, the item's key is put on the Kinesis
/// stream, and the replicator copies the item (or its absence) to the replica. Items and keys
/// are DynamoDB JSON, e.g. '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}'.
/// Every connection flag may come before or after the subcommand.
#[derive(Parser)]
#[command(version, about, long_about, args_override_self = true)]
pub struct Cli {
    #[command(
        flatten,
        next_help_heading = "Connection (before or after the subcommand)"
    )]
    pub connection: Connection,
    /// Print every cause of an error, and the services' own messages (which can quote values).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the tables and the stream are, and how long to wait for them.
#[derive(Args, Clone, Debug)]
pub struct Connection {
    /// AWS region [default: from the environment, else us-east-1].
    #[arg(long, env = "AWS_REGION", global = true)]
    pub region: Option<String>,
    /// The primary table.
    #[arg(long, env = "DYNO_TABLE", default_value = local::PRIMARY_TABLE, global = true)]
    pub table: String,
    /// DynamoDB endpoint of the primary (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_ENDPOINT_URL", global = true)]
    pub endpoint_url: Option<String>,
    /// The replica table.
    #[arg(long, env = "DYNO_REPLICA_TABLE", default_value = local::REPLICA_TABLE, global = true)]
    pub replica_table: String,
    /// DynamoDB endpoint of the replica (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_REPLICA_ENDPOINT_URL", global = true)]
    pub replica_endpoint_url: Option<String>,
    /// Region of the replica [default: --region].
    #[arg(long, env = "DYNO_REPLICA_REGION", global = true)]
    pub replica_region: Option<String>,
    /// A role in the replica's account to assume for the replica (another AWS account).
    #[arg(long, env = "DYNO_REPLICA_ROLE_ARN", global = true)]
    pub replica_role_arn: Option<String>,
    /// The external id that role's trust policy asks for, if any.
    #[arg(
        long,
        env = "DYNO_REPLICA_EXTERNAL_ID",
        global = true,
        hide_env_values = true
    )]
    pub replica_external_id: Option<String>,
    /// STS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_STS_ENDPOINT_URL", global = true)]
    pub sts_endpoint_url: Option<String>,
    /// The Kinesis stream key records go to.
    #[arg(long, env = "DYNO_STREAM", default_value = local::STREAM, global = true)]
    pub stream: String,
    /// Kinesis endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_KINESIS_ENDPOINT_URL", global = true)]
    pub kinesis_endpoint_url: Option<String>,
    /// Use the local servers of `make servers-up` for every endpoint not given, with local
    /// credentials.
    #[arg(long, global = true)]
    pub local: bool,
    /// Seconds to wait for a connection.
    #[arg(
        long,
        env = "DYNO_CONNECT_TIMEOUT",
        default_value_t = 3.0,
        global = true
    )]
    pub connect_timeout: f64,
    /// Seconds to wait for an answer to one attempt of a call.
    #[arg(long, env = "DYNO_READ_TIMEOUT", default_value_t = 10.0, global = true)]
    pub read_timeout: f64,
    /// Attempts per call (throttling, server errors and timeouts are retried with backoff).
    #[arg(long, env = "DYNO_MAX_ATTEMPTS", default_value_t = 3, global = true,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
}

#[derive(Subcommand)]
pub enum Command {
    /// Put an item, then announce its key.
    Put {
        /// The item, in DynamoDB JSON.
        #[arg(long)]
        item: String,
        #[command(flatten)]
        expressions: Expressions,
    },
    /// Update an item with an update expression, then announce its key.
    Update {
        /// The key, in DynamoDB JSON.
        #[arg(long)]
        key: String,
        /// E.g. 'SET #v = :v'.
        #[arg(long)]
        update_expression: String,
        #[command(flatten)]
        expressions: Expressions,
    },
    /// Delete an item, then announce its key.
    Delete {
        /// The key, in DynamoDB JSON.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        expressions: Expressions,
    },
    /// Print an item of the primary (consistent read), or nothing if there is none.
    Get {
        /// The key, in DynamoDB JSON.
        #[arg(long)]
        key: String,
    },
    /// Announce keys again (after a write whose key record was not published).
    Announce {
        /// A key, in DynamoDB JSON (may be repeated).
        #[arg(long, required_unless_present = "keys_file")]
        key: Vec<String>,
        /// A file of keys, one per line: a key in DynamoDB JSON, or a `dyno diff --keys-out`
        /// line ({"kind":…,"key":{…}}).
        #[arg(long)]
        keys_file: Option<PathBuf>,
    },
    /// Import line-delimited DynamoDB JSON items ('{"Item":{…}}' or bare items) through the
    /// writer, from a file or standard input.
    Import {
        /// The file [default: standard input].
        file: Option<PathBuf>,
        /// Skip this many lines first (to resume an import that stopped).
        #[arg(long, default_value_t = 0)]
        skip_lines: usize,
    },
    /// Write every item of the primary as line-delimited DynamoDB JSON ('{"Item":{…}}'). A file
    /// is replaced only once the export is complete, and keeps its permissions; anything but a
    /// regular file or a new path (a device, a FIFO, a symbolic link) is refused.
    #[command(alias = "scan")]
    Export {
        /// The file; `-` or none: standard output.
        file: Option<PathBuf>,
    },
    /// Create what is missing of the primary and replica tables and the stream; check what
    /// exists. Deletes nothing, unless --recreate (local servers only).
    Create {
        /// Key schema: NAME:TYPE[,NAME:TYPE] (types S, N, B; partition key first) [default: the
        /// primary's, when it exists (to create its replica); else ForumName:S,Subject:S].
        #[arg(long)]
        key_schema: Option<String>,
        /// Shards of a new stream.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=500))]
        shards: i32,
        /// Create no key stream: for a deployment whose source is the primary table's own
        /// DynamoDB stream.
        #[arg(long)]
        no_stream: bool,
        /// Delete the tables and the stream first and create them anew: all their data is
        /// lost. Only on local servers (127.0.0.1, localhost).
        #[arg(long)]
        recreate: bool,
        #[command(flatten)]
        replica: ReplicaArgs,
    },
    /// Compare the replica's definition with the primary's (key schema, indexes, TTL, billing,
    /// point-in-time recovery, deletion protection, stream, tags): exits 0 when they match, 1
    /// when they differ, 2 when they could not be compared. Changes nothing without --apply.
    Check(CheckArgs),
    /// Run the local event source mapping: replicate from the stream to the replica.
    Replicate(ReplicateArgs),
    /// Look at or re-submit the unusable records kept on the dead-letter queue.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
        #[command(flatten)]
        queue: QueueArgs,
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Compare the primary and the replica, at any size: exits 0 when equal, 1 when they
    /// differ, 2 on error. With --repair, announces every differing key on the stream.
    Diff(DiffArgs),
    /// Announce every key of the primary on the stream, so the replicator copies each item (to
    /// adopt dyno on a table that already has items).
    Backfill(BackfillArgs),
    /// What a write load needs and costs per million writes (shards, Lambda, read and write
    /// units), next to Global Tables' replicated writes for the same load. Makes no call.
    Plan(PlanArgs),
    /// Failed batches kept whole in the S3 on-failure destination.
    Failures {
        #[command(subcommand)]
        action: FailuresAction,
    },
    /// The main job, locally: the tables and stream, a mixed workload through the writer,
    /// replication by the local event source mapping, and a full comparison.
    Demo {
        #[arg(long, default_value_t = 300)]
        keys: usize,
        #[arg(long, default_value_t = 3000)]
        ops: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Delete and create the tables and the stream first (local servers only).
        #[arg(long)]
        recreate: bool,
    },
}

/// What a replica gets of the primary's definition (`create`), or should have (`check`).
#[derive(Args)]
pub struct ReplicaArgs {
    /// Without point-in-time recovery (on by default for a replica).
    #[arg(long)]
    pub no_pitr: bool,
    /// Without deletion protection (on by default for a replica).
    #[arg(long)]
    pub no_deletion_protection: bool,
    /// Without the primary's tags.
    #[arg(long)]
    pub no_tags: bool,
    /// Without the primary's secondary indexes.
    #[arg(long)]
    pub no_indexes: bool,
    /// The replica's billing [default: the primary's].
    #[arg(long, value_enum)]
    pub billing_mode: Option<BillingModeArg>,
    /// Read capacity units, with --billing-mode PROVISIONED.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub read_capacity: Option<i64>,
    /// Write capacity units, with --billing-mode PROVISIONED.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub write_capacity: Option<i64>,
    /// The replica's KMS key (a key is per region and account) [default: an AWS owned key].
    #[arg(long, env = "DYNO_REPLICA_KMS_KEY")]
    pub replica_kms_key: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BillingModeArg {
    #[value(name = "PAY_PER_REQUEST")]
    PayPerRequest,
    #[value(name = "PROVISIONED")]
    Provisioned,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Make the replica match where that is safe and additive: create a missing global index
    /// (waiting until it is ACTIVE), turn on TTL, point-in-time recovery and deletion
    /// protection, add missing tags. Never deletes an index, a tag or data.
    #[arg(long)]
    pub apply: bool,
    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub replica: ReplicaArgs,
}

/// Conditions and expression attributes of a write.
#[derive(Args)]
pub struct Expressions {
    /// Only if this condition holds (a DynamoDB condition expression).
    #[arg(long)]
    pub condition: Option<String>,
    /// Expression attribute names, as JSON: '{"#n":"Name"}'.
    #[arg(long)]
    pub names: Option<String>,
    /// Expression attribute values, in DynamoDB JSON: '{":v":{"N":"1"}}'.
    #[arg(long)]
    pub values: Option<String>,
}

#[derive(Args)]
pub struct ReplicateArgs {
    /// Records per batch (1 to 10,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: u16,
    /// Milliseconds to gather records before a partial batch.
    #[arg(long, default_value_t = 0)]
    pub batching_window_ms: u64,
    #[arg(long, value_enum, default_value_t = Start::TrimHorizon)]
    pub starting_position: Start,
    /// Keep per-shard positions in this file (a restart resumes from it).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Keep following the stream instead of stopping once it is drained.
    #[arg(long)]
    pub follow: bool,
    /// Where the records come from: the Kinesis key stream (--stream), or the primary table's
    /// own DynamoDB stream (its latest; the table needs a stream, of any view type).
    #[arg(long, value_enum, default_value_t = SourceKind::Kinesis)]
    pub source: SourceKind,
    /// DynamoDB Streams endpoint (local servers) [default: --endpoint-url, else AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_STREAMS_ENDPOINT_URL")]
    pub streams_endpoint_url: Option<String>,
    /// Retries of a failing batch before its lowest failing record is skipped (the run then
    /// exits non-zero and names it); -1: retry until it succeeds.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-1..))]
    pub max_retries: i64,
    #[command(flatten)]
    pub queue: OptionalQueueArgs,
    /// With --source dynamodb-stream: leave the replica alone for deletes made by the table's
    /// TTL (an archive replica that keeps what the primary expires; it must not have TTL).
    #[arg(long)]
    pub keep_ttl_deletes: bool,
}

/// The dead-letter queue.
#[derive(Args)]
pub struct QueueArgs {
    /// The queue (the stack's DeadLetterQueueUrl output); required.
    #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// SQS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DEAD_LETTER_ENDPOINT_URL")]
    pub sqs_endpoint_url: Option<String>,
}

/// The dead-letter queue, if unusable records are to go to one.
#[derive(Args)]
pub struct OptionalQueueArgs {
    /// Send unusable records to this SQS queue instead of retrying them.
    #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
    pub dead_letter_queue_url: Option<String>,
    /// SQS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DEAD_LETTER_ENDPOINT_URL")]
    pub sqs_endpoint_url: Option<String>,
}

/// How much of the table to scan, and how fast.
#[derive(Args)]
pub struct ScanArgs {
    /// Parallel scan segments [default: four per core, 4 to 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub segments: Option<u32>,
    /// Items scanned per second, over all segments (hold the scan to a share of the table's
    /// read capacity) [default: as fast as the table answers].
    #[arg(long)]
    pub rate: Option<f64>,
}

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Compare only this fraction of the pages (0 < F <= 1), for a quick spot check.
    #[arg(long)]
    pub sample: Option<f64>,
    /// Milliseconds a key that looks different is left to settle before it is read again.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Write each differing key to this file, one JSON line each:
    /// {"kind":"missing|extra|different","key":{…}} (keys only; `dyno announce --keys-file`
    /// reads it back).
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
    /// Announce every differing key on the stream, so the replicator makes it agree.
    #[arg(long)]
    pub repair: bool,
    /// Compare items whose TTL has passed too (by default they are counted apart as expired:
    /// DynamoDB deletes them days late, on either table).
    #[arg(long)]
    pub strict_ttl: bool,
    #[command(flatten)]
    pub direct: DirectArg,
}

/// For a deployment with no key stream.
#[derive(Args)]
pub struct DirectArg {
    /// Copy each key now (consistent read of the primary, write to the replica) instead of
    /// announcing it on --stream: for a deployment with no key stream (the source is the
    /// table's own DynamoDB stream). A copy made beside the live replicator can race it on a
    /// key written at that moment: run `dyno diff` afterwards.
    #[arg(long)]
    pub direct: bool,
}

#[derive(Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Run only these segments, I..J (e.g. 0..8), of --total-segments: several machines can
    /// share a large table.
    #[arg(long, requires = "total_segments", value_parser = parse_range)]
    pub segment_range: Option<std::ops::Range<u32>>,
    /// The number of segments the table is split into, when --segment-range is given.
    #[arg(long, requires = "segment_range")]
    pub total_segments: Option<u32>,
    /// Keep each segment's progress in this file: a rerun resumes where this one stopped.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Announce items whose TTL has passed too (by default they are skipped and counted).
    #[arg(long)]
    pub include_expired: bool,
    #[command(flatten)]
    pub direct: DirectArg,
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

#[derive(Args)]
pub struct PlanArgs {
    /// Writes per second to the primary.
    #[arg(long, default_value_t = 500.0)]
    pub writes_per_second: f64,
    /// Item size in KB.
    #[arg(long, default_value_t = 1.0)]
    pub item_kb: f64,
    /// Distinct keys per write within a batch (1: every write a new key; 0.1: hot keys).
    #[arg(long, default_value_t = 1.0)]
    pub distinct_fraction: f64,
    /// The event source mapping's BatchSize.
    #[arg(long, default_value_t = 1000.0)]
    pub batch_size: f64,
    /// The event source mapping's batching window, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub batching_window_seconds: f64,
    /// Global secondary indexes on the replica (each replicated write also writes them).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub gsis: u32,
}

#[derive(Subcommand)]
pub enum FailuresAction {
    /// Read the invocation records and replay their records: a Kinesis batch's records go back
    /// on --stream as they were; a DynamoDB stream batch's keys are replicated (read from the
    /// primary, written to the replica). With --dry-run, only list what would be replayed.
    Replay(ReplayArgs),
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The bucket (the stack's FailedBatchBucketName output); required. Checked by the
    /// command, not the parser, so that a usage error never names it when the environment sets it.
    #[arg(long, env = "DYNO_FAILED_BATCH_BUCKET")]
    pub bucket: Option<String>,
    /// Only objects under this prefix.
    #[arg(long, default_value = dyno::ops::failed_batches::PREFIX)]
    pub prefix: String,
    /// Only objects written at or after this time (RFC 3339, e.g. 2026-11-27T00:00:00Z).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// List what would be replayed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// S3 endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_S3_ENDPOINT_URL")]
    pub s3_endpoint_url: Option<String>,
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time such as 2026-11-27T00:00:00Z ({e})"))
}

#[derive(Subcommand)]
pub enum DeadLetterAction {
    /// Print each dead letter (reason, shard, sequence number, data) as JSON; deletes nothing.
    Inspect,
    /// Put each dead letter's original bytes back on the stream (same partition key), then
    /// delete it from the queue. Fix the cause first, or they come back.
    Replay,
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

/// A subcommand's result: the exit status it asks for.
pub type Outcome = Result<ExitCode, failure::Failure>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.verbose { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let verbose = cli.verbose;
    let outcome = tokio::select! {
        outcome = commands::run(cli) => outcome,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("{INTERRUPTED}");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            // With -v, the details: the error's line, then every cause.
            match verbose {
                true => eprintln!("error: {}", failure.details()),
                false => eprintln!("error: {}", failure.one_line()),
            }
            failure.exit_code()
        }
    }
}

/// What Ctrl-C leaves: work done so far stays; nothing half-written replaces a file.
const INTERRUPTED: &str = "interrupted (Ctrl-C): stopped part-way; what was written so far \
    stays, and no file was replaced; run the command again (backfill and replicate resume from \
    --checkpoint)";
