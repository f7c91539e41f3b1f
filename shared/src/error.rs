//! The one error type of the `shared` crate.
//!
//! Every variant keeps its cause (`#[source]`), so a Lambda that returns it logs the whole chain,
//! and every variant answers [`Error::is_retryable`]: whether trying the same work again later can
//! succeed (throttling, timeouts, 5xx) or never will (bad input, missing configuration).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::status::StatusError;

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

    /// A status that cannot be read, a status change SIR does not allow, or an unusable status
    /// mapping (see [`crate::status`]).
    #[error(transparent)]
    Status(#[from] StatusError),

    /// An unusable field mapping (see [`crate::field_mapping`]).
    #[error(transparent)]
    FieldMapping(#[from] crate::field_mapping::FieldMappingError),

    /// A value read from SIR, Jira or the table is not one we know.
    #[error("unknown {what}: {value:?}")]
    Unknown { what: &'static str, value: String },

    /// An event whose source does not publish its detail-type: refused, so that a forged event
    /// cannot pose as the other side's.
    #[error(
        "refused a {detail_type} event from source {event_source:?}: only {expected:?} publishes it"
    )]
    EventSourceMismatch {
        detail_type: &'static str,
        event_source: String,
        expected: &'static str,
    },

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

    /// DynamoDB answered a call with fewer results than it promises (a `TransactGetItems` with
    /// fewer responses than items): read as absent they could look like "never linked".
    #[error("DynamoDB {operation} answered {got} results for {expected} items")]
    DynamoDbAnswerIncomplete {
        operation: &'static str,
        expected: usize,
        got: usize,
    },

    /// A conditional write to the mapping table was refused although the caller expects it to
    /// apply (the in-memory store's counterpart of DynamoDB's cancelled transaction, e.g. marking
    /// broken a link that does not exist).
    #[error("mapping table {operation} refused: {reason}")]
    StoreConditionFailed {
        operation: &'static str,
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

    /// Jira refused the integration's credentials (401), also after they were read again from
    /// SSM: the token expired or was revoked, or the user lost access.
    #[error(
        "Jira {operation}: Jira refused the integration's credentials (HTTP 401: {messages}). {}: create a new token and run ./deploy.sh again with it (--token - --token-expires YYYY-MM-DD); the functions read it within one retry",
        refusal_cause(.expired_on.as_ref(), .messages)
    )]
    JiraCredentialsRefused {
        operation: &'static str,
        messages: String,
        /// The day the token expired, when deploy.sh stored its expiry date and the day has come.
        expired_on: Option<crate::config::TokenExpiry>,
        /// Which credentials were refused, without revealing them ([`crate::jira::credentials_id`]),
        /// so a note about the refusal is said once per token, not once per event.
        credentials_id: String,
    },

    /// Not sent: Jira's earlier 429 paused this part of its API for longer than one run waits.
    #[error("Jira {operation} not sent: Jira asked to pause {part} for another {wait:?}")]
    JiraPaused {
        operation: &'static str,
        part: String,
        wait: std::time::Duration,
    },

    /// The issue to transition does not exist, or the integration user cannot see it.
    #[error("Jira issue {key} does not exist or is not visible to the integration user")]
    JiraIssueNotFound { key: String },

    /// Jira accepted an attachment upload but its answer lists no attachment.
    #[error(
        "Jira accepted attachment {file_name:?} on issue {key} but its answer lists no attachment"
    )]
    JiraAttachmentNotListed { key: String, file_name: String },

    /// An attachment's content URL, as Jira gave it, is not a URL.
    #[error("Jira attachment content URL {url:?} is not a URL")]
    InvalidAttachmentUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },

    /// An attachment's content URL points away from the Jira site: refused before any request,
    /// so the Jira credentials never go there.
    #[error(
        "refused to download a Jira attachment from {origin}: it is not the Jira site {site}, \
         and the Jira credentials go nowhere else"
    )]
    AttachmentUrlOffSite { origin: String, site: String },

    /// The issue's workflow offers no way to the wanted status from where the issue is.
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

    /// A case's reported incident start date is not an RFC 3339 date-time (SIR takes no other).
    #[error("reported incident start date {value:?} is not an RFC 3339 date-time")]
    InvalidStartDate {
        value: String,
        #[source]
        source: aws_smithy_types::date_time::DateTimeParseError,
    },

    /// An attachment too large for SIR's upload request to state its length.
    #[error("attachment {file_name:?} of {bytes} bytes is too large to upload to SIR")]
    AttachmentTooLarge { file_name: String, bytes: u64 },

    /// A download answered without saying how many bytes it carries, so they cannot be streamed
    /// to a side that needs the length first.
    #[error("the {from} attachment download did not say its length (no Content-Length)")]
    AttachmentLengthUnknown { from: &'static str },

    /// SIR answered a call without something its model promises (e.g. GetCase without a status).
    #[error("SIR {operation} for case {case_id} answered without {missing}")]
    SirAnswerIncomplete {
        operation: &'static str,
        case_id: String,
        missing: &'static str,
    },

    /// An AWS request could not be built (a required member was missing: a bug, not bad input).
    /// Every SDK's builders fail with smithy's `BuildError`.
    #[error("building the {what} request")]
    RequestBuild {
        what: &'static str,
        #[source]
        source: aws_smithy_types::error::operation::BuildError,
    },

    /// A claim was lost while its work ran (it ran out while renewals failed, and another
    /// delivery took it): the work was stopped, to be retried.
    #[error("the claim on {key} was lost while its work ran")]
    ClaimLost { key: String },

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

/// Why Jira refused the credentials, as far as the integration can tell.
fn refusal_cause(expired_on: Option<&crate::config::TokenExpiry>, messages: &str) -> String {
    if messages.contains("scope does not match") {
        return format!(
            "The API token lacks a scope this call needs: a token with scopes needs {} (README \"API tokens with scopes\")",
            crate::jira::scopes::CLASSIC_SCOPES.join(", ")
        );
    }
    match expired_on {
        Some(day) => {
            format!("The API token expired on {day} (the expiry date stored with it by deploy.sh)")
        }
        None => "The API token has expired or was revoked, or the integration user lost access"
            .to_owned(),
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
            Error::ClaimLost { .. } => true,
            Error::JiraTransport { source, .. } => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_request()
                    || source.is_body()
            }
            Error::JiraStatus { status, .. } => status_is_transient(*status),
            Error::JiraPaused { .. } => true,
            Error::JiraCredentialsRefused { .. } => false,
            Error::SirTransfer { status, .. } => status.is_none_or(status_is_transient),
            Error::JiraTransitionUnreachable { .. }
            | Error::JiraIssueNotFound { .. }
            | Error::JiraAttachmentNotListed { .. }
            | Error::InvalidAttachmentUrl { .. }
            | Error::AttachmentUrlOffSite { .. } => false,
            Error::InvalidStartDate { .. }
            | Error::AttachmentTooLarge { .. }
            | Error::AttachmentLengthUnknown { .. }
            | Error::SirAnswerIncomplete { .. }
            | Error::DynamoDbAnswerIncomplete { .. } => false,
            Error::MissingEnv { .. }
            | Error::InvalidConfig { .. }
            | Error::MissingParameter { .. }
            | Error::InsecureParameter { .. }
            | Error::Status(_)
            | Error::FieldMapping(_)
            | Error::Unknown { .. }
            | Error::EventSourceMismatch { .. }
            | Error::Json { .. }
            | Error::MalformedItem { .. }
            | Error::StoreConditionFailed { .. }
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
            let (retryable, source) = classified(err);
            Error::DynamoDb {
                operation,
                retryable,
                source,
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
            let (retryable, source) = classified(err);
            Error::EventBridge {
                operation,
                retryable,
                source,
            }
        }
    }

    /// SIR's message when SIR refused the request itself (`ValidationException`): a refusal of
    /// that one request that no retry changes.
    pub fn sir_refusal(&self) -> Option<&str> {
        match self {
            Error::Sir { source, .. } => match source.as_ref() {
                aws_sdk_securityir::Error::ValidationException(refused) => Some(refused.message()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether SIR answered `ConflictException`: for a create with a `clientToken`, the token
    /// was used before with other parameters (the first create was made).
    pub fn is_sir_conflict(&self) -> bool {
        matches!(
            self,
            Error::Sir { source, .. }
                if matches!(source.as_ref(), aws_sdk_securityir::Error::ConflictException(_))
        )
    }

    /// Wraps a failed SIR call, classifying it as retryable or not.
    pub fn sir<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata,
        aws_sdk_securityir::Error: From<SdkError<E, HttpResponse>>,
    {
        move |err| {
            let (retryable, source) = classified(err);
            Error::Sir {
                operation,
                retryable,
                source,
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
            let (retryable, source) = classified(err);
            Error::Ssm {
                operation,
                name,
                retryable,
                source,
            }
        }
    }
}

/// An operation's failure classified by its own metadata (before anything is converted), then
/// kept whole as its SDK's service error: the cause chain and the error code stay readable.
fn classified<E, S>(err: SdkError<E, HttpResponse>) -> (bool, Box<S>)
where
    E: ProvideErrorMetadata,
    S: From<SdkError<E, HttpResponse>>,
{
    (sdk_error_is_retryable(&err), Box::new(S::from(err)))
}

/// Error codes AWS services use for "slow down" or "our side failed; try again".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    // A single write or read that met a transaction in flight on its item.
    "TransactionConflictException",
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
    fn data_errors_are_permanent_and_say_what_is_wrong_with_the_data() {
        let date = aws_smithy_types::DateTime::from_str(
            "yesterday",
            aws_smithy_types::date_time::Format::DateTime,
        )
        .unwrap_err();
        let start = Error::InvalidStartDate {
            value: "yesterday".into(),
            source: date,
        };
        assert!(!start.is_retryable());
        assert_eq!(
            start.to_string(),
            "reported incident start date \"yesterday\" is not an RFC 3339 date-time"
        );
        assert!(start.source().is_some());

        let large = Error::AttachmentTooLarge {
            file_name: "dump.bin".into(),
            bytes: 42,
        };
        assert!(!large.is_retryable());
        assert_eq!(
            large.to_string(),
            "attachment \"dump.bin\" of 42 bytes is too large to upload to SIR"
        );

        let incomplete = Error::SirAnswerIncomplete {
            operation: "GetCase",
            case_id: "1234567890".into(),
            missing: "a case status",
        };
        assert!(!incomplete.is_retryable());
        assert_eq!(
            incomplete.to_string(),
            "SIR GetCase for case 1234567890 answered without a case status"
        );
    }

    #[test]
    fn status_errors_are_permanent_and_keep_their_message() {
        let err = Error::from(StatusError::NotSelfManaged {
            status: crate::status::SirStatus::ReadyToClose,
        });
        assert!(!err.is_retryable());
        assert!(
            err.to_string().starts_with(
                "UpdateCaseStatus cannot set Ready to Close: it takes only a self-managed status"
            ),
            "{err}"
        );
        let unknown = Error::from(StatusError::UnknownStatus {
            value: "Open".into(),
        });
        assert!(!unknown.is_retryable());
        assert_eq!(unknown.to_string(), "unknown SIR case status: \"Open\"");
    }

    #[test]
    fn refusals_to_trust_a_source_are_permanent_and_name_it() {
        let forged = Error::EventSourceMismatch {
            detail_type: "CaseDeleted",
            event_source: "jira".into(),
            expected: "security-ir",
        };
        assert!(!forged.is_retryable());
        assert_eq!(
            forged.to_string(),
            "refused a CaseDeleted event from source \"jira\": only \"security-ir\" publishes it"
        );
        let off_site = Error::AttachmentUrlOffSite {
            origin: "http://127.0.0.2:9".into(),
            site: "https://example.atlassian.net".into(),
        };
        assert!(!off_site.is_retryable());
        let text = off_site.to_string();
        assert!(text.contains("http://127.0.0.2:9"), "{text}");
        assert!(text.contains("https://example.atlassian.net"), "{text}");
        assert!(text.starts_with("refused"), "{text}");
    }

    #[test]
    fn jira_answers_without_what_was_asked_are_permanent_and_say_so() {
        let gone = Error::JiraIssueNotFound {
            key: "SEC-1".into(),
        };
        assert!(!gone.is_retryable());
        assert_eq!(
            gone.to_string(),
            "Jira issue SEC-1 does not exist or is not visible to the integration user"
        );
        let unlisted = Error::JiraAttachmentNotListed {
            key: "SEC-1".into(),
            file_name: "notes.txt".into(),
        };
        assert!(!unlisted.is_retryable());
        assert_eq!(
            unlisted.to_string(),
            "Jira accepted attachment \"notes.txt\" on issue SEC-1 but its answer lists no attachment"
        );
        let bad_url = Error::InvalidAttachmentUrl {
            url: "not a url".into(),
            source: url::Url::parse("not a url").unwrap_err(),
        };
        assert!(!bad_url.is_retryable());
        assert_eq!(
            bad_url.to_string(),
            "Jira attachment content URL \"not a url\" is not a URL"
        );
        assert!(bad_url.source().is_some());
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
