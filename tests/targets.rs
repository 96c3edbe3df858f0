//! Targets (`DYNO_TARGETS`, `--targets FILE`) against real servers: dynalite for the primary
//! tables and for the targets' tables, kinesalite for the key stream, the official SDK, and the
//! `dyno` and `replicator` binaries. Each target is judged by a plain-SDK oracle
//! (`common::targets`): what the test's own rule makes of a consistent scan of its primary,
//! against a consistent scan of the target, with exact counts.

mod common;

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

const T1_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t1-full"},
    {"name": "active", "table": "t1-active", "filter": "item.status == \"active\""},
    {"name": "no-email", "table": "t1-no-email", "exclude": ["email"]}
]}"#;

/// Three targets of one primary, fed from one key stream by the dyno writer and `dyno replicate
/// --targets`: a full copy, the active orders only, and every order without its email. Status
/// changes both ways move items into and out of the filtered target; deletes leave every target.
/// Then `dyno diff --targets` agrees, and finds the one item put into `active` behind its back.
#[test]
fn three_targets_from_one_stream() {
    let servers = servers();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (primary, replica) = rt.block_on(clients(&servers));
    let (table, stream_name) = ("t1-orders", "t1-keys");
    let target_tables = ["t1-full", "t1-active", "t1-no-email"];
    rt.block_on(async {
        create_table(&primary, table, &schema()).await;
        for target in target_tables {
            create_table(&replica, target, &schema()).await;
        }
        create_stream(&stream(&servers.kinesis, stream_name).await, 2).await;
    });
    let dir = scratch("three");
    let file = dir.join("targets.json");
    std::fs::write(&file, T1_TARGETS).unwrap();
    let targets_file = file.to_str().unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let replicate = [
        "replicate",
        "--targets",
        targets_file,
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ];
    let run = |args: &[&str]| dyno_ok(&servers, &dir, table, stream_name, args);
    let check = |active: usize, all: usize| {
        rt.block_on(async {
            let p = (&primary, table);
            assert_target(p, (&replica, "t1-full"), &whole, all).await;
            assert_target(p, (&replica, "t1-active"), &active_only, active).await;
            assert_target(p, (&replica, "t1-no-email"), &without_email, all).await;
        })
    };
    let mut model: BTreeMap<String, Order> = BTreeMap::new();
    let assert_primary = |model: &BTreeMap<String, Order>| {
        rt.block_on(async {
            let names = oracle::key_names(&primary, table).await;
            let found = oracle::scan(&primary, table, &names).await;
            let written: BTreeMap<Key, oracle::Normal> = model
                .values()
                .map(|o| (pk(&o.pk), oracle::item(&o.item())))
                .collect();
            assert_eq!(found, written, "the primary does not hold what was written");
        })
    };

    // 60 orders through the writer: 40 active, 20 inactive, 6 without an email.
    let orders: Vec<Order> = (0..60).map(Order::new).collect();
    let lines: Vec<String> = orders.iter().map(Order::line).collect();
    std::fs::write(dir.join("orders.jsonl"), lines.join("\n")).unwrap();
    run(&["import", "orders.jsonl"]);
    model.extend(orders.into_iter().map(|o| (o.pk.clone(), o)));
    assert_primary(&model);
    let (_, stderr) = run(&replicate);
    assert!(stderr.contains("replicated 60 records"), "{stderr}");
    assert!(stderr.contains("0 skipped"), "{stderr}");
    check(40, 60);

    // Twelve status changes both ways (0, 3, 6, 9 become active; the other eight inactive),
    // one new email, and three deletes (o050 and o052 active, o051 inactive).
    let mut changed: Vec<Order> = (0..12).map(|i| Order::new(i).flipped()).collect();
    changed.push(Order {
        email: Some("new20@example.com".into()),
        ..Order::new(20)
    });
    let lines: Vec<String> = changed.iter().map(Order::line).collect();
    std::fs::write(dir.join("changes.jsonl"), lines.join("\n")).unwrap();
    run(&["import", "changes.jsonl"]);
    model.extend(changed.into_iter().map(|o| (o.pk.clone(), o)));
    for gone in ["o050", "o051", "o052"] {
        run(&["delete", "--key", &json!({"pk": {"S": gone}}).to_string()]);
        model.remove(gone);
    }
    assert_primary(&model);
    let (_, stderr) = run(&replicate);
    assert!(stderr.contains("replicated 16 records"), "{stderr}");
    // 40 active, +4 -8 by the changes, -2 by the deletes.
    check(34, 57);

    let diff = ["diff", "--targets", targets_file, "--settle-ms", "0"];
    let (stdout, _) = run(&diff);
    let matching = |name: &str| {
        format!(
            "target `{name}`: the replica matches the primary: 57 items compared, 0 differences"
        )
    };
    assert_eq!(
        target_lines(&stdout),
        [matching("full"), matching("active"), matching("no-email")],
        "{stdout}"
    );

    // Behind the replicator's back: o001 (inactive since the changes) put into `active`.
    let stale = Order::new(1).flipped();
    assert_eq!(stale.status, "inactive");
    rt.block_on(put_items(&replica, "t1-active", vec![stale.item()]));
    let differ = rt.block_on(disagreeing(
        (&primary, table),
        (&replica, "t1-active"),
        &active_only,
    ));
    assert_eq!(differ, BTreeSet::from([pk("o001")]));

    let keys_out = dir.join("keys.jsonl");
    let only_active = [
        &diff[..],
        &[
            "--target",
            "active",
            "--keys-out",
            keys_out.to_str().unwrap(),
        ],
    ]
    .concat();
    let out = dyno(&servers, &dir, table, stream_name, &only_active);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        target_lines(&stdout),
        [
            "target `active`: the replica differs from the primary: 0 missing, 1 extra, 0 \
          different (57 primary items and 35 replica items compared)"
        ],
        "{stdout}"
    );
    let written = std::fs::read_to_string(&keys_out).expect("--keys-out file");
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines,
        [json!({"kind": "extra", "key": {"pk": {"S": "o001"}}, "target": "active"})],
        "{written}"
    );

    // All targets: the other two still match, and the run exits 1.
    let out = dyno(&servers, &dir, table, stream_name, &diff);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines = target_lines(&stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], matching("full"));
    assert!(
        lines[1].starts_with("target `active`: the replica differs"),
        "{stdout}"
    );
    assert_eq!(lines[2], matching("no-email"));
    let _ = std::fs::remove_dir_all(&dir);
}

