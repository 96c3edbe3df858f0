//! When things fail: a dead replica fails every record, a restart from the lowest failure
//! converges, the deadline stops new work (also a real Lambda context's), setup errors name the
//! setting to fix, and the Lambda binary stops at init naming a missing variable.

use crate::common;

use std::time::Duration;

use common::*;
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::table::Table;
use dyno::replicate::replicator::Replicator;
use tokio::time::Instant;

use super::{fixture, get};

on_both_backends!(
    a_dead_replica_fails_every_record,
    restart_from_lowest_failure_converges,
    deadline_stops_new_work_and_reports_the_rest,
);

async fn a_dead_replica_fails_every_record(backend: Backend) {
    let mut f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..30)
            .map(|i| thread_item("f", &i.to_string(), "x"))
            .collect(),
    )
    .await;
    f.replica_server.kill();
    let mut data: Vec<Vec<u8>> = (0..30)
        .map(|i| thread_record("f", &i.to_string(), i))
        .collect();
    data.insert(5, b"garbage".to_vec());
    let event = kinesis_event(data);

    let (response, summary) = f.replicator.handle(&event, None).await;

    // Every record fails: none of their keys reached the replica, and the garbage is unusable.
    assert_eq!(failures(&response).len(), 31);
    assert_eq!(failures(&response)[0], format!("{:056}", 1));
    assert_eq!((summary.puts, summary.failed_records), (0, 31));
}

/// Lambda restarts a shard at the lowest failed sequence number, so records after it come again,
/// possibly after the primary changed: re-processing them must be harmless and converge.
async fn restart_from_lowest_failure_converges(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..6)
            .map(|i| thread_item("f", &i.to_string(), "v1"))
            .collect(),
    )
    .await;
    let mut data: Vec<Vec<u8>> = (0..6)
        .map(|i| thread_record("f", &i.to_string(), i))
        .collect();
    data.insert(3, b"poison".to_vec());
    let event = kinesis_event(data);

    let (response, _) = f.replicator.handle(&event, None).await;
    let failed = failures(&response);
    assert_eq!(failed, vec![format!("{:056}", 4)]);

    // Meanwhile the primary moves on: key 4 changes, key 5 is deleted, key 1 changes.
    put_items(
        &f.primary,
        PRIMARY,
        vec![thread_item("f", "4", "v2"), thread_item("f", "1", "v2")],
    )
    .await;
    f.primary
        .delete_item()
        .table_name(PRIMARY)
        .key("ForumName", s("f"))
        .key("Subject", s("5"))
        .send()
        .await
        .unwrap();

    // Redelivery from the lowest failure onwards, as Lambda does; then the new records.
    let lowest = failed.iter().min().unwrap().clone();
    let mut again = event.clone();
    again
        .records
        .retain(|r| r.kinesis.sequence_number >= lowest);
    assert_eq!(again.records.len(), 4);
    let (response, _) = f.replicator.handle(&again, None).await;
    assert_eq!(failures(&response), vec![lowest]);
    let later = kinesis_event(vec![thread_record("f", "1", 10)]);
    let (response, _) = f.replicator.handle(&later, None).await;
    assert!(failures(&response).is_empty());

    // Keys 0 to 4 (5 deleted on the primary, so on the replica).
    assert_eq!(
        assert_tables_equal((&f.primary, PRIMARY), (&f.replica, REPLICA)).await,
        5
    );
    assert_eq!(
        get(&f.replica, REPLICA, "f", "4").await,
        Some(thread_item("f", "4", "v2"))
    );
}

async fn deadline_stops_new_work_and_reports_the_rest(backend: Backend) {
    let f = fixture(backend).await;
    put_items(
        &f.primary,
        PRIMARY,
        (0..10)
            .map(|i| thread_item("f", &i.to_string(), "x"))
            .collect(),
    )
    .await;
    let event = kinesis_event(
        (0..10)
            .map(|i| thread_record("f", &i.to_string(), i))
            .collect(),
    );

    // Already inside the margin: nothing is started, everything is reported.
    let near = Instant::now() + Duration::from_millis(100);
    let (response, summary) = f.replicator.handle(&event, Some(near)).await;
    assert_eq!(failures(&response).len(), 10);
    assert_eq!(summary.puts, 0);
    assert_eq!(f.calls.total(), 0, "{:?}", f.calls.snapshot());

    // A primary that stops answering: the handler returns before the deadline, all failed.
    f.primary_server.pause();
    let deadline = Instant::now() + Duration::from_secs(3);
    let (response, _) = f.replicator.handle(&event, Some(deadline)).await;
    let returned = Instant::now();
    f.primary_server.resume();
    assert_eq!(failures(&response).len(), 10);
    assert!(
        returned < deadline,
        "returned {:?} after the deadline",
        returned - deadline
    );
    assert!(
        scan_all(&f.replica, REPLICA, &thread_schema())
            .await
            .is_empty()
    );
}

/// The deadline of a real Lambda context, through `function_handler`: with the primary not
/// answering, the handler returns before the invocation's deadline with every record failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_handler_returns_before_the_context_deadline() {
    let f = fixture(Backend::Dynalite).await;
    let event = kinesis_event(
        (0..10)
            .map(|i| thread_record("f", &i.to_string(), i))
            .collect(),
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = lambda_runtime::Context::default();
    context.deadline = now_ms + 2_000;
    let deadline = Instant::now() + Duration::from_millis(2_000);
    f.primary_server.pause();
    let response = dyno::replicate::lambda::function_handler(
        &f.replicator,
        lambda_runtime::LambdaEvent::new(raw(&event), context),
    )
    .await
    .expect("a response");
    let returned = Instant::now();
    f.primary_server.resume();
    assert_eq!(response_failures(&response).len(), 10);
    assert!(returned < deadline, "{:?} late", returned - deadline);
    // It did wait for the primary until the margin before the deadline (500 ms in tests); how
    // much sooner it returns depends on when its last attempt started.
    assert!(
        returned + Duration::from_millis(700) >= deadline,
        "gave up early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_errors_name_the_setting_to_fix() {
    let mut server = Server::dynalite();
    let c = client(&server).await;
    create_table(&c, PRIMARY, &thread_schema()).await;
    create_table(
        &c,
        "other-shape",
        &KeySchema::hash_only("id", ScalarType::N),
    )
    .await;
    let primary_table = |name: &'static str| Table::new(c.clone(), name, "PRIMARY_TABLE");
    let replica_table = |name: &'static str| Table::new(c.clone(), name, "REPLICA_TABLE");

    let err = Replicator::connect(primary_table("missing"), replica_table(PRIMARY), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("PRIMARY_TABLE=missing: DescribeTable failed"),
        "{err}"
    );
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    let err = Replicator::connect(
        primary_table(PRIMARY),
        replica_table("other-shape"),
        tuning(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("REPLICA_TABLE=other-shape: its key schema"),
        "{err}"
    );

    // A table cannot be its own replica.
    let err = Replicator::connect(primary_table(PRIMARY), replica_table(PRIMARY), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("REPLICA_TABLE=dyno-primary is the primary table itself"),
        "{err}"
    );

    server.kill();
    let err = Replicator::connect(primary_table(PRIMARY), replica_table("r"), tuning())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("PRIMARY_TABLE=dyno-primary: DescribeTable failed"),
        "{err}"
    );
}

#[test]
fn the_lambda_binary_stops_at_init_naming_a_missing_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replicator"))
        .env_clear()
        .env("REPLICA_TABLE", "r")
        .output()
        .expect("run the replicator binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PRIMARY_TABLE is not set"), "{stderr}");
}
