//! The one error type of the `shared` crate.
//!
//! Every variant keeps its cause (`#[source]`), so a Lambda that returns it logs the whole chain,
//! and every variant answers [`Error::is_retryable`]: whether trying the same work again later can
//! succeed (throttling, timeouts, 5xx) or never will (bad input, missing configuration).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;

use crate::status::SirStatus;

/// What went wrong in the shared contract or one of its AWS adapters.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is not set (or is empty).
    #[error("missing environment variable {name}")]
    MissingEnv { name: &'static str },

    /// A configuration value is present but unusable.
    #[error("invalid configuration {name}: {reason}")]
    InvalidConfig { name: String, reason: String },

    /// A required SSM parameter does not exist.
    #[error("missing SSM parameter {name}")]
    MissingParameter { name: String },

    /// The Jira token parameter is not a SecureString (it must never be stored in plain text).
    #[error("SSM parameter {name} must be a SecureString, found {found}")]
    InsecureParameter { name: String, found: String },

    /// The status mapping JSON could not be used.
    #[error("invalid status mapping: {reason}")]
    InvalidStatusMapping { reason: String },

    /// A status change SIR does not allow (see [`crate::status`]).
    #[error("SIR cannot move a case from {from} to {to}: {reason}")]
    StatusUnreachable {
        from: SirStatus,
        to: SirStatus,
        reason: &'static str,
    },

    /// A value read from SIR, Jira or the table is not one we know.
    #[error("unknown {what}: {value:?}")]
    Unknown { what: &'static str, value: String },

    /// A JSON body (event detail, snapshot, mapping) could not be (de)serialized.
    #[error("JSON for {what}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// An item in the mapping table does not have the shape this code writes.
    #[error("malformed mapping item {pk}/{sk}: {reason}")]
    MalformedItem {
        pk: String,
        sk: String,
        reason: String,
    },

    /// An event is larger than EventBridge accepts; refused before sending.
    #[error(
        "{detail_type} event for {subject} is {bytes} bytes, over the {limit}-byte EventBridge limit"
    )]
    EventTooLarge {
        detail_type: &'static str,
        subject: String,
        bytes: usize,
        limit: usize,
    },

    /// EventBridge accepted the call but refused some entries (FailedEntryCount > 0).
    #[error("EventBridge refused {} of the events: {}", failed.len(), describe_failed(failed))]
    PublishFailed { failed: Vec<FailedEntry> },

    /// Jira could not be reached or the exchange broke off (connection, timeout, TLS, body).
    #[error("Jira {operation}: the request failed")]
    JiraTransport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },

    /// Jira answered with an error status; `messages` is what Jira said (errorMessages/errors).
    #[error("Jira {operation} answered HTTP {status}: {messages}")]
    JiraStatus {
        operation: &'static str,
        status: u16,
        messages: String,
        /// The `Retry-After` Jira asked for, when it did.
        retry_after: Option<std::time::Duration>,
    },

    /// The workflow offers no way to the wanted status from where the issue is.
    #[error(
        "Jira issue {key} cannot reach status {target:?}: stopped at {reached:?} after {hops} transitions"
    )]
    JiraTransitionUnreachable {
        key: String,
        target: String,
        reached: String,
        hops: usize,
    },

    /// A SIR API call failed.
    #[error("SIR {operation} failed")]
    Sir {
        operation: &'static str,
        retryable: bool,
        #[source]
        source: Box<aws_sdk_securityir::Error>,
    },

    /// Moving attachment bytes to or from a SIR presigned URL failed.
    #[error("SIR attachment {operation} failed{}", status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
    SirTransfer {
        operation: &'static str,
        status: Option<u16>,
        #[source]
        source: Option<reqwest::Error>,
    },

    /// An AWS request could not be built (a required member was missing: a bug, not bad input).
    #[error("building the {what} request")]
    RequestBuild {
        what: &'static str,
        #[source]
        source: aws_sdk_dynamodb::error::BuildError,
    },

    /// A DynamoDB call failed.
    #[error("DynamoDB {operation} failed")]
    DynamoDb {
        operation: &'static str,
        retryable: bool,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },

    /// An EventBridge call failed.
    #[error("EventBridge {operation} failed")]
    EventBridge {
        operation: &'static str,
        retryable: bool,
        #[source]
        source: Box<aws_sdk_eventbridge::Error>,
    },

    /// An SSM call failed.
    #[error("SSM {operation} of {name} failed")]
    Ssm {
        operation: &'static str,
        name: String,
        retryable: bool,
        #[source]
        source: Box<aws_sdk_ssm::Error>,
    },
}

/// One event EventBridge refused, named so that an operator can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    pub detail_type: &'static str,
    /// The case id or issue key the event is about.
    pub subject: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl FailedEntry {
    /// Whether EventBridge refused the entry for a passing reason.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.error_code.as_deref(),
            Some(
                "ThrottlingException"
                    | "InternalException"
                    | "InternalFailure"
                    | "ServiceUnavailable"
            )
        )
    }
}

