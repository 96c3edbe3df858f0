//! Case `load-133k`: the release `dyno load` (a child) of AWS's own export sample (133,199 items
//! in 4 data files, `tests/fixtures/aws-export-sample`) from moto's S3 into dynalite: items/s against a
//! floor of bare `BatchWriteItem` calls of the same items (calls of 25, `CONCURRENCY` in flight,
//! the items already parsed: writes alone) into a fresh table of the same dynalite, each timed
//! once after an untimed warm-up of the floor; and its peak RSS (`VmHWM`) with four files against
//! the same load of one data file (target: the same, within 10%: memory is bounded by a batch,
//! not by a file or the table). Checked: exit 0, and the item count the summary gives.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use dyno::aws::key::{KeySchema, ScalarType};
use futures::stream::{self, TryStreamExt};

use super::shared::{Dynamo, bare_write, fresh_name, peak_rss};
use super::{CONCURRENCY, REGION};
use crate::common::{self, Item, Server, create_table};
use crate::shared::{Line, Own, put_request, release_binary};

const BUCKET: &str = "exports";
const TABLE: &str = "unicorn_activities";
const FULL: &str = "AWSDynamoDB/01716790307109-5f9d6aaa";
const ITEMS: usize = 133_199;

fn sample_root() -> PathBuf {
    common::project_root().join("tests/fixtures/aws-export-sample")
}

/// The sample's files under `AWSDynamoDB/`, as (key, bytes).
fn sample_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![sample_root().join("AWSDynamoDB")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let (Ok(key), Ok(bytes)) =
                (path.strip_prefix(sample_root()), std::fs::read(&path))
            {
                files.push((key.to_string_lossy().into_owned(), bytes));
            }
        }
    }
    files
}

/// The full export's items, parsed here (for the floor).
fn items(files: &[(String, Vec<u8>)]) -> Result<Vec<Item>, String> {
    let mut items = Vec::with_capacity(ITEMS);
    for (_, bytes) in files
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{FULL}/data/")))
    {
        for line in BufReader::new(flate2::read::GzDecoder::new(&bytes[..])).lines() {
            let line = line.map_err(|e| format!("sample: {e}"))?;
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("sample: {e}"))?;
            let item: serde_dynamo::Item = serde_json::from_value(value["Item"].clone())
                .map_err(|e| format!("sample: {e}"))?;
            items.push(
                item.into_inner()
                    .into_iter()
                    .map(|(k, v)| (k, v.into()))
                    .collect(),
            );
        }
    }
    Ok(items)
}

pub async fn load_case() -> Result<Line, String> {
    let moto = Own::moto();
    let sdk = common::sdk_config().await;
    let s3 = dyno::aws::client::s3_client(
        &sdk,
        Some(&moto.endpoint),
        &dyno::replicate::tuning::Tuning::default(),
    );
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| format!("CreateBucket: {e}"))?;
    let files = sample_files();
    for (key, bytes) in &files {
        put(&s3, key, bytes.clone()).await?;
    }
    let one_file = one_file_export(&s3, &files).await?;
    let dynamo = Dynamo::start().await;
    let schema = KeySchema::hash_only("name", ScalarType::S);
    create_table(&dynamo.client, TABLE, &schema).await;
    // The floor: bare writes of the parsed items, once untimed (warm-up), then timed.
    let items = items(&files)?;
    if items.len() != ITEMS {
        return Err(format!(
            "the sample holds {} items, not {ITEMS}",
            items.len()
        ));
    }
    floor(&dynamo, &schema, items.clone()).await?;
    let floor_seconds = floor(&dynamo, &schema, items).await?;
    let four = load_child(&dynamo, &moto, &format!("s3://{BUCKET}/{FULL}/"), ITEMS).await?;
    let one = load_child(&dynamo, &moto, &one_file.0, one_file.1).await?;
    Ok(Line::new("load-133k")
        .int("items", ITEMS)
        .num("items_per_s", ITEMS as f64 / four.0)
        .num("floor_items_per_s", ITEMS as f64 / floor_seconds)
        .num("ratio_to_floor", floor_seconds / four.0)
        .num("target_ratio_to_floor_at_least", 0.9)
        .num("seconds", four.0)
        .num("floor_seconds", floor_seconds)
        .int("peak_rss_kb_4_files", four.1)
        .int("peak_rss_kb_1_file", one.1)
        .num("rss_ratio_4_to_1", four.1 as f64 / one.1.max(1) as f64)
        .num("target_rss_ratio_at_most", 1.1))
}

