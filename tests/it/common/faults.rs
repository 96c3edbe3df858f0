//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between the AWS SDK and a real server (dynalite,
//! kinesalite, moto's SQS): every request is forwarded unless the plan picks a fault for it —
//! throttling, server errors, partial batch results, connection resets before or after the
//! request reached the server, answers slower than the client waits, expired iterators. It speaks
//! just enough HTTP for the AWS JSON protocols (`X-Amz-Target`, `Content-Length`, chunked bodies).
//!
//! A plan is reproducible whatever the timing: a seeded plan decides each request from a hash of
//! the seed, the operation, the request's body and how many times that very body was seen before
//! (so a retry of the same request is decided afresh); a scripted plan gives the nth targeted
//! request the nth fault of its script.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy can do to one request instead of forwarding it faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 400 `ProvisionedThroughputExceededException`, not forwarded.
    ProvisionedThroughputExceeded,
    /// 400 `ThrottlingException`, not forwarded.
    Throttling,
    /// 400 `RequestLimitExceeded`, not forwarded.
    RequestLimitExceeded,
    /// 500 `InternalServerError`, not forwarded.
    InternalServerError,
    /// 503 `ServiceUnavailable`, not forwarded.
    ServiceUnavailable,
    /// `BatchGetItem`: some keys are withheld and answered as `UnprocessedKeys`;
    /// `BatchWriteItem`: some requests are withheld (not applied) and answered as
    /// `UnprocessedItems`; SQS `SendMessageBatch`: some entries are withheld (not sent) and
    /// answered as `Failed`. Other operations are forwarded.
    PartialBatch,
    /// The connection is reset before the request is forwarded.
    ResetBefore,
    /// The request is forwarded (and applied), then the connection is reset: the answer is lost.
    ResetAfter,
    /// The request is forwarded at once, its answer held back past the client's call timeout.
    Slow,
    /// A buggy server: the request is forwarded and applied, and the answer also names a key
    /// that was not asked for (`BatchGetItem`: an extra item in `Responses`; `BatchWriteItem`:
    /// an extra entry in `UnprocessedItems`). Not in [`Fault::ALL`]; other operations are
    /// forwarded.
    Stranger,
    /// Kinesis `GetRecords`: 400 `ExpiredIteratorException`, not forwarded. Not in
    /// [`Fault::ALL`].
    ExpiredIterator,
    /// 403 `AccessDenied` (in XML for query-protocol services such as STS), not forwarded.
    /// Not in [`Fault::ALL`].
    AccessDenied,
    /// `BatchGetItem`, `BatchWriteItem`: a partial result as DynamoDB gives one: some requests
    /// are withheld and answered as unprocessed, but never all of them (DynamoDB answers a call
    /// it could do nothing of with an error instead); a call of one request is forwarded whole.
    /// Counted as [`Fault::PartialBatch`]. Not in [`Fault::ALL`].
    PartialProgress,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::ProvisionedThroughputExceeded,
        Fault::Throttling,
        Fault::RequestLimitExceeded,
        Fault::InternalServerError,
        Fault::ServiceUnavailable,
        Fault::PartialBatch,
        Fault::ResetBefore,
        Fault::ResetAfter,
        Fault::Slow,
    ];

    /// The error answer of this fault for a service (`DynamoDB_20120810`, `Kinesis_20131202`,
    /// `AmazonSQS`), if the fault is an error answer.
    fn error(self, service: &str) -> Option<(u16, String, &'static str)> {
        let (status, kind, message) = self.dynamodb_error()?;
        // Kinesis and SQS name errors without DynamoDB's namespace.
        let kind = match (service, self) {
            ("Kinesis_20131202", Fault::InternalServerError) => "InternalFailure".to_owned(),
            ("Kinesis_20131202", Fault::Throttling | Fault::RequestLimitExceeded) => {
                "LimitExceededException".to_owned()
            }
            ("Kinesis_20131202", _) => kind.rsplit('#').next().unwrap_or(kind).to_owned(),
            _ => kind.to_owned(),
        };
        Some((status, kind, message))
    }

    fn dynamodb_error(self) -> Option<(u16, &'static str, &'static str)> {
        let e = match self {
            Fault::ProvisionedThroughputExceeded => (
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Fault::Throttling => (
                400,
                "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ),
            Fault::RequestLimitExceeded => (
                400,
                "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
                "Throughput exceeds the current throughput limit for your account.",
            ),
            Fault::InternalServerError => (
                500,
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "Internal server error",
            ),
            Fault::ServiceUnavailable => (
                503,
                "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
                "Service unavailable",
            ),
            Fault::ExpiredIterator => (
                400,
                "ExpiredIteratorException",
                "Iterator expired. The iterator was created at time … while right now it is ….",
            ),
            _ => return None,
        };
        Some(e)
    }
}

/// Which faults, how often, for which operations; seeded, so a run can be repeated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Chance that a targeted request gets a fault.
    pub rate: f64,
    /// Faults to choose from (uniformly).
    pub faults: Vec<Fault>,
    /// Operations (`X-Amz-Target` suffix) that may get a fault; empty: all.
    pub operations: Vec<String>,
    /// How long a [`Fault::Slow`] answer is held back.
    pub slow: Duration,
    pub seed: u64,
    /// A fixed plan instead of a seeded one: the nth targeted request gets the nth entry
    /// (`None`: forwarded faithfully); requests after the script's end are forwarded.
    pub script: Option<Vec<Option<Fault>>>,
}

