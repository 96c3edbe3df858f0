//! The writer: writes to the primary table with the SDK's own requests and then announces the
//! item's key with the publisher: once DynamoDB confirms the write, and also when the write may
//! have happened without a clear answer (a timeout, a 5xx, a broken connection). Key records are
//! idempotent, so announcing a write that did not happen costs one read; not announcing one that
//! did would leave the replica stale. Only a definite refusal announces nothing.

use std::collections::HashMap;
use std::error::Error as StdError;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::error::{Attempts, AwsError};
use crate::aws::key::{Key, KeyError, KeySchema};
use crate::aws::key_index::KeyIndex;
use crate::aws::limits;
use crate::aws::retry::{self, Backoff, Deadline, Undone};
use crate::aws::stream::{Stream, StreamError};
use crate::aws::table::{Table, TableError, WriteCall};
pub use crate::publish::batch_error::BatchError;
use crate::publish::publisher::{Change, NotPublished, Publisher};
use aws_sdk_dynamodb::config::SharedInterceptor;

/// Why a write did not fully happen, or is not known to have.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer could not start: the table or the stream cannot be used.
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// DynamoDB refused the write: nothing changed and nothing was announced.
    #[error("{table}: the write was refused ({source}); nothing changed and nothing was announced")]
    Rejected {
        table: String,
        #[source]
        source: AwsError,
    },
    /// The write may or may not have happened; its key was announced, so the replica will
    /// match whatever the primary holds.
    #[error(
        "{table}: the outcome of the write is unknown ({source}): it may or may not have \
         happened; its key was announced, so the replica will match whatever the primary holds \
         (the key: {key})",
        key = key.to_json()
    )]
    Unknown {
        table: String,
        key: Key,
        #[source]
        source: AwsError,
    },
    /// The write may or may not have happened, and its key could not be announced either.
    #[error("{table}: the outcome of the write is unknown ({write}), and {source}")]
    UnknownNotAnnounced {
        table: String,
        write: AwsError,
        #[source]
        source: NotPublished,
    },
    /// The write stands, but its key record was not published: the replica was not told.
    #[error("{table}: the write stands, but {source}")]
    NotPublished {
        table: String,
        #[source]
        source: NotPublished,
    },
    /// The request's key does not fit the table.
    #[error("the request's key does not fit table `{table}`: {source}")]
    Key {
        table: String,
        #[source]
        source: KeyError,
    },
    /// The request names another table than the writer's.
    #[error("the request is for table `{found}`, but this writer writes `{expected}`")]
    OtherTable { found: String, expected: String },
    /// Some writes of a batch did not happen, or are not known to have, or were not announced.
    #[error(transparent)]
    Batch(Box<BatchError>),
}

impl WriteError {
    /// True when DynamoDB refused the write because its condition did not hold.
    pub fn is_conditional_check_failed(&self) -> bool {
        matches!(self, WriteError::Rejected { source, .. } if source.is("ConditionalCheckFailedException"))
    }

    /// The keys whose records are not on the stream, when that is what went wrong.
    pub fn unannounced(&self) -> &[Key] {
        match self {
            WriteError::UnknownNotAnnounced { source, .. }
            | WriteError::NotPublished { source, .. } => &source.keys,
            WriteError::Batch(batch) => batch
                .not_published
                .as_ref()
                .map_or(&[], |n| n.keys.as_slice()),
            _ => &[],
        }
    }
}

/// Writes to the primary table and announces each written key on the stream.
#[derive(Debug, Clone)]
pub struct Writer {
    table: Table,
    schema: KeySchema,
    publisher: Publisher,
    backoff: Backoff,
}

impl Writer {
    /// A writer for `table`, announcing on `stream`: reads the table's key schema and checks
    /// that the stream exists and takes records, so a wrong name fails before any write.
    pub async fn connect(table: Table, stream: Stream) -> Result<Self, WriteError> {
        let schema = table.key_schema().await?;
        stream.check_writable().await?;
        let region = table
            .client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let backoff = Backoff::default();
        Ok(Writer {
            publisher: Publisher::new(stream, region, backoff),
            table,
            schema,
            backoff,
        })
    }

    /// Names the table in every key record (`eventSourceARN`), for a replicator that follows
    /// several primary tables.
    pub fn with_table_arn(mut self, arn: impl Into<String>) -> Self {
        self.publisher = self.publisher.with_table_arn(arn);
        self
    }

