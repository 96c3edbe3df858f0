//! The `dyno` binary as a user runs it: writes, reads, import and export, the local event source
//! mapping, diff, dead letters, and errors that say what happened and what to do, in one line,
//! naming the flag the user typed, never quoting item values, and leaving every file and table
//! as it was. Against dynalite, kinesalite and moto's SQS.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::faults::{Fault, FaultProxy, Plan};
use common::local::Local;
use common::oracle;
use common::*;

const KEY: &str = r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}"#;

#[test]
fn writes_reads_replicates_and_compares() {
    let local = Local::start("main");
    local.ok(&["create"]);
    local.ok(&[
        "put",
        "--item",
        r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"},"Hits":{"N":"1"}}"#,
    ]);
    local.ok(&[
        "update",
        "--key",
        KEY,
        "--update-expression",
        "SET Hits = Hits + :one",
        "--values",
        r#"{":one":{"N":"1"}}"#,
    ]);
    assert_eq!(
        local.ok(&["get", "--key", KEY]).trim(),
        r#"{"ForumName":{"S":"DynamoDB"},"Hits":{"N":"2"},"Subject":{"S":"Thread 1"}}"#,
        "attributes print in sorted order"
    );
    // A condition that does not hold: refused, and said so.
    let err = local.fails(&[
        "delete",
        "--key",
        KEY,
        "--condition",
        "Hits = :v",
        "--values",
        r#"{":v":{"N":"99"}}"#,
    ]);
    assert!(err.contains("ConditionalCheckFailed"), "{err}");

    // Import 50 items from line-delimited DynamoDB JSON, both shapes.
    let lines: Vec<String> = (0..50)
        .map(|i| {
            let item = format!(r#"{{"ForumName":{{"S":"bulk"}},"Subject":{{"S":"t{i}"}}}}"#);
            if i % 2 == 0 {
                format!(r#"{{"Item":{item}}}"#)
            } else {
                item
            }
        })
        .collect();
    let file = local.dir.join("items.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    local.ok(&["import", file.to_str().unwrap()]);

    // Not yet replicated: diff says so and exits non-zero. (52 records: put, update, 50 imports;
    // the refused delete published nothing.)
    let out = local.dyno(&["diff", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "the replica differs from the primary: 51 missing, 0 extra, 0 different (51 primary items"
    ));

    let stderr = String::from_utf8(local.dyno(&["replicate"]).stderr).unwrap();
    assert!(stderr.contains("replicated 52 records"), "{stderr}");
    let out = local.ok(&["diff"]);
    assert!(
        out.contains("the replica matches the primary: 51 items compared, 0 differences"),
        "{out}"
    );
    local.assert_replicated(51);

    // Export the replica: 51 lines of {"Item": …}.
    let exported = local.ok(&[
        "--table",
        REPLICA,
        "--endpoint-url",
        &local.replica.endpoint,
        "export",
    ]);
    assert_eq!(exported.lines().count(), 51);
    assert!(exported.lines().all(|l| l.starts_with(r#"{"Item":{"#)));
}

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
fn unusable_records_go_to_the_dead_letter_queue_and_can_be_replayed() {
    let local = Local::start("dlq");
    let sqs_server = Server::moto();
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue_url = rt.block_on(async {
        let sdk = sdk_config().await;
        let tuning = tuning();
        let sqs = dyno::aws::client::sqs_client(&sdk, Some(&sqs_server.endpoint), &tuning);
        let kinesis =
            dyno::aws::client::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning);
        kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("p")
            .data(aws_sdk_kinesis::primitives::Blob::new(
                b"poison \xff".to_vec(),
            ))
            .send()
            .await
            .unwrap();
        create_queue(&sqs, "dyno-dead-letters").await
    });
    local.ok(&["put", "--item", KEY]);
    let sqs = ["--sqs-endpoint-url", &sqs_server.endpoint];

    let out = local.dyno(
        &[
            &["replicate", "--dead-letter-queue-url", &queue_url][..],
            &sqs[..],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("replicated 2 records") && stderr.contains("0 skipped"),
        "{stderr}"
    );
    assert!(
        local
            .ok(&["diff"])
            .contains("1 items compared, 0 differences")
    );
    local.assert_replicated(1);

    let inspect = [
        &["dead-letters", "--queue-url", &queue_url][..],
        &sqs[..],
        &["inspect"][..],
    ]
    .concat();
    let letters = local.ok(&inspect);
    let letter: serde_json::Value = serde_json::from_str(letters.lines().next().unwrap()).unwrap();
    assert_eq!(letter["partitionKey"], "p");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("not a DynamoDB Streams JSON record")
    );

    let replay = [
        &["dead-letters", "--queue-url", &queue_url][..],
        &sqs[..],
        &["replay"][..],
    ]
    .concat();
    let out = local.dyno(&replay);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed 1 of 1 dead letters"));
    // The original bytes are back on the stream, after the two records read before.
    let records = rt.block_on(async {
        let sdk = sdk_config().await;
        let kinesis =
            dyno::aws::client::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning());
        stream_records(&kinesis, STREAM).await
    });
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].data().as_ref(), b"poison \xff");
    assert!(local.ok(&inspect).trim().is_empty());
}

fn one_line(err: &str) -> bool {
    err.trim_end().lines().count() == 1 && err.starts_with("error: ")
}

#[test]
fn export_never_touches_the_file_when_it_fails() {
    let local = Local::start("export");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    let backup = local.dir.join("backup.jsonl");
    std::fs::write(&backup, "precious\n").unwrap();
    let target = backup.to_str().unwrap();

    // A missing table, then a refused connection: the backup stays as it was.
    let err = local.fails(&["--table", "no-such-table", "export", target]);
    assert!(one_line(&err), "{err}");
    assert!(err.contains("--table=no-such-table"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(err.contains("was not touched"), "{err}");
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let err = local.fails(&["--endpoint-url", &closed, "export", target]);
    assert!(one_line(&err), "{err}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "precious\n");

    // A successful export replaces it, and leaves no temporary file behind.
    local.ok(&["export", target]);
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert!(
        exported.starts_with(r#"{"Item":{"ForumName""#),
        "{exported}"
    );
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

/// An export that fails on its second `Scan` page, after the first page's items were written
/// out: the target file keeps its old bytes and no temporary file is left beside it.
#[test]
fn export_failing_after_its_first_page_leaves_the_file_as_it_was() {
    let local = Local::start("export-pages");
    local.ok(&["create"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // 40 items of 60 KB: more than one 1 MB page.
    let big = |i: usize| thread_item("big", &format!("t{i:03}"), &"x".repeat(60_000));
    let (proxy, pages) = rt.block_on(async {
        let c = client(&local.primary).await;
        put_items(&c, PRIMARY, (0..40).map(big).collect()).await;
        let mut pages = 0;
        let mut scan = c.scan().table_name(PRIMARY).into_paginator().send();
        while let Some(page) = scan.next().await {
            page.expect("Scan");
            pages += 1;
        }
        (FaultProxy::start(local.primary.port).await, pages)
    });
    assert!(pages > 1, "{pages} page(s)");
    let backup = local.dir.join("backup.jsonl");
    std::fs::write(&backup, "precious\n").unwrap();
    let target = backup.to_str().unwrap();
    let through = ["--endpoint-url", &proxy.endpoint, "--max-attempts", "3"];

    // The first page is answered; every attempt at the second fails.
    let fault = Some(Fault::InternalServerError);
    proxy.set_plan(Plan::script(&["Scan"], &[None, fault, fault, fault]));
    let err = local.fails(&[&through[..], &["export", target]].concat());
    assert!(one_line(&err), "{err}");
    assert!(err.contains("was not touched"), "{err}");
    let stats = proxy.stats();
    assert_eq!(
        stats.injected("Scan", Fault::InternalServerError),
        3,
        "{stats:?}"
    );
    assert_eq!(stats.requests.get("Scan"), Some(&4), "{stats:?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "precious\n");
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // Answered in full, it replaces the file with every item, and leaves nothing else.
    proxy.set_plan(Plan::off());
    local.ok(&[&through[..], &["export", target]].concat());
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(exported.lines().count(), 40);
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn thread_line(i: usize, body: &str) -> String {
    format!(
        r#"{{"Item":{{"ForumName":{{"S":"bulk"}},"Subject":{{"S":"t{i:04}"}},"Body":{{"S":"{body}"}}}}}}"#
    )
}

#[test]
fn import_names_the_failing_line_and_says_how_to_resume() {
    let local = Local::start("import");
    local.ok(&["create"]);
    let file = local.dir.join("items.jsonl");
    let path = file.to_str().unwrap();
    let mut lines: Vec<String> = (1..=1200).map(|i| thread_line(i, "v")).collect();

    // A line that is not JSON: everything before it is in, and the message says so.
    lines[699] = "{not json".into();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = local.fails(&["import", path]);
    assert!(one_line(&err), "{err}");
    assert!(err.contains("line 700"), "{err}");
    assert!(err.contains("699 items written"), "{err}");
    assert!(err.contains("--skip-lines 699"), "{err}");
    assert_eq!(local.count(&[]), 699);

    // A line the server refuses (an item over 400 KB): named, with the service's code, and
    // quoting no value of it.
    lines[699] = thread_line(700, &format!("s3cr3t{}", "x".repeat(410 * 1024)));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = local.fails(&["import", "--skip-lines", "600", path]);
    assert!(one_line(&err), "{err}");
    assert!(
        err.contains("line 700") && err.contains("ValidationException"),
        "{err}"
    );
    assert!(err.contains("every line up to 699 is in"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");

    // Fixed, and resumed after line 699: every line is in.
    lines[699] = thread_line(700, "v");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err =
        String::from_utf8(local.dyno(&["import", "--skip-lines", "699", path]).stderr).unwrap();
    assert!(
        err.contains("imported 501 items") && err.contains("every line up to 1200 is in"),
        "{err}"
    );
    assert_eq!(local.count(&[]), 1200);

    // The same key on two lines of one batch: the batch is split there, the later line wins.
    let twice = [
        thread_line(1, "first"),
        thread_line(5000, "x"),
        thread_line(1, "later"),
    ];
    std::fs::write(&file, twice.join("\n")).unwrap();
    let err = String::from_utf8(local.dyno(&["import", path]).stderr).unwrap();
    assert!(err.contains("imported 3 items"), "{err}");
    let key = r#"{"ForumName":{"S":"bulk"},"Subject":{"S":"t0001"}}"#;
    assert!(local.ok(&["get", "--key", key]).contains("later"));
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
fn a_run_that_skips_records_exits_non_zero_and_names_them() {
    let local = Local::start("skips");
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kinesis = dyno::aws::client::kinesis_client(
            &sdk_config().await,
            Some(&local.kinesis.endpoint),
            &tuning(),
        );
        kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("p")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"poison".to_vec()))
            .send()
            .await
            .unwrap();
    });
    local.ok(&["put", "--item", KEY]);
    let out = local.dyno(&["replicate", "--max-retries", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 records were skipped") && err.contains("shardId-000000000000:"),
        "{err}"
    );
    // The summary counts the skipped record apart, not as replicated.
    assert!(
        err.contains("replicated 1 records in") && err.contains("1 skipped"),
        "{err}"
    );
    assert!(local.ok(&["diff"]).contains("0 differences"));
    local.assert_replicated(1);
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

/// `dyno replicate --follow` rides out an outage of the stream: for 5 s every call to kinesalite
/// fails (5xx, then connection resets) while more writes come; the run goes on, and replicates
/// them and the writes after the outage. Then it is stopped.
#[test]
fn replicate_follow_waits_out_a_stream_outage() {
    let local = Local::start("follow");
    local.ok(&["create", "--shards", "1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt.block_on(FaultProxy::start(local.kinesis.port));
    let (primary, replica) =
        rt.block_on(async { (client(&local.primary).await, client(&local.replica).await) });
    let import = |name: &str, range: std::ops::Range<usize>| {
        let file = local.dir.join(name);
        let lines: Vec<String> = range.map(|i| thread_line(i, "v")).collect();
        std::fs::write(&file, lines.join("\n")).unwrap();
        local.ok(&["import", file.to_str().unwrap()]);
    };
    let tables = |items: usize| {
        let report = rt.block_on(oracle::compare((&primary, PRIMARY), (&replica, REPLICA)));
        report.differences() == 0 && report.primary_items == items
    };
    let wait_for = |items: usize, what: &str| {
        let started = Instant::now();
        while !tables(items) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not replicated in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    import("before.jsonl", 0..100);
    let log = std::fs::File::create(local.dir.join("replicate.log")).unwrap();
    let mut follow = local
        .command(&["replicate", "--follow"])
        .env("DYNO_KINESIS_ENDPOINT_URL", &proxy.endpoint)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for(100, "before the outage");

    // The outage: every call to the stream fails, first with 503s, then with resets.
    let outage = |fault: Fault, seed: u64| Plan::on(&[], &[fault], 1.0, seed);
    proxy.set_plan(outage(Fault::ServiceUnavailable, 1));
    import("during.jsonl", 100..200);
    std::thread::sleep(Duration::from_millis(2500));
    proxy.set_plan(outage(Fault::ResetBefore, 2));
    std::thread::sleep(Duration::from_millis(2500));
    let replica_items = rt.block_on(oracle::scan(
        &replica,
        REPLICA,
        &["ForumName".to_owned(), "Subject".to_owned()],
    ));
    assert_eq!(
        replica_items.len(),
        100,
        "records were read during the outage"
    );
    proxy.set_plan(Plan::off());
    let stats = proxy.stats();
    for fault in [Fault::ServiceUnavailable, Fault::ResetBefore] {
        assert!(
            stats.faults.get(&fault).is_some_and(|n| *n > 0),
            "{fault:?} not injected: {stats:?}"
        );
    }
    assert!(
        follow.try_wait().unwrap().is_none(),
        "the run stopped in the outage: {}",
        std::fs::read_to_string(local.dir.join("replicate.log")).unwrap()
    );

    // After the outage: what was written during it, and what comes now.
    import("after.jsonl", 200..300);
    wait_for(300, "after the outage");
    assert!(follow.try_wait().unwrap().is_none(), "the run stopped");
    follow.kill().unwrap();
    follow.wait().unwrap();
    rt.block_on(oracle::assert_equal_items(
        (&primary, PRIMARY),
        (&replica, REPLICA),
        300,
    ));
}
