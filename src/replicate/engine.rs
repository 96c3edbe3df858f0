//! The engine: makes the replica agree with the primary for a set of distinct keys, with
//! consistent `BatchGetItem` reads and `BatchWriteItem` puts and deletes, pipelined under a
//! concurrency bound, retried as `retry` says, and stopped at a deadline. No write attempt
//! starts once less than the write attempt timeout is left before the deadline (see
//! [`write_may_start`]), so the engine never abandons a write attempt at its deadline.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use aws_smithy_runtime_api::box_error::BoxError;
use futures::future::join_all;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeyIndex, KeySchema};
use crate::aws::retry::{self, Backoff, Deadline, Expired, GaveUp, Undone, limits};
use crate::aws::table::{PairError, Table, TableError, WriteCall, pair_schema};
use crate::replicate::tuning::Tuning;
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

/// The distinct keys of one run, handed to the engine while they are still being found: the
/// caller pushes keys (each with a number of its choosing) and then closes the queue. Workers
/// take keys as soon as there are enough for a full read, so reading starts long before the last
/// record of a batch is decoded.
#[derive(Debug, Default)]
pub struct KeyQueue {
    state: Mutex<Queued>,
    more: Notify,
}

#[derive(Debug, Default)]
struct Queued {
    keys: VecDeque<(usize, Key)>,
    closed: bool,
}

impl KeyQueue {
    /// A closed queue of `keys`, numbered from 0 in order.
    pub fn of(keys: impl IntoIterator<Item = Key>) -> Self {
        let queue = KeyQueue::default();
        queue.push(keys.into_iter().enumerate());
        queue.close();
        queue
    }

    /// Adds keys (which must be distinct from every key already pushed).
    pub fn push(&self, keys: impl IntoIterator<Item = (usize, Key)>) {
        self.lock().keys.extend(keys);
        self.more.notify_waiters();
    }

    /// No more keys will come: workers take what is left, however few.
    pub fn close(&self) {
        self.lock().closed = true;
        self.more.notify_waiters();
    }