    /// The primary table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The primary table's key schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// The publisher the writer announces keys with.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// A `PutItem` request for the primary table, to complete and pass to [`Writer::put_item`].
    pub fn put(&self) -> PutItemFluentBuilder {
        self.table.client.put_item().table_name(&self.table.name)
    }

    /// An `UpdateItem` request for the primary table.
    pub fn update(&self) -> UpdateItemFluentBuilder {
        self.table.client.update_item().table_name(&self.table.name)
    }

    /// A `DeleteItem` request for the primary table.
    pub fn delete(&self) -> DeleteItemFluentBuilder {
        self.table.client.delete_item().table_name(&self.table.name)
    }

    /// Sends a `PutItem` (conditions and return values as the SDK has them), then announces the
    /// key. `eventName` is MODIFY when the request asked for the old item and there was one,
    /// else INSERT.
    pub async fn put_item(
        &self,
        request: PutItemFluentBuilder,
    ) -> Result<PutItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_item())?;
        let attempts = Attempts::default();
        let result = request
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        let change = match &result {
            Ok(output) if output.attributes().is_some_and(|old| !old.is_empty()) => Change::Modify,
            _ => Change::Insert,
        };
        self.settle("PutItem", result, &attempts, key, change).await
    }

    /// Sends an `UpdateItem`, then announces the key (MODIFY).
    pub async fn update_item(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> Result<UpdateItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_key())?;
        let attempts = Attempts::default();
        let result = request
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        self.settle("UpdateItem", result, &attempts, key, Change::Modify)
            .await
    }

    /// Sends a `DeleteItem`, then announces the key (REMOVE).
    pub async fn delete_item(
        &self,
        request: DeleteItemFluentBuilder,
    ) -> Result<DeleteItemOutput, WriteError> {
        self.check_table(request.get_table_name())?;
        let key = self.key_of(request.get_key())?;
        let attempts = Attempts::default();
        let result = request
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        self.settle("DeleteItem", result, &attempts, key, Change::Remove)
            .await
    }

    /// After one write: announces the key if the write happened or may have, and says which.
    async fn settle<T, E>(
        &self,
        operation: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
        attempts: &Attempts,
        key: Key,
        change: Change,
    ) -> Result<T, WriteError>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let table = self.table.name.clone();
        match result {
            Ok(output) => match self.publisher.publish(&[(key, change)]).await {
                Ok(()) => Ok(output),
                Err(source) => Err(WriteError::NotPublished { table, source }),
            },
            Err(e) => {
                let error = AwsError::new(operation, e);
                if !(error.may_have_applied() || attempts.maybe_applied()) {
                    return Err(WriteError::Rejected {
                        table,
                        source: error,
                    });
                }
                match self.publisher.publish(&[(key.clone(), change)]).await {
                    Ok(()) => Err(WriteError::Unknown {
                        table,
                        key,
                        source: error,
                    }),
                    Err(source) => Err(WriteError::UnknownNotAnnounced {
                        table,
                        write: error,
                        source,
                    }),
                }
            }
        }
    }

    /// Writes puts and deletes with `BatchWriteItem` (25 a call, unprocessed items sent again
    /// with backoff), then announces the keys of what was written, or may have been, with
    /// `PutRecords`. Returns how many writes were made. DynamoDB refuses two requests for one
    /// key in one call: give each key once.
    pub async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<usize, WriteError> {
        let mut keyed = Vec::with_capacity(requests.len());
        for request in requests {
            let (attrs, change) = match (&request.put_request, &request.delete_request) {
                (Some(put), _) => (Some(put.item().clone()), Change::Modify),
                (None, Some(delete)) => (Some(delete.key().clone()), Change::Remove),
                (None, None) => (None, Change::Modify),
            };
            keyed.push(((self.key_of(&attrs)?, change), request));
        }
        let mut report = BatchError::nothing_yet(&self.table.name);
        let mut announce = Vec::with_capacity(keyed.len());
        let mut rest = keyed.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(limits::WRITE_REQUESTS).collect();
            self.write_chunk(chunk, &mut report, &mut announce).await;
        }
        report.not_published = self.publisher.publish(&announce).await.err();
        if report.not_written.is_empty()
            && report.unknown.is_empty()
            && report.not_published.is_none()
        {
            return Ok(report.written);
        }
        Err(WriteError::Batch(Box::new(report)))
    }

    /// One chunk of a batch: its writes are re-sent until done; what is done, or may be, goes to
    /// `announce`, the rest to the report.
    async fn write_chunk(
        &self,
        chunk: Vec<((Key, Change), WriteRequest)>,
        report: &mut BatchError,
        announce: &mut Vec<(Key, Change)>,
    ) {
        let attempts = Attempts::default();
        // Each write goes by its place in the chunk, so an answer is matched to the keys only
        // when it leaves some writes unprocessed.
        let (keys, requests): (Vec<(Key, Change)>, Vec<WriteRequest>) = chunk.into_iter().unzip();
        let entries = requests
            .into_iter()
            .enumerate()
            .map(|(at, r)| (at, (at, r)));
        let resent = retry::resend(
            entries.collect(),
            &self.backoff,
            Deadline::NONE,
            |requests| self.write_round(&keys, requests, &attempts),
        )
        .await;
        let mut keys: Vec<Option<(Key, Change)>> = keys.into_iter().map(Some).collect();
        let mut take = |places: Vec<usize>| -> Vec<(Key, Change)> {
            places
                .into_iter()
                .filter_map(|at| keys[at].take())
                .collect()
        };
        report.written += resent.done.len();
        announce.extend(take(resent.done));
        let undone = take(resent.undone);
        match resent.why {
            None => {}
            Some(Undone::Failed(Some(error)))
                if !(error.may_have_applied() || attempts.maybe_applied()) =>
            {
                report
                    .not_written
                    .extend(undone.into_iter().map(|(key, _)| key));
                report.first_error.get_or_insert(error);
            }
            Some(Undone::Failed(error)) => {
                // The call may have been applied, or its answer named writes that were not sent
                // (`None`): either way nobody knows what happened to these writes.
                report
                    .unknown
                    .extend(undone.iter().map(|(key, _)| key.clone()));
                announce.extend(undone);
                if let Some(error) = error {
                    report.first_error.get_or_insert(error);
                } else {
                    report
                        .gave_up
                        .get_or_insert("the answer holds a write that was not sent".into());
                }
            }
            Some(Undone::Unprocessed { attempts }) => {
                report
                    .not_written
                    .extend(undone.into_iter().map(|(key, _)| key));
                report
                    .gave_up
                    .get_or_insert(format!("still unprocessed after {attempts} attempts"));
            }
            Some(Undone::Deadline | Undone::Unanswered) => {
                report
                    .unknown
                    .extend(undone.iter().map(|(key, _)| key.clone()));
                announce.extend(undone);
            }
        }
    }

    /// One `BatchWriteItem` of `requests`, each with its place among `keys` (the chunk's): for
    /// each, `None` when it was applied, or the request the answer handed back unprocessed.
    /// `Err(None)`: the answer named a write that was not sent.
    async fn write_round(
        &self,
        keys: &[(Key, Change)],
        requests: Vec<(usize, WriteRequest)>,
        attempts: &Attempts,
    ) -> Result<Vec<Option<(usize, WriteRequest)>>, Option<AwsError>> {
        let (places, requests): (Vec<usize>, Vec<WriteRequest>) = requests.into_iter().unzip();
        let call = WriteCall {
            watchers: vec![SharedInterceptor::new(attempts.clone())],
            ..WriteCall::default()
        };
        let left = self.table.batch_write(requests, call).await.map_err(Some)?;
        KeyIndex::match_left(&self.schema, places, |at| &keys[at].0, left).ok_or(None)
    }

    /// Announces keys again (e.g. after [`WriteError::NotPublished`], or to repair).
    pub async fn announce(&self, keys: &[Key]) -> Result<(), NotPublished> {
        let keys: Vec<(Key, Change)> = keys.iter().map(|k| (k.clone(), Change::Modify)).collect();
        self.publisher.publish(&keys).await
    }

    /// Takes a key given as attributes (e.g. from the command line) and validates it.
    pub fn key(&self, attrs: HashMap<String, AttributeValue>) -> Result<Key, WriteError> {
        self.key_of(&Some(attrs))
    }

    fn check_table(&self, table: &Option<String>) -> Result<(), WriteError> {
        match table {
            Some(t) if t != &self.table.name => Err(WriteError::OtherTable {
                found: t.clone(),
                expected: self.table.name.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn key_of(&self, attrs: &Option<HashMap<String, AttributeValue>>) -> Result<Key, WriteError> {
        self.schema
            .key_of_item(attrs.as_ref().unwrap_or(&HashMap::new()))
            .map_err(|source| WriteError::Key {
                table: self.table.name.clone(),
                source,
            })
    }
}

#[cfg(test)]
#[path = "writer_rounds_tests.rs"]
mod rounds_tests;
