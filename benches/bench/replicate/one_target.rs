//! A one-target case: the handler against its floor (interleaved pairs), the naive loop, the
//! decoding alone, and the child's peak memory and init; its `bench case=…` line.

use super::Case;
use super::shared::{Bench, Prepared};
use crate::shared::{Line, Report, median};

/// One case's figures.
#[derive(Debug, Default)]
struct Figures {
    calls: u64,
    seconds: f64,
    floor_seconds: f64,
    /// The median over reps of handler seconds / floor seconds in the same rep.
    ratio_median: f64,
    /// This process's CPU time (user + system) over the handler's call and over the floor's, the
    /// least of the reps', each.
    cpu_seconds: f64,
    floor_cpu_seconds: f64,
    /// The median over reps of handler CPU / floor CPU in the same rep (drift cancels out).
    cpu_ratio_median: f64,
    /// Decoding the event's records and finding the distinct keys, alone.
    decode_seconds: f64,
    naive_seconds: f64,
    peak_rss_kb: u64,
    init_ms: f64,
}

/// Runs the case and prints its line (or its error); the child's init time, for the median.
pub async fn run(bench: &Bench, case: &Case, report: &mut Report) -> Option<f64> {
    let f = match figures(bench, case).await {
        Ok(f) => f,
        Err(error) => {
            report.fail(case.name, error);
            return None;
        }
    };
    let records = case.records as f64;
    let line = format!(
        "bench case={} records={} keys={} item_bytes={} calls={} \
         calls_per_record={:.4} seconds={:.4} records_per_s={:.0} \
         floor_seconds={:.4} ratio_to_floor={:.3} ratio_median={:.3} \
         naive_seconds={:.3} speedup_vs_naive={:.1} peak_rss_mb={:.1} reps={} stat=min \
         cpu_seconds={:.3} floor_cpu_seconds={:.3} cpu_ratio={:.3} cpu_ratio_median={:.3} \
         decode_seconds={:.4}",
        case.name,
        case.records,
        case.keys,
        case.item_bytes,
        f.calls,
        f.calls as f64 / records,
        f.seconds,
        records / f.seconds,
        f.floor_seconds,
        f.seconds / f.floor_seconds,
        f.ratio_median,
        f.naive_seconds,
        f.naive_seconds / f.seconds,
        f.peak_rss_kb as f64 / 1024.0,
        case.reps,
        f.cpu_seconds,
        f.floor_cpu_seconds,
        f.cpu_seconds / f.floor_cpu_seconds,
        f.cpu_ratio_median,
        f.decode_seconds,
    );
    report.emit(case.name, Ok(Line::written(line)));
    Some(f.init_ms)
}

async fn figures(bench: &Bench, case: &Case) -> Result<Figures, String> {
    let Prepared {
        pool,
        primary_table,
        event,
        distinct,
    } = bench.prepare(case).await?;
    let mut figures = Figures {
        seconds: f64::INFINITY,
        floor_seconds: f64::INFINITY,
        cpu_seconds: f64::INFINITY,
        floor_cpu_seconds: f64::INFINITY,
        ..Figures::default()
    };

    // One untimed run of each first: the servers' first pass over a new table is slower.
    for handler_turn in [true, false] {
        let replica_table = bench.fresh_replica(case, &pool).await?;
        if handler_turn {
            bench
                .handler(case, &primary_table, &replica_table, &event)
                .await?;
            bench.compare(&primary_table, &replica_table).await?;
        } else {
            bench
                .floor(&primary_table, &replica_table, distinct.clone())
                .await?;
        }
        Bench::drop_table(&bench.admin_replica, &replica_table).await;
    }

    let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    for rep in 0..case.reps {
        // Interleaved, alternating which goes first, so drift favours neither.
        let (mut pair, mut cpu_pair) = ([0.0; 2], [0.0; 2]);
        for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
            let replica_table = bench.fresh_replica(case, &pool).await?;
            if handler_turn {
                let (run, calls) = bench
                    .handler(case, &primary_table, &replica_table, &event)
                    .await?;
                figures.cpu_seconds = figures.cpu_seconds.min(run.cpu_seconds);
                figures.seconds = figures.seconds.min(run.seconds);
                figures.calls = calls;
                pair[0] = run.seconds;
                cpu_pair[0] = run.cpu_seconds;
            } else {
                let keys = distinct.clone();
                let run = bench.floor(&primary_table, &replica_table, keys).await?;
                figures.floor_cpu_seconds = figures.floor_cpu_seconds.min(run.cpu_seconds);
                figures.floor_seconds = figures.floor_seconds.min(run.seconds);
                pair[1] = run.seconds;
                cpu_pair[1] = run.cpu_seconds;
            }
            Bench::drop_table(&bench.admin_replica, &replica_table).await;
        }
        ratios.push(pair[0] / pair[1]);
        cpu_ratios.push(cpu_pair[0] / cpu_pair[1]);
    }
    figures.ratio_median = median(ratios);
    figures.cpu_ratio_median = median(cpu_ratios);

    figures.decode_seconds = bench.decode(&primary_table, &event);

    let replica_table = bench.fresh_replica(case, &pool).await?;
    figures.naive_seconds = bench.naive(&primary_table, &replica_table, &event).await?;
    Bench::drop_table(&bench.admin_replica, &replica_table).await;

    let replica_table = bench.fresh_replica(case, &pool).await?;
    let child = bench.child(case, &primary_table, &replica_table).await?;
    bench.compare(&primary_table, &replica_table).await?;
    figures.peak_rss_kb = child.vmhwm_kb;
    figures.init_ms = child.init_ms;
    Bench::drop_table(&bench.admin_replica, &replica_table).await;
    Bench::drop_table(&bench.admin_primary, &primary_table).await;
    Ok(figures)
}
