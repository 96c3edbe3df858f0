//! AWS plumbing, the ground floor: what a failed call means, retries and backoff, the services'
//! limits, endpoints, item keys and DynamoDB JSON, and "a table (or a stream) and how to reach
//! it". It imports nothing else of dyno.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod identity;
pub mod json;
pub mod key;
pub mod key_index;
pub mod limits;
pub mod memory;
pub mod printable;
pub mod retry;
pub mod role;
pub mod store;
pub mod stream;
pub mod table;
pub mod write_cutoff;
#[cfg(test)]
pub mod write_requests_for_tests;
