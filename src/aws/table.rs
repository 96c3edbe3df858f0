//! A DynamoDB table and how to reach it: its name, the client for its account, region and
//! endpoint, and the setting that named it, so that every message names what to fix.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TableDescription, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::endpoint;
use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeySchema, SchemaError};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{self, Backoff, Deadline, Patience, Undone};

/// An item, or a key, as the SDK has it.
pub type Item = HashMap<String, AttributeValue>;

/// `BatchGetItem` calls in flight at once for one [`Table::read_many`].
const READ_CONCURRENCY: usize = 4;

/// How long a read keeps trying through throttling and outages.
const READ_PATIENCE: Patience = Patience::For(Duration::from_secs(120));

/// How one `BatchWriteItem` is sent: each attempt's timeout (`None`: the client's), and
/// interceptors that watch (or refuse) every attempt.
#[derive(Debug, Clone, Default)]
pub struct WriteCall {
    pub attempt_timeout: Option<Duration>,
    pub watchers: Vec<SharedInterceptor>,
}

/// What a read returns of each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// The whole item.
    All,
    /// Only its key attributes.
    Keys,
}

/// One table, reachable.
#[derive(Debug, Clone)]
pub struct Table {
    pub client: Client,
    pub name: String,
    /// The endpoint the client uses; `None`: AWS's endpoint for the region.
    pub endpoint: Option<String>,
    /// The region the client signs for; `None`: the environment's.
    pub region: Option<String>,
    /// The setting that named the table: `PRIMARY_TABLE` in Lambda, `--table` on the CLI.
    pub setting: &'static str,
    /// The role the client assumes to reach the table (another account's), if any.
    pub account: Option<String>,
}

/// A table could not be described, or its key schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{setting}={table}: {source}")]
    Describe {
        setting: &'static str,
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("{setting}={table}: DescribeTable answered without a table description")]
    NoDescription {
        setting: &'static str,
        table: String,
    },
    #[error("{setting}={table}: {problem}")]
    BadAnswer {
        setting: &'static str,
        table: String,
        problem: &'static str,
    },
    #[error("{setting}={table}: {source}")]
    Schema {
        setting: &'static str,
        table: String,
        #[source]
        source: SchemaError,
    },
}

impl TableError {
    /// True when the table does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, TableError::Describe { source, .. } if source.is("ResourceNotFoundException"))
    }
}

impl Table {
    /// `name`, reached with `client`, named by `setting`.
    pub fn new(client: Client, name: impl Into<String>, setting: &'static str) -> Self {
        Table {
            client,
            name: name.into(),
            endpoint: None,
            region: None,
            setting,
            account: None,
        }
    }

    /// Records where the client goes (for messages, and to tell local servers from AWS).
    pub fn at(mut self, endpoint: Option<String>, region: Option<String>) -> Self {
        self.endpoint = endpoint;
        self.region = region;
        self
    }

    /// `DescribeTable`.
    pub async fn describe(&self) -> Result<TableDescription, TableError> {
        let answer = self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map_err(|e| TableError::Describe {
                setting: self.setting,
                table: self.name.clone(),
                source: AwsError::new("DescribeTable", e),
            })?;
        answer.table.ok_or_else(|| TableError::NoDescription {
            setting: self.setting,
            table: self.name.clone(),
        })
    }

    /// The table's key schema, from `DescribeTable`.
    pub async fn key_schema(&self) -> Result<KeySchema, TableError> {
        let description = self.describe().await?;
        KeySchema::from_description(&description).map_err(|source| TableError::Schema {
            setting: self.setting,
            table: self.name.clone(),
            source,
        })
    }

    /// An error of a call on this table.
    pub fn error(&self, source: AwsError) -> TableError {
        TableError::Describe {
            setting: self.setting,
            table: self.name.clone(),
            source,
        }
    }

    /// Reads `keys` with consistent `BatchGetItem` calls (100 keys each, a few at once, keys left
    /// unprocessed sent again): for each key, in order, its item or `None`.
    pub async fn read_many(
        &self,
        schema: &KeySchema,
        keys: &[Key],
        projection: Projection,
    ) -> Result<Vec<Option<Item>>, TableError> {
        let found = Mutex::new(vec![None; keys.len()]);
        let chunks: Vec<Vec<(usize, Item)>> = keys
            .iter()
            .map(Key::to_attributes)
            .enumerate()
            .collect::<Vec<_>>()
            .chunks(limits::READ_KEYS)
            .map(<[_]>::to_vec)
            .collect();
        stream::iter(chunks)
            .map(|chunk| self.read_chunk(schema, chunk, projection, &found))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        Ok(found.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    async fn read_chunk(
        &self,
        schema: &KeySchema,
        chunk: Vec<(usize, Item)>,
        projection: Projection,
        found: &Mutex<Vec<Option<Item>>>,
    ) -> Result<(), TableError> {
        let entries = chunk.into_iter().map(|(i, key)| (i, (i, key))).collect();
        let backoff = Backoff::attempts(8);
        let resent = retry::resend(entries, &backoff, Deadline::NONE, |keys| {
            self.read_round(schema, keys, projection, found)
        })
        .await;
        match resent.why {
            None => Ok(()),
            Some(Undone::Failed(error)) => Err(error),
            Some(_) => Err(self.bad("keys still unprocessed after every retry")),
        }
    }

    /// One `BatchGetItem`: stores what it found in `found`; answers, for each key, `None` when
    /// answered or the key to ask again.
    async fn read_round(
        &self,
        schema: &KeySchema,
        keys: Vec<(usize, Item)>,
        projection: Projection,
        found: &Mutex<Vec<Option<Item>>>,
    ) -> Result<Vec<Option<(usize, Item)>>, TableError> {
        let index = KeyIndex::of_items(schema, keys.iter().map(|(_, k)| k))
            .ok_or_else(|| self.bad("a key that does not fit the table"))?;
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(|(_, k)| k.clone()).collect()))
            .consistent_read(true);
        if projection == Projection::Keys {
            let (expression, names) = key_projection(schema, None);
            wanted = wanted
                .projection_expression(expression)
                .set_expression_attribute_names(Some(names));
        }
        let wanted = wanted
            .build()
            .map_err(|_| self.bad("the request could not be built"))?;
        let call = || self.batch_get(wanted.clone());
        let (items, left) = retry::patiently(READ_PATIENCE, |_| {}, call)
            .await
            .map_err(|gave_up| self.error(gave_up.error))?;
        let mut again: Vec<Option<(usize, Item)>> = vec![None; keys.len()];
        let stranger = || self.bad("the answer holds a key that was not asked for");
        let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
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

    /// One `BatchGetItem` of `wanted` (at most 100 keys): the items found, and the keys the
    /// server left unprocessed. The one place that sends it: the engine, the writer's and the
    /// tools' reads all come through here.
    pub async fn batch_get(
        &self,
        wanted: KeysAndAttributes,
    ) -> Result<(Vec<Item>, Vec<Item>), AwsError> {
        let mut answer = self
            .client
            .batch_get_item()
            .request_items(&self.name, wanted)
            .send()
            .await
            .map_err(|e| AwsError::new("BatchGetItem", e))?;
        let items = answer
            .responses
            .as_mut()
            .and_then(|r| r.remove(&self.name))
            .unwrap_or_default();
        let left = answer
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(&self.name))
            .map(|k| k.keys)
            .unwrap_or_default();
        Ok((items, left))
    }

