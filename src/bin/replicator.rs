//! The replicator Lambda function: wires configuration, clients, metrics and the library's
//! handler.

use std::process::ExitCode;

use dyno::aws::client::load_sdk_config;
use dyno::config::Config;
use dyno::{replicate::lambda::function_handler, replicate::replicator::Replicator};

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let (replicator, metrics) = match init().await {
        Ok(ready) => ready,
        Err(error) => {
            tracing::error!(%error, "the replicator cannot start");
            eprintln!("replicator: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The metrics of each invocation are flushed as one EMF line after it.
    let handler = |event| function_handler(&replicator, event);
    match metrics_cloudwatch_embedded::lambda::handler::run(metrics, handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

type Ready = (Replicator, &'static metrics_cloudwatch_embedded::Collector);

/// Configuration, clients, both tables' key schemas and the metrics recorder: once per
/// container.
async fn init() -> Result<Ready, Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let replicator = config.replicator(&sdk).await?;
    let targets = config.deployment_name();
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "replicator".into());
    let metrics = dyno::replicate::metrics::install(&function, &config.primary.table, &targets)
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    Ok((replicator, metrics))
}
