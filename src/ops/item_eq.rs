//! Item equality as DynamoDB means it: attribute for attribute, set members in any order, numbers
//! as decimals (`1.0` is `1`), maps and lists all the way down.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use bigdecimal::BigDecimal;

/// Item equality as DynamoDB means it: set members compare in any order.
pub fn same_item(a: &HashMap<String, AttributeValue>, b: &HashMap<String, AttributeValue>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(name, value)| b.get(name).is_some_and(|other| same_value(value, other)))
}

fn same_value(a: &AttributeValue, b: &AttributeValue) -> bool {
    fn sorted<T: Clone + Ord>(v: &[T]) -> Vec<T> {
        let mut v = v.to_vec();
        v.sort();
        v
    }
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => same_number(x, y),
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => sorted(x) == sorted(y),
        (AttributeValue::Ns(x), AttributeValue::Ns(y)) => {
            let numbers = |v: &[String]| sorted(&v.iter().map(|n| number(n)).collect::<Vec<_>>());
            numbers(x) == numbers(y)
        }
        (AttributeValue::Bs(x), AttributeValue::Bs(y)) => {
            let bytes = |v: &[aws_sdk_dynamodb::primitives::Blob]| {
                sorted(&v.iter().map(|b| b.as_ref().to_vec()).collect::<Vec<_>>())
            };
            bytes(x) == bytes(y)
        }
        (AttributeValue::M(x), AttributeValue::M(y)) => same_item(x, y),
        (AttributeValue::L(x), AttributeValue::L(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// Numbers compare as DynamoDB's decimals (`1.0` is `1`); a spelling that is no number compares
/// as text.
fn same_number(a: &str, b: &str) -> bool {
    number(a) == number(b)
}

/// A number's value, or its text when it is none.
fn number(text: &str) -> Result<BigDecimal, String> {
    BigDecimal::from_str(text.trim())
        .map(|n| n.normalized())
        .map_err(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_decimals_alone_and_in_sets() {
        let n = |v: &str| HashMap::from([("n".to_owned(), AttributeValue::N(v.to_owned()))]);
        assert!(same_item(&n("1.0"), &n("1")));
        assert!(same_item(&n("2.50"), &n("2.5")));
        assert!(same_item(&n("1e2"), &n("100")));
        assert!(!same_item(&n("1.01"), &n("1")));
        let ns = |v: &[&str]| {
            let set = v.iter().map(|s| (*s).to_owned()).collect();
            HashMap::from([("s".to_owned(), AttributeValue::Ns(set))])
        };
        assert!(same_item(&ns(&["1.0", "2"]), &ns(&["2.00", "1"])));
        assert!(!same_item(&ns(&["1", "2"]), &ns(&["1", "3"])));
    }

    #[test]
    fn sets_compare_in_any_order_and_values_must_match() {
        let a = HashMap::from([(
            "s".to_owned(),
            AttributeValue::Ss(vec!["x".into(), "y".into()]),
        )]);
        let b = HashMap::from([(
            "s".to_owned(),
            AttributeValue::Ss(vec!["y".into(), "x".into()]),
        )]);
        let c = HashMap::from([(
            "s".to_owned(),
            AttributeValue::Ss(vec!["y".into(), "z".into()]),
        )]);
        assert!(same_item(&a, &b));
        assert!(!same_item(&a, &c));
        assert!(!same_item(&a, &HashMap::new()));
    }
}
