//! A several-target case (`targets-3`): the handler writing every key whole to `case.targets`
//! fresh tables against a floor that reads the keys once and writes what came back to every
//! table (see [`Bench::floor_to`]), interleaved as for one target; and the primary's reads
//! against those of the same event replicated to one target (one read per key, whatever the
//! number of targets).

use std::collections::BTreeMap;

use super::Case;
use super::shared::{Bench, Pairs, Prepared, Run, read_calls};
use crate::shared::{Line, Report};

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
    /// The handler's and the floor's runs, seconds and this process's CPU (user + system).
    pairs: Pairs,
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
    let (handler, floor) = (f.pairs.handler(), f.pairs.floor());
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
        handler.seconds,
        records / handler.seconds,
        floor.seconds,
        handler.seconds / floor.seconds,
        TARGETS_RATIO_GOAL,
        f.pairs.ratio_median(),
        case.reps,
        handler.cpu_seconds,
        floor.cpu_seconds,
        handler.cpu_seconds / floor.cpu_seconds,
        f.pairs.cpu_ratio_median(),
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
    let mut figures = TargetsFigures::default();

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

    for rep in 0..case.reps {
        // Interleaved, alternating which goes first, so drift favours neither.
        let (mut handler, mut floor) = (Run::default(), Run::default());
        for handler_turn in [rep % 2 == 0, rep % 2 != 0] {
            let tables = bench.fresh_replicas(case, &pool).await?;
            if handler_turn {
                let calls;
                (handler, calls) = bench
                    .handler_to(case, &primary_table, &tables, &event)
                    .await?;
                note_reads(&mut figures, &calls);
                if handler.seconds < figures.pairs.handler().seconds {
                    figures.write_calls = calls.get("BatchWriteItem").copied().unwrap_or(0);
                }
            } else {
                let keys = distinct.clone();
                floor = bench.floor_to(&primary_table, &tables, keys).await?;
            }
            bench.drop_tables(&tables).await;
        }
        figures.pairs.push(handler, floor);
    }
    Bench::drop_table(&bench.admin_primary, &primary_table).await;
    Ok(figures)
}
