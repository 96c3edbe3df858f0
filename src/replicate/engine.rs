//! The engine: makes the replica agree with the primary for a set of distinct keys, with
//! consistent `BatchGetItem` reads and `BatchWriteItem` puts and deletes, pipelined under a
//! concurrency bound, retried as `retry` says, and stopped at a deadline. No write attempt
//! starts once less than the write attempt timeout is left before the deadline (see
//! [`write_may_start`]), so the engine never abandons a write attempt at its deadline.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use futures::future::join_all;

use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeySchema};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{self, Backoff, Deadline, Expired, GaveUp, Undone};
use crate::aws::table::{PairError, Table, TableError, WriteCall, pair_schema};
use crate::replicate::key_queue::KeyQueue;
use crate::replicate::read_size::ReadSize;
use crate::replicate::tuning::Tuning;
use crate::replicate::write_cutoff::WriteCutoff;
use aws_sdk_dynamodb::config::SharedInterceptor;

type Item = HashMap<String, AttributeValue>;

/// The tables cannot be replicated between; the message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Role(#[from] crate::aws::role::RoleError),
    #[error(transparent)]
    Pair(#[from] PairError),
}

/// Why some keys could not be made to agree in this invocation (they are retried later).
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("reading the primary table `{table}`: {source}")]
    Read {
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("reading the primary table `{table}`: {problem}")]
    BadAnswer {
        table: String,
        problem: &'static str,
    },
    #[error("writing the replica table `{table}`: {source}")]
    Write {
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("writing the replica table `{table}`: {problem}")]
    BadWriteAnswer {
        table: String,
        problem: &'static str,
    },
    #[error("`{table}` still left {operation} unprocessed after {attempts} attempts")]
    Unprocessed {
        table: String,
        operation: &'static str,
        attempts: u32,
    },
    #[error("the invocation's deadline is near: not attempted, or abandoned")]
    Deadline,
}

/// Keys that failed (with the number the caller gave each), and why.
#[derive(Debug)]
pub struct Failure {
    pub keys: Vec<(usize, Key)>,
    pub error: ReplicateError,
}

/// What one run of the engine did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub puts: usize,
    pub deletes: usize,
    pub failures: Vec<Failure>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.puts += other.puts;
        self.deletes += other.deletes;
        self.failures.extend(other.failures);
    }

    fn fail(&mut self, keys: Vec<(usize, Key)>, error: ReplicateError) {
        if !keys.is_empty() {
            self.failures.push(Failure { keys, error });
        }
    }

    /// Number of keys that failed.
    pub fn failed_keys(&self) -> usize {
        self.failures.iter().map(|f| f.keys.len()).sum()
    }

    /// Number of keys that failed because the deadline came.
    pub fn deadline_failures(&self) -> usize {
        self.failures
            .iter()
            .filter(|f| matches!(f.error, ReplicateError::Deadline))
            .map(|f| f.keys.len())
            .sum()
    }

    /// For each of the run's `keys` distinct keys (numbered 0..keys), whether it failed. An
    /// outcome that does not account for every key exactly once (puts + deletes + failures ≠
    /// keys) is not to be trusted: then every key counts as failed.
    pub fn key_failed(&self, keys: usize) -> Vec<bool> {
        let mut failed = vec![false; keys];
        for (i, _) in self.failures.iter().flat_map(|f| &f.keys) {
            if let Some(flag) = failed.get_mut(*i) {
                *flag = true;
            }
        }
        if self.puts + self.deletes + self.failed_keys() != keys {
            tracing::error!(
                keys,
                puts = self.puts,
                deletes = self.deletes,
                failed = self.failed_keys(),
                "the engine's outcome does not account for every key: every record fails"
            );
            failed.fill(true);
        }
        failed
    }
}

/// What a `BatchGetItem` answered for one key it was asked.
#[derive(Debug, Clone)]
enum Answer {
    Found(Item),
    Absent,
    Unprocessed,
}

/// One run's shared state: the queue of keys and the read size.
struct Run<'a> {
    queue: &'a KeyQueue,
    size: Mutex<ReadSize>,
}

impl Run<'_> {
    fn ask(&self) -> usize {
        self.size.lock().map(|s| s.ask).unwrap_or(limits::READ_KEYS)
    }

    fn answered(&self, asked: usize, done: usize, unprocessed: usize) {
        if let Ok(mut size) = self.size.lock() {
            size.answered(asked, done, unprocessed);
        }
    }
}

/// A write, the key it is for, and the number the caller gave the key.
type Write = ((usize, Key), WriteRequest);

/// The replication engine for one pair of tables.
#[derive(Debug, Clone)]
pub struct Engine {
    primary: Table,
    replica: Table,
    schema: KeySchema,
    tuning: Tuning,
    backoff: Backoff,
}

impl Engine {
    /// Describes both tables (once per container), checks that they are two tables with the
    /// same key schema, and returns an engine ready to replicate.
    pub async fn connect(
        primary: Table,
        replica: Table,
        tuning: Tuning,
    ) -> Result<Self, SetupError> {
        let schema = pair_schema(&primary, &replica).await?;
        Ok(Engine {
            backoff: Backoff::attempts(tuning.max_attempts),
            primary,
            replica,
            schema,
            tuning,
        })
    }

