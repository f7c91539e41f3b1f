//! The one error type of jira-notifications-handler: why a notification could not be handled.
//!
//! Rejected messages are not errors (see [`crate::message::Rejection`]): they are logged and
//! dropped, since delivering them again cannot change the verdict. Everything here is returned
//! to Lambda, so the asynchronous invocation (SNS's, or the sweep schedule's) is retried and then
//! kept in the dead-letter queue.

use lambda_runtime::Diagnostic;
use shared::error::LambdaError;

/// A notification that could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Some records of the SNS event failed; the others were handled.
    #[error(
        "{} of {total} notification(s) not handled: {}",
        failures.len(),
        failures.iter().map(RecordFailure::describe).collect::<Vec<_>>().join("; ")
    )]
    RecordsFailed {
        total: usize,
        failures: Vec<RecordFailure>,
    },
    /// The sweep could not search Jira or use its cursor; the cursor did not move past anything
    /// not handled.
    #[error("the Jira sweep could not {step}")]
    Sweep {
        step: &'static str,
        #[source]
        source: shared::Error,
    },
    /// The sweep handled every issue it found but these; the cursor stays before them.
    #[error(
        "the Jira sweep handled {handled} issue(s) but not {}: {}",
        failures.len(),
        failures.iter().map(SweepFailure::describe).collect::<Vec<_>>().join("; ")
    )]
    SweepIssuesFailed {
        handled: usize,
        failures: Vec<SweepFailure>,
    },
    /// The sweep's audit synced every open issue it took but these; its cursor stays before
    /// the first of them.
    #[error(
        "the Jira audit synced {audited} issue(s) but not {}: {}",
        failures.len(),
        failures.iter().map(SweepFailure::describe).collect::<Vec<_>>().join("; ")
    )]
    AuditIssuesFailed {
        audited: usize,
        failures: Vec<SweepFailure>,
    },
    /// A webhook delivery that passed its checks could not be handled (the function URL answers
    /// 502, so Jira retries it).
    #[error("webhook delivery {identifier} (issue {issue_key}) not handled")]
    Webhook {
        identifier: String,
        issue_key: String,
        #[source]
        source: shared::Error,
    },
    /// The invocation is neither an SNS event, a function URL request nor the sweep's Scheduled
    /// Event.
    #[error(
        "not an SNS event, a function URL request nor a Scheduled Event from aws.events: {shown}"
    )]
    UnknownInvocation { shown: String },
}

impl HandlerError {
    /// Wraps a failed sweep step.
    pub fn sweep(step: &'static str) -> impl FnOnce(shared::Error) -> HandlerError {
        move |source| HandlerError::Sweep { step, source }
    }
}

/// One issue the sweep could not sync.
#[derive(Debug)]
pub struct SweepFailure {
    pub issue_key: String,
    pub error: shared::Error,
}

impl SweepFailure {
    fn describe(&self) -> String {
        format!(
            "{}: {}",
            self.issue_key,
            shared::error::error_chain(&self.error)
        )
    }
}

/// One record that failed, with why.
#[derive(Debug)]
pub struct RecordFailure {
    pub message_id: String,
    pub issue_key: String,
    pub error: shared::Error,
}

impl RecordFailure {
    fn describe(&self) -> String {
        format!(
            "message {} (issue {}): {}",
            self.message_id,
            self.issue_key,
            shared::error::error_chain(&self.error)
        )
    }
}

impl LambdaError for HandlerError {
    const TYPE_NAME: &'static str = "HandlerError";

    /// Whether handling the same event again later can succeed.
    fn is_retryable(&self) -> bool {
        match self {
            HandlerError::RecordsFailed { failures, .. } => {
                failures.iter().any(|f| f.error.is_retryable())
            }
            HandlerError::Sweep { source, .. } | HandlerError::Webhook { source, .. } => {
                source.is_retryable()
            }
            HandlerError::SweepIssuesFailed { failures, .. }
            | HandlerError::AuditIssuesFailed { failures, .. } => {
                failures.iter().any(|f| f.error.is_retryable())
            }
            HandlerError::UnknownInvocation { .. } => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            HandlerError::RecordsFailed { .. } => "RecordsFailed",
            HandlerError::Sweep { .. } => "Sweep",
            HandlerError::SweepIssuesFailed { .. } => "SweepIssuesFailed",
            HandlerError::AuditIssuesFailed { .. } => "AuditIssuesFailed",
            HandlerError::Webhook { .. } => "Webhook",
            HandlerError::UnknownInvocation { .. } => "UnknownInvocation",
        }
    }
}

/// What Lambda reports ([`LambdaError::diagnostic`]).
impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Diagnostic {
        err.diagnostic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_records_are_named_with_their_cause() {
        let err = HandlerError::RecordsFailed {
            total: 2,
            failures: vec![RecordFailure {
                message_id: "m-1".into(),
                issue_key: "SEC-3".into(),
                error: shared::Error::JiraStatus {
                    operation: "GET issue",
                    status: 503,
                    messages: "down".into(),
                    retry_after: None,
                },
            }],
        };
        assert!(err.is_retryable());
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "HandlerError::RecordsFailed");
        assert!(diagnostic.error_message.contains("1 of 2"));
        assert!(diagnostic.error_message.contains("SEC-3"));
        assert!(
            diagnostic.error_message.contains("503"),
            "{}",
            diagnostic.error_message
        );
    }
}
