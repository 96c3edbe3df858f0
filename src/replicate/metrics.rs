//! Replication metrics in CloudWatch Embedded Metric Format (EMF): each batch's numbers go
//! through the `metrics` facade, and `metrics_cloudwatch_embedded` writes them as one EMF log
//! line per invocation (its Lambda integration flushes after each). Chosen over `metrique`
//! because the handler then only calls plain `metrics` macros (with no recorder installed, as in
//! the CLI and most tests, they cost nothing), the collector flushes to any writer (a test reads
//! the very lines), and it plugs into `lambda_runtime` as it is. EMF holds at most 100 values of
//! a metric per line, so the lag is recorded as at most 100 evenly spaced quantiles, plus its
//! maximum. Dimensions name the function and the table pair, and each target's metrics also its name;
//! no item content ever appears.

use std::time::Duration;

use metrics::Unit;
use metrics_cloudwatch_embedded::{Builder, Collector, Error};

use crate::replicate::summary::Summary;

/// The CloudWatch namespace of dyno's metrics.
pub const NAMESPACE: &str = "dyno";

/// Metric names (and the template's alarms refer to them).
pub mod names {
    pub const RECORDS: &str = "Records";
    pub const KEYS: &str = "DistinctKeys";
    pub const PUTS: &str = "Puts";
    pub const DELETES: &str = "Deletes";
    pub const FAILED: &str = "FailedRecords";
    pub const UNUSABLE: &str = "UnusableRecords";
    pub const DEAD_LETTERED: &str = "DeadLetteredRecords";
    pub const DURATION: &str = "BatchDuration";
    pub const LAG: &str = "ReplicationLag";
    pub const LAG_MAX: &str = "ReplicationLagMax";
    /// Per target (the `Target` dimension).
    pub const TARGET_PUTS: &str = "TargetPuts";
    pub const TARGET_DELETES: &str = "TargetDeletes";
    pub const TARGET_FAILED: &str = "TargetFailedKeys";
    pub const FILTERED_OUT: &str = "FilteredOut";
    pub const FILTER_ERRORS: &str = "FilterErrors";
}

/// Dimension names.
pub const FUNCTION: &str = "FunctionName";
pub const TABLE_PAIR: &str = "TablePair";
/// The dimension of the per-target metrics: the target's name.
pub const TARGET: &str = "Target";

/// Most values EMF takes for one metric in one line.
pub const MAX_VALUES: usize = 100;

/// Installs the EMF recorder (once per process) with the function's and the table pair's
/// dimensions, and describes each metric's unit.
pub fn install(function: &str, primary: &str, replica: &str) -> Result<&'static Collector, Error> {
    let collector = Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION, function.to_owned())
        .with_dimension(TABLE_PAIR, table_pair(primary, replica))
        .init()?;
    for name in [
        names::RECORDS,
        names::KEYS,
        names::PUTS,
        names::DELETES,
        names::FAILED,
        names::UNUSABLE,
        names::DEAD_LETTERED,
        names::TARGET_PUTS,
        names::TARGET_DELETES,
        names::TARGET_FAILED,
        names::FILTERED_OUT,
        names::FILTER_ERRORS,
    ] {
        metrics::describe_counter!(name, Unit::Count, "per batch");
    }
    metrics::describe_histogram!(names::DURATION, Unit::Milliseconds, "handling one batch");
    metrics::describe_histogram!(
        names::LAG,
        Unit::Milliseconds,
        "from a record's arrival on the stream to its key agreeing on the replica"
    );
    metrics::describe_gauge!(
        names::LAG_MAX,
        Unit::Milliseconds,
        "the batch's largest lag"
    );
    Ok(collector)
}

/// The `TablePair` dimension's value.
pub fn table_pair(primary: &str, replica: &str) -> String {
    format!("{primary} -> {replica}")
}

/// Records one batch (a no-op without a recorder).
pub fn record(summary: &Summary) {
    let count = |name: &'static str, n: usize| metrics::counter!(name).increment(n as u64);
    count(names::RECORDS, summary.records);
    count(names::KEYS, summary.keys);
    count(names::PUTS, summary.puts);
    count(names::DELETES, summary.deletes);
    count(names::FAILED, summary.failed_records);
    count(names::UNUSABLE, summary.unusable_records);
    count(names::DEAD_LETTERED, summary.dead_lettered);
    metrics::histogram!(names::DURATION).record(millis(summary.duration));
    if let Some(max) = summary.lag_max {
        metrics::gauge!(names::LAG_MAX).set(millis(max));
    }
    for lag in &summary.lag_sample {
        metrics::histogram!(names::LAG).record(millis(*lag));
    }
    for target in &summary.targets {
        let count = |name: &'static str, n: usize| {
            metrics::counter!(name, TARGET => target.name.clone()).increment(n as u64)
        };
        count(names::TARGET_PUTS, target.puts);
        count(names::TARGET_DELETES, target.deletes);
        count(names::TARGET_FAILED, target.failed_keys);
        count(names::FILTERED_OUT, target.filtered_out);
        count(names::FILTER_ERRORS, target.filter_errors);
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// At most `n` values that stand for `values`: all of them if they fit, else `n` evenly spaced
/// quantiles (the least and the greatest included), so percentiles computed by CloudWatch stay
/// close to the batch's own.
pub fn sample(mut values: Vec<Duration>, n: usize) -> Vec<Duration> {
    if values.len() <= n || n == 0 {
        return if n == 0 { Vec::new() } else { values };
    }
    values.sort();
    let last = values.len() - 1;
    (0..n)
        .map(|i| values[(i * last + (n - 1) / 2) / (n - 1).max(1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn small_batches_keep_every_value() {
        assert_eq!(sample(ms(&[3, 1, 2]), 100), ms(&[3, 1, 2]));
        assert!(sample(ms(&[1]), 0).is_empty());
    }

    #[test]
    fn large_batches_keep_evenly_spaced_quantiles() {
        let values: Vec<Duration> = (1..=10_000).rev().map(Duration::from_millis).collect();
        let kept = sample(values, MAX_VALUES);
        assert_eq!(kept.len(), MAX_VALUES);
        assert_eq!(kept.first(), Some(&Duration::from_millis(1)));
        assert_eq!(kept.last(), Some(&Duration::from_millis(10_000)));
        // The median of the sample is the median of the batch, within one step.
        let median = kept[MAX_VALUES / 2].as_millis() as i64;
        assert!((median - 5_000).abs() <= 101, "{median}");
        assert!(kept.windows(2).all(|w| w[0] <= w[1]));
    }
}
