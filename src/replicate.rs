//! The read/write engine: makes the replica agree with the primary for a set of distinct keys,
//! with consistent `BatchGetItem` reads and `BatchWriteItem` puts and deletes, pipelined under a
//! concurrency bound, with bounded retries and an optional stop time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use futures::future::join_all;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Tuning;
use crate::key::{Key, KeyIndex, KeySchema, SchemaError};

/// `BatchGetItem` takes at most 100 keys, `BatchWriteItem` at most 25 requests.
pub const MAX_READ_KEYS: usize = 100;
pub const MAX_WRITE_REQUESTS: usize = 25;

const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

type Item = HashMap<String, AttributeValue>;

/// The two tables and the clients that reach them (they may be in different regions).
#[derive(Debug, Clone)]
pub struct Tables {
    pub primary: Client,
    pub primary_table: String,
    pub replica: Client,
    pub replica_table: String,
}

/// The tables could not be used: names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{setting}={table}: DescribeTable failed: {message}")]
    Describe {
        setting: &'static str,
        table: String,
        message: String,
    },
    #[error("{0}")]
    Schema(#[from] SchemaError),
    #[error(
        "REPLICA_TABLE={replica}: its key schema {found:?} differs from the primary table's {expected:?}"
    )]
    Mismatch {
        replica: String,
        expected: KeySchema,
        found: KeySchema,
    },
}

/// Why some keys could not be made to agree in this invocation (they are retried later).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReplicateError {
    #[error("reading the primary table `{table}` failed: {message}")]
    Read { table: String, message: String },
    #[error("writing the replica table `{table}` failed: {message}")]
    Write { table: String, message: String },
    #[error("`{table}` still left {operation} unprocessed after {attempts} attempts")]
    Unprocessed {
        table: String,
        operation: &'static str,
        attempts: u32,
    },
    #[error("the invocation's deadline is near; not attempted")]
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
        self.size.lock().map(|s| s.ask).unwrap_or(MAX_READ_KEYS)
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
            ask: MAX_READ_KEYS,
            cut: MAX_READ_KEYS + 1,
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
                .clamp(1, MAX_READ_KEYS);
        }
    }
}

/// A write and the key it is for.
type Write = (usize, Key, WriteRequest);

/// The replication engine for one pair of tables.
#[derive(Debug, Clone)]
pub struct Engine {
    tables: Tables,
    schema: KeySchema,
    tuning: Tuning,
}

impl Engine {
    /// Describes both tables (once per container), checks that their key schemas agree, and
    /// returns an engine ready to replicate.
    pub async fn connect(tables: Tables, tuning: Tuning) -> Result<Self, SetupError> {
        let primary = describe(&tables.primary, &tables.primary_table, "PRIMARY_TABLE").await?;
        let replica = describe(&tables.replica, &tables.replica_table, "REPLICA_TABLE").await?;
        if primary != replica {
            return Err(SetupError::Mismatch {
                replica: tables.replica_table.clone(),
                expected: primary,
                found: replica,
            });
        }
        Ok(Engine {
            tables,
            schema: primary,
            tuning,
        })
    }

    /// The primary table's key schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// The tables this engine replicates between.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Makes the replica agree with the primary for every key that comes through `queue`, until
    /// it is closed and empty. No call starts after `stop_at`; keys not done by then fail with
    /// [`ReplicateError::Deadline`].
    ///
    /// `concurrency` workers share the queue: each reads up to 100 keys, writes what the read
    /// returned as soon as it returns (in calls of 25), and goes on with the keys it was left
    /// plus new ones, so reads and writes overlap, every call is full, and at most `concurrency`
    /// calls (and their items) are in flight at once.
    pub async fn replicate(&self, queue: &KeyQueue, stop_at: Option<Instant>) -> Outcome {
        let run = Run {
            queue,
            size: Mutex::new(ReadSize::default()),
        };
        // Workers that find the queue closed and empty end at once (a small batch uses a few).
        let workers = self.tuning.concurrency.max(1);
        let mut total = Outcome::default();
        for outcome in join_all((0..workers).map(|_| self.worker(&run, stop_at))).await {
            total.merge(outcome);
        }
        total
    }

