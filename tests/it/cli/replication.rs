//! Replication through the CLI, end to end: writes, reads, import, `replicate`, `diff` and
//! export on local servers; unusable records sent to the dead-letter queue and replayed; a run
//! that skips records; `replicate --follow` through a stream outage.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::faults::{Fault, FaultProxy, Plan};
use common::local::Local;
use common::oracle;
use common::*;

use super::{KEY, thread_line};

#[test]
fn writes_reads_replicates_and_compares() {
    let local = Local::start("main");
    local.ok(&["create"]);
    local.ok(&[
        "put",
        "--item",
        r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"},"Hits":{"N":"1"}}"#,
    ]);
    local.ok(&[
        "update",
        "--key",
        KEY,
        "--update-expression",
        "SET Hits = Hits + :one",
        "--values",
        r#"{":one":{"N":"1"}}"#,
    ]);
    assert_eq!(
        local.ok(&["get", "--key", KEY]).trim(),
        r#"{"ForumName":{"S":"DynamoDB"},"Hits":{"N":"2"},"Subject":{"S":"Thread 1"}}"#,
        "attributes print in sorted order"
    );
    // A condition that does not hold: refused, and said so.
    let err = local.fails(&[
        "delete",
        "--key",
        KEY,
        "--condition",
        "Hits = :v",
        "--values",
        r#"{":v":{"N":"99"}}"#,
    ]);
    assert!(err.contains("ConditionalCheckFailed"), "{err}");

    // Import 50 items from line-delimited DynamoDB JSON, both shapes.
    let lines: Vec<String> = (0..50)
        .map(|i| {
            let item = format!(r#"{{"ForumName":{{"S":"bulk"}},"Subject":{{"S":"t{i}"}}}}"#);
            if i % 2 == 0 {
                format!(r#"{{"Item":{item}}}"#)
            } else {
                item
            }
        })
        .collect();
    let file = local.dir.join("items.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    local.ok(&["import", file.to_str().unwrap()]);

    // Not yet replicated: diff says so and exits non-zero. (52 records: put, update, 50 imports;
    // the refused delete published nothing.)
    let out = local.dyno(&["diff", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "the replica differs from the primary: 51 missing, 0 extra, 0 different (51 primary items"
    ));

    let stderr = String::from_utf8(local.dyno(&["replicate"]).stderr).unwrap();
    assert!(stderr.contains("replicated 52 records"), "{stderr}");
    let out = local.ok(&["diff"]);
    assert!(
        out.contains("the replica matches the primary: 51 items compared, 0 differences"),
        "{out}"
    );
    local.assert_replicated(51);

    // Export the replica: 51 lines of {"Item": …}.
    let exported = local.ok(&[
        "--table",
        REPLICA,
        "--endpoint-url",
        &local.replica.endpoint,
        "export",
    ]);
    assert_eq!(exported.lines().count(), 51);
    assert!(exported.lines().all(|l| l.starts_with(r#"{"Item":{"#)));
}

#[test]
fn unusable_records_go_to_the_dead_letter_queue_and_can_be_replayed() {
    let local = Local::start("dlq");
    let sqs_server = Server::moto();
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue_url = rt.block_on(async {
        let sdk = sdk_config().await;
        let tuning = tuning();
        let sqs = dyno::aws::client::sqs_client(&sdk, Some(&sqs_server.endpoint), &tuning);
        let kinesis =
            dyno::aws::client::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning);
        kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("p")
            .data(aws_sdk_kinesis::primitives::Blob::new(
                b"poison \xff".to_vec(),
            ))
            .send()
            .await
            .unwrap();
        create_queue(&sqs, "dyno-dead-letters").await
    });
    local.ok(&["put", "--item", KEY]);
    let sqs = ["--sqs-endpoint-url", &sqs_server.endpoint];

    let out = local.dyno(
        &[
            &["replicate", "--dead-letter-queue-url", &queue_url][..],
            &sqs[..],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("replicated 2 records") && stderr.contains("0 skipped"),
        "{stderr}"
    );
    assert!(
        local
            .ok(&["diff"])
            .contains("1 items compared, 0 differences")
    );
    local.assert_replicated(1);

    let inspect = [
        &["dead-letters", "--queue-url", &queue_url][..],
        &sqs[..],
        &["inspect"][..],
    ]
    .concat();
    let letters = local.ok(&inspect);
    let letter: serde_json::Value = serde_json::from_str(letters.lines().next().unwrap()).unwrap();
    assert_eq!(letter["partitionKey"], "p");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("not a DynamoDB Streams JSON record")
    );

    let replay = [
        &["dead-letters", "--queue-url", &queue_url][..],
        &sqs[..],
        &["replay"][..],
    ]
    .concat();
    let out = local.dyno(&replay);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed 1 of 1 dead letters"));
    // The original bytes are back on the stream, after the two records read before.
    let records = rt.block_on(async {
        let sdk = sdk_config().await;
        let kinesis =
            dyno::aws::client::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning());
        stream_records(&kinesis, STREAM).await
    });
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].data().as_ref(), b"poison \xff");
    assert!(local.ok(&inspect).trim().is_empty());
}

#[test]
fn a_run_that_skips_records_exits_non_zero_and_names_them() {
    let local = Local::start("skips");
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kinesis = dyno::aws::client::kinesis_client(
            &sdk_config().await,
            Some(&local.kinesis.endpoint),
            &tuning(),
        );
        kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("p")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"poison".to_vec()))
            .send()
            .await
            .unwrap();
    });
    local.ok(&["put", "--item", KEY]);
    let out = local.dyno(&["replicate", "--max-retries", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 records were skipped") && err.contains("shardId-000000000000:"),
        "{err}"
    );
    // The summary counts the skipped record apart, not as replicated.
    assert!(
        err.contains("replicated 1 records in") && err.contains("1 skipped"),
        "{err}"
    );
    assert!(local.ok(&["diff"]).contains("0 differences"));
    local.assert_replicated(1);
}

