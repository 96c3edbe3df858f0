//! One definition of a target's shape for every command: `create` and the replicator agree on a
//! projected target whose `include` names an index key (before, `create` made the index and the
//! replicator refused the target), and a projection keeps the primary's TTL attribute, so that
//! the target's own TTL (which `create` gives it) still expires its items. Judged by plain
//! describe calls and scans on moto.

use aws_sdk_dynamodb::types::{
    GlobalSecondaryIndex, KeyType, Projection, ProjectionType, TimeToLiveSpecification,
};

use dyno::aws::key::{KeySchema, ScalarType};

use super::common::local::Local;
use super::common::*;

const TABLE: &str = "people";

async fn create_people(db: &aws_sdk_dynamodb::Client) {
    let key = |name: &str| key_element(name, KeyType::Hash);
    let string = string_attribute;
    let by_status = GlobalSecondaryIndex::builder()
        .index_name("byStatus")
        .key_schema(key("status"))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .unwrap();
    db.create_table()
        .table_name(TABLE)
        .key_schema(key("pk"))
        .attribute_definitions(string("pk"))
        .attribute_definitions(string("status"))
        .global_secondary_indexes(by_status)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires")
        .build()
        .unwrap();
    db.update_time_to_live()
        .table_name(TABLE)
        .time_to_live_specification(ttl)
        .send()
        .await
        .unwrap();
    for i in 0..4 {
        let item = [
            ("pk", s(&format!("p{i}"))),
            ("status", s(if i % 2 == 0 { "on" } else { "off" })),
            ("email", s(&format!("p{i}@example.com"))),
            (
                "expires",
                aws_sdk_dynamodb::types::AttributeValue::N("4000000000".into()),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        db.put_item()
            .table_name(TABLE)
            .set_item(Some(item.into()))
            .send()
            .await
            .unwrap();
    }
}

/// The attribute names of every item of `table`, sorted, once each.
async fn attributes(db: &aws_sdk_dynamodb::Client, table: &str) -> (usize, Vec<String>) {
    let items = db
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut names: Vec<String> = items.iter().flat_map(|i| i.keys().cloned()).collect();
    names.sort();
    names.dedup();
    (items.len(), names)
}

#[test]
fn create_and_the_replicator_agree_on_a_projected_target_and_keep_its_ttl_attribute() {
    let moto = Server::moto();
    let local = Local::start("shapes");
    local
        .rt()
        .block_on(async { create_people(&client(&moto).await).await });
    let targets = local.path("targets.json");
    let spec = r#"{"targets":[
        {"name":"st","table":"people-status","include":["status"]},
        {"name":"slim","table":"people-slim","include":["email"]}]}"#;
    std::fs::write(&targets, spec).unwrap();
    let targets = targets.to_str().unwrap();
    let at = ["--table", TABLE, "--endpoint-url", &moto.endpoint];
    let at = [&at[..], &["--replica-endpoint-url", &moto.endpoint]].concat();
    local.ok(&[&at[..], &["create", "--no-stream", "--targets", targets]].concat());
    local.ok(&[&at[..], &["backfill", "--direct", "--targets", targets]].concat());
    local.rt().block_on(async {
        let db = client(&moto).await;
        let described = db
            .describe_table()
            .table_name("people-status")
            .send()
            .await
            .unwrap();
        let indexes: Vec<&str> = (described.table().unwrap().global_secondary_indexes())
            .iter()
            .filter_map(|i| i.index_name())
            .collect();
        assert_eq!(
            indexes,
            ["byStatus"],
            "create kept the index an include names"
        );
        assert_eq!(
            attributes(&db, "people-status").await,
            (4, ["expires", "pk", "status"].map(String::from).to_vec())
        );
        assert_eq!(
            attributes(&db, "people-slim").await,
            (4, ["email", "expires", "pk"].map(String::from).to_vec()),
            "the TTL attribute is kept, as a key is"
        );
        let ttl = db
            .describe_time_to_live()
            .table_name("people-slim")
            .send()
            .await
            .unwrap();
        let attribute = ttl
            .time_to_live_description()
            .and_then(|d| d.attribute_name());
        assert_eq!(
            attribute,
            Some("expires"),
            "create gave the target the primary's TTL"
        );
    });
    // An exclude of the TTL attribute is refused, by create and by the replicator alike.
    let spec = r#"{"targets":[{"name":"x","table":"people-x","exclude":["expires"]}]}"#;
    std::fs::write(local.path("exclude.json"), spec).unwrap();
    let exclude = local.path("exclude.json");
    local.rt().block_on(async {
        let db = client(&moto).await;
        create_table(&db, "people-x", &KeySchema::hash_only("pk", ScalarType::S)).await;
    });
    for command in [&["create", "--no-stream"][..], &["backfill", "--direct"]] {
        let args = [&at[..], command, &["--targets", exclude.to_str().unwrap()]].concat();
        let err = local.fails_with(1, &args);
        assert!(
            err.contains("`exclude` names `expires`, which a target always keeps"),
            "{err}"
        );
    }
}
