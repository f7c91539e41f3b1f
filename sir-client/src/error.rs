//! The one error type of sir-client: every way an event can fail to be fully applied to SIR.
//!
//! The handler returns it to Lambda, so the event is retried (EventBridge → Lambda async retries,
//! then the dead-letter queue). Its [`LambdaError`] impl says whether a retry can help, and what
//! Lambda is told.

use lambda_runtime::Diagnostic;
use shared::error::LambdaError;

/// Why an event was not (fully) applied to SIR.
#[derive(Debug, thiserror::Error)]
pub enum SirClientError {
    /// The envelope is not a well-formed integration-bus event.
    #[error("refused the event: not a valid integration-bus event")]
    InvalidEvent(#[source] shared::Error),

    /// A well-formed event that is not for this Lambda (a `Case…` event from the SIR side).
    #[error("refused the {detail_type} event: sir-client applies only issue events")]
    NotAnIssueEvent { detail_type: &'static str },

    /// The event names an issue outside the configured project.
    #[error("refused the event: {issue_key:?} is not an issue of project {project_key}")]
    OtherProject {
        issue_key: String,
        project_key: String,
    },

    /// Another delivery held the issue's claim for as long as this one waited for it (see
    /// `shared::store::run_claimed`); this one is retried later.
    #[error("issue {issue_key} is being synced by another delivery; try again later")]
    ClaimHeld { issue_key: String },

    /// The linked SIR case cannot be read any more (the SIR side records its deletion).
    #[error("SIR case {case_id} linked to Jira issue {issue_key} can no longer be read")]
    CaseNotFound { case_id: String, issue_key: String },

    /// The case created for the issue is linked to another issue (or the issue to another case).
    #[error("cannot link SIR case {case_id} to Jira issue {issue_key}: {existing}")]
    LinkConflict {
        case_id: String,
        issue_key: String,
        existing: String,
    },

    /// The issue lacks something SIR requires (e.g. a readable creation time).
    #[error("Jira issue {issue_key} cannot become a SIR case: {reason}")]
    InvalidIssue { issue_key: String, reason: String },

    /// An attachment was uploaded but the case does not list it yet; the retry links it.
    #[error("attachment {file_name} was uploaded to SIR case {case_id} but is not listed yet")]
    AttachmentNotListed { case_id: String, file_name: String },

    /// SIR, Jira, DynamoDB, SSM or the configuration failed (see the cause).
    #[error(transparent)]
    Shared(#[from] shared::Error),
}

impl LambdaError for SirClientError {
    const TYPE_NAME: &'static str = "SirClientError";

    fn is_retryable(&self) -> bool {
        match self {
            SirClientError::ClaimHeld { .. } | SirClientError::AttachmentNotListed { .. } => true,
            SirClientError::Shared(err) => err.is_retryable(),
            SirClientError::InvalidEvent(_)
            | SirClientError::NotAnIssueEvent { .. }
            | SirClientError::OtherProject { .. }
            | SirClientError::CaseNotFound { .. }
            | SirClientError::LinkConflict { .. }
            | SirClientError::InvalidIssue { .. } => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            SirClientError::InvalidEvent(_) => "InvalidEvent",
            SirClientError::NotAnIssueEvent { .. } => "NotAnIssueEvent",
            SirClientError::OtherProject { .. } => "OtherProject",
            SirClientError::ClaimHeld { .. } => "ClaimHeld",
            SirClientError::CaseNotFound { .. } => "CaseNotFound",
            SirClientError::LinkConflict { .. } => "LinkConflict",
            SirClientError::InvalidIssue { .. } => "InvalidIssue",
            SirClientError::AttachmentNotListed { .. } => "AttachmentNotListed",
            SirClientError::Shared(_) => "Shared",
        }
    }
}

/// What Lambda reports ([`LambdaError::diagnostic`]).
impl From<SirClientError> for Diagnostic {
    fn from(err: SirClientError) -> Diagnostic {
        err.diagnostic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_errors_are_retryable_and_bad_input_is_not() {
        assert!(
            SirClientError::ClaimHeld {
                issue_key: "SEC-1".into()
            }
            .is_retryable()
        );
        assert!(
            !SirClientError::NotAnIssueEvent {
                detail_type: "CaseCreated"
            }
            .is_retryable()
        );
        let throttled = shared::Error::JiraStatus {
            operation: "GET issue",
            status: 429,
            messages: String::new(),
            retry_after: None,
        };
        assert!(SirClientError::from(throttled).is_retryable());
        let diagnostic = Diagnostic::from(SirClientError::InvalidIssue {
            issue_key: "SEC-1".into(),
            reason: "no creation time".into(),
        });
        assert_eq!(diagnostic.error_type, "SirClientError::InvalidIssue");
        assert!(diagnostic.error_message.contains("SEC-1"));
    }

    #[test]
    fn refused_status_and_bad_case_data_are_permanent_and_say_what_happened() {
        let aws_managed = SirClientError::from(shared::Error::from(
            shared::status::StatusError::NotSelfManaged {
                status: shared::status::SirStatus::ReadyToClose,
            },
        ));
        assert!(!aws_managed.is_retryable());
        let diagnostic = aws_managed.diagnostic();
        assert_eq!(diagnostic.error_type, "SirClientError::Shared");
        assert!(
            diagnostic
                .error_message
                .starts_with("UpdateCaseStatus cannot set Ready to Close"),
            "{}",
            diagnostic.error_message
        );

        let too_large = SirClientError::from(shared::Error::AttachmentTooLarge {
            file_name: "dump.bin".into(),
            bytes: 42,
        });
        assert!(!too_large.is_retryable());
        let diagnostic = too_large.diagnostic();
        assert_eq!(diagnostic.error_type, "SirClientError::Shared");
        assert!(
            diagnostic
                .error_message
                .contains("\"dump.bin\" of 42 bytes"),
            "{}",
            diagnostic.error_message
        );
    }
}
