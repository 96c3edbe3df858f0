//! An export of a table to S3 by DynamoDB's `ExportTableToPointInTime`: a full export (the
//! table as it was at a moment, now by default) or an incremental one (what changed in a
//! window), made on AWS's side from point-in-time recovery, with no read capacity used. PITR
//! must be on; a table without it is refused with how to turn it on.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    ExportFormat, ExportStatus, ExportType, ExportViewType, IncrementalExportSpecification,
};
use aws_smithy_types::DateTime;
use chrono::Utc;

use crate::aws::error::AwsError;
use crate::aws::table::{Table, TableError};
use crate::ops::definition::{Known, read_pitr};

/// How often an export is asked how it goes.
const POLL: Duration = Duration::from_secs(2);

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    /// The table as it was at `at` (now, when `None`).
    Full { at: Option<chrono::DateTime<Utc>> },
    /// What changed from `from` to `to`.
    Incremental {
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    },
}

/// What an export did, as `DescribeExport` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub arn: String,
    pub status: String,
    /// The export's folder, `s3://bucket/prefix/AWSDynamoDB/<id>/`, when DynamoDB names its
    /// manifest.
    pub folder: Option<String>,
    pub export_time: Option<String>,
    pub items: Option<i64>,
    pub failure: Option<String>,
}

/// Why an export was not made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "{table}: point-in-time recovery is off, and an export is made from it: turn it on \
         (aws dynamodb update-continuous-backups --table-name {name} \
         --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true), then export"
    )]
    PitrOff { table: String, name: String },
    #[error("{table}: {source}")]
    Call {
        table: String,
        #[source]
        source: AwsError,
    },
}

/// Exports `table` to `bucket` (under `prefix`), and waits until the export ends, telling
/// `progress` how it goes.
pub async fn export(
    table: &Table,
    (bucket, prefix): (&str, Option<&str>),
    what: ExportWhat,
    progress: impl Fn(&str),
) -> Result<Exported, ExportError> {
    let failed = |source| ExportError::Call {
        table: table.label(),
        source,
    };
    let arn = table.describe().await?.table_arn.unwrap_or_default();
    check_pitr(table).await?;
    let mut request = (table.client.export_table_to_point_in_time())
        .table_arn(&arn)
        .s3_bucket(bucket)
        .set_s3_prefix(prefix.map(str::to_owned))
        .export_format(ExportFormat::DynamodbJson);
    request = match what {
        ExportWhat::Full { at } => request
            .export_type(ExportType::FullExport)
            .set_export_time(at.map(|t| DateTime::from_millis(t.timestamp_millis()))),
        ExportWhat::Incremental { from, to } => {
            let window = IncrementalExportSpecification::builder()
                .export_from_time(DateTime::from_millis(from.timestamp_millis()))
                .export_to_time(DateTime::from_millis(to.timestamp_millis()))
                .export_view_type(ExportViewType::NewAndOldImages)
                .build();
            request
                .export_type(ExportType::IncrementalExport)
                .incremental_export_specification(window)
        }
    };
    let answer = request.send().await;
    let answer = answer.map_err(|e| failed(AwsError::new("ExportTableToPointInTime", e)))?;
    let arn = (answer.export_description)
        .and_then(|d| d.export_arn)
        .unwrap_or_default();
    loop {
        let answer = table.client.describe_export().export_arn(&arn).send().await;
        let answer = answer.map_err(|e| failed(AwsError::new("DescribeExport", e)))?;
        let d = answer.export_description;
        let d = d.unwrap_or_else(|| aws_sdk_dynamodb::types::ExportDescription::builder().build());
        let status = d.export_status.clone().unwrap_or(ExportStatus::InProgress);
        if status != ExportStatus::InProgress {
            return Ok(exported(&arn, d));
        }
        progress("exporting");
        tokio::time::sleep(POLL).await;
    }
}

/// Refuses a table whose point-in-time recovery is off (a server without the call is let by:
/// its export call then says what it says).
async fn check_pitr(table: &Table) -> Result<(), ExportError> {
    match read_pitr(table).await? {
        Known::Is(false) => Err(ExportError::PitrOff {
            table: table.label(),
            name: table.name.clone(),
        }),
        Known::Is(true) | Known::Unsupported => Ok(()),
    }
}

/// What `DescribeExport` said of the ended export `arn`.
fn exported(arn: &str, d: aws_sdk_dynamodb::types::ExportDescription) -> Exported {
    let folder = match (&d.s3_bucket, &d.export_manifest) {
        (Some(bucket), Some(manifest)) => manifest
            .rsplit_once('/')
            .map(|(folder, _)| format!("s3://{bucket}/{folder}/")),
        _ => None,
    };
    Exported {
        arn: arn.to_owned(),
        status: d
            .export_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        folder,
        export_time: d.export_time.map(|t| t.to_string()),
        items: d.item_count,
        failure: d.failure_message.or(d.failure_code),
    }
}
