//! One data file of an export: fetched from S3 into a temporary file while its MD5 is taken,
//! checked against its manifest line (the MD5 of the bytes as stored, the item count, gzip that
//! reads to its end) before a single item of it is used, then read line by line on a thread of
//! its own, a batch at a time: memory is bounded by a batch, never by a file. A full export's
//! line is `{"Item":{…}}`, an incremental export's `{"Keys":{…},"NewImage":{…},…}`.

use std::io::{BufRead, BufReader, Read, Seek, Write};

use aws_sdk_s3::Client;
use base64::Engine as _;
use flate2::read::GzDecoder;
use md5::{Digest, Md5};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::aws::error::AwsError;
use crate::aws::table::Item;
use crate::ops::export_manifest::DataFile;

/// A data file that cannot be used; the message names it (and the line) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("s3://{bucket}/{key}: {source}")]
    Fetch {
        bucket: String,
        key: String,
        #[source]
        source: AwsError,
    },
    #[error("{key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{key}: its MD5 is {found}, the manifest says {expected}: the file is not what the export \
         wrote; nothing of it was used (export again, or restore the file)"
    )]
    Md5 {
        key: String,
        expected: String,
        found: String,
    },
    #[error("{key}: not a whole gzip file ({source}); nothing of it was used")]
    Gzip {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{key}: {found} lines, the manifest says {expected}; nothing of it was used")]
    Count {
        key: String,
        expected: u64,
        found: u64,
    },
    #[error("{key}: line {line}: not an export's item ({reason})")]
    Line {
        key: String,
        line: u64,
        reason: String,
    },
}

/// What one line of a data file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A full export's item.
    Item(Item),
    /// An incremental export's change: the key, and the new image unless it was a delete.
    Change { keys: Item, new_image: Option<Item> },
}

/// A data file fetched and checked, ready to read.
#[derive(Debug)]
pub struct Fetched {
    key: String,
    file: std::fs::File,
}

/// Fetches `file` from `bucket` and checks it against its manifest line.
pub async fn fetch(s3: &Client, bucket: &str, file: &DataFile) -> Result<Fetched, FileError> {
    let key = file.data_file_s3_key.clone();
    let failed = |source| FileError::Fetch {
        bucket: bucket.to_owned(),
        key: key.clone(),
        source: AwsError::new("GetObject", source),
    };
    let answer = s3.get_object().bucket(bucket).key(&key).send().await;
    let mut body = answer.map_err(failed)?.body;
    let io = |source| FileError::Io {
        key: key.clone(),
        source,
    };
    let mut local = tempfile::tempfile().map_err(io)?;
    let mut md5 = Md5::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
    {
        md5.update(&chunk);
        local.write_all(&chunk).map_err(io)?;
    }
    let found = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    if found != file.md5_checksum {
        let expected = file.md5_checksum.clone();
        return Err(FileError::Md5 {
            key,
            expected,
            found,
        });
    }
    local.rewind().map_err(io)?;
    let lines = tokio::task::spawn_blocking(move || count_lines(&mut local).map(|n| (n, local)));
    let (found, mut local) = lines
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(|source| FileError::Gzip {
            key: key.clone(),
            source,
        })?;
    if found != file.item_count {
        let expected = file.item_count;
        return Err(FileError::Count {
            key,
            expected,
            found,
        });
    }
    local.rewind().map_err(io)?;
    Ok(Fetched { key, file: local })
}

/// The lines of a gzip file, read to its end (a truncated file is an error).
fn count_lines(file: &mut std::fs::File) -> std::io::Result<u64> {
    let mut reader = BufReader::new(GzDecoder::new(&mut *file));
    let (mut lines, mut buffer) = (0, Vec::new());
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer)? {
            0 => return Ok(lines),
            _ if buffer.iter().all(u8::is_ascii_whitespace) => {}
            _ => lines += 1,
        }
    }
}

impl Fetched {
    /// The file's S3 key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the file on a thread of its own, `batch` lines at a time, each numbered from 1: at
    /// most two batches wait at once. A line that does not read ends the file with its error.
    pub fn batches(self, batch: usize) -> mpsc::Receiver<Result<Vec<(u64, Line)>, FileError>> {
        let (send, receive) = mpsc::channel(2);
        std::thread::spawn(move || {
            let key = self.key;
            let mut reader = BufReader::new(GzDecoder::new(self.file));
            let (mut number, mut lines) = (0, Vec::with_capacity(batch));
            loop {
                let next = read_line(&mut reader, &key, &mut number);
                let done = matches!(next, Ok(None));
                match next {
                    Ok(Some(line)) => lines.push((number, line)),
                    Ok(None) => {}
                    Err(error) => {
                        let _ = send.blocking_send(Err(error));
                        return;
                    }
                }
                if (done && !lines.is_empty()) || lines.len() == batch {
                    let full = std::mem::replace(&mut lines, Vec::with_capacity(batch));
                    if send.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
                if done {
                    return;
                }
            }
        });
        receive
    }
}

/// The next line of `reader` that holds anything (`number` counts the lines read).
fn read_line(
    reader: &mut impl BufRead,
    key: &str,
    number: &mut u64,
) -> Result<Option<Line>, FileError> {
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| FileError::Gzip {
                key: key.to_owned(),
                source,
            })?;
        if read == 0 {
            return Ok(None);
        }
        *number += 1;
        if !buffer.iter().all(u8::is_ascii_whitespace) {
            return parse_line(&buffer)
                .map(Some)
                .map_err(|reason| FileError::Line {
                    key: key.to_owned(),
                    line: *number,
                    reason,
                });
        }
    }
}

/// Either kind of line, as AWS writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    item: Option<serde_dynamo::Item>,
    keys: Option<serde_dynamo::Item>,
    new_image: Option<serde_dynamo::Item>,
}

/// One line: `{"Item":…}` or `{"Keys":…,"NewImage":…}`. The reason never quotes a value.
pub fn parse_line(bytes: &[u8]) -> Result<Line, String> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => "an attribute is not DynamoDB JSON".to_owned(),
        _ => format!("not JSON, at column {}", e.column()),
    })?;
    let sdk = |item: serde_dynamo::Item| -> Item {
        item.into_inner()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect()
    };
    match (raw.item, raw.keys) {
        (Some(item), None) => Ok(Line::Item(sdk(item))),
        (None, Some(keys)) => Ok(Line::Change {
            keys: sdk(keys),
            new_image: raw.new_image.map(sdk),
        }),
        _ => Err("neither an `Item` nor the `Keys` of a change".to_owned()),
    }
}

/// Reads all of `reader` (for tests of whole files).
pub fn read_all(reader: impl Read, key: &str) -> Result<Vec<Line>, FileError> {
    let mut reader = BufReader::new(GzDecoder::new(reader));
    let (mut number, mut lines) = (0, Vec::new());
    while let Some(line) = read_line(&mut reader, key, &mut number)? {
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
#[path = "export_file_tests.rs"]
mod tests;
