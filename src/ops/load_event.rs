//! The export loader as a Lambda function's handler: one invocation loads one data file of an
//! export (a line of its `manifest-files.json`, as a Step Functions Distributed Map hands it),
//! with the same per-file step as `dyno load` ([`load_file`]). A file that does not load is the
//! invocation's error, so the map records it as failed (and keeps it in its results) rather than
//! losing it.

use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::ops::export_manifest::DataFile;
use crate::ops::load::{self, LoadError, LoadOptions, Progress};
use crate::replicate::engine::Engine;

/// One data file to load: the export's bucket and the file's manifest line.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FileEvent {
    pub bucket: String,
    pub file: DataFile,
}

/// What loading it did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDone {
    pub key: String,
    pub items: u64,
    pub expired: u64,
}

/// Loads the file `event` names with `engine`'s targets.
pub async fn handle(
    event: &FileEvent,
    engine: &Engine,
    s3: &Client,
    options: &LoadOptions,
) -> Result<FileDone, LoadError> {
    let calls = Semaphore::new(engine.tuning().concurrency.max(1));
    let progress = Progress::default();
    let how = (options, &progress);
    let report = load::load_file(s3, &event.bucket, &event.file, engine, &calls, how).await?;
    Ok(FileDone {
        key: event.file.data_file_s3_key.clone(),
        items: report.items,
        expired: report.expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distributed_maps_item_reads_as_an_event() {
        let text = r#"{"bucket": "b", "file": {"itemCount":33300,"md5Checksum":"u9+yebd3wn80Ram6WFcfvw==",
            "etag":"3edb-1","dataFileS3Key":"AWSDynamoDB/0171/data/bddx.json.gz"}}"#;
        let event: FileEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.bucket, "b");
        assert_eq!(event.file.item_count, 33_300);
        assert_eq!(
            event.file.data_file_s3_key,
            "AWSDynamoDB/0171/data/bddx.json.gz"
        );
    }
}
