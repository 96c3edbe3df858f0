//! The dead-letter queue: unusable records are kept in SQS, one message each (a [`DeadLetter`]),
//! so the shard moves on and nothing is lost; and read back (`inspect`, `replay`) so they can be
//! looked at and re-submitted once the cause is fixed.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::stream::{self, StreamExt};

use crate::aws::error::AwsError;
use crate::aws::limits;
use crate::aws::retry::{self, Deadline};
use crate::replicate::letter::{BodyError, DeadLetter};

/// `SendMessageBatch` calls in flight at once.
const SEND_CONCURRENCY: usize = 4;
/// How long a message `replay` received stays invisible to other readers: long enough that one
/// run never sees a message twice.
const REPLAY_VISIBILITY: Duration = Duration::from_secs(300);
/// How long `inspect` hides what it read while it reads (then it releases them; it deletes nothing).
const INSPECT_VISIBILITY: Duration = Duration::from_secs(30);

/// Why a record could not be put on, or read from, the dead-letter queue.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeadLetterError {
    #[error(
        "record {sequence_number} on {shard} makes a {bytes}-byte dead-letter message; SQS accepts \
         at most {limit}: left to the event source mapping's retries and on-failure destination"
    )]
    TooLarge {
        shard: String,
        sequence_number: String,
        bytes: usize,
        limit: usize,
    },
    #[error("DEAD_LETTER_QUEUE_URL={queue_url}: {source}")]
    Send {
        queue_url: String,
        #[source]
        source: Arc<AwsError>,
    },
    #[error("DEAD_LETTER_QUEUE_URL={queue_url}: the request could not be built: {message}")]
    Build { queue_url: String, message: String },
    #[error("DEAD_LETTER_QUEUE_URL={queue_url}: the answer does not mention this entry")]
    Unanswered { queue_url: String },
    #[error(
        "DEAD_LETTER_QUEUE_URL={queue_url} refused record {sequence_number}: {code}: {message}"
    )]
    Refused {
        queue_url: String,
        sequence_number: String,
        code: String,
        message: String,
    },
    #[error("the invocation's deadline is near; not sent to the dead-letter queue")]
    Deadline,
    #[error("queue {queue_url}: {source}")]
    Queue {
        queue_url: String,
        #[source]
        source: Arc<AwsError>,
    },
}

/// The SQS queue unusable records go to (`DEAD_LETTER_QUEUE_URL`).
///
/// A record is dead-lettered once: a batch delivered again (Lambda retries an invocation whose
/// answer was lost, even one that succeeded) would send its unusable records again, so the
/// queue remembers the records it kept lately (per container) and does not send them twice;
/// across containers, a FIFO queue (`….fifo`) drops a repeat within five minutes by its
/// deduplication id (source, shard and sequence number).
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: Client,
    queue_url: String,
    kept: Arc<Mutex<Recent>>,
}

/// The ids of the records kept lately, oldest first, at most [`RECENT`].
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

/// How many kept records a queue remembers (a few batches' worth).
const RECENT: usize = 20_000;

impl Recent {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// A message read from the queue: the dead letter, or why it is not one.
#[derive(Debug)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub letter: Result<DeadLetter, BodyError>,
}

/// What [`replay`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Re-submitted and deleted from the queue.
    pub replayed: usize,
    /// Re-submission failed: left on the queue (visible again after five minutes).
    pub failed: usize,
    /// Not a dead letter this version reads: left on the queue.
    pub unreadable: usize,
}

