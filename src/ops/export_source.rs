//! An export as the commands are given it: `s3://bucket/prefix/AWSDynamoDB/<id>/`, or an export
//! ARN (found with `DescribeExport`), its manifests read from S3 and checked. A location that
//! does not exist or cannot be read, and an unfinished export (no manifest yet), are refused
//! with a message naming what is missing.

use aws_sdk_s3::Client;

use crate::aws::error::AwsError;
use crate::ops::export_manifest::{self, DataFile, ExportPlace, ManifestError, Summary};

/// An export, its manifests read.
#[derive(Debug, Clone)]
pub struct Export {
    pub place: ExportPlace,
    pub summary: Summary,
    pub files: Vec<DataFile>,
}

/// Why an export cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{place}: no {file}: the export is not finished (or this is not its folder); wait for \
         it to complete (`dyno export-s3` waits), or name the folder that holds {file}"
    )]
    Unfinished { place: String, file: &'static str },
    #[error("s3://{bucket}/{key}: {source}")]
    Read {
        bucket: String,
        key: String,
        #[source]
        source: AwsError,
    },
    #[error("{arn}: {source}")]
    Describe {
        arn: String,
        #[source]
        source: AwsError,
    },
    #[error("{arn}: DescribeExport gave no S3 bucket or manifest for it; is the export finished?")]
    NoPlace { arn: String },
}

/// Reads the export `given` names (an ARN needs `dynamodb` to describe it).
pub async fn open(
    s3: &Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    given: &str,
) -> Result<Export, SourceError> {
    let place = match given.starts_with("arn:") {
        true => place_of_arn(dynamodb, given).await?,
        false => ExportPlace::parse(given)?,
    };
    let summary_key = place.summary_key();
    let text = read(s3, &place, &summary_key, "manifest-summary.json").await?;
    let shown = format!("s3://{}/{summary_key}", place.bucket);
    let summary = Summary::parse(&text, &shown)?;
    let files_key = (summary.manifest_files_s3_key.clone())
        .unwrap_or_else(|| format!("{}/manifest-files.json", place.folder));
    let text = read(s3, &place, &files_key, "manifest-files.json").await?;
    let shown = format!("s3://{}/{files_key}", place.bucket);
    let files = export_manifest::data_files(&text, &shown, &summary)?;
    Ok(Export {
        place,
        summary,
        files,
    })
}

/// Where the export `arn` is, from `DescribeExport`.
async fn place_of_arn(
    dynamodb: &aws_sdk_dynamodb::Client,
    arn: &str,
) -> Result<ExportPlace, SourceError> {
    let answer = dynamodb.describe_export().export_arn(arn).send().await;
    let answer = answer.map_err(|e| SourceError::Describe {
        arn: arn.to_owned(),
        source: AwsError::new("DescribeExport", e),
    })?;
    let description = answer.export_description;
    let bucket = description.as_ref().and_then(|d| d.s3_bucket.clone());
    let manifest = description.and_then(|d| d.export_manifest);
    let (Some(bucket), Some(manifest)) = (bucket, manifest) else {
        return Err(SourceError::NoPlace {
            arn: arn.to_owned(),
        });
    };
    let folder = manifest.rsplit_once('/').map_or("", |(folder, _)| folder);
    Ok(ExportPlace::parse(&format!("s3://{bucket}/{folder}/"))?)
}

/// One manifest's bytes; a missing one means the export is unfinished.
async fn read(
    s3: &Client,
    place: &ExportPlace,
    key: &str,
    file: &'static str,
) -> Result<Vec<u8>, SourceError> {
    let failed = |source| SourceError::Read {
        bucket: place.bucket.clone(),
        key: key.to_owned(),
        source,
    };
    let answer = s3.get_object().bucket(&place.bucket).key(key).send().await;
    let object = match answer.map_err(|e| AwsError::new("GetObject", e)) {
        Ok(object) => object,
        Err(e) if e.is("NoSuchKey") => {
            return Err(SourceError::Unfinished {
                place: place.shown(),
                file,
            });
        }
        Err(e) => return Err(failed(e)),
    };
    let body = object.body.collect().await;
    let body = body.map_err(|e| failed(AwsError::other("GetObject", e)))?;
    Ok(body.into_bytes().to_vec())
}
