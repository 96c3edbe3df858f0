//! The late write (../shared/DESIGN.md, "Where it can break"; README, "What can still go
//! wrong"), through the fault proxy against dynalite (tables) and kinesalite (the key stream):
//!
//! - it happens: a `BatchWriteItem` of `v1` that the proxy holds past the client's attempt
//!   timeout, released after the retry wrote `v2`, puts `v1` back on the replica while the
//!   primary holds `v2`; `dyno diff` finds the key, `dyno diff --repair` announces it and the
//!   replicator makes it `v2` again;
//! - its window is bounded: no write attempt starts once less than the write attempt timeout is
//!   left before the deadline, neither the engine's first attempt nor the SDK's retry of a held
//!   one; the record fails with the deadline error instead.

use crate::common;

use std::process::Output;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use common::faults::{Fault, FaultProxy, Plan};
use common::*;
use dyno::aws::table::Table;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;
use tokio::time::Instant;

const PRIMARY: &str = "late-primary";
const REPLICA: &str = "late-replica";
const STREAM: &str = "late-keys";

/// The one key of these tests: ForumName `f`, Subject `k`.
const FORUM: &str = "f";
const SUBJECT: &str = "k";

/// The `Body` of `k` in `table`, read with a plain consistent `GetItem` (`None`: no item).
async fn body(client: &Client, table: &str) -> Option<String> {
    let item = client
        .get_item()
        .table_name(table)
        .key("ForumName", s(FORUM))
        .key("Subject", s(SUBJECT))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item?;
    Some(item["Body"].as_s().expect("Body is a string").clone())
}

async fn put_body(client: &Client, table: &str, value: &str) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(thread_item(FORUM, SUBJECT, value)))
        .send()
        .await
        .expect("PutItem");
}

