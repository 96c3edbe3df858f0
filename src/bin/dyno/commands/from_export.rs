//! What `announce` and `load` share of an export: reading it (from S3, or by its ARN), checking
//! that it is an export of --table, and announcing (or, with `--direct`, copying) its keys.

use dyno::aws::table::not_the_primary;
use dyno::ops::definition::{Definition, ReplicaChoices};
use dyno::ops::export_keys;
use dyno::ops::export_manifest::ExportKind;
use dyno::ops::export_source::{self, Export};
use dyno::ops::{drift, import_table, provision};

use super::sink::{DirectArg, key_sink};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, exit_failure_if, usage};
use crate::progress;

/// Reads the export `given` names, refused when it is not of --table.
pub async fn open(
    at: &Connected,
    given: &str,
    s3_endpoint: Option<&str>,
) -> Result<(aws_sdk_s3::Client, Export), Failure> {
    let s3 = at.s3(s3_endpoint);
    let primary = at.primary();
    let export = export_source::open(&s3, &primary.client, given).await?;
    let shown = export.place.shown();
    match export.summary.table_name() {
        Some(name) if name == primary.name => Ok((s3, export)),
        Some(name) => Err(usage(format!(
            "{shown} is an export of table `{name}`, not --table `{}`: give --table {name}, or \
             the export of `{}`",
            primary.name, primary.name
        ))),
        None => Err(usage(format!(
            "{shown}: its summary names no table (tableArn)"
        ))),
    }
}

/// `announce --from-export`: every key of each export (a chain of incremental exports, in
/// order, or a full one), announced on the stream or copied at once (`--direct`); the images
/// are never written, only the keys used.
pub async fn announce(
    at: &Connected,
    exports: &[String],
    s3_endpoint: Option<&str>,
    direct: &DirectArg,
) -> Outcome {
    let schema = at.primary().key_schema().await?;
    let sink = key_sink(at, direct).await?;
    let mut failed = 0;
    for given in exports {
        let (s3, export) = open(at, given, s3_endpoint).await?;
        let sent = export_keys::send_keys(&s3, &export, &schema, &sink).await?;
        for error in &sent.files_failed {
            eprintln!("not announced: {error}");
        }
        failed += sent.files_failed.len();
        let (sent, files) = (sent.keys, export.files.len());
        let what = match export.summary.kind() {
            ExportKind::Incremental => format!(
                "incremental export of the changes from {} to {}",
                export.summary.export_from_time.as_deref().unwrap_or("?"),
                export.summary.export_to_time.as_deref().unwrap_or("?"),
            ),
            ExportKind::Full => format!(
                "full export as of {}",
                export.summary.export_time.as_deref().unwrap_or("?")
            ),
        };
        eprintln!(
            "announce: {sent} keys of the {what} ({}, {files} data files) {}",
            export.place.shown(),
            sink.describe()
        );
    }
    if failed > 0 {
        eprintln!(
            "{failed} data files not announced (named above): their keys were not made to agree; \
             restore or export them again, and run the command again"
        );
    }
    Ok(exit_failure_if(failed > 0))
}

/// Refuses an incremental export (`load` and `create --from-export` take a full one).
pub fn check_full(export: &Export, command: &str) -> Result<(), Failure> {
    match export.summary.kind() {
        ExportKind::Incremental => Err(usage(format!(
            "{} is an incremental export: {command} takes a full one; announce an incremental \
             export's keys with `dyno announce --from-export`",
            export.place.shown()
        ))),
        ExportKind::Full => Ok(()),
    }
}

/// The hours a DynamoDB stream keeps its records.
const STREAM_WINDOW_HOURS: i64 = 24;

/// Where the catch-up comes from after a seed: what `--source` says the deployment reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatchUpSource {
    Kinesis,
    DynamodbStream,
}

/// For a DynamoDB stream source: whether the export's time is still inside the stream's
/// 24-hour window (`Err` says why the seed is not complete). A Kinesis stream keeps what its
/// retention says, which dyno does not know here: `Ok`.
pub fn inside_window(
    export: &Export,
    source: CatchUpSource,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    if source == CatchUpSource::Kinesis {
        return Ok(());
    }
    let at = export.summary.as_of().unwrap_or_default();
    let Ok(time) = chrono::DateTime::parse_from_rfc3339(at) else {
        return Err(format!(
            "the export names no time (`{at}`) to check against the stream's window"
        ));
    };
    let hours = (now - time.with_timezone(&chrono::Utc)).num_hours();
    match hours < STREAM_WINDOW_HOURS {
        true => Ok(()),
        false => Err(format!(
            "the export is {hours} hours old, outside a DynamoDB stream's {STREAM_WINDOW_HOURS}-hour \
             window: the writes made since are not all on the stream any more, so the seed is NOT \
             complete; export again and load the new export, or use a Kinesis key stream"
        )),
    }
}