    /// The primary table's key schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// The primary table.
    pub fn primary(&self) -> &Table {
        &self.primary
    }

    /// The replica table.
    pub fn replica(&self) -> &Table {
        &self.replica
    }

    /// Makes the replica agree with the primary for every key that comes through `queue`, until
    /// it is closed and empty. No call starts after `deadline`, and no write attempt once less
    /// than the write attempt timeout is left before it; keys not done by then fail with
    /// [`ReplicateError::Deadline`].
    ///
    /// `concurrency` workers share the queue: each reads up to 100 keys, writes what the read
    /// returned as soon as it returns (in calls of 25), and goes on with the keys it was left
    /// plus new ones, so reads and writes overlap, every call is full, and at most `concurrency`
    /// calls (and their items) are in flight at once.
    pub async fn replicate(&self, queue: &KeyQueue, deadline: Deadline) -> Outcome {
        let run = Run {
            queue,
            size: Mutex::new(ReadSize::default()),
        };
        // Workers that find the queue closed and empty end at once (a small batch uses a few).
        let workers = self.tuning.concurrency.max(1);
        let mut total = Outcome::default();
        for outcome in join_all((0..workers).map(|_| self.worker(&run, deadline))).await {
            total.merge(outcome);
        }
        total
    }

    /// One worker: reads the keys it was left unprocessed, topped up from the queue, and writes
    /// what each read returns, until the queue is closed and empty. When the server leaves keys
    /// unprocessed, reads ask for only as many as it managed (see [`ReadSize`]); reads that get
    /// nothing at all back off, and after `max_attempts` of them their keys fail.
    async fn worker(&self, run: &Run<'_>, deadline: Deadline) -> Outcome {
        let mut outcome = Outcome::default();
        let mut pending: VecDeque<(usize, Key)> = VecDeque::new();
        let mut stalls = 0;
        loop {
            let ask = run.ask();
            let mut request: Vec<(usize, Key)> = pending.drain(..ask.min(pending.len())).collect();
            run.queue.take(ask - request.len(), &mut request).await;
            if request.is_empty() {
                return outcome;
            }
            let answers = match self.read(&request, deadline).await {
                Ok(answers) => answers,
                Err(error) => {
                    outcome.fail(request, error);
                    continue;
                }
            };
            let (writes, left) = sort_answers(request, answers);
            run.answered(writes.len() + left.len(), writes.len(), left.len());
            let progress = !writes.is_empty();
            outcome.merge(self.write(writes, deadline).await);
            if left.is_empty() {
                continue;
            }
            stalls = if progress { 0 } else { stalls + 1 };
            if !progress && let Err(why) = self.backoff.pause(stalls, deadline).await {
                // Given up on these keys; the next stall starts counting afresh.
                stalls = 0;
                outcome.fail(left, self.unprocessed(why, "keys", &self.primary));
                continue;
            }
            for key in left.into_iter().rev() {
                pending.push_front(key);
            }
        }
    }

    /// One consistent `BatchGetItem` of `request`. An answer that names a key nobody asked for
    /// fails the whole read: taking it at its word could delete a replica item that exists.
    async fn read(
        &self,
        request: &[(usize, Key)],
        deadline: Deadline,
    ) -> Result<Vec<Answer>, ReplicateError> {
        let table = &self.primary.name;
        let bad = |problem| ReplicateError::BadAnswer {
            table: table.clone(),
            problem,
        };
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(
                request.iter().map(|(_, key)| key.to_attributes()).collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(|_| bad("the request could not be built"))?;
        let (items, left) = deadline
            .run(self.primary.batch_get(wanted))
            .await
            .map_err(|Expired| ReplicateError::Deadline)?
            .map_err(|source| ReplicateError::Read {
                table: table.clone(),
                source,
            })?;
        self.answers(request, items, left)
            .ok_or_else(|| bad("the answer holds a key that was not asked for (or twice)"))
    }

    /// What a read answered for each key asked, in order; `None` if the answer names a key that
    /// was not asked for, or one twice.
    fn answers(
        &self,
        request: &[(usize, Key)],
        items: Vec<Item>,
        left: Vec<Item>,
    ) -> Option<Vec<Answer>> {
        let index = KeyIndex::new(&self.schema, request.iter().map(|(_, key)| key));
        let mut answers = vec![Answer::Absent; request.len()];
        let fresh = |attributes: &Item, answers: &[Answer]| {
            index
                .position(attributes)
                .filter(|&p| matches!(answers[p], Answer::Absent))
        };
        for item in items {
            let p = fresh(&item, &answers)?;
            answers[p] = Answer::Found(item);
        }
        for key in &left {
            let p = fresh(key, &answers)?;
            answers[p] = Answer::Unprocessed;
        }
        Some(answers)
    }

    /// Sends `writes` to the replica in `BatchWriteItem` calls of at most 25, re-sending what
    /// comes back unprocessed (see [`retry::resend`]).
    async fn write(&self, writes: Vec<Write>, deadline: Deadline) -> Outcome {
        let mut outcome = Outcome::default();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<Write> = writes.by_ref().take(limits::WRITE_REQUESTS).collect();
            outcome.merge(self.write_chunk(chunk, deadline).await);
        }
        outcome
    }

