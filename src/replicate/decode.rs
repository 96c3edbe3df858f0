//! Decoding: a stream record into the primary-table key it announces, or a typed error that says
//! which record is unusable and why. Records come from a Kinesis stream (their data is a DynamoDB
//! Streams JSON record: the seed's key records, or what Kinesis Data Streams for DynamoDB writes);
//! a source differs only in how a record yields its key, which record it is, and when it arrived.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::aws::key::{Key, KeyError, KeySchema};

/// Why a record can never be replicated, whatever is retried.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("data is not a DynamoDB Streams JSON record: {0}")]
    NotARecord(#[from] serde_json::Error),
    #[error("record has no dynamodb.Keys")]
    NoKeys,
    #[error("record is for table `{found}`, not {expected}")]
    OtherTable { found: String, expected: String },
    #[error(
        "record names no table, and this deployment follows several primary tables ({tables}): \
         the writer must name the table (`eventSourceARN`, the writer's table ARN option)"
    )]
    NoTable { tables: String },
    #[error("record's key does not match the primary table's key schema: {0}")]
    Key(#[from] KeyError),
}

/// An unusable record, with where it is in the stream.
#[derive(Debug, thiserror::Error)]
#[error("unusable record {sequence_number} on {shard}: {problem}")]
pub struct RecordError {
    pub shard: String,
    pub sequence_number: String,
    pub problem: Problem,
}

/// A record of a stream the replicator is triggered by.
pub trait SourceRecord {
    /// The key the record announces, checked against the primary table's key schema.
    fn key(&self, schema: &KeySchema, primary_table: &str) -> Result<Key, Problem>;
    /// What identifies the record in `batchItemFailures`: its sequence number.
    fn sequence_number(&self) -> &str;
    /// The shard it came from, for messages.
    fn shard(&self) -> &str;
    /// When it reached the stream.
    fn arrival(&self) -> Option<DateTime<Utc>>;
    /// The record as it arrived, byte for byte (what a dead letter keeps).
    fn data(&self) -> Cow<'_, [u8]>;
    /// The partition key to put it back on the stream with.
    fn partition_key(&self) -> &str;
    /// The ARN of the stream it came from.
    fn event_source_arn(&self) -> Option<&str>;
    /// The table the record names, if it names one (`None` also when it cannot be read: then
    /// decoding it says why).
    fn table(&self) -> Option<String>;
    /// True for a delete that DynamoDB's TTL made (a `REMOVE` whose `userIdentity` is the
    /// DynamoDB service), not a writer. Only a table's own stream says so.
    fn is_ttl_delete(&self) -> bool {
        false
    }
}

impl SourceRecord for KinesisEventRecord {
    fn key(&self, schema: &KeySchema, primary_table: &str) -> Result<Key, Problem> {
        decode_data(&self.kinesis.data, schema, primary_table)
    }

    fn sequence_number(&self) -> &str {
        &self.kinesis.sequence_number
    }

    fn shard(&self) -> &str {
        shard_of(self)
    }

    fn arrival(&self) -> Option<DateTime<Utc>> {
        Some(self.kinesis.approximate_arrival_timestamp.0)
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.kinesis.data)
    }

    fn partition_key(&self) -> &str {
        &self.kinesis.partition_key
    }

    fn event_source_arn(&self) -> Option<&str> {
        self.event_source_arn.as_deref()
    }

    fn table(&self) -> Option<String> {
        let named: TableOnly = serde_json::from_slice(&self.kinesis.data).ok()?;
        named.table()
    }
}

/// A record of a table's own DynamoDB stream: its `Keys` are the key (images, whatever the
/// stream's view type, are ignored); its table is the one its `eventSourceARN` names.
impl SourceRecord for DynamoDbEventRecord {
    fn key(&self, schema: &KeySchema, primary_table: &str) -> Result<Key, Problem> {
        if let Some(table) = self.table().filter(|t| t != primary_table) {
            return Err(Problem::OtherTable {
                found: table,
                expected: format!("the primary table `{primary_table}`"),
            });
        }
        let keys = &self.change.keys;
        if keys.is_empty() {
            return Err(Problem::NoKeys);
        }
        let attrs = keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        Ok(schema.key(attrs)?)
    }

