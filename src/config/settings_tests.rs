//! Tests of the settings' command: every variable declared, ranges, checks, blanks, and messages
//! that name the variable.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use clap::CommandFactory;

use super::settings::Settings;
use super::*;

/// A lookup of `pairs` and nothing else.
fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// The configuration from the two tables and `pairs`.
fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut all = vec![(PRIMARY_TABLE, "p"), (REPLICA_TABLE, "r")];
    all.extend_from_slice(pairs);
    Config::from_lookup(lookup(&all))
}

/// The message `pairs` are refused with, checked to be one line.
fn refused(pairs: &[(&str, &str)]) -> String {
    let message = match with(pairs) {
        Ok(config) => panic!("accepted {pairs:?}: {config:?}"),
        Err(error) => error.to_string(),
    };
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

#[test]
fn every_variable_is_an_argument_of_the_command() {
    // The `pub const` variable names at the top of mod.rs (those of `local` are indented).
    let consts: BTreeSet<&str> = include_str!("mod.rs")
        .lines()
        .filter(|line| line.starts_with("pub const ") && line.contains(": &str = \""))
        .filter_map(|line| line.split('"').nth(1))
        .collect();
    assert_eq!(consts.len(), 19, "{consts:?}");
    let command = Settings::command();
    let mut variables = BTreeSet::new();
    for arg in command.get_arguments() {
        assert!(arg.get_long().is_some(), "{arg} has no --long to be fed by");
        let env = arg.get_env().and_then(|e| e.to_str());
        variables.insert(env.unwrap_or_else(|| panic!("{arg} reads no variable")));
    }
    assert_eq!(variables, consts);
}

#[test]
fn every_setting_reaches_the_config() {
    let config = with(&[
        (PRIMARY_REGION, "eu-west-1"),
        (REPLICA_REGION, "eu-west-2"),
        (PRIMARY_ENDPOINT_URL, "http://127.0.0.1:8000"),
        (REPLICA_ENDPOINT_URL, " http://127.0.0.1:8001 "),
        (CONCURRENCY, " 16 "),
        (MAX_ATTEMPTS, "3"),
        (CALL_TIMEOUT_MS, "2000"),
        (DEADLINE_MARGIN_MS, "0"),
        (WRITE_TIMEOUT_MS, "900000"),
        (
            DEAD_LETTER_QUEUE_URL,
            "http://127.0.0.1:4566/000000000000/dlq",
        ),
        (DEAD_LETTER_ENDPOINT_URL, "http://127.0.0.1:4566"),
        (S3_ENDPOINT_URL, "http://127.0.0.1:4567"),
        (REPLICA_ROLE_ARN, "arn:aws:iam::123456789012:role/replica"),
        (REPLICA_EXTERNAL_ID, "ext"),
        (STS_ENDPOINT_URL, "http://127.0.0.1:4568"),
        (KEEP_TTL_DELETES, " true"),
    ])
    .expect("a config");
    let primary = ("p", Some("eu-west-1"), Some("http://127.0.0.1:8000"));
    let replica = ("r", Some("eu-west-2"), Some("http://127.0.0.1:8001"));
    for (settings, (table, region, endpoint)) in
        [(&config.primary, primary), (&config.replica, replica)]
    {
        assert_eq!(settings.table, table);
        assert_eq!(settings.region.as_deref(), region);
        assert_eq!(settings.endpoint_url.as_deref(), endpoint);
    }
    let tuning = Tuning {
        concurrency: 16,
        max_attempts: 3,
        call_timeout: Duration::from_secs(2),
        deadline_margin: Duration::ZERO,
        write_attempt_timeout: Duration::from_secs(900),
        ..Tuning::default()
    };
    assert_eq!(config.tuning, tuning);
    let dlq = "http://127.0.0.1:4566/000000000000/dlq";
    assert_eq!(config.dead_letter_queue_url.as_deref(), Some(dlq));
    let sqs = Some("http://127.0.0.1:4566");
    assert_eq!(config.dead_letter_endpoint_url.as_deref(), sqs);
    assert_eq!(
        config.s3_endpoint_url.as_deref(),
        Some("http://127.0.0.1:4567")
    );
    let sts = Some("http://127.0.0.1:4568".to_owned());
    assert_eq!(config.sts_endpoint_url, sts);
    let role = config.replica_role.as_ref().expect("a role");
    assert_eq!(role.arn, "arn:aws:iam::123456789012:role/replica");
    assert_eq!(role.external_id.as_deref(), Some("ext"));
    assert_eq!(
        (&role.sts_endpoint_url, role.setting),
        (&sts, REPLICA_ROLE_ARN)
    );
    assert!(config.keep_ttl_deletes);
    assert_eq!(config.targets, None);
}

#[test]
fn a_range_error_names_the_variable_and_the_range() {
    let cases = [
        (CONCURRENCY, "0", "1..=256"),
        (CONCURRENCY, "257", "1..=256"),
        (CONCURRENCY, "eight", "1..=256"),
        (MAX_ATTEMPTS, "21", "1..=20"),
        (CALL_TIMEOUT_MS, "99", "100..=900000"),
        (DEADLINE_MARGIN_MS, "-5", "0..=900000"),
        (DEADLINE_MARGIN_MS, "1.5", "0..=900000"),
        (WRITE_TIMEOUT_MS, "900001", "100..=900000"),
    ];
    for (name, value, range) in cases {
        assert_eq!(
            refused(&[(name, value)]),
            format!("{name}={value:?} is invalid: expected a whole number in {range}")
        );
    }
    for (name, bound) in [
        (CONCURRENCY, "256"),
        (DEADLINE_MARGIN_MS, "0"),
        (CALL_TIMEOUT_MS, "100"),
    ] {
        assert!(with(&[(name, bound)]).is_ok(), "{name}={bound} is in range");
    }
}

#[test]
fn a_bad_url_names_the_variable() {
    let urls = [
        PRIMARY_ENDPOINT_URL,
        REPLICA_ENDPOINT_URL,
        DEAD_LETTER_QUEUE_URL,
    ];
    let more = [DEAD_LETTER_ENDPOINT_URL, S3_ENDPOINT_URL, STS_ENDPOINT_URL];
    for name in urls.into_iter().chain(more) {
        for url in ["localhost:8000", "ftp://127.0.0.1", "http://u:p@127.0.0.1"] {
            let message = refused(&[(name, url)]);
            assert!(message.starts_with(&format!("{name}={url:?}")), "{message}");
            let error = with(&[(name, url)]).expect_err("refused");
            assert!(matches!(error, ConfigError::Endpoint(_)), "{error:?}");
        }
    }
}

#[test]
fn other_shapes_name_the_variable_and_what_is_expected() {
    assert_eq!(
        refused(&[(REPLICA_ROLE_ARN, "replica")]),
        "REPLICA_ROLE_ARN=\"replica\" is invalid: expected a role ARN, \
         arn:aws:iam::ACCOUNT:role/NAME"
    );
    assert_eq!(
        refused(&[(KEEP_TTL_DELETES, "1")]),
        "KEEP_TTL_DELETES=\"1\" is invalid: expected true or false"
    );
    let error = with(&[(DYNO_TARGETS, "[")]).expect_err("not JSON");
    assert!(matches!(error, ConfigError::Targets(_)), "{error:?}");
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert!(source.is_some(), "the JSON error stays the source: {error}");
    let message = Config::from_lookup(lookup(&[(PRIMARY_TABLE, "p")]))
        .expect_err("no replica")
        .to_string();
    assert_eq!(
        message,
        "REPLICA_TABLE is not set: it must name the replica DynamoDB table"
    );
}

#[test]
fn an_empty_or_blank_value_counts_as_unset() {
    let command = Settings::command();
    let variables: Vec<&str> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str())
        .collect();
    for blank in ["", " ", "\t\n"] {
        let mut pairs: Vec<(&str, &str)> = variables.iter().map(|&name| (name, blank)).collect();
        pairs.retain(|(name, _)| *name != PRIMARY_TABLE && *name != REPLICA_TABLE);
        let config = with(&pairs).expect("blanks are unset");
        assert_eq!(config, with(&[]).expect("a config"), "{blank:?}");
        assert_eq!(config.tuning, Tuning::default());
        let message = refused(&[(PRIMARY_TABLE, blank)]);
        assert!(message.starts_with("PRIMARY_TABLE is not set"), "{message}");
    }
}

