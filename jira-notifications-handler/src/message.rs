//! The Jira Automation message, treated as untrusted input.
//!
//! Jira Automation's "Publish to Amazon SNS" action sends the rule's custom data, which our rules
//! set to `{"automationData":{"IssueId":"{{issue.key}}"}}` (a delete rule may add
//! `"Event":"issue_deleted"`), and since issue 15 `"Initiator":"{{initiator.accountId}}"`, the
//! account whose action fired the rule. Anyone able to publish to the topic can send anything, so
//! a message is accepted only when it is small, is JSON of that shape (extra keys are ignored) and
//! names an issue key of the configured project. The issue itself is always re-read from Jira; the
//! initiator is used only to skip the re-read when the integration itself made the change (a
//! forged initiator can only make the handler ignore that forged message: the real one Jira sends
//! for a person's change names the person).

use serde_json::Value;
use shared::config::is_issue_key_of;

/// The largest message accepted, in bytes. Automation's message is about 50 bytes; anything
/// near SNS's 256 KB limit is not from our rules.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// The longest initiator accepted (Jira Cloud accountIds are at most 128 characters).
const MAX_INITIATOR_CHARS: usize = 128;

/// How much of an untrusted value a log line shows.
const SHOWN_CHARS: usize = 40;

/// A message that passed validation: the one thing it is trusted to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub issue_key: String,
    /// The rule said the issue was deleted (only a hint: the issue is re-read anyway).
    pub deleted_hint: bool,
    /// The accountId the rule names as the one whose action fired it, when it names a
    /// well-formed one (an older rule without `Initiator`, an empty or odd value: `None`).
    pub initiator: Option<String>,
}

/// Why a message was rejected. Each is permanent: the same message will never be accepted, so
/// it is logged and dropped rather than retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("message of {bytes} bytes is larger than the {MAX_MESSAGE_BYTES} bytes accepted")]
    Oversized { bytes: usize },
    #[error("message is not JSON: {reason}")]
    NotJson { reason: String },
    #[error("message has no automationData.IssueId string")]
    MissingKey,
    #[error("IssueId {shown} is not an issue key")]
    IllFormedKey { shown: String },
    #[error("IssueId {shown} is not an issue of project {project_key}")]
    OtherProject { shown: String, project_key: String },
}

impl Rejection {
    /// A short name for the rejection class (log field, report).
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Oversized { .. } => "oversized",
            Rejection::NotJson { .. } => "not-json",
            Rejection::MissingKey => "missing-key",
            Rejection::IllFormedKey { .. } => "ill-formed-key",
            Rejection::OtherProject { .. } => "other-project",
        }
    }
}

/// An untrusted value as it may appear in a log line: quoted, escaped, clipped.
pub(crate) fn shown(value: &str) -> String {
    let clipped: String = value.chars().take(SHOWN_CHARS).collect();
    let more = if value.chars().count() > SHOWN_CHARS {
        "…"
    } else {
        ""
    };
    format!("{clipped:?}{more}")
}

/// Validates one SNS message body against the configured project.
pub fn parse_notification(message: &str, project_key: &str) -> Result<Notification, Rejection> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::Oversized {
            bytes: message.len(),
        });
    }
    let value: Value = serde_json::from_str(message).map_err(|e| Rejection::NotJson {
        reason: e.to_string(),
    })?;
    let data = value.get("automationData").ok_or(Rejection::MissingKey)?;
    let key = data
        .get("IssueId")
        .and_then(Value::as_str)
        .ok_or(Rejection::MissingKey)?;
    match check_issue_key(key, project_key) {
        Ok(()) => {}
        Err(KeyProblem::IllFormed) => return Err(Rejection::IllFormedKey { shown: shown(key) }),
        Err(KeyProblem::OtherProject) => {
            return Err(Rejection::OtherProject {
                shown: shown(key),
                project_key: project_key.to_owned(),
            });
        }
    }
    let deleted_hint = data
        .get("Event")
        .or_else(|| value.get("Event"))
        .and_then(Value::as_str)
        .is_some_and(|event| event.eq_ignore_ascii_case("issue_deleted"));
    let initiator = data
        .get("Initiator")
        .and_then(Value::as_str)
        .filter(|id| is_account_id(id))
        .map(str::to_owned);
    Ok(Notification {
        issue_key: key.to_owned(),
        deleted_hint,
        initiator,
    })
}

/// What is wrong with an untrusted issue key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyProblem {
    IllFormed,
    OtherProject,
}

/// Whether untrusted `key` is an issue key of the project `project_key`.
pub(crate) fn check_issue_key(key: &str, project_key: &str) -> Result<(), KeyProblem> {
    let well_formed = key
        .rsplit_once('-')
        .is_some_and(|(project, _)| is_issue_key_of(key, project));
    if !well_formed {
        return Err(KeyProblem::IllFormed);
    }
    if !is_issue_key_of(key, project_key) {
        return Err(KeyProblem::OtherProject);
    }
    Ok(())
}

