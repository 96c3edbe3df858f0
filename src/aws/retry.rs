//! Retries and deadlines: the one place that says how long dyno waits before it tries again, when
//! it gives up, and how it re-sends what a batch call (`BatchWriteItem`, `PutRecords`,
//! `SendMessageBatch`) left undone (how much one call may carry: `limits`).

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use tokio::time::Instant;

use crate::aws::error::AwsError;

/// Exponential backoff with full jitter, bounded in attempts: the policy of the SDK's own retries
/// (throttling, 5xx, connection failures) and of dyno's re-sending of unprocessed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The ceiling of the first pause; it doubles with each attempt …
    pub base: Duration,
    /// … up to this.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::attempts(8)
    }
}

/// Why a retry loop stopped before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// Every attempt was used.
    Attempts(u32),
    /// The next attempt would start too close to the deadline.
    Deadline,
}

impl Backoff {
    /// The default pauses, with `max_attempts` attempts (at least one).
    pub fn attempts(max_attempts: u32) -> Self {
        Backoff {
            max_attempts: max_attempts.max(1),
            base: Duration::from_millis(25),
            cap: Duration::from_secs(2),
        }
    }

    /// The same policy for the SDK's retries of throttling, server errors and broken
    /// connections (standard mode).
    pub fn sdk_retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.base)
            .with_max_backoff(self.cap)
    }

    /// The longest pause before attempt `attempt + 1`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1 << attempt.min(16)).min(self.cap)
    }

    /// After attempt `attempt` (1 = the first) did not finish the work: sleeps before the next
    /// one, or says why there is none (attempts used up, or the pause would pass the deadline).
    pub async fn pause(&self, attempt: u32, deadline: Deadline) -> Result<(), GaveUp> {
        if attempt >= self.max_attempts {
            return Err(GaveUp::Attempts(attempt));
        }
        let wake = Instant::now() + self.ceiling(attempt).mul_f64(fastrand::f64());
        if deadline.is_before(wake) {
            return Err(GaveUp::Deadline);
        }
        tokio::time::sleep_until(wake).await;
        Ok(())
    }
}

/// How long a long-running job (the local event source mapping, a backfill, a diff) keeps trying
/// a call that fails for now (throttling, 5xx, no connection) before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Until it succeeds (a job that follows a stream waits out an outage).
    Endless,
    /// For this long.
    For(Duration),
}

/// The pause between tries of a failing call, or deliveries of a failing batch: exponential
/// from 25 ms, full jitter, at most 2 s.
pub const STEADY: Backoff = Backoff {
    max_attempts: u32::MAX,
    base: Duration::from_millis(25),
    cap: Duration::from_secs(2),
};

/// A call that [`patiently`] gave up on: its last error, and how long it kept trying.
#[derive(Debug)]
pub struct GaveUpOn {
    pub error: AwsError,
    /// Zero when the error was a definite refusal, which is never tried again.
    pub after: Duration,
}

/// Runs `call` until it succeeds; a failure that may pass (throttling, an unknown outcome) is
/// tried again after a [`STEADY`] pause until `patience` runs out, a definite refusal is
/// returned at once. `retried` is told of each failure tried again.
pub async fn patiently<T, F, Fut>(
    patience: Patience,
    mut retried: impl FnMut(&AwsError),
    call: F,
) -> Result<T, GaveUpOn>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let mut retries = 0;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let transient = error.is_throttle() || error.may_have_applied();
        let waited = started.elapsed();
        let patient = match patience {
            Patience::Endless => true,
            Patience::For(limit) => waited < limit,
        };
        if !(transient && patient) {
            let after = if transient { waited } else { Duration::ZERO };
            return Err(GaveUpOn { error, after });
        }
        retries += 1;
        retried(&error);
        let _ = STEADY.pause(retries.min(7), Deadline::NONE).await;
    }
}

/// When work must stop: no call starts after it, and a call still running then is abandoned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