    /// One worker: reads the keys it was left unprocessed, topped up from the queue, and writes
    /// what each read returns, until the queue is closed and empty. When the server leaves keys
    /// unprocessed, reads ask for only as many as it managed (see [`ReadSize`]).
    async fn worker(&self, run: &Run<'_>, stop_at: Option<Instant>) -> Outcome {
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
            let answers = match self.read(&request, stop_at).await {
                Ok(answers) => answers,
                Err(error) => {
                    outcome.fail(request, error);
                    continue;
                }
            };
            let unprocessed = answers
                .iter()
                .filter(|a| matches!(a, Answer::Unprocessed))
                .count();
            let done = request.len() - unprocessed;
            run.answered(request.len(), done, unprocessed);

            let mut writes: Vec<Write> = Vec::with_capacity(done);
            let mut left = Vec::with_capacity(unprocessed);
            for ((i, key), answer) in request.into_iter().zip(answers) {
                match answer {
                    Answer::Found(item) => writes.push((i, key, put(item))),
                    Answer::Absent => {
                        let request = delete(&key);
                        writes.push((i, key, request));
                    }
                    Answer::Unprocessed => left.push((i, key)),
                }
            }
            outcome.merge(self.write(writes, stop_at).await);
            if left.is_empty() {
                continue;
            }
            if done == 0 {
                stalls += 1;
                if stalls >= self.tuning.max_attempts || !backoff(stalls, stop_at).await {
                    let error = self.unprocessed_error("keys", stalls, stop_at);
                    outcome.fail(left, error);
                    continue;
                }
            } else {
                stalls = 0;
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
        stop_at: Option<Instant>,
    ) -> Result<Vec<Answer>, ReplicateError> {
        let table = &self.tables.primary_table;
        let read_error = |message: String| ReplicateError::Read {
            table: table.clone(),
            message,
        };
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(
                request.iter().map(|(_, key)| key.to_attributes()).collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(|e| read_error(e.to_string()))?;
        let call = self
            .tables
            .primary
            .batch_get_item()
            .request_items(table, wanted)
            .send();
        let mut response = within(stop_at, call)
            .await?
            .map_err(|e| read_error(DisplayErrorContext(e).to_string()))?;

        let index = KeyIndex::new(&self.schema, request.iter().map(|(_, key)| key));
        let mut answers = vec![Answer::Absent; request.len()];
        // Each key in the answer must be one asked for, and not yet answered.
        let locate = |attributes: &Item, answers: &[Answer]| {
            index
                .position(attributes)
                .filter(|&p| matches!(answers[p], Answer::Absent))
                .ok_or_else(|| {
                    read_error("the answer holds a key that was not asked for (or twice)".into())
                })
        };
        let items = response
            .responses
            .as_mut()
            .and_then(|r| r.remove(table))
            .unwrap_or_default();
        for item in items {
            let p = locate(&item, &answers)?;
            answers[p] = Answer::Found(item);
        }
        if let Some(left) = response
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(table))
        {
            for key in &left.keys {
                let p = locate(key, &answers)?;
                answers[p] = Answer::Unprocessed;
            }
        }
        Ok(answers)
    }

    /// Sends `writes` to the replica in `BatchWriteItem` calls of at most 25, re-sending what
    /// comes back unprocessed with backoff.
    async fn write(&self, writes: Vec<Write>, stop_at: Option<Instant>) -> Outcome {
        let mut outcome = Outcome::default();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<Write> = writes.by_ref().take(MAX_WRITE_REQUESTS).collect();
            outcome.merge(self.write_chunk(chunk, stop_at).await);
        }
        outcome
    }

