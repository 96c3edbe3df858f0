//! Test harness: starts real DynamoDB- and Kinesis-compatible servers (dynalite, moto,
//! kinesalite) on 127.0.0.1, builds SDK clients for them, and creates tables.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use calls::CallCounter;
use dyno::aws::client::{dynamodb_config, kinesis_client};
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::replicate::tuning::Tuning;
use pool::Kind;

pub type Item = HashMap<String, AttributeValue>;

/// The local system's tables and stream (`dyno::config::local`), as most tests name them.
pub const PRIMARY: &str = dyno::config::local::PRIMARY_TABLE;
pub const REPLICA: &str = dyno::config::local::REPLICA_TABLE;
pub const STREAM: &str = dyno::config::local::STREAM;

/// Which implementation of DynamoDB a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Dynalite,
    Moto,
}

fn root() -> PathBuf {
    project_root().to_path_buf()
}

fn tool(path: &str) -> PathBuf {
    let tool = root().join(path);
    assert!(
        tool.exists(),
        "{} is missing: run `make tools` (or `make test`, which installs it)",
        tool.display()
    );
    tool
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process on 127.0.0.1, stopped when dropped.
pub struct Server {
    /// `None` once the server is stopped or handed on to the next test.
    child: Option<Child>,
    kind: Kind,
    pub port: u16,
    pub endpoint: String,
}

impl Server {
    /// Starts a server on a free port and waits until that very process listens on it. If the
    /// port was taken meanwhile (the server exits), starts it again on another port.
    fn spawn(kind: Kind, make: impl Fn(u16) -> Command, what: &str) -> Server {
        if let Some((child, port)) = pool::take(kind) {
            return Server::at(kind, child, port);
        }
        for _ in 0..3 {
            let port = free_port();
            let mut child = make(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {what}: {e}"));
            let started = Instant::now();
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break; // it exited: most likely the port was taken; try another
                }
                if listens(child.id(), port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Server::at(kind, child, port);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{what} did not listen on port {port} within 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("{what} exited three times before listening");
    }

    fn at(kind: Kind, child: Child, port: u16) -> Server {
        Server {
            child: Some(child),
            kind,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the server was stopped")
    }

    /// dynalite 4.0.0 (from `tools/node_modules`), in memory.
    pub fn dynalite() -> Server {
        let cli = tool("tools/node_modules/dynalite/cli.js");
        let command = |port: u16| {
            let mut command = Command::new("node");
            command
                .arg(&cli)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--createTableMs", "0", "--deleteTableMs", "0"])
                .args(["--updateTableMs", "0"]);
            command
        };
        Server::spawn(Kind::Dynalite, command, "dynalite")
    }

    /// moto 5.2.5's `moto_server` (from `.venv`): DynamoDB, DynamoDB Streams, Kinesis, SQS,
    /// S3 and STS.
    pub fn moto() -> Server {
        let server = tool(".venv/bin/moto_server");
        let command = |port: u16| {
            let mut command = Command::new(&server);
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        };
        Server::spawn(Kind::Moto, command, "moto_server")
    }

    /// kinesalite 3.3.3, bound to 127.0.0.1.
    pub fn kinesalite() -> Server {
        let script = tool("tools/kinesalite.js");
        let command = |port: u16| {
            let mut command = Command::new("node");
            command
                .arg(&script)
                .arg(port.to_string())
                .current_dir(root().join("tools"));
            command
        };
        Server::spawn(Kind::Kinesalite, command, "kinesalite")
    }

    /// A DynamoDB server of the given kind.
    pub fn dynamodb(backend: Backend) -> Server {
        match backend {
            Backend::Dynalite => Server::dynalite(),
            Backend::Moto => Server::moto(),
        }
    }

    /// Stops the server for good (e.g. a replica that refuses writes).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server: connections are accepted by the kernel but never answered.
    pub fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// Undoes [`Server::pause`].
    pub fn resume(&self) {
        signal(self.pid(), "CONT");
    }
}

/// True when process `pid` holds the socket listening on 127.0.0.1:`port` (from /proc: the
/// listening socket's inode among the process's open files).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect();
    let local = format!("0100007F:{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .map(|row| row.split_whitespace().collect::<Vec<_>>())
            .any(|cols| {
                cols.len() > 9
                    && (cols[1] == local || cols[1].ends_with(&format!(":{port:04X}")))
                    && cols[3] == "0A"
                    && inodes.contains(cols[9])
            })
    })
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// A server still running is handed on to the next test of its kind (see `pool`).
impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-CONT", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        match child.try_wait() {
            Ok(None) => pool::keep(self.kind, child, self.port),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// SDK configuration with static test credentials for local servers.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "dyno-tests"))
        .load()
        .await
}

/// Test tuning: quick to give up, so failure tests stay short.
pub fn tuning() -> Tuning {
    Tuning {
        concurrency: 8,
        max_attempts: 3,
        call_timeout: Duration::from_secs(5),
        deadline_margin: Duration::from_millis(500),
        ..Tuning::default()
    }
}

/// A DynamoDB client for `endpoint` in `region`, with `tuning`, counting its calls in `counter`.
pub async fn client_at(
    endpoint: &str,
    region: &str,
    tuning: &Tuning,
    counter: Option<&CallCounter>,
) -> Client {
    let mut config = dynamodb_config(&sdk_config().await, Some(region), Some(endpoint), tuning);
    if let Some(counter) = counter {
        config = config.interceptor(counter.clone());
    }
    Client::from_conf(config.build())
}

/// A plain DynamoDB client for a server (what a test uses to set up and inspect tables).
pub async fn client(server: &Server) -> Client {
    client_at(&server.endpoint, "us-east-1", &tuning(), None).await
}

/// `name` on `endpoint` in `region`, reached with `tuning` (calls counted in `counter`).
pub async fn table_at(
    endpoint: &str,
    region: &str,
    name: &str,
    tuning: &Tuning,
    counter: Option<&CallCounter>,
) -> Table {
    let client = client_at(endpoint, region, tuning, counter).await;
    Table::new(client, name, "TABLE").at(Some(endpoint.to_owned()), Some(region.to_owned()))
}

/// `name` on `server`, with a plain client.
pub async fn table(server: &Server, name: &str) -> Table {
    table_at(&server.endpoint, "us-east-1", name, &tuning(), None).await
}

/// A table reached through `client` (for tests that already have one).
pub fn table_of(client: &Client, name: &str) -> Table {
    Table::new(client.clone(), name, "TABLE")
}

/// `name` on the Kinesis server at `endpoint`.
pub async fn stream_at(endpoint: &str, name: &str) -> Stream {
    let client = kinesis_client(&sdk_config().await, Some(endpoint), &tuning());
    Stream::new(client, name, "STREAM").at(Some(endpoint.to_owned()))
}

/// `name` on `server`.
pub async fn stream(server: &Server, name: &str) -> Stream {
    stream_at(&server.endpoint, name).await
}

/// The seed's table shape: ForumName (HASH, S) + Subject (RANGE, S).
pub fn thread_schema() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

/// Creates an on-demand table with `schema` (the library's own table setup).
pub async fn create_table(client: &Client, name: &str, schema: &KeySchema) {
    dyno::ops::admin::ensure_table(
        &table_of(client, name),
        schema,
        None,
        dyno::ops::admin::WAIT,
    )
    .await
    .expect("CreateTable");
}

/// Creates a stream with `shards` shards (the library's own stream setup).
pub async fn create_stream(stream: &Stream, shards: i32) {
    dyno::ops::admin::ensure_stream(stream, shards, dyno::ops::admin::WAIT)
        .await
        .expect("CreateStream");
}

/// Puts many items quickly (`BatchWriteItem`, 25 at a time, 8 calls at once, unprocessed items
/// sent again as `dyno::aws::retry::resend` does).
pub async fn put_items(client: &Client, table: &str, items: Vec<Item>) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use dyno::aws::limits;
    use dyno::aws::retry::{Backoff, Deadline, resend};
    use futures::stream::{self, StreamExt};
    let chunks: Vec<Vec<Item>> = items
        .chunks(limits::WRITE_REQUESTS)
        .map(|c| c.to_vec())
        .collect();
    stream::iter(chunks)
        .for_each_concurrent(8, |chunk| async move {
            let entries = chunk.into_iter().map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                ((), WriteRequest::builder().put_request(put).build())
            });
            let backoff = Backoff::attempts(20);
            let resent = resend(
                entries.collect(),
                &backoff,
                Deadline::NONE,
                |requests| async move {
                    let sent: Vec<WriteRequest> = requests.clone();
                    let out = client
                        .batch_write_item()
                        .request_items(table, requests)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    let left = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table))
                        .unwrap_or_default();
                    // DynamoDB hands unprocessed requests back as they were sent.
                    let again = sent.into_iter().map(|r| left.contains(&r).then_some(r));
                    Ok::<_, ()>(again.collect())
                },
            )
            .await;
            assert!(
                resent.why.is_none(),
                "BatchWriteItem left items unprocessed"
            );
        })
        .await;
}