const T2_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t2-full"},
    {"name": "active", "table": "t2-active", "filter": "item.status == \"active\""},
    {"name": "no-email", "table": "t2-no-email", "exclude": ["email"]}
]}"#;

/// One of three targets (`no-email`, behind the fault proxy) answers its first `BatchWriteItem`
/// call with 500s until the SDK gives up: exactly the records of the keys of that call fail, the
/// other targets converge, and only `no-email` counts failed keys. With the fault gone, the
/// failed records, handled again, make all three converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_fails_only_the_records_of_its_keys() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    let table = "t2-orders";
    create_table(&primary, table, &schema()).await;
    for target in ["t2-full", "t2-active", "t2-no-email"] {
        create_table(&replica, target, &schema()).await;
    }
    // The primary: 80 orders (27 inactive). Each target: stale copies of ten deleted keys
    // d000..d009; `active`, a stale copy of two inactive orders too.
    let orders: Vec<Order> = (0..80).map(Order::new).collect();
    put_items(&primary, table, orders.iter().map(Order::item).collect()).await;
    let deleted: Vec<Order> = (0..10)
        .map(|i| Order {
            pk: format!("d{i:03}"),
            ..Order::new(i + 1)
        })
        .collect();
    for target in ["t2-full", "t2-active", "t2-no-email"] {
        put_items(&replica, target, deleted.iter().map(Order::item).collect()).await;
    }
    let stale = [
        Order::new(0).flipped().item(),
        Order::new(3).flipped().item(),
    ];
    put_items(&replica, "t2-active", stale.to_vec()).await;

    let proxy = FaultProxy::start(servers.replica.port).await;
    // One worker, one call at a time: the SDK's three attempts of the failing call are the
    // proxy's first three BatchWriteItem requests (and a slow machine does not time out others).
    let tuning = Tuning {
        concurrency: 1,
        write_attempt_timeout: Duration::from_secs(5),
        ..tuning()
    };
    let specs = targets::parse(T2_TARGETS, "T2_TARGETS").expect("targets");
    let mut tables = Vec::new();
    for spec in specs {
        let endpoint = match spec.name.as_str() {
            "no-email" => proxy.endpoint.clone(),
            _ => servers.replica.endpoint.clone(),
        };
        let table = table_at(&endpoint, "us-east-1", &spec.table, &tuning, None).await;
        tables.push(TargetTable { spec, table });
    }
    let primary_table =
        table_at(&servers.primary.endpoint, "us-east-1", table, &tuning, None).await;
    let engines = deployment::connect(primary_table, tables, &[], &tuning)
        .await
        .expect("connect");
    assert_eq!(engines.len(), 1);
    let replicator = Replicator::new(engines, tuning.clone());

    // 110 records: the 80 orders, the 10 deleted keys, and the first 20 orders again.
    let mut data: Vec<Vec<u8>> = Vec::new();
    let keys = orders.iter().chain(&deleted).map(|o| o.pk.clone());
    let keys: Vec<String> = keys.chain((0..20).map(|i| format!("o{i:03}"))).collect();
    for (n, key) in keys.iter().enumerate() {
        data.push(pk_record(key, n as u64 + 1));
    }
    let event = kinesis_event_from(1, data);

    proxy.reset_stats();
    let attempts = tuning.max_attempts as usize;
    let script = vec![Some(Fault::InternalServerError); attempts];
    proxy.set_plan(Plan::script(&["BatchWriteItem"], &script));
    let (response, summary) = replicator.handle(&event, None).await;
    let stats = proxy.stats();
    proxy.set_plan(Plan::off());

    // The keys of the failing call: those on which `no-email` does not hold what its rule
    // makes of the primary (every key differed before the batch).
    let p = (&primary, table);
    let failing = disagreeing(p, (&replica, "t2-no-email"), &without_email).await;
    assert!(
        !failing.is_empty() && failing.len() <= 25,
        "one call of at most 25 writes failed, not {} keys",
        failing.len()
    );
    let failed_records: Vec<&KinesisEventRecord> = event
        .records
        .iter()
        .filter(|r| failing.contains(&pk(&record_pk(r))))
        .collect();
    let expected: Vec<String> = failed_records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    assert_eq!(failures(&response), expected);
    // One worker reads the 90 keys at once and writes them in calls of 25 in the records'
    // order: the failing call is the first, o000..o024, whose records are 1..=25 and 91..=110.
    let first_call: Vec<String> = (1..=25)
        .chain(91..=110)
        .map(|n| format!("{n:056}"))
        .collect();
    assert_eq!(expected, first_call);
    assert_eq!(
        stats.injected("BatchWriteItem", Fault::InternalServerError),
        attempts as u64
    );
    assert_eq!(stats.total(), attempts as u64);
    // The failing call's attempts, then one call for each 25 of the other 65 keys.
    assert_eq!(
        stats.requests.get("BatchWriteItem"),
        Some(&(attempts as u64 + 3))
    );

    // The other two targets converged.
    assert_target(p, (&replica, "t2-full"), &whole, 80).await;
    assert_target(p, (&replica, "t2-active"), &active_only, 53).await;
    let failed_orders = orders
        .iter()
        .filter(|o| failing.contains(&pk(&o.pk)))
        .count();
    let failed_deletes = failing.len() - failed_orders;
    assert_eq!((failed_orders, failed_deletes), (25, 0));
    assert_eq!(
        summary.targets,
        [
            counts("full", (80, 10), 0, (0, 0)),
            counts("active", (53, 10 + 27), 0, (27, 0)),
            counts(
                "no-email",
                (80 - failed_orders, 10 - failed_deletes),
                25,
                (0, 0)
            ),
        ]
    );
    assert_eq!(
        (summary.records, summary.keys, summary.failed_records),
        (110, 90, 45)
    );
    assert_eq!(
        (summary.unusable_records, summary.deadline_failures),
        (0, 0)
    );

    // The fault is gone: the failed records, handled again, complete every target.
    proxy.reset_stats();
    let mut again = KinesisEvent::default();
    again.records = failed_records.into_iter().cloned().collect();
    let (response, summary) = replicator.handle(&again, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(proxy.stats().total(), 0);
    assert!(proxy.stats().requests.get("BatchWriteItem") >= Some(&1));
    assert_target(p, (&replica, "t2-full"), &whole, 80).await;
    assert_target(p, (&replica, "t2-active"), &active_only, 53).await;
    assert_target(p, (&replica, "t2-no-email"), &without_email, 80).await;
    // o000..o024: 9 inactive (0, 3, …, 24).
    assert_eq!(
        summary.targets,
        [
            counts("full", (25, 0), 0, (0, 0)),
            counts("active", (16, 9), 0, (9, 0)),
            counts("no-email", (25, 0), 0, (0, 0)),
        ]
    );
}

