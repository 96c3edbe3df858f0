//! A session's query checks the few held keys in its range on the replica (one `GetItem` each,
//! at most `QUERY_CHECKS`) before going to the primary: those caught up leave the session, and
//! the replica answers; each call counted on the server it reached.

use std::time::Duration;

use dyno::regional::query::Query;
use dyno::regional::reader::ReadFrom;
use dyno::regional::served::{Source, Why};
use dyno::regional::session::Limits;

use super::common::*;
use super::queries::{Forums, post, query};
use super::served;
/// A query that would go to the primary for held keys checks them on the replica first (one
/// `GetItem` each, at most `QUERY_CHECKS`): caught up, they leave the session and the replica
/// answers. More held keys in range than that, or a deleted one, go to the primary unchecked.
/// A query that fails is not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_checks_the_few_held_keys_in_its_range_and_forgets_those_caught_up() {
    use dyno::regional::reader::queries::QUERY_CHECKS;
    bounded(Duration::from_secs(180), "query checks", async {
        let f = Forums::start().await;
        let w = f.regional.writer();
        let session = f.regional.session(Limits::default());
        for n in ["01", "02"] {
            let put = w.put().set_item(Some(post("a", n, "ann", "x")));
            f.regional.put_item(&session, put).await.unwrap();
        }
        for n in 0..=QUERY_CHECKS {
            let put = w
                .put()
                .set_item(Some(post("b", &format!("{n:02}"), "bob", "y")));
            f.regional.put_item(&session, put).await.unwrap();
        }
        f.replicate().await;
        let gets = || {
            (
                f.primary_calls.get("GetItem"),
                f.replica_calls.get("GetItem"),
            )
        };

        // Partition a: its 2 held keys are checked (2 GetItems on the replica), caught up.
        let q = query(None, "ForumName", "a");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Replica, Why::QueryClear));
        assert_eq!(calls, (0, 1));
        assert_eq!(gets(), (0, 2));
        assert_eq!(items.len(), 2);
        assert_eq!(session.len(), QUERY_CHECKS + 1, "a's keys left the session");
        assert_eq!(session.forgotten().caught_up, 2);
        // Again: nothing held there, no check.
        let ((how, _), _) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Replica, Why::QueryClear));
        assert_eq!(gets(), (0, 0));

        // Partition b: 26 held keys, more than are checked: the primary, no GetItem.
        let q = query(None, "ForumName", "b");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Primary, Why::QueryRange));
        assert_eq!((calls, gets()), ((1, 0), (0, 0)));
        assert_eq!(items.len(), QUERY_CHECKS + 1);

        // A key deleted in the session: the primary, unchecked (the replica's absence proves
        // nothing), while the session holds it.
        let delete = w.delete().set_key(Some(
            dyno::aws::json::parse_item(r#"{"ForumName":{"S":"a"},"Subject":{"S":"01"}}"#).unwrap(),
        ));
        f.regional.delete_item(&session, delete).await.unwrap();
        f.replicate().await;
        let q = query(None, "ForumName", "a");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Primary, Why::QueryRange));
        assert_eq!((calls, gets()), ((1, 0), (0, 0)));
        assert_eq!(items.len(), 1);

        // A query DynamoDB refuses is counted nowhere.
        let before = f.regional.counts();
        let bad = Query {
            key_condition: "ForumName = :missing".to_owned(),
            ..query(None, "ForumName", "a")
        };
        assert!(
            f.regional
                .query_all(None, &bad, ReadFrom::Replica)
                .await
                .is_err()
        );
        assert_eq!(f.regional.counts(), before);
    })
    .await;
}
