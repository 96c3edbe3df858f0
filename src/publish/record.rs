//! A key record on its way to the stream, and why putting it there failed: what the publisher
//! and its group commit hand each other.

use std::sync::Arc;

use crate::aws::error::AwsError;

/// Why key records were not put on the stream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishFailure {
    #[error("{0}")]
    Call(#[source] Arc<AwsError>),
    #[error("entries still failing after {attempts} attempts")]
    Entries { attempts: u32 },
    #[error("the answer does not account for every record sent")]
    Unanswered,
    #[error("the deadline came")]
    Deadline,
    #[error("the caller sending the call went away before its answer came")]
    Abandoned,
}

/// One record to put on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl Entry {
    /// What the record counts for in a call's 5 MiB.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}
