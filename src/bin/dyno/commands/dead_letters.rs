//! `dyno dead-letters`: looks at (`inspect`) or re-submits (`replay`) the unusable records kept
//! on the dead-letter queue.

use std::process::ExitCode;

use clap::Subcommand;
use dyno::aws::error::AwsError;
use dyno::replicate::dead_letter::{self, DeadLetterQueue};

use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{exit_failure_if, usage};

/// Look at or re-submit the unusable records kept on the dead-letter queue.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    queue: QueueArgs,
    /// At most this many messages.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Subcommand)]
pub enum Action {
    /// Print each dead letter (reason, shard, sequence number, data) as JSON; deletes nothing.
    Inspect,
    /// Put each dead letter's original bytes back on the stream (same partition key), then
    /// delete it from the queue. Fix the cause first, or they come back.
    Replay,
}

/// The dead-letter queue.
#[derive(clap::Args)]
pub struct QueueArgs {
    /// The queue (the stack's DeadLetterQueueUrl output); required.
    #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
    queue_url: Option<String>,
    /// SQS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DEAD_LETTER_ENDPOINT_URL")]
    sqs_endpoint_url: Option<String>,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let url = args.queue.queue_url.ok_or_else(|| {
        usage("--queue-url (or DEAD_LETTER_QUEUE_URL) is required: the stack's DeadLetterQueueUrl output")
    })?;
    let queue = DeadLetterQueue::new(at.sqs(args.queue.sqs_endpoint_url.as_deref()), url);
    match args.action {
        Action::Inspect => inspect(&queue, args.limit).await,
        Action::Replay => replay(at, &queue, args.limit).await,
    }
}

/// Prints each dead letter as JSON; deletes nothing.
async fn inspect(queue: &DeadLetterQueue, limit: usize) -> Outcome {
    for received in dead_letter::inspect(queue, limit).await? {
        match received.letter {
            Ok(letter) => println!("{}", letter.to_body()),
            Err(e) => eprintln!("message {}: not a dead letter: {e}", received.message_id),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Puts each dead letter back on the stream, then deletes it from the queue; exit 1 unless all
/// were replayed.
async fn replay(at: &Connected, queue: &DeadLetterQueue, limit: usize) -> Outcome {
    let stream = at.stream();
    let report = dead_letter::replay(queue, limit, |letter| {
        let put = stream
            .client
            .put_record()
            .stream_name(&stream.name)
            .partition_key(letter.partition_key.clone())
            .data(aws_sdk_kinesis::primitives::Blob::new(letter.data));
        async move {
            put.send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::new("PutRecord", e))
        }
    })
    .await?;
    let seen = report.replayed + report.failed + report.unreadable;
    eprintln!(
        "replayed {} of {seen} dead letters onto `{}`; {} failed (left on the queue: run \
         the replay again once the stream takes records), {} unreadable (not dead letters \
         this version reads, left on the queue: a rerun cannot help; look at them with \
         `dyno dead-letters inspect`)",
        report.replayed, stream.name, report.failed, report.unreadable
    );
    Ok(exit_failure_if(report.replayed < seen))
}
