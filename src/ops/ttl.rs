//! Time to live as DynamoDB judges it: an item has expired when its TTL attribute is a Number
//! of epoch seconds in the past. DynamoDB deletes such items days late, on both tables, and
//! readers filter them, so a comparison sets them apart and a backfill skips them.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::table::Item;

/// A table's TTL attribute, judged at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ttl {
    pub attribute: String,
    /// Now, in epoch seconds.
    pub now: u64,
}

impl Ttl {
    /// `attribute`, judged now.
    pub fn now(attribute: impl Into<String>) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ttl {
            attribute: attribute.into(),
            now,
        }
    }

    /// True when `item`'s TTL attribute is a Number of epoch seconds before now. Anything else
    /// (no attribute, a string, a number that is not a time) never expires, as in DynamoDB.
    pub fn expired(&self, item: &Item) -> bool {
        match item.get(&self.attribute) {
            Some(AttributeValue::N(n)) => n
                .trim()
                .parse::<f64>()
                .is_ok_and(|at| at.is_finite() && at >= 0.0 && at < self.now as f64),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: AttributeValue) -> Item {
        Item::from([("expires".to_owned(), value)])
    }

    #[test]
    fn only_a_number_of_seconds_in_the_past_has_expired() {
        let ttl = Ttl {
            attribute: "expires".to_owned(),
            now: 1_000,
        };
        assert!(ttl.expired(&item(AttributeValue::N("999".into()))));
        assert!(ttl.expired(&item(AttributeValue::N("999.5".into()))));
        assert!(!ttl.expired(&item(AttributeValue::N("1000".into()))));
        assert!(!ttl.expired(&item(AttributeValue::N("5000".into()))));
        assert!(!ttl.expired(&item(AttributeValue::N("-5".into()))));
        assert!(!ttl.expired(&item(AttributeValue::S("999".into()))));
        assert!(!ttl.expired(&Item::new()));
    }
}
