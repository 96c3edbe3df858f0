//! A session's bounds: how many keys it holds, and how long it holds one (see
//! `crate::regional::session`).

use std::time::Duration;

/// How much a session holds. Made with [`Limits::new`], which checks the bounds; a value built
/// field by field is brought within them by [`Limits::clamped`] wherever a session uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many keys; past it, the key written longest ago is forgotten.
    pub max_keys: usize,
    /// A key written longer ago than this is dropped: the longest replication lag expected.
    pub max_age: Duration,
}

/// Bounds that a session cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("a session's maximum number of keys must be 1 to {max}, not {given}")]
    MaxKeys { given: usize, max: usize },
    #[error(
        "a session's maximum age must be above 0 and at most {max_days} days ({max_seconds} s), \
         not {given:?}"
    )]
    MaxAge {
        given: Duration,
        max_days: u64,
        max_seconds: u64,
    },
}

impl Limits {
    /// The most keys a session can hold.
    pub const MAX_KEYS: usize = 1_000_000;
    /// The longest `max_age`: 366 days.
    pub const MAX_AGE: Duration = Duration::from_secs(366 * 86_400);

    /// Limits of `max_keys` keys (1 to [`Limits::MAX_KEYS`]) and `max_age` (above 0, at most
    /// [`Limits::MAX_AGE`]).
    pub fn new(max_keys: usize, max_age: Duration) -> Result<Limits, LimitsError> {
        if !(1..=Limits::MAX_KEYS).contains(&max_keys) {
            return Err(LimitsError::MaxKeys {
                given: max_keys,
                max: Limits::MAX_KEYS,
            });
        }
        if max_age.is_zero() || max_age > Limits::MAX_AGE {
            return Err(LimitsError::MaxAge {
                given: max_age,
                max_days: Limits::MAX_AGE.as_secs() / 86_400,
                max_seconds: Limits::MAX_AGE.as_secs(),
            });
        }
        Ok(Limits { max_keys, max_age })
    }

    /// These limits within the bounds [`Limits::new`] checks (for a value built field by field).
    pub fn clamped(self) -> Limits {
        Limits {
            max_keys: self.max_keys.clamp(1, Limits::MAX_KEYS),
            max_age: self
                .max_age
                .clamp(Duration::from_millis(1), Limits::MAX_AGE),
        }
    }

    /// `max_age` in whole milliseconds (at least 1).
    pub fn max_age_ms(&self) -> u64 {
        u64::try_from(self.max_age.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl Default for Limits {
    /// 1,000 keys, 60 s (replication lag is about a second on AWS at p99).
    fn default() -> Self {
        Limits {
            max_keys: 1_000,
            max_age: Duration::from_secs(60),
        }
    }
}
