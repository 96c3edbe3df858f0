//! The system's main job, locally: creates the tables and the stream, drives a mixed workload
//! through the writer while the local event source mapping replicates, then compares the tables.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Tuning;
use crate::diff::{Diff, compare};
use crate::handler::Replicator;
use crate::key::{KeySchema, ScalarType};
use crate::replicate::Tables;
use crate::runner::{RunStats, Runner, RunnerOptions};
use crate::workload::{self, HASH, RANGE, Spec};
use crate::writer::Writer;

/// The demo (or any setup step) failed; the message says which step.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct DemoError {
    pub step: &'static str,
    pub message: String,
}

fn step(step: &'static str) -> impl Fn(String) -> DemoError {
    move |message| DemoError { step, message }
}

/// The clients and names the demo uses.
#[derive(Debug, Clone)]
pub struct Setup {
    pub primary: Client,
    pub primary_table: String,
    pub replica: Client,
    pub replica_table: String,
    pub kinesis: aws_sdk_kinesis::Client,
    pub stream: String,
    pub shards: i32,
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

/// Creates an on-demand table with `schema`, replacing one of the same name.
pub async fn recreate_table(
    client: &Client,
    table: &str,
    schema: &KeySchema,
) -> Result<(), DemoError> {
    let _ = client.delete_table().table_name(table).send().await;
    wait_until(|| async {
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_err()
    })
    .await;
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    let attrs = std::iter::once((&schema.hash, KeyType::Hash))
        .chain(schema.range.iter().map(|r| (r, KeyType::Range)));
    for (attr, key_type) in attrs {
        let kind = match attr.kind {
            ScalarType::S => ScalarAttributeType::S,
            ScalarType::N => ScalarAttributeType::N,
            ScalarType::B => ScalarAttributeType::B,
        };
        let definition = AttributeDefinition::builder()
            .attribute_name(&attr.name)
            .attribute_type(kind)
            .build()
            .map_err(|e| step("CreateTable")(e.to_string()))?;
        let element = KeySchemaElement::builder()
            .attribute_name(&attr.name)
            .key_type(key_type)
            .build()
            .map_err(|e| step("CreateTable")(e.to_string()))?;
        request = request
            .attribute_definitions(definition)
            .key_schema(element);
    }
    request
        .send()
        .await
        .map_err(|e| step("CreateTable")(format!("{table}: {}", DisplayErrorContext(e))))?;
    Ok(())
}

/// Creates a stream with `shards` shards, replacing one of the same name, and waits until it
/// is active.
pub async fn recreate_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: i32,
) -> Result<(), DemoError> {
    let exists = || async {
        kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .is_ok()
    };
    if exists().await {
        let _ = kinesis.delete_stream().stream_name(stream).send().await;
        wait_until(|| async { !exists().await }).await;
    }
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .map_err(|e| {
            step("CreateStream")(format!(
                "{stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(e)
            ))
        })?;
    wait_until(|| async {
        kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .ok()
            .and_then(|s| {
                s.stream_description_summary()
                    .map(|d| d.stream_status().as_str() == "ACTIVE")
            })
            .unwrap_or(false)
    })
    .await;
    Ok(())
}

async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + Duration::from_secs(10);
    while !condition().await && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the demo: fresh tables and stream, `spec`'s workload through the writer while the
/// runner replicates, then a full comparison. `say` receives the progress lines.
pub async fn run(setup: &Setup, spec: &Spec, say: impl Fn(String)) -> Result<Report, DemoError> {
    let started = Instant::now();
    let schema = schema();
    recreate_table(&setup.primary, &setup.primary_table, &schema).await?;
    recreate_table(&setup.replica, &setup.replica_table, &schema).await?;
    recreate_stream(&setup.kinesis, &setup.stream, setup.shards).await?;
    say(format!(
        "tables `{}` and `{}` and stream `{}` ({} shards) ready",
        setup.primary_table, setup.replica_table, setup.stream, setup.shards
    ));

    let writer = Writer::connect(
        setup.primary.clone(),
        setup.kinesis.clone(),
        &setup.primary_table,
        &setup.stream,
    )
    .await
    .map_err(|e| step("writer")(e.to_string()))?;
    let tables = Tables {
        primary: setup.primary.clone(),
        primary_table: setup.primary_table.clone(),
        replica: setup.replica.clone(),
        replica_table: setup.replica_table.clone(),
    };
    let replicator = Replicator::connect(tables, Tuning::default())
        .await
        .map_err(|e| step("replicator")(e.to_string()))?;
    let options = RunnerOptions {
        batch_size: 500,
        poll_interval: Duration::from_millis(50),
        ..RunnerOptions::default()
    };
    let runner = Runner::connect(setup.kinesis.clone(), &setup.stream, options)
        .await
        .map_err(|e| step("runner")(e.to_string()))?;

    let ops = workload::generate(spec);
    let total = ops.len();
    say(format!(
        "writing {total} puts, updates and deletes over {} keys (seed {}) while replicating…",
        spec.keys, spec.seed
    ));
    let (stop, stopped) = watch::channel(false);
    let write = async {
        let every = (total / 10).max(1);
        let result = workload::apply(&writer, ops, 8, |done| {
            if done % every == 0 || done == total {
                say(format!("  written {done}/{total}"));
            }
        })
        .await;
        let _ = stop.send(true);
        result
    };
    let (written, run) = tokio::join!(write, runner.run(&replicator, stopped));
    let operations = written.map_err(|e| step("workload")(e.to_string()))?;
    let run = run.map_err(|e| step("replication")(e.to_string()))?;

    let diff = compare(
        (&setup.primary, &setup.primary_table),
        (&setup.replica, &setup.replica_table),
        &schema,
    )
    .await
    .map_err(|e| step("compare")(e.to_string()))?;
    Ok(Report {
        operations,
        run,
        diff,
        seconds: started.elapsed().as_secs_f64(),
    })
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
        format!(
            "replica matches primary: {} items, {} differences",
            report.diff.items,
            report.diff.differences()
        ),
        format!("done in {:.1} s", report.seconds),
    ]
}
