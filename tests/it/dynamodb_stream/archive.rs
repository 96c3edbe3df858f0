//! An archive keeps what it archives (`KEEP_TTL_DELETES`): a TTL delete that carries the item's
//! old image writes that image, the item's last version, to every target (shaped by each one's
//! filter and projection), whether the write before it came in the same batch or in an earlier
//! one that found the item already expired; on a table's own stream and on a Kinesis Data
//! Streams for DynamoDB stream alike. A TTL delete without an image leaves the target alone and
//! is counted. Every target is judged by a plain SDK scan of its table on dynalite.

use std::collections::BTreeMap;

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_sdk_dynamodb::Client;
use serde_json::{Value, json};

use dyno::replicate::deployment::{self, TargetTable};
use dyno::replicate::replicator::Replicator;
use dyno::replicate::targets::TargetSpec;

use super::common::*;

const PRIMARY_TABLE: &str = "orders";
const ARCHIVE: &str = "orders-archive";

/// A dynalite with the primary and the archive (both of the Thread key schema).
async fn tables() -> (Server, Client) {
    let server = Server::dynalite();
    let db = client(&server).await;
    create_table(&db, PRIMARY_TABLE, &thread_schema()).await;
    create_table(&db, ARCHIVE, &thread_schema()).await;
    (server, db)
}

/// The archiving replicator from the primary to the archive (`keep`: `KEEP_TTL_DELETES`).
async fn replicator(server: &Server, keep: bool) -> Replicator {
    let (primary, archive) = (
        table(server, PRIMARY_TABLE).await,
        table(server, ARCHIVE).await,
    );
    Replicator::connect(primary, archive, tuning())
        .await
        .expect("connect")
        .keeping_ttl_deletes(keep)
}

/// Thread `subject` of forum `f` at version `body`, with an attribute a projection may leave out.
fn thread(subject: &str, body: &str) -> Item {
    let mut item = thread_item("f", subject, body);
    item.insert("Secret".to_owned(), s(&format!("secret of {body}")));
    item
}

/// What a table holds, by Subject (a plain SDK scan).
async fn holds(db: &Client, table: &str) -> BTreeMap<String, Item> {
    let items = scan_all(db, table, &thread_schema()).await.into_values();
    let subject = |item: &Item| match item.get("Subject") {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
        other => panic!("an item without a string Subject: {other:?}"),
    };
    items
        .map(|item| (subject(&item), normalize(&item)))
        .collect()
}

fn expect(items: &[Item]) -> BTreeMap<String, Item> {
    let mut want = BTreeMap::new();
    for item in items {
        let Some(aws_sdk_dynamodb::types::AttributeValue::S(subject)) = item.get("Subject") else {
            panic!("a thread item has a Subject");
        };
        want.insert(subject.clone(), normalize(item));
    }
    want
}

/// Who made a change: the primary's TTL, or a writer.
#[derive(Clone, Copy, PartialEq)]
enum By {
    Ttl,
    Writer,
}

/// The change record's JSON (a DynamoDB Streams record): `name` of thread `subject`, by `by`,
/// with `old` as its old image (and the stream's view type to match).
fn change(name: &str, subject: &str, by: By, old: Option<&Item>, sequence: u64) -> Value {
    let identity = match by {
        By::Ttl => json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}),
        By::Writer => Value::Null,
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_732_521_600.0,
        "Keys": {"ForumName": {"S": "f"}, "Subject": {"S": subject}},
        "SequenceNumber": sequence.to_string(),
        "SizeBytes": 60,
        "StreamViewType": if old.is_some() { "NEW_AND_OLD_IMAGES" } else { "KEYS_ONLY" },
    });
    if let Some(old) = old {
        let image = dyno::aws::json::to_json(old);
        dynamodb["OldImage"] = serde_json::from_str(&image).expect("DynamoDB JSON");
    }
    json!({
        "eventID": format!("e{sequence}"), "eventName": name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "userIdentity": identity,
        "eventSourceARN": format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{PRIMARY_TABLE}/stream/2024-11-25"),
        "dynamodb": dynamodb,
    })
}

