//! The `dyno` binary against a hostile operator's commands: nothing is deleted unless every
//! endpoint allows it, files are replaced only whole and only when they are regular files,
//! endpoints are judged by their parsed host, a table is never its own replica however its
//! endpoint is spelled, a checkpoint belongs to one piece of work, a sample never judges on
//! nothing, and every refusal is one line that says what to fix. Each table is judged by a plain
//! SDK scan, not by dyno. Against dynalite, kinesalite and moto.

use crate::common;
mod identity;
mod shapes;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::local::Local;
use common::*;

const KEY: &str = r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}"#;
const AWS_DYNAMODB: &str = "https://dynamodb.us-east-1.amazonaws.com";
const AWS_KINESIS: &str = "https://kinesis.us-east-1.amazonaws.com";

fn one_line(err: &str) -> bool {
    err.trim_end().lines().count() == 1
}

#[test]
fn recreate_checks_every_endpoint_before_deleting_anything() {
    let local = Local::start("recreate");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    for (flag, remote) in [
        ("--replica-endpoint-url", AWS_DYNAMODB),
        ("--kinesis-endpoint-url", AWS_KINESIS),
    ] {
        let err = local.fails_with(1, &["create", "--recreate", flag, remote]);
        assert_eq!(
            local.items(&local.primary, PRIMARY),
            1,
            "the local primary was deleted although {flag} is remote: {err}"
        );
        assert!(one_line(&err), "{err}");
        assert!(
            err.contains("--recreate works only on servers on this machine")
                && err.contains(remote)
                && err.contains("nothing was deleted"),
            "{err}"
        );
    }
    // A user name before the host does not make a remote host local.
    let fooled = "http://localhost:1@192.0.2.2:9101";
    let err = local.fails_with(
        2,
        &["--replica-endpoint-url", fooled, "create", "--recreate"],
    );
    assert!(err.contains("no user name"), "{err}");
    assert_eq!(local.items(&local.primary, PRIMARY), 1);
}

#[test]
fn the_demo_runs_only_on_local_servers() {
    let local = Local::start("demo");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    let err = local.fails_with(
        1,
        &["demo", "--recreate", "--replica-endpoint-url", AWS_DYNAMODB],
    );
    assert_eq!(local.items(&local.primary, PRIMARY), 1, "{err}");
    assert!(
        err.contains("the demo with --recreate works only on servers on this machine"),
        "{err}"
    );
    let err = local.fails_with(1, &["demo", "--kinesis-endpoint-url", AWS_KINESIS]);
    assert!(
        err.contains("the demo works only on servers on this machine") && err.contains(AWS_KINESIS),
        "{err}"
    );
}

