//! A several-target case (`targets-3`): the handler writing every key whole to `case.targets`
//! fresh tables against a floor that reads the keys once and writes what came back to every
//! table (see [`Bench::floor_to`]), interleaved as for one target; and the primary's reads
//! against those of the same event replicated to one target (one read per key, whatever the
//! number of targets).

use std::collections::BTreeMap;

use super::Case;
use super::shared::{Bench, Prepared, read_calls};
use crate::shared::{Line, Report, median};

/// A several-target case's figures (the handler writes `case.targets` full copies).
#[derive(Debug, Default)]
struct TargetsFigures {
    /// `BatchGetItem` calls (the primary's reads) in each handler run: all the same, else the
    /// first count that differed from `one_target_read_calls`.
    read_calls: u64,
    /// `BatchGetItem` calls when the same event is replicated to one target.
    one_target_read_calls: u64,
    /// `BatchWriteItem` calls over every target, in the fastest handler run.
    write_calls: u64,
    seconds: f64,
    floor_seconds: f64,
    ratio_median: f64,
    /// This process's CPU time (user + system) over the handler's call and over the floor's, the
    /// least of the reps', each.
    cpu_seconds: f64,
    floor_cpu_seconds: f64,
    /// The median over reps of handler CPU / floor CPU in the same rep (drift cancels out).
    cpu_ratio_median: f64,
}

/// The goal for a several-target case's `ratio_to_floor`: printed beside it, never judged.
const TARGETS_RATIO_GOAL: f64 = 1.15;

/// Runs the case and prints its line. Fails when a handler run read the primary more often than
/// the one-target run.
pub async fn run(bench: &Bench, case: &Case, report: &mut Report) {
    let f = match figures(bench, case).await {
        Ok(f) => f,
        Err(error) => return report.fail(case.name, error),
    };
    let records = case.records as f64;
    let calls = f.read_calls + f.write_calls;
    let line = format!(
        "bench case={} records={} keys={} item_bytes={} targets={} calls={} \
         calls_per_record={:.4} read_calls={} one_target_read_calls={} write_calls={} \
         seconds={:.4} records_per_s={:.0} floor_seconds={:.4} ratio_to_floor={:.3} \
         target_ratio_to_floor={:.2} ratio_median={:.3} reps={} stat=min cpu_seconds={:.3} \
         floor_cpu_seconds={:.3} cpu_ratio={:.3} cpu_ratio_median={:.3}",
        case.name,
        case.records,
        case.keys,
        case.item_bytes,
        case.targets,
        calls,
        calls as f64 / records,
        f.read_calls,
        f.one_target_read_calls,
        f.write_calls,
        f.seconds,
        records / f.seconds,
        f.floor_seconds,
        f.seconds / f.floor_seconds,
        TARGETS_RATIO_GOAL,
        f.ratio_median,
        case.reps,
        f.cpu_seconds,
        f.floor_cpu_seconds,
        f.cpu_seconds / f.floor_cpu_seconds,
        f.cpu_ratio_median,
    );
    report.emit(case.name, Ok(Line::written(line)));
    if f.read_calls != f.one_target_read_calls {
        report.fail(
            case.name,
            format!(
                "{} BatchGetItem calls with {} targets, {} with one: the primary must be read \
                 once per key whatever the number of targets",
                f.read_calls, case.targets, f.one_target_read_calls
            ),
        );
    }
}

async fn figures(bench: &Bench, case: &Case) -> Result<TargetsFigures, String> {
    let Prepared {
        pool,
        primary_table,
        event,
        distinct,
    } = bench.prepare(case).await?;
    let mut figures = TargetsFigures {
        seconds: f64::INFINITY,
        floor_seconds: f64::INFINITY,
        cpu_seconds: f64::INFINITY,
        floor_cpu_seconds: f64::INFINITY,
        ..TargetsFigures::default()
    };

    // The same event to one target: the reads to compare with (and the primary's first
    // pass, untimed).
    let replica_table = bench.fresh_replica(case, &pool).await?;
    let (_, calls) = bench
        .handler_to(
            case,
            &primary_table,
            std::slice::from_ref(&replica_table),
            &event,
        )
        .await?;
    figures.one_target_read_calls = read_calls(&calls);
    bench.compare(&primary_table, &replica_table).await?;
    Bench::drop_table(&bench.admin_replica, &replica_table).await;
    // Every run's reads must be the one-target run's; the first that differs is kept.
    figures.read_calls = figures.one_target_read_calls;
    let note_reads = |figures: &mut TargetsFigures, calls: &BTreeMap<String, u64>| {
        if figures.read_calls == figures.one_target_read_calls {
            figures.read_calls = read_calls(calls);
        }
    };

    // One untimed run of each, then interleaved pairs, as for one target.
    for handler_turn in [true, false] {
        let tables = bench.fresh_replicas(case, &pool).await?;
        if handler_turn {
            let (_, calls) = bench
                .handler_to(case, &primary_table, &tables, &event)
                .await?;
            note_reads(&mut figures, &calls);
            for table in &tables {
                bench.compare(&primary_table, table).await?;
            }
        } else {
            bench
                .floor_to(&primary_table, &tables, distinct.clone())
                .await?;
        }
        bench.drop_tables(&tables).await;
    }

    let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    for rep in 0..case.reps {
        // Interleaved, alternating which goes first, so drift favours neither.
        let (mut pair, mut cpu_pair) = ([0.0; 2], [0.0; 2]);
        for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
            let tables = bench.fresh_replicas(case, &pool).await?;
            if handler_turn {
                let (run, calls) = bench
                    .handler_to(case, &primary_table, &tables, &event)
                    .await?;
                note_reads(&mut figures, &calls);
                figures.cpu_seconds = figures.cpu_seconds.min(run.cpu_seconds);
                if run.seconds < figures.seconds {
                    figures.seconds = run.seconds;
                    figures.write_calls = calls.get("BatchWriteItem").copied().unwrap_or(0);
                }
                pair[0] = run.seconds;
                cpu_pair[0] = run.cpu_seconds;
            } else {
                let keys = distinct.clone();
                let run = bench.floor_to(&primary_table, &tables, keys).await?;
                figures.floor_cpu_seconds = figures.floor_cpu_seconds.min(run.cpu_seconds);
                figures.floor_seconds = figures.floor_seconds.min(run.seconds);
                pair[1] = run.seconds;
                cpu_pair[1] = run.cpu_seconds;
            }
            bench.drop_tables(&tables).await;
        }
        ratios.push(pair[0] / pair[1]);
        cpu_ratios.push(cpu_pair[0] / cpu_pair[1]);
    }
    figures.ratio_median = median(ratios);
    figures.cpu_ratio_median = median(cpu_ratios);
    Bench::drop_table(&bench.admin_primary, &primary_table).await;
    Ok(figures)
}
