//! Every integration test of dyno, in one test binary (one link, one run, servers shared where a
//! test allows it): each module tests one part, as `src/` is split.

mod common;

mod backfill;
mod bulk;
mod cli;
mod cross_account;
mod dead_letter;
mod diff;
mod dynamodb_stream;
mod failed_batches;
mod failover;
mod faults;
mod hostile_input;
mod late_write;
mod layers;
mod logs;
mod metrics;
mod mocked;
mod operator_safety;
mod pipeline;
mod pipeline_faults;
mod regional;
mod replicator;
mod runner;
mod seed;
mod targets;
mod template;
mod writer;
