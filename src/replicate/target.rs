//! A target and how the engine writes it: for each key the primary was read for, the target's
//! shape says put (the filtered, projected item) or delete, and the writes go out in
//! `BatchWriteItem` calls of 25, re-sent while the target leaves some unprocessed, none started
//! once less than the write attempt timeout is left before the deadline. A key whose item the
//! filter fails on is not written at all (the target's item stays as it is): it fails, with
//! [`ReplicateError::Filter`], and is retried like any failed key.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use tokio::sync::Semaphore;

use crate::aws::key::{Key, KeySchema};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{self, Backoff, Deadline, GaveUp, Undone};
use crate::aws::store::Store;
use crate::aws::table::{Item, WriteCall};
use crate::aws::write_cutoff::WriteCutoff;
use crate::replicate::outcome::{Outcome, ReplicateError};
use crate::replicate::shape::{Shape, Verdict};

/// A table the primary's items go to, filtered and projected as its shape says.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub store: Arc<dyn Store>,
    pub shape: Shape,
}

/// A key the primary was read for (with the number the caller gave it), and its item if any.
pub type Read = ((usize, Key), Option<Item>);

/// How the engine writes: the key schema, the retries, and each attempt's timeout.
#[derive(Debug, Clone)]
pub struct Writing {
    pub schema: KeySchema,
    pub backoff: Backoff,
    pub attempt_timeout: Duration,
}

impl Target {
    /// A target that holds every item whole (today's one replica).
    pub fn everything(name: &str, store: Arc<dyn Store>) -> Self {
        Target {
            name: name.to_owned(),
            store,
            shape: Shape::everything(),
        }
    }

