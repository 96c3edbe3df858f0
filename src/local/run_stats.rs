//! What a run of the local event source mapping did: batches, records, re-deliveries, skips,
//! the replica's puts and deletes, and each record's lag.

use std::time::Duration;

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Invocations of the handler.
    pub batches: usize,
    /// Records handed to the handler, re-deliveries included.
    pub deliveries: usize,
    /// Distinct records done (replicated, or skipped after `max_retries`).
    pub records: usize,
    /// Records re-delivered after a partial failure.
    pub redelivered: usize,
    /// Records given up on after `max_retries`, as `shard:sequence`.
    pub skipped: Vec<String>,
    /// Shards read to their end (closed by a split or a merge).
    pub shards_ended: usize,
    /// Distinct keys per batch, summed; and the puts and deletes the replica received.
    pub keys: usize,
    pub puts: usize,
    pub deletes: usize,
    /// Calls to the stream that failed and were retried.
    pub stream_retries: usize,
    /// From each record's arrival on the stream to the end of the batch that replicated it.
    pub lags: Vec<Duration>,
}

impl RunStats {
    pub(crate) fn merge(&mut self, other: RunStats) {
        self.batches += other.batches;
        self.deliveries += other.deliveries;
        self.records += other.records;
        self.redelivered += other.redelivered;
        self.skipped.extend(other.skipped);
        self.shards_ended += other.shards_ended;
        self.keys += other.keys;
        self.puts += other.puts;
        self.deletes += other.deletes;
        self.stream_retries += other.stream_retries;
        self.lags.extend(other.lags);
    }

    /// The lag at quantile `q` (0..=1), if any record was replicated.
    pub fn lag_quantile(&self, q: f64) -> Option<Duration> {
        let mut lags = self.lags.clone();
        lags.sort();
        let last = lags.len().checked_sub(1)?;
        lags.get(((last as f64) * q).round() as usize).copied()
    }
}
