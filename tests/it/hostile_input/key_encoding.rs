//! Property tests of the canonical key encoding: injective (equal exactly when DynamoDB would
//! address the same item, whatever a number's spelling) and independent of attribute order.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bigdecimal::BigDecimal;
use dyno::aws::key::{KeySchema, ScalarType};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{TABLE, decode_checked, envelope, thread};

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