impl Plan {
    /// No faults: a faithful proxy.
    pub fn off() -> Plan {
        Plan {
            rate: 0.0,
            faults: Vec::new(),
            operations: Vec::new(),
            slow: Duration::ZERO,
            seed: 0,
            script: None,
        }
    }

    /// A fixed sequence of faults for the targeted `operations` (see [`Plan::script`]).
    pub fn script(operations: &[&str], script: &[Option<Fault>]) -> Plan {
        Plan {
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
            faults: script.iter().flatten().copied().collect(),
            script: Some(script.to_vec()),
            slow: Duration::from_millis(900),
            ..Plan::off()
        }
    }

    /// One kind of fault on the replicator's data calls (`BatchGetItem`, `BatchWriteItem`).
    pub fn only(fault: Fault, rate: f64, seed: u64) -> Plan {
        Plan::mix(&[fault], rate, seed)
    }

    /// Faults on other operations (e.g. `SendMessageBatch`).
    pub fn on(operations: &[&str], faults: &[Fault], rate: f64, seed: u64) -> Plan {
        Plan {
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
            ..Plan::mix(faults, rate, seed)
        }
    }

    /// A mix of faults on the replicator's data calls.
    pub fn mix(faults: &[Fault], rate: f64, seed: u64) -> Plan {
        Plan {
            rate,
            faults: faults.to_vec(),
            operations: vec!["BatchGetItem".into(), "BatchWriteItem".into()],
            slow: Duration::from_millis(900),
            seed,
            script: None,
        }
    }
}

/// What the proxy saw and did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests by operation.
    pub requests: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<Fault, u64>,
    /// Faults injected, by operation and kind.
    pub by_operation: BTreeMap<(String, Fault), u64>,
    /// The access key ids that signed the requests, by operation (from `Authorization`).
    pub signers: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// The form bodies of query-protocol requests (STS), as sent.
    pub forms: Vec<String>,
    /// Requests held (see [`FaultProxy::hold`]), by operation; counted in `requests` too.
    pub held: BTreeMap<String, u64>,
}

impl Stats {
    /// Faults of `kind` injected on `operation`.
    pub fn injected(&self, operation: &str, kind: Fault) -> u64 {
        self.by_operation
            .get(&(operation.to_owned(), kind))
            .copied()
            .unwrap_or(0)
    }

    /// Faults injected in all.
    pub fn total(&self) -> u64 {
        self.faults.values().sum()
    }
}