    /// Writes what `reads` say this target should hold (the items are the target's own: moved
    /// into the writes, not copied); `calls` bounds the calls in flight.
    pub async fn write(
        &self,
        reads: Vec<Read>,
        how: &Writing,
        calls: &Semaphore,
        deadline: Deadline,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let writes = self.requests(reads, &mut outcome);
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<_> = writes.by_ref().take(limits::WRITE_REQUESTS).collect();
            let _permit = calls.acquire().await;
            outcome.merge(self.write_chunk(chunk, how, deadline).await);
        }
        outcome
    }

    /// The writes `reads` ask of this target, counted in `outcome`; the keys whose item the
    /// filter failed on get no write and fail in `outcome`, with the first such error.
    fn requests(
        &self,
        reads: Vec<Read>,
        outcome: &mut Outcome,
    ) -> Vec<((usize, Key), WriteRequest)> {
        let counts = outcome.target(&self.name);
        let mut writes = Vec::with_capacity(reads.len());
        let (mut unfiltered, mut first_error) = (Vec::new(), None);
        for (key, item) in reads {
            let shaped = self.shape.apply_owned(item);
            counts.filtered_out += usize::from(shaped.filtered_out);
            match shaped.into_write() {
                Ok(verdict) => {
                    let request = request(verdict, &key.1);
                    writes.push((key, request));
                }
                Err(error) => {
                    counts.filter_errors += 1;
                    first_error.get_or_insert(error);
                    unfiltered.push(key);
                }
            }
        }
        if let Some(source) = first_error {
            let target = self.name.clone();
            let error = ReplicateError::Filter { target, source };
            outcome.fail(unfiltered, Some(&self.name), error);
        }
        writes
    }

    async fn write_chunk(
        &self,
        chunk: Vec<((usize, Key), WriteRequest)>,
        how: &Writing,
        deadline: Deadline,
    ) -> Outcome {
        // Each write goes by its place in the chunk, so an answer is matched to `keys` only when
        // it leaves some writes unprocessed.
        let (keys, requests): (Vec<(usize, Key)>, Vec<WriteRequest>) = chunk.into_iter().unzip();
        let entries = requests.into_iter().enumerate().map(|(at, request)| {
            let put = request.put_request.is_some();
            ((at, put), (at, request))
        });
        let resent = retry::resend(entries.collect(), &how.backoff, deadline, |requests| {
            self.write_round(&keys, requests, how, deadline)
        })
        .await;
        let mut outcome = Outcome::default();
        let counts = outcome.target(&self.name);
        for (_, put) in &resent.done {
            match put {
                true => counts.puts += 1,
                false => counts.deletes += 1,
            }
        }
        (outcome.puts, outcome.deletes) = (counts.puts, counts.deletes);
        if let Some(why) = resent.why {
            let undone = resent.undone.into_iter().map(|(at, _)| keys[at].clone());
            outcome.fail(undone.collect(), Some(&self.name), self.undone(why));
        }
        outcome
    }

    fn undone(&self, why: Undone<ReplicateError>) -> ReplicateError {
        match why {
            Undone::Failed(error) => error,
            Undone::Deadline => ReplicateError::Deadline,
            Undone::Unprocessed { attempts } => match GaveUp::Attempts(attempts) {
                GaveUp::Attempts(attempts) => ReplicateError::Unprocessed {
                    table: self.store.name().to_owned(),
                    operation: "items",
                    attempts,
                },
                GaveUp::Deadline => ReplicateError::Deadline,
            },
            Undone::Unanswered => self.bad("the answer does not account for every write"),
        }
    }

    fn bad(&self, problem: &'static str) -> ReplicateError {
        ReplicateError::BadWriteAnswer {
            target: self.name.clone(),
            table: self.store.name().to_owned(),
            problem,
        }
    }

    /// One `BatchWriteItem` of `requests`, each with its place among `keys` (the chunk's): for
    /// each, `None` when it was applied, or the request the answer handed back unprocessed. An
    /// answer that names a write that was not sent fails the call rather than count a write as
    /// done that may not be.
    ///
    /// Each attempt (the SDK's retries included) may take at most the write attempt timeout, and
    /// none starts once less than that is left before `deadline` (a [`WriteCutoff`]): every
    /// attempt has ended, answered or abandoned, by the deadline. A refused attempt fails the
    /// call with [`ReplicateError::Deadline`].
    async fn write_round(
        &self,
        keys: &[(usize, Key)],
        requests: Vec<(usize, WriteRequest)>,
        how: &Writing,
        deadline: Deadline,
    ) -> Result<Vec<Option<(usize, WriteRequest)>>, ReplicateError> {
        let (places, requests): (Vec<usize>, Vec<WriteRequest>) = requests.into_iter().unzip();
        let cutoff = WriteCutoff::new(deadline, how.attempt_timeout);
        if !cutoff.may_start() {
            return Err(ReplicateError::Deadline);
        }
        let call = WriteCall {
            cutoff: Some(cutoff.clone()),
            watchers: Vec::new(),
        };
        let left = self
            .store
            .batch_write(requests, call)
            .await
            .map_err(|source| match cutoff.refused() {
                true => ReplicateError::Deadline,
                false => ReplicateError::Write {
                    target: self.name.clone(),
                    table: self.store.name().to_owned(),
                    source,
                },
            })?;
        KeyIndex::match_left(&how.schema, places, |at| &keys[at].1, left)
            .ok_or_else(|| self.bad("the answer holds a write that was not sent"))
    }
}

/// The write a verdict asks for.
fn request(verdict: Verdict, key: &Key) -> WriteRequest {
    match verdict {
        Verdict::Put(item) => {
            let put = PutRequest::builder().set_item(Some(item)).build();
            WriteRequest::builder().set_put_request(put.ok()).build()
        }
        Verdict::Delete => {
            let delete = DeleteRequest::builder()
                .set_key(Some(key.to_attributes()))
                .build();
            WriteRequest::builder()
                .set_delete_request(delete.ok())
                .build()
        }
    }
}

#[cfg(test)]
#[path = "target_rounds_tests.rs"]
mod rounds_tests;