impl DeadLetterQueue {
    /// A queue reached with `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        DeadLetterQueue {
            client,
            queue_url: queue_url.into(),
            kept: Arc::default(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends `letters` in `SendMessageBatch` calls (≤10 entries, ≤256 KiB each), several at once,
    /// none started after `deadline`. Returns one result per letter, in order: `Ok` only when SQS
    /// confirmed that very entry.
    pub async fn send(
        &self,
        letters: &[DeadLetter],
        deadline: Deadline,
    ) -> Vec<Result<(), DeadLetterError>> {
        let mut results: Vec<Result<(), DeadLetterError>> = vec![Ok(()); letters.len()];
        let mut bodies = Vec::with_capacity(letters.len());
        let already: Vec<bool> = match self.kept.lock() {
            Ok(kept) => letters
                .iter()
                .map(|l| kept.contains(&l.record_id()))
                .collect(),
            Err(_) => vec![false; letters.len()],
        };
        for (i, letter) in letters.iter().enumerate() {
            if already[i] {
                continue; // kept by an earlier delivery of the same record
            }
            let body = letter.to_body();
            if body.len() > limits::SQS_BYTES {
                results[i] = Err(DeadLetterError::TooLarge {
                    shard: letter.shard.clone(),
                    sequence_number: letter.sequence_number.clone(),
                    bytes: body.len(),
                    limit: limits::SQS_BYTES,
                });
            } else {
                bodies.push((i, body));
            }
        }
        let batches = retry::chunks(bodies, limits::SQS_ENTRIES, limits::SQS_BYTES, |(_, b)| {
            b.len()
        });
        let answers: Vec<Vec<(usize, Result<(), DeadLetterError>)>> = stream::iter(batches)
            .map(|batch| self.send_batch(letters, batch, deadline))
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        for (i, result) in answers.into_iter().flatten() {
            results[i] = result;
        }
        if let Ok(mut kept) = self.kept.lock() {
            for (letter, result) in letters.iter().zip(&results) {
                if result.is_ok() {
                    kept.insert(letter.record_id());
                }
            }
        }
        results
    }

    async fn send_batch(
        &self,
        letters: &[DeadLetter],
        batch: Vec<(usize, String)>,
        deadline: Deadline,
    ) -> Vec<(usize, Result<(), DeadLetterError>)> {
        let all = |error: DeadLetterError| {
            batch
                .iter()
                .map(|(i, _)| (*i, Err(error.clone())))
                .collect::<Vec<_>>()
        };
        let mut entries = Vec::with_capacity(batch.len());
        let fifo = self.queue_url.ends_with(".fifo");
        for (n, (i, body)) in batch.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .message_body(body);
            if fifo {
                let letter = &letters[*i];
                entry = entry
                    .message_group_id(&letter.shard)
                    .message_deduplication_id(hex_sha256(&letter.record_id()));
            }
            match entry.build() {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    return all(DeadLetterError::Build {
                        queue_url: self.queue_url.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        let call = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send();
        let output = match deadline.run(call).await {
            Err(_) => return all(DeadLetterError::Deadline),
            Ok(Err(e)) => {
                return all(DeadLetterError::Send {
                    queue_url: self.queue_url.clone(),
                    source: Arc::new(AwsError::new("SendMessageBatch", e)),
                });
            }
            Ok(Ok(output)) => output,
        };
        let results = self.entry_results(&output, letters, &batch);
        batch.iter().map(|(i, _)| *i).zip(results).collect()
    }

    /// One result per entry of `batch`, from a `SendMessageBatch` answer (entries are named by
    /// their position); an entry the answer does not mention is not taken as sent.
    fn entry_results(
        &self,
        output: &aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput,
        letters: &[DeadLetter],
        batch: &[(usize, String)],
    ) -> Vec<Result<(), DeadLetterError>> {
        let position = |id: &str| id.parse::<usize>().ok().filter(|&n| n < batch.len());
        let mut results: Vec<Option<Result<(), DeadLetterError>>> = vec![None; batch.len()];
        for ok in output.successful() {
            if let Some(n) = position(ok.id()) {
                results[n] = Some(Ok(()));
            }
        }
        for failed in output.failed() {
            if let Some(n) = position(failed.id()) {
                results[n] = Some(Err(DeadLetterError::Refused {
                    queue_url: self.queue_url.clone(),
                    sequence_number: letters[batch[n].0].sequence_number.clone(),
                    code: failed.code().to_owned(),
                    message: failed.message().unwrap_or("no message").to_owned(),
                }));
            }
        }
        let unanswered = || DeadLetterError::Unanswered {
            queue_url: self.queue_url.clone(),
        };
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(unanswered())))
            .collect()
    }

    fn queue_error(&self, source: AwsError) -> DeadLetterError {
        DeadLetterError::Queue {
            queue_url: self.queue_url.clone(),
            source: Arc::new(source),
        }
    }

    fn build_error(&self, error: impl fmt::Display) -> DeadLetterError {
        DeadLetterError::Build {
            queue_url: self.queue_url.clone(),
            message: error.to_string(),
        }
    }

    /// Receives up to `max` (1..=10) messages, waiting up to `wait` (long polling, whole
    /// seconds, at most 20) for the first; they stay invisible to others for `visibility`.
    pub async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, DeadLetterError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| self.queue_error(AwsError::new("ReceiveMessage", e)))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receipt_handle = m.receipt_handle?;
                Some(Received {
                    message_id: m.message_id.unwrap_or_default(),
                    letter: DeadLetter::from_body(m.body.as_deref().unwrap_or_default()),
                    receipt_handle,
                })
            })
            .collect())
    }

    /// Makes received messages visible to other readers again at once (10 per call).
    pub async fn release(&self, received: &[&Received]) -> Result<(), DeadLetterError> {
        for chunk in received.chunks(limits::SQS_ENTRIES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.receipt_handle)
                        .visibility_timeout(0)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.build_error(e))?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.queue_error(AwsError::new("ChangeMessageVisibilityBatch", e)))?;
        }
        Ok(())
    }

    /// Deletes received messages (10 per call); returns how many SQS confirmed.
    pub async fn delete(&self, received: &[&Received]) -> Result<usize, DeadLetterError> {
        let mut deleted = 0;
        for chunk in received.chunks(limits::SQS_ENTRIES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(&r.receipt_handle)
                        .build()
                        .map_err(|e| self.build_error(e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.queue_error(AwsError::new("DeleteMessageBatch", e)))?;
            deleted += output.successful().len();
        }
        Ok(deleted)
    }
}

