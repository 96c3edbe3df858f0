//! The catch-up, end to end: writes made after an export's time reach the replica once
//! `replicate --from-timestamp` starts from before that time, and the replica then equals the
//! primary (a plain scan of both). moto's own export writes its data files but no manifests, so
//! the test makes the export itself, as AWS lays one out: a snapshot of the primary, gzip
//! `{"Item":…}` files, `manifest-files.json` (MD5, counts) and `manifest-summary.json`.

use std::io::Write;

use base64::Engine as _;
use md5::{Digest, Md5};

use super::common::oracle;
use super::common::*;
use super::{BUCKET, Rig, TABLE};

/// Writes `items` (numbered from `from`, of `version`) through `dyno import`: each announced.
fn import(rig: &Rig, from: usize, count: usize, version: &str) {
    let lines: String = (from..from + count)
        .map(|i| {
            format!("{{\"Item\":{{\"name\":{{\"S\":\"n{i}\"}},\"v\":{{\"S\":\"{version}\"}}}}}}\n")
        })
        .collect();
    let path = rig.local.path(&format!("import-{from}-{version}.jsonl"));
    std::fs::write(&path, lines).unwrap();
    let at = ["--table", TABLE, "--replica-table", TABLE];
    rig.local
        .ok(&[&at[..], &["import", path.to_str().unwrap()]].concat());
}

/// An export of the primary as it is now, laid out as AWS does, in two data files; its folder.
fn export_now(rig: &Rig, id: &str, export_time: &str) -> String {
    let (items, arn) = rig.local.rt().block_on(async {
        let db = client(&rig.local.primary).await;
        let schema = dyno::aws::key::KeySchema::hash_only("name", dyno::aws::key::ScalarType::S);
        let items: Vec<_> = scan_all(&db, TABLE, &schema).await.into_values().collect();
        let described = db.describe_table().table_name(TABLE).send().await.unwrap();
        (
            items,
            described.table().unwrap().table_arn().unwrap().to_owned(),
        )
    });
    let folder = format!("AWSDynamoDB/{id}");
    let mut manifest = String::new();
    for (n, half) in items.chunks(items.len().div_ceil(2)).enumerate() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for item in half {
            let json = serde_json::to_value(serde_dynamo::Item::from(item.clone())).unwrap();
            writeln!(gz, "{}", serde_json::json!({"Item": json})).unwrap();
        }
        let bytes = gz.finish().unwrap();
        let key = format!("{folder}/data/file{n}.json.gz");
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes));
        let line =
            serde_json::json!({"itemCount": half.len(), "md5Checksum": md5, "dataFileS3Key": key});
        manifest.push_str(&format!("{line}\n"));
        rig.put(&key, bytes);
    }
    let summary = serde_json::json!({"tableArn": arn, "exportTime": export_time,
        "itemCount": items.len(), "outputFormat": "DYNAMODB_JSON",
        "manifestFilesS3Key": format!("{folder}/manifest-files.json")});
    rig.put(
        &format!("{folder}/manifest-files.json"),
        manifest.into_bytes(),
    );
    rig.put(
        &format!("{folder}/manifest-summary.json"),
        summary.to_string().into_bytes(),
    );
    format!("s3://{BUCKET}/{folder}/")
}

#[test]
fn writes_after_the_exports_time_reach_the_replica_from_a_timestamp_before_it() {
    let rig = Rig::start("seed-catch-up");
    let at = ["--table", TABLE, "--replica-table", TABLE];
    rig.local.ok(&[&at[..], &["create"]].concat());
    import(&rig, 0, 200, "before");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let margin_before = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let export_time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let export = export_now(&rig, "0100-now", &export_time);
    // Written after the export: 50 updates and 30 new items, 80 key records.
    import(&rig, 150, 80, "after");
    let s3 = rig.s3_server.endpoint.clone();
    rig.local.ok(&[
        &at[..],
        &["load", "--export", &export, "--s3-endpoint-url", &s3],
    ]
    .concat());
    let from = margin_before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let args = [&at[..], &["replicate", "--from-timestamp", &from]].concat();
    let replicate = rig.local.command(&args).output().unwrap();
    let err = String::from_utf8_lossy(&replicate.stderr);
    assert!(replicate.status.success(), "{err}");
    assert!(
        err.contains("replicated 80 records"),
        "only the records after the margin: {err}"
    );
    rig.local.rt().block_on(async {
        let (primary, replica) = (
            client(&rig.local.primary).await,
            client(&rig.local.replica).await,
        );
        oracle::assert_equal_items((&primary, TABLE), (&replica, TABLE), 230).await;
    });
}
