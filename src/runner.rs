//! The local event source mapping: reads the stream's shards as Lambda's Kinesis event source
//! mapping does, hands each batch to the replicator as a Lambda `KinesisEvent`, honours
//! `batchItemFailures` by re-reading from the lowest failed sequence number, and checkpoints
//! its position per shard so a restart resumes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::handler::Replicator;
use crate::retry::{Backoff, Deadline};
use crate::stream::Stream;

/// The pause before a failed batch is delivered again.
const REDELIVERY: Backoff = Backoff {
    max_attempts: u32::MAX,
    base: std::time::Duration::from_millis(25),
    cap: std::time::Duration::from_secs(2),
};

/// Where a shard with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    #[default]
    TrimHorizon,
    Latest,
}

/// The event source mapping's settings (as in the SAM template).
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Records per batch (Lambda: 1 to 10,000).
    pub batch_size: usize,
    /// How long to gather records before invoking with a partial batch.
    pub batching_window: Duration,
    pub starting_position: StartingPosition,
    /// A JSON file of `shard → last processed sequence number`; `None`: in memory only.
    pub checkpoint: Option<PathBuf>,
    /// Retries of a failing batch before its lowest failing record is skipped (and logged as
    /// sent to the on-failure destination); `None`: retry for ever.
    pub max_retries: Option<u32>,
    /// The function's timeout: each invocation's deadline is this far away.
    pub timeout: Duration,
    /// Pause between polls of an empty shard.
    pub poll_interval: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            batch_size: 100,
            batching_window: Duration::ZERO,
            starting_position: StartingPosition::TrimHorizon,
            checkpoint: None,
            max_retries: Some(10),
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// The stream could not be read, or the checkpoint could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("stream `{stream}`: {operation} failed: {message}")]
    Kinesis {
        stream: String,
        operation: &'static str,
        message: String,
    },
    #[error("checkpoint file {path}: {message}")]
    Checkpoint { path: String, message: String },
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Invocations of the handler.
    pub batches: usize,
    /// Records handed to the handler, re-deliveries included.
    pub deliveries: usize,
    /// Distinct records done (replicated, or skipped after `max_retries`).
    pub records: usize,
    /// Records re-delivered after a partial failure.
    pub redelivered: usize,
    /// Records given up on after `max_retries` (logged with shard and sequence number).
    pub skipped: Vec<String>,
    /// Distinct keys per batch, summed; and the puts and deletes the replica received.
    pub keys: usize,
    pub puts: usize,
    pub deletes: usize,
    /// From each record's arrival on the stream to the end of the batch that replicated it.
    pub lags: Vec<Duration>,
}

impl RunStats {
    fn merge(&mut self, other: RunStats) {
        self.batches += other.batches;
        self.deliveries += other.deliveries;
        self.records += other.records;
        self.redelivered += other.redelivered;
        self.skipped.extend(other.skipped);
        self.keys += other.keys;
        self.puts += other.puts;
        self.deletes += other.deletes;
        self.lags.extend(other.lags);
    }

    /// The lag at quantile `q` (0..=1), if any record was replicated.
    pub fn lag_quantile(&self, q: f64) -> Option<Duration> {
        let mut lags = self.lags.clone();
        lags.sort();
        let last = lags.len().checked_sub(1)?;
        lags.get(((last as f64) * q).round() as usize).copied()
    }
}

/// Per-shard positions, optionally kept in a file.
#[derive(Debug)]
struct Checkpoints {
    path: Option<PathBuf>,
    positions: Mutex<BTreeMap<String, String>>,
}

impl Checkpoints {
    fn load(path: Option<PathBuf>) -> Result<Self, RunnerError> {
        let positions = match &path {
            Some(p) if p.exists() => {
                let bytes = std::fs::read(p).map_err(|e| checkpoint_error(p, e))?;
                serde_json::from_slice(&bytes).map_err(|e| checkpoint_error(p, e))?
            }
            _ => BTreeMap::new(),
        };
        Ok(Checkpoints {
            path,
            positions: Mutex::new(positions),
        })
    }

    fn get(&self, shard: &str) -> Option<String> {
        self.positions.lock().ok()?.get(shard).cloned()
    }

    fn set(&self, shard: &str, sequence: &str) -> Result<(), RunnerError> {
        let snapshot = {
            let mut positions = self.positions.lock().map_err(|_| RunnerError::Checkpoint {
                path: "-".into(),
                message: "a shard task panicked".into(),
            })?;
            positions.insert(shard.to_owned(), sequence.to_owned());
            positions.clone()
        };
        if let Some(path) = &self.path {
            let tmp = path.with_extension("tmp");
            let bytes =
                serde_json::to_vec_pretty(&snapshot).map_err(|e| checkpoint_error(path, e))?;
            std::fs::write(&tmp, bytes).map_err(|e| checkpoint_error(path, e))?;
            std::fs::rename(&tmp, path).map_err(|e| checkpoint_error(path, e))?;
        }
        Ok(())
    }
}

