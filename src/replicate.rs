//! The read/write engine: makes the replica agree with the primary for a set of distinct keys,
//! with consistent `BatchGetItem` reads and `BatchWriteItem` puts and deletes, pipelined under a
//! concurrency bound, with bounded retries and an optional stop time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use futures::stream::{self, StreamExt};
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
    pub async fn replicate(&self, keys: &[Key], stop_at: Option<Instant>) -> Outcome {
        let chunks = (0..keys.len())
            .step_by(MAX_READ_KEYS)
            .map(|start| start..keys.len().min(start + MAX_READ_KEYS));
        stream::iter(chunks)
            .map(|range| self.replicate_chunk(keys, range, stop_at))
            .buffer_unordered(self.tuning.concurrency)
            .fold(Outcome::default(), |mut total, outcome| async move {
                total.merge(outcome);
                total
            })
            .await
    }

    /// Reads up to 100 keys and writes what each read returns as soon as it returns. When the
    /// server leaves keys unprocessed, the next request asks for only as many as it managed.
    async fn replicate_chunk(
        &self,
        keys: &[Key],
        range: Range<usize>,
        stop_at: Option<Instant>,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut pending: VecDeque<usize> = range.collect();
        let mut ask = pending.len();
        let mut stalls = 0;
        while !pending.is_empty() {
            let request: Vec<usize> = pending.drain(..ask.min(pending.len())).collect();
            let read = match self.read(keys, &request, stop_at).await {
                Ok(read) => read,
                Err(error) => {
                    outcome.fail(request, error);
                    continue;
                }
            };
            let done = read.found.len() + read.absent.len();
            let writes = read
                .found
                .into_iter()
                .map(|(i, item)| (i, put(item)))
                .chain(read.absent.into_iter().map(|i| (i, delete(&keys[i]))))
                .collect();
            outcome.merge(self.write(keys, writes, stop_at).await);
            if read.unprocessed.is_empty() {
                ask = MAX_READ_KEYS;
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
            ask = done.max(1);
            for i in read.unprocessed.into_iter().rev() {
                pending.push_front(i);
            }
        }
        outcome
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
                .key_of_item(item)
                .ok()
                .and_then(|k| index.get(k.canonical()).copied())
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
                        (Some(p), _) => self.schema.key_of_item(p.item()),
                        (None, Some(d)) => self.schema.key_of_item(d.key()),
                        (None, None) => return None,
                    };
                    let i = *index.get(key.ok()?.canonical())?;
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
