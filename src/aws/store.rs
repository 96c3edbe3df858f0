//! A store: what replication and comparison need of a table (a consistent batch read, a batch
//! write, a scan page), so that the engine, diff and the replicator run on DynamoDB ([`Table`])
//! or in memory (`MemoryStore`, in `memory.rs`, for tests without a server).
//! [`read_many`] is the one batched, retried read of many keys, over any store.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeySchema};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{self, Backoff, Deadline, Patience, Undone};
use crate::aws::table::{
    Item, Projection, Table, TableError, WriteCall, call_error, key_attributes, label,
};

/// `BatchGetItem` calls in flight at once for one [`read_many`].
const READ_CONCURRENCY: usize = 4;

/// How long a read keeps trying through throttling and outages.
const READ_PATIENCE: Patience = Patience::For(Duration::from_secs(120));

/// One `Scan` page to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub segment: u32,
    pub total_segments: u32,
    pub consistent: bool,
    /// Read only these attributes; `None`: whole items.
    pub attributes: Option<Vec<String>>,
    /// Most items in the page; `None`: the store's own limit.
    pub limit: Option<i32>,
    /// The key to go on after (the previous page's last).
    pub start: Option<Item>,
}

/// The items a batch read found, and the keys it left unprocessed.
pub type ReadAnswer = (Vec<Item>, Vec<Item>);

/// A page of items, and the key to go on after (`None`: the segment is done).
pub type ScannedPage = (Vec<Item>, Option<Item>);

/// A table's items, as replication and comparison reach them.
pub trait Store: Send + Sync + fmt::Debug {
    /// The table's name.
    fn name(&self) -> &str;

    /// The setting that named the table (`REPLICA_TABLE`, `--replica`, a target's name…).
    fn setting(&self) -> &'static str;

    /// One consistent `BatchGetItem` of at most 100 `keys`, of `attributes` only when given:
    /// the items found, and the keys left unprocessed.
    fn batch_get<'a>(
        &'a self,
        keys: Vec<Item>,
        attributes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<ReadAnswer, AwsError>>;

    /// One `BatchWriteItem` of at most 25 `requests`: the requests left unprocessed.
    fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        call: WriteCall,
    ) -> BoxFuture<'_, Result<Vec<WriteRequest>, AwsError>>;

    /// One `Scan` page.
    fn scan_page(&self, request: PageRequest) -> BoxFuture<'_, Result<ScannedPage, AwsError>>;

    /// The table and where it is reached (endpoint, region, account), as a checkpoint records
    /// what it wrote to.
    fn place(&self) -> String {
        self.name().to_owned()
    }

    /// `setting=name`, as messages show the table.
    fn label(&self) -> String {
        label(self.setting(), self.name())
    }

    /// An error of a call on this table.
    fn error(&self, source: AwsError) -> TableError {
        call_error(self.setting(), self.name(), source)
    }

    /// An answer of this table that cannot be used.
    fn bad(&self, problem: &'static str) -> TableError {
        TableError::BadAnswer {
            setting: self.setting(),
            table: self.name().to_owned(),
            problem,
        }
    }
}

impl Store for Table {
    fn name(&self) -> &str {
        &self.name
    }

    fn place(&self) -> String {
        let region = self.client.config().region().map(|r| r.to_string());
        let at = crate::aws::endpoint::place(self.endpoint.as_deref(), region.as_deref());
        let account = self.account.as_deref().unwrap_or("the caller's account");
        format!(
            "{} at {at} in {} ({account})",
            self.name,
            region.unwrap_or_default()
        )
    }

