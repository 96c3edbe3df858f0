//! The cost model behind `dyno plan`: for a write load (writes per second, item size, the share
//! of writes that are distinct keys within a batch), the shards, Lambda work, primary reads and
//! replica writes dyno needs, their price per million writes, and DynamoDB Global Tables'
//! replicated writes for the same load. The replicator reads and writes each distinct key of a
//! batch once, so hot keys cost it less than replicating every write; its calls per distinct
//! key (1/100 reads + 1/25 writes = 0.05) are what `make bench` measures.
//!
//! Also what Kinesis enhanced fan-out (EFO, the template's `EnhancedFanOut`) adds: its
//! consumer-shard hours and data retrievals, and the lag budget with and without it (records
//! polled once a second after a batching window, or pushed in about 70 ms with none), next to
//! Global Tables' "typically within one second".

use crate::aws::limits;
use crate::ops::plan_memory::{self, BatchWork};

/// List prices used, in USD, us-east-1, on-demand (published November 2024, when DynamoDB
/// on-demand prices were halved). They change: check the AWS pricing pages before deciding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// Kinesis Data Streams, provisioned: per shard-hour, and per million PUT payload units
    /// (25 KB each).
    pub shard_hour: f64,
    pub put_units_per_million: f64,
    /// Lambda, arm64: per GB-second and per million requests.
    pub lambda_gb_second: f64,
    pub lambda_requests_per_million: f64,
    /// DynamoDB on-demand: per million read request units (4 KB strongly consistent) and write
    /// request units (1 KB), and per million replicated write request units (Global Tables).
    pub read_units_per_million: f64,
    pub write_units_per_million: f64,
    pub replicated_write_units_per_million: f64,
    /// Kinesis Data Streams enhanced fan-out, provisioned mode: per consumer-shard hour, and
    /// per GB the consumer retrieves.
    pub efo_consumer_shard_hour: f64,
    pub efo_retrieval_per_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            shard_hour: 0.015,
            put_units_per_million: 0.014,
            lambda_gb_second: 0.000_013_333_4,
            lambda_requests_per_million: 0.20,
            read_units_per_million: 0.125,
            write_units_per_million: 0.625,
            replicated_write_units_per_million: 0.625,
            // Enhanced fan-out, provisioned mode, US East (N. Virginia): $0.015 per
            // consumer-shard hour and $0.013 per GB of data retrievals, as the Kinesis Data
            // Streams pricing page (aws.amazon.com/kinesis/data-streams/pricing, provisioned tab)
            // gives them according to current third-party summaries of it (c3x.dev,
            // awsnegotiations.com); the copy of AWS's page read for this did not reach that tab.
            efo_consumer_shard_hour: 0.015,
            efo_retrieval_per_gb: 0.013,
        }
    }
}

/// The load to plan for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    pub writes_per_second: f64,
    pub item_kb: f64,
    /// Distinct keys per record within a batch (1: every write a new key; 0.1: hot keys).
    pub distinct_fraction: f64,
    /// The event source mapping's batch size and batching window.
    pub batch_size: f64,
    pub batching_window_s: f64,
    /// The function's memory, and the time one DynamoDB call takes (for the Lambda duration).
    pub memory_mb: f64,
    pub call_ms: f64,
    /// DynamoDB calls in flight at once per invocation (`REPLICATOR_CONCURRENCY`).
    pub concurrency: f64,
    /// Global secondary indexes on the replica: each replicated write also writes each index
    /// it touches (counted as touching every one: an upper bound).
    pub gsis: f64,
    /// The replicator's time for one batch, in ms (what `make bench` measures); `None`: the
    /// model's Lambda duration for the batch ([`Plan::invocation_seconds`]).
    pub batch_ms: Option<f64>,
    /// The replicator's CPU per record, in µs (what `make bench` measures), and the lag the
    /// memory size is chosen within (see `plan_memory`).
    pub cpu_us_per_record: f64,
    pub lag_target_ms: f64,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            writes_per_second: 500.0,
            item_kb: 1.0,
            distinct_fraction: 1.0,
            batch_size: 1000.0,
            batching_window_s: 1.0,
            memory_mb: 256.0,
            call_ms: 10.0,
            concurrency: 8.0,
            gsis: 0.0,
            batch_ms: None,
            cpu_us_per_record: plan_memory::MEASURED_CPU_US_PER_RECORD,
            lag_target_ms: 3000.0,
        }
    }
}

