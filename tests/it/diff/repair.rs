//! A damaged replica (missing, extra and different items; set order is no difference) found key
//! for key by `dyno diff`, written to `--keys-out`, spot-checked with `--sample`, repaired through
//! the stream and then equal; a missing table and another key schema exit 2.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::oracle;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};

use super::{PRIMARY, REPLICA, Rig, STREAM, item, keys_out_kinds, text};

fn key_line(kind: &str, n: usize) -> String {
    format!(
        r#"{{"kind":"{kind}","key":{{"ForumName":{{"S":"f{}"}},"Subject":{{"S":"s{n:04}"}}}}}}"#,
        n % 3
    )
}

/// The oracle's key of `item(n, …)`.
fn thread_key(n: usize) -> oracle::Key {
    oracle::Key(vec![
        (
            "ForumName".to_owned(),
            oracle::Value::S(format!("f{}", n % 3)),
        ),
        ("Subject".to_owned(), oracle::Value::S(format!("s{n:04}"))),
    ])
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
    // The oracle sees exactly that damage (set order is no difference).
    let judged = oracle::compare((&c, PRIMARY), (&c, REPLICA)).await;
    let mut damaged: BTreeMap<oracle::Key, oracle::Kind> = BTreeMap::new();
    damaged.extend((0..5).map(|n| (thread_key(n), oracle::Kind::Missing)));
    damaged.extend((1000..1003).map(|n| (thread_key(n), oracle::Kind::Extra)));
    damaged.extend((10..14).map(|n| (thread_key(n), oracle::Kind::Different)));
    assert_eq!(judged.kinds(), damaged, "{}", judged.first_differences(20));
    assert_eq!(
        (judged.primary_items, judged.replica_items, judged.equal),
        (300, 298, 291)
    );

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
    assert_eq!(
        keys_out_kinds(&keys_out, &["ForumName", "Subject"]),
        judged.kinds()
    );

    // A spot check of half of the pages of damaged tables finds the damage on the pages it
    // reads, all of it, and says how many pages it left out.
    sampled_diff_finds_the_damage_of_the_pages_it_reads(&rig, &c).await;

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
    oracle::assert_equal_items((&c, PRIMARY), (&c, REPLICA), 300).await;

    // A spot check of some of the pages of equal tables says it is one.
    let out = rig.dyno(&["diff", "--sample", "0.5", "--segments", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 differences"), "{}", text(&out));

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
        text(&out).contains("cannot be replicated or compared key for key"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&rig.dir);
}

/// The keys of one segment of a parallel scan (plain SDK calls).
async fn segment_keys(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
    segment: i32,
    total: i32,
) -> BTreeSet<oracle::Key> {
    let names = oracle::key_names(c, table).await;
    let mut keys = BTreeSet::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(table)
            .segment(segment)
            .total_segments(total)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        keys.extend(page.items().iter().map(|i| oracle::Key::of(&names, i)));
        match page.last_evaluated_key {
            Some(last) if !last.is_empty() => start = Some(last),
            _ => return keys,
        }
    }
}

/// `--sample 0.5` on two tables damaged on every page (items spread over the segments by their
/// partition keys; each segment is one page, far below the 1,000 items of a page): what it
/// reports is damage, of the right kind; a page it reads is read whole (all its damage found);
/// the pages with nothing found are the ones it says it left out; its counts are those pages'.
async fn sampled_diff_finds_the_damage_of_the_pages_it_reads(
    rig: &Rig,
    c: &aws_sdk_dynamodb::Client,
) {
    const P: &str = "sampled";
    const R: &str = "sampled-copy";
    const SEGMENTS: i32 = 8;
    create_table(c, P, &thread_schema()).await;
    create_table(c, R, &thread_schema()).await;
    let spread = |n: usize, body: &str| thread_item(&format!("g{n:04}"), "s", body);
    put_items(c, P, (0..400).map(|n| spread(n, "v")).collect()).await;
    // Every fourth item different, every eighth (from the second on) missing, 120 extra.
    let copy: Vec<Item> = (0..400)
        .filter(|n| n % 8 != 1)
        .map(|n| spread(n, if n % 4 == 0 { "stale" } else { "v" }))
        .chain((5000..5120).map(|n| spread(n, "v")))
        .collect();
    put_items(c, R, copy).await;
    let judged = oracle::compare((c, P), (c, R)).await;
    assert_eq!(
        (
            judged.missing.len(),
            judged.extra.len(),
            judged.different.len()
        ),
        (50, 120, 100)
    );
    let damage = judged.kinds();

    let keys_out = rig.dir.join("sampled.jsonl");
    let out = rig.dyno(&[
        "--table",
        P,
        "--replica-table",
        R,
        "diff",
        "--sample",
        "0.5",
        "--segments",
        &SEGMENTS.to_string(),
        "--settle-ms",
        "0",
        "--keys-out",
        keys_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let found = keys_out_kinds(&keys_out, &["ForumName", "Subject"]);
    for (key, kind) in &found {
        assert_eq!(
            damage.get(key),
            Some(kind),
            "{key} reported, not so damaged"
        );
    }

    // The pages: each segment of the primary (where missing and different keys are found) and
    // of the replica (extra keys), with the damage each holds.
    let sides = [
        (
            P,
            judged.primary_items,
            [oracle::Kind::Missing, oracle::Kind::Different].as_slice(),
        ),
        (R, judged.replica_items, [oracle::Kind::Extra].as_slice()),
    ];
    let mut pages = Vec::new();
    for (table, items, kinds) in sides {
        let mut seen = BTreeSet::new();
        for segment in 0..SEGMENTS {
            let keys = segment_keys(c, table, segment, SEGMENTS).await;
            assert!(
                keys.len() < 1000,
                "{table} segment {segment}: more than a page"
            );
            let on_page: BTreeSet<oracle::Key> = keys
                .iter()
                .filter(|k| damage.get(k).is_some_and(|kind| kinds.contains(kind)))
                .cloned()
                .collect();
            assert!(!on_page.is_empty(), "{table} segment {segment}: no damage");
            pages.push((table, keys.len(), on_page));
            seen.extend(keys);
        }
        assert_eq!(seen.len(), items, "{table}: the segments are not the table");
    }
    let (mut read, mut primary_items, mut replica_items) = (0, 0, 0);
    for (table, size, on_page) in &pages {
        let seen = on_page.iter().filter(|k| found.contains_key(k)).count();
        assert!(
            seen == 0 || seen == on_page.len(),
            "a page of {table} read in part: {seen} of its {} damaged keys found",
            on_page.len()
        );
        if seen > 0 {
            read += 1;
            match *table {
                P => primary_items += size,
                _ => replica_items += size,
            }
        }
    }
    let found_on_read_pages: usize = pages
        .iter()
        .filter(|(_, _, d)| d.iter().any(|k| found.contains_key(k)))
        .map(|(_, _, d)| d.len())
        .sum();
    assert_eq!(found.len(), found_on_read_pages);
    let skipped = pages.len() - read;
    assert!(
        read > 0 && skipped > 0,
        "{read} pages read, {skipped} left out"
    );
    let count = |kind| found.values().filter(|k| **k == kind).count();
    let said = text(&out);
    let summary = format!(
        "the replica differs from the primary: {} missing, {} extra, {} different \
         ({primary_items} primary items and {replica_items} replica items compared) (a sample: \
         {skipped} pages left out)",
        count(oracle::Kind::Missing),
        count(oracle::Kind::Extra),
        count(oracle::Kind::Different),
    );
    assert!(said.contains(&summary), "expected: {summary}\n{said}");
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