struct State {
    plan: Plan,
    /// Targeted requests seen under the current plan (the script's position).
    targeted: usize,
    /// How many times each (operation, body) was seen under the current plan.
    seen: HashMap<u64, u64>,
    stats: Stats,
    holds: Holds,
}

impl State {
    /// The fault for one request, if any, and a seed for its details (what a partial batch
    /// withholds) that differs from one sending of the same request to the next.
    fn decide(&mut self, operation: &str, body: &[u8]) -> (Option<Fault>, u64) {
        let plan = &self.plan;
        let targeted = plan.operations.is_empty() || plan.operations.iter().any(|o| o == operation);
        let request = hash(&(operation, body));
        let nth = self.seen.entry(request).or_default();
        *nth += 1;
        let roll = hash(&(plan.seed, request, *nth));
        if !targeted {
            return (None, roll);
        }
        if let Some(script) = &plan.script {
            let n = self.targeted;
            self.targeted += 1;
            return (script.get(n).copied().flatten(), roll);
        }
        if plan.faults.is_empty() {
            return (None, roll);
        }
        let chance = (roll >> 11) as f64 / (1u64 << 53) as f64;
        let fault =
            (chance < plan.rate).then(|| plan.faults[(roll % plan.faults.len() as u64) as usize]);
        (fault, roll)
    }
}

