//! Case `backfill-20k`: `backfill` (8 segments, onto a fresh 4-shard stream each run; publishing
//! only). Floor: a bare keys-only parallel `Scan` of the same 8 segments. Beside it, the same scan
//! publishing each page's key records with bare `PutRecords` calls of 500
//! (`publish_floor_seconds`: what the stream alone costs). Interleaved, best of `REPS` after an
//! untimed run each. Checked: every item published, every item scanned.

use std::time::Instant;

use dyno::aws::retry::Backoff;
use dyno::aws::table::Table;
use dyno::ops::backfill::{BackfillOptions, Progress, backfill};
use dyno::ops::checkpoint::Checkpoints;
use dyno::ops::scan::Segments;
use dyno::ops::sink::KeySink;
use dyno::publish::publisher::{Change, Publisher};

use super::shared::{Dynamo, Kinesis, bare_put_records, item, record_entry, scaled};
use super::{REGION, REPS, SEGMENTS};
use crate::common::{Item, put_items, thread_schema};
use crate::shared::{Line, median, sdk};

pub async fn backfills() -> Result<Line, String> {
    let dynamo = Dynamo::start().await;
    let kinesis = Kinesis::start().await;
    let n = scaled(20_000);
    let primary = dynamo.table("backfill").await;
    for slice in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let items = slice.iter().map(|&k| item(k)).collect();
        put_items(&primary.client, &primary.name, items).await;
    }
    // Turn 0: the backfill; 1: the floor (keys-only scan); 2: the scan that also publishes.
    let run = |turn: usize| {
        let (primary, kinesis) = (&primary, &kinesis);
        async move {
            match turn {
                0 => backfill_once(primary, kinesis, n).await,
                1 => keys_scan(primary, None, n).await.map(|s| (s, 0)),
                _ => keys_scan(primary, Some(kinesis), n).await.map(|s| (s, 0)),
            }
        }
    };
    // One untimed run of each first.
    for turn in 0..3 {
        run(turn).await?;
    }
    let (mut best, mut calls) = ([f64::INFINITY; 3], 0);
    let mut ratios = Vec::new();
    for rep in 0..REPS {
        // Interleaved, each rep starting with another, so drift favours none.
        let mut seconds = [0.0; 3];
        for turn in (0..3).map(|t| (t + rep) % 3) {
            let (took, put_records) = run(turn).await?;
            if turn == 0 && took < best[0] {
                calls = put_records;
            }
            best[turn] = best[turn].min(took);
            seconds[turn] = took;
        }
        ratios.push(seconds[0] / seconds[1]);
    }
    let [backfill, floor, publish_floor] = best;
    Ok(Line::new("backfill-20k")
        .int("items", n)
        .num("items_per_s", n as f64 / backfill)
        .num("floor_items_per_s", n as f64 / floor)
        .num("seconds", backfill)
        .num("floor_seconds", floor)
        .num("ratio_to_floor", backfill / floor)
        .num("ratio_median", median(ratios))
        .num("target_ratio_to_floor", 1.15)
        .num("publish_floor_seconds", publish_floor)
        .num("ratio_to_publish_floor", backfill / publish_floor)
        .int("put_records_calls", calls)
        .int("segments", SEGMENTS)
        .int("shards", 4)
        .text("stream", "fresh each run")
        .int("reps", REPS))
}

/// One backfill of `primary` onto a fresh 4-shard stream: its seconds and `PutRecords` calls.
async fn backfill_once(primary: &Table, kinesis: &Kinesis, n: usize) -> Result<(f64, u64), String> {
    let stream = kinesis.stream("backfill", 4).await;
    let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
    let options = BackfillOptions {
        segments: Segments::all(SEGMENTS),
        rate: None,
        ttl: None,
    };
    let checkpoints = Checkpoints::in_memory();
    let progress = Progress::default();
    let schema = thread_schema();
    let started = Instant::now();
    let report = backfill(
        primary,
        &schema,
        &KeySink::Stream(publisher.clone()),
        &options,
        &checkpoints,
        &progress,
    )
    .await
    .map_err(|e| format!("backfill: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if report.published != n as u64 {
        return Err(format!(
            "backfill published {} keys of {n} items",
            report.published
        ));
    }
    kinesis.delete(&stream).await;
    Ok((seconds, publisher.calls()))
}

/// The floor: every segment of a keys-only `Scan` at once, nothing else; checks the count.
/// With `publish`, each segment also puts its pages' key records on a fresh 4-shard stream
/// with bare `PutRecords` calls of 500 before it reads on (the backfill's work, done bare).
async fn keys_scan(table: &Table, publish: Option<&Kinesis>, n: usize) -> Result<f64, String> {
    let stream = match publish {
        Some(kinesis) => Some(kinesis.stream("publish", 4).await),
        None => None,
    };
    let publisher = stream
        .as_ref()
        .map(|s| Publisher::new(s.clone(), REGION, Backoff::default()));
    let publisher = publisher.as_ref();
    let started = Instant::now();
    let segments = (0..SEGMENTS).map(|segment| async move {
        let mut from = None;
        let mut count = 0;
        loop {
            let answer = table
                .client
                .scan()
                .table_name(&table.name)
                .segment(segment as i32)
                .total_segments(SEGMENTS as i32)
                .projection_expression("#h, #r")
                .expression_attribute_names("#h", "ForumName")
                .expression_attribute_names("#r", "Subject")
                .set_exclusive_start_key(from)
                .send()
                .await
                .map_err(sdk("Scan"))?;
            count += answer.items().len();
            if let Some(publisher) = publisher {
                bare_publish(publisher, answer.items()).await?;
            }
            match answer.last_evaluated_key {
                Some(last) => from = Some(last),
                None => return Ok::<_, String>(count),
            }
        }
    });
    let counts = futures::future::try_join_all(segments).await?;
    let seconds = started.elapsed().as_secs_f64();
    let scanned: usize = counts.iter().sum();
    if scanned != n {
        return Err(format!("the keys-only scan read {scanned} of {n} items"));
    }
    if let (Some(kinesis), Some(stream)) = (publish, &stream) {
        kinesis.delete(stream).await;
    }
    Ok(seconds)
}

/// The key records of `items`, put with `PutRecords` calls of 500 (the publisher's record
/// format and partition keys; no group commit, no retries: any failed record is an error).
async fn bare_publish(publisher: &Publisher, items: &[Item]) -> Result<(), String> {
    let schema = thread_schema();
    for chunk in items.chunks(500) {
        let mut records = Vec::with_capacity(chunk.len());
        for item in chunk {
            let key = schema.key_of_item(item).map_err(|e| e.to_string())?;
            records.push(record_entry(publisher, &key, Change::Modify)?);
        }
        bare_put_records(publisher, records).await?;
    }
    Ok(())
}
