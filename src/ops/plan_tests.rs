//! Tests of `plan.rs`: the cost model's arithmetic, figure by figure.

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
