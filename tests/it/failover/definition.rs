//! The replica's definition: `dyno create` gives it the primary's indexes, TTL, PITR, deletion
//! protection and tags (or leaves them out when told), and `dyno check` agrees; `check` names
//! each difference and `--apply` adds only what is missing; another key schema changes nothing.

use crate::common;

use std::collections::BTreeMap;
use std::process::Output;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, Projection,
    ScalarAttributeType, Tag,
};
use common::*;

use super::{EXPIRES, PRIMARY, attribute, create_orders, dyno, element, enable_ttl, text};

/// The primary of the issue: two global indexes (one INCLUDE), a local one, TTL on `expires`,
/// PITR and two tags.
async fn full_primary(db: &Client) {
    create_orders(db, PRIMARY, &["byStatus", "byEmail"]).await;
    enable_ttl(db, PRIMARY).await;
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .unwrap();
    db.update_continuous_backups()
        .table_name(PRIMARY)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
    let arn = table_arn(db, PRIMARY).await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    db.tag_resource()
        .resource_arn(arn)
        .tags(tag("team", "orders"))
        .tags(tag("tier", "gold"))
        .send()
        .await
        .unwrap();
}

async fn table_arn(db: &Client, name: &str) -> String {
    let d = db.describe_table().table_name(name).send().await.unwrap();
    d.table.unwrap().table_arn.unwrap()
}

/// What the plain SDK says of a table: its indexes (name → keys and projection), TTL attribute,
/// PITR, deletion protection and tags.
#[derive(Debug, PartialEq)]
struct Described {
    global: BTreeMap<String, String>,
    local: BTreeMap<String, String>,
    ttl: Option<String>,
    pitr: bool,
    deletion_protection: bool,
    tags: BTreeMap<String, String>,
}

