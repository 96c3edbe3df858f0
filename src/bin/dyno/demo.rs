//! The system's main job, locally: creates the tables and the stream, drives a mixed workload
//! through the writer while the local event source mapping replicates, then compares the tables.

use std::time::Duration;

use tokio::time::Instant;

use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::local::stop::Stop;
use dyno::local::workload::{self, HASH, RANGE, Spec};
use dyno::ops::admin::{self, AdminError};
use dyno::ops::diff::{Diff, compare};
use dyno::publish::writer::Writer;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

/// The demo failed; the message says at which step.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct DemoError {
    pub step: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn step<E: std::error::Error + Send + Sync + 'static>(
    step: &'static str,
) -> impl Fn(E) -> DemoError {
    move |e| DemoError {
        step,
        source: Box::new(e),
    }
}

/// What the demo runs on.
#[derive(Debug, Clone)]
pub struct Setup {
    pub primary: Table,
    pub replica: Table,
    pub stream: Stream,
    pub shards: i32,
    /// Delete and create the tables and the stream first (local servers only).
    pub recreate: bool,
}

/// What the demo saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub operations: usize,
    pub run: RunStats,
    pub diff: Diff,
    pub seconds: f64,
}

/// The demo table's key schema: the seed's ForumName (HASH, S) + Subject (RANGE, S).
pub fn schema() -> KeySchema {
    KeySchema::composite((HASH, ScalarType::S), (RANGE, ScalarType::S))
}

/// Creates the tables and the stream (or, with `recreate`, deletes and creates them). The demo
/// runs on local servers only: every endpoint is checked before anything is created or deleted.
pub async fn prepare(setup: &Setup, schema: &KeySchema) -> Result<(), AdminError> {
    let action = match setup.recreate {
        true => "the demo with --recreate",
        false => "the demo",
    };
    admin::all_local(
        action,
        &[
            admin::place_of(&setup.primary),
            admin::place_of(&setup.replica),
            admin::place_of_stream(&setup.stream),
        ],
    )?;
    let wait = admin::WAIT;
    if setup.recreate {
        admin::recreate_table(&setup.primary, schema, None, wait).await?;
        admin::recreate_table(&setup.replica, schema, None, wait).await?;
        admin::recreate_stream(&setup.stream, setup.shards, wait).await?;
    } else {
        admin::ensure_table(&setup.primary, schema, None, wait).await?;
        admin::ensure_table(&setup.replica, schema, None, wait).await?;
        admin::ensure_stream(&setup.stream, setup.shards, wait).await?;
    }
    Ok(())
}

/// Runs the demo: the tables and stream, `spec`'s workload through the writer while the runner
/// replicates, then a full comparison. `say` receives the progress lines.
pub async fn run(setup: &Setup, spec: &Spec, say: impl Fn(String)) -> Result<Report, DemoError> {
    let started = Instant::now();
    let schema = schema();
    prepare(setup, &schema).await.map_err(step("setup"))?;
    say(format!(
        "tables `{}` and `{}` and stream `{}` ready",
        setup.primary.name, setup.replica.name, setup.stream.name
    ));

    let writer = Writer::connect(setup.primary.clone(), setup.stream.clone())
        .await
        .map_err(step("writer"))?;
    let replicator = Replicator::connect(
        setup.primary.clone(),
        setup.replica.clone(),
        Tuning::default(),
    )
    .await
    .map_err(step("replicator"))?;
    let options = RunnerOptions {
        batch_size: 500,
        poll_interval: Duration::from_millis(50),
        ..RunnerOptions::default()
    };
    let runner = Runner::connect(setup.stream.clone(), options)
        .await
        .map_err(step("runner"))?;

    let ops = workload::generate(spec);
    let total = ops.len();
    say(format!(
        "writing {total} puts, updates and deletes over {} keys (seed {}) while replicating…",
        spec.keys, spec.seed
    ));
    let (stop, stopped) = Stop::on_request();
    let write = async {
        let every = (total / 10).max(1);
        let result = workload::apply(&writer, ops, 8, |done| {
            if done % every == 0 || done == total {
                say(format!("  written {done}/{total}"));
            }
        })
        .await;
        stop.stop();
        result
    };
    let (written, run) = tokio::join!(write, runner.run(&replicator, stopped));
    let operations = written.map_err(step("workload"))?;
    let run = run.map_err(step("replication"))?;

    let diff = compare(&setup.primary, &setup.replica)
        .await
        .map_err(step("compare"))?;
    Ok(Report {
        operations,
        run,
        diff,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The comparison, worded as it is.
fn compared(diff: &Diff) -> String {
    if diff.differences() == 0 {
        format!(
            "the replica matches the primary: {} items compared, 0 differences",
            diff.items
        )
    } else {
        format!(
            "the replica differs from the primary: {} missing, {} extra, {} different ({} items on the primary)",
            diff.missing.len(),
            diff.extra.len(),
            diff.different.len(),
            diff.items
        )
    }
}

/// The report as a user wants to read it.
pub fn describe(report: &Report) -> Vec<String> {
    let run = &report.run;
    let ms = |q| {
        run.lag_quantile(q)
            .map(|d| format!("{} ms", d.as_millis()))
            .unwrap_or_else(|| "-".into())
    };
    vec![
        format!(
            "records consumed: {} in {} batches ({} re-delivered, {} skipped)",
            run.records,
            run.batches,
            run.redelivered,
            run.skipped.len()
        ),
        format!(
            "keys replicated: {} ({} puts, {} deletes on the replica)",
            run.keys, run.puts, run.deletes
        ),
        format!(
            "replication lag (write to replica): p50 {}, p99 {}",
            ms(0.5),
            ms(0.99)
        ),
        compared(&report.diff),
        format!(
            "done in {:.1} s ({} writes through the writer)",
            report.seconds, report.operations
        ),
    ]
}
