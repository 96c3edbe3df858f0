//! The replicator's handler against real servers: dynalite and moto, one for the primary's
//! region and one for the replica's, over HTTP with the AWS SDK.

use crate::common;

use aws_sdk_dynamodb::Client;
use common::calls::CallCounter;
use common::*;
use dyno::aws::key::KeySchema;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

const REPLICA_REGION: &str = "eu-west-1";

struct Fixture {
    primary_server: Server,
    replica_server: Server,
    primary: Client,
    replica: Client,
    calls: CallCounter,
    replicator: Replicator,
}

async fn fixture_with(backend: Backend, schema: &KeySchema, tuning: Tuning) -> Fixture {
    let primary_server = Server::dynamodb(backend);
    let replica_server = Server::dynamodb(backend);
    // The replica lives in another region than the primary: two clients, two signing regions.
    let primary = client(&primary_server).await;
    let replica = client_at(&replica_server.endpoint, REPLICA_REGION, &tuning, None).await;
    create_table(&primary, PRIMARY, schema).await;
    create_table(&replica, REPLICA, schema).await;
    let calls = CallCounter::default();
    let counted = Some(&calls);
    let replicator = Replicator::connect(
        table_at(
            &primary_server.endpoint,
            "us-east-1",
            PRIMARY,
            &tuning,
            counted,
        )
        .await,
        table_at(
            &replica_server.endpoint,
            REPLICA_REGION,
            REPLICA,
            &tuning,
            counted,
        )
        .await,
        tuning,
    )
    .await
    .expect("connect");
    calls.reset();
    Fixture {
        primary_server,
        replica_server,
        primary,
        replica,
        calls,
        replicator,
    }
}

async fn fixture(backend: Backend) -> Fixture {
    fixture_with(backend, &thread_schema(), tuning()).await
}

async fn get(client: &Client, table: &str, forum: &str, subject: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("ForumName", s(forum))
        .key("Subject", s(subject))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// Runs every scenario against both DynamoDB implementations.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod dynalite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Dynalite).await })*
        }
        mod moto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Moto).await })*
        }
    };
}

mod calls;
mod failures;
mod records;
mod values;
