//! Answers no real server here gives, against clients mocked with the SDK's own test tool
//! (`aws-smithy-mocks`), no network: a read answer naming a key nobody asked for, writes left
//! unprocessed, and a write answer naming a write that was not sent.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{failures, key_record, kinesis_event};
use dyno::aws::table::Table;
use dyno::replicate::replicator::Replicator;
use serde_json::json;

fn describe(name: &'static str) -> Rule {
    mock!(Client::describe_table).then_output(move || {
        let table = TableDescription::builder()
            .table_name(name)
            .table_id(format!("id-of-{name}"))
            .table_status(TableStatus::Active)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .build();
        DescribeTableOutput::builder().table(table).build()
    })
}

fn item(id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
        ("v".to_owned(), AttributeValue::S("value".to_owned())),
    ])
}

/// Every key asked for is found, and `stranger` (if any) is added to the answer.
fn reads(stranger: Option<&'static str>) -> Rule {
    mock!(Client::batch_get_item).then_compute_output(move |request| {
        let asked = request.request_items().unwrap()["primary"].keys();
        let mut items: Vec<_> = asked
            .iter()
            .map(|key| {
                let AttributeValue::S(id) = &key["id"] else {
                    panic!("an S key")
                };
                item(id)
            })
            .collect();
        items.extend(stranger.map(item));
        BatchGetItemOutput::builder()
            .responses("primary", items)
            .build()
    })
}

async fn replicator(primary: Vec<Rule>, replica: Vec<Rule>) -> Replicator {
    let primary = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &primary);
    let replica = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &replica);
    Replicator::connect(
        Table::new(primary, "primary", "PRIMARY_TABLE"),
        Table::new(replica, "replica", "REPLICA_TABLE"),
        common::tuning(),
    )
    .await
    .expect("connect to the mocked tables")
}

fn event(n: usize) -> aws_lambda_events::event::kinesis::KinesisEvent {
    kinesis_event(
        (0..n)
            .map(|i| key_record(json!({"id": {"S": format!("k{i}")}}), "MODIFY", i as u64))
            .collect(),
    )
}

#[tokio::test]
async fn a_read_naming_a_key_not_asked_for_fails_every_key_and_writes_nothing() {
    let writes =
        mock!(Client::batch_write_item).then_output(|| BatchWriteItemOutput::builder().build());
    let replicator = replicator(
        vec![describe("primary"), reads(Some("stranger"))],
        vec![describe("replica"), writes.clone()],
    )
    .await;
    let (response, summary) = replicator.handle(&event(10), None).await;
    assert_eq!(failures(&response).len(), 10);
    assert_eq!((summary.puts, summary.deletes), (0, 0));
    assert_eq!(
        writes.num_calls(),
        0,
        "nothing was written from the untrusted answer"
    );
}

#[tokio::test]
async fn writes_left_unprocessed_are_sent_again_until_done() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    // The first answer hands the first two writes back; the next takes everything.
    let writes = mock!(Client::batch_write_item).then_compute_output(move |request| {
        let sent = &request.request_items().unwrap()["replica"];
        let left = match counted.fetch_add(1, Ordering::SeqCst) {
            0 => sent[..2].to_vec(),
            _ => Vec::new(),
        };
        BatchWriteItemOutput::builder()
            .unprocessed_items("replica", left)
            .build()
    });
    let replicator = replicator(
        vec![describe("primary"), reads(None)],
        vec![describe("replica"), writes.clone()],
    )
    .await;
    let (response, summary) = replicator.handle(&event(10), None).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(summary.puts, 10);
    assert_eq!(writes.num_calls(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_write_answer_naming_a_write_not_sent_fails_the_chunk() {
    let writes = mock!(Client::batch_write_item).then_compute_output(|_| {
        let stranger = aws_sdk_dynamodb::types::WriteRequest::builder()
            .put_request(
                aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item("stranger")))
                    .build()
                    .unwrap(),
            )
            .build();
        BatchWriteItemOutput::builder()
            .unprocessed_items("replica", vec![stranger])
            .build()
    });
    let replicator = replicator(
        vec![describe("primary"), reads(None)],
        vec![describe("replica"), writes.clone()],
    )
    .await;
    let (response, summary) = replicator.handle(&event(5), None).await;
    assert_eq!(failures(&response).len(), 5);
    assert_eq!(summary.puts, 0);
    assert_eq!(writes.num_calls(), 1, "the stranger was not sent again");
}
