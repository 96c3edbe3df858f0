//! Queries in a session, on a table with a local index (`byPosted`: the table's partition key)
//! and a global one (`byAuthor`): the primary answers when a key the session holds may be in the
//! query's range (its partition, for the table and the local index; any key, for the global
//! index), the replica otherwise; each query is counted on the server that answered, and its
//! items are judged by a plain SDK query of that table.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, TableStatus,
};
use dyno::aws::table::Table;
use dyno::publish::writer::Writer;
use dyno::regional::client::Regional;
use dyno::regional::query::Query;
use dyno::regional::reader::{ReadError, ReadFrom};
use dyno::regional::served::{Served, Source, Why};
use dyno::regional::session::Limits;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;
use futures::TryStreamExt;

use super::common::calls::CallCounter;
use super::common::pipeline::{Pipeline, drain};
use super::common::*;
use super::{REPLICA_REGION, served};

const FORUMS: &str = "forums";
const FORUMS_REPLICA: &str = "forums-replica";

/// `name`: ForumName + Subject, a local index byPosted (ForumName + Posted) and a global index
/// byAuthor (Author + Subject), on demand; waits until it is active.
async fn create_forums(db: &Client, name: &str) {
    let by_posted = LocalSecondaryIndex::builder()
        .index_name("byPosted")
        .key_schema(key_element("ForumName", KeyType::Hash))
        .key_schema(key_element("Posted", KeyType::Range))
        .projection(project_all())
        .build()
        .unwrap();
    let by_author = GlobalSecondaryIndex::builder()
        .index_name("byAuthor")
        .key_schema(key_element("Author", KeyType::Hash))
        .key_schema(key_element("Subject", KeyType::Range))
        .projection(project_all())
        .build()
        .unwrap();
    db.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element("ForumName", KeyType::Hash))
        .key_schema(key_element("Subject", KeyType::Range))
        .attribute_definitions(string_attribute("ForumName"))
        .attribute_definitions(string_attribute("Subject"))
        .attribute_definitions(string_attribute("Posted"))
        .attribute_definitions(string_attribute("Author"))
        .local_secondary_indexes(by_posted)
        .global_secondary_indexes(by_author)
        .send()
        .await
        .expect("CreateTable");
    loop {
        let table = db.describe_table().table_name(name).send().await.unwrap();
        if table.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            break;
        }
        tokio::task::yield_now().await;
    }
}

pub(super) fn post(forum: &str, subject: &str, author: &str, body: &str) -> Item {
    let mut item = thread_item(forum, subject, body);
    item.insert("Author".into(), s(author));
    item.insert("Posted".into(), s(&format!("2026-01-{subject}")));
    item
}

pub(super) fn query(index: Option<&str>, attribute: &str, value: &str) -> Query {
    Query {
        index: index.map(str::to_owned),
        key_condition: "#k = :v".to_owned(),
        names: Some([("#k".to_owned(), attribute.to_owned())].into()),
        values: Some([(":v".to_owned(), s(value))].into()),
        limit: None,
    }
}

/// A plain SDK query of `table` (the oracle), every page, normalized and sorted.
async fn plain_query(db: &Client, table: &str, q: &Query) -> Vec<oracle::Normal> {
    let pages: Vec<_> = db
        .query()
        .table_name(table)
        .set_index_name(q.index.clone())
        .key_condition_expression(&q.key_condition)
        .set_expression_attribute_names(q.names.clone())
        .set_expression_attribute_values(q.values.clone())
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut items: Vec<_> = pages
        .into_iter()
        .map(|i| oracle::item(&i.unwrap()))
        .collect();
    items.sort();
    items
}

fn normal(items: &[Item]) -> Vec<oracle::Normal> {
    let mut items: Vec<_> = items.iter().map(oracle::item).collect();
    items.sort();
    items
}

