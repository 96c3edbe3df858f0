//! Lambda glue: a Kinesis event in, `batchItemFailures` out. Decodes the records, groups them by
//! key, runs the engine, and reports every record whose key was not made to agree.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::LambdaEvent;
use tokio::time::Instant;

use crate::config::{Config, Tuning, dynamodb_client};
use crate::dead_letter::{self, DeadLetter, DeadLetterQueue};
use crate::key::Key;
use crate::record;
use crate::replicate::{Engine, KeyQueue, SetupError, Tables};

/// Unusable records logged one by one per batch; the rest are only counted (a hostile batch of
/// 10,000 must not make 10,000 log lines).
const LOGGED_UNUSABLE: usize = 20;

/// Records decoded between handing keys to the engine (and letting its workers send them).
const DECODE_STEP: usize = 128;

/// What one batch did, for the summary log line and for tests.
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
    pub duration: Duration,
    /// Age of the oldest record in the batch, from its approximate arrival time.
    pub oldest_record_age: Duration,
}

/// What decoding a batch found.
struct Found {
    /// Distinct keys, numbered 0.. in the order first met.
    keys: usize,
    /// Each record's key number, or None if the record is unusable.
    slot: Vec<Option<usize>>,
    /// Unusable records: (record index, reason).
    unusable: Vec<(usize, String)>,
}

/// The replicator: an engine plus the rules for turning a Kinesis batch into work and failures.
#[derive(Debug, Clone)]
pub struct Replicator {
    engine: Engine,
    tuning: Tuning,
    dead_letters: Option<DeadLetterQueue>,
}

impl Replicator {
    /// Builds the clients from `config` and checks both tables (once per container). With
    /// `DEAD_LETTER_QUEUE_URL` set, unusable records go to that queue.
    pub async fn from_config(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        counters: &[crate::calls::CallCounter],
    ) -> Result<Self, SetupError> {
        let tables = Tables {
            primary: dynamodb_client(sdk, &config.primary, &config.tuning, counters),
            primary_table: config.primary.table.clone(),
            replica: dynamodb_client(sdk, &config.replica, &config.tuning, counters),
            replica_table: config.replica.table.clone(),
        };
        let replicator = Self::connect(tables, config.tuning.clone()).await?;
        Ok(match DeadLetterQueue::from_config(config, sdk) {
            Some(queue) => replicator.with_dead_letter(queue),
            None => replicator,
        })
    }

    /// Checks both tables and returns a replicator for them.
    pub async fn connect(tables: Tables, tuning: Tuning) -> Result<Self, SetupError> {
        let engine = Engine::connect(tables, tuning.clone()).await?;
        Ok(Replicator {
            engine,
            tuning,
            dead_letters: None,
        })
    }

