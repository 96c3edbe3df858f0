//! Healing a gap from exports: every key an export holds (an incremental export's changes, or a
//! full export's items) sent to a key sink, so the replicator makes exactly those keys agree with
//! the primary's current state. The export's images are never written: only its keys are used,
//! so an old image cannot overwrite a newer item.

use aws_sdk_s3::Client;

use crate::aws::key::{KeyError, KeySchema};
use crate::ops::export_file::{self, FileError, Line};
use crate::ops::export_source::Export;
use crate::ops::sink::{KeySink, SinkError};

/// Lines read from a file and handed on at once.
const BATCH_LINES: usize = 500;

/// Why an export's keys were not all sent; names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{key}: line {line}: not a key of the table ({source}): the export is of another table"
    )]
    Key {
        key: String,
        line: u64,
        #[source]
        source: KeyError,
    },
    #[error("{key}: {source} ({sent} keys of the export were sent before it)")]
    Send {
        key: String,
        sent: u64,
        #[source]
        source: SinkError,
    },
}

/// Sends every key of `export` to `sink`, file by file (each checked whole first); returns how
/// many were sent.
pub async fn send_keys(
    s3: &Client,
    export: &Export,
    schema: &KeySchema,
    sink: &KeySink,
) -> Result<u64, KeysError> {
    let mut sent = 0;
    for file in &export.files {
        let fetched = export_file::fetch(s3, &export.place.bucket, file).await?;
        let key = fetched.key().to_owned();
        let mut batches = fetched.batches(BATCH_LINES);
        while let Some(batch) = batches.recv().await {
            let mut keys = Vec::new();
            for (line, content) in batch? {
                let attributes = match content {
                    Line::Item(item) => item,
                    Line::Change { keys, .. } => keys,
                };
                let failed = |source| KeysError::Key {
                    key: key.clone(),
                    line,
                    source,
                };
                keys.push(schema.key_of_item(&attributes).map_err(failed)?);
            }
            let count = keys.len() as u64;
            sink.send(keys).await.map_err(|source| KeysError::Send {
                key: key.clone(),
                sent,
                source,
            })?;
            sent += count;
        }
    }
    Ok(sent)
}