#[test]
fn an_unknown_variable_is_ignored_and_only_declared_ones_are_asked_for() {
    let asked = std::sync::Mutex::new(Vec::new());
    let config = Config::from_lookup(|name| {
        asked.lock().map(|mut a| a.push(name.to_owned())).ok();
        match name {
            PRIMARY_TABLE => Some("p".to_owned()),
            REPLICA_TABLE => Some("r".to_owned()),
            _ => None,
        }
    })
    .expect("a config");
    assert_eq!(config.primary.table, "p");
    let asked = asked.into_inner().unwrap_or_default();
    assert_eq!(asked.len(), Settings::command().get_arguments().count());
    let config = with(&[
        ("REPLICATOR_COLOUR", "red"),
        ("--concurrency", "0"),
        ("PATH", "/"),
    ]);
    assert_eq!(
        config.expect("unknown names are ignored").tuning,
        Tuning::default()
    );
}

#[test]
fn values_are_values_not_flags() {
    let config =
        with(&[(REPLICA_EXTERNAL_ID, "--help"), (PRIMARY_REGION, "-r=x")]).expect("a config");
    let role = with(&[
        (REPLICA_ROLE_ARN, "arn:aws:iam::1:role/r"),
        (REPLICA_EXTERNAL_ID, "--x"),
    ]);
    assert_eq!(
        role.expect("a config")
            .replica_role
            .and_then(|r| r.external_id)
            .as_deref(),
        Some("--x")
    );
    assert_eq!(config.primary.region.as_deref(), Some("-r=x"));
    let targets = r#"{"targets":[{"name":"a","table":"t1"}]}"#;
    let config = with(&[(DYNO_TARGETS, targets)]).expect("a config");
    assert_eq!(
        config.targets.map(|t| t.len()),
        Some(1),
        "one value, commas and all"
    );
}
