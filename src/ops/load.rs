//! Loading a full export into existing tables (a replica, or each target of a deployment,
//! filtered and projected as the replicator would), file by file, with the engine's own
//! `BatchWriteItem` and retry machinery. Each data file is checked whole (MD5, item count, gzip)
//! before any of its items is written; a file that does not check is named and skipped, the
//! others are loaded. Items whose TTL has passed are skipped (DynamoDB's rule, see `ttl`) unless
//! asked for. A checkpoint records each finished file, so an interrupted load does not write a
//! finished file again. [`load_file`] is the one per-file step, whoever calls it.
//!
//! The order rule: a load must finish before the catch-up (replicating from a position before
//! the export's time) starts. An export's item is the table as it was then; written after the
//! replicator wrote a newer version, it would put the old one back, and nothing would announce
//! the key again. `dyno diff` finds such keys (`different`), and `diff --repair` mends them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::aws::key::{Key, KeyError, KeySchema};
use crate::aws::retry::Deadline;
use crate::aws::table::Item;
use crate::ops::export_file::{self, Fetched, FileError, Line};
use crate::ops::export_manifest::DataFile;
use crate::ops::ttl::Ttl;
use crate::replicate::engine::Engine;
use crate::replicate::outcome::ReplicateError;

/// The items of a file handed to the engine at once.
pub const BATCH_ITEMS: usize = 1000;

/// How a load goes.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Items written per second, over the whole load; `None`: as fast as the tables take them.
    pub rate: Option<f64>,
    /// The table's TTL: items it says have expired are skipped. `None`: every item is written.
    pub ttl: Option<Ttl>,
}

/// How far a load got, as it goes (shared with a progress bar).
#[derive(Debug)]
pub struct Progress {
    pub written: AtomicU64,
    pub expired: AtomicU64,
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            written: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// What loading one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    pub items: u64,
    pub expired: u64,
}

/// A file was not (wholly) loaded; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{source}; the {written} items before it were written")]
    After {
        written: u64,
        #[source]
        source: FileError,
    },
    #[error(
        "{key}: line {line}: the item has not the replica's key ({source}); the {written} items \
         of the file before its batch were written, nothing from there on"
    )]
    Key {
        key: String,
        line: u64,
        written: u64,
        #[source]
        source: KeyError,
    },
    #[error(
        "{key}: line {line}: a change, not an item: an incremental export cannot be loaded (its \
         keys can be announced instead)"
    )]
    Incremental { key: String, line: u64 },
    #[error("{key}: {failed} items not written ({source}); load the file again")]
    Write {
        key: String,
        failed: usize,
        #[source]
        source: ReplicateError,
    },
}

/// Loads one data file of an export (in `bucket`) into the engine's targets: fetched and checked
/// whole first, then written by batches. `calls` bounds the calls in flight.
pub async fn load_file(
    s3: &Client,
    bucket: &str,
    file: &DataFile,
    engine: &Engine,
    calls: &Semaphore,
    how: (&LoadOptions, &Progress),
) -> Result<FileReport, LoadError> {
    let fetched = export_file::fetch(s3, bucket, file).await?;
    write_file(fetched, engine, calls, how).await
}

