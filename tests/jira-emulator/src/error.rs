//! The crate's one error type: what the Rust API returns, and (through `http`) the Jira Cloud
//! error body the REST API answers with.

use std::collections::BTreeMap;

/// Everything that can go wrong starting or driving the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not listen.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The configured workflow is not usable (unknown status names, no statuses, duplicate ids).
    #[error("invalid workflow: {0}")]
    InvalidWorkflow(String),
    /// No issue with this key or id (also: deleted).
    #[error("issue {0} does not exist")]
    IssueNotFound(String),
    /// No user with this accountId.
    #[error("user {0} does not exist")]
    UserNotFound(String),
    /// No comment with this id on the issue.
    #[error("comment {0} does not exist")]
    CommentNotFound(String),
    /// No attachment with this id.
    #[error("attachment {0} does not exist")]
    AttachmentNotFound(String),
    /// No issue property with this key.
    #[error("issue property {0} does not exist")]
    PropertyNotFound(String),
    /// The workflow has no path from the issue's status to the requested one.
    #[error("no workflow path from {from} to {to}")]
    StatusUnreachable { from: String, to: String },
    /// The attachment is larger than the configured limit.
    #[error("attachment of {size} bytes exceeds the limit of {limit} bytes")]
    AttachmentTooLarge { size: u64, limit: u64 },
    /// Jira's 400: request-level messages and per-field errors.
    #[error("invalid request: {}", describe_validation(.messages, .errors))]
    Validation {
        messages: Vec<String>,
        errors: BTreeMap<String, String>,
    },
}

impl Error {
    /// A 400 with one request-level message.
    pub(crate) fn bad_request(message: impl Into<String>) -> Error {
        Error::Validation {
            messages: vec![message.into()],
            errors: BTreeMap::new(),
        }
    }

    /// A 400 with one field error.
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Validation {
            messages: Vec::new(),
            errors: BTreeMap::from([(field.into(), message.into())]),
        }
    }
}

fn describe_validation(messages: &[String], errors: &BTreeMap<String, String>) -> String {
    messages
        .iter()
        .cloned()
        .chain(
            errors
                .iter()
                .map(|(field, message)| format!("{field}: {message}")),
        )
        .collect::<Vec<_>>()
        .join("; ")
}
