//! The writer's path under faults: a fault proxy in front of the primary (dynalite) and one in
//! front of the stream (kinesalite). A write whose outcome is unknown (the connection reset after
//! the request reached the server, a 5xx) is announced anyway and reported as unknown; only a
//! definite refusal announces nothing; `PutRecords` entries that fail are sent again; and after
//! the local event source mapping drains the stream, the replica equals the primary.

use crate::common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::faults::{Fault, FaultProxy, Plan};
use common::pipeline::Pipeline;
use common::*;
use dyno::aws::stream::Stream;
use dyno::publish::writer::{WriteError, Writer};

struct Rig {
    /// The system; its own writer goes straight to the servers, and is not used here.
    pipeline: Pipeline,
    /// In front of the primary, on the writer's path only.
    db_proxy: FaultProxy,
    /// In front of kinesalite, on the writer's path only.
    kinesis_proxy: FaultProxy,
    /// The writer under test: through both proxies.
    writer: Writer,
}

async fn rig() -> Rig {
    let pipeline = Pipeline::start(1).await;
    let db_proxy = FaultProxy::start(pipeline.servers[0].port).await;
    let kinesis_proxy = FaultProxy::start(pipeline.servers[2].port).await;
    let writer = Writer::connect(
        table_at(&db_proxy.endpoint, "us-east-1", PRIMARY, &tuning(), None).await,
        stream_at(&kinesis_proxy.endpoint, STREAM).await,
    )
    .await
    .expect("writer");
    Rig {
        pipeline,
        db_proxy,
        kinesis_proxy,
        writer,
    }
}

impl Rig {
    /// How many records on the stream announce `subject`.
    async fn records_of(&self, subject: &str) -> usize {
        let key = key_of(subject);
        self.announced().await.iter().filter(|k| **k == key).count()
    }

    /// The partition keys on the stream, in order.
    async fn announced(&self) -> Vec<String> {
        stream_records(&self.pipeline.stream.client, STREAM)
            .await
            .iter()
            .map(|r| r.partition_key().unwrap_or_default().to_owned())
            .collect()
    }

    async fn on_primary(&self, subject: &str) -> Option<Item> {
        self.pipeline
            .primary
            .client
            .get_item()
            .table_name(PRIMARY)
            .key("ForumName", s("f"))
            .key("Subject", s(subject))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }
}

