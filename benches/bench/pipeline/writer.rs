//! Cases `writer-{1,16,64}`: N writes through `Writer` (`PutItem`, then the key record by group
//! commit) at that many concurrent callers, onto a 4-shard stream, against two floors of the same
//! items at the same concurrency:
//!
//! - bare `PutItem` (`floor_…`): the write alone;
//! - bare `PutItem`, then a bare `PutRecords` of the write's one key record, in the writer's
//!   format (`floor_put_and_records_…`): the two calls the writer makes at one caller, with
//!   nothing of its own, on a fresh 4-shard stream. The writer's `cpu_ms_per_write` at one
//!   caller is held to 1.10× this floor's (`cpu_ratio_to_put_and_records`), its p50 is printed
//!   beside it (`p50_ratio_to_put_and_records`).
//!
//! The three run on fresh tables of one dynalite, interleaved (each rep starting with another),
//! best of `REPS` after an untimed warm-up each; `ratio_median` is the median writer/floor ratio
//! of writes/s within a rep. `kinesis_calls_per_write` counts `PutRecords` attempts;
//! `cpu_ms_per_write` is the CPU of this process and the servers over the fastest run (the
//! machine is small: where the servers share its cores, CPU per write bounds writes/s). Checked:
//! every key is on the stream (records >= N, distinct partition keys = N). Beside them, `naive`:
//! the writer before group commit, done bare (`PutItem`, then one `PutRecord` per write; best of
//! `REPS`): `speedup_vs_naive`, and `p50_ratio_to_naive`, which at one caller is the writer's own
//! cost over the two round trips no announced write can avoid.

use std::collections::HashSet;

use dyno::aws::client::kinesis_config;
use dyno::aws::retry::Backoff;
use dyno::aws::stream::Stream;
use dyno::publish::publisher::{Change, Publisher};
use dyno::publish::writer::Writer;
use dyno::replicate::tuning::Tuning;

use super::shared::{
    Dynamo, Kinesis, Writes, bare_put_record, bare_put_records, item, record_entry, scaled,
    timed_writes,
};
use super::{REGION, REPS};
use crate::common::calls::CallCounter;
use crate::common::{self, Item, thread_schema};
use crate::shared::{Cases, Line, Report, median, quantile, sdk};

pub async fn writers(cases: &Cases, report: &mut Report) {
    let dynamo = Dynamo::start().await;
    let kinesis = Kinesis::start().await;
    let calls = CallCounter::default();
    let config = kinesis_config(
        &common::sdk_config().await,
        Some(&kinesis.endpoint),
        &Tuning::default(),
    );
    let counted = aws_sdk_kinesis::Client::from_conf(config.interceptor(calls.clone()).build());
    let bench = WriterBench {
        dynamo,
        kinesis,
        counted,
        calls,
    };
    for callers in [1, 16, 64] {
        let case = format!("writer-{callers}");
        if cases.chosen(&case) {
            report.emit(&case, bench.case(&case, callers).await);
        }
    }
}

struct WriterBench {
    dynamo: Dynamo,
    kinesis: Kinesis,
    /// The writers' Kinesis client, its calls counted in `calls`.
    counted: aws_sdk_kinesis::Client,
    calls: CallCounter,
}

/// The interleaved turns of a rep.
#[derive(Clone, Copy)]
enum Turn {
    Writer,
    /// Bare `PutItem`.
    Floor,
    /// Bare `PutItem`, then a bare one-record `PutRecords`.
    PutAndRecords,
}

const TURNS: [Turn; 3] = [Turn::Writer, Turn::Floor, Turn::PutAndRecords];