/// Writes a data file already fetched and checked ([`export_file::fetch`]) into the engine's
/// targets, [`BATCHES_IN_FLIGHT`] batches at once (a caller may fetch the next file meanwhile).
/// On an error no batch is taken any more, and those already handed to the engine finish first,
/// so that the error's count of items written is the file's last word.
pub async fn write_file(
    fetched: Fetched,
    engine: &Engine,
    calls: &Semaphore,
    (options, progress): (&LoadOptions, &Progress),
) -> Result<FileReport, LoadError> {
    let owned_key = fetched.key().to_owned();
    let key = owned_key.as_str();
    let mut batches = fetched.batches(BATCH_ITEMS);
    let (mut report, mut in_flight) = (FileReport::default(), 0_u64);
    let mut writing = FuturesUnordered::new();
    let mut failure = None;
    while failure.is_none() {
        // The next batch waits for the rate (the items handed out so far), the writes go on.
        let handed = progress.written.load(Ordering::Relaxed) + in_flight;
        let next = async {
            pace(progress.started, handed, options.rate).await;
            batches.recv().await
        };
        let batch = tokio::select! {
            biased;
            Some(written) = writing.next() => {
                failure = counted(written, (&mut report, &mut in_flight), progress).err();
                continue;
            }
            batch = next, if writing.len() < BATCHES_IN_FLIGHT => batch,
        };
        let Some(batch) = batch else { break };
        match batch_items(batch, engine.schema(), key, options.ttl.as_ref(), &report) {
            Ok((items, expired)) => {
                report.expired += expired;
                progress.expired.fetch_add(expired, Ordering::Relaxed);
                let count = items.len() as u64;
                in_flight += count;
                writing.push(async move { (count, write(engine, items, calls, key).await) });
            }
            Err(error) => failure = Some(error),
        }
    }
    while let Some(written) = writing.next().await {
        if let Err(more) = counted(written, (&mut report, &mut in_flight), progress) {
            failure = Some(worse(failure, more));
        }
    }
    match failure {
        None => Ok(report),
        Some(error) => Err(with_written(error, report.items)),
    }
}

/// The batches of a file written at once: the next one's calls queue while the last calls of
/// the one before finish, so the calls in flight do not run dry at each batch's end.
pub const BATCHES_IN_FLIGHT: usize = 2;

/// Counts a batch of `count` items the engine is done with (no longer in flight), written or
/// not, or passes its error on.
fn counted(
    (count, written): (u64, Result<(), LoadError>),
    (report, in_flight): (&mut FileReport, &mut u64),
    progress: &Progress,
) -> Result<(), LoadError> {
    *in_flight -= count;
    written?;
    report.items += count;
    progress.written.fetch_add(count, Ordering::Relaxed);
    Ok(())
}

/// The error a file ends with when `more` comes after `first`: a failed write wins over a line
/// that did not read or hold a key (the write's batch came first in the file, and the file must
/// be loaded again anyway), and two failed writes add up.
fn worse(first: Option<LoadError>, more: LoadError) -> LoadError {
    match (first, more) {
        (
            Some(LoadError::Write {
                key,
                failed,
                source,
            }),
            LoadError::Write { failed: also, .. },
        ) => LoadError::Write {
            key,
            failed: failed + also,
            source,
        },
        (Some(write @ LoadError::Write { .. }), _) => write,
        (Some(_), write @ LoadError::Write { .. }) => write,
        (Some(first), _) => first,
        (None, more) => more,
    }
}

/// An error told before the batches in flight finished, with the items the file then had
/// written (none: the file error alone).
fn with_written(error: LoadError, written: u64) -> LoadError {
    match error {
        LoadError::After { source, .. } => after(source, written),
        LoadError::Key {
            key, line, source, ..
        } => LoadError::Key {
            key,
            line,
            written,
            source,
        },
        other => other,
    }
}

/// A file error after some of the file was written.
fn after(source: FileError, written: u64) -> LoadError {
    match written {
        0 => LoadError::File(source),
        written => LoadError::After { written, source },
    }
}

/// A batch of lines as the items to write and the count skipped as expired, or why not.
fn batch_items(
    batch: Result<Vec<(u64, Line)>, FileError>,
    schema: &KeySchema,
    key: &str,
    ttl: Option<&Ttl>,
    report: &FileReport,
) -> Result<Items, LoadError> {
    let batch = batch.map_err(|source| LoadError::After {
        written: report.items,
        source,
    })?;
    items_of(batch, schema, key, ttl)
}

/// The items of `lines` to write, each with its key and number, and how many were skipped as
/// expired.
type Items = (Vec<((usize, Key), Item)>, u64);

fn items_of(
    lines: Vec<(u64, Line)>,
    schema: &KeySchema,
    key: &str,
    ttl: Option<&Ttl>,
) -> Result<Items, LoadError> {
    let mut items = Vec::with_capacity(lines.len());
    let mut expired = 0;
    for (line, content) in lines {
        let Line::Item(item) = content else {
            let key = key.to_owned();
            return Err(LoadError::Incremental { key, line });
        };
        if ttl.is_some_and(|t| t.expired(&item)) {
            expired += 1;
            continue;
        }
        let source = |source| LoadError::Key {
            key: key.to_owned(),
            line,
            written: 0,
            source,
        };
        let item_key = schema.key_of_item(&item).map_err(source)?;
        items.push(((items.len(), item_key), item));
    }
    Ok((items, expired))
}

