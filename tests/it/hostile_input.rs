//! Hostile input: property tests throw arbitrary bytes, arbitrary and DynamoDB-shaped JSON, deep
//! nesting, huge strings, invalid UTF-8, wrong types and empty or oversized keys at the decoder
//! and the key encoding (never a panic; `Ok` or a typed error; the canonical encoding is
//! injective and order-independent), and a batch at Lambda's limits goes through the handler.

use crate::common;

use std::collections::HashMap;
use std::str::FromStr;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bigdecimal::BigDecimal;
use dyno::aws::key::{KeyError, KeySchema, ScalarType};
use dyno::replicate::decode::{self, Problem};
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

const TABLE: &str = dyno::config::local::PRIMARY_TABLE;

fn kinesis_record(data: Vec<u8>) -> KinesisEventRecord {
    let mut r = KinesisEventRecord::default();
    r.event_id = Some("shardId-000000000001:99".into());
    r.kinesis.sequence_number = "99".into();
    *r.kinesis.data = data;
    r
}

fn thread() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

fn schemas() -> Vec<KeySchema> {
    let kinds = [ScalarType::S, ScalarType::N, ScalarType::B];
    let mut all: Vec<KeySchema> = kinds
        .iter()
        .map(|&k| KeySchema::hash_only("h", k))
        .collect();
    for &h in &kinds {
        for &r in &kinds {
            all.push(KeySchema::composite(("h", h), ("r", r)));
        }
    }
    all
}