async fn describe(db: &Client, name: &str) -> Described {
    let t = db.describe_table().table_name(name).send().await.unwrap();
    let t = t.table.unwrap();
    let shape = |keys: &[KeySchemaElement], p: Option<&Projection>| {
        let keys: Vec<String> = keys.iter().map(|k| k.attribute_name().to_owned()).collect();
        let p = p.unwrap();
        let mut extra = p.non_key_attributes().to_vec();
        extra.sort();
        format!("{keys:?} {:?} {extra:?}", p.projection_type().unwrap())
    };
    let global = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            (
                g.index_name().unwrap().to_owned(),
                shape(g.key_schema(), g.projection()),
            )
        })
        .collect();
    let local = t
        .local_secondary_indexes()
        .iter()
        .map(|l| {
            (
                l.index_name().unwrap().to_owned(),
                shape(l.key_schema(), l.projection()),
            )
        })
        .collect();
    let ttl = db
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    let ttl_on = ttl.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED");
    let backups = db
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let pitr = backups
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        .map(|s| s.as_str().to_owned());
    let arn = t.table_arn().unwrap();
    let tags = db
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    Described {
        global,
        local,
        ttl: ttl.attribute_name.filter(|_| ttl_on),
        pitr: pitr.as_deref() == Some("ENABLED"),
        deletion_protection: t.deletion_protection_enabled().unwrap_or(false),
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_gives_the_replica_the_primarys_definition_and_check_agrees() {
    // What `dyno` printed on its standard output, line by line.
    let stdout_lines = |out: &Output| -> Vec<String> {
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().map(str::to_owned).collect()
    };
    let moto = Server::moto();
    let db = client(&moto).await;
    full_primary(&db).await;
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-dr", "create", "--no-stream"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created with global indexes: byStatus, byEmail"));

    let primary = describe(&db, PRIMARY).await;
    let replica = describe(&db, "orders-dr").await;
    assert_eq!(replica.global, primary.global);
    assert_eq!(replica.global.len(), 2);
    assert!(replica.global["byEmail"].contains("Include"), "{replica:?}");
    assert_eq!(replica.local, primary.local);
    assert_eq!(replica.ttl.as_deref(), Some(EXPIRES));
    assert!(replica.pitr, "point-in-time recovery on by default");
    assert!(
        replica.deletion_protection,
        "deletion protection on by default"
    );
    assert_eq!(replica.tags, primary.tags);

    let out = dyno(&moto, None, &["--replica-table", "orders-dr", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout_lines(&out),
        ["check: the replica matches the primary's definition"],
        "{}",
        text(&out)
    );

    // Running create again changes nothing and says the replica exists.
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-dr", "create", "--no-stream"],
    );
    assert!(text(&out).contains("table `orders-dr` ("), "{}", text(&out));
    assert_eq!(describe(&db, "orders-dr").await, replica);

    // The operator's choices: no PITR, no deletion protection, no tags, no indexes.
    let bare = [
        "--replica-table",
        "orders-bare",
        "create",
        "--no-stream",
        "--no-pitr",
        "--no-deletion-protection",
        "--no-tags",
        "--no-indexes",
    ];
    let out = dyno(&moto, None, &bare);
    assert!(out.status.success(), "{}", text(&out));
    let bare = describe(&db, "orders-bare").await;
    assert!(bare.global.is_empty() && bare.local.is_empty(), "{bare:?}");
    assert!(!bare.pitr && !bare.deletion_protection && bare.tags.is_empty());
    assert_eq!(bare.ttl.as_deref(), Some(EXPIRES), "TTL is always copied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_each_difference_and_apply_adds_only_what_is_missing() {
    // What `dyno` printed on its standard output, line by line.
    let stdout_lines = |out: &Output| -> Vec<String> {
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().map(str::to_owned).collect()
    };
    let moto = Server::moto();
    let db = client(&moto).await;
    full_primary(&db).await;

    // A replica made by hand without byEmail and without TTL.
    create_orders(&db, "orders-hand", &["byStatus"]).await;
    let out = dyno(&moto, None, &["--replica-table", "orders-hand", "check"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    // Made by hand, it also lacks PITR, deletion protection and the tags: each one line.
    assert_eq!(
        stdout_lines(&out),
        [
            "index byEmail: missing on the replica",
            "TTL: off on the replica, on `expires` on the primary",
            "point-in-time recovery: off on the replica",
            "deletion protection: off on the replica",
            "tags: missing on the replica: team, tier",
            "check: 5 differences (5 that `dyno check --apply` adds, 0 for a person to decide); \
             --no-pitr and --no-deletion-protection leave those off",
        ],
        "{said}"
    );
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-hand", "check", "--json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["matches"], false);
    let whats: Vec<&str> = json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        [
            "index byEmail",
            "TTL",
            "point-in-time recovery",
            "deletion protection",
            "tags"
        ],
        "{json}"
    );

    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-hand", "check", "--apply"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("applied: index byEmail: created, ACTIVE"),
        "{}",
        text(&out)
    );
    let fixed = describe(&db, "orders-hand").await;
    let primary = describe(&db, PRIMARY).await;
    assert_eq!(fixed.global, primary.global);
    assert_eq!(fixed.ttl.as_deref(), Some(EXPIRES));
    assert!(fixed.pitr && fixed.deletion_protection);
    assert_eq!(fixed.tags, primary.tags);
    let out = dyno(&moto, None, &["--replica-table", "orders-hand", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout_lines(&out),
        ["check: the replica matches the primary's definition"],
        "{}",
        text(&out)
    );

    // An index only the replica has: reported, and still there after --apply.
    create_orders(&db, "orders-more", &["byStatus", "byEmail", "replicaOnly"]).await;
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-more", "check", "--apply"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    // What it lacked (TTL, PITR, deletion protection, tags) is applied; the one difference left
    // is the index only it has.
    let lines = stdout_lines(&out);
    let (applied, left): (Vec<&str>, Vec<&str>) = lines
        .iter()
        .map(String::as_str)
        .partition(|l| l.starts_with("applied: "));
    assert_eq!(
        applied,
        [
            "applied: TTL: on `expires`",
            "applied: point-in-time recovery: on",
            "applied: deletion protection: on",
            "applied: tags: added team, tier",
        ],
        "{said}"
    );
    assert_eq!(
        left,
        [
            "index replicaOnly: only on the replica: left as it is",
            "check: 1 difference (0 that `dyno check --apply` adds, 1 for a person to decide)",
        ],
        "{said}"
    );
    assert!(
        describe(&db, "orders-more")
            .await
            .global
            .contains_key("replicaOnly")
    );

    // Failures are one line naming what to fix, and exit 2 when nothing could be compared.
    let out = dyno(&moto, None, &["--replica-table", "orders-none", "check"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.trim().lines().count() == 1 && said.contains("--replica-table=orders-none"),
        "{said}"
    );
    let half = [
        "--replica-table",
        "orders-x",
        "create",
        "--billing-mode",
        "PROVISIONED",
    ];
    let out = dyno(&moto, None, &half);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs --read-capacity and --write-capacity"));

    // Another key schema: said first, and nothing is changed.
    db.create_table()
        .table_name("orders-other")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(element("id", KeyType::Hash))
        .attribute_definitions(attribute("id", ScalarAttributeType::S))
        .send()
        .await
        .unwrap();
    let before = describe(&db, "orders-other").await;
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-other", "check", "--apply"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("key schema: "),
        "the key schema comes first: {said}"
    );
    assert!(said.contains("nothing was applied"), "{said}");
    assert_eq!(
        describe(&db, "orders-other").await,
        before,
        "nothing was changed"
    );
    // create on an existing replica with another key schema refuses and changes nothing.
    let out = dyno(
        &moto,
        None,
        &["--replica-table", "orders-other", "create", "--no-stream"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("nothing was changed"), "{}", text(&out));
    assert_eq!(describe(&db, "orders-other").await, before);
}
