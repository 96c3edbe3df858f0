//! A dead letter: an unusable record kept whole, with where it came from and why it was set
//! aside, as the SQS message's ASCII JSON body:
//! `{"format":"dyno-dead-letter/1","reason":…,"shard":…,"sequenceNumber":…,"partitionKey":…,
//! "eventSourceArn":…,"approximateArrivalTimestamp":…,"deadLetteredAt":…,"data":"<base64>"}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::replicate::decode::{Problem, SourceRecord};

/// The body's `format` field.
pub const FORMAT: &str = "dyno-dead-letter/1";
/// Why an SQS message is not a dead letter this version can read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("message body is not dead-letter JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message body has format {0:?}; this version reads {FORMAT:?}")]
    Format(String),
    #[error("field `data` is not base64: {0}")]
    Data(#[from] base64::DecodeError),
    #[error("field `{field}` is not an RFC 3339 time: {value:?}")]
    Time { field: &'static str, value: String },
}

/// One unusable record, as kept on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The record's data, exactly as it arrived.
    pub data: Vec<u8>,
    pub shard: String,
    pub sequence_number: String,
    /// Re-submit with this partition key to keep the record's ordering.
    pub partition_key: String,
    pub event_source_arn: Option<String>,
    pub approximate_arrival: DateTime<Utc>,
    /// Why it is unusable (never the data itself).
    pub reason: String,
    pub dead_lettered_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    format: String,
    reason: String,
    shard: String,
    sequence_number: String,
    partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_source_arn: Option<String>,
    approximate_arrival_timestamp: String,
    dead_lettered_at: String,
    data: String,
}

impl DeadLetter {
    /// The dead letter of `record`, set aside now for `reason`.
    pub fn from_record<R: SourceRecord + ?Sized>(record: &R, reason: impl Into<String>) -> Self {
        DeadLetter {
            data: record.data().into_owned(),
            shard: record.shard().to_owned(),
            sequence_number: record.sequence_number().to_owned(),
            partition_key: record.partition_key().to_owned(),
            event_source_arn: record.event_source_arn().map(str::to_owned),
            approximate_arrival: record.arrival().unwrap_or_else(Utc::now),
            reason: reason.into(),
            dead_lettered_at: Utc::now(),
        }
    }

    /// The SQS message body: JSON with every non-ASCII character escaped, so any record, shard
    /// name or reason makes a body SQS accepts.
    pub fn to_body(&self) -> String {
        let body = Body {
            format: FORMAT.to_owned(),
            reason: self.reason.clone(),
            shard: self.shard.clone(),
            sequence_number: self.sequence_number.clone(),
            partition_key: self.partition_key.clone(),
            event_source_arn: self.event_source_arn.clone(),
            approximate_arrival_timestamp: self
                .approximate_arrival
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            dead_lettered_at: self
                .dead_lettered_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            data: BASE64.encode(&self.data),
        };
        // Serializing plain strings cannot fail; the fallback keeps this total anyway.
        let json =
            serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"format\":{FORMAT:?}}}"));
        ascii_json(&json)
    }

    /// Reads a message body written by [`DeadLetter::to_body`].
    pub fn from_body(body: &str) -> Result<Self, BodyError> {
        let body: Body = serde_json::from_str(body)?;
        if body.format != FORMAT {
            return Err(BodyError::Format(body.format));
        }
        let time = |field: &'static str, value: &str| {
            DateTime::parse_from_rfc3339(value)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| BodyError::Time {
                    field,
                    value: value.to_owned(),
                })
        };
        Ok(DeadLetter {
            data: BASE64.decode(body.data.as_bytes())?,
            approximate_arrival: time(
                "approximateArrivalTimestamp",
                &body.approximate_arrival_timestamp,
            )?,
            dead_lettered_at: time("deadLetteredAt", &body.dead_lettered_at)?,
            shard: body.shard,
            sequence_number: body.sequence_number,
            partition_key: body.partition_key,
            event_source_arn: body.event_source_arn,
            reason: body.reason,
        })
    }
}

/// Escapes every non-ASCII character of a JSON text as `\uXXXX` (surrogate pairs above U+FFFF).
/// Non-ASCII characters only occur inside JSON strings, so the result is the same JSON value.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Why a record is unusable, fit for logs and the dead letter: names the problem and where, but
/// never repeats the record's content (a JSON error's own message can quote a string value).
pub fn reason(problem: &Problem) -> String {
    match problem {
        Problem::NotARecord(e) => format!(
            "data is not a DynamoDB Streams JSON record: {}",
            json_error(e)
        ),
        Problem::KeysNotDynamoDbJson(e) => format!(
            "record's dynamodb.Keys is not a map of DynamoDB JSON attribute values: {} of the \
             Keys' text",
            json_error(e)
        ),
        other => other.to_string(),
    }
}

/// A JSON error's kind and place, without its message (which can quote the data).
fn json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data (wrong field type or value)",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{kind} error at line {} column {}", e.line(), e.column())
}

impl DeadLetter {
    /// What identifies the record whatever the delivery: its source, shard and sequence number.
    pub fn record_id(&self) -> String {
        let source = self.event_source_arn.as_deref().unwrap_or("");
        format!("{source}|{}|{}", self.shard, self.sequence_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kinesis::KinesisEventRecord;

    fn record(data: &[u8]) -> KinesisEventRecord {
        let mut r = KinesisEventRecord::default();
        r.event_id = Some("shardId-000000000003:77".into());
        r.kinesis.sequence_number = "77".into();
        r.kinesis.partition_key = "pk-é".into();
        *r.kinesis.data = data.to_vec();
        r
    }

    #[test]
    fn body_round_trips_any_bytes_as_ascii() {
        let data: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0x00]).collect();
        let letter = DeadLetter::from_record(&record(&data), "reason ✓ \u{fffe} \u{1f600}");
        let body = letter.to_body();
        assert!(body.is_ascii(), "{body}");
        let back = DeadLetter::from_body(&body).unwrap();
        assert_eq!(back.data, data);
        assert_eq!(back.shard, "shardId-000000000003");
        assert_eq!(back.sequence_number, "77");
        assert_eq!(back.partition_key, "pk-é");
        assert_eq!(back.reason, letter.reason);
        assert_eq!(
            back.dead_lettered_at.timestamp_millis(),
            letter.dead_lettered_at.timestamp_millis()
        );
    }

    #[test]
    fn foreign_bodies_are_typed_errors() {
        assert!(matches!(
            DeadLetter::from_body("hello"),
            Err(BodyError::Json(_))
        ));
        let other = DeadLetter::from_record(&record(b"x"), "r")
            .to_body()
            .replace(FORMAT, "something-else/9");
        assert!(matches!(
            DeadLetter::from_body(&other),
            Err(BodyError::Format(f)) if f == "something-else/9"
        ));
        let bad = DeadLetter::from_record(&record(b"x"), "r")
            .to_body()
            .replace("\"data\":\"eA==\"", "\"data\":\"*\"");
        assert!(matches!(
            DeadLetter::from_body(&bad),
            Err(BodyError::Data(_))
        ));
    }

    #[test]
    fn reasons_never_quote_the_data() {
        let error = serde_json::from_slice::<aws_lambda_events::event::dynamodb::EventRecord>(
            br#"{"dynamodb":"TOP-SECRET"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("TOP-SECRET"), "{error}");
        let reason = reason(&Problem::NotARecord(error));
        assert!(!reason.contains("TOP-SECRET"), "{reason}");
        assert!(reason.contains("line 1"), "{reason}");
    }
}
