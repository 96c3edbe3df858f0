//! The replicator's settings, declared once: a clap command with one argument per environment
//! variable (its name, default, range or check), fed from any lookup, its refusals mapped back to
//! the variable.
//!
//! clap reads an argument's `env` itself, but only from the process environment, when the
//! command is built, and it takes an empty value as a value (clap 4.6: `PRIMARY_TABLE=` would be
//! a table named "", `REPLICATOR_CONCURRENCY=` a number that does not parse). So the `env`
//! attributes only name the variables: [`Settings::read`] switches clap's reading off and passes
//! each variable the lookup holds more than blanks for as `--long=value`. `from_env` and
//! `from_lookup` are one path, a blank value is unset, and the process's command line (a Lambda
//! function has none) is never read.

use std::ops::RangeInclusive;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches, Parser};

use super::*;
use crate::aws::endpoint::{self, EndpointError};
use crate::replicate::targets::{self, TargetsError};

/// `DYNO_TARGETS`'s value. A name of its own: clap takes a `Vec` field for a repeated argument.
type Targets = Vec<TargetSpec>;

/// The replicator's settings: one argument per variable, with its default and its range or
/// check; its `help` says what the variable holds (a missing required one is named with it).
#[derive(Debug, Parser)]
#[command(
    name = "replicator",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(super) struct Settings {
    #[arg(long, env = PRIMARY_TABLE, help = "primary DynamoDB table")]
    primary_table: String,
    #[arg(long, env = PRIMARY_REGION, help = "primary table's region (unset: the function's)")]
    primary_region: Option<String>,
    #[arg(long, env = PRIMARY_ENDPOINT_URL, value_parser = EndpointUrl,
          help = "primary table's endpoint, for local servers (unset: AWS's)")]
    primary_endpoint_url: Option<String>,
    #[arg(long, env = REPLICA_TABLE, required_unless_present = "targets",
          help = "replica DynamoDB table")]
    replica_table: Option<String>,
    #[arg(long, env = REPLICA_REGION,
          help = "replica's region, and the targets' without one (unset: the function's)")]
    replica_region: Option<String>,
    #[arg(long, env = REPLICA_ENDPOINT_URL, value_parser = EndpointUrl,
          help = "replica's and the targets' endpoint, for local servers (unset: AWS's)")]
    replica_endpoint_url: Option<String>,
    #[arg(long, env = DYNO_TARGETS, value_parser = targets_json,
          help = "targets, as JSON (unset: the replica table is the one target)")]
    targets: Option<Targets>,
    #[arg(long, env = CONCURRENCY, value_parser = whole(1..=256),
          default_value_t = defaults().concurrency as u64,
          help = "DynamoDB calls in flight at once")]
    concurrency: u64,
    #[arg(long, env = MAX_ATTEMPTS, value_parser = whole(1..=20),
          default_value_t = defaults().max_attempts.into(), help = "attempts per call")]
    max_attempts: u64,
    #[arg(long, env = CALL_TIMEOUT_MS, value_parser = whole(100..=900_000),
          default_value_t = millis(defaults().call_timeout), help = "longest attempt, in ms")]
    call_timeout_ms: u64,
    #[arg(long, env = DEADLINE_MARGIN_MS, value_parser = whole(0..=900_000),
          default_value_t = millis(defaults().deadline_margin),
          help = "no new call this close to the deadline, in ms")]
    deadline_margin_ms: u64,
    #[arg(long, env = WRITE_TIMEOUT_MS, value_parser = whole(100..=900_000),
          default_value_t = millis(defaults().write_attempt_timeout),
          help = "longest BatchWriteItem attempt to the replica, in ms")]
    write_timeout_ms: u64,
    #[arg(long, env = DEAD_LETTER_QUEUE_URL, value_parser = EndpointUrl,
          help = "SQS queue for unusable records (unset: they are reported as failures)")]
    dead_letter_queue_url: Option<String>,
    #[arg(long, env = DEAD_LETTER_ENDPOINT_URL, value_parser = EndpointUrl,
          help = "SQS endpoint, for local servers (unset: AWS's)")]
    dead_letter_endpoint_url: Option<String>,
    #[arg(long, env = S3_ENDPOINT_URL, value_parser = EndpointUrl,
          help = "S3 endpoint for the export loader, for local servers (unset: AWS's)")]
    s3_endpoint_url: Option<String>,
    #[arg(long, env = REPLICA_ROLE_ARN, value_parser = role_arn,
          help = "role in the replica's account to assume for the replica")]
    replica_role_arn: Option<String>,
    #[arg(long, env = REPLICA_EXTERNAL_ID, help = "external id the replica role asks for")]
    replica_external_id: Option<String>,
    #[arg(long, env = STS_ENDPOINT_URL, value_parser = EndpointUrl,
          help = "STS endpoint for the roles, for local servers (unset: AWS's)")]
    sts_endpoint_url: Option<String>,
    #[arg(long, env = KEEP_TTL_DELETES, action = ArgAction::Set, value_parser = true_or_false,
          default_value_t = false, help = "leave the replica alone for TTL deletes")]
    keep_ttl_deletes: bool,
}

