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

mod batches;
mod http;
mod serve;

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use serve::{Holds, serve};

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
