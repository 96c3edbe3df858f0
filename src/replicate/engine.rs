//! The engine: makes every target agree with the primary for a set of distinct keys. Each key
//! is read once from the primary (consistent `BatchGetItem`) and written to every target (its
//! `BatchWriteItem`s, the targets in parallel), pipelined under one bound on the calls in flight,
//! retried as `retry` says, and stopped at a deadline. A key is done only when every target
//! agreed; a target that fails fails its keys, and their retry rewrites every target
//! (idempotent). No write attempt starts once less than the write attempt timeout is left before
//! the deadline (see [`write_may_start`](crate::aws::write_cutoff::write_may_start)).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use tokio::sync::Semaphore;

use crate::aws::key::{Key, KeySchema};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{Backoff, Deadline, Expired, GaveUp};
use crate::aws::store::Store;
use crate::aws::table::{Item, PairError, Table, TableError, pair_schema};
use crate::replicate::key_queue::KeyQueue;
use crate::replicate::outcome::{Outcome, ReplicateError};
use crate::replicate::read_size::ReadSize;
use crate::replicate::target::{Read, Target, Writing};
use crate::replicate::tuning::Tuning;

/// The tables cannot be replicated between; the message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Role(#[from] crate::aws::role::RoleError),
    #[error(transparent)]
    Pair(#[from] PairError),
    #[error(transparent)]
    Targets(#[from] crate::replicate::targets::TargetsError),
    #[error(
        "targets `{first}` and `{second}` are one table ({table}): two targets cannot share a \
         table; give each its own"
    )]
    SharedTarget {
        first: String,
        second: String,
        table: String,
    },
}

/// What a `BatchGetItem` answered for one key it was asked.
#[derive(Debug, Clone)]
enum Answer {
    Found(Item),
    Absent,
    Unprocessed,
}

/// One run's shared state: the queue of keys, the read size, and the bound on calls in flight.
struct Run<'a> {
    queue: &'a KeyQueue,
    size: Mutex<ReadSize>,
    calls: &'a Semaphore,
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

/// The replication engine for one primary table and its targets.
#[derive(Debug, Clone)]
pub struct Engine {
    primary: Arc<dyn Store>,
    targets: Vec<Target>,
    writing: Writing,
    tuning: Tuning,
}

impl Engine {
    /// Describes both tables (once per container), checks that they are two tables with the
    /// same key schema, and returns an engine that copies every item whole to `replica` (the
    /// one-target form, the target named after the replica table).
    pub async fn connect(
        primary: Table,
        replica: Table,
        tuning: Tuning,
    ) -> Result<Self, SetupError> {
        let schema = pair_schema(&primary, &replica).await?;
        let target = Target::everything(&replica.name.clone(), Arc::new(replica));
        Ok(Engine::new(Arc::new(primary), schema, vec![target], tuning))
    }

    /// An engine for `primary` (whose key schema is `schema`) and `targets` (checked by the
    /// caller: see the `deployment` module).
    pub fn new(
        primary: Arc<dyn Store>,
        schema: KeySchema,
        targets: Vec<Target>,
        tuning: Tuning,
    ) -> Self {
        let writing = Writing {
            schema,
            backoff: Backoff::attempts(tuning.max_attempts),
            attempt_timeout: tuning.write_attempt_timeout.min(tuning.call_timeout),
        };
        Engine {
            primary,
            targets,
            writing,
            tuning,
        }
    }

    /// The primary table's key schema.
    pub fn schema(&self) -> &KeySchema {
        &self.writing.schema
    }

    /// The primary table.
    pub fn primary(&self) -> &dyn Store {
        self.primary.as_ref()
    }

    /// How it replicates (calls in flight, retries, timeouts).
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Makes every target agree with the primary for every key that comes through `queue`,
    /// until it is closed and empty, with at most `concurrency` calls in flight.
    pub async fn replicate(&self, queue: &KeyQueue, deadline: Deadline) -> Outcome {
        let calls = Semaphore::new(self.tuning.concurrency.max(1));
        self.replicate_within(queue, deadline, &calls).await
    }