/// Bytes of one key record on the stream (the seed's shape, a small key).
pub const KEY_RECORD_BYTES: f64 = 300.0;
/// A Kinesis shard takes 1,000 records and 1 MB a second.
const SHARD_RECORDS: f64 = 1000.0;
const SHARD_BYTES: f64 = 1_000_000.0;
/// Hours in a month, as AWS's price examples count them.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// A GB of Kinesis data retrievals (2^30 bytes).
const GB: f64 = 1_073_741_824.0;
/// Lambda polls each shard once a second (without enhanced fan-out).
pub const POLL_MS: f64 = 1000.0;
/// Enhanced fan-out pushes a record to its consumer in "typically an average of 70 ms" (the
/// Kinesis Data Streams developer guide, comparing consumers).
pub const EFO_PUSH_MS: f64 = 70.0;

/// What the load needs, and costs per million writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub shards: u32,
    pub records_per_batch: f64,
    pub distinct_keys_per_batch: f64,
    pub invocations_per_second: f64,
    /// DynamoDB calls per batch (reads of 100 keys, writes of 25) and per write.
    pub calls_per_batch: f64,
    pub calls_per_write: f64,
    pub invocation_seconds: f64,
    /// Primary read units and replica write units per second.
    pub read_units_per_second: f64,
    pub write_units_per_second: f64,
    pub cost: Cost,
    pub efo: Efo,
    pub lag: Lag,
}

/// What enhanced fan-out adds, for the plan's shards: one consumer (the replicator's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efo {
    /// Dollars per million writes: consumer-shard hours, and the key records retrieved.
    pub consumer_shard_hours: f64,
    pub retrievals: f64,
    /// Dollars a month ([`HOURS_PER_MONTH`]) at this load, and the GB retrieved in it.
    pub per_month: f64,
    pub gb_per_month: f64,
}

impl Efo {
    pub fn per_million(&self) -> f64 {
        self.consumer_shard_hours + self.retrievals
    }
}

/// From a write on the primary to its key replicated, in ms, before the replicator's own time:
/// the wait for the event source mapping to read the record, its batching window, and the
/// replicator's time for the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// The replicator's time for one batch (`Load::batch_ms`, or the model's duration).
    pub batch_ms: f64,
    /// Polled: up to a second's wait, the batching window, the batch.
    pub polling_window_ms: f64,
    pub polling_ms: f64,
    /// Enhanced fan-out: ~70 ms push, no batching window (the template sets 0), the batch.
    pub efo_ms: f64,
}

/// Dollars per million writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub kinesis: f64,
    pub lambda: f64,
    pub primary_reads: f64,
    pub replica_writes: f64,
    /// The replica's index writes (standard write units, per index a write touches).
    pub replica_index_writes: f64,
    /// Global Tables' replicated writes for the same million writes, and the replica region's
    /// index writes they cause.
    pub global_tables: f64,
    pub global_tables_index_writes: f64,
}

impl Cost {
    pub fn dyno(&self) -> f64 {
        self.kinesis
            + self.lambda
            + self.primary_reads
            + self.replica_writes
            + self.replica_index_writes
    }

    pub fn global_tables_total(&self) -> f64 {
        self.global_tables + self.global_tables_index_writes
    }
}