fn hash(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The proxy; stops listening when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to the HTTP server at `upstream` (`127.0.0.1:port`), faithful until a plan
    /// is set.
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(Mutex::new(State {
            plan: Plan::off(),
            targeted: 0,
            seen: HashMap::new(),
            stats: Stats::default(),
            holds: Holds::default(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(client, upstream_port, state).await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
            task,
        }
    }

    /// Replaces the plan (and starts its script, or its seeded decisions, afresh).
    pub fn set_plan(&self, plan: Plan) {
        let mut state = self.state.lock().expect("proxy state");
        state.targeted = 0;
        state.seen.clear();
        state.plan = plan;
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().expect("proxy state").stats.clone()
    }

    pub fn reset_stats(&self) {
        self.state.lock().expect("proxy state").stats = Stats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP message: start line, headers, body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message with `body`, framed by `Content-Length`, and `connection` as its
    /// `Connection` header.
    fn encode(&self, body: &[u8], connection: &str, drop_headers: &[&str]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            let skip = ["content-length", "transfer-encoding", "connection"]
                .iter()
                .chain(drop_headers)
                .any(|h| name.eq_ignore_ascii_case(h));
            if !skip {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: {connection}\r\n\r\n",
            body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one message from `stream`; `buf` keeps bytes read past it. `None` on a clean EOF
/// before any byte of a message.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Message>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut message = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                fill(stream, buf, &mut chunk).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        buf.drain(..i + 2);
                        if i == 0 {
                            break;
                        }
                        continue;
                    }
                    fill(stream, buf, &mut chunk).await?;
                }
                break;
            }
            while buf.len() < size + 2 {
                fill(stream, buf, &mut chunk).await?;
            }
            message.body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    } else {
        let length: usize = message
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            fill(stream, buf, &mut chunk).await?;
        }
        message.body = buf.drain(..length).collect();
    }
    Ok(Some(message))
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> io::Result<()> {
    let n = stream.read(chunk).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Forwards one request on a fresh connection and reads the answer.
async fn forward(upstream_port: u16, request: &Message, body: &[u8]) -> io::Result<Message> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    upstream
        .write_all(&request.encode(body, "close", &[]))
        .await?;
    let mut buf = Vec::new();
    read_message(&mut upstream, &mut buf)
        .await?
        .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
}

fn error_response(service: &str, status: u16, kind: &str, message: &str) -> Vec<u8> {
    let body = json!({"__type": kind, "message": message}).to_string();
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let json_version = if service == "Kinesis_20131202" {
        "1.1"
    } else {
        "1.0"
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-{json_version}\r\n\
         x-amzn-requestid: dyno-fault-proxy\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// 403 AccessDenied: XML for the query protocol, JSON otherwise.
fn access_denied(service: &str) -> Vec<u8> {
    let (content_type, body) = match service {
        "query" => (
            "text/xml",
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message>\
             </Error><RequestId>dyno-fault-proxy</RequestId></ErrorResponse>"
                .to_owned(),
        ),
        _ => (
            "application/x-amz-json-1.0",
            json!({"__type": "AccessDeniedException", "message": "not authorized"}).to_string(),
        ),
    };
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: {content_type}\r\nx-amzn-requestid: dyno-fault-proxy\r\n\
         content-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[allow(deprecated)] // SO_LINGER 0 is exactly what makes the close a reset.
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Withholds a random non-empty part of a batch call's request: returns the request body to
/// forward (`None`: nothing left to forward) and what was withheld, by table.
fn withhold(
    operation: &str,
    body: &[u8],
    rng: &mut fastrand::Rng,
) -> Option<(Option<Vec<u8>>, Value)> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    if operation == "PutRecords" {
        // Kinesis answers per record, in order: remember which positions were withheld.
        let records = request.get_mut("Records")?.as_array_mut()?;
        let total = records.len();
        let mut held: Vec<usize> = (0..total).filter(|_| rng.bool()).collect();
        if held.is_empty() && total > 0 {
            held.push(rng.usize(..total));
        }
        let all = std::mem::take(records);
        *records = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !held.contains(i))
            .map(|(_, r)| r)
            .collect();
        let forward = (held.len() < total).then(|| request.to_string().into_bytes());
        return Some((forward, json!({"positions": held, "total": total})));
    }
    if operation == "SendMessageBatch" {
        let entries = request.get_mut("Entries")?.as_array_mut()?;
        let all = std::mem::take(entries);
        let (mut kept, mut held): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|_| rng.bool());
        if held.is_empty() && !kept.is_empty() {
            held.push(kept.remove(rng.usize(..kept.len())));
        }
        let left = kept.len();
        *entries = kept;
        let forward = (left > 0).then(|| request.to_string().into_bytes());
        return Some((forward, Value::Array(held)));
    }
    let items = request.get_mut("RequestItems")?.as_object_mut()?;
    let mut withheld = serde_json::Map::new();
    let mut left = 0;
    for (table, spec) in items.iter_mut() {
        let list = match operation {
            "BatchGetItem" => spec.get_mut("Keys")?.as_array_mut()?,
            _ => spec.as_array_mut()?,
        };
        let all = std::mem::take(list);
        let (mut kept, mut held): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|_| rng.bool());
        if held.is_empty() && !kept.is_empty() {
            held.push(kept.remove(rng.usize(..kept.len())));
        }
        left += kept.len();
        *list = kept;
        let held = match operation {
            "BatchGetItem" => {
                let mut unprocessed = spec.clone();
                unprocessed["Keys"] = Value::Array(held);
                unprocessed
            }
            _ => Value::Array(held),
        };
        withheld.insert(table.clone(), held);
    }
    items.retain(|_, spec| match spec {
        Value::Array(a) => !a.is_empty(),
        other => other
            .get("Keys")
            .and_then(Value::as_array)
            .is_some_and(|k| !k.is_empty()),
    });
    let forward = (left > 0).then(|| request.to_string().into_bytes());
    Some((forward, Value::Object(withheld)))
}

