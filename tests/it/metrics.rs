//! The replicator's CloudWatch metrics: a real batch against dynalite, then the EMF line the
//! recorder writes, parsed and checked: the `_aws.CloudWatchMetrics` envelope (namespace,
//! dimensions, metric names and units) and the values; no item content in it.

use crate::common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use common::{alone, oracle};
use dyno::replicate::metrics::{self, names};
use dyno::replicate::replicator::Replicator;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_batch_writes_one_emf_line_with_its_numbers() {
    // The recorder is the process's: other tests' batches would be counted in it.
    let name = "each_batch_writes_one_emf_line_with_its_numbers";
    if !alone::in_own_process(&format!("{}::{name}", module_path!())) {
        return;
    }
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
    let (primary_client, replica_client) = (primary.client.clone(), replica.client.clone());
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

    // What the line must say, counted here: the records of the event, its usable records' keys
    // (read from the records as built), and which of those keys the primary holds (a scan).
    let records = event.records.len();
    let mut keys = BTreeSet::new();
    let mut unusable = 0;
    for record in &event.records {
        let parsed: Option<Value> = serde_json::from_slice(&record.kinesis.data).ok();
        let key = parsed.as_ref().and_then(|r| {
            let keys = &r["dynamodb"]["Keys"];
            Some((
                keys["ForumName"]["S"].as_str()?.to_owned(),
                keys["Subject"]["S"].as_str()?.to_owned(),
            ))
        });
        match key {
            Some(key) => {
                keys.insert(key);
            }
            None => unusable += 1,
        }
    }
    let on_primary: BTreeSet<(String, String)> =
        scan_all(&primary_client, "orders", &thread_schema())
            .await
            .values()
            .map(|item| match (&item["ForumName"], &item["Subject"]) {
                (AttributeValue::S(f), AttributeValue::S(s)) => (f.clone(), s.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
    let present = keys.intersection(&on_primary).count();
    let absent = keys.len() - present;
    let done = records - unusable;

    let before = chrono::Utc::now();
    let (_, summary) = replicator.handle(&event, None).await;
    let after = chrono::Utc::now();
    let mut written = Vec::new();
    collector.flush(&mut written).expect("flush");
    assert_eq!(summary.failed_records, unusable);
    assert_eq!(
        oracle::assert_equal(
            (&primary_client, "orders"),
            (&replica_client, "orders-copy")
        )
        .await,
        present
    );

    let text = String::from_utf8(written).unwrap();
    assert!(!text.contains("s3cr3t"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // One line for the batch, one for its one target (the `Target` dimension).
    assert_eq!(lines.len(), 2, "{text}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    let target: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(
        target["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["FunctionName", "TablePair", "Target"]])
    );
    assert_eq!(target["Target"], "orders-copy");
    assert_eq!(
        (&target["TargetPuts"], &target["TargetDeletes"]),
        (&line["Puts"], &line["Deletes"])
    );
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
        (names::RECORDS, "Count", Value::from(records)),
        (names::KEYS, "Count", Value::from(keys.len())),
        (names::PUTS, "Count", Value::from(present)),
        (names::DELETES, "Count", Value::from(absent)),
        // No dead-letter queue: every unusable record is a failure.
        (names::FAILED, "Count", Value::from(unusable)),
        (names::UNUSABLE, "Count", Value::from(unusable)),
    ];
    // The event as built: 42 records, 35 keys of which the primary holds 30, 2 unusable.
    assert_eq!(
        (records, keys.len(), present, absent, unusable),
        (42, 35, 30, 5, 2)
    );
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
    let lags: Vec<f64> = line[names::LAG]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_f64().unwrap())
        .collect();
    assert_eq!(lags.len(), done, "one lag per record done");
    let max = line[names::LAG_MAX].as_f64().unwrap();
    assert_eq!(lags.iter().copied().fold(0.0, f64::max), max);
    // Each lag runs from the record's arrival to a moment within the handling, as the clock
    // here saw them (1 ms of rounding either way).
    let arrivals = event
        .records
        .iter()
        .map(|r| r.kinesis.approximate_arrival_timestamp.0);
    let (first, last) = (arrivals.clone().min().unwrap(), arrivals.max().unwrap());
    let millis = |d: chrono::TimeDelta| d.num_microseconds().unwrap() as f64 / 1000.0;
    let (least, most) = (millis(before - last) - 1.0, millis(after - first) + 1.0);
    assert!(
        lags.iter().all(|l| (least..=most).contains(l)),
        "{lags:?} not within {least}..{most} ms"
    );
    let durations = line[names::DURATION].as_array().unwrap();
    assert_eq!(durations.len(), 1);
    let duration = durations[0].as_f64().unwrap();
    assert!(
        (0.0..=millis(after - before) + 1.0).contains(&duration),
        "{duration} ms"
    );

    // The next batch writes its own numbers, not the sum.
    let next = kinesis_event(vec![thread_record("f", "s1", 7)]);
    let (_, _) = replicator.handle(&next, None).await;
    let mut written = Vec::new();
    collector.flush(&mut written).expect("flush");
    let text = String::from_utf8(written).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(line[names::RECORDS], next.records.len());
    assert_eq!(
        (&line[names::KEYS], &line[names::PUTS]),
        (&Value::from(1), &Value::from(1))
    );
}