/// The plan for `load` at `prices`.
pub fn plan(load: &Load, prices: &Prices) -> Plan {
    let w = load.writes_per_second.max(0.001);
    let shards = (w / SHARD_RECORDS)
        .max(w * KEY_RECORD_BYTES / SHARD_BYTES)
        .ceil()
        .max(1.0);
    // Each shard hands over what arrived in the batching window, up to the batch size.
    let records_per_batch =
        (w / shards * load.batching_window_s.max(0.001)).clamp(1.0, load.batch_size.max(1.0));
    let distinct = (records_per_batch * load.distinct_fraction.clamp(0.0, 1.0)).max(1.0);
    let invocations_per_second = w / records_per_batch;
    let calls_per_batch = (distinct / limits::READ_KEYS as f64).ceil()
        + (distinct / limits::WRITE_REQUESTS as f64).ceil();
    let invocation_seconds =
        0.005 + calls_per_batch * load.call_ms / 1000.0 / load.concurrency.max(1.0);
    let read_units = (load.item_kb / 4.0).ceil().max(1.0);
    let write_units = load.item_kb.ceil().max(1.0);
    let reads_per_second = distinct * invocations_per_second;
    let million = 1_000_000.0;
    let hours_per_million = million / w / 3600.0;
    let cost = Cost {
        kinesis: shards * hours_per_million * prices.shard_hour + prices.put_units_per_million,
        lambda: (million / records_per_batch)
            * (invocation_seconds * load.memory_mb / 1024.0 * prices.lambda_gb_second
                + prices.lambda_requests_per_million / million),
        primary_reads: load.distinct_fraction * read_units * prices.read_units_per_million,
        replica_writes: load.distinct_fraction * write_units * prices.write_units_per_million,
        replica_index_writes: load.distinct_fraction
            * write_units
            * load.gsis
            * prices.write_units_per_million,
        global_tables: write_units * prices.replicated_write_units_per_million,
        global_tables_index_writes: write_units * load.gsis * prices.write_units_per_million,
    };
    let efo = efo_cost(w, shards, prices);
    let lag = lag_budget(load, invocation_seconds);
    Plan {
        shards: shards as u32,
        records_per_batch,
        distinct_keys_per_batch: distinct,
        invocations_per_second,
        calls_per_batch,
        calls_per_write: calls_per_batch / records_per_batch,
        invocation_seconds,
        read_units_per_second: reads_per_second * read_units,
        write_units_per_second: reads_per_second * write_units,
        cost,
        efo,
        lag,
    }
}

/// What enhanced fan-out costs for `w` writes per second on `shards` shards: consumer-shard
/// hours and the key records retrieved.
fn efo_cost(w: f64, shards: f64, prices: &Prices) -> Efo {
    let million = 1_000_000.0;
    let hours_per_million = million / w / 3600.0;
    let gb_per_month = w * HOURS_PER_MONTH * 3600.0 * KEY_RECORD_BYTES / GB;
    Efo {
        consumer_shard_hours: shards * hours_per_million * prices.efo_consumer_shard_hour,
        retrievals: million * KEY_RECORD_BYTES / GB * prices.efo_retrieval_per_gb,
        per_month: shards * HOURS_PER_MONTH * prices.efo_consumer_shard_hour
            + gb_per_month * prices.efo_retrieval_per_gb,
        gb_per_month,
    }
}

/// The lag budget: polled (once a second, plus the batching window) or pushed (enhanced
/// fan-out), plus the replicator's time a batch (given, or the model's Lambda duration).
fn lag_budget(load: &Load, invocation_seconds: f64) -> Lag {
    let batch_ms = load.batch_ms.unwrap_or(invocation_seconds * 1000.0);
    let polling_window_ms = load.batching_window_s.max(0.0) * 1000.0;
    Lag {
        batch_ms,
        polling_window_ms,
        polling_ms: POLL_MS + polling_window_ms + batch_ms,
        efo_ms: EFO_PUSH_MS + batch_ms,
    }
}

/// The plan for `load`, as lines a person reads; with `efo`, what enhanced fan-out adds.
pub fn describe(load: &Load, prices: &Prices, efo: bool) -> Vec<String> {
    let p = plan(load, prices);
    let c = &p.cost;
    let mut lines = vec![
        format!(
            "load: {} writes/s of {} KB items, {:.0}% distinct keys within a batch",
            load.writes_per_second,
            load.item_kb,
            load.distinct_fraction * 100.0
        ),
        format!(
            "kinesis: {} shard(s) (1,000 records/s and 1 MB/s each)",
            p.shards
        ),
        format!(
            "lambda: {:.1} invocations/s, {:.0} records and {:.0} distinct keys a batch, {:.0} \
             DynamoDB calls a batch ({:.4} a write), ~{:.0} ms each at {} MB",
            p.invocations_per_second,
            p.records_per_batch,
            p.distinct_keys_per_batch,
            p.calls_per_batch,
            p.calls_per_write,
            p.invocation_seconds * 1000.0,
            load.memory_mb
        ),
        format!(
            "primary: {:.0} strongly consistent read units/s; replica: {:.0} write units/s",
            p.read_units_per_second, p.write_units_per_second
        ),
        format!(
            "per million writes: kinesis ${:.3}, lambda ${:.3}, primary reads ${:.3}, replica \
             writes ${:.3}, replica index writes ${:.3} ({} indexes): dyno ${:.3}",
            c.kinesis,
            c.lambda,
            c.primary_reads,
            c.replica_writes,
            c.replica_index_writes,
            load.gsis,
            c.dyno()
        ),
        format!(
            "global tables, same load: ${:.3} per million writes (replicated writes ${:.3}, \
             the replica's index writes ${:.3}; every write replicated; dyno writes each \
             distinct key of a batch once)",
            c.global_tables_total(),
            c.global_tables,
            c.global_tables_index_writes
        ),
        prices_line(prices),
    ];
    lines.extend(plan_memory::describe(
        &batch_work(load, &p),
        (
            prices.lambda_gb_second,
            prices.lambda_requests_per_million / 1e6,
        ),
        load.lag_target_ms,
    ));
    lines.extend(describe_lag(load, &p, efo));
    if efo {
        lines.extend(describe_efo(&p, prices));
    }
    lines
}

