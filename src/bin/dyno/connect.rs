//! The command line's connection flags, turned into reachable tables, a stream and queues: one
//! SDK configuration (region, credentials; static local ones with `--local`), the timeouts and
//! attempts of the flags, and each resource named by the flag that names it.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use dyno::aws::client;
use dyno::aws::role::ReplicaRole;
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::config::local;
use dyno::replicate::targets::TargetSpec;
use dyno::replicate::tuning::Tuning;

use crate::Connection;
use crate::failure::{Failure, usage};

/// What the flags reach.
pub struct Connected {
    pub sdk: SdkConfig,
    pub tuning: Tuning,
    flags: Connection,
    region: String,
}

impl Connected {
    /// Loads the SDK configuration once. With `local` (or `--local`), every endpoint not given
    /// is the local server's, and the credentials are static ones the local servers accept.
    pub async fn new(flags: &Connection, local: bool) -> Self {
        let region = flags
            .region
            .clone()
            .unwrap_or_else(|| local::REGION.to_owned());
        let mut loader = client::config_loader().region(Region::new(region.clone()));
        if local {
            loader = loader.credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "dyno-local",
            ));
        }
        let tuning = Tuning {
            max_attempts: flags.max_attempts,
            call_timeout: seconds(flags.read_timeout),
            connect_timeout: seconds(flags.connect_timeout),
            ..Tuning::default()
        };
        let mut flags = flags.clone();
        if local {
            flags.local = true;
        }
        Connected {
            sdk: loader.load().await,
            tuning,
            flags,
            region,
        }
    }

    fn or_local(&self, given: &Option<String>, local_url: &str) -> Option<String> {
        given
            .clone()
            .or_else(|| self.flags.local.then(|| local_url.to_owned()))
    }

    /// The primary table (`--table`).
    pub fn primary(&self) -> Table {
        let endpoint = self.or_local(&self.flags.endpoint_url, local::PRIMARY_ENDPOINT_URL);
        self.table(&self.flags.table, endpoint, self.region.clone(), "--table")
    }

    /// The replica table (`--replica-table`), with the credentials of `--replica-role-arn`
    /// when it is in another account (the role is assumed now).
    pub async fn replica(&self) -> Result<Table, Failure> {
        let endpoint = self.or_local(
            &self.flags.replica_endpoint_url,
            local::REPLICA_ENDPOINT_URL,
        );
        let region = self
            .flags
            .replica_region
            .clone()
            .unwrap_or_else(|| self.region.clone());
        let role = self.replica_role();
        let name = &self.flags.replica_table;
        self.table_as(name, endpoint, region, role, "--replica-table")
            .await
    }

    /// `--replica-role-arn`, if given.
    fn replica_role(&self) -> Option<ReplicaRole> {
        let arn = self.flags.replica_role_arn.as_ref()?;
        Some(ReplicaRole {
            arn: arn.clone(),
            external_id: self.flags.replica_external_id.clone(),
            sts_endpoint_url: self.flags.sts_endpoint_url.clone(),
            setting: "--replica-role-arn",
        })
    }

    /// A table reached with `role`'s credentials when given (assumed now), else the caller's.
    async fn table_as(
        &self,
        name: &str,
        endpoint: Option<String>,
        region: String,
        role: Option<ReplicaRole>,
        setting: &'static str,
    ) -> Result<Table, Failure> {
        let Some(role) = role else {
            return Ok(self.table(name, endpoint, region, setting));
        };
        if self.flags.local && role.sts_endpoint_url.is_none() {
            return Err(usage(format!(
                "{}: role {} would be assumed at AWS's STS, and a --local run never reaches \
                 AWS: give --sts-endpoint-url of a local STS, or leave the role out",
                role.setting, role.arn
            )));
        }
        let credentials = role.credentials(&self.sdk).await?;
        let config =
            client::dynamodb_config(&self.sdk, Some(&region), endpoint.as_deref(), &self.tuning)
                .credentials_provider(credentials);
        let client = aws_sdk_dynamodb::Client::from_conf(config.build());
        let mut table = Table::new(client, name, setting).at(endpoint, Some(region));
        table.account = Some(role.arn);
        Ok(table)
    }

    /// A target's table (of `--targets FILE`): at the replica's endpoint, in the target's region
    /// (else the replica's), with the credentials of the target's role when it names one, else
    /// of `--replica-role-arn` when given.
    pub async fn target_table(&self, spec: &TargetSpec) -> Result<Table, Failure> {
        let endpoint = self.or_local(
            &self.flags.replica_endpoint_url,
            local::REPLICA_ENDPOINT_URL,
        );
        let region = (spec.region.clone())
            .or_else(|| self.flags.replica_region.clone())
            .unwrap_or_else(|| self.region.clone());
        let own = spec.role_arn.as_ref().map(|arn| ReplicaRole {
            arn: arn.clone(),
            external_id: spec.external_id.clone(),
            sts_endpoint_url: self.flags.sts_endpoint_url.clone(),
            setting: "--targets",
        });
        // A target without a role of its own is in the replica's account (--replica-role-arn).
        let role = own.or_else(|| self.replica_role());
        self.table_as(&spec.table, endpoint, region, role, "--targets")
            .await
    }

    /// A DynamoDB Streams client, at `endpoint` (else the primary's endpoint, else AWS's).
    pub fn streams(&self, endpoint: Option<&str>) -> aws_sdk_dynamodbstreams::Client {
        let primary = self.or_local(&self.flags.endpoint_url, local::PRIMARY_ENDPOINT_URL);
        let endpoint = endpoint.map(str::to_owned).or(primary);
        client::dynamodb_streams_client(
            &self.sdk,
            Some(&self.region),
            endpoint.as_deref(),
            &self.tuning,
        )
    }

    fn table(
        &self,
        name: &str,
        endpoint: Option<String>,
        region: String,
        setting: &'static str,
    ) -> Table {
        let client =
            client::dynamodb_client(&self.sdk, Some(&region), endpoint.as_deref(), &self.tuning);
        Table::new(client, name, setting).at(endpoint, Some(region))
    }

    /// `--table-arn`, checked to name `--table` (`arn:…:dynamodb:…:table/NAME`).
    pub fn table_arn(&self) -> Result<Option<String>, String> {
        let Some(arn) = &self.flags.table_arn else {
            return Ok(None);
        };
        let named = arn
            .strip_prefix("arn:")
            .filter(|rest| rest.contains(":dynamodb:"))
            .and_then(|rest| rest.split_once(":table/"))
            .map(|(_, name)| name.split('/').next().unwrap_or_default());
        match named {
            Some(name) if name == self.flags.table => Ok(Some(arn.clone())),
            Some(name) => Err(format!(
                "--table-arn {arn} names table `{name}`, not --table `{}`",
                self.flags.table
            )),
            None => Err(format!(
                "--table-arn {arn} is not a DynamoDB table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
            )),
        }
    }

    /// The key stream (`--stream`).
    pub fn stream(&self) -> Stream {
        let endpoint = self.or_local(
            &self.flags.kinesis_endpoint_url,
            local::KINESIS_ENDPOINT_URL,
        );
        let client = client::kinesis_client(&self.sdk, endpoint.as_deref(), &self.tuning);
        Stream::new(client, &self.flags.stream, "--stream").at(endpoint)
    }

    /// An S3 client, at `endpoint` when given.
    pub fn s3(&self, endpoint: Option<&str>) -> aws_sdk_s3::Client {
        client::s3_client(&self.sdk, endpoint, &self.tuning)
    }

    /// An SQS client, at `endpoint` when given.
    pub fn sqs(&self, endpoint: Option<&str>) -> aws_sdk_sqs::Client {
        client::sqs_client(&self.sdk, endpoint, &self.tuning)
    }
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.1, 3600.0))
}
