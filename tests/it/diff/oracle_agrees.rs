//! `dyno diff` agrees with the oracle on every key of a replica damaged in every way that
//! matters (and in ways that do not), as a library call and with `--keys-out`; and the oracle's
//! own normalization of numbers, sets and documents.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::oracle::{self, Number};
use common::*;
use dyno::ops::diff::{Counts, DiffOptions, Kind, diff};
use dyno::ops::scan::Segments;

use super::{PRIMARY, REPLICA, keys_out_kinds, text};

/// An item of the `odd` forum with a body and `extra` attributes.
fn odd(subject: &str, extra: Vec<(&str, AttributeValue)>) -> Item {
    let mut item = thread_item("odd", subject, "b");
    item.extend(extra.into_iter().map(|(n, v)| (n.to_owned(), v)));
    item
}

fn ns(members: &[&str]) -> AttributeValue {
    AttributeValue::Ns(members.iter().map(|m| (*m).to_owned()).collect())
}

fn n(number: &str) -> AttributeValue {
    AttributeValue::N(number.to_owned())
}

fn map(pairs: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A document with `leaf` three levels down.
fn nested(leaf: &str) -> AttributeValue {
    let inner = map(vec![("c", s(leaf)), ("d", ns(&["1", "2"]))]);
    map(vec![(
        "a",
        map(vec![("b", AttributeValue::L(vec![n("7"), inner]))]),
    )])
}

fn blobs(members: &[&[u8]]) -> AttributeValue {
    AttributeValue::Bs(members.iter().map(|m| Blob::new(m.to_vec())).collect())
}

/// A replica damaged in every way that matters, and in ways that do not (a number spelled
/// otherwise, set members in another order): dyno's diff, as a library call and through
/// `dyno diff --keys-out`, reports exactly the keys the oracle finds, each of the same kind.
async fn diff_agrees_with_the_oracle_on_every_key(backend: Backend) {
    let server = Server::dynamodb(backend);
    let c = client(&server).await;
    create_table(&c, PRIMARY, &thread_schema()).await;
    create_table(&c, REPLICA, &thread_schema()).await;
    let plain: Vec<Item> = (0..20)
        .map(|i| thread_item("plain", &format!("p{i:02}"), "same"))
        .collect();
    let originals = vec![
        odd("nested", vec![("Doc", nested("deep"))]),
        odd("binary-set", vec![("Bs", blobs(&[&[1, 2], &[3]]))]),
        odd("added", vec![]),
        odd(
            "number",
            vec![
                ("N", n("1")),
                ("Ns", ns(&["1", "2.5"])),
                ("M", map(vec![("n", n("1.5"))])),
            ],
        ),
        odd(
            "set-order",
            vec![(
                "Ss",
                AttributeValue::Ss(vec!["a".into(), "b".into(), "c".into()]),
            )],
        ),
        odd("missing", vec![]),
    ];
    let copies = vec![
        odd("nested", vec![("Doc", nested("deeper"))]),
        odd("binary-set", vec![("Bs", blobs(&[&[1, 2], &[4]]))]),
        odd("added", vec![("Note", s("only on the replica"))]),
        odd(
            "number",
            vec![
                ("N", n("1.0")),
                ("Ns", ns(&["2.50", "1.0"])),
                ("M", map(vec![("n", n("1.50"))])),
            ],
        ),
        odd(
            "set-order",
            vec![(
                "Ss",
                AttributeValue::Ss(vec!["c".into(), "a".into(), "b".into()]),
            )],
        ),
        odd("extra", vec![]),
    ];
    put_items(&c, PRIMARY, [plain.clone(), originals].concat()).await;
    put_items(&c, REPLICA, [plain, copies].concat()).await;
    let number = c
        .get_item()
        .table_name(REPLICA)
        .key("ForumName", s("odd"))
        .key("Subject", s("number"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    println!(
        "{backend:?} keeps the replica's numbers as {:?}",
        number["N"]
    );

    let key = |subject: &str| {
        oracle::Key(vec![
            ("ForumName".to_owned(), oracle::Value::S("odd".into())),
            ("Subject".to_owned(), oracle::Value::S(subject.into())),
        ])
    };
    let judged = oracle::compare((&c, PRIMARY), (&c, REPLICA)).await;
    let expected = BTreeMap::from([
        (key("nested"), oracle::Kind::Different),
        (key("binary-set"), oracle::Kind::Different),
        (key("added"), oracle::Kind::Different),
        (key("missing"), oracle::Kind::Missing),
        (key("extra"), oracle::Kind::Extra),
    ]);
    assert_eq!(judged.kinds(), expected, "{}", judged.first_differences(10));
    assert_eq!(
        judged.equal,
        20 + 2,
        "a number spelled otherwise, or a set in another order"
    );

    // The library call.
    let names = oracle::key_names(&c, PRIMARY).await;
    let (primary, replica) = (table(&server, PRIMARY).await, table(&server, REPLICA).await);
    let listed = std::sync::Mutex::new(BTreeMap::new());
    let options = DiffOptions {
        segments: Segments::all(2),
        settle: Duration::ZERO,
        ..DiffOptions::default()
    };
    let report = diff(&primary, &replica, &options, &Counts::default(), |found| {
        let mut listed = listed.lock().unwrap();
        for d in found {
            let kind = match d.kind {
                Kind::Missing => oracle::Kind::Missing,
                Kind::Extra => oracle::Kind::Extra,
                Kind::Different => oracle::Kind::Different,
            };
            listed.insert(oracle::Key::of(&names, &d.key.to_attributes()), kind);
        }
        async { Ok(()) }
    })
    .await
    .unwrap();
    assert_eq!(
        listed.into_inner().unwrap(),
        judged.kinds(),
        "dyno::ops::diff::diff"
    );
    assert_eq!(
        (report.missing, report.extra, report.different),
        (1, 1, 3),
        "{report:?}"
    );

    // The command, with --keys-out.
    let dir = std::env::temp_dir().join(format!(
        "dyno-diff-agree-{backend:?}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let keys_out = dir.join("keys.jsonl");
    let out = dyno_command(At {
        tables: Some(&server.endpoint),
        ..At::default()
    })
    .args([
        "--table",
        PRIMARY,
        "--replica-table",
        REPLICA,
        "diff",
        "--settle-ms",
        "0",
    ])
    .args(["--keys-out", keys_out.to_str().unwrap()])
    .output()
    .expect("run dyno");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        keys_out_kinds(&keys_out, &["ForumName", "Subject"]),
        judged.kinds(),
        "dyno diff --keys-out"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynalite_diff_agrees_with_the_oracle_on_every_key() {
    bounded(
        Duration::from_secs(60),
        "diff and the oracle on dynalite",
        diff_agrees_with_the_oracle_on_every_key(Backend::Dynalite),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_diff_agrees_with_the_oracle_on_every_key() {
    bounded(
        Duration::from_secs(60),
        "diff and the oracle on moto",
        diff_agrees_with_the_oracle_on_every_key(Backend::Moto),
    )
    .await;
}

/// The oracle itself: numbers by value, sets in any order, nested values, binary by its bytes.
#[test]
fn the_oracle_normalizes_numbers_sets_and_documents() {
    for (a, b) in [
        ("1.0", "1"),
        ("1e0", "1"),
        ("100", "1E2"),
        ("0.00", "-0"),
        ("-1.50", "-1.5"),
    ] {
        assert_eq!(Number::parse(a), Number::parse(b), "{a} {b}");
    }
    assert_ne!(
        Number::parse("1"),
        Number::parse("1.0000000000000000000000000000000001")
    );
    assert_ne!(Number::parse("10"), Number::parse("1"));
    let value = oracle::Value::of;
    assert_eq!(value(&ns(&["2.50", "1.0"])), value(&ns(&["1", "2.5"])));
    assert_eq!(value(&nested("deep")), value(&nested("deep")));
    assert_ne!(value(&nested("deep")), value(&nested("deeper")));
    assert_ne!(
        value(&blobs(&[&[1, 2], &[3]])),
        value(&blobs(&[&[1, 2], &[4]]))
    );
    assert_eq!(
        value(&blobs(&[&[3], &[1, 2]])),
        value(&blobs(&[&[1, 2], &[3]]))
    );
    assert_ne!(
        value(&AttributeValue::L(vec![n("1"), n("2")])),
        value(&AttributeValue::L(vec![n("2"), n("1")])),
        "a list keeps its order"
    );
}