    /// One `BatchWriteItem` of `requests` (at most 25): the requests the server left
    /// unprocessed. `call` can shorten each attempt and watch every one (the SDK's retries
    /// included). The one place that sends it: the engine's and the writer's writes.
    pub async fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        call: WriteCall,
    ) -> Result<Vec<WriteRequest>, AwsError> {
        let mut request = self
            .client
            .batch_write_item()
            .request_items(&self.name, requests)
            .customize();
        if let Some(timeout) = call.attempt_timeout {
            let timeouts = TimeoutConfig::builder()
                .operation_attempt_timeout(timeout)
                .build();
            request = request
                .config_override(aws_sdk_dynamodb::Config::builder().timeout_config(timeouts));
        }
        for watcher in call.watchers {
            request = request.interceptor(watcher);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::new("BatchWriteItem", e))?;
        Ok(answer
            .unprocessed_items
            .and_then(|mut u| u.remove(&self.name))
            .unwrap_or_default())
    }

    fn bad(&self, problem: &'static str) -> TableError {
        TableError::BadAnswer {
            setting: self.setting,
            table: self.name.clone(),
            problem,
        }
    }

    /// True when `other` may be this very table: the same name at the same place (host and port,
    /// however spelled: `localhost` is `127.0.0.1`) in the same region (as the clients resolve it;
    /// any region, on a server of this machine, which may ignore regions), reached with the same
    /// account's credentials (see [`Table::account`]).
    pub fn is_same_as(&self, other: &Table) -> bool {
        let region = |t: &Table| t.client.config().region().map(|r| r.to_string());
        let place = |t: &Table| endpoint::place(t.endpoint.as_deref(), region(t).as_deref());
        self.name == other.name
            && place(self) == place(other)
            && (region(self) == region(other) || self.is_local())
            && self.account == other.account
    }

    /// True when the endpoint is a server on this machine (127.0.0.0/8, ::1, localhost).
    pub fn is_local(&self) -> bool {
        endpoint::is_local(self.endpoint.as_deref())
    }

    /// `setting=name`, as messages show the table.
    pub fn label(&self) -> String {
        format!("{}={}", self.setting, self.name)
    }
}

/// A projection expression of the key attributes and `also` (e.g. a TTL attribute), with its
/// attribute names (`#k0`, `#k1`, …).
pub fn key_projection(schema: &KeySchema, also: Option<&str>) -> (String, HashMap<String, String>) {
    let mut attributes: Vec<&str> = schema.elements().map(|(a, _)| a.name.as_str()).collect();
    attributes.extend(also.filter(|a| !attributes.contains(a)));
    let names: HashMap<String, String> = attributes
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("#k{i}"), (*name).to_owned()))
        .collect();
    let expression = (0..attributes.len())
        .map(|i| format!("#k{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    (expression, names)
}

/// Two tables that cannot be a primary and its replica; the message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "{replica}: its key schema, {found}, differs from the primary table's, {expected}: \
         the tables cannot be replicated or compared key for key; the replica needs the same \
         key schema"
    )]
    Mismatch {
        replica: String,
        expected: Box<KeySchema>,
        found: Box<KeySchema>,
    },
    #[error(
        "{replica} is the primary table itself ({primary}, same endpoint and region): a table \
         cannot be its own replica; name another replica table"
    )]
    SameTable { primary: String, replica: String },
}

/// The primary's key schema, once `replica` is checked to be another table with the same one
/// (what replicating and comparing both need first).
pub async fn pair_schema(primary: &Table, replica: &Table) -> Result<KeySchema, PairError> {
    if replica.is_same_as(primary) {
        return Err(PairError::SameTable {
            primary: primary.label(),
            replica: replica.label(),
        });
    }
    let schema = primary.key_schema().await?;
    let found = replica.key_schema().await?;
    if schema != found {
        return Err(PairError::Mismatch {
            replica: replica.label(),
            expected: Box::new(schema),
            found: Box::new(found),
        });
    }
    Ok(schema)
}
