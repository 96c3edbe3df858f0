//! A subcommand's failure: the error, turned into one line (with a refused request's reason)
//! or, for `-v`, every cause; and the exit status it asks for.

use std::error::Error as StdError;
use std::process::ExitCode;

use dyno::aws::error::{AwsError, Detailed};

/// A subcommand failed: what to print, and the exit status.
#[derive(Debug)]
pub struct Failure {
    error: Box<dyn StdError + 'static>,
    code: u8,
}

impl<E: StdError + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            error: Box::new(error),
            code: 1,
        }
    }
}

/// A message of the tool's own (bad input), as an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

impl Failure {
    /// Exits with `code` instead of 1.
    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// The error's own line: what failed, the service's error code, what to do; and a refused
    /// request's reason in the service's words (the user typed the request).
    pub fn one_line(&self) -> String {
        let line = self.error.to_string();
        let mut cause: Option<&(dyn StdError + 'static)> = Some(self.error.as_ref());
        while let Some(error) = cause {
            if let Some(aws) = error.downcast_ref::<AwsError>() {
                if aws.is_missing_credentials() {
                    return format!("{line}; or use --local for the local servers");
                }
                if let Some(reason) = aws.rejection_reason().filter(|r| !line.contains(*r)) {
                    return format!("{line} ({reason})");
                }
            }
            cause = error.source();
        }
        line
    }

    /// Every cause, with the services' own messages.
    pub fn details(&self) -> String {
        Detailed(self.error.as_ref()).to_string()
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

pub fn usage(message: impl Into<String>) -> Failure {
    Usage(message.into()).into()
}

/// Exit 1 when `failed`, else 0.
pub fn exit_failure_if(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
