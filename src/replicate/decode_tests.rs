//! Tests of `decode.rs`: each source's records decoded into keys (or why not), and what tells
//! a TTL delete and its old image.

use super::*;
use crate::aws::key::ScalarType;
use aws_sdk_dynamodb::types::AttributeValue;

#[test]
fn only_a_remove_by_the_dynamodb_service_is_a_ttl_delete() {
    let record = |name: &str, identity: serde_json::Value| {
        dynamodb_record(serde_json::json!({
            "eventID": "1", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "userIdentity": identity,
            "dynamodb": {"Keys": {"id": {"S": "k"}}, "SequenceNumber": "1", "SizeBytes": 9,
                "StreamViewType": "KEYS_ONLY", "ApproximateCreationDateTime": 1.0}
        }))
    };
    let service = serde_json::json!({"type": "Service", "principalId": TTL_PRINCIPAL});
    assert!(record("REMOVE", service.clone()).is_ttl_delete());
    assert!(!record("MODIFY", service).is_ttl_delete());
    let user = serde_json::json!({"type": "Service", "principalId": "someone"});
    assert!(!record("REMOVE", user).is_ttl_delete());
    assert!(!record("REMOVE", serde_json::Value::Null).is_ttl_delete());
}

/// A Kinesis Data Streams for DynamoDB record of `name` by `identity`, with `old_image`.
fn kds(name: &str, identity: serde_json::Value, old_image: serde_json::Value) -> Vec<u8> {
    let mut change = serde_json::json!({
        "Keys": {"ForumName": {"S": "f"}, "Subject": {"S": "s"}}, "SizeBytes": 40});
    if !old_image.is_null() {
        change["OldImage"] = old_image;
    }
    let record = serde_json::json!({
        "awsRegion": "us-east-1", "eventID": "e", "eventName": name,
        "userIdentity": identity, "recordFormat": "application/json", "tableName": "Thread",
        "dynamodb": change, "eventSource": "aws:dynamodb"});
    serde_json::to_vec(&record).unwrap()
}

#[test]
fn a_kinesis_data_streams_for_dynamodb_record_says_a_ttl_delete_and_its_old_image() {
    let service = serde_json::json!({"type": "Service", "principalId": TTL_PRINCIPAL});
    let image = serde_json::json!({"ForumName": {"S": "f"}, "Subject": {"S": "s"},
        "Body": {"S": "last"}});
    let ttl = record(&kds("REMOVE", service.clone(), image.clone()));
    assert!(ttl.is_ttl_delete());
    let old = ttl.old_image().unwrap().expect("an old image");
    assert_eq!(old.len(), 3);
    assert_eq!(old["Body"], AttributeValue::S("last".into()));

    let keys_only = record(&kds("REMOVE", service.clone(), serde_json::Value::Null));
    assert!(keys_only.is_ttl_delete());
    assert!(keys_only.old_image().unwrap().is_none());
    let by_writer = kds("REMOVE", serde_json::Value::Null, image.clone());
    assert!(!record(&by_writer).is_ttl_delete());
    assert!(!record(&kds("MODIFY", service, image)).is_ttl_delete());
    // dyno's own key records, and data that is no record, are never TTL deletes.
    assert!(!record(SEED).is_ttl_delete());
    assert!(!record(b"not json").is_ttl_delete());
    assert!(record(b"not json").old_image().is_err());
}

