//! Adopting dyno on a table that already has items: `backfill` announces every key through the
//! stream and the local event source mapping copies each item, until `diff` finds 0
//! differences. With live writes during the backfill; killed half way (a real process kill) and
//! resumed from its checkpoint; split between two processes by segment range. On dynalite and
//! kinesalite, with 20,000 items of a string + number key and 2,000 of a binary key.

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::oracle;
use common::pipeline::drain;
use common::*;
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::retry::Backoff;
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::local::stop::Stop;
use dyno::ops::backfill::{self, BackfillOptions, Progress};
use dyno::ops::checkpoint::Checkpoints;
use dyno::ops::scan::Segments;
use dyno::publish::publisher::Publisher;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

/// Items of the backfill with live writes.
const ITEMS: usize = 20_000;
/// Items of the killed and resumed backfill (what it proves does not grow with the table).
const RESUMED_ITEMS: usize = 5_000;

/// The runner's options: batches of 1,000 records.
fn big_batches() -> RunnerOptions {
    RunnerOptions {
        batch_size: 1000,
        ..RunnerOptions::default()
    }
}

fn schema() -> KeySchema {
    KeySchema::composite(("tenant", ScalarType::S), ("seq", ScalarType::N))
}

/// The key of item `n`.
fn key(n: usize) -> Item {
    HashMap::from([
        ("tenant".to_owned(), s(&format!("t{}", n % 37))),
        ("seq".to_owned(), AttributeValue::N(n.to_string())),
    ])
}

/// Asserts (a plain SDK scan, the oracle's) that `table` holds exactly the keys of `items`,
/// by key, not by count.
async fn assert_keys(table: &Table, items: impl Iterator<Item = usize>) {
    let names = ["tenant".to_owned(), "seq".to_owned()];
    let expected: BTreeSet<oracle::Key> = items.map(|n| oracle::Key::of(&names, &key(n))).collect();
    let found = oracle::keys(&table.client, &table.name).await;
    let missing: Vec<_> = expected.difference(&found).take(5).collect();
    let extra: Vec<_> = found.difference(&expected).take(5).collect();
    assert!(
        found == expected,
        "{}: {} keys, {} expected; missing (first 5) {missing:?}, extra {extra:?}",
        table.name,
        found.len(),
        expected.len()
    );
}

fn item(n: usize) -> Item {
    HashMap::from([
        ("tenant".to_owned(), s(&format!("t{}", n % 37))),
        ("seq".to_owned(), AttributeValue::N(n.to_string())),
        ("body".to_owned(), s(&"x".repeat(n % 200))),
        (
            "tags".to_owned(),
            AttributeValue::Ss(vec!["a".into(), format!("{}", n % 5)]),
        ),
    ])
}

struct Rig {
    servers: [Server; 3],
    primary: Table,
}

impl Rig {
    /// Servers, and a primary table of `items` items.
    async fn start(items: usize) -> Rig {
        let servers = [Server::dynalite(), Server::dynalite(), Server::kinesalite()];
        let primary = table(&servers[0], "orders").await;
        create_table(&primary.client, "orders", &schema()).await;
        put_items(&primary.client, "orders", (0..items).map(item).collect()).await;
        Rig { servers, primary }
    }

    /// A fresh replica table and stream for one scenario.
    async fn scenario(&self, name: &str) -> (Table, Stream, Replicator) {
        let replica = table(&self.servers[1], name).await;
        create_table(&replica.client, name, &schema()).await;
        let stream = stream(&self.servers[2], name).await;
        create_stream(&stream, 2).await;
        let replicator =
            Replicator::connect(self.primary.clone(), replica.clone(), Tuning::default())
                .await
                .expect("replicator");
        (replica, stream, replicator)
    }

    /// Asserts (the oracle) that `replica` equals the primary, `items` items each.
    async fn assert_converged(&self, replica: &Table, items: usize) {
        oracle::assert_equal_items(
            (&self.primary.client, &self.primary.name),
            (&replica.client, &replica.name),
            items,
        )
        .await;
    }

    fn dyno(&self, replica: &str, args: &[&str]) -> Command {
        let mut command = dyno_command(At {
            tables: Some(&self.servers[0].endpoint),
            replica: Some(&self.servers[1].endpoint),
            kinesis: Some(&self.servers[2].endpoint),
        });
        command
            .args([
                "--table",
                "orders",
                "--replica-table",
                replica,
                "--stream",
                replica,
            ])
            .args(args);
        command
    }
}

