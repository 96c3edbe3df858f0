//! The Lambda function: an event of either source in (the records' `eventSource` decides),
//! `batchItemFailures` out, before the invocation's deadline. The local event source mapping
//! hands its batches through here too, as JSON, and reads the answer back from JSON: it crosses
//! the boundary AWS crosses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{DynamoDbEventResponse, KinesisEventResponse};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::replicate::replicator::Replicator;
use crate::replicate::summary::Summary;

/// The answer to either source: `{"batchItemFailures":[{"itemIdentifier":…}]}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Kinesis(KinesisEventResponse),
    DynamoDb(DynamoDbEventResponse),
}

/// The event is of neither source.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a batch of stream records: {0}")]
    NotABatch(#[source] serde_json::Error),
    #[error(
        "the event's records come from `{0}`; the replicator takes Kinesis (aws:kinesis) and \
         DynamoDB stream (aws:dynamodb) records"
    )]
    OtherSource(String),
}

/// Just the source of each record: a fast pass that skips everything else.
#[derive(Deserialize)]
struct Sources {
    #[serde(rename = "Records", default)]
    records: Vec<Source>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
}

/// The Lambda function: handles the event before the invocation's deadline. One binary takes
/// both sources; the records' `eventSource` decides which.
pub async fn function_handler(
    replicator: &Replicator,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, lambda_runtime::Error> {
    let deadline = deadline_instant(event.context.deadline);
    tracing::debug!(
        deadline_ms = event.context.deadline,
        remaining_ms =
            deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
        "invocation"
    );
    let (response, _) = handle_event(replicator, event.payload.get(), deadline).await?;
    Ok(response)
}

/// What the function does with an event's JSON (`text`), and the batch's summary: the one
/// path of every batch, the Lambda runtime's and the local event source mapping's.
pub async fn handle_event(
    replicator: &Replicator,
    text: &str,
    deadline: Option<Instant>,
) -> Result<(Response, Summary), EventError> {
    let sources: Sources = serde_json::from_str(text).map_err(EventError::NotABatch)?;
    let source = sources
        .records
        .iter()
        .find_map(|r| r.event_source.as_deref());
    match source {
        Some("aws:dynamodb") => {
            let batch: DynamoDbEvent = serde_json::from_str(text).map_err(EventError::NotABatch)?;
            let (response, summary) = replicator.handle_dynamodb(&batch, deadline).await;
            Ok((Response::DynamoDb(response), summary))
        }
        Some("aws:kinesis") | None => {
            let batch: KinesisEvent = serde_json::from_str(text).map_err(EventError::NotABatch)?;
            let (response, summary) = replicator.handle(&batch, deadline).await;
            Ok((Response::Kinesis(response), summary))
        }
        Some(other) => Err(EventError::OtherSource(other.to_owned())),
    }
}

/// The `itemIdentifier`s of a response as the event source mapping reads it: from its JSON.
pub fn failed_identifiers(response: &Response) -> Result<Vec<String>, EventError> {
    let json = serde_json::to_value(response).map_err(EventError::NotABatch)?;
    let failures = json["batchItemFailures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(failures
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect())
}

/// Turns the context's deadline (milliseconds since the epoch; 0 when there is none) into an
/// `Instant`. A value too small to be a date (before 1973) is a timeout in milliseconds from now:
/// that is what `cargo lambda watch` sends.
pub fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    const EPOCH_MS_1973: u64 = 100_000_000_000;
    if deadline_ms == 0 {
        return None;
    }
    if deadline_ms < EPOCH_MS_1973 {
        return Some(Instant::now() + Duration::from_millis(deadline_ms));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_from_the_context() {
        assert_eq!(deadline_instant(0), None);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let in_a_minute = deadline_instant(now_ms + 60_000).unwrap() - Instant::now();
        assert!(in_a_minute > Duration::from_secs(55) && in_a_minute <= Duration::from_secs(60));
        let past = deadline_instant(now_ms - 5_000).unwrap();
        assert!(past <= Instant::now());
        let relative = deadline_instant(600_000).unwrap() - Instant::now();
        assert!(relative > Duration::from_secs(595), "{relative:?}");
    }
}
