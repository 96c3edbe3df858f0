//! A DynamoDB export to S3, as its manifests describe it: where it is (`s3://bucket/prefix/
//! AWSDynamoDB/<id>/`), what it is (`manifest-summary.json`: full or incremental, of which table,
//! as of when, how many items) and its data files (`manifest-files.json`, one JSON object a line:
//! the file's key, item count and MD5). An unfinished export (no manifest) or a manifest that
//! does not read is refused with a message naming what is missing.

use serde::Deserialize;

/// Where an export is: the S3 folder its manifests are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPlace {
    pub bucket: String,
    /// The export's own folder, `…/AWSDynamoDB/<id>` (no trailing slash).
    pub folder: String,
}

/// An export's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The table as it was at `exportTime`.
    Full,
    /// What changed between `exportFromTime` and `exportToTime`.
    Incremental,
}

/// `manifest-summary.json`, the parts dyno reads.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub export_arn: Option<String>,
    pub table_arn: Option<String>,
    pub table_id: Option<String>,
    /// A full export's moment.
    pub export_time: Option<String>,
    /// An incremental export's window.
    pub export_from_time: Option<String>,
    pub export_to_time: Option<String>,
    pub item_count: Option<u64>,
    pub output_format: Option<String>,
    /// `FULL_EXPORT` or `INCREMENTAL_EXPORT` (absent in the first format: full).
    pub export_type: Option<String>,
    pub manifest_files_s3_key: Option<String>,
}

/// One line of `manifest-files.json`: a data file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataFile {
    pub item_count: u64,
    /// Base64 of the MD5 of the file's bytes as stored (gzip).
    pub md5_checksum: String,
    /// The file's key, from the bucket's root.
    pub data_file_s3_key: String,
    /// The object's ETag as the export wrote it.
    pub etag: Option<String>,
}

/// Why an export cannot be used; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "{given}: not an export: give s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT-ID/ (the folder \
         that holds manifest-summary.json) or an export ARN (arn:aws:dynamodb:…:table/T/export/ID)"
    )]
    NotAnExport { given: String },
    #[error("{file}: not valid: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: line {line}: not a data file's entry: {source}")]
    FilesLine {
        file: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: the export's format is {format}; dyno reads DYNAMODB_JSON exports")]
    Format { file: String, format: String },
    #[error("{file}: the export lists no data files")]
    NoFiles { file: String },
    #[error(
        "{file}: lists {listed} items over its files, but its summary says {summary}: the \
         manifests disagree; export again"
    )]
    Counts {
        file: String,
        listed: u64,
        summary: u64,
    },
}

impl ExportPlace {
    /// The place `given` names: `s3://bucket/…/AWSDynamoDB/<id>/` (with or without the trailing
    /// slash).
    pub fn parse(given: &str) -> Result<ExportPlace, ManifestError> {
        let refuse = || ManifestError::NotAnExport {
            given: given.to_owned(),
        };
        let rest = given.strip_prefix("s3://").ok_or_else(refuse)?;
        let (bucket, folder) = rest.split_once('/').ok_or_else(refuse)?;
        let folder = folder.trim_end_matches('/');
        let id = folder.rsplit('/').next().unwrap_or_default();
        let parent = folder.rsplit('/').nth(1).unwrap_or_default();
        if bucket.is_empty() || id.is_empty() || parent != "AWSDynamoDB" {
            return Err(refuse());
        }
        Ok(ExportPlace {
            bucket: bucket.to_owned(),
            folder: folder.to_owned(),
        })
    }

    /// The key of the export's `manifest-summary.json`.
    pub fn summary_key(&self) -> String {
        format!("{}/manifest-summary.json", self.folder)
    }

    /// `s3://bucket/folder/`, as messages show it.
    pub fn shown(&self) -> String {
        format!("s3://{}/{}/", self.bucket, self.folder)
    }
}

impl Summary {
    /// The summary in `text` (read from `file`), checked to be of a DYNAMODB_JSON export.
    pub fn parse(text: &[u8], file: &str) -> Result<Summary, ManifestError> {
        let summary: Summary =
            serde_json::from_slice(text).map_err(|source| ManifestError::Json {
                file: file.to_owned(),
                source,
            })?;
        match summary.output_format.as_deref() {
            None | Some("DYNAMODB_JSON") => Ok(summary),
            Some(other) => Err(ManifestError::Format {
                file: file.to_owned(),
                format: other.to_owned(),
            }),
        }
    }

    /// Full or incremental.
    pub fn kind(&self) -> ExportKind {
        match self.export_type.as_deref() {
            Some("INCREMENTAL_EXPORT") => ExportKind::Incremental,
            _ => ExportKind::Full,
        }
    }

    /// The table the export is of, from its ARN.
    pub fn table_name(&self) -> Option<&str> {
        let arn = self.table_arn.as_deref()?;
        arn.split_once(":table/")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
    }

    /// The moment the data is as of: a full export's `exportTime`, an incremental one's end.
    pub fn as_of(&self) -> Option<&str> {
        match self.kind() {
            ExportKind::Full => self.export_time.as_deref(),
            ExportKind::Incremental => self.export_to_time.as_deref(),
        }
    }
}

/// The data files `manifest-files.json` (its `text`, read from `file`) lists, checked against
/// the summary's item count.
pub fn data_files(
    text: &[u8],
    file: &str,
    summary: &Summary,
) -> Result<Vec<DataFile>, ManifestError> {
    let mut files = Vec::new();
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = serde_json::from_slice(line).map_err(|source| ManifestError::FilesLine {
            file: file.to_owned(),
            line: n + 1,
            source,
        })?;
        files.push(entry);
    }
    if files.is_empty() && summary.item_count.unwrap_or(0) > 0 {
        return Err(ManifestError::NoFiles {
            file: file.to_owned(),
        });
    }
    let listed: u64 = files.iter().map(|f: &DataFile| f.item_count).sum();
    match summary.item_count {
        Some(summary) if summary != listed => Err(ManifestError::Counts {
            file: file.to_owned(),
            listed,
            summary,
        }),
        _ => Ok(files),
    }
}

#[cfg(test)]
#[path = "export_manifest_tests.rs"]
mod tests;