/// Where the catch-up starts after a seed from `export`, and the rule that orders it.
pub fn catch_up(export: &Export) -> String {
    let at = export.summary.as_of().unwrap_or("(the export's time)");
    format!(
        "catch-up: replicate from a position before {at} (less a margin, e.g. 5 minutes): \
         StartingPosition AT_TIMESTAMP with StartingPositionTimestamp for a Kinesis source, \
         `dyno replicate --from-timestamp` locally; a DynamoDB stream keeps 24 hours and starts \
         at its trim horizon, so the export must be younger than that. Order: the load must \
         finish before the catch-up starts: an export's item written after the replicator wrote \
         a newer one would put the old version back, and no record would announce it again \
         (`dyno diff` reports such keys as different; `diff --repair` mends them)"
    )
}

/// `create --from-export`: a new replica made by `ImportTable` from a full export's data, with
/// the primary's definition; then what an import cannot set, as `check --apply` sets it. An
/// existing replica is refused, never changed; so is a primary with local indexes.
pub async fn create_replica(
    at: &Connected,
    given: &str,
    s3_endpoint: Option<&str>,
    (choices, source): (&ReplicaChoices, CatchUpSource),
) -> Outcome {
    let (s3, export) = open(at, given, s3_endpoint).await?;
    check_full(&export, "`create --from-export`")?;
    export_source::check_for_import(&s3, &export).await?;
    let (primary, replica) = (at.primary(), at.replica().await?);
    not_the_primary(&primary, &replica).await?;
    match replica.describe().await {
        Err(e) if e.is_missing() => {}
        Err(e) => return Err(e.into()),
        Ok(_) => {
            return Err(usage(format!(
                "{} exists: an import makes a new table, and an existing one is never changed; \
                 fill it with `dyno load --export {given}`",
                replica.label()
            )));
        }
    }
    let definition = Definition::read(&primary).await?;
    if let Some(index) = definition.local_indexes.first() {
        return Err(usage(format!(
            "{} has the local secondary index `{}`, and an import cannot create one: create the \
             replica with `dyno create`, then fill it with `dyno load --export {given}`",
            primary.label(),
            index.name
        )));
    }
    let wanted = definition.for_replica(choices);
    let prefix = format!("{}/data/", export.place.folder);
    let bar = progress::counter("importing", "polls");
    let place = (export.place.bucket.as_str(), prefix.as_str());
    let imported = import_table::import(&replica, &wanted, place, |m| {
        bar.set_message(m.to_owned());
        bar.inc(1);
    });
    let imported = imported.await;
    bar.finish_and_clear();
    let imported = imported?;
    let expected = export.summary.item_count.unwrap_or_default();
    eprintln!(
        "import: {} ({}): {} items imported of {} processed (the export holds {expected}), {} \
         errors (ErrorCount; the items DynamoDB could not import are in CloudWatch Logs, log \
         group /aws-dynamodb/imports){}",
        imported.arn,
        imported.status,
        imported.imported,
        imported.processed,
        imported.errors,
        imported
            .failure
            .as_deref()
            .map_or(String::new(), |f| format!("; {f}")),
    );
    if imported.status != "COMPLETED" {
        return Ok(exit_failure_if(true));
    }
    let found = Definition::read(&replica).await?;
    let drifts = drift::drift(&wanted, &found);
    let mut types = found.attribute_types();
    types.extend(wanted.attribute_types());
    for line in provision::apply(&replica, found.billing, &types, &drifts, |_| {}).await? {
        eprintln!("  {line}");
    }
    eprintln!("{}", catch_up(&export));
    let window = inside_window(&export, source, chrono::Utc::now());
    if let Err(why) = &window {
        eprintln!("{why}");
    }
    let incomplete = imported.errors > 0 || imported.imported as u64 != expected;
    Ok(exit_failure_if(incomplete || window.is_err()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno::ops::export_manifest::{ExportPlace, Summary};

    fn export_at(time: &str) -> Export {
        let summary =
            format!(r#"{{"tableArn":"arn:aws:dynamodb:r:1:table/t","exportTime":"{time}"}}"#);
        Export {
            place: ExportPlace::parse("s3://b/AWSDynamoDB/1/").unwrap(),
            summary: Summary::parse(summary.as_bytes(), "s").unwrap(),
            files: Vec::new(),
        }
    }

    #[test]
    fn a_dynamodb_stream_catches_up_only_inside_its_24_hours() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .to_utc();
        let young = export_at("2026-12-06T12:30:00Z");
        let old = export_at("2026-12-06T11:59:00Z");
        assert!(inside_window(&young, CatchUpSource::DynamodbStream, now).is_ok());
        let why = inside_window(&old, CatchUpSource::DynamodbStream, now).unwrap_err();
        assert!(
            why.starts_with("the export is 24 hours old") && why.contains("NOT complete"),
            "{why}"
        );
        assert!(
            inside_window(&old, CatchUpSource::Kinesis, now).is_ok(),
            "Kinesis: its retention"
        );
    }
}
