//! Bad exports, each a one-line error that names what to fix, with nothing written: another
//! table's export, an incremental one given to `load`, a folder with no manifest (an unfinished
//! export), a bucket that does not exist, a location that is not an export, a truncated gzip and
//! a line that is not JSON (file and line named).

use std::io::Write;

use base64::Engine as _;
use md5::{Digest, Md5};

use super::{BUCKET, FULL, Rig, TABLE, run};

/// A small export of `TABLE` whose one data file holds `data` (gzip bytes, `items` lines).
fn small_export(rig: &Rig, id: &str, data: Vec<u8>, items: u64) -> String {
    small_export_at(rig, id, data, items, "2026-12-07T00:00:00Z")
}

/// [`small_export`], of the table as it was at `time`.
fn small_export_at(rig: &Rig, id: &str, data: Vec<u8>, items: u64, time: &str) -> String {
    let folder = format!("AWSDynamoDB/{id}");
    let key = format!("{folder}/data/file.json.gz");
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
    let summary = serde_json::json!({
        "tableArn": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}"),
        "exportTime": time, "itemCount": items, "outputFormat": "DYNAMODB_JSON",
        "manifestFilesS3Key": format!("{folder}/manifest-files.json"),
    });
    let line = serde_json::json!({"itemCount": items, "md5Checksum": md5, "dataFileS3Key": key});
    rig.put(
        &format!("{folder}/manifest-summary.json"),
        summary.to_string().into_bytes(),
    );
    rig.put(
        &format!("{folder}/manifest-files.json"),
        format!("{line}\n").into_bytes(),
    );
    rig.put(&key, data);
    format!("s3://{BUCKET}/{folder}/")
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn bad_exports_are_one_line_errors_and_nothing_is_written() {
    let rig = Rig::start("seed-bad");
    rig.upload_sample();
    let full = format!("s3://{BUCKET}/{FULL}/");
    let incremental = format!("s3://{BUCKET}/AWSDynamoDB/01716791487000-6ddcf8cf/");
    let line = |n: usize| format!("{{\"Item\":{{\"name\":{{\"S\":\"n{n}\"}}}}}}\n");
    let lines: String = (0..500).map(line).collect();
    let whole = gzip(&lines);
    let truncated = small_export(
        &rig,
        "0001-truncated",
        whole[..whole.len() / 2].to_vec(),
        500,
    );
    let not_json = small_export(
        &rig,
        "0002-not-json",
        gzip(&format!("{}{{oops\n", line(1))),
        2,
    );
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (
            rig.load_args(&incremental, &[]),
            "is an incremental export: `load` takes a full one",
        ),
        (
            rig.load_args(&format!("s3://{BUCKET}/AWSDynamoDB/0000-none/"), &[]),
            "no manifest-summary.json: the export is not finished",
        ),
        (
            rig.load_args("s3://no-such-bucket/AWSDynamoDB/0000-none/", &[]),
            "s3://no-such-bucket/AWSDynamoDB/0000-none/manifest-summary.json: GetObject failed",
        ),
        (
            rig.load_args("s3://exports/data/", &[]),
            "s3://exports/data/: not an export",
        ),
        (
            rig.load_args(&truncated, &[]),
            "data/file.json.gz: not a whole gzip file",
        ),
        (
            rig.load_args(&not_json, &[]),
            "data/file.json.gz: line 2: not an export's item (not JSON",
        ),
    ];
    for rate in ["1e-17", "0", "-1", "nan"] {
        let args = rig.load_args(&full, &["--rate", rate]);
        cases.push((
            args,
            "--rate must be a number of items a second from 0.1 to 1e9",
        ));
    }
    let mut other = rig.load_args(&full, &[]);
    other[1] = "other".to_owned();
    cases.push((
        other,
        "is an export of table `unicorn_activities`, not --table `other`",
    ));
    for (args, says) in cases {
        let (code, err) = run(&rig, &args, None);
        assert!(code == 1 || code == 2, "{args:?}: {code} {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("error") || l.starts_with("not loaded"))
            .collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(rig.replica_items().len(), 0, "nothing was written");

    // An export older than a DynamoDB stream's 24 hours: loaded, but the seed is not complete.
    let old = small_export_at(&rig, "0003-old", gzip(&lines), 500, "2024-01-01T00:00:00Z");
    let (code, err) = run(
        &rig,
        &rig.load_args(&old, &["--source", "dynamodb-stream"]),
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("outside a DynamoDB stream's 24-hour window") && err.contains("NOT complete"),
        "{err}"
    );
    assert_eq!(rig.replica_items().len(), 500);
    let (code, err) = run(&rig, &rig.load_args(&old, &["--source", "kinesis"]), None);
    assert_eq!(
        code, 0,
        "a Kinesis stream keeps what its retention says: {err}"
    );
}

/// A line that is not JSON deep in a file, read while the batches before it are still being
/// written: those finish first, and the error counts them.
#[test]
fn a_bad_line_after_whole_batches_says_exactly_what_was_written() {
    let rig = Rig::start("seed-bad-late");
    let line = |n: usize| format!("{{\"Item\":{{\"name\":{{\"S\":\"n{n}\"}}}}}}\n");
    let mut text: String = (0..2300).map(line).collect();
    text.push_str("{oops\n");
    text.extend((2300..2500).map(line));
    let export = small_export(&rig, "0004-late-line", gzip(&text), 2501);
    let (code, err) = run(&rig, &rig.load_args(&export, &[]), None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("data/file.json.gz: line 2301: not an export's item (not JSON"),
        "{err}"
    );
    assert!(
        err.contains("the 2000 items before it were written"),
        "{err}"
    );
    let expected: std::collections::BTreeSet<String> = (0..2000).map(|n| format!("n{n}")).collect();
    assert_eq!(
        rig.replica_names(),
        expected,
        "exactly the two batches before it"
    );
}