pub(super) struct Forums {
    pipeline: Pipeline,
    pub(super) regional: Regional,
    replicator: Replicator,
    primary: Table,
    replica: Table,
    pub(super) primary_calls: CallCounter,
    pub(super) replica_calls: CallCounter,
}

impl Forums {
    pub(super) async fn start() -> Forums {
        let pipeline = Pipeline::start(1).await;
        let (p, r) = (&pipeline.servers[0], &pipeline.servers[1]);
        let (primary, replica) = (table(p, FORUMS).await, table(r, FORUMS_REPLICA).await);
        create_forums(&primary.client, FORUMS).await;
        create_forums(&replica.client, FORUMS_REPLICA).await;
        let (primary_calls, replica_calls) = (CallCounter::default(), CallCounter::default());
        let counted_primary = table_at(
            &p.endpoint,
            "us-east-1",
            FORUMS,
            &tuning(),
            Some(&primary_calls),
        )
        .await;
        let counted_replica = table_at(
            &r.endpoint,
            REPLICA_REGION,
            FORUMS_REPLICA,
            &tuning(),
            Some(&replica_calls),
        )
        .await;
        let writer = Writer::connect(counted_primary, pipeline.stream.clone())
            .await
            .unwrap();
        let regional = Regional::connect(writer, counted_replica).await.unwrap();
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .unwrap();
        Forums {
            pipeline,
            regional,
            replicator,
            primary,
            replica,
            primary_calls,
            replica_calls,
        }
    }

    pub(super) async fn replicate(&self) {
        let options = dyno::local::runner::RunnerOptions::default();
        let stats = drain(&self.pipeline.stream, &self.replicator, options).await;
        assert!(stats.skipped.is_empty());
        oracle::assert_tables(&self.primary, &self.replica).await;
    }

