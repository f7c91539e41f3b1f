//! The sync status a responder sees on the Jira issue: whether the pair is in sync, without
//! CloudWatch or the dead-letter queues.
//!
//! - Each direction keeps its **open problems** (an item the other side refused for good, with
//!   why and since when) in its own section of the issue notes ([`crate::issue_notes`]; two
//!   properties because the two writers run under different claims).
//! - While either direction has one, the issue carries the label [`PROBLEM_LABEL`], so the JQL
//!   `labels = sir-sync-problem` lists every pair that needs attention.
//! - A problem is solved when its item goes through later (the next change, an audit); the label
//!   goes when neither direction has one left. A responder who dealt with a problem by hand
//!   removes the label: a direction that then finds its problems listed and the label gone takes
//!   them as dealt with. Each item is a problem once: refused again after it was solved or dealt
//!   with (a refused comment is tried with every change), it does not come back.
//! - Each new problem is said once, in plain words, on the issue and on the case, by the writer
//!   that met it. A failure a retry fixes (429, 5xx, a timeout) is no problem: it is retried,
//!   never said.
//!
//! - Each direction also keeps when it last synced the pair (`lastSyncedAt` in its notes): the
//!   end of its last event for the pair that finished without error. It is written at most once
//!   per [`LAST_SYNC_RESOLUTION`], so it costs no request on most events (the notes come with the
//!   issue read) and one write, plus one read, at most every five minutes of activity.
//!
//! The label is written before the notes, so a crash in between leaves a label with no problem
//! (removed by the next look, which finds none) rather than a problem that looks dealt with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::now_epoch_seconds;
use crate::error::Result;
use crate::issue_notes::{IssueNotes, notes_read_with, read_notes, write_notes};
use crate::jira::{JiraApi, JiraIssue};

/// The label an issue carries while its pair has an open sync problem.
pub const PROBLEM_LABEL: &str = "sir-sync-problem";

/// How stale [`IssueNotes::last_synced_at`] may be: it is written again only once older than
/// this, so a burst of changes costs one write.
pub const LAST_SYNC_RESOLUTION: Duration = Duration::from_secs(5 * 60);

/// One item that could not be synced, until it is solved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenProblem {
    /// Why, as the refusing side said it.
    pub reason: String,
    /// When it was first met (RFC 3339, UTC).
    pub since: String,
}

/// What one event met, item by item, in its direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemOutcomes {
    /// Items refused for good, with the reason.
    pub refused: Vec<(String, String)>,
    /// Items that went through (solving any open problem of the same name).
    pub went_through: BTreeSet<String>,
}

impl ItemOutcomes {
    /// Whether the notes must be read: something was refused, or the issue carries the label and
    /// something went through (it may solve a problem). Otherwise nothing can change, and the
    /// event costs no request for the status.
    pub fn worth_a_look(&self, labelled: bool) -> bool {
        !self.refused.is_empty() || (labelled && !self.went_through.is_empty())
    }
}

