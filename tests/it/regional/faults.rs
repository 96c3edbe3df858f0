//! A write of unknown outcome in a session: the fault proxy resets the connection after the put
//! reached the primary (every attempt, each fault counted). The session reads the key on the
//! primary until the replica matches what the primary held; a write the proxy refused for sure
//! (a throttle, every attempt) records nothing.

use std::time::Duration;

use dyno::publish::writer::{WriteError, Writer};
use dyno::regional::client::Regional;
use dyno::regional::served::{Source, Why};
use dyno::regional::session::{Expect, Limits};

use super::common::faults::{Fault, FaultProxy, Plan};
use super::common::*;
use super::{Rig, same, served, thread_key, versioned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_reads_the_primary_until_the_replica_matches_it() {
    bounded(Duration::from_secs(120), "unknown outcome", async {
        let rig = Rig::start().await;
        // The session's writer goes through a proxy in front of the primary; its reads do not.
        let proxy = FaultProxy::start(rig.pipeline.servers[0].port).await;
        let proxied = table_at(&proxy.endpoint, "us-east-1", PRIMARY, &tuning(), None).await;
        let writer = Writer::connect(proxied, rig.pipeline.stream.clone())
            .await
            .unwrap();
        let replica = rig.regional.reader().read_table().clone();
        let regional = Regional::connect(writer, replica).await.unwrap();
        let session = regional.session(Limits::default());

        proxy.set_plan(Plan::script(&["PutItem"], &[Some(Fault::ResetAfter); 3]));
        let item = versioned("u1", 1);
        let put = regional.writer().put().set_item(Some(item.clone()));
        let err = regional.put_item(&session, put).await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        let stats = proxy.stats();
        assert_eq!(stats.injected("PutItem", Fault::ResetAfter), 3);
        assert_eq!(stats.requests.get("PutItem"), Some(&3));
        assert_eq!(session.expected(&thread_key("u1")), Some(Expect::Unknown));
        // The oracle: it did happen, and only on the primary.
        assert!(same(&rig.on_primary("u1").await, &Some(item.clone())));
        assert_eq!(rig.on_replica("u1").await, None);

        // The session's reads of the primary go through the proxy too: their calls are counted
        // there, the replica's on the replica's client.
        let reset = || {
            proxy.reset_stats();
            rig.reset_calls();
        };
        let gets = || {
            let primary = proxy.stats().requests.get("GetItem").copied();
            (primary.unwrap_or(0), rig.replica_calls.get("GetItem"))
        };
        // First read: the primary decides (one call, none to the replica) ...
        reset();
        let read = regional.get_in(&session, thread_key("u1")).await.unwrap();
        assert!(same(&read.item, &Some(item.clone())));
        assert_eq!(read.served, served(Source::Primary, Why::UnknownWrite));
        assert_eq!(gets(), (1, 0));
        // ... and from then on the key expects what the primary held: until the replica has it,
        // the primary answers.
        assert_eq!(
            session.expected(&thread_key("u1")),
            Some(Expect::of(Some(&item)))
        );
        reset();
        let read = regional.get_in(&session, thread_key("u1")).await.unwrap();
        assert!(same(&read.item, &Some(item.clone())));
        assert_eq!(read.served, served(Source::Primary, Why::NotCaughtUp));
        assert_eq!(gets(), (1, 1));

        // The key was announced despite the unknown outcome: the replicator copies it.
        rig.replicate().await;
        reset();
        let read = regional.get_in(&session, thread_key("u1")).await.unwrap();
        assert!(same(&read.item, &Some(item)));
        assert_eq!(read.served, served(Source::Replica, Why::CaughtUp));
        assert_eq!(gets(), (0, 1));
        assert!(session.is_empty());

        // A write refused for sure (throttled on every attempt) records nothing.
        reset();
        proxy.set_plan(Plan::script(&["PutItem"], &[Some(Fault::Throttling); 3]));
        let put = regional.writer().put().set_item(Some(versioned("u2", 1)));
        let err = regional.put_item(&session, put).await.unwrap_err();
        assert!(matches!(err, WriteError::Rejected { .. }), "{err}");
        assert_eq!(proxy.stats().injected("PutItem", Fault::Throttling), 3);
        assert_eq!(rig.on_primary("u2").await, None);
        assert!(session.is_empty());
    })
    .await;
}
