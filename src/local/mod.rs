//! Local emulation, so the whole system runs on one machine: an event source mapping over a
//! Kinesis stream or a table's DynamoDB stream (shards, lineage, checkpoints, retries) that hands
//! each batch to the replicator, and a seeded workload. It imports `aws`, `replicate`, `publish`
//! and `ops` (checkpoints); nothing below imports it.

pub mod invoke;
pub mod run_stats;
pub mod runner;
pub mod shards;
pub mod stop;
pub mod workload;
