//! The one error type of jira-notifications-handler: why a notification could not be handled.
//!
//! Rejected messages are not errors (see [`crate::message::Rejection`]): they are logged and
//! dropped, since delivering them again cannot change the verdict. Everything here is returned
//! to Lambda, so SNS's asynchronous invocation is retried and then kept in the dead-letter queue.

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
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            HandlerError::RecordsFailed { .. } => "RecordsFailed",
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