impl WriterBench {
    async fn case(&self, case: &str, callers: usize) -> Result<Line, String> {
        let n = scaled(3_000);
        let items: Vec<Item> = (0..n).map(item).collect();
        let warm = &items[..(n / 4).max(1)];
        for turn in TURNS {
            self.turn(turn, warm, callers).await?;
        }
        self.naive(warm, callers).await?;
        let mut best: [Option<Writes>; 3] = [None, None, None];
        let mut naive_best: Option<Writes> = None;
        let mut ratios = Vec::new();
        for rep in 0..REPS {
            keep_faster(&mut naive_best, self.naive(&items, callers).await?);
            // Interleaved, each rep starting with another, so drift favours none.
            let mut per_s = [0.0; 3];
            for at in (0..TURNS.len()).map(|t| (t + rep) % TURNS.len()) {
                let run = self.turn(TURNS[at], &items, callers).await?;
                per_s[at] = run.per_s();
                keep_faster(&mut best[at], run);
            }
            ratios.push(per_s[0] / per_s[1]);
        }
        let [w, f, pr] = best.map(|run| run.expect("reps"));
        let naive = naive_best.expect("reps");
        let p50 = quantile(&w.latencies_ms, 0.5);
        let floor_p50 = quantile(&f.latencies_ms, 0.5);
        let naive_p50 = quantile(&naive.latencies_ms, 0.5);
        let pr_p50 = quantile(&pr.latencies_ms, 0.5);
        let cpu_ms = |run: &Writes| run.cpu.all * 1000.0 / n as f64;
        let mut line = Line::new(case)
            .int("callers", callers)
            .int("writes", n)
            .num("writes_per_s", w.per_s())
            .num("floor_writes_per_s", f.per_s())
            .num("ratio_to_floor", w.per_s() / f.per_s())
            .num("ratio_median", median(ratios))
            .num("kinesis_calls_per_write", w.put_records as f64 / n as f64)
            .num("p50_ms", p50)
            .num("p99_ms", quantile(&w.latencies_ms, 0.99))
            .num("floor_p50_ms", floor_p50)
            .num("floor_p99_ms", quantile(&f.latencies_ms, 0.99))
            .num("p50_ratio", p50 / floor_p50)
            .num("naive_writes_per_s", naive.per_s())
            .num("speedup_vs_naive", w.per_s() / naive.per_s())
            .num("naive_p50_ms", naive_p50)
            .num("p50_ratio_to_naive", p50 / naive_p50)
            .num("floor_put_and_records_writes_per_s", pr.per_s())
            .num("floor_put_and_records_p50_ms", pr_p50)
            .num("p50_ratio_to_put_and_records", p50 / pr_p50)
            .num("cpu_ms_per_write", cpu_ms(&w))
            .num("floor_cpu_ms_per_write", cpu_ms(&f))
            .num("floor_put_and_records_cpu_ms_per_write", cpu_ms(&pr))
            .num("cpu_ratio_to_put_and_records", cpu_ms(&w) / cpu_ms(&pr))
            .num(
                "kinesalite_cpu_ms_per_write",
                w.cpu.kinesalite * 1000.0 / n as f64,
            )
            .int("reps", REPS)
            .int("shards", 4);
        line = match callers {
            64 => line
                .num("target_ratio_to_floor", 0.8)
                .num("target_kinesis_calls_per_write", 0.05),
            1 => line
                .num("target_p50_ratio", 2.2)
                .num("target_cpu_ratio_at_most", 1.10),
            _ => line,
        };
        Ok(line)
    }

    async fn turn(&self, turn: Turn, items: &[Item], callers: usize) -> Result<Writes, String> {
        match turn {
            Turn::Writer => self.writer(items, callers).await,
            Turn::Floor => self.floor(items, callers).await,
            Turn::PutAndRecords => self.put_and_records(items, callers).await,
        }
    }