/// `bytes` at `key` in the bench's bucket.
async fn put(s3: &aws_sdk_s3::Client, key: &str, bytes: Vec<u8>) -> Result<(), String> {
    let body = ByteStream::from(bytes);
    (s3.put_object().bucket(BUCKET).key(key).body(body).send())
        .await
        .map_err(|e| format!("PutObject {key}: {e}"))?;
    Ok(())
}

/// An export of the sample's first data file alone (its own manifests); its folder and items.
async fn one_file_export(
    s3: &aws_sdk_s3::Client,
    files: &[(String, Vec<u8>)],
) -> Result<(String, usize), String> {
    let manifest = files
        .iter()
        .find(|(k, _)| *k == format!("{FULL}/manifest-files.json"))
        .ok_or("the sample has no manifest-files.json")?;
    let first = String::from_utf8_lossy(&manifest.1)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut entry: serde_json::Value =
        serde_json::from_str(&first).map_err(|e| format!("manifest: {e}"))?;
    let count = entry["itemCount"].as_u64().unwrap_or_default();
    let folder = "AWSDynamoDB/0000-one-file";
    // The file itself, copied into this export's own data folder (an export reads no other).
    let source = entry["dataFileS3Key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bytes = (files.iter().find(|(k, _)| *k == source))
        .ok_or("the sample lacks its first data file")?
        .1
        .clone();
    let key = format!("{folder}/data/file.json.gz");
    entry["dataFileS3Key"] = key.clone().into();
    let summary = serde_json::json!({
        "tableArn": format!("arn:aws:dynamodb:{REGION}:000000000000:table/{TABLE}"),
        "exportTime": "2024-05-27T06:11:47.109Z", "itemCount": count, "outputFormat": "DYNAMODB_JSON",
        "manifestFilesS3Key": format!("{folder}/manifest-files.json")});
    for (key, bytes) in [
        (key, bytes),
        (
            format!("{folder}/manifest-files.json"),
            format!("{entry}\n").into_bytes(),
        ),
        (
            format!("{folder}/manifest-summary.json"),
            summary.to_string().into_bytes(),
        ),
    ] {
        put(s3, &key, bytes).await?;
    }
    Ok((format!("s3://{BUCKET}/{folder}/"), count as usize))
}

/// Bare `BatchWriteItem` of `items` into a fresh table, `CONCURRENCY` calls in flight: seconds.
async fn floor(dynamo: &Dynamo, schema: &KeySchema, items: Vec<Item>) -> Result<f64, String> {
    let name = fresh_name("floor");
    create_table(&dynamo.client, &name, schema).await;
    let table = dyno::aws::table::Table::new(dynamo.client.clone(), name, "TABLE");
    let chunks: Vec<Vec<_>> = items
        .chunks(25)
        .map(|c| c.iter().cloned().map(put_request).collect())
        .collect();
    let started = Instant::now();
    stream::iter(chunks.into_iter().map(Ok))
        .try_for_each_concurrent(CONCURRENCY, |writes| bare_write(&table, writes))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    dynamo.drop_table(&table).await;
    Ok(seconds)
}

/// The release `dyno load` of `export` into a fresh replica, as a child: its seconds and peak RSS.
async fn load_child(
    dynamo: &Dynamo,
    moto: &Server,
    export: &str,
    items: usize,
) -> Result<(f64, u64), String> {
    let replica = fresh_name("loaded");
    create_table(
        &dynamo.client,
        &replica,
        &KeySchema::hash_only("name", ScalarType::S),
    )
    .await;
    let mut command = std::process::Command::new(release_binary("dyno")?);
    command
        .args(["--table", TABLE, "--replica-table", &replica])
        .args([
            "--endpoint-url",
            &dynamo.endpoint,
            "--replica-endpoint-url",
            &dynamo.endpoint,
        ])
        .args([
            "load",
            "--export",
            export,
            "--s3-endpoint-url",
            &moto.endpoint,
        ]);
    common::local_aws_env(&mut command);
    let run = tokio::task::spawn_blocking(move || peak_rss(command))
        .await
        .map_err(|e| format!("load child: {e}"))??;
    let said = format!("load: {items} items written");
    if run.status.code() != Some(0) || !run.stderr.contains(&said) {
        return Err(format!(
            "dyno load exited {}: {}",
            run.status,
            run.stderr.trim()
        ));
    }
    Ok((run.seconds, run.peak_kb))
}