fn key_of(subject: &str) -> String {
    format!(r#"ForumName=S:"f",Subject=S:"{subject}""#)
}

/// Every attempt of the first call gets `fault` (the SDK makes three).
fn every_attempt(operation: &str, fault: Fault) -> Plan {
    Plan::script(&[operation], &[Some(fault); 3])
}

async fn put(rig: &Rig, subject: &str, body: &str) -> Result<(), WriteError> {
    let request = rig
        .writer
        .put()
        .set_item(Some(thread_item("f", subject, body)));
    rig.writer.put_item(request).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_answer_is_lost_is_announced_and_converges() {
    bounded(Duration::from_secs(120), "lost answers", async {
        let rig = rig().await;
        // Reset after forwarding: the write reached the server, the client saw only failures.
        rig.db_proxy
            .set_plan(every_attempt("PutItem", Fault::ResetAfter));
        let err = put(&rig, "after", "v1").await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert!(
            err.to_string().contains("outcome of the write is unknown"),
            "{err}"
        );
        assert!(err.to_string().contains("was announced"), "{err}");
        assert_eq!(
            rig.db_proxy.stats().injected("PutItem", Fault::ResetAfter),
            3
        );
        assert!(
            rig.on_primary("after").await.is_some(),
            "the write reached the server"
        );

        // Reset before forwarding: the client sees the same failure, but nothing was written;
        // announcing it anyway costs one read and harms nothing.
        rig.db_proxy
            .set_plan(every_attempt("PutItem", Fault::ResetBefore));
        let err = put(&rig, "before", "v1").await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert_eq!(
            rig.db_proxy.stats().injected("PutItem", Fault::ResetBefore),
            3
        );
        assert!(
            rig.on_primary("before").await.is_none(),
            "nothing reached the server"
        );

        // A 500 on every attempt: unknown as well.
        rig.db_proxy
            .set_plan(every_attempt("PutItem", Fault::InternalServerError));
        let err = put(&rig, "five-hundred", "v1").await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert_eq!(
            rig.db_proxy
                .stats()
                .injected("PutItem", Fault::InternalServerError),
            3
        );

        assert_eq!(
            rig.announced().await,
            [key_of("after"), key_of("before"), key_of("five-hundred")]
        );
        assert_eq!(rig.pipeline.converge().await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_deletes_with_unknown_outcomes_are_announced() {
    bounded(Duration::from_secs(120), "updates and deletes", async {
        let rig = rig().await;
        put(&rig, "u", "v1").await.unwrap();
        put(&rig, "d", "v1").await.unwrap();
        assert_eq!(rig.pipeline.converge().await, 2);

        rig.db_proxy
            .set_plan(every_attempt("UpdateItem", Fault::ResetAfter));
        let update = rig
            .writer
            .update()
            .set_key(Some(workload_key("u")))
            .update_expression("SET Body = :b")
            .expression_attribute_values(":b", s("v2"));
        let err = rig.writer.update_item(update).await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert_eq!(
            rig.db_proxy
                .stats()
                .injected("UpdateItem", Fault::ResetAfter),
            3
        );

        // A delete forwarded (and applied) whose every answer is lost: its outcome is unknown,
        // so it is announced, and the replica's copy goes too.
        rig.db_proxy
            .set_plan(every_attempt("DeleteItem", Fault::ResetAfter));
        let delete = rig.writer.delete().set_key(Some(workload_key("d")));
        let err = rig.writer.delete_item(delete).await.unwrap_err();
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert_eq!(
            rig.db_proxy
                .stats()
                .injected("DeleteItem", Fault::ResetAfter),
            3
        );
        assert!(
            rig.on_primary("d").await.is_none(),
            "the delete was applied"
        );
        // Each key: its put, then the write whose outcome is unknown.
        assert_eq!(
            (rig.records_of("u").await, rig.records_of("d").await),
            (2, 2)
        );

        // The update was applied (reset after forwarding); the replica follows the primary.
        assert_eq!(rig.on_primary("u").await.unwrap()["Body"], s("v2"));
        assert_eq!(rig.pipeline.converge().await, 1);
        let replica = scan_all(&rig.pipeline.replica.client, REPLICA, &thread_schema()).await;
        assert_eq!(replica.len(), 1);
        assert!(replica.values().all(|item| item["Body"] == s("v2")));
        assert!(
            replica.values().all(|item| item["Subject"] == s("u")),
            "the deleted key is still on the replica"
        );
    })
    .await;
}

fn workload_key(subject: &str) -> Item {
    let mut key = thread_item("f", subject, "");
    key.remove("Body");
    key
}

/// The first attempt of a conditional put is applied but its answer lost; the SDK's retry is then
/// refused by the condition. The write did happen: it must not be taken for a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_retry_of_an_applied_write_is_unknown_not_refused() {
    bounded(Duration::from_secs(120), "refused retry", async {
        let rig = rig().await;
        rig.db_proxy
            .set_plan(Plan::script(&["PutItem"], &[Some(Fault::ResetAfter), None]));
        let request = rig
            .writer
            .put()
            .set_item(Some(thread_item("f", "once", "v1")))
            .condition_expression("attribute_not_exists(ForumName)");
        let err = rig.writer.put_item(request).await.unwrap_err();
        assert!(!err.is_conditional_check_failed(), "{err}");
        assert!(matches!(err, WriteError::Unknown { .. }), "{err}");
        assert_eq!(rig.db_proxy.stats().requests.get("PutItem"), Some(&2));
        assert_eq!(rig.announced().await, [key_of("once")]);
        assert_eq!(rig.pipeline.converge().await, 1);

        // A plain refusal (no fault) announces nothing.
        rig.db_proxy.set_plan(Plan::off());
        let request = rig
            .writer
            .put()
            .set_item(Some(thread_item("f", "once", "v2")))
            .condition_expression("attribute_not_exists(ForumName)");
        let err = rig.writer.put_item(request).await.unwrap_err();
        assert!(err.is_conditional_check_failed(), "{err}");
        assert_eq!(rig.announced().await.len(), 1);
    })
    .await;
}

fn puts(range: std::ops::Range<usize>) -> Vec<WriteRequest> {
    range
        .map(|i| {
            let mut item = thread_item("f", &format!("b{i:03}"), "batch");
            item.insert("n".into(), AttributeValue::N(i.to_string()));
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_with_unknown_outcomes_are_announced() {
    bounded(Duration::from_secs(120), "batches", async {
        let rig = rig().await;
        // The first chunk's three attempts are reset after forwarding; the second goes through.
        rig.db_proxy
            .set_plan(every_attempt("BatchWriteItem", Fault::ResetAfter));
        let err = rig.writer.write_batch(puts(0..50)).await.unwrap_err();
        match &err {
            WriteError::Batch(batch) => {
                assert_eq!((batch.written, batch.unknown.len()), (25, 25));
                assert!(batch.not_written.is_empty());
            }
            other => panic!("expected a batch error, got {other}"),
        }
        assert!(err.to_string().contains("unknown outcome"), "{err}");
        assert_eq!(
            rig.db_proxy
                .stats()
                .injected("BatchWriteItem", Fault::ResetAfter),
            3
        );
        assert_eq!(rig.announced().await.len(), 50);

        // A 500 on every attempt of the first chunk: unknown too, and announced.
        rig.db_proxy
            .set_plan(every_attempt("BatchWriteItem", Fault::InternalServerError));
        let err = rig.writer.write_batch(puts(50..75)).await.unwrap_err();
        assert!(
            matches!(&err, WriteError::Batch(b) if b.unknown.len() == 25),
            "{err}"
        );
        assert_eq!(rig.announced().await.len(), 75);
        assert_eq!(rig.pipeline.converge().await, 50);
    })
    .await;
}

/// `PutRecords` under throttling, partial failures, 5xx and resets: every key written is announced
/// at least once, or the writer names the keys it could not announce (which `announce` then
/// puts on the stream); the replica converges either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_failing_on_the_writer_loses_no_key() {
    bounded(Duration::from_secs(180), "stream faults", async {
        let rig = rig().await;
        let faults = [
            Fault::ProvisionedThroughputExceeded,
            Fault::PartialBatch,
            Fault::InternalServerError,
            Fault::ResetBefore,
            Fault::ResetAfter,
        ];
        rig.kinesis_proxy
            .set_plan(Plan::on(&["PutRecords"], &faults, 0.5, 23));
        let mut unannounced = Vec::new();
        let mut failed_calls = 0;
        // At least 40 writes, and more (at most 200) until every kind of fault has been injected:
        // which request gets which fault depends on its (random) contents.
        let every_kind = || {
            let stats = rig.kinesis_proxy.stats();
            faults.iter().all(|f| stats.injected("PutRecords", *f) > 0)
        };
        let mut written = 0;
        while written < 40 || (written < 200 && !every_kind()) {
            let i = written;
            written += 1;
            match put(&rig, &format!("k{i:03}"), "v").await {
                Ok(()) => {}
                Err(WriteError::NotPublished { source, .. }) => {
                    failed_calls += 1;
                    unannounced.extend(source.keys);
                }
                Err(other) => panic!("unexpected: {other}"),
            }
        }
        let batch = rig.writer.write_batch(puts(0..60)).await;
        if let Err(err) = batch {
            failed_calls += 1;
            unannounced.extend(err.unannounced().iter().cloned());
        }
        let stats = rig.kinesis_proxy.stats();
        for fault in faults {
            assert!(
                stats.injected("PutRecords", fault) > 0,
                "{fault:?} was not injected: {stats:?}"
            );
        }
        // Every key is on the stream, or named as not announced.
        let announced = rig.announced().await;
        for i in 0..written {
            let key = key_of(&format!("k{i:03}"));
            let named = unannounced.iter().any(|k| k.to_string() == key);
            assert!(announced.contains(&key) || named, "{key} lost");
        }
        for i in 0..60 {
            let key = key_of(&format!("b{i:03}"));
            let named = unannounced.iter().any(|k| k.to_string() == key);
            assert!(announced.contains(&key) || named, "{key} lost");
        }
        println!(
            "stream faults: {stats:?}; {failed_calls} calls with unannounced keys, {} keys named",
            unannounced.len()
        );
        // What the writer named is announced again, as `dyno announce` does.
        rig.kinesis_proxy.set_plan(Plan::off());
        rig.writer.announce(&unannounced).await.expect("announce");
        assert_eq!(rig.pipeline.converge().await, written + 60);
    })
    .await;
}

/// Group commit: 64 callers at once share `PutRecords` calls, each learns what became of its
/// own record, and every key is on the stream once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_put_records_calls() {
    use futures::stream::{self, StreamExt};
    bounded(Duration::from_secs(120), "group commit", async {
        let rig = rig().await;
        let counter = common::calls::CallCounter::default();
        let kinesis = dyno::aws::client::kinesis_config(
            &sdk_config().await,
            Some(&rig.kinesis_proxy.endpoint),
            &tuning(),
        )
        .interceptor(counter.clone());
        let stream = Stream::new(
            aws_sdk_kinesis::Client::from_conf(kinesis.build()),
            STREAM,
            "STREAM",
        );
        let writer = Writer::connect(rig.writer.table().clone(), stream)
            .await
            .unwrap();
        let writes = 640;
        let outcomes: Vec<_> = stream::iter(0..writes)
            .map(|i| {
                let writer = &writer;
                async move {
                    let item = thread_item("f", &format!("g{i:04}"), "v");
                    writer.put_item(writer.put().set_item(Some(item))).await
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        assert!(outcomes.iter().all(Result::is_ok));
        let calls = counter.get("PutRecords");
        println!("group commit: {writes} writes, {calls} PutRecords calls");
        assert!(
            calls > 0 && calls * 4 < writes as u64,
            "{calls} calls for {writes} writes"
        );
        assert_eq!(writer.publisher().calls(), calls);
        let mut announced = rig.announced().await;
        announced.sort();
        announced.dedup();
        assert_eq!(announced.len(), writes);

        // Now with a stream that refuses every call: each caller is told exactly about its own
        // key, though its record shared calls with others.
        rig.kinesis_proxy.set_plan(Plan::on(
            &["PutRecords"],
            &[Fault::ServiceUnavailable],
            1.0,
            41,
        ));
        let outcomes: Vec<(String, Result<(), WriteError>)> = stream::iter(0..64)
            .map(|i| {
                let writer = &writer;
                async move {
                    let subject = format!("p{i:02}");
                    let item = thread_item("f", &subject, "v");
                    let result = writer
                        .put_item(writer.put().set_item(Some(item)))
                        .await
                        .map(|_| ());
                    (key_of(&subject), result)
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let mut unannounced = Vec::new();
        for (key, outcome) in &outcomes {
            if let Err(err) = outcome {
                let named: Vec<String> = err.unannounced().iter().map(|k| k.to_string()).collect();
                assert_eq!(named, std::slice::from_ref(key), "{err}");
                unannounced.extend(err.unannounced().iter().cloned());
            }
        }
        assert_eq!(unannounced.len(), 64);
        let stats = rig.kinesis_proxy.stats();
        assert!(stats.injected("PutRecords", Fault::ServiceUnavailable) > 0);
        rig.kinesis_proxy.set_plan(Plan::off());
        writer.announce(&unannounced).await.unwrap();
        assert_eq!(rig.pipeline.converge().await, writes + 64);
    })
    .await;
}
