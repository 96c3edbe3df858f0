//! Parallel segmented scans of a table, page by page: every segment of a range at once
//! (`Segment`/`TotalSegments`), whole items or keys only, paced to a rate of items per second,
//! patient with throttling, and resumable: a segment's position is checkpointed only after the
//! work on the page before it is done, so a restart repeats nothing that was not finished.

use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::aws::json::{self, Item};
use crate::aws::key::KeySchema;
use crate::aws::retry::{self, Patience};
use crate::aws::store::{PageRequest, Store};
use crate::aws::table::{Projection, TableError, key_attributes};
use crate::ops::checkpoint::{CheckpointError, Checkpoints};

/// How long a scan keeps trying through throttling and outages.
const PATIENCE: Patience = Patience::For(Duration::from_secs(300));

/// Which share of a table a scan reads: segments `range` of `total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    pub total: u32,
    pub range: Range<u32>,
}

impl Segments {
    /// All `total` segments.
    pub fn all(total: u32) -> Self {
        let total = total.max(1);
        Segments {
            total,
            range: 0..total,
        }
    }

    /// Segments sized to this machine: four per core, 4 to 64.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        Segments::all((cores * 4).clamp(4, 64))
    }

    /// A share of a scan split among machines: segments `range` of `total`.
    pub fn share(range: Range<u32>, total: u32) -> Result<Self, ShareError> {
        if total == 0 || total > 1_000_000 {
            return Err(ShareError::Total(total));
        }
        if range.start >= range.end || range.end > total {
            return Err(ShareError::Range { range, total });
        }
        Ok(Segments { total, range })
    }

    /// How many segments the share holds.
    pub fn count(&self) -> u32 {
        self.range.end - self.range.start
    }
}

/// A share of a scan that cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("a scan has 1 to 1000000 segments, not {0}")]
    Total(u32),
    #[error(
        "segments {}..{} are not a non-empty range within 0..{total}",
        range.start,
        range.end
    )]
    Range { range: Range<u32>, total: u32 },
}

/// What to scan and how fast.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub segments: Segments,
    pub projection: Projection,
    /// Items per second, over all segments; `None`: as fast as the table answers.
    pub rate: Option<f64>,
    /// Consistent reads (twice the read capacity).
    pub consistent: bool,
    /// Most items a page holds (`Scan`'s `Limit`); `None`: as many as fit in 1 MB. What is done
    /// with a page is held in memory at once, so this bounds the memory of small items.
    pub page_items: Option<u32>,
    /// With [`Projection::Keys`], one more attribute to read (a TTL attribute).
    pub also: Option<String>,
}

/// One page of one segment.
#[derive(Debug)]
pub struct Page {
    pub segment: u32,
    pub items: Vec<Item>,
}

/// A scan failed; the message names the table or the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("checkpoint of segment {segment}: its last key is not a key ({problem})")]
    BadPosition { segment: u32, problem: String },
    /// The work on a page failed (e.g. publishing its keys); the segment stops before it.
    #[error(transparent)]
    Work(E),
}

/// How a scan went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Items read by this run.
    pub items: u64,
    /// Segments finished by this run, and found finished in the checkpoint.
    pub segments_done: u32,
    pub segments_resumed: u32,
    pub segments_already_done: u32,
}