    fn sequence_number(&self) -> &str {
        self.change.sequence_number.as_deref().unwrap_or_default()
    }

    fn shard(&self) -> &str {
        self.event_source_arn
            .as_deref()
            .unwrap_or("dynamodb-stream")
    }

    fn arrival(&self) -> Option<DateTime<Utc>> {
        Some(self.change.approximate_creation_date_time)
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(serde_json::to_vec(self).unwrap_or_default())
    }

    fn partition_key(&self) -> &str {
        ""
    }

    fn event_source_arn(&self) -> Option<&str> {
        self.event_source_arn.as_deref()
    }

    fn table(&self) -> Option<String> {
        let arn = self.event_source_arn.as_deref()?;
        table_of_stream_arn(arn).map(str::to_owned)
    }

    fn is_ttl_delete(&self) -> bool {
        self.event_name == "REMOVE"
            && self
                .user_identity
                .as_ref()
                .is_some_and(|u| u.type_ == "Service" && u.principal_id == TTL_PRINCIPAL)
    }
}

/// The principal of the deletes DynamoDB's TTL makes, in a stream record's `userIdentity`.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// The keys (canonical) whose last record in a batch is a TTL delete, given each record's key
/// (`None`: unusable) and whether it is a TTL delete. An archive replica keeps such a key as it
/// is: reading it would find it gone and delete it. A key written again after its TTL delete
/// (a later record) is replicated as usual.
pub fn kept_by_ttl<'a>(
    records: impl Iterator<Item = (Option<&'a [u8]>, bool)>,
) -> HashSet<Vec<u8>> {
    let mut last: HashMap<&[u8], bool> = HashMap::new();
    for (key, ttl_delete) in records {
        if let Some(key) = key {
            last.insert(key, ttl_delete);
        }
    }
    last.into_iter()
        .filter(|(_, ttl_delete)| *ttl_delete)
        .map(|(key, _)| key.to_vec())
        .collect()
}

/// The table a DynamoDB table or stream ARN names (`arn:…:table/NAME`, `…/stream/LABEL`).
pub fn table_of_stream_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":table/")?;
    rest.split('/').next().filter(|t| !t.is_empty())
}

/// The shard a record came from, from its `eventID` (`shardId-…:sequence`).
pub fn shard_of(record: &KinesisEventRecord) -> &str {
    record
        .event_id
        .as_deref()
        .and_then(|id| id.split(':').next())
        .unwrap_or("unknown-shard")
}

/// Decodes a record of a deployment that follows `sources` (each primary table's name and key
/// schema): which of them the record is for (the one it names; a record that names none is for
/// the only one), and its key.
pub fn decode_from<R: SourceRecord + ?Sized>(
    record: &R,
    sources: &[(&str, &KeySchema)],
) -> Result<(usize, Key), RecordError> {
    if let [(table, schema)] = sources {
        return decode(record, schema, table).map(|key| (0, key));
    }
    let tables = || {
        let names: Vec<String> = sources.iter().map(|(t, _)| format!("`{t}`")).collect();
        names.join(", ")
    };
    let source = match record.table() {
        Some(named) => sources
            .iter()
            .position(|(t, _)| *t == named)
            .ok_or_else(|| Problem::OtherTable {
                found: named,
                expected: format!("any of this deployment's primary tables ({})", tables()),
            }),
        None => Err(Problem::NoTable { tables: tables() }),
    };
    let source = source.map_err(|problem| RecordError {
        shard: record.shard().to_owned(),
        sequence_number: record.sequence_number().to_owned(),
        problem,
    })?;
    let (table, schema) = sources[source];
    decode(record, schema, table).map(|key| (source, key))
}

