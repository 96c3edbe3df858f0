//! The read/write engine: makes the replica agree with the primary for a set of distinct keys,
//! with consistent `BatchGetItem` reads and `BatchWriteItem` puts and deletes, pipelined under a
//! concurrency bound, with bounded retries and an optional stop time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use futures::future::join_all;
use tokio::time::Instant;

use crate::config::Tuning;
use crate::key::{Key, KeySchema, SchemaError};

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

/// Keys (by index into the caller's slice) that failed, with why.
#[derive(Debug)]
pub struct Failure {
    pub keys: Vec<usize>,
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

    fn fail(&mut self, keys: Vec<usize>, error: ReplicateError) {
        if !keys.is_empty() {
            self.failures.push(Failure { keys, error });
        }
    }

    /// Number of keys that failed.
    pub fn failed_keys(&self) -> usize {
        self.failures.iter().map(|f| f.keys.len()).sum()
    }
}

/// One `BatchGetItem` answer, sorted by key index.
struct Read {
    found: Vec<(usize, Item)>,
    absent: Vec<usize>,
    unprocessed: Vec<usize>,
}

/// One run's shared state: the keys, the next one no worker has taken, and the read size.
struct Batch<'a> {
    keys: &'a [Key],
    next: AtomicUsize,
    size: Mutex<ReadSize>,
}

