//! Configuration: the replicator's settings from the environment (declared once, as a clap
//! command, in `settings.rs`), the local defaults the demo and CLI use, and the AWS SDK clients
//! built from them.

use std::sync::Arc;

use aws_config::SdkConfig;

use aws_credential_types::provider::SharedCredentialsProvider;

use crate::aws::client::{dynamodb_config, sqs_client};
use crate::aws::role::{ReplicaRole, RoleError};
use crate::aws::table::Table;
use crate::replicate::dead_letter::DeadLetterQueue;
use crate::replicate::deployment::{self, TargetTable};
use crate::replicate::engine::{Engine, SetupError};
use crate::replicate::replicator::Replicator;
use crate::replicate::targets::TargetSpec;
use crate::replicate::tuning::Tuning;

mod settings;
#[cfg(test)]
mod settings_tests;

/// Environment variable names: each is one argument of the settings' command (`settings.rs`).
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
/// S3's endpoint, for the export loader on local servers only.
pub const S3_ENDPOINT_URL: &str = "S3_ENDPOINT_URL";
pub const REPLICA_ROLE_ARN: &str = "REPLICA_ROLE_ARN";
pub const REPLICA_EXTERNAL_ID: &str = "REPLICA_EXTERNAL_ID";
pub const STS_ENDPOINT_URL: &str = "STS_ENDPOINT_URL";
pub const KEEP_TTL_DELETES: &str = "KEEP_TTL_DELETES";
/// The targets, as JSON (see [`crate::replicate::targets`]); unset: `REPLICA_TABLE` is the one.
pub const DYNO_TARGETS: &str = "DYNO_TARGETS";

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

