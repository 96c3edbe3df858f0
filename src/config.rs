//! Configuration: the replicator's settings from the environment, the local defaults the demo
//! and CLI use, and the AWS SDK clients built from them.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use aws_credential_types::provider::SharedCredentialsProvider;

use crate::dead_letter::DeadLetterQueue;
use crate::retry::Backoff;
use crate::role::{ReplicaRole, RoleError};
use crate::table::Table;

/// Environment variable names.
pub const PRIMARY_TABLE: &str = "PRIMARY_TABLE";
pub const REPLICA_TABLE: &str = "REPLICA_TABLE";
pub const PRIMARY_REGION: &str = "PRIMARY_REGION";
pub const REPLICA_REGION: &str = "REPLICA_REGION";
pub const PRIMARY_ENDPOINT_URL: &str = "PRIMARY_ENDPOINT_URL";
pub const REPLICA_ENDPOINT_URL: &str = "REPLICA_ENDPOINT_URL";
pub const CONCURRENCY: &str = "REPLICATOR_CONCURRENCY";
pub const MAX_ATTEMPTS: &str = "REPLICATOR_MAX_ATTEMPTS";
pub const CALL_TIMEOUT_MS: &str = "REPLICATOR_CALL_TIMEOUT_MS";
pub const DEADLINE_MARGIN_MS: &str = "REPLICATOR_DEADLINE_MARGIN_MS";
pub const WRITE_TIMEOUT_MS: &str = "REPLICATOR_WRITE_TIMEOUT_MS";
pub const DEAD_LETTER_QUEUE_URL: &str = "DEAD_LETTER_QUEUE_URL";
pub const DEAD_LETTER_ENDPOINT_URL: &str = "DEAD_LETTER_ENDPOINT_URL";
pub const REPLICA_ROLE_ARN: &str = "REPLICA_ROLE_ARN";
pub const REPLICA_EXTERNAL_ID: &str = "REPLICA_EXTERNAL_ID";
pub const STS_ENDPOINT_URL: &str = "STS_ENDPOINT_URL";
pub const KEEP_TTL_DELETES: &str = "KEEP_TTL_DELETES";

/// Defaults for running the whole system on this machine (`make demo`, the CLI).
pub mod local {
    pub const REGION: &str = "us-east-1";
    pub const PRIMARY_TABLE: &str = "dyno-primary";
    pub const REPLICA_TABLE: &str = "dyno-replica";
    pub const STREAM: &str = "dyno-keys";
    pub const PRIMARY_ENDPOINT_URL: &str = "http://127.0.0.1:8000";
    pub const REPLICA_ENDPOINT_URL: &str = "http://127.0.0.1:8001";
    pub const KINESIS_ENDPOINT_URL: &str = "http://127.0.0.1:4567";
}

/// A setting that is missing or invalid. The message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: it must name the {1}")]
    Missing(&'static str, &'static str),
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Where one table is, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSettings {
    pub table: String,
    /// `None`: the function's own region.
    pub region: Option<String>,
    /// `None`: the AWS endpoint for the region; set for local servers.
    pub endpoint_url: Option<String>,
}

/// How hard the replicator tries, and how much it does at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// DynamoDB calls in flight at once.
    pub concurrency: usize,
    /// Attempts per call (SDK retries of throttling and server errors) and rounds per batch
    /// call (re-sending `UnprocessedKeys` / `UnprocessedItems`), each with exponential backoff
    /// and full jitter.
    pub max_attempts: u32,
    /// Longest a single attempt may take before it counts as failed.
    pub call_timeout: Duration,
    /// Longest a connection may take to open.
    pub connect_timeout: Duration,
    /// No new call starts later than this before the invocation's deadline.
    pub deadline_margin: Duration,
    /// Longest a single `BatchWriteItem` attempt to the replica may take (never longer than
    /// `call_timeout`). No write attempt starts once less than this is left before the deadline
    /// (the margin before the invocation's), so none is still in flight when the invocation
    /// gives up: the window of a late write (see the README, "What can still go wrong").
    pub write_attempt_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            concurrency: 8,
            max_attempts: 8,
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            deadline_margin: Duration::from_millis(1500),
            write_attempt_timeout: Duration::from_secs(1),
        }
    }
}

