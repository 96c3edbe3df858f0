//! Plain SDK writes converge through the local event source mapping reading the table's own
//! stream (moto), keys only or with images, the same runner going on from where it was.

use crate::common;

use std::time::Duration;

use aws_sdk_dynamodb::types::StreamViewType;
use common::oracle;
use common::*;
use dyno::aws::client::dynamodb_streams_client;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::local::shards::DynamoDbStreamSource;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

use super::{tables, write, written};

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
