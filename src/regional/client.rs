//! The regional client: one client from two places, as the design's second region has it. The
//! writer (the primary table and the key stream, each with its own region, endpoint and
//! credentials) takes every write, unchanged; the reader reads the read table (the local replica,
//! its own region, endpoint and credentials) unless asked for the primary. A write made in a
//! session is recorded in it (see `crate::regional::outcome`), so that the session's reads
//! see it. A session of another table (another name, or a table deleted and made again under
//! its name) is refused before anything is sent.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::WriteRequest;

use crate::aws::json::Item;
use crate::aws::table::Table;
use crate::publish::writer::{WriteError, Writer};
use crate::regional::query::Query;
use crate::regional::reader::{Pages, Read, ReadError, ReadFrom, Reader};
use crate::regional::served::{Counts, Served};
use crate::regional::session::{Limits, Session};
use crate::regional::session_file::{self, SessionError};
use crate::regional::writes;

/// Writes through the writer, reads through the reader (see the module's docs).
#[derive(Debug, Clone)]
pub struct Regional {
    writer: Writer,
    reader: Reader,
}

impl Regional {
    /// A client that writes with `writer` and reads `read` (see [`Reader::connect`]: `read`
    /// must be another table than the writer's primary, with its key schema).
    pub async fn connect(writer: Writer, read: Table) -> Result<Regional, ReadError> {
        let reader = Reader::connect(writer.table().clone(), read).await?;
        Ok(Regional { writer, reader })
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// A new, empty session of this client's primary table (its name and identity).
    pub fn session(&self, limits: Limits) -> Session {
        self.reader.session(limits)
    }

    /// The session a token of `session_file::to_token` carries, refused when it belongs to
    /// another table than this client's primary (see `session_file::from_token`).
    pub fn session_from_token(&self, token: &str, limits: Limits) -> Result<Session, SessionError> {
        let identity = self.reader.primary_identity();
        session_file::from_token(token, &self.writer.table().name, Some(identity), limits)
    }

    /// Reads served so far, by table and reason.
    pub fn counts(&self) -> Counts {
        self.reader.counts()
    }

    /// Reads `key` from the table asked for (see [`Reader::get`]).
    pub async fn get(&self, key: Item, from: ReadFrom) -> Result<Read, ReadError> {
        self.reader.get(key, from).await
    }

    /// Reads `key` in `session` (see [`Reader::get_in`]).
    pub async fn get_in(&self, session: &Session, key: Item) -> Result<Read, ReadError> {
        self.reader.get_in(session, key).await
    }

    /// A query's pages (see [`Reader::query`]).
    pub async fn query<'a>(
        &'a self,
        session: Option<&'a Session>,
        query: &'a Query,
        from: ReadFrom,
    ) -> Result<(Served, Pages<'a>), ReadError> {
        self.reader.query(session, query, from).await
    }

    /// A query's items, collected (see [`Reader::query_all`]).
    pub async fn query_all(
        &self,
        session: Option<&Session>,
        query: &Query,
        from: ReadFrom,
    ) -> Result<(Served, Vec<Item>), ReadError> {
        self.reader.query_all(session, query, from).await
    }

    /// [`Writer::put_item`] in `session` (see [`writes::put_item`]).
    pub async fn put_item(
        &self,
        session: &Session,
        request: PutItemFluentBuilder,
    ) -> Result<PutItemOutput, WriteError> {
        self.check(session)?;
        writes::put_item(&self.writer, session, request).await
    }

    /// [`Writer::update_item`] in `session` (see [`writes::update_item`]).
    pub async fn update_item(
        &self,
        session: &Session,
        request: UpdateItemFluentBuilder,
    ) -> Result<UpdateItemOutput, WriteError> {
        self.check(session)?;
        writes::update_item(&self.writer, session, request).await
    }

    /// [`Writer::delete_item`] in `session` (see [`writes::delete_item`]).
    pub async fn delete_item(
        &self,
        session: &Session,
        request: DeleteItemFluentBuilder,
    ) -> Result<DeleteItemOutput, WriteError> {
        self.check(session)?;
        writes::delete_item(&self.writer, session, request).await
    }

    /// [`Writer::write_batch`] in `session` (see [`writes::write_batch`]).
    pub async fn write_batch(
        &self,
        session: &Session,
        requests: Vec<WriteRequest>,
    ) -> Result<usize, WriteError> {
        self.check(session)?;
        writes::write_batch(&self.writer, session, requests).await
    }

    /// Refuses, before anything is sent, a session of another table than this client's
    /// primary: another name, or another identity (a table deleted and made again).
    fn check(&self, session: &Session) -> Result<(), WriteError> {
        if self.reader.check(session).is_ok() {
            return Ok(());
        }
        let found = match session.identity() {
            Some(identity) => format!("{} ({})", session.table(), identity.shown()),
            None => session.table().to_owned(),
        };
        let primary = self.reader.primary_identity().shown();
        Err(WriteError::OtherTable {
            found,
            expected: format!("{} ({primary})", self.writer.table().name),
        })
    }
}
