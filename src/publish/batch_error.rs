//! The report of a batch write that did not fully succeed: what was written, what was not
//! (write it again), what may have been (announced all the same), and why.

use std::error::Error as StdError;
use std::fmt;

use crate::aws::error::AwsError;
use crate::aws::key::{Key, KeyList};
use crate::publish::publisher::NotPublished;

/// What became of a batch that did not fully succeed.
#[derive(Debug)]
pub struct BatchError {
    pub table: String,
    /// Written, and announced (unless in `not_published`).
    pub written: usize,
    /// Definitely not written (refused, or left unprocessed after every retry): write again.
    pub not_written: Vec<Key>,
    /// May or may not have been written; announced (unless in `not_published`).
    pub unknown: Vec<Key>,
    /// The first error of a whole call.
    pub first_error: Option<AwsError>,
    /// Why unprocessed writes were given up, if they were.
    pub gave_up: Option<String>,
    /// Keys written (or maybe written) whose records are not on the stream.
    pub not_published: Option<NotPublished>,
}

impl BatchError {
    /// The report of a batch to `table` before any of its writes is sent.
    pub fn nothing_yet(table: &str) -> Self {
        BatchError {
            table: table.to_owned(),
            written: 0,
            not_written: Vec::new(),
            unknown: Vec::new(),
            first_error: None,
            gave_up: None,
            not_published: None,
        }
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch write to `{}`: {} written",
            self.table, self.written
        )?;
        let why = self
            .first_error
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| self.gave_up.clone())
            .unwrap_or_default();
        if !self.not_written.is_empty() {
            let keys = KeyList(&self.not_written);
            write!(
                f,
                "; {} not written ({why}): nothing was announced for them; write them again: {keys}",
                self.not_written.len()
            )?;
        }
        if !self.unknown.is_empty() {
            write!(
                f,
                "; {} with an unknown outcome ({why}): they may or may not have been written, \
                 and their keys were announced",
                self.unknown.len()
            )?;
        }
        if let Some(not_published) = &self.not_published {
            write!(f, "; but {not_published}")?;
        }
        Ok(())
    }
}

impl StdError for BatchError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match (&self.not_published, &self.first_error) {
            (Some(n), _) => Some(n),
            (None, Some(e)) => Some(e),
            (None, None) => None,
        }
    }
}