/// The configuration `from_lookup` reads: the shared servers, `t3-orders` as the primary, and
/// `targets` as `DYNO_TARGETS`.
fn t3_config(servers: &Servers, targets: &str) -> Result<Config, String> {
    let values = HashMap::from([
        ("PRIMARY_TABLE", "t3-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("DYNO_TARGETS", targets.to_owned()),
    ]);
    Config::from_lookup(|name| values.get(name).cloned()).map_err(|e| e.to_string())
}

/// The one-line message `from_lookup` refuses `targets` with.
fn refused(servers: &Servers, targets: &str) -> String {
    let message = match t3_config(servers, targets) {
        Ok(config) => panic!("accepted {targets}: {:?}", config.targets),
        Err(message) => message,
    };
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// The one-line message `replicator()` (which checks the targets' real tables) refuses
/// `targets` with.
async fn refused_at_connect(servers: &Servers, targets: &str) -> String {
    let config = t3_config(servers, targets).expect("parsed");
    let message = match config.replicator(&sdk_config().await).await {
        Ok(_) => panic!("connected {targets}"),
        Err(error) => error.to_string(),
    };
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// `DYNO_TARGETS` of `count` targets, `t3-many-N`.
fn many_targets(count: usize) -> String {
    let targets: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            json!({"name": format!("target-{i:03}"), "table": format!("t3-many-{i:03}"),
                   "filter": "item.status == \"active\"", "exclude": ["email"]})
        })
        .collect();
    json!({ "targets": targets }).to_string()
}

/// The `replicator` binary with `DYNO_TARGETS` = `targets` on the shared servers and nothing of
/// this process's environment: its exit and stderr. It must end on its own (within 60 s).
fn run_replicator(servers: &Servers, targets: &str) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_replicator"));
    command.env_clear();
    local_aws_env(&mut command)
        .env("PRIMARY_TABLE", "t3-orders")
        .env("PRIMARY_ENDPOINT_URL", &servers.primary.endpoint)
        .env("REPLICA_ENDPOINT_URL", &servers.replica.endpoint)
        .env("DYNO_TARGETS", targets)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("start the replicator");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the replicator did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("its output");
    (out.status.code(), text(&out.stderr))
}

/// Bad target configurations are refused when the replicator starts, each with one line that
/// names what to fix: through `Config::from_lookup`, `Config::replicator` (what needs the real
/// target table), and the `replicator` binary, which exits before the Lambda runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_are_refused_at_init_in_one_line() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    create_table(&primary, "t3-orders", &schema()).await;
    create_table(&replica, "t3-copy", &schema()).await;
    create_with_indexes(&replica, "t3-indexed", &[("by-status", keys_only())]).await;

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy", "colour": "red"}]}"#,
    );
    assert!(
        message.starts_with("DYNO_TARGETS: unknown field `colour`, expected one of `name`, ")
            && message.ends_with("`exclude`, `ttl` at line 1 column 55"),
        "{message}"
    );
    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}], "target": []}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: unknown field `target`, expected `targets` at line 1 column 57"
    );

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy", "filter": "item.status =="}]}"#,
    );
    assert!(
        message.starts_with(
            "DYNO_TARGETS: target `a`: the filter `item.status ==` does not compile: line 1, \
             column 15: Syntax error: "
        ),
        "{message}"
    );

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}, {"name": "a", "table": "t3-other"}]}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: two targets are named `a`: give each its own name"
    );
    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}, {"name": "b", "table": "t3-copy"}]}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: targets `a` and `b` both write to table `t3-copy`: give each target its \
         own table"
    );

    // 4096 bytes pass; 4097 are refused before they are parsed.
    let one = r#"{"targets": [{"name": "a", "table": "t3-copy"}]}"#;
    let padded = |len: usize| format!("{one}{}", " ".repeat(len - one.len()));
    let config = t3_config(&servers, &padded(4096)).expect("4096 bytes");
    assert_eq!(config.targets.map(|t| t.len()), Some(1));
    let message = refused(&servers, &padded(4097));
    assert!(
        message.starts_with(
            "DYNO_TARGETS is 4097 bytes, over 4096: Lambda's environment variables together \
             may hold at most 4 KB"
        ),
        "{message}"
    );
    let many = many_targets(45);
    assert!(many.len() > 4096, "{}", many.len());
    let message = refused(&servers, &many);
    let over = format!("DYNO_TARGETS is {} bytes, over 4096: ", many.len());
    assert!(message.starts_with(&over), "{message}");

    // `exclude` naming a key attribute of the table, or of one of its indexes: known only
    // from the real table.
    let key_message = |name: &str| {
        format!(
            "target `x`: `exclude` names `{name}`, which a target always keeps (a key attribute \
             of its table or of one of its indexes, or the primary's TTL attribute): remove it \
             from the list"
        )
    };
    let exclude = |table: &str, names: &[&str]| {
        json!({"targets": [{"name": "x", "table": table, "exclude": names}]}).to_string()
    };
    let message = refused_at_connect(&servers, &exclude("t3-copy", &["email", "pk"])).await;
    assert_eq!(message, key_message("pk"));
    let message = refused_at_connect(&servers, &exclude("t3-indexed", &["status"])).await;
    assert_eq!(message, key_message("status"));
    let config = t3_config(&servers, &exclude("t3-indexed", &["email"])).expect("parsed");
    let replicator = config.replicator(&sdk_config().await).await;
    assert!(replicator.is_ok(), "{:?}", replicator.err());

    // The binary: the same messages, as `replicator: <one line>` on stderr, and a non-zero exit
    // before the Lambda runtime starts.
    let servers_ref = servers.clone();
    let many_for_binary = many.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let s = &servers_ref;
        [
            run_replicator(s, &many_for_binary),
            run_replicator(s, &exclude("t3-copy", &["pk"])),
            run_replicator(s, &exclude("t3-copy", &["email"])),
        ]
    })
    .await
    .expect("the replicator runs");
    let [(too_big, too_big_err), (key, key_err), (good, good_err)] = runs;
    let init_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.starts_with("replicator: "))
            .map(str::to_owned)
            .collect()
    };
    // Each says one thing on stderr: its one line.
    assert!(
        too_big.is_some_and(|c| c != 0),
        "{too_big:?}: {too_big_err}"
    );
    assert_eq!(too_big_err.lines().count(), 1, "{too_big_err}");
    assert!(
        too_big_err.starts_with(&format!("replicator: {over}")),
        "{too_big_err}"
    );
    assert_eq!(init_lines(&too_big_err).len(), 1, "{too_big_err}");
    assert!(key.is_some_and(|c| c != 0), "{key:?}: {key_err}");
    assert_eq!(key_err, format!("replicator: {}\n", key_message("pk")));
    // The Lambda runtime, started with none of its environment, stops at once, saying so.
    let runtime_started = |stderr: &str| stderr.contains("lambda_runtime");
    for stderr in [&too_big_err, &key_err] {
        assert!(!runtime_started(stderr), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A good configuration gets past init, to the Lambda runtime.
    assert!(init_lines(&good_err).is_empty(), "{good:?}: {good_err}");
    assert!(
        runtime_started(&good_err) && good_err.contains("Missing AWS_LAMBDA_"),
        "{good:?}: {good_err}"
    );
}

const T4_TARGETS: &str = r#"{"targets": [
    {"name": "orders-copy", "table": "t4-orders-copy", "source": "t4-orders"},
    {"name": "orders-active", "table": "t4-orders-active", "source": "t4-orders",
     "filter": "item.status == \"active\""},
    {"name": "users-public", "table": "t4-users-public", "source": "t4-users",
     "exclude": ["email"]}
]}"#;