    /// A query's answer, and the `Query` calls (primary, replica) it made.
    pub(super) async fn queries(
        &self,
        work: impl std::future::Future<Output = Result<(Served, Vec<Item>), ReadError>>,
    ) -> ((Served, Vec<Item>), (u64, u64)) {
        self.primary_calls.reset();
        self.replica_calls.reset();
        let out = work.await.expect("query");
        let calls = (
            self.primary_calls.get("Query"),
            self.replica_calls.get("Query"),
        );
        (out, calls)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_goes_to_the_primary_only_when_a_held_key_may_be_in_its_range() {
    bounded(Duration::from_secs(180), "queries", async {
        let f = Forums::start().await;
        let w = f.regional.writer();
        let seed = ["01", "02", "03"]
            .iter()
            .flat_map(|n| [post("a", n, "ann", "x"), post("b", n, "bob", "y")]);
        let requests = seed.map(|item| {
            let put = aws_sdk_dynamodb::types::PutRequest::builder()
                .set_item(Some(item))
                .build()
                .unwrap();
            aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(put)
                .build()
        });
        assert_eq!(w.write_batch(requests.collect()).await.unwrap(), 6);
        f.replicate().await;

        let session = f.regional.session(Limits::default());
        let mine = post("a", "04", "zed", "mine");
        let put = w.put().set_item(Some(mine.clone()));
        f.regional.put_item(&session, put).await.unwrap();

        // The table, partition "a" (held): the primary, with the new item the replica lacks.
        let q = query(None, "ForumName", "a");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Primary, Why::QueryRange));
        assert_eq!(calls, (1, 0));
        assert_eq!(
            normal(&items),
            plain_query(&f.primary.client, FORUMS, &q).await
        );
        assert_eq!(items.len(), 4);
        assert_eq!(
            plain_query(&f.replica.client, FORUMS_REPLICA, &q)
                .await
                .len(),
            3
        );
        // Partition "b" holds no key of the session: the replica.
        let q = query(None, "ForumName", "b");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Replica, Why::QueryClear));
        assert_eq!(calls, (0, 1));
        let replica_items = plain_query(&f.replica.client, FORUMS_REPLICA, &q).await;
        assert_eq!(normal(&items), replica_items);
        // The local index shares the table's partition key: the same rule.
        for (forum, expected) in [
            ("a", served(Source::Primary, Why::QueryRange)),
            ("b", served(Source::Replica, Why::QueryClear)),
        ] {
            let q = query(Some("byPosted"), "ForumName", forum);
            let (how, _) = f
                .regional
                .query_all(Some(&session), &q, ReadFrom::Replica)
                .await
                .unwrap();
            assert_eq!(how, expected, "byPosted {forum}");
        }
        // A global index: any held key sends it to the primary, even another author's.
        let q = query(Some("byAuthor"), "Author", "bob");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Primary, Why::QueryRange));
        assert_eq!(calls, (1, 0));
        assert_eq!(items.len(), 3);
        // Outside the session, the replica as asked: it lacks the new item.
        let q = query(None, "ForumName", "a");
        let (how, items) = f
            .regional
            .query_all(None, &q, ReadFrom::Replica)
            .await
            .unwrap();
        assert_eq!(how, served(Source::Replica, Why::Asked));
        assert_eq!(items.len(), 3);
        // A limit caps the items in all.
        let limited = Query {
            limit: Some(2),
            ..q.clone()
        };
        let (_, items) = f
            .regional
            .query_all(Some(&session), &limited, ReadFrom::Replica)
            .await
            .unwrap();
        assert_eq!(items.len(), 2);

        // Replicated, and read once in the session: the key leaves it, and queries are local.
        f.replicate().await;
        let key =
            dyno::aws::json::parse_item(r#"{"ForumName":{"S":"a"},"Subject":{"S":"04"}}"#).unwrap();
        let read = f.regional.get_in(&session, key).await.unwrap();
        assert_eq!(read.served, served(Source::Replica, Why::CaughtUp));
        let q = query(Some("byAuthor"), "Author", "zed");
        let ((how, items), calls) = f
            .queries(f.regional.query_all(Some(&session), &q, ReadFrom::Replica))
            .await;
        assert_eq!(how, served(Source::Replica, Why::QueryClear));
        assert_eq!(calls, (0, 1));
        assert_eq!(normal(&items), normal(&[mine]));

        // An index the table does not have is named, with those it has.
        let q = query(Some("nope"), "ForumName", "a");
        let err = f
            .regional
            .query_all(Some(&session), &q, ReadFrom::Replica)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::NoIndex { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("no index `nope` (its indexes: byAuthor, byPosted)"),
            "{err}"
        );
        let counts = f.regional.counts();
        assert_eq!(counts.query_range, 4, "{counts}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_comes_in_pages_and_stops_at_its_limit() {
    bounded(Duration::from_secs(180), "pages", async {
        let f = Forums::start().await;
        let w = f.regional.writer();
        // Eight items of ~200 KB: more than one 1 MB page.
        let big = "x".repeat(200 * 1024);
        for n in 0..8 {
            let item = post("big", &format!("{n:02}"), "ann", &big);
            w.put_item(w.put().set_item(Some(item))).await.unwrap();
        }
        f.replicate().await;
        let q = query(None, "ForumName", "big");
        let (_, pages) = f.regional.query(None, &q, ReadFrom::Replica).await.unwrap();
        let pages: Vec<Vec<Item>> = pages.try_collect().await.unwrap();
        assert!(pages.len() >= 2, "{} pages", pages.len());
        let all: Vec<Item> = pages.into_iter().flatten().collect();
        assert_eq!(
            normal(&all),
            plain_query(&f.replica.client, FORUMS_REPLICA, &q).await
        );
        assert_eq!(all.len(), 8);
        let limited = Query {
            limit: Some(5),
            ..q
        };
        let ((_, items), calls) = f
            .queries(f.regional.query_all(None, &limited, ReadFrom::Replica))
            .await;
        assert_eq!(items.len(), 5);
        assert_eq!(calls.0, 0);
        assert!(calls.1 >= 1);
    })
    .await;
}
