//! The writer (dyno): writes to the primary table with the SDK's own requests and, only once
//! DynamoDB has confirmed a write, publishes the item's key record on the Kinesis stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::key::{Key, KeyError, KeyIndex, KeySchema};
use crate::replicate::{MAX_WRITE_REQUESTS, backoff};

/// Kinesis `PutRecords` takes at most 500 records and 5 MiB a call.
const MAX_PUT_RECORDS: usize = 500;
const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Rounds for re-sending what a batch call left unprocessed or failed.
const MAX_ROUNDS: u32 = 8;

/// The kind of change, as the key record's advisory `eventName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Insert,
    Modify,
    Remove,
}

impl Change {
    fn event_name(self) -> &'static str {
        match self {
            Change::Insert => "INSERT",
            Change::Modify => "MODIFY",
            Change::Remove => "REMOVE",
        }
    }
}

/// Why a write did not fully happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// DynamoDB refused or failed the write: nothing changed and nothing was published.
    #[error("writing to `{table}` failed: {message}")]
    Write {
        table: String,
        /// The service's error code, e.g. `ConditionalCheckFailedException`.
        code: Option<String>,
        message: String,
    },
    /// The request's key does not fit the table.
    #[error("the request's key does not fit table `{table}`: {source}")]
    Key {
        table: String,
        #[source]
        source: KeyError,
    },
    /// The request names another table than the writer's.
    #[error("the request is for table `{found}`, but this writer writes `{expected}`")]
    OtherTable { found: String, expected: String },
    /// Some writes of a batch never went through; the others were written and published.
    #[error("{} of the batch's writes to `{table}` failed ({message}); first key: {}", keys.len(), keys.first().map(String::as_str).unwrap_or("-"))]
    NotWritten {
        table: String,
        keys: Vec<String>,
        message: String,
    },
    /// The write committed but its key record was not published: the replica was not told.
    #[error(
        "the write to `{table}` stands, but the key record for {} key(s) (first: {}) could not be published to stream `{stream}`: {message}; the replica was not told: re-announce the keys (`dyno announce`) or repair",
        keys.len(), keys.first().map(String::as_str).unwrap_or("-")
    )]
    NotPublished {
        table: String,
        stream: String,
        keys: Vec<String>,
        message: String,
    },
}

impl WriteError {
    /// True when DynamoDB rejected the write because its condition did not hold.
    pub fn is_conditional_check_failed(&self) -> bool {
        matches!(self, WriteError::Write { code: Some(c), .. } if c == "ConditionalCheckFailedException")
    }
}

/// Writes to the primary table and announces each written key on the stream.
#[derive(Debug, Clone)]
pub struct Writer {
    dynamodb: Client,
    kinesis: aws_sdk_kinesis::Client,
    table: String,
    stream: String,
    region: String,
    schema: KeySchema,
}

