//! The replicator's CloudWatch metrics: a real batch against dynalite, then the EMF line the
//! recorder writes, parsed and checked: the `_aws.CloudWatchMetrics` envelope (namespace,
//! dimensions, metric names and units) and the values; no item content in it.

mod common;

use std::collections::HashMap;

use common::*;
use dyno::handler::Replicator;
use dyno::metrics::{self, names};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_batch_writes_one_emf_line_with_its_numbers() {
    let collector = metrics::install("dyno-replicator", "orders", "orders-copy").expect("install");
    let server = Server::dynalite();
    let primary = table(&server, "orders").await;
    let replica = table(&server, "orders-copy").await;
    create_table(&primary.client, "orders", &thread_schema()).await;
    create_table(&replica.client, "orders-copy", &thread_schema()).await;
    put_items(
        &primary.client,
        "orders",
        (0..30)
            .map(|i| thread_item("f", &format!("s{i}"), "s3cr3t-body"))
            .collect(),
    )
    .await;
    let replicator = Replicator::connect(primary, replica, tuning())
        .await
        .unwrap();
    // 40 records: 30 keys present, 5 deleted keys, 5 repeats; and 2 unusable records.
    let mut data: Vec<Vec<u8>> = (0..35)
        .map(|i| thread_record("f", &format!("s{i}"), i))
        .collect();
    data.extend((0..5).map(|i| thread_record("f", &format!("s{i}"), 100 + i)));
    data.push(b"not a record".to_vec());
    data.push(b"{}".to_vec());
    let event = kinesis_event(data);

    let (_, summary) = replicator.handle(&event, None).await;
    let mut written = Vec::new();
    collector.flush(&mut written).expect("flush");

    let text = String::from_utf8(written).unwrap();
    assert!(!text.contains("s3cr3t"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    let envelope = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(envelope["Namespace"], "dyno");
    assert_eq!(
        envelope["Dimensions"],
        serde_json::json!([["FunctionName", "TablePair"]])
    );
    assert_eq!(line["FunctionName"], "dyno-replicator");
    assert_eq!(line["TablePair"], "orders -> orders-copy");
    assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    let units: HashMap<String, String> = envelope["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Name"].as_str().unwrap().to_owned(),
                m["Unit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        (names::RECORDS, "Count", Value::from(42)),
        (names::KEYS, "Count", Value::from(35)),
        (names::PUTS, "Count", Value::from(30)),
        (names::DELETES, "Count", Value::from(5)),
        (names::FAILED, "Count", Value::from(2)),
        (names::UNUSABLE, "Count", Value::from(2)),
    ];
    for (name, unit, value) in expected {
        assert_eq!(
            units.get(name).map(String::as_str),
            Some(unit),
            "{name}: {line}"
        );
        assert_eq!(line[name], value, "{name}");
    }
    // Nothing was dead-lettered: a zero is not written (EMF counters carry deltas).
    assert!(!units.contains_key(names::DEAD_LETTERED));
    assert_eq!(units[names::DURATION], "Milliseconds");
    assert_eq!(units[names::LAG], "Milliseconds");
    assert_eq!(units[names::LAG_MAX], "Milliseconds");
    let lags = line[names::LAG].as_array().unwrap();
    assert_eq!(lags.len(), 40, "one lag per record done");
    let max = line[names::LAG_MAX].as_f64().unwrap();
    assert!(lags.iter().all(|l| l.as_f64().unwrap() <= max));
    assert_eq!(
        summary
            .lag_max
            .map(|l| l.as_secs_f64() * 1000.0)
            .unwrap()
            .round(),
        max.round()
    );
    assert!(
        line[names::DURATION]
            .as_array()
            .is_some_and(|d| d.len() == 1)
    );

    // The next batch writes its own numbers, not the sum.
    let (_, _) = replicator
        .handle(&kinesis_event(vec![thread_record("f", "s1", 7)]), None)
        .await;
    let mut written = Vec::new();
    collector.flush(&mut written).expect("flush");
    let line: Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(line[names::RECORDS], 1);
}
