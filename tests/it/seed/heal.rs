//! Healing a gap from an incremental export: `announce --from-export` puts each of its keys on
//! the stream (or, `--direct`, copies it at once), and after replication every one of them equals
//! the primary's current state, never the export's image. Judged by plain gets on both tables.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};

use aws_sdk_dynamodb::types::AttributeValue;

use super::common::*;
use super::{BUCKET, Rig, TABLE, sample_files};

const INCREMENTAL: &str = "AWSDynamoDB/01716791487000-6ddcf8cf";

type Item = HashMap<String, AttributeValue>;

/// The incremental export's changes, as this test reads its files: key name → (old, new).
fn changes() -> BTreeMap<String, (Option<Item>, Option<Item>)> {
    let manifest = sample_files()
        .into_iter()
        .find(|(key, _)| *key == format!("{INCREMENTAL}/manifest-files.json"))
        .unwrap()
        .1;
    let keys: Vec<String> = String::from_utf8(manifest)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["dataFileS3Key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let image = |v: &serde_json::Value| -> Option<Item> {
        let item: serde_dynamo::Item = serde_json::from_value(v.clone()).ok()?;
        Some(
            item.into_inner()
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
        )
    };
    let mut changes = BTreeMap::new();
    for (key, bytes) in sample_files().into_iter().filter(|(k, _)| keys.contains(k)) {
        for line in BufReader::new(flate2::read::GzDecoder::new(&bytes[..])).lines() {
            let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let name = line["Keys"]["name"]["S"].as_str().unwrap().to_owned();
            let change = (image(&line["OldImage"]), image(&line["NewImage"]));
            let _ = &key;
            changes.insert(name, change);
        }
    }
    changes
}

/// Puts the primary in its current state (each new image, marked as newer than the export; a
/// delete's key absent) and the replica in a stale one (each old image).
fn stale(rig: &Rig, changes: &BTreeMap<String, (Option<Item>, Option<Item>)>) {
    rig.local.rt().block_on(async {
        let (primary, replica) = (
            client(&rig.local.primary).await,
            client(&rig.local.replica).await,
        );
        for (old, new) in changes.values() {
            if let Some(mut new) = new.clone() {
                new.insert("after".to_owned(), s("the export"));
                primary
                    .put_item()
                    .table_name(TABLE)
                    .set_item(Some(new))
                    .send()
                    .await
                    .unwrap();
            }
            if let Some(old) = old.clone() {
                replica
                    .put_item()
                    .table_name(TABLE)
                    .set_item(Some(old))
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
}

/// Asserts each changed key equals the primary's current item on the replica (both absent for a
/// delete); returns how many are present.
fn assert_healed(rig: &Rig, changes: &BTreeMap<String, (Option<Item>, Option<Item>)>) -> usize {
    rig.local.rt().block_on(async {
        let (primary, replica) = (
            client(&rig.local.primary).await,
            client(&rig.local.replica).await,
        );
        let mut present = 0;
        for name in changes.keys() {
            let key = HashMap::from([("name".to_owned(), s(name))]);
            let get = |db: &aws_sdk_dynamodb::Client| {
                db.get_item()
                    .table_name(TABLE)
                    .set_key(Some(key.clone()))
                    .consistent_read(true)
                    .send()
            };
            let (a, b) = (
                get(&primary).await.unwrap().item,
                get(&replica).await.unwrap().item,
            );
            assert_eq!(a, b, "key {name}");
            present += usize::from(a.is_some());
        }
        present
    })
}

#[test]
fn an_incremental_exports_keys_are_announced_and_each_then_equals_the_primary() {
    let rig = Rig::start("seed-heal");
    rig.upload_sample();
    let changes = changes();
    let (deletes, writes) = (
        changes.values().filter(|(_, new)| new.is_none()).count(),
        changes.values().filter(|(_, new)| new.is_some()).count(),
    );
    assert_eq!(
        (changes.len(), deletes, writes),
        (15, 6, 9),
        "the sample's README"
    );
    let at = ["--table", TABLE, "--replica-table", TABLE];
    rig.local.ok(&[&at[..], &["create"]].concat());
    stale(&rig, &changes);
    let export = format!("s3://{BUCKET}/{INCREMENTAL}/");
    let s3 = rig.s3_server.endpoint.clone();
    let announce = [
        "announce",
        "--from-export",
        &export,
        "--s3-endpoint-url",
        &s3,
    ];
    let out = rig
        .local
        .command(&[&at[..], &announce].concat())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("announce: 15 keys of the incremental export of the changes from 2024-05-27T06:11:47.109Z to 2024-05-27T06:26:47.109Z"), "{err}");
    rig.local.ok(&[&at[..], &["replicate"]].concat());
    assert_eq!(assert_healed(&rig, &changes), writes);

    // --direct copies the same keys at once, with no stream.
    stale(&rig, &changes);
    rig.local.ok(&[&at[..], &announce, &["--direct"]].concat());
    assert_eq!(assert_healed(&rig, &changes), writes);
    // A damaged file is named, the other files' keys still announced, and the exit says so.
    let files = sample_files();
    let manifest = format!("{INCREMENTAL}/manifest-files.json");
    let first_line = String::from_utf8(
        files
            .iter()
            .find(|(k, _)| *k == manifest)
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    let first: serde_json::Value =
        serde_json::from_str(first_line.lines().next().unwrap()).unwrap();
    let first_key = first["dataFileS3Key"].as_str().unwrap().to_owned();
    let original = files
        .iter()
        .find(|(k, _)| *k == first_key)
        .unwrap()
        .1
        .clone();
    let mut changed = original.clone();
    changed[12] ^= 1;
    rig.put(&first_key, changed);
    let out = rig
        .local
        .command(&[&at[..], &announce].concat())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("not announced: {first_key}: its MD5 is")),
        "{err}"
    );
    let skipped = first["itemCount"].as_u64().unwrap();
    assert!(
        err.contains(&format!(
            "announce: {} keys of the incremental",
            15 - skipped
        )),
        "{err}"
    );
    assert!(err.contains("1 data files not announced"), "{err}");
    rig.put(&first_key, original);

    // A load refuses the incremental export (its lines are changes, not items).
    let load = rig.load_args(&export, &[]);
    let load: Vec<&str> = load.iter().map(String::as_str).collect();
    let err = rig.local.fails_with(1, &load);
    assert!(err.contains("is an incremental export"), "{err}");
}