fn describe_failed(failed: &[FailedEntry]) -> String {
    failed
        .iter()
        .map(|f| {
            format!(
                "{} {} ({}: {})",
                f.detail_type,
                f.subject,
                f.error_code.as_deref().unwrap_or("no code"),
                f.error_message.as_deref().unwrap_or("no message")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Result with the shared [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the same work may succeed if tried again later (so a Lambda should return `Err`
    /// and let Lambda/EventBridge retry), as opposed to a permanent failure that needs a person.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::DynamoDb { retryable, .. }
            | Error::EventBridge { retryable, .. }
            | Error::Ssm { retryable, .. } => *retryable,
            Error::Sir { retryable, .. } => *retryable,
            Error::PublishFailed { failed } => failed.iter().all(FailedEntry::is_retryable),
            Error::JiraTransport { source, .. } => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_request()
                    || source.is_body()
            }
            Error::JiraStatus { status, .. } => status_is_transient(*status),
            Error::SirTransfer { status, .. } => status.is_none_or(status_is_transient),
            Error::JiraTransitionUnreachable { .. } => false,
            Error::MissingEnv { .. }
            | Error::InvalidConfig { .. }
            | Error::MissingParameter { .. }
            | Error::InsecureParameter { .. }
            | Error::InvalidStatusMapping { .. }
            | Error::StatusUnreachable { .. }
            | Error::Unknown { .. }
            | Error::Json { .. }
            | Error::MalformedItem { .. }
            | Error::EventTooLarge { .. }
            | Error::RequestBuild { .. } => false,
        }
    }

    pub fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
        move |source| Error::Json { what, source }
    }

    /// Wraps a failed DynamoDB call, classifying it as retryable or not.
    pub fn dynamodb<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata,
        aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
    {
        move |err| {
            let retryable = sdk_error_is_retryable(&err);
            Error::DynamoDb {
                operation,
                retryable,
                source: Box::new(aws_sdk_dynamodb::Error::from(err)),
            }
        }
    }

    /// Wraps a failed EventBridge call, classifying it as retryable or not.
    pub fn eventbridge<E>(
        operation: &'static str,
    ) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata,
        aws_sdk_eventbridge::Error: From<SdkError<E, HttpResponse>>,
    {
        move |err| {
            let retryable = sdk_error_is_retryable(&err);
            Error::EventBridge {
                operation,
                retryable,
                source: Box::new(aws_sdk_eventbridge::Error::from(err)),
            }
        }
    }

    /// Wraps a failed SIR call, classifying it as retryable or not.
    pub fn sir<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata,
        aws_sdk_securityir::Error: From<SdkError<E, HttpResponse>>,
    {
        move |err| {
            let retryable = sdk_error_is_retryable(&err);
            Error::Sir {
                operation,
                retryable,
                source: Box::new(aws_sdk_securityir::Error::from(err)),
            }
        }
    }

    /// Wraps a failed SSM call, classifying it as retryable or not.
    pub fn ssm<E>(
        operation: &'static str,
        name: &str,
    ) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error + use<E>
    where
        E: ProvideErrorMetadata,
        aws_sdk_ssm::Error: From<SdkError<E, HttpResponse>>,
    {
        let name = name.to_owned();
        move |err| {
            let retryable = sdk_error_is_retryable(&err);
            Error::Ssm {
                operation,
                name,
                retryable,
                source: Box::new(aws_sdk_ssm::Error::from(err)),
            }
        }
    }
}

/// Error codes AWS services use for "slow down" or "our side failed; try again".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "LimitExceededException",
];

/// What the error types of the Lambdas share. Each Lambda keeps its own enum (its variants are
/// its own failures); what Lambda is told is made here, so every Lambda reports the same way:
/// the error type `<TYPE_NAME>::<kind>`, which names the failure without its message, and the
/// message with its whole cause chain, which is all the log shows of a failed invocation.
pub trait LambdaError: std::error::Error + Sized {
    /// The enum's name, the first half of Lambda's error type (`JiraClientError`).
    const TYPE_NAME: &'static str;

    /// A short name for the kind of failure, the second half of Lambda's error type.
    fn kind(&self) -> &'static str;

    /// Whether delivering the same event again later can succeed.
    fn is_retryable(&self) -> bool;

    /// What Lambda reports: the error type and the message with its whole cause chain.
    fn diagnostic(&self) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: format!("{}::{}", Self::TYPE_NAME, self.kind()),
            error_message: error_chain(self),
        }
    }
}

/// An error and all its causes on one line (`outer: cause: root cause`), for a Lambda's error
/// message and for log lines that must say why, not only what.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether an SDK failure is transient: no response at all (timeout, connection), or a throttling
/// or server-side error code. Client errors (validation, not found, conditional checks) are not.
/// A 5xx or 429 answer is transient whatever its body says (a proxy's HTML error page has no
/// code at all).
pub fn sdk_error_is_retryable<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(response) => status_is_transient(response.raw().status().as_u16()),
        SdkError::ServiceError(service) => {
            status_is_transient(service.raw().status().as_u16())
                || service
                    .err()
                    .code()
                    .is_some_and(|code| RETRYABLE_CODES.contains(&code))
        }
        _ => false,
    }
}

fn status_is_transient(status: u16) -> bool {
    status == 429 || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn configuration_errors_are_permanent() {
        assert!(!Error::MissingEnv { name: "X" }.is_retryable());
        assert!(!Error::MissingParameter { name: "/p".into() }.is_retryable());
    }

    #[test]
    fn publish_failure_is_retryable_only_when_every_entry_was_throttled() {
        let entry = |code: &str| FailedEntry {
            detail_type: "CaseUpdated",
            subject: "1".into(),
            error_code: Some(code.into()),
            error_message: None,
        };
        let throttled = Error::PublishFailed {
            failed: vec![entry("ThrottlingException")],
        };
        assert!(throttled.is_retryable());
        let mixed = Error::PublishFailed {
            failed: vec![entry("ThrottlingException"), entry("AccessDeniedException")],
        };
        assert!(!mixed.is_retryable());
        assert!(mixed.to_string().contains("AccessDeniedException"));
    }

    #[test]
    fn json_error_keeps_its_cause() {
        let cause = serde_json::from_str::<u8>("x").unwrap_err();
        let err = Error::Json {
            what: "event detail",
            source: cause,
        };
        assert!(err.source().is_some());
    }
}
