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

/// What sending an export's keys did: how many were sent, and each file that was not (wholly)
/// sent, with why.
#[derive(Debug, Default)]
pub struct Sent {
    pub keys: u64,
    pub files_failed: Vec<KeysError>,
}

/// Sends every key of `export` to `sink`, file by file (each checked whole first). A file that
/// does not check, or has a line that is not a key, is recorded and the others go on; a sink
/// that fails stops everything (its error says how many were sent).
pub async fn send_keys(
    s3: &Client,
    export: &Export,
    schema: &KeySchema,
    sink: &KeySink,
) -> Result<Sent, KeysError> {
    let mut sent = Sent::default();
    for file in &export.files {
        match send_file(s3, export, file, schema, sink, &mut sent.keys).await {
            Ok(()) => {}
            Err(error @ KeysError::Send { .. }) => return Err(error),
            Err(error) => sent.files_failed.push(error),
        }
    }
    Ok(sent)
}

/// The keys of one data file, sent to `sink`; `sent` counts them.
async fn send_file(
    s3: &Client,
    export: &Export,
    file: &crate::ops::export_manifest::DataFile,
    schema: &KeySchema,
    sink: &KeySink,
    sent: &mut u64,
) -> Result<(), KeysError> {
    {
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
                sent: *sent,
                source,
            })?;
            *sent += count;
        }
    }
    Ok(())
}