    fn setting(&self) -> &'static str {
        self.setting
    }

    fn batch_get<'a>(
        &'a self,
        keys: Vec<Item>,
        attributes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<ReadAnswer, AwsError>> {
        Box::pin(async move {
            let mut wanted = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true);
            if let Some(attributes) = attributes {
                let (expression, names) = projection_expression(attributes);
                wanted = wanted
                    .projection_expression(expression)
                    .set_expression_attribute_names(Some(names));
            }
            let wanted = wanted
                .build()
                .map_err(|e| AwsError::other("BatchGetItem", e))?;
            Table::batch_get(self, wanted).await
        })
    }

    fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        call: WriteCall,
    ) -> BoxFuture<'_, Result<Vec<WriteRequest>, AwsError>> {
        Box::pin(Table::batch_write(self, requests, call))
    }

    fn scan_page(&self, request: PageRequest) -> BoxFuture<'_, Result<ScannedPage, AwsError>> {
        Box::pin(async move {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.name)
                .segment(request.segment as i32)
                .total_segments(request.total_segments as i32)
                .consistent_read(request.consistent)
                .set_exclusive_start_key(request.start)
                .set_limit(request.limit);
            if let Some(attributes) = &request.attributes {
                let (expression, names) = projection_expression(attributes);
                scan = scan
                    .projection_expression(expression)
                    .set_expression_attribute_names(Some(names));
            }
            let answer = scan.send().await.map_err(|e| AwsError::new("Scan", e))?;
            Ok((answer.items.unwrap_or_default(), answer.last_evaluated_key))
        })
    }
}

/// A projection expression of `attributes` (`#k0, #k1, …`) and its attribute names.
fn projection_expression(
    attributes: &[String],
) -> (String, std::collections::HashMap<String, String>) {
    let names = attributes
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("#k{i}"), name.clone()))
        .collect();
    let expression = (0..attributes.len())
        .map(|i| format!("#k{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    (expression, names)
}

/// Reads `keys` of `store` with consistent `BatchGetItem` calls (100 keys each, a few at once,
/// keys left unprocessed sent again, throttles and outages waited out): for each key, in order,
/// its item (or, with [`Projection::Keys`], its key attributes) or `None`.
pub async fn read_many(
    store: &dyn Store,
    schema: &KeySchema,
    keys: &[Key],
    projection: Projection,
) -> Result<Vec<Option<Item>>, TableError> {
    let attributes = match projection {
        Projection::All => None,
        Projection::Keys => Some(key_attributes(schema, None)),
    };
    let read = Read {
        store,
        schema,
        attributes: attributes.as_deref(),
        found: Mutex::new(vec![None; keys.len()]),
    };
    let chunks: Vec<Vec<(usize, Item)>> = keys
        .iter()
        .map(Key::to_attributes)
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(limits::READ_KEYS)
        .map(<[_]>::to_vec)
        .collect();
    stream::iter(chunks)
        .map(|chunk| read.chunk(chunk))
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    Ok(read.found.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// One [`read_many`]: where it reads, and what it found so far.
struct Read<'a> {
    store: &'a dyn Store,
    schema: &'a KeySchema,
    attributes: Option<&'a [String]>,
    found: Mutex<Vec<Option<Item>>>,
}

impl Read<'_> {
    async fn chunk(&self, chunk: Vec<(usize, Item)>) -> Result<(), TableError> {
        let entries = chunk.into_iter().map(|(i, key)| (i, (i, key))).collect();
        let backoff = Backoff::attempts(8);
        let resent =
            retry::resend(entries, &backoff, Deadline::NONE, |keys| self.round(keys)).await;
        match resent.why {
            None => Ok(()),
            Some(Undone::Failed(error)) => Err(error),
            Some(_) => Err(self.store.bad("keys still unprocessed after every retry")),
        }
    }

    /// One `BatchGetItem`: stores what it found; answers, for each key, `None` when answered or
    /// the key to ask again.
    async fn round(
        &self,
        keys: Vec<(usize, Item)>,
    ) -> Result<Vec<Option<(usize, Item)>>, TableError> {
        let store = self.store;
        let index = KeyIndex::of_items(self.schema, keys.iter().map(|(_, k)| k))
            .ok_or_else(|| store.bad("a key that does not fit the table"))?;
        let wanted: Vec<Item> = keys.iter().map(|(_, k)| k.clone()).collect();
        let call = || store.batch_get(wanted.clone(), self.attributes);
        let (items, left) = retry::patiently(READ_PATIENCE, |_| {}, call)
            .await
            .map_err(|gave_up| store.error(gave_up.error))?;
        let mut again: Vec<Option<(usize, Item)>> = vec![None; keys.len()];
        let stranger = || store.bad("the answer holds a key that was not asked for");
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        for item in items {
            let p = index.position(&item).ok_or_else(stranger)?;
            found[keys[p].0] = Some(item);
        }
        for key in left {
            let p = index.position(&key).ok_or_else(stranger)?;
            again[p] = Some(keys[p].clone());
        }
        Ok(again)
    }
}
