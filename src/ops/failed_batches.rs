//! Failed batches kept whole in S3: when a batch exhausts its retries, Lambda's event source
//! mapping writes an invocation record to the S3 on-failure destination: metadata (which
//! stream, shard and sequence numbers) and the whole event. This reads them back so that their
//! records can be replayed after the stream's own retention has run out.
//!
//! The documented layout: objects under `aws/lambda/<mapping id>/<shard id>/YYYY/MM/DD/…`, each
//! a JSON document with `requestContext`, `responseContext`, `version`, `timestamp`, a
//! `KinesisBatchInfo` or `DDBStreamBatchInfo`, and `payload`: the event, `{"Records":[…]}`, as
//! an object or as a JSON string.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::aws::error::AwsError;
use crate::publish::publisher::Publisher;
use crate::publish::record::{Entry, PublishFailure};

/// The prefix Lambda writes invocation records under.
pub const PREFIX: &str = "aws/lambda/";

/// A failed batch's records, as its event held them.
#[derive(Debug)]
pub enum Records {
    Kinesis(KinesisEvent),
    DynamoDb(DynamoDbEvent),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Kinesis(e) => e.records.len(),
            Records::DynamoDb(e) => e.records.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Kinesis` or `DynamoDB stream`, for messages.
    pub fn source(&self) -> &'static str {
        match self {
            Records::Kinesis(_) => "Kinesis",
            Records::DynamoDb(_) => "DynamoDB stream",
        }
    }
}

/// One invocation record.
#[derive(Debug)]
pub struct FailedBatch {
    /// Its object key in the bucket.
    pub object: String,
    pub shard: String,
    pub start_sequence: String,
    pub end_sequence: String,
    /// Why Lambda gave up (e.g. `RetryAttemptsExhausted`, `RecordAgeExceeded`).
    pub condition: String,
    pub records: Records,
}

/// An object that is not an invocation record dyno can read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{object}: not JSON ({0})", object = .1)]
    NotJson(#[source] serde_json::Error, String),
    #[error(
        "{object}: neither KinesisBatchInfo nor DDBStreamBatchInfo (not a stream's failed batch)"
    )]
    NoBatchInfo { object: String },
    #[error(
        "{object}: no payload (the destination was not S3, or the record is from before S3 destinations)"
    )]
    NoPayload { object: String },
    #[error("{object}: its payload is not a {kind} event ({error})")]
    BadPayload {
        object: String,
        kind: &'static str,
        #[source]
        error: serde_json::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInfo {
    #[serde(default)]
    shard_id: String,
    #[serde(default)]
    start_sequence_number: String,
    #[serde(default)]
    end_sequence_number: String,
}

/// Reads an invocation record (pure: the object's key and its bytes).
pub fn parse(object: &str, body: &[u8]) -> Result<FailedBatch, RecordError> {
    let mut doc: Value =
        serde_json::from_slice(body).map_err(|e| RecordError::NotJson(e, object.to_owned()))?;
    let (kinesis, info) = match (doc.get("KinesisBatchInfo"), doc.get("DDBStreamBatchInfo")) {
        (Some(info), _) => (true, info.clone()),
        (None, Some(info)) => (false, info.clone()),
        (None, None) => {
            return Err(RecordError::NoBatchInfo {
                object: object.to_owned(),
            });
        }
    };
    let info: BatchInfo =
        serde_json::from_value(info).map_err(|e| RecordError::NotJson(e, object.to_owned()))?;
    let condition = doc["requestContext"]["condition"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    let payload = match doc.get_mut("payload").map(Value::take) {
        None | Some(Value::Null) => {
            return Err(RecordError::NoPayload {
                object: object.to_owned(),
            });
        }
        // The event, as a JSON string or as an object.
        Some(Value::String(text)) => serde_json::from_str(&text),
        Some(event) => Ok(event),
    };
    let kind = if kinesis {
        "Kinesis"
    } else {
        "DynamoDB stream"
    };
    let bad = |error| RecordError::BadPayload {
        object: object.to_owned(),
        kind,
        error,
    };
    let payload = payload.map_err(bad)?;
    let records = match kinesis {
        true => Records::Kinesis(serde_json::from_value(payload).map_err(bad)?),
        false => Records::DynamoDb(serde_json::from_value(payload).map_err(bad)?),
    };
    Ok(FailedBatch {
        object: object.to_owned(),
        shard: info.shard_id,
        start_sequence: info.start_sequence_number,
        end_sequence: info.end_sequence_number,
        condition,
        records,
    })
}

/// Puts a Kinesis batch's records back on the stream as they were (same data, same partition
/// key, so each key's records still land on one shard); the error holds those not put.
pub async fn put_back(
    publisher: &Publisher,
    event: &KinesisEvent,
) -> Result<usize, NotPublishedRecords> {
    let entries: Vec<Entry> = event
        .records
        .iter()
        .map(|r| Entry {
            partition_key: r.kinesis.partition_key.clone(),
            data: r.kinesis.data.to_vec(),
        })
        .collect();
    publisher
        .put(&entries)
        .await
        .map(|()| entries.len())
        .map_err(|(undone, why)| NotPublishedRecords {
            stream: publisher.stream().name.clone(),
            sequence_numbers: undone
                .into_iter()
                .map(|i| event.records[i].kinesis.sequence_number.clone())
                .collect(),
            why,
        })
}

/// Records of a failed batch that could not be put back.
#[derive(Debug, thiserror::Error)]
#[error("{} records could not be put back on `{stream}` ({why}): run the replay again (it puts back whole batches; duplicates are harmless)", sequence_numbers.len())]
pub struct NotPublishedRecords {
    pub stream: String,
    pub sequence_numbers: Vec<String>,
    #[source]
    pub why: PublishFailure,
}

/// The bucket could not be listed or read.
#[derive(Debug, thiserror::Error)]
#[error("bucket {bucket}: {source}")]
pub struct BucketError {
    pub bucket: String,
    #[source]
    pub source: AwsError,
}

/// An object of the bucket.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub last_modified: Option<DateTime<Utc>>,
}

/// The objects under `prefix`, written at or after `since` if given, oldest first.
pub async fn list(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Object>, BucketError> {
    let error = |source| BucketError {
        bucket: bucket.to_owned(),
        source,
    };
    let mut objects = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error(AwsError::new("ListObjectsV2", e)))?;
        for object in page.contents() {
            let last_modified = object
                .last_modified()
                .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?));
            if since.is_some_and(|s| last_modified.is_some_and(|m| m < s)) {
                continue;
            }
            objects.push(Object {
                key: object.key().unwrap_or_default().to_owned(),
                last_modified,
            });
        }
    }
    objects.sort_by(|a, b| (a.last_modified, &a.key).cmp(&(b.last_modified, &b.key)));
    Ok(objects)
}

/// The bytes of one object.
pub async fn fetch(s3: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, BucketError> {
    let error = |source| BucketError {
        bucket: bucket.to_owned(),
        source,
    };
    let answer = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| error(AwsError::new("GetObject", e)))?;
    let body = answer
        .body
        .collect()
        .await
        .map_err(|e| error(AwsError::other("GetObject", e)))?;
    Ok(body.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINESIS: &str = r#"{
        "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:1:function:f",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2026-11-27T00:00:00.000Z",
        "KinesisBatchInfo": {"shardId": "shardId-000000000001", "startSequenceNumber": "1",
            "endSequenceNumber": "2", "approximateArrivalOfFirstRecord": "2026-11-27T00:00:00.000Z",
            "approximateArrivalOfLastRecord": "2026-11-27T00:00:00.000Z", "batchSize": 1,
            "streamArn": "arn:aws:kinesis:us-east-1:1:stream/keys"},
        "payload": "{\"Records\":[{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"1\",\"data\":\"aGk=\",\"approximateArrivalTimestamp\":1764201600.0},\"eventSource\":\"aws:kinesis\",\"eventID\":\"shardId-000000000001:1\",\"eventName\":\"aws:kinesis:record\",\"eventVersion\":\"1.0\",\"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:1:stream/keys\",\"invokeIdentityArn\":\"arn:aws:iam::1:role/r\"}]}"
    }"#;

    #[test]
    fn reads_a_kinesis_invocation_record_with_its_payload_as_a_string() {
        let batch = parse(
            "aws/lambda/x/shardId-000000000001/2026/11/27/a",
            KINESIS.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (batch.shard.as_str(), batch.condition.as_str()),
            ("shardId-000000000001", "RetryAttemptsExhausted")
        );
        let Records::Kinesis(event) = &batch.records else {
            panic!("a Kinesis batch")
        };
        assert_eq!(event.records[0].kinesis.partition_key, "pk");
        assert_eq!(&event.records[0].kinesis.data[..], b"hi");
    }

    #[test]
    fn other_objects_are_named_and_explained() {
        let err = parse("o", b"{\"version\":\"1.0\"}").unwrap_err();
        assert!(
            err.to_string().contains("neither KinesisBatchInfo"),
            "{err}"
        );
        let no_payload = KINESIS.replace("\"payload\"", "\"other\"");
        let err = parse("o", no_payload.as_bytes()).unwrap_err();
        assert!(matches!(err, RecordError::NoPayload { .. }), "{err}");
        assert!(matches!(parse("o", b"nope"), Err(RecordError::NotJson(..))));
    }
}