    /// [`Engine::replicate`], with the calls in flight bounded by `calls` (shared by the engines
    /// of a deployment's several primary tables). No call starts after `deadline`, and no write
    /// attempt once less than the write attempt timeout is left before it; keys not done by then
    /// fail with [`ReplicateError::Deadline`].
    ///
    /// `concurrency` workers share the queue: each reads up to 100 keys, writes what the read
    /// returned to every target as soon as it returns (in calls of 25), and goes on with the
    /// keys it was left plus new ones, so reads and writes overlap and every call is full.
    pub async fn replicate_within(
        &self,
        queue: &KeyQueue,
        deadline: Deadline,
        calls: &Semaphore,
    ) -> Outcome {
        let run = Run {
            queue,
            size: Mutex::new(ReadSize::default()),
            calls,
        };
        // Workers that find the queue closed and empty end at once (a small batch uses a few).
        let workers = self.tuning.concurrency.max(1);
        let mut total = Outcome::default();
        for target in &self.targets {
            total.target(&target.name);
        }
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
            let answers = {
                let _permit = run.calls.acquire().await;
                self.read(&request, deadline).await
            };
            let answers = match answers {
                Ok(answers) => answers,
                Err(error) => {
                    outcome.fail(request, None, error);
                    continue;
                }
            };
            let (reads, left) = sort_answers(request, answers);
            run.answered(reads.len() + left.len(), reads.len(), left.len());
            let progress = !reads.is_empty();
            outcome.merge(self.write(reads, run.calls, deadline).await);
            if left.is_empty() {
                continue;
            }
            stalls = if progress { 0 } else { stalls + 1 };
            if !progress && let Err(why) = self.writing.backoff.pause(stalls, deadline).await {
                // Given up on these keys; the next stall starts counting afresh.
                stalls = 0;
                outcome.fail(left, None, self.unprocessed(why));
                continue;
            }
            for key in left.into_iter().rev() {
                pending.push_front(key);
            }
        }
    }

    /// Writes `items` to every target as if the primary had been read for their keys and had
    /// answered with them (each target shapes them by its filter and projection), without a
    /// read of the primary; a key is done when every target agreed. An archive writes a TTL
    /// delete's old image this way.
    pub async fn write_as_read(
        &self,
        items: Vec<((usize, Key), Item)>,
        calls: &Semaphore,
        deadline: Deadline,
    ) -> Outcome {
        let reads = items.into_iter().map(|(key, item)| (key, Some(item)));
        self.write(reads.collect(), calls, deadline).await
    }

    /// Writes what `reads` found to every target at once; a key is done when every target
    /// agreed.
    async fn write(&self, reads: Vec<Read>, calls: &Semaphore, deadline: Deadline) -> Outcome {
        let keys = reads.len();
        if keys == 0 {
            return Outcome::default();
        }
        // Each target gets its own copy of the items but the last, which takes the read's: one
        // target (the common case) copies nothing.
        let mut copies: Vec<Vec<Read>> = (1..self.targets.len()).map(|_| reads.clone()).collect();
        copies.push(reads);
        let writes = (self.targets.iter().zip(copies))
            .map(|(target, reads)| target.write(reads, &self.writing, calls, deadline));
        let mut outcome = Outcome::default();
        for one in join_all(writes).await {
            outcome.merge(one);
        }
        let failed = outcome.failed_keys();
        outcome.done = keys - failed.min(keys);
        outcome
    }

    /// One consistent `BatchGetItem` of `request`. An answer that names a key nobody asked for
    /// fails the whole read: taking it at its word could delete a target's item that exists.
    async fn read(
        &self,
        request: &[(usize, Key)],
        deadline: Deadline,
    ) -> Result<Vec<Answer>, ReplicateError> {
        let table = self.primary.name();
        let keys = request.iter().map(|(_, key)| key.to_attributes()).collect();
        let (items, left) = deadline
            .run(self.primary.batch_get(keys, None))
            .await
            .map_err(|Expired| ReplicateError::Deadline)?
            .map_err(|source| ReplicateError::Read {
                table: table.to_owned(),
                source,
            })?;
        self.answers(request, items, left)
            .ok_or_else(|| ReplicateError::BadAnswer {
                table: table.to_owned(),
                problem: "the answer holds a key that was not asked for (or twice)",
            })
    }

    /// What a read answered for each key asked, in order; `None` if the answer names a key that
    /// was not asked for, or one twice.
    fn answers(
        &self,
        request: &[(usize, Key)],
        items: Vec<Item>,
        left: Vec<Item>,
    ) -> Option<Vec<Answer>> {
        let index = KeyIndex::new(self.schema(), request.iter().map(|(_, key)| key));
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

    fn unprocessed(&self, why: GaveUp) -> ReplicateError {
        match why {
            GaveUp::Deadline => ReplicateError::Deadline,
            GaveUp::Attempts(attempts) => ReplicateError::Unprocessed {
                table: self.primary.name().to_owned(),
                operation: "keys",
                attempts,
            },
        }
    }
}

/// Splits a read's answers into what was read (each key with its item, or none) and the keys
/// left unprocessed, in the order asked.
fn sort_answers(
    request: Vec<(usize, Key)>,
    answers: Vec<Answer>,
) -> (Vec<Read>, Vec<(usize, Key)>) {
    let mut reads = Vec::with_capacity(request.len());
    let mut left = Vec::new();
    for (key, answer) in request.into_iter().zip(answers) {
        match answer {
            Answer::Found(item) => reads.push((key, Some(item))),
            Answer::Absent => reads.push((key, None)),
            Answer::Unprocessed => left.push(key),
        }
    }
    (reads, left)
}
