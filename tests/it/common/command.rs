//! The `dyno` binary, and any process a test or a bench starts, as the tests run it: local
//! credentials, none of the caller's AWS setup or dyno settings, the endpoints given.

use std::path::PathBuf;
use std::process::Command;

/// Where the `dyno` binary finds the servers: the tables (and the replica, if elsewhere) and the
/// key stream; `None`: not given.
#[derive(Debug, Default, Clone, Copy)]
pub struct At<'a> {
    pub tables: Option<&'a str>,
    pub replica: Option<&'a str>,
    pub kinesis: Option<&'a str>,
}

/// The `dyno` binary: cargo's for the integration tests; for the bench (a package without it),
/// the release build beside the bench's own executable.
fn dyno_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_dyno") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join("dyno")))
            .unwrap_or_else(|| PathBuf::from("dyno")),
    }
}

/// The `dyno` binary as every test runs it: static local credentials and a region, none of the
/// caller's environment that would change what it does (profiles, logs, a dead-letter queue,
/// dyno's own `DYNO_*` settings), and the endpoints of `at`.
pub fn dyno_command(at: At<'_>) -> Command {
    let mut command = Command::new(dyno_binary());
    local_aws_env(&mut command)
        .env_remove("RUST_LOG")
        .env_remove("DEAD_LETTER_QUEUE_URL")
        .env_remove("DEAD_LETTER_ENDPOINT_URL");
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("DYNO_")) {
        command.env_remove(name);
    }
    let endpoints = [
        ("DYNO_ENDPOINT_URL", at.tables),
        ("DYNO_REPLICA_ENDPOINT_URL", at.replica.or(at.tables)),
        ("DYNO_KINESIS_ENDPOINT_URL", at.kinesis),
    ];
    for (name, endpoint) in endpoints {
        if let Some(endpoint) = endpoint {
            command.env(name, endpoint);
        }
    }
    command
}

/// The access key of the processes the tests start (`local_aws_env`).
pub const LOCAL_ACCESS_KEY: &str = "bench";

/// `command` (a dyno process a test or a bench starts) with the local servers' dummy credentials
/// and nothing of the user's AWS setup (profile, files, instance metadata).
pub fn local_aws_env(command: &mut std::process::Command) -> &mut std::process::Command {
    command
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
}
