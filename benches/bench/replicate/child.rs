//! The child: the handler's peak memory and init time, measured in a fresh process that holds
//! only what a Lambda would (the event, and the replicator built from the environment like the
//! `replicator` binary). The bench runs its own executable again with `--child CASE`
//! ([`Bench::child`]); `main` hands that to [`run`], which prints its figures on one line.

use std::process::ExitCode;
use std::time::Instant;

use dyno::aws::client::load_sdk_config;
use dyno::config::Config;

use super::shared::{Bench, check};
use super::{CASES, Case};
use crate::common;
use crate::shared::runtime;

pub struct ChildReport {
    pub init_ms: f64,
    pub vmhwm_kb: u64,
}

impl Bench {
    /// Runs the case's event through a fresh process built like the `replicator` binary.
    pub async fn child(
        &self,
        case: &Case,
        primary_table: &str,
        replica_table: &str,
    ) -> Result<ChildReport, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(exe);
        common::local_aws_env(&mut command)
            .args(["--child", case.name])
            .env("PRIMARY_TABLE", primary_table)
            .env("REPLICA_TABLE", replica_table)
            .env("PRIMARY_ENDPOINT_URL", &self.primary_endpoint)
            .env("REPLICA_ENDPOINT_URL", &self.replica_endpoint);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|e| format!("child: {e}"))?
            .map_err(|e| format!("child: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "child failed ({}): {stdout} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let field = |name: &str| -> Result<f64, String> {
            stdout
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("child: no {name} in {stdout:?}"))
        };
        let got = (
            field("failed")? as usize,
            field("keys")? as usize,
            field("puts")? as usize,
            field("deletes")? as usize,
        );
        check(case, "child", got)?;
        Ok(ChildReport {
            init_ms: field("init_ms")?,
            vmhwm_kb: field("vmhwm_kb")? as u64,
        })
    }
}

/// The child's side (`--child CASE`): what a Lambda holds, and nothing else.
pub fn run(case_name: &str) -> ExitCode {
    let Some(case) = CASES.iter().find(|c| c.name == case_name) else {
        eprintln!("--child: no case named {case_name:?}");
        return ExitCode::FAILURE;
    };
    let runtime = runtime();
    let report = runtime.block_on(async {
        let started = Instant::now();
        let config = Config::from_env().map_err(|e| e.to_string())?;
        let sdk = load_sdk_config().await;
        let replicator = config.replicator(&sdk).await.map_err(|e| e.to_string())?;
        let init = started.elapsed();
        let event = case.event();
        let (response, summary) = replicator.handle(&event, None).await;
        Ok::<_, String>(format!(
            "init_ms={:.3} seconds={:.4} failed={} keys={} puts={} deletes={}",
            init.as_secs_f64() * 1000.0,
            summary.duration.as_secs_f64(),
            response.batch_item_failures.len(),
            summary.keys,
            summary.puts,
            summary.deletes
        ))
    });
    drop(runtime);
    match report {
        Ok(report) => {
            println!("{report} vmhwm_kb={}", common::vmhwm_kb("self"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("--child {case_name}: {error}");
            ExitCode::FAILURE
        }
    }
}
