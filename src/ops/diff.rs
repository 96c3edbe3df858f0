//! Table comparison at any size, in memory bounded by a page: the primary is scanned in
//! segments and each page is checked against the replica with consistent `BatchGetItem` (missing
//! and different items); then the replica is scanned keys only and each page's keys are looked
//! up on the primary (extra items). A key that looks different is read again on both sides
//! after a short settle before it is reported, so writes in flight are not reported as
//! differences. Items compare attribute for attribute, set members in any order, numbers as
//! decimals (`1.0` is `1`).

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::aws::key::{Key, KeySchema};
use crate::aws::store::{Store, read_many};
use crate::aws::table::{Item, PairError, Projection, Table, TableError, pair_schema};
use crate::ops::checkpoint::Checkpoints;
pub use crate::ops::diff_report::{Counts, DiffReport};
use crate::ops::item_eq::same_item;
use crate::ops::scan::{self, Page, ScanError, ScanOptions, Segments};
use crate::ops::ttl::Ttl;
use crate::replicate::shape::{Shape, Verdict};

/// How a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// On the primary, not on the replica.
    Missing,
    /// On the replica, not on the primary.
    Extra,
    /// On both, with other contents.
    Different,
}

/// One differing key.
#[derive(Debug, Clone)]
pub struct Difference {
    pub kind: Kind,
    pub key: Key,
    /// The item's TTL has passed (compared only when asked to): a repair leaves it to TTL.
    pub expired: bool,
}

impl Difference {
    /// `{"kind":"missing","key":{…}}`: a line of `--keys-out` (keys only, never contents),
    /// which `dyno announce --keys-file` reads back; with the `target` it was found on, when
    /// comparing targets.
    pub fn to_line(&self, target: Option<&str>) -> String {
        let key: serde_json::Value = serde_json::from_str(&self.key.to_json()).unwrap_or_default();
        let mut line = serde_json::json!({"kind": self.kind, "key": key});
        if let Some(target) = target {
            line["target"] = target.into();
        }
        if self.expired {
            line["expired"] = true.into();
        }
        line.to_string()
    }
}

/// How to compare.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub segments: Segments,
    /// Items scanned per second on each table; `None`: as fast as the tables answer.
    pub rate: Option<f64>,
    /// Compare only this share of the pages (a quick spot check); `None`: all.
    pub sample: Option<f64>,
    /// How long a key that looks different is left to settle before it is read again.
    pub settle: Duration,
    /// The primary's TTL: an item whose TTL has passed is counted apart as expired and not
    /// compared (DynamoDB deletes it days late, on either table); `None`: no TTL.
    pub ttl: Option<Ttl>,
    /// Compare expired items too (`--strict-ttl`).
    pub strict_ttl: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            segments: Segments::for_this_machine(),
            rate: None,
            sample: None,
            settle: Duration::from_secs(1),
            ttl: None,
            strict_ttl: false,
        }
    }
}

/// The comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Pair(#[from] PairError),
    #[error(transparent)]
    Scan(#[from] ScanError<PageError>),
}