    /// Sends unusable records to `queue` instead of reporting them as failures.
    pub fn with_dead_letter(mut self, queue: DeadLetterQueue) -> Self {
        self.dead_letters = Some(queue);
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

    /// Decodes the records and pushes each new distinct key to `queue` (every
    /// [`DECODE_STEP`] records, yielding so the engine's workers can send what is ready), then
    /// closes it.
    async fn find_keys(&self, event: &KinesisEvent, queue: &KeyQueue) -> Found {
        let schema = self.engine.schema();
        let primary_table = &self.engine.tables().primary_table;
        let mut numbers: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut slot = Vec::with_capacity(event.records.len());
        let mut unusable = Vec::new();
        let mut new_keys: Vec<(usize, Key)> = Vec::new();
        for (r, record) in event.records.iter().enumerate() {
            match record::decode(record, schema, primary_table) {
                Ok(key) => {
                    let next = numbers.len();
                    let i = match numbers.get(key.canonical()) {
                        Some(&i) => i,
                        None => {
                            numbers.insert(key.canonical().to_vec(), next);
                            new_keys.push((next, key));
                            next
                        }
                    };
                    slot.push(Some(i));
                }
                Err(error) => {
                    unusable.push((r, dead_letter::reason(&error.problem)));
                    slot.push(None);
                }
            }
            if (r + 1) % DECODE_STEP == 0 {
                queue.push(new_keys.drain(..));
                tokio::task::yield_now().await;
            }
        }
        queue.push(new_keys);
        queue.close();
        Found {
            keys: numbers.len(),
            slot,
            unusable,
        }
    }

    /// Handles one batch. `deadline` is when the invocation times out: no new call starts
    /// within the configured margin of it, and what is left is reported as failed.
    pub async fn handle(
        &self,
        event: &KinesisEvent,
        deadline: Option<Instant>,
    ) -> (KinesisEventResponse, Summary) {
        let started = Instant::now();
        let stop_at = deadline.map(|d| d.checked_sub(self.tuning.deadline_margin).unwrap_or(d));

        // Records → distinct keys, handed to the engine as they are found, so the first reads
        // start while the rest of the batch is decoded.
        let queue = KeyQueue::default();
        let find = async {
            let found = self.find_keys(event, &queue).await;
            // Unusable records go to the dead-letter queue while the keys are replicated.
            let sent = match &self.dead_letters {
                Some(dead_letters) if !found.unusable.is_empty() => {
                    let letters: Vec<DeadLetter> = found
                        .unusable
                        .iter()
                        .map(|(r, reason)| {
                            DeadLetter::from_record(&event.records[*r], reason.clone())
                        })
                        .collect();
                    dead_letters.send(&letters, stop_at).await
                }
                _ => Vec::new(),
            };
            (found, sent)
        };
        let ((found, sent), outcome) = tokio::join!(find, self.engine.replicate(&queue, stop_at));
        let Found {
            keys,
            slot,
            unusable,
        } = found;

        // An unusable record is a failure unless the queue confirmed it.
        let mut kept = vec![false; event.records.len()];
        let mut dead_lettered = 0;
        for (n, (r, reason)) in unusable.iter().enumerate() {
            let record = &event.records[*r];
            let sent = sent.get(n);
            if let Some(Ok(())) = sent {
                kept[*r] = true;
                dead_lettered += 1;
            }
            if n >= LOGGED_UNUSABLE {
                continue;
            }
            let shard = record::shard_of(record);
            let sequence_number = &record.kinesis.sequence_number;
            match sent {
                Some(Ok(())) => tracing::warn!(
                    shard,
                    sequence_number = %sequence_number,
                    reason = %reason,
                    "unusable record: sent to the dead-letter queue"
                ),
                Some(Err(error)) => tracing::error!(
                    shard,
                    sequence_number = %sequence_number,
                    reason = %reason,
                    error = %error,
                    "unusable record: the dead-letter queue did not take it; reported as a failure"
                ),
                None => tracing::warn!(
                    shard,
                    sequence_number = %sequence_number,
                    reason = %reason,
                    "unusable record: reported as a failure"
                ),
            }
        }
        if unusable.len() > LOGGED_UNUSABLE {
            tracing::warn!(
                unusable_records = unusable.len(),
                logged = LOGGED_UNUSABLE,
                "more unusable records than logged one by one"
            );
        }

        let mut failed = vec![false; keys];
        for failure in &outcome.failures {
            let first_key = failure.keys.first().map(|(_, key)| key);
            tracing::error!(
                keys = failure.keys.len(),
                first_key = %first_key.map(ToString::to_string).unwrap_or_default(),
                error = %failure.error,
                "keys not replicated: their records are reported as failures"
            );
            for &(i, _) in &failure.keys {
                if let Some(f) = failed.get_mut(i) {
                    *f = true;
                }
            }
        }

        let mut response = KinesisEventResponse::default();
        for ((record, slot), kept) in event.records.iter().zip(&slot).zip(&kept) {
            let failure = match slot {
                Some(i) => failed.get(*i).copied().unwrap_or(true),
                None => !kept,
            };
            if failure {
                response.add_failure(record.kinesis.sequence_number.clone());
            }
        }

        let oldest = event
            .records
            .iter()
            .map(|r| r.kinesis.approximate_arrival_timestamp.0)
            .min();
        let summary = Summary {
            records: event.records.len(),
            keys,
            puts: outcome.puts,
            deletes: outcome.deletes,
            failed_records: response.batch_item_failures.len(),
            unusable_records: unusable.len(),
            dead_lettered,
            duration: started.elapsed(),
            oldest_record_age: oldest
                .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
                .unwrap_or_default(),
        };
        tracing::info!(
            records = summary.records,
            keys = summary.keys,
            puts = summary.puts,
            deletes = summary.deletes,
            failed_records = summary.failed_records,
            unusable_records = summary.unusable_records,
            dead_lettered = summary.dead_lettered,
            duration_ms = summary.duration.as_millis() as u64,
            oldest_record_age_ms = summary.oldest_record_age.as_millis() as u64,
            "batch replicated"
        );
        (response, summary)
    }
}

/// The Lambda function: handles the event before the invocation's deadline.
pub async fn function_handler(
    replicator: &Replicator,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, lambda_runtime::Error> {
    let deadline = deadline_instant(event.context.deadline);
    tracing::debug!(
        deadline_ms = event.context.deadline,
        remaining_ms =
            deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
        "invocation"
    );
    let (response, _) = replicator.handle(&event.payload, deadline).await;
    Ok(response)
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
