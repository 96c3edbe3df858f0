//! Which Lambda memory size a load should run at: Lambda gives a function CPU in proportion to
//! its memory (one vCPU at 1,769 MB, so about a fourteenth at 128 MB), and bills GB-seconds, so
//! the replicator's CPU per record (what `make bench` measures) sets the batch's duration at a
//! small size, and its calls' waiting at a large one. For each size from 128 MB to 1,769 MB: the
//! batch's duration, its cost per million writes, and the lag budget; and the size that costs
//! least within the user's lag target.

/// Lambda's memory at which a function has one full vCPU.
pub const FULL_VCPU_MB: f64 = 1769.0;
/// The sizes compared: Lambda's smallest, the doublings, and one full vCPU.
pub const SIZES_MB: [f64; 5] = [128.0, 256.0, 512.0, 1024.0, FULL_VCPU_MB];
/// The replicator's CPU per record in `make bench` (case `10k-distinct`, 1 KB items: 0.20 and
/// 0.27 CPU seconds for 10,000 records in two clean runs on this 2-core machine, the AWS SDK's
/// work included; the higher, to size for), in µs.
pub const MEASURED_CPU_US_PER_RECORD: f64 = 27.0;

/// One memory size's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sized {
    pub memory_mb: f64,
    /// The share of a vCPU the function gets.
    pub vcpu: f64,
    /// One batch's duration: its calls' waiting, or its CPU at this share, whichever is longer.
    pub batch_ms: f64,
    /// Lambda's cost per million writes (GB-seconds and requests).
    pub lambda_per_million: f64,
    /// The polled lag budget: Lambda's poll, the batching window, the batch.
    pub lag_ms: f64,
}

/// What one batch asks of the function, whatever its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchWork {
    pub records: f64,
    /// The batch's calls' waiting with CPU to spare, in ms (the plan's model).
    pub io_ms: f64,
    pub cpu_us_per_record: f64,
    /// Lambda polls each shard once a second, then waits the batching window.
    pub poll_and_window_ms: f64,
    pub batches_per_million: f64,
}

/// The share of a vCPU Lambda gives `memory_mb` (at most one: the replicator's work on one
/// batch does not spread over more).
pub fn vcpu_share(memory_mb: f64) -> f64 {
    (memory_mb / FULL_VCPU_MB).clamp(0.0, 1.0)
}

/// One batch at `memory_mb`: the CPU stretches by the share it gets, the calls overlap it.
pub fn at_size(work: &BatchWork, memory_mb: f64, gb_second: f64, per_request: f64) -> Sized {
    let vcpu = vcpu_share(memory_mb);
    let cpu_ms = work.records * work.cpu_us_per_record / 1000.0;
    let batch_ms = work.io_ms.max(cpu_ms / vcpu.max(f64::MIN_POSITIVE));
    let gb_seconds = batch_ms / 1000.0 * memory_mb / 1024.0;
    Sized {
        memory_mb,
        vcpu,
        batch_ms,
        lambda_per_million: work.batches_per_million * (gb_seconds * gb_second + per_request),
        lag_ms: work.poll_and_window_ms + batch_ms,
    }
}

/// The cheapest size whose lag budget is within `lag_target_ms`, and of sizes that cost the same
/// (within 0.1%: while CPU-bound, twice the memory halves the duration), the fastest; `None` if
/// no size meets the target.
pub fn cheapest_within(sizes: &[Sized], lag_target_ms: f64) -> Option<Sized> {
    let within = || sizes.iter().filter(|s| s.lag_ms <= lag_target_ms);
    let least = within()
        .map(|s| s.lambda_per_million)
        .min_by(f64::total_cmp)?;
    within()
        .filter(|s| s.lambda_per_million <= least * 1.001)
        .min_by(|a, b| a.lag_ms.total_cmp(&b.lag_ms))
        .copied()
}