/// One deployment (from `DYNO_TARGETS`) follows two primary tables with the same key schema and
/// the same key values: one batch holds records of both, naming their table by `tableName` or
/// by `eventSourceARN`, and one record of a third table. Each primary's items reach only its
/// own targets; the third table's record is the only failed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_primary_tables_in_one_deployment() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    for table in ["t4-orders", "t4-users", "t4-other"] {
        create_table(&primary, table, &schema()).await;
    }
    for table in ["t4-orders-copy", "t4-orders-active", "t4-users-public"] {
        create_table(&replica, table, &schema()).await;
    }
    // Orders k00..k29 (10 inactive); users k00..k19, every fourth inactive (5), other
    // attributes than orders. The third table holds k00 as well.
    let orders: Vec<Item> = (0..30)
        .map(|i| {
            let mut item = Order::new(i).item();
            item.insert("pk".into(), s(&format!("k{i:02}")));
            item
        })
        .collect();
    let users: Vec<Item> = (0..20)
        .map(|i| {
            HashMap::from([
                ("pk".to_owned(), s(&format!("k{i:02}"))),
                (
                    "status".to_owned(),
                    s(if i % 4 == 0 { "inactive" } else { "active" }),
                ),
                ("email".to_owned(), s(&format!("person{i}@example.com"))),
                ("name".to_owned(), s(&format!("Person {i}"))),
            ])
        })
        .collect();
    put_items(&primary, "t4-orders", orders).await;
    put_items(&primary, "t4-users", users).await;
    put_items(&primary, "t4-other", vec![Order::new(0).item()]).await;
    // Stale items of keys the primaries no longer hold: k90 (orders), k91 (users).
    let stale = |key: &str| {
        let mut item = Order::new(1).item();
        item.insert("pk".into(), s(key));
        item
    };
    put_items(&replica, "t4-orders-copy", vec![stale("k90")]).await;
    put_items(&replica, "t4-orders-active", vec![stale("k90")]).await;
    put_items(&replica, "t4-users-public", vec![stale("k91")]).await;

    let values = HashMap::from([
        ("PRIMARY_TABLE", "t4-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("REPLICATOR_MAX_ATTEMPTS", "3".to_owned()),
        ("DYNO_TARGETS", T4_TARGETS.to_owned()),
    ]);
    let config = Config::from_lookup(|name| values.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    let engines: Vec<(&str, Vec<&str>)> = replicator
        .engines()
        .iter()
        .map(|e| {
            let targets = e.targets().iter().map(|t| t.name.as_str()).collect();
            (e.primary().name(), targets)
        })
        .collect();
    assert_eq!(
        engines,
        [
            ("t4-orders", vec!["orders-copy", "orders-active"]),
            ("t4-users", vec!["users-public"]),
        ]
    );

    // One batch: orders (by tableName) and users (by eventSourceARN) interleaved, the third
    // table's k00 in the middle, and k00 of both again at the end.
    let mut data = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let order_keys = (0..30)
        .map(|i| format!("k{i:02}"))
        .chain(["k90".to_owned()]);
    let user_keys: Vec<String> = (0..20)
        .map(|i| format!("k{i:02}"))
        .chain(["k91".to_owned()])
        .collect();
    for (i, key) in order_keys.enumerate() {
        data.push(named_record(Some("t4-orders"), None, &key, next()));
        if let Some(user) = user_keys.get(i) {
            data.push(named_record(None, Some("t4-users"), user, next()));
        }
        if i == 10 {
            data.push(named_record(Some("t4-other"), None, "k00", next()));
        }
    }
    let third = 10 * 2 + 2 + 1; // after 11 orders, 11 users
    data.push(named_record(
        Some("t4-orders"),
        Some("t4-orders"),
        "k00",
        next(),
    ));
    data.push(named_record(None, Some("t4-users"), "k00", next()));
    let event = kinesis_event_from(1, data);
    assert_eq!(event.records.len(), 31 + 21 + 1 + 2);
    assert!(
        text(&event.records[third - 1].kinesis.data).contains("t4-other"),
        "the third table's record is number {third}"
    );

    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(failures(&response), [format!("{third:056}")]);
    assert_eq!(
        (summary.records, summary.keys, summary.failed_records),
        (55, 52, 1)
    );
    assert_eq!(summary.unusable_records, 1);
    assert_eq!(
        summary.targets,
        [
            counts("orders-copy", (30, 1), 0, (0, 0)),
            counts("orders-active", (20, 11), 0, (10, 0)),
            counts("users-public", (20, 1), 0, (0, 0)),
        ]
    );

    let (orders, users) = ((&primary, "t4-orders"), (&primary, "t4-users"));
    assert_target(orders, (&replica, "t4-orders-copy"), &whole, 30).await;
    assert_target(orders, (&replica, "t4-orders-active"), &active_only, 20).await;
    assert_target(users, (&replica, "t4-users-public"), &without_email, 20).await;
    // Nothing of the third table went anywhere: the targets hold only their primaries' items
    // (checked whole above), and the third table is as it was.
    let other = scan_all(&primary, "t4-other", &schema()).await;
    assert_eq!(other.len(), 1);
}

const T10_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t10-full"},
    {"name": "scored", "table": "t10-scored", "filter": "item.score > 3"}
]}"#;

