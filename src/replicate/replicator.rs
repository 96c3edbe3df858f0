//! Lambda glue: a batch of stream records in, `batchItemFailures` out. Decodes the records into
//! distinct keys (handed to the engine while decoding goes on), runs the engine (and, with
//! `KEEP_TTL_DELETES`, writes the archive's images: see [`crate::replicate::archive`]),
//! dead-letters the unusable records that will not come back, applies the batch rule, and logs
//! one summary line.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use futures::future::join_all;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::aws::key::{Key, KeySchema};
use crate::aws::retry::Deadline;
use crate::aws::table::Table;
use crate::replicate::archive::{Archive, Image, KeyId, KeyMap};
use crate::replicate::batch_rule::{self, RecordKey};
use crate::replicate::dead_letter::{DeadLetterError, DeadLetterQueue};
use crate::replicate::decode::SourceRecord;
use crate::replicate::engine::{Engine, SetupError};
use crate::replicate::key_numbers::KeyNumbers;
use crate::replicate::key_queue::KeyQueue;
use crate::replicate::letter::{self, DeadLetter};
use crate::replicate::metrics;
use crate::replicate::outcome::Outcome;
use crate::replicate::summary::Summary;
use crate::replicate::tuning::Tuning;

/// Unusable records logged one by one per batch; the rest are only counted (a hostile batch of
/// 10,000 must not make 10,000 log lines).
const LOGGED_UNUSABLE: usize = 20;

/// Records decoded between handing keys to the engine (and letting its workers send them).
const DECODE_STEP: usize = 128;

/// A batch, decoded: each record's key number (or unusable), and why each unusable one is.
struct Decoded {
    /// Distinct keys, numbered 0..: the archive's images first, then the others in the order
    /// first met.
    distinct_keys: usize,
    /// One per record, in order.
    record_keys: Vec<RecordKey>,
    /// One per unusable record: its position in the batch and why it is unusable.
    unusable: Vec<(usize, String)>,
}

