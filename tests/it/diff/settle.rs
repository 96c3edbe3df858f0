//! A key that settles during the re-check (a write in flight, caught up) is not reported.

use crate::common;

use std::time::Duration;

use common::calls::CallCounter;
use common::oracle;
use common::*;
use dyno::ops::diff::{Counts, DiffOptions, Kind, diff};
use dyno::ops::scan::Segments;

use super::{PRIMARY, REPLICA, item};

/// A key that differs when first read but agrees by the time it is read again (a write in
/// flight, caught up during the settle) is not reported; the calls show it was a suspect, read
/// again on both tables after the settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_that_settles_is_not_reported() {
    let server = Server::dynalite();
    let (primary_calls, replica_calls) = (CallCounter::default(), CallCounter::default());
    let tuning = tuning();
    let counted = |name, calls| table_at(&server.endpoint, "us-east-1", name, &tuning, calls);
    let primary = counted(PRIMARY, Some(&primary_calls)).await;
    let replica = counted(REPLICA, Some(&replica_calls)).await;
    create_table(&primary.client, PRIMARY, &thread_schema()).await;
    create_table(&replica.client, REPLICA, &thread_schema()).await;
    put_items(
        &primary.client,
        PRIMARY,
        (0..50).map(|n| item(n, ["a", "b"])).collect(),
    )
    .await;
    put_items(
        &replica.client,
        REPLICA,
        (1..50).map(|n| item(n, ["a", "b"])).collect(),
    )
    .await;

    let options = DiffOptions {
        segments: Segments::all(1),
        settle: Duration::from_millis(800),
        ..DiffOptions::default()
    };
    let reads = || {
        (
            primary_calls.get("BatchGetItem"),
            replica_calls.get("BatchGetItem"),
        )
    };
    // Not caught up: reported.
    let counts = Counts::default();
    let report = diff(
        &primary,
        &replica,
        &DiffOptions {
            settle: Duration::ZERO,
            ..options.clone()
        },
        &counts,
        |d| {
            assert_eq!(
                d.iter().map(|d| d.kind).collect::<Vec<_>>(),
                [Kind::Missing]
            );
            async { Ok(()) }
        },
    )
    .await
    .unwrap();
    assert_eq!(report.missing, 1);

    // Caught up during the settle (once the replica's page has been read): the re-check finds
    // it equal.
    primary_calls.reset();
    replica_calls.reset();
    let catch_up = async {
        while replica_calls.get("BatchGetItem") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        put_items(&replica.client, REPLICA, vec![item(0, ["a", "b"])]).await;
    };
    let counts = Counts::default();
    let (report, ()) = tokio::join!(
        diff(&primary, &replica, &options, &counts, |_| async { Ok(()) }),
        catch_up
    );
    let report = report.unwrap();
    assert_eq!(report.differences(), 0, "{report:?}");
    assert_eq!(report.primary_items, 50);
    let settled = reads();

    // The same comparison of the tables now equal: no suspect, so no reading again.
    primary_calls.reset();
    replica_calls.reset();
    let report = diff(
        &primary,
        &replica,
        &options,
        &Counts::default(),
        |_| async { Ok(()) },
    )
    .await
    .unwrap();
    assert_eq!(report.differences(), 0, "{report:?}");
    let equal = reads();
    assert_eq!(
        settled,
        (equal.0 + 1, equal.1 + 1),
        "the key was not read again on both tables after the settle"
    );
    oracle::assert_equal_items((&primary.client, PRIMARY), (&replica.client, REPLICA), 50).await;
}
