//! Where keys that must be made to agree go, outside the live stream (a backfill, a repair, a
//! replay): announced on the key stream, so the replicator copies each in order with live
//! traffic and every copy is a consistent read of the primary's latest state; or, for a
//! deployment with no key stream (a table's own DynamoDB stream is the source), copied at once
//! with the replicator's own engine. A copy made beside the live replicator can race it on a key
//! written at that very moment (it can read the old version and write it after the replicator
//! wrote the new one), so a direct copy is followed by a `dyno diff`, which finds what raced.

use crate::aws::key::{Key, KeyList};
use crate::aws::retry::Deadline;
use crate::publish::publisher::{Change, NotPublished, Publisher};
use crate::replicate::engine::Engine;
use crate::replicate::key_queue::KeyQueue;
use crate::replicate::outcome::ReplicateError;
use crate::replicate::shape::Projection;

/// Where the keys go.
#[derive(Debug, Clone)]
pub enum KeySink {
    /// Announced on the key stream.
    Stream(Publisher),
    /// Copied now: read from the primary (consistent), written to the replica.
    Replica(Box<Engine>),
}

/// Keys that did not get where they were sent.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    NotPublished(#[from] NotPublished),
    #[error("{} keys could not be copied ({source}); run it again: {keys}", keys.len(), keys = KeyList(keys))]
    NotCopied {
        keys: Vec<Key>,
        #[source]
        source: ReplicateError,
    },
}

impl KeySink {
    /// Sends `keys` (distinct) where they go.
    pub async fn send(&self, keys: Vec<Key>) -> Result<(), SinkError> {
        match self {
            KeySink::Stream(publisher) => {
                let keys: Vec<(Key, Change)> =
                    keys.into_iter().map(|k| (k, Change::Modify)).collect();
                Ok(publisher.publish(&keys).await?)
            }
            KeySink::Replica(engine) => {
                let outcome = engine.replicate(&KeyQueue::of(keys), Deadline::NONE).await;
                let mut failures = outcome.failures.into_iter();
                let Some(first) = failures.next() else {
                    return Ok(());
                };
                let mut keys = first.keys;
                keys.extend(failures.flat_map(|f| f.keys));
                // A key that failed on several targets is listed once.
                keys.sort_by_key(|(i, _)| *i);
                keys.dedup_by_key(|(i, _)| *i);
                Err(SinkError::NotCopied {
                    keys: keys.into_iter().map(|(_, k)| k).collect(),
                    source: first.error,
                })
            }
        }
    }

    /// `announced on stream S` or `copied to the replica`, for summaries.
    pub fn describe(&self) -> String {
        match self {
            KeySink::Stream(p) => format!("announced on `{}`", p.stream().name),
            KeySink::Replica(e) => {
                let tables: Vec<String> = e
                    .targets()
                    .iter()
                    .map(|t| format!("`{}`", t.store.name()))
                    .collect();
                format!("copied to {}", tables.join(", "))
            }
        }
    }

    /// What a checkpoint of work sent here is tied to: the stream, or each target's name, table,
    /// filter and projection (a checkpoint made with other targets, or another filter, is not
    /// this work's).
    pub fn fingerprint(&self) -> String {
        let KeySink::Replica(engine) = self else {
            return self.describe();
        };
        let targets: Vec<String> = (engine.targets().iter())
            .map(|t| {
                let filter = t
                    .shape
                    .filter()
                    .map_or("none".to_owned(), |f| format!("`{}`", f.source()));
                let projection = match t.shape.projection() {
                    Projection::All => "every attribute".to_owned(),
                    Projection::Include(names) => format!("include {names:?}"),
                    Projection::Exclude(names) => format!("exclude {names:?}"),
                };
                let (name, table) = (&t.name, t.store.place());
                format!("`{name}` to {table}, filter {filter}, {projection}")
            })
            .collect();
        format!("copied to {}", targets.join("; "))
    }
}
