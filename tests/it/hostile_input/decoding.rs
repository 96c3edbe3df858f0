//! Property tests at the decoder and the key validation: arbitrary bytes, arbitrary and
//! DynamoDB-shaped JSON, arbitrary attribute maps and invalid UTF-8 decode, or fail with a typed
//! error naming the record; never a panic.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use dyno::aws::key::{KeyError, KeySchema, ScalarType};
use dyno::replicate::decode::Problem;
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{TABLE, decode_checked, envelope, schemas, thread};

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
        // The first bad byte is after the prefix and the `a`s, within `bad`.
        let first_bad = data.len() + at;
        data.extend(std::iter::repeat_n(b'a', at));
        data.extend(&bad);
        data.extend(br#""},"Subject":{"S":"s"}}}}"#);
        let valid = std::str::from_utf8(&data).is_ok();
        let result = decode_checked(data, &thread());
        if !valid {
            let named = matches!(result, Err(Problem::NotUtf8 { at: bad_at })
                if (first_bad..first_bad + bad.len()).contains(&bad_at));
            prop_assert!(named, "{:?}", result);
        }
    }
}
