//! The replicator Lambda function: wires configuration, clients and the library's handler.

use std::process::ExitCode;

use dyno::config::{Config, load_sdk_config};
use dyno::handler::{Replicator, function_handler};
use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let replicator = match init().await {
        Ok(replicator) => replicator,
        Err(error) => {
            tracing::error!(%error, "the replicator cannot start");
            eprintln!("replicator: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(service_fn(|event| function_handler(&replicator, event))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// Configuration, clients and both tables' key schemas: once per container.
async fn init() -> Result<Replicator, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    Ok(Replicator::from_config(&config, &sdk).await?)
}
