//! Decoding: a stream record into the primary-table key it announces, or a typed error that says
//! which record is unusable and why. Records come from a Kinesis stream (their data is a DynamoDB
//! Streams JSON record: the seed's key records, or what Kinesis Data Streams for DynamoDB writes);
//! a source differs only in how a record yields its key, which record it is, and when it arrived,
//! and (for an archive, see `archive`) whether it is a TTL delete and what its old image is.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::aws::key::{Key, KeyError, KeySchema};
use crate::aws::table::Item;

/// Why a record can never be replicated, whatever is retried. A JSON error's own message can quote
/// the data: what is logged or dead-lettered is the `letter` module's `reason`, never this
/// `Display`.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("data is not a DynamoDB Streams JSON record: {0}")]
    NotARecord(#[from] serde_json::Error),
    #[error(
        "data is not UTF-8 text (its first bad byte is at offset {at}), so not a DynamoDB \
         Streams JSON record"
    )]
    NotUtf8 { at: usize },
    #[error("record's dynamodb.Keys is not a map of DynamoDB JSON attribute values: {0}")]
    KeysNotDynamoDbJson(#[source] serde_json::Error),
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

/// What a record announces, read in one pass: the table it names, if it names one, and its
/// key's attributes as they came (not yet checked against any key schema).
#[derive(Debug)]
pub struct Announced<'a> {
    pub table: Option<Cow<'a, str>>,
    pub keys: Option<Keys<'a>>,
}

/// A record's `dynamodb.Keys`.
#[derive(Debug)]
pub enum Keys<'a> {
    /// As JSON text, exactly as in the record's data: one text is one key (or one error), so a
    /// batch needs to parse each distinct text once.
    Text(&'a str),
    /// Parsed with the rest of the record, each attribute's name and value.
    Parsed(Vec<(String, serde_dynamo::AttributeValue)>),
    /// Already parsed (a table stream's record, as Lambda delivers it).
    Attributes(&'a HashMap<String, serde_dynamo::AttributeValue>),
}

/// How a record's data gives its `Keys`: as text (so a batch that repeats keys finds each repeat
/// by its text, unparsed), or parsed at once (less work for a key met once). Either gives the
/// same key; a record whose `Keys` cannot be read is read as text, to say why the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysAs {
    Text,
    Parsed,
}

