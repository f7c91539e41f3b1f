//! Per-item isolation: one watcher, comment, attachment or status move Jira refuses for good does
//! not stop the rest of the event.
//!
//! Each item's result goes through [`ItemResults::settle`]: a permanent refusal of that item
//! (Jira 400/403/404 for it, or a workflow with no way to the status) is kept to be reported on
//! the issue in one comment, once (the issue notes, [`SirToJiraNotes::reported_refusals`],
//! remember which items were reported); any other failure (429, 5xx, a timeout, SIR or the
//! table) is kept too, the remaining items are still applied, and the event then fails with it so
//! it is retried.

use std::collections::BTreeSet;

use serde::Serialize;
use shared::comment_marker::{CommentMarker, KIND_JIRA_REFUSALS, MarkedComments};
use shared::issue_notes::{JiraToSirNotes, SirToJiraNotes, read_notes, write_notes};
use shared::snapshot::{CaseSnapshot, Fingerprint};
use shared::status::SirStatus;
use shared::sync_status::{ItemOutcomes, PROBLEM_LABEL, confirm_label, update_open_problems};

use crate::{AppliedToJira, JiraClientError, JiraClientHandler};

/// An item of the case Jira refused to take, and what Jira said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedItem {
    /// What could not be applied, e.g. `watcher alice@example.com` or `status change to Done`.
    pub item: String,
    /// Jira's reason (its `errorMessages` and `errors`).
    pub reason: String,
}

/// The items of one event that did not go through: refused for good, or failed for now.
#[derive(Debug, Default)]
pub(crate) struct ItemResults {
    refused: Vec<RefusedItem>,
    /// The items that went through (solving an open sync problem of the same name).
    went_through: BTreeSet<String>,
    /// The first failure a retry can fix (or that is not the item's fault): the event fails
    /// with it once everything else was applied.
    failed: Option<JiraClientError>,
}

impl ItemResults {
    /// The value of an item that went through; `None` when it was refused or failed (kept).
    pub(crate) fn settle<T>(
        &mut self,
        item: impl FnOnce() -> String,
        result: Result<T, JiraClientError>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.went_through.insert(item());
                Some(value)
            }
            Err(err) => {
                match refusal_reason(&err) {
                    Some(reason) => {
                        let item = item();
                        tracing::warn!(item, reason, "Jira refused the item; reporting it");
                        self.refused.push(RefusedItem { item, reason });
                    }
                    None => self.fail(err),
                }
                None
            }
        }
    }

    /// The value of a step that is not one item (reading what to apply): a failure is kept to
    /// fail the event once the other steps were applied.
    pub(crate) fn defer<T>(&mut self, result: Result<T, JiraClientError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.fail(err);
                None
            }
        }
    }

    fn fail(&mut self, err: JiraClientError) {
        tracing::warn!(error = %err, "an item failed; applying the rest before failing the event");
        self.failed.get_or_insert(err);
    }

    /// The first failure that is not a refusal, to fail the event with.
    pub(crate) fn into_failure(self) -> Option<JiraClientError> {
        self.failed
    }
}

/// Why Jira refused the item for good, when it did: 400/403/404 answered for this item, or a
/// workflow that has no way to the status. `None` for anything a retry may fix or that is not
/// about the item.
fn refusal_reason(err: &JiraClientError) -> Option<String> {
    match err {
        JiraClientError::Shared(shared::Error::JiraStatus {
            status: status @ (400 | 403 | 404),
            messages,
            ..
        }) => Some(if messages.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            messages.clone()
        }),
        JiraClientError::Shared(unreachable @ shared::Error::JiraTransitionUnreachable { .. }) => {
            Some(unreachable.to_string())
        }
        _ => None,
    }
}

impl JiraClientHandler {
    /// The sync status after one event ([`shared::sync_status`]): the open problems and the
    /// [`PROBLEM_LABEL`] brought up to date (no request at all when nothing was refused and the
    /// issue has no label), and each refused item not reported before said once, in one comment
    /// on the issue and one on the case; the issue notes then remember them, so no redelivery or
    /// later event repeats them. `labelled`: the issue read by this event has the label.
    pub(crate) async fn report_sync_status(
        &self,
        case: &CaseSnapshot,
        key: &str,
        labelled: bool,
        results: &ItemResults,
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        applied.refused.clone_from(&results.refused);
        let outcomes = ItemOutcomes {
            refused: results
                .refused
                .iter()
                .map(|refused| (refused.item.clone(), refused.reason.clone()))
                .collect(),
            went_through: results.went_through.clone(),
        };
        if !outcomes.worth_a_look(labelled) {
            return Ok(());
        }
        let case_id = case.case_id.as_str();
        let mut notes: SirToJiraNotes = read_notes(self.jira.as_ref(), key).await?;
        let status_changed = update_open_problems::<SirToJiraNotes, JiraToSirNotes>(
            self.jira.as_ref(),
            key,
            labelled,
            &mut notes,
            &outcomes,
        )
        .await?;
        let mut new: Vec<&RefusedItem> = Vec::new();
        for refused in &results.refused {
            if !notes.reported_refusals.contains(&refused.item)
                && !new.iter().any(|seen| seen.item == refused.item)
            {
                new.push(refused);
            }
        }
        if !new.is_empty() {
            self.say_refusals(case, key, &new, applied).await?;
            notes
                .reported_refusals
                .extend(new.iter().map(|refused| refused.item.clone()));
        }
        if status_changed || !new.is_empty() {
            write_notes(self.jira.as_ref(), key, &notes).await?;
            if status_changed {
                confirm_label(self.jira.as_ref(), key, &notes).await?;
            }
        }
        tracing::debug!(
            case_id,
            issue_key = key,
            status_changed,
            "sync status checked"
        );
        Ok(())
    }

