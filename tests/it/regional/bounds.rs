//! A session stays within its bound: 10,000 writes through the real writer (1,000 single puts,
//! 64 at once, then 9,000 in batches of 500, 4 at once) leave it holding the 1,000 written last,
//! its token small; a key it forgot is a plain local read.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use dyno::regional::served::{Source, Why};
use dyno::regional::session::{Limits, Session};
use dyno::regional::session_file;
use futures::stream::{self, StreamExt};

use super::common::*;
use super::{Rig, served, thread_key, versioned};

const WRITES: usize = 10_000;
const SINGLE: usize = 1_000;
const BATCH: usize = 500;
const BOUND: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_writes_in_one_session_stay_within_its_bound() {
    bounded(Duration::from_secs(120), "10,000 writes", async {
        let rig = Rig::start().await;
        let limits = Limits {
            max_keys: BOUND,
            max_age: Duration::from_secs(600),
        };
        let session = rig.regional.session(limits);
        let started = Instant::now();
        let singles = stream::iter(0..SINGLE)
            .map(|n| {
                let (regional, session) = (&rig.regional, &session);
                async move {
                    let item = versioned(&format!("b{n:05}"), 1);
                    let put = regional.writer().put().set_item(Some(item));
                    regional.put_item(session, put).await.expect("put");
                    session.len()
                }
            })
            .buffer_unordered(64)
            .fold(0, |most, len| async move { most.max(len) })
            .await;
        let singles_took = started.elapsed();
        let batches: Vec<Vec<WriteRequest>> = (SINGLE..WRITES)
            .map(|n| {
                let item = versioned(&format!("b{n:05}"), 1);
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect::<Vec<_>>()
            .chunks(BATCH)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        let largest = stream::iter(batches)
            .map(|batch| {
                let (regional, session) = (&rig.regional, &session);
                async move {
                    let n = batch.len();
                    assert_eq!(
                        regional.write_batch(session, batch).await.expect("batch"),
                        n
                    );
                    session.len()
                }
            })
            .buffer_unordered(4)
            .fold(singles, |most, len| async move { most.max(len) })
            .await;
        let took = started.elapsed();
        eprintln!("{WRITES} session writes in {took:?} ({SINGLE} single puts in {singles_took:?})");

        // The oracle: every write is on the primary.
        let written = scan_all(&rig.pipeline.primary.client, PRIMARY, &thread_schema()).await;
        assert_eq!(written.len(), WRITES);
        // The session never held more than its bound, and forgot the rest oldest first.
        assert_eq!(largest, BOUND);
        assert_eq!(session.len(), BOUND);
        assert_eq!(session.forgotten().over_bound, (WRITES - BOUND) as u64);
        let token = session_file::to_token(&session);
        assert!(token.len() < BOUND * 160, "{} bytes", token.len());
        let again = session_file::from_token(&token, PRIMARY, None, limits).unwrap();
        assert_eq!(again.held(), session.held());
        // A saved session is loaded within the loader's bound.
        let small = Limits {
            max_keys: 10,
            ..limits
        };
        assert_eq!(
            session_file::from_token(&token, PRIMARY, None, small)
                .unwrap()
                .len(),
            10
        );

        // The key written last is held: the primary answers. One written first was forgotten:
        // a plain local read, which (not replicated yet) finds nothing.
        let held: Vec<Item> = session.held_keys();
        let newest = held.last().unwrap();
        let subject = |key: &Item| match &key["Subject"] {
            aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
            _ => unreachable!(),
        };
        let (read, _) = rig.session_read(&session, &subject(newest)).await;
        assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
        assert!(read.item.is_some());
        let forgotten = (0..WRITES)
            .map(|n| thread_key(&format!("b{n:05}")))
            .find(|k| !held.contains(k))
            .unwrap();
        let (read, calls) = rig.session_read(&session, &subject(&forgotten)).await;
        assert_eq!(read.served, served(Source::Replica, Why::NotHeld));
        assert_eq!(read.item, None);
        assert_eq!(calls, (0, 1));
        assert_bounded_alone();
    })
    .await;
}

/// The bound alone, without a server: 10,000 records keep the 1,000 newest, in order.
fn assert_bounded_alone() {
    let session = Session::new(
        PRIMARY,
        Limits {
            max_keys: BOUND,
            max_age: Duration::from_secs(600),
        },
    );
    for n in 0..WRITES {
        session.record_at(
            thread_key(&format!("b{n:05}")),
            dyno::regional::session::Expect::Absent,
            n as u64,
        );
        assert!(session.len() <= BOUND);
    }
    let held = session.held_at(WRITES as u64);
    let first = WRITES - BOUND;
    assert!(
        held.iter()
            .enumerate()
            .all(|(i, h)| h.key == thread_key(&format!("b{:05}", first + i)))
    );
}