/// Whether `id` looks like a Jira accountId (`5b10a2844c20165700ede21g`,
/// `557058:f58131cb-b67d-43c7-b30d-6b58d40bd077`): short, of letters, digits, `:`, `_`, `-`.
pub(crate) fn is_account_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INITIATOR_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
}

/// The longest Jira Data Center user name.
const MAX_USER_NAME_CHARS: usize = 255;

/// Whether `name` can be a Jira Data Center user name: up to 255 characters, none of them a
/// control character.
pub(crate) fn is_user_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_USER_NAME_CHARS
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(message: &str) -> Notification {
        match parse_notification(message, "SEC") {
            Ok(n) => n,
            Err(e) => panic!("{message} was rejected: {e}"),
        }
    }

    fn rejected(message: &str) -> Rejection {
        match parse_notification(message, "SEC") {
            Ok(n) => panic!("{message} was accepted as {n:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn automation_message_names_the_issue() {
        let n = accepted(r#"{"automationData":{"IssueId":"SEC-12"}}"#);
        assert_eq!(n.issue_key, "SEC-12");
        assert!(!n.deleted_hint);
    }

    #[test]
    fn extra_keys_are_tolerated_and_the_delete_hint_is_read() {
        let n = accepted(
            r#"{"automationData":{"IssueId":"SEC-7","Event":"issue_deleted","x":[1]},"other":true}"#,
        );
        assert_eq!(n.issue_key, "SEC-7");
        assert!(n.deleted_hint);
    }

    #[test]
    fn a_well_formed_initiator_is_read_and_an_odd_one_is_ignored() {
        let n = accepted(
            r#"{"automationData":{"IssueId":"SEC-3","Initiator":"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"}}"#,
        );
        assert_eq!(
            n.initiator.as_deref(),
            Some("557058:f58131cb-b67d-43c7-b30d-6b58d40bd077")
        );
        assert_eq!(
            accepted(r#"{"automationData":{"IssueId":"SEC-3"}}"#).initiator,
            None
        );
        for odd in [
            r#""""#,
            r#""a b""#,
            r#""x\ny""#,
            r#"12"#,
            r#""{{initiator.accountId}}""#,
        ] {
            let n = accepted(&format!(
                r#"{{"automationData":{{"IssueId":"SEC-3","Initiator":{odd}}}}}"#
            ));
            assert_eq!(n.initiator, None, "{odd}");
        }
        let long = format!(
            r#"{{"automationData":{{"IssueId":"SEC-3","Initiator":"{}"}}}}"#,
            "a".repeat(MAX_INITIATOR_CHARS + 1)
        );
        assert_eq!(accepted(&long).initiator, None);
    }

    #[test]
    fn each_malformed_class_is_rejected_by_name() {
        assert_eq!(rejected("{not json").kind(), "not-json");
        assert_eq!(rejected("").kind(), "not-json");
        assert_eq!(rejected(r#"{"automationData":{}}"#).kind(), "missing-key");
        assert_eq!(rejected(r#"{"IssueId":"SEC-1"}"#).kind(), "missing-key");
        assert_eq!(
            rejected(r#"{"automationData":{"IssueId":12}}"#).kind(),
            "missing-key"
        );
        assert_eq!(
            rejected(r#"{"automationData":{"IssueId":"12"}}"#).kind(),
            "ill-formed-key"
        );
        assert_eq!(
            rejected(r#"{"automationData":{"IssueId":"SEC-1\" OR 1=1"}}"#).kind(),
            "ill-formed-key"
        );
        assert_eq!(
            rejected(r#"{"automationData":{"IssueId":"SEC-01"}}"#).kind(),
            "ill-formed-key"
        );
        assert_eq!(
            rejected(r#"{"automationData":{"IssueId":"OPS-12"}}"#).kind(),
            "other-project"
        );
        let big = format!(
            r#"{{"automationData":{{"IssueId":"SEC-1","pad":"{}"}}}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(rejected(&big).kind(), "oversized");
    }

    #[test]
    fn untrusted_values_are_clipped_and_escaped_in_messages() {
        let long = format!(
            r#"{{"automationData":{{"IssueId":"OPS-1{}"}}}}"#,
            "9".repeat(100)
        );
        let text = rejected(&long).to_string();
        assert!(text.len() < 120, "{text}");
        let text =
            rejected("{\"automationData\":{\"IssueId\":\"SEC-1\\nforged log line\"}}").to_string();
        assert!(!text.contains('\n'), "{text}");
    }
}