/// The replicator: an engine per primary table (each with its targets) plus the rules for
/// turning a batch into work and failures.
#[derive(Debug, Clone)]
pub struct Replicator {
    engines: Vec<Engine>,
    tuning: Tuning,
    dead_letters: Option<DeadLetterQueue>,
    /// Keep what TTL deletes (an archive replica; `KEEP_TTL_DELETES`): see
    /// [`crate::replicate::archive`].
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
        Ok(Replicator::new(vec![engine], tuning))
    }

    /// A replicator for `engines`: one per primary table the deployment follows (a record goes
    /// to the engine of the table it names, or to the only one).
    pub fn new(engines: Vec<Engine>, tuning: Tuning) -> Self {
        Replicator {
            engines,
            tuning,
            dead_letters: None,
            keep_ttl_deletes: false,
        }
    }

    /// Sends unusable records to `queue` instead of reporting them as failures.
    pub fn with_dead_letter(mut self, queue: DeadLetterQueue) -> Self {
        self.dead_letters = Some(queue);
        self
    }

    /// With `keep`, a TTL delete (a table's own stream's, or Kinesis Data Streams for
    /// DynamoDB's) does not delete: the targets get the item's old image, or are left alone
    /// without one (see [`crate::replicate::archive`]). For an archive replica that keeps what
    /// the primary expires (it must not have TTL itself).
    pub fn keeping_ttl_deletes(mut self, keep: bool) -> Self {
        self.keep_ttl_deletes = keep;
        self
    }

    /// The dead-letter queue, if unusable records go to one.
    pub fn dead_letter(&self) -> Option<&DeadLetterQueue> {
        self.dead_letters.as_ref()
    }

    /// The engines, one per primary table.
    pub fn engines(&self) -> &[Engine] {
        &self.engines
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
        let queues: Vec<KeyQueue> = self.engines.iter().map(|_| KeyQueue::default()).collect();
        let mut archive = match self.keep_ttl_deletes {
            true => Archive::of(records, &self.sources()),
            false => Archive::default(),
        };
        let (ttl_deletes_kept, ttl_kept_without_image) = (archive.kept(), archive.left_alone.len());
        log_left_alone(&archive);
        let images = std::mem::take(&mut archive.images);
        let numbered = images
            .iter()
            .enumerate()
            .map(|(n, i)| (key_id(i), n))
            .collect();
        let (decoded, outcome) = tokio::join!(
            self.decode(records, &queues, &archive, numbered),
            self.replicate(&queues, images, stop)
        );
        log_key_failures(&outcome);
        let key_failed = outcome.key_failed(decoded.distinct_keys);
        let to_send = batch_rule::to_dead_letter(&decoded.record_keys, &key_failed);
        let sent = self
            .send_dead_letters(records, &decoded, &to_send, stop)
            .await;
        let mut kept = vec![false; decoded.unusable.len()];
        for (u, result) in to_send.iter().zip(&sent) {
            kept[*u] = result.is_ok();
        }
        log_unusable(records, &decoded, &to_send, &sent);
        let failed = batch_rule::failed_records(&decoded.record_keys, &key_failed, &kept);
        let lags = lags_of_done(records, &failed);
        let summary = Summary {
            records: records.len(),
            keys: decoded.distinct_keys,
            puts: outcome.puts,
            deletes: outcome.deletes,
            targets: outcome.targets.clone(),
            failed_records: failed.len(),
            unusable_records: decoded.unusable.len(),
            dead_lettered: kept.iter().filter(|k| **k).count(),
            ttl_deletes_kept,
            ttl_kept_without_image,
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

    /// Runs each primary table's engine on its queue, and writes the archive's `images` (each
    /// numbered as its key is: its place in the list) to their primary's targets, all under one
    /// bound on calls in flight.
    async fn replicate(&self, queues: &[KeyQueue], images: Vec<Image>, stop: Deadline) -> Outcome {
        let calls = Semaphore::new(self.tuning.concurrency.max(1));
        let runs = self
            .engines
            .iter()
            .zip(queues)
            .map(|(engine, queue)| engine.replicate_within(queue, stop, &calls));
        let mut items: Vec<Vec<_>> = self.engines.iter().map(|_| Vec::new()).collect();
        for (number, image) in images.into_iter().enumerate() {
            // An image of no engine is never accounted for: its key fails (see `key_failed`).
            if let Some(items) = items.get_mut(image.source) {
                items.push(((number, image.key), image.item));
            }
        }
        let writes = (self.engines.iter().zip(items))
            .map(|(engine, items)| engine.write_as_read(items, &calls, stop));
        let (runs, writes) = tokio::join!(join_all(runs), join_all(writes));
        let mut total = Outcome::default();
        for outcome in runs.into_iter().chain(writes) {
            total.merge(outcome);
        }
        total
    }

    /// The primary tables, each with its key schema.
    fn sources(&self) -> Vec<(&str, &KeySchema)> {
        self.engines
            .iter()
            .map(|e| (e.primary().name(), e.schema()))
            .collect()
    }

    /// Decodes the records and pushes each new distinct key to its table's queue (every
    /// [`DECODE_STEP`] records, yielding so the engines' workers can send what is ready), then
    /// closes them. Keys are numbered across tables, after the archive's images (`numbered`:
    /// their keys are written from the image, not read); the records of a key the archive leaves
    /// alone are done, and those whose image is unusable are unusable.
    async fn decode<R: SourceRecord>(
        &self,
        records: &[R],
        queues: &[KeyQueue],
        archive: &Archive,
        numbered: KeyMap<usize>,
    ) -> Decoded {
        let sources = self.sources();
        let mut key_numbers = KeyNumbers::new(queues.len(), numbered);
        let mut record_keys = Vec::with_capacity(records.len());
        let mut unusable = Vec::new();
        let mut new_keys: Vec<Vec<(usize, Key)>> = vec![Vec::new(); queues.len()];
        for (position, record) in records.iter().enumerate() {
            if let Some(problem) = archive.unusable.get(&position) {
                record_keys.push(RecordKey::Unusable(unusable.len()));
                unusable.push((position, letter::reason(problem)));
                continue;
            }
            match key_numbers.record_key(record, &sources, &archive.left_alone, &mut new_keys) {
                Ok(found) => record_keys.push(found),
                Err(problem) => {
                    record_keys.push(RecordKey::Unusable(unusable.len()));
                    unusable.push((position, letter::reason(&problem)));
                }
            }
            if (position + 1) % DECODE_STEP == 0 {
                for (queue, keys) in queues.iter().zip(&mut new_keys) {
                    queue.push(keys.drain(..));
                }
                tokio::task::yield_now().await;
            }
        }
        for (queue, keys) in queues.iter().zip(new_keys) {
            queue.push(keys);
            queue.close();
        }
        Decoded {
            distinct_keys: key_numbers.distinct(),
            record_keys,
            unusable,
        }
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

/// An image's key, as the batch's keys are told apart.
fn key_id(image: &Image) -> KeyId {
    (image.source, image.key.canonical().to_vec())
}

/// One WARN line per batch in which TTL deletes without an old image left targets alone, with
/// how many keys (never an item's content).
fn log_left_alone(archive: &Archive) {
    if archive.left_alone.is_empty() {
        return;
    }
    tracing::warn!(
        keys = archive.left_alone.len(),
        "TTL deletes without an old image: the targets' items were left as they are, and a \
         version written since the last one replicated is lost; an archive needs a stream \
         with images (view type OLD_IMAGE or NEW_AND_OLD_IMAGES)"
    );
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
            target = failure.target.as_deref().unwrap_or("(the read of the primary)"),
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
        ttl_kept_without_image = summary.ttl_kept_without_image,
        duration_ms = summary.duration.as_millis() as u64,
        oldest_record_age_ms = summary.oldest_record_age.as_millis() as u64,
        lag_max_ms = summary.lag_max.map_or(0, |l| l.as_millis() as u64),
        "batch replicated"
    );
    if summary.targets.len() < 2 {
        return;
    }
    for target in &summary.targets {
        tracing::info!(
            target = %target.name,
            puts = target.puts,
            deletes = target.deletes,
            failed_keys = target.failed_keys,
            filtered_out = target.filtered_out,
            filter_errors = target.filter_errors,
            "target replicated"
        );
    }
}
