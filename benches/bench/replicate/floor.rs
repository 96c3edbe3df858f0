//! What the handler is held to: the floor (only the DynamoDB work a case needs, straight through
//! the SDK, at the same concurrency) and the naive design (a read and a write per record).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use dyno::aws::limits::READ_KEYS as MAX_READ_KEYS;
use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use super::shared::{Bench, Run};
use crate::common::Item;
use crate::shared::{delete_request, put_request, sdk};

impl Bench {
    /// The floor: only the DynamoDB work the case needs, straight through the SDK, by
    /// `concurrency` workers that take keys from one queue. Like the engine, a read asks for no
    /// more keys than the server last managed to return whole, so no item is read twice.
    pub async fn floor(
        &self,
        primary_table: &str,
        replica_table: &str,
        keys: Vec<Item>,
    ) -> Result<Run, String> {
        self.floor_to(primary_table, &[replica_table.to_owned()], keys)
            .await
    }

    /// [`Bench::floor`], writing what each read returns to every one of `replica_tables` at once,
    /// with at most `concurrency` calls in flight in all, as the engine does (with one table
    /// each worker has one call in flight, so the bound never waits). Measured as the handler's
    /// call is, from the keys (given, not copied) to the last write.
    pub async fn floor_to(
        &self,
        primary_table: &str,
        replica_tables: &[String],
        keys: Vec<Item>,
    ) -> Result<Run, String> {
        let queue = Mutex::new(keys);
        let hint = AtomicUsize::new(MAX_READ_KEYS);
        let calls = Semaphore::new(self.tuning.concurrency.max(1));
        let workers = (0..self.tuning.concurrency)
            .map(|_| self.floor_worker(primary_table, replica_tables, &queue, &hint, &calls));
        let (run, done) = Run::of(futures::future::try_join_all(workers)).await;
        done.map(|_| run)
    }

    /// Reads keys (first what came back unprocessed) and writes each answer to every table, until
    /// none are left.
    async fn floor_worker(
        &self,
        primary_table: &str,
        replica_tables: &[String],
        queue: &Mutex<Vec<Item>>,
        hint: &AtomicUsize,
        calls: &Semaphore,
    ) -> Result<(), String> {
        let mut pending: Vec<Item> = Vec::new();
        loop {
            let want = hint.load(Ordering::Relaxed);
            if pending.len() < want {
                let mut queue = queue.lock().expect("queue");
                let at = queue.len().saturating_sub(want - pending.len());
                pending.extend(queue.drain(at..));
            }
            if pending.is_empty() {
                return Ok(());
            }
            let request: Vec<Item> = pending.drain(..want.min(pending.len())).collect();
            let requested = request.clone();
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(request))
                .consistent_read(true)
                .build()
                .map_err(|e| e.to_string())?;
            let mut answer = {
                let _permit = calls.acquire().await.map_err(|e| e.to_string())?;
                self.primary
                    .batch_get_item()
                    .request_items(primary_table, wanted)
                    .send()
                    .await
                    .map_err(sdk("floor BatchGetItem"))?
            };
            let items = answer
                .responses
                .as_mut()
                .and_then(|r| r.remove(primary_table))
                .unwrap_or_default();
            let unprocessed = answer
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(primary_table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !unprocessed.is_empty() {
                hint.fetch_min(items.len().max(1), Ordering::Relaxed);
            }
            let seen: HashSet<&str> = items
                .iter()
                .chain(&unprocessed)
                .filter_map(|i| i.get("Subject")?.as_s().ok().map(String::as_str))
                .collect();
            let deletes: Vec<WriteRequest> = requested
                .iter()
                .filter(|k| {
                    k.get("Subject")
                        .and_then(|s| s.as_s().ok())
                        .is_some_and(|s| !seen.contains(s.as_str()))
                })
                .map(|k| delete_request(k.clone()))
                .collect();
            let mut writes: Vec<WriteRequest> = items.into_iter().map(put_request).collect();
            writes.extend(deletes);
            // Every table but the last gets a copy; the last, the writes themselves.
            let mut each: Vec<Vec<WriteRequest>> =
                (1..replica_tables.len()).map(|_| writes.clone()).collect();
            each.push(writes);
            let rounds = replica_tables
                .iter()
                .zip(each)
                .map(|(table, writes)| self.floor_write(table, writes, calls));
            futures::future::try_join_all(rounds).await?;
            pending.extend(unprocessed);
        }
    }

    /// `writes` to `replica_table` in `BatchWriteItem` calls of 25, one after another, each
    /// re-sent (under the same permit, as the engine does) while the answer leaves some
    /// unprocessed.
    async fn floor_write(
        &self,
        replica_table: &str,
        mut writes: Vec<WriteRequest>,
        calls: &Semaphore,
    ) -> Result<(), String> {
        while !writes.is_empty() {
            let mut batch: Vec<WriteRequest> = writes.drain(..writes.len().min(25)).collect();
            let _permit = calls.acquire().await.map_err(|e| e.to_string())?;
            while !batch.is_empty() {
                let answer = self
                    .replica
                    .batch_write_item()
                    .request_items(replica_table, batch)
                    .send()
                    .await
                    .map_err(sdk("floor BatchWriteItem"))?;
                batch = answer
                    .unprocessed_items
                    .and_then(|mut u| u.remove(replica_table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// The design as first sketched: per record, a consistent `GetItem`, then a `PutItem` or
    /// `DeleteItem`, at the same concurrency.
    pub async fn naive(
        &self,
        primary_table: &str,
        replica_table: &str,
        event: &KinesisEvent,
    ) -> Result<f64, String> {
        let started = Instant::now();
        stream::iter(&event.records)
            .map(|record| async move {
                let key = dyno::replicate::decode::decode(record, &self.schema, primary_table)
                    .map_err(|e| e.to_string())?;
                let got = self
                    .primary
                    .get_item()
                    .table_name(primary_table)
                    .set_key(Some(key.to_attributes()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(sdk("naive GetItem"))?;
                match got.item {
                    Some(item) => self
                        .replica
                        .put_item()
                        .table_name(replica_table)
                        .set_item(Some(item))
                        .send()
                        .await
                        .map(drop)
                        .map_err(sdk("naive PutItem")),
                    None => self
                        .replica
                        .delete_item()
                        .table_name(replica_table)
                        .set_key(Some(key.to_attributes()))
                        .send()
                        .await
                        .map(drop)
                        .map_err(sdk("naive DeleteItem")),
                }
            })
            .buffer_unordered(self.tuning.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(started.elapsed().as_secs_f64())
    }
}
