//! A replica in another AWS account: its client's credentials come from assuming a role there
//! with STS (`aws-config`'s assume-role provider, refreshed by the SDK before they expire),
//! while the primary keeps the function's own. The role is assumed once at start, so a missing
//! or refused role stops the replicator then, naming the setting to fix.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

/// Which role to assume, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRole {
    pub arn: String,
    /// The external id the role's trust policy asks for, if any.
    pub external_id: Option<String>,
    /// STS's endpoint, for local servers only; `None`: AWS's regional endpoint.
    pub sts_endpoint_url: Option<String>,
    /// The setting that named the role (`REPLICA_ROLE_ARN`, `--replica-role-arn`).
    pub setting: &'static str,
}

/// The role could not be assumed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{setting}={arn}: the replica's role could not be assumed ({source}); check the role's ARN, \
     its trust policy (it must trust this function's role, with the external id if one is set) \
     and that this role may sts:AssumeRole it"
)]
pub struct RoleError {
    pub setting: &'static str,
    pub arn: String,
    #[source]
    pub source: aws_credential_types::provider::error::CredentialsError,
}

/// The session name the replica's account sees in CloudTrail.
const SESSION: &str = "dyno-replicator";

impl ReplicaRole {
    /// Assumes the role once (so a bad role fails now, not at the first batch) and returns the
    /// provider that keeps its credentials fresh.
    pub async fn credentials(
        &self,
        base: &SdkConfig,
    ) -> Result<SharedCredentialsProvider, RoleError> {
        let mut sts = base.to_builder();
        if let Some(url) = &self.sts_endpoint_url {
            sts = sts.endpoint_url(url);
        }
        let provider = AssumeRoleProvider::builder(&self.arn)
            .session_name(SESSION)
            .configure(&sts.build());
        let provider = match &self.external_id {
            Some(id) => provider.external_id(id),
            None => provider,
        }
        .build()
        .await;
        provider
            .provide_credentials()
            .await
            .map_err(|source| RoleError {
                setting: self.setting,
                arn: self.arn.clone(),
                source,
            })?;
        Ok(SharedCredentialsProvider::new(provider))
    }
}