/// A filter that fails on an item leaves the target's copy as it was: `item.score > 3` on
/// twelve orders, o008 and o009 without a score, o010's a string, o011's a number with more
/// digits than a CEL number holds exactly. Exactly those four keys' records fail (the filter
/// errors counted), the target keeps their stale copies (a plain scan), and `full` gets every
/// write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_fails_on_an_item_leaves_the_target_s_copy_and_fails_its_records() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    create_table(&primary, "t10-orders", &schema()).await;
    for table in ["t10-full", "t10-scored"] {
        create_table(&replica, table, &schema()).await;
    }
    let number = |n: &str| aws_sdk_dynamodb::types::AttributeValue::N(n.to_owned());
    let orders: Vec<Item> = (0..12)
        .map(|i| {
            let mut item = Order::new(i).item();
            match i {
                0..8 => item.insert("score".into(), number(&i.to_string())),
                8 | 9 => None,
                10 => item.insert("score".into(), s("high")),
                _ => item.insert("score".into(), number("12345678901234567890.5")),
            };
            item
        })
        .collect();
    put_items(&primary, "t10-orders", orders.clone()).await;
    // Stale copies on `scored`: o000 (now filtered out: deleted) and the four it fails on.
    let stale: Vec<Item> = [0, 8, 9, 10, 11]
        .map(|i| Order::new(i).flipped().item())
        .to_vec();
    put_items(&replica, "t10-scored", stale.clone()).await;

    let values = HashMap::from([
        ("PRIMARY_TABLE", "t10-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("REPLICATOR_MAX_ATTEMPTS", "3".to_owned()),
        ("DYNO_TARGETS", T10_TARGETS.to_owned()),
    ]);
    let config = Config::from_lookup(|name| values.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    let data = (0..12)
        .map(|i| pk_record(&format!("o{i:03}"), i + 1))
        .collect();
    let (response, summary) = replicator.handle(&kinesis_event_from(1, data), None).await;

    let failing: Vec<String> = (9..=12).map(|n| format!("{n:056}")).collect();
    assert_eq!(failures(&response), failing, "the records of o008..o011");
    assert_eq!((summary.keys, summary.failed_records), (12, 4));
    assert_eq!(
        summary.targets,
        [
            counts("full", (12, 0), 0, (0, 0)),
            counts("scored", (4, 4), 4, (4, 4)),
        ]
    );
    let p = (&primary, "t10-orders");
    assert_target(p, (&replica, "t10-full"), &whole, 12).await;
    let names = oracle::key_names(&replica, "t10-scored").await;
    let held = oracle::scan(&replica, "t10-scored", &names).await;
    let kept = orders[4..8].iter().chain(&stale[1..]);
    let expected: BTreeMap<Key, oracle::Normal> = kept
        .map(|item| (Key::of(&names, item), oracle::item(item)))
        .collect();
    assert_eq!(
        held, expected,
        "o004..o007 put, o000 deleted, o008..o011 as they were"
    );
}

/// The global secondary indexes of `name`, by DescribeTable (plain SDK): index → its key
/// schema and projection, e.g. `status HASH; INCLUDE [email]`; and the attribute definitions.
async fn described(client: &Client, name: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let table = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
        .table
        .expect("a table");
    let indexes = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let keys: Vec<String> = index
                .key_schema()
                .iter()
                .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
                .collect();
            let projection = index.projection().expect("a projection");
            let mut shown = projection
                .projection_type()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            if !projection.non_key_attributes().is_empty() {
                let mut others = projection.non_key_attributes().to_vec();
                others.sort();
                shown.push_str(&format!(" [{}]", others.join(", ")));
            }
            let name = index.index_name().expect("an index name").to_owned();
            (name, format!("{}; {shown}", keys.join(", ")))
        })
        .collect();
    let mut attributes: Vec<String> = table
        .attribute_definitions()
        .iter()
        .map(|a| format!("{} {}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    attributes.sort();
    (indexes, attributes)
}

/// True when `name` exists (DescribeTable, plain SDK).
async fn exists(client: &Client, name: &str) -> bool {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => panic!("DescribeTable {name}: {e:?}"),
    }
}

