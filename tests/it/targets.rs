//! Targets (`DYNO_TARGETS`, `--targets FILE`) against real servers: dynalite for the primary
//! tables and for the targets' tables, kinesalite for the key stream, the official SDK, and the
//! `dyno` and `replicator` binaries. Each target is judged by a plain-SDK oracle
//! (`common::targets`): what the test's own rule makes of a consistent scan of its primary,
//! against a consistent scan of the target, with exact counts.

use crate::common;

mod commands;
mod indexes;
use indexes::create_with_indexes;
use indexes::exists;
use indexes::keys_only;
mod primaries;
mod refusals;
mod replication;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use common::faults::{Fault, FaultProxy, Plan};
use common::oracle::{self, Key, Value};
use common::targets::{Servers, assert_target, disagreeing, servers};
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::config::Config;
use dyno::replicate::deployment::{self, TargetTable};
use dyno::replicate::outcome::TargetCounts;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::targets;
use dyno::replicate::tuning::Tuning;
use serde_json::json;

/// Every table of these tests: `pk` (S).
fn schema() -> KeySchema {
    KeySchema::hash_only("pk", ScalarType::S)
}

/// An order as the tests write it: `o000`, …; every third one (0, 3, …) inactive; every tenth
/// (9, 19, …) without an email.
#[derive(Debug, Clone, PartialEq)]
struct Order {
    pk: String,
    status: &'static str,
    email: Option<String>,
    n: usize,
}

impl Order {
    fn new(i: usize) -> Order {
        Order {
            pk: format!("o{i:03}"),
            status: if i.is_multiple_of(3) {
                "inactive"
            } else {
                "active"
            },
            email: (i % 10 != 9).then(|| format!("user{i}@example.com")),
            n: i,
        }
    }

    fn flipped(mut self) -> Order {
        self.status = match self.status {
            "active" => "inactive",
            _ => "active",
        };
        self
    }

    fn item(&self) -> Item {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(&self.pk)),
            ("status".to_owned(), s(self.status)),
            (
                "n".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::N(self.n.to_string()),
            ),
        ]);
        if let Some(email) = &self.email {
            item.insert("email".to_owned(), s(email));
        }
        item
    }

    /// The item under another `pk`, as `dyno put --item` takes it (DynamoDB JSON).
    fn item_json(&self, pk: &str) -> String {
        let mut line: serde_json::Value = serde_json::from_str(&self.line()).expect("json");
        line["Item"]["pk"] = json!({"S": pk});
        line["Item"].to_string()
    }

    /// The item as one line of `dyno import` (DynamoDB JSON).
    fn line(&self) -> String {
        let mut item = json!({
            "pk": {"S": self.pk}, "status": {"S": self.status}, "n": {"N": self.n.to_string()}
        });
        if let Some(email) = &self.email {
            item["email"] = json!({"S": email});
        }
        json!({ "Item": item }).to_string()
    }
}

// The rules the targets follow, as the tests state them (not dyno's `Shape`).

fn whole(item: &Item) -> Option<Item> {
    Some(item.clone())
}

fn active_only(item: &Item) -> Option<Item> {
    (item.get("status") == Some(&s("active"))).then(|| item.clone())
}

fn without_email(item: &Item) -> Option<Item> {
    let mut item = item.clone();
    item.remove("email");
    Some(item)
}

/// The `pk` key the oracle reports.
fn pk(value: &str) -> Key {
    Key(vec![("pk".to_owned(), Value::S(value.to_owned()))])
}

/// The `pk` a record's data announces (read here from its JSON, not by dyno).
fn record_pk(record: &KinesisEventRecord) -> String {
    let data: serde_json::Value = serde_json::from_slice(&record.kinesis.data).expect("json");
    data["dynamodb"]["Keys"]["pk"]["S"]
        .as_str()
        .expect("a pk key")
        .to_owned()
}

/// A key record of the seed's shape for `pk`.
fn pk_record(pk: &str, sequence: u64) -> Vec<u8> {
    key_record(json!({"pk": {"S": pk}}), "MODIFY", sequence)
}

/// A key record in the Kinesis Data Streams for DynamoDB shape, naming its table by
/// `tableName` and/or its `eventSourceARN`.
fn named_record(table_name: Option<&str>, arn_table: Option<&str>, pk: &str, n: u64) -> Vec<u8> {
    let mut record = json!({
        "awsRegion": "us-east-1",
        "eventID": format!("{n:032x}"),
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "recordFormat": "application/json",
        "userIdentity": null,
        "dynamodb": {"ApproximateCreationDateTime": 1_764_201_600_000_u64,
                     "Keys": {"pk": {"S": pk}}, "SizeBytes": 12}
    });
    if let Some(table) = table_name {
        record["tableName"] = json!(table);
    }
    if let Some(table) = arn_table {
        record["eventSourceARN"] = json!(format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-01-01T00:00:00.000"
        ));
    }
    serde_json::to_vec(&record).expect("json")
}

async fn clients(servers: &Servers) -> (Client, Client) {
    (
        client(&servers.primary).await,
        client(&servers.replica).await,
    )
}

/// A target's counts, as `Summary::targets` gives them: puts, deletes, failed keys, keys
/// filtered out, and items the filter failed on.
fn counts(
    name: &str,
    writes: (usize, usize),
    failed: usize,
    filter: (usize, usize),
) -> TargetCounts {
    TargetCounts {
        name: name.to_owned(),
        puts: writes.0,
        deletes: writes.1,
        failed_keys: failed,
        filtered_out: filter.0,
        filter_errors: filter.1,
    }
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dyno-targets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `dyno --table TABLE --stream STREAM ARGS` on the shared servers, in `dir`.
fn dyno(servers: &Servers, dir: &Path, table: &str, stream: &str, args: &[&str]) -> Output {
    dyno_command(At {
        tables: Some(&servers.primary.endpoint),
        replica: Some(&servers.replica.endpoint),
        kinesis: Some(&servers.kinesis.endpoint),
    })
    .args(["--table", table, "--stream", stream])
    .args(args)
    .current_dir(dir)
    .output()
    .expect("run dyno")
}

/// One CLI test's world: the shared servers, a runtime for plain-SDK calls, both clients, and a
/// scratch directory for its files.
struct Cli {
    servers: std::sync::Arc<Servers>,
    rt: tokio::runtime::Runtime,
    primary: Client,
    replica: Client,
    dir: PathBuf,
}

impl Cli {
    fn new(name: &str) -> Cli {
        let servers = servers();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let (primary, replica) = rt.block_on(clients(&servers));
        let dir = scratch(name);
        Cli {
            servers,
            rt,
            primary,
            replica,
            dir,
        }
    }

    /// Writes `text` to `name` in the scratch directory; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write a file");
        path.to_string_lossy().into_owned()
    }

    /// `dyno --table TABLE --stream STREAM ARGS`.
    fn run(&self, table: &str, stream: &str, args: &[&str]) -> Output {
        dyno(&self.servers, &self.dir, table, stream, args)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `dyno ARGS`, which must succeed; its stdout and stderr.
fn dyno_ok(
    servers: &Servers,
    dir: &Path,
    table: &str,
    stream: &str,
    args: &[&str],
) -> (String, String) {
    let out = dyno(servers, dir, table, stream, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "dyno {args:?}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The `target …` lines of `dyno diff --targets`.
fn target_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("target `"))
        .collect()
}
