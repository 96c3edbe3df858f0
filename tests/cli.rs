//! The `dyno` binary as a user runs it: writes, reads, import and export, the local event source
//! mapping, diff, dead letters, and errors that say what to fix. Against dynalite, kinesalite
//! and moto's SQS.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

struct Local {
    primary: Server,
    replica: Server,
    kinesis: Server,
    dir: PathBuf,
}

impl Local {
    fn start(name: &str) -> Local {
        let dir = std::env::temp_dir().join(format!("dyno-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Local {
            primary: Server::dynalite(),
            replica: Server::dynalite(),
            kinesis: Server::kinesalite(),
            dir,
        }
    }

    fn dyno(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dyno"))
            .args(args)
            .env("DYNO_ENDPOINT_URL", &self.primary.endpoint)
            .env("DYNO_KINESIS_ENDPOINT_URL", &self.kinesis.endpoint)
            .env("DYNO_REPLICA_ENDPOINT_URL", &self.replica.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("DEAD_LETTER_QUEUE_URL")
            .output()
            .expect("run dyno")
    }

    /// Runs dyno, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dyno(args);
        assert!(
            out.status.success(),
            "dyno {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs dyno, asserts failure, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.dyno(args);
        assert!(!out.status.success(), "dyno {args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let out = local.dyno(&["diff"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("replica matches primary: 51 items, 51 differences")
    );

    let stderr = String::from_utf8(local.dyno(&["replicate"]).stderr).unwrap();
    assert!(stderr.contains("replicated 52 records"), "{stderr}");
    let out = local.ok(&["diff"]);
    assert!(
        out.contains("replica matches primary: 51 items, 0 differences"),
        "{out}"
    );

    // Export the replica: 51 lines of {"Item": …}.
    let exported = local.ok(&[
        "--table",
        "dyno-replica",
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
        let sqs = dyno::config::sqs_client(&sdk, Some(&sqs_server.endpoint), &tuning);
        let kinesis = dyno::config::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning);
        kinesis
            .put_record()
            .stream_name("dyno-keys")
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
    assert!(local.ok(&["diff"]).contains("1 items, 0 differences"));

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
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed 1 records"));
    // The original bytes are back on the stream, after the two records read before.
    let records = rt.block_on(async {
        let sdk = sdk_config().await;
        let kinesis = dyno::config::kinesis_client(&sdk, Some(&local.kinesis.endpoint), &tuning());
        stream_records(&kinesis, "dyno-keys").await
    });
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].data().as_ref(), b"poison \xff");
    assert!(local.ok(&inspect).trim().is_empty());
}
