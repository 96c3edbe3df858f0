//! What the replicator's cases share: the servers and the clients (the measured ones counted),
//! fresh replica tables, a case's filled primary and its event, the check of a run's counts, and
//! the comparison of a replica with the primary.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::Client;

use super::Case;
use crate::common::calls::CallCounter;
use crate::common::{self, Item, create_table, s, thread_schema};
use crate::shared::{Own, body_pool, median, own_cpu_seconds, sized_item};
use dyno::aws::key::KeySchema;
use dyno::replicate::tuning::Tuning;

pub struct Bench {
    _primary_server: Own,
    _replica_server: Own,
    /// Measured clients (the handler's, the floor's and the naive loop's), counted.
    pub primary: Client,
    pub replica: Client,
    pub calls: CallCounter,
    /// Set-up and inspection clients, not counted.
    pub admin_primary: Client,
    pub admin_replica: Client,
    pub primary_endpoint: String,
    pub replica_endpoint: String,
    pub tuning: Tuning,
    pub schema: KeySchema,
    tables: AtomicUsize,
}

/// A case's primary table (filled), its event, and its distinct keys in the order the handler
/// meets them, reversed (the floor's workers take from the end).
pub struct Prepared {
    pub pool: String,
    pub primary_table: String,
    pub event: KinesisEvent,
    pub distinct: Vec<Item>,
}

/// One measured call (of the handler, or of the floor): its seconds, and this process's CPU
/// time (user + system) over the same span.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    pub seconds: f64,
    pub cpu_seconds: f64,
}

impl Run {
    /// Runs `call`, measured.
    pub async fn of<T>(call: impl Future<Output = T>) -> (Run, T) {
        let cpu = own_cpu_seconds();
        let started = Instant::now();
        let output = call.await;
        let run = Run {
            seconds: started.elapsed().as_secs_f64(),
            cpu_seconds: own_cpu_seconds() - cpu,
        };
        (run, output)
    }
}

/// A case's interleaved reps, each a run of the handler and one of its floor: the least of each
/// side (seconds and CPU each on its own), and the medians of the ratios within a rep (this
/// VM's slow spells move both runs of a rep, and cancel out).
#[derive(Debug, Default)]
pub struct Pairs(Vec<[Run; 2]>);

impl Pairs {
    pub fn push(&mut self, handler: Run, floor: Run) {
        self.0.push([handler, floor]);
    }

    pub fn handler(&self) -> Run {
        self.least(0)
    }

    pub fn floor(&self) -> Run {
        self.least(1)
    }

    pub fn ratio_median(&self) -> f64 {
        median(self.0.iter().map(|[h, f]| h.seconds / f.seconds).collect())
    }

    pub fn cpu_ratio_median(&self) -> f64 {
        median(
            self.0
                .iter()
                .map(|[h, f]| h.cpu_seconds / f.cpu_seconds)
                .collect(),
        )
    }

    fn least(&self, side: usize) -> Run {
        let least = Run {
            seconds: f64::INFINITY,
            cpu_seconds: f64::INFINITY,
        };
        self.0.iter().fold(least, |least, pair| Run {
            seconds: least.seconds.min(pair[side].seconds),
            cpu_seconds: least.cpu_seconds.min(pair[side].cpu_seconds),
        })
    }
}

impl Bench {
    pub async fn start() -> Bench {
        let primary_server = Own::dynalite();
        let replica_server = Own::dynalite();
        let tuning = Tuning::default();
        let calls = CallCounter::default();
        let counted = Some(&calls);
        let primary =
            common::client_at(&primary_server.endpoint, "us-east-1", &tuning, counted).await;
        let replica =
            common::client_at(&replica_server.endpoint, "us-east-1", &tuning, counted).await;
        Bench {
            admin_primary: common::client(&primary_server).await,
            admin_replica: common::client(&replica_server).await,
            primary_endpoint: primary_server.endpoint.clone(),
            replica_endpoint: replica_server.endpoint.clone(),
            _primary_server: primary_server,
            _replica_server: replica_server,
            primary,
            replica,
            calls,
            tuning,
            schema: thread_schema(),
            tables: AtomicUsize::new(0),
        }
    }

    /// A fresh replica table (names are never reused); for cases with deletes it holds stale
    /// copies of the keys that are absent from the primary.
    pub async fn fresh_replica(&self, case: &Case, pool: &str) -> Result<String, String> {
        let n = self.tables.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench-replica-{n}");
        create_table(&self.admin_replica, &name, &self.schema).await;
        wait_active(&self.admin_replica, &name).await?;
        let stale: Vec<Item> = (0..case.keys)
            .filter(|&k| !case.present(k))
            .map(|k| item(k, case.item_bytes, pool))
            .collect();
        if !stale.is_empty() {
            common::put_items(&self.admin_replica, &name, stale).await;
        }
        Ok(name)
    }