/// Writes `items` to every target of `engine`; all or an error naming how many were not.
async fn write(
    engine: &Engine,
    items: Vec<((usize, Key), Item)>,
    calls: &Semaphore,
    key: &str,
) -> Result<(), LoadError> {
    let outcome = engine.write_as_read(items, calls, Deadline::NONE).await;
    let failed = outcome.failed_keys();
    match outcome.failures.into_iter().next() {
        Some(first) => Err(LoadError::Write {
            key: key.to_owned(),
            failed,
            source: first.error,
        }),
        None => Ok(()),
    }
}

/// Waits until `items` items are no faster than `rate` items a second since `started`.
async fn pace(started: Instant, items: u64, rate: Option<f64>) {
    let Some(rate) = rate.filter(|r| *r > 0.0) else {
        return;
    };
    let Ok(due) = Duration::try_from_secs_f64(items as f64 / rate) else {
        return;
    };
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_error(failed: usize) -> LoadError {
        let key = "data/a.json.gz".to_owned();
        let source = ReplicateError::Deadline;
        LoadError::Write {
            key,
            failed,
            source,
        }
    }

    fn incremental(line: u64) -> LoadError {
        let key = "data/a.json.gz".to_owned();
        LoadError::Incremental { key, line }
    }

    #[test]
    fn a_failed_write_wins_and_failed_writes_add_up() {
        let failed = |e: LoadError| match e {
            LoadError::Write { failed, .. } => Some(failed),
            _ => None,
        };
        assert_eq!(failed(worse(None, write_error(3))), Some(3));
        assert_eq!(failed(worse(Some(write_error(3)), write_error(4))), Some(7));
        assert_eq!(
            failed(worse(Some(incremental(1500)), write_error(4))),
            Some(4)
        );
        assert_eq!(
            failed(worse(Some(write_error(3)), incremental(1500))),
            Some(3)
        );
        let kept = worse(Some(incremental(1500)), incremental(2500));
        assert!(matches!(kept, LoadError::Incremental { line: 1500, .. }));
    }
    use crate::aws::key::ScalarType;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(id: &str, expires: Option<&str>) -> Line {
        let mut item = Item::from([("id".to_owned(), AttributeValue::S(id.to_owned()))]);
        if let Some(at) = expires {
            item.insert("expires".to_owned(), AttributeValue::N(at.to_owned()));
        }
        Line::Item(item)
    }

    #[test]
    fn expired_items_are_skipped_and_keys_checked() {
        let schema = KeySchema::hash_only("id", ScalarType::S);
        let ttl = Ttl {
            attribute: "expires".to_owned(),
            now: 1_800_000_000,
        };
        let lines = vec![
            (1, item("a", None)),
            (2, item("b", Some("1799999999"))),
            (3, item("c", Some("0"))),
        ];
        let (items, expired) = items_of(lines.clone(), &schema, "k", Some(&ttl)).unwrap();
        let numbers: Vec<usize> = items.iter().map(|((n, _), _)| *n).collect();
        assert_eq!((numbers, expired), (vec![0, 1], 1), "0 never expires");
        let (items, expired) = items_of(lines, &schema, "k", None).unwrap();
        assert_eq!((items.len(), expired), (3, 0));
        let other = KeySchema::hash_only("name", ScalarType::S);
        let error = items_of(vec![(7, item("a", None))], &other, "k", None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("k: line 7: the item has not the replica's key")
        );
        let change = Line::Change {
            keys: Item::new(),
            new_image: None,
        };
        let error = items_of(vec![(2, change)], &schema, "k", None).unwrap_err();
        assert!(
            matches!(error, LoadError::Incremental { line: 2, .. }),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pace_keeps_to_the_rate() {
        let started = Instant::now();
        pace(started, 500, Some(100.0)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        pace(started, 400, Some(100.0)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "already slow enough"
        );
    }
}
