//! Adopting dyno on a table that already has items: `backfill` announces every key through the
//! stream and the local event source mapping copies each item, until `diff` finds 0
//! differences. With live writes during the backfill; killed half way (a real process kill) and
//! resumed from its checkpoint; split between two processes by segment range. On dynalite and
//! kinesalite, with 20,000 items of a string + number key and 2,000 of a binary key.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use dyno::backfill::{self, BackfillOptions, Progress};
use dyno::checkpoint::Checkpoints;
use dyno::config::Tuning;
use dyno::diff::compare;
use dyno::handler::Replicator;
use dyno::key::{KeySchema, ScalarType};
use dyno::publisher::Publisher;
use dyno::retry::Backoff;
use dyno::runner::{Runner, RunnerOptions};
use dyno::scan::Segments;
use dyno::stream::Stream;
use dyno::table::Table;
use tokio::sync::watch;

const ITEMS: usize = 20_000;

fn schema() -> KeySchema {
    KeySchema::composite(("tenant", ScalarType::S), ("seq", ScalarType::N))
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
    async fn start() -> Rig {
        let servers = [Server::dynalite(), Server::dynalite(), Server::kinesalite()];
        let primary = table(&servers[0], "orders").await;
        create_table(&primary.client, "orders", &schema()).await;
        put_items(&primary.client, "orders", (0..ITEMS).map(item).collect()).await;
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

    async fn drain(&self, stream: &Stream, replicator: &Replicator) -> usize {
        let options = RunnerOptions {
            batch_size: 1000,
            ..RunnerOptions::default()
        };
        let runner = Runner::connect(stream.clone(), options)
            .await
            .expect("runner");
        let stats = runner.drain(replicator).await.expect("drain");
        stats.records
    }

    async fn differences(&self, replica: &Table) -> usize {
        let diff = compare(&self.primary, replica).await.expect("compare");
        assert!(diff.items > ITEMS - 500, "{}", diff.items);
        diff.differences()
    }

    fn dyno(&self, replica: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dyno"));
        command
            .args([
                "--table",
                "orders",
                "--replica-table",
                replica,
                "--stream",
                replica,
            ])
            .args(args)
            .env("DYNO_ENDPOINT_URL", &self.servers[0].endpoint)
            .env("DYNO_REPLICA_ENDPOINT_URL", &self.servers[1].endpoint)
            .env("DYNO_KINESIS_ENDPOINT_URL", &self.servers[2].endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
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
            let rig = Rig::start().await;
            let (replica, stream, replicator) = rig.scenario("live").await;
            let writer = dyno::writer::Writer::connect(rig.primary.clone(), stream.clone())
                .await
                .expect("writer");
            let publisher = Publisher::new(stream.clone(), "us-east-1", Backoff::default());
            let runner = Runner::connect(
                stream.clone(),
                RunnerOptions {
                    batch_size: 1000,
                    ..RunnerOptions::default()
                },
            )
            .await
            .expect("runner");
            let (stop, stopped) = watch::channel(false);
            let progress = Progress::default();
            let schema = schema();
            let work = async {
                let options = BackfillOptions {
                    segments: Segments::all(8),
                    rate: None,
                };
                let checkpoints = Checkpoints::load(None).unwrap();
                let backfill = backfill::backfill(
                    &rig.primary,
                    &schema,
                    dyno::repair::KeySink::Stream(&publisher),
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
                let _ = stop.send(true);
                report
            };
            let (report, run) = tokio::join!(work, runner.run(&replicator, stopped));
            let report = report.expect("backfill");
            run.expect("runner");
            assert_eq!(report.scan.segments_done, 8);
            assert!(
                report.published >= (ITEMS - ITEMS / 97) as u64,
                "{report:?}"
            );
            assert_eq!(rig.differences(&replica).await, 0);
        },
    )
    .await;
}

/// A backfill process killed half way, then run again with the same checkpoint: it says it
/// resumes, finishes, and the replica converges. Then two processes split the segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backfill_resumes_and_two_processes_share_the_segments() {
    bounded(
        Duration::from_secs(300),
        "killed and shared backfills",
        async {
            let rig = Rig::start().await;
            let (replica, stream, replicator) = rig.scenario("resumed").await;
            let dir = std::env::temp_dir().join(format!("dyno-backfill-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let checkpoint = dir.join("backfill.json");
            let cp = checkpoint.to_str().unwrap();

            // Slowed to 1,000 items/s (pages of 1,000), killed once segments have made progress.
            let mut first = rig
                .dyno(
                    "resumed",
                    &[
                        "backfill",
                        "--segments",
                        "8",
                        "--rate",
                        "1000",
                        "--checkpoint",
                        cp,
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let saved = |path: &std::path::Path| -> HashMap<String, String> {
                std::fs::read(path)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default()
            };
            while saved(&checkpoint)
                .values()
                .filter(|v| v.starts_with('{'))
                .count()
                < 2
            {
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
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            first.kill().unwrap();
            first.wait().unwrap();
            let at_kill = saved(&checkpoint);
            assert!(
                at_kill.values().filter(|v| *v == "END").count() < 8,
                "{at_kill:?}"
            );

            let out = rig
                .dyno(
                    "resumed",
                    &["backfill", "--segments", "8", "--checkpoint", cp],
                )
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{said}");
            assert!(said.contains("resuming from"), "{said}");
            assert_eq!(
                saved(&checkpoint).values().filter(|v| *v == "END").count(),
                8
            );
            // A checkpoint of another run is refused.
            let out = rig
                .dyno(
                    "resumed",
                    &["backfill", "--segments", "4", "--checkpoint", cp],
                )
                .output()
                .unwrap();
            assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to another run"));

            assert!(rig.drain(&stream, &replicator).await >= ITEMS);
            assert_eq!(rig.differences(&replica).await, 0);

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
            assert_eq!(rig.drain(&stream, &replicator).await, ITEMS);
            assert_eq!(rig.differences(&replica).await, 0);
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
        let items: Vec<Item> = (0..2_000u32)
            .map(|n| {
                HashMap::from([(
                    "id".to_owned(),
                    AttributeValue::B(Blob::new(n.to_be_bytes().to_vec())),
                )])
            })
            .collect();
        put_items(&primary.client, "blobs", items).await;
        let publisher = Publisher::new(stream.clone(), "us-east-1", Backoff::default());
        let options = BackfillOptions {
            segments: Segments::all(4),
            rate: None,
        };
        let report = backfill::backfill(
            &primary,
            &schema,
            dyno::repair::KeySink::Stream(&publisher),
            &options,
            &Checkpoints::load(None).unwrap(),
            &Progress::default(),
        )
        .await
        .expect("backfill");
        assert_eq!(report.published, 2_000);
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .unwrap();
        Runner::connect(stream, RunnerOptions::default())
            .await
            .unwrap()
            .drain(&replicator)
            .await
            .unwrap();
        let diff = compare(&primary, &replica).await.unwrap();
        assert_eq!((diff.items, diff.differences()), (2_000, 0));
    })
    .await;
}