/// Creates `name` (pk S) with the plain SDK, with global indexes on `status` (S), each named
/// and projected as `indexes` says.
async fn create_with_indexes(client: &Client, name: &str, indexes: &[(&str, Projection)]) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let hash = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .unwrap()
    };
    let index = |(name, projection): &(&str, Projection)| {
        GlobalSecondaryIndex::builder()
            .index_name(*name)
            .key_schema(hash("status"))
            .projection(projection.clone())
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("status"))
        .key_schema(hash("pk"))
        .set_global_secondary_indexes(Some(indexes.iter().map(index).collect()))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable with indexes");
}

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

/// `byStatus` (ALL) and `byStatusEmail` (INCLUDE `email`).
fn orders_indexes() -> [(&'static str, Projection); 2] {
    let all = Projection::builder()
        .projection_type(ProjectionType::All)
        .build();
    let email = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes("email")
        .build();
    [("byStatus", all), ("byStatusEmail", email)]
}

const T5_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t5-full"},
    {"name": "no-email", "table": "t5-no-email", "exclude": ["email"]},
    {"name": "slim", "table": "t5-slim", "include": ["n"]}
]}"#;

/// A fourth target, its table made by hand without indexes.
const T5_HAND: &str = r#"{"targets": [
    {"name": "full", "table": "t5-full"},
    {"name": "hand", "table": "t5-hand", "exclude": ["email"]}
]}"#;

/// `dyno create --targets` makes each target table from the primary's definition with only the
/// indexes whose every attribute the target keeps, and leaves existing ones as they are;
/// `dyno check --targets` finds them matching (text and `--json`), and finds the index missing
/// on a target made by hand.
#[test]
fn create_and_check_targets_keep_only_the_indexes_they_can_fill() {
    let cli = Cli::new("create");
    let (rt, primary, replica, dir) = (&cli.rt, &cli.primary, &cli.replica, &cli.dir);
    let table = "t5-orders";
    rt.block_on(create_with_indexes(primary, table, &orders_indexes()));
    let targets_file = &cli.file("targets.json", T5_TARGETS);
    let run = |args: &[&str]| cli.run(table, "t5-none", args);

    let create = ["create", "--no-stream", "--targets", targets_file];
    let out = run(&create);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let created = |table: &str, indexes: &str| {
        format!(
            "table `{table}` (pk (S, partition key)): created with global indexes: {indexes}; \
             local indexes: none; PAY_PER_REQUEST; deletion protection not known to this server"
        )
    };
    let said: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        said,
        [
            "target `full`:".to_owned(),
            created("t5-full", "byStatus, byStatusEmail"),
            "target `no-email`:".to_owned(),
            created("t5-no-email", "byStatus"),
            "target `slim`:".to_owned(),
            created("t5-slim", "none"),
        ],
        "{stderr}"
    );

    let all = "status HASH; ALL".to_owned();
    let with_email = "status HASH; INCLUDE [email]".to_owned();
    let (pk_status, pk_only) = (vec!["pk S", "status S"], vec!["pk S"]);
    let expected = [
        (
            "t5-full",
            BTreeMap::from([
                ("byStatus".to_owned(), all.clone()),
                ("byStatusEmail".to_owned(), with_email.clone()),
            ]),
            pk_status.clone(),
        ),
        (
            "t5-no-email",
            BTreeMap::from([("byStatus".to_owned(), all.clone())]),
            pk_status.clone(),
        ),
        ("t5-slim", BTreeMap::new(), pk_only.clone()),
    ];
    let describe_all = || {
        rt.block_on(async {
            let mut found = Vec::new();
            for (name, _, _) in &expected {
                found.push(described(replica, name).await);
            }
            found
        })
    };
    let made = describe_all();
    for ((name, indexes, attributes), (found, defined)) in expected.iter().zip(&made) {
        assert_eq!(found, indexes, "the indexes of {name}");
        assert_eq!(defined, attributes, "the attribute definitions of {name}");
    }
    // The primary is as it was.
    let (primary_indexes, _) = rt.block_on(described(primary, table));
    assert_eq!(
        primary_indexes,
        BTreeMap::from([
            ("byStatus".to_owned(), all.clone()),
            ("byStatusEmail".to_owned(), with_email.clone()),
        ])
    );

    // Again: every target exists and is left as it is.
    let out = run(&create);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "target `full`:",
            "table `t5-full` (pk (S, partition key)): exists, left as it is",
            "target `no-email`:",
            "table `t5-no-email` (pk (S, partition key)): exists, left as it is",
            "target `slim`:",
            "table `t5-slim` (pk (S, partition key)): exists, left as it is",
        ],
        "{stderr}"
    );
    assert_eq!(describe_all(), made);

    // `check --targets`: each target matches what it should be.
    let check = ["check", "--targets", targets_file];
    let out = run(&check);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let matches = "check: the replica matches the primary's definition";
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "target `full`:",
            matches,
            "target `no-email`:",
            matches,
            "target `slim`:",
            matches
        ],
        "{stdout}"
    );
    assert_eq!(stderr, "");

    // `--json`: one object per target, nothing else.
    let out = run(&[&check[..], &["--json"]].concat());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let object = |name: &str, target: &str| {
        json!({
            "target": name,
            "primary": "--table=t5-orders",
            "replica": format!("--targets={target}"),
            "matches": true,
            "applied": [],
            "differences": [],
            "summary": matches,
        })
    };
    assert_eq!(
        lines,
        [
            object("full", "t5-full"),
            object("no-email", "t5-no-email"),
            object("slim", "t5-slim")
        ],
        "{stdout}"
    );

    // A fourth target, made by hand without indexes: `--target hand` checks it alone, and
    // names the one index it should have (it keeps `status`, not `email`).
    rt.block_on(create_table(replica, "t5-hand", &schema()));
    let hand_file = dir.join("hand.json");
    std::fs::write(&hand_file, T5_HAND).unwrap();
    let hand = [
        "check",
        "--targets",
        hand_file.to_str().unwrap(),
        "--target",
        "hand",
    ];
    let out = run(&hand);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "target `hand`:",
            "index byStatus: missing on the replica",
            "check: 1 difference (1 that `dyno check --apply` adds, 0 for a person to decide)",
        ],
        "{stdout}"
    );
    let out = run(&[&hand[..], &["--json"]].concat());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(json["replica"], "--targets=t5-hand");
    assert_eq!(json["target"], "hand");
    assert_eq!(json["matches"], false);
    let whats: Vec<&str> = json["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| d["what"].as_str().expect("what"))
        .collect();
    assert_eq!(whats, ["index byStatus"], "{json}");
    // Both targets of the file: `full` matches, `hand` does not, and the run exits 1.
    let out = run(&hand[..3]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("target `")).count(),
        2
    );
    assert!(stdout.starts_with(&format!("target `full`:\n{matches}\n")));
}

