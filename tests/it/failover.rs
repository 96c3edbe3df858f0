//! A replica you can fail over to: `dyno create` gives it the primary's indexes, TTL, PITR,
//! deletion protection and tags; `dyno check` names every difference and `--apply` adds what is
//! missing without deleting anything; queries through a copied index answer as on the primary;
//! expired items are set apart by `diff` and skipped by `backfill`; a TTL delete on a table's own
//! stream is followed, or kept with `KEEP_TTL_DELETES`. Every table is judged with the plain SDK
//! (describe calls, scans, queries), not by dyno. Against moto (definitions, TTL, PITR, tags),
//! dynalite (indexes, replication) and kinesalite.

mod archive;
mod definition;
mod queries;
mod ttl;

use crate::common;

use std::collections::HashMap;
use std::process::Output;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use common::*;

const PRIMARY: &str = "orders";
const EXPIRES: &str = "expires";

/// `dyno` with the primary and the replica on `tables` (and the key stream on `kinesis`).
fn dyno(tables: &Server, kinesis: Option<&Server>, args: &[&str]) -> Output {
    dyno_command(At {
        tables: Some(&tables.endpoint),
        replica: None,
        kinesis: Some(kinesis.map_or("http://127.0.0.1:1", |k| k.endpoint.as_str())),
    })
    .args(["--table", PRIMARY])
    .args(args)
    .output()
    .expect("run dyno")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .unwrap()
}

fn element(name: &str, role: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(role)
        .build()
        .unwrap()
}

fn gsi(name: &str, hash: &str, projection: Projection) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(element(hash, KeyType::Hash))
        .projection(projection)
        .build()
        .unwrap()
}

fn all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn include(names: &[&str]) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::Include)
        .set_non_key_attributes(Some(names.iter().map(|n| n.to_string()).collect()))
        .build()
}

/// `name`: key tenant (S) + id (S); global indexes byStatus (ALL) and byEmail (INCLUDE status),
/// unless left out; a local index byCreated; on demand.
async fn create_orders(db: &Client, name: &str, indexes: &[&str]) {
    let mut request = db
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(element("tenant", KeyType::Hash))
        .key_schema(element("id", KeyType::Range))
        .attribute_definitions(attribute("tenant", ScalarAttributeType::S))
        .attribute_definitions(attribute("id", ScalarAttributeType::S))
        .attribute_definitions(attribute("created", ScalarAttributeType::N))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("byCreated")
                .key_schema(element("tenant", KeyType::Hash))
                .key_schema(element("created", KeyType::Range))
                .projection(all())
                .build()
                .unwrap(),
        );
    if indexes.contains(&"byStatus") {
        request = request
            .global_secondary_indexes(gsi("byStatus", "status", all()))
            .attribute_definitions(attribute("status", ScalarAttributeType::S));
    }
    if indexes
        .iter()
        .any(|i| ["byEmail", "replicaOnly"].contains(i))
    {
        request = request.attribute_definitions(attribute("email", ScalarAttributeType::S));
    }
    if indexes.contains(&"byEmail") {
        request = request.global_secondary_indexes(gsi("byEmail", "email", include(&["status"])));
    }
    if indexes.contains(&"replicaOnly") {
        request = request.global_secondary_indexes(gsi("replicaOnly", "email", all()));
    }
    request.send().await.expect("CreateTable");
}

async fn enable_ttl(db: &Client, name: &str) {
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(EXPIRES)
        .build()
        .unwrap();
    db.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
        .expect("UpdateTimeToLive");
}

fn order(tenant: &str, id: usize, status: &str) -> Item {
    HashMap::from([
        ("tenant".to_owned(), s(tenant)),
        ("id".to_owned(), s(&format!("o{id:04}"))),
        ("status".to_owned(), s(status)),
        ("email".to_owned(), s(&format!("{id}@example.com"))),
        ("created".to_owned(), AttributeValue::N(id.to_string())),
    ])
}

fn expiring(id: usize, expires: i64) -> Item {
    let mut item = order("t", id, "open");
    item.insert(EXPIRES.to_owned(), AttributeValue::N(expires.to_string()));
    item
}

async fn put(db: &Client, table: &str, items: Vec<Item>) {
    for item in items {
        db.put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

fn orders_schema() -> dyno::aws::key::KeySchema {
    use dyno::aws::key::{KeySchema, ScalarType};
    KeySchema::composite(("tenant", ScalarType::S), ("id", ScalarType::S))
}
