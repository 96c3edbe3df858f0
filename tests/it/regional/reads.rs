//! Session reads of a key the session wrote: served by the primary while the replica has not
//! caught up (counted on each server), by the replica once it has (and the key leaves the
//! session); the whole new item of an update is what must match; a delete reads as nothing while
//! the replica still has the item; another session is promised nothing; reads never go back.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dyno::regional::client::Regional;
use dyno::regional::reader::ReadFrom;
use dyno::regional::served::{Source, Why};
use dyno::regional::session::{Expect, Limits};

use super::common::*;
use super::{Rig, same, served, thread_key, version, versioned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_is_read_from_the_primary_until_the_replica_has_it_then_from_the_replica() {
    bounded(Duration::from_secs(120), "put then read", async {
        let rig = Rig::start().await;
        let session = rig.session();
        let item = versioned("t1", 1);
        let put = rig.regional.writer().put().set_item(Some(item.clone()));
        rig.regional.put_item(&session, put).await.expect("put");

        // Not replicated yet: the oracle sees it on the primary only.
        assert!(same(&rig.on_primary("t1").await, &Some(item.clone())));
        assert_eq!(rig.on_replica("t1").await, None);

        // The session read: the replica is asked (1 call), lacks it, the primary answers (1 call).
        let (read, (primary, replica)) = rig.session_read(&session, "t1").await;
        assert!(same(&read.item, &Some(item.clone())), "{read:?}");
        assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
        assert_eq!((primary, replica), (1, 1));
        // A plain replica read does not have it.
        rig.reset_calls();
        let plain = rig
            .regional
            .get(thread_key("t1"), ReadFrom::Replica)
            .await
            .unwrap();
        assert_eq!(plain.item, None);
        assert_eq!(plain.served, served(Source::Replica, Why::Asked));
        assert_eq!(rig.gets(), (0, 1));
        assert!(session.expected(&thread_key("t1")).is_some());

        // The replicator runs: the same session read is served by the replica alone, and the key
        // leaves the session.
        rig.replicate().await;
        assert!(same(&rig.on_replica("t1").await, &Some(item.clone())));
        let (read, calls) = rig.session_read(&session, "t1").await;
        assert!(same(&read.item, &Some(item.clone())));
        assert_eq!(read.served, served(Source::Replica, Why::CaughtUp));
        assert_eq!(calls, (0, 1));
        assert_eq!(session.expected(&thread_key("t1")), None);
        assert_eq!(session.forgotten().caught_up, 1);
        // From now on a plain local read.
        let (read, calls) = rig.session_read(&session, "t1").await;
        assert_eq!(read.served, served(Source::Replica, Why::NotHeld));
        assert_eq!(calls, (0, 1));

        // dyno's counts: 1 read served by the primary, 3 by the replica (the servers saw 1 and 4
        // GetItems: the first read asked both).
        let counts = rig.regional.counts();
        assert_eq!((counts.primary, counts.replica), (1, 3));
        assert_eq!(
            (
                counts.not_caught_up,
                counts.asked,
                counts.caught_up,
                counts.not_held
            ),
            (1, 1, 1, 1)
        );

        // A read table that DynamoDB says is the primary itself is refused, whatever its name.
        let writer = rig.regional.writer().clone();
        let err = Regional::connect(writer, rig.pipeline.primary.clone())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is the primary table itself"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_caught_up_only_when_the_replica_has_the_whole_new_item() {
    bounded(Duration::from_secs(120), "update", async {
        let rig = Rig::start().await;
        let w = rig.regional.writer();
        let mut old = versioned("t2", 1);
        old.insert(
            "Tags".into(),
            AttributeValue::Ss(vec!["a".into(), "b".into()]),
        );
        w.put_item(w.put().set_item(Some(old.clone())))
            .await
            .unwrap();
        rig.replicate().await;

        let session = rig.session();
        let update = w
            .update()
            .set_key(Some(thread_key("t2")))
            .update_expression("SET Version = :v")
            .expression_attribute_values(":v", AttributeValue::N("2".into()));
        let out = rig.regional.update_item(&session, update).await.unwrap();
        let whole = rig.on_primary("t2").await;
        assert!(same(&out.attributes, &whole), "ALL_NEW was asked for");
        assert_eq!(version(&whole), Some(2));
        assert!(whole.as_ref().is_some_and(|i| i.contains_key("Tags")));

        // The replica still has version 1: the primary answers, with the whole new item.
        let (read, calls) = rig.session_read(&session, "t2").await;
        assert!(same(&read.item, &whole));
        assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
        assert_eq!(calls, (1, 1));

        // A replica holding only the changed attributes (what a digest of the update's values
        // would match) has not caught up either.
        let mut partial = thread_key("t2");
        partial.insert("Version".into(), AttributeValue::N("2".into()));
        rig.pipeline
            .replica
            .client
            .put_item()
            .table_name(REPLICA)
            .set_item(Some(partial))
            .send()
            .await
            .unwrap();
        let (read, calls) = rig.session_read(&session, "t2").await;
        assert!(same(&read.item, &whole));
        assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
        assert_eq!(calls, (1, 1));

        // The replicator copies the whole item: numbers spelled otherwise and sets in another
        // order still match, and the replica serves it.
        rig.replicate().await;
        let (read, calls) = rig.session_read(&session, "t2").await;
        assert!(same(&read.item, &whole));
        assert_eq!(read.served, served(Source::Replica, Why::CaughtUp));
        assert_eq!(calls, (0, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_reads_as_nothing_on_the_primary_until_max_age_has_passed() {
    bounded(Duration::from_secs(120), "delete", async {
        let rig = Rig::start().await;
        let w = rig.regional.writer();
        w.put_item(w.put().set_item(Some(versioned("t3", 1))))
            .await
            .unwrap();
        rig.replicate().await;

        let session = rig.regional.session(Limits::new(100, MAX_AGE).unwrap());
        let delete = w.delete().set_key(Some(thread_key("t3")));
        rig.regional.delete_item(&session, delete).await.unwrap();
        assert_eq!(session.expected(&thread_key("t3")), Some(Expect::Absent));
        assert_eq!(rig.on_primary("t3").await, None);
        assert_eq!(version(&rig.on_replica("t3").await), Some(1), "still there");

        // The primary alone answers: the replica is not even asked.
        let (read, calls) = rig.session_read(&session, "t3").await;
        assert_eq!(read.item, None);
        assert_eq!(read.served, served(Source::Primary, Why::Deleted));
        assert_eq!(calls, (1, 0));

        // Replicated: the replica's absence still proves nothing, so the primary answers.
        rig.replicate().await;
        assert_eq!(rig.on_replica("t3").await, None);
        let (read, calls) = rig.session_read(&session, "t3").await;
        assert_eq!(read.item, None);
        assert_eq!(read.served, served(Source::Primary, Why::Deleted));
        assert_eq!(calls, (1, 0));
        // Past max_age, the key leaves the session: a plain replica read.
        tokio::time::sleep(MAX_AGE).await;
        let (read, calls) = rig.session_read(&session, "t3").await;
        assert_eq!(read.item, None);
        assert_eq!(read.served, served(Source::Replica, Why::NotHeld));
        assert_eq!(calls, (0, 1));
        assert!(session.is_empty());
    })
    .await;
}

const MAX_AGE: Duration = Duration::from_millis(1_500);

/// A new key put then deleted in a session: the replica shows "absent" at once, before it saw
/// either write. The replicator's copy of the put, which read the primary before the delete,
/// then lands late on the replica (written here with the plain SDK): a session read must never
/// return that deleted item while the session holds the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_item_is_never_brought_back_by_a_late_write_while_the_session_holds_it() {
    bounded(Duration::from_secs(120), "resurrection", async {
        let rig = Rig::start().await;
        let session = rig.session();
        let item = versioned("t6", 1);
        let w = rig.regional.writer();
        let put = w.put().set_item(Some(item.clone()));
        rig.regional.put_item(&session, put).await.unwrap();
        let delete = w.delete().set_key(Some(thread_key("t6")));
        rig.regional.delete_item(&session, delete).await.unwrap();
        assert_eq!(
            rig.on_replica("t6").await,
            None,
            "the replica saw neither write"
        );

        let (read, _) = rig.session_read(&session, "t6").await;
        assert_eq!(read.item, None);
        assert_eq!(read.served, served(Source::Primary, Why::Deleted));
        assert_eq!(session.expected(&thread_key("t6")), Some(Expect::Absent));

        // The late write lands.
        let replica = &rig.pipeline.replica.client;
        let late = replica.put_item().table_name(super::super::common::REPLICA);
        late.set_item(Some(item)).send().await.unwrap();
        for _ in 0..3 {
            let (read, calls) = rig.session_read(&session, "t6").await;
            assert_eq!(read.item, None, "a deleted item came back: {read:?}");
            assert_eq!(read.served, served(Source::Primary, Why::Deleted));
            assert_eq!(calls, (1, 0));
        }
        // The replicator's own records then settle the replica.
        rig.replicate().await;
        assert_eq!(rig.on_replica("t6").await, None);
    })
    .await;
}

/// Monotonic reads: the session put D; another writer (no session) put W; a session read
/// returned W from the primary. The replicator's in-flight copy of D then lands on the replica
/// (written here with the plain SDK): the next read must not return D, older than W. The same
/// after a query of the table that the primary answered with W.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_read_never_goes_back_from_a_newer_item_it_returned() {
    bounded(
        Duration::from_secs(120),
        "monotonic after another writer",
        async {
            let rig = Rig::start().await;
            let session = rig.session();
            let w = rig.regional.writer();
            let replica = &rig.pipeline.replica.client;
            for (subject, by_query) in [("t7", false), ("t8", true)] {
                let (d, newer) = (versioned(subject, 1), versioned(subject, 2));
                let put = w.put().set_item(Some(d.clone()));
                rig.regional.put_item(&session, put).await.unwrap();
                w.put_item(w.put().set_item(Some(newer.clone())))
                    .await
                    .unwrap();
                if by_query {
                    let q = dyno::regional::query::Query {
                        key_condition: "ForumName = :f AND Subject = :s".to_owned(),
                        values: Some(
                            [(":f".to_owned(), s("f")), (":s".to_owned(), s(subject))].into(),
                        ),
                        ..Default::default()
                    };
                    let (how, items) = (rig.regional)
                        .query_all(Some(&session), &q, ReadFrom::Replica)
                        .await
                        .unwrap();
                    assert_eq!(how, served(Source::Primary, Why::QueryRange));
                    assert_eq!(
                        items
                            .iter()
                            .map(|i| version(&Some(i.clone())))
                            .collect::<Vec<_>>(),
                        [Some(2)]
                    );
                } else {
                    let (read, _) = rig.session_read(&session, subject).await;
                    assert_eq!(version(&read.item), Some(2));
                    assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
                }
                // The in-flight copy of D lands.
                let late = replica.put_item().table_name(super::super::common::REPLICA);
                late.set_item(Some(d)).send().await.unwrap();
                let (read, calls) = rig.session_read(&session, subject).await;
                assert_eq!(version(&read.item), Some(2), "went back to D: {read:?}");
                assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
                assert_eq!(calls, (1, 1));
            }
            // Replicated: the replica holds W, which the keys now expect.
            rig.replicate().await;
            for subject in ["t7", "t8"] {
                let (read, calls) = rig.session_read(&session, subject).await;
                assert_eq!(version(&read.item), Some(2));
                assert_eq!(read.served, served(Source::Replica, Why::CaughtUp));
                assert_eq!(calls, (0, 1));
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sessions_write_is_not_seen_before_the_replica_has_it() {
    bounded(Duration::from_secs(120), "two sessions", async {
        let rig = Rig::start().await;
        let (mine, theirs) = (rig.session(), rig.session());
        let item = versioned("t4", 1);
        let put = rig.regional.writer().put().set_item(Some(item.clone()));
        rig.regional.put_item(&mine, put).await.unwrap();

        // The writing session reads it; the other one reads its replica, which lacks it: a
        // session promises nothing about another session's writes.
        let (read, _) = rig.session_read(&mine, "t4").await;
        assert!(same(&read.item, &Some(item.clone())));
        let (read, calls) = rig.session_read(&theirs, "t4").await;
        assert_eq!(read.item, None);
        assert_eq!(read.served, served(Source::Replica, Why::NotHeld));
        assert_eq!(calls, (0, 1), "the other session never asks the primary");
        assert!(theirs.is_empty());

        rig.replicate().await;
        let (read, _) = rig.session_read(&theirs, "t4").await;
        assert!(same(&read.item, &Some(item)));
        assert_eq!(read.served, served(Source::Replica, Why::NotHeld));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_never_reads_an_older_version_of_its_own_write() {
    bounded(Duration::from_secs(180), "monotonic", async {
        let rig = Rig::start().await;
        let session = rig.session();
        // Writes of versions 1..=6, the replicator run after some of them only, and three reads
        // after each step: every read returns the last version written, whatever the replica
        // holds (which the oracle shows is often older).
        let replicate_after = [1, 2, 4];
        let mut seen = Vec::new();
        let mut older_on_replica = 0;
        for v in 1..=6 {
            let put = rig
                .regional
                .writer()
                .put()
                .set_item(Some(versioned("t5", v)));
            rig.regional.put_item(&session, put).await.unwrap();
            if replicate_after.contains(&v) {
                rig.replicate().await;
            }
            if version(&rig.on_replica("t5").await).is_none_or(|r| r < v) {
                older_on_replica += 1;
            }
            for _ in 0..3 {
                let (read, _) = rig.session_read(&session, "t5").await;
                assert_eq!(version(&read.item), Some(v), "after writing {v}: {read:?}");
                seen.push(version(&read.item));
            }
        }
        assert!(
            older_on_replica >= 3,
            "the replica lagged: {older_on_replica}"
        );
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        // Once caught up and forgotten, plain replica reads: still the last version.
        rig.replicate().await;
        for _ in 0..2 {
            let (read, _) = rig.session_read(&session, "t5").await;
            assert_eq!(version(&read.item), Some(6));
        }
        assert!(session.is_empty());
        let counts = rig.regional.counts();
        assert!(counts.primary >= 9 && counts.replica >= 3, "{counts}");
    })
    .await;
}
