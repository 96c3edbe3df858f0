//! Lambda glue: a batch of stream records in, `batchItemFailures` out. Decodes the records into
//! distinct keys (handed to the engine while decoding goes on), runs the engine, dead-letters the
//! unusable records that will not come back, applies the batch rule, and logs one summary line.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::config::Tuning;
use crate::dead_letter::{self, DeadLetter, DeadLetterError, DeadLetterQueue};
use crate::decode::{self, SourceRecord};
use crate::engine::{Engine, KeyQueue, Outcome, SetupError};
use crate::failures::{self, RecordKey};
use crate::key::Key;
use crate::metrics;
use crate::retry::Deadline;
use crate::table::Table;

/// Unusable records logged one by one per batch; the rest are only counted (a hostile batch of
/// 10,000 must not make 10,000 log lines).
const LOGGED_UNUSABLE: usize = 20;

/// Records decoded between handing keys to the engine (and letting its workers send them).
const DECODE_STEP: usize = 128;

/// What one batch did, for the summary log line, the metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub keys: usize,
    pub puts: usize,
    pub deletes: usize,
    pub failed_records: usize,
    pub unusable_records: usize,
    /// Unusable records the dead-letter queue confirmed (not reported as failures).
    pub dead_lettered: usize,
    /// TTL deletes left alone (`KEEP_TTL_DELETES`).
    pub ttl_deletes_kept: usize,
    /// Keys that failed because the invocation's deadline came.
    pub deadline_failures: usize,
    pub duration: Duration,
    /// Age of the oldest record in the batch, from its approximate arrival time.
    pub oldest_record_age: Duration,
    /// The largest replication lag of the records done (arrival on the stream to the end of
    /// the batch), if any was done.
    pub lag_max: Option<Duration>,
    /// The lags of the records done, at most 100 of them (see [`metrics::sample`]).
    pub lag_sample: Vec<Duration>,
}

/// A batch, decoded: each record's key number (or unusable), and why each unusable one is.
struct Decoded {
    /// Distinct keys, numbered 0.. in the order first met.
    distinct_keys: usize,
    /// One per record, in order.
    record_keys: Vec<RecordKey>,
    /// One per unusable record: its position in the batch and why it is unusable.
    unusable: Vec<(usize, String)>,
}

/// The replicator: an engine plus the rules for turning a batch into work and failures.
#[derive(Debug, Clone)]
pub struct Replicator {
    engine: Engine,
    tuning: Tuning,
    dead_letters: Option<DeadLetterQueue>,
    /// Leave the replica alone for TTL deletes (an archive replica; `KEEP_TTL_DELETES`).
    keep_ttl_deletes: bool,
}

impl Replicator {
    /// Checks both tables and returns a replicator for them.
    pub async fn connect(
        primary: Table,
        replica: Table,
        tuning: Tuning,
    ) -> Result<Self, SetupError> {
        let engine = Engine::connect(primary, replica, tuning.clone()).await?;
        Ok(Replicator {
            engine,
            tuning,
            dead_letters: None,
            keep_ttl_deletes: false,
        })
    }

