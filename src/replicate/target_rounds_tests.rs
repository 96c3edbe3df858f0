//! Tests of `target.rs`: a chunk's write rounds against scripted, hostile `BatchWriteItem`
//! answers (each unprocessed write matched to its own key, round after round; answers that name
//! a write not sent, or one twice, fail what is left), through `Target::write`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::*;
use crate::aws::error::AwsError;
use crate::aws::store::{PageRequest, ReadAnswer, ScannedPage};
use crate::aws::write_requests_for_tests::{delete, id_of, item, put, schema};

type Answer = Box<dyn Fn(&[WriteRequest]) -> Vec<WriteRequest> + Send + Sync>;

/// A store whose `BatchWriteItem` answers are scripted, one a call (none left: everything done).
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Answer>>,
    sent: Mutex<Vec<Vec<WriteRequest>>>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Store for Scripted {
    fn name(&self) -> &str {
        "replica"
    }
    fn setting(&self) -> &'static str {
        "test"
    }
    fn batch_get<'a>(
        &'a self,
        _keys: Vec<Item>,
        _attributes: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<ReadAnswer, AwsError>> {
        Box::pin(async { Err(not_scripted("BatchGetItem")) })
    }
    fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        _call: WriteCall,
    ) -> BoxFuture<'_, Result<Vec<WriteRequest>, AwsError>> {
        let answer = self.answers.lock().unwrap().pop_front();
        let left = answer.map(|a| a(&requests)).unwrap_or_default();
        self.sent.lock().unwrap().push(requests);
        Box::pin(async move { Ok(left) })
    }
    fn scan_page(&self, _request: PageRequest) -> BoxFuture<'_, Result<ScannedPage, AwsError>> {
        Box::pin(async { Err(not_scripted("Scan")) })
    }
}

/// What the store answers a call it has no script for (a target only writes).
fn not_scripted(operation: &'static str) -> AwsError {
    let why = std::io::Error::other("the scripted store answers only BatchWriteItem");
    AwsError::unknown(operation, why)
}

fn key(id: &str) -> Key {
    schema().key_of_item(&item(id, "1")).unwrap()
}

/// `ids` numbered 100, 101, …: the first `puts` with an item, the rest none (deletes).
fn reads(ids: &[&str], puts: usize) -> Vec<Read> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| ((100 + i, key(id)), (i < puts).then(|| item(id, "1"))))
        .collect()
}

async fn write(store: &Arc<Scripted>, reads: Vec<Read>, attempts: u32) -> Outcome {
    let target = Target::everything("t", store.clone());
    let how = Writing {
        schema: schema(),
        backoff: Backoff {
            max_attempts: attempts,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
        },
        attempt_timeout: Duration::from_secs(5),
    };
    target
        .write(reads, &how, &Semaphore::new(1), Deadline::NONE)
        .await
}

fn script(store: &Scripted, answers: Vec<Answer>) {
    store.answers.lock().unwrap().extend(answers);
}

fn failed(outcome: &Outcome) -> Vec<(usize, String)> {
    let mut keys: Vec<(usize, String)> = outcome
        .failures
        .iter()
        .flat_map(|f| f.keys.iter().map(|(i, k)| (*i, k.to_string())))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn three_rounds_keep_each_place_on_its_key() {
    let store = Arc::new(Scripted::default());
    // Round 1 hands back e's delete and b's put, reordered, the number respelled, extra
    // attributes; round 2 (sent in chunk order: b, e) hands back b again (place 1, at 0 of 2);
    // round 3 leaves b again and the attempts run out.
    script(
        &store,
        vec![
            Box::new(|_| {
                let mut b = item("b", "10E-1");
                b.insert("extra".into(), AttributeValue::Bool(true));
                vec![delete("e", "1.000"), put(b)]
            }),
            Box::new(|sent| vec![sent.iter().find(|r| id_of(r) == "b").unwrap().clone()]),
            Box::new(|sent| sent.to_vec()),
        ],
    );
    let outcome = write(&store, reads(&["a", "b", "c", "d", "e"], 3), 3).await;
    let sent: Vec<Vec<String>> = store
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.iter().map(id_of).collect())
        .collect();
    assert_eq!(
        sent,
        [vec!["a", "b", "c", "d", "e"], vec!["b", "e"], vec!["b"]]
    );
    // a, c (puts), d, e (deletes) done; b failed, by its own number.
    assert_eq!((outcome.puts, outcome.deletes), (2, 2));
    assert_eq!(failed(&outcome), [(101, key("b").to_string())]);
    assert!(matches!(
        outcome.failures[0].error,
        ReplicateError::Unprocessed { .. }
    ));
}

#[tokio::test]
async fn a_round_two_answer_naming_a_write_done_in_round_one_fails_only_whats_left() {
    let store = Arc::new(Scripted::default());
    script(
        &store,
        vec![
            Box::new(|_| vec![put(item("c", "1")), put(item("d", "1"))]),
            // a was done in round 1: not sent in round 2.
            Box::new(|_| vec![put(item("a", "1"))]),
        ],
    );
    let outcome = write(&store, reads(&["a", "b", "c", "d"], 4), 5).await;
    assert_eq!((outcome.puts, outcome.deletes), (2, 0));
    assert_eq!(
        failed(&outcome),
        [(102, key("c").to_string()), (103, key("d").to_string())]
    );
    assert!(matches!(
        outcome.failures[0].error,
        ReplicateError::BadWriteAnswer {
            problem: "the answer holds a write that was not sent",
            ..
        }
    ));
}

#[tokio::test]
async fn the_same_write_twice_or_a_stranger_or_a_keyless_one_fails_the_chunk() {
    let answers: Vec<fn() -> Vec<WriteRequest>> = vec![
        || vec![put(item("b", "1")), delete("b", "1")],
        || vec![put(item("z", "1"))],
        || vec![put(item("b", "2"))],
        || vec![WriteRequest::builder().build()],
        || {
            vec![put(HashMap::from([(
                "id".to_owned(),
                AttributeValue::S("b".into()),
            )]))]
        },
        || {
            vec![put(HashMap::from([
                ("id".to_owned(), AttributeValue::S("b".into())),
                ("n".to_owned(), AttributeValue::S("1".into())),
            ]))]
        },
    ];
    for answer in answers {
        let store = Arc::new(Scripted::default());
        script(&store, vec![Box::new(move |_| answer())]);
        let outcome = write(&store, reads(&["a", "b"], 2), 5).await;
        assert_eq!((outcome.puts, outcome.deletes), (0, 0));
        assert_eq!(failed(&outcome).len(), 2, "{:?}", answer());
        assert_eq!(store.sent.lock().unwrap().len(), 1);
    }
}