/// The answer to a batch call with one more key in it, a twin of the first key asked for
/// (string values get a suffix, numbers a digit); None for other operations.
fn add_stranger(operation: &str, request: &[u8], answer: &[u8]) -> Option<Vec<u8>> {
    let request: Value = serde_json::from_slice(request).ok()?;
    let mut answer: Value = serde_json::from_slice(answer).ok()?;
    let (table, spec) = request.get("RequestItems")?.as_object()?.iter().next()?;
    let twin = |attributes: &Value| -> Value {
        let mut twin = attributes.clone();
        for value in twin
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(s) = value.get("S").and_then(Value::as_str) {
                value["S"] = json!(format!("{s}~stranger"));
            } else if let Some(n) = value.get("N").and_then(Value::as_str) {
                value["N"] = json!(format!("{n}1"));
            } else if let Some(b) = value.get("B").and_then(Value::as_str) {
                use base64::Engine as _;
                let engine = base64::engine::general_purpose::STANDARD;
                let mut bytes = engine.decode(b).unwrap_or_default();
                bytes.push(0x7f);
                value["B"] = json!(engine.encode(bytes));
            }
        }
        twin
    };
    let (field, stranger) = match operation {
        "BatchGetItem" => ("Responses", twin(spec.get("Keys")?.get(0)?)),
        "BatchWriteItem" => {
            let first = spec.get(0)?;
            let stranger = match (first.get("PutRequest"), first.get("DeleteRequest")) {
                (Some(put), _) => json!({"PutRequest": {"Item": twin(put.get("Item")?)}}),
                (None, Some(delete)) => json!({"DeleteRequest": {"Key": twin(delete.get("Key")?)}}),
                (None, None) => return None,
            };
            ("UnprocessedItems", stranger)
        }
        _ => return None,
    };
    let tables = answer
        .as_object_mut()?
        .entry(field)
        .or_insert_with(|| json!({}));
    let list = tables
        .as_object_mut()?
        .entry(table.clone())
        .or_insert_with(|| json!([]));
    list.as_array_mut()?.push(stranger);
    Some(answer.to_string().into_bytes())
}

