//! Line-delimited DynamoDB JSON (`{"Item":{…}}` or bare items, one per line): exporting a table
//! to a file that is replaced only once the export is complete, and importing a file through the
//! writer, with every error naming its line and every stop saying what is in.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use crate::aws::error::AwsError;
use crate::aws::json::{self, Item, JsonError};
use crate::aws::key::Key;
use crate::aws::table::Table;
use crate::ops::atomic_file::{self, FileError};
use crate::publish::writer::{WriteError, Writer};

/// Items per `write_batch` of an import (it sends them 25 a call and announces them at once).
const IMPORT_BATCH: usize = 500;

/// An export did not complete; the target file was not touched.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{table}: {source}; {target} was not touched")]
    Scan {
        table: String,
        target: String,
        #[source]
        source: AwsError,
    },
    #[error("{0}; nothing was written")]
    Target(#[source] FileError),
    #[error("{path}: {source}; {target} was not touched")]
    File {
        path: String,
        target: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where an export goes.
#[derive(Debug, Clone)]
pub enum Target {
    Stdout,
    /// A file, replaced only when the export is complete.
    File(PathBuf),
}

/// Writes every item of `table` as a line `{"Item":{…}}` (attributes in sorted order). A file
/// target is replaced whole (see [`atomic_file`]) only once every item is written, so a failed
/// export leaves an existing file as it was; anything but a regular file or a new path is
/// refused. `progress` gets
/// the count so far. Returns the number of items.
pub async fn export(
    table: &Table,
    target: &Target,
    progress: impl Fn(u64),
) -> Result<u64, ExportError> {
    match target {
        Target::Stdout => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let count = export_to(table, &mut out, "standard output", &progress).await?;
            out.flush()
                .map_err(|e| file_error("standard output", "standard output", e))?;
            Ok(count)
        }
        Target::File(path) => {
            let shown = path.display().to_string();
            let mut replacement = atomic_file::begin(path).map_err(ExportError::Target)?;
            let mut out = std::io::BufWriter::new(replacement.file());
            let count = export_to(table, &mut out, &shown, &progress).await?;
            out.flush().map_err(|e| file_error(&shown, &shown, e))?;
            drop(out);
            replacement.commit().map_err(ExportError::Target)?;
            Ok(count)
        }
    }
}

async fn export_to(
    table: &Table,
    out: &mut impl Write,
    target: &str,
    progress: &impl Fn(u64),
) -> Result<u64, ExportError> {
    let mut pages = table
        .client
        .scan()
        .table_name(&table.name)
        .into_paginator()
        .items()
        .send();
    let mut count = 0;
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| ExportError::Scan {
            table: table.label(),
            target: target.to_owned(),
            source: AwsError::new("Scan", e),
        })?;
        writeln!(out, "{{\"Item\":{}}}", json::to_json(&item))
            .map_err(|e| file_error(target, target, e))?;
        count += 1;
        progress(count);
    }
    Ok(count)
}

fn file_error(path: &str, target: &str, source: std::io::Error) -> ExportError {
    ExportError::File {
        path: path.to_owned(),
        target: target.to_owned(),
        source,
    }
}

/// How far an import got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Items written (and announced) by this run.
    pub written: usize,
    /// Every line up to and including this one is in the table (0: none yet); `--skip-lines`
    /// with this number resumes after it.
    pub complete_through: usize,
    /// Lines skipped at the start (`--skip-lines`).
    pub skipped: usize,
    /// Lines in the input, skipped ones included.
    pub lines: usize,
}

/// An import stopped. Everything before `report.complete_through + 1` is in.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}; {written} items written by this run, every line up to {complete} is in", written = report.written, complete = report.complete_through)]
pub struct ImportError {
    pub line: usize,
    pub report: ImportReport,
    #[source]
    pub problem: LineProblem,
}