    async fn write_chunk(&self, mut chunk: Vec<Write>, stop_at: Option<Instant>) -> Outcome {
        let table = &self.tables.replica_table;
        let mut outcome = Outcome::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (keys, requests): (Vec<(usize, Key)>, Vec<WriteRequest>) =
                chunk.into_iter().map(|(i, key, r)| ((i, key), r)).unzip();
            let is_put: Vec<bool> = requests.iter().map(|r| r.put_request.is_some()).collect();
            let call = self
                .tables
                .replica
                .batch_write_item()
                .request_items(table, requests)
                .send();
            let write_error = |message: String| ReplicateError::Write {
                table: table.clone(),
                message,
            };
            let response = match within(stop_at, call).await {
                Err(deadline) => {
                    outcome.fail(keys, deadline);
                    return outcome;
                }
                Ok(Err(e)) => {
                    outcome.fail(keys, write_error(DisplayErrorContext(e).to_string()));
                    return outcome;
                }
                Ok(Ok(response)) => response,
            };
            let left = response
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            // Which of the chunk's writes came back: an answer naming a write that was not
            // sent fails the chunk rather than count a write as done that may not be.
            let index = KeyIndex::new(&self.schema, keys.iter().map(|(_, key)| key));
            let Some(undone) = index.match_writes(left) else {
                let message = "the answer holds a write that was not sent".into();
                outcome.fail(keys, write_error(message));
                return outcome;
            };
            chunk = Vec::new();
            for (((i, key), put), request) in keys.into_iter().zip(is_put).zip(undone) {
                match (request, put) {
                    (Some(request), _) => chunk.push((i, key, request)),
                    (None, true) => outcome.puts += 1,
                    (None, false) => outcome.deletes += 1,
                }
            }
            if chunk.is_empty() {
                return outcome;
            }
            if attempt >= self.tuning.max_attempts || !backoff(attempt, stop_at).await {
                let failed = chunk.into_iter().map(|(i, key, _)| (i, key)).collect();
                outcome.fail(failed, self.unprocessed_error("items", attempt, stop_at));
                return outcome;
            }
        }
    }

    fn unprocessed_error(
        &self,
        what: &'static str,
        attempts: u32,
        stop_at: Option<Instant>,
    ) -> ReplicateError {
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            return ReplicateError::Deadline;
        }
        let table = match what {
            "keys" => &self.tables.primary_table,
            _ => &self.tables.replica_table,
        };
        ReplicateError::Unprocessed {
            table: table.clone(),
            operation: what,
            attempts,
        }
    }
}

/// Reads one table's key schema; the error names the setting that names the table.
async fn describe(
    client: &Client,
    table: &str,
    setting: &'static str,
) -> Result<KeySchema, SetupError> {
    let description = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| SetupError::Describe {
            setting,
            table: table.to_owned(),
            message: DisplayErrorContext(e).to_string(),
        })?;
    let table = description.table.ok_or_else(|| SetupError::Describe {
        setting,
        table: table.to_owned(),
        message: "the answer has no table description".into(),
    })?;
    Ok(KeySchema::from_description(&table)?)
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

/// Runs a call unless `stop_at` has passed, and abandons it when `stop_at` comes.
async fn within<T>(
    stop_at: Option<Instant>,
    call: impl Future<Output = T>,
) -> Result<T, ReplicateError> {
    match stop_at {
        None => Ok(call.await),
        Some(t) if Instant::now() >= t => Err(ReplicateError::Deadline),
        Some(t) => tokio::time::timeout_at(t, call)
            .await
            .map_err(|_| ReplicateError::Deadline),
    }
}

/// Sleeps for exponential backoff with full jitter before attempt `attempt + 1`; returns false
/// (without sleeping) when that would pass `stop_at`.
pub async fn backoff(attempt: u32, stop_at: Option<Instant>) -> bool {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP);
    let pause = ceiling.mul_f64(fastrand::f64());
    let wake = Instant::now() + pause;
    if stop_at.is_some_and(|t| wake >= t) {
        return false;
    }
    tokio::time::sleep_until(wake).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ScalarType;

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
        closed.take(MAX_READ_KEYS, &mut all).await;
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