/// A call was not made, or was abandoned, because the deadline came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the deadline came before the call finished")]
pub struct Expired;

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline(None);

    pub fn at(instant: Instant) -> Self {
        Deadline(Some(instant))
    }

    /// `margin` before `deadline` (or `deadline` itself if that is too early to represent).
    pub fn before(deadline: Option<Instant>, margin: Duration) -> Self {
        Deadline(deadline.map(|d| d.checked_sub(margin).unwrap_or(d)))
    }

    pub fn instant(&self) -> Option<Instant> {
        self.0
    }

    /// True once the deadline has come.
    pub fn has_passed(&self) -> bool {
        self.is_before(Instant::now())
    }

    /// True when the deadline comes at or before `t`.
    pub fn is_before(&self, t: Instant) -> bool {
        self.0.is_some_and(|d| d <= t)
    }

    /// Runs `call` unless the deadline has passed; abandons it when the deadline comes.
    pub async fn run<T>(&self, call: impl Future<Output = T>) -> Result<T, Expired> {
        match self.0 {
            None => Ok(call.await),
            Some(t) if Instant::now() >= t => Err(Expired),
            Some(t) => tokio::time::timeout_at(t, call).await.map_err(|_| Expired),
        }
    }
}

/// Why some entries of a batch call were not done.
#[derive(Debug)]
pub enum Undone<E> {
    /// The call failed as a whole (its error).
    Failed(E),
    /// The service kept leaving them unprocessed until the attempts were used up.
    Unprocessed { attempts: u32 },
    /// The deadline came first.
    Deadline,
    /// The answer did not account for every entry sent (a bug on one side or the other).
    Unanswered,
}

/// What [`resend`] did with each entry: `done` and `undone` hold the entries' tags.
#[derive(Debug)]
pub struct Resent<T, E> {
    pub done: Vec<T>,
    pub undone: Vec<T>,
    /// Why `undone` is not empty.
    pub why: Option<Undone<E>>,
}

/// Sends `entries` (a tag, kept here, and a request, moved into the call) with `call` until every
/// one is done: `call` answers, for each request in the order given, `None` when it was done or
/// the request to send again (what the service handed back as unprocessed or failed). What is
/// left is re-sent after a [`Backoff::pause`]. Stops at the first error of a whole call, when the
/// attempts are used up, or at the deadline; then the entries not done are `undone`.
pub async fn resend<T, R, E, F, Fut>(
    entries: Vec<(T, R)>,
    backoff: &Backoff,
    deadline: Deadline,
    mut call: F,
) -> Resent<T, E>
where
    F: FnMut(Vec<R>) -> Fut,
    Fut: Future<Output = Result<Vec<Option<R>>, E>>,
{
    let mut done = Vec::with_capacity(entries.len());
    let (mut tags, mut requests): (Vec<T>, Vec<R>) = entries.into_iter().unzip();
    let mut attempt = 0;
    while !tags.is_empty() {
        attempt += 1;
        let why = match deadline.run(call(std::mem::take(&mut requests))).await {
            Err(Expired) => Undone::Deadline,
            Ok(Err(error)) => Undone::Failed(error),
            Ok(Ok(left)) => {
                let unanswered = sort_round(&mut tags, &mut requests, &mut done, left);
                if !unanswered.is_empty() {
                    let mut undone = unanswered;
                    undone.extend(tags);
                    return Resent {
                        done,
                        undone,
                        why: Some(Undone::Unanswered),
                    };
                }
                if tags.is_empty() {
                    break;
                }
                match backoff.pause(attempt, deadline).await {
                    Ok(()) => continue,
                    Err(GaveUp::Attempts(attempts)) => Undone::Unprocessed { attempts },
                    Err(GaveUp::Deadline) => Undone::Deadline,
                }
            }
        };
        return Resent {
            done,
            undone: tags,
            why: Some(why),
        };
    }
    Resent {
        done,
        undone: Vec::new(),
        why: None,
    }
}

/// Sorts one round's answer: each tag whose request was done goes to `done`, each whose request
/// came back goes back to `tags` with it (in `requests`); returns the tags the answer did not
/// account for.
fn sort_round<T, R>(
    tags: &mut Vec<T>,
    requests: &mut Vec<R>,
    done: &mut Vec<T>,
    left: Vec<Option<R>>,
) -> Vec<T> {
    let mut left = left.into_iter();
    let mut unanswered = Vec::new();
    for tag in std::mem::take(tags) {
        match left.next() {
            Some(None) => done.push(tag),
            Some(Some(request)) => {
                tags.push(tag);
                requests.push(request);
            }
            None => unanswered.push(tag),
        }
    }
    unanswered
}

