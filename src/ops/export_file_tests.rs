//! Tests of `export_file.rs`, on AWS's own data files (`tests/fixtures/aws-export-sample`).

use std::io::Write;

use aws_sdk_dynamodb::types::AttributeValue;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

fn sample(key: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join("tests/fixtures/aws-export-sample").join(key)).expect("the sample")
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_full_exports_file_reads_item_by_item() {
    let key = "AWSDynamoDB/01716790307109-5f9d6aaa/data/bddxj42rqu5ydkvytmo3fljtbu.json.gz";
    let lines = read_all(&sample(key)[..], key).unwrap();
    assert_eq!(lines.len(), 33_300, "the manifest's itemCount");
    let Line::Item(first) = &lines[0] else {
        panic!("a full export holds items")
    };
    assert!(matches!(first.get("name"), Some(AttributeValue::S(_))));
    assert!(matches!(
        first.get("activities"),
        Some(AttributeValue::L(_))
    ));
}

#[test]
fn an_incremental_exports_lines_are_changes() {
    let line = br#"{"Metadata":{"WriteTimestampMicros":{"N":"1"}},"Keys":{"name":{"S":"a"}},
        "OldImage":{"name":{"S":"a"},"v":{"N":"1"}},"NewImage":{"name":{"S":"a"},"v":{"N":"2"}}}"#;
    let Line::Change { keys, new_image } = parse_line(line).unwrap() else {
        panic!("a change")
    };
    assert_eq!(keys.len(), 1);
    assert_eq!(
        new_image.unwrap().get("v"),
        Some(&AttributeValue::N("2".into()))
    );
    let delete = br#"{"Keys":{"name":{"S":"a"}},"OldImage":{"name":{"S":"a"}}}"#;
    assert!(matches!(
        parse_line(delete),
        Ok(Line::Change {
            new_image: None,
            ..
        })
    ));
}

#[test]
fn bad_lines_and_truncated_files_are_named_with_their_line() {
    let text = "{\"Item\":{\"id\":{\"S\":\"a\"}}}\n\nnot json\n";
    let error = read_all(&gzip(text)[..], "k.json.gz").unwrap_err();
    assert_eq!(
        error.to_string(),
        "k.json.gz: line 3: not an export's item (not JSON, at column 2)"
    );
    let text = "{\"Item\":{\"id\":{\"Q\":\"secret\"}}}\n";
    let error = read_all(&gzip(text)[..], "k").unwrap_err().to_string();
    assert!(
        error.contains("line 1") && !error.contains("secret"),
        "{error}"
    );
    let error = read_all(&gzip("{\"Other\":1}\n")[..], "k")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("neither an `Item` nor the `Keys`"),
        "{error}"
    );
    let whole = gzip(&"{\"Item\":{\"id\":{\"S\":\"a\"}}}\n".repeat(1000));
    let error = read_all(&whole[..whole.len() / 2], "k").unwrap_err();
    assert!(matches!(error, FileError::Gzip { .. }), "{error}");
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&whole[..whole.len() - 4]).unwrap();
    file.rewind().unwrap();
    assert!(
        count_lines(&mut file).is_err(),
        "a truncated file does not count"
    );
}
