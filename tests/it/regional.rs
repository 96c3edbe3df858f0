//! The second region (`dyno::regional`), on real servers: two dynalites as the primary's region
//! and the replica's, kinesalite as the key stream. A session's writes go to the primary; its
//! reads go to the replica, or to the primary while the replica has not caught up. Every read is
//! judged by the test's own oracle (plain SDK reads of each table) and by the calls counted on
//! each server, never by dyno's own counts alone; the replicator runs only when a test says so
//! (the local event source mapping drains the stream), so "not replicated yet" is a fact of the
//! test, not a race.

mod bounds;
mod cli;
mod faults;
mod interrupt;
mod queries;
mod query_checks;
mod reads;
mod session_files;

use crate::common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::calls::CallCounter;
use common::pipeline::{Pipeline, drain};
use common::*;
use dyno::local::runner::RunnerOptions;
use dyno::publish::writer::Writer;
use dyno::regional::client::Regional;
use dyno::regional::reader::Read;
use dyno::regional::served::{Served, Source, Why};
use dyno::regional::session::{Limits, Session};

/// The replica's region: another region than the primary's, as the design's second picture.
pub const REPLICA_REGION: &str = "eu-west-1";

/// The system, and a regional client whose calls are counted on each server.
pub struct Rig {
    pub pipeline: Pipeline,
    /// Writes through a writer on the primary (its own client), reads the replica in
    /// [`REPLICA_REGION`].
    pub regional: Regional,
    /// Attempts the regional client sent to the primary's server, by operation.
    pub primary_calls: CallCounter,
    /// Attempts the regional client sent to the replica's server, by operation.
    pub replica_calls: CallCounter,
}

impl Rig {
    pub async fn start() -> Rig {
        let pipeline = Pipeline::start(1).await;
        let (primary_calls, replica_calls) = (CallCounter::default(), CallCounter::default());
        let primary = table_at(
            &pipeline.servers[0].endpoint,
            "us-east-1",
            PRIMARY,
            &tuning(),
            Some(&primary_calls),
        )
        .await;
        let replica = table_at(
            &pipeline.servers[1].endpoint,
            REPLICA_REGION,
            REPLICA,
            &tuning(),
            Some(&replica_calls),
        )
        .await;
        let writer = Writer::connect(primary, pipeline.stream.clone())
            .await
            .expect("writer");
        let regional = Regional::connect(writer, replica)
            .await
            .expect("regional client");
        Rig {
            pipeline,
            regional,
            primary_calls,
            replica_calls,
        }
    }

    pub fn session(&self) -> Session {
        self.regional.session(Limits::default())
    }

    /// The replicator's turn: the stream drained from its start into the replica, then the
    /// oracle's word that the replica equals the primary.
    pub async fn replicate(&self) {
        let stats = drain(
            &self.pipeline.stream,
            &self.pipeline.replicator,
            RunnerOptions::default(),
        )
        .await;
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        oracle::assert_tables(&self.pipeline.primary, &self.pipeline.replica).await;
    }

    /// Sets both call counters to zero.
    pub fn reset_calls(&self) {
        self.primary_calls.reset();
        self.replica_calls.reset();
    }

    /// `GetItem` calls since the last reset, on the primary's server and the replica's.
    pub fn gets(&self) -> (u64, u64) {
        (
            self.primary_calls.get("GetItem"),
            self.replica_calls.get("GetItem"),
        )
    }

    /// A session read of `subject`, with the calls it made on each server (primary, replica).
    pub async fn session_read(&self, session: &Session, subject: &str) -> (Read, (u64, u64)) {
        self.reset_calls();
        let read = self
            .regional
            .get_in(session, thread_key(subject))
            .await
            .expect("session read");
        (read, self.gets())
    }

    /// The oracle: `subject` on the primary (a plain consistent `GetItem`).
    pub async fn on_primary(&self, subject: &str) -> Option<Item> {
        plain_get(&self.pipeline.primary.client, PRIMARY, subject).await
    }

    /// The oracle: `subject` on the replica (a plain consistent `GetItem`).
    pub async fn on_replica(&self, subject: &str) -> Option<Item> {
        plain_get(&self.pipeline.replica.client, REPLICA, subject).await
    }
}

/// A plain consistent `GetItem` of the Thread `f`/`subject`.
pub async fn plain_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    subject: &str,
) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(thread_key(subject)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// The key of the Thread `f`/`subject`.
pub fn thread_key(subject: &str) -> Item {
    Item::from([
        ("ForumName".to_owned(), s("f")),
        ("Subject".to_owned(), s(subject)),
    ])
}

/// The Thread `f`/`subject` at version `n`.
pub fn versioned(subject: &str, n: u32) -> Item {
    let mut item = thread_item("f", subject, &format!("body {n}"));
    item.insert("Version".to_owned(), AttributeValue::N(n.to_string()));
    item
}

/// The version of an item (`None`: no item).
pub fn version(item: &Option<Item>) -> Option<u32> {
    match item.as_ref()?.get("Version")? {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

pub const fn served(from: Source, why: Why) -> Served {
    Served { from, why }
}

/// Items equal as DynamoDB means it (the oracle's normal form).
pub fn same(a: &Option<Item>, b: &Option<Item>) -> bool {
    a.as_ref().map(oracle::item) == b.as_ref().map(oracle::item)
}
