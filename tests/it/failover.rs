//! A replica you can fail over to: `dyno create` gives it the primary's indexes, TTL, PITR,
//! deletion protection and tags; `dyno check` names every difference and `--apply` adds what is
//! missing without deleting anything; queries through a copied index answer as on the primary;
//! expired items are set apart by `diff` and skipped by `backfill`; a TTL delete on a table's own
//! stream is followed, or kept with `KEEP_TTL_DELETES`. Every table is judged with the plain SDK
//! (describe calls, scans, queries), not by dyno. Against moto (definitions, TTL, PITR, tags),
//! dynalite (indexes, replication) and kinesalite.

mod archive;
use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::process::Output;

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType,
    ScalarAttributeType, Tag, TimeToLiveSpecification,
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

fn order(tenant: &str, id: usize, status: &str) -> Item {
    HashMap::from([
        ("tenant".to_owned(), s(tenant)),
        ("id".to_owned(), s(&format!("o{id:04}"))),
        ("status".to_owned(), s(status)),
        ("email".to_owned(), s(&format!("{id}@example.com"))),
        ("created".to_owned(), AttributeValue::N(id.to_string())),
    ])
}

async fn query_status(db: &Client, table: &str, status: &str) -> Vec<String> {
    let mut ids: Vec<String> = db
        .query()
        .table_name(table)
        .index_name("byStatus")
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s(status))
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|item| match item.unwrap().get("id") {
            Some(AttributeValue::S(id)) => id.clone(),
            other => panic!("an order without an id: {other:?}"),
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_through_a_copied_index_answer_as_on_the_primary() {
    let (tables, kinesis) = (Server::dynalite(), Server::kinesalite());
    let db = client(&tables).await;
    create_orders(&db, PRIMARY, &["byStatus"]).await;
    let create = ["--replica-table", "orders-dr", "create", "--shards", "1"];
    let out = dyno(&tables, Some(&kinesis), &create);
    assert!(out.status.success(), "{}", text(&out));

    // A workload through the writer: 60 puts, 20 updates of status, 10 deletes.
    let keys = stream(&kinesis, "dyno-keys").await;
    let w = dyno::publish::writer::Writer::connect(table(&tables, PRIMARY).await, keys)
        .await
        .unwrap();
    for i in 0..60 {
        let put = w.put().set_item(Some(order("t", i, "open")));
        w.put_item(put).await.unwrap();
    }
    let key = |i: usize| {
        HashMap::from([
            ("tenant".to_owned(), s("t")),
            ("id".to_owned(), s(&format!("o{i:04}"))),
        ])
    };
    for i in (0..40).step_by(2) {
        let update = w
            .update()
            .set_key(Some(key(i)))
            .update_expression("SET #s = :s")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s("shipped"));
        w.update_item(update).await.unwrap();
    }
    for i in 50..60 {
        w.delete_item(w.delete().set_key(Some(key(i))))
            .await
            .unwrap();
    }
    let replicate = ["--replica-table", "orders-dr", "replicate"];
    let out = dyno(&tables, Some(&kinesis), &replicate);
    assert!(out.status.success(), "{}", text(&out));

    for status in ["open", "shipped"] {
        let on_primary = query_status(&db, PRIMARY, status).await;
        let on_replica = query_status(&db, "orders-dr", status).await;
        assert_eq!(on_replica, on_primary, "{status}");
    }
    assert_eq!(query_status(&db, "orders-dr", "shipped").await.len(), 20);
    assert_eq!(query_status(&db, "orders-dr", "open").await.len(), 30);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_items_are_set_apart_by_diff_and_skipped_by_backfill() {
    let moto = Server::moto();
    let db = client(&moto).await;
    for name in [PRIMARY, "orders-dr"] {
        create_orders(&db, name, &[]).await;
        enable_ttl(&db, name).await;
    }
    let past = chrono::Utc::now().timestamp() - 3600;
    let future = past + 7 * 24 * 3600;
    // Live items and expired ones, equal on both sides; one expired item the primary has lost
    // (its TTL delete was never announced) stays on the replica.
    let both: Vec<Item> = (0..5)
        .map(|i| expiring(i, future))
        .chain((5..8).map(|i| expiring(i, past)))
        .collect();
    put(&db, PRIMARY, both.clone()).await;
    put(&db, "orders-dr", both).await;
    put(&db, "orders-dr", vec![expiring(8, past)]).await;

    // The keys of a table (a plain SDK scan, the oracle's), and those of orders `ids`.
    let order_keys = async |table: &str| common::oracle::keys(&db, table).await;
    let expected_keys = |ids: std::ops::Range<usize>| {
        let names = ["tenant".to_owned(), "id".to_owned()];
        ids.map(|i| common::oracle::Key::of(&names, &order("t", i, "open")))
            .collect::<std::collections::BTreeSet<_>>()
    };
    // The lines of a `--keys-out` file, as JSON.
    let difference_lines = |path: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let line = |l: &str| serde_json::from_str(l).expect("a JSON line");
        text.lines().map(line).collect()
    };
    let diff = ["--replica-table", "orders-dr", "diff", "--settle-ms", "0"];
    let keys_out = std::env::temp_dir().join(format!("dyno-ttl-keys-{}", std::process::id()));
    let keys_out = keys_out.to_str().unwrap();
    let out = dyno(
        &moto,
        None,
        &[&diff[..], &["--keys-out", keys_out]].concat(),
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("5 items compared, 0 differences"), "{said}");
    assert!(said.contains("expired: 4"), "{said}");
    assert_eq!(difference_lines(keys_out), Vec::<serde_json::Value>::new());
    let strict = [&diff[..], &["--strict-ttl", "--keys-out", keys_out]].concat();
    let out = dyno(&moto, None, &strict);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("0 missing, 1 extra, 0 different"), "{said}");
    // The one difference: the expired item the primary has lost, and nothing else.
    assert_eq!(
        difference_lines(keys_out),
        [serde_json::json!({
            "kind": "extra",
            "key": {"tenant": {"S": "t"}, "id": {"S": "o0008"}},
            "expired": true,
        })],
        "{said}"
    );
    let _ = std::fs::remove_file(keys_out);
    // --repair leaves expired items alone: nothing to announce.
    let repair = [&diff[..], &["--repair", "--direct"]].concat();
    let out = dyno(&moto, None, &repair);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("repair: 0 keys"), "{}", text(&out));
    assert_eq!(order_keys("orders-dr").await, expected_keys(0..9));

    // A backfill skips the expired items and counts them; --include-expired copies them.
    create_orders(&db, "orders-copy", &[]).await;
    let backfill = ["--replica-table", "orders-copy", "backfill", "--direct"];
    let out = dyno(&moto, None, &backfill);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("backfill: 5 keys"), "{said}");
    assert!(said.contains("3 expired items skipped"), "{said}");
    assert_eq!(order_keys("orders-copy").await, expected_keys(0..5));
    let out = dyno(
        &moto,
        None,
        &[&backfill[..], &["--include-expired"]].concat(),
    );
    assert!(text(&out).contains("backfill: 8 keys"), "{}", text(&out));
    assert_eq!(order_keys("orders-copy").await, expected_keys(0..8));
}

