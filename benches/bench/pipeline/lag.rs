//! Case `lag-500wps`: writes paced at 500/s (8 writers) through writer -> 2-shard stream ->
//! `Runner` (following) -> `Replicator` -> replica; lag = the instant the batch holding a write's
//! record was handled (the runner's observer) - the instant `put_item` returned. Floor: the same
//! paced workload done bare (`PutItem`, then `PutRecord` of the key record; one consumer per
//! shard: `GetRecords` at once after a page with records, 20 ms after an empty one, and per page
//! a consistent `BatchGetItem` and a `BatchWriteItem` of what came back); its lag ends when the
//! page's writes return. One untimed short run of each first. Checked: every write was handled,
//! and the replica equals the primary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use aws_sdk_kinesis::types::ShardIteratorType;
use dyno::aws::limits::{READ_KEYS, WRITE_REQUESTS};
use dyno::aws::retry::Backoff;
use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::runner::Runner;
use dyno::local::stop::Stop;
use dyno::publish::publisher::Publisher;
use dyno::publish::writer::Writer;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::shared::{
    Dynamo, Kinesis, bare_put_record, bare_write, check_run, paced, runner_options, same_tables,
    scale,
};
use super::{BATCH, CONCURRENCY, LAG_RATE, LAG_WRITERS, POLL, REGION};
use crate::common::{Item, thread_schema};
use crate::shared::{Line, ms, put_request, quantile, sdk};

/// Instants by key (`Key`'s display form): when each write was confirmed, or handled.
type Instants = Arc<Mutex<HashMap<String, Instant>>>;

struct LagBench {
    primary: Dynamo,
    replica: Dynamo,
    kinesis: Kinesis,
}

/// One paced run: each write's lag, sorted, and the pace the writes kept.
struct Lags {
    lags_ms: Vec<f64>,
    writes_per_s: f64,
}

pub async fn lag() -> Result<Line, String> {
    let bench = LagBench {
        primary: Dynamo::start().await,
        replica: Dynamo::start().await,
        kinesis: Kinesis::start().await,
    };
    let n = (LAG_RATE * 20.0 * scale()).round().max(1.0) as usize;
    // One short untimed run of each first: the servers' first minutes are slower.
    let warm = (n / 10).max(1);
    bench.writer(warm).await?;
    bench.floor(warm).await?;
    let w = bench.writer(n).await?;
    let f = bench.floor(n).await?;
    let (p99, floor_p99) = (quantile(&w.lags_ms, 0.99), quantile(&f.lags_ms, 0.99));
    Ok(Line::new("lag-500wps")
        .int("writes", n)
        .num("p50_ms", quantile(&w.lags_ms, 0.5))
        .num("p99_ms", p99)
        .num("max_ms", quantile(&w.lags_ms, 1.0))
        .num("floor_p50_ms", quantile(&f.lags_ms, 0.5))
        .num("floor_p99_ms", floor_p99)
        .num("floor_max_ms", quantile(&f.lags_ms, 1.0))
        .num("p99_ratio", p99 / floor_p99)
        .num("target_p99_ratio", 2.0)
        .num("writes_per_s", w.writes_per_s)
        .num("floor_writes_per_s", f.writes_per_s)
        .int("writers", LAG_WRITERS)
        .int("shards", 2)
        .int("batch_size", BATCH)
        .int("poll_ms", POLL.as_millis()))
}

impl LagBench {
    /// Fresh primary, replica and 2-shard stream.
    async fn fresh(&self) -> (Table, Table, Stream) {
        let primary = self.primary.table("lag-primary").await;
        let replica = self.replica.table("lag-replica").await;
        let stream = self.kinesis.stream("lag", 2).await;
        (primary, replica, stream)
    }

    async fn clean(&self, primary: &Table, replica: &Table, stream: &Stream) {
        self.primary.drop_table(primary).await;
        self.replica.drop_table(replica).await;
        self.kinesis.delete(stream).await;
    }

