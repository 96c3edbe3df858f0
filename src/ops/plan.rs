//! The cost model behind `dyno plan`: for a write load (writes per second, item size, the share
//! of writes that are distinct keys within a batch), the shards, Lambda work, primary reads and
//! replica writes dyno needs, their price per million writes, and DynamoDB Global Tables'
//! replicated writes for the same load. The replicator reads and writes each distinct key of a
//! batch once, so hot keys cost it less than replicating every write; its calls per distinct
//! key (1/100 reads + 1/25 writes = 0.05) are what `make bench` measures.

use crate::aws::limits;

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
        }
    }
}

/// Bytes of one key record on the stream (the seed's shape, a small key).
pub const KEY_RECORD_BYTES: f64 = 300.0;
/// A Kinesis shard takes 1,000 records and 1 MB a second.
const SHARD_RECORDS: f64 = 1000.0;
const SHARD_BYTES: f64 = 1_000_000.0;

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
    }
}

/// The plan for `load`, as lines a person reads.
pub fn describe(load: &Load, prices: &Prices) -> Vec<String> {
    let p = plan(load, prices);
    let c = &p.cost;
    vec![
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
        format!(
            "prices: us-east-1 on-demand list prices of November 2024 (DynamoDB ${}/M read \
             units, ${}/M write and replicated write units; Kinesis ${}/shard-hour; Lambda \
             arm64); check the AWS pricing pages; data transfer between regions is extra for \
             both; with a table's own DynamoDB stream as the source, the Kinesis line is zero",
            prices.read_units_per_million, prices.write_units_per_million, prices.shard_hour
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_index_adds_a_write_on_both_sides() {
        let load = |gsis| Load {
            gsis,
            ..Load::default()
        };
        let none = plan(&load(0.0), &Prices::default()).cost;
        let two = plan(&load(2.0), &Prices::default()).cost;
        assert_eq!(none.replica_index_writes, 0.0);
        let per_write = Prices::default().write_units_per_million;
        assert!((two.replica_index_writes - 2.0 * per_write).abs() < 1e-9);
        assert!((two.global_tables_index_writes - 2.0 * per_write).abs() < 1e-9);
        assert!((two.dyno() - none.dyno() - 2.0 * per_write).abs() < 1e-9);
    }

    #[test]
    fn the_calls_per_record_match_what_the_bench_measures() {
        // 10,000 records over 10,000 keys: 500 calls (0.05 a record); over 2,000 keys: 100.
        let batch = |distinct_fraction| Load {
            writes_per_second: 10_000.0,
            batch_size: 10_000.0,
            distinct_fraction,
            ..Load::default()
        };
        let all = plan(&batch(1.0), &Prices::default());
        assert_eq!((all.shards, all.records_per_batch), (10, 1000.0));
        let one_shard = Load {
            writes_per_second: 1000.0,
            batching_window_s: 10.0,
            batch_size: 10_000.0,
            ..batch(1.0)
        };
        let p = plan(&one_shard, &Prices::default());
        assert_eq!((p.records_per_batch, p.calls_per_batch), (10_000.0, 500.0));
        assert!((p.calls_per_write - 0.05).abs() < 1e-9);
        let hot = plan(
            &Load {
                distinct_fraction: 0.2,
                ..one_shard
            },
            &Prices::default(),
        );
        assert_eq!(hot.calls_per_batch, 100.0);
        assert!((hot.calls_per_write - 0.01).abs() < 1e-9);
    }

    #[test]
    fn shards_follow_records_and_bytes() {
        let p = |w| {
            plan(
                &Load {
                    writes_per_second: w,
                    ..Load::default()
                },
                &Prices::default(),
            )
            .shards
        };
        assert_eq!((p(10.0), p(999.0), p(1001.0), p(5000.0)), (1, 1, 2, 5));
    }

    #[test]
    fn hot_keys_make_dyno_cheaper_than_replicating_every_write() {
        let prices = Prices::default();
        let every = plan(&Load::default(), &prices);
        let hot = plan(
            &Load {
                distinct_fraction: 0.1,
                ..Load::default()
            },
            &prices,
        );
        // Replica writes scale with distinct keys; Global Tables with every write.
        assert!((every.cost.replica_writes - every.cost.global_tables).abs() < 1e-9);
        assert!((hot.cost.replica_writes * 10.0 - hot.cost.global_tables).abs() < 1e-9);
        assert!(hot.cost.dyno() < hot.cost.global_tables, "{:?}", hot.cost);
        assert!(
            every.cost.dyno() > every.cost.global_tables,
            "{:?}",
            every.cost
        );
    }
}