/// The replicator's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub primary: TableSettings,
    pub replica: TableSettings,
    pub tuning: Tuning,
    /// Where unusable records go (SQS queue URL); `None`: they are reported as failures.
    pub dead_letter_queue_url: Option<String>,
    /// The SQS endpoint for local servers; `None`: AWS's.
    pub dead_letter_endpoint_url: Option<String>,
    /// The role in the replica's account to assume for the replica, if it is in another one.
    pub replica_role: Option<ReplicaRole>,
    /// Leave the replica alone for TTL deletes (an archive replica).
    pub keep_ttl_deletes: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from any lookup (an empty value counts as unset). Long only
    /// because it reads every setting, one after the other, in one place.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str, what: &'static str| {
            get(name).ok_or(ConfigError::Missing(name, what))
        };
        let defaults = Tuning::default();
        let number = |name: &'static str, default: u64, min: u64, max: u64| match get(name) {
            None => Ok(default),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError::Invalid {
                    name,
                    value,
                    reason: "expected a whole number in range (see the README)",
                }),
            },
        };
        let endpoint = |name: &'static str| {
            get(name)
                .map(|url| crate::endpoint::check(name, &url))
                .transpose()
                .map_err(ConfigError::Endpoint)
        };
        Ok(Config {
            primary: TableSettings {
                table: required(PRIMARY_TABLE, "primary DynamoDB table")?,
                region: get(PRIMARY_REGION),
                endpoint_url: endpoint(PRIMARY_ENDPOINT_URL)?,
            },
            replica: TableSettings {
                table: required(REPLICA_TABLE, "replica DynamoDB table")?,
                region: get(REPLICA_REGION),
                endpoint_url: endpoint(REPLICA_ENDPOINT_URL)?,
            },
            tuning: Tuning {
                concurrency: number(CONCURRENCY, defaults.concurrency as u64, 1, 256)? as usize,
                max_attempts: number(MAX_ATTEMPTS, defaults.max_attempts as u64, 1, 20)? as u32,
                call_timeout: Duration::from_millis(number(
                    CALL_TIMEOUT_MS,
                    defaults.call_timeout.as_millis() as u64,
                    100,
                    900_000,
                )?),
                connect_timeout: defaults.connect_timeout,
                deadline_margin: Duration::from_millis(number(
                    DEADLINE_MARGIN_MS,
                    defaults.deadline_margin.as_millis() as u64,
                    0,
                    900_000,
                )?),
                write_attempt_timeout: Duration::from_millis(number(
                    WRITE_TIMEOUT_MS,
                    defaults.write_attempt_timeout.as_millis() as u64,
                    100,
                    900_000,
                )?),
            },
            dead_letter_queue_url: endpoint(DEAD_LETTER_QUEUE_URL)?,
            dead_letter_endpoint_url: endpoint(DEAD_LETTER_ENDPOINT_URL)?,
            keep_ttl_deletes: match get(KEEP_TTL_DELETES).as_deref().map(str::trim) {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: KEEP_TTL_DELETES,
                        value: other.to_owned(),
                        reason: "expected true or false",
                    });
                }
            },
            replica_role: match get(REPLICA_ROLE_ARN) {
                None => None,
                Some(arn) => Some(ReplicaRole {
                    arn: role_arn(arn)?,
                    external_id: get(REPLICA_EXTERNAL_ID),
                    sts_endpoint_url: endpoint(STS_ENDPOINT_URL)?,
                    setting: REPLICA_ROLE_ARN,
                }),
            },
        })
    }
}