/// Decodes a record's key and checks it against the primary table's key schema (images, if
/// any, are ignored: the primary is the source of truth).
pub fn decode<R: SourceRecord + ?Sized>(
    record: &R,
    schema: &KeySchema,
    primary_table: &str,
) -> Result<Key, RecordError> {
    record
        .key(schema, primary_table)
        .map_err(|problem| RecordError {
            shard: record.shard().to_owned(),
            sequence_number: record.sequence_number().to_owned(),
            problem,
        })
}

/// The parts of a DynamoDB Streams record (aws_lambda_events' `dynamodb::EventRecord`) that
/// the replicator uses. The rest (ids, timestamps, and the images a native stream may carry, up
/// to 400 KB each) is skipped by the parser without being built.
#[derive(Deserialize)]
struct KeyRecord {
    #[serde(rename = "tableName", default)]
    table_name: Option<String>,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
    dynamodb: StreamKeys,
}

/// What names a record's table: `tableName` (Kinesis Data Streams for DynamoDB), or
/// `eventSourceARN` (DynamoDB Streams records, and the dyno writer's when given the table ARN).
#[derive(Deserialize)]
struct TableOnly {
    #[serde(rename = "tableName", default)]
    table_name: Option<String>,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
}

impl TableOnly {
    fn table(self) -> Option<String> {
        named_table(self.table_name, self.event_source_arn.as_deref())
    }
}

/// The table a record names: its `tableName`, else the table of its `eventSourceARN`.
fn named_table(table_name: Option<String>, event_source_arn: Option<&str>) -> Option<String> {
    table_name.or_else(|| table_of_stream_arn(event_source_arn?).map(str::to_owned))
}

#[derive(Deserialize)]
struct StreamKeys {
    #[serde(rename = "Keys", default)]
    keys: Option<serde_dynamo::Item>,
}

