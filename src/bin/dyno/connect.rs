//! The command line's connection flags, turned into reachable tables, a stream and queues: one
//! SDK configuration (region, credentials; static local ones with `--local`), the timeouts and
//! attempts of the flags, and each resource named by the flag that names it.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use dyno::config::{self, Tuning, local};
use dyno::stream::Stream;
use dyno::table::Table;

use crate::Connection;

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
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
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

    /// The replica table (`--replica-table`).
    pub fn replica(&self) -> Table {
        let endpoint = self.or_local(
            &self.flags.replica_endpoint_url,
            local::REPLICA_ENDPOINT_URL,
        );
        let region = self
            .flags
            .replica_region
            .clone()
            .unwrap_or_else(|| self.region.clone());
        self.table(
            &self.flags.replica_table,
            endpoint,
            region,
            "--replica-table",
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
            config::dynamodb_client(&self.sdk, Some(&region), endpoint.as_deref(), &self.tuning);
        Table::new(client, name, setting).at(endpoint, Some(region))
    }

    /// The key stream (`--stream`).
    pub fn stream(&self) -> Stream {
        let endpoint = self.or_local(
            &self.flags.kinesis_endpoint_url,
            local::KINESIS_ENDPOINT_URL,
        );
        let client = config::kinesis_client(&self.sdk, endpoint.as_deref(), &self.tuning);
        Stream::new(client, &self.flags.stream, "--stream").at(endpoint)
    }

    /// An SQS client, at `endpoint` when given.
    pub fn sqs(&self, endpoint: Option<&str>) -> aws_sdk_sqs::Client {
        config::sqs_client(&self.sdk, endpoint, &self.tuning)
    }
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.1, 3600.0))
}
