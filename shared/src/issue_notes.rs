//! What the integration has already said on a Jira issue (a closure note, the watchers no Jira
//! account matches, the items Jira refused, where the case created for the issue is…), so that
//! no redelivery or later event says it again.
//!
//! Each direction has its own section type, kept in its own issue property:
//! [`SirToJiraNotes`] (jira-client) in [`SirToJiraNotes::PROPERTY`] and [`JiraToSirNotes`]
//! (sir-client) in [`JiraToSirNotes::PROPERTY`]. They are not one property because the two
//! writers run under different claims (the case's and the issue's) and can write at the same
//! moment, while Jira replaces an entity property only whole and never conditionally: with one
//! property, one side's write could undo the other's and a note would be posted twice.
//!
//! An unreadable property (edited by hand, written by a future release) is read as empty with a
//! warning: the cost is one note said again, never a sync that stops.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jira::{JiraApi, JiraIssue};
use crate::sync_status::OpenProblem;

/// The issue properties of the notes, both directions (read with the issue: see
/// [`crate::jira::JiraIssue::notes_properties`]).
pub const NOTES_PROPERTIES: [&str; 2] = [SirToJiraNotes::PROPERTY, JiraToSirNotes::PROPERTY];

/// One direction's section of the notes: its type says which issue property holds it.
pub trait IssueNotes: Serialize + DeserializeOwned + Default + Send + Sync {
    /// The issue property (entity property key) that holds this section.
    const PROPERTY: &'static str;
    /// When this direction last finished an event for the pair without error (RFC 3339, UTC),
    /// to within [`crate::sync_status::LAST_SYNC_RESOLUTION`].
    fn last_synced_at(&self) -> Option<&str>;
    fn set_last_synced_at(&mut self, at: String);
    /// This direction's open sync problems (see [`crate::sync_status`]), by item.
    fn open_problems(&self) -> &BTreeMap<String, OpenProblem>;
    fn open_problems_mut(&mut self) -> &mut BTreeMap<String, OpenProblem>;
    /// The refused items said on the issue already (each is said, and is a problem, once).
    fn reported_refusals(&self) -> &BTreeSet<String>;
}

/// The section `N` as stored on the issue; empty when the issue has none or it is unreadable.
pub async fn read_notes<N: IssueNotes>(jira: &dyn JiraApi, issue_key: &str) -> Result<N> {
    let Some(value) = jira.issue_property(issue_key, N::PROPERTY).await? else {
        return Ok(N::default());
    };
    Ok(notes_from(issue_key, value))
}

/// The section `N` as it was when `issue` was read (no request).
pub fn notes_read_with<N: IssueNotes>(issue: &JiraIssue) -> N {
    issue
        .notes_properties
        .get(N::PROPERTY)
        .map(|value| notes_from(&issue.key, value.clone()))
        .unwrap_or_default()
}

fn notes_from<N: IssueNotes>(issue_key: &str, value: serde_json::Value) -> N {
    serde_json::from_value(value).unwrap_or_else(|error| {
        tracing::warn!(
            issue_key,
            property = N::PROPERTY,
            %error,
            "unreadable integration notes on the issue; starting afresh"
        );
        N::default()
    })
}

/// Replaces the section `N` stored on the issue with `notes`.
pub async fn write_notes<N: IssueNotes>(
    jira: &dyn JiraApi,
    issue_key: &str,
    notes: &N,
) -> Result<()> {
    let value = serde_json::to_value(notes).map_err(Error::json("issue notes"))?;
    jira.set_issue_property(issue_key, N::PROPERTY, &value)
        .await
}

/// What jira-client has said on the issue of a case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SirToJiraNotes {
    /// The closure comment was posted.
    #[serde(default)]
    pub closure_reported: bool,
    /// Watcher e-mails already reported as having no Jira account.
    #[serde(default)]
    pub reported_unresolved_watchers: BTreeSet<String>,
    /// Items Jira refused (a watcher, a comment, an attachment, a status change), as named in
    /// the comment that reported them.
    #[serde(default)]
    pub reported_refusals: BTreeSet<String>,
    /// What could not be synced to the issue and is not solved yet (the sync status).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open_problems: BTreeMap<String, OpenProblem>,
    /// When this direction last synced the pair (see [`IssueNotes::last_synced_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
    /// The labels each SIR field mapped to the system labels last put on the issue (see
    /// [`crate::field_mapping::JiraFieldKind::SystemLabels`]): a value that leaves the case
    /// takes its label off the issue, while labels people added stay, and a field no longer
    /// mapped takes none off. `None` on an issue synced before they were kept: nothing is
    /// removed until they are.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub mapped_labels: Option<BTreeMap<crate::field_mapping::MappedSirField, BTreeSet<String>>>,
}