    /// `n` paced writes through the writer, replicated by a following runner; then checks that
    /// every write was handled and that the replica equals the primary.
    async fn writer(&self, n: usize) -> Result<Lags, String> {
        let (primary, replica, stream) = self.fresh().await;
        let writer = Writer::connect(primary.clone(), stream.clone())
            .await
            .map_err(|e| format!("Writer::connect: {e}"))?;
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .map_err(|e| format!("Replicator::connect: {e}"))?;
        let handled = Instants::default();
        let observer = {
            let (handled, schema, table) = (handled.clone(), thread_schema(), primary.name.clone());
            Arc::new(move |records: &[KinesisEventRecord], failed: &[usize]| {
                let now = Instant::now();
                let mut handled = handled.lock().expect("handled");
                for (at, record) in records.iter().enumerate() {
                    if failed.contains(&at) {
                        continue;
                    }
                    if let Ok(key) = dyno::replicate::decode::decode(record, &schema, &table) {
                        handled.entry(key.to_string()).or_insert(now);
                    }
                }
            })
        };
        let runner = Runner::connect(stream.clone(), runner_options())
            .await
            .map_err(|e| format!("Runner::connect: {e}"))?
            .observe(observer);
        let (stop, stopped) = Stop::on_request();
        let following = tokio::spawn(async move { runner.run(&replicator, stopped).await });
        let writer = &writer;
        let paced = paced(n, |item| async move {
            let request = writer.put().set_item(Some(item));
            writer
                .put_item(request)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        stop.stop();
        let stats = following
            .await
            .map_err(|e| format!("runner task: {e}"))?
            .map_err(|e| format!("runner: {e}"))?;
        let (confirmed, writes_per_s) = paced?;
        check_run(&stats, n)?;
        same_tables(&primary, &replica, n).await?;
        let lags_ms = lags(&confirmed, &handled)?;
        self.clean(&primary, &replica, &stream).await;
        Ok(Lags {
            lags_ms,
            writes_per_s,
        })
    }

    /// The floor: `n` paced bare writes (`PutItem`, then `PutRecord`) and a bare consumer per
    /// shard.
    async fn floor(&self, n: usize) -> Result<Lags, String> {
        let (primary, replica, stream) = self.fresh().await;
        let handled = Instants::default();
        let (stop, stopped) = Stop::on_request();
        let shards = stream.shards().await.map_err(|e| e.to_string())?;
        let consumers: Vec<_> = shards
            .into_iter()
            .map(|shard| {
                let consumer = BareConsumer {
                    primary: primary.clone(),
                    replica: replica.clone(),
                    stream: stream.clone(),
                    handled: handled.clone(),
                };
                tokio::spawn(consumer.run(shard.id, stopped.clone()))
            })
            .collect();
        // Only for its record format: the floor's records are the writer's.
        let publisher = Publisher::new(stream.clone(), REGION, Backoff::default());
        let schema = thread_schema();
        let (primary_ref, stream_ref, publisher, schema) = (&primary, &stream, &publisher, &schema);
        let paced = paced(n, |item| async move {
            let key = schema.key_of_item(&item).map_err(|e| e.to_string())?;
            let request = primary_ref.client.put_item().table_name(&primary_ref.name);
            let written = request.set_item(Some(item)).send().await;
            written.map_err(sdk("PutItem"))?;
            bare_put_record(stream_ref, publisher, &key).await
        })
        .await;
        stop.stop();
        for consumer in consumers {
            consumer
                .await
                .map_err(|e| format!("consumer task: {e}"))??;
        }
        let (confirmed, writes_per_s) = paced?;
        let lags_ms = lags(&confirmed, &handled)?;
        self.clean(&primary, &replica, &stream).await;
        Ok(Lags {
            lags_ms,
            writes_per_s,
        })
    }
}

/// Each write's lag (handled - confirmed, at least 0), sorted; every write must be handled.
fn lags(confirmed: &[(String, Instant)], handled: &Instants) -> Result<Vec<f64>, String> {
    let handled = handled.lock().expect("handled");
    let mut lags = Vec::with_capacity(confirmed.len());
    for (key, at) in confirmed {
        let Some(done) = handled.get(key) else {
            return Err(format!("the write of {key} was never handled"));
        };
        lags.push(ms(done.saturating_duration_since(*at)));
    }
    lags.sort_by(f64::total_cmp);
    Ok(lags)
}

/// The floor's consumer of one shard: read, copy each page's keys, record when done.
struct BareConsumer {
    primary: Table,
    replica: Table,
    stream: Stream,
    handled: Instants,
}

/// A key record, as far as the bare consumer reads it.
#[derive(serde::Deserialize)]
struct BareRecord {
    dynamodb: BareKeys,
}

#[derive(serde::Deserialize)]
struct BareKeys {
    #[serde(rename = "Keys")]
    keys: serde_dynamo::Item,
}

impl BareConsumer {
    /// Reads `shard` from its start until `stop` is true and the shard is caught up.
    async fn run(self, shard: String, stop: Stop) -> Result<(), String> {
        let kinesis = &self.stream.client;
        let start = kinesis
            .get_shard_iterator()
            .stream_name(&self.stream.name)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(sdk("GetShardIterator"))?;
        let mut iterator = start.shard_iterator.ok_or("no shard iterator")?;
        loop {
            // Taken before the read: a read begun before the stop may miss the last write.
            let stop_before_read = stop.asked();
            let page = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(BATCH as i32)
                .send()
                .await
                .map_err(sdk("GetRecords"))?;
            let caught_up = page.millis_behind_latest.unwrap_or(0) == 0;
            iterator = page.next_shard_iterator.ok_or("the shard closed")?;
            if page.records.is_empty() {
                if caught_up && stop_before_read {
                    return Ok(());
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            let mut partition_keys = Vec::with_capacity(page.records.len());
            let mut keys = Vec::with_capacity(page.records.len());
            for record in &page.records {
                let parsed: BareRecord = serde_json::from_slice(record.data.as_ref())
                    .map_err(|e| format!("a key record: {e}"))?;
                let key: Item = (parsed.dynamodb.keys.into_inner().into_iter())
                    .map(|(name, value)| (name, value.into()))
                    .collect();
                // The partition key is the key's display form (distinct keys: no duplicates).
                partition_keys.push(record.partition_key.clone().unwrap_or_default());
                keys.push(key);
            }
            bare_copy(&self.primary, &self.replica, keys).await?;
            let now = Instant::now();
            let mut handled = self.handled.lock().expect("handled");
            for key in partition_keys {
                handled.entry(key).or_insert(now);
            }
            drop(handled);
        }
    }
}

/// Consistent `BatchGetItem` of `keys` from `primary`, then `BatchWriteItem` of what came back
/// to `replica`, `CONCURRENCY` calls at once.
async fn bare_copy(primary: &Table, replica: &Table, keys: Vec<Item>) -> Result<(), String> {
    let read: Vec<Vec<Item>> = stream::iter(keys.chunks(READ_KEYS).map(<[Item]>::to_vec))
        .map(|chunk| bare_read(primary, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let writes: Vec<WriteRequest> = read.into_iter().flatten().map(put_request).collect();
    stream::iter(writes.chunks(WRITE_REQUESTS).map(<[WriteRequest]>::to_vec))
        .map(|chunk| bare_write(replica, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn bare_read(table: &Table, mut keys: Vec<Item>) -> Result<Vec<Item>, String> {
    let mut items = Vec::with_capacity(keys.len());
    while !keys.is_empty() {
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| e.to_string())?;
        let request = table
            .client
            .batch_get_item()
            .request_items(&table.name, wanted);
        let mut answer = request.send().await.map_err(sdk("BatchGetItem"))?;
        let got = answer
            .responses
            .as_mut()
            .and_then(|r| r.remove(&table.name));
        items.extend(got.unwrap_or_default());
        let left = answer
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(&table.name));
        keys = left.map(|k| k.keys).unwrap_or_default();
    }
    Ok(items)
}
