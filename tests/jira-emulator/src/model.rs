//! The emulator's records: users, issues with everything on them, who did what, and the requests
//! it answered. These are what tests read back through `JiraEmulator::issue` and friends.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

/// A Jira Cloud user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Cloud accountId; left empty, `add_user` generates one.
    #[serde(default)]
    pub account_id: String,
    pub display_name: String,
    /// `None` when the user's profile visibility hides it (the API then never shows it and
    /// user search never matches it).
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

impl User {
    /// An active user with a visible e-mail and a generated accountId.
    pub fn new(display_name: impl Into<String>, email: impl Into<String>) -> User {
        User {
            account_id: String::new(),
            display_name: display_name.into(),
            email: Some(email.into()),
            active: true,
        }
    }

    /// An active user whose e-mail is hidden by privacy settings.
    pub fn with_hidden_email(display_name: impl Into<String>) -> User {
        User {
            account_id: String::new(),
            display_name: display_name.into(),
            email: None,
            active: true,
        }
    }
}

/// A rich-text value given through the Rust or admin API: plain text (converted to paragraphs)
/// or an ADF document (validated as the REST API does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RichText {
    Plain(String),
    Adf(Value),
}

impl From<&str> for RichText {
    fn from(text: &str) -> RichText {
        RichText::Plain(text.to_owned())
    }
}

impl From<String> for RichText {
    fn from(text: String) -> RichText {
        RichText::Plain(text)
    }
}

impl From<Value> for RichText {
    fn from(document: Value) -> RichText {
        RichText::Adf(document)
    }
}

/// An issue a human creates through the Rust or admin API (always in the configured project).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIssue {
    pub summary: String,
    #[serde(default)]
    pub description: Option<RichText>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "task")]
    pub issue_type: String,
    /// Custom field values by id, checked against the site's fields as a create screen does.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Value>,
}

fn task() -> String {
    "Task".to_owned()
}

impl NewIssue {
    /// A Task with this summary, no description and no labels.
    pub fn new(summary: impl Into<String>) -> NewIssue {
        NewIssue {
            summary: summary.into(),
            description: None,
            labels: Vec::new(),
            issue_type: task(),
            custom_fields: BTreeMap::new(),
        }
    }
}

/// A human's edit through the Rust or admin API; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueEdit {
    pub summary: Option<String>,
    pub description: Option<RichText>,
    /// Replaces all labels.
    pub labels: Option<Vec<String>>,
}

/// Everything the emulator holds about one issue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueRecord {
    pub id: String,
    pub key: String,
    pub project_key: String,
    pub issue_type: String,
    pub summary: String,
    /// ADF document, `None` when empty.
    pub description: Option<Value>,
    pub status: String,
    pub labels: Vec<String>,
    /// accountIds.
    pub watchers: Vec<String>,
    pub comments: Vec<CommentRecord>,
    pub attachments: Vec<AttachmentRecord>,
    pub properties: BTreeMap<String, Value>,
    /// Custom field values by field id (unset ones absent).
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Value>,
    /// accountId of who created it.
    pub creator: String,
    pub reporter: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created: OffsetDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated: OffsetDateTime,
    /// Every change, oldest first, with who made it.
    pub history: Vec<HistoryEntry>,
    /// The issue as it was before its recent writes, oldest first: what a lagging search index
    /// still holds (see [`IssueRecord::as_indexed_at`]).
    #[serde(skip)]
    pub earlier_versions: Vec<IssueRecord>,
}

/// Versions older than this are dropped once a newer one is this old too: no search lag is
/// longer.
const LONGEST_SEARCH_LAG: time::Duration = time::Duration::minutes(10);

impl IssueRecord {
    /// When this version was written.
    fn written(&self) -> OffsetDateTime {
        self.updated.max(self.created)
    }

    /// The issue as an index that has caught up with writes up to `cutoff` holds it: the
    /// latest version written by then, `None` if it was created after. Cloud's index lags: an
    /// issue changed a moment ago is still found, by its earlier fields.
    pub(crate) fn as_indexed_at(&self, cutoff: OffsetDateTime) -> Option<&IssueRecord> {
        if self.written() <= cutoff {
            return Some(self);
        }
        self.earlier_versions
            .iter()
            .rev()
            .find(|version| version.written() <= cutoff)
    }

    /// Keeps `before` (this issue before a write at `at`) for the lagging index, dropping the
    /// versions no lag can still show.
    pub(crate) fn keep_earlier_version(&mut self, mut before: IssueRecord, at: OffsetDateTime) {
        before.earlier_versions.clear();
        self.earlier_versions.push(before);
        let horizon = at - LONGEST_SEARCH_LAG;
        while self
            .earlier_versions
            .get(1)
            .is_some_and(|next| next.written() <= horizon)
        {
            self.earlier_versions.remove(0);
        }
    }
}

/// One comment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentRecord {
    pub id: String,
    /// ADF document.
    pub body: Value,
    /// accountId.
    pub author: String,
    /// accountId of the last editor.
    pub update_author: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created: OffsetDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated: OffsetDateTime,
    /// Comment properties (entity properties of the comment), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
}

/// One attachment and its bytes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRecord {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    #[serde(skip)]
    pub bytes: Bytes,
    /// accountId.
    pub author: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created: OffsetDateTime,
}

/// Who did what to an issue, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    #[serde(serialize_with = "serialize_timestamp")]
    pub at: OffsetDateTime,
    /// accountId of whoever did it.
    pub account_id: String,
    pub action: IssueAction,
}

/// The kinds of change recorded in an issue's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum IssueAction {
    Created,
    /// summary, description (as plain text) or labels (space-separated).
    FieldChanged {
        field: String,
        from: Option<String>,
        to: Option<String>,
    },
    Transitioned {
        transition_id: String,
        from: String,
        to: String,
    },
    Commented {
        comment_id: String,
    },
    CommentEdited {
        comment_id: String,
    },
    CommentDeleted {
        comment_id: String,
    },
    Attached {
        attachment_id: String,
        filename: String,
    },
    AttachmentDeleted {
        attachment_id: String,
        filename: String,
    },
    WatcherAdded {
        account_id: String,
    },
    WatcherRemoved {
        account_id: String,
    },
    PropertySet {
        key: String,
    },
    PropertyDeleted {
        key: String,
    },
    Deleted,
}

/// One request the REST API answered (the admin API is not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// accountId of the authenticated caller, `None` when unauthenticated.
    pub account_id: Option<String>,
    pub status: u16,
}

/// One request the media host (where attachment downloads are redirected) answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRequest {
    pub path: String,
    /// Whether it carried an `Authorization` header (refused: Jira credentials must not leave
    /// the Jira site).
    pub authorization: bool,
    pub accept: Option<String>,
    pub status: u16,
}

/// Jira's timestamp format, e.g. `2024-05-01T12:34:56.789+0000`.
pub(crate) fn jira_timestamp(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
    );
    at.format(FORMAT).unwrap_or_else(|_| at.to_string())
}

fn serialize_timestamp<S: Serializer>(
    at: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&jira_timestamp(*at))
}
