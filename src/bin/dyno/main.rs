//! The `dyno` command-line tool: parses the command line and hands the subcommand to its own
//! module in `commands`, each a thin layer over the library. Errors print as one line (the
//! service's error code and what to do); `-v` prints every cause.

mod commands;
mod connect;
mod demo;
mod failure;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, Parser};
use dyno::config::local;

use commands::Command;

/// Keep a DynamoDB replica table in step with a primary table.
///
/// Writes go to the primary; once DynamoDB confirms one, the item's key is put on the Kinesis
/// stream, and the replicator copies the item (or its absence) to the replica. Items and keys
/// are DynamoDB JSON, e.g. '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}'.
/// Every connection flag may come before or after the subcommand.
#[derive(Parser)]
#[command(version, about, long_about, args_override_self = true)]
pub struct Cli {
    #[command(
        flatten,
        next_help_heading = "Connection (before or after the subcommand)"
    )]
    pub connection: Connection,
    /// Print every cause of an error, and the services' own messages (which can quote values).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// A name (of a table, stream, region or role) with no control or invisible character, which
/// would break or disguise the lines that print it.
fn printable(value: &str) -> Result<String, String> {
    match value.chars().any(dyno::aws::printable::unprintable) {
        true => Err(
            "it holds a control or invisible character (a newline, a NUL, a \
                     zero-width or bidirectional mark): use printable characters"
                .to_owned(),
        ),
        false => Ok(value.to_owned()),
    }
}

/// Where the tables and the stream are, and how long to wait for them.
#[derive(Args, Clone, Debug)]
pub struct Connection {
    /// AWS region [default: from the environment, else us-east-1].
    #[arg(long, value_parser = printable, env = "AWS_REGION", global = true)]
    pub region: Option<String>,
    /// The primary table.
    #[arg(long, value_parser = printable, env = "DYNO_TABLE", default_value = local::PRIMARY_TABLE, global = true)]
    pub table: String,
    /// DynamoDB endpoint of the primary (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_ENDPOINT_URL", global = true)]
    pub endpoint_url: Option<String>,
    /// The primary table's ARN: the writer names the table in each key record with it
    /// (`eventSourceARN`), for a replicator that follows several primary tables.
    #[arg(long, value_parser = printable, env = "DYNO_TABLE_ARN", global = true)]
    pub table_arn: Option<String>,
    /// The replica table.
    #[arg(long, value_parser = printable, env = "DYNO_REPLICA_TABLE", default_value = local::REPLICA_TABLE, global = true)]
    pub replica_table: String,
    /// DynamoDB endpoint of the replica (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_REPLICA_ENDPOINT_URL", global = true)]
    pub replica_endpoint_url: Option<String>,
    /// Region of the replica [default: --region].
    #[arg(long, value_parser = printable, env = "DYNO_REPLICA_REGION", global = true)]
    pub replica_region: Option<String>,
    /// A role in the replica's account to assume for the replica (another AWS account).
    #[arg(long, value_parser = printable, env = "DYNO_REPLICA_ROLE_ARN", global = true)]
    pub replica_role_arn: Option<String>,
    /// The external id that role's trust policy asks for, if any.
    #[arg(
        long,
        env = "DYNO_REPLICA_EXTERNAL_ID",
        global = true,
        hide_env_values = true
    )]
    pub replica_external_id: Option<String>,
    /// STS endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_STS_ENDPOINT_URL", global = true)]
    pub sts_endpoint_url: Option<String>,
    /// The Kinesis stream key records go to.
    #[arg(long, value_parser = printable, env = "DYNO_STREAM", default_value = local::STREAM, global = true)]
    pub stream: String,
    /// Kinesis endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_KINESIS_ENDPOINT_URL", global = true)]
    pub kinesis_endpoint_url: Option<String>,
    /// Use the local servers of `make servers-up` for every endpoint not given, with local
    /// credentials.
    #[arg(long, global = true)]
    pub local: bool,
    /// Seconds to wait for a connection.
    #[arg(
        long,
        env = "DYNO_CONNECT_TIMEOUT",
        default_value_t = 3.0,
        global = true
    )]
    pub connect_timeout: f64,
    /// Seconds to wait for an answer to one attempt of a call.
    #[arg(long, env = "DYNO_READ_TIMEOUT", default_value_t = 10.0, global = true)]
    pub read_timeout: f64,
    /// Attempts per call (throttling, server errors and timeouts are retried with backoff).
    #[arg(long, env = "DYNO_MAX_ATTEMPTS", default_value_t = 3, global = true,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
}

/// A subcommand's result: the exit status it asks for.
pub type Outcome = Result<ExitCode, failure::Failure>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.verbose { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let verbose = cli.verbose;
    let mut command = Box::pin(commands::run(cli));
    let outcome = tokio::select! {
        outcome = &mut command => outcome,
        signal = interruption() => {
            // Dropped first: a write cut short records its keys as of unknown outcome.
            drop(command);
            eprintln!("{INTERRUPTED}");
            for line in interrupted() {
                eprintln!("{line}");
            }
            return ExitCode::from(signal);
        }
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            // With -v, the details: the error's line, then every cause.
            match verbose {
                true => eprintln!("error: {}", failure.details()),
                false => eprintln!("error: {}", failure.one_line()),
            }
            failure.exit_code()
        }
    }
}

/// What Ctrl-C or SIGTERM leaves: work done so far stays; nothing half-written replaces a file
/// (a session file is replaced whole, with what was written).
const INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM): stopped part-way; what was written \
    so far stays, and no file was replaced half-written; run the command again (backfill and \
    replicate resume from --checkpoint; a write cut short may be on the primary with its key not \
    announced: `dyno announce --key` it, or repair with `dyno diff --repair`)";

/// The exit status of the first interruption: 130 for Ctrl-C (SIGINT), 143 for SIGTERM (a
/// `kill`, a container stopping), each handled alike.
async fn interruption() -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => terminate.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => 130,
        _ = terminate => 143,
    }
}

/// What to do on an interruption, once the command is dropped: gives lines to print.
type Cleanup = fn() -> Vec<String>;

/// The cleanups asked for so far.
static ON_INTERRUPT: std::sync::Mutex<Vec<Cleanup>> = std::sync::Mutex::new(Vec::new());

/// Asks for `cleanup` to run on an interruption (once, however often asked).
pub fn on_interrupt(cleanup: Cleanup) {
    let mut cleanups = ON_INTERRUPT.lock().unwrap_or_else(|p| p.into_inner());
    if !cleanups.iter().any(|c| std::ptr::fn_addr_eq(*c, cleanup)) {
        cleanups.push(cleanup);
    }
}

fn interrupted() -> Vec<String> {
    let cleanups = std::mem::take(&mut *ON_INTERRUPT.lock().unwrap_or_else(|p| p.into_inner()));
    cleanups.into_iter().flat_map(|cleanup| cleanup()).collect()
}