/// Now, as [`OpenProblem::since`] holds it.
pub fn now_rfc3339() -> String {
    let seconds = i64::try_from(now_epoch_seconds()).unwrap_or(i64::MAX);
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Brings the open problems of `notes` (this direction's section, read from the issue) up to
/// date with one event's `outcomes`, and the label with them; `labelled` is whether the issue
/// read by this event carries [`PROBLEM_LABEL`]. Returns whether `notes` changed (the caller
/// writes them, after anything it posts). `Other` is the other direction's section, read only
/// to decide whether the label may go.
pub async fn update_open_problems<N: IssueNotes, Other: IssueNotes>(
    jira: &dyn JiraApi,
    key: &str,
    labelled: bool,
    notes: &mut N,
    outcomes: &ItemOutcomes,
) -> Result<bool> {
    let said_before = notes.reported_refusals().clone();
    let open = notes.open_problems_mut();
    let before: BTreeMap<String, OpenProblem> = open.clone();
    if !labelled && !open.is_empty() {
        tracing::info!(
            issue_key = key,
            problems = ?open.keys().collect::<Vec<_>>(),
            "the sync-problem label was removed: the listed problems were dealt with"
        );
        open.clear();
    }
    for item in &outcomes.went_through {
        open.remove(item);
    }
    let now = now_rfc3339();
    // An item said before and no longer open was solved or dealt with: refused again (it is
    // tried with every change), it stays closed rather than coming back after a responder
    // removed the label.
    for (item, reason) in &outcomes.refused {
        if !open.contains_key(item) && !said_before.contains(item) {
            open.insert(
                item.clone(),
                OpenProblem {
                    reason: reason.clone(),
                    since: now.clone(),
                },
            );
        }
    }
    if !open.is_empty() && !labelled {
        jira.add_label(key, PROBLEM_LABEL).await?;
    } else if open.is_empty() && labelled {
        let other: Other = read_notes(jira, key).await?;
        if other.open_problems().is_empty() {
            jira.remove_label(key, PROBLEM_LABEL).await?;
            // The other direction may have labelled a new problem in between (its notes come
            // after its label): look again, and put the label back for it.
            let other: Other = read_notes(jira, key).await?;
            if !other.open_problems().is_empty() {
                jira.add_label(key, PROBLEM_LABEL).await?;
            }
        }
    }
    Ok(*notes.open_problems() != before)
}

/// After an event of `N`'s direction finished for the pair without error: its last sync time set
/// to now, unless the notes read with `issue` (at the event's start) hold one younger than
/// [`LAST_SYNC_RESOLUTION`]. The notes are read again before the write, because the event may
/// have written them since. Informational, so best effort: the event's sync is done, and a
/// failed write is logged rather than failing it (a redelivery would redo the whole sync for a
/// timestamp); the next event writes it again.
pub async fn record_last_sync<N: IssueNotes>(jira: &dyn JiraApi, issue: &JiraIssue) {
    if let Err(error) = write_last_sync::<N>(jira, issue).await {
        tracing::warn!(
            issue_key = issue.key,
            property = N::PROPERTY,
            error = &error as &dyn std::error::Error,
            "could not record the last sync time on the issue"
        );
    }
}

/// [`record_last_sync`]'s work; whether it wrote.
async fn write_last_sync<N: IssueNotes>(jira: &dyn JiraApi, issue: &JiraIssue) -> Result<bool> {
    let now = now_epoch_seconds();
    let recent = |notes: &N| notes.last_synced_at().is_some_and(|at| is_recent(at, now));
    if recent(&notes_read_with::<N>(issue)) {
        return Ok(false);
    }
    let mut notes: N = read_notes(jira, &issue.key).await?;
    if recent(&notes) {
        return Ok(false);
    }
    notes.set_last_synced_at(now_rfc3339());
    write_notes(jira, &issue.key, &notes).await?;
    Ok(true)
}

/// `notes` for an issue about to be created, with its last sync time (now): sent with the
/// create (as [`crate::jira::NewIssue::properties`]), so a new issue costs no request for them.
pub fn new_issue_notes<N: IssueNotes>(mut notes: N) -> Result<(String, serde_json::Value)> {
    notes.set_last_synced_at(now_rfc3339());
    let value = serde_json::to_value(&notes).map_err(crate::error::Error::json("issue notes"))?;
    Ok((N::PROPERTY.to_owned(), value))
}

/// Whether the RFC 3339 time `at` lies within [`LAST_SYNC_RESOLUTION`] of `now` (epoch
/// seconds). A time that cannot be read, or lies ahead by more (a clock set wrong), is not.
fn is_recent(at: &str, now: u64) -> bool {
    let Ok(at) =
        aws_smithy_types::DateTime::from_str(at, aws_smithy_types::date_time::Format::DateTime)
    else {
        return false;
    };
    let resolution = LAST_SYNC_RESOLUTION.as_secs();
    u64::try_from(at.secs()).is_ok_and(|at| at.abs_diff(now) < resolution)
}

/// After a direction wrote its notes: while they list open problems, the label must be on the
/// issue. The other direction may have removed it between this one's label and notes, having
/// read these notes before they listed the problem; put it back.
pub async fn confirm_label<N: IssueNotes>(jira: &dyn JiraApi, key: &str, notes: &N) -> Result<()> {
    if notes.open_problems().is_empty() {
        return Ok(());
    }
    let labelled = jira
        .get_issue(key)
        .await?
        .is_some_and(|issue| issue.labels.iter().any(|label| label == PROBLEM_LABEL));
    if !labelled {
        jira.add_label(key, PROBLEM_LABEL).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_sync_time_is_recent_only_within_the_resolution() {
        let at = "2026-12-03T22:00:00Z";
        let then = 1_796_335_200; // 2026-12-03T22:00:00Z
        assert!(is_recent(at, then));
        assert!(is_recent(at, then + 299));
        assert!(
            !is_recent(at, then + 300),
            "older than five minutes is written again"
        );
        assert!(
            !is_recent(at, then - 3_600),
            "a time far ahead is not trusted"
        );
        assert!(!is_recent("yesterday", then));
    }

    #[test]
    fn nothing_to_look_at_without_a_refusal_or_the_label() {
        let mut outcomes = ItemOutcomes::default();
        assert!(!outcomes.worth_a_look(true));
        outcomes.went_through.insert("watcher a@example.com".into());
        assert!(!outcomes.worth_a_look(false));
        assert!(outcomes.worth_a_look(true));
        outcomes
            .refused
            .push(("comment 1".into(), "too long".into()));
        assert!(outcomes.worth_a_look(false));
    }

    #[test]
    fn since_is_an_rfc3339_utc_time() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'), "{now}");
    }
}
