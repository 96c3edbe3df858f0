//! What the local event source mapping needs of a stream: its shards and their lineage, an
//! iterator from a position, and pages of records in the shape Lambda hands the function. The
//! Kinesis key stream is one such source; a table's own DynamoDB stream is the other.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamsValue, Record as StreamsRecord, StreamRecord,
};
use aws_sdk_kinesis::types::{Record, ShardIteratorType};

use crate::aws::error::AwsError;
use crate::aws::limits;
use crate::aws::stream::{Shard, Stream, StreamError};
use crate::replicate::decode::SourceRecord;

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    TrimHorizon,
    Latest,
    /// At this sequence number (a record to be delivered again).
    At(String),
    /// Just after this sequence number (the last one processed).
    After(String),
    /// The first record that reached the stream at or after this moment (Kinesis only: a
    /// DynamoDB stream starts at its trim horizon, 24 hours back at most).
    AtTimestamp(chrono::DateTime<chrono::Utc>),
}

/// One `GetRecords` answer.
#[derive(Debug)]
pub struct Page<R> {
    pub records: Vec<R>,
    /// The iterator for the next page; `None`: the shard is closed and read to its end.
    pub next: Option<String>,
    /// True when nothing newer is on the shard (yet).
    pub caught_up: bool,
}

/// A stream the local event source mapping reads.
#[allow(async_fn_in_trait)] // used only with concrete sources, never as `dyn`
pub trait ShardSource {
    /// A record, as Lambda hands it to the function.
    type Record: SourceRecord + serde::Serialize + Send + Sync;

    /// The stream, as messages name it.
    fn label(&self) -> String;

    /// Every shard, open and closed, with its parents.
    async fn shards(&self) -> Result<Vec<Shard>, AwsError>;

    /// An iterator for `shard` from `position`.
    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, AwsError>;

    /// Up to `limit` records from `iterator`.
    async fn page(
        &self,
        shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<Page<Self::Record>, AwsError>;
}

/// A Kinesis stream, read as Lambda's Kinesis event source mapping reads it.
#[derive(Debug, Clone)]
pub struct KinesisSource {
    stream: Stream,
    arn: String,
    region: String,
}

impl KinesisSource {
    /// Looks the stream up (its ARN goes into every record, as Lambda's do).
    pub async fn connect(stream: Stream) -> Result<Self, StreamError> {
        let (_, arn) = stream.summary().await?;
        let region = stream
            .client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        Ok(KinesisSource {
            stream,
            arn,
            region,
        })
    }

    /// The record Lambda would hand the function for `record` of `shard`.
    fn event_record(&self, shard: &str, record: Record) -> KinesisEventRecord {
        let mut e = KinesisEventRecord::default();
        e.aws_region = Some(self.region.clone());
        e.event_id = Some(format!("{shard}:{}", record.sequence_number()));
        e.event_name = Some("aws:kinesis:record".into());
        e.event_source = Some("aws:kinesis".into());
        e.event_source_arn = Some(self.arn.clone());
        e.event_version = Some("1.0".into());
        e.invoke_identity_arn = Some("arn:aws:iam::000000000000:role/dyno-local".into());
        let k = &mut e.kinesis;
        k.kinesis_schema_version = Some("1.0".into());
        if let Some(t) = record.approximate_arrival_timestamp() {
            let millis = t.to_millis().unwrap_or(0);
            if let Some(at) = chrono::DateTime::from_timestamp_millis(millis) {
                k.approximate_arrival_timestamp.0 = at;
            }
        }
        k.partition_key = record.partition_key.unwrap_or_default();
        k.sequence_number = record.sequence_number;
        *k.data = record.data.into_inner();
        e
    }
}

impl ShardSource for KinesisSource {
    type Record = KinesisEventRecord;

    fn label(&self) -> String {
        format!("{}={}", self.stream.setting, self.stream.name)
    }

    async fn shards(&self) -> Result<Vec<Shard>, AwsError> {
        self.stream.shards().await
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, AwsError> {
        let request = self
            .stream
            .client
            .get_shard_iterator()
            .stream_name(&self.stream.name)
            .shard_id(shard);
        let request = match position {
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            Position::At(seq) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(seq),
            Position::After(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            Position::AtTimestamp(at) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    at.timestamp_millis(),
                )),
        };
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::new("GetShardIterator", e))?;
        Ok(answer.shard_iterator.unwrap_or_default())
    }