/// The command as declared, each argument with its variable, built once (an argument shows
/// itself as clap's errors name it only once built): what names the variable in a value parser
/// and in an error (the command that parses has no `env`).
static DECLARED: LazyLock<Command> = LazyLock::new(|| {
    let mut command = Settings::command();
    command.build();
    command
});

impl Settings {
    /// The settings `lookup` holds: each declared argument's variable with more than blanks in
    /// it is passed as `--long=value` (with the `=`, a value that starts with `-` stays a value).
    pub(super) fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let given = DECLARED.get_arguments().filter_map(|arg| {
            let value = lookup(arg.get_env()?.to_str()?).filter(|v| !v.trim().is_empty())?;
            Some(format!("--{}={value}", arg.get_long()?))
        });
        let args: Vec<String> = std::iter::once(DECLARED.get_name().to_owned())
            .chain(given)
            .collect();
        let mut matches = DECLARED
            .clone()
            .mut_args(|arg| arg.env(None::<&str>))
            .try_get_matches_from(args)
            .map_err(refusal)?;
        Self::from_arg_matches_mut(&mut matches).map_err(refusal)
    }
}

impl From<Settings> for Config {
    fn from(settings: Settings) -> Self {
        let replica_role = settings.replica_role_arn.map(|arn| ReplicaRole {
            arn,
            external_id: settings.replica_external_id,
            sts_endpoint_url: settings.sts_endpoint_url.clone(),
            setting: REPLICA_ROLE_ARN,
        });
        Config {
            primary: TableSettings {
                table: settings.primary_table,
                region: settings.primary_region,
                endpoint_url: settings.primary_endpoint_url,
            },
            replica: TableSettings {
                // Unset only with targets (clap requires it otherwise).
                table: settings.replica_table.unwrap_or_default(),
                region: settings.replica_region,
                endpoint_url: settings.replica_endpoint_url,
            },
            tuning: Tuning {
                // Both within their ranges (at most 256 and 20): the casts lose nothing.
                concurrency: settings.concurrency as usize,
                max_attempts: settings.max_attempts as u32,
                call_timeout: Duration::from_millis(settings.call_timeout_ms),
                deadline_margin: Duration::from_millis(settings.deadline_margin_ms),
                write_attempt_timeout: Duration::from_millis(settings.write_timeout_ms),
                ..defaults()
            },
            dead_letter_queue_url: settings.dead_letter_queue_url,
            dead_letter_endpoint_url: settings.dead_letter_endpoint_url,
            s3_endpoint_url: settings.s3_endpoint_url,
            replica_role,
            keep_ttl_deletes: settings.keep_ttl_deletes,
            targets: settings.targets,
            sts_endpoint_url: settings.sts_endpoint_url,
        }
    }
}

/// The defaults of the tuning settings.
fn defaults() -> Tuning {
    Tuning::default()
}