#[test]
fn export_replaces_only_regular_files_and_keeps_their_mode() {
    let local = Local::start("export");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);

    let private = local.path("private.jsonl");
    std::fs::write(&private, "old\n").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    local.ok(&["export", private.to_str().unwrap()]);
    let text = std::fs::read_to_string(&private).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with(r#"{"Item":{"ForumName""#), "{text}");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file's mode is kept");

    let real = local.path("real.jsonl");
    std::fs::write(&real, "kept").unwrap();
    let link = local.path("link.jsonl");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = local.fails_with(1, &["export", link.to_str().unwrap()]);
    assert!(one_line(&err) && err.contains("symbolic link"), "{err}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "kept");

    let fifo = local.path("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let err = local.fails_with(1, &["export", fifo.to_str().unwrap()]);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let read_only = local.path("read-only.jsonl");
    std::fs::write(&read_only, "ro").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = local.fails_with(1, &["export", read_only.to_str().unwrap()]);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "ro");

    // `-` is standard output, not a file named `-`.
    let out = local.ok(&["export", "-"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(
        local.entries(),
        [
            "fifo",
            "link.jsonl",
            "private.jsonl",
            "read-only.jsonl",
            "real.jsonl"
        ],
        "no file named `-`, and no temporary file left"
    );
}

#[test]
fn diff_keys_out_is_replaced_only_when_the_comparison_completes() {
    let local = Local::start("keys-out");
    local.ok(&["create"]);
    let keys = local.path("keys.jsonl");
    std::fs::write(&keys, "old bytes\n").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let args = [
        "--replica-endpoint-url",
        &unreachable,
        "--max-attempts",
        "1",
        "diff",
        "--keys-out",
        "keys.jsonl",
    ];
    let err = local.fails_with(2, &args);
    assert!(one_line(&err), "{err}");
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), "old bytes\n");
    assert_eq!(local.entries(), ["keys.jsonl"], "no temporary file left");

    // A comparison that completes replaces it.
    local.ok(&["put", "--item", KEY]);
    let out = local.dyno(&["diff", "--keys-out", "keys.jsonl", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(r#"{"key":"#) || text.contains(r#""kind":"missing""#),
        "{text}"
    );
}

#[test]
fn a_table_is_never_its_own_replica_however_its_endpoint_is_spelled() {
    let local = Local::start("self");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    let port = local.primary.port;
    for spelled in [
        format!("http://localhost:{port}/"),
        format!("http://LOCALHOST:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
    ] {
        let same = [
            "--replica-table",
            PRIMARY,
            "--replica-endpoint-url",
            &spelled,
        ];
        for command in [
            &["diff"][..],
            &["diff", "--repair", "--direct"],
            &["replicate"],
            &["create"],
        ] {
            let err = local.fails_with(
                if command[0] == "diff" { 2 } else { 1 },
                &[&same[..], command].concat(),
            );
            assert!(
                one_line(&err) && err.contains("is the primary table itself"),
                "{spelled} {command:?}: {err}"
            );
        }
    }
    assert_eq!(local.items(&local.primary, PRIMARY), 1);
}

#[test]
fn a_checkpoint_belongs_to_one_piece_of_work() {
    let local = Local::start("checkpoint");
    local.ok(&["create", "--shards", "1"]);
    local.ok(&["put", "--item", KEY]);
    std::fs::write(local.path("backfill.tmp"), "a neighbour").unwrap();
    local.ok(&["backfill", "--checkpoint", "backfill.json"]);
    assert_eq!(
        std::fs::read_to_string(local.path("backfill.tmp")).unwrap(),
        "a neighbour",
        "a neighbouring file is never touched"
    );
    let saved = std::fs::read_to_string(local.path("backfill.json")).unwrap();

    let err = local.fails_with(
        1,
        &["backfill", "--direct", "--checkpoint", "backfill.json"],
    );
    assert!(
        one_line(&err) && err.contains("belongs to another backfill") && err.contains("keys "),
        "an announcing backfill's checkpoint resumed with --direct: {err}"
    );
    let err = local.fails_with(1, &["replicate", "--checkpoint", "backfill.json"]);
    assert!(
        err.contains("is a backfill checkpoint, not a replicate one"),
        "{err}"
    );
    let err = local.fails_with(
        1,
        &[
            "--table",
            "other",
            "backfill",
            "--checkpoint",
            "backfill.json",
        ],
    );
    assert!(err.contains("--table=other"), "another table: {err}");
    assert_eq!(
        std::fs::read_to_string(local.path("backfill.json")).unwrap(),
        saved,
        "a refused checkpoint is left as it was"
    );

    let package = r#"{"name": "app", "version": "1.0.0"}"#;
    std::fs::write(local.path("package.json"), package).unwrap();
    let err = local.fails_with(1, &["backfill", "--checkpoint", "package.json"]);
    assert!(err.contains("is not a dyno checkpoint"), "{err}");
    assert_eq!(
        std::fs::read_to_string(local.path("package.json")).unwrap(),
        package
    );
}

#[test]
fn a_sample_never_judges_on_nothing() {
    let local = Local::start("sample");
    local.ok(&["create"]);
    local.rt().block_on(async {
        let db = client(&local.primary).await;
        let items = (0..30)
            .map(|i| thread_item("f", &format!("s{i}"), "v"))
            .collect();
        put_items(&db, PRIMARY, items).await;
    });
    assert_eq!(local.items(&local.replica, REPLICA), 0);
    // One page in a thousand: without the first page, the sample would compare nothing.
    for _ in 0..3 {
        let out = local.dyno(&["diff", "--sample", "0.001", "--settle-ms", "0"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("30 missing"), "{said}");
    }
}

#[test]
fn bad_values_are_refused_by_name_before_anything_is_done() {
    let local = Local::start("values");
    local.ok(&["create"]);
    // An empty endpoint: a usage error, never a panic.
    let err = local.fails_with(2, &["--replica-endpoint-url", "", "diff"]);
    assert!(
        err.contains("--replica-endpoint-url") && err.contains("empty"),
        "{err}"
    );
    // Empty attribute names and a name given twice.
    let err = local.fails_with(1, &["--table", "t1", "create", "--key-schema", ":S"]);
    assert!(
        one_line(&err) && err.contains("--key-schema part `:S`"),
        "{err}"
    );
    let err = local.fails_with(1, &["--table", "t2", "create", "--key-schema", "a:S,a:N"]);
    assert!(err.contains("names `a` twice"), "{err}");
    // Retries below -1.
    let err = local.fails_with(2, &["replicate", "--max-retries=-5"]);
    assert!(err.contains("--max-retries"), "{err}");
    // A validation error says why.
    let err = local.fails_with(1, &["update", "--key", KEY, "--update-expression", "SET"]);
    assert!(
        one_line(&err) && err.contains("ValidationException") && err.contains("Syntax error"),
        "{err}"
    );
    // --skip-lines past the end of the input.
    std::fs::write(local.path("two.jsonl"), format!("{KEY}\n{KEY}\n")).unwrap();
    let err = local.fails_with(1, &["import", "two.jsonl", "--skip-lines", "10"]);
    assert!(
        err.contains("--skip-lines 10 is past the end of the input (2 lines)"),
        "{err}"
    );
    // A plan only for loads DynamoDB and Lambda can have; a batching window of 0 is one.
    for (flag, value) in [
        ("--writes-per-second", "1e30"),
        ("--item-kb", "401"),
        ("--batching-window-seconds", "1e30"),
        ("--batching-window-seconds", "-1"),
    ] {
        let err = local.fails_with(1, &["plan", &format!("{flag}={value}")]);
        assert!(
            one_line(&err) && err.contains(flag),
            "{flag} {value}: {err}"
        );
    }
    local.ok(&["plan", "--batching-window-seconds", "0"]);
    // A flag the environment sets is never listed in a usage error.
    let out = local
        .command(&["failures", "replay", "--bogus"])
        .env("DYNO_FAILED_BATCH_BUCKET", "from-env")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("--bucket"), "{err}");
}

#[test]
fn verbose_errors_are_said_once_and_without_colour_in_a_pipe() {
    let local = Local::start("verbose");
    local.ok(&["create"]);
    let err = local.fails_with(1, &["-v", "--table", "missing", "export"]);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(err.contains("caused by"), "-v shows the causes: {err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
}

#[test]
fn ctrl_c_says_what_it_left_and_exits_130() {
    let local = Local::start("interrupt");
    local.ok(&["create", "--shards", "1"]);
    let child = local
        .command(&["replicate", "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted (Ctrl-C or SIGTERM)"), "{err}");
}

#[test]
fn replays_exit_non_zero_when_they_leave_work_undone() {
    let moto = Server::moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (queue, bucket) = rt.block_on(async {
        let config = sdk_config().await;
        let sqs = dyno::aws::client::sqs_client(&config, Some(&moto.endpoint), &tuning());
        let queue = create_queue(&sqs, "not-dead-letters").await;
        for i in 0..3 {
            let body = format!("not a dead letter {i}");
            sqs.send_message()
                .queue_url(&queue)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        let s3 = dyno::aws::client::s3_client(&config, Some(&moto.endpoint), &tuning());
        s3.create_bucket().bucket("failed").send().await.unwrap();
        let junk = aws_sdk_s3::primitives::ByteStream::from_static(b"not an invocation record");
        s3.put_object()
            .bucket("failed")
            .key("aws/lambda/x/junk")
            .body(junk)
            .send()
            .await
            .unwrap();
        (queue, "failed")
    });
    let dyno = |args: &[&str]| dyno_command(At::default()).args(args).output().unwrap();
    let out = dyno(&[
        "--kinesis-endpoint-url",
        "http://127.0.0.1:1",
        "dead-letters",
        "--queue-url",
        &queue,
        "--sqs-endpoint-url",
        &moto.endpoint,
        "replay",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("replayed 0 of 3 dead letters") && err.contains("3 unreadable"),
        "{err}"
    );
    for dry_run in [true, false] {
        let mut args = vec!["failures", "replay", "--bucket", bucket];
        args.extend(["--s3-endpoint-url", &moto.endpoint]);
        if dry_run {
            args.push("--dry-run");
        }
        let out = dyno(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dry run {dry_run}: {err}");
        assert!(err.contains("1 objects skipped"), "{err}");
    }
}
