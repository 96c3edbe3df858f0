//! Decoding: a stream record into the primary-table key it announces, or a typed error that says
//! which record is unusable and why. Records come from a Kinesis stream (their data is a DynamoDB
//! Streams JSON record: the seed's key records, or what Kinesis Data Streams for DynamoDB writes);
//! a source differs only in how a record yields its key, which record it is, and when it arrived,
//! and (for an archive, see `archive`) whether it is a TTL delete and what its old image is.

use std::borrow::Cow;

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::aws::key::{Key, KeyError, KeySchema};
use crate::aws::table::Item;

/// Why a record can never be replicated, whatever is retried.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("data is not a DynamoDB Streams JSON record: {0}")]
    NotARecord(#[from] serde_json::Error),
    #[error(
        "data is not UTF-8 text (its first bad byte is at offset {at}), so not a DynamoDB \
         Streams JSON record"
    )]
    NotUtf8 { at: usize },
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
    #[error("record's OldImage has no valid key: {0}")]
    ImageKey(KeyError),
    #[error("record's OldImage is of another key than its Keys")]
    ImageOfAnotherKey,
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
    /// DynamoDB service), not a writer: a table's own stream and Kinesis Data Streams for
    /// DynamoDB say so; dyno's own key records never do.
    fn is_ttl_delete(&self) -> bool;
    /// The item as it was before the record's change (`dynamodb.OldImage`), if the record
    /// carries one (a stream of view type `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`).
    fn old_image(&self) -> Result<Option<Item>, Problem>;
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
        let named: TableOnly = parse(&self.kinesis.data).ok()?;
        named.table()
    }

    /// Reads only `eventName` and `userIdentity` (data that is not a record is no TTL delete).
    fn is_ttl_delete(&self) -> bool {
        parse::<Origin>(&self.kinesis.data).is_ok_and(|origin| {
            let identity = origin.user_identity.unwrap_or_default();
            made_by_ttl(
                origin.event_name.as_deref(),
                identity.kind.as_deref(),
                identity.principal_id.as_deref(),
            )
        })
    }

    fn old_image(&self) -> Result<Option<Item>, Problem> {
        let record: ImageRecord = parse(&self.kinesis.data)?;
        Ok(record.dynamodb.old_image.and_then(item_of))
    }
}

/// A record of a table's own DynamoDB stream: its `Keys` are the key (its images are read only
/// for an archive's TTL deletes); its table is the one its `eventSourceARN` names.
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
        let identity = self.user_identity.as_ref();
        made_by_ttl(
            Some(&self.event_name),
            identity.map(|u| u.type_.as_str()),
            identity.map(|u| u.principal_id.as_str()),
        )
    }

    fn old_image(&self) -> Result<Option<Item>, Problem> {
        Ok(item_of(self.change.old_image.clone()))
    }
}

/// The principal of the deletes DynamoDB's TTL makes, in a stream record's `userIdentity`.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// A `REMOVE` whose `userIdentity` is the DynamoDB service: a delete DynamoDB's TTL made.
fn made_by_ttl(event_name: Option<&str>, kind: Option<&str>, principal: Option<&str>) -> bool {
    event_name == Some("REMOVE") && kind == Some("Service") && principal == Some(TTL_PRINCIPAL)
}

/// An image as an item; an empty one (what a stream without that image leaves) is none.
fn item_of(image: serde_dynamo::Item) -> Option<Item> {
    let image = image.into_inner();
    let item: Item = image.into_iter().map(|(k, v)| (k, v.into())).collect();
    (!item.is_empty()).then_some(item)
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

/// Who made a record's change (Kinesis Data Streams for DynamoDB): all that tells a TTL delete.
#[derive(Deserialize)]
struct Origin {
    #[serde(rename = "eventName", default)]
    event_name: Option<String>,
    #[serde(rename = "userIdentity", default)]
    user_identity: Option<Identity>,
}

#[derive(Deserialize, Default)]
struct Identity {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "principalId", default)]
    principal_id: Option<String>,
}

/// A record's old image (Kinesis Data Streams for DynamoDB), the rest skipped.
#[derive(Deserialize)]
struct ImageRecord {
    dynamodb: OldImage,
}

#[derive(Deserialize)]
struct OldImage {
    #[serde(rename = "OldImage", default)]
    old_image: Option<serde_dynamo::Item>,
}

#[derive(Deserialize)]
struct StreamKeys {
    #[serde(rename = "Keys", default)]
    keys: Option<KeyAttributes>,
}

/// A record's `Keys`, each attribute's name and value: one or two, so a list, not a map (no
/// hashing, one allocation). Of a name given twice, the last value counts, as in a map; past
/// [`MAX_KEY_NAMES`] names the rest are read and dropped: such a record names an attribute no
/// key has, whatever the rest says, so neither a repeated name nor many names make it grow.
struct KeyAttributes(Vec<(String, serde_dynamo::AttributeValue)>);

/// A key has one or two attributes: three names are enough to tell that a record's are no key.
const MAX_KEY_NAMES: usize = 3;

impl<'de> Deserialize<'de> for KeyAttributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Attributes;
        impl<'de> serde::de::Visitor<'de> for Attributes {
            type Value = KeyAttributes;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of key attribute names to DynamoDB JSON values")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyAttributes, A::Error> {
                let mut pairs: Vec<(String, serde_dynamo::AttributeValue)> = Vec::with_capacity(2);
                while let Some((name, value)) = map.next_entry()? {
                    match pairs.iter().position(|(known, _)| *known == name) {
                        Some(at) => pairs[at].1 = value,
                        None if pairs.len() < MAX_KEY_NAMES => pairs.push((name, value)),
                        None => {}
                    }
                }
                Ok(KeyAttributes(pairs))
            }
        }
        deserializer.deserialize_map(Attributes)
    }
}

/// A record's data as JSON: checked as UTF-8 in one pass, then parsed as text (a sixth less CPU
/// than `serde_json::from_slice`, which checks each string it builds as it meets it, and skips
/// the others unchecked). JSON is UTF-8 text (RFC 8259): data with a bad byte anywhere, even in
/// a part never read, is no record, for decoding and for what tells a TTL delete alike.
fn parse<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Result<T, Problem> {
    let text = std::str::from_utf8(data).map_err(|e| Problem::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    Ok(serde_json::from_str(text)?)
}

fn decode_data(data: &[u8], schema: &KeySchema, primary_table: &str) -> Result<Key, Problem> {
    let change: KeyRecord = parse(data)?;
    let named = named_table(change.table_name, change.event_source_arn.as_deref());
    if let Some(table) = named.filter(|t| t != primary_table) {
        return Err(Problem::OtherTable {
            found: table,
            expected: format!("the primary table `{primary_table}`"),
        });
    }
    let keys = change.dynamodb.keys.map(|k| k.0).unwrap_or_default();
    if keys.is_empty() {
        return Err(Problem::NoKeys);
    }
    Ok(schema.key_of_pairs(keys.into_iter().map(|(k, v)| (k, v.into())).collect())?)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