/// Decodes and checks the result is coherent: a key that fits the schema, or an error that
/// names this record.
fn decode_checked(data: Vec<u8>, schema: &KeySchema) -> Result<Vec<u8>, Problem> {
    match decode::decode(&kinesis_record(data), schema, TABLE) {
        Ok(key) => {
            let attributes = key.to_attributes();
            assert_eq!(attributes.len(), 1 + schema.range.is_some() as usize);
            assert!(attributes.contains_key(&schema.hash.name));
            // A decoded key is a key: validating it again gives the same encoding.
            let again = schema.key(attributes).expect("a decoded key validates");
            assert_eq!(again.canonical(), key.canonical());
            assert!(key.partition_key().chars().count() <= 256);
            Ok(key.canonical().to_vec())
        }
        Err(error) => {
            assert_eq!(error.sequence_number, "99");
            assert_eq!(error.shard, "shardId-000000000001");
            assert!(!error.to_string().is_empty());
            Err(error.problem)
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            hash_map(".{0,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A DynamoDB JSON attribute value, right or wrong in type and content.
fn dynamo_value() -> impl Strategy<Value = Value> {
    let tag = prop_oneof![
        Just("S"),
        Just("N"),
        Just("B"),
        Just("BOOL"),
        Just("NULL"),
        Just("SS"),
        Just("NS"),
        Just("BS"),
        Just("M"),
        Just("L"),
        Just("X"),
    ];
    let content = prop_oneof![
        ".{0,10}".prop_map(Value::from),
        "[-+]?[0-9]{0,4}(\\.[0-9]{0,3})?([eE][-+]?[0-9]{1,3})?".prop_map(Value::from),
        "[A-Za-z0-9+/]{0,8}={0,2}".prop_map(Value::from),
        json_value(),
    ];
    (tag, content).prop_map(|(tag, content)| json!({ tag: content }))
}

fn envelope(keys: Value, table: Option<&str>) -> Vec<u8> {
    let mut record = json!({
        "awsRegion": "us-east-1",
        "eventID": "e",
        "eventName": "MODIFY",
        "dynamodb": {"Keys": keys, "SizeBytes": 1}
    });
    if let Some(table) = table {
        record["tableName"] = json!(table);
    }
    serde_json::to_vec(&record).expect("json")
}

fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        ".{0,6}".prop_map(AttributeValue::S),
        "[-+]?[0-9]{0,4}(\\.[0-9]{0,2})?([eE][-+]?[0-9]{1,3})?".prop_map(AttributeValue::N),
        ".{0,4}".prop_map(AttributeValue::N),
        vec(any::<u8>(), 0..6).prop_map(|b| AttributeValue::B(Blob::new(b))),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        vec(".{0,3}", 0..3).prop_map(AttributeValue::Ss),
        vec("[0-9]{1,3}", 0..3).prop_map(AttributeValue::Ns),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            hash_map("[a-z]{0,3}", inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("h".to_owned()), Just("r".to_owned()), "[a-z]{0,2}"]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_or_fail_typed(data in vec(any::<u8>(), 0..2048)) {
        for schema in [thread(), KeySchema::hash_only("id", ScalarType::N)] {
            let _ = decode_checked(data.clone(), &schema);
        }
    }

    #[test]
    fn arbitrary_json_decodes_or_fails_typed(value in json_value()) {
        let data = serde_json::to_vec(&value).expect("json");
        prop_assert!(decode_checked(data, &thread()).is_err() || value.is_object());
        // The same value where the keys go, inside a well-formed envelope.
        let _ = decode_checked(envelope(value, None), &thread());
    }

    #[test]
    fn dynamodb_shaped_keys_decode_or_fail_typed(
        keys in hash_map(attribute_name(), dynamo_value(), 0..4),
        table in prop_oneof![Just(None), Just(Some(TABLE)), Just(Some("Other"))],
    ) {
        let keys = Value::Object(keys.into_iter().collect());
        for schema in schemas() {
            let result = decode_checked(envelope(keys.clone(), table), &schema);
            if table == Some("Other") {
                let expected = matches!(result, Err(Problem::OtherTable { .. }) | Err(Problem::NotARecord(_)));
                prop_assert!(expected, "{:?}", result);
            }
        }
    }

    #[test]
    fn arbitrary_attribute_maps_are_keys_or_typed_errors(
        attrs in hash_map(attribute_name(), attribute_value(), 0..4),
    ) {
        for schema in schemas() {
            match schema.key(attrs.clone()) {
                Ok(key) => {
                    let mut names: Vec<String> = key.to_attributes().into_keys().collect();
                    names.sort();
                    let mut expected: Vec<String> = attrs.keys().cloned().collect();
                    expected.sort();
                    prop_assert_eq!(names, expected);
                }
                Err(KeyError::Missing(name)) => prop_assert!(!attrs.contains_key(&name)),
                Err(KeyError::Unexpected { name, .. }) => {
                    let in_schema = name == schema.hash.name
                        || schema.range.as_ref().is_some_and(|r| r.name == name);
                    prop_assert!(!in_schema, "{} is in the schema", name);
                }
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn invalid_utf8_inside_a_key_string_is_a_typed_error(
        bad in vec(0x80u8..=0xff, 1..8),
        at in 0usize..10,
    ) {
        let mut data = br#"{"awsRegion":"r","eventID":"e","eventName":"INSERT","dynamodb":{"Keys":{"ForumName":{"S":"x"#.to_vec();
        data.extend(std::iter::repeat_n(b'a', at));
        data.extend(&bad);
        data.extend(br#""},"Subject":{"S":"s"}}}}"#);
        let valid = std::str::from_utf8(&data).is_ok();
        let result = decode_checked(data, &thread());
        if !valid {
            prop_assert!(matches!(result, Err(Problem::NotARecord(_))), "{:?}", result);
        }
    }
}

/// One value of a key attribute, drawn from small alphabets so that equal values come up often.
#[derive(Debug, Clone)]
enum Scalar {
    S(String),
    N(String),
    B(Vec<u8>),
}

fn scalar(kind: ScalarType) -> BoxedStrategy<Scalar> {
    match kind {
        ScalarType::S => "[ab]{1,3}".prop_map(Scalar::S).boxed(),
        ScalarType::B => vec(0u8..3, 1..3).prop_map(Scalar::B).boxed(),
        ScalarType::N => (0i64..12, 0u32..3, 0usize..4, any::<bool>())
            .prop_map(|(mantissa, zeros, style, negative)| {
                // One value, several spellings: 12 ⇒ "12", "12.0", "1.2e1", "120E-1".
                let sign = if negative { "-" } else { "" };
                let m = mantissa * 10i64.pow(zeros);
                let text = match style {
                    0 => format!("{sign}{m}"),
                    1 => format!("{sign}{m}.000"),
                    2 => format!("{sign}{m}0e-1"),
                    _ => format!("+{m}E0").replace('+', if negative { "-" } else { "+" }),
                };
                Scalar::N(text)
            })
            .boxed(),
    }
}

fn to_attribute(value: &Scalar) -> AttributeValue {
    match value {
        Scalar::S(s) => AttributeValue::S(s.clone()),
        Scalar::N(n) => AttributeValue::N(n.clone()),
        Scalar::B(b) => AttributeValue::B(Blob::new(b.clone())),
    }
}

/// Whether DynamoDB would address the same item by the two values.
fn same(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::S(a), Scalar::S(b)) => a == b,
        (Scalar::B(a), Scalar::B(b)) => a == b,
        (Scalar::N(a), Scalar::N(b)) => {
            let parse = |t: &str| BigDecimal::from_str(t).expect("generated number");
            parse(a) == parse(b)
        }
        _ => false,
    }
}

fn composite_pair() -> impl Strategy<Value = (KeySchema, [Scalar; 2], [Scalar; 2])> {
    let kind = prop_oneof![
        Just(ScalarType::S),
        Just(ScalarType::N),
        Just(ScalarType::B)
    ];
    (kind.clone(), kind).prop_flat_map(|(h, r)| {
        let schema = KeySchema::composite(("h", h), ("r", r));
        (
            Just(schema),
            (scalar(h), scalar(r)).prop_map(|(a, b)| [a, b]),
            (scalar(h), scalar(r)).prop_map(|(a, b)| [a, b]),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_encoding_is_injective((schema, x, y) in composite_pair()) {
        let key = |v: &[Scalar; 2]| {
            schema
                .key(HashMap::from([
                    ("h".to_owned(), to_attribute(&v[0])),
                    ("r".to_owned(), to_attribute(&v[1])),
                ]))
                .expect("generated keys are valid")
        };
        let (a, b) = (key(&x), key(&y));
        let equal = same(&x[0], &y[0]) && same(&x[1], &y[1]);
        prop_assert_eq!(a.canonical() == b.canonical(), equal, "{:?} vs {:?}", x, y);
        prop_assert_eq!(a == b, equal);
        prop_assert_eq!(a.partition_key() == b.partition_key(), equal);
    }

    #[test]
    fn canonical_encoding_ignores_attribute_order(
        forum in ".{1,20}",
        subject in ".{1,20}",
        extra_spaces in any::<bool>(),
    ) {
        let space = if extra_spaces { " " } else { "" };
        let f = serde_json::to_string(&forum).expect("json");
        let s = serde_json::to_string(&subject).expect("json");
        let one = format!(r#"{{"ForumName":{{"S":{f}}},{space}"Subject":{{"S":{s}}}}}"#);
        let other = format!(r#"{{"Subject":{{"S":{s}}},"ForumName":{space}{{"S":{f}}}}}"#);
        let decode = |keys: &str| {
            decode_checked(envelope(serde_json::from_str(keys).expect("json"), Some(TABLE)), &thread())
        };
        let (a, b) = (decode(&one), decode(&other));
        match (a, b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(a.is_err() && b.is_err(), "one order decodes, the other not"),
        }
    }
}

#[test]
fn deep_nesting_huge_strings_and_limits_fail_typed() {
    // Nesting far past serde_json's recursion limit, as the whole record and inside a key.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        decode_checked(deep.into_bytes(), &thread()),
        Err(Problem::NotARecord(_))
    ));
    let mut nested = json!({"S": "x"});
    for _ in 0..200 {
        nested = json!({"M": {"a": nested}});
    }
    let result = decode_checked(
        envelope(json!({"ForumName": nested, "Subject": {"S": "s"}}), None),
        &thread(),
    );
    assert!(result.is_err());

    // A 5 MB string outside the key is harmless; inside the key it is too large.
    let huge = "x".repeat(5 << 20);
    let mut record: Value = serde_json::from_slice(&envelope(
        json!({"ForumName": {"S": "f"}, "Subject": {"S": "s"}}),
        None,
    ))
    .expect("json");
    record["dynamodb"]["NewImage"] = json!({"Body": {"S": huge}});
    assert!(decode_checked(serde_json::to_vec(&record).expect("json"), &thread()).is_ok());
    let result = decode_checked(
        envelope(
            json!({"ForumName": {"S": huge}, "Subject": {"S": "s"}}),
            None,
        ),
        &thread(),
    );
    assert!(matches!(
        result,
        Err(Problem::Key(KeyError::TooLarge { limit: 2048, .. }))
    ));

    // Empty and oversized key values, by type and position.
    let key = |schema: &KeySchema, h: AttributeValue, r: AttributeValue| {
        schema.key(HashMap::from([("h".to_owned(), h), ("r".to_owned(), r)]))
    };
    let ss = KeySchema::composite(("h", ScalarType::S), ("r", ScalarType::S));
    let bb = KeySchema::composite(("h", ScalarType::B), ("r", ScalarType::B));
    let nn = KeySchema::composite(("h", ScalarType::N), ("r", ScalarType::N));
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let b = |n: usize| AttributeValue::B(Blob::new(vec![7u8; n]));
    let n = |v: &str| AttributeValue::N(v.to_owned());
    assert_eq!(
        key(&ss, s(""), s("r")).unwrap_err(),
        KeyError::Empty("h".into())
    );
    assert_eq!(
        key(&bb, b(1), b(0)).unwrap_err(),
        KeyError::Empty("r".into())
    );
    assert!(key(&ss, s(&"x".repeat(2048)), s(&"y".repeat(1024))).is_ok());
    assert!(matches!(
        key(&ss, s(&"x".repeat(2049)), s("r")),
        Err(KeyError::TooLarge { limit: 2048, .. })
    ));
    assert!(matches!(
        key(&bb, b(1), b(1025)),
        Err(KeyError::TooLarge { limit: 1024, .. })
    ));
    assert!(matches!(
        key(&nn, n(""), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n(&"9".repeat(39)), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n(&"9".repeat(10_000)), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n("1e-131"), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(matches!(
        key(&nn, n("Infinity"), n("1")),
        Err(KeyError::BadNumber { .. })
    ));
    assert!(key(&nn, n("-1e125"), n("1e-130")).is_ok());
}

/// Peak resident memory of this process so far (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A batch at Lambda's limits (10,000 records, about 6 MB), most of them not matching the table:
/// every record accounted for, the matching keys replicated, memory within a small multiple of
/// the event; then, with a dead-letter queue (moto's SQS), the unusable ones are kept instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_at_lambdas_limits() {
    use common::*;
    use dyno::replicate::dead_letter::DeadLetterQueue;
    use dyno::replicate::replicator::Replicator;

    let server = Server::dynalite();
    let direct = client(&server).await;
    create_table(&direct, TABLE, &thread()).await;
    create_table(&direct, REPLICA, &thread()).await;
    let keys = 500;
    put_items(
        &direct,
        TABLE,
        (0..keys)
            .map(|k| thread_item("f", &format!("s{k}"), "b"))
            .collect(),
    )
    .await;
    let pad = "p".repeat(200);
    let mut data = Vec::with_capacity(10_000);
    let mut good = 0;
    for i in 0..10_000usize {
        let k = (i / 5) % keys;
        let keys_json = match i % 5 {
            // 2,000 good records over 500 keys.
            0 => json!({"ForumName": {"S": "f"}, "Subject": {"S": format!("s{k}")}}),
            1 => json!({"ForumName": {"N": "1"}, "Subject": {"S": format!("s{k}")}}),
            2 => {
                json!({"ForumName": {"S": "f"}, "Subject": {"S": format!("s{k}")}, "Other": {"S": "x"}})
            }
            3 => json!({"ForumName": {"S": "f"}, "Subject": {"S": "y".repeat(1100)}}),
            _ => json!({"Id": {"S": format!("s{k}")}}),
        };
        if i % 5 == 0 {
            good += 1;
        }
        let mut record: Value = serde_json::from_slice(&envelope(keys_json, None)).expect("json");
        record["dynamodb"]["NewImage"] = json!({"Pad": {"S": pad}});
        data.push(serde_json::to_vec(&record).expect("json"));
    }
    let event = kinesis_event(data);
    let bytes: usize = event.records.iter().map(|r| r.kinesis.data.len()).sum();
    assert!(bytes > 5_500_000 && bytes <= 6 << 20, "{bytes} bytes");
    let replicator = Replicator::connect(
        table(&server, TABLE).await,
        table(&server, REPLICA).await,
        tuning(),
    )
    .await
    .expect("connect");

    let before = peak_rss();
    let (response, summary) = replicator.handle(&event, None).await;
    let after = peak_rss();

    assert_eq!(summary.records, 10_000);
    assert_eq!(summary.keys, keys);
    assert_eq!(summary.puts, keys);
    assert_eq!(summary.unusable_records, 10_000 - good);
    assert_eq!(failures(&response).len(), 10_000 - good);
    assert_eq!(summary.failed_records, 10_000 - good);
    if let (Some(before), Some(after)) = (before, after) {
        let grown = after.saturating_sub(before);
        println!("peak RSS grew by {grown} bytes for a {bytes}-byte event");
        assert!(grown < 40 * bytes as u64, "peak RSS grew by {grown} bytes");
    }

    // With a dead-letter queue, the 8,000 unusable records are kept and the batch succeeds.
    let moto = Server::moto();
    let sqs = dyno::aws::client::sqs_client(&sdk_config().await, Some(&moto.endpoint), &tuning());
    let queue_url = create_queue(&sqs, "dlq").await;
    let replicator = replicator.with_dead_letter(DeadLetterQueue::new(sqs, queue_url));
    // moto's SQS takes 0.1 to 0.3 s per SendMessageBatch (and slows as the queue grows), so this
    // part takes the first 250 records (200 unusable) rather than all 10,000.
    let mut head = event.clone();
    head.records.truncate(250);
    let (response, summary) = replicator.handle(&head, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(summary.unusable_records, 200);
    assert_eq!(summary.dead_lettered, 200);
    assert_eq!(summary.puts, 50);
}