/// What is wrong with a line, or with writing it.
#[derive(Debug, thiserror::Error)]
pub enum LineProblem {
    #[error("cannot be read: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0}")]
    Json(#[source] JsonError),
    #[error("{0}")]
    Write(#[source] Box<WriteError>),
}

/// One line read, its item and key.
struct Line {
    number: usize,
    item: Item,
    key: Key,
}

/// Imports line-delimited items through `writer` (so each is announced), `IMPORT_BATCH` at a
/// time, after skipping the first `skip_lines` lines. Blank lines are skipped. When one key
/// appears twice in a batch, the batch is split there (DynamoDB refuses both in one call), so
/// the later line wins. A batch that is not fully written is written again line by line, which
/// finds the exact line that fails. `progress` gets the report after each batch.
pub async fn import(
    writer: &Writer,
    input: impl BufRead,
    skip_lines: usize,
    progress: impl Fn(&ImportReport),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport {
        complete_through: skip_lines,
        skipped: skip_lines,
        ..ImportReport::default()
    };
    let mut batch: Vec<Line> = Vec::new();
    for (index, text) in input.lines().enumerate() {
        let number = index + 1;
        report.lines = number;
        if number <= skip_lines {
            continue;
        }
        let line = match read_line(writer, number, text) {
            Ok(None) => continue,
            Ok(Some(line)) => line,
            Err(problem) => {
                // Everything before the bad line goes in first, so the report is exact.
                write_lines(writer, std::mem::take(&mut batch), &mut report).await?;
                return Err(ImportError {
                    line: number,
                    report,
                    problem,
                });
            }
        };
        let repeated = batch.iter().any(|earlier| earlier.key == line.key);
        if repeated || batch.len() == IMPORT_BATCH {
            write_lines(writer, std::mem::take(&mut batch), &mut report).await?;
            progress(&report);
        }
        batch.push(line);
    }
    if !batch.is_empty() {
        write_lines(writer, batch, &mut report).await?;
        progress(&report);
    }
    Ok(report)
}

/// One line: `None` if blank, else its item and key.
fn read_line(
    writer: &Writer,
    number: usize,
    text: std::io::Result<String>,
) -> Result<Option<Line>, LineProblem> {
    let text = text.map_err(LineProblem::Read)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let item = parse_line(&text).map_err(LineProblem::Json)?;
    let key = writer
        .key(item.clone())
        .map_err(|e| LineProblem::Write(Box::new(e)))?;
    Ok(Some(Line { number, item, key }))
}

/// Writes a batch of lines; if the batch is not fully written, writes its lines one by one and
/// stops at the first that fails.
async fn write_lines(
    writer: &Writer,
    lines: Vec<Line>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let Some(last) = lines.last().map(|l| l.number) else {
        return Ok(());
    };
    let requests = lines.iter().map(|line| put_request(&line.item)).collect();
    let redo: Vec<Key> = match writer.write_batch(requests).await {
        Ok(written) => {
            report.written += written;
            report.complete_through = last;
            return Ok(());
        }
        Err(WriteError::Batch(batch)) => {
            let unannounced = batch
                .not_published
                .as_ref()
                .map_or(&[][..], |n| &n.keys[..]);
            report.written += batch.written - unannounced.len().min(batch.written);
            let mut redo = batch.not_written.clone();
            redo.extend(batch.unknown.iter().cloned());
            redo.extend(unannounced.iter().cloned());
            redo
        }
        Err(_) => lines.iter().map(|line| line.key.clone()).collect(),
    };
    // Puts are idempotent: the lines not known to be in are written again one by one, in
    // order, which says exactly which line fails.
    for line in lines {
        if redo.contains(&line.key) {
            let put = writer.put().set_item(Some(line.item));
            if let Err(e) = writer.put_item(put).await {
                return Err(ImportError {
                    line: line.number,
                    report: report.clone(),
                    problem: LineProblem::Write(Box::new(e)),
                });
            }
            report.written += 1;
        }
        report.complete_through = line.number;
    }
    Ok(())
}

fn put_request(item: &Item) -> WriteRequest {
    let put = PutRequest::builder().set_item(Some(item.clone())).build();
    WriteRequest::builder().set_put_request(put.ok()).build()
}

/// An item from a line: `{"Item":{…}}` or a bare item.
pub fn parse_line(line: &str) -> Result<Item, JsonError> {
    let value = json::parse_strict(line)?;
    let item = match value {
        serde_json::Value::Object(mut object)
            if object.len() == 1 && object.contains_key("Item") =>
        {
            object.remove("Item").unwrap_or_default()
        }
        other => other,
    };
    json::item_from_value(item)
}
