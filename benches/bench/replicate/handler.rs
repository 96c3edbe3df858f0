//! The library's handler, in this process, as the Lambda runs it: its seconds and DynamoDB calls
//! (retries included), its counts checked per target; and the decoding of the event alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEvent;
use dyno::replicate::engine::Engine;
use dyno::replicate::key_numbers::KeyNumbers;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::target::Target;

use super::Case;
use super::shared::Run;
use super::shared::{Bench, check};
use crate::common;

impl Bench {
    /// The handler, to one replica table: its run, and its DynamoDB calls (retries included).
    pub async fn handler(
        &self,
        case: &Case,
        primary_table: &str,
        replica_table: &str,
        event: &KinesisEvent,
    ) -> Result<(Run, u64), String> {
        let replicas = [replica_table.to_owned()];
        let (run, calls) = self
            .handler_to(case, primary_table, &replicas, event)
            .await?;
        Ok((run, calls.values().sum()))
    }

    /// The handler, writing every item whole to each of `replica_tables` (one: the replicator
    /// `Replicator::connect` builds; more: one engine with a full-copy target per table): its run
    /// and DynamoDB calls by operation (retries included).
    pub async fn handler_to(
        &self,
        case: &Case,
        primary_table: &str,
        replica_tables: &[String],
        event: &KinesisEvent,
    ) -> Result<(Run, BTreeMap<String, u64>), String> {
        let primary = common::table_of(&self.primary, primary_table);
        let replicator = match replica_tables {
            [replica_table] => Replicator::connect(
                primary,
                common::table_of(&self.replica, replica_table),
                self.tuning.clone(),
            )
            .await
            .map_err(|e| format!("connect: {e}"))?,
            _ => {
                let targets = replica_tables
                    .iter()
                    .map(|name| {
                        Target::everything(name, Arc::new(common::table_of(&self.replica, name)))
                    })
                    .collect();
                let engine = Engine::new(
                    Arc::new(primary),
                    self.schema.clone(),
                    targets,
                    self.tuning.clone(),
                );
                Replicator::new(vec![engine], self.tuning.clone())
            }
        };
        self.calls.reset();
        // One call, as a Lambda invocation is: the replicator is built before, as at init.
        let (run, (response, summary)) = Run::of(replicator.handle(event, None)).await;
        let calls = self.calls.snapshot();
        let failed = response.batch_item_failures.len();
        let n = replica_tables.len();
        let got = (failed, summary.keys, summary.puts / n, summary.deletes / n);
        check(case, "handler", got)?;
        // Each target, on its own: every key written, none failed.
        let present = case.present_keys();
        let each: Vec<(&str, usize, usize, usize)> = summary
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t.puts, t.deletes, t.failed_keys))
            .collect();
        let expected: Vec<(&str, usize, usize, usize)> = replica_tables
            .iter()
            .map(|name| (name.as_str(), present, case.keys - present, 0))
            .collect();
        if each != expected || summary.puts != n * present {
            return Err(format!(
                "handler: per target (name, puts, deletes, failed keys) = {each:?} of {} puts, \
                 expected {expected:?}",
                summary.puts
            ));
        }
        Ok((run, calls))
    }

    /// Decodes every record and numbers the distinct keys with the handler's own code, best of 3.
    pub fn decode(&self, primary_table: &str, event: &KinesisEvent) -> f64 {
        let sources = [(primary_table, &self.schema)];
        (0..3)
            .map(|_| {
                let started = Instant::now();
                let mut numbers = KeyNumbers::new(1, Default::default());
                let mut new = vec![Vec::new()];
                let found: Vec<_> = (event.records.iter())
                    .map(|r| numbers.record_key(r, &sources, &Default::default(), &mut new))
                    .collect();
                std::hint::black_box((found, new));
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }
}
