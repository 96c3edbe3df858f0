//! How hard the replicator tries and how much it does at once: the engine's own settings, built
//! by the edges (the Lambda's environment, the CLI's flags, the tests).

use std::time::Duration;

use crate::aws::client::ClientSettings;
use crate::aws::retry::Backoff;

/// How hard the replicator tries, and how much it does at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// DynamoDB calls in flight at once.
    pub concurrency: usize,
    /// Attempts per call (SDK retries of throttling and server errors) and rounds per batch
    /// call (re-sending `UnprocessedKeys` / `UnprocessedItems`), each with exponential backoff
    /// and full jitter.
    pub max_attempts: u32,
    /// Longest a single attempt may take before it counts as failed.
    pub call_timeout: Duration,
    /// Longest a connection may take to open.
    pub connect_timeout: Duration,
    /// No new call starts later than this before the invocation's deadline.
    pub deadline_margin: Duration,
    /// Longest a single `BatchWriteItem` attempt to the replica may take (never longer than
    /// `call_timeout`). No write attempt starts once less than this is left before the deadline
    /// (the margin before the invocation's), so none is still in flight when the invocation
    /// gives up: the window of a late write (see the README, "What can still go wrong").
    pub write_attempt_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            concurrency: 8,
            max_attempts: 8,
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            deadline_margin: Duration::from_millis(1500),
            write_attempt_timeout: Duration::from_secs(1),
        }
    }
}

impl Tuning {
    /// The retry policy: the SDK's retries and dyno's re-sending of unprocessed entries.
    pub fn backoff(&self) -> Backoff {
        Backoff::attempts(self.max_attempts)
    }
}

/// A client for the replicator's tables tries and waits as the replicator does.
impl From<&Tuning> for ClientSettings {
    fn from(tuning: &Tuning) -> Self {
        ClientSettings {
            max_attempts: tuning.max_attempts,
            call_timeout: tuning.call_timeout,
            connect_timeout: tuning.connect_timeout,
        }
    }
}