fn decode_data(data: &[u8], schema: &KeySchema, primary_table: &str) -> Result<Key, Problem> {
    let change: KeyRecord = serde_json::from_slice(data)?;
    let named = named_table(change.table_name, change.event_source_arn.as_deref());
    if let Some(table) = named.filter(|t| t != primary_table) {
        return Err(Problem::OtherTable {
            found: table,
            expected: format!("the primary table `{primary_table}`"),
        });
    }
    let keys = change
        .dynamodb
        .keys
        .map(|k| k.into_inner())
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(Problem::NoKeys);
    }
    Ok(schema.key(keys.into_iter().map(|(k, v)| (k, v.into())).collect())?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_is_kept_only_when_its_last_record_is_a_ttl_delete() {
        let records = [
            (Some(&b"a"[..]), false),
            (Some(&b"a"[..]), true),
            (Some(&b"b"[..]), true),
            (Some(&b"b"[..]), false),
            (None, true),
            (Some(&b"c"[..]), false),
        ];
        let kept = kept_by_ttl(records.into_iter());
        assert_eq!(kept, HashSet::from([b"a".to_vec()]));
    }

    #[test]
    fn only_a_remove_by_the_dynamodb_service_is_a_ttl_delete() {
        let record = |name: &str, identity: serde_json::Value| {
            dynamodb_record(serde_json::json!({
                "eventID": "1", "eventName": name, "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "userIdentity": identity,
                "dynamodb": {"Keys": {"id": {"S": "k"}}, "SequenceNumber": "1", "SizeBytes": 9,
                    "StreamViewType": "KEYS_ONLY", "ApproximateCreationDateTime": 1.0}
            }))
        };
        let service = serde_json::json!({"type": "Service", "principalId": TTL_PRINCIPAL});
        assert!(record("REMOVE", service.clone()).is_ttl_delete());
        assert!(!record("MODIFY", service).is_ttl_delete());
        let user = serde_json::json!({"type": "Service", "principalId": "someone"});
        assert!(!record("REMOVE", user).is_ttl_delete());
        assert!(!record("REMOVE", serde_json::Value::Null).is_ttl_delete());
    }

    use super::*;
    use crate::aws::key::ScalarType;

    const SEED: &[u8] = include_bytes!("../../tests/fixtures/seed-record.json");

    fn thread() -> KeySchema {
        KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
    }

    fn record(data: &[u8]) -> KinesisEventRecord {
        let mut r = KinesisEventRecord::default();
        r.event_id = Some("shardId-000000000007:42".into());
        r.kinesis.sequence_number = "42".into();
        *r.kinesis.data = data.to_vec();
        r
    }

    #[test]
    fn decodes_the_seed_record_verbatim() {
        let key = decode(&record(SEED), &thread(), "Thread").unwrap();
        assert_eq!(
            key.to_string(),
            r#"ForumName=S:"DynamoDB",Subject=S:"DynamoDB Thread 3""#
        );
    }

    #[test]
    fn decodes_the_kinesis_data_streams_for_dynamodb_format() {
        let data = br#"{"awsRegion":"us-east-1","eventID":"0d6d1a3c-1b64-4c08-9f5e-7c2b1c0f1a2b",
            "eventName":"MODIFY","userIdentity":null,"recordFormat":"application/json",
            "tableName":"Thread","dynamodb":{"ApproximateCreationDateTime":1732521600123,
            "ApproximateCreationDateTimePrecision":"MILLISECOND",
            "Keys":{"Subject":{"S":"s"},"ForumName":{"S":"f"}},
            "NewImage":{"ForumName":{"S":"f"},"Subject":{"S":"s"},"Tags":{"SS":["a"]}},
            "OldImage":{"ForumName":{"S":"f"},"Subject":{"S":"s"}},"SizeBytes":40},
            "eventSource":"aws:dynamodb"}"#;
        let key = decode(&record(data), &thread(), "Thread").unwrap();
        assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
    }

    fn dynamodb_record(json: serde_json::Value) -> DynamoDbEventRecord {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn decodes_a_table_stream_record_from_its_keys_whatever_its_images() {
        let record = dynamodb_record(serde_json::json!({
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Thread/stream/2026-11-27T00:00:00.000",
            "dynamodb": {"ApproximateCreationDateTime": 1764201600.0,
                "Keys": {"Subject": {"S": "s"}, "ForumName": {"S": "f"}},
                "NewImage": {"ForumName": {"S": "f"}, "Subject": {"S": "s"}, "Body": {"S": "x"}},
                "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        }));
        let key = decode(&record, &thread(), "Thread").unwrap();
        assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
        assert_eq!(record.sequence_number(), "111");
        let err = decode(&record, &thread(), "Other").unwrap_err();
        assert!(matches!(err.problem, Problem::OtherTable { .. }), "{err}");
        assert_eq!(
            table_of_stream_arn("arn:aws:dynamodb:r:1:table/T-1.x/stream/label"),
            Some("T-1.x")
        );
    }

    #[test]
    fn names_the_record_and_the_reason() {
        let err = decode(&record(b"not json"), &thread(), "Thread").unwrap_err();
        assert_eq!(err.shard, "shardId-000000000007");
        assert_eq!(err.sequence_number, "42");
        assert!(matches!(err.problem, Problem::NotARecord(_)));
        assert!(err.to_string().contains("shardId-000000000007"), "{err}");

        let no_keys =
            br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","dynamodb":{"SizeBytes":1}}"#;
        let err = decode(&record(no_keys), &thread(), "Thread").unwrap_err();
        assert!(matches!(err.problem, Problem::NoKeys), "{err}");

        let other = br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"Other",
            "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"S":"f"},"Subject":{"S":"s"}}}}"#;
        let err = decode(&record(other), &thread(), "Thread").unwrap_err();
        assert!(matches!(err.problem, Problem::OtherTable { .. }), "{err}");

        let wrong_type = br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT",
            "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"N":"1"},"Subject":{"S":"s"}}}}"#;
        let err = decode(&record(wrong_type), &thread(), "Thread").unwrap_err();
        assert!(
            matches!(err.problem, Problem::Key(KeyError::WrongType { .. })),
            "{err}"
        );
    }
}
