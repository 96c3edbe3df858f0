//! What an AWS SDK error means to dyno: a definite rejection, a throttle, or an outcome nobody can
//! know (a timeout, a 5xx, a broken connection after the request went out). Its one-line summary
//! names the operation and the service's error code but never quotes the service's message of a
//! call that carries items (it can quote their values); the full error stays reachable as the
//! `source`, and [`AwsError::rejection_reason`] gives a refusal's reason to whoever typed the
//! request.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What the failed call tells about the request's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request was never sent (it could not be built, or signed: e.g. no credentials).
    NotSent,
    /// The service answered and refused it: nothing was applied.
    Rejected,
    /// The service refused it for now (throttling): nothing was applied; try again later.
    Throttled,
    /// It may or may not have been applied: timeout, 5xx, connection broken or refused, or an
    /// answer that could not be read.
    Unknown,
}

/// Error codes of throttling, across DynamoDB, Kinesis, SQS and STS.
const THROTTLING: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TooManyRequestsException",
];

/// A failed AWS call: which operation, what it means, and the SDK's error as the source.
#[derive(Debug)]
pub struct AwsError(Box<Failed>);

#[derive(Debug)]
struct Failed {
    operation: &'static str,
    outcome: Outcome,
    code: Option<String>,
    /// The service's message (first line), kept apart from the summary: it can quote values.
    message: Option<String>,
    summary: String,
    source: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.0.operation, self.0.summary)
    }
}

impl StdError for AwsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.0.source.as_ref())
    }
}

impl AwsError {
    /// Classifies an SDK error of `operation` (e.g. `"PutItem"`).
    pub fn new<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned);
        let message = error.message().map(|m| first_line(m).to_owned());
        let service = matches!(error, SdkError::ServiceError(_));
        let (outcome, summary) = match &error {
            // The request is signed before it is sent: no credentials, no request.
            _ if !service && chain(&error).any(|e| looks_like_credentials(&e)) => {
                (Outcome::NotSent, NO_CREDENTIALS.to_owned())
            }
            SdkError::ConstructionFailure(_) => (Outcome::NotSent, not_sent(&error)),
            SdkError::TimeoutError(_) => (Outcome::Unknown, "no answer in time".to_owned()),
            SdkError::DispatchFailure(_) => (
                Outcome::Unknown,
                format!("no answer ({})", first_line(&innermost(&error))),
            ),
            SdkError::ResponseError(_) => (Outcome::Unknown, "an unreadable answer".to_owned()),
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let mut code_text = code.clone().unwrap_or_else(|| format!("HTTP {status}"));
                // Only calls that carry items can have their values quoted back.
                if let (false, Some(message)) = (carries_items(operation), error.message()) {
                    code_text = format!("{code_text}: {}", first_line(message));
                }
                let outcome = if status >= 500 {
                    Outcome::Unknown
                } else if code.as_deref().is_some_and(|c| THROTTLING.contains(&c)) {
                    Outcome::Throttled
                } else {
                    Outcome::Rejected
                };
                (outcome, code_text)
            }
            _ => (Outcome::Unknown, "an unknown kind of failure".to_owned()),
        };
        AwsError(Box::new(Failed {
            operation,
            outcome,
            code,
            message,
            summary,
            source: Box::new(error),
        }))
    }

    /// A failure of `operation` that is not the SDK's: an answer dyno cannot use.
    pub fn other(operation: &'static str, error: impl StdError + Send + Sync + 'static) -> Self {
        AwsError(Box::new(Failed {
            operation,
            outcome: Outcome::Rejected,
            code: None,
            message: None,
            summary: "an answer that could not be used".to_owned(),
            source: Box::new(error),
        }))
    }

    /// A failure of `operation` whose effect nobody can know (as a timeout's), that is not the
    /// SDK's: what a store that is not DynamoDB answers when it cannot tell.
    pub fn unknown(operation: &'static str, error: impl StdError + Send + Sync + 'static) -> Self {
        AwsError(Box::new(Failed {
            operation,
            outcome: Outcome::Unknown,
            code: None,
            message: None,
            summary: "no answer".to_owned(),
            source: Box::new(error),
        }))
    }

    /// A validation error's reason, in the service's words (first line): for a person who typed
    /// the request (the CLI), never for a log, since it can quote the request's values.
    pub fn rejection_reason(&self) -> Option<&str> {
        match self.code() {
            Some("ValidationException") => self.0.message.as_deref(),
            _ => None,
        }
    }

    /// The operation that failed, e.g. `PutItem`.
    pub fn operation(&self) -> &'static str {
        self.0.operation
    }

    /// What the failure tells about the request's effect.
    pub fn outcome(&self) -> Outcome {
        self.0.outcome
    }

    /// The service's error code, e.g. `ResourceNotFoundException`.
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// True when the request may have been applied although the call failed.
    pub fn may_have_applied(&self) -> bool {
        self.0.outcome == Outcome::Unknown
    }

    /// True when the service throttled the request.
    pub fn is_throttle(&self) -> bool {
        self.0.outcome == Outcome::Throttled
    }

    /// True for this service error code.
    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// True when the server does not know the call at all (dynalite has no TTL, backups or
    /// tags).
    pub fn is_unsupported(&self) -> bool {
        self.is("UnknownOperationException")
            || self.code().is_some_and(|c| c.contains("NotImplemented"))
    }

    /// True when the call could not be made for want of credentials.
    pub fn is_missing_credentials(&self) -> bool {
        self.0.summary == NO_CREDENTIALS
    }
}