/// What one batch of the plan asks of the function, for sizing its memory: its calls' waiting
/// as the model has it, and the CPU the bench measured per record.
fn batch_work(load: &Load, p: &Plan) -> BatchWork {
    BatchWork {
        records: p.records_per_batch,
        io_ms: p.invocation_seconds * 1000.0,
        cpu_us_per_record: load.cpu_us_per_record,
        poll_and_window_ms: POLL_MS + load.batching_window_s.max(0.0) * 1000.0,
        batches_per_million: 1_000_000.0 / p.records_per_batch,
    }
}

/// Which prices the plan uses, and what it leaves out.
fn prices_line(prices: &Prices) -> String {
    format!(
        "prices: us-east-1 on-demand list prices of November 2024 (DynamoDB ${}/M read \
         units, ${}/M write and replicated write units; Kinesis ${}/shard-hour; Lambda \
         arm64); check the AWS pricing pages; data transfer between regions is extra for \
         both; with a table's own DynamoDB stream as the source, the Kinesis line is zero",
        prices.read_units_per_million, prices.write_units_per_million, prices.shard_hour
    )
}

/// The lag budget, polled (and with `efo`, pushed), next to Global Tables.
fn describe_lag(load: &Load, p: &Plan, efo: bool) -> Vec<String> {
    let lag = &p.lag;
    let batch = if load.batch_ms.is_some() {
        "given"
    } else {
        "the model's Lambda duration"
    };
    let mut lines = vec![
        format!(
            "replicator's time a batch: {:.0} ms ({batch}; `make bench` measures it, pass it \
             with --batch-ms)",
            lag.batch_ms
        ),
        format!(
            "lag budget, polled: up to {:.0} ms = {:.0} ms (Lambda polls each shard once a \
             second) + {:.0} ms batching window + {:.0} ms a batch; Global Tables: typically \
             within one second",
            lag.polling_ms, POLL_MS, lag.polling_window_ms, lag.batch_ms
        ),
    ];
    if efo {
        lines.push(format!(
            "lag budget, enhanced fan-out: ~{:.0} ms = ~{:.0} ms push (AWS's average) + 0 ms \
             batching window (EnhancedFanOut sets 0) + {:.0} ms a batch",
            lag.efo_ms, EFO_PUSH_MS, lag.batch_ms
        ));
    }
    lines
}

/// What enhanced fan-out costs for the plan's shards.
fn describe_efo(p: &Plan, prices: &Prices) -> Vec<String> {
    let e = &p.efo;
    vec![
        format!(
            "enhanced fan-out: ${:.3} per million writes (consumer-shard hours ${:.3}, data \
             retrievals ${:.3}); ${:.2} a month for {} consumer-shard(s) and {:.1} GB of key \
             records ({} h)",
            e.per_million(),
            e.consumer_shard_hours,
            e.retrievals,
            e.per_month,
            p.shards,
            e.gb_per_month,
            HOURS_PER_MONTH
        ),
        format!(
            "enhanced fan-out prices: ${}/consumer-shard hour, ${}/GB retrieved (us-east-1, \
             provisioned mode); the lambda line assumes the batching window: with none, batches \
             are smaller and invocations more frequent",
            prices.efo_consumer_shard_hour, prices.efo_retrieval_per_gb
        ),
    ]
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
