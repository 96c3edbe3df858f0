//! Seeded mixed workloads (puts, updates, deletes over a set of keys, every attribute type) and
//! applying them through the writer: the demo's traffic and the pipeline tests' input.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt};

use crate::publish::writer::{WriteError, Writer};

type Item = HashMap<String, AttributeValue>;

/// The demo table's key attributes (the seed's: ForumName + Subject, both S).
pub const HASH: &str = "ForumName";
pub const RANGE: &str = "Subject";

/// One write.
#[derive(Debug, Clone)]
pub enum Op {
    /// Put a whole item.
    Put(Item),
    /// Add to a counter and a string set (creates the item if absent).
    Update { key: Item, by: i64, tag: String },
    /// Delete a key (it may be absent).
    Delete(Item),
}

/// The shape of a workload.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    pub keys: usize,
    pub ops: usize,
    /// Largest `Body` in bytes (items are mostly small, a few are this large).
    pub max_body: usize,
    /// Share of operations that go to key 0, the hot key.
    pub hot_share: f64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            seed: 7,
            keys: 300,
            ops: 3000,
            max_body: 16 * 1024,
            hot_share: 0.05,
        }
    }
}

/// The key of key number `n`.
pub fn key(n: usize) -> Item {
    HashMap::from([
        (
            HASH.to_owned(),
            AttributeValue::S(format!("forum-{}", n % 7)),
        ),
        (
            RANGE.to_owned(),
            AttributeValue::S(format!("thread-{n:05}")),
        ),
    ])
}

fn item(rng: &mut fastrand::Rng, n: usize, max_body: usize) -> Item {
    let mut item = key(n);
    let body_len = if rng.u8(..) < 8 {
        max_body
    } else {
        rng.usize(0..=max_body.min(512))
    };
    let body: String = std::iter::repeat_with(|| rng.alphanumeric())
        .take(body_len)
        .collect();
    let nested = HashMap::from([
        (
            "views".to_owned(),
            AttributeValue::N(rng.u32(..).to_string()),
        ),
        (
            "flags".to_owned(),
            AttributeValue::L(vec![
                AttributeValue::Bool(rng.bool()),
                AttributeValue::Null(true),
            ]),
        ),
    ]);
    let attrs = [
        ("Body", AttributeValue::S(body)),
        (
            "Score",
            AttributeValue::N(format!("{}.{}", rng.i32(..), rng.u8(..))),
        ),
        (
            "Raw",
            AttributeValue::B(Blob::new(rng.u64(..).to_be_bytes().to_vec())),
        ),
        ("Answered", AttributeValue::Bool(rng.bool())),
        ("Deleted", AttributeValue::Null(true)),
        ("Meta", AttributeValue::M(nested)),
        (
            "History",
            AttributeValue::L(vec![AttributeValue::S("created".into())]),
        ),
        (
            "Tags",
            AttributeValue::Ss(vec!["dyno".into(), format!("t{}", rng.u8(..4))]),
        ),
        (
            "Ratings",
            AttributeValue::Ns(vec!["1".into(), rng.u8(2..9).to_string()]),
        ),
        (
            "Chunks",
            AttributeValue::Bs(vec![Blob::new(vec![rng.u8(..)]), Blob::new(vec![0, 1])]),
        ),
    ];
    item.extend(attrs.into_iter().map(|(k, v)| (k.to_owned(), v)));
    item
}

/// Generates the operations of `spec`: about 55% puts, 30% updates, 15% deletes, with a hot key.
pub fn generate(spec: &Spec) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    (0..spec.ops)
        .map(|_| {
            let n = if rng.f64() < spec.hot_share {
                0
            } else {
                rng.usize(..spec.keys.max(1))
            };
            match rng.u8(..100) {
                0..55 => Op::Put(item(&mut rng, n, spec.max_body)),
                55..85 => Op::Update {
                    key: key(n),
                    by: rng.i64(1..10),
                    tag: format!("u{}", rng.u8(..8)),
                },
                _ => Op::Delete(key(n)),
            }
        })
        .collect()
}

/// Applies `ops` through the writer, `concurrency` at a time, calling `progress` with the count
/// done so far. Stops at the first error.
pub async fn apply(
    writer: &Writer,
    ops: Vec<Op>,
    concurrency: usize,
    progress: impl Fn(usize),
) -> Result<usize, WriteError> {
    let mut done = 0;
    let mut results = stream::iter(ops)
        .map(|op| apply_one(writer, op))
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = results.next().await {
        result?;
        done += 1;
        progress(done);
    }
    Ok(done)
}

async fn apply_one(writer: &Writer, op: Op) -> Result<(), WriteError> {
    match op {
        Op::Put(item) => writer
            .put_item(writer.put().set_item(Some(item)))
            .await
            .map(|_| ()),
        Op::Update { key, by, tag } => writer
            .update_item(
                writer
                    .update()
                    .set_key(Some(key))
                    .update_expression("SET #c = if_not_exists(#c, :zero) + :by ADD #t :tag")
                    .expression_attribute_names("#c", "Count")
                    .expression_attribute_names("#t", "Tags")
                    .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                    .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
                    .expression_attribute_values(":tag", AttributeValue::Ss(vec![tag])),
            )
            .await
            .map(|_| ()),
        Op::Delete(key) => writer
            .delete_item(writer.delete().set_key(Some(key)))
            .await
            .map(|_| ()),
    }
}