    /// Moves `n` keys into `into`, waiting while fewer are queued and more may come; after the
    /// queue is closed, moves what is left.
    async fn take(&self, n: usize, into: &mut Vec<(usize, Key)>) {
        loop {
            let more = self.more.notified();
            let mut more = std::pin::pin!(more);
            more.as_mut().enable();
            {
                let mut queued = self.lock();
                if queued.keys.len() >= n || queued.closed {
                    let n = n.min(queued.keys.len());
                    into.extend(queued.keys.drain(..n));
                    return;
                }
            }
            more.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        // Nothing panics while the lock is held; a poisoned queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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

/// How many keys a read asks for. When the server answers only part of a read (a response size
/// limit, or throttling), every worker's next read asks for as many as it answered, so items are
/// not read again and again only to be cut; after a read answered in full the size grows by a
/// quarter, but never back to a size the server has cut in this batch.
#[derive(Debug)]
struct ReadSize {
    ask: usize,
    /// The smallest read the server cut (one more than the most it may answer whole).
    cut: usize,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize {
            ask: limits::READ_KEYS,
            cut: limits::READ_KEYS + 1,
        }
    }
}

impl ReadSize {
    fn answered(&mut self, asked: usize, done: usize, unprocessed: usize) {
        if unprocessed > 0 {
            if done > 0 {
                self.cut = self.cut.min(asked);
                self.ask = done.min(self.cut.saturating_sub(1)).max(1);
            }
        } else if asked >= self.ask {
            let grown = self.ask + (self.ask / 4).max(1);
            self.ask = grown
                .min(self.cut.saturating_sub(1))
                .clamp(1, limits::READ_KEYS);
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

/// Whether a write attempt may start now, with `left` before the deadline (`None`: there is no
/// deadline) and `attempt_timeout` the longest the attempt may take: only if it ends, answered
/// or abandoned by the client, by the deadline. An attempt still in flight when the invocation
/// gives up is how an older item can land on the replica after the retry's newer one.
pub fn write_may_start(left: Option<Duration>, attempt_timeout: Duration) -> bool {
    left.is_none_or(|left| left >= attempt_timeout)
}

/// An SDK interceptor that refuses every attempt of one write call, the SDK's own retries
/// included, that [`write_may_start`] forbids, and remembers that it did.
#[derive(Debug, Clone)]
struct WriteCutoff {
    deadline: Deadline,
    attempt_timeout: Duration,
    refused: Arc<AtomicBool>,
}

impl WriteCutoff {
    fn new(deadline: Deadline, attempt_timeout: Duration) -> Self {
        WriteCutoff {
            deadline,
            attempt_timeout,
            refused: Arc::new(AtomicBool::new(false)),
        }
    }

    fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Intercept for WriteCutoff {
    fn name(&self) -> &'static str {
        "WriteCutoff"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let left = self
            .deadline
            .instant()
            .map(|d| d.saturating_duration_since(Instant::now()));
        if write_may_start(left, self.attempt_timeout) {
            return Ok(());
        }
        self.refused.store(true, Ordering::Relaxed);
        Err("too close to the invocation's deadline to start a write attempt".into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::key::ScalarType;

    fn key(n: usize) -> Key {
        let id = AttributeValue::N(n.to_string());
        KeySchema::hash_only("id", ScalarType::N)
            .key(HashMap::from([("id".to_owned(), id)]))
            .expect("a number key")
    }

    fn numbers(keys: &[(usize, Key)]) -> Vec<usize> {
        keys.iter().map(|(i, _)| *i).collect()
    }

    #[tokio::test]
    async fn workers_wait_for_a_full_read_until_the_queue_closes() {
        let queue = KeyQueue::default();
        queue.push((0..2).map(|i| (i, key(i))));
        let mut got = Vec::new();
        {
            // Two keys queued, three wanted, more to come: the worker waits.
            let mut take = std::pin::pin!(queue.take(3, &mut got));
            assert!(futures::poll!(take.as_mut()).is_pending());
            queue.push((2..4).map(|i| (i, key(i))));
            take.await;
        }
        assert_eq!(numbers(&got), [0, 1, 2]);

        let mut rest = Vec::new();
        {
            let mut take = std::pin::pin!(queue.take(3, &mut rest));
            assert!(futures::poll!(take.as_mut()).is_pending());
            // Closed: what is left, however few.
            queue.close();
            take.await;
        }
        assert_eq!(numbers(&rest), [3]);
        let mut none = Vec::new();
        queue.take(3, &mut none).await;
        assert!(none.is_empty());
        let closed = KeyQueue::of([key(7), key(8)]);
        let mut all = Vec::new();
        closed.take(limits::READ_KEYS, &mut all).await;
        assert_eq!(numbers(&all), [0, 1]);
    }

    /// Answers reads like a server that returns at most `limit` keys whole.
    fn converge(limit: usize, reads: usize) -> Vec<usize> {
        let mut size = ReadSize::default();
        (0..reads)
            .map(|_| {
                let asked = size.ask;
                let done = asked.min(limit);
                size.answered(asked, done, asked - done);
                asked
            })
            .collect()
    }

    #[test]
    fn read_size_settles_below_the_servers_cut() {
        let asks = converge(22, 16);
        assert_eq!(asks[..3], [100, 22, 27]);
        // It probes upwards a few times, then stays at what the server answers whole.
        assert!(asks[11..].iter().all(|&a| a == 22), "{asks:?}");
        assert_eq!(converge(1000, 3), [100, 100, 100]);
    }

    #[test]
    fn a_write_starts_only_if_its_attempt_ends_by_the_deadline() {
        let second = Duration::from_secs(1);
        assert!(write_may_start(None, second), "no deadline");
        assert!(write_may_start(Some(Duration::from_secs(5)), second));
        assert!(
            write_may_start(Some(second), second),
            "it ends at the deadline"
        );
        assert!(!write_may_start(
            Some(second - Duration::from_millis(1)),
            second
        ));
        assert!(!write_may_start(Some(Duration::ZERO), second));
        assert!(write_may_start(Some(Duration::ZERO), Duration::ZERO));
    }

    #[test]
    fn read_size_grows_back_after_a_partial_answer() {
        let mut size = ReadSize::default();
        size.answered(100, 10, 90);
        assert_eq!(size.ask, 10);
        for _ in 0..20 {
            let asked = size.ask;
            size.answered(asked, asked, 0);
        }
        assert_eq!(size.ask, 99, "never back to the size that was cut");
        // A stall (nothing answered) changes nothing; a short tail does not grow it.
        size.answered(99, 0, 99);
        size.answered(5, 5, 0);
        assert_eq!(size.ask, 99);
    }
}