    /// Builds the tables' clients from `config` and checks both tables (once per container).
    /// With `DEAD_LETTER_QUEUE_URL` set, unusable records go to that queue.
    pub async fn from_config(
        config: &crate::config::Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, SetupError> {
        let (primary, replica) = config.tables(sdk).await?;
        let replicator = Self::connect(primary, replica, config.tuning.clone())
            .await?
            .keeping_ttl_deletes(config.keep_ttl_deletes);
        Ok(match config.dead_letter_queue(sdk) {
            Some(queue) => replicator.with_dead_letter(queue),
            None => replicator,
        })
    }

    /// Sends unusable records to `queue` instead of reporting them as failures.
    pub fn with_dead_letter(mut self, queue: DeadLetterQueue) -> Self {
        self.dead_letters = Some(queue);
        self
    }

    /// With `keep`, a TTL delete of a table's own stream leaves the replica alone: for an archive
    /// replica that keeps what the primary expires (it must not have TTL itself).
    pub fn keeping_ttl_deletes(mut self, keep: bool) -> Self {
        self.keep_ttl_deletes = keep;
        self
    }

    /// The dead-letter queue, if unusable records go to one.
    pub fn dead_letter(&self) -> Option<&DeadLetterQueue> {
        self.dead_letters.as_ref()
    }

    /// The engine (for callers that already have distinct keys).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Handles a Kinesis batch. `deadline` is when the invocation times out: no new call starts
    /// within the configured margin of it, and what is left is reported as failed.
    pub async fn handle(
        &self,
        event: &KinesisEvent,
        deadline: Option<Instant>,
    ) -> (KinesisEventResponse, Summary) {
        let (failed, summary) = self.handle_records(&event.records, deadline).await;
        let mut response = KinesisEventResponse::default();
        for position in failed {
            response.add_failure(event.records[position].sequence_number().to_owned());
        }
        (response, summary)
    }

    /// Handles a batch of a table's own DynamoDB stream (the same rules; `itemIdentifier` is
    /// each record's `SequenceNumber`).
    pub async fn handle_dynamodb(
        &self,
        event: &DynamoDbEvent,
        deadline: Option<Instant>,
    ) -> (DynamoDbEventResponse, Summary) {
        let (failed, summary) = self.handle_records(&event.records, deadline).await;
        let mut response = DynamoDbEventResponse::default();
        for position in failed {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(event.records[position].sequence_number().to_owned());
            response.batch_item_failures.push(failure);
        }
        (response, summary)
    }

    /// Handles a batch of records of any source; returns the positions of the failed records.
    pub async fn handle_records<R: SourceRecord + Sync>(
        &self,
        records: &[R],
        deadline: Option<Instant>,
    ) -> (Vec<usize>, Summary) {
        let started = Instant::now();
        let stop = Deadline::before(deadline, self.tuning.deadline_margin);
        let queue = KeyQueue::default();
        let (decoded, outcome) = tokio::join!(
            self.decode(records, &queue),
            self.engine.replicate(&queue, stop)
        );
        log_key_failures(&outcome);
        let key_failed = outcome.key_failed(decoded.distinct_keys);
        let to_send = failures::to_dead_letter(&decoded.record_keys, &key_failed);
        let sent = self
            .send_dead_letters(records, &decoded, &to_send, stop)
            .await;
        let mut kept = vec![false; decoded.unusable.len()];
        for (u, result) in to_send.iter().zip(&sent) {
            kept[*u] = result.is_ok();
        }
        log_unusable(records, &decoded, &to_send, &sent);
        let failed = failures::failed_records(&decoded.record_keys, &key_failed, &kept);
        let lags = lags_of_done(records, &failed);
        let summary = Summary {
            records: records.len(),
            keys: decoded.distinct_keys,
            puts: outcome.puts,
            deletes: outcome.deletes,
            failed_records: failed.len(),
            unusable_records: decoded.unusable.len(),
            dead_lettered: kept.iter().filter(|k| **k).count(),
            ttl_deletes_kept: decoded
                .record_keys
                .iter()
                .filter(|r| **r == RecordKey::Kept)
                .count(),
            deadline_failures: outcome.deadline_failures(),
            duration: started.elapsed(),
            oldest_record_age: oldest_age(records),
            lag_max: lags.iter().max().copied(),
            lag_sample: metrics::sample(lags, metrics::MAX_VALUES),
        };
        log_summary(&summary);
        metrics::record(&summary);
        (failed, summary)
    }

    /// Decodes the records and pushes each new distinct key to `queue` (every [`DECODE_STEP`]
    /// records, yielding so the engine's workers can send what is ready), then closes it.
    async fn decode<R: SourceRecord>(&self, records: &[R], queue: &KeyQueue) -> Decoded {
        let schema = self.engine.schema();
        let primary_table = &self.engine.primary().name;
        let kept = self.kept_by_ttl(records);
        let mut key_numbers: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut record_keys = Vec::with_capacity(records.len());
        let mut unusable = Vec::new();
        let mut new_keys: Vec<(usize, Key)> = Vec::new();
        for (position, record) in records.iter().enumerate() {
            match decode::decode(record, schema, primary_table) {
                Ok(key) if kept.contains(key.canonical()) => record_keys.push(RecordKey::Kept),
                Ok(key) => {
                    let next = key_numbers.len();
                    let number =
                        *key_numbers
                            .entry(key.canonical().to_vec())
                            .or_insert_with(|| {
                                new_keys.push((next, key));
                                next
                            });
                    record_keys.push(RecordKey::Key(number));
                }
                Err(error) => {
                    record_keys.push(RecordKey::Unusable(unusable.len()));
                    unusable.push((position, dead_letter::reason(&error.problem)));
                }
            }
            if (position + 1) % DECODE_STEP == 0 {
                queue.push(new_keys.drain(..));
                tokio::task::yield_now().await;
            }
        }
        queue.push(new_keys);
        queue.close();
        Decoded {
            distinct_keys: key_numbers.len(),
            record_keys,
            unusable,
        }
    }

    /// With `KEEP_TTL_DELETES`, the keys whose last record in the batch is a TTL delete (see
    /// [`decode::kept_by_ttl`]); else none.
    fn kept_by_ttl<R: SourceRecord>(&self, records: &[R]) -> HashSet<Vec<u8>> {
        if !self.keep_ttl_deletes || !records.iter().any(SourceRecord::is_ttl_delete) {
            return HashSet::new();
        }
        let (schema, table) = (self.engine.schema(), &self.engine.primary().name);
        let keys: Vec<(Option<Vec<u8>>, bool)> = records
            .iter()
            .map(|r| {
                let key = decode::decode(r, schema, table).ok();
                (key.map(|k| k.canonical().to_vec()), r.is_ttl_delete())
            })
            .collect();
        decode::kept_by_ttl(keys.iter().map(|(k, ttl)| (k.as_deref(), *ttl)))
    }

    /// Sends the unusable records numbered `to_send` to the dead-letter queue, if there is one;
    /// one result per record sent (none without a queue).
    async fn send_dead_letters<R: SourceRecord>(
        &self,
        records: &[R],
        decoded: &Decoded,
        to_send: &[usize],
        stop: Deadline,
    ) -> Vec<Result<(), DeadLetterError>> {
        let Some(queue) = &self.dead_letters else {
            return Vec::new();
        };
        if to_send.is_empty() {
            return Vec::new();
        }
        let letters: Vec<DeadLetter> = to_send
            .iter()
            .map(|u| {
                let (position, reason) = &decoded.unusable[*u];
                DeadLetter::from_record(&records[*position], reason.clone())
            })
            .collect();
        queue.send(&letters, stop).await
    }
}

/// For each record not in `failed` (positions, in order), the time since it reached the stream.
fn lags_of_done<R: SourceRecord>(records: &[R], failed: &[usize]) -> Vec<Duration> {
    let now = chrono::Utc::now();
    let mut failed = failed.iter().peekable();
    let mut lags = Vec::with_capacity(records.len());
    for (position, record) in records.iter().enumerate() {
        if failed.next_if_eq(&&position).is_some() {
            continue;
        }
        if let Some(arrival) = record.arrival() {
            lags.push((now - arrival).to_std().unwrap_or_default());
        }
    }
    lags
}

/// Time since the oldest record of the batch reached the stream.
fn oldest_age<R: SourceRecord>(records: &[R]) -> Duration {
    records
        .iter()
        .filter_map(SourceRecord::arrival)
        .min()
        .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
        .unwrap_or_default()
}

/// One ERROR line per failure cause: how many keys, the first one, and why.
fn log_key_failures(outcome: &Outcome) {
    for failure in &outcome.failures {
        let first_key = failure.keys.first().map(|(_, key)| key);
        tracing::error!(
            keys = failure.keys.len(),
            first_key = %first_key.map(ToString::to_string).unwrap_or_default(),
            error = %failure.error,
            "keys not replicated: their records are reported as failures"
        );
    }
}

/// One line per unusable record (up to [`LOGGED_UNUSABLE`]), saying where it went.
fn log_unusable<R: SourceRecord>(
    records: &[R],
    decoded: &Decoded,
    sent_ones: &[usize],
    sent: &[Result<(), DeadLetterError>],
) {
    for (u, (position, reason)) in decoded.unusable.iter().enumerate().take(LOGGED_UNUSABLE) {
        let record = &records[*position];
        let shard = record.shard();
        let sequence_number = record.sequence_number();
        let result = sent_ones
            .iter()
            .position(|s| *s == u)
            .and_then(|n| sent.get(n));
        match result {
            Some(Ok(())) => tracing::warn!(
                shard,
                sequence_number,
                reason = %reason,
                "unusable record: sent to the dead-letter queue"
            ),
            Some(Err(error)) => tracing::error!(
                shard,
                sequence_number,
                reason = %reason,
                error = %error,
                "unusable record: the dead-letter queue did not take it; reported as a failure"
            ),
            None => tracing::warn!(
                shard,
                sequence_number,
                reason = %reason,
                "unusable record: reported as a failure"
            ),
        }
    }
    if decoded.unusable.len() > LOGGED_UNUSABLE {
        tracing::warn!(
            unusable_records = decoded.unusable.len(),
            logged = LOGGED_UNUSABLE,
            "more unusable records than logged one by one"
        );
    }
}

/// The batch's summary line.
fn log_summary(summary: &Summary) {
    tracing::info!(
        records = summary.records,
        keys = summary.keys,
        puts = summary.puts,
        deletes = summary.deletes,
        failed_records = summary.failed_records,
        unusable_records = summary.unusable_records,
        dead_lettered = summary.dead_lettered,
        ttl_deletes_kept = summary.ttl_deletes_kept,
        duration_ms = summary.duration.as_millis() as u64,
        oldest_record_age_ms = summary.oldest_record_age.as_millis() as u64,
        lag_max_ms = summary.lag_max.map_or(0, |l| l.as_millis() as u64),
        "batch replicated"
    );
}

/// The answer to either source: `{"batchItemFailures":[{"itemIdentifier":…}]}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Kinesis(KinesisEventResponse),
    DynamoDb(DynamoDbEventResponse),
}

