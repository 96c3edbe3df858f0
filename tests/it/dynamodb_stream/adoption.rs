//! The `dyno` binary on a table's own stream: `replicate --source dynamodb-stream` finds the
//! stream itself; a table with no key stream is adopted, backfilled and repaired directly.

use crate::common;

use aws_sdk_dynamodb::types::StreamViewType;
use common::oracle;
use common::*;

use super::{tables, write, written};

/// The CLI: `replicate --source dynamodb-stream` finds the table's stream itself.
#[test]
fn the_cli_replicates_from_the_tables_stream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Server::moto();
    let (primary, replica) = rt.block_on(async {
        let (primary, replica, _) = tables(&moto, StreamViewType::KeysOnly).await;
        write(&primary, 9).await;
        (primary, replica)
    });
    let dyno = |args: &[&str]| {
        dyno_command(At {
            tables: Some(&moto.endpoint),
            ..At::default()
        })
        .args(["--table", "orders", "--replica-table", "orders-copy"])
        .args(args)
        .output()
        .unwrap()
    };
    let out = dyno(&["replicate", "--source", "dynamodb-stream"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dyno(&["diff"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        rt.block_on(oracle::assert_tables(&primary, &replica)),
        written(&[9]).len()
    );

    // A table without a stream: said so.
    rt.block_on(create_table(
        &client_at_blocking(&moto),
        "plain",
        &thread_schema(),
    ));
    let out = dyno(&[
        "--table",
        "plain",
        "replicate",
        "--source",
        "dynamodb-stream",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("has no DynamoDB stream"),
        "{err}"
    );
}

fn client_at_blocking(server: &Server) -> aws_sdk_dynamodb::Client {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client(server))
}

/// The whole adoption with no writer change and no Kinesis stream: a table with items from
/// before its stream was enabled is backfilled with `--direct` (copied by the replicator's own
/// engine), later writes replicate from its own stream, and `diff --repair --direct` mends a
/// damaged replica.
#[test]
fn a_table_without_a_key_stream_is_adopted_backfilled_and_repaired_directly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Server::moto();
    let (primary, replica) = rt.block_on(async {
        let primary = table(&moto, "orders").await;
        let replica = table(&moto, "orders-copy").await;
        create_table(&primary.client, "orders", &thread_schema()).await;
        create_table(&replica.client, "orders-copy", &thread_schema()).await;
        let old: Vec<Item> = (0..300)
            .map(|i| thread_item("old", &format!("o{i:03}"), "v"))
            .collect();
        put_items(&primary.client, "orders", old).await;
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::KeysOnly)
            .build()
            .unwrap();
        primary
            .client
            .update_table()
            .table_name("orders")
            .stream_specification(spec)
            .send()
            .await
            .unwrap();
        (primary, replica)
    });
    let dyno = |args: &[&str]| {
        dyno_command(At {
            tables: Some(&moto.endpoint),
            ..At::default()
        })
        .args([
            "--table",
            "orders",
            "--replica-table",
            "orders-copy",
            "--stream",
            "no-such-stream",
        ])
        .args(args)
        .output()
        .unwrap()
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = dyno(&["backfill", "--direct", "--segments", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("300 keys of `orders` copied to `orders-copy`"),
        "{}",
        text(&out)
    );
    rt.block_on(write(&primary, 11));
    let out = dyno(&["replicate", "--source", "dynamodb-stream"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    rt.block_on(async {
        for i in 0..3 {
            replica
                .client
                .delete_item()
                .table_name("orders-copy")
                .key("ForumName", s("old"))
                .key("Subject", s(&format!("o{i:03}")))
                .send()
                .await
                .unwrap();
        }
    });
    let out = dyno(&["diff", "--repair", "--direct", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("repair: 3 keys copied to `orders-copy`"),
        "{}",
        text(&out)
    );
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        rt.block_on(oracle::assert_tables(&primary, &replica)),
        300 + written(&[11]).len()
    );
}
