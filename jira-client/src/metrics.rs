//! What one event adds to jira-client's metrics (see [`shared::metrics`]): the items written to
//! Jira by kind, and the items that could not be, by reason.

use shared::metrics::{InvocationMetrics, REASON_DIMENSION, RecordFailure, RecordMetrics, names};

use crate::{AppliedToJira, IssueOutcome, JiraClientError};

impl RecordMetrics for AppliedToJira {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        let kinds = [
            (
                names::ISSUES_CREATED,
                usize::from(self.outcome == IssueOutcome::Created),
            ),
            (names::FIELDS_SYNCED, self.fields_edited.len()),
            (
                names::STATUS_CHANGES_SYNCED,
                usize::from(self.transitions > 0),
            ),
            (
                names::COMMENTS_SYNCED,
                self.comments_added + self.comments_updated,
            ),
            (names::ATTACHMENTS_SYNCED, self.attachments_added),
            (
                names::WATCHERS_SYNCED,
                self.watchers_added + self.watchers_removed,
            ),
            (
                names::DELETIONS_SYNCED,
                usize::from(self.outcome == IssueOutcome::Deleted),
            ),
        ];
        let wrote = kinds.iter().any(|&(_, n)| n > 0);
        metrics
            .synced(&kinds)
            .sync_lag(self.lag_ms.filter(|_| wrote))
            .count(names::SUCCESSFUL_RUNS, 1)
            .count_by(
                names::ITEMS_NOT_SYNCED,
                REASON_DIMENSION,
                "refused-by-jira",
                self.refused.len(),
            )
            .count_by(
                names::ITEMS_NOT_SYNCED,
                REASON_DIMENSION,
                "attachment-too-large",
                self.attachments_refused,
            )
            .count_by(
                names::ITEMS_NOT_SYNCED,
                REASON_DIMENSION,
                "watcher-without-jira-user",
                self.watchers_unresolved.len(),
            );
    }
}

/// A failed event: Lambda counts the error; nothing it wrote before is reported (the retry
/// finds it written and reports the rest).
impl RecordFailure for JiraClientError {}