fn checkpoint_error(path: &std::path::Path, e: impl std::fmt::Display) -> RunnerError {
    RunnerError::Checkpoint {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Orders Kinesis sequence numbers (decimal strings) by value.
pub fn sequence_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The local event source mapping for one stream.
#[derive(Debug, Clone)]
pub struct Runner {
    kinesis: Client,
    stream: String,
    stream_arn: String,
    region: String,
    options: RunnerOptions,
    checkpoints: Arc<Checkpoints>,
}

impl Runner {
    /// Looks the stream up and loads the checkpoint.
    pub async fn connect(stream: Stream, options: RunnerOptions) -> Result<Self, RunnerError> {
        let kinesis = stream.client.clone();
        let stream = stream.name.as_str();
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| kinesis_error(stream, "DescribeStreamSummary", e))?;
        let stream_arn = summary
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned())
            .unwrap_or_default();
        let region = kinesis
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        Ok(Runner {
            kinesis,
            stream: stream.to_owned(),
            stream_arn,
            region,
            checkpoints: Arc::new(Checkpoints::load(options.checkpoint.clone())?),
            options,
        })
    }

    /// Reads every shard until it is caught up with the stream, then returns.
    pub async fn drain(&self, replicator: &Replicator) -> Result<RunStats, RunnerError> {
        let (_stop, stopped) = watch::channel(true);
        self.run(replicator, stopped).await
    }

    /// Reads every shard, following new records, until `stop` turns true and each shard is
    /// caught up.
    pub async fn run(
        &self,
        replicator: &Replicator,
        stop: watch::Receiver<bool>,
    ) -> Result<RunStats, RunnerError> {
        let shards = self.shards().await?;
        let tasks = shards
            .iter()
            .map(|shard| self.run_shard(replicator, shard, stop.clone()));
        let mut stats = RunStats::default();
        for result in futures::future::join_all(tasks).await {
            stats.merge(result?);
        }
        Ok(stats)
    }

    async fn shards(&self) -> Result<Vec<String>, RunnerError> {
        let mut shards = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                Some(token) => self.kinesis.list_shards().next_token(token),
                None => self.kinesis.list_shards().stream_name(&self.stream),
            };
            let page = request
                .send()
                .await
                .map_err(|e| kinesis_error(&self.stream, "ListShards", e))?;
            shards.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(shards),
            }
        }
    }

    async fn iterator(&self, shard: &str, at: Option<&str>) -> Result<String, RunnerError> {
        let after = self.checkpoints.get(shard);
        let request = self
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard);
        let request = match (at, &after, self.options.starting_position) {
            (Some(seq), _, _) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(seq),
            (None, Some(seq), _) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, None, StartingPosition::TrimHorizon) => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, None, StartingPosition::Latest) => {
                request.shard_iterator_type(ShardIteratorType::Latest)
            }
        };
        let out = request
            .send()
            .await
            .map_err(|e| kinesis_error(&self.stream, "GetShardIterator", e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| RunnerError::Kinesis {
                stream: self.stream.clone(),
                operation: "GetShardIterator",
                message: format!("no iterator for {shard}"),
            })
    }

    /// One batch: up to `batch_size` records, gathered for at most `batching_window`.
    /// Returns the records, the next iterator (None: shard closed) and whether it is caught up.
    async fn fetch(
        &self,
        mut iterator: String,
    ) -> Result<(Vec<Record>, Option<String>, bool), RunnerError> {
        let window_ends = Instant::now() + self.options.batching_window;
        let mut records = Vec::new();
        loop {
            let want = self.options.batch_size - records.len();
            let out = self
                .kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(want.min(10_000) as i32)
                .send()
                .await
                .map_err(|e| kinesis_error(&self.stream, "GetRecords", e))?;
            let caught_up = out.millis_behind_latest().unwrap_or(0) == 0;
            let got = out.records().len();
            let next = out.next_shard_iterator().map(str::to_owned);
            records.extend(out.records);
            let full = records.len() >= self.options.batch_size;
            match next {
                Some(n) if !full && Instant::now() < window_ends && (got > 0 || !caught_up) => {
                    iterator = n;
                    if got == 0 {
                        tokio::time::sleep(
                            self.options
                                .poll_interval
                                .min(window_ends.saturating_duration_since(Instant::now())),
                        )
                        .await;
                    }
                }
                Some(n) if !full && Instant::now() < window_ends && !records.is_empty() => {
                    iterator = n;
                    tokio::time::sleep_until(window_ends).await;
                }
                next => return Ok((records, next, caught_up && !full)),
            }
        }
    }

    async fn run_shard(
        &self,
        replicator: &Replicator,
        shard: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<RunStats, RunnerError> {
        let mut stats = RunStats::default();
        let mut iterator = Some(self.iterator(shard, None).await?);
        let mut retries = 0;
        while let Some(current) = iterator.take() {
            let (records, next, caught_up) = self.fetch(current).await?;
            if records.is_empty() {
                if caught_up && *stop.borrow() {
                    break;
                }
                tokio::time::sleep(self.options.poll_interval).await;
                iterator = next;
                continue;
            }
            let event = self.event(shard, &records);
            let deadline = Instant::now() + self.options.timeout;
            let (response, summary) = replicator.handle(&event, Some(deadline)).await;
            stats.batches += 1;
            stats.keys += summary.keys;
            stats.puts += summary.puts;
            stats.deletes += summary.deletes;
            stats.deliveries += records.len();
            let lowest = response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .min_by(|a, b| sequence_order(a, b))
                .map(str::to_owned);
            let done_before = |r: &&Record| match &lowest {
                Some(low) => sequence_order(r.sequence_number(), low) == Ordering::Less,
                None => true,
            };
            let done: Vec<&Record> = records.iter().filter(done_before).collect();
            let now = chrono::Utc::now();
            for record in &done {
                if let Some(arrival) = record.approximate_arrival_timestamp() {
                    let millis = now.timestamp_millis() - arrival.to_millis().unwrap_or(0);
                    stats.lags.push(Duration::from_millis(millis.max(0) as u64));
                }
            }
            stats.records += done.len();
            if let Some(last) = done.last() {
                self.checkpoints.set(shard, last.sequence_number())?;
            }
            match lowest {
                None => {
                    retries = 0;
                    iterator = next;
                }
                Some(low) => {
                    retries += 1;
                    stats.redelivered += records.len() - done.len();
                    if self.options.max_retries.is_some_and(|max| retries > max) {
                        tracing::error!(
                            shard,
                            sequence_number = %low,
                            retries,
                            "record still failing after the retry limit: skipped (on-failure destination)"
                        );
                        stats.skipped.push(format!("{shard}:{low}"));
                        stats.records += 1;
                        self.checkpoints.set(shard, &low)?;
                        retries = 0;
                        iterator = Some(self.iterator(shard, None).await?);
                    } else {
                        let _ = REDELIVERY.pause(retries.min(6), Deadline::NONE).await;
                        iterator = Some(self.iterator(shard, Some(&low)).await?);
                    }
                }
            }
        }
        Ok(stats)
    }

    /// The event Lambda would send for these records.
    fn event(&self, shard: &str, records: &[Record]) -> KinesisEvent {
        let mut event = KinesisEvent::default();
        event.records = records
            .iter()
            .map(|record| {
                let mut e = KinesisEventRecord::default();
                e.aws_region = Some(self.region.clone());
                e.event_id = Some(format!("{shard}:{}", record.sequence_number()));
                e.event_name = Some("aws:kinesis:record".into());
                e.event_source = Some("aws:kinesis".into());
                e.event_source_arn = Some(self.stream_arn.clone());
                e.event_version = Some("1.0".into());
                e.invoke_identity_arn = Some("arn:aws:iam::000000000000:role/dyno-local".into());
                let k = &mut e.kinesis;
                k.kinesis_schema_version = Some("1.0".into());
                k.partition_key = record.partition_key().unwrap_or_default().to_owned();
                k.sequence_number = record.sequence_number().to_owned();
                *k.data = record.data().as_ref().to_vec();
                if let Some(t) = record.approximate_arrival_timestamp() {
                    let millis = t.to_millis().unwrap_or(0);
                    if let Some(at) = chrono::DateTime::from_timestamp_millis(millis) {
                        k.approximate_arrival_timestamp.0 = at;
                    }
                }
                e
            })
            .collect();
        event
    }
}

fn kinesis_error<E: std::error::Error + 'static>(
    stream: &str,
    operation: &'static str,
    error: aws_sdk_kinesis::error::SdkError<E>,
) -> RunnerError {
    RunnerError::Kinesis {
        stream: stream.to_owned(),
        operation,
        message: DisplayErrorContext(error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_order_by_value() {
        assert_eq!(sequence_order("9", "10"), Ordering::Less);
        assert_eq!(sequence_order("0010", "10"), Ordering::Equal);
        assert_eq!(
            sequence_order(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692538361571095921575989136588899"
            ),
            Ordering::Less
        );
    }

    #[test]
    fn lag_quantiles() {
        let stats = RunStats {
            lags: (1..=100).map(Duration::from_millis).collect(),
            ..RunStats::default()
        };
        assert_eq!(stats.lag_quantile(0.5), Some(Duration::from_millis(51)));
        assert_eq!(stats.lag_quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(RunStats::default().lag_quantile(0.5), None);
    }
}
