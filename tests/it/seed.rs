//! Seeding a replica from DynamoDB's own exports to S3, on real servers: AWS's real exports
//! (`tests/fixtures/aws-export-sample`, manifests and all) uploaded to moto's S3, loaded by `dyno
//! load` into dynalite, and judged by a plain scan against the files as this test reads them
//! itself (gzip, JSON), and by the calls a proxy counted. (moto's own export writes no
//! manifests, so AWS's bytes stand in for an export here.)

mod bad_exports;
mod catch_up;
use crate::common;
mod engines;
mod heal;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::faults::FaultProxy;
use common::local::Local;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};

const TABLE: &str = "unicorn_activities";
const BUCKET: &str = "exports";
const FULL: &str = "AWSDynamoDB/01716790307109-5f9d6aaa";

/// The sample's root (the bucket's root).
fn sample_root() -> PathBuf {
    project_root().join("tests/fixtures/aws-export-sample")
}

/// Every file of the sample under `AWSDynamoDB/`, as (key, bytes).
fn sample_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![sample_root().join("AWSDynamoDB")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let key = path.strip_prefix(sample_root()).unwrap();
                files.push((
                    key.to_string_lossy().into_owned(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    files
}

/// The test's own reading of a data file: each item as plain JSON, by its `name`.
fn items_of_file(bytes: &[u8]) -> BTreeMap<String, serde_json::Value> {
    let reader = BufReader::new(flate2::read::GzDecoder::new(bytes));
    let mut items = BTreeMap::new();
    for line in reader.lines() {
        let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let item = line["Item"].clone();
        let name = item["name"]["S"].as_str().unwrap().to_owned();
        assert!(items.insert(name, item).is_none(), "one line a key");
    }
    items
}

/// The full export's data files: key → items.
fn full_files() -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
    (sample_files().into_iter())
        .filter(|(key, _)| key.starts_with(&format!("{FULL}/data/")))
        .map(|(key, bytes)| (key, items_of_file(&bytes)))
        .collect()
}

/// The `BatchWriteItem` calls a file of `items` items takes: batches of 1,000, calls of 25.
fn calls_for(items: usize) -> u64 {
    ((items / 1000) * 40 + (items % 1000).div_ceil(25)) as u64
}

pub struct Rig {
    pub local: Local,
    pub s3_server: Server,
    pub s3: aws_sdk_s3::Client,
}

impl Rig {
    pub fn start(name: &str) -> Rig {
        let local = Local::start(name);
        let s3_server = Server::moto();
        let s3 = local.rt().block_on(async {
            let s3 = dyno::aws::client::s3_client(
                &sdk_config().await,
                Some(&s3_server.endpoint),
                &tuning(),
            );
            s3.create_bucket().bucket(BUCKET).send().await.unwrap();
            let schema = KeySchema::hash_only("name", ScalarType::S);
            for server in [&local.primary, &local.replica] {
                create_table(&client(server).await, TABLE, &schema).await;
            }
            s3
        });
        Rig {
            local,
            s3_server,
            s3,
        }
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.local.rt().block_on(async {
            let body = ByteStream::from(bytes);
            self.s3
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body)
                .send()
                .await
                .unwrap();
        });
    }

    pub fn upload_sample(&self) {
        for (key, bytes) in sample_files() {
            self.put(&key, bytes);
        }
    }

    /// `dyno --table unicorn_activities … load --export EXPORT ARGS`.
    pub fn load_args(&self, export: &str, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = ["--table", TABLE, "--replica-table", TABLE, "load"]
            .map(String::from)
            .to_vec();
        all.extend(["--export".into(), export.into()]);
        all.extend(["--s3-endpoint-url".into(), self.s3_server.endpoint.clone()]);
        all.extend(args.iter().map(|a| a.to_string()));
        all
    }

    /// The replica's items, as plain JSON by `name` (a plain scan, in four segments at once).
    pub fn replica_items(&self) -> BTreeMap<String, serde_json::Value> {
        self.replica_scan(None)
    }

    /// The replica's keys (a plain scan of `name` alone).
    pub fn replica_names(&self) -> BTreeSet<String> {
        self.replica_scan(Some("#n")).into_keys().collect()
    }

    fn replica_scan(&self, projection: Option<&str>) -> BTreeMap<String, serde_json::Value> {
        const SEGMENTS: i32 = 4;
        self.local.rt().block_on(async {
            let db = client(&self.local.replica).await;
            let segments = (0..SEGMENTS).map(|segment| {
                let scan = (db.scan().table_name(TABLE))
                    .segment(segment)
                    .total_segments(SEGMENTS)
                    .set_projection_expression(projection.map(str::to_owned))
                    .set_expression_attribute_names(
                        projection.map(|p| [(p.to_owned(), "name".to_owned())].into()),
                    );
                tokio::spawn(async move {
                    let mut items = Vec::new();
                    let mut pages = scan.into_paginator().items().send();
                    while let Some(item) = pages.next().await {
                        let item = serde_dynamo::Item::from(item.expect("Scan"));
                        let json = serde_json::to_value(item).unwrap();
                        items.push((json["name"]["S"].as_str().unwrap().to_owned(), json));
                    }
                    items
                })
            });
            let mut items = BTreeMap::new();
            for segment in futures::future::join_all(segments).await {
                for (name, item) in segment.unwrap() {
                    assert!(items.insert(name, item).is_none(), "one item a key");
                }
            }
            items
        })
    }
}

/// Runs `dyno` and returns (exit code, stderr).
fn run(rig: &Rig, args: &[String], replica: Option<&str>) -> (i32, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = rig.local.command(&args);
    if let Some(endpoint) = replica {
        command.env("DYNO_REPLICA_ENDPOINT_URL", endpoint);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Starts a load and kills it once its checkpoint holds a finished file; returns those files.
fn kill_after_a_file(
    rig: &Rig,
    args: &[String],
    checkpoint: &Path,
    replica: &str,
) -> BTreeSet<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = rig.local.command(&args);
    command.env("DYNO_REPLICA_ENDPOINT_URL", replica);
    let mut child = command.stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    loop {
        let ended: BTreeSet<String> = (checkpoint_positions(checkpoint).into_iter())
            .filter(|(_, at)| at == "END")
            .map(|(file, _)| file)
            .collect();
        if !ended.is_empty() {
            child.kill().unwrap();
            child.wait().unwrap();
            // Read again: another file may have ended before the kill landed.
            return (checkpoint_positions(checkpoint).into_iter())
                .filter(|(_, at)| at == "END")
                .map(|(file, _)| file)
                .collect();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the load ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no file finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_full_export_loads_exactly_its_items_skips_a_damaged_file_and_resumes_after_a_kill() {
    let rig = Rig::start("seed-load");
    rig.upload_sample();
    // The test's own reading of the files, meanwhile.
    let files = std::thread::spawn(full_files);
    // One byte of one file changed: its MD5 no longer matches the manifest's.
    let damaged = format!("{FULL}/data/3ol56grj3u2pxfcyepktpypzju.json.gz");
    let original = std::fs::read(sample_root().join(&damaged)).unwrap();
    let mut changed = original.clone();
    changed[100] ^= 0x01;
    rig.put(&damaged, changed);

    let checkpoint = rig.local.path("load.json");
    let export = format!("s3://{BUCKET}/{FULL}/");
    let args = rig.load_args(&export, &["--checkpoint", checkpoint.to_str().unwrap()]);
    // Every run reaches the replica through one proxy, which counts the writes.
    let proxy = rig
        .local
        .rt()
        .block_on(FaultProxy::start(rig.local.replica.port));
    let ended = kill_after_a_file(&rig, &args, &checkpoint, &proxy.endpoint);
    assert!(!ended.contains(&damaged));
    let files = files.join().unwrap();
    assert_eq!(files.values().map(BTreeMap::len).sum::<usize>(), 133_199);

    // The rerun loads every file not finished but the damaged one, which it names.
    proxy.reset_stats();
    let (code, err) = run(&rig, &args, Some(&proxy.endpoint));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("not loaded: {damaged}: its MD5 is")),
        "{err}"
    );
    let left: Vec<&String> = (files.keys())
        .filter(|f| !ended.contains(*f) && **f != damaged)
        .collect();
    let calls: u64 = left.iter().map(|f| calls_for(files[*f].len())).sum();
    let counted = proxy
        .stats()
        .requests
        .get("BatchWriteItem")
        .copied()
        .unwrap_or(0);
    assert_eq!(counted, calls, "no finished file was written again");
    let good: BTreeSet<&String> = (files.iter())
        .filter(|(f, _)| **f != damaged)
        .flat_map(|(_, items)| items.keys())
        .collect();
    assert_eq!(
        rig.replica_names().iter().collect::<BTreeSet<_>>(),
        good,
        "exactly the good files' keys"
    );

    // The file restored, a last run loads it alone; the replica then equals the export.
    rig.put(&damaged, original);
    proxy.reset_stats();
    let (code, err) = run(&rig, &args, Some(&proxy.endpoint));
    assert_eq!(code, 0, "{err}");
    let expected = files[&damaged].len();
    assert!(
        err.contains(&format!(
            "load: {expected} items written from 1 data files (3 done before, 0 not loaded)"
        )),
        "{err}"
    );
    assert!(
        err.contains("catch-up: replicate from a position before 2024-05-27T06:11:47.109Z"),
        "{err}"
    );
    assert!(
        err.contains("the load must finish before the catch-up starts"),
        "{err}"
    );
    let counted = proxy
        .stats()
        .requests
        .get("BatchWriteItem")
        .copied()
        .unwrap_or(0);
    assert_eq!(counted, calls_for(expected));
    let all: BTreeMap<String, serde_json::Value> = files.into_values().flatten().collect();
    let loaded = rig.replica_items();
    assert_eq!(loaded.len(), 133_199);
    assert!(loaded == all, "every item equals the export's");
}
