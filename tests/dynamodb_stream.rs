//! A table's own DynamoDB stream as the source, with no dyno writer and no Kinesis stream: plain
//! SDK writes to the primary (moto implements DynamoDB Streams; dynalite does not) are read by
//! the local event source mapping, parents before children, and the replica converges, whatever
//! the stream's view type; the handler answers DynamoDB stream events with their sequence numbers.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use common::*;
use dyno::config::{Tuning, dynamodb_streams_client};
use dyno::diff::compare;
use dyno::handler::Replicator;
use dyno::runner::{Runner, RunnerOptions};
use dyno::shards::DynamoDbStreamSource;
use dyno::table::Table;

async fn tables(moto: &Server, view: StreamViewType) -> (Table, Table, String) {
    let primary = table(moto, "orders").await;
    let replica = table(moto, "orders-copy").await;
    dyno::admin::ensure_table(&primary, &thread_schema(), Some(view), dyno::admin::WAIT)
        .await
        .expect("primary with a stream");
    create_table(&replica.client, "orders-copy", &thread_schema()).await;
    let arn = primary
        .describe()
        .await
        .unwrap()
        .latest_stream_arn()
        .expect("a stream")
        .to_owned();
    (primary, replica, arn)
}

/// Plain SDK writes, as a team's own code makes them: puts, updates, deletes (also of keys that
/// never existed), and a hot key written again and again.
async fn write(primary: &Table, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..200 {
        let n = if i % 5 == 0 { 0 } else { rng.usize(1..40) };
        let (forum, subject) = ("f", format!("s{n:02}"));
        match rng.u8(..10) {
            0..5 => {
                let item = thread_item(forum, &subject, &format!("v{i}"));
                primary
                    .client
                    .put_item()
                    .table_name("orders")
                    .set_item(Some(item))
                    .send()
                    .await
                    .unwrap();
            }
            5..8 => {
                primary
                    .client
                    .update_item()
                    .table_name("orders")
                    .key("ForumName", s(forum))
                    .key("Subject", s(&subject))
                    .update_expression("ADD Hits :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .unwrap();
            }
            _ => {
                primary
                    .client
                    .delete_item()
                    .table_name("orders")
                    .key("ForumName", s(forum))
                    .key("Subject", s(&subject))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

async fn plain_writes_converge(view: StreamViewType) {
    let moto = Server::moto();
    let (primary, replica, arn) = tables(&moto, view.clone()).await;
    write(&primary, 7).await;
    let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
        .await
        .unwrap();
    let streams = dynamodb_streams_client(
        &sdk_config().await,
        Some("us-east-1"),
        Some(&moto.endpoint),
        &tuning(),
    );
    let options = RunnerOptions {
        batch_size: 50,
        ..RunnerOptions::default()
    };
    let runner = Runner::new(DynamoDbStreamSource::new(streams, arn), options).unwrap();
    let stats = runner.drain(&replicator).await.expect("drain");
    println!(
        "{view:?}: {} records in {} batches",
        stats.records, stats.batches
    );
    assert!(stats.records >= 150, "{stats:?}");
    let diff = compare(&primary, &replica).await.unwrap();
    assert_eq!(diff.differences(), 0, "{diff:?}");
    assert!(diff.items > 0);

    // More writes; the same runner goes on from where it was.
    write(&primary, 8).await;
    runner.drain(&replicator).await.expect("drain");
    assert_eq!(compare(&primary, &replica).await.unwrap().differences(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sdk_writes_converge_through_a_keys_only_stream() {
    bounded(
        Duration::from_secs(120),
        "keys only",
        plain_writes_converge(StreamViewType::KeysOnly),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sdk_writes_converge_through_a_stream_with_images() {
    bounded(
        Duration::from_secs(120),
        "images",
        plain_writes_converge(StreamViewType::NewAndOldImages),
    )
    .await;
}

/// The sample DynamoDB stream event, through `function_handler` as Lambda calls it, plus an
/// unusable record (another table's) and one whose key has the wrong type: those two, and only
/// those, are reported, by their sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_answers_dynamodb_stream_events() {
    let server = Server::dynalite();
    let primary = table(&server, "dyno-primary").await;
    let replica = table(&server, "dyno-replica").await;
    create_table(&primary.client, "dyno-primary", &thread_schema()).await;
    create_table(&replica.client, "dyno-replica", &thread_schema()).await;
    put_items(
        &primary.client,
        "dyno-primary",
        vec![thread_item("DynamoDB", "DynamoDB Thread 3", "x")],
    )
    .await;
    put_items(
        &replica.client,
        "dyno-replica",
        vec![thread_item("DynamoDB", "DynamoDB Thread 2", "stale")],
    )
    .await;
    let replicator = Replicator::connect(primary.clone(), replica.clone(), tuning())
        .await
        .unwrap();

    let path = project_root().join("events/dynamodb-new-and-old-images.json");
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let records = event["Records"].as_array_mut().unwrap();
    let mut other_table = records[0].clone();
    other_table["eventSourceARN"] =
        "arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/x".into();
    other_table["dynamodb"]["SequenceNumber"] = "900".into();
    let mut wrong_type = records[0].clone();
    wrong_type["dynamodb"]["Keys"]["ForumName"] = serde_json::json!({"N": "1"});
    wrong_type["dynamodb"]["SequenceNumber"] = "901".into();
    records.push(other_table);
    records.push(wrong_type);

    let context = lambda_runtime::Context::default();
    let response = dyno::handler::function_handler(
        &replicator,
        lambda_runtime::LambdaEvent::new(raw(&event), context),
    )
    .await
    .expect("a response");
    assert!(matches!(response, dyno::handler::Response::DynamoDb(_)));
    assert_eq!(response_failures(&response), ["900", "901"]);
    let diff = compare(&primary, &replica).await.unwrap();
    assert_eq!((diff.items, diff.differences()), (1, 0), "{diff:?}");
}

/// The CLI: `replicate --source dynamodb-stream` finds the table's stream itself.
#[test]
fn the_cli_replicates_from_the_tables_stream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Server::moto();
    let (primary, replica) = rt.block_on(async {
        let (primary, replica, _) = tables(&moto, StreamViewType::KeysOnly).await;
        write(&primary, 9).await;
        (primary, replica)
    });
    let dyno = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dyno"))
            .args(["--table", "orders", "--replica-table", "orders-copy"])
            .args(args)
            .env("DYNO_ENDPOINT_URL", &moto.endpoint)
            .env("DYNO_REPLICA_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let out = dyno(&["replicate", "--source", "dynamodb-stream"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dyno(&["diff"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let diff = rt.block_on(compare(&primary, &replica)).unwrap();
    assert_eq!(diff.differences(), 0);

    // A table without a stream: said so.
    rt.block_on(create_table(
        &client_at_blocking(&moto),
        "plain",
        &thread_schema(),
    ));
    let out = dyno(&[
        "--table",
        "plain",
        "replicate",
        "--source",
        "dynamodb-stream",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("has no DynamoDB stream"),
        "{err}"
    );
}

fn client_at_blocking(server: &Server) -> aws_sdk_dynamodb::Client {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client(server))
}

/// The whole adoption with no writer change and no Kinesis stream: a table with items from
/// before its stream was enabled is backfilled with `--direct` (copied by the replicator's own
/// engine), later writes replicate from its own stream, and `diff --repair --direct` mends a
/// damaged replica.
#[test]
fn a_table_without_a_key_stream_is_adopted_backfilled_and_repaired_directly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Server::moto();
    let (primary, replica) = rt.block_on(async {
        let primary = table(&moto, "orders").await;
        let replica = table(&moto, "orders-copy").await;
        create_table(&primary.client, "orders", &thread_schema()).await;
        create_table(&replica.client, "orders-copy", &thread_schema()).await;
        let old: Vec<Item> = (0..300)
            .map(|i| thread_item("old", &format!("o{i:03}"), "v"))
            .collect();
        put_items(&primary.client, "orders", old).await;
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::KeysOnly)
            .build()
            .unwrap();
        primary
            .client
            .update_table()
            .table_name("orders")
            .stream_specification(spec)
            .send()
            .await
            .unwrap();
        (primary, replica)
    });
    let dyno = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dyno"))
            .args([
                "--table",
                "orders",
                "--replica-table",
                "orders-copy",
                "--stream",
                "no-such-stream",
            ])
            .args(args)
            .env("DYNO_ENDPOINT_URL", &moto.endpoint)
            .env("DYNO_REPLICA_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = dyno(&["backfill", "--direct", "--segments", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("300 keys of `orders` copied to `orders-copy`"),
        "{}",
        text(&out)
    );
    rt.block_on(write(&primary, 11));
    let out = dyno(&["replicate", "--source", "dynamodb-stream"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    rt.block_on(async {
        for i in 0..3 {
            replica
                .client
                .delete_item()
                .table_name("orders-copy")
                .key("ForumName", s("old"))
                .key("Subject", s(&format!("o{i:03}")))
                .send()
                .await
                .unwrap();
        }
    });
    let out = dyno(&["diff", "--repair", "--direct", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("repair: 3 keys copied to `orders-copy`"),
        "{}",
        text(&out)
    );
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        rt.block_on(compare(&primary, &replica))
            .unwrap()
            .differences(),
        0
    );
}
