//! The whole system end to end: the writer puts to the primary (dynalite) and announces keys on
//! the stream (kinesalite), the local event source mapping feeds the replicator's handler, and
//! the replica (a second dynalite) must equal the primary.

use crate::common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_kinesis::primitives::Blob;
use common::oracle;
use common::pipeline::{Pipeline, drain};
use common::*;
use dyno::aws::table::Table;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::local::workload::{self, Spec};
use dyno::publish::writer::WriteError;

impl Pipeline {
    /// Every record on the stream: (partition key, data).
    async fn stream_records(&self) -> Vec<(String, Vec<u8>)> {
        stream_records(&self.stream.client, STREAM)
            .await
            .iter()
            .map(|r| {
                let pk = r.partition_key().unwrap_or_default().to_owned();
                (pk, r.data().as_ref().to_vec())
            })
            .collect()
    }
}

fn thread_key(forum: &str, subject: &str) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), s(forum)),
        ("Subject".to_owned(), s(subject)),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_workloads_with_several_seeds_converge() {
    let p = Pipeline::start(2).await;
    // One runner for the three workloads: each drain goes on from where the last one ended.
    let runner = Runner::connect(p.stream.clone(), RunnerOptions::default())
        .await
        .unwrap();
    let mut total = 0;
    let mut applied = Vec::new();
    for seed in [1, 2, 3] {
        let spec = Spec {
            seed,
            keys: 60,
            ops: 400,
            max_body: 4096,
            hot_share: 0.2,
        };
        let ops = workload::generate(&spec);
        let written = workload::apply(&p.writer, ops.clone(), 8, |_| {})
            .await
            .unwrap();
        assert_eq!(written, 400);
        applied.push(ops);
        total += written;
        let stats = runner.drain(&p.replicator).await.unwrap();
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        // One record a write, each handled once.
        assert_eq!(stats.records, written);
        // The keys the workloads so far leave: every key written and not deleted since, none
        // deleted and not written since; not an exact set, since each workload's writes run 8
        // at a time and of two on one key, which came last is not known.
        let items = oracle::assert_tables(&p.primary, &p.replica).await;
        let expected = oracle::WorkloadKeys::of(&applied);
        assert!(!expected.there.is_empty() && *expected.items().end() <= 60);
        assert_eq!(expected.assert_on(&p.replica.client, REPLICA).await, items);
    }
    assert_eq!(total, 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_key_absent_deletes_and_megabyte_batches_converge() {
    let p = Pipeline::start(1).await;
    // A hot key written 200 times, from 8 writers at once.
    let hot: Vec<workload::Op> = (0..200)
        .map(|i| {
            let mut item = thread_key("hot", "key");
            item.insert("Version".into(), AttributeValue::N(i.to_string()));
            workload::Op::Put(item)
        })
        .collect();
    workload::apply(&p.writer, hot, 8, |_| {}).await.unwrap();
    // Deletes of keys that never existed.
    for i in 0..20 {
        p.writer
            .delete_item(
                p.writer
                    .delete()
                    .set_key(Some(thread_key("ghost", &i.to_string()))),
            )
            .await
            .unwrap();
    }
    // A ~1.2 MB batch: 120 items of 10 KB through BatchWriteItem + PutRecords, then deletes.
    let big: Vec<WriteRequest> = (0..120)
        .map(|i| {
            let mut item = thread_key("big", &format!("{i:03}"));
            item.insert("Body".into(), s(&"b".repeat(10 * 1024)));
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    assert_eq!(p.writer.write_batch(big).await.unwrap(), 120);
    let deletes: Vec<WriteRequest> = (0..30)
        .map(|i| {
            let key = thread_key("big", &format!("{i:03}"));
            let delete = DeleteRequest::builder().set_key(Some(key)).build().unwrap();
            WriteRequest::builder().delete_request(delete).build()
        })
        .collect();
    assert_eq!(p.writer.write_batch(deletes).await.unwrap(), 30);

    let options = RunnerOptions {
        batch_size: 1000,
        ..RunnerOptions::default()
    };
    let stats = drain(&p.stream, &p.replicator, options).await;

    assert_eq!(stats.records, 200 + 20 + 120 + 30);
    assert_eq!(oracle::assert_tables(&p.primary, &p.replica).await, 1 + 90);
    let hot = |client: &aws_sdk_dynamodb::Client, table: &'static str| {
        let request = client
            .get_item()
            .table_name(table)
            .set_key(Some(thread_key("hot", "key")))
            .consistent_read(true)
            .send();
        async move { request.await.unwrap().item.unwrap() }
    };
    assert_eq!(
        hot(&p.replica.client, REPLICA).await,
        hot(&p.primary.client, PRIMARY).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_records_have_the_seed_shape_and_a_stable_partition_key() {
    let p = Pipeline::start(2).await;
    let item = |order_first: bool| {
        let mut pairs = vec![
            ("ForumName".to_owned(), s("DynamoDB")),
            ("Subject".to_owned(), s("DynamoDB Thread 3")),
            ("Body".to_owned(), s("x")),
        ];
        if !order_first {
            pairs.reverse();
        }
        pairs.into_iter().collect::<Item>()
    };
    p.writer
        .put_item(p.writer.put().set_item(Some(item(true))))
        .await
        .unwrap();
    p.writer
        .put_item(p.writer.put().set_item(Some(item(false))))
        .await
        .unwrap();
    let long = "L".repeat(1000);
    p.writer
        .put_item(p.writer.put().set_item(Some(thread_key(&long, &long))))
        .await
        .unwrap();

    let records = p.stream_records().await;
    assert_eq!(records.len(), 3);
    assert_eq!(
        records.iter().filter(|(pk, _)| pk == &records[0].0).count(),
        2
    );
    assert!(records.iter().all(|(pk, _)| pk.chars().count() <= 256));

    // Same fields as the seed record, and only the key attributes.
    let seed: serde_json::Value =
        serde_json::from_slice(include_bytes!("../fixtures/seed-record.json")).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&records[0].1).unwrap();
    let fields = |v: &serde_json::Value| {
        let mut f: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        f.extend(
            v["dynamodb"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| format!("dynamodb.{k}")),
        );
        f.sort();
        f
    };
    assert_eq!(fields(&record), fields(&seed));
    assert_eq!(
        record["dynamodb"]["Keys"],
        serde_json::json!({"ForumName": {"S": "DynamoDB"}, "Subject": {"S": "DynamoDB Thread 3"}})
    );
    assert_eq!(record["dynamodb"]["StreamViewType"], "KEYS_ONLY");
    assert_eq!(record["eventSource"], "aws:dynamodb");
    assert_eq!(record["eventVersion"], "1.0");
    assert!(["INSERT", "MODIFY"].contains(&record["eventName"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_conditional_write_publishes_nothing() {
    let p = Pipeline::start(1).await;
    let item = thread_item("f", "s", "v1");
    p.writer
        .put_item(p.writer.put().set_item(Some(item.clone())))
        .await
        .unwrap();

    let err = p
        .writer
        .put_item(
            p.writer
                .put()
                .set_item(Some(thread_item("f", "s", "v2")))
                .condition_expression("attribute_not_exists(ForumName)"),
        )
        .await
        .unwrap_err();

    assert!(err.is_conditional_check_failed(), "{err}");
    assert_eq!(p.stream_records().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stream_after_a_committed_write_gives_the_distinct_error() {
    let mut p = Pipeline::start(1).await;
    p.servers[2].kill();

    let err = p
        .writer
        .put_item(p.writer.put().set_item(Some(thread_item("f", "s", "v1"))))
        .await
        .unwrap_err();

    let key = r#"{"ForumName":{"S":"f"},"Subject":{"S":"s"}}"#;
    match &err {
        WriteError::NotPublished { source, .. } => {
            let keys: Vec<String> = source.keys.iter().map(|k| k.to_json()).collect();
            assert_eq!(keys, [key]);
            assert_eq!(source.stream, STREAM);
        }
        other => panic!("expected NotPublished, got {other}"),
    }
    // The message says the write stands, names the key as `dyno announce --key` takes it, and
    // says what to do, in full (the library names no command of the CLI).
    let message = err.to_string();
    assert!(message.contains("stands"), "{message}");
    assert!(message.contains(key), "{message}");
    assert!(message.contains("announce them again"), "{message}");
    assert!(message.trim_end().ends_with(key), "{message}");
    // The write stands on the primary; the replica was not touched.
    let on_primary = scan_all(&p.primary.client, PRIMARY, &thread_schema()).await;
    assert_eq!(on_primary.len(), 1);
    assert!(
        scan_all(&p.replica.client, REPLICA, &thread_schema())
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_resumes_from_its_checkpoint_and_skips_a_poison_record_after_retries() {
    let p = Pipeline::start(1).await;
    let dir = std::env::temp_dir().join(format!("dyno-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("positions.json");
    let _ = std::fs::remove_file(&checkpoint);
    let options = RunnerOptions {
        batch_size: 10,
        checkpoint: Some(checkpoint.clone()),
        max_retries: Some(2),
        ..RunnerOptions::default()
    };

    let ops = |seed| {
        workload::generate(&Spec {
            seed,
            keys: 30,
            ops: 100,
            ..Spec::default()
        })
    };
    // The keys the workloads leave (not an exact set: 4 writes at a time, so of two on one key,
    // which came last is not known).
    let keys_after = async |applied: &[Vec<workload::Op>]| {
        let items = oracle::assert_tables(&p.primary, &p.replica).await;
        let expected = oracle::WorkloadKeys::of(applied);
        assert!(!expected.there.is_empty());
        assert_eq!(expected.assert_on(&p.replica.client, REPLICA).await, items);
    };
    let written = workload::apply(&p.writer, ops(11), 4, |_| {})
        .await
        .unwrap();
    assert_eq!(written, 100);
    let first = drain(&p.stream, &p.replicator, options.clone()).await;
    assert_eq!(first.records, 100);
    assert_eq!((first.redelivered, first.deliveries), (0, 100));
    keys_after(&[ops(11)]).await;

    // A poison record between two workloads; a new runner resumes after the first 100.
    p.stream
        .client
        .put_record()
        .stream_name(STREAM)
        .partition_key("poison")
        .data(Blob::new(b"not a key record".to_vec()))
        .send()
        .await
        .unwrap();
    let written = workload::apply(&p.writer, ops(12), 4, |_| {})
        .await
        .unwrap();
    assert_eq!(written, 100);
    let second = drain(&p.stream, &p.replicator, options.clone()).await;

    assert_eq!(second.records, 101, "resumed after the checkpoint");
    assert_eq!(second.skipped.len(), 1, "{:?}", second.skipped);
    // The poison record heads a batch of 10: delivered once and retried twice (max_retries),
    // none of the 10 done each time; then skipped, and the 100 others delivered once.
    assert_eq!(
        (second.redelivered, second.deliveries),
        (3 * 10, 3 * 10 + 100),
        "{second:?}"
    );
    keys_after(&[ops(11), ops(12)]).await;
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["kind"], "replicate", "{saved}");
    assert_eq!(
        saved["positions"].as_object().map(|p| p.len()),
        Some(1),
        "{saved}"
    );

    // A third runner finds nothing new.
    let third = drain(&p.stream, &p.replicator, options).await;
    assert_eq!((third.records, third.deliveries, third.batches), (0, 0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_end_to_end() {
    let p = Pipeline::start(2).await;
    let endpoint = |t: &Table| t.endpoint.clone().unwrap();
    let mut command = dyno_command(At::default());
    command.args([
        "--endpoint-url",
        &endpoint(&p.primary),
        "--replica-endpoint-url",
        &endpoint(&p.replica),
        "--kinesis-endpoint-url",
        &p.servers[2].endpoint,
        "demo",
        "--keys",
        "50",
        "--ops",
        "300",
        "--seed",
        "7",
        "--recreate",
    ]);
    let out = command.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = oracle::assert_tables(&p.primary, &p.replica).await;
    // The keys the demo's workload leaves (its defaults but for the flags above); not an exact
    // set, since its writes run concurrently.
    let demo = workload::generate(&Spec {
        seed: 7,
        keys: 50,
        ops: 300,
        ..Spec::default()
    });
    let expected = oracle::WorkloadKeys::of(&[demo]);
    assert!(!expected.there.is_empty());
    assert_eq!(expected.assert_on(&p.replica.client, REPLICA).await, items);
    assert!(
        text.contains(&format!(
            "the replica matches the primary: {items} items compared, 0 differences"
        )),
        "{text}"
    );
    assert!(text.contains("records consumed: 300"), "{text}");
    assert!(text.contains("p50") && text.contains("p99"), "{text}");
    assert!(text.contains("written 300/300"), "{text}");
}
