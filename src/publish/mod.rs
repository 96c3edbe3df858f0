//! Publishing, the writer's side: writes go to the primary and, once confirmed (or when their
//! outcome is unknown), their keys go onto the key stream, concurrent writers sharing
//! `PutRecords` calls. It imports only `aws`.

pub mod batch_error;
pub mod group_commit;
pub mod publisher;
pub mod record;
pub mod writer;
