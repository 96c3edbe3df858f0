//! Time to live as DynamoDB judges it: an item has expired when its TTL attribute is a Number
//! of epoch seconds in the past, but no more than five years in the past (DynamoDB's TTL
//! ignores older values, so `0`, a common "never expires", never expires). DynamoDB deletes
//! expired items days late, on both tables, and readers filter them, so a comparison sets them
//! apart and a backfill skips them; an item DynamoDB will never delete is neither.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::table::Item;

/// How far in the past a TTL value may be and still expire its item: DynamoDB's TTL does not
/// delete items whose value is more than five years old (taken as 5 × 365 days).
pub const IGNORED_AFTER_SECONDS: u64 = 5 * 365 * 24 * 3600;

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

    /// True when `item`'s TTL attribute is a Number of epoch seconds before now, and not more
    /// than [`IGNORED_AFTER_SECONDS`] before it. Anything else (no attribute, a string, a
    /// number that is not a time, a time DynamoDB's TTL ignores) never expires, as in DynamoDB.
    pub fn expired(&self, item: &Item) -> bool {
        let oldest = self.now.saturating_sub(IGNORED_AFTER_SECONDS) as f64;
        match item.get(&self.attribute) {
            Some(AttributeValue::N(n)) => n
                .trim()
                .parse::<f64>()
                .is_ok_and(|at| at.is_finite() && at >= oldest && at < self.now as f64),
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

    #[test]
    fn a_time_more_than_five_years_past_never_expires() {
        let now = 1_800_000_000;
        let ttl = Ttl {
            attribute: "expires".to_owned(),
            now,
        };
        let at = |t: u64| item(AttributeValue::N(t.to_string()));
        assert!(!ttl.expired(&at(0)), "0 is a common 'never expires'");
        assert!(!ttl.expired(&at(now - IGNORED_AFTER_SECONDS - 1)));
        assert!(ttl.expired(&at(now - IGNORED_AFTER_SECONDS)));
        assert!(ttl.expired(&at(now - 1)));
    }
}