/// Checks `REPLICA_ROLE_ARN`'s shape.
fn role_arn(arn: String) -> Result<String, ConfigError> {
    if arn.starts_with("arn:") && arn.contains(":role/") {
        return Ok(arn);
    }
    Err(ConfigError::Invalid {
        name: REPLICA_ROLE_ARN,
        value: arn,
        reason: "expected a role ARN, arn:aws:iam::ACCOUNT:role/NAME",
    })
}

/// Loads the shared AWS configuration (credentials chain, default region) once.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Like [`load_sdk_config`], with the region given (no region lookup).
pub async fn load_sdk_config_in(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .load()
        .await
}

/// `base` with the retry policy and timeouts of `tuning`, in `region` when given (`None`: the
/// environment's): what every client dyno builds starts from. Endpoints are set per service, so
/// that an explicit one wins over `AWS_ENDPOINT_URL_<SERVICE>`.
fn tuned(base: &SdkConfig, region: Option<&str>, tuning: &Tuning) -> SdkConfig {
    let builder = base
        .to_builder()
        .retry_config(tuning.backoff().sdk_retry_config())
        .timeout_config(timeout_config(tuning));
    match region {
        Some(region) => builder.region(Region::new(region.to_owned())).build(),
        None => builder.build(),
    }
}

fn timeout_config(tuning: &Tuning) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(tuning.connect_timeout)
        .operation_attempt_timeout(tuning.call_timeout)
        .build()
}

impl Tuning {
    /// The retry policy: the SDK's retries and dyno's re-sending of unprocessed entries.
    pub fn backoff(&self) -> Backoff {
        Backoff::attempts(self.max_attempts)
    }
}

/// A DynamoDB client's configuration for a region and endpoint (`None`: the environment's
/// region, AWS's endpoint), with the retry policy and timeouts of `tuning`. Callers may add to it
/// (e.g. an interceptor) before they build the client.
pub fn dynamodb_config(
    base: &SdkConfig,
    region: Option<&str>,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_dynamodb::config::Builder {
    let builder = aws_sdk_dynamodb::config::Builder::from(&tuned(base, region, tuning));
    match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    }
}

/// A DynamoDB client (see [`dynamodb_config`]).
pub fn dynamodb_client(
    base: &SdkConfig,
    region: Option<&str>,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(base, region, endpoint_url, tuning).build())
}

impl TableSettings {
    /// The table, with a client for its region and endpoint, and `credentials` instead of the
    /// environment's when given; `setting` names it in messages.
    pub fn connect(
        &self,
        base: &SdkConfig,
        tuning: &Tuning,
        setting: &'static str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Table {
        let mut config = dynamodb_config(
            base,
            self.region.as_deref(),
            self.endpoint_url.as_deref(),
            tuning,
        );
        if let Some(credentials) = credentials {
            config = config.credentials_provider(credentials);
        }
        let client = aws_sdk_dynamodb::Client::from_conf(config.build());
        Table::new(client, &self.table, setting).at(self.endpoint_url.clone(), self.region.clone())
    }
}

impl Config {
    /// The primary table, with the function's own credentials, and the replica, with those of
    /// the replica's role when it is in another account (assumed now: a bad role fails here).
    pub async fn tables(&self, base: &SdkConfig) -> Result<(Table, Table), RoleError> {
        let primary = self
            .primary
            .connect(base, &self.tuning, PRIMARY_TABLE, None);
        let replica = match &self.replica_role {
            None => self
                .replica
                .connect(base, &self.tuning, REPLICA_TABLE, None),
            Some(role) => {
                let credentials = role.credentials(base).await?;
                let mut table =
                    self.replica
                        .connect(base, &self.tuning, REPLICA_TABLE, Some(credentials));
                table.account = Some(role.arn.clone());
                table
            }
        };
        Ok((primary, replica))
    }

