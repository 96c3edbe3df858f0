//! Tests of `writer.rs`: a chunk of `write_batch` against mocked, hostile `BatchWriteItem`
//! answers: each key ends up once, written (and announced), unknown (and announced) or not
//! written, round after round.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::aws::write_requests_for_tests::{delete, id_of, item, put, schema};

type Answer = Box<
    dyn Fn(&[WriteRequest]) -> MockResponse<BatchWriteItemOutput, BatchWriteItemError>
        + Send
        + Sync,
>;

fn left(requests: Vec<WriteRequest>) -> MockResponse<BatchWriteItemOutput, BatchWriteItemError> {
    MockResponse::Output(
        BatchWriteItemOutput::builder()
            .unprocessed_items("primary", requests)
            .build(),
    )
}

/// A writer of `primary` whose `BatchWriteItem` answers are `answers`, one a call (then nothing
/// left); the stream is never called by `write_chunk`. Also the ids each call sent.
fn writer(
    answers: Vec<Answer>,
    attempts: u32,
) -> (Writer, Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sent.clone();
    let rule = mock!(Client::batch_write_item).then_compute_response(move |request| {
        let requests = &request.request_items().unwrap()["primary"];
        seen.lock()
            .unwrap()
            .push(requests.iter().map(id_of).collect());
        match answers.get(calls.fetch_add(1, Ordering::SeqCst)) {
            Some(answer) => answer(requests),
            None => left(Vec::new()),
        }
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[rule]);
    let kinesis = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
            .build(),
    );
    let backoff = Backoff {
        max_attempts: attempts,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
    };
    let writer = Writer {
        table: Table::new(client, "primary", "PRIMARY_TABLE"),
        schema: schema(),
        publisher: Publisher::new(Stream::new(kinesis, "s", "STREAM"), "us-east-1", backoff),
        backoff,
    };
    (writer, sent)
}

/// a, b, c puts; d, e deletes.
fn chunk(writer: &Writer) -> Vec<((Key, Change), WriteRequest)> {
    let requests = vec![
        put(item("a", "1")),
        put(item("b", "1")),
        put(item("c", "1")),
        delete("d", "1"),
        delete("e", "1"),
    ];
    requests
        .into_iter()
        .map(|r| {
            let (attrs, change) = match (&r.put_request, &r.delete_request) {
                (Some(p), _) => (Some(p.item().clone()), Change::Modify),
                (None, Some(d)) => (Some(d.key().clone()), Change::Remove),
                _ => unreachable!(),
            };
            ((writer.key_of(&attrs).unwrap(), change), r)
        })
        .collect()
}

/// The writer's `write_chunk` of [`chunk`]: its report, and what it announced.
async fn write_chunk(writer: &Writer) -> (BatchError, Vec<(Key, Change)>) {
    let (mut report, mut announce) = (BatchError::nothing_yet("primary"), Vec::new());
    writer
        .write_chunk(chunk(writer), &mut report, &mut announce)
        .await;
    (report, announce)
}

fn ids(keys: impl IntoIterator<Item = Key>) -> Vec<String> {
    let mut ids: Vec<String> = keys
        .into_iter()
        .map(|k| match &k.to_attributes()["id"] {
            AttributeValue::S(s) => s.clone(),
            _ => panic!(),
        })
        .collect();
    ids.sort();
    ids
}

/// Every key of the chunk once: done (announced, not unknown), unknown (announced) or not
/// written (not announced).
fn accounted(
    report: &BatchError,
    announce: &[(Key, Change)],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let announced = ids(announce.iter().map(|(k, _)| k.clone()));
    let unknown = ids(report.unknown.clone());
    let not_written = ids(report.not_written.clone());
    let done: Vec<String> = announced
        .iter()
        .filter(|a| !unknown.contains(a))
        .cloned()
        .collect();
    let mut all: Vec<String> = done
        .iter()
        .chain(&unknown)
        .chain(&not_written)
        .cloned()
        .collect();
    all.sort();
    assert_eq!(all, ["a", "b", "c", "d", "e"], "each key once");
    assert_eq!(report.written, done.len());
    (done, unknown, not_written)
}

#[tokio::test]
async fn three_rounds_keep_each_place_on_its_key() {
    let answers: Vec<Answer> = vec![
        Box::new(|_| {
            let mut b = item("b", "10E-1");
            b.insert("extra".into(), AttributeValue::Bool(true));
            left(vec![delete("e", "1.000"), put(b)])
        }),
        Box::new(|sent| left(vec![sent.iter().find(|r| id_of(r) == "b").unwrap().clone()])),
        Box::new(|sent| left(sent.to_vec())),
    ];
    let (writer, sent) = writer(answers, 3);
    let (report, announce) = write_chunk(&writer).await;
    assert_eq!(
        *sent.lock().unwrap(),
        [vec!["a", "b", "c", "d", "e"], vec!["b", "e"], vec!["b"]]
    );
    let (done, unknown, not_written) = accounted(&report, &announce);
    assert_eq!(
        (done, unknown, not_written),
        (
            vec!["a".into(), "c".into(), "d".into(), "e".into()],
            vec![],
            vec!["b".into()]
        )
    );
    let changes: Vec<(String, Change)> = announce
        .iter()
        .map(|(k, c)| (ids([k.clone()])[0].clone(), *c))
        .collect();
    assert!(
        changes.contains(&("e".into(), Change::Remove)),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("c".into(), Change::Modify)),
        "{changes:?}"
    );
}

#[tokio::test]
async fn round_two_naming_a_write_done_in_round_one() {
    let answers: Vec<Answer> = vec![
        Box::new(|_| left(vec![put(item("c", "1")), delete("d", "1")])),
        Box::new(|_| left(vec![put(item("a", "1"))])),
    ];
    let (writer, _) = writer(answers, 5);
    let (report, announce) = write_chunk(&writer).await;
    let (done, unknown, not_written) = accounted(&report, &announce);
    assert_eq!(done, ["a", "b", "e"]);
    assert_eq!(unknown, ["c", "d"]);
    assert!(not_written.is_empty());
    assert_eq!(
        report.gave_up.as_deref(),
        Some("the answer holds a write that was not sent")
    );
}

#[tokio::test]
async fn a_refusal_in_round_two_leaves_only_whats_left_not_written() {
    let answers: Vec<Answer> = vec![
        Box::new(|_| left(vec![put(item("c", "1")), delete("d", "1")])),
        Box::new(|_| {
            let meta = ErrorMetadata::builder()
                .code("ValidationException")
                .message("no")
                .build();
            MockResponse::Error(BatchWriteItemError::generic(meta))
        }),
    ];
    let (writer, _) = writer(answers, 5);
    let (report, announce) = write_chunk(&writer).await;
    let (done, unknown, not_written) = accounted(&report, &announce);
    assert_eq!(done, ["a", "b", "e"]);
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(not_written, ["c", "d"]);
}

#[tokio::test]
async fn the_same_write_twice_or_a_stranger_fails_the_chunk_as_unknown() {
    let twice: Answer = Box::new(|_| left(vec![put(item("b", "1")), delete("b", "1")]));
    let stranger: Answer = Box::new(|_| left(vec![put(item("z", "1"))]));
    let keyless: Answer = Box::new(|_| left(vec![WriteRequest::builder().build()]));
    for answer in [twice, stranger, keyless] {
        let (writer, _) = writer(vec![answer], 5);
        let (report, announce) = write_chunk(&writer).await;
        let (done, unknown, _) = accounted(&report, &announce);
        assert!(done.is_empty());
        assert_eq!(unknown.len(), 5);
    }
}