/// True for the operations whose requests or answers hold items (or records), whose service
/// messages may quote their values.
fn carries_items(operation: &str) -> bool {
    !(operation.starts_with("Describe")
        || operation.starts_with("Create")
        || operation.starts_with("Delete") && operation != "DeleteItem"
        || operation.starts_with("List")
        || operation.starts_with("Update") && operation != "UpdateItem"
        || matches!(
            operation,
            "GetShardIterator" | "SplitShard" | "MergeShards" | "AssumeRole"
        ))
}

/// Every error in the chain under `error`, as text.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = String> + 'a {
    let mut next = error.source();
    std::iter::from_fn(move || {
        let current = next?;
        next = current.source();
        Some(current.to_string())
    })
}

fn looks_like_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("credential") || text.contains("identity")
}

const NO_CREDENTIALS: &str = "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID \
     and AWS_SECRET_ACCESS_KEY)";

fn not_sent<E: StdError + 'static>(error: &E) -> String {
    format!(
        "the request could not be sent ({})",
        first_line(&innermost(error))
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The deepest cause's text: for a broken connection, the system's own words
/// ("Connection refused (os error 111)"); never a service message.
fn innermost(error: &(dyn StdError + 'static)) -> String {
    chain(error).last().unwrap_or_else(|| error.to_string())
}

/// An SDK interceptor for one call that remembers whether any of its attempts may have been
/// applied: an attempt that went out and got no answer (timeout, broken connection), a 5xx, or an
/// answer that could not be read. The SDK retries such attempts, and a retry can then be refused
/// (e.g. `ConditionalCheckFailedException`, because the first attempt did apply): the call's final
/// error alone would then say "rejected" when the write may well have happened.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    state: Arc<Mutex<AttemptState>>,
}

#[derive(Debug, Default)]
struct AttemptState {
    /// The current attempt was handed to the connection.
    sent: bool,
    /// Some attempt may have been applied without a clear answer.
    maybe_applied: bool,
}

impl Attempts {
    /// True when some attempt of the call may have been applied although none succeeded.
    pub fn maybe_applied(&self) -> bool {
        self.state.lock().map(|s| s.maybe_applied).unwrap_or(true)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut state) = self.state.lock() {
            state.sent = true;
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let answered = context.response().map(|r| r.status().as_u16());
        let failed = !matches!(context.output_or_error(), Some(Ok(_)));
        if let Ok(mut state) = self.state.lock() {
            let unclear = match answered {
                None => state.sent,
                Some(status) => status >= 500 || (status < 300 && failed),
            };
            state.maybe_applied |= failed && unclear;
            state.sent = false;
        }
        Ok(())
    }
}

/// An error with every cause after it, for `-v` and for tests.
pub struct Detailed<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Detailed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service(status: u16, code: &str) -> AwsError {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message("Input collection [s3cr3t] contains duplicates")
            .build();
        let error = PutItemError::generic(meta);
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        AwsError::new("PutItem", SdkError::service_error(error, raw))
    }

    #[test]
    fn service_errors_by_status_and_code() {
        let rejected = service(400, "ValidationException");
        assert_eq!(rejected.outcome(), Outcome::Rejected);
        assert_eq!(rejected.to_string(), "PutItem failed: ValidationException");
        assert!(rejected.is("ValidationException"));
        assert_eq!(
            service(400, "ProvisionedThroughputExceededException").outcome(),
            Outcome::Throttled
        );
        let internal = service(500, "InternalServerError");
        assert!(internal.may_have_applied());
        let conditional = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        );
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        let error = AwsError::new("PutItem", SdkError::service_error(conditional, raw));
        assert_eq!(error.outcome(), Outcome::Rejected);
    }

    #[test]
    fn summaries_never_quote_the_service_message() {
        let error = service(400, "ValidationException");
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
        // The message is still there for whoever asks for the details, or typed the request.
        assert!(Detailed(&error).to_string().contains("s3cr3t"));
        assert_eq!(
            error.rejection_reason(),
            Some("Input collection [s3cr3t] contains duplicates")
        );
        assert_eq!(service(400, "ThrottlingException").rejection_reason(), None);
    }

    #[test]
    fn timeouts_and_broken_connections_are_unknown() {
        let timeout: SdkError<PutItemError, HttpResponse> =
            SdkError::timeout_error("attempt timeout");
        assert!(AwsError::new("PutItem", timeout).may_have_applied());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let dispatch: SdkError<PutItemError, HttpResponse> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::io(io.into()),
        );
        let error = AwsError::new("PutItem", dispatch);
        assert!(error.may_have_applied());
        assert!(error.to_string().contains("connection reset"), "{error}");
    }
}