/// A token bucket over items: at most `rate` per second on average, bursts of one second.
#[derive(Debug)]
struct Pace {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes `n` items' worth of tokens, waiting until the bucket has refilled enough.
    async fn take(&self, n: usize) {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let (tokens, last) = &mut *state;
            let now = Instant::now();
            *tokens =
                (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.rate);
            *last = now;
            *tokens -= n as f64;
            (*tokens < 0.0).then(|| Duration::from_secs_f64(-*tokens / self.rate))
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The `Limit` of a `Scan` page: at most one second's budget at `rate`, and at most
/// `page_items`; `None` when neither binds (DynamoDB's own 1 MB limit applies).
pub fn page_limit(rate: Option<f64>, page_items: Option<u32>) -> Option<i32> {
    let by_rate = rate.map(|rate| rate.clamp(1.0, 1_000_000.0) as i32);
    let by_size = page_items.map(|n| n.clamp(1, i32::MAX as u32) as i32);
    match (by_rate, by_size) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Scans the segments of `options` at once; hands each page to `work`, and only once `work` has
/// finished does the segment move on (and, with `checkpoints`, record where it is). Segments the
/// checkpoint holds as done are skipped; the others resume after their last recorded key.
pub async fn scan<F, Fut, E>(
    store: &dyn Store,
    schema: &KeySchema,
    options: &ScanOptions,
    checkpoints: &Checkpoints,
    work: F,
) -> Result<ScanReport, ScanError<E>>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let pace = options.rate.map(Pace::new);
    let mut report = ScanReport::default();
    let mut segments = FuturesUnordered::new();
    for segment in options.segments.range.clone() {
        let id = segment.to_string();
        if checkpoints.ended(&id) {
            report.segments_already_done += 1;
            continue;
        }
        let start = checkpoints.after(&id);
        if start.is_some() {
            report.segments_resumed += 1;
        }
        segments.push(scan_segment(
            store,
            schema,
            options,
            pace.as_ref(),
            checkpoints,
            segment,
            start,
            &work,
        ));
    }
    while let Some(result) = segments.next().await {
        report.items += result?;
        report.segments_done += 1;
    }
    Ok(report)
}

/// One segment, from `start` (a key in DynamoDB JSON) to its end; returns the items read.
#[allow(clippy::too_many_arguments)] // one segment's share of the scan's state
async fn scan_segment<F, Fut, E>(
    store: &dyn Store,
    schema: &KeySchema,
    options: &ScanOptions,
    pace: Option<&Pace>,
    checkpoints: &Checkpoints,
    segment: u32,
    start: Option<String>,
    work: &F,
) -> Result<u64, ScanError<E>>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let id = segment.to_string();
    let mut from = match start {
        None => None,
        Some(text) => Some(json::parse_item(&text).map_err(|e| ScanError::BadPosition {
            segment,
            problem: e.to_string(),
        })?),
    };
    let mut items = 0;
    loop {
        let (page, next) = read_page(store, schema, options, pace, segment, from.clone()).await?;
        items += page.items.len() as u64;
        work(page).await.map_err(ScanError::Work)?;
        match next {
            Some(last) => {
                checkpoints.set(&id, &json::to_json(&last))?;
                from = Some(last);
            }
            None => {
                checkpoints.end(&id)?;
                return Ok(items);
            }
        }
    }
}

/// One `Scan` page of `segment` after `from`; and the key to go on after, if any.
async fn read_page(
    store: &dyn Store,
    schema: &KeySchema,
    options: &ScanOptions,
    pace: Option<&Pace>,
    segment: u32,
    from: Option<Item>,
) -> Result<(Page, Option<Item>), TableError> {
    let request = PageRequest {
        segment,
        total_segments: options.segments.total,
        consistent: options.consistent,
        attributes: (options.projection == Projection::Keys)
            .then(|| key_attributes(schema, options.also.as_deref())),
        limit: page_limit(options.rate, options.page_items),
        start: from,
    };
    let call = || store.scan_page(request.clone());
    let (items, next) = retry::patiently(PATIENCE, |_| {}, call)
        .await
        .map_err(|gave_up| store.error(gave_up.error))?;
    if let Some(pace) = pace {
        pace.take(items.len()).await;
    }
    Ok((Page { segment, items }, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None, None), None);
        assert_eq!(page_limit(Some(50.0), None), Some(50));
        assert_eq!(page_limit(Some(0.2), None), Some(1));
        assert_eq!(page_limit(None, Some(1000)), Some(1000));
        assert_eq!(page_limit(Some(5000.0), Some(1000)), Some(1000));
        assert_eq!(page_limit(Some(300.0), Some(1000)), Some(300));
        assert_eq!(page_limit(None, Some(0)), Some(1));
    }

    #[test]
    fn shares_are_checked() {
        assert_eq!(Segments::share(2..4, 8).unwrap().count(), 2);
        assert!(matches!(
            Segments::share(4..4, 8),
            Err(ShareError::Range { .. })
        ));
        assert!(Segments::share(0..9, 8).is_err());
        assert_eq!(Segments::share(0..1, 0), Err(ShareError::Total(0)));
        let machine = Segments::for_this_machine();
        assert!((4..=64).contains(&machine.total) && machine.range == (0..machine.total));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_holds_items_to_the_rate() {
        let pace = Pace::new(100.0);
        let started = Instant::now();
        // The first second's budget is there at once; the next 300 items take three seconds.
        pace.take(100).await;
        assert!(started.elapsed() < Duration::from_millis(10));
        for _ in 0..3 {
            pace.take(100).await;
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2_990) && took < Duration::from_millis(3_100),
            "{took:?}"
        );
    }
}