/// Splits `items` into groups of at most `max_items` whose `size`s add up to at most
/// `max_bytes` (an item larger than `max_bytes` goes alone), in order.
pub fn chunks<T>(
    items: impl IntoIterator<Item = T>,
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let n = size(&item);
        match groups.last_mut() {
            Some(group) if group.len() < max_items && bytes + n <= max_bytes => {
                bytes += n;
                group.push(item);
            }
            _ => {
                bytes = n;
                groups.push(vec![item]);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn quick(max_attempts: u32) -> Backoff {
        Backoff {
            max_attempts,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        }
    }

    #[test]
    fn pauses_double_up_to_the_cap() {
        let b = Backoff::attempts(8);
        assert_eq!(b.ceiling(1), Duration::from_millis(50));
        assert_eq!(b.ceiling(3), Duration::from_millis(200));
        assert_eq!(b.ceiling(30), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn pause_says_why_it_will_not_wait() {
        let b = quick(3);
        assert_eq!(b.pause(1, Deadline::NONE).await, Ok(()));
        assert_eq!(b.pause(3, Deadline::NONE).await, Err(GaveUp::Attempts(3)));
        let now = Deadline::at(Instant::now());
        assert_eq!(b.pause(1, now).await, Err(GaveUp::Deadline));
    }

    #[tokio::test]
    async fn resend_sends_again_only_what_was_left() {
        let sent = Mutex::new(Vec::new());
        let entries: Vec<(usize, u32)> = (0..5).map(|i| (i, i as u32)).collect();
        // Each round leaves the odd requests it was given, once.
        let result = resend(entries, &quick(5), Deadline::NONE, |requests: Vec<u32>| {
            sent.lock().unwrap().push(requests.clone());
            let round = sent.lock().unwrap().len();
            async move {
                Ok::<_, ()>(
                    requests
                        .into_iter()
                        .map(|r| (round == 1 && r % 2 == 1).then_some(r))
                        .collect(),
                )
            }
        })
        .await;
        assert_eq!(*sent.lock().unwrap(), [vec![0, 1, 2, 3, 4], vec![1, 3]]);
        assert_eq!(result.done, [0, 2, 4, 1, 3]);
        assert!(result.undone.is_empty() && result.why.is_none());
    }

    #[tokio::test]
    async fn resend_stops_on_errors_attempts_and_the_deadline() {
        let entries = || vec![("a", 1), ("b", 2)];
        let failed = resend(entries(), &quick(5), Deadline::NONE, |_| async {
            Err("boom")
        })
        .await;
        assert_eq!(failed.undone, ["a", "b"]);
        assert!(matches!(failed.why, Some(Undone::Failed("boom"))));

        let stuck = resend(
            entries(),
            &quick(3),
            Deadline::NONE,
            |r: Vec<i32>| async move {
                Ok::<_, ()>(r.into_iter().map(|x| (x == 2).then_some(x)).collect())
            },
        )
        .await;
        assert_eq!((stuck.done, stuck.undone), (vec!["a"], vec!["b"]));
        assert!(matches!(
            stuck.why,
            Some(Undone::Unprocessed { attempts: 3 })
        ));

        let late = Deadline::at(Instant::now());
        let expired = resend(entries(), &quick(3), late, |r: Vec<i32>| async move {
            Ok::<_, ()>(r.into_iter().map(|_| None).collect())
        })
        .await;
        assert_eq!(expired.undone, ["a", "b"]);
        assert!(matches!(expired.why, Some(Undone::Deadline)));
    }

    #[test]
    fn chunks_by_count_and_bytes() {
        let sizes = [3, 3, 3, 9, 1, 1];
        let groups = chunks(sizes, 2, 8, |n| *n);
        assert_eq!(groups, [vec![3, 3], vec![3], vec![9], vec![1, 1]]);
        assert!(chunks(Vec::<usize>::new(), 2, 8, |n| *n).is_empty());
    }
}