impl Batch<'_> {
    /// Adds up to `n` keys no worker has taken yet to `request`.
    fn take(&self, n: usize, request: &mut Vec<usize>) {
        let len = self.keys.len();
        let start = self.next.fetch_add(n, Ordering::Relaxed).min(len);
        request.extend(start..len.min(start + n));
    }

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

    /// Makes the replica agree with the primary for every key in `keys` (which must be
    /// distinct). No call starts after `stop_at`; keys not done by then fail with
    /// [`ReplicateError::Deadline`].
    ///
    /// `concurrency` workers share one queue of keys: each reads up to 100 keys, writes what
    /// the read returned as soon as it returns (in calls of 25), and goes on with the keys it was
    /// left plus new ones, so reads and writes overlap, every call is full, and at most
    /// `concurrency` calls (and their items) are in flight at once.
    pub async fn replicate(&self, keys: &[Key], stop_at: Option<Instant>) -> Outcome {
        let batch = Batch {
            keys,
            next: AtomicUsize::new(0),
            size: Mutex::new(ReadSize::default()),
        };
        // Workers that find the queue empty end at once (a small batch uses only a few).
        let workers = self.tuning.concurrency.max(1);
        let mut total = Outcome::default();
        for outcome in join_all((0..workers).map(|_| self.worker(&batch, stop_at))).await {
            total.merge(outcome);
        }
        total
    }

    /// One worker: reads the keys it was left unprocessed, topped up from the queue, and writes
    /// what each read returns, until the queue is empty. When the server leaves keys
    /// unprocessed, reads ask for only as many as it managed (see [`ReadSize`]).
    async fn worker(&self, batch: &Batch<'_>, stop_at: Option<Instant>) -> Outcome {
        let keys = batch.keys;
        let mut outcome = Outcome::default();
        let mut pending: VecDeque<usize> = VecDeque::new();
        let mut stalls = 0;
        loop {
            let ask = batch.ask();
            let mut request: Vec<usize> = pending.drain(..ask.min(pending.len())).collect();
            batch.take(ask - request.len(), &mut request);
            if request.is_empty() {
                return outcome;
            }
            let read = match self.read(keys, &request, stop_at).await {
                Ok(read) => read,
                Err(error) => {
                    outcome.fail(request, error);
                    continue;
                }
            };
            let done = read.found.len() + read.absent.len();
            batch.answered(request.len(), done, read.unprocessed.len());
            let writes = read
                .found
                .into_iter()
                .map(|(i, item)| (i, put(item)))
                .chain(read.absent.into_iter().map(|i| (i, delete(&keys[i]))))
                .collect();
            outcome.merge(self.write(keys, writes, stop_at).await);
            if read.unprocessed.is_empty() {
                continue;
            }
            if done == 0 {
                stalls += 1;
                if stalls >= self.tuning.max_attempts || !backoff(stalls, stop_at).await {
                    let error = self.unprocessed_error("keys", stalls, stop_at);
                    outcome.fail(read.unprocessed, error);
                    continue;
                }
            } else {
                stalls = 0;
            }
            for i in read.unprocessed.into_iter().rev() {
                pending.push_front(i);
            }
        }
    }

    /// One consistent `BatchGetItem` of `request`.
    async fn read(
        &self,
        keys: &[Key],
        request: &[usize],
        stop_at: Option<Instant>,
    ) -> Result<Read, ReplicateError> {
        let table = &self.tables.primary_table;
        let read_error = |message: String| ReplicateError::Read {
            table: table.clone(),
            message,
        };
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(
                request.iter().map(|&i| keys[i].to_attributes()).collect(),
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

        let index: HashMap<&[u8], usize> =
            request.iter().map(|&i| (keys[i].canonical(), i)).collect();
        let locate = |item: &Item| {
            self.schema
                .canonical_of_item(item)
                .ok()
                .and_then(|k| index.get(k.as_slice()).copied())
        };
        let mut seen = vec![false; request.len()];
        let position: HashMap<usize, usize> =
            request.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        let mut mark = |i: usize| {
            if let Some(&p) = position.get(&i) {
                seen[p] = true;
            }
        };

        let mut found = Vec::new();
        for item in response
            .responses
            .as_mut()
            .and_then(|r| r.remove(table))
            .unwrap_or_default()
        {
            if let Some(i) = locate(&item) {
                mark(i);
                found.push((i, item));
            }
        }
        let mut unprocessed = Vec::new();
        if let Some(left) = response
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(table))
        {
            for key in left.keys {
                if let Some(i) = locate(&key) {
                    mark(i);
                    unprocessed.push(i);
                }
            }
        }
        let absent = request
            .iter()
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(&i, _)| i)
            .collect();
        Ok(Read {
            found,
            absent,
            unprocessed,
        })
    }

    /// Sends `writes` to the replica in `BatchWriteItem` calls of at most 25, re-sending what
    /// comes back unprocessed with backoff.
    async fn write(
        &self,
        keys: &[Key],
        writes: Vec<(usize, WriteRequest)>,
        stop_at: Option<Instant>,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<(usize, WriteRequest)> =
                writes.by_ref().take(MAX_WRITE_REQUESTS).collect();
            outcome.merge(self.write_chunk(keys, chunk, stop_at).await);
        }
        outcome
    }

    async fn write_chunk(
        &self,
        keys: &[Key],
        mut chunk: Vec<(usize, WriteRequest)>,
        stop_at: Option<Instant>,
    ) -> Outcome {
        let table = &self.tables.replica_table;
        let mut outcome = Outcome::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (indices, requests): (Vec<usize>, Vec<WriteRequest>) = chunk.into_iter().unzip();
            let puts = requests.iter().filter(|r| r.put_request.is_some()).count();
            let call = self
                .tables
                .replica
                .batch_write_item()
                .request_items(table, requests)
                .send();
            let response = match within(stop_at, call).await {
                Err(deadline) => {
                    outcome.fail(indices, deadline);
                    return outcome;
                }
                Ok(Err(e)) => {
                    let message = DisplayErrorContext(e).to_string();
                    let error = ReplicateError::Write {
                        table: table.clone(),
                        message,
                    };
                    outcome.fail(indices, error);
                    return outcome;
                }
                Ok(Ok(response)) => response,
            };
            let left = response
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            let index: HashMap<&[u8], usize> =
                indices.iter().map(|&i| (keys[i].canonical(), i)).collect();
            chunk = left
                .into_iter()
                .filter_map(|request| {
                    let key = match (&request.put_request, &request.delete_request) {
                        (Some(p), _) => self.schema.canonical_of_item(p.item()),
                        (None, Some(d)) => self.schema.canonical_of_item(d.key()),
                        (None, None) => return None,
                    };
                    let i = *index.get(key.ok()?.as_slice())?;
                    Some((i, request))
                })
                .collect();
            let left_puts = chunk
                .iter()
                .filter(|(_, r)| r.put_request.is_some())
                .count();
            outcome.puts += puts - left_puts;
            outcome.deletes += indices.len() - puts - (chunk.len() - left_puts);
            if chunk.is_empty() {
                return outcome;
            }
            if attempt >= self.tuning.max_attempts || !backoff(attempt, stop_at).await {
                let failed = chunk.into_iter().map(|(i, _)| i).collect();
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
