//! AWS's engines on moto: `export-s3` (ExportTableToPointInTime, refused while point-in-time
//! recovery is off) and `create --from-export` (ImportTable, then what an import cannot set).
//! moto's export writes its gzip `{"Item":…}` data file but no manifests and names no
//! manifest or exportTime, so the test lays the manifests beside moto's data file as AWS
//! writes them; moto's import reads the export's `data/` prefix and makes the table with its
//! global indexes. Judged by plain describe calls and scans.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, KeyType, LocalSecondaryIndex,
    PointInTimeRecoverySpecification, TimeToLiveSpecification,
};
use base64::Engine as _;
use md5::{Digest, Md5};

use super::BUCKET;
use super::common::*;

/// `orders` (id:S) with a `byStatus` index and TTL on `expires`, holding 50 items.
async fn orders(db: &Client) {
    let by_status = GlobalSecondaryIndex::builder()
        .index_name("byStatus")
        .key_schema(key_element("status", KeyType::Hash))
        .projection(project_all())
        .build()
        .unwrap();
    db.create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element("id", KeyType::Hash))
        .attribute_definitions(string_attribute("id"))
        .attribute_definitions(string_attribute("status"))
        .global_secondary_indexes(by_status)
        .send()
        .await
        .unwrap();
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires")
        .build()
        .unwrap();
    db.update_time_to_live()
        .table_name("orders")
        .time_to_live_specification(ttl)
        .send()
        .await
        .unwrap();
    for i in 0..50 {
        let item = [
            ("id", s(&format!("o{i:02}"))),
            ("status", s(if i % 2 == 0 { "open" } else { "shipped" })),
            ("expires", AttributeValue::N("4000000000".into())),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        db.put_item()
            .table_name("orders")
            .set_item(Some(item.into()))
            .send()
            .await
            .unwrap();
    }
}

fn dyno(moto: &Server, args: &[&str]) -> (i32, String) {
    let at = At {
        tables: Some(&moto.endpoint),
        replica: None,
        kinesis: None,
    };
    let out = dyno_command(at)
        .args(["--table", "orders"])
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// moto's data file of the export under `prefix`: its key and bytes.
async fn moto_data_file(s3: &aws_sdk_s3::Client, prefix: &str) -> (String, Vec<u8>) {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 1, "moto writes one data file: {keys:?}");
    let body = s3
        .get_object()
        .bucket(BUCKET)
        .key(&keys[0])
        .send()
        .await
        .unwrap()
        .body;
    (
        keys[0].clone(),
        body.collect().await.unwrap().into_bytes().to_vec(),
    )
}