    async fn page(
        &self,
        shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<Page<KinesisEventRecord>, AwsError> {
        let answer = self
            .stream
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit.clamp(1, limits::KINESIS_GET_RECORDS) as i32)
            .send()
            .await
            .map_err(|e| AwsError::new("GetRecords", e))?;
        let caught_up = answer.millis_behind_latest().unwrap_or(0) == 0;
        let next = answer.next_shard_iterator;
        let records = answer
            .records
            .into_iter()
            .map(|r| self.event_record(shard, r))
            .collect();
        Ok(Page {
            records,
            next,
            caught_up,
        })
    }
}

/// A table's own DynamoDB stream, read as Lambda's DynamoDB event source mapping reads it.
#[derive(Debug, Clone)]
pub struct DynamoDbStreamSource {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    region: String,
}

impl DynamoDbStreamSource {
    /// The stream `arn` (a table's `LatestStreamArn`), reached with `client`.
    pub fn new(client: aws_sdk_dynamodbstreams::Client, arn: impl Into<String>) -> Self {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        DynamoDbStreamSource {
            client,
            arn: arn.into(),
            region,
        }
    }

    /// The record Lambda would hand the function for `record`.
    fn event_record(&self, record: StreamsRecord) -> Result<DynamoDbEventRecord, AwsError> {
        let change = record
            .dynamodb
            .unwrap_or_else(|| StreamRecord::builder().build());
        let item = |image: Option<HashMap<String, StreamsValue>>| {
            image.map(|i| serde_json::to_value(serde_dynamo::Item::from(i)).unwrap_or_default())
        };
        let created = change
            .approximate_creation_date_time
            .map(|t| t.as_secs_f64())
            .unwrap_or_default();
        let json = serde_json::json!({
            "eventID": record.event_id.unwrap_or_default(),
            "eventName": record.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default(),
            "eventVersion": record.event_version.unwrap_or_else(|| "1.1".into()),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.aws_region.unwrap_or_else(|| self.region.clone()),
            "eventSourceARN": self.arn,
            "dynamodb": {
                "ApproximateCreationDateTime": created,
                "Keys": item(change.keys),
                "NewImage": item(change.new_image),
                "OldImage": item(change.old_image),
                "SequenceNumber": change.sequence_number,
                "SizeBytes": change.size_bytes.unwrap_or_default(),
                "StreamViewType": change.stream_view_type.map(|v| v.as_str().to_owned()),
            }
        });
        // The shape is the one Lambda sends; a value it cannot hold is a bug, not data.
        serde_json::from_value(json).map_err(|e| AwsError::other("GetRecords", e))
    }
}

impl ShardSource for DynamoDbStreamSource {
    type Record = DynamoDbEventRecord;

    fn label(&self) -> String {
        format!("DynamoDB stream {}", self.arn)
    }

    async fn shards(&self) -> Result<Vec<Shard>, AwsError> {
        let mut shards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let answer = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(after.take())
                .send()
                .await
                .map_err(|e| AwsError::new("DescribeStream", e))?;
            let Some(description) = answer.stream_description else {
                return Ok(shards);
            };
            shards.extend(description.shards().iter().map(|s| {
                Shard {
                    id: s.shard_id().unwrap_or_default().to_owned(),
                    parents: s.parent_shard_id().map(str::to_owned).into_iter().collect(),
                    closed: s
                        .sequence_number_range()
                        .is_some_and(|r| r.ending_sequence_number().is_some()),
                }
            }));
            match description.last_evaluated_shard_id {
                Some(last) => after = Some(last),
                None => return Ok(shards),
            }
        }
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, AwsError> {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType as Type;
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard);
        let request = match position {
            // A DynamoDB stream has no AT_TIMESTAMP: its whole window (24 hours) is read.
            Position::TrimHorizon | Position::AtTimestamp(_) => {
                request.shard_iterator_type(Type::TrimHorizon)
            }
            Position::Latest => request.shard_iterator_type(Type::Latest),
            Position::At(seq) => request
                .shard_iterator_type(Type::AtSequenceNumber)
                .sequence_number(seq),
            Position::After(seq) => request
                .shard_iterator_type(Type::AfterSequenceNumber)
                .sequence_number(seq),
        };
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::new("GetShardIterator", e))?;
        Ok(answer.shard_iterator.unwrap_or_default())
    }

    async fn page(
        &self,
        _shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<Page<DynamoDbEventRecord>, AwsError> {
        let answer = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit.clamp(1, limits::STREAMS_GET_RECORDS) as i32)
            .send()
            .await
            .map_err(|e| AwsError::new("GetRecords", e))?;
        let records = answer
            .records
            .unwrap_or_default()
            .into_iter()
            .map(|r| self.event_record(r))
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB Streams says nothing of how far behind a reader is: an empty page is the end
        // of what there is for now.
        let caught_up = records.is_empty();
        Ok(Page {
            records,
            next: answer.next_shard_iterator,
            caught_up,
        })
    }
}
