//! Test harness: starts real DynamoDB- and Kinesis-compatible servers (dynalite, moto,
//! kinesalite) on 127.0.0.1, builds SDK clients for them, and creates tables: the servers in
//! `server`, clients and tables in `clients`, items in `items`, records and events in `records`,
//! the `dyno` binary in `command`, all named here as before (`common::Server`, `common::s`, …).
#![allow(dead_code)]

pub mod alone;
pub mod calls;
pub mod cloudformation;
pub mod faults;
pub mod local;
pub mod oracle;
pub mod pipeline;
pub mod pool;
pub mod targets;

mod clients;
mod command;
mod items;
mod records;
mod server;
pub use clients::*;
pub use command::*;
pub use items::*;
pub use records::*;
pub use server::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// The local system's tables and stream (`dyno::config::local`), as most tests name them.
pub const PRIMARY: &str = dyno::config::local::PRIMARY_TABLE;
pub const REPLICA: &str = dyno::config::local::REPLICA_TABLE;
pub const STREAM: &str = dyno::config::local::STREAM;

fn root() -> PathBuf {
    project_root().to_path_buf()
}

/// The repository: the package of the integration tests, or the parent of the bench's package
/// (`benches/`, which also compiles these helpers).
pub fn project_root() -> &'static Path {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    match package.ends_with("benches") {
        true => package.parent().unwrap_or(package),
        false => package,
    }
}

/// Runs `work`, failing the test (instead of hanging CI) if it takes longer than `limit`.
pub async fn bounded<T>(
    limit: Duration,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, work).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: still running after {limit:?}; stopped so that CI does not hang"),
    }
}

/// A process's peak resident set size so far (`process`: a pid, or `self`), from
/// `/proc/<process>/status`; 0 once it is gone.
pub fn vmhwm_kb(process: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The positions a checkpoint file holds (shard or segment: last position, or `END`), whether
/// the file is the bare map or keeps the map under `positions`; empty when there is no file (yet)
/// or it cannot be read (it is replaced whole, so a reader sees an old or a new file).
pub fn checkpoint_positions(path: &Path) -> std::collections::BTreeMap<String, String> {
    let Some(json) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Default::default();
    };
    let map = match json.get("positions") {
        Some(positions) => positions.clone(),
        None => json,
    };
    serde_json::from_value(map).unwrap_or_default()
}
