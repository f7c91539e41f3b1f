//! The poller's errors, and what Lambda is told about them ([`LambdaError`], as the other three
//! Lambdas).

use shared::error::LambdaError;

/// What can make a poller run fail.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    /// The invocation is neither a schedule tick nor a native SIR event.
    #[error("unrecognised poller event: {0}")]
    UnknownEvent(String),
    /// A call the whole run depends on failed (ListCases, the tracked list, the membership).
    #[error(transparent)]
    Shared(#[from] shared::Error),
    /// Some cases could not be synced; every other case was.
    #[error("{} case(s) not synced, retried next pass: {}", failures.len(), describe(failures))]
    CasesFailed {
        failures: Vec<CaseFailure>,
        /// What the run did for every other case (its metrics are still written).
        done: Box<crate::PassReport>,
    },
}

/// One case a run could not sync, with why.
#[derive(Debug)]
pub struct CaseFailure {
    pub case_id: String,
    pub error: shared::Error,
}

impl LambdaError for PollerError {
    const TYPE_NAME: &'static str = "PollerError";

    fn kind(&self) -> &'static str {
        match self {
            PollerError::UnknownEvent(_) => "UnknownEvent",
            PollerError::Shared(_) => "Shared",
            PollerError::CasesFailed { .. } => "CasesFailed",
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            PollerError::UnknownEvent(_) => false,
            PollerError::Shared(err) => err.is_retryable(),
            // The failed cases are tried again by the next pass (and by Lambda's retry).
            PollerError::CasesFailed { .. } => true,
        }
    }
}

/// What Lambda reports: the kind, and the message with its whole cause chain (as the other
/// three Lambdas report theirs).
impl From<PollerError> for lambda_runtime::Diagnostic {
    fn from(err: PollerError) -> lambda_runtime::Diagnostic {
        err.diagnostic()
    }
}

fn describe(failures: &[CaseFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.case_id, shared::error::error_chain(&f.error)))
        .collect::<Vec<_>>()
        .join("; ")
}
