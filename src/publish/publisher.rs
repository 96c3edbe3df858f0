//! The publisher: announces keys on the stream, each as a DynamoDB Streams `KEYS_ONLY` record
//! (the seed's shape) whose partition key is the item key in canonical form, so that every
//! record of one item lands on one shard, in order. Concurrent callers share `PutRecords` calls
//! (group commit, see `group_commit`); entries that fail are sent again on their own, with
//! backoff. Single writes, batches, backfills, repairs and replays all go through here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeyList};
use crate::aws::retry::{self, Backoff, Deadline, Undone};
use crate::aws::stream::Stream;
use crate::publish::group_commit::{Group, Sent, Slot};
use crate::publish::record::{Entry, PublishFailure};

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

/// Keys whose records are not on the stream: the replica was not told about them.
#[derive(Debug, thiserror::Error)]
#[error(
    "{count} key record(s) could not be put on {setting}={stream} ({why}); the replica was not \
     told about them: announce them again, or repair the replica with a comparison; the keys: \
     {keys}",
    count = keys.len(),
    keys = KeyList(keys)
)]
pub struct NotPublished {
    pub setting: &'static str,
    pub stream: String,
    pub keys: Vec<Key>,
    #[source]
    pub why: PublishFailure,
}

/// Puts key records on one stream. Clones share one group of calls.
#[derive(Debug, Clone)]
pub struct Publisher {
    stream: Stream,
    /// The records' `awsRegion`.
    region: String,
    /// The records' `eventSourceARN`, naming the table, when a deployment follows several.
    table_arn: Option<String>,
    backoff: Backoff,
    group: Arc<Group>,
}

/// Sequence numbers for the key records this process publishes (advisory, like `eventName`).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Publisher {
    /// A publisher on `stream`; `region` goes into each record's `awsRegion`.
    pub fn new(stream: Stream, region: impl Into<String>, backoff: Backoff) -> Self {
        Publisher {
            stream,
            region: region.into(),
            table_arn: None,
            backoff,
            group: Arc::default(),
        }
    }

    /// Names the table in each record (`eventSourceARN`): what a replicator that follows
    /// several primary tables needs to tell their records apart.
    pub fn with_table_arn(mut self, arn: impl Into<String>) -> Self {
        self.table_arn = Some(arn.into());
        self
    }

    /// The stream records go to.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Puts one key record per entry, in order, in `PutRecords` calls of at most 500 records and
    /// 5 MiB; failed entries are sent again on their own, with backoff. Every call is tried even
    /// when an earlier one failed; the error holds every key not published.
    pub async fn publish(&self, keys: &[(Key, Change)]) -> Result<(), NotPublished> {
        let entries: Vec<Entry> = keys
            .iter()
            .map(|(key, change)| Entry {
                partition_key: key.partition_key(),
                data: self.key_record(key, *change),
            })
            .collect();
        self.put(&entries)
            .await
            .map_err(|(undone, why)| NotPublished {
                setting: self.stream.setting,
                stream: self.stream.name.clone(),
                keys: undone.into_iter().map(|i| keys[i].0.clone()).collect(),
                why,
            })
    }

    /// Puts records as they are (e.g. records replayed from a failed batch), as
    /// [`Publisher::publish`] does; the error holds the positions of those not put.
    pub async fn put(&self, entries: &[Entry]) -> Result<(), (Vec<usize>, PublishFailure)> {
        self.group
            .submit(entries.to_vec(), |slots| self.send(slots))
            .await
    }

    /// `PutRecords` calls this publisher has sent (retries of failed entries not counted).
    pub fn calls(&self) -> u64 {
        self.group.calls()
    }

    /// One call's slots, sent with `PutRecords`; entries that fail are sent again, with backoff.
    async fn send(&self, slots: Vec<Slot>) -> Sent {
        let tagged = slots.iter().enumerate().collect();
        let resent = retry::resend(tagged, &self.backoff, Deadline::NONE, |slots| {
            self.put_records(slots)
        })
        .await;
        Sent {
            undone: resent.undone,
            failure: resent.why.map(|why| match why {
                Undone::Failed(error) => PublishFailure::Call(Arc::new(error)),
                Undone::Unprocessed { attempts } => PublishFailure::Entries { attempts },
                Undone::Unanswered => PublishFailure::Unanswered,
                Undone::Deadline => PublishFailure::Deadline,
            }),
        }
    }

    /// One `PutRecords` of `slots`: for each, `None` when it is on the stream, or the slot to
    /// send again.
    async fn put_records<'s>(
        &self,
        slots: Vec<&'s Slot>,
    ) -> Result<Vec<Option<&'s Slot>>, AwsError> {
        let records = slots.iter().map(|slot| {
            let entry = slot.entry();
            PutRecordsRequestEntry::builder()
                .partition_key(&entry.partition_key)
                .data(Blob::new(entry.data.clone()))
                .build()
        });
        let records: Result<Vec<_>, _> = records.collect();
        let request = self
            .stream
            .client
            .put_records()
            .stream_name(&self.stream.name)
            .set_records(records.ok());
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::new("PutRecords", e))?;
        // Results come in the order of the records sent; a short answer leaves the rest
        // unanswered, which `resend` reports.
        Ok(answer
            .records()
            .iter()
            .zip(slots)
            .map(|(result, slot)| result.error_code().map(|_| slot))
            .collect())
    }

    /// The key record, in the seed's DynamoDB Streams `KEYS_ONLY` shape.
    pub fn key_record(&self, key: &Key, change: Change) -> Vec<u8> {
        let keys = serde_dynamo::Item::from(key.to_attributes());
        let keys_json = serde_json::to_value(&keys).unwrap_or_default();
        let size = serde_json::to_vec(&keys_json).map(|v| v.len()).unwrap_or(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut record = serde_json::json!({
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
        if let Some(arn) = &self.table_arn {
            record["eventSourceARN"] = arn.as_str().into();
        }
        serde_json::to_vec(&record).unwrap_or_default()
    }
}
