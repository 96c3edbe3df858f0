//! The Lambda function: an event of either source in (the records' `eventSource` decides),
//! `batchItemFailures` out, before the invocation's deadline. The local event source mapping
//! hands its batches through here too, as JSON, and reads the answer back from JSON: it crosses
//! the boundary AWS crosses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use lambda_runtime::LambdaEvent;
use serde::de::DeserializeOwned;
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
            let (records, unreadable) = split_records(text, &["dynamodb", "SequenceNumber"])?;
            let mut batch = DynamoDbEvent::default();
            batch.records = records;
            let (mut response, summary) = replicator.handle_dynamodb(&batch, deadline).await;
            for id in unreadable {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(id);
                response.batch_item_failures.push(failure);
            }
            Ok((Response::DynamoDb(response), summary))
        }
        Some("aws:kinesis") | None => {
            let (records, unreadable) = split_records(text, &["kinesis", "sequenceNumber"])?;
            let mut batch = KinesisEvent::default();
            batch.records = records;
            let (mut response, summary) = replicator.handle(&batch, deadline).await;
            unreadable
                .into_iter()
                .for_each(|id| response.add_failure(id));
            Ok((Response::Kinesis(response), summary))
        }
        Some(other) => Err(EventError::OtherSource(other.to_owned())),
    }
}

/// The event's records, each read on its own: those that read as `R`, and the sequence numbers
/// (at `id`, a path in the record's JSON) of those that do not, so that such a record fails
/// alone (reported, retried, sent to the failure destination) rather than the whole batch. A
/// record that does not even give its sequence number fails the invocation.
fn split_records<R: DeserializeOwned>(
    text: &str,
    id: &[&str],
) -> Result<(Vec<R>, Vec<String>), EventError> {
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(rename = "Records", borrow, default)]
        records: Vec<&'a RawValue>,
    }
    let raw: Raw = serde_json::from_str(text).map_err(EventError::NotABatch)?;
    let mut records = Vec::with_capacity(raw.records.len());
    let mut unreadable = Vec::new();
    for record in raw.records {
        match serde_json::from_str::<R>(record.get()) {
            Ok(record) => records.push(record),
            Err(error) => {
                let value: serde_json::Value =
                    serde_json::from_str(record.get()).map_err(EventError::NotABatch)?;
                let found = id.iter().try_fold(&value, |v, field| v.get(field));
                let Some(sequence) = found.and_then(|v| v.as_str()) else {
                    return Err(EventError::NotABatch(error));
                };
                tracing::warn!(sequence, %error, "an unreadable record fails alone");
                unreadable.push(sequence.to_owned());
            }
        }
    }
    Ok((records, unreadable))
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
    use aws_lambda_events::event::dynamodb::EventRecord;

    #[test]
    fn a_record_that_does_not_read_fails_alone() {
        let good = r#"{"eventSource":"aws:dynamodb","eventID":"1","eventName":"INSERT",
            "awsRegion":"us-east-1","dynamodb":{"Keys":{"id":{"S":"a"}},"SequenceNumber":"100",
            "SizeBytes":9,"StreamViewType":"KEYS_ONLY"}}"#;
        let no_size = good.replace(r#""SizeBytes":9,"#, "").replace("100", "200");
        let text = format!(r#"{{"Records":[{good},{no_size}]}}"#);
        let (records, unreadable) =
            split_records::<EventRecord>(&text, &["dynamodb", "SequenceNumber"]).unwrap();
        assert_eq!((records.len(), unreadable), (1, vec!["200".to_owned()]));
        let nameless = no_size.replace(r#""SequenceNumber":"200","#, "");
        let text = format!(r#"{{"Records":[{good},{nameless}]}}"#);
        let refused = split_records::<EventRecord>(&text, &["dynamodb", "SequenceNumber"]);
        assert!(matches!(refused, Err(EventError::NotABatch(_))));
    }

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