/// Why a page could not be compared, or its differences not handled.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("an item has no valid key: {0}")]
    BadItem(#[from] crate::aws::key::KeyError),
    /// What the caller does with the differences failed (writing them out, repairing them).
    #[error("handling the differences: {0}")]
    Handled(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Most items of a scanned page. A page is compared whole (it and the other table's copies are
/// held at once, in every segment), so without a limit memory would grow with the page, up to
/// DynamoDB's 1 MB of items; 1,000 items is 10 `BatchGetItem` calls of the other table.
pub const PAGE_ITEMS: u32 = 1000;

/// Compares `primary` with `replica`; `found` gets the differences of each page (confirmed
/// after the settle), as they are found. Key schemas are compared first.
pub async fn diff<F, Fut>(
    primary: &Table,
    replica: &Table,
    options: &DiffOptions,
    counts: &Counts,
    found: F,
) -> Result<DiffReport, DiffError>
where
    F: Fn(Vec<Difference>) -> Fut,
    Fut: std::future::Future<Output = Result<(), PageError>>,
{
    let schema = pair_schema(primary, replica).await?;
    let whole = Shape::everything();
    diff_stores(primary, (replica, &whole), &schema, options, counts, found).await
}

/// [`diff`] of two stores whose key schema is `schema`: the target holds what `shape` makes of
/// each primary item (an item the filter leaves out belongs on it no more than a deleted one).
pub async fn diff_stores<F, Fut>(
    primary: &dyn Store,
    (replica, shape): (&dyn Store, &Shape),
    schema: &KeySchema,
    options: &DiffOptions,
    counts: &Counts,
    found: F,
) -> Result<DiffReport, DiffError>
where
    F: Fn(Vec<Difference>) -> Fut,
    Fut: std::future::Future<Output = Result<(), PageError>>,
{
    let compare = Compare {
        primary,
        replica,
        shape,
        schema,
        options,
        counts,
    };
    let page_found = |differences: Vec<Difference>| async {
        if !differences.is_empty() {
            found(differences).await?;
        }
        Ok::<(), PageError>(())
    };
    let primary_pages = |page| async { page_found(compare.primary_page(page).await?).await };
    scan_all(primary, schema, options, Projection::All, primary_pages).await?;
    let replica_pages = |page| async { page_found(compare.replica_page(page).await?).await };
    scan_all(replica, schema, options, Projection::Keys, replica_pages).await?;
    Ok(counts.report())
}

/// One side's scan: every segment at once, consistent, in pages of [`PAGE_ITEMS`], positions
/// not kept (a comparison starts afresh).
async fn scan_all<F, Fut>(
    store: &dyn Store,
    schema: &KeySchema,
    options: &DiffOptions,
    projection: Projection,
    pages: F,
) -> Result<(), DiffError>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Result<(), PageError>>,
{
    let scan_options = ScanOptions {
        segments: options.segments.clone(),
        projection,
        rate: options.rate,
        consistent: true,
        page_items: Some(PAGE_ITEMS),
        also: None,
    };
    scan::scan(
        store,
        schema,
        &scan_options,
        &Checkpoints::in_memory(),
        pages,
    )
    .await?;
    Ok(())
}

/// One comparison's tables and counts.
struct Compare<'a> {
    primary: &'a dyn Store,
    replica: &'a dyn Store,
    shape: &'a Shape,
    schema: &'a KeySchema,
    options: &'a DiffOptions,
    counts: &'a Counts,
}

impl Compare<'_> {
    /// False for a page `--sample` leaves out; the first page with items of each table is
    /// always compared.
    fn sampled(&self, page: &Page, first: &std::sync::atomic::AtomicBool) -> bool {
        if page.items.is_empty() || !first.swap(true, Ordering::Relaxed) {
            return true;
        }
        match self.options.sample {
            Some(share) if fastrand::f64() >= share => {
                self.counts.pages_skipped.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }

    /// A page of primary items: each against the replica's copy.
    async fn primary_page(&self, page: Page) -> Result<Vec<Difference>, PageError> {
        if !self.sampled(&page, &self.counts.primary_sampled) {
            return Ok(Vec::new());
        }
        let items = self.set_apart_expired(page.items);
        let keys = self.keys(&items)?;
        let copies = read_many(self.replica, self.schema, &keys, Projection::All).await?;
        self.counts
            .primary_items
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let suspects = keys
            .into_iter()
            .zip(items.iter().zip(copies))
            .filter(|(_, (item, copy))| !self.agrees(Some(item), copy.as_ref()))
            .map(|(key, _)| key)
            .collect();
        // Extra keys (say, an item the filter leaves out) come from the other side.
        self.confirm(suspects, &[Kind::Missing, Kind::Different])
            .await
    }

    /// A page of replica keys: each looked up on the primary.
    async fn replica_page(&self, page: Page) -> Result<Vec<Difference>, PageError> {
        if !self.sampled(&page, &self.counts.replica_sampled) {
            return Ok(Vec::new());
        }
        let keys = self.keys(&page.items)?;
        // A filter may need any attribute to say whether the item belongs on the target.
        let projection = match self.shape.filter() {
            Some(_) => Projection::All,
            None => Projection::Keys,
        };
        let originals = read_many(self.primary, self.schema, &keys, projection).await?;
        self.counts
            .replica_items
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let suspects: Vec<Key> = keys
            .into_iter()
            .zip(originals)
            .filter(|(_, original)| matches!(self.expected(original.as_ref()), Ok(None)))
            .map(|(key, _)| key)
            .collect();
        // Only extra keys come from this side; missing and different ones from the other.
        self.confirm(suspects, &[Kind::Extra]).await
    }

    /// The items to compare: those whose TTL has passed are counted and left out, unless
    /// `--strict-ttl`.
    fn set_apart_expired(&self, items: Vec<Item>) -> Vec<Item> {
        let Some(ttl) = &self.options.ttl else {
            return items;
        };
        let (expired, live): (Vec<Item>, Vec<Item>) =
            items.into_iter().partition(|item| ttl.expired(item));
        let count = match self.options.strict_ttl {
            true => &self.counts.expired_compared,
            false => &self.counts.expired,
        };
        count.fetch_add(expired.len() as u64, Ordering::Relaxed);
        match self.options.strict_ttl {
            true => live.into_iter().chain(expired).collect(),
            false => live,
        }
    }

    /// True when a key is set apart as expired rather than compared: the primary's item has
    /// expired, or there is none and the replica's has (counted here: the primary's side never
    /// saw it).
    fn expired(&self, original: Option<&Item>, copy: Option<&Item>) -> bool {
        let Some(ttl) = self
            .options
            .ttl
            .as_ref()
            .filter(|_| !self.options.strict_ttl)
        else {
            return false;
        };
        match (original, copy) {
            (Some(a), _) => ttl.expired(a),
            (None, Some(b)) if ttl.expired(b) => {
                self.counts.expired.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// What the target should hold of `original` (the primary's item, if any): its shape;
    /// `Err` when the filter fails on the item, so nothing can be said (the replicator leaves the
    /// target's item as it is and fails the key).
    fn expected<'i>(&self, original: Option<&'i Item>) -> Result<Option<Cow<'i, Item>>, Undecided> {
        if self.shape.is_everything() {
            return Ok(original.map(Cow::Borrowed));
        }
        let shaped = self.shape.apply(original);
        if shaped.filter_error.is_some() {
            return Err(Undecided);
        }
        Ok(match shaped.verdict {
            Verdict::Put(item) => Some(Cow::Owned(item)),
            Verdict::Delete => None,
        })
    }

    /// True when the target's `copy` is what it should hold of `original`, or when the filter
    /// fails on `original` (counted, set apart: neither a difference nor something to repair).
    fn agrees(&self, original: Option<&Item>, copy: Option<&Item>) -> bool {
        let Ok(expected) = self.expected(original) else {
            self.counts.undecided.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        match (expected, copy) {
            (Some(a), Some(b)) => same_item(&a, b),
            (None, None) => true,
            _ => false,
        }
    }

    fn keys(&self, items: &[Item]) -> Result<Vec<Key>, PageError> {
        Ok(items
            .iter()
            .map(|item| self.schema.key_of_item(item))
            .collect::<Result<_, _>>()?)
    }

    /// Reads suspects again on both sides after the settle, and counts what still differs in
    /// one of the `kinds` this side reports.
    async fn confirm(
        &self,
        suspects: Vec<Key>,
        kinds: &[Kind],
    ) -> Result<Vec<Difference>, PageError> {
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        tokio::time::sleep(self.options.settle).await;
        let (originals, copies) = tokio::try_join!(
            read_many(self.primary, self.schema, &suspects, Projection::All),
            read_many(self.replica, self.schema, &suspects, Projection::All),
        )?;
        let mut differences = Vec::new();
        for ((key, original), copy) in suspects.into_iter().zip(originals).zip(copies) {
            if self.expired(original.as_ref(), copy.as_ref()) {
                continue;
            }
            // A filter that fails now (the item changed since) decides nothing.
            let Ok(expected) = self.expected(original.as_ref()) else {
                continue;
            };
            // Compared only when asked to: a repair still leaves it to TTL.
            let expired = (self.options.ttl.as_ref()).is_some_and(|ttl| {
                original.as_ref().is_some_and(|o| ttl.expired(o))
                    || copy.as_ref().is_some_and(|c| ttl.expired(c))
            });
            let (kind, count) = match (expected, copy) {
                (Some(_), None) => (Kind::Missing, &self.counts.missing),
                (None, Some(_)) => (Kind::Extra, &self.counts.extra),
                (Some(a), Some(b)) if !same_item(&a, &b) => {
                    (Kind::Different, &self.counts.different)
                }
                _ => continue,
            };
            if !kinds.contains(&kind) {
                continue;
            }
            count.fetch_add(1, Ordering::Relaxed);
            differences.push(Difference { kind, key, expired });
        }
        Ok(differences)
    }
}

/// The filter failed on an item: what the target should hold of it cannot be said.
struct Undecided;

/// How two tables differ, with every differing key (for tests and small tables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Items on the primary.
    pub items: usize,
    /// Keys on the primary but not on the replica.
    pub missing: Vec<String>,
    /// Keys on the replica but not on the primary.
    pub extra: Vec<String>,
    /// Keys on both whose items differ.
    pub different: Vec<String>,
}

impl Diff {
    /// Number of keys that differ in any way.
    pub fn differences(&self) -> usize {
        self.missing.len() + self.extra.len() + self.different.len()
    }
}

/// Compares two tables that should be equal now (nothing in flight, so no settle) and lists
/// every differing key.
pub async fn compare(primary: &Table, replica: &Table) -> Result<Diff, DiffError> {
    let options = DiffOptions {
        segments: Segments::all(4),
        settle: Duration::ZERO,
        ..DiffOptions::default()
    };
    let listed = Mutex::new(Diff::default());
    let counts = Counts::default();
    let report = diff(primary, replica, &options, &counts, |differences| {
        let mut listed = listed.lock().unwrap_or_else(|e| e.into_inner());
        for d in differences {
            let list = match d.kind {
                Kind::Missing => &mut listed.missing,
                Kind::Extra => &mut listed.extra,
                Kind::Different => &mut listed.different,
            };
            list.push(d.key.to_string());
        }
        async { Ok(()) }
    })
    .await?;
    let mut listed = listed.into_inner().unwrap_or_else(|e| e.into_inner());
    listed.items = report.primary_items as usize;
    for list in [
        &mut listed.missing,
        &mut listed.extra,
        &mut listed.different,
    ] {
        list.sort();
    }
    Ok(listed)
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
