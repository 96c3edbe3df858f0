//! An archive keeps what it archives, judged by plain describe calls, scans and gets on moto:
//! it can be made and checked without TTL (`--no-ttl`, a target's `"ttl": false`), a TTL value
//! DynamoDB ignores (`0`, more than five years past) never counts as expired, and a repair leaves
//! an expired item alone even when `--strict-ttl` compares it.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;

use super::common::*;
use super::{PRIMARY, create_orders, dyno, enable_ttl, expiring, orders_schema, put, text};

/// The TTL attribute a table's TTL is on, if on (a plain describe call).
async fn ttl_of(db: &Client, table: &str) -> Option<String> {
    let answer = db
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let description = answer.time_to_live_description()?;
    let on = description.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED");
    description
        .attribute_name()
        .filter(|_| on)
        .map(str::to_owned)
}

/// The `id`s of a table's items (a plain scan).
async fn ids(db: &Client, table: &str) -> BTreeSet<String> {
    let items = scan_all(db, table, &orders_schema()).await;
    (items.values())
        .filter_map(|i| i.get("id").and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_is_made_and_checked_without_ttl() {
    let moto = Server::moto();
    let db = client(&moto).await;
    create_orders(&db, PRIMARY, &[]).await;
    enable_ttl(&db, PRIMARY).await;
    let archive = ["--replica-table", "orders-archive"];
    let out = dyno(
        &moto,
        None,
        &[&archive[..], &["create", "--no-stream", "--no-ttl"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("note: an archive (no TTL) keeps the last version"),
        "the primary's stream carries no old images: {}",
        text(&out)
    );
    assert_eq!(ttl_of(&db, "orders-archive").await, None);
    let out = dyno(
        &moto,
        None,
        &[&archive[..], &["check", "--no-ttl"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = dyno(&moto, None, &[&archive[..], &["check"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("TTL: off on the replica"),
        "{}",
        text(&out)
    );
    // check --apply with --no-ttl turns nothing on.
    let out = dyno(
        &moto,
        None,
        &[&archive[..], &["check", "--apply", "--no-ttl"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ttl_of(&db, "orders-archive").await, None);

    // A target says it is an archive itself; the other target gets the primary's TTL.
    let dir = std::env::temp_dir().join(format!("dyno-archive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.json");
    let spec = r#"{"targets":[{"name":"arch","table":"orders-arch","ttl":false},
                              {"name":"dr","table":"orders-dr"}]}"#;
    std::fs::write(&file, spec).unwrap();
    let targets = ["--targets", file.to_str().unwrap()];
    let out = dyno(
        &moto,
        None,
        &[&["create", "--no-stream"][..], &targets].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ttl_of(&db, "orders-arch").await, None);
    assert_eq!(ttl_of(&db, "orders-dr").await.as_deref(), Some("expires"));
    let out = dyno(&moto, None, &[&["check"][..], &targets].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_values_dynamodb_ignores_never_expire_and_a_repair_leaves_expired_items_alone() {
    let moto = Server::moto();
    let db = client(&moto).await;
    for name in [PRIMARY, "orders-archive"] {
        create_orders(&db, name, &[]).await;
    }
    enable_ttl(&db, PRIMARY).await;
    let now = chrono::Utc::now().timestamp();
    let six_years_ago = now - 6 * 365 * 24 * 3600;
    put(
        &db,
        PRIMARY,
        vec![
            expiring(0, 0),
            expiring(1, six_years_ago),
            expiring(2, now - 3600),
            expiring(3, now + 3600),
        ],
    )
    .await;
    let archive = ["--replica-table", "orders-archive"];
    let out = dyno(
        &moto,
        None,
        &[&archive[..], &["backfill", "--direct"]].concat(),
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("backfill: 3 keys") && said.contains("1 expired items skipped"),
        "{said}"
    );
    let copied: BTreeSet<String> = ["o0000", "o0001", "o0003"].map(String::from).into();
    assert_eq!(
        ids(&db, "orders-archive").await,
        copied,
        "0 and six years ago never expire"
    );

    // The archive keeps an item the primary's TTL has deleted.
    put(&db, "orders-archive", vec![expiring(9, now - 3600)]).await;
    let diff = [&archive[..], &["diff", "--settle-ms", "0"]].concat();
    let out = dyno(&moto, None, &diff);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("expired: 2 (TTL passed, set apart)"),
        "{}",
        text(&out)
    );
    let strict = [&diff[..], &["--strict-ttl"]].concat();
    let out = dyno(&moto, None, &strict);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("1 missing, 1 extra, 0 different"), "{said}");
    assert!(
        said.contains("compared; a repair leaves them to TTL") && !said.contains("set apart"),
        "{said}"
    );
    let out = dyno(
        &moto,
        None,
        &[&strict[..], &["--repair", "--direct"]].concat(),
    );
    assert!(text(&out).contains("repair: 0 keys"), "{}", text(&out));
    let key = HashMap::from([("tenant".to_owned(), s("t")), ("id".to_owned(), s("o0009"))]);
    let got = db
        .get_item()
        .table_name("orders-archive")
        .set_key(Some(key))
        .send()
        .await;
    assert!(
        got.unwrap().item.is_some(),
        "the repair left the archived, expired item alone"
    );
    assert_eq!(ids(&db, "orders-archive").await.len(), 4);
}
