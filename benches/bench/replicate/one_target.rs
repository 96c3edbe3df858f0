//! A one-target case: the handler against its floor (interleaved pairs), the naive loop, the
//! decoding alone, and the child's peak memory and init; its `bench case=…` line.

use super::Case;
use super::shared::{Bench, Pairs, Prepared, Run};
use crate::shared::{Line, Report};

/// One case's figures.
#[derive(Debug, Default)]
struct Figures {
    calls: u64,
    /// The handler's and the floor's runs, seconds and this process's CPU (user + system).
    pairs: Pairs,
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
    let (handler, floor) = (f.pairs.handler(), f.pairs.floor());
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
        handler.seconds,
        records / handler.seconds,
        floor.seconds,
        handler.seconds / floor.seconds,
        f.pairs.ratio_median(),
        f.naive_seconds,
        f.naive_seconds / handler.seconds,
        f.peak_rss_kb as f64 / 1024.0,
        case.reps,
        handler.cpu_seconds,
        floor.cpu_seconds,
        handler.cpu_seconds / floor.cpu_seconds,
        f.pairs.cpu_ratio_median(),
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
    let mut figures = Figures::default();

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

    for rep in 0..case.reps {
        // Interleaved, alternating which goes first, so drift favours neither.
        let (mut handler, mut floor) = (Run::default(), Run::default());
        for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
            let replica_table = bench.fresh_replica(case, &pool).await?;
            if handler_turn {
                let calls;
                (handler, calls) = bench
                    .handler(case, &primary_table, &replica_table, &event)
                    .await?;
                figures.calls = calls;
            } else {
                let keys = distinct.clone();
                floor = bench.floor(&primary_table, &replica_table, keys).await?;
            }
            Bench::drop_table(&bench.admin_replica, &replica_table).await;
        }
        figures.pairs.push(handler, floor);
    }

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