/// A DynamoDB stream event of `changes`, as Lambda delivers it.
fn event(changes: Vec<Value>) -> DynamoDbEvent {
    let records: Vec<EventRecord> = changes
        .into_iter()
        .map(|c| serde_json::from_value(c).expect("a DynamoDB stream record"))
        .collect();
    let mut event = DynamoDbEvent::default();
    event.records = records;
    event
}

/// The same change as Kinesis Data Streams for DynamoDB writes it: `tableName`, no stream ARN,
/// a millisecond time, no sequence number or view type in `dynamodb`.
fn kds(name: &str, subject: &str, by: By, old: Option<&Item>, sequence: u64) -> Vec<u8> {
    let mut record = change(name, subject, by, old, sequence);
    let object = record.as_object_mut().expect("an object");
    object.remove("eventSourceARN");
    object.remove("eventVersion");
    object.insert("tableName".to_owned(), PRIMARY_TABLE.into());
    object.insert("recordFormat".to_owned(), "application/json".into());
    let dynamodb = record["dynamodb"].as_object_mut().expect("an object");
    dynamodb.remove("SequenceNumber");
    dynamodb.remove("StreamViewType");
    dynamodb.insert(
        "ApproximateCreationDateTime".to_owned(),
        1_732_521_600_123u64.into(),
    );
    serde_json::to_vec(&record).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_keeps_each_keys_last_version() {
    let (server, db) = tables().await;
    // k1 and k3 have expired on the primary; k2 expired and was written again.
    put_items(&db, PRIMARY_TABLE, vec![thread("k2", "k2 now")]).await;
    let stale = ["k1", "k2", "k3", "k4"].map(|k| thread(k, &format!("{k} stale")));
    put_items(&db, ARCHIVE, stale.to_vec()).await;
    let (k1_last, k2_expired) = (thread("k1", "k1 last"), thread("k2", "k2 expired"));
    let batch = event(vec![
        change("MODIFY", "k1", By::Writer, None, 1),
        change("MODIFY", "k3", By::Writer, None, 2),
        change("REMOVE", "k2", By::Ttl, Some(&k2_expired), 3),
        change("REMOVE", "k1", By::Ttl, Some(&k1_last), 4),
        change("INSERT", "k2", By::Writer, None, 5),
        change(
            "REMOVE",
            "k3",
            By::Writer,
            Some(&thread("k3", "k3 last")),
            6,
        ),
    ]);

    let (response, summary) = replicator(&server, true)
        .await
        .handle_dynamodb(&batch, None)
        .await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    // k1: the TTL delete's image (the MODIFY's version); k2: read from the primary; k3: a
    // writer's delete, followed; k4: not in the batch.
    let want = expect(&[k1_last, thread("k2", "k2 now"), stale[3].clone()]);
    assert_eq!(holds(&db, ARCHIVE).await, want);
    assert_eq!(
        (summary.ttl_deletes_kept, summary.ttl_kept_without_image),
        (1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_delete_handled_after_its_item_was_read_gone_writes_it_back() {
    let (server, db) = tables().await;
    put_items(&db, ARCHIVE, vec![thread("k", "stale")]).await;
    let replicator = replicator(&server, true).await;
    let last = thread("k", "last");

    // Under lag, the MODIFY is handled once the item has expired on the primary: it is deleted.
    let first = event(vec![change("MODIFY", "k", By::Writer, None, 1)]);
    let (response, _) = replicator.handle_dynamodb(&first, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(holds(&db, ARCHIVE).await, expect(&[]));

    let second = event(vec![change("REMOVE", "k", By::Ttl, Some(&last), 2)]);
    let (response, _) = replicator.handle_dynamodb(&second, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(holds(&db, ARCHIVE).await, expect(&[last]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_data_streams_for_dynamodb_ttl_delete_is_kept() {
    let (server, db) = tables().await;
    let stale = [thread("k", "stale"), thread("j", "stale")];
    let (k_last, j_last) = (thread("k", "last"), thread("j", "last"));
    let batch = kinesis_event(vec![
        kds("MODIFY", "k", By::Writer, None, 1),
        kds("REMOVE", "k", By::Ttl, Some(&k_last), 2),
        kds("REMOVE", "j", By::Writer, Some(&j_last), 3),
    ]);

    put_items(&db, ARCHIVE, stale.to_vec()).await;
    let (response, summary) = replicator(&server, true).await.handle(&batch, None).await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    assert_eq!(holds(&db, ARCHIVE).await, expect(&[k_last]));
    assert_eq!(summary.ttl_deletes_kept, 1);

    // Without KEEP_TTL_DELETES, the same records delete both.
    put_items(&db, ARCHIVE, stale.to_vec()).await;
    let (response, _) = replicator(&server, false).await.handle(&batch, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(holds(&db, ARCHIVE).await, expect(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_delete_without_an_image_leaves_the_target_alone_and_is_counted() {
    let (server, db) = tables().await;
    let stale = [thread("k", "stale"), thread("m", "stale")];
    put_items(&db, ARCHIVE, stale.to_vec()).await;
    let dynamodb = event(vec![
        change("MODIFY", "k", By::Writer, None, 1),
        change("REMOVE", "k", By::Ttl, None, 2),
    ]);
    let kinesis = kinesis_event(vec![kds("REMOVE", "m", By::Ttl, None, 3)]);

    let replicator = replicator(&server, true).await;
    let (response, summary) = replicator.handle_dynamodb(&dynamodb, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        (summary.ttl_deletes_kept, summary.ttl_kept_without_image),
        (1, 1)
    );
    assert_eq!((summary.puts, summary.deletes), (0, 0));
    let (response, summary) = replicator.handle(&kinesis, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(summary.ttl_kept_without_image, 1);
    assert_eq!(holds(&db, ARCHIVE).await, expect(&stale));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_gets_the_image_shaped_by_its_filter_and_projection() {
    let (server, db) = tables().await;
    create_table(&db, "orders-public", &thread_schema()).await;
    let mut public = TargetSpec::new("public", "orders-public");
    public.filter = Some(r#"item.Body != "hidden""#.to_owned());
    public.exclude = Some(vec!["Secret".to_owned()]);
    let specs = [TargetSpec::new("archive", ARCHIVE), public];
    let mut targets = Vec::new();
    for spec in specs {
        let table = table(&server, &spec.table).await;
        targets.push(TargetTable { spec, table });
    }
    let primary = table(&server, PRIMARY_TABLE).await;
    let engines = deployment::connect(primary, targets, &[], &tuning())
        .await
        .expect("connect");
    let replicator = Replicator::new(engines, tuning()).keeping_ttl_deletes(true);
    let stale = [thread("k", "stale"), thread("h", "stale")];
    put_items(&db, ARCHIVE, stale.to_vec()).await;
    put_items(&db, "orders-public", stale.to_vec()).await;

    let (k_last, h_last) = (thread("k", "last"), thread("h", "hidden"));
    let batch = event(vec![
        change("REMOVE", "k", By::Ttl, Some(&k_last), 1),
        change("REMOVE", "h", By::Ttl, Some(&h_last), 2),
    ]);
    let (response, summary) = replicator.handle_dynamodb(&batch, None).await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    assert_eq!(holds(&db, ARCHIVE).await, expect(&[k_last.clone(), h_last]));
    // `public` leaves out `Secret`, and the item its filter does not match.
    let mut k_public = k_last;
    k_public.remove("Secret");
    assert_eq!(holds(&db, "orders-public").await, expect(&[k_public]));
}
