//! A batch handed to the function as Lambda hands it: the event's JSON in (the function's own
//! code parses it), the response's JSON out (the failures read back by sequence number).

use serde::Serialize;
use tokio::time::Instant;

use crate::replicate::decode::SourceRecord;
use crate::replicate::lambda::{self, EventError};
use crate::replicate::replicator::Replicator;
use crate::replicate::summary::Summary;

/// Hands `records` to the function as Lambda does: an event's JSON in, the response's JSON out;
/// returns the positions of the records it reported failed, and the batch's summary.
pub async fn invoke<R: SourceRecord + Serialize>(
    replicator: &Replicator,
    records: &[R],
    deadline: Instant,
) -> Result<(Vec<usize>, Summary), EventError> {
    let event = serde_json::json!({ "Records": records }).to_string();
    let (response, summary) = lambda::handle_event(replicator, &event, Some(deadline)).await?;
    let failed = lambda::failed_identifiers(&response)?;
    Ok((positions(records, &failed), summary))
}

/// The positions of the records named by `identifiers` (their sequence numbers).
fn positions<R: SourceRecord>(records: &[R], identifiers: &[String]) -> Vec<usize> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| identifiers.iter().any(|id| id == r.sequence_number()))
        .map(|(p, _)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kinesis::KinesisEventRecord;

    #[test]
    fn failures_are_found_by_sequence_number() {
        let record = |sequence: &str| {
            let mut r = KinesisEventRecord::default();
            r.kinesis.sequence_number = sequence.to_owned();
            r
        };
        let records = [record("1"), record("2"), record("3")];
        assert_eq!(
            positions(&records, &["3".to_owned(), "2".to_owned()]),
            [1, 2]
        );
        assert!(positions(&records, &["9".to_owned()]).is_empty());
    }
}