fn inactive_without_email(item: &Item) -> Option<Item> {
    (item.get("status") == Some(&s("inactive")))
        .then(|| item.clone())
        .and_then(|item| without_email(&item))
}

fn active_without_email(item: &Item) -> Option<Item> {
    active_only(item).and_then(|item| without_email(&item))
}

/// The targets of `t7-orders`: a full copy, and `active` with `filter`, without email.
fn t7_targets(filter: &str) -> String {
    json!({"targets": [
        {"name": "all", "table": "t7-all"},
        {"name": "active", "table": "t7-active", "filter": filter, "exclude": ["email"]}
    ]})
    .to_string()
}

/// `dyno backfill --direct --targets` copies every item of the primary to each target as its
/// rule says (no stream, no replicator); after the filter changes, a second backfill applies the
/// new filter to the old items: what no longer matches leaves the target.
#[test]
fn backfill_direct_fills_each_target_and_applies_a_changed_filter() {
    let cli = Cli::new("backfill");
    let (rt, primary, replica, dir) = (&cli.rt, &cli.primary, &cli.replica, &cli.dir);
    let table = "t7-orders";
    // 100 orders: 34 inactive (0, 3, …, 99), 10 without an email.
    let orders: Vec<Order> = (0..100).map(Order::new).collect();
    rt.block_on(async {
        create_table(primary, table, &schema()).await;
        for target in ["t7-all", "t7-active"] {
            create_table(replica, target, &schema()).await;
        }
        put_items(primary, table, orders.iter().map(Order::item).collect()).await;
        // A stale item in `all`, of a key the primary does not hold, is left alone: a
        // backfill copies the primary's keys only.
        let stale = Order {
            pk: "z999".into(),
            ..Order::new(1)
        };
        put_items(replica, "t7-all", vec![stale.item()]).await;
    });
    let file = dir.join("targets.json");
    std::fs::write(&file, t7_targets("item.status == \"active\"")).unwrap();
    let backfill = ["backfill", "--direct", "--targets", file.to_str().unwrap()];
    let run = || dyno_ok(&cli.servers, dir, table, "t7-none", &backfill);

    let (_, stderr) = run();
    assert!(
        stderr.starts_with("backfill: 100 keys of `t7-orders` "),
        "{stderr}"
    );
    rt.block_on(async {
        let p = (primary, table);
        // `all`: the 100 orders, and the stale z999 (the only key the oracle sees extra).
        let extra = disagreeing(p, (replica, "t7-all"), &whole).await;
        assert_eq!(extra, BTreeSet::from([pk("z999")]));
        let names = oracle::key_names(replica, "t7-all").await;
        assert_eq!(oracle::scan(replica, "t7-all", &names).await.len(), 101);
        assert_target(p, (replica, "t7-active"), &active_without_email, 66).await;
    });

    // The filter changes: the next backfill puts the inactive orders and deletes the active.
    std::fs::write(&file, t7_targets("item.status == \"inactive\"")).unwrap();
    let (_, stderr) = run();
    assert!(
        stderr.starts_with("backfill: 100 keys of `t7-orders` "),
        "{stderr}"
    );
    rt.block_on(async {
        let p = (primary, table);
        assert_target(p, (replica, "t7-active"), &inactive_without_email, 34).await;
        let extra = disagreeing(p, (replica, "t7-all"), &whole).await;
        assert_eq!(extra, BTreeSet::from([pk("z999")]));
    });
    // Exactly the inactive orders, by the test's own list, none with an email.
    let held = rt.block_on(scan_all(replica, "t7-active", &schema()));
    let mut keys: Vec<String> = held
        .values()
        .map(|item| match item.get("pk") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) => pk.clone(),
            other => panic!("pk {other:?}"),
        })
        .collect();
    keys.sort();
    let inactive: Vec<String> = orders
        .iter()
        .filter(|o| o.status == "inactive")
        .map(|o| o.pk.clone())
        .collect();
    assert_eq!(keys, inactive);
    assert!(held.values().all(|item| !item.contains_key("email")));
}

