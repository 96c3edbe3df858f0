//! What the local event source mapping needs of a stream: its shards and their lineage, an
//! iterator from a position, and pages of records in the shape Lambda hands the function. The
//! Kinesis key stream is one such source.

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};

use crate::aws_error::AwsError;
use crate::decode::SourceRecord;
use crate::stream::{Shard, Stream};

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    TrimHorizon,
    Latest,
    /// At this sequence number (a record to be delivered again).
    At(String),
    /// Just after this sequence number (the last one processed).
    After(String),
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
    type Record: SourceRecord + Send + Sync;

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
    pub async fn connect(stream: Stream) -> Result<Self, AwsError> {
        let answer = stream
            .client
            .describe_stream_summary()
            .stream_name(&stream.name)
            .send()
            .await
            .map_err(|e| AwsError::new("DescribeStreamSummary", e))?;
        let arn = answer
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned())
            .unwrap_or_default();
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
            .limit(limit.clamp(1, 10_000) as i32)
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
