//! dyno keeps a DynamoDB replica table in step with a primary table: writes go to the primary,
//! their keys go onto a Kinesis stream, and the replicator makes the replica agree for each key.

pub mod admin;
pub mod aws_error;
pub mod backfill;
pub mod calls;
pub mod checkpoint;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod demo;
pub mod diff;
pub mod engine;
pub mod failed_batches;
pub mod failures;
pub mod group_commit;
pub mod handler;
pub mod json;
pub mod key;
pub mod lines;
pub mod metrics;
pub mod plan;
pub mod publisher;
pub mod repair;
pub mod retry;
pub mod role;
pub mod runner;
pub mod scan;
pub mod shards;
pub mod stream;
pub mod table;
pub mod workload;
pub mod writer;