impl<'a> Announced<'a> {
    /// The `Keys`' text, if the record carries them as text.
    pub fn text(&self) -> Option<&'a str> {
        match &self.keys {
            Some(Keys::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// The announced key, checked against the primary table's key schema.
    pub fn key(self, schema: &KeySchema) -> Result<Key, Problem> {
        let pairs: Vec<(String, serde_dynamo::AttributeValue)> = match self.keys {
            Some(Keys::Text(text)) => {
                let attributes: KeyAttributes =
                    serde_json::from_str(text).map_err(Problem::KeysNotDynamoDbJson)?;
                attributes.0
            }
            Some(Keys::Parsed(pairs)) => pairs,
            Some(Keys::Attributes(map)) => {
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            None => Vec::new(),
        };
        if pairs.is_empty() {
            return Err(Problem::NoKeys);
        }
        Ok(schema.key_of_pairs(pairs.into_iter().map(|(k, v)| (k, v.into())).collect())?)
    }
}

/// Which of a deployment's primary tables (`sources`, each a name and key schema) a record that
/// names `table` is for: the one it names; a record that names none is for the only one.
pub fn source_of(table: Option<&str>, sources: &[(&str, &KeySchema)]) -> Result<usize, Problem> {
    let tables = || {
        let names: Vec<String> = sources.iter().map(|(t, _)| format!("`{t}`")).collect();
        names.join(", ")
    };
    match (sources, table) {
        ([(primary, _)], Some(named)) if named != *primary => Err(Problem::OtherTable {
            found: named.to_owned(),
            expected: format!("the primary table `{primary}`"),
        }),
        ([_], _) => Ok(0),
        (_, Some(named)) => sources
            .iter()
            .position(|(t, _)| *t == named)
            .ok_or_else(|| Problem::OtherTable {
                found: named.to_owned(),
                expected: format!("any of this deployment's primary tables ({})", tables()),
            }),
        (_, None) => Err(Problem::NoTable { tables: tables() }),
    }
}

/// A record of a stream the replicator is triggered by.
pub trait SourceRecord {
    /// The table the record names and its key's attributes (`keys` says how a record whose data
    /// is JSON text gives them), or why it cannot be read.
    fn announced(&self, keys: KeysAs) -> Result<Announced<'_>, Problem>;
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
    /// True for a delete that DynamoDB's TTL made (a `REMOVE` whose `userIdentity` is the
    /// DynamoDB service), not a writer: a table's own stream and Kinesis Data Streams for
    /// DynamoDB say so; dyno's own key records never do.
    fn is_ttl_delete(&self) -> bool;
    /// The item as it was before the record's change (`dynamodb.OldImage`), if the record
    /// carries one (a stream of view type `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`).
    fn old_image(&self) -> Result<Option<Item>, Problem>;
}

impl SourceRecord for KinesisEventRecord {
    fn announced(&self, keys: KeysAs) -> Result<Announced<'_>, Problem> {
        let data = &self.kinesis.data;
        if keys == KeysAs::Parsed
            && let Ok(record) = parse::<KeyRecord<KeyAttributes>>(data)
        {
            let (table, keys) = record.parts();
            let keys = keys.map(|k| Keys::Parsed(k.0));
            return Ok(Announced { table, keys });
        }
        let (table, keys) = parse::<KeyRecord<&RawValue>>(data)?.parts();
        let keys = keys.map(|raw| Keys::Text(raw.get()));
        Ok(Announced { table, keys })
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
    fn announced(&self, _: KeysAs) -> Result<Announced<'_>, Problem> {
        let table = self
            .event_source_arn
            .as_deref()
            .and_then(table_of_stream_arn);
        let keys = &self.change.keys;
        Ok(Announced {
            table: table.map(Cow::Borrowed),
            keys: (!keys.is_empty()).then_some(Keys::Attributes(keys)),
        })
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
/// schema): which of them the record is for (see [`source_of`]), and its key.
pub fn decode_from<R: SourceRecord + ?Sized>(
    record: &R,
    sources: &[(&str, &KeySchema)],
) -> Result<(usize, Key), RecordError> {
    let decoded = record.announced(KeysAs::Parsed).and_then(|announced| {
        let source = source_of(announced.table.as_deref(), sources)?;
        Ok((source, announced.key(sources[source].1)?))
    });
    decoded.map_err(|problem| unusable(record, problem))
}

/// Decodes a record's key and checks it against the primary table's key schema (images, if
/// any, are ignored: the primary is the source of truth).
pub fn decode<R: SourceRecord + ?Sized>(
    record: &R,
    schema: &KeySchema,
    primary_table: &str,
) -> Result<Key, RecordError> {
    decode_from(record, &[(primary_table, schema)]).map(|(_, key)| key)
}

/// `problem`, with where `record` is in the stream.
pub fn unusable<R: SourceRecord + ?Sized>(record: &R, problem: Problem) -> RecordError {
    RecordError {
        shard: record.shard().to_owned(),
        sequence_number: record.sequence_number().to_owned(),
        problem,
    }
}

/// The parts of a DynamoDB Streams record (aws_lambda_events' `dynamodb::EventRecord`) that
/// the replicator uses, borrowed from the data where they hold no escape. What names the table:
/// `tableName` (Kinesis Data Streams for DynamoDB), or `eventSourceARN` (DynamoDB Streams
/// records, and the dyno writer's when given the table ARN). The rest (ids, timestamps, and the
/// images a native stream may carry, up to 400 KB each) is skipped by the parser without being
/// built, and the `Keys` are read as `K` (text, or their attributes).
#[derive(Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de>"))]
struct KeyRecord<'a, K> {
    #[serde(rename = "tableName", default, borrow)]
    table_name: Option<Text<'a>>,
    #[serde(rename = "eventSourceARN", default, borrow)]
    event_source_arn: Option<Text<'a>>,
    dynamodb: StreamKeys<K>,
}

impl<'a, K> KeyRecord<'a, K> {
    /// The table the record names (its `tableName`, else the table of its `eventSourceARN`),
    /// and its `Keys`.
    fn parts(self) -> (Option<Cow<'a, str>>, Option<K>) {
        let table = match self.table_name {
            Some(Text(name)) => Some(name),
            None => (self.event_source_arn).and_then(|Text(arn)| table_of_arn_text(arn)),
        };
        (table, self.dynamodb.keys)
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de>"))]
struct StreamKeys<K> {
    #[serde(rename = "Keys")]
    keys: Option<K>,
}

/// A string borrowed from the data unless it holds an escape (serde borrows a `Cow` field only
/// where the field is the `Cow` itself, not inside an `Option`).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The table of a table or stream ARN as the record spelled it (see [`table_of_stream_arn`]).
fn table_of_arn_text(arn: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match arn {
        Cow::Borrowed(arn) => table_of_stream_arn(arn).map(Cow::Borrowed),
        Cow::Owned(arn) => table_of_stream_arn(&arn).map(|t| Cow::Owned(t.to_owned())),
    }
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

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
