//! Parents before children on a DynamoDB stream: a scripted lineage of shards, each record
//! handed over once, in its shard's order, never before its parent's.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::EventRecord as DynamoDbEventRecord;
use common::oracle;
use common::*;
use dyno::aws::error::AwsError;
use dyno::aws::stream::Shard;
use dyno::local::runner::{Observer, Runner, RunnerOptions};
use dyno::local::shards::{Page, Position, ShardSource};
use dyno::replicate::decode::SourceRecord;
use dyno::replicate::replicator::Replicator;

/// A DynamoDB stream made up here, for the order of shards: each shard holds the records built
/// for it, read in pages of at most `page`; a closed shard's last page has no next iterator. The
/// pages of a shard that has children come slowly, so that a child read too early would be
/// handed over first.
#[derive(Debug)]
struct Scripted {
    shards: Vec<(Shard, Vec<DynamoDbEventRecord>)>,
    page: usize,
    parents_pause: Duration,
}

impl Scripted {
    fn shard(&self, id: &str) -> &(Shard, Vec<DynamoDbEventRecord>) {
        self.shards
            .iter()
            .find(|(s, _)| s.id == id)
            .unwrap_or_else(|| panic!("no shard {id}"))
    }

    fn is_parent(&self, id: &str) -> bool {
        self.shards
            .iter()
            .any(|(s, _)| s.parents.iter().any(|p| p == id))
    }
}

impl ShardSource for Scripted {
    type Record = DynamoDbEventRecord;

    fn label(&self) -> String {
        "scripted DynamoDB stream".to_owned()
    }

    async fn shards(&self) -> Result<Vec<Shard>, AwsError> {
        Ok(self.shards.iter().map(|(s, _)| s.clone()).collect())
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, AwsError> {
        let records = &self.shard(shard).1;
        let at = |sequence: &str| {
            records
                .iter()
                .position(|r| r.sequence_number() == sequence)
                .unwrap_or_else(|| panic!("{shard} has no record {sequence}"))
        };
        let index = match position {
            // A DynamoDB stream has no AT_TIMESTAMP: its trim horizon.
            Position::TrimHorizon | Position::AtTimestamp(_) => 0,
            Position::Latest => records.len(),
            Position::At(sequence) => at(sequence),
            Position::After(sequence) => at(sequence) + 1,
        };
        Ok(format!("{shard}#{index}"))
    }

    async fn page(
        &self,
        shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<Page<DynamoDbEventRecord>, AwsError> {
        let (id, index) = iterator.rsplit_once('#').expect("an iterator of ours");
        assert_eq!(id, shard);
        let index: usize = index.parse().expect("a position");
        if self.is_parent(shard) {
            tokio::time::sleep(self.parents_pause).await;
        }
        let (meta, records) = self.shard(shard);
        let end = records.len().min(index + limit.min(self.page));
        let next = (end < records.len() || !meta.closed).then(|| format!("{shard}#{end}"));
        Ok(Page {
            records: records[index..end].to_vec(),
            next,
            caught_up: end == records.len(),
        })
    }
}

/// A record of the primary's stream announcing `subject`, with sequence number `sequence`.
fn stream_record(subject: &str, sequence: u64) -> DynamoDbEventRecord {
    serde_json::from_value(serde_json::json!({
        "eventID": format!("e{sequence}"),
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2024-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000.0,
            "Keys": {"ForumName": {"S": "f"}, "Subject": {"S": subject}},
            "SequenceNumber": sequence.to_string(),
            "SizeBytes": 40,
            "StreamViewType": "KEYS_ONLY"
        }
    }))
    .expect("a DynamoDB stream record")
}

/// Parents before children on a DynamoDB stream (moto's has a single shard, so the lineage is
/// scripted): a split parent, its two children, a grandchild of one of them, and an unrelated
/// shard, all listed from the start with the children first. The handler is handed every record
/// once, each shard's in order, and no record of a child before every record of its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_streams_children_are_read_after_their_parents() {
    let server = Server::dynalite();
    let primary = table(&server, "orders").await;
    let replica = table(&server, "orders-copy").await;
    create_table(&primary.client, "orders", &thread_schema()).await;
    create_table(&replica.client, "orders-copy", &thread_schema()).await;
    // Keys k0..k5 on the primary; k6..k9 only as stale copies on the replica.
    let subjects: Vec<String> = (0..10).map(|k| format!("k{k}")).collect();
    put_items(
        &primary.client,
        "orders",
        subjects[..6]
            .iter()
            .map(|k| thread_item("f", k, "new"))
            .collect(),
    )
    .await;
    put_items(
        &replica.client,
        "orders-copy",
        subjects
            .iter()
            .map(|k| thread_item("f", k, "old"))
            .collect(),
    )
    .await;

    let shard = |id: &str, parents: &[&str], closed: bool| Shard {
        id: id.to_owned(),
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        closed,
    };
    // Sequence numbers grow along the lineage, as DynamoDB's do.
    let records = |first: u64, count: u64| -> Vec<DynamoDbEventRecord> {
        (0..count)
            .map(|i| stream_record(&subjects[((first + i) % 10) as usize], first + i))
            .collect()
    };
    let source = Scripted {
        shards: vec![
            (shard("grandchild", &["left"], false), records(4000, 7)),
            (shard("left", &["parent"], true), records(2000, 9)),
            (shard("right", &["parent"], true), records(3000, 8)),
            (shard("parent", &[], true), records(1000, 12)),
            (shard("other", &[], false), records(5000, 6)),
        ],
        page: 3,
        parents_pause: Duration::from_millis(30),
    };
    let lineage: Vec<(String, Vec<String>, Vec<String>)> = source
        .shards
        .iter()
        .map(|(s, r)| {
            let sequences = r.iter().map(|r| r.sequence_number().to_owned()).collect();
            (s.id.clone(), s.parents.clone(), sequences)
        })
        .collect();
    let total: usize = lineage.iter().map(|(_, _, r)| r.len()).sum();

    let handed = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = handed.clone();
    let observer: Observer<DynamoDbEventRecord> = Arc::new(move |batch, failed| {
        assert!(failed.is_empty(), "a record failed: {failed:?}");
        let mut seen = seen.lock().unwrap();
        seen.extend(batch.iter().map(|r| r.sequence_number().to_owned()));
    });
    let replicator = Replicator::connect(primary.clone(), replica.clone(), tuning())
        .await
        .unwrap();
    let options = RunnerOptions {
        batch_size: 5,
        poll_interval: Duration::from_millis(10),
        ..RunnerOptions::default()
    };
    let stats = Runner::new(source, options)
        .unwrap()
        .observe(observer)
        .drain(&replicator)
        .await
        .expect("drain");

    let handed = handed.lock().unwrap().clone();
    assert_eq!((stats.records, stats.shards_ended), (total, 3), "{stats:?}");
    assert_eq!(handed.len(), total, "{handed:?}");
    let position = |sequence: &str| handed.iter().position(|s| s == sequence).unwrap();
    for (id, parents, sequences) in &lineage {
        // Every record once, in the shard's order.
        let order: Vec<usize> = sequences.iter().map(|s| position(s)).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{id}: {handed:?}");
        for parent in parents {
            let (_, _, before) = lineage.iter().find(|(p, _, _)| p == parent).unwrap();
            let last = before.iter().map(|s| position(s)).max().unwrap();
            let first = order[0];
            assert!(
                last < first,
                "{id}'s record {} was handed over at {first}, before its parent {parent} was \
                 drained (at {last}): {handed:?}",
                sequences[0]
            );
        }
    }
    assert_eq!(oracle::assert_tables(&primary, &replica).await, 6);
}
