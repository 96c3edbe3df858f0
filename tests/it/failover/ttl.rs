//! TTL: expired items are set apart by `diff` (`--strict-ttl` compares them, `--repair` leaves
//! them alone) and skipped by `backfill` (`--include-expired` copies them); a TTL delete on a
//! table's own stream is followed, or kept with `KEEP_TTL_DELETES`.

use crate::common;

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use common::*;

use super::{PRIMARY, create_orders, dyno, enable_ttl, expiring, order, put, text};

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
