//! A DynamoDB table and how to reach it: its name, the client for its account, region and
//! endpoint, and the setting that named it, so that every message names what to fix.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TableDescription;

use crate::aws_error::AwsError;
use crate::key::{KeySchema, SchemaError};

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

    /// True when `other` is this very table: same name, endpoint and region (as the clients
    /// resolve it), reached with the same account's credentials (see [`Table::account`]).
    pub fn is_same_as(&self, other: &Table) -> bool {
        let region = |t: &Table| t.client.config().region().map(|r| r.to_string());
        self.name == other.name
            && self.endpoint == other.endpoint
            && region(self) == region(other)
            && self.account == other.account
    }

    /// True when the endpoint is a server on this machine (127.0.0.0/8, ::1, localhost).
    pub fn is_local(&self) -> bool {
        is_loopback(self.endpoint.as_deref())
    }

    /// `setting=name`, as messages show the table.
    pub fn label(&self) -> String {
        format!("{}={}", self.setting, self.name)
    }
}

/// True when `endpoint` is an http(s) URL of this machine; `None` (AWS) is not.
pub fn is_loopback(endpoint: Option<&str>) -> bool {
    let Some(url) = endpoint else {
        return false;
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:4567/",
            "https://[::1]:9000",
            "http://127.3.2.1",
        ] {
            assert!(is_loopback(Some(local)), "{local}");
        }
        for remote in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://127.0.0.1.example.com",
        ] {
            assert!(!is_loopback(Some(remote)), "{remote}");
        }
        assert!(!is_loopback(None));
    }
}