    /// The dead-letter queue (`DEAD_LETTER_QUEUE_URL`, at `DEAD_LETTER_ENDPOINT_URL`), if set.
    pub fn dead_letter_queue(&self, base: &SdkConfig) -> Option<DeadLetterQueue> {
        let url = self.dead_letter_queue_url.as_ref()?;
        let client = sqs_client(base, self.dead_letter_endpoint_url.as_deref(), &self.tuning);
        Some(DeadLetterQueue::new(client, url.clone()))
    }
}

/// A Kinesis client's configuration, at `endpoint_url` when given (local servers).
pub fn kinesis_config(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_kinesis::config::Builder {
    let builder = aws_sdk_kinesis::config::Builder::from(&tuned(base, None, tuning));
    match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    }
}

/// A Kinesis client (see [`kinesis_config`]).
pub fn kinesis_client(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(kinesis_config(base, endpoint_url, tuning).build())
}

/// A DynamoDB Streams client for a region and endpoint (`None`: the environment's, AWS's).
pub fn dynamodb_streams_client(
    base: &SdkConfig,
    region: Option<&str>,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_dynamodbstreams::Client {
    let builder = aws_sdk_dynamodbstreams::config::Builder::from(&tuned(base, region, tuning));
    let builder = match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    };
    aws_sdk_dynamodbstreams::Client::from_conf(builder.build())
}

/// An S3 client, at `endpoint_url` when given (local servers, addressed by path).
pub fn s3_client(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(&tuned(base, None, tuning));
    let builder = match endpoint_url {
        Some(url) => builder.endpoint_url(url).force_path_style(true),
        None => builder,
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An SQS client, at `endpoint_url` when given (local servers).
pub fn sqs_client(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    tuning: &Tuning,
) -> aws_sdk_sqs::Client {
    let builder = aws_sdk_sqs::config::Builder::from(&tuned(base, None, tuning));
    let builder = match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    };
    aws_sdk_sqs::Client::from_conf(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_tables_and_defaults() {
        let config = Config::from_lookup(lookup(&[
            (PRIMARY_TABLE, "p"),
            (REPLICA_TABLE, "r"),
            (REPLICA_REGION, "eu-west-1"),
            (PRIMARY_REGION, ""),
        ]))
        .unwrap();
        assert_eq!(config.primary.table, "p");
        assert_eq!(config.primary.region, None);
        assert_eq!(config.replica.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.tuning, Tuning::default());
    }

    #[test]
    fn keep_ttl_deletes_is_true_or_false() {
        let with = |value: &str| {
            Config::from_lookup(lookup(&[
                (PRIMARY_TABLE, "p"),
                (REPLICA_TABLE, "r"),
                (KEEP_TTL_DELETES, value),
            ]))
        };
        assert!(with("true").unwrap().keep_ttl_deletes);
        assert!(!with("false").unwrap().keep_ttl_deletes);
        assert!(!with("").unwrap().keep_ttl_deletes, "empty counts as unset");
        let err = with("yes").unwrap_err();
        assert!(
            err.to_string().starts_with("KEEP_TTL_DELETES=\"yes\""),
            "{err}"
        );
    }

    #[test]
    fn missing_and_invalid_values_name_the_variable() {
        let err = Config::from_lookup(lookup(&[(REPLICA_TABLE, "r")])).unwrap_err();
        assert!(
            err.to_string().starts_with("PRIMARY_TABLE is not set"),
            "{err}"
        );
        let err = Config::from_lookup(lookup(&[
            (PRIMARY_TABLE, "p"),
            (REPLICA_TABLE, "r"),
            (CONCURRENCY, "0"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().starts_with("REPLICATOR_CONCURRENCY=\"0\""),
            "{err}"
        );
        let err = Config::from_lookup(lookup(&[
            (PRIMARY_TABLE, "p"),
            (REPLICA_TABLE, "r"),
            (PRIMARY_ENDPOINT_URL, "localhost:8000"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("PRIMARY_ENDPOINT_URL"), "{err}");
    }
}
