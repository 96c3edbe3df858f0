//! `dyno failures replay`: replays the failed batches the event source mapping kept whole in
//! the S3 on-failure destination: a Kinesis batch's records go back on the stream as they were,
//! a DynamoDB stream batch's keys are replicated.

use clap::Subcommand;
use dyno::ops::failed_batches::{self, FailedBatch, Records};
use dyno::replicate::replicator::Replicator;
use dyno::replicate::summary::Summary;

use super::sink::publisher;
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, exit_failure_if, usage};

/// Failed batches kept whole in the S3 on-failure destination.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
pub enum Action {
    /// Read the invocation records and replay their records: a Kinesis batch's records go back
    /// on --stream as they were; a DynamoDB stream batch's keys are replicated (read from the
    /// primary, written to the replica). With --dry-run, only list what would be replayed.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The bucket (the stack's FailedBatchBucketName output); required. Checked by the
    /// command, not the parser, so that a usage error never names it when the environment sets it.
    #[arg(long, env = "DYNO_FAILED_BATCH_BUCKET")]
    bucket: Option<String>,
    /// Only objects under this prefix.
    #[arg(long, default_value = dyno::ops::failed_batches::PREFIX)]
    prefix: String,
    /// Only objects written at or after this time (RFC 3339, e.g. 2026-11-27T00:00:00Z).
    #[arg(long, value_parser = parse_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// List what would be replayed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// S3 endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_S3_ENDPOINT_URL")]
    s3_endpoint_url: Option<String>,
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time such as 2026-11-27T00:00:00Z ({e})"))
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    match args.action {
        Action::Replay(args) => replay(at, &args).await,
    }
}

/// Exit 1 when a record failed or an object could not be read (with `--dry-run` too).
async fn replay(at: &Connected, args: &ReplayArgs) -> Outcome {
    let s3 = at.s3(args.s3_endpoint_url.as_deref());
    let bucket = args.bucket.as_deref().ok_or_else(|| {
        usage("--bucket (or DYNO_FAILED_BATCH_BUCKET) is required: the stack's FailedBatchBucketName output")
    })?;
    let objects = failed_batches::list(&s3, bucket, &args.prefix, args.since).await?;
    let mut batches = Vec::new();
    let mut unreadable = 0;
    for object in &objects {
        let body = failed_batches::fetch(&s3, bucket, &object.key).await?;
        match failed_batches::parse(&object.key, &body) {
            Ok(batch) => batches.push(batch),
            Err(e) => {
                unreadable += 1;
                eprintln!("skipped: {e}");
            }
        }
    }
    let place = format!("s3://{bucket}/{}", args.prefix);
    if args.dry_run {
        list_failed_batches(&batches, &place, unreadable);
        // The dry run exits as the real run would: an unreadable object fails both.
        return Ok(exit_failure_if(unreadable > 0));
    }
    let (put_back, replicated, failed) = replay_batches(at, &batches).await?;
    eprintln!(
        "replayed {} failed batches from {place}: {put_back} records put back on `{}`, {replicated} records' keys replicated, {failed} failed, {unreadable} objects skipped; the objects stay in the bucket (its lifecycle rule expires them)",
        batches.len(),
        at.stream().name
    );
    Ok(exit_failure_if(failed > 0 || unreadable > 0))
}

fn list_failed_batches(batches: &[FailedBatch], place: &str, unreadable: usize) {
    for b in batches {
        println!(
            "{}: {} batch of {} records, {} {}..{} ({}): would replay",
            b.object,
            b.records.source(),
            b.records.len(),
            b.shard,
            b.start_sequence,
            b.end_sequence,
            b.condition
        );
    }
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    eprintln!(
        "dry run: {} failed batches ({records} records) would be replayed from {place}; {unreadable} objects skipped; nothing was changed",
        batches.len()
    );
}

/// Replays each batch: a Kinesis batch's records go back on the stream as they were; a DynamoDB
/// stream batch's keys are replicated. Returns (records put back, replicated, failed).
async fn replay_batches(
    at: &Connected,
    batches: &[FailedBatch],
) -> Result<(usize, usize, usize), Failure> {
    let (mut put_back, mut replicated, mut failed) = (0, 0, 0);
    let mut publisher_once = None;
    let mut replicator_once = None;
    for batch in batches {
        match &batch.records {
            Records::Kinesis(event) => {
                if publisher_once.is_none() {
                    publisher_once = Some(publisher(at).await?);
                }
                let Some(publisher) = &publisher_once else {
                    continue;
                };
                match failed_batches::put_back(publisher, event).await {
                    Ok(n) => put_back += n,
                    Err(e) => {
                        failed += e.sequence_numbers.len();
                        eprintln!("{}: {e}", batch.object);
                    }
                }
            }
            Records::DynamoDb(event) => {
                if replicator_once.is_none() {
                    let (primary, replica) = (at.primary(), at.replica().await?);
                    replicator_once =
                        Some(Replicator::connect(primary, replica, at.tuning.clone()).await?);
                }
                let Some(replicator) = &replicator_once else {
                    continue;
                };
                let (_, summary) = replicator.handle_dynamodb(event, None).await;
                replicated += summary.records - summary.failed_records;
                failed += summary.failed_records;
                if let Some(line) = not_replicated(&batch.object, &summary) {
                    eprintln!("{line}");
                }
            }
        }
    }
    Ok((put_back, replicated, failed))
}

/// What to say of a replayed batch's records that failed: a rerun helps those that failed for
/// now (a throttle, an outage), never the unusable ones.
fn not_replicated(object: &str, summary: &Summary) -> Option<String> {
    let unusable = summary.unusable_records.min(summary.failed_records);
    let transient = summary.failed_records - unusable;
    let mut said = Vec::new();
    if transient > 0 {
        said.push(format!(
            "{transient} records not replicated for now (see -v): run the replay again"
        ));
    }
    if unusable > 0 {
        said.push(format!(
            "{unusable} records unusable (no key this table takes): a rerun cannot help; the \
             object keeps them"
        ));
    }
    (!said.is_empty()).then(|| format!("{object}: {}", said.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_says_run_again_only_where_a_rerun_can_help() {
        let summary = |failed_records, unusable_records| Summary {
            records: 5,
            failed_records,
            unusable_records,
            ..Summary::default()
        };
        assert_eq!(not_replicated("o", &summary(0, 0)), None);
        let transient = not_replicated("o", &summary(2, 0)).unwrap();
        assert!(
            transient.contains("2 records not replicated for now"),
            "{transient}"
        );
        assert!(transient.contains("run the replay again"), "{transient}");
        let unusable = not_replicated("o", &summary(1, 1)).unwrap();
        assert!(unusable.contains("a rerun cannot help"), "{unusable}");
        assert!(!unusable.contains("run the replay again"), "{unusable}");
        let both = not_replicated("o", &summary(3, 1)).unwrap();
        assert!(both.starts_with("o: 2 records not replicated"), "{both}");
        assert!(both.contains("1 records unusable"), "{both}");
    }
}
