//! Items: put many quickly, scanned whole, compared, normalized (set members sorted), and the
//! Thread items most tests write.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use dyno::aws::key::KeySchema;

use super::{Item, oracle};

/// Puts many items quickly (`BatchWriteItem`, 25 at a time, 8 calls at once, unprocessed items
/// sent again as `dyno::aws::retry::resend` does).
pub async fn put_items(client: &Client, table: &str, items: Vec<Item>) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use dyno::aws::limits;
    use dyno::aws::retry::{Backoff, Deadline, resend};
    use futures::stream::{self, StreamExt};
    let chunks: Vec<Vec<Item>> = items
        .chunks(limits::WRITE_REQUESTS)
        .map(|c| c.to_vec())
        .collect();
    stream::iter(chunks)
        .for_each_concurrent(8, |chunk| async move {
            let entries = chunk.into_iter().map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                ((), WriteRequest::builder().put_request(put).build())
            });
            let backoff = Backoff::attempts(20);
            let resent = resend(
                entries.collect(),
                &backoff,
                Deadline::NONE,
                |requests| async move {
                    let sent: Vec<WriteRequest> = requests.clone();
                    let out = client
                        .batch_write_item()
                        .request_items(table, requests)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    let left = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table))
                        .unwrap_or_default();
                    // DynamoDB hands unprocessed requests back as they were sent.
                    let again = sent.into_iter().map(|r| left.contains(&r).then_some(r));
                    Ok::<_, ()>(again.collect())
                },
            )
            .await;
            assert!(
                resent.why.is_none(),
                "BatchWriteItem left items unprocessed"
            );
        })
        .await;
}

/// Every item in a table, keyed by its key's canonical encoding.
pub async fn scan_all(client: &Client, table: &str, schema: &KeySchema) -> HashMap<Vec<u8>, Item> {
    let mut items = HashMap::new();
    let mut pages = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.expect("Scan");
        let key = schema.key_of_item(&item).expect("scanned item has a key");
        items.insert(key.canonical().to_vec(), item);
    }
    items
}

/// Asserts that two tables hold the same items, attribute for attribute, as the oracle sees it
/// (plain consistent scans, never `dyno::ops::diff`); returns the items on each side.
pub async fn assert_tables_equal(primary: (&Client, &str), replica: (&Client, &str)) -> usize {
    oracle::assert_equal(primary, replica).await
}

/// Sorts set members, whose order DynamoDB does not keep.
pub fn normalize(item: &Item) -> Item {
    item.iter()
        .map(|(k, v)| (k.clone(), normalize_value(v)))
        .collect()
}

fn normalize_value(value: &AttributeValue) -> AttributeValue {
    match value {
        AttributeValue::Ss(v) => AttributeValue::Ss(sorted(v)),
        AttributeValue::Ns(v) => AttributeValue::Ns(sorted(v)),
        AttributeValue::Bs(v) => {
            let mut v = v.clone();
            v.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            AttributeValue::Bs(v)
        }
        AttributeValue::M(m) => AttributeValue::M(normalize(m)),
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(normalize_value).collect()),
        other => other.clone(),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A string attribute.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A Thread item with a body.
pub fn thread_item(forum: &str, subject: &str, body: &str) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), s(forum)),
        ("Subject".to_owned(), s(subject)),
        ("Body".to_owned(), s(body)),
    ])
}
