//! The handler answers DynamoDB stream events (`function_handler`, as Lambda calls it) with
//! the sequence numbers of the records it could not use.

use crate::common;

use common::oracle;
use common::*;
use dyno::replicate::replicator::Replicator;

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