fn orders_schema() -> dyno::aws::key::KeySchema {
    use dyno::aws::key::{KeySchema, ScalarType};
    KeySchema::composite(("tenant", ScalarType::S), ("id", ScalarType::S))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_delete_on_the_tables_stream_is_followed_unless_kept() {
    let dynalite = Server::dynalite();
    let db = client(&dynalite).await;
    create_table(&db, "dyno-primary", &thread_schema()).await;
    create_table(&db, "dyno-replica", &thread_schema()).await;
    let read = |name: &str| -> DynamoDbEvent {
        let path = project_root().join("events").join(name);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let (ttl_remove, user_remove) = (
        read("dynamodb-ttl-remove.json"),
        read("dynamodb-user-remove.json"),
    );
    // Thread 2 has expired on the primary (gone) and is still on the replica.
    let thread = thread_item("DynamoDB", "DynamoDB Thread 2", "old");
    let replica_has = || async {
        let key = HashMap::from([
            ("ForumName".to_owned(), s("DynamoDB")),
            ("Subject".to_owned(), s("DynamoDB Thread 2")),
        ]);
        let got = db.get_item().table_name("dyno-replica").set_key(Some(key));
        got.send().await.unwrap().item.is_some()
    };
    let dynalite = &dynalite;
    let replicator = |keep: bool| async move {
        let (primary, replica) = (
            table(dynalite, "dyno-primary").await,
            table(dynalite, "dyno-replica").await,
        );
        dyno::replicate::replicator::Replicator::connect(primary, replica, tuning())
            .await
            .unwrap()
            .keeping_ttl_deletes(keep)
    };

    // Kept: the archive replica keeps the item, and the record is done.
    put(&db, "dyno-replica", vec![thread.clone()]).await;
    let (response, summary) = replicator(true)
        .await
        .handle_dynamodb(&ttl_remove, None)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((summary.ttl_deletes_kept, summary.deletes), (1, 0));
    assert!(replica_has().await, "KEEP_TTL_DELETES keeps the item");
    // A writer's delete of the same key is followed even so.
    let (_, summary) = replicator(true)
        .await
        .handle_dynamodb(&user_remove, None)
        .await;
    assert_eq!((summary.ttl_deletes_kept, summary.deletes), (0, 1));
    assert!(!replica_has().await);

    // By default, the TTL delete is followed.
    put(&db, "dyno-replica", vec![thread]).await;
    let (response, summary) = replicator(false)
        .await
        .handle_dynamodb(&ttl_remove, None)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((summary.ttl_deletes_kept, summary.deletes), (0, 1));
    assert!(
        !replica_has().await,
        "the replica follows the primary's TTL delete"
    );
}
