//! The whole system in the test's own process: two dynalites (primary and replica) and
//! kinesalite, the tables, the key stream, a writer and a replicator; and the one way tests drain
//! a stream with the local runner.

use dyno::aws::stream::Stream;
use dyno::aws::table::Table;
use dyno::local::run_stats::RunStats;
use dyno::local::runner::{Runner, RunnerOptions};
use dyno::publish::writer::Writer;
use dyno::replicate::replicator::Replicator;
use dyno::replicate::tuning::Tuning;

use super::oracle;
use super::{
    PRIMARY, REPLICA, STREAM, Server, create_stream, create_table, stream, table, thread_schema,
};

/// The servers, the tables and the stream of one test, with a writer and a replicator wired to
/// them directly.
pub struct Pipeline {
    /// The primary's dynalite, the replica's dynalite, kinesalite.
    pub servers: [Server; 3],
    /// [`PRIMARY`] (thread schema) on `servers[0]`.
    pub primary: Table,
    /// [`REPLICA`] (thread schema) on `servers[1]`.
    pub replica: Table,
    /// [`STREAM`] on `servers[2]`.
    pub stream: Stream,
    /// Writes to `primary` and announces keys on `stream`.
    pub writer: Writer,
    /// Copies from `primary` to `replica` (default tuning).
    pub replicator: Replicator,
}

impl Pipeline {
    /// Starts the servers and creates the tables and a stream of `shards` shards.
    pub async fn start(shards: i32) -> Pipeline {
        let servers = [Server::dynalite(), Server::dynalite(), Server::kinesalite()];
        let primary = table(&servers[0], PRIMARY).await;
        let replica = table(&servers[1], REPLICA).await;
        let stream = stream(&servers[2], STREAM).await;
        create_table(&primary.client, PRIMARY, &thread_schema()).await;
        create_table(&replica.client, REPLICA, &thread_schema()).await;
        create_stream(&stream, shards).await;
        let writer = Writer::connect(primary.clone(), stream.clone())
            .await
            .expect("writer");
        let replicator = Replicator::connect(primary.clone(), replica.clone(), Tuning::default())
            .await
            .expect("replicator");
        Pipeline {
            servers,
            primary,
            replica,
            stream,
            writer,
            replicator,
        }
    }

    /// Drains the stream from its start with a fresh runner (default options), asserts that no
    /// record was skipped and (the oracle) that the replica equals the primary; returns the items.
    pub async fn converge(&self) -> usize {
        let stats = drain(&self.stream, &self.replicator, RunnerOptions::default()).await;
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        oracle::assert_tables(&self.primary, &self.replica).await
    }
}

/// Drains `stream` into `replicator` with a fresh runner of `options` (from the checkpoint it
/// names, or else from the start): every shard read until it is caught up.
pub async fn drain(stream: &Stream, replicator: &Replicator, options: RunnerOptions) -> RunStats {
    Runner::connect(stream.clone(), options)
        .await
        .expect("runner")
        .drain(replicator)
        .await
        .expect("drain")
}
