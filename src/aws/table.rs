//! A DynamoDB table and how to reach it: its name, the client for its account, region and
//! endpoint, and the setting that named it, so that every message names what to fix.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, TableDescription, TimeToLiveStatus, WriteRequest,
};

use crate::aws::endpoint;
use crate::aws::error::AwsError;
use crate::aws::identity::{Identity, Sameness};
use crate::aws::key::{KeySchema, SchemaError};
use crate::aws::write_cutoff::{CutoffGate, WriteCutoff};

/// An item, or a key, as the SDK has it.
pub type Item = HashMap<String, AttributeValue>;

/// How one `BatchWriteItem` is sent: the cutoff that times each attempt and refuses attempts
/// too close to a deadline (`None`: the client's timeouts, no deadline), and interceptors that
/// watch every attempt.
#[derive(Debug, Clone, Default)]
pub struct WriteCall {
    pub cutoff: Option<WriteCutoff>,
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
        self.schema_of(&self.describe().await?)
    }

    /// The key schema in `description`, this table's.
    pub fn schema_of(&self, description: &TableDescription) -> Result<KeySchema, TableError> {
        KeySchema::from_description(description).map_err(|source| TableError::Schema {
            setting: self.setting,
            table: self.name.clone(),
            source,
        })
    }

    /// The table's TTL attribute when TTL is on (`Some(None)`: off); `None` when the server has
    /// no TTL at all (dynalite).
    pub async fn time_to_live(&self) -> Result<Option<Option<String>>, TableError> {
        let answer = (self.client.describe_time_to_live())
            .table_name(&self.name)
            .send()
            .await
            .map_err(|e| AwsError::new("DescribeTimeToLive", e));
        let description = match answer {
            Ok(answer) => answer.time_to_live_description,
            Err(e) if e.is_unsupported() => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        let on = description.as_ref().is_some_and(|d| {
            matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
        });
        let attribute = description.and_then(|d| d.attribute_name);
        Ok(Some(attribute.filter(|_| on)))
    }

    /// What DynamoDB says this table is (see [`Identity`]).
    pub async fn identity(&self) -> Result<Identity, TableError> {
        Ok(Identity::of(&self.describe().await?))
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
    /// unprocessed. `call` can time each attempt, refuse attempts too close to a deadline and
    /// watch every one (the SDK's retries included). The one place that sends it: the engine's
    /// and the writer's writes.
    pub async fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        call: WriteCall,
    ) -> Result<Vec<WriteRequest>, AwsError> {
        let request = (self.client.batch_write_item()).request_items(&self.name, requests);
        // A client dyno did not build has no gate: it gets one for this call.
        let ungated =
            call.cutoff.is_some() && !CutoffGate::among(self.client.config().interceptors());
        let sent = async {
            if call.watchers.is_empty() && !ungated {
                return request.send().await;
            }
            let mut request = request.customize();
            if ungated {
                request = request.interceptor(CutoffGate);
            }
            for watcher in call.watchers {
                request = request.interceptor(watcher);
            }
            request.send().await
        };
        let answer = match &call.cutoff {
            Some(cutoff) => cutoff.around(sent).await,
            None => sent.await,
        };
        let answer = answer.map_err(|e| AwsError::new("BatchWriteItem", e))?;
        Ok(answer
            .unprocessed_items
            .and_then(|mut u| u.remove(&self.name))
            .unwrap_or_default())
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
        "{replica} is the primary table itself ({primary}): DynamoDB describes both as \
         {identity}; a table cannot be its own replica or target: name another table"
    )]
    SameTable {
        primary: String,
        replica: String,
        identity: String,
    },
    #[error(
        "{replica} and {primary}: DescribeTable gave no TableId or TableArn to compare ({shown}), \
         so whether they are one table cannot be told; refusing rather than risk writing the \
         primary"
    )]
    Undecided {
        primary: String,
        replica: String,
        shown: String,
    },
}

/// Refuses `replica` when DynamoDB says it is `primary` (or cannot say it is not); each is
/// `(how messages name it, its identity)`.
pub fn two_tables(primary: (&str, &Identity), replica: (&str, &Identity)) -> Result<(), PairError> {
    let ((p, a), (r, b)) = (primary, replica);
    match a.compare(b) {
        Sameness::Different => Ok(()),
        Sameness::Same => Err(PairError::SameTable {
            primary: p.to_owned(),
            replica: r.to_owned(),
            identity: a.shown(),
        }),
        Sameness::Undecided => Err(PairError::Undecided {
            primary: p.to_owned(),
            replica: r.to_owned(),
            shown: format!("{}; {}", a.shown(), b.shown()),
        }),
    }
}

/// The primary's key schema, once `replica` is checked to be another table (by what DynamoDB
/// says of each, not by how they are spelled) with the same key schema: what replicating and
/// comparing both need first.
pub async fn pair_schema(primary: &Table, replica: &Table) -> Result<KeySchema, PairError> {
    let (ours, theirs) = (primary.describe().await?, replica.describe().await?);
    two_tables(
        (&primary.label(), &Identity::of(&ours)),
        (&replica.label(), &Identity::of(&theirs)),
    )?;
    let schema = primary.schema_of(&ours)?;
    let found = replica.schema_of(&theirs)?;
    if schema != found {
        return Err(PairError::Mismatch {
            replica: replica.label(),
            expected: Box::new(schema),
            found: Box::new(found),
        });
    }
    Ok(schema)
}

/// Refuses `other` when DynamoDB says it is `primary` (or cannot tell): for a table about to be
/// created, checked or changed. Either may not exist yet, and then they are not one table.
pub async fn not_the_primary(primary: &Table, other: &Table) -> Result<(), PairError> {
    let described = |table: &Table| {
        let table = table.clone();
        async move {
            match table.describe().await {
                Ok(description) => Ok(Some(Identity::of(&description))),
                Err(error) if error.is_missing() => Ok(None),
                Err(error) => Err(error),
            }
        }
    };
    let (Some(ours), Some(theirs)) = (described(primary).await?, described(other).await?) else {
        return Ok(());
    };
    two_tables((&primary.label(), &ours), (&other.label(), &theirs))
}
