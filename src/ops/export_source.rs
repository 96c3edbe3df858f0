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
    #[error(
        "{place}: the manifest lists {key}, which is not in the export's data folder: refusing \
         to read a file the export did not write there"
    )]
    Outside { place: String, key: String },
    #[error(
        "{place}: its data folder holds {key}, which the manifest does not list: an import would \
         take it too; remove it, or load the export with `dyno load` (which reads only the files \
         listed)"
    )]
    Unlisted { place: String, key: String },
    #[error(
        "{place}: {key} is not the object the export wrote (its ETag is {found}, the manifest \
         says {expected}): restore it, or export again"
    )]
    Changed {
        place: String,
        key: String,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    File(#[from] crate::ops::export_file::FileError),
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
    for file in &files {
        if !inside_data_folder(&place.folder, &file.data_file_s3_key) {
            return Err(SourceError::Outside {
                place: place.shown(),
                key: file.data_file_s3_key.clone(),
            });
        }
    }
    Ok(Export {
        place,
        summary,
        files,
    })
}

/// True when `key` is a data file of the export in `folder`: under its own `data/` (a full
/// export's) or its parent's (the `AWSDynamoDB/data/` incremental exports share), with no `..`.
fn inside_data_folder(folder: &str, key: &str) -> bool {
    let parent = folder.rsplit_once('/').map_or("", |(parent, _)| parent);
    let under = |dir: &str| key.strip_prefix(dir).is_some_and(|rest| !rest.is_empty());
    let plain = !key
        .split('/')
        .any(|part| part == ".." || part == "." || part.is_empty());
    plain && (under(&format!("{folder}/data/")) || under(&format!("{parent}/data/")))
}

/// Before an import of `export`'s data folder (which takes every object under it): the folder
/// holds exactly the files the manifest lists, each the object the export wrote (its ETag as
/// the manifest gives it; without one, fetched and checked: MD5, item count, gzip).
pub async fn check_for_import(s3: &Client, export: &Export) -> Result<(), SourceError> {
    let (bucket, prefix) = (
        &export.place.bucket,
        format!("{}/data/", export.place.folder),
    );
    let place = export.place.shown();
    let listed: std::collections::BTreeSet<&str> = export
        .files
        .iter()
        .map(|f| f.data_file_s3_key.as_str())
        .collect();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SourceError::Read {
            bucket: bucket.clone(),
            key: prefix.clone(),
            source: AwsError::new("ListObjectsV2", e),
        })?;
        if let Some(key) = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| !listed.contains(k))
        {
            return Err(SourceError::Unlisted {
                place,
                key: key.to_owned(),
            });
        }
    }
    for file in &export.files {
        if !file.data_file_s3_key.starts_with(&prefix) {
            return Err(SourceError::Outside {
                place,
                key: file.data_file_s3_key.clone(),
            });
        }
        check_object(s3, export, file).await?;
    }
    Ok(())
}

/// One listed file is the object the export wrote.
async fn check_object(s3: &Client, export: &Export, file: &DataFile) -> Result<(), SourceError> {
    let Some(expected) = &file.etag else {
        crate::ops::export_file::fetch(s3, &export.place.bucket, file).await?;
        return Ok(());
    };
    let key = &file.data_file_s3_key;
    let head = s3
        .head_object()
        .bucket(&export.place.bucket)
        .key(key)
        .send()
        .await;
    let head = head.map_err(|e| SourceError::Read {
        bucket: export.place.bucket.clone(),
        key: key.clone(),
        source: AwsError::new("HeadObject", e),
    })?;
    let found = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    match found == expected.trim_matches('"') {
        true => Ok(()),
        false => Err(SourceError::Changed {
            place: export.place.shown(),
            key: key.clone(),
            found,
            expected: expected.clone(),
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_lies_in_its_exports_data_folder_or_the_shared_one() {
        let folder = "p/AWSDynamoDB/0171-5f9d";
        for inside in [
            "p/AWSDynamoDB/0171-5f9d/data/a.json.gz",
            "p/AWSDynamoDB/data/b.json.gz",
        ] {
            assert!(inside_data_folder(folder, inside), "{inside}");
        }
        for outside in [
            "p/AWSDynamoDB/0171-5f9d/manifest-files.json",
            "p/AWSDynamoDB/other/data/a.json.gz",
            "p/AWSDynamoDB/0171-5f9d/data/../../evil/a.json.gz",
            "p/AWSDynamoDB/0171-5f9d/data/",
            "p/AWSDynamoDB/0171-5f9d/data//a",
            "q/AWSDynamoDB/0171-5f9d/data/a.json.gz",
        ] {
            assert!(!inside_data_folder(folder, outside), "{outside}");
        }
    }
}