    async fn write_chunk(&self, chunk: Vec<Write>, deadline: Deadline) -> Outcome {
        let table = &self.replica.name;
        let entries = chunk.into_iter().map(|((i, key), request)| {
            let put = request.put_request.is_some();
            ((i, key, put), request)
        });
        let resent = retry::resend(entries.collect(), &self.backoff, deadline, |requests| {
            self.write_round(requests, deadline)
        })
        .await;
        let mut outcome = Outcome::default();
        for (_, _, put) in &resent.done {
            match put {
                true => outcome.puts += 1,
                false => outcome.deletes += 1,
            }
        }
        if let Some(why) = resent.why {
            let error = match why {
                Undone::Failed(error) => error,
                Undone::Deadline => ReplicateError::Deadline,
                Undone::Unprocessed { attempts } => {
                    self.unprocessed(GaveUp::Attempts(attempts), "items", &self.replica)
                }
                Undone::Unanswered => ReplicateError::BadWriteAnswer {
                    table: table.clone(),
                    problem: "the answer does not account for every write",
                },
            };
            let keys = resent.undone.into_iter().map(|(i, key, _)| (i, key));
            outcome.fail(keys.collect(), error);
        }
        outcome
    }

    /// The SDK's attempt timeout for writes: `write_attempt_timeout`, never longer than the
    /// attempt timeout of every other call.
    fn write_attempt_timeout(&self) -> Duration {
        self.tuning
            .write_attempt_timeout
            .min(self.tuning.call_timeout)
    }

    /// One `BatchWriteItem`: for each request sent, `None` when it was applied, or the request
    /// the answer handed back unprocessed. An answer that names a write that was not sent fails
    /// the call rather than count a write as done that may not be.
    ///
    /// Each attempt (the SDK's retries included) may take at most the write attempt timeout, and
    /// none starts once less than that is left before `deadline` (a [`WriteCutoff`]): every
    /// attempt has ended, answered or abandoned, by the deadline. A refused attempt fails the
    /// call with [`ReplicateError::Deadline`].
    async fn write_round(
        &self,
        requests: Vec<WriteRequest>,
        deadline: Deadline,
    ) -> Result<Vec<Option<WriteRequest>>, ReplicateError> {
        let table = &self.replica.name;
        let bad = |problem| ReplicateError::BadWriteAnswer {
            table: table.clone(),
            problem,
        };
        let index = KeyIndex::of_writes(&self.schema, &requests)
            .ok_or_else(|| bad("a write without a valid key"))?;
        let attempt_timeout = self.write_attempt_timeout();
        let cutoff = WriteCutoff::new(deadline, attempt_timeout);
        let call = WriteCall {
            attempt_timeout: Some(attempt_timeout),
            watchers: vec![SharedInterceptor::new(cutoff.clone())],
        };
        let left = self
            .replica
            .batch_write(requests, call)
            .await
            .map_err(|source| match cutoff.refused() {
                true => ReplicateError::Deadline,
                false => ReplicateError::Write {
                    table: table.clone(),
                    source,
                },
            })?;
        index
            .match_writes(left)
            .ok_or_else(|| bad("the answer holds a write that was not sent"))
    }

    fn unprocessed(&self, why: GaveUp, operation: &'static str, table: &Table) -> ReplicateError {
        match why {
            GaveUp::Deadline => ReplicateError::Deadline,
            GaveUp::Attempts(attempts) => ReplicateError::Unprocessed {
                table: table.name.clone(),
                operation,
                attempts,
            },
        }
    }
}

/// Splits a read's answers into writes (a put of each item found, a delete of each key absent)
/// and the keys left unprocessed, in the order asked.
fn sort_answers(
    request: Vec<(usize, Key)>,
    answers: Vec<Answer>,
) -> (Vec<Write>, Vec<(usize, Key)>) {
    let mut writes = Vec::with_capacity(request.len());
    let mut left = Vec::new();
    for ((i, key), answer) in request.into_iter().zip(answers) {
        match answer {
            Answer::Found(item) => writes.push(((i, key), put(item))),
            Answer::Absent => {
                let request = delete(&key);
                writes.push(((i, key), request));
            }
            Answer::Unprocessed => left.push((i, key)),
        }
    }
    (writes, left)
}

fn put(item: Item) -> WriteRequest {
    let put = PutRequest::builder().set_item(Some(item)).build();
    WriteRequest::builder().set_put_request(put.ok()).build()
}

fn delete(key: &Key) -> WriteRequest {
    let delete = DeleteRequest::builder()
        .set_key(Some(key.to_attributes()))
        .build();
    WriteRequest::builder()
        .set_delete_request(delete.ok())
        .build()
}
