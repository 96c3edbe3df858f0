//! A table's own DynamoDB stream as the source, with no dyno writer and no Kinesis stream: plain
//! SDK writes to the primary (moto implements DynamoDB Streams; dynalite does not) are read by
//! the local event source mapping, parents before children, and the replica converges, whatever
//! the stream's view type; the handler answers DynamoDB stream events with their sequence numbers.
//! An archive's TTL deletes are in `archive`.

mod archive;
use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use common::oracle;
use common::*;
use dyno::aws::client::dynamodb_streams_client;
use dyno::aws::error::AwsError;
use dyno::aws::stream::Shard;
use dyno::aws::table::Table;
use dyno::local::runner::{Observer, Runner, RunnerOptions};
use dyno::local::shards::{DynamoDbStreamSource, Page, Position, ShardSource};
use dyno::replicate::decode::SourceRecord;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

async fn tables(moto: &Server, view: StreamViewType) -> (Table, Table, String) {
    let primary = table(moto, "orders").await;
    let replica = table(moto, "orders-copy").await;
    dyno::ops::admin::ensure_table(
        &primary,
        &thread_schema(),
        Some(view),
        dyno::ops::admin::WAIT,
    )
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

/// The writes of `write(…, seed)`: (write number, subject, what: 0..5 put, 5..8 update, else
/// delete).
fn writes(seed: u64) -> Vec<(usize, String, u8)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..200)
        .map(|i| {
            let n = if i % 5 == 0 { 0 } else { rng.usize(1..40) };
            (i, format!("s{n:02}"), rng.u8(..10))
        })
        .collect()
}

/// The subjects of forum `f` on the primary after `write` with each of `seeds`, in turn.
fn written(seeds: &[u64]) -> BTreeSet<String> {
    let mut present = BTreeSet::new();
    for (_, subject, what) in seeds.iter().flat_map(|seed| writes(*seed)) {
        match what {
            0..8 => present.insert(subject),
            _ => present.remove(&subject),
        };
    }
    present
}