/// Every item in a table, keyed by its key's canonical encoding.
pub async fn scan_all(client: &Client, table: &str, schema: &KeySchema) -> HashMap<Vec<u8>, Item> {
    let mut items = HashMap::new();
    let mut pages = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.expect("Scan");
        let key = schema.key_of_item(&item).expect("scanned item has a key");
        items.insert(key.canonical().to_vec(), item);
    }
    items
}

/// Asserts that two tables hold the same items, attribute for attribute, as the oracle sees it
/// (plain consistent scans, never `dyno::ops::diff`); returns the items on each side.
pub async fn assert_tables_equal(primary: (&Client, &str), replica: (&Client, &str)) -> usize {
    oracle::assert_equal(primary, replica).await
}

/// Sorts set members, whose order DynamoDB does not keep.
pub fn normalize(item: &Item) -> Item {
    item.iter()
        .map(|(k, v)| (k.clone(), normalize_value(v)))
        .collect()
}

fn normalize_value(value: &AttributeValue) -> AttributeValue {
    match value {
        AttributeValue::Ss(v) => AttributeValue::Ss(sorted(v)),
        AttributeValue::Ns(v) => AttributeValue::Ns(sorted(v)),
        AttributeValue::Bs(v) => {
            let mut v = v.clone();
            v.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            AttributeValue::Bs(v)
        }
        AttributeValue::M(m) => AttributeValue::M(normalize(m)),
        AttributeValue::L(l) => AttributeValue::L(l.iter().map(normalize_value).collect()),
        other => other.clone(),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A string attribute.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A Thread item with a body.
pub fn thread_item(forum: &str, subject: &str, body: &str) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), s(forum)),
        ("Subject".to_owned(), s(subject)),
        ("Body".to_owned(), s(body)),
    ])
}