/// The manifests AWS writes, beside moto's data file `key` of `items` items; the export's folder.
async fn lay_manifests(
    s3: &aws_sdk_s3::Client,
    key: &str,
    bytes: &[u8],
    items: usize,
    table: &str,
) -> String {
    let folder = key.split("/data/").next().unwrap().to_owned();
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes));
    let line = serde_json::json!({"itemCount": items, "md5Checksum": md5, "dataFileS3Key": key});
    let summary = serde_json::json!({
        "tableArn": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}"),
        "exportTime": "2026-12-07T06:00:00.000Z", "itemCount": items,
        "outputFormat": "DYNAMODB_JSON", "manifestFilesS3Key": format!("{folder}/manifest-files.json")});
    for (name, text) in [
        ("manifest-files.json", format!("{line}\n")),
        ("manifest-summary.json", summary.to_string()),
    ] {
        let body = aws_sdk_s3::primitives::ByteStream::from(text.into_bytes());
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{folder}/{name}"))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    format!("s3://{BUCKET}/{folder}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_s3_then_create_from_export_on_moto() {
    let moto = Server::moto();
    let db = client(&moto).await;
    let s3 = dyno::aws::client::s3_client(&sdk_config().await, Some(&moto.endpoint), &tuning());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    orders(&db).await;
    let export = ["export-s3", "--bucket", BUCKET, "--prefix", "p"];
    let (code, said) = dyno(&moto, &export);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("point-in-time recovery is off")
            && said.contains("update-continuous-backups"),
        "{said}"
    );
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .unwrap();
    db.update_continuous_backups()
        .table_name("orders")
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
    let (code, said) = dyno(&moto, &export);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("status: COMPLETED") && said.contains("items: 50"),
        "{said}"
    );
    let (data_key, bytes) = moto_data_file(&s3, "p/AWSDynamoDB/").await;
    let lines = BufReader::new(flate2::read::GzDecoder::new(&bytes[..]))
        .lines()
        .count();
    assert_eq!(lines, 50, "the export holds every item");

    let folder = lay_manifests(&s3, &data_key, &bytes, 50, "orders").await;
    let create = [
        "--replica-table",
        "orders-imported",
        "create",
        "--from-export",
        &folder,
        "--s3-endpoint-url",
        &moto.endpoint,
    ];
    let (code, said) = dyno(&moto, &create);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("50 items imported of 50 processed (the export holds 50), 0 errors"),
        "{said}"
    );
    assert!(
        said.contains("catch-up: replicate from a position before 2026-12-07T06:00:00.000Z"),
        "{said}"
    );
    let imported = scan_all(
        &db,
        "orders-imported",
        &dyno::aws::key::KeySchema::hash_only("id", dyno::aws::key::ScalarType::S),
    )
    .await;
    let ids: BTreeSet<String> = imported
        .values()
        .map(|i| i["id"].as_s().unwrap().clone())
        .collect();
    assert_eq!(ids, (0..50).map(|i| format!("o{i:02}")).collect());
    let described = db
        .describe_table()
        .table_name("orders-imported")
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(indexes, ["byStatus"]);
    assert_eq!(
        table.deletion_protection_enabled(),
        Some(true),
        "set after the import"
    );
    let ttl = db
        .describe_time_to_live()
        .table_name("orders-imported")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires")
    );
    let backups = db
        .describe_continuous_backups()
        .table_name("orders-imported")
        .send()
        .await
        .unwrap();
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    assert_eq!(pitr.map(|s| s.as_str()), Some("ENABLED"));

    // Before an import: a file the manifest does not list, or one changed since, is refused.
    let stray = format!(
        "{}stray.json.gz",
        data_key.rsplit_once('/').unwrap().0.to_owned() + "/"
    );
    let body = aws_sdk_s3::primitives::ByteStream::from(bytes.clone());
    s3.put_object()
        .bucket(BUCKET)
        .key(&stray)
        .body(body)
        .send()
        .await
        .unwrap();
    let other = [
        "--replica-table",
        "orders-other",
        "create",
        "--from-export",
        &folder,
        "--s3-endpoint-url",
        &moto.endpoint,
    ];
    let (code, said) = dyno(&moto, &other);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("which the manifest does not list: an import would take it too"),
        "{said}"
    );
    s3.delete_object()
        .bucket(BUCKET)
        .key(&stray)
        .send()
        .await
        .unwrap();
    let mut changed = bytes.clone();
    changed[20] ^= 1;
    let body = aws_sdk_s3::primitives::ByteStream::from(changed);
    s3.put_object()
        .bucket(BUCKET)
        .key(&data_key)
        .body(body)
        .send()
        .await
        .unwrap();
    let (code, said) = dyno(&moto, &other);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("its MD5 is"), "{said}");
    assert!(
        db.describe_table()
            .table_name("orders-other")
            .send()
            .await
            .is_err(),
        "nothing was made"
    );
    let body = aws_sdk_s3::primitives::ByteStream::from(bytes.clone());
    s3.put_object()
        .bucket(BUCKET)
        .key(&data_key)
        .body(body)
        .send()
        .await
        .unwrap();
    // An existing replica is refused, never changed.
    let (code, said) = dyno(&moto, &create);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("exists: an import makes a new table") && said.contains("dyno load --export"),
        "{said}"
    );
    // A primary with a local index is refused, naming `dyno load`.
    let by_created = LocalSecondaryIndex::builder()
        .index_name("byCreated")
        .key_schema(key_element("tenant", KeyType::Hash))
        .key_schema(key_element("created", KeyType::Range))
        .projection(project_all())
        .build()
        .unwrap();
    db.create_table()
        .table_name("events")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element("tenant", KeyType::Hash))
        .key_schema(key_element("id", KeyType::Range))
        .attribute_definitions(string_attribute("tenant"))
        .attribute_definitions(string_attribute("id"))
        .attribute_definitions(string_attribute("created"))
        .local_secondary_indexes(by_created)
        .send()
        .await
        .unwrap();
    let folder = lay_manifests(&s3, &data_key, &bytes, 50, "events").await;
    let at = At {
        tables: Some(&moto.endpoint),
        replica: None,
        kinesis: None,
    };
    let out = dyno_command(at)
        .args([
            "--table",
            "events",
            "--replica-table",
            "events-imported",
            "create",
            "--from-export",
            &folder,
            "--s3-endpoint-url",
            &moto.endpoint,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("local secondary index `byCreated`") && said.contains("dyno load"),
        "{said}"
    );
    assert!(
        db.describe_table()
            .table_name("events-imported")
            .send()
            .await
            .is_err(),
        "nothing was made"
    );
}