/// Plain SDK writes, as a team's own code makes them: puts, updates, deletes (also of keys that
/// never existed), and a hot key written again and again.
async fn write(primary: &Table, seed: u64) {
    for (i, subject, what) in writes(seed) {
        let forum = "f";
        match what {
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
    let runner = Runner::new(
        DynamoDbStreamSource::new(streams.clone(), arn.clone()),
        options,
    )
    .unwrap();
    let stats = runner.drain(&replicator).await.expect("drain");
    println!(
        "{view:?}: {} records in {} batches",
        stats.records, stats.batches
    );
    // Every record the stream holds (a delete of a key that is not there makes none), once.
    let on_stream = stream_record_count(&streams, &arn).await;
    assert_eq!(stats.records, on_stream, "{stats:?}");
    assert_eq!(
        oracle::assert_tables(&primary, &replica).await,
        written(&[7]).len()
    );

    // More writes; the same runner goes on from where it was.
    write(&primary, 8).await;
    let more = runner.drain(&replicator).await.expect("drain");
    assert_eq!(
        more.records,
        stream_record_count(&streams, &arn).await - on_stream
    );
    assert_eq!(
        oracle::assert_tables(&primary, &replica).await,
        written(&[7, 8]).len()
    );
}

/// The records a DynamoDB stream holds, over all its shards (plain DynamoDB Streams calls).
async fn stream_record_count(streams: &aws_sdk_dynamodbstreams::Client, arn: &str) -> usize {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let described = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .expect("DescribeStream");
    let shards = described
        .stream_description()
        .map(|d| d.shards().to_vec())
        .unwrap_or_default();
    let mut count = 0;
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator;
        while let Some(it) = iterator {
            let page = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .expect("GetRecords");
            let records = page.records().len();
            count += records;
            iterator = page.next_shard_iterator.filter(|_| records > 0);
        }
    }
    count
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
    let primary = table(&server, PRIMARY).await;
    let replica = table(&server, REPLICA).await;
    create_table(&primary.client, PRIMARY, &thread_schema()).await;
    create_table(&replica.client, REPLICA, &thread_schema()).await;
    put_items(
        &primary.client,
        PRIMARY,
        vec![thread_item("DynamoDB", "DynamoDB Thread 3", "x")],
    )
    .await;
    put_items(
        &replica.client,
        REPLICA,
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
    let response = dyno::replicate::lambda::function_handler(
        &replicator,
        lambda_runtime::LambdaEvent::new(raw(&event), context),
    )
    .await
    .expect("a response");
    assert!(matches!(
        response,
        dyno::replicate::lambda::Response::DynamoDb(_)
    ));
    assert_eq!(response_failures(&response), ["900", "901"]);
    assert_eq!(oracle::assert_tables(&primary, &replica).await, 1);
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
        dyno_command(At {
            tables: Some(&moto.endpoint),
            ..At::default()
        })
        .args(["--table", "orders", "--replica-table", "orders-copy"])
        .args(args)
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
    assert_eq!(
        rt.block_on(oracle::assert_tables(&primary, &replica)),
        written(&[9]).len()
    );

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
        dyno_command(At {
            tables: Some(&moto.endpoint),
            ..At::default()
        })
        .args([
            "--table",
            "orders",
            "--replica-table",
            "orders-copy",
            "--stream",
            "no-such-stream",
        ])
        .args(args)
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
        rt.block_on(oracle::assert_tables(&primary, &replica)),
        300 + written(&[11]).len()
    );
}

/// A DynamoDB stream made up here, for the order of shards: each shard holds the records built
/// for it, read in pages of at most `page`; a closed shard's last page has no next iterator. The
/// pages of a shard that has children come slowly, so that a child read too early would be
/// handed over first.
#[derive(Debug)]
struct Scripted {
    shards: Vec<(Shard, Vec<DynamoDbEventRecord>)>,
    page: usize,
    parents_pause: Duration,
}

impl Scripted {
    fn shard(&self, id: &str) -> &(Shard, Vec<DynamoDbEventRecord>) {
        self.shards
            .iter()
            .find(|(s, _)| s.id == id)
            .unwrap_or_else(|| panic!("no shard {id}"))
    }

    fn is_parent(&self, id: &str) -> bool {
        self.shards
            .iter()
            .any(|(s, _)| s.parents.iter().any(|p| p == id))
    }
}

impl ShardSource for Scripted {
    type Record = DynamoDbEventRecord;

    fn label(&self) -> String {
        "scripted DynamoDB stream".to_owned()
    }

    async fn shards(&self) -> Result<Vec<Shard>, AwsError> {
        Ok(self.shards.iter().map(|(s, _)| s.clone()).collect())
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, AwsError> {
        let records = &self.shard(shard).1;
        let at = |sequence: &str| {
            records
                .iter()
                .position(|r| r.sequence_number() == sequence)
                .unwrap_or_else(|| panic!("{shard} has no record {sequence}"))
        };
        let index = match position {
            // A DynamoDB stream has no AT_TIMESTAMP: its trim horizon.
            Position::TrimHorizon | Position::AtTimestamp(_) => 0,
            Position::Latest => records.len(),
            Position::At(sequence) => at(sequence),
            Position::After(sequence) => at(sequence) + 1,
        };
        Ok(format!("{shard}#{index}"))
    }

    async fn page(
        &self,
        shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<Page<DynamoDbEventRecord>, AwsError> {
        let (id, index) = iterator.rsplit_once('#').expect("an iterator of ours");
        assert_eq!(id, shard);
        let index: usize = index.parse().expect("a position");
        if self.is_parent(shard) {
            tokio::time::sleep(self.parents_pause).await;
        }
        let (meta, records) = self.shard(shard);
        let end = records.len().min(index + limit.min(self.page));
        let next = (end < records.len() || !meta.closed).then(|| format!("{shard}#{end}"));
        Ok(Page {
            records: records[index..end].to_vec(),
            next,
            caught_up: end == records.len(),
        })
    }
}

/// A record of the primary's stream announcing `subject`, with sequence number `sequence`.
fn stream_record(subject: &str, sequence: u64) -> DynamoDbEventRecord {
    serde_json::from_value(serde_json::json!({
        "eventID": format!("e{sequence}"),
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2024-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000.0,
            "Keys": {"ForumName": {"S": "f"}, "Subject": {"S": subject}},
            "SequenceNumber": sequence.to_string(),
            "SizeBytes": 40,
            "StreamViewType": "KEYS_ONLY"
        }
    }))
    .expect("a DynamoDB stream record")
}

/// Parents before children on a DynamoDB stream (moto's has a single shard, so the lineage is
/// scripted): a split parent, its two children, a grandchild of one of them, and an unrelated
/// shard, all listed from the start with the children first. The handler is handed every record
/// once, each shard's in order, and no record of a child before every record of its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_streams_children_are_read_after_their_parents() {
    let server = Server::dynalite();
    let primary = table(&server, "orders").await;
    let replica = table(&server, "orders-copy").await;
    create_table(&primary.client, "orders", &thread_schema()).await;
    create_table(&replica.client, "orders-copy", &thread_schema()).await;
    // Keys k0..k5 on the primary; k6..k9 only as stale copies on the replica.
    let subjects: Vec<String> = (0..10).map(|k| format!("k{k}")).collect();
    put_items(
        &primary.client,
        "orders",
        subjects[..6]
            .iter()
            .map(|k| thread_item("f", k, "new"))
            .collect(),
    )
    .await;
    put_items(
        &replica.client,
        "orders-copy",
        subjects
            .iter()
            .map(|k| thread_item("f", k, "old"))
            .collect(),
    )
    .await;

    let shard = |id: &str, parents: &[&str], closed: bool| Shard {
        id: id.to_owned(),
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        closed,
    };
    // Sequence numbers grow along the lineage, as DynamoDB's do.
    let records = |first: u64, count: u64| -> Vec<DynamoDbEventRecord> {
        (0..count)
            .map(|i| stream_record(&subjects[((first + i) % 10) as usize], first + i))
            .collect()
    };
    let source = Scripted {
        shards: vec![
            (shard("grandchild", &["left"], false), records(4000, 7)),
            (shard("left", &["parent"], true), records(2000, 9)),
            (shard("right", &["parent"], true), records(3000, 8)),
            (shard("parent", &[], true), records(1000, 12)),
            (shard("other", &[], false), records(5000, 6)),
        ],
        page: 3,
        parents_pause: Duration::from_millis(30),
    };
    let lineage: Vec<(String, Vec<String>, Vec<String>)> = source
        .shards
        .iter()
        .map(|(s, r)| {
            let sequences = r.iter().map(|r| r.sequence_number().to_owned()).collect();
            (s.id.clone(), s.parents.clone(), sequences)
        })
        .collect();
    let total: usize = lineage.iter().map(|(_, _, r)| r.len()).sum();

    let handed = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = handed.clone();
    let observer: Observer<DynamoDbEventRecord> = Arc::new(move |batch, failed| {
        assert!(failed.is_empty(), "a record failed: {failed:?}");
        let mut seen = seen.lock().unwrap();
        seen.extend(batch.iter().map(|r| r.sequence_number().to_owned()));
    });
    let replicator = Replicator::connect(primary.clone(), replica.clone(), tuning())
        .await
        .unwrap();
    let options = RunnerOptions {
        batch_size: 5,
        poll_interval: Duration::from_millis(10),
        ..RunnerOptions::default()
    };
    let stats = Runner::new(source, options)
        .unwrap()
        .observe(observer)
        .drain(&replicator)
        .await
        .expect("drain");

    let handed = handed.lock().unwrap().clone();
    assert_eq!((stats.records, stats.shards_ended), (total, 3), "{stats:?}");
    assert_eq!(handed.len(), total, "{handed:?}");
    let position = |sequence: &str| handed.iter().position(|s| s == sequence).unwrap();
    for (id, parents, sequences) in &lineage {
        // Every record once, in the shard's order.
        let order: Vec<usize> = sequences.iter().map(|s| position(s)).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{id}: {handed:?}");
        for parent in parents {
            let (_, _, before) = lineage.iter().find(|(p, _, _)| p == parent).unwrap();
            let last = before.iter().map(|s| position(s)).max().unwrap();
            let first = order[0];
            assert!(
                last < first,
                "{id}'s record {} was handed over at {first}, before its parent {parent} was \
                 drained (at {last}): {handed:?}",
                sequences[0]
            );
        }
    }
    assert_eq!(oracle::assert_tables(&primary, &replica).await, 6);
}
