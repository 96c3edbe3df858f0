//! Table comparison: full scans of the primary and the replica, matched by key, attribute for
//! attribute (set members in any order, as DynamoDB keeps them).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::key::KeySchema;
use crate::table::Table;

type Item = HashMap<String, AttributeValue>;

/// How two tables differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Items on the primary.
    pub items: usize,
    /// Keys on the primary but not on the replica.
    pub missing: Vec<String>,
    /// Keys on the replica but not on the primary.
    pub extra: Vec<String>,
    /// Keys on both whose items differ.
    pub different: Vec<String>,
}

impl Diff {
    /// Number of keys that differ in any way.
    pub fn differences(&self) -> usize {
        self.missing.len() + self.extra.len() + self.different.len()
    }
}

/// A scan failed, or an item has no valid key.
#[derive(Debug, thiserror::Error)]
#[error("scanning `{table}` failed: {message}")]
pub struct ScanError {
    pub table: String,
    pub message: String,
}

/// Every item of a table, by canonical key (with the key's display form).
pub async fn scan(
    client: &Client,
    table: &str,
    schema: &KeySchema,
) -> Result<HashMap<Vec<u8>, (String, Item)>, ScanError> {
    let fail = |message: String| ScanError {
        table: table.to_owned(),
        message,
    };
    let mut items = HashMap::new();
    let mut pages = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
        let key = schema
            .key_of_item(&item)
            .map_err(|e| fail(format!("an item has no valid key: {e}")))?;
        items.insert(key.canonical().to_vec(), (key.to_string(), item));
    }
    Ok(items)
}

/// Compares two tables with full scans.
pub async fn compare(
    primary: &Table,
    replica: &Table,
    schema: &KeySchema,
) -> Result<Diff, ScanError> {
    let p = scan(&primary.client, &primary.name, schema).await?;
    let r = scan(&replica.client, &replica.name, schema).await?;
    let mut diff = Diff {
        items: p.len(),
        ..Diff::default()
    };
    for (key, (name, item)) in &p {
        match r.get(key) {
            None => diff.missing.push(name.clone()),
            Some((_, other)) if !same_item(item, other) => diff.different.push(name.clone()),
            Some(_) => {}
        }
    }
    diff.extra = r
        .iter()
        .filter(|(key, _)| !p.contains_key(*key))
        .map(|(_, (name, _))| name.clone())
        .collect();
    for list in [&mut diff.missing, &mut diff.extra, &mut diff.different] {
        list.sort();
    }
    Ok(diff)
}

/// Item equality as DynamoDB means it: set members compare in any order.
pub fn same_item(a: &Item, b: &Item) -> bool {
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
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => sorted(x) == sorted(y),
        (AttributeValue::Ns(x), AttributeValue::Ns(y)) => sorted(x) == sorted(y),
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

#[cfg(test)]
mod tests {
    use super::*;

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
