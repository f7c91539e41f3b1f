//! The one error type of jira-client: every way an event can fail to be fully applied to Jira.
//!
//! The handler returns it to Lambda, so the event is retried (EventBridge → Lambda async retries,
//! then the dead-letter queue). Its [`LambdaError`] impl says whether a retry can help, and what
//! Lambda is told.

use lambda_runtime::Diagnostic;
use shared::error::LambdaError;

/// Why an event was not (fully) applied to Jira.
#[derive(Debug, thiserror::Error)]
pub enum JiraClientError {
    /// The envelope is not a well-formed integration-bus event (unknown detail-type, a source
    /// that does not belong to it, or a detail of the wrong shape).
    #[error("refused the event: not a valid integration-bus event")]
    InvalidEvent(#[source] shared::Error),

    /// A well-formed event that is not for this Lambda (an `Issue…` event from the Jira side).
    #[error("refused the {detail_type} event: jira-client applies only case events")]
    NotACaseEvent { detail_type: &'static str },

    /// Another delivery held the case's claim for as long as this one waited for it (see
    /// `shared::store::run_claimed`); this one is retried later and then finds its work done (or
    /// does it).
    #[error("case {case_id} is being synced by another delivery; try again later")]
    ClaimHeld { case_id: String },

    /// An earlier run started creating the case's issue moments ago and no link was written,
    /// but Jira's search does not show such an issue: it may exist and not be indexed yet. The
    /// event is retried; once the create is older than the configured bound, an issue is created.
    #[error(
        "an issue for SIR case {case_id} may have been created {age_seconds} s ago but Jira's search          does not show it yet; retrying until the search index catches up (at most {bound_seconds} s)"
    )]
    CreateInDoubt {
        case_id: String,
        age_seconds: u64,
        bound_seconds: u64,
    },

    /// The issue found or created for the case is linked to another case.
    #[error(
        "Jira issue {issue_key} is already linked to SIR case {linked_case_id}, not to {case_id}"
    )]
    LinkConflict {
        case_id: String,
        issue_key: String,
        linked_case_id: String,
    },

    /// Everything else was applied, but these attachments are still `Pending` in SIR and cannot
    /// be downloaded yet: the event is retried to copy them.
    #[error("SIR case {case_id} has attachments still Pending upload: {}", attachment_ids.join(", "))]
    AttachmentsPending {
        case_id: String,
        attachment_ids: Vec<String>,
    },

    /// SIR, Jira, DynamoDB, SSM or the configuration failed (see the cause).
    #[error(transparent)]
    Shared(#[from] shared::Error),
}

impl LambdaError for JiraClientError {
    const TYPE_NAME: &'static str = "JiraClientError";

    fn is_retryable(&self) -> bool {
        match self {
            JiraClientError::ClaimHeld { .. }
            | JiraClientError::CreateInDoubt { .. }
            | JiraClientError::AttachmentsPending { .. } => true,
            JiraClientError::Shared(err) => err.is_retryable(),
            JiraClientError::InvalidEvent(_)
            | JiraClientError::NotACaseEvent { .. }
            | JiraClientError::LinkConflict { .. } => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            JiraClientError::InvalidEvent(_) => "InvalidEvent",
            JiraClientError::NotACaseEvent { .. } => "NotACaseEvent",
            JiraClientError::ClaimHeld { .. } => "ClaimHeld",
            JiraClientError::CreateInDoubt { .. } => "CreateInDoubt",
            JiraClientError::LinkConflict { .. } => "LinkConflict",
            JiraClientError::AttachmentsPending { .. } => "AttachmentsPending",
            JiraClientError::Shared(_) => "Shared",
        }
    }
}

/// What Lambda reports ([`LambdaError::diagnostic`]).
impl From<JiraClientError> for Diagnostic {
    fn from(err: JiraClientError) -> Diagnostic {
        err.diagnostic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_errors_are_retryable_and_bad_input_is_not() {
        assert!(
            JiraClientError::ClaimHeld {
                case_id: "1".into()
            }
            .is_retryable()
        );
        assert!(
            JiraClientError::AttachmentsPending {
                case_id: "1".into(),
                attachment_ids: vec!["a".into()],
            }
            .is_retryable()
        );
        assert!(
            !JiraClientError::NotACaseEvent {
                detail_type: "IssueCreated"
            }
            .is_retryable()
        );
        let throttled = shared::Error::JiraStatus {
            operation: "create issue",
            status: 429,
            messages: String::new(),
            retry_after: None,
        };
        assert!(JiraClientError::from(throttled).is_retryable());
        let refused = shared::Error::JiraStatus {
            operation: "create issue",
            status: 400,
            messages: String::new(),
            retry_after: None,
        };
        assert!(!JiraClientError::from(refused).is_retryable());
    }

    #[test]
    fn diagnostic_names_the_kind_and_keeps_the_cause() {
        let err = JiraClientError::InvalidEvent(shared::Error::Unknown {
            what: "event detail-type",
            value: "CaseClosed".into(),
        });
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "JiraClientError::InvalidEvent");
        assert!(
            diagnostic.error_message.contains("CaseClosed"),
            "{}",
            diagnostic.error_message
        );
    }

    #[test]
    fn refused_attachment_urls_and_missing_issues_are_permanent_and_say_what_happened() {
        let off_site = JiraClientError::from(shared::Error::AttachmentUrlOffSite {
            origin: "http://127.0.0.2:9".into(),
            site: "https://example.atlassian.net".into(),
        });
        assert!(!off_site.is_retryable());
        let diagnostic = off_site.diagnostic();
        assert_eq!(diagnostic.error_type, "JiraClientError::Shared");
        assert!(
            diagnostic
                .error_message
                .starts_with("refused to download a Jira attachment from http://127.0.0.2:9"),
            "{}",
            diagnostic.error_message
        );

        let gone = JiraClientError::from(shared::Error::JiraIssueNotFound {
            key: "SEC-1".into(),
        });
        assert!(!gone.is_retryable());
        assert_eq!(gone.kind(), "Shared");
        assert!(gone.to_string().contains("SEC-1 does not exist"), "{gone}");
    }
}
