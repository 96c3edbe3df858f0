//! Tests of `export_manifest.rs`, on AWS's own manifests (`tests/fixtures/aws-export-sample`).

use super::*;

const FULL: &str = "AWSDynamoDB/01716790307109-5f9d6aaa";
const INCREMENTAL: &str = "AWSDynamoDB/01716791487000-6ddcf8cf";

fn sample(key: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join("tests/fixtures/aws-export-sample").join(key)).expect("the sample")
}

#[test]
fn places_are_the_export_folder_and_nothing_else() {
    let place = ExportPlace::parse("s3://b/p/q/AWSDynamoDB/0171-5f9d/").unwrap();
    assert_eq!(place.bucket, "b");
    assert_eq!(
        place.summary_key(),
        "p/q/AWSDynamoDB/0171-5f9d/manifest-summary.json"
    );
    assert_eq!(place.shown(), "s3://b/p/q/AWSDynamoDB/0171-5f9d/");
    let root = ExportPlace::parse("s3://b/AWSDynamoDB/0171-5f9d").unwrap();
    assert_eq!(
        root.summary_key(),
        "AWSDynamoDB/0171-5f9d/manifest-summary.json"
    );
    for bad in [
        "b/AWSDynamoDB/x",
        "s3://b",
        "s3:///AWSDynamoDB/x",
        "s3://b/p/x",
        "s3://b/AWSDynamoDB/",
        "https://b.s3.amazonaws.com/AWSDynamoDB/x",
    ] {
        let error = ExportPlace::parse(bad).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{bad}: not an export")),
            "{error}"
        );
    }
}

#[test]
fn awss_full_export_reads_as_it_was_written() {
    let summary = Summary::parse(&sample(&format!("{FULL}/manifest-summary.json")), "s").unwrap();
    assert_eq!(summary.kind(), ExportKind::Full);
    assert_eq!(summary.table_name(), Some("unicorn_activities"));
    assert_eq!(summary.as_of(), Some("2024-05-27T06:11:47.109Z"));
    assert_eq!(summary.item_count, Some(133_199));
    let files = data_files(
        &sample(&format!("{FULL}/manifest-files.json")),
        "f",
        &summary,
    )
    .unwrap();
    let counts: Vec<u64> = files.iter().map(|f| f.item_count).collect();
    assert_eq!(counts, [33_300, 33_070, 33_449, 33_380]);
    assert_eq!(files[0].md5_checksum, "u9+yebd3wn80Ram6WFcfvw==");
    assert!(
        files[0]
            .data_file_s3_key
            .starts_with(&format!("{FULL}/data/"))
    );
}

#[test]
fn awss_incremental_export_says_so() {
    let key = format!("{INCREMENTAL}/manifest-summary.json");
    let summary = Summary::parse(&sample(&key), "s").unwrap();
    assert_eq!(summary.kind(), ExportKind::Incremental);
    assert_eq!(summary.as_of(), Some("2024-05-27T06:26:47.109Z"));
    let files = sample(&format!("{INCREMENTAL}/manifest-files.json"));
    let files = data_files(&files, "f", &summary).unwrap();
    assert_eq!(files.iter().map(|f| f.item_count).sum::<u64>(), 15);
    assert!(files[0].data_file_s3_key.starts_with("AWSDynamoDB/data/"));
}

#[test]
fn manifests_that_disagree_or_do_not_read_are_refused_by_name() {
    let summary = Summary::parse(br#"{"itemCount": 3}"#, "s").unwrap();
    let line = r#"{"itemCount":2,"md5Checksum":"x","dataFileS3Key":"k"}"#;
    let error = data_files(line.as_bytes(), "files.json", &summary).unwrap_err();
    assert!(
        error.to_string().starts_with("files.json: lists 2 items"),
        "{error}"
    );
    let error = data_files(b"{\"itemCount\":\n", "files.json", &summary).unwrap_err();
    assert!(
        error.to_string().starts_with("files.json: line 1:"),
        "{error}"
    );
    let error = data_files(b"", "files.json", &summary).unwrap_err();
    assert_eq!(
        error.to_string(),
        "files.json: the export lists no data files"
    );
    let error = Summary::parse(br#"{"outputFormat":"ION"}"#, "s.json").unwrap_err();
    assert!(
        error.to_string().contains("reads DYNAMODB_JSON exports"),
        "{error}"
    );
    assert!(Summary::parse(b"not json", "s.json").is_err());
}
