//! The identity every comment the integration writes in Jira carries, so that a retry finds a
//! comment that landed before its invocation failed (a crash, a timeout, a lost answer) instead
//! of posting it a second time.
//!
//! The identity is a comment property, [`MARKER_PROPERTY`], sent in the add-comment request
//! itself (Jira's create-comment body takes `properties`), so a comment never exists without
//! it; comments are read back with `expand=properties` ([`crate::jira::JiraApi::comments`]).
//! Writers look first ([`post_once`], [`MarkedComments`]) and record after: a crash between the
//! comment and its record (an id map, the issue notes, a label) costs a look, never a copy.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::jira::JiraApi;

/// The comment property holding a [`CommentMarker`].
pub const MARKER_PROPERTY: &str = "sir-integration-item";

/// What an integration-made comment is: its kind, the case it is about and, for a copy or a note
/// about one item, the SIR id of that item; a note listing items (watchers, refusals) lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentMarker {
    pub kind: String,
    pub sir_case_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sir_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub items: BTreeSet<String>,
}

/// [`CommentMarker::kind`] of a copy of a SIR comment.
pub const KIND_SIR_COMMENT: &str = "sir-comment";
/// The note saying a SIR attachment was too large for Jira.
pub const KIND_ATTACHMENT_REFUSED: &str = "sir-attachment-too-large";
/// The note saying the case was closed (and its closure code).
pub const KIND_CASE_CLOSED: &str = "case-closed";
/// The note saying the case was deleted in SIR.
pub const KIND_CASE_DELETED: &str = "case-deleted";
/// The note listing watcher e-mails no Jira account matches.
pub const KIND_UNRESOLVED_WATCHERS: &str = "unresolved-watchers";
/// The note listing items Jira refused.
pub const KIND_JIRA_REFUSALS: &str = "jira-refused-items";
/// sir-client's note naming the case created for the issue.
pub const KIND_CASE_CREATED: &str = "case-created";
/// sir-client's note naming an item SIR refused.
pub const KIND_SIR_REFUSAL: &str = "sir-refused-item";
/// sir-client's note saying the case is closed, so issue changes are no longer copied.
pub const KIND_CLOSED_CASE_CHANGES: &str = "closed-case-changes";

impl CommentMarker {
    /// A marker of `kind` about the case as a whole.
    pub fn note(kind: &str, case_id: &str) -> Self {
        CommentMarker {
            kind: kind.to_owned(),
            sir_case_id: case_id.to_owned(),
            sir_id: None,
            items: BTreeSet::new(),
        }
    }

    /// A marker of `kind` about one SIR item (a comment, an attachment) of the case.
    pub fn item(kind: &str, case_id: &str, sir_id: &str) -> Self {
        CommentMarker {
            sir_id: Some(sir_id.to_owned()),
            ..CommentMarker::note(kind, case_id)
        }
    }

    /// A marker of `kind` listing `items` (watcher e-mails, refused items).
    pub fn listing(kind: &str, case_id: &str, items: impl IntoIterator<Item = String>) -> Self {
        CommentMarker {
            items: items.into_iter().collect(),
            ..CommentMarker::note(kind, case_id)
        }
    }

    /// The same comment as `other`: kind, case and SIR id (the listed items do not count).
    pub fn same_identity(&self, other: &CommentMarker) -> bool {
        self.kind == other.kind
            && self.sir_case_id == other.sir_case_id
            && self.sir_id == other.sir_id
    }
}

/// The integration's marked comments on one issue, read once and kept up to date with the
/// comments posted through it.
#[derive(Debug, Clone, Default)]
pub struct MarkedComments {
    comments: Vec<(String, CommentMarker)>,
}

impl MarkedComments {
    /// The marked comments of the issue `key`.
    pub async fn load(jira: &dyn JiraApi, key: &str) -> Result<Self> {
        let comments = jira
            .comments(key)
            .await?
            .into_iter()
            .filter_map(|comment| comment.marker.map(|marker| (comment.id, marker)))
            .collect();
        Ok(MarkedComments { comments })
    }

    /// The id of the comment with `marker`'s identity, if one is on the issue.
    pub fn find(&self, marker: &CommentMarker) -> Option<&str> {
        self.comments
            .iter()
            .find(|(_, found)| found.same_identity(marker))
            .map(|(id, _)| id.as_str())
    }

    /// Every item listed by the comments of `kind` about `case_id`.
    pub fn listed(&self, kind: &str, case_id: &str) -> BTreeSet<String> {
        self.comments
            .iter()
            .filter(|(_, marker)| marker.kind == kind && marker.sir_case_id == case_id)
            .flat_map(|(_, marker)| marker.items.iter().cloned())
            .collect()
    }

    /// Posts `text` with `marker` unless a comment with its identity is there already.
    pub async fn post_once(
        &mut self,
        jira: &dyn JiraApi,
        key: &str,
        text: &str,
        marker: &CommentMarker,
    ) -> Result<Posted> {
        if let Some(id) = self.find(marker) {
            tracing::info!(
                issue_key = key,
                comment_id = id,
                kind = marker.kind,
                "the comment is already on the issue (an earlier try posted it); not posting again"
            );
            return Ok(Posted::Found(id.to_owned()));
        }
        let id = jira.add_comment(key, text, marker).await?;
        self.comments.push((id.clone(), marker.clone()));
        Ok(Posted::New(id))
    }
}

/// The comment a write ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Posted now.
    New(String),
    /// Found: an earlier try had posted it.
    Found(String),
}

impl Posted {
    /// The comment's id.
    pub fn id(&self) -> &str {
        match self {
            Posted::New(id) | Posted::Found(id) => id,
        }
    }

    pub fn into_id(self) -> String {
        match self {
            Posted::New(id) | Posted::Found(id) => id,
        }
    }

    /// Whether it was posted now.
    pub fn is_new(&self) -> bool {
        matches!(self, Posted::New(_))
    }
}

/// Posts `text` on the issue with `marker` unless a comment with its identity is there (one read
/// of the issue's comments first).
pub async fn post_once(
    jira: &dyn JiraApi,
    key: &str,
    text: &str,
    marker: &CommentMarker,
) -> Result<Posted> {
    MarkedComments::load(jira, key)
        .await?
        .post_once(jira, key, text, marker)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_kind_case_and_sir_id_not_the_listed_items() {
        let copy = CommentMarker::item(KIND_SIR_COMMENT, "1234567890", "c-1");
        assert!(copy.same_identity(&CommentMarker::item(KIND_SIR_COMMENT, "1234567890", "c-1")));
        assert!(!copy.same_identity(&CommentMarker::item(KIND_SIR_COMMENT, "1234567890", "c-2")));
        assert!(!copy.same_identity(&CommentMarker::note(KIND_SIR_COMMENT, "1234567890")));
        let listing = CommentMarker::listing(KIND_UNRESOLVED_WATCHERS, "1", ["a@x".to_owned()]);
        assert!(listing.same_identity(&CommentMarker::note(KIND_UNRESOLVED_WATCHERS, "1")));
    }

    #[test]
    fn marker_reads_back_from_its_json() {
        let marker = CommentMarker::listing(KIND_JIRA_REFUSALS, "1", ["watcher a".to_owned()]);
        let json = serde_json::to_value(&marker).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"kind": "jira-refused-items", "sirCaseId": "1", "items": ["watcher a"]})
        );
        assert_eq!(
            serde_json::from_value::<CommentMarker>(json).ok(),
            Some(marker)
        );
    }
}