/// BatchWriteItem requests the proxy saw (held ones included), and held.
fn writes_seen(proxy: &FaultProxy) -> (u64, u64) {
    let stats = proxy.stats();
    let get =
        |m: &std::collections::BTreeMap<String, u64>| m.get("BatchWriteItem").copied().unwrap_or(0);
    (get(&stats.requests), get(&stats.held))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `dyno` CLI on the local servers (straight to dynalite, not through the proxy).
fn dyno(tables: &Server, kinesis: &Server, args: &[&str]) -> Output {
    dyno_command(At {
        tables: Some(&tables.endpoint),
        replica: None,
        kinesis: Some(&kinesis.endpoint),
    })
    .args(["--table", PRIMARY, "--replica-table", REPLICA])
    .args(["--stream", STREAM])
    .args(args)
    .output()
    .expect("run dyno")
}

/// A replicator that reads the primary on `primary` and writes the replica on `replica`.
async fn replicator(primary: &str, replica: &str, tuning: Tuning) -> Replicator {
    Replicator::connect(
        table_at(primary, "us-east-1", PRIMARY, &tuning, None).await,
        table_at(replica, "us-east-1", REPLICA, &tuning, None).await,
        tuning,
    )
    .await
    .expect("connect the replicator")
}

async fn late_write_happens_and_diff_repair_fixes_it() {
    let tables = Server::dynalite();
    let kinesis = Server::kinesalite();
    let direct = client(&tables).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    create_stream(&stream(&kinesis, STREAM).await, 1).await;
    put_body(&direct, PRIMARY, "v1").await;

    // The replicator reads the primary directly and writes the replica through the proxy, one
    // attempt per call (no SDK retry of the same write), each write attempt abandoned after
    // 300 ms.
    let proxy = FaultProxy::start(tables.port).await;
    let tuning = Tuning {
        concurrency: 2,
        max_attempts: 1,
        call_timeout: Duration::from_secs(5),
        write_attempt_timeout: Duration::from_millis(300),
        deadline_margin: Duration::from_millis(200),
        ..Tuning::default()
    };
    let replicator = replicator(&tables.endpoint, &proxy.endpoint, tuning).await;
    let event = kinesis_event(vec![thread_record(FORUM, SUBJECT, 1)]);

    // The write of v1 is held: the client's attempt times out and the record fails (an unknown
    // outcome, not the deadline), while the request sits between client and server.
    proxy.hold("BatchWriteItem", r#"{"S":"v1"}"#, 1);
    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(failures(&response).len(), 1, "{summary:?}");
    assert_eq!((summary.puts, summary.deadline_failures), (0, 0));
    assert_eq!(writes_seen(&proxy), (1, 1), "the v1 write was held");
    assert_eq!(proxy.holding(), 1);
    assert_eq!(body(&direct, REPLICA).await, None, "nothing applied yet");

    // The writer changes k to v2; Lambda delivers the failed record again: the retry reads v2
    // and writes it (the hold is used up: this write passes).
    put_body(&direct, PRIMARY, "v2").await;
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty(), "{summary:?}");
    assert_eq!(summary.puts, 1);
    assert_eq!(body(&direct, REPLICA).await.as_deref(), Some("v2"));

    // Then the held request of v1 reaches the server, late: the replica goes back to v1 while
    // the primary holds v2, and stays so until k's next write. The consistent read did not
    // prevent it.
    let released = proxy.release().await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].0, "BatchWriteItem");
    assert!(released[0].1.contains(" 200"), "{released:?}");
    assert_eq!(body(&direct, REPLICA).await.as_deref(), Some("v1"));
    assert_eq!(body(&direct, PRIMARY).await.as_deref(), Some("v2"));

    // `dyno diff` finds it, key for key.
    let dir = std::env::temp_dir().join(format!("dyno-late-write-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys_out = dir.join("keys.jsonl");
    let out = dyno(
        &tables,
        &kinesis,
        &["diff", "--keys-out", keys_out.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("the replica differs from the primary: 0 missing, 0 extra, 1 different"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&keys_out).unwrap().trim(),
        r#"{"kind":"different","key":{"ForumName":{"S":"f"},"Subject":{"S":"k"}}}"#
    );
    let _ = std::fs::remove_dir_all(&dir);

    // `dyno diff --repair` announces it on the key stream; the replicator handles what the
    // stream holds (only that record) and k is v2 again.
    let out = dyno(&tables, &kinesis, &["diff", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("repair: 1 keys announced"),
        "{}",
        text(&out)
    );
    let kinesis_client = stream(&kinesis, STREAM).await.client;
    let announced = stream_records(&kinesis_client, STREAM).await;
    assert_eq!(announced.len(), 1);
    let repair = kinesis_event(announced.iter().map(|r| r.data.as_ref().to_vec()).collect());
    let (response, summary) = replicator.handle(&repair, None).await;
    assert!(failures(&response).is_empty(), "{summary:?}");
    assert_eq!(summary.puts, 1);
    assert_eq!(body(&direct, REPLICA).await.as_deref(), Some("v2"));
    let out = dyno(&tables, &kinesis, &["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_tables_equal((&direct, PRIMARY), (&direct, REPLICA)).await;

    // Three writes reached the proxy (v1 held, the retry's v2, the repair's v2); the hold was
    // injected exactly once, and no other fault.
    assert_eq!(writes_seen(&proxy), (3, 1));
    assert_eq!(proxy.stats().total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_happens_and_diff_repair_fixes_it() {
    bounded(
        Duration::from_secs(120),
        "the late write",
        late_write_happens_and_diff_repair_fixes_it(),
    )
    .await;
}

/// Tuning for the cutoff tests: reads may take long (5 s), a write attempt `write`.
fn cutoff_tuning(write: Duration, max_attempts: u32) -> Tuning {
    Tuning {
        concurrency: 2,
        max_attempts,
        call_timeout: Duration::from_secs(5),
        write_attempt_timeout: write,
        deadline_margin: Duration::from_millis(200),
        ..Tuning::default()
    }
}

/// The engine's deadline is 3.8 s away (4 s less the 0.2 s margin) and the read answers 1 s
/// late. With a write attempt timeout of 200 ms the write starts; with 3 s it does not (at most
/// 2.8 s is left once the read answers, whenever that is): the record fails with the deadline
/// error and the proxy never sees a `BatchWriteItem`.
async fn no_write_starts_after_the_cutoff() {
    let tables = Server::dynalite();
    let direct = client(&tables).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    put_body(&direct, PRIMARY, "v1").await;
    let event = kinesis_event(vec![thread_record(FORUM, SUBJECT, 1)]);
    let slow_read = Plan {
        slow: Duration::from_secs(1),
        ..Plan::script(&["BatchGetItem"], &[Some(Fault::Slow)])
    };

    for (write, started) in [
        (Duration::from_millis(200), true),
        (Duration::from_secs(3), false),
    ] {
        let proxy = FaultProxy::start(tables.port).await;
        let replicator =
            replicator(&proxy.endpoint, &proxy.endpoint, cutoff_tuning(write, 3)).await;
        proxy.reset_stats();
        proxy.set_plan(slow_read.clone());
        let deadline = Instant::now() + Duration::from_secs(4);

        let (response, summary) = replicator.handle(&event, Some(deadline)).await;

        let stats = proxy.stats();
        assert_eq!(stats.injected("BatchGetItem", Fault::Slow), 1, "{write:?}");
        let (writes, _) = writes_seen(&proxy);
        if started {
            assert!(failures(&response).is_empty(), "{write:?}: {summary:?}");
            assert_eq!((summary.puts, writes), (1, 1), "{write:?}");
            assert_eq!(body(&direct, REPLICA).await.as_deref(), Some("v1"));
        } else {
            assert_eq!(failures(&response).len(), 1, "{write:?}: {summary:?}");
            assert_eq!(summary.deadline_failures, 1, "{summary:?}");
            assert_eq!(
                (summary.puts, writes),
                (0, 0),
                "no write started after the cutoff"
            );
        }
        direct
            .delete_item()
            .table_name(REPLICA)
            .key("ForumName", s(FORUM))
            .key("Subject", s(SUBJECT))
            .send()
            .await
            .expect("DeleteItem");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_starts_once_less_than_its_attempt_timeout_is_left() {
    bounded(
        Duration::from_secs(60),
        "the write cutoff",
        no_write_starts_after_the_cutoff(),
    )
    .await;
}

/// The SDK's own retry is held to the same rule: a first write attempt that the proxy holds
/// times out after 2 s, so its retry would start after the cutoff (4 s - 2 s after the start
/// at the latest); it is not started, and the record fails with the deadline error. Every
/// attempt the invocation made had ended by then: the held one is the only request that can
/// still land late, and it was abandoned by its attempt timeout, not by the deadline.
/// `plain`: the replica reached with a client dyno did not build (no gate of its own: the call
/// brings one).
async fn the_sdks_retry_is_not_started_after_the_cutoff(plain: bool) {
    let tables = Server::dynalite();
    let direct = client(&tables).await;
    create_table(&direct, PRIMARY, &thread_schema()).await;
    create_table(&direct, REPLICA, &thread_schema()).await;
    put_body(&direct, PRIMARY, "v1").await;
    let event = kinesis_event(vec![thread_record(FORUM, SUBJECT, 1)]);
    let proxy = FaultProxy::start(tables.port).await;
    let tuning = cutoff_tuning(Duration::from_secs(2), 3);
    let replicator = match plain {
        false => replicator(&tables.endpoint, &proxy.endpoint, tuning).await,
        true => {
            let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
                .endpoint_url(&proxy.endpoint)
                .build();
            let replica = Table::new(Client::from_conf(config), REPLICA, "REPLICA_TABLE");
            let primary = table_at(&tables.endpoint, "us-east-1", PRIMARY, &tuning, None).await;
            (Replicator::connect(primary, replica, tuning).await).expect("connect the replicator")
        }
    };
    proxy.hold("BatchWriteItem", "", 1);
    // The engine's deadline is 4 s away: the first attempt starts at once, its retry could
    // start only after the first attempt's 2 s, when less than 2 s is left.
    let deadline = Instant::now() + Duration::from_millis(4_200);

    let (response, summary) = replicator.handle(&event, Some(deadline)).await;

    assert_eq!(failures(&response).len(), 1, "{summary:?}");
    assert_eq!(summary.deadline_failures, 1, "{summary:?}");
    assert_eq!(writes_seen(&proxy), (1, 1), "one attempt, held; no retry");
    assert_eq!(body(&direct, REPLICA).await, None);
    // Released, it applies what the primary held when it was read (v1 still: no harm here).
    let released = proxy.release().await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert!(released[0].1.contains(" 200"), "{released:?}");
    assert_eq!(body(&direct, REPLICA).await.as_deref(), Some("v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_retry_of_a_write_is_not_started_after_the_cutoff() {
    bounded(
        Duration::from_secs(60),
        "the SDK's retry and the cutoff",
        the_sdks_retry_is_not_started_after_the_cutoff(false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_retry_of_a_write_on_a_plain_client_is_not_started_after_the_cutoff() {
    bounded(
        Duration::from_secs(60),
        "the SDK's retry and the cutoff, on a plain client",
        the_sdks_retry_is_not_started_after_the_cutoff(true),
    )
    .await;
}

/// `REPLICATOR_WRITE_TIMEOUT_MS` sets the write attempt timeout, in the range of the call
/// timeout's; the default is 1 s.
#[test]
fn the_write_attempt_timeout_is_a_setting() {
    let config = |value: &str| {
        let value = value.to_owned();
        dyno::config::Config::from_lookup(move |name| match name {
            "PRIMARY_TABLE" => Some("p".to_owned()),
            "REPLICA_TABLE" => Some("r".to_owned()),
            "REPLICATOR_WRITE_TIMEOUT_MS" => Some(value.clone()),
            _ => None,
        })
    };
    let tuning = config("").expect("the default").tuning;
    assert_eq!(tuning.write_attempt_timeout, Duration::from_secs(1));
    let tuning = config("250").expect("250 ms").tuning;
    assert_eq!(tuning.write_attempt_timeout, Duration::from_millis(250));
    let error = config("50").expect_err("below 100 ms").to_string();
    assert!(
        error.starts_with("REPLICATOR_WRITE_TIMEOUT_MS=\"50\" is invalid"),
        "{error}"
    );
}