/// The event is of neither source.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a batch of stream records: {0}")]
    NotABatch(#[source] serde_json::Error),
    #[error(
        "the event's records come from `{0}`; the replicator takes Kinesis (aws:kinesis) and \
         DynamoDB stream (aws:dynamodb) records"
    )]
    OtherSource(String),
}

/// Just the source of each record: a fast pass that skips everything else.
#[derive(Deserialize)]
struct Sources {
    #[serde(rename = "Records", default)]
    records: Vec<Source>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
}

/// The Lambda function: handles the event before the invocation's deadline. One binary takes
/// both sources; the records' `eventSource` decides which.
pub async fn function_handler(
    replicator: &Replicator,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Response, lambda_runtime::Error> {
    let deadline = deadline_instant(event.context.deadline);
    tracing::debug!(
        deadline_ms = event.context.deadline,
        remaining_ms =
            deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
        "invocation"
    );
    let text = event.payload.get();
    let sources: Sources = serde_json::from_str(text).map_err(EventError::NotABatch)?;
    let source = sources
        .records
        .iter()
        .find_map(|r| r.event_source.as_deref());
    match source {
        Some("aws:dynamodb") => {
            let batch: DynamoDbEvent = serde_json::from_str(text).map_err(EventError::NotABatch)?;
            let (response, _) = replicator.handle_dynamodb(&batch, deadline).await;
            Ok(Response::DynamoDb(response))
        }
        Some("aws:kinesis") | None => {
            let batch: KinesisEvent = serde_json::from_str(text).map_err(EventError::NotABatch)?;
            let (response, _) = replicator.handle(&batch, deadline).await;
            Ok(Response::Kinesis(response))
        }
        Some(other) => Err(EventError::OtherSource(other.to_owned()).into()),
    }
}

/// Turns the context's deadline (milliseconds since the epoch; 0 when there is none) into an
/// `Instant`. A value too small to be a date (before 1973) is a timeout in milliseconds from now:
/// that is what `cargo lambda watch` sends.
pub fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    const EPOCH_MS_1973: u64 = 100_000_000_000;
    if deadline_ms == 0 {
        return None;
    }
    if deadline_ms < EPOCH_MS_1973 {
        return Some(Instant::now() + Duration::from_millis(deadline_ms));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_from_the_context() {
        assert_eq!(deadline_instant(0), None);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let in_a_minute = deadline_instant(now_ms + 60_000).unwrap() - Instant::now();
        assert!(in_a_minute > Duration::from_secs(55) && in_a_minute <= Duration::from_secs(60));
        let past = deadline_instant(now_ms - 5_000).unwrap();
        assert!(past <= Instant::now());
        let relative = deadline_instant(600_000).unwrap() - Instant::now();
        assert!(relative > Duration::from_secs(595), "{relative:?}");
    }
}
