//! What one batch did: the counts and times behind the summary log line, the metrics and the
//! tests.

use std::time::Duration;

use crate::replicate::outcome::TargetCounts;

/// What one batch did, for the summary log line, the metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub keys: usize,
    pub puts: usize,
    pub deletes: usize,
    /// Each target's counts.
    pub targets: Vec<TargetCounts>,
    pub failed_records: usize,
    pub unusable_records: usize,
    /// Unusable records the dead-letter queue confirmed (not reported as failures).
    pub dead_lettered: usize,
    /// Keys whose last record was a TTL delete, kept (`KEEP_TTL_DELETES`): their old image
    /// written to the targets, or, without one, the targets left alone.
    pub ttl_deletes_kept: usize,
    /// Of those, the keys whose TTL delete had no old image (a `KEYS_ONLY` or `NEW_IMAGE`
    /// stream): the targets were left as they are.
    pub ttl_kept_without_image: usize,
    /// Keys that failed because the invocation's deadline came.
    pub deadline_failures: usize,
    pub duration: Duration,
    /// Age of the oldest record in the batch, from its approximate arrival time.
    pub oldest_record_age: Duration,
    /// The largest replication lag of the records done (arrival on the stream to the end of
    /// the batch), if any was done.
    pub lag_max: Option<Duration>,
    /// The lags of the records done, at most 100 of them (see [`metrics::sample`]).
    pub lag_sample: Vec<Duration>,
}