/// A plain Kinesis client for the shared kinesalite.
async fn kinesis(servers: &Servers) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::config::Builder::from(&sdk_config().await)
        .endpoint_url(&servers.kinesis.endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// The JSON of every record on the stream, from the trim horizon of each shard.
async fn records_on(servers: &Servers, stream: &str) -> Vec<serde_json::Value> {
    let client = kinesis(servers).await;
    stream_records(&client, stream)
        .await
        .iter()
        .map(|r| serde_json::from_slice(r.data().as_ref()).expect("a JSON record"))
        .collect()
}

/// `--table-arn` (and `DYNO_TABLE_ARN`): the writer names the table in each key record by
/// `eventSourceARN`; an ARN of another table is refused before anything is written.
#[test]
fn the_writer_names_its_table_by_the_table_arn() {
    let cli = Cli::new("arn");
    let (rt, primary, dir, servers) = (&cli.rt, &cli.primary, &cli.dir, &cli.servers);
    let (table, stream_name) = ("t8-orders", "t8-keys");
    rt.block_on(async {
        create_table(primary, table, &schema()).await;
        create_stream(&stream(&servers.kinesis, stream_name).await, 2).await;
    });
    let arn = format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}");
    let item = |pk: &str| Order::new(1).item_json(pk);

    dyno_ok(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("a1"), "--table-arn", &arn],
    );
    let records = rt.block_on(records_on(servers, stream_name));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["eventSourceARN"], json!(arn), "{}", records[0]);
    assert_eq!(records[0]["dynamodb"]["Keys"], json!({"pk": {"S": "a1"}}));

    // The same from the environment.
    let out = dyno_command(At {
        tables: Some(&servers.primary.endpoint),
        replica: Some(&servers.replica.endpoint),
        kinesis: Some(&servers.kinesis.endpoint),
    })
    .env("DYNO_TABLE_ARN", &arn)
    .args(["--table", table, "--stream", stream_name])
    .args(["put", "--item", &item("a2")])
    .current_dir(dir)
    .output()
    .expect("run dyno");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without it, no `eventSourceARN`.
    dyno_ok(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("a3")],
    );
    let records = rt.block_on(records_on(servers, stream_name));
    let by_key: BTreeMap<String, Option<String>> = records
        .iter()
        .map(|r| {
            let pk = r["dynamodb"]["Keys"]["pk"]["S"]
                .as_str()
                .expect("pk")
                .to_owned();
            (pk, r["eventSourceARN"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        by_key,
        BTreeMap::from([
            ("a1".to_owned(), Some(arn.clone())),
            ("a2".to_owned(), Some(arn.clone())),
            ("a3".to_owned(), None),
        ])
    );

    // An ARN of another table: refused in one line naming the flag; nothing written.
    let other = "arn:aws:dynamodb:us-east-1:000000000000:table/t8-other";
    let out = dyno(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("b1"), "--table-arn", other],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("error: --table-arn {other} names table `t8-other`, not --table `{table}`\n")
    );
    // Not an ARN of a table at all.
    let out = dyno(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("b2"), "--table-arn", table],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!(
        "error: --table-arn {table} is not a DynamoDB table ARN"
    )));
    rt.block_on(async {
        for key in ["b1", "b2"] {
            let got = primary
                .get_item()
                .table_name(table)
                .key("pk", s(key))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem");
            assert_eq!(got.item, None, "{key} was written");
        }
        let found = scan_all(primary, table, &schema()).await;
        assert_eq!(found.len(), 3);
    });
    assert_eq!(rt.block_on(records_on(servers, stream_name)).len(), 3);
}

const T9_TARGETS: &str = r#"{"targets": [
    {"name": "copy", "table": "t9-copy"},
    {"name": "active", "table": "t9-active", "filter": "item.status == \"active\""}
]}"#;

/// `--target NAME` must name a target of `--targets FILE` (the message lists them), and is a
/// usage error without `--targets`; nothing is created.
#[test]
fn target_names_a_target_of_the_file() {
    let cli = Cli::new("names");
    let (rt, primary, replica) = (&cli.rt, &cli.primary, &cli.replica);
    let table = "t9-orders";
    rt.block_on(create_table(primary, table, &schema()));
    let targets_file = &cli.file("targets.json", T9_TARGETS);
    let run = |args: &[&str]| cli.run(table, "t9-none", args);
    let unknown = format!(
        "error: --target NOPE: {targets_file} has no target of that name (it has: copy, active)\n"
    );
    // `check` and `diff` exit 2 (could not compare); `create` and `backfill`, 1.
    let with_nope = ["--targets", targets_file, "--target", "NOPE"];
    let commands: [(&[&str], i32); 4] = [
        (&["check"], 2),
        (&["diff"], 2),
        (&["create", "--no-stream"], 1),
        (&["backfill", "--direct"], 1),
    ];
    for (command, code) in commands {
        let out = run(&[command, &with_nope[..]].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{command:?}: {stderr}");
        assert_eq!(stderr, unknown, "{command:?}");
        assert_eq!(text(&out.stdout), "", "{command:?}");
    }
    // Without --targets: clap's usage error, naming the flag it needs.
    for command in ["check", "diff", "create", "backfill", "replicate"] {
        let out = run(&[command, "--target", "copy"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.starts_with("error: the following required arguments were not provided:")
                && stderr.contains("--targets <FILE>"),
            "{command}: {stderr}"
        );
    }
    rt.block_on(async {
        for target in ["t9-copy", "t9-active"] {
            assert!(!exists(replica, target).await, "{target} was created");
        }
    });
}

/// `create` and `check` give a target the definition of the primary it follows (its
/// `source`), not --table's: a copy of `users` (keyed `id`) made while --table is `orders`
/// (keyed `pk`) is keyed `id`, and checks as matching; a copy keyed `pk` does not.
#[test]
fn create_and_check_follow_each_targets_own_primary() {
    let cli = Cli::new("sources");
    let (rt, primary, replica) = (&cli.rt, &cli.primary, &cli.replica);
    let users_schema = KeySchema::hash_only("id", ScalarType::S);
    rt.block_on(create_table(primary, "t10-orders", &schema()));
    rt.block_on(create_table(primary, "t10-users", &users_schema));
    let targets = json!({"targets": [
        {"name": "orders-copy", "table": "t10-orders-copy"},
        {"name": "users-copy", "table": "t10-users-copy", "source": "t10-users"}
    ]});
    let targets_file = &cli.file("targets.json", &targets.to_string());
    let run = |args: &[&str]| cli.run("t10-orders", "t10-none", args);
    let out = run(&["create", "--no-stream", "--targets", targets_file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let key_of = |table: &str| {
        let described = rt
            .block_on(replica.describe_table().table_name(table).send())
            .expect("DescribeTable");
        let table = described.table.expect("a table");
        let keys: Vec<String> = table
            .key_schema()
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect();
        keys
    };
    assert_eq!(key_of("t10-orders-copy"), ["pk"]);
    assert_eq!(key_of("t10-users-copy"), ["id"]);
    let out = run(&["check", "--targets", targets_file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A copy of `users` keyed like `orders` is unusable, and `check` says so.
    rt.block_on(create_table(replica, "t10-wrong", &schema()));
    let targets = json!({"targets": [
        {"name": "wrong", "table": "t10-wrong", "source": "t10-users"}
    ]});
    let wrong = cli.file("wrong.json", &targets.to_string());
    let out = run(&["check", "--targets", &wrong]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("key schema"), "{stdout}");
}
