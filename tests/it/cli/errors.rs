//! The CLI's errors: they say what to fix, in one line, naming the flag the user typed and
//! quoting no item value; a server that never answers fails after the timeouts.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::local::Local;

use super::{KEY, one_line};

#[test]
fn errors_say_what_to_fix() {
    let local = Local::start("errors");
    // No tables yet: the message names the flag and the table, and the service's error code.
    let err = local.fails(&["put", "--item", KEY]);
    assert!(
        err.contains("--table=dyno-primary") && err.contains("ResourceNotFoundException"),
        "{err}"
    );
    local.ok(&["create"]);
    let err = local.fails(&["put", "--item", "{not json"]);
    assert!(
        err.contains("--item is not a DynamoDB JSON object"),
        "{err}"
    );
    let err = local.fails(&[
        "put",
        "--item",
        r#"{"ForumName":{"S":"only the hash key"}}"#,
    ]);
    assert!(err.contains("key attribute `Subject` is missing"), "{err}");
    let err = local.fails(&["--table", "nope", "get", "--key", KEY]);
    assert!(
        err.contains("nope") && err.contains("ResourceNotFound"),
        "{err}"
    );
    let err = local.fails(&["replicate", "--batch-size", "0"]);
    assert!(err.contains("--batch-size"), "{err}");
    // A name given twice is refused, not taken last-wins.
    let err = local.fails(&[
        "put",
        "--item",
        r#"{"ForumName":{"S":"a"},"Subject":{"S":"b"},"Subject":{"S":"c"}}"#,
    ]);
    assert!(err.contains("given twice"), "{err}");
    assert_eq!(local.count(&[]), 0, "nothing was written");
}

#[test]
fn errors_are_one_line_name_the_flag_and_quote_no_item_values() {
    let local = Local::start("messages");
    local.ok(&["create"]);
    let secret = r#"{"ForumName":{"S":"f"},"Subject":{"S":"s"},"Pin":{"S":"s3cr3t-700"}}"#;
    local.ok(&["put", "--item", secret]);
    let err = local.fails(&[
        "put",
        "--item",
        secret,
        "--condition",
        "attribute_not_exists(Pin)",
    ]);
    assert!(one_line(&err), "{err}");
    assert!(err.contains("ConditionalCheckFailedException"), "{err}");
    assert!(
        err.contains("nothing changed and nothing was announced"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    // -v adds the details.
    let verbose = local.fails(&[
        "-v",
        "put",
        "--item",
        secret,
        "--condition",
        "attribute_not_exists(Pin)",
    ]);
    assert!(verbose.lines().count() > 1, "{verbose}");

    // The replicator's settings are named by the flags the user typed.
    let err = local.fails(&["replicate", "--replica-table", "nope"]);
    assert!(err.contains("--replica-table=nope"), "{err}");
    assert!(!err.contains("REPLICA_TABLE"), "{err}");
    let err = local.fails(&["--table", "no-such-table", "diff"]);
    assert!(
        err.contains("--table=no-such-table") && err.contains("DescribeTable"),
        "{err}"
    );
    assert!(!err.contains("writing"), "{err}");
    let err = local.fails(&["--stream", "no-such-stream", "put", "--item", KEY]);
    assert!(err.contains("--stream=no-such-stream"), "{err}");
    assert_eq!(
        local.count(&[]),
        1,
        "a typo in the stream fails before the write"
    );

    // No credentials, and no instance metadata to ask: one line that says what to set.
    let out = Command::new(env!("CARGO_BIN_EXE_dyno"))
        .args([
            "--endpoint-url",
            &local.primary.endpoint,
            "get",
            "--key",
            KEY,
        ])
        .env_clear()
        .env("HOME", &local.dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(one_line(&err), "{err}");
    assert!(
        err.contains("no AWS credentials found") && err.contains("--local"),
        "{err}"
    );
}

#[test]
fn a_server_that_never_answers_fails_after_the_timeouts() {
    let local = Local::start("silent");
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let err = local.fails(&[
        "--endpoint-url",
        &endpoint,
        "--read-timeout",
        "0.5",
        "--max-attempts",
        "4",
        "get",
        "--key",
        KEY,
    ]);
    let took = started.elapsed();
    assert!(one_line(&err), "{err}");
    assert!(err.contains("no answer in time"), "{err}");
    // Four attempts of half a second: at least that long, and not much longer (the pauses
    // between attempts and starting the process) — neither the defaults' 3 × 10 s, nor 3 × 0.5 s.
    let bound = Duration::from_millis(4 * 500);
    assert!(took >= bound && took < bound * 2, "{took:?}");
    drop(silent);
}
