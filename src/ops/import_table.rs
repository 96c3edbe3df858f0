//! A new replica made by DynamoDB's `ImportTable` from an export's data files: the table, its
//! key schema, global indexes (with their projections), billing and encryption as a replica's
//! definition says, filled on AWS's side with no write capacity used. What an import cannot set
//! (TTL, point-in-time recovery, deletion protection, tags) is set afterwards, the way `check
//! --apply` sets it. An import cannot make a local secondary index: such a table is refused.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    ImportStatus, InputCompressionType, InputFormat, S3BucketSource, TableCreationParameters,
};

use crate::aws::error::AwsError;
use crate::aws::table::Table;
use crate::ops::admin::AdminError;
use crate::ops::definition::Definition;
use crate::ops::provision::{built, call, parts};

/// How often an import is asked how it goes.
const POLL: Duration = Duration::from_secs(2);

/// What an import did, as `DescribeImport` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub arn: String,
    pub status: String,
    pub imported: i64,
    pub processed: i64,
    /// Items DynamoDB could not import (they are logged in CloudWatch Logs, in the log group
    /// `/aws-dynamodb/imports`).
    pub errors: i64,
    pub failure: Option<String>,
}

/// Imports `bucket`'s `prefix` (an export's `data/` folder: gzip DynamoDB JSON) into the new
/// table `table`, made as `wanted` says; waits until the import ends, telling `progress` how it
/// goes.
pub async fn import(
    table: &Table,
    wanted: &Definition,
    (bucket, prefix): (&str, &str),
    progress: impl Fn(&str),
) -> Result<Imported, AdminError> {
    let source = S3BucketSource::builder()
        .s3_bucket(bucket)
        .s3_key_prefix(prefix)
        .build()
        .map_err(built(table))?;
    let request = table
        .client
        .import_table()
        .s3_bucket_source(source)
        .input_format(InputFormat::DynamodbJson)
        .input_compression_type(InputCompressionType::Gzip)
        .table_creation_parameters(parameters(table, wanted)?);
    let answer = request.send().await;
    let answer = answer.map_err(|e| call(table, AwsError::new("ImportTable", e)))?;
    let arn = (answer.import_table_description)
        .and_then(|d| d.import_arn)
        .unwrap_or_default();
    wait(table, &arn, progress).await
}

/// The new table's definition as `ImportTable` takes it (the parts `CreateTable` takes too).
fn parameters(table: &Table, wanted: &Definition) -> Result<TableCreationParameters, AdminError> {
    let parts = parts(wanted).map_err(built(table))?;
    let mut request = TableCreationParameters::builder()
        .table_name(&table.name)
        .set_attribute_definitions(Some(parts.attributes))
        .set_key_schema(Some(parts.keys))
        .billing_mode(parts.billing)
        .set_provisioned_throughput(parts.throughput)
        .set_sse_specification(parts.sse);
    if !parts.globals.is_empty() {
        request = request.set_global_secondary_indexes(Some(parts.globals));
    }
    request.build().map_err(built(table))
}

/// Asks how the import `arn` goes until it ends.
async fn wait(table: &Table, arn: &str, progress: impl Fn(&str)) -> Result<Imported, AdminError> {
    loop {
        let answer = table.client.describe_import().import_arn(arn).send().await;
        let answer = answer.map_err(|e| call(table, AwsError::new("DescribeImport", e)))?;
        let d = (answer.import_table_description)
            .unwrap_or_else(|| aws_sdk_dynamodb::types::ImportTableDescription::builder().build());
        let status = d.import_status.clone().unwrap_or(ImportStatus::InProgress);
        let imported = Imported {
            arn: arn.to_owned(),
            status: status.as_str().to_owned(),
            imported: d.imported_item_count,
            processed: d.processed_item_count,
            errors: d.error_count,
            failure: d.failure_message.clone().or(d.failure_code.clone()),
        };
        if !matches!(status, ImportStatus::InProgress | ImportStatus::Cancelling) {
            return Ok(imported);
        }
        progress(&format!("{} items imported", imported.imported));
        tokio::time::sleep(POLL).await;
    }
}
