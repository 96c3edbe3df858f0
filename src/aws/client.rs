//! The AWS SDK clients dyno builds: one shared configuration (credentials, region), each client
//! with the retry policy and timeouts of its settings, and its endpoint set per service (so an
//! explicit one wins over `AWS_ENDPOINT_URL_<SERVICE>`).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::aws::retry::Backoff;
use crate::aws::write_cutoff::CutoffGate;

/// How hard a client tries: attempts per call (throttling, server errors and timeouts are
/// retried with exponential backoff and full jitter), and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    pub max_attempts: u32,
    /// Longest a single attempt may take before it counts as failed.
    pub call_timeout: Duration,
    /// Longest a connection may take to open.
    pub connect_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            max_attempts: 8,
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl ClientSettings {
    /// The retry policy: the SDK's retries and dyno's re-sending of unprocessed entries.
    pub fn backoff(&self) -> Backoff {
        Backoff::attempts(self.max_attempts)
    }
}

impl From<&ClientSettings> for ClientSettings {
    fn from(settings: &ClientSettings) -> Self {
        *settings
    }
}

/// The HTTPS client of every AWS client dyno builds (and of the credential providers that load
/// with it): rustls with ring's crypto, the platform's trusted certificates.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The loader of the shared AWS configuration, with dyno's HTTPS client: where every
/// configuration dyno (or a test) loads starts.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// Loads the shared AWS configuration (credentials chain, default region) once.
pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// Like [`load_sdk_config`], with the region given (no region lookup).
pub async fn load_sdk_config_in(region: &str) -> SdkConfig {
    config_loader()
        .region(Region::new(region.to_owned()))
        .load()
        .await
}

/// `base` with the retry policy and timeouts of `settings`, in `region` when given (`None`: the
/// environment's): what every client dyno builds starts from. Endpoints are set per service, so
/// that an explicit one wins over `AWS_ENDPOINT_URL_<SERVICE>`.
fn tuned(base: &SdkConfig, region: Option<&str>, settings: impl Into<ClientSettings>) -> SdkConfig {
    let settings = settings.into();
    let builder = base
        .to_builder()
        .retry_config(settings.backoff().sdk_retry_config())
        .timeout_config(timeout_config(&settings));
    match region {
        Some(region) => builder.region(Region::new(region.to_owned())).build(),
        None => builder.build(),
    }
}

fn timeout_config(settings: &ClientSettings) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.call_timeout)
        .build()
}

/// A DynamoDB client's configuration for a region and endpoint (`None`: the environment's
/// region, AWS's endpoint), with the retry policy and timeouts of `settings`. Callers may add to it
/// (e.g. an interceptor) before they build the client.
pub fn dynamodb_config(
    base: &SdkConfig,
    region: Option<&str>,
    endpoint_url: Option<&str>,
    settings: impl Into<ClientSettings>,
) -> aws_sdk_dynamodb::config::Builder {
    let builder = aws_sdk_dynamodb::config::Builder::from(&tuned(base, region, settings))
        .interceptor(CutoffGate);
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
    settings: impl Into<ClientSettings>,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        dynamodb_config(base, region, endpoint_url, settings).build(),
    )
}

/// A Kinesis client's configuration, at `endpoint_url` when given (local servers).
pub fn kinesis_config(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    settings: impl Into<ClientSettings>,
) -> aws_sdk_kinesis::config::Builder {
    let builder = aws_sdk_kinesis::config::Builder::from(&tuned(base, None, settings));
    match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    }
}

/// A Kinesis client (see [`kinesis_config`]).
pub fn kinesis_client(
    base: &SdkConfig,
    endpoint_url: Option<&str>,
    settings: impl Into<ClientSettings>,
) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(kinesis_config(base, endpoint_url, settings).build())
}

/// A DynamoDB Streams client for a region and endpoint (`None`: the environment's, AWS's).
pub fn dynamodb_streams_client(
    base: &SdkConfig,
    region: Option<&str>,
    endpoint_url: Option<&str>,
    settings: impl Into<ClientSettings>,
) -> aws_sdk_dynamodbstreams::Client {
    let builder = aws_sdk_dynamodbstreams::config::Builder::from(&tuned(base, region, settings));
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
    settings: impl Into<ClientSettings>,
) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(&tuned(base, None, settings));
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
    settings: impl Into<ClientSettings>,
) -> aws_sdk_sqs::Client {
    let builder = aws_sdk_sqs::config::Builder::from(&tuned(base, None, settings));
    let builder = match endpoint_url {
        Some(url) => builder.endpoint_url(url),
        None => builder,
    };
    aws_sdk_sqs::Client::from_conf(builder.build())
}