/// A setting that is missing or invalid. The message names the variable, on one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable, and what it must name.
    #[error("{0} is not set: it must name the {1}")]
    Missing(&'static str, String),
    #[error(transparent)]
    Endpoint(#[from] crate::aws::endpoint::EndpointError),
    /// Shared with clap's error, which lends its source only by reference.
    #[error(transparent)]
    Targets(Arc<crate::replicate::targets::TargetsError>),
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A refusal of clap's that no setting accounts for: a mistake in the settings' command.
    #[error("the settings could not be read: {}", .0.kind())]
    Unreadable(#[source] clap::Error),
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
    /// S3's endpoint (the export loader), for local servers only; `None`: AWS's.
    pub s3_endpoint_url: Option<String>,
    /// The role in the replica's account to assume for the replica, if it is in another one.
    pub replica_role: Option<ReplicaRole>,
    /// Leave the replica alone for TTL deletes (an archive replica).
    pub keep_ttl_deletes: bool,
    /// The targets (`DYNO_TARGETS`); `None`: the replica is the one target, whole. Each target
    /// is reached at `REPLICA_ENDPOINT_URL`, in its own region or `REPLICA_REGION`.
    pub targets: Option<Vec<TargetSpec>>,
    /// STS's endpoint for the targets' roles, for local servers only; `None`: AWS's.
    pub sts_endpoint_url: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from any lookup (an empty or blank value counts as unset): each
    /// setting the settings' command declares, read from its variable, and nothing else.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        settings::Settings::read(lookup).map(Config::from)
    }
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

    /// The replicator this configuration describes: the tables' clients built and both tables
    /// checked (once per container); with `DEAD_LETTER_QUEUE_URL` set, unusable records go to
    /// that queue.
    pub async fn replicator(&self, sdk: &SdkConfig) -> Result<Replicator, SetupError> {
        let replicator = Replicator::new(self.engines(sdk).await?, self.tuning.clone())
            .keeping_ttl_deletes(self.keep_ttl_deletes);
        Ok(match self.dead_letter_queue(sdk) {
            Some(queue) => replicator.with_dead_letter(queue),
            None => replicator,
        })
    }

    /// One engine per primary table this configuration follows, every table checked (once per
    /// container): what the replicator and the export loader both write with.
    pub async fn engines(&self, sdk: &SdkConfig) -> Result<Vec<Engine>, SetupError> {
        match &self.targets {
            None => {
                let (primary, replica) = self.tables(sdk).await?;
                Ok(vec![
                    Engine::connect(primary, replica, self.tuning.clone()).await?,
                ])
            }
            Some(specs) => {
                let primary = self.primary.connect(sdk, &self.tuning, PRIMARY_TABLE, None);
                let targets = self.target_tables(sdk, specs).await?;
                deployment::connect(primary, targets, &[], &self.tuning).await
            }
        }
    }

    /// What the `TablePair` metric dimension names on the replica's side: `REPLICA_TABLE` (the
    /// template sets it in every deployment), else the targets' names.
    pub fn deployment_name(&self) -> String {
        match (&self.targets, self.replica.table.is_empty()) {
            (Some(specs), true) => {
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                names.join(",")
            }
            _ => self.replica.table.clone(),
        }
    }

    /// Each target's table: at `REPLICA_ENDPOINT_URL`, in the target's region (or
    /// `REPLICA_REGION`), with its role's credentials when it names one, else those of
    /// `REPLICA_ROLE_ARN` when set (assumed now): the account is part of where a target is.
    pub async fn target_tables(
        &self,
        sdk: &SdkConfig,
        specs: &[TargetSpec],
    ) -> Result<Vec<TargetTable>, RoleError> {
        let mut tables = Vec::with_capacity(specs.len());
        for spec in specs {
            let settings = TableSettings {
                table: spec.table.clone(),
                region: spec.region.clone().or_else(|| self.replica.region.clone()),
                endpoint_url: self.replica.endpoint_url.clone(),
            };
            let own = spec.role_arn.as_ref().map(|arn| ReplicaRole {
                arn: arn.clone(),
                external_id: spec.external_id.clone(),
                sts_endpoint_url: self.sts_endpoint_url.clone(),
                setting: DYNO_TARGETS,
            });
            // A target without a role of its own is in the deployment's replica account.
            let role = own.or_else(|| self.replica_role.clone());
            let credentials = match &role {
                Some(role) => Some(role.credentials(sdk).await?),
                None => None,
            };
            let mut table = settings.connect(sdk, &self.tuning, DYNO_TARGETS, credentials);
            table.account = role.map(|r| r.arn);
            tables.push(TargetTable {
                spec: spec.clone(),
                table,
            });
        }
        Ok(tables)
    }

    /// An S3 client, at `S3_ENDPOINT_URL` when set (the export loader).
    pub fn s3(&self, base: &SdkConfig) -> aws_sdk_s3::Client {
        crate::aws::client::s3_client(base, self.s3_endpoint_url.as_deref(), &self.tuning)
    }

    /// The dead-letter queue (`DEAD_LETTER_QUEUE_URL`, at `DEAD_LETTER_ENDPOINT_URL`), if set.
    pub fn dead_letter_queue(&self, base: &SdkConfig) -> Option<DeadLetterQueue> {
        let url = self.dead_letter_queue_url.as_ref()?;
        let client = sqs_client(base, self.dead_letter_endpoint_url.as_deref(), &self.tuning);
        Some(DeadLetterQueue::new(client, url.clone()))
    }
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
    fn targets_stand_in_for_the_replica_table() {
        let targets = r#"{"targets":[{"name":"a","table":"t1"},{"name":"b","table":"t2"}]}"#;
        let config = Config::from_lookup(lookup(&[(PRIMARY_TABLE, "p"), (DYNO_TARGETS, targets)]))
            .expect("no REPLICA_TABLE is needed with targets");
        assert_eq!(config.targets.as_ref().map(Vec::len), Some(2));
        assert_eq!(config.deployment_name(), "a,b");
        let config = Config::from_lookup(lookup(&[
            (PRIMARY_TABLE, "p"),
            (REPLICA_TABLE, "r"),
            (DYNO_TARGETS, targets),
        ]))
        .expect("a config");
        assert_eq!(config.deployment_name(), "r");
        let err = Config::from_lookup(lookup(&[(PRIMARY_TABLE, "p"), (DYNO_TARGETS, "{}")]))
            .expect_err("no targets field");
        assert!(err.to_string().starts_with("DYNO_TARGETS"), "{err}");
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