    /// `case.targets` fresh tables on the replica server.
    pub async fn fresh_replicas(&self, case: &Case, pool: &str) -> Result<Vec<String>, String> {
        let mut tables = Vec::with_capacity(case.targets);
        for _ in 0..case.targets {
            tables.push(self.fresh_replica(case, pool).await?);
        }
        Ok(tables)
    }

    pub async fn drop_table(client: &Client, name: &str) {
        let _ = client.delete_table().table_name(name).send().await;
    }

    pub async fn drop_tables(&self, tables: &[String]) {
        for table in tables {
            Bench::drop_table(&self.admin_replica, table).await;
        }
    }

    /// The case's primary table, filled; its event; and its distinct keys for the floor.
    pub async fn prepare(&self, case: &Case) -> Result<Prepared, String> {
        let pool = body_pool(2 * case.item_bytes);
        let primary_table = format!("bench-primary-{}", case.name);
        create_table(&self.admin_primary, &primary_table, &self.schema).await;
        wait_active(&self.admin_primary, &primary_table).await?;
        // Filled in slices, so the parent never holds much more than a slice of items.
        let present: Vec<usize> = (0..case.keys).filter(|&k| case.present(k)).collect();
        for slice in present.chunks(1000) {
            let items = slice
                .iter()
                .map(|&k| item(k, case.item_bytes, &pool))
                .collect();
            common::put_items(&self.admin_primary, &primary_table, items).await;
        }
        let event = case.event();
        // The floor reads the keys in the order the handler meets them (its workers take from
        // the end of this list).
        let mut seen = HashSet::new();
        let mut distinct: Vec<Item> = (0..case.records)
            .map(|r| case.key_of_record(r))
            .filter(|&k| seen.insert(k))
            .map(key_item)
            .collect();
        distinct.reverse();
        Ok(Prepared {
            pool,
            primary_table,
            event,
            distinct,
        })
    }

    /// Whether the replica table holds exactly what the primary table holds.
    pub async fn compare(&self, primary_table: &str, replica_table: &str) -> Result<(), String> {
        let diff = dyno::ops::diff::compare(
            &common::table_of(&self.admin_primary, primary_table),
            &common::table_of(&self.admin_replica, replica_table),
        )
        .await
        .map_err(|e| e.to_string())?;
        if diff.differences() > 0 {
            return Err(format!(
                "replica {replica_table} differs from primary {primary_table}: {} missing, {} extra, {} different of {} items",
                diff.missing.len(),
                diff.extra.len(),
                diff.different.len(),
                diff.items
            ));
        }
        Ok(())
    }
}

pub fn forum(k: usize) -> String {
    format!("forum-{:02}", k % 16)
}

pub fn subject(k: usize) -> String {
    format!("subject-{k:06}")
}

fn key_item(k: usize) -> Item {
    Item::from([
        ("ForumName".to_owned(), s(&forum(k))),
        ("Subject".to_owned(), s(&subject(k))),
    ])
}

/// Item `k`, `item_bytes` in DynamoDB's measure (names plus values), with a varied body.
fn item(k: usize, item_bytes: usize, pool: &str) -> Item {
    sized_item(&forum(k), &subject(k), item_bytes, pool, k)
}

/// The primary's reads among `calls` (only the engine's reads are `BatchGetItem`s).
pub fn read_calls(calls: &BTreeMap<String, u64>) -> u64 {
    calls.get("BatchGetItem").copied().unwrap_or(0)
}

/// `(failed records, keys, puts, deletes)` must be what the case implies.
pub fn check(case: &Case, who: &str, got: (usize, usize, usize, usize)) -> Result<(), String> {
    let present = case.present_keys();
    let expected = (0, case.keys, present, case.keys - present);
    if got != expected {
        return Err(format!(
            "{who}: (failed, keys, puts, deletes) = {got:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

/// Waits until a new table is ACTIVE (dynalite's `--createTableMs 0` still takes an event-loop
/// turn, and a busy machine can slip a request in before it).
async fn wait_active(client: &Client, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::TableStatus;
    for _ in 0..200 {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .ok()
            .and_then(|d| d.table?.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(format!("table {table} did not become ACTIVE"))
}