/// Reads up to `limit` messages without deleting them, for a person to look at. They are hidden
/// while it reads (so none is read twice), then made visible again.
pub async fn inspect(
    queue: &DeadLetterQueue,
    limit: usize,
) -> Result<Vec<Received>, DeadLetterError> {
    let mut all = Vec::new();
    while all.len() < limit {
        let batch = queue
            .receive(
                limit - all.len(),
                Duration::from_secs(1),
                INSPECT_VISIBILITY,
            )
            .await?;
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    queue.release(&all.iter().collect::<Vec<_>>()).await?;
    Ok(all)
}

/// Takes up to `limit` dead letters off the queue and hands each to `submit` (e.g. a Kinesis
/// `PutRecord` of `letter.data` with `letter.partition_key`). A letter is deleted from the queue
/// only after `submit` succeeds; one that fails, and any message that is not a dead letter, is
/// left there. Stops when the queue has nothing more to give or `limit` messages were seen.
pub async fn replay<F, Fut, E>(
    queue: &DeadLetterQueue,
    limit: usize,
    mut submit: F,
) -> Result<ReplayReport, DeadLetterError>
where
    F: FnMut(DeadLetter) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let mut report = ReplayReport::default();
    let mut seen = 0;
    while seen < limit {
        let batch = queue
            .receive(limit - seen, Duration::from_secs(1), REPLAY_VISIBILITY)
            .await?;
        if batch.is_empty() {
            break;
        }
        seen += batch.len();
        let mut done = Vec::new();
        for received in &batch {
            match &received.letter {
                Err(error) => {
                    tracing::warn!(message_id = %received.message_id, %error, "not a dead letter: left on the queue");
                    report.unreadable += 1;
                }
                Ok(letter) => match submit(letter.clone()).await {
                    Ok(()) => done.push(received),
                    Err(error) => {
                        tracing::warn!(
                            sequence_number = %letter.sequence_number,
                            %error,
                            "re-submission failed: left on the queue"
                        );
                        report.failed += 1;
                    }
                },
            }
        }
        report.replayed += queue.delete(&done).await?;
    }
    Ok(report)
}

/// A FIFO queue's deduplication id (at most 128 characters): the SHA-256 of `text`, in hex.
fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
