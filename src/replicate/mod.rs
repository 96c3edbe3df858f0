//! Replication, the replicator's core: a batch of stream records is decoded into distinct keys,
//! each key is read from the primary (consistent) and written to the replica, and the batch rule
//! says which records failed; unusable records go to the dead-letter queue; each batch ends in a
//! summary, a log line and metrics. It imports only `aws`.

pub mod archive;
pub mod batch_rule;
pub mod dead_letter;
pub mod decode;
pub mod deployment;
pub mod engine;
pub mod filter;
pub mod key_numbers;
pub mod key_queue;
pub mod lambda;
pub mod letter;
pub mod metrics;
pub mod outcome;
pub mod read_size;
pub mod replicator;
pub mod shape;
pub mod summary;
pub mod target;
pub mod targets;
pub mod tuning;

#[cfg(test)]
mod in_memory_tests;
#[cfg(test)]
mod shape_tests;