/// Sequence numbers for the key records this process publishes (advisory, like `eventName`).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Writer {
    /// A writer for `table`, announcing on `stream`; reads the table's key schema.
    pub async fn connect(
        dynamodb: Client,
        kinesis: aws_sdk_kinesis::Client,
        table: &str,
        stream: &str,
    ) -> Result<Self, WriteError> {
        let fail = |message: String| WriteError::Write {
            table: table.to_owned(),
            code: None,
            message,
        };
        let description = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| fail(format!("DescribeTable: {}", DisplayErrorContext(e))))?;
        let schema = description
            .table
            .as_ref()
            .ok_or_else(|| fail("DescribeTable returned no table".into()))
            .and_then(|t| KeySchema::from_description(t).map_err(|e| fail(e.to_string())))?;
        let region = dynamodb
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_owned());
        Ok(Writer {
            dynamodb,
            kinesis,
            table: table.to_owned(),
            stream: stream.to_owned(),
            region,
            schema,
        })
    }

    /// The DynamoDB client, to build requests for [`Writer::put_item`] and friends.
    pub fn dynamodb(&self) -> &Client {
        &self.dynamodb
    }

    /// The primary table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The primary table's key schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// A `PutItem` request for the primary table, to complete and pass to [`Writer::put_item`].
    pub fn put(&self) -> PutItemFluentBuilder {
        self.dynamodb.put_item().table_name(&self.table)
    }

    /// An `UpdateItem` request for the primary table.
    pub fn update(&self) -> UpdateItemFluentBuilder {
        self.dynamodb.update_item().table_name(&self.table)
    }

    /// A `DeleteItem` request for the primary table.
    pub fn delete(&self) -> DeleteItemFluentBuilder {
        self.dynamodb.delete_item().table_name(&self.table)
    }

    fn check_table(&self, table: &Option<String>) -> Result<(), WriteError> {
        match table {
            Some(t) if t != &self.table => Err(WriteError::OtherTable {
                found: t.clone(),
                expected: self.table.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn key_of(&self, attrs: &Option<HashMap<String, AttributeValue>>) -> Result<Key, WriteError> {
        self.schema
            .key_of_item(attrs.as_ref().unwrap_or(&HashMap::new()))
            .map_err(|source| WriteError::Key {
                table: self.table.clone(),
                source,
            })
    }

    fn write_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        error: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> WriteError {
        WriteError::Write {
            table: self.table.clone(),
            code: error.code().map(str::to_owned),
            message: DisplayErrorContext(error).to_string(),
        }
    }

    /// Sends a `PutItem` (conditions and return values as the SDK has them), then publishes the
    /// key. `eventName` is MODIFY when the request asked for the old item and there was one,
    /// else INSERT.
    pub async fn put_item(
        &self,
        request: PutItemFluentBuilder,
    ) -> Result<PutItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_item())?;
        let output = request.send().await.map_err(|e| self.write_error(e))?;
        let change = match output.attributes() {
            Some(old) if !old.is_empty() => Change::Modify,
            _ => Change::Insert,
        };
        self.publish(&key, change).await?;
        Ok(output)
    }

    /// Sends an `UpdateItem`, then publishes the key (MODIFY).
    pub async fn update_item(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> Result<UpdateItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_key())?;
        let output = request.send().await.map_err(|e| self.write_error(e))?;
        self.publish(&key, Change::Modify).await?;
        Ok(output)
    }

    /// Sends a `DeleteItem`, then publishes the key (REMOVE).
    pub async fn delete_item(
        &self,
        request: DeleteItemFluentBuilder,
    ) -> Result<DeleteItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_key())?;
        let output = request.send().await.map_err(|e| self.write_error(e))?;
        self.publish(&key, Change::Remove).await?;
        Ok(output)
    }

    /// Writes puts and deletes with `BatchWriteItem` (25 a call, unprocessed items re-sent with
    /// backoff), then publishes the keys of what was written with `PutRecords`. Returns how
    /// many writes were made. Two requests for one key in one batch are refused by DynamoDB.
    pub async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<usize, WriteError> {
        let mut keyed = Vec::with_capacity(requests.len());
        for request in requests {
            let (attrs, change) = match (&request.put_request, &request.delete_request) {
                (Some(put), _) => (Some(put.item().clone()), Change::Modify),
                (None, Some(delete)) => (Some(delete.key().clone()), Change::Remove),
                (None, None) => (None, Change::Modify),
            };
            keyed.push((self.key_of(&attrs)?, change, request));
        }
        let mut written = Vec::with_capacity(keyed.len());
        let mut not_written = Vec::new();
        let mut last_error = String::new();
        let mut rest = keyed.into_iter().peekable();
        while rest.peek().is_some() {
            // The keys still pending, and their requests as the next call sends them: the
            // requests DynamoDB hands back unprocessed are re-sent as they are, never copied.
            let (mut pending, mut requests): (Vec<(Key, Change)>, Vec<WriteRequest>) = rest
                .by_ref()
                .take(MAX_WRITE_REQUESTS)
                .map(|(key, change, request)| ((key, change), request))
                .unzip();
            let mut round = 0;
            while !pending.is_empty() {
                round += 1;
                let response = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await;
                let unprocessed = match response {
                    Ok(out) => out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default(),
                    Err(e) => {
                        last_error = DisplayErrorContext(e).to_string();
                        not_written.extend(pending.drain(..).map(|(k, _)| k.to_string()));
                        break;
                    }
                };
                // Which keys came back unprocessed, in `pending`'s order; an answer that names a
                // write that was not sent is not re-sent (it would write what nobody asked for).
                let index = KeyIndex::new(&self.schema, pending.iter().map(|(key, _)| key));
                let Some(left) = index.match_writes(unprocessed) else {
                    last_error = "the answer holds a write that was not sent".into();
                    not_written.extend(pending.drain(..).map(|(k, _)| k.to_string()));
                    break;
                };
                for (entry, request) in std::mem::take(&mut pending).into_iter().zip(left) {
                    match request {
                        Some(request) => {
                            pending.push(entry);
                            requests.push(request);
                        }
                        None => written.push(entry),
                    }
                }
                if !pending.is_empty() && (round >= MAX_ROUNDS || !backoff(round, None).await) {
                    last_error = format!("still unprocessed after {round} attempts");
                    not_written.extend(pending.drain(..).map(|(k, _)| k.to_string()));
                }
            }
        }
        let count = written.len();
        self.publish_many(&written).await?;
        if !not_written.is_empty() {
            return Err(WriteError::NotWritten {
                table: self.table.clone(),
                keys: not_written,
                message: last_error,
            });
        }
        Ok(count)
    }

    /// Publishes the key record of `key` again (e.g. after [`WriteError::NotPublished`]).
    pub async fn announce(&self, key: &Key) -> Result<(), WriteError> {
        self.publish(key, Change::Modify).await
    }

    /// Takes a key given as attributes (e.g. from the command line) and validates it.
    pub fn key(&self, attrs: HashMap<String, AttributeValue>) -> Result<Key, WriteError> {
        self.key_of(&Some(attrs))
    }

    /// Puts one key record on the stream with `PutRecord` (the SDK retries throttling).
    async fn publish(&self, key: &Key, change: Change) -> Result<(), WriteError> {
        let data = self.key_record(key, change);
        self.kinesis
            .put_record()
            .stream_name(&self.stream)
            .partition_key(key.partition_key())
            .data(Blob::new(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.not_published(vec![key.to_string()], DisplayErrorContext(e)))
    }

    /// Puts many key records with `PutRecords` (≤500 records and ≤5 MiB a call), in order,
    /// re-sending only the failed entries with backoff.
    async fn publish_many(&self, keys: &[(Key, Change)]) -> Result<(), WriteError> {
        let mut calls: Vec<Vec<(usize, PutRecordsRequestEntry)>> = vec![Vec::new()];
        let mut bytes = 0;
        for (i, (key, change)) in keys.iter().enumerate() {
            let partition_key = key.partition_key();
            let data = self.key_record(key, *change);
            let size = data.len() + partition_key.len();
            let current = calls.last_mut().expect("calls is never empty");
            if current.len() == MAX_PUT_RECORDS || bytes + size > MAX_PUT_RECORDS_BYTES {
                calls.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(partition_key)
                .data(Blob::new(data))
                .build()
                .map_err(|e| self.not_published(vec![key.to_string()], e))?;
            calls
                .last_mut()
                .expect("calls is never empty")
                .push((i, entry));
        }
        for mut entries in calls.into_iter().filter(|c| !c.is_empty()) {
            let mut round = 0;
            loop {
                round += 1;
                let response = self
                    .kinesis
                    .put_records()
                    .stream_name(&self.stream)
                    .set_records(Some(entries.iter().map(|(_, e)| e.clone()).collect()))
                    .send()
                    .await;
                let failed = match response {
                    Err(e) => {
                        let keys = entries
                            .iter()
                            .map(|(i, _)| keys[*i].0.to_string())
                            .collect();
                        return Err(self.not_published(keys, DisplayErrorContext(e)));
                    }
                    Ok(out) if out.failed_record_count().unwrap_or(0) == 0 => break,
                    Ok(out) => out
                        .records()
                        .iter()
                        .zip(entries)
                        .filter(|(result, _)| result.error_code().is_some())
                        .map(|(_, entry)| entry)
                        .collect::<Vec<_>>(),
                };
                entries = failed;
                if entries.is_empty() {
                    break;
                }
                if round >= MAX_ROUNDS || !backoff(round, None).await {
                    let keys = entries
                        .iter()
                        .map(|(i, _)| keys[*i].0.to_string())
                        .collect();
                    let message = format!("entries still failing after {round} attempts");
                    return Err(self.not_published(keys, message));
                }
            }
        }
        Ok(())
    }

    fn not_published(&self, keys: Vec<String>, message: impl std::fmt::Display) -> WriteError {
        WriteError::NotPublished {
            table: self.table.clone(),
            stream: self.stream.clone(),
            keys,
            message: message.to_string(),
        }
    }

    /// The key record, in the seed's DynamoDB Streams `KEYS_ONLY` shape.
    fn key_record(&self, key: &Key, change: Change) -> Vec<u8> {
        let keys = serde_dynamo::Item::from(key.to_attributes());
        let keys_json = serde_json::to_value(&keys).unwrap_or_default();
        let size = serde_json::to_vec(&keys_json).map(|v| v.len()).unwrap_or(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let record = serde_json::json!({
            "awsRegion": self.region,
            "dynamodb": {
                "Keys": keys_json,
                "SequenceNumber": format!("{nanos}{sequence:06}"),
                "SizeBytes": size,
                "StreamViewType": "KEYS_ONLY",
            },
            "eventID": format!("{:032x}", fastrand::u128(..)),
            "eventName": change.event_name(),
            "eventSource": "aws:dynamodb",
            "eventVersion": "1.0",
        });
        serde_json::to_vec(&record).unwrap_or_default()
    }
}
