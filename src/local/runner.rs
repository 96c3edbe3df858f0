//! The local event source mapping: reads a stream's shards as Lambda's event source mapping does
//! and hands each batch to the replicator. It follows splits and merges, never reading a child
//! shard before its parents are read to their end (per-key order depends on it); re-reads from
//! the lowest failed sequence number when the replicator reports failures; rides out throttling,
//! outages and expired iterators; and checkpoints each shard's position so a restart resumes.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::aws::error::AwsError;
use crate::aws::retry::{self, Deadline, Patience, STEADY};
use crate::aws::stream::{Stream, StreamError};
use crate::local::invoke::invoke;
use crate::local::run_stats::RunStats;
use crate::local::shards::{KinesisSource, Page, Position, ShardSource};
use crate::local::stop::Stop;
use crate::ops::checkpoint::{CheckpointError, Checkpoints, Owner};
use crate::replicate::decode::SourceRecord;
use crate::replicate::replicator::Replicator;

/// Where a shard with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    #[default]
    TrimHorizon,
    Latest,
    /// The first record that reached the stream at or after this moment (AT_TIMESTAMP): the
    /// catch-up after a seed from an export.
    AtTimestamp(chrono::DateTime<chrono::Utc>),
}

/// The event source mapping's settings (as in the SAM template).
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Records per batch (Lambda: 1 to 10,000).
    pub batch_size: usize,
    /// How long to gather records before invoking with a partial batch.
    pub batching_window: Duration,
    pub starting_position: StartingPosition,
    /// A JSON file of shard positions; `None`: in memory only.
    pub checkpoint: Option<PathBuf>,
    /// Retries of a failing batch before its lowest failing record is skipped (and logged as
    /// sent to the on-failure destination); `None`: retry for ever.
    pub max_retries: Option<u32>,
    /// The function's timeout: each invocation's deadline is this far away.
    pub timeout: Duration,
    /// Pause between polls of a shard that has nothing new.
    pub poll_interval: Duration,
    /// How long the stream may keep failing (throttling, 5xx, no connection) before the run
    /// gives up; `None`: never (for a run that follows the stream).
    pub patience: Option<Duration>,
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
            patience: Some(Duration::from_secs(60)),
        }
    }
}

