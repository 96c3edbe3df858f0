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
use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;
use common::local::Local;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};

pub(crate) const TABLE: &str = "unicorn_activities";
pub(crate) const BUCKET: &str = "exports";
pub(crate) const FULL: &str = "AWSDynamoDB/01716790307109-5f9d6aaa";

/// The sample's root (the bucket's root).
pub(crate) fn sample_root() -> PathBuf {
    project_root().join("tests/fixtures/aws-export-sample")
}

/// Every file of the sample under `AWSDynamoDB/`, as (key, bytes).
pub(crate) fn sample_files() -> Vec<(String, Vec<u8>)> {
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
pub(crate) fn run(rig: &Rig, args: &[String], replica: Option<&str>) -> (i32, String) {
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