/// `dyno replicate --follow` rides out an outage of the stream: for 5 s every call to kinesalite
/// fails (5xx, then connection resets) while more writes come; the run goes on, and replicates
/// them and the writes after the outage. Then it is stopped.
#[test]
fn replicate_follow_waits_out_a_stream_outage() {
    let local = Local::start("follow");
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt.block_on(FaultProxy::start(local.kinesis.port));
    let (primary, replica) =
        rt.block_on(async { (client(&local.primary).await, client(&local.replica).await) });
    let import = |name: &str, range: std::ops::Range<usize>| {
        let file = local.dir.join(name);
        let lines: Vec<String> = range.map(|i| thread_line(i, "v")).collect();
        std::fs::write(&file, lines.join("\n")).unwrap();
        local.ok(&["import", file.to_str().unwrap()]);
    };
    let tables = |items: usize| {
        let report = rt.block_on(oracle::compare((&primary, PRIMARY), (&replica, REPLICA)));
        report.differences() == 0 && report.primary_items == items
    };
    let wait_for = |items: usize, what: &str| {
        let started = Instant::now();
        while !tables(items) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not replicated in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    import("before.jsonl", 0..100);
    let log = std::fs::File::create(local.dir.join("replicate.log")).unwrap();
    let mut follow = local
        .command(&["replicate", "--follow"])
        .env("DYNO_KINESIS_ENDPOINT_URL", &proxy.endpoint)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for(100, "before the outage");

    // The outage: every call to the stream fails, first with 503s, then with resets.
    let outage = |fault: Fault, seed: u64| Plan::on(&[], &[fault], 1.0, seed);
    proxy.set_plan(outage(Fault::ServiceUnavailable, 1));
    import("during.jsonl", 100..200);
    std::thread::sleep(Duration::from_millis(2500));
    proxy.set_plan(outage(Fault::ResetBefore, 2));
    std::thread::sleep(Duration::from_millis(2500));
    let replica_items = rt.block_on(oracle::scan(
        &replica,
        REPLICA,
        &["ForumName".to_owned(), "Subject".to_owned()],
    ));
    assert_eq!(
        replica_items.len(),
        100,
        "records were read during the outage"
    );
    proxy.set_plan(Plan::off());
    let stats = proxy.stats();
    for fault in [Fault::ServiceUnavailable, Fault::ResetBefore] {
        assert!(
            stats.faults.get(&fault).is_some_and(|n| *n > 0),
            "{fault:?} not injected: {stats:?}"
        );
    }
    assert!(
        follow.try_wait().unwrap().is_none(),
        "the run stopped in the outage: {}",
        std::fs::read_to_string(local.dir.join("replicate.log")).unwrap()
    );

    // After the outage: what was written during it, and what comes now.
    import("after.jsonl", 200..300);
    wait_for(300, "after the outage");
    assert!(follow.try_wait().unwrap().is_none(), "the run stopped");
    follow.kill().unwrap();
    follow.wait().unwrap();
    rt.block_on(oracle::assert_equal_items(
        (&primary, PRIMARY),
        (&replica, REPLICA),
        300,
    ));
}