/// Adds withheld requests to a batch call's answer as `UnprocessedKeys` / `UnprocessedItems`
/// (DynamoDB), failed entries (SQS), or failed records in their places (Kinesis).
fn add_unprocessed(operation: &str, answer: &mut Value, withheld: Value) {
    if operation == "PutRecords" {
        let held: Vec<u64> = withheld["positions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        let total = withheld["total"].as_u64().unwrap_or(0);
        let mut forwarded = answer["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let failed = json!({"ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": "injected by the fault proxy"});
        let records: Vec<Value> = (0..total)
            .map(|i| match held.contains(&i) {
                true => failed.clone(),
                false => forwarded.next().unwrap_or_else(|| failed.clone()),
            })
            .collect();
        let upstream_failed = answer["FailedRecordCount"].as_u64().unwrap_or(0);
        answer["FailedRecordCount"] = json!(upstream_failed + held.len() as u64);
        answer["Records"] = Value::Array(records);
        return;
    }
    if operation == "SendMessageBatch" {
        if !answer["Failed"].is_array() {
            answer["Failed"] = json!([]);
        }
        if !answer["Successful"].is_array() {
            answer["Successful"] = json!([]);
        }
        let failed: Vec<Value> = withheld
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                json!({"Id": entry["Id"], "SenderFault": false, "Code": "InternalError",
                       "Message": "injected by the fault proxy"})
            })
            .collect();
        if let Some(list) = answer["Failed"].as_array_mut() {
            list.extend(failed);
        }
        return;
    }
    let field = match operation {
        "BatchGetItem" => "UnprocessedKeys",
        _ => "UnprocessedItems",
    };
    if !answer[field].is_object() {
        answer[field] = json!({});
    }
    if let (Some(target), Value::Object(withheld)) = (answer[field].as_object_mut(), withheld) {
        for (table, held) in withheld {
            match (target.get_mut(&table), held) {
                (Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
                (Some(existing), Value::Object(more)) if existing.get("Keys").is_some() => {
                    if let (Some(keys), Some(Value::Array(more_keys))) =
                        (existing["Keys"].as_array_mut(), more.get("Keys").cloned())
                    {
                        keys.extend(more_keys);
                    }
                }
                (_, held) => {
                    target.insert(table, held);
                }
            }
        }
    }
    if operation == "BatchGetItem" && !answer["Responses"].is_object() {
        answer["Responses"] = json!({});
    }
}

async fn serve(
    mut client: TcpStream,
    upstream_port: u16,
    state: Arc<Mutex<State>>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buf).await? {
        let form = String::from_utf8_lossy(&request.body).into_owned();
        let (service, operation) = match request.header("x-amz-target") {
            Some(target) => {
                let (service, operation) = target.rsplit_once('.').unwrap_or(("unknown", target));
                (service.to_owned(), operation.to_owned())
            }
            // The query protocol (STS) names the action in the form body.
            None => {
                let action = form
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .unwrap_or("unknown");
                ("query".to_owned(), action.to_owned())
            }
        };
        let Some(request) = hold(&state, &operation, request, upstream_port) else {
            // Held: nothing is answered; the client gives up (its attempt times out).
            return until_closed(client).await;
        };
        let (fault, slow, withheld) = {
            let mut state = state.lock().expect("proxy state");
            *state.stats.requests.entry(operation.clone()).or_default() += 1;
            if service == "query" {
                state.stats.forms.push(form.clone());
            }
            if let Some(key_id) = request
                .header("authorization")
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
            {
                let signers = state.stats.signers.entry(operation.clone()).or_default();
                signers.insert(key_id.to_owned());
            }
            let (mut fault, roll) = state.decide(&operation, &request.body);
            let mut withheld = None;
            if fault == Some(Fault::PartialBatch) {
                let mut rng = fastrand::Rng::with_seed(roll);
                withheld = withhold(&operation, &request.body, &mut rng);
                if withheld.is_none() {
                    fault = None;
                }
            }
            if fault == Some(Fault::PartialProgress) {
                let mut rng = fastrand::Rng::with_seed(roll);
                withheld = withhold_some(&operation, &request.body, &mut rng);
                fault = withheld.is_some().then_some(Fault::PartialBatch);
            }
            if let Some(f) = fault {
                *state.stats.faults.entry(f).or_default() += 1;
                *state
                    .stats
                    .by_operation
                    .entry((operation.clone(), f))
                    .or_default() += 1;
            }
            (fault, state.plan.slow, withheld)
        };
        if fault == Some(Fault::AccessDenied) {
            client.write_all(&access_denied(&service)).await?;
            continue;
        }
        if let Some((status, kind, message)) = fault.and_then(|f| f.error(&service)) {
            client
                .write_all(&error_response(&service, status, &kind, message))
                .await?;
            continue;
        }
        match fault {
            Some(Fault::ResetBefore) => {
                reset(client);
                return Ok(());
            }
            Some(Fault::PartialBatch) => {
                let Some((forward_body, held)) = withheld else {
                    continue;
                };
                let mut answer = match forward_body {
                    Some(body) => {
                        let response = forward(upstream_port, &request, &body).await?;
                        if !response.start.contains(" 200") {
                            // An error answer: pass it on untouched.
                            client
                                .write_all(&response.encode(&response.body, "keep-alive", &[]))
                                .await?;
                            continue;
                        }
                        let answer: Value =
                            serde_json::from_slice(&response.body).unwrap_or(json!({}));
                        (answer, Some(response))
                    }
                    None => (json!({}), None),
                };
                add_unprocessed(&operation, &mut answer.0, held);
                let body = answer.0.to_string().into_bytes();
                let bytes = match answer.1 {
                    Some(response) => response.encode(&body, "keep-alive", &["x-amz-crc32"]),
                    None => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                         content-length: {}\r\nconnection: keep-alive\r\n\r\n",
                        body.len()
                    )
                    .into_bytes()
                    .into_iter()
                    .chain(body)
                    .collect(),
                };
                client.write_all(&bytes).await?;
            }
            _ => {
                let response = forward(upstream_port, &request, &request.body).await?;
                match fault {
                    Some(Fault::ResetAfter) => {
                        reset(client);
                        return Ok(());
                    }
                    Some(Fault::Slow) => tokio::time::sleep(slow).await,
                    Some(Fault::Stranger) if response.start.contains(" 200") => {
                        if let Some(body) = add_stranger(&operation, &request.body, &response.body)
                        {
                            client
                                .write_all(&response.encode(&body, "keep-alive", &["x-amz-crc32"]))
                                .await?;
                            continue;
                        }
                    }
                    _ => {}
                }
                client
                    .write_all(&response.encode(&response.body, "keep-alive", &[]))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Requests to hold, and those held (see [`FaultProxy::hold`]).
#[derive(Default)]
struct Holds {
    rules: Vec<HoldRule>,
    held: Vec<Held>,
}

/// Holds the next `left` requests of `operation` whose body contains `marker`.
struct HoldRule {
    operation: String,
    marker: Vec<u8>,
    left: usize,
}

/// A request the proxy read and kept, unanswered and not forwarded.
struct Held {
    operation: String,
    upstream_port: u16,
    request: Message,
}

impl FaultProxy {
    /// Holds the next `times` requests of `operation` whose body contains `marker` (`""`: any),
    /// whatever the plan: the proxy reads each and keeps it, answers nothing (the client's
    /// attempt times out), and forwards it to the server only at [`FaultProxy::release`], as a
    /// network or a server that sat on a request would. Counted in [`Stats::held`].
    pub fn hold(&self, operation: &str, marker: &str, times: usize) {
        let mut state = self.state.lock().expect("proxy state");
        state.holds.rules.push(HoldRule {
            operation: operation.to_owned(),
            marker: marker.as_bytes().to_vec(),
            left: times,
        });
    }

    /// Requests held and not released yet.
    pub fn holding(&self) -> usize {
        self.state.lock().expect("proxy state").holds.held.len()
    }

    /// Forwards every request held so far to the server, in the order they came, and waits for
    /// each answer (which goes nowhere: its client gave up long ago). Returns, for each, its
    /// operation and the server's status line: the held request has then been applied, or
    /// refused, by the server.
    pub async fn release(&self) -> Vec<(String, String)> {
        let held = std::mem::take(&mut self.state.lock().expect("proxy state").holds.held);
        let mut answers = Vec::with_capacity(held.len());
        for Held {
            operation,
            upstream_port,
            request,
        } in held
        {
            let answer = forward(upstream_port, &request, &request.body)
                .await
                .map(|response| response.start)
                .unwrap_or_else(|e| format!("not forwarded: {e}"));
            answers.push((operation, answer));
        }
        answers
    }
}

/// Keeps `request` if a hold rule takes it (`None`), or hands it back to be served.
fn hold(
    state: &Mutex<State>,
    operation: &str,
    request: Message,
    upstream_port: u16,
) -> Option<Message> {
    let mut state = state.lock().expect("proxy state");
    let rule = state.holds.rules.iter_mut().find(|rule| {
        rule.left > 0
            && rule.operation == operation
            && (rule.marker.is_empty() || find(&request.body, &rule.marker).is_some())
    });
    let Some(rule) = rule else {
        return Some(request);
    };
    rule.left -= 1;
    *state
        .stats
        .requests
        .entry(operation.to_owned())
        .or_default() += 1;
    *state.stats.held.entry(operation.to_owned()).or_default() += 1;
    state.holds.held.push(Held {
        operation: operation.to_owned(),
        upstream_port,
        request,
    });
    None
}

/// Reads (and drops) what the client sends until it closes the connection.
async fn until_closed(mut client: TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    while client.read(&mut sink).await? > 0 {}
    Ok(())
}

/// [`withhold`], as DynamoDB answers a partial batch: never every request of the call (`None`
/// for a call of one request, which is then forwarded whole).
fn withhold_some(
    operation: &str,
    body: &[u8],
    rng: &mut fastrand::Rng,
) -> Option<(Option<Vec<u8>>, Value)> {
    for _ in 0..64 {
        if let (Some(forward), held) = withhold(operation, body, rng)? {
            return Some((Some(forward), held));
        }
    }
    None
}