/// The memory sizes side by side, and the cheapest within `lag_target_ms`, as lines a person
/// reads.
pub fn describe(work: &BatchWork, prices: (f64, f64), lag_target_ms: f64) -> Vec<String> {
    let (gb_second, per_request) = prices;
    let sizes: Vec<Sized> = SIZES_MB
        .iter()
        .map(|&mb| at_size(work, mb, gb_second, per_request))
        .collect();
    let mut lines = vec![format!(
        "lambda by memory size, at {:.0} µs of CPU a record (`make bench`; --cpu-us-per-record), \
         {:.0} records a batch:",
        work.cpu_us_per_record, work.records
    )];
    for s in &sizes {
        lines.push(format!(
            "  {:>5.0} MB ({:.3} vCPU): ~{:.0} ms a batch, lambda ${:.5} per million writes, lag \
             up to {:.0} ms",
            s.memory_mb, s.vcpu, s.batch_ms, s.lambda_per_million, s.lag_ms
        ));
    }
    lines.push(match cheapest_within(&sizes, lag_target_ms) {
        Some(best) => format!(
            "cheapest within a {lag_target_ms:.0} ms lag target (--lag-target-ms): {:.0} MB \
             (the template's MemorySize)",
            best.memory_mb
        ),
        None => format!(
            "no memory size keeps the lag within {lag_target_ms:.0} ms (--lag-target-ms): \
             Lambda's poll and the batching window alone take {:.0} ms; lower \
             --batching-window-seconds, or add --efo",
            work.poll_and_window_ms
        ),
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(records: f64, io_ms: f64) -> BatchWork {
        BatchWork {
            records,
            io_ms,
            cpu_us_per_record: 31.0,
            poll_and_window_ms: 2000.0,
            batches_per_million: 1_000_000.0 / records,
        }
    }

    #[test]
    fn a_small_size_is_slowed_by_its_cpu_and_a_large_one_by_its_calls() {
        let w = work(1000.0, 100.0);
        // 31 ms of CPU: at 128 MB (0.072 vCPU) ~428 ms; at 1,769 MB the calls' 100 ms.
        let small = at_size(&w, 128.0, 1.0, 0.0);
        assert!((small.batch_ms - 31.0 / (128.0 / 1769.0)).abs() < 1e-6);
        let full = at_size(&w, FULL_VCPU_MB, 1.0, 0.0);
        assert_eq!(full.batch_ms, 100.0);
        assert_eq!(vcpu_share(10_240.0), 1.0, "no more than one vCPU counts");
        assert_eq!(full.lag_ms, 2100.0);
    }

    #[test]
    fn the_cheapest_size_within_the_lag_target_is_chosen() {
        let w = work(1000.0, 100.0);
        let sizes: Vec<Sized> = SIZES_MB
            .iter()
            .map(|&m| at_size(&w, m, 0.000_013_333_4, 0.2 / 1e6))
            .collect();
        // CPU-bound below ~548 MB: GB-seconds are the same there (memory × 1/memory), and 512
        // MB is the fastest of those; above, the calls' fixed 100 ms costs more.
        let best = cheapest_within(&sizes, 10_000.0).expect("a size");
        assert_eq!(best.memory_mb, 512.0);
        // A target only the fast sizes meet.
        let fast = cheapest_within(&sizes, 2000.0 + 150.0).expect("a size");
        assert!(fast.batch_ms <= 150.0, "{fast:?}");
        assert_eq!(cheapest_within(&sizes, 1000.0), None, "below the poll");
    }

    #[test]
    fn the_description_names_every_size_and_the_choice() {
        let lines = describe(&work(1000.0, 100.0), (0.000_013_333_4, 0.2 / 1e6), 10_000.0);
        assert_eq!(lines.len(), 1 + SIZES_MB.len() + 1);
        assert!(lines[1].trim_start().starts_with("128 MB"), "{}", lines[1]);
        assert!(
            lines.last().is_some_and(|l| l.contains(": 512 MB")),
            "{lines:?}"
        );
        let none = describe(&work(1000.0, 100.0), (1.0, 0.0), 500.0);
        assert!(none.last().is_some_and(|l| l.contains("no memory size")));
    }
}
