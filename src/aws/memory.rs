//! A table in memory, behind the same [`Store`] trait as DynamoDB: the engine, diff and the
//! replicator run on it in unit tests without a server. It counts its calls and can be told to
//! fail the next calls (an answer nobody can interpret, as a timeout gives) or to leave half of
//! the next requests unprocessed, as a throttled DynamoDB does.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::WriteRequest;
use futures::future::BoxFuture;

use crate::aws::error::AwsError;
use crate::aws::key::KeySchema;
use crate::aws::store::{PageRequest, ReadAnswer, ScannedPage, Store};
use crate::aws::table::{Item, WriteCall};

/// Items a scan page holds when the request sets no limit.
const PAGE_ITEMS: usize = 100;

/// Faults to inject, each for the next so many calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// `BatchGetItem` calls that fail with an unknown outcome.
    pub failed_reads: usize,
    /// `BatchWriteItem` calls that fail with an unknown outcome (nothing is applied).
    pub failed_writes: usize,
    /// Calls (reads and writes) that do the first half of their request and hand the rest back
    /// unprocessed.
    pub half_done: usize,
}

/// Calls made, and faults injected.
#[derive(Debug, Default)]
pub struct Calls {
    pub batch_gets: AtomicUsize,
    pub batch_writes: AtomicUsize,
    pub scans: AtomicUsize,
    /// Calls that failed, or left requests unprocessed, because a fault said so.
    pub faults_injected: AtomicUsize,
}

/// A table of items, keyed by their canonical key.
#[derive(Debug)]
pub struct MemoryStore {
    name: String,
    schema: KeySchema,
    items: Mutex<BTreeMap<Vec<u8>, Item>>,
    faults: Mutex<Faults>,
    pub calls: Calls,
}

/// An injected failure: an outcome nobody can know.
#[derive(Debug, thiserror::Error)]
#[error("an injected failure (the memory store was told to fail this call)")]
pub struct Injected;

impl MemoryStore {
    /// An empty table `name` with `schema`.
    pub fn new(name: &str, schema: KeySchema) -> Self {
        MemoryStore {
            name: name.to_owned(),
            schema,
            items: Mutex::default(),
            faults: Mutex::default(),
            calls: Calls::default(),
        }
    }

    /// Puts `item` (an item without a valid key is not stored, and false is returned).
    pub fn put(&self, item: Item) -> bool {
        let Ok(key) = self.schema.canonical_of_item(&item) else {
            return false;
        };
        self.lock().insert(key, item);
        true
    }

    /// The item with the key of `key`'s attributes.
    pub fn get(&self, key: &Item) -> Option<Item> {
        let canonical = self.schema.canonical_of_item(key).ok()?;
        self.lock().get(&canonical).cloned()
    }

    /// Every item, in key order.
    pub fn items(&self) -> Vec<Item> {
        self.lock().values().cloned().collect()
    }

    /// Injects `faults` for the next calls (replacing those not yet used).
    pub fn inject(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Item>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of the faults `pick` chooses, if any is left.
    fn take_fault(&self, pick: impl Fn(&mut Faults) -> &mut usize) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let left = pick(&mut faults);
        let hit = *left > 0;
        if hit {
            *left -= 1;
            self.calls.faults_injected.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// How many of `n` requests a call does (all, or the first half under a fault).
    fn done_of(&self, n: usize) -> usize {
        match self.take_fault(|f| &mut f.half_done) {
            true => n / 2,
            false => n,
        }
    }

    fn read(&self, keys: Vec<Item>, attributes: Option<&[String]>) -> (Vec<Item>, Vec<Item>) {
        let done = self.done_of(keys.len());
        let mut keys = keys;
        let left = keys.split_off(done);
        let found = keys
            .iter()
            .filter_map(|key| self.get(key))
            .map(|item| project(item, attributes))
            .collect();
        (found, left)
    }

    fn write(&self, mut requests: Vec<WriteRequest>) -> Result<Vec<WriteRequest>, AwsError> {
        let done = self.done_of(requests.len());
        let left = requests.split_off(done);
        for request in requests {
            match (request.put_request, request.delete_request) {
                (Some(put), None) => {
                    if !self.put(put.item) {
                        return Err(AwsError::other("BatchWriteItem", Invalid));
                    }
                }
                (None, Some(delete)) => {
                    let key = self.schema.canonical_of_item(&delete.key);
                    let key = key.map_err(|_| AwsError::other("BatchWriteItem", Invalid))?;
                    self.lock().remove(&key);
                }
                _ => return Err(AwsError::other("BatchWriteItem", Invalid)),
            }
        }
        Ok(left)
    }

    fn scan(&self, request: &PageRequest) -> ScannedPage {
        let limit = request.limit.map_or(PAGE_ITEMS, |l| l.max(1) as usize);
        let after = request
            .start
            .as_ref()
            .and_then(|start| self.schema.canonical_of_item(start).ok());
        let items = self.lock();
        let range = match &after {
            Some(after) => items.range::<Vec<u8>, _>((
                std::ops::Bound::Excluded(after),
                std::ops::Bound::Unbounded,
            )),
            None => items.range::<Vec<u8>, _>(..),
        };
        let total = request.total_segments.max(1);
        let mut mine = range.filter(|(key, _)| segment_of(key, total) == request.segment);
        let page: Vec<(&Vec<u8>, &Item)> = mine.by_ref().take(limit).collect();
        let more = mine.next().is_some();
        let next = match (more, page.last()) {
            (true, Some((_, item))) => self
                .schema
                .key_of_item(item)
                .ok()
                .map(|k| k.to_attributes()),
            _ => None,
        };
        let page = page
            .into_iter()
            .map(|(_, item)| project(item.clone(), request.attributes.as_deref()))
            .collect();
        (page, next)
    }
}

/// A write request the memory store cannot apply (no valid key, neither put nor delete).
#[derive(Debug, thiserror::Error)]
#[error("a write request without a valid key")]
struct Invalid;

/// The segment of a scan that a key falls in.
fn segment_of(key: &[u8], total: u32) -> u32 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % u64::from(total)) as u32
}

