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
    let gb_per_month = w * HOURS_PER_MONTH * 3600.0 * KEY_RECORD_BYTES / GB;
    let efo = Efo {
        consumer_shard_hours: shards * hours_per_million * prices.efo_consumer_shard_hour,
        retrievals: million * KEY_RECORD_BYTES / GB * prices.efo_retrieval_per_gb,
        per_month: shards * HOURS_PER_MONTH * prices.efo_consumer_shard_hour
            + gb_per_month * prices.efo_retrieval_per_gb,
        gb_per_month,
    };
    let batch_ms = load.batch_ms.unwrap_or(invocation_seconds * 1000.0);
    let polling_window_ms = load.batching_window_s.max(0.0) * 1000.0;
    let lag = Lag {
        batch_ms,
        polling_window_ms,
        polling_ms: POLL_MS + polling_window_ms + batch_ms,
        efo_ms: EFO_PUSH_MS + batch_ms,
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
        efo,
        lag,
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
        format!(
            "prices: us-east-1 on-demand list prices of November 2024 (DynamoDB ${}/M read \
             units, ${}/M write and replicated write units; Kinesis ${}/shard-hour; Lambda \
             arm64); check the AWS pricing pages; data transfer between regions is extra for \
             both; with a table's own DynamoDB stream as the source, the Kinesis line is zero",
            prices.read_units_per_million, prices.write_units_per_million, prices.shard_hour
        ),
    ];
    lines.extend(describe_lag(load, &p, efo));
    if efo {
        lines.extend(describe_efo(&p, prices));
    }
    lines
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

    /// 500 writes/s of 300-byte key records on 1 shard, a 1 s window: batches of 500 keys, 25
    /// calls of 10 ms, 8 at a time: 5 + 31.25 = 36.25 ms a batch.
    #[test]
    fn lag_budget_polled_and_pushed() {
        let p = plan(&Load::default(), &Prices::default());
        assert_eq!(
            (p.shards, p.records_per_batch, p.calls_per_batch),
            (1, 500.0, 25.0)
        );
        assert!((p.lag.batch_ms - 36.25).abs() < 1e-9, "{:?}", p.lag);
        assert!((p.lag.polling_ms - 2036.25).abs() < 1e-9, "{:?}", p.lag);
        assert!((p.lag.efo_ms - 106.25).abs() < 1e-9, "{:?}", p.lag);

        // A measured batch time, and no batching window.
        let measured = plan(
            &Load {
                batch_ms: Some(250.0),
                batching_window_s: 0.0,
                ..Load::default()
            },
            &Prices::default(),
        );
        assert_eq!(measured.lag.batch_ms, 250.0);
        assert_eq!(measured.lag.polling_window_ms, 0.0);
        assert_eq!(measured.lag.polling_ms, 1250.0);
        assert_eq!(measured.lag.efo_ms, 320.0);
    }

    #[test]
    fn enhanced_fan_out_costs_consumer_shard_hours_and_retrievals() {
        let prices = Prices::default();
        // 500 writes/s, 1 shard: a million writes take 2,000 s (5/9 h).
        let one = plan(&Load::default(), &prices).efo;
        assert!((one.consumer_shard_hours - 0.015 * 2000.0 / 3600.0).abs() < 1e-12);
        assert!((one.consumer_shard_hours - 0.008_333_333_333).abs() < 1e-9);
        // A million 300-byte records: 0.2794 GB.
        assert!((one.retrievals - 300e6 / 1_073_741_824.0 * 0.013).abs() < 1e-12);
        assert!((one.retrievals - 0.003_632_158).abs() < 1e-9);
        assert!((one.per_million() - 0.011_965_491).abs() < 1e-8);
        // A month: 730 h of 1 consumer-shard ($10.95) and 367.127 GB ($4.7727).
        assert!((one.gb_per_month - 367.127_358_913).abs() < 1e-6);
        assert!((one.per_month - 15.722_655_666).abs() < 1e-6);

        // 2,000 writes/s on 2 shards: per million, the same hours per shard-second.
        let two = plan(
            &Load {
                writes_per_second: 2000.0,
                ..Load::default()
            },
            &prices,
        );
        assert_eq!(two.shards, 2);
        assert!((two.efo.consumer_shard_hours - 2.0 * 0.015 * 500.0 / 3600.0).abs() < 1e-12);
        assert!((two.efo.retrievals - one.retrievals).abs() < 1e-12);
        assert!((two.efo.per_month - (21.9 + 4.0 * 4.772_655_666)).abs() < 1e-6);
    }

    #[test]
    fn the_efo_lines_only_with_efo() {
        let load = Load::default();
        let without = describe(&load, &Prices::default(), false);
        let with = describe(&load, &Prices::default(), true);
        let has = |lines: &[String], text: &str| lines.iter().any(|l| l.contains(text));
        assert!(
            has(&without, "lag budget, polled: up to 2036 ms"),
            "{without:#?}"
        );
        assert!(has(&without, "`make bench` measures it"));
        assert!(has(&without, "typically within one second"));
        assert!(!has(&without, "enhanced fan-out"), "{without:#?}");
        assert!(
            has(&with, "lag budget, enhanced fan-out: ~106 ms"),
            "{with:#?}"
        );
        assert!(
            has(
                &with,
                "enhanced fan-out: $0.012 per million writes (consumer-shard hours $0.008, data retrievals $0.004); $15.72 a month for 1 consumer-shard(s)"
            ),
            "{with:#?}"
        );
        assert_eq!(with.len(), without.len() + 3);
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
