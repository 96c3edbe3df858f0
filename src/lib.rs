//! dyno keeps a DynamoDB replica table in step with a primary table: writes go to the primary,
//! their keys go onto a Kinesis stream, and the replicator makes the replica agree for each key.
//!
//! The library is built in layers, each a folder, and imports only point down:
//!
//! - [`aws`]: AWS plumbing (errors, retries, limits, endpoints, keys, tables, streams, roles);
//! - [`replicate`] and [`publish`]: the replicator's core, and the writer's side;
//! - [`ops`] and [`local`]: an operator's tools, and the local emulation of Lambda's event
//!   source mapping;
//! - [`regional`]: the second region (read the local replica, write the primary, read your
//!   own writes in a session);
//! - [`config`]: the edge (settings from the environment, and the replicator they describe).

pub mod aws;
pub mod config;
pub mod local;
pub mod ops;
pub mod publish;
pub mod regional;
pub mod replicate;