/// `item` with only `attributes`, when given.
fn project(mut item: Item, attributes: Option<&[String]>) -> Item {
    if let Some(attributes) = attributes {
        item.retain(|name, _| attributes.contains(name));
    }
    item
}

impl Store for MemoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn setting(&self) -> &'static str {
        "memory"
    }

    fn batch_get<'a>(
        &'a self,
        keys: Vec<Item>,
        attributes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<ReadAnswer, AwsError>> {
        self.calls.batch_gets.fetch_add(1, Ordering::Relaxed);
        let failed = self.take_fault(|f| &mut f.failed_reads);
        Box::pin(async move {
            if failed {
                return Err(AwsError::unknown("BatchGetItem", Injected));
            }
            Ok(self.read(keys, attributes))
        })
    }

    fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        _call: WriteCall,
    ) -> BoxFuture<'_, Result<Vec<WriteRequest>, AwsError>> {
        self.calls.batch_writes.fetch_add(1, Ordering::Relaxed);
        let failed = self.take_fault(|f| &mut f.failed_writes);
        Box::pin(async move {
            if failed {
                return Err(AwsError::unknown("BatchWriteItem", Injected));
            }
            self.write(requests)
        })
    }

    fn scan_page(&self, request: PageRequest) -> BoxFuture<'_, Result<ScannedPage, AwsError>> {
        self.calls.scans.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { Ok(self.scan(&request)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::key::ScalarType;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(id: &str, n: &str) -> Item {
        Item::from([
            ("id".to_owned(), AttributeValue::S(id.to_owned())),
            ("n".to_owned(), AttributeValue::N(n.to_owned())),
        ])
    }

    #[tokio::test]
    async fn a_scan_in_segments_returns_each_item_once() {
        let store = MemoryStore::new("t", KeySchema::hash_only("id", ScalarType::S));
        for i in 0..250 {
            assert!(store.put(item(&format!("k{i}"), "1")));
        }
        let mut seen = 0;
        for segment in 0..3 {
            let mut start = None;
            loop {
                let request = PageRequest {
                    segment,
                    total_segments: 3,
                    limit: Some(40),
                    start,
                    ..PageRequest::default()
                };
                let (page, next) = store.scan_page(request).await.expect("a page");
                assert!(page.len() <= 40);
                seen += page.len();
                match next {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
        }
        assert_eq!(seen, 250);
    }

    #[tokio::test]
    async fn faults_fail_or_halve_the_next_calls_and_are_counted() {
        let store = MemoryStore::new("t", KeySchema::hash_only("id", ScalarType::S));
        store.put(item("a", "1"));
        store.inject(Faults {
            failed_reads: 1,
            half_done: 1,
            ..Faults::default()
        });
        let keys = vec![item("a", "1"), item("b", "1")];
        let failed = store.batch_get(keys.clone(), None).await;
        assert!(failed.is_err_and(|e| e.may_have_applied()));
        let (found, left) = store.batch_get(keys.clone(), None).await.expect("a read");
        assert_eq!((found.len(), left.len()), (1, 1));
        let (found, left) = store.batch_get(keys, None).await.expect("a read");
        assert_eq!((found.len(), left.len()), (1, 0));
        assert_eq!(store.calls.faults_injected.load(Ordering::Relaxed), 2);
        assert_eq!(store.calls.batch_gets.load(Ordering::Relaxed), 3);
    }
}
