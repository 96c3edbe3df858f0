//! `dyno diff` at scale and `--repair`, against dynalite and moto: a damaged replica (missing,
//! extra and different items; sets in another order are not differences) is found key for key,
//! written to `--keys-out`, repaired through the stream, and then equal (exit 0); differing key
//! schemas and missing tables are errors (exit 2); a key that settles during the re-check is not
//! reported.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Output};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use dyno::diff::{Counts, DiffOptions, Kind, diff};
use dyno::key::{KeySchema, ScalarType};
use dyno::scan::Segments;

const PRIMARY: &str = "orders";
const REPLICA: &str = "orders-copy";
const STREAM: &str = "orders-keys";

fn item(n: usize, tags: [&str; 2]) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), s(&format!("f{}", n % 3))),
        ("Subject".to_owned(), s(&format!("s{n:04}"))),
        ("Body".to_owned(), s("the same")),
        (
            "Tags".to_owned(),
            AttributeValue::Ss(tags.iter().map(|t| t.to_string()).collect()),
        ),
    ])
}

fn key_line(kind: &str, n: usize) -> String {
    format!(
        r#"{{"kind":"{kind}","key":{{"ForumName":{{"S":"f{}"}},"Subject":{{"S":"s{n:04}"}}}}}}"#,
        n % 3
    )
}

struct Rig {
    _servers: (Server, Server),
    kinesis: Server,
    endpoint: String,
    dir: std::path::PathBuf,
}

impl Rig {
    fn dyno(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dyno"))
            .args([
                "--table",
                PRIMARY,
                "--replica-table",
                REPLICA,
                "--stream",
                STREAM,
            ])
            .args(args)
            .env("DYNO_ENDPOINT_URL", &self.endpoint)
            .env("DYNO_REPLICA_ENDPOINT_URL", &self.endpoint)
            .env("DYNO_KINESIS_ENDPOINT_URL", &self.kinesis.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("run dyno")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn damaged_replica_is_found_and_repaired(backend: Backend) {
    let tables = Server::dynamodb(backend);
    let kinesis = Server::kinesalite();
    let c = client(&tables).await;
    create_table(&c, PRIMARY, &thread_schema()).await;
    create_table(&c, REPLICA, &thread_schema()).await;
    create_stream(&stream(&kinesis, STREAM).await, 1).await;
    let all: Vec<Item> = (0..300).map(|n| item(n, ["a", "b"])).collect();
    put_items(&c, PRIMARY, all.clone()).await;
    put_items(&c, REPLICA, all).await;
    let dir = std::env::temp_dir().join(format!("dyno-diff-{backend:?}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rig = Rig {
        endpoint: tables.endpoint.clone(),
        _servers: (tables, Server::dynalite()),
        kinesis,
        dir,
    };

    let out = rig.dyno(&["diff", "--segments", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("the replica matches the primary: 300 items compared, 0 differences"),
        "{}",
        text(&out)
    );

    // Damage: 5 missing, 3 extra, 4 different; 6 with their set members in another order.
    for n in 0..5 {
        let key = item(n, ["a", "b"]);
        c.delete_item()
            .table_name(REPLICA)
            .key("ForumName", key["ForumName"].clone())
            .key("Subject", key["Subject"].clone())
            .send()
            .await
            .unwrap();
    }
    let mut damage: Vec<Item> = (1000..1003).map(|n| item(n, ["a", "b"])).collect();
    damage.extend((10..14).map(|n| {
        let mut changed = item(n, ["a", "b"]);
        changed.insert("Body".into(), s("stale"));
        changed
    }));
    damage.extend((20..26).map(|n| item(n, ["b", "a"])));
    put_items(&c, REPLICA, damage).await;

    let keys_out = rig.dir.join("keys.jsonl");
    let out = rig.dyno(&[
        "diff",
        "--segments",
        "4",
        "--keys-out",
        keys_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("the replica differs from the primary: 5 missing, 3 extra, 4 different"),
        "{}",
        text(&out)
    );
    let found: BTreeSet<String> = std::fs::read_to_string(&keys_out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut expected: BTreeSet<String> = (0..5).map(|n| key_line("missing", n)).collect();
    expected.extend((1000..1003).map(|n| key_line("extra", n)));
    expected.extend((10..14).map(|n| key_line("different", n)));
    assert_eq!(found, expected);

    // Repair through the stream, then the replicator drains it: equal.
    let out = rig.dyno(&["diff", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("repair: 12 keys announced"),
        "{}",
        text(&out)
    );
    let out = rig.dyno(&["replicate"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = rig.dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A spot check of some of the pages says it is one.
    let out = rig.dyno(&["diff", "--sample", "0.5", "--segments", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Errors exit 2: a missing table, another key schema.
    let out = rig.dyno(&["--table", "no-such-table", "diff"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--table=no-such-table"),
        "{}",
        text(&out)
    );
    create_table(
        &c,
        "other-shape",
        &KeySchema::hash_only("id", ScalarType::N),
    )
    .await;
    let out = rig.dyno(&["--replica-table", "other-shape", "diff"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot be compared key for key"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&rig.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynalite_damaged_replica_is_found_and_repaired() {
    bounded(
        Duration::from_secs(120),
        "diff on dynalite",
        damaged_replica_is_found_and_repaired(Backend::Dynalite),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_damaged_replica_is_found_and_repaired() {
    bounded(
        Duration::from_secs(120),
        "diff on moto",
        damaged_replica_is_found_and_repaired(Backend::Moto),
    )
    .await;
}

/// A key that differs when first read but agrees by the time it is read again (a write in
/// flight, caught up during the settle) is not reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_that_settles_is_not_reported() {
    let server = Server::dynalite();
    let primary = table(&server, PRIMARY).await;
    let replica = table(&server, REPLICA).await;
    create_table(&primary.client, PRIMARY, &thread_schema()).await;
    create_table(&replica.client, REPLICA, &thread_schema()).await;
    put_items(
        &primary.client,
        PRIMARY,
        (0..50).map(|n| item(n, ["a", "b"])).collect(),
    )
    .await;
    put_items(
        &replica.client,
        REPLICA,
        (1..50).map(|n| item(n, ["a", "b"])).collect(),
    )
    .await;

    let options = DiffOptions {
        segments: Segments::all(1),
        settle: Duration::from_millis(800),
        ..DiffOptions::default()
    };
    // Not caught up: reported.
    let counts = Counts::default();
    let report = diff(
        &primary,
        &replica,
        &DiffOptions {
            settle: Duration::ZERO,
            ..options.clone()
        },
        &counts,
        |d| {
            assert_eq!(
                d.iter().map(|d| d.kind).collect::<Vec<_>>(),
                [Kind::Missing]
            );
            async { Ok(()) }
        },
    )
    .await
    .unwrap();
    assert_eq!(report.missing, 1);

    // Caught up during the settle: the re-check finds it equal.
    let catch_up = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        put_items(&replica.client, REPLICA, vec![item(0, ["a", "b"])]).await;
    };
    let counts = Counts::default();
    let (report, ()) = tokio::join!(
        diff(&primary, &replica, &options, &counts, |_| async { Ok(()) }),
        catch_up
    );
    let report = report.unwrap();
    assert_eq!(report.differences(), 0, "{report:?}");
    assert_eq!(report.primary_items, 50);
}