/// A DynamoDB Streams key record (the seed's shape) for a key, as JSON bytes.
pub fn key_record(keys: serde_json::Value, event_name: &str, sequence: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": keys,
            "SequenceNumber": sequence.to_string(),
            "SizeBytes": 41,
            "StreamViewType": "KEYS_ONLY"
        },
        "eventID": format!("{sequence:032x}"),
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.0"
    }))
    .expect("json")
}

/// The key record of a Thread key.
pub fn thread_record(forum: &str, subject: &str, sequence: u64) -> Vec<u8> {
    key_record(
        serde_json::json!({"ForumName": {"S": forum}, "Subject": {"S": subject}}),
        "MODIFY",
        sequence,
    )
}

/// A Kinesis event as Lambda delivers it, one record per data blob, sequence numbers 1, 2, ….
pub fn kinesis_event(data: Vec<Vec<u8>>) -> KinesisEvent {
    kinesis_event_from(1, data)
}

/// [`kinesis_event`], its sequence numbers starting at `first` (records of another batch of the
/// same shard: a sequence number names one record).
pub fn kinesis_event_from(first: usize, data: Vec<Vec<u8>>) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    for (i, data) in data.into_iter().enumerate() {
        let sequence = format!("{:056}", first + i);
        let mut record = KinesisEventRecord::default();
        record.event_id = Some(format!("shardId-000000000000:{sequence}"));
        record.event_source = Some("aws:kinesis".into());
        record.kinesis.sequence_number = sequence;
        record.kinesis.partition_key = "pk".into();
        *record.kinesis.data = data;
        record.kinesis.approximate_arrival_timestamp.0 = chrono::Utc::now();
        event.records.push(record);
    }
    event
}

/// Reads an event file from `events/`.
pub fn event_file(name: &str) -> KinesisEvent {
    let path = root().join("events").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sequence numbers a response reports as failed.
pub fn failures(response: &aws_lambda_events::event::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

/// The repository: the package of the integration tests, or the parent of the bench's package
/// (`benches/`, which also compiles these helpers).
pub fn project_root() -> &'static Path {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    match package.ends_with("benches") {
        true => package.parent().unwrap_or(package),
        false => package,
    }
}

/// The `dyno` binary: cargo's for the integration tests; for the bench (a package without it),
/// the release build beside the bench's own executable.
fn dyno_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_dyno") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join("dyno")))
            .unwrap_or_else(|| PathBuf::from("dyno")),
    }
}
pub mod alone;
pub mod calls;
pub mod cloudformation;
pub mod faults;
pub mod local;
pub mod oracle;
pub mod pipeline;
pub mod pool;
pub mod targets;

