//! What one run of the engine did: the keys done, the keys that failed and why, and each
//! target's counts; and the rule that turns it into "which keys failed".

use crate::aws::error::AwsError;
use crate::aws::key::Key;
use crate::replicate::filter::FilterRunError;

/// Why some keys could not be made to agree in this invocation (they are retried later).
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("reading the primary table `{table}`: {source}")]
    Read {
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("reading the primary table `{table}`: {problem}")]
    BadAnswer {
        table: String,
        problem: &'static str,
    },
    #[error("writing target `{target}` (table `{table}`): {source}")]
    Write {
        target: String,
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("writing target `{target}` (table `{table}`): {problem}")]
    BadWriteAnswer {
        target: String,
        table: String,
        problem: &'static str,
    },
    #[error("`{table}` still left {operation} unprocessed after {attempts} attempts")]
    Unprocessed {
        table: String,
        operation: &'static str,
        attempts: u32,
    },
    #[error("the invocation's deadline is near: not attempted, or abandoned")]
    Deadline,
    /// The filter failed on the primary's item: nothing was written to the target.
    #[error("target `{target}`: {source}; the target's item was left as it is")]
    Filter {
        target: String,
        #[source]
        source: FilterRunError,
    },
}

/// Keys that failed (with the number the caller gave each), and why; `target` names the
/// target whose write failed (`None`: the read of the primary failed).
#[derive(Debug)]
pub struct Failure {
    pub keys: Vec<(usize, Key)>,
    pub target: Option<String>,
    pub error: ReplicateError,
}

/// One target's counts in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetCounts {
    pub name: String,
    pub puts: usize,
    pub deletes: usize,
    /// Keys this target failed: its write, or its filter, failed.
    pub failed_keys: usize,
    /// Keys the filter left out (deleted on the target).
    pub filtered_out: usize,
    /// Items on which the filter failed: left as they are on the target, their keys failed
    /// (counted in `failed_keys` too).
    pub filter_errors: usize,
}

impl TargetCounts {
    fn add(&mut self, other: &TargetCounts) {
        self.puts += other.puts;
        self.deletes += other.deletes;
        self.failed_keys += other.failed_keys;
        self.filtered_out += other.filtered_out;
        self.filter_errors += other.filter_errors;
    }
}

/// What one run of the engine did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Keys that every target agreed on.
    pub done: usize,
    /// Writes made, over every target.
    pub puts: usize,
    pub deletes: usize,
    pub failures: Vec<Failure>,
    /// Each target's counts, by name, in the order first met.
    pub targets: Vec<TargetCounts>,
}

impl Outcome {
    /// Adds `other`'s counts and failures to these.
    pub fn merge(&mut self, other: Outcome) {
        self.done += other.done;
        self.puts += other.puts;
        self.deletes += other.deletes;
        self.failures.extend(other.failures);
        for counts in &other.targets {
            self.target(&counts.name).add(counts);
        }
    }

    /// The counts of the target `name` (added when first met).
    pub fn target(&mut self, name: &str) -> &mut TargetCounts {
        let at = match self.targets.iter().position(|t| t.name == name) {
            Some(at) => at,
            None => {
                self.targets.push(TargetCounts {
                    name: name.to_owned(),
                    ..TargetCounts::default()
                });
                self.targets.len() - 1
            }
        };
        &mut self.targets[at]
    }

    /// Records that `keys` failed, on `target` (`None`: on the read).
    pub fn fail(&mut self, keys: Vec<(usize, Key)>, target: Option<&str>, error: ReplicateError) {
        if keys.is_empty() {
            return;
        }
        if let Some(target) = target {
            self.target(target).failed_keys += keys.len();
        }
        self.failures.push(Failure {
            keys,
            target: target.map(str::to_owned),
            error,
        });
    }

    /// Number of distinct keys that failed (a key that failed on two targets counts once).
    pub fn failed_keys(&self) -> usize {
        let mut keys: Vec<usize> = self
            .failures
            .iter()
            .flat_map(|f| f.keys.iter().map(|(i, _)| *i))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// Number of distinct keys that failed because the deadline came.
    pub fn deadline_failures(&self) -> usize {
        let mut keys: Vec<usize> = self
            .failures
            .iter()
            .filter(|f| matches!(f.error, ReplicateError::Deadline))
            .flat_map(|f| f.keys.iter().map(|(i, _)| *i))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// For each of the run's `keys` distinct keys (numbered 0..keys), whether it failed. An
    /// outcome that does not account for every key exactly once (done + failed ≠ keys) is not
    /// to be trusted: then every key counts as failed.
    pub fn key_failed(&self, keys: usize) -> Vec<bool> {
        let mut failed = vec![false; keys];
        for (i, _) in self.failures.iter().flat_map(|f| &f.keys) {
            if let Some(flag) = failed.get_mut(*i) {
                *flag = true;
            }
        }
        if self.done + self.failed_keys() != keys {
            tracing::error!(
                keys,
                done = self.done,
                failed = self.failed_keys(),
                "the engine's outcome does not account for every key: every record fails"
            );
            failed.fill(true);
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::key::{KeySchema, ScalarType};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn key(n: usize) -> (usize, Key) {
        let schema = KeySchema::hash_only("id", ScalarType::S);
        let attributes = [("id".to_owned(), AttributeValue::S(format!("k{n}")))];
        (n, schema.key(attributes.into()).expect("a key"))
    }

    #[test]
    fn a_key_that_failed_on_two_targets_fails_once() {
        let mut outcome = Outcome {
            done: 1,
            ..Outcome::default()
        };
        outcome.fail(vec![key(1)], Some("a"), ReplicateError::Deadline);
        outcome.fail(vec![key(1), key(2)], Some("b"), ReplicateError::Deadline);
        assert_eq!(outcome.failed_keys(), 2);
        assert_eq!(outcome.deadline_failures(), 2);
        assert_eq!(outcome.key_failed(3), [false, true, true]);
        assert_eq!(outcome.target("a").failed_keys, 1);
        assert_eq!(outcome.target("b").failed_keys, 2);
    }

    #[test]
    fn an_outcome_that_misses_a_key_fails_them_all() {
        let outcome = Outcome {
            done: 1,
            ..Outcome::default()
        };
        assert_eq!(outcome.key_failed(2), [true, true]);
    }
}