/// A backfill while the writer keeps writing (updates, deletes, new items) and the runner keeps
/// replicating: through the stream, the live writes and the backfill never race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_with_live_writes_converges() {
    bounded(
        Duration::from_secs(300),
        "backfill with live writes",
        async {
            let rig = Rig::start(ITEMS).await;
            let (replica, stream, replicator) = rig.scenario("live").await;
            let writer =
                dyno::publish::writer::Writer::connect(rig.primary.clone(), stream.clone())
                    .await
                    .expect("writer");
            let publisher = Publisher::new(stream.clone(), "us-east-1", Backoff::default());
            let runner = Runner::connect(stream.clone(), big_batches())
                .await
                .expect("runner");
            let (stop, stopped) = Stop::on_request();
            let progress = Progress::default();
            let schema = schema();
            let work = async {
                let options = BackfillOptions {
                    segments: Segments::all(8),
                    rate: None,
                    ttl: None,
                };
                let checkpoints = Checkpoints::in_memory();
                let sink = dyno::ops::sink::KeySink::Stream(publisher.clone());
                let backfill = backfill::backfill(
                    &rig.primary,
                    &schema,
                    &sink,
                    &options,
                    &checkpoints,
                    &progress,
                );
                let live = async {
                    for n in (0..ITEMS).step_by(97) {
                        let mut changed = item(n);
                        changed.insert("body".into(), s("changed during the backfill"));
                        writer
                            .put_item(writer.put().set_item(Some(changed)))
                            .await
                            .unwrap();
                        let gone = HashMap::from([
                            ("tenant".to_owned(), s(&format!("t{}", (n + 1) % 37))),
                            ("seq".to_owned(), AttributeValue::N((n + 1).to_string())),
                        ]);
                        writer
                            .delete_item(writer.delete().set_key(Some(gone)))
                            .await
                            .unwrap();
                    }
                };
                let (report, ()) = tokio::join!(backfill, live);
                stop.stop();
                report
            };
            let (report, run) = tokio::join!(work, runner.run(&replicator, stopped));
            let report = report.expect("backfill");
            run.expect("runner");
            assert_eq!(report.scan.segments_done, 8);
            // One key in 97 is deleted during the backfill: whether before or after its segment
            // reads it is timing.
            let deleted = ITEMS.div_ceil(97) as u64;
            assert!(
                (ITEMS as u64 - deleted..=ITEMS as u64).contains(&report.published),
                "{report:?}"
            );
            rig.assert_converged(&replica, ITEMS - deleted as usize)
                .await;
            // Exactly the keys not deleted: every key but n + 1 for each n of the live writes.
            let gone: BTreeSet<usize> = (0..ITEMS).step_by(97).map(|n| n + 1).collect();
            assert_eq!(gone.len() as u64, deleted);
            assert_keys(&replica, (0..ITEMS).filter(|n| !gone.contains(n))).await;
        },
    )
    .await;
}

