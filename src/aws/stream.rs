//! A Kinesis stream and how to reach it: its name, the client, the setting that named it, and
//! what dyno asks of it (is it there and writable, its ARN, its shards and their lineage).

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::StreamStatus;

use crate::aws::error::AwsError;

/// One stream, reachable.
#[derive(Debug, Clone)]
pub struct Stream {
    pub client: Client,
    pub name: String,
    /// The endpoint the client uses; `None`: AWS's.
    pub endpoint: Option<String>,
    /// The setting that named the stream (`--stream`, or a template parameter).
    pub setting: &'static str,
}

/// The stream cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{setting}={stream}: {source}")]
    Call {
        setting: &'static str,
        stream: String,
        #[source]
        source: AwsError,
    },
    #[error("{setting}={stream}: the stream is {status}, so records cannot be put on it")]
    NotWritable {
        setting: &'static str,
        stream: String,
        status: String,
    },
}

impl StreamError {
    /// True when the stream does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, StreamError::Call { source, .. } if source.is("ResourceNotFoundException"))
    }

    /// The SDK error, when a call failed.
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            StreamError::Call { source, .. } => Some(source),
            StreamError::NotWritable { .. } => None,
        }
    }
}

/// A shard and the shards it came from (after a split or a merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    pub parents: Vec<String>,
    /// True when the shard is closed (it has an ending sequence number): it will end.
    pub closed: bool,
}

impl Stream {
    pub fn new(client: Client, name: impl Into<String>, setting: &'static str) -> Self {
        Stream {
            client,
            name: name.into(),
            endpoint: None,
            setting,
        }
    }

    /// Records the endpoint the client goes to (for messages, and to tell local from AWS).
    pub fn at(mut self, endpoint: Option<String>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// An error of a call on this stream.
    pub fn error(&self, source: AwsError) -> StreamError {
        StreamError::Call {
            setting: self.setting,
            stream: self.name.clone(),
            source,
        }
    }

    /// The stream's status and ARN (`DescribeStreamSummary`).
    pub async fn summary(&self) -> Result<(StreamStatus, String), StreamError> {
        let answer = self
            .client
            .describe_stream_summary()
            .stream_name(&self.name)
            .send()
            .await
            .map_err(|e| self.error(AwsError::new("DescribeStreamSummary", e)))?;
        let summary = answer.stream_description_summary();
        let status = summary.map(|s| s.stream_status().clone());
        let arn = summary
            .map(|s| s.stream_arn().to_owned())
            .unwrap_or_default();
        Ok((status.unwrap_or(StreamStatus::Creating), arn))
    }

    /// Checks that the stream exists and takes records (ACTIVE, or UPDATING during a reshard).
    pub async fn check_writable(&self) -> Result<(), StreamError> {
        let (status, _) = self.summary().await?;
        match status {
            StreamStatus::Active | StreamStatus::Updating => Ok(()),
            other => Err(StreamError::NotWritable {
                setting: self.setting,
                stream: self.name.clone(),
                status: other.as_str().to_owned(),
            }),
        }
    }

    /// Every shard of the stream, open and closed, with its parents (`ListShards`, all pages).
    pub async fn shards(&self) -> Result<Vec<Shard>, AwsError> {
        let mut shards = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.name),
            };
            let page = request
                .send()
                .await
                .map_err(|e| AwsError::new("ListShards", e))?;
            shards.extend(page.shards().iter().map(|s| {
                Shard {
                    id: s.shard_id().to_owned(),
                    parents: [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                        .into_iter()
                        .flatten()
                        .map(str::to_owned)
                        .collect(),
                    closed: s
                        .sequence_number_range()
                        .is_some_and(|r| r.ending_sequence_number().is_some()),
                }
            }));
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(shards),
            }
        }
    }
}
