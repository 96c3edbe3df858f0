//! dyno keeps a DynamoDB replica table in step with a primary table: writes go to the primary,
//! their keys go onto a Kinesis stream, and the replicator makes the replica agree for each key.

pub mod calls;
pub mod config;
pub mod dead_letter;
pub mod demo;
pub mod diff;
pub mod handler;
pub mod key;
pub mod record;
pub mod replicate;
pub mod runner;
pub mod workload;
pub mod writer;