    /// The comment on the issue (unless an earlier try posted it before it could record it)
    /// and the one on the case (its `clientToken` names the items, so a retry adds none).
    async fn say_refusals(
        &self,
        case: &CaseSnapshot,
        key: &str,
        new: &[&RefusedItem],
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        let case_id = case.case_id.as_str();
        let listed = MarkedComments::load(self.jira.as_ref(), key)
            .await?
            .listed(KIND_JIRA_REFUSALS, case_id);
        let lines = |items: &[&&RefusedItem]| -> String {
            items
                .iter()
                .map(|refused| format!("- {}: {}", refused.item, refused.reason))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let to_post: Vec<&&RefusedItem> = new
            .iter()
            .filter(|refused| !listed.contains(&refused.item))
            .collect();
        if !to_post.is_empty() {
            let note = format!(
                "Jira refused these changes from the AWS Security Incident Response case \
                 {case_id}, so they are not on this issue (everything else was synced):\n{}\n\
                 What to do: fix what Jira names above (a user's account, the workflow, a field \
                 or a permission of the integration user); the next change to the case tries \
                 again. Until it goes through, this issue carries the label {PROBLEM_LABEL}; \
                 remove the label once you have dealt with it by hand.",
                lines(&to_post)
            );
            let marker = CommentMarker::listing(
                KIND_JIRA_REFUSALS,
                case_id,
                to_post.iter().map(|refused| refused.item.clone()),
            );
            self.jira.add_comment(key, &note, &marker).await?;
            applied.notes += 1;
        }
        // A closed case takes no comment; the issue has the note and the label.
        if case.status != SirStatus::Closed {
            let all: Vec<&&RefusedItem> = new.iter().collect();
            let items: Vec<&str> = new.iter().map(|refused| refused.item.as_str()).collect();
            // The site and the issue too: two deployments meeting the same refusal on one
            // case each say it (about their own issue).
            let token = format!(
                "jira-client-{case_id}-{}-{key}-problem-{}",
                shared::sir::jira_site_id(&self.settings.jira_url),
                &Fingerprint::of_text(&items.join("\n")).as_str()[..16]
            );
            let note = format!(
                "Not synced to the Jira issue {key}: Jira refused these changes of this case \
                 (everything else was synced):\n{}\nWhat to do: fix what Jira names above in \
                 Jira (a user's account, the workflow, a field or a permission of the \
                 integration user); the next change to the case tries again. The issue carries \
                 the label {PROBLEM_LABEL} until then.",
                lines(&all)
            );
            match self.sir.create_comment(case_id, &note, &token).await {
                Ok(_) => {}
                // Closed since it was read: the issue has the note and the label.
                Err(err) if err.sir_refusal().is_some() => {
                    tracing::warn!(case_id, issue_key = key, error = %err, "the case refused the note of a sync problem");
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jira_status(status: u16, messages: &str) -> JiraClientError {
        JiraClientError::from(shared::Error::JiraStatus {
            operation: "add watcher",
            status,
            messages: messages.into(),
            retry_after: None,
        })
    }

    #[test]
    fn a_refusal_of_the_item_is_kept_to_report_and_anything_else_fails_the_event() {
        let mut results = ItemResults::default();
        let refused: Option<()> = results.settle(
            || "watcher a@example.com".into(),
            Err(jira_status(400, "cannot watch")),
        );
        assert!(refused.is_none());
        assert_eq!(
            results.refused,
            vec![RefusedItem {
                item: "watcher a@example.com".into(),
                reason: "cannot watch".into(),
            }]
        );
        assert!(results.failed.is_none());

        let _: Option<()> = results.settle(|| "comment".into(), Err(jira_status(503, "")));
        let _: Option<()> = results.settle(|| "other".into(), Err(jira_status(429, "")));
        assert_eq!(results.refused.len(), 1);
        let failure = results.into_failure().map(|err| err.to_string());
        assert!(
            failure.as_deref().is_some_and(|f| f.contains("HTTP 503")),
            "{failure:?}"
        );
    }
}