/// The stream could not be read, or the checkpoint could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{stream}: {source}{}", if *.gave_up_after > Duration::ZERO {
        format!(" (still failing after {:?} of retries)", gave_up_after)
    } else {
        String::new()
    })]
    Source {
        stream: String,
        gave_up_after: Duration,
        #[source]
        source: AwsError,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The function could not take the batch at all (it never happens with the records a
    /// source reads: they are the function's own types).
    #[error("the function refused the batch: {0}")]
    Function(#[source] crate::replicate::lambda::EventError),
}

/// Orders Kinesis sequence numbers (decimal strings) by value.
pub fn sequence_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Whether a shard's reading may stop at an empty page: the page is caught up and the stop was
/// asked before the page's read began. A read begun before the stop may have missed a record
/// written just before the stop (a writer stops its runner once its last write is confirmed),
/// so it is read once more.
fn may_stop(caught_up: bool, stop_asked_before_read: bool) -> bool {
    caught_up && stop_asked_before_read
}

/// Why a shard's reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardEnd {
    /// Read to its end: the shard is closed, its children may be read.
    Ended,
    /// Caught up, and the run was told to stop.
    Stopped,
}

/// Told of each batch once the replicator has handled it: its records, and the positions of
/// those that failed (for whoever measures, e.g. the lag from a write to its copy).
pub type Observer<R> = std::sync::Arc<dyn Fn(&[R], &[usize]) + Send + Sync>;

/// The local event source mapping for one stream.
pub struct Runner<S: ShardSource = KinesisSource> {
    source: S,
    options: RunnerOptions,
    checkpoints: Checkpoints,
    observer: Option<Observer<S::Record>>,
}

impl<S: ShardSource + std::fmt::Debug> std::fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("source", &self.source)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Runner<KinesisSource> {
    /// A runner for a Kinesis stream: looks it up and loads the checkpoint.
    pub async fn connect(stream: Stream, options: RunnerOptions) -> Result<Self, RunnerError> {
        let source = KinesisSource::connect(stream).await?;
        Runner::new(source, options)
    }
}

impl<S: ShardSource> Runner<S> {
    /// A runner for `source`; loads the checkpoint.
    pub fn new(source: S, options: RunnerOptions) -> Result<Self, RunnerError> {
        Ok(Runner {
            checkpoints: Checkpoints::load(
                options.checkpoint.clone(),
                Owner::new("replicate").with("source", source.label()),
            )?,
            source,
            options,
            observer: None,
        })
    }

    /// Tells `observer` of each batch once it is handled.
    pub fn observe(mut self, observer: Observer<S::Record>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Reads every shard until it is caught up with the stream, then returns.
    pub async fn drain(&self, replicator: &Replicator) -> Result<RunStats, RunnerError> {
        self.run(replicator, Stop::when_drained()).await
    }

    /// Reads every shard, following new records and new shards, until `stop` turns true and
    /// each shard is caught up. A shard is read once all its parents are read to their end.
    pub async fn run(&self, replicator: &Replicator, stop: Stop) -> Result<RunStats, RunnerError> {
        let mut stats = RunStats::default();
        let mut started: HashSet<String> = HashSet::new();
        let mut running = FuturesUnordered::new();
        loop {
            let shards = self.patiently(&mut stats, || self.source.shards()).await?;
            let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
            for shard in &shards {
                // A parent no longer listed has aged out of the stream: nothing is left of it.
                let parents_done = shard
                    .parents
                    .iter()
                    .all(|p| !listed.contains(p.as_str()) || self.checkpoints.ended(p));
                if parents_done
                    && !self.checkpoints.ended(&shard.id)
                    && started.insert(shard.id.clone())
                {
                    // A child of a split or merge starts at its beginning, whatever the
                    // starting position: its records come after its parents'.
                    let child = shard.parents.iter().any(|p| listed.contains(p.as_str()));
                    running.push(self.run_shard(replicator, shard.id.clone(), child, stop.clone()));
                }
            }
            match running.next().await {
                None => return Ok(stats),
                Some(result) => {
                    let (shard_stats, _end) = result?;
                    stats.merge(shard_stats);
                }
            }
        }
    }

    /// Reads one shard until it ends, or is caught up and `stop` is true. (A little over 60
    /// lines: the shard's whole reading loop, position and iterator, is kept in one view.)
    async fn run_shard(
        &self,
        replicator: &Replicator,
        shard: String,
        child: bool,
        stop: Stop,
    ) -> Result<(RunStats, ShardEnd), RunnerError> {
        let mut stats = RunStats::default();
        let mut position = match (self.checkpoints.after(&shard), child) {
            (Some(sequence), _) => Position::After(sequence),
            (None, true) => Position::TrimHorizon,
            (None, false) => match self.options.starting_position {
                StartingPosition::TrimHorizon => Position::TrimHorizon,
                StartingPosition::Latest => Position::Latest,
                StartingPosition::AtTimestamp(at) => Position::AtTimestamp(at),
            },
        };
        let mut iterator = self.iterator(&mut stats, &shard, &position).await?;
        let mut retries = 0;
        loop {
            let stop_before_read = stop.asked();
            let page = match self.fetch(&mut stats, &shard, iterator).await? {
                Some(page) => page,
                None => {
                    // The iterator expired: a fresh one from where this shard was left.
                    iterator = self.iterator(&mut stats, &shard, &position).await?;
                    continue;
                }
            };
            if page.records.is_empty() {
                let Some(next) = page.next else {
                    self.checkpoints.end(&shard)?;
                    stats.shards_ended += 1;
                    return Ok((stats, ShardEnd::Ended));
                };
                if may_stop(page.caught_up, stop_before_read) {
                    return Ok((stats, ShardEnd::Stopped));
                }
                tokio::time::sleep(self.options.poll_interval).await;
                iterator = next;
                continue;
            }
            let lowest = self
                .deliver(replicator, &shard, &page.records, &mut stats)
                .await?;
            match lowest {
                None => {
                    retries = 0;
                    let last = page.records.last().map(|r| r.sequence_number().to_owned());
                    position = Position::After(last.unwrap_or_default());
                    match page.next {
                        Some(next) => iterator = next,
                        None => iterator = self.iterator(&mut stats, &shard, &position).await?,
                    }
                }
                Some(low) => {
                    retries += 1;
                    position = self
                        .after_failure(&shard, low, &mut retries, &mut stats)
                        .await?;
                    iterator = self.iterator(&mut stats, &shard, &position).await?;
                }
            }
        }
    }

    /// Where to read `shard` from after a batch whose lowest failed record is `low`: at `low`
    /// again after a pause, or, past the retry limit, after it (the record is skipped, as
    /// Lambda sends it to the on-failure destination, and named in the stats).
    async fn after_failure(
        &self,
        shard: &str,
        low: String,
        retries: &mut u32,
        stats: &mut RunStats,
    ) -> Result<Position, RunnerError> {
        if self.options.max_retries.is_none_or(|max| *retries <= max) {
            let _ = STEADY.pause((*retries).min(6), Deadline::NONE).await;
            return Ok(Position::At(low));
        }
        tracing::error!(
            shard,
            sequence_number = %low,
            retries = *retries,
            "record still failing after the retry limit: skipped (on-failure destination)"
        );
        stats.skipped.push(format!("{shard}:{low}"));
        stats.records += 1;
        self.checkpoints.set(shard, &low)?;
        *retries = 0;
        Ok(Position::After(low))
    }

    /// Hands one batch to the replicator, records what was done and checkpoints it; returns the
    /// lowest failed sequence number, if any.
    async fn deliver(
        &self,
        replicator: &Replicator,
        shard: &str,
        records: &[S::Record],
        stats: &mut RunStats,
    ) -> Result<Option<String>, RunnerError> {
        let deadline = Instant::now() + self.options.timeout;
        let (failed, summary) = invoke(replicator, records, deadline)
            .await
            .map_err(RunnerError::Function)?;
        if let Some(observer) = &self.observer {
            observer(records, &failed);
        }
        stats.batches += 1;
        stats.keys += summary.keys;
        stats.puts += summary.puts;
        stats.deletes += summary.deletes;
        stats.deliveries += records.len();
        let lowest = failed
            .iter()
            .map(|&p| records[p].sequence_number())
            .min_by(|a, b| sequence_order(a, b))
            .map(str::to_owned);
        let done: Vec<&S::Record> = records
            .iter()
            .filter(|r| match &lowest {
                Some(low) => sequence_order(r.sequence_number(), low) == Ordering::Less,
                None => true,
            })
            .collect();
        let now = chrono::Utc::now();
        for record in &done {
            if let Some(arrival) = record.arrival() {
                let lag = (now - arrival).to_std().unwrap_or_default();
                stats.lags.push(lag);
            }
        }
        stats.records += done.len();
        stats.redelivered += records.len() - done.len();
        if let Some(last) = done.last() {
            self.checkpoints.set(shard, last.sequence_number())?;
        }
        Ok(lowest)
    }

    /// One batch: up to `batch_size` records, gathered for at most `batching_window`. `None`:
    /// the iterator expired.
    async fn fetch(
        &self,
        stats: &mut RunStats,
        shard: &str,
        mut iterator: String,
    ) -> Result<Option<Page<S::Record>>, RunnerError> {
        let window_ends = Instant::now() + self.options.batching_window;
        let mut records = Vec::new();
        loop {
            let want = self.options.batch_size - records.len();
            let page = match self
                .patiently(stats, || self.source.page(shard, &iterator, want))
                .await
            {
                Ok(page) => page,
                Err(RunnerError::Source { source, .. })
                    if source.is("ExpiredIteratorException") =>
                {
                    tracing::warn!(shard, "shard iterator expired: getting a fresh one");
                    stats.stream_retries += 1;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let got = page.records.len();
            records.extend(page.records);
            let full = records.len() >= self.options.batch_size;
            let open = Instant::now() < window_ends;
            match page.next {
                Some(next) if !full && open && (got > 0 || !page.caught_up) => {
                    iterator = next;
                    if got == 0 {
                        let left = window_ends.saturating_duration_since(Instant::now());
                        tokio::time::sleep(self.options.poll_interval.min(left)).await;
                    }
                }
                Some(next) if !full && open && !records.is_empty() => {
                    iterator = next;
                    tokio::time::sleep_until(window_ends).await;
                }
                next => {
                    return Ok(Some(Page {
                        records,
                        next,
                        caught_up: page.caught_up && !full,
                    }));
                }
            }
        }
    }

    async fn iterator(
        &self,
        stats: &mut RunStats,
        shard: &str,
        position: &Position,
    ) -> Result<String, RunnerError> {
        self.patiently(stats, || self.source.iterator(shard, position))
            .await
    }

    /// Runs a call to the stream, trying again after throttling and failures whose outcome is
    /// unknown (5xx, no connection) until the patience runs out; a refusal fails at once.
    async fn patiently<T, F, Fut>(&self, stats: &mut RunStats, call: F) -> Result<T, RunnerError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let patience = match self.options.patience {
            Some(limit) => Patience::For(limit),
            None => Patience::Endless,
        };
        let label = self.source.label();
        let mut retries = 0;
        let retried = |error: &AwsError| {
            retries += 1;
            tracing::warn!(stream = %label, %error, "the stream failed: trying again");
        };
        let result = retry::patiently(patience, retried, call).await;
        stats.stream_retries += retries;
        match result {
            Ok(value) => Ok(value),
            Err(gave_up) => Err(RunnerError::Source {
                stream: label,
                gave_up_after: gave_up.after,
                source: gave_up.error,
            }),
        }
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
    fn a_stop_ends_a_shard_only_after_a_caught_up_read_begun_after_it() {
        assert!(may_stop(true, true));
        assert!(
            !may_stop(true, false),
            "the read may predate the last write"
        );
        assert!(!may_stop(false, true), "records are still behind");
        assert!(!may_stop(false, false));
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