/// `duration` in whole milliseconds (the defaults are far below `u64::MAX` ms).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A whole number in `range`, blanks around it ignored; refused with the range. (Not clap's
/// `value_parser!(u64).range(..)`: it refuses blanks, and names no range for a value that is not
/// a number.)
fn whole(
    range: RangeInclusive<u64>,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |value| {
        let expected = || {
            let (low, high) = (range.start(), range.end());
            format!("expected a whole number in {low}..={high}")
        };
        let number = value.trim().parse().map_err(|_| expected())?;
        range
            .contains(&number)
            .then_some(number)
            .ok_or_else(expected)
    }
}

/// `KEEP_TTL_DELETES`: `true` or `false`, blanks around it ignored.
fn true_or_false(value: &str) -> Result<bool, &'static str> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false"),
    }
}

/// `REPLICA_ROLE_ARN`'s shape: an IAM role's ARN, as given.
fn role_arn(arn: &str) -> Result<String, &'static str> {
    if arn.starts_with("arn:") && arn.contains(":role/") {
        return Ok(arn.to_owned());
    }
    Err("expected a role ARN, arn:aws:iam::ACCOUNT:role/NAME")
}

/// `DYNO_TARGETS`: see [`targets::parse_env`]. The error is shared, as [`ConfigError::Targets`]
/// holds it, so that it can be had back from clap's error.
fn targets_json(value: &str) -> Result<Targets, Arc<TargetsError>> {
    targets::parse_env(value).map_err(Arc::new)
}

/// An endpoint URL, checked by [`endpoint::check`] in the name of the argument's variable.
#[derive(Debug, Clone, Copy)]
struct EndpointUrl;

impl TypedValueParser for EndpointUrl {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let setting = arg
            .and_then(|arg| declared(|a| a.get_id() == arg.get_id()))
            .and_then(variable)
            .unwrap_or("the endpoint URL");
        // clap's parser for a function: its error keeps the `EndpointError` as its source.
        (move |url: &str| endpoint::check(setting, url)).parse_ref(cmd, arg, value)
    }
}

/// The first declared argument `matches` accepts.
fn declared(matches: impl Fn(&Arg) -> bool) -> Option<&'static Arg> {
    DECLARED.get_arguments().find(|arg| matches(arg))
}

/// The variable a declared argument reads.
fn variable(arg: &'static Arg) -> Option<&'static str> {
    arg.get_env()?.to_str()
}

/// clap's refusal as a [`ConfigError`] that names the variable: clap names the argument as the
/// declared one shows itself (`--long <NAME>`).
fn refusal(error: clap::Error) -> ConfigError {
    let shown = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(shown)) => Some(shown.as_str()),
        Some(ContextValue::Strings(shown)) => shown.first().map(String::as_str),
        _ => None,
    };
    let arg = shown.and_then(|shown| declared(|arg| arg.to_string() == shown));
    let Some((arg, name)) = arg.and_then(|arg| Some((arg, variable(arg)?))) else {
        return ConfigError::Unreadable(error);
    };
    match error.kind() {
        ErrorKind::MissingRequiredArgument => {
            let what = arg.get_help().map(ToString::to_string).unwrap_or_default();
            ConfigError::Missing(name, what)
        }
        ErrorKind::ValueValidation => invalid(name, error),
        _ => ConfigError::Unreadable(error),
    }
}

/// The value parser's refusal of `name`'s value: its own error when it is one of
/// [`ConfigError`]'s, else the value and the reason.
fn invalid(name: &'static str, error: clap::Error) -> ConfigError {
    let Some(source) = std::error::Error::source(&error) else {
        return ConfigError::Unreadable(error);
    };
    if let Some(endpoint) = source.downcast_ref::<EndpointError>() {
        return ConfigError::Endpoint(endpoint.clone());
    }
    if let Some(targets) = source.downcast_ref::<Arc<TargetsError>>() {
        return ConfigError::Targets(Arc::clone(targets));
    }
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.clone(),
        _ => String::new(),
    };
    ConfigError::Invalid {
        name,
        value,
        reason: source.to_string(),
    }
}
