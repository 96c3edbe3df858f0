//! Backfill: announces every key of an existing table on the stream, so the replicator copies
//! each item. It does not write the replica itself: a copy made beside the replicator could read
//! an old version and write it after the replicator wrote a newer one; through the stream, each
//! key's records stay on one shard, in order, and every copy is a consistent read of the
//! primary's latest state. (Where there is no key stream, it copies directly; see `repair`.) It
//! scans keys only, in parallel segments, at a rate, resumably.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::aws::key::KeySchema;
use crate::aws::table::{Item, Projection, Table};
use crate::ops::checkpoint::{Checkpoints, Owner};
use crate::ops::scan::{self, Page, ScanError, ScanOptions, ScanReport, Segments};
use crate::ops::sink::{KeySink, SinkError};
use crate::ops::ttl::Ttl;

/// What a backfill does.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    pub segments: Segments,
    /// Items scanned per second, over all segments; `None`: as fast as the table answers.
    pub rate: Option<f64>,
    /// The table's TTL: items it says have expired are skipped (DynamoDB deletes them on both
    /// tables). `None`: every item is announced.
    pub ttl: Option<Ttl>,
}

/// How far a backfill got, as it goes.
#[derive(Debug, Default)]
pub struct Progress {
    pub scanned: AtomicU64,
    pub published: AtomicU64,
    pub expired: AtomicU64,
}

/// What a backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillReport {
    pub scan: ScanReport,
    /// Keys announced by this run.
    pub published: u64,
    /// Expired items skipped by this run.
    pub expired: u64,
}

/// Why the keys of a page were not all announced (the segment stops before the page).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    NotSent(#[from] SinkError),
    #[error("an item of the table has no valid key: {0}")]
    BadItem(#[from] crate::aws::key::KeyError),
}

/// A backfill stopped; its checkpoint holds what was done.
pub type BackfillError = ScanError<PageError>;

/// What the checkpoint of a backfill is tied to: the table (and where it is), the number of
/// segments it is split into, and where its keys go (`sink`, as [`KeySink::describe`] says).
pub fn owner(table: &Table, segments: &Segments, sink: &str) -> Owner {
    let at = crate::aws::endpoint::place(table.endpoint.as_deref(), table.region.as_deref());
    Owner::new("backfill")
        .with("table", format!("{} at {at}", table.label()))
        .with("segments", segments.total.to_string())
        .with("keys", sink)
}

/// Sends every key of `table` to `sink` (announced on the stream, as a rule), segment by segment;
/// `checkpoints` (tied to this table, segment count and sink with [`owner`]) records each
/// segment's progress once the keys before it are sent.
pub async fn backfill(
    table: &Table,
    schema: &KeySchema,
    sink: &KeySink,
    options: &BackfillOptions,
    checkpoints: &Checkpoints,
    progress: &Progress,
) -> Result<BackfillReport, BackfillError> {
    let scan_options = ScanOptions {
        segments: options.segments.clone(),
        projection: Projection::Keys,
        rate: options.rate,
        consistent: false,
        // Keys only: a full 1 MB page is what makes the fewest calls.
        page_items: None,
        also: options.ttl.as_ref().map(|t| t.attribute.clone()),
    };
    let publish = |page: Page| async move {
        progress
            .scanned
            .fetch_add(page.items.len() as u64, Ordering::Relaxed);
        let live = |item: &&Item| options.ttl.as_ref().is_none_or(|t| !t.expired(item));
        let keys = page
            .items
            .iter()
            .filter(live)
            .map(|item| schema.key_of_item(item))
            .collect::<Result<Vec<_>, _>>()?;
        let expired = (page.items.len() - keys.len()) as u64;
        progress.expired.fetch_add(expired, Ordering::Relaxed);
        let count = keys.len() as u64;
        sink.send(keys).await?;
        progress.published.fetch_add(count, Ordering::Relaxed);
        Ok::<(), PageError>(())
    };
    let scanned = scan::scan(table, schema, &scan_options, checkpoints, publish).await?;
    Ok(BackfillReport {
        scan: scanned,
        published: progress.published.load(Ordering::Relaxed),
        expired: progress.expired.load(Ordering::Relaxed),
    })
}
