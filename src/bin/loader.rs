//! The export loader Lambda function (one data file an invocation, as a Step Functions
//! Distributed Map hands them out): wires configuration, clients and the library's handler. It
//! takes the replicator's settings (PRIMARY_TABLE, REPLICA_TABLE or DYNO_TARGETS, …) and writes
//! the same targets, filtered and projected alike.

use std::process::ExitCode;

use dyno::aws::client::load_sdk_config;
use dyno::config::Config;
use dyno::ops::load::LoadOptions;
use dyno::ops::load_event::{FileDone, FileEvent, handle};
use dyno::ops::ttl::Ttl;
use dyno::replicate::engine::Engine;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let (engine, s3, options) = match init().await {
        Ok(ready) => ready,
        Err(error) => {
            tracing::error!(%error, "the loader cannot start");
            eprintln!("loader: {error}");
            return ExitCode::FAILURE;
        }
    };
    let handler = |event: LambdaEvent<FileEvent>| {
        let (engine, s3, options) = (&engine, &s3, &options);
        async move {
            let done: Result<FileDone, _> = handle(&event.payload, engine, s3, options).await;
            if let Ok(done) = &done {
                tracing::info!(key = %done.key, items = done.items, expired = done.expired, "file loaded");
            }
            done.map_err(|e| lambda_runtime::Error::from(e.to_string()))
        }
    };
    match lambda_runtime::run(service_fn(handler)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

type Ready = (Engine, aws_sdk_s3::Client, LoadOptions);

/// Configuration, clients, the tables checked and the primary's TTL: once per container.
async fn init() -> Result<Ready, Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let mut engines = config.engines(&sdk).await?;
    let engine = match (engines.pop(), engines.is_empty()) {
        (Some(engine), true) => engine,
        _ => {
            return Err(
                "the loader loads one primary table's export: give targets of one primary".into(),
            );
        }
    };
    let s3 = config.s3(&sdk);
    let primary = config
        .primary
        .connect(&sdk, &config.tuning, "PRIMARY_TABLE", None);
    let ttl = primary.time_to_live().await?.flatten().map(Ttl::now);
    Ok((engine, s3, LoadOptions { rate: None, ttl }))
}
