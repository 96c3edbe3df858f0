//! The other commands: `create` makes only what is missing, `announce` takes keys and key
//! files, `--help` shows defaults and variables, `plan` prices a load.

use crate::common;

use common::local::Local;
use common::*;

use super::{KEY, one_line};

#[test]
fn create_makes_only_what_is_missing_and_deletes_nothing() {
    let local = Local::start("create");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    // Run again: everything exists, nothing is touched.
    let out = local.dyno(&["create"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("exists, left as it is").count(), 3, "{said}");
    assert_eq!(local.count(&[]), 1);

    // An existing table with another key schema: said so, in words, and left alone.
    let err = local.fails(&["create", "--key-schema", "id:N"]);
    assert!(one_line(&err), "{err}");
    assert!(
        err.contains("already exists with the key schema ForumName (S, partition key)"),
        "{err}"
    );
    assert!(
        err.contains("nothing was changed") && !err.contains("KeySchema {"),
        "{err}"
    );
    assert_eq!(local.count(&[]), 1);

    // Connection flags before or after the subcommand.
    local.ok(&["--table", "aa1", "--replica-table", "bb1", "create"]);
    local.ok(&["create", "--table", "aa2", "--replica-table", "bb2"]);
    assert_eq!(local.count(&["--table", "aa2"]), 0);
    // A table name DynamoDB refuses: its own words say why.
    let err = local.fails(&["create", "--table", "a"]);
    assert!(
        err.contains("--table=a") && err.contains("ValidationException:"),
        "{err}"
    );

    // --recreate deletes only on this machine's servers.
    let err = local.fails(&[
        "--endpoint-url",
        "https://dynamodb.us-east-1.amazonaws.com",
        "create",
        "--recreate",
    ]);
    assert!(
        err.contains("works only on servers on this machine")
            && err.contains("nothing was deleted"),
        "{err}"
    );
    local.ok(&["create", "--recreate"]);
    assert_eq!(
        local.count(&[]),
        0,
        "recreated on the local server when told to"
    );

    // The replica of an existing primary gets the primary's key schema without being told,
    // and --no-stream makes no key stream (the source is the table's own DynamoDB stream).
    let tables = ["--table", "orders", "--replica-table"];
    local.ok(&[
        &tables[..],
        &["orders-r0", "create", "--key-schema", "id:N"],
    ]
    .concat());
    let create = [
        "orders-r1",
        "--stream",
        "never-made",
        "create",
        "--no-stream",
    ];
    let out = local.dyno(&[&tables[..], &create[..]].concat());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("table `orders-r1` (id (N, partition key)): created"),
        "{said}"
    );
    assert!(!said.contains("stream"), "{said}");
    let no_stream = [
        "--stream",
        "never-made",
        "put",
        "--item",
        r#"{"id":{"N":"1"}}"#,
    ];
    let err = local.fails(&[&tables[..], &["orders-r1"], &no_stream[..]].concat());
    assert!(err.contains("never-made"), "{err}");
}

#[test]
fn announce_takes_keys_and_key_files() {
    let local = Local::start("announce");
    local.ok(&["create", "--shards", "1"]);
    let file = local.dir.join("keys.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n{{\"kind\":\"missing\",\"key\":{}}}\n",
            r#"{"ForumName":{"S":"f"},"Subject":{"S":"one"}}"#,
            r#"{"ForumName":{"S":"f"},"Subject":{"S":"two"}}"#
        ),
    )
    .unwrap();
    let out = local.dyno(&[
        "announce",
        "--key",
        KEY,
        "--keys-file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("announced 3 keys"));
    let records = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let kinesis = dyno::aws::client::kinesis_client(
            &sdk_config().await,
            Some(&local.kinesis.endpoint),
            &tuning(),
        );
        stream_records(&kinesis, STREAM).await
    });
    assert_eq!(records.len(), 3);
    let err = local.fails(&["announce", "--key", r#"{"ForumName":{"S":"only"}}"#]);
    assert!(err.contains("key attribute `Subject` is missing"), "{err}");
}

#[test]
fn help_shows_defaults_and_variables_and_no_flag_set_from_the_environment_as_required() {
    let help = |args: &[&str]| {
        let out = dyno_command(At::default())
            .args(args)
            .env("DEAD_LETTER_QUEUE_URL", "http://127.0.0.1:1/queue")
            .env("DYNO_TABLE", "from-env")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    for shown in [
        "[env: DYNO_TABLE=from-env]",
        "[default: dyno-primary]",
        "[env: DYNO_STREAM=]",
        "[default: 10]",
    ] {
        assert!(top.contains(shown), "{shown} missing from:\n{top}");
    }
    let usage = help(&["dead-letters", "--help"]);
    let line = usage.lines().find(|l| l.starts_with("Usage:")).unwrap();
    assert!(!line.contains("--queue-url"), "{line}");
    for sub in [
        "put",
        "import",
        "export",
        "create",
        "replicate",
        "diff",
        "announce",
        "demo",
    ] {
        let text = help(&[sub, "--help"]);
        assert!(
            text.contains("--table <TABLE>"),
            "{sub}: connection flags missing"
        );
    }
}

#[test]
fn plan_prices_a_load_and_refuses_nonsense() {
    let out = dyno_command(At::default())
        .args([
            "plan",
            "--writes-per-second",
            "2000",
            "--distinct-fraction",
            "0.1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("kinesis: 2 shard(s)"), "{text}");
    // 1,000 records a batch over 100 distinct keys: 1 read and 4 writes.
    assert!(
        text.contains("5 DynamoDB calls a batch (0.0050 a write)"),
        "{text}"
    );
    assert!(text.contains("global tables, same load: $0.625"), "{text}");
    let out = dyno_command(At::default())
        .args(["plan", "--distinct-fraction", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--distinct-fraction"));
    let out = dyno_command(At::default())
        .args(["plan", "--batch-size", "20000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-size 20000 is more than"));
}