#[test]
fn a_table_stream_records_old_image_is_its_image_if_the_view_has_one() {
    let record = |change: serde_json::Value| {
        dynamodb_record(serde_json::json!({
            "eventID": "1", "eventName": "REMOVE", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": change}))
    };
    let keys = serde_json::json!({"ForumName": {"S": "f"}, "Subject": {"S": "s"}});
    let with = record(serde_json::json!({"Keys": keys, "SequenceNumber": "1",
        "OldImage": {"ForumName": {"S": "f"}, "Subject": {"S": "s"}, "N": {"N": "1"}},
        "SizeBytes": 9, "StreamViewType": "OLD_IMAGE", "ApproximateCreationDateTime": 1.0}));
    let old = with.old_image().unwrap().expect("an old image");
    assert_eq!(old["N"], AttributeValue::N("1".into()));
    let without = record(serde_json::json!({"Keys": keys, "SequenceNumber": "2",
        "SizeBytes": 9, "StreamViewType": "KEYS_ONLY", "ApproximateCreationDateTime": 1.0}));
    assert!(without.old_image().unwrap().is_none());
}

const SEED: &[u8] = include_bytes!("../../tests/fixtures/seed-record.json");

fn thread() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

fn record(data: &[u8]) -> KinesisEventRecord {
    let mut r = KinesisEventRecord::default();
    r.event_id = Some("shardId-000000000007:42".into());
    r.kinesis.sequence_number = "42".into();
    *r.kinesis.data = data.to_vec();
    r
}

#[test]
fn decodes_the_seed_record_verbatim() {
    let key = decode(&record(SEED), &thread(), "Thread").unwrap();
    assert_eq!(
        key.to_string(),
        r#"ForumName=S:"DynamoDB",Subject=S:"DynamoDB Thread 3""#
    );
}

#[test]
fn decodes_the_kinesis_data_streams_for_dynamodb_format() {
    let data = br#"{"awsRegion":"us-east-1","eventID":"0d6d1a3c-1b64-4c08-9f5e-7c2b1c0f1a2b",
        "eventName":"MODIFY","userIdentity":null,"recordFormat":"application/json",
        "tableName":"Thread","dynamodb":{"ApproximateCreationDateTime":1732521600123,
        "ApproximateCreationDateTimePrecision":"MILLISECOND",
        "Keys":{"Subject":{"S":"s"},"ForumName":{"S":"f"}},
        "NewImage":{"ForumName":{"S":"f"},"Subject":{"S":"s"},"Tags":{"SS":["a"]}},
        "OldImage":{"ForumName":{"S":"f"},"Subject":{"S":"s"}},"SizeBytes":40},
        "eventSource":"aws:dynamodb"}"#;
    let key = decode(&record(data), &thread(), "Thread").unwrap();
    assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
}

#[test]
fn of_a_key_attribute_named_twice_the_last_counts_as_in_any_json_object() {
    let data = br#"{"dynamodb":{"Keys":{"ForumName":{"S":"x"},"Subject":{"S":"s"},
        "ForumName":{"S":"f"}}}}"#;
    let key = decode(&record(data), &thread(), "Thread").unwrap();
    assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
    // Repeated thousands of times, a name takes the room of one.
    let repeated = format!(
        r#"{{"dynamodb":{{"Keys":{{{}"Subject":{{"S":"s"}}}}}}}}"#,
        r#""ForumName":{"S":"f"},"#.repeat(5000)
    );
    let key = decode(&record(repeated.as_bytes()), &thread(), "Thread").unwrap();
    assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
    // Many names: the third already says these are no key of the table.
    let names: Vec<String> = (0..5000)
        .map(|n| format!(r#""a{n}":{{"S":"x"}}"#))
        .collect();
    let many = format!(
        r#"{{"dynamodb":{{"Keys":{{"ForumName":{{"S":"f"}},"Subject":{{"S":"s"}},{}}}}}}}"#,
        names.join(",")
    );
    let err = decode(&record(many.as_bytes()), &thread(), "Thread").unwrap_err();
    assert!(
        matches!(&err.problem, Problem::Key(KeyError::Unexpected { name, .. }) if name == "a0"),
        "{err}"
    );
    let not_a_map = br#"{"dynamodb":{"Keys":[{"ForumName":{"S":"f"}}]}}"#;
    let err = decode(&record(not_a_map), &thread(), "Thread").unwrap_err();
    assert!(
        matches!(err.problem, Problem::KeysNotDynamoDbJson(_)),
        "{err}"
    );
}

fn dynamodb_record(json: serde_json::Value) -> DynamoDbEventRecord {
    serde_json::from_value(json).unwrap()
}

#[test]
fn decodes_a_table_stream_record_from_its_keys_whatever_its_images() {
    let record = dynamodb_record(serde_json::json!({
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Thread/stream/2026-11-27T00:00:00.000",
        "dynamodb": {"ApproximateCreationDateTime": 1764201600.0,
            "Keys": {"Subject": {"S": "s"}, "ForumName": {"S": "f"}},
            "NewImage": {"ForumName": {"S": "f"}, "Subject": {"S": "s"}, "Body": {"S": "x"}},
            "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    }));
    let key = decode(&record, &thread(), "Thread").unwrap();
    assert_eq!(key.to_string(), r#"ForumName=S:"f",Subject=S:"s""#);
    assert_eq!(record.sequence_number(), "111");
    let err = decode(&record, &thread(), "Other").unwrap_err();
    assert!(matches!(err.problem, Problem::OtherTable { .. }), "{err}");
    assert_eq!(
        table_of_stream_arn("arn:aws:dynamodb:r:1:table/T-1.x/stream/label"),
        Some("T-1.x")
    );
}

#[test]
fn names_the_record_and_the_reason() {
    let err = decode(&record(b"not json"), &thread(), "Thread").unwrap_err();
    assert_eq!(err.shard, "shardId-000000000007");
    assert_eq!(err.sequence_number, "42");
    assert!(matches!(err.problem, Problem::NotARecord(_)));
    assert!(err.to_string().contains("shardId-000000000007"), "{err}");

    let no_keys =
        br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","dynamodb":{"SizeBytes":1}}"#;
    let err = decode(&record(no_keys), &thread(), "Thread").unwrap_err();
    assert!(matches!(err.problem, Problem::NoKeys), "{err}");

    let other = br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","tableName":"Other",
        "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"S":"f"},"Subject":{"S":"s"}}}}"#;
    let err = decode(&record(other), &thread(), "Thread").unwrap_err();
    assert!(matches!(err.problem, Problem::OtherTable { .. }), "{err}");

    let wrong_type = br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT",
        "dynamodb":{"SizeBytes":1,"Keys":{"ForumName":{"N":"1"},"Subject":{"S":"s"}}}}"#;
    let err = decode(&record(wrong_type), &thread(), "Thread").unwrap_err();
    assert!(
        matches!(err.problem, Problem::Key(KeyError::WrongType { .. })),
        "{err}"
    );
}

#[test]
fn data_that_is_not_utf8_is_no_record_and_says_where() {
    // The seed record with the first byte of "Thread" in its subject made invalid UTF-8.
    let mut data = SEED.to_vec();
    let at = data.windows(6).position(|w| w == b"Thread").unwrap();
    data[at] = 0xff;
    let err = decode(&record(&data), &thread(), "Thread").unwrap_err();
    assert!(
        matches!(err.problem, Problem::NotUtf8 { at: bad } if bad == at),
        "{err}"
    );
    // What the log of unusable records and a dead letter say: where, never the data.
    let reason = crate::replicate::letter::reason(&err.problem);
    assert!(reason.contains(&format!(
        "not UTF-8 text (its first bad byte is at offset {at})"
    )));
    assert!(!record(&data).is_ttl_delete());
    assert!(record(&data).announced(KeysAs::Text).is_err());
}

/// A Kinesis Data Streams for DynamoDB record of `Thread` whose key is fine and whose `NewImage`
/// (never read by the replicator) holds `body` as its Body's bytes.
fn record_with_body(body: &[u8]) -> Vec<u8> {
    let mut data = br#"{"awsRegion":"us-east-1","eventID":"e","eventName":"MODIFY","tableName":"Thread","dynamodb":{"Keys":{"ForumName":{"S":"f"},"Subject":{"S":"s"}},"NewImage":{"ForumName":{"S":"f"},"Subject":{"S":"s"},"Body":{"S":""#.to_vec();
    data.extend_from_slice(body);
    data.extend_from_slice(br#""}},"SizeBytes":40},"eventSource":"aws:dynamodb"}"#);
    data
}

#[test]
fn a_bad_byte_in_a_part_never_read_is_no_record_either() {
    // JSON is UTF-8 text: a record with an overlong '/', a byte that is never UTF-8 or an
    // encoded surrogate, even in an image the replicator skips, is unusable (dead-lettered,
    // never half-read), and its TTL delete, if it is one, is not told apart from the rest.
    for bad in [&[0xC0, 0xAF][..], &[0xFF], &[0xED, 0xA0, 0x80]] {
        let data = record_with_body(bad);
        let decoded = decode(&record(&data), &thread(), "Thread");
        let unusable = matches!(&decoded, Err(e) if matches!(e.problem, Problem::NotUtf8 { .. }));
        assert!(unusable, "{bad:?}: {decoded:?}");
        assert!(record(&data).announced(KeysAs::Text).is_err());
    }
    let fine = record_with_body(b"ok");
    assert!(decode(&record(&fine), &thread(), "Thread").is_ok());
    // A TTL delete whose eventName has a bad byte: neither a TTL delete nor a key to delete.
    let service = serde_json::json!({"type": "Service", "principalId": TTL_PRINCIPAL});
    let mut data = kds("REMOVE", service, serde_json::Value::Null);
    let at = data.windows(6).position(|w| w == b"REMOVE").unwrap();
    data[at + 5] = 0xC5;
    assert!(!record(&data).is_ttl_delete());
    assert!(decode(&record(&data), &thread(), "Thread").is_err());
}

#[test]
fn a_bom_is_refused_and_escapes_decode_as_text() {
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(SEED);
    let err = decode(&record(&bom), &thread(), "Thread").unwrap_err();
    assert!(matches!(err.problem, Problem::NotARecord(_)), "{err}");
    // Escapes in names and values, and in the table's name.
    let escaped = br#"{"tableName":"\u0054hread","dynamodb":{"Keys":{"\u0046orumName":{"S":"\u0066\ud83d\ude00"},"Sub\u006aect":{"S":"s\/"}},"NewImage":{"x":{"S":"\ud800"}}}}"#;
    let key = decode(&record(escaped), &thread(), "Thread").unwrap();
    assert_eq!(
        key.to_string(),
        "ForumName=S:\"f\u{1F600}\",Subject=S:\"s/\""
    );
    let escaped_record = record(escaped);
    let announced = escaped_record.announced(KeysAs::Text).unwrap();
    assert_eq!(announced.table.as_deref(), Some("Thread"));
    // A lone surrogate escape in the key is refused.
    let lone = br#"{"dynamodb":{"Keys":{"ForumName":{"S":"\ud800"},"Subject":{"S":"s"}}}}"#;
    assert!(decode(&record(lone), &thread(), "Thread").is_err());
    // Raw non-ASCII UTF-8 in a key is fine.
    let raw = "{\"dynamodb\":{\"Keys\":{\"ForumName\":{\"S\":\"é\u{10FFFF}\"},\"Subject\":{\"S\":\"s\"}}}}";
    assert!(decode(&record(raw.as_bytes()), &thread(), "Thread").is_ok());
}

#[test]
fn a_record_is_for_the_table_it_names_or_for_the_only_one() {
    let (a, b) = (thread(), thread());
    let one = [("Thread", &a)];
    assert_eq!(source_of(None, &one).unwrap(), 0);
    assert_eq!(source_of(Some("Thread"), &one).unwrap(), 0);
    let err = source_of(Some("Other"), &one).unwrap_err();
    assert_eq!(
        err.to_string(),
        "record is for table `Other`, not the primary table `Thread`"
    );
    let two = [("Thread", &a), ("Forum", &b)];
    assert_eq!(source_of(Some("Forum"), &two).unwrap(), 1);
    let err = source_of(Some("Other"), &two).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("not any of this deployment's primary tables (`Thread`, `Forum`)"),
        "{err}"
    );
    let err = source_of(None, &two).unwrap_err();
    assert!(matches!(&err, Problem::NoTable { tables } if tables == "`Thread`, `Forum`"));
    assert!(
        err.to_string().contains("the writer must name the table"),
        "{err}"
    );
}

#[test]
fn keys_that_are_no_dynamodb_json_say_so_without_their_text() {
    let data = br#"{"dynamodb":{"Keys":{"ForumName":{"S":"TOP-SECRET","N":"1"}}}}"#;
    let err = decode(&record(data), &thread(), "Thread").unwrap_err();
    let reason = crate::replicate::letter::reason(&err.problem);
    assert!(reason.starts_with("record's dynamodb.Keys is not a map of DynamoDB JSON"));
    assert!(reason.contains("column"), "{reason}");
    assert!(!reason.contains("TOP-SECRET"), "{reason}");
}

/// Against the previous decoding (2f96dac^), what changed, on purpose: data that is no record
/// (or no UTF-8) in a deployment of several tables says so (it said `NoTable`); a record of
/// another table is `OtherTable` whatever its Keys (they made it `NotARecord`); and Keys that
/// are valid JSON but no DynamoDB JSON map (an array, a string, an unknown type, a lone
/// surrogate) are `KeysNotDynamoDbJson` (they were `NotARecord`). What did not change: `"Keys":
/// null` and `{}` are `NoKeys`; a lone surrogate in the table's name, or a bad escape or a
/// repeated field anywhere, is `NotARecord`.
#[test]
fn what_a_record_that_is_no_key_is_and_says() {
    let (a, b) = (thread(), thread());
    let two = [("Thread", &a), ("Forum", &b)];
    let problem = |data: &[u8], sources: &[(&str, &KeySchema)]| {
        decode_from(&record(data), sources).unwrap_err().problem
    };
    assert!(matches!(problem(b"not json", &two), Problem::NotARecord(_)));
    assert!(matches!(
        problem(b"{\"x\":\"\xff\"}", &two),
        Problem::NotUtf8 { at: 6 }
    ));
    let one = [("Thread", &a)];
    for keys in [r#"[1]"#, r#"{"ForumName":{"S":"\ud800"}}"#] {
        let data = format!(r#"{{"tableName":"Other","dynamodb":{{"Keys":{keys}}}}}"#);
        let found = problem(data.as_bytes(), &one);
        assert!(
            matches!(found, Problem::OtherTable { .. }),
            "{keys}: {found}"
        );
    }
    for keys in [
        r#"[]"#,
        r#""SECRET""#,
        r#"5"#,
        r#"{"ForumName":{"SECRET":"x"}}"#,
        r#"{"ForumName":{"S":"SECRET","N":"1"}}"#,
        r#"{"ForumName":{"S":"\ud800SECRET"},"Subject":{"S":"s"}}"#,
        r#"{"Forum\udc00Name":{"S":"x"}}"#,
    ] {
        let data = format!(r#"{{"tableName":"Thread","dynamodb":{{"Keys":{keys}}}}}"#);
        let found = problem(data.as_bytes(), &one);
        assert!(
            matches!(found, Problem::KeysNotDynamoDbJson(_)),
            "{keys}: {found}"
        );
        let reason = crate::replicate::letter::reason(&found);
        assert!(!reason.contains("SECRET"), "{reason}");
        assert!(reason.ends_with("of the Keys' text"), "{reason}");
    }
    for keys in ["null", "{}"] {
        let data = format!(r#"{{"dynamodb":{{"Keys":{keys}}}}}"#);
        assert!(
            matches!(problem(data.as_bytes(), &one), Problem::NoKeys),
            "{keys}"
        );
    }
    for data in [
        r#"{"tableName":"Thread\ud800","dynamodb":{"Keys":{}}}"#,
        r#"{"dynamodb":{"Keys":{"ForumName":{"S":"\x"}}}}"#,
        r#"{"dynamodb":{"Keys":{},"Keys":{}}}"#,
        r#"{"tableName":"Thread","tableName":"Thread","dynamodb":{}}"#,
    ] {
        let found = problem(data.as_bytes(), &two);
        assert!(matches!(found, Problem::NotARecord(_)), "{data}: {found}");
    }
}

/// Keys nested past serde_json's depth limit are refused, never overflow the stack (the Keys
/// are skipped as text, without a limit, then parsed alone); an image as deep is skipped.
#[test]
fn keys_nested_deep_are_refused_and_an_image_as_deep_is_skipped() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let keys = format!(
        r#"{{"dynamodb":{{"Keys":{{"ForumName":{{"L":{}}},"Subject":{{"S":"s"}}}}}}}}"#,
        deep(100_000)
    );
    let err = decode(&record(keys.as_bytes()), &thread(), "Thread").unwrap_err();
    assert!(
        matches!(err.problem, Problem::KeysNotDynamoDbJson(_)),
        "{err}"
    );
    let image = format!(
        r#"{{"dynamodb":{{"Keys":{{"ForumName":{{"S":"f"}},"Subject":{{"S":"s"}}}},"NewImage":{}}}}}"#,
        deep(100_000)
    );
    assert!(decode(&record(image.as_bytes()), &thread(), "Thread").is_ok());
}

#[test]
fn a_table_named_without_escapes_is_borrowed_from_the_data() {
    let by_name = record(br#"{"tableName":"Thread","dynamodb":{}}"#);
    let by_arn = record(br#"{"eventSourceARN":"arn:aws:dynamodb:r:1:table/Thread","dynamodb":{}}"#);
    let escaped = record(br#"{"tableName":"\u0054hread","dynamodb":{}}"#);
    for (r, borrowed) in [(&by_name, true), (&by_arn, true), (&escaped, false)] {
        for keys in [KeysAs::Text, KeysAs::Parsed] {
            let table = r.announced(keys).unwrap().table.expect("a table");
            assert_eq!(table, "Thread");
            assert_eq!(matches!(table, Cow::Borrowed(_)), borrowed);
        }
    }
}

/// Keys read as text or parsed with the record: the same table, the same key, the same problem,
/// for every record of these tests and for the seed.
#[test]
fn keys_as_text_or_parsed_are_the_same_key_or_the_same_problem() {
    let datas: Vec<Vec<u8>> = vec![
        SEED.to_vec(),
        br#"{"tableName":"Thread","dynamodb":{"Keys":{"Subject":{"S":"s"},"ForumName":{"S":"f"}}}}"#.to_vec(),
        br#"{"dynamodb":{"Keys":{"ForumName":{"S":"x"},"Subject":{"S":"s"},"ForumName":{"S":"f"}}}}"#.to_vec(),
        br#"{"dynamodb":{"Keys":[{"ForumName":{"S":"f"}}]}}"#.to_vec(),
        br#"{"dynamodb":{"Keys":{"ForumName":{"N":"1"},"Subject":{"S":"s"}}}}"#.to_vec(),
        br#"{"dynamodb":{"Keys":{"ForumName":{"S":"\ud800"},"Subject":{"S":"s"}}}}"#.to_vec(),
        br#"{"dynamodb":{"Keys":null}}"#.to_vec(),
        br#"{"dynamodb":{}}"#.to_vec(),
        br#"{"tableName":"Other","dynamodb":{"Keys":[1]}}"#.to_vec(),
        b"not json".to_vec(),
        record_with_body(&[0xFF]),
    ];
    let outcome = |data: &[u8], keys: KeysAs| {
        let r = record(data);
        let announced = r.announced(keys).map_err(|p| p.to_string())?;
        let table = announced.table.as_deref().map(str::to_owned);
        let key = announced.key(&thread()).map_err(|p| p.to_string())?;
        Ok::<_, String>((table, key.to_string()))
    };
    let mut keys = 0;
    for data in &datas {
        let (text, parsed) = (outcome(data, KeysAs::Text), outcome(data, KeysAs::Parsed));
        assert_eq!(text, parsed, "{}", String::from_utf8_lossy(data));
        keys += usize::from(text.is_ok());
    }
    assert_eq!(keys, 3);
}