/// A field of the notes read as `None` when it has another shape (written by an earlier or a
/// later release), rather than making the whole section unreadable: the rest of the notes (what
/// was said already) must survive.
fn lenient<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

impl IssueNotes for SirToJiraNotes {
    const PROPERTY: &'static str = "sir-integration";
    fn last_synced_at(&self) -> Option<&str> {
        self.last_synced_at.as_deref()
    }
    fn set_last_synced_at(&mut self, at: String) {
        self.last_synced_at = Some(at);
    }
    fn open_problems(&self) -> &BTreeMap<String, OpenProblem> {
        &self.open_problems
    }
    fn open_problems_mut(&mut self) -> &mut BTreeMap<String, OpenProblem> {
        &mut self.open_problems
    }
    fn reported_refusals(&self) -> &BTreeSet<String> {
        &self.reported_refusals
    }
}

/// What sir-client has said on an issue it copies to a case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraToSirNotes {
    /// The comment naming the case created for the issue was posted.
    #[serde(default)]
    pub case_announced: bool,
    /// The comment saying the case is closed (changes no longer copied) was posted.
    #[serde(default)]
    pub closed_case_reported: bool,
    /// The items SIR refused for good (a status change, a comment, an attachment), each
    /// reported once.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub reported_refusals: BTreeSet<String>,
    /// What could not be synced to the case and is not solved yet (the sync status).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open_problems: BTreeMap<String, OpenProblem>,
    /// When this direction last synced the pair (see [`IssueNotes::last_synced_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
}

impl IssueNotes for JiraToSirNotes {
    const PROPERTY: &'static str = "sir-integration-from-jira";
    fn last_synced_at(&self) -> Option<&str> {
        self.last_synced_at.as_deref()
    }
    fn set_last_synced_at(&mut self, at: String) {
        self.last_synced_at = Some(at);
    }
    fn open_problems(&self) -> &BTreeMap<String, OpenProblem> {
        &self.open_problems
    }
    fn open_problems_mut(&mut self) -> &mut BTreeMap<String, OpenProblem> {
        &mut self.open_problems
    }
    fn reported_refusals(&self) -> &BTreeSet<String> {
        &self.reported_refusals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_read_back_with_missing_fields_defaulted() {
        let notes: SirToJiraNotes =
            serde_json::from_value(serde_json::json!({"closureReported": true}))
                .unwrap_or_default();
        assert!(notes.closure_reported);
        assert!(notes.reported_unresolved_watchers.is_empty());
        let notes: JiraToSirNotes =
            serde_json::from_value(serde_json::json!({"caseAnnounced": true})).unwrap_or_default();
        assert!(notes.case_announced);
        assert!(!notes.closed_case_reported);
    }

    #[test]
    fn mapped_labels_of_another_shape_leave_the_rest_of_the_notes_readable() {
        let notes: SirToJiraNotes = serde_json::from_value(serde_json::json!({
            "closureReported": true,
            "mappedLabels": ["eu-west-1"]
        }))
        .unwrap_or_default();
        assert!(notes.closure_reported, "what was said already survives");
        assert_eq!(notes.mapped_labels, None);
        let notes: SirToJiraNotes = serde_json::from_value(serde_json::json!({
            "mappedLabels": {"impactedRegions": ["eu-west-1"]}
        }))
        .unwrap_or_default();
        assert_eq!(
            notes.mapped_labels.map(|m| m.len()),
            Some(1),
            "the current shape reads"
        );
    }

    #[test]
    fn each_direction_has_its_own_property() {
        assert_ne!(SirToJiraNotes::PROPERTY, JiraToSirNotes::PROPERTY);
    }
}