/// Creates an SQS queue (moto) and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL")
}

/// Every record on every shard of a stream, from the trim horizon: (shard, record).
pub async fn stream_records(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<aws_sdk_kinesis::types::Record> {
    let mut all = Vec::new();
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator
            .expect("an iterator");
        loop {
            let out = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .expect("GetRecords");
            if out.records.is_empty() {
                break;
            }
            all.extend(out.records);
            match out.next_shard_iterator {
                Some(next) => iterator = next,
                None => break,
            }
        }
    }
    all
}

/// Runs `work`, failing the test (instead of hanging CI) if it takes longer than `limit`.
pub async fn bounded<T>(
    limit: Duration,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, work).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: still running after {limit:?}; stopped so that CI does not hang"),
    }
}

/// An event as the Lambda runtime hands it to `function_handler`: its JSON text.
pub fn raw(event: &impl serde::Serialize) -> Box<serde_json::value::RawValue> {
    let text = serde_json::to_string(event).expect("json");
    serde_json::value::RawValue::from_string(text).expect("raw json")
}

/// The item identifiers of `function_handler`'s answer, whatever the source.
pub fn response_failures(response: &dyno::replicate::lambda::Response) -> Vec<String> {
    let json = serde_json::to_value(response).expect("json");
    json["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A process's peak resident set size so far (`process`: a pid, or `self`), from
/// `/proc/<process>/status`; 0 once it is gone.
pub fn vmhwm_kb(process: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Where the `dyno` binary finds the servers: the tables (and the replica, if elsewhere) and the
/// key stream; `None`: not given.
#[derive(Debug, Default, Clone, Copy)]
pub struct At<'a> {
    pub tables: Option<&'a str>,
    pub replica: Option<&'a str>,
    pub kinesis: Option<&'a str>,
}

/// The `dyno` binary as every test runs it: static local credentials and a region, none of the
/// caller's environment that would change what it does (profiles, logs, a dead-letter queue,
/// dyno's own `DYNO_*` settings), and the endpoints of `at`.
pub fn dyno_command(at: At<'_>) -> Command {
    let mut command = Command::new(dyno_binary());
    local_aws_env(&mut command)
        .env_remove("RUST_LOG")
        .env_remove("DEAD_LETTER_QUEUE_URL")
        .env_remove("DEAD_LETTER_ENDPOINT_URL");
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("DYNO_")) {
        command.env_remove(name);
    }
    let endpoints = [
        ("DYNO_ENDPOINT_URL", at.tables),
        ("DYNO_REPLICA_ENDPOINT_URL", at.replica.or(at.tables)),
        ("DYNO_KINESIS_ENDPOINT_URL", at.kinesis),
    ];
    for (name, endpoint) in endpoints {
        if let Some(endpoint) = endpoint {
            command.env(name, endpoint);
        }
    }
    command
}

/// The access key of the processes the tests start (`local_aws_env`).
pub const LOCAL_ACCESS_KEY: &str = "bench";

/// `command` (a dyno process a test or a bench starts) with the local servers' dummy credentials
/// and nothing of the user's AWS setup (profile, files, instance metadata).
pub fn local_aws_env(command: &mut std::process::Command) -> &mut std::process::Command {
    command
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
}

/// The positions a checkpoint file holds (shard or segment: last position, or `END`), whether
/// the file is the bare map or keeps the map under `positions`; empty when there is no file (yet)
/// or it cannot be read (it is replaced whole, so a reader sees an old or a new file).
pub fn checkpoint_positions(path: &Path) -> std::collections::BTreeMap<String, String> {
    let Some(json) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Default::default();
    };
    let map = match json.get("positions") {
        Some(positions) => positions.clone(),
        None => json,
    };
    serde_json::from_value(map).unwrap_or_default()
}

/// A key schema element of `name` in `role`, for tests that create tables by hand.
pub fn key_element(
    name: &str,
    role: aws_sdk_dynamodb::types::KeyType,
) -> aws_sdk_dynamodb::types::KeySchemaElement {
    aws_sdk_dynamodb::types::KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(role)
        .build()
        .expect("a key schema element")
}

/// A string attribute definition of `name`.
pub fn string_attribute(name: &str) -> aws_sdk_dynamodb::types::AttributeDefinition {
    aws_sdk_dynamodb::types::AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
        .build()
        .expect("an attribute definition")
}

/// An index projection of every attribute.
pub fn project_all() -> aws_sdk_dynamodb::types::Projection {
    aws_sdk_dynamodb::types::Projection::builder()
        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
        .build()
}