/// A backfill process killed half way, then run again with the same checkpoint: it says it
/// resumes, finishes, and the replica converges. The resumed run repeats at most the pages that
/// were in flight at the kill (one a segment), though the killed one announced more than that.
/// Then two processes split the segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backfill_resumes_and_two_processes_share_the_segments() {
    bounded(
        Duration::from_secs(300),
        "killed and shared backfills",
        async {
            const SEGMENTS: usize = 4;
            // Items a second, over all segments; also each `Scan` page's `Limit`.
            const PAGE: usize = 400;
            let rig = Rig::start(RESUMED_ITEMS).await;
            let (replica, stream, replicator) = rig.scenario("resumed").await;
            let dir = std::env::temp_dir().join(format!("dyno-backfill-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let checkpoint = dir.join("backfill.json");
            let cp = checkpoint.to_str().unwrap();
            let segments = SEGMENTS.to_string();

            // Slowed to pages of PAGE items, PAGE items a second; killed once it has announced
            // more than a page per segment and segments have recorded progress.
            let mut first = rig
                .dyno(
                    "resumed",
                    &[
                        "backfill",
                        "--segments",
                        &segments,
                        "--rate",
                        &PAGE.to_string(),
                        "--checkpoint",
                        cp,
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let started = |positions: &std::collections::BTreeMap<String, String>| {
                positions.values().filter(|v| v.starts_with('{')).count()
            };
            loop {
                let announced = stream_records(&stream.client, "resumed").await.len();
                if announced > SEGMENTS * PAGE + PAGE / 2
                    && started(&checkpoint_positions(&checkpoint)) >= 2
                {
                    break;
                }
                if first.try_wait().unwrap().is_some() {
                    let mut said = String::new();
                    use std::io::Read;
                    first
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut said)
                        .unwrap();
                    panic!("the first backfill ended before it was killed: {said}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            first.kill().unwrap();
            first.wait().unwrap();
            let announced_before = stream_records(&stream.client, "resumed").await.len();
            let at_kill = checkpoint_positions(&checkpoint);
            assert!(
                at_kill.values().filter(|v| *v == "END").count() < SEGMENTS,
                "{at_kill:?}"
            );

            let out = rig
                .dyno(
                    "resumed",
                    &["backfill", "--segments", &segments, "--checkpoint", cp],
                )
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{said}");
            assert!(said.contains("resuming from"), "{said}");
            assert_eq!(
                checkpoint_positions(&checkpoint)
                    .values()
                    .filter(|v| *v == "END")
                    .count(),
                SEGMENTS
            );
            // A checkpoint of another run is refused.
            let out = rig
                .dyno(
                    "resumed",
                    &["backfill", "--segments", "8", "--checkpoint", cp],
                )
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("belongs to another"), "{said}");

            // Every key, and again at most what was announced but not recorded at the kill: a
            // page in flight per segment.
            let drained = drain(&stream, &replicator, big_batches()).await.records;
            assert!(
                (RESUMED_ITEMS..=RESUMED_ITEMS + SEGMENTS * PAGE).contains(&drained),
                "{drained} records for {RESUMED_ITEMS} items ({announced_before} announced \
                 before the kill)"
            );
            rig.assert_converged(&replica, RESUMED_ITEMS).await;
            assert_keys(&replica, 0..RESUMED_ITEMS).await;

            // Two processes, each with half of the segments.
            let (replica, stream, replicator) = rig.scenario("shared").await;
            let half = |range: &str| {
                rig.dyno(
                    "shared",
                    &[
                        "backfill",
                        "--segment-range",
                        range,
                        "--total-segments",
                        "8",
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            };
            let (a, b) = (half("0..4"), half("4..8"));
            for child in [a, b] {
                let out = child.wait_with_output().unwrap();
                let said = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success()
                        && said.contains("segments 0..4 of 8")
                            ^ said.contains("segments 4..8 of 8"),
                    "{said}"
                );
            }
            let drained = drain(&stream, &replicator, big_batches()).await.records;
            assert_eq!(drained, RESUMED_ITEMS);
            rig.assert_converged(&replica, RESUMED_ITEMS).await;
            assert_keys(&replica, 0..RESUMED_ITEMS).await;
            let _ = std::fs::remove_dir_all(&dir);
        },
    )
    .await;
}

/// A binary key: backfilled, replicated, compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_keys_backfill() {
    bounded(Duration::from_secs(120), "binary keys", async {
        let servers = [Server::dynalite(), Server::dynalite(), Server::kinesalite()];
        let schema = KeySchema::hash_only("id", ScalarType::B);
        let primary = table(&servers[0], "blobs").await;
        let replica = table(&servers[1], "blobs").await;
        let stream = stream(&servers[2], "blobs").await;
        create_table(&primary.client, "blobs", &schema).await;
        create_table(&replica.client, "blobs", &schema).await;
        create_stream(&stream, 1).await;
        let blob_key = |n: u32| {
            HashMap::from([(
                "id".to_owned(),
                AttributeValue::B(Blob::new(n.to_be_bytes().to_vec())),
            )])
        };
        let items: Vec<Item> = (0..2_000u32).map(blob_key).collect();
        put_items(&primary.client, "blobs", items).await;
        let publisher = Publisher::new(stream.clone(), "us-east-1", Backoff::default());
        let options = BackfillOptions {
            segments: Segments::all(4),
            rate: None,
            ttl: None,
        };
        let report = backfill::backfill(
            &primary,
            &schema,
            &dyno::ops::sink::KeySink::Stream(publisher.clone()),
            &options,
            &Checkpoints::in_memory(),
            &Progress::default(),
        )
        .await
        .expect("backfill");
        assert_eq!(report.published, 2_000);
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .unwrap();
        let run = drain(&stream, &replicator, RunnerOptions::default()).await;
        assert_eq!(run.records, 2_000);
        oracle::assert_equal_items(
            (&primary.client, "blobs"),
            (&replica.client, "blobs"),
            2_000,
        )
        .await;
        // Exactly the 2,000 keys, byte for byte.
        let names = ["id".to_owned()];
        let expected: BTreeSet<oracle::Key> = (0..2_000u32)
            .map(|n| oracle::Key::of(&names, &blob_key(n)))
            .collect();
        assert_eq!(oracle::keys(&replica.client, "blobs").await, expected);
    })
    .await;
}
