//! The replicator Lambda function: wires configuration, clients and the library's handler.

use dyno::config::{Config, load_sdk_config};
use dyno::handler::{Replicator, function_handler};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let replicator = Replicator::from_config(&config, &sdk, &[]).await?;
    run(service_fn(|event| function_handler(&replicator, event))).await
}
