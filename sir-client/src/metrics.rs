//! What one event adds to sir-client's metrics (see [`shared::metrics`]): the items written to
//! SIR by kind, and the items that could not be, by reason.

use shared::metrics::{InvocationMetrics, REASON_DIMENSION, RecordFailure, RecordMetrics, names};

use crate::{AppliedToSir, CaseOutcome, SirClientError};

impl RecordMetrics for AppliedToSir {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        let kinds = [
            (
                names::CASES_CREATED,
                usize::from(self.outcome == CaseOutcome::Created),
            ),
            // `watchers` among the edited fields is counted as watchers below.
            (
                names::FIELDS_SYNCED,
                self.fields_edited
                    .iter()
                    .filter(|f| *f != "watchers")
                    .count(),
            ),
            (
                names::STATUS_CHANGES_SYNCED,
                usize::from(self.status_steps > 0),
            ),
            (
                names::COMMENTS_SYNCED,
                self.comments_added + self.comments_updated + self.comments_deleted,
            ),
            (names::ATTACHMENTS_SYNCED, self.attachments_added),
            (
                names::WATCHERS_SYNCED,
                self.watchers_added + self.watchers_removed,
            ),
            (
                names::DELETIONS_SYNCED,
                usize::from(self.outcome == CaseOutcome::Deleted),
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
                "refused-by-sir",
                self.items_refused.len(),
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
                "status-not-allowed",
                usize::from(self.status_refused.is_some()),
            )
            .count_by(
                names::ITEMS_NOT_SYNCED,
                REASON_DIMENSION,
                "case-closed",
                usize::from(self.outcome == CaseOutcome::CaseClosed),
            );
    }
}

/// A failed event: Lambda counts the error; nothing it wrote before is reported (the retry
/// finds it written and reports the rest).
impl RecordFailure for SirClientError {}
