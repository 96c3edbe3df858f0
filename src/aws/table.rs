//! A DynamoDB table and how to reach it: its name, the client for its account, region and
//! endpoint, and the setting that named it, so that every message names what to fix.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TableDescription, WriteRequest};

use crate::aws::endpoint;
use crate::aws::error::AwsError;
use crate::aws::key::{KeySchema, SchemaError};

/// An item, or a key, as the SDK has it.
pub type Item = HashMap<String, AttributeValue>;

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

    /// `setting=name`, as messages show the table.
    pub fn label(&self) -> String {
        label(self.setting, &self.name)
    }

    /// An error of a call on this table.
    pub fn error(&self, source: AwsError) -> TableError {
        call_error(self.setting, &self.name, source)
    }

    /// True when the endpoint is a server on this machine (127.0.0.0/8, ::1, localhost).
    pub fn is_local(&self) -> bool {
        endpoint::is_local(self.endpoint.as_deref())
    }
}

/// `setting=name`: how messages show a table.
pub fn label(setting: &str, name: &str) -> String {
    format!("{setting}={name}")
}

/// An error of a call on the table `name`, named by `setting`.
pub fn call_error(setting: &'static str, name: &str, source: AwsError) -> TableError {
    TableError::Describe {
        setting,
        table: name.to_owned(),
        source,
    }
}

/// The key attributes of `schema` and `also` (e.g. a TTL attribute), each once: what a keys-only
/// read or scan asks for.
pub fn key_attributes(schema: &KeySchema, also: Option<&str>) -> Vec<String> {
    let mut attributes: Vec<String> = schema.elements().map(|(a, _)| a.name.clone()).collect();
    if let Some(also) = also.filter(|a| !attributes.iter().any(|k| k == a)) {
        attributes.push(also.to_owned());
    }
    attributes
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