    /// `items` through a `Writer` at `callers` at once, on a fresh table and a fresh stream;
    /// then checks that every key is on the stream.
    async fn writer(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("writer").await;
        let stream = self.kinesis.stream("writer", 4).await;
        let counted = Stream::new(self.counted.clone(), &stream.name, "STREAM")
            .at(Some(self.kinesis.endpoint.clone()));
        let writer = Writer::connect(table.clone(), counted)
            .await
            .map_err(|e| format!("Writer::connect: {e}"))?;
        let items = items.to_vec();
        let writer = &writer;
        self.calls.reset();
        let mut run = timed_writes(items, callers, |item| async move {
            let request = writer.put().set_item(Some(item));
            writer
                .put_item(request)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await?;
        run.put_records = self.calls.get("PutRecords");
        let n = run.latencies_ms.len();
        let records = common::stream_records(&self.kinesis.client, &stream.name).await;
        let distinct: HashSet<&str> = records.iter().filter_map(|r| r.partition_key()).collect();
        if records.len() < n || distinct.len() != n {
            return Err(format!(
                "{} writes, but the stream holds {} records of {} distinct keys",
                n,
                records.len(),
                distinct.len()
            ));
        }
        self.dynamo.drop_table(&table).await;
        self.kinesis.delete(&stream).await;
        Ok(run)
    }

    /// The floor: bare `PutItem` of `items` at `callers` at once, on a fresh table.
    async fn floor(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("floor").await;
        let items = items.to_vec();
        let table_ref = &table;
        let run = timed_writes(items, callers, |item| async move {
            let request = table_ref.client.put_item().table_name(&table_ref.name);
            let sent = request.set_item(Some(item)).send().await;
            sent.map(drop).map_err(sdk("PutItem"))
        })
        .await?;
        self.dynamo.drop_table(&table).await;
        Ok(run)
    }

    /// The floor of the writer's CPU: per write, a bare `PutItem`, then a bare `PutRecords` of
    /// its one key record (the writer's record for a new item: its format, `INSERT`, its
    /// partition key), at `callers` at once, on a fresh table and a fresh 4-shard stream.
    async fn put_and_records(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("put-and-records").await;
        let stream = self.kinesis.stream("put-and-records", 4).await;
        // For its record format and stream only: the records are sent bare.
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        let schema = thread_schema();
        let items = items.to_vec();
        let (table_ref, publisher, schema) = (&table, &publisher, &schema);
        let run = timed_writes(items, callers, |item| async move {
            let key = schema.key_of_item(&item).map_err(|e| e.to_string())?;
            let request = table_ref.client.put_item().table_name(&table_ref.name);
            let written = request.set_item(Some(item)).send().await;
            written.map_err(sdk("PutItem"))?;
            let record = record_entry(publisher, &key, Change::Insert)?;
            bare_put_records(publisher, vec![record]).await
        })
        .await?;
        self.dynamo.drop_table(&table).await;
        self.kinesis.delete(&stream).await;
        Ok(run)
    }

    /// Naive: what the writer did before group commit, done bare: `PutItem`, then a
    /// `PutRecord` of its key record, per write, at `callers` at once (fresh table and stream).
    /// Its p50 at one caller is the least a confirmed-then-announced write can take here.
    async fn naive(&self, items: &[Item], callers: usize) -> Result<Writes, String> {
        let table = self.dynamo.table("naive").await;
        let stream = self.kinesis.stream("naive", 4).await;
        // Only for its record format: the naive records are the writer's.
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        let schema = thread_schema();
        let items = items.to_vec();
        let (table_ref, stream_ref, publisher, schema) = (&table, &stream, &publisher, &schema);
        let run = timed_writes(items, callers, |item| async move {
            let key = schema.key_of_item(&item).map_err(|e| e.to_string())?;
            let request = table_ref.client.put_item().table_name(&table_ref.name);
            request
                .set_item(Some(item))
                .send()
                .await
                .map_err(sdk("PutItem"))?;
            bare_put_record(stream_ref, publisher, &key).await
        })
        .await?;
        self.dynamo.drop_table(&table).await;
        self.kinesis.delete(&stream).await;
        Ok(run)
    }
}

fn keep_faster(best: &mut Option<Writes>, run: Writes) {
    if best.as_ref().is_none_or(|b| run.seconds < b.seconds) {
        *best = Some(run);
    }
}
