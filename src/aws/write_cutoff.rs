//! When a write to the replica may still start: only if its attempt ends (answered, or abandoned
//! by the client) by the invocation's deadline, so that no write the engine gave up on is still
//! in flight when the retry writes a newer item (see the README, "A late write"). The rule is
//! kept by [`CutoffGate`], an interceptor on every DynamoDB client dyno builds, which reads the
//! cutoff of the call being sent from a task-local: no call pays for an interceptor or a
//! configuration of its own, and calls sent without a cutoff are left alone.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use tokio::time::Instant;

use crate::aws::retry::Deadline;

/// Whether a write attempt may start now, with `left` before the deadline (`None`: there is no
/// deadline) and `attempt_timeout` the longest the attempt may take: only if it ends, answered
/// or abandoned by the client, by the deadline. An attempt still in flight when the invocation
/// gives up is how an older item can land on the replica after the retry's newer one.
pub fn write_may_start(left: Option<Duration>, attempt_timeout: Duration) -> bool {
    left.is_none_or(|left| left >= attempt_timeout)
}

/// The cutoff of one write call: each attempt may take at most `attempt_timeout`, and every
/// attempt, the SDK's own retries included, that [`write_may_start`] forbids is refused (by the
/// client's [`CutoffGate`]); it remembers that one was.
#[derive(Debug, Clone)]
pub struct WriteCutoff {
    deadline: Deadline,
    attempt_timeout: Duration,
    refused: Arc<AtomicBool>,
}

tokio::task_local! {
    /// The cutoff of the write call this task is sending, for [`CutoffGate`].
    static CUTOFF: WriteCutoff;
}

impl WriteCutoff {
    pub fn new(deadline: Deadline, attempt_timeout: Duration) -> Self {
        WriteCutoff {
            deadline,
            attempt_timeout,
            refused: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether an attempt may start now (checked again by the gate before each one).
    pub fn may_start(&self) -> bool {
        let left = self
            .deadline
            .instant()
            .map(|d| d.saturating_duration_since(Instant::now()));
        write_may_start(left, self.attempt_timeout)
    }

    /// Sends `call` (a write call on a client with the [`CutoffGate`]) under this cutoff: the
    /// SDK's orchestrator runs each attempt's interceptors on this task.
    pub async fn around<F: Future>(&self, call: F) -> F::Output {
        CUTOFF.scope(self.clone(), call).await
    }

    /// The client's timeouts, each attempt at most this cutoff's attempt timeout.
    fn timeouts(&self, client: Option<&TimeoutConfig>) -> TimeoutConfig {
        (client.map(TimeoutConfig::to_builder))
            .unwrap_or_default()
            .operation_attempt_timeout(self.attempt_timeout)
            .build()
    }

    fn admit(&self) -> Result<(), BoxError> {
        if self.may_start() {
            return Ok(());
        }
        self.refused.store(true, Ordering::Relaxed);
        Err("too close to the invocation's deadline to start a write attempt".into())
    }
}

/// The interceptor on every DynamoDB client dyno builds: for a call sent under a cutoff
/// ([`WriteCutoff::around`]), sets each attempt's timeout and refuses an attempt the cutoff
/// forbids; a call sent without one passes untouched.
#[derive(Debug, Clone, Copy)]
pub struct CutoffGate;

impl CutoffGate {
    /// Whether `interceptors` (a client's) hold the gate.
    pub fn among(mut interceptors: impl Iterator<Item = impl Intercept>) -> bool {
        interceptors.any(|i| i.name() == CutoffGate.name())
    }
}

impl Intercept for CutoffGate {
    fn name(&self) -> &'static str {
        "CutoffGate"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(timeouts) = CUTOFF.try_with(|c| c.timeouts(cfg.load::<TimeoutConfig>())) {
            cfg.interceptor_state().store_put(timeouts);
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        CUTOFF.try_with(WriteCutoff::admit).unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_starts_only_if_its_attempt_ends_by_the_deadline() {
        let second = Duration::from_secs(1);
        assert!(write_may_start(None, second), "no deadline");
        assert!(write_may_start(Some(Duration::from_secs(5)), second));
        assert!(
            write_may_start(Some(second), second),
            "it ends at the deadline"
        );
        assert!(!write_may_start(
            Some(second - Duration::from_millis(1)),
            second
        ));
        assert!(!write_may_start(Some(Duration::ZERO), second));
        assert!(write_may_start(Some(Duration::ZERO), Duration::ZERO));
    }
}
