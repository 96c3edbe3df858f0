//! A table's own DynamoDB stream as the source, with no dyno writer and no Kinesis stream: plain
//! SDK writes to the primary (moto implements DynamoDB Streams; dynalite does not) are read by
//! the local event source mapping, parents before children, and the replica converges, whatever
//! the stream's view type; the handler answers DynamoDB stream events with their sequence numbers.
//! An archive's TTL deletes are in `archive`.

mod adoption;
mod archive;
mod convergence;
mod handler;
mod lineage;

use crate::common;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use common::*;
use dyno::aws::table::Table;

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
