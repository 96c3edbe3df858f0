//! Tests of `key.rs`: key schemas, key validation against DynamoDB's limits, and the canonical
//! encoding (numbers by value).

use super::*;
use aws_sdk_dynamodb::primitives::Blob;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn thread() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

fn attrs(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn key_is_order_independent_and_injective() {
    let schema = thread();
    let a = schema
        .key(attrs(&[("ForumName", s("a")), ("Subject", s("bc"))]))
        .unwrap();
    let b = schema
        .key(attrs(&[("Subject", s("bc")), ("ForumName", s("a"))]))
        .unwrap();
    let c = schema
        .key(attrs(&[("ForumName", s("ab")), ("Subject", s("c"))]))
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.partition_key(), b.partition_key());
    assert_ne!(a, c);
    assert_ne!(a.canonical(), c.canonical());
}

#[test]
fn a_listed_key_is_the_mapped_key_and_of_a_name_given_twice_the_last_counts() {
    let schema = thread();
    let pairs = |list: &[(&str, AttributeValue)]| -> Vec<(String, AttributeValue)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let mapped = schema
        .key(attrs(&[("ForumName", s("a")), ("Subject", s("b"))]))
        .unwrap();
    let listed = schema
        .key_of_pairs(pairs(&[("Subject", s("b")), ("ForumName", s("a"))]))
        .unwrap();
    assert_eq!(listed, mapped);
    assert_eq!(listed.to_attributes(), mapped.to_attributes());
    let twice = pairs(&[
        ("ForumName", s("x")),
        ("Subject", s("y")),
        ("ForumName", s("a")),
        ("Subject", s("z")),
        ("Subject", s("b")),
    ]);
    let twice = schema.key_of_pairs(twice).unwrap();
    assert_eq!(twice, mapped);
    assert_eq!(twice.to_attributes(), mapped.to_attributes());
    assert_eq!(
        schema.key_of_pairs(pairs(&[("ForumName", s("a")), ("Other", s("b"))])),
        Err(KeyError::Unexpected {
            name: "Other".into(),
            expected: schema.to_string()
        })
    );
}

#[test]
fn numbers_compare_by_value() {
    let schema = KeySchema::hash_only("id", ScalarType::N);
    let key = |n: &str| schema.key(attrs(&[("id", AttributeValue::N(n.into()))]));
    assert_eq!(key("1").unwrap(), key("1.0").unwrap());
    assert_eq!(key("1").unwrap(), key("10E-1").unwrap());
    assert_eq!(key("-0").unwrap(), key("0.000").unwrap());
    assert_ne!(key("1").unwrap(), key("10").unwrap());
    assert!(matches!(key("abc"), Err(KeyError::BadNumber { .. })));
    assert!(matches!(key("1e999"), Err(KeyError::BadNumber { .. })));
    assert!(matches!(key("NaN"), Err(KeyError::BadNumber { .. })));
    // DynamoDB refuses spaces around a number: so does the key, rather than validate the
    // trimmed number and send the one with spaces.
    assert!(matches!(key(" 1"), Err(KeyError::BadNumber { .. })));
    assert!(matches!(key("1 "), Err(KeyError::BadNumber { .. })));
    let digits39 = "1".repeat(39);
    assert!(matches!(key(&digits39), Err(KeyError::BadNumber { .. })));
}

#[test]
fn rejects_keys_that_do_not_fit_the_schema() {
    let schema = thread();
    assert_eq!(
        schema.key(attrs(&[("ForumName", s("a"))])).unwrap_err(),
        KeyError::Missing("Subject".into())
    );
    assert!(matches!(
        schema.key(attrs(&[
            ("ForumName", s("a")),
            ("Subject", s("b")),
            ("Extra", s("c"))
        ])),
        Err(KeyError::Unexpected { .. })
    ));
    assert!(matches!(
        schema.key(attrs(&[
            ("ForumName", AttributeValue::N("1".into())),
            ("Subject", s("b"))
        ])),
        Err(KeyError::WrongType {
            expected: "S",
            found: "N",
            ..
        })
    ));
    assert_eq!(
        schema
            .key(attrs(&[("ForumName", s("")), ("Subject", s("b"))]))
            .unwrap_err(),
        KeyError::Empty("ForumName".into())
    );
    let long = "x".repeat(2049);
    assert!(matches!(
        schema.key(attrs(&[("ForumName", s(&long)), ("Subject", s("b"))])),
        Err(KeyError::TooLarge { limit: 2048, .. })
    ));
}

#[test]
fn binary_keys_and_long_partition_keys() {
    let schema = KeySchema::hash_only("id", ScalarType::B);
    let key = schema
        .key(attrs(&[(
            "id",
            AttributeValue::B(Blob::new(vec![0, 255, 7])),
        )]))
        .unwrap();
    assert_eq!(key.to_string(), "id=B:00ff07");
    let long = KeySchema::hash_only("id", ScalarType::S)
        .key(attrs(&[("id", s(&"é".repeat(1000)))]))
        .unwrap();
    let pk = long.partition_key();
    assert!(
        pk.starts_with("sha256:") && pk.chars().count() <= 256,
        "{pk}"
    );
}

#[test]
fn key_of_item_projects_the_key() {
    let schema = thread();
    let item = attrs(&[
        ("ForumName", s("f")),
        ("Subject", s("t")),
        ("Body", s("secret")),
    ]);
    let key = schema.key_of_item(&item).unwrap();
    assert_eq!(key.to_attributes().len(), 2);
    assert!(!key.to_string().contains("secret"));
}

#[test]
fn a_description_whose_sort_key_has_the_partition_keys_name_is_refused() {
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement};
    let element = |kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name("a")
            .key_type(kind)
            .build()
            .unwrap()
    };
    let definition = AttributeDefinition::builder()
        .attribute_name("a")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap();
    let table = |elements: Vec<KeySchemaElement>| {
        TableDescription::builder()
            .table_name("t")
            .set_key_schema(Some(elements))
            .attribute_definitions(definition.clone())
            .build()
    };
    let hash_only = KeySchema::from_description(&table(vec![element(KeyType::Hash)])).unwrap();
    assert_eq!(hash_only, KeySchema::hash_only("a", ScalarType::S));
    let twice = table(vec![element(KeyType::Hash), element(KeyType::Range)]);
    let err = KeySchema::from_description(&twice).unwrap_err();
    assert!(err.reason.contains("partition key's name `a`"), "{err}");
}
