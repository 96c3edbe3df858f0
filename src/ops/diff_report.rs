//! What a comparison counts as it goes (shared by its segments, read by a progress bar), and
//! the report it ends with: the figures and the one line a person reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts, as the comparison goes.
#[derive(Debug, Default)]
pub struct Counts {
    /// Primary items compared, and replica keys looked up on the primary.
    pub primary_items: AtomicU64,
    pub replica_items: AtomicU64,
    /// Pages left out by `--sample`.
    pub pages_skipped: AtomicU64,
    /// Whether a page with items of the primary, and of the replica, was compared: a sample
    /// always compares the first such page of each table, so it never judges on nothing.
    pub primary_sampled: AtomicBool,
    pub replica_sampled: AtomicBool,
    pub missing: AtomicU64,
    pub extra: AtomicU64,
    pub different: AtomicU64,
    /// Items whose TTL has passed, set apart (see `DiffOptions::ttl`).
    pub expired: AtomicU64,
    /// Items whose TTL has passed, compared all the same (`DiffOptions::strict_ttl`).
    pub expired_compared: AtomicU64,
    /// Primary items a target's filter failed on, set apart: what the target should hold of
    /// them cannot be said.
    pub undecided: AtomicU64,
}

impl Counts {
    /// The counts so far, as a report.
    pub fn report(&self) -> DiffReport {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        DiffReport {
            primary_items: load(&self.primary_items),
            replica_items: load(&self.replica_items),
            pages_skipped: load(&self.pages_skipped),
            missing: load(&self.missing),
            extra: load(&self.extra),
            different: load(&self.different),
            expired: load(&self.expired),
            expired_compared: load(&self.expired_compared),
            undecided: load(&self.undecided),
        }
    }
}

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffReport {
    pub primary_items: u64,
    pub replica_items: u64,
    pub pages_skipped: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    pub expired: u64,
    pub expired_compared: u64,
    pub undecided: u64,
}

impl DiffReport {
    /// Keys that differ in any way.
    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.different
    }

    /// One line, worded as it is: equal or not, sampled or not.
    pub fn summary(&self) -> String {
        let sampled = if self.pages_skipped > 0 {
            format!(" (a sample: {} pages left out)", self.pages_skipped)
        } else {
            String::new()
        };
        let expired = match self.expired {
            0 => String::new(),
            n => format!("; expired: {n} (TTL passed, set apart)"),
        };
        let expired = match self.expired_compared {
            0 => expired,
            n => format!(
                "{expired}; expired: {n} (TTL passed, compared; a repair leaves them to TTL)"
            ),
        };
        let expired = match self.undecided {
            0 => expired,
            n => format!(
                "{expired}; filter failed: {n} (set apart: the replicator leaves those keys as \
                 they are and fails their records; fix the filter)"
            ),
        };
        if self.differences() == 0 {
            format!(
                "the replica matches the primary: {} items compared, 0 differences{sampled}{expired}",
                self.primary_items
            )
        } else {
            format!(
                "the replica differs from the primary: {} missing, {} extra, {} different \
                 ({} primary items and {} replica items compared){sampled}{expired}",
                self.missing, self.extra, self.different, self.primary_items, self.replica_items
            )
        }
    }
}
