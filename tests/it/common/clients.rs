//! SDK clients, tables and streams on the local servers, and what tests create on them: tables,
//! streams, queues, key schema elements, attribute definitions and projections.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use dyno::aws::client::{config_loader, dynamodb_config, kinesis_client};
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::replicate::tuning::Tuning;

use super::Server;
use super::calls::CallCounter;

/// SDK configuration with static test credentials for local servers.
pub async fn sdk_config() -> SdkConfig {
    config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "dyno-tests"))
        .load()
        .await
}

/// Test tuning: quick to give up, so failure tests stay short.
pub fn tuning() -> Tuning {
    Tuning {
        concurrency: 8,
        max_attempts: 3,
        call_timeout: Duration::from_secs(5),
        deadline_margin: Duration::from_millis(500),
        ..Tuning::default()
    }
}

/// A DynamoDB client for `endpoint` in `region`, with `tuning`, counting its calls in `counter`.
pub async fn client_at(
    endpoint: &str,
    region: &str,
    tuning: &Tuning,
    counter: Option<&CallCounter>,
) -> Client {
    let mut config = dynamodb_config(&sdk_config().await, Some(region), Some(endpoint), tuning);
    if let Some(counter) = counter {
        config = config.interceptor(counter.clone());
    }
    Client::from_conf(config.build())
}

/// A plain DynamoDB client for a server (what a test uses to set up and inspect tables).
pub async fn client(server: &Server) -> Client {
    client_at(&server.endpoint, "us-east-1", &tuning(), None).await
}

/// `name` on `endpoint` in `region`, reached with `tuning` (calls counted in `counter`).
pub async fn table_at(
    endpoint: &str,
    region: &str,
    name: &str,
    tuning: &Tuning,
    counter: Option<&CallCounter>,
) -> Table {
    let client = client_at(endpoint, region, tuning, counter).await;
    Table::new(client, name, "TABLE").at(Some(endpoint.to_owned()), Some(region.to_owned()))
}

/// `name` on `server`, with a plain client.
pub async fn table(server: &Server, name: &str) -> Table {
    table_at(&server.endpoint, "us-east-1", name, &tuning(), None).await
}

/// A table reached through `client` (for tests that already have one).
pub fn table_of(client: &Client, name: &str) -> Table {
    Table::new(client.clone(), name, "TABLE")
}

/// `name` on the Kinesis server at `endpoint`.
pub async fn stream_at(endpoint: &str, name: &str) -> Stream {
    let client = kinesis_client(&sdk_config().await, Some(endpoint), &tuning());
    Stream::new(client, name, "STREAM").at(Some(endpoint.to_owned()))
}

/// `name` on `server`.
pub async fn stream(server: &Server, name: &str) -> Stream {
    stream_at(&server.endpoint, name).await
}

/// The seed's table shape: ForumName (HASH, S) + Subject (RANGE, S).
pub fn thread_schema() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

/// Creates an on-demand table with `schema` (the library's own table setup).
pub async fn create_table(client: &Client, name: &str, schema: &KeySchema) {
    dyno::ops::admin::ensure_table(
        &table_of(client, name),
        schema,
        None,
        dyno::ops::admin::WAIT,
    )
    .await
    .expect("CreateTable");
}

/// Creates a stream with `shards` shards (the library's own stream setup).
pub async fn create_stream(stream: &Stream, shards: i32) {
    dyno::ops::admin::ensure_stream(stream, shards, dyno::ops::admin::WAIT)
        .await
        .expect("CreateStream");
}

/// Creates an SQS queue (moto) and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL")
}

/// A key schema element of `name` in `role`, for tests that create tables by hand.
pub fn key_element(
    name: &str,
    role: aws_sdk_dynamodb::types::KeyType,
) -> aws_sdk_dynamodb::types::KeySchemaElement {
    aws_sdk_dynamodb::types::KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(role)
        .build()
        .expect("a key schema element")
}

/// A string attribute definition of `name`.
pub fn string_attribute(name: &str) -> aws_sdk_dynamodb::types::AttributeDefinition {
    aws_sdk_dynamodb::types::AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
        .build()
        .expect("an attribute definition")
}

/// An index projection of every attribute.
pub fn project_all() -> aws_sdk_dynamodb::types::Projection {
    aws_sdk_dynamodb::types::Projection::builder()
        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
        .build()
}
