//! The audit: the slow half of the reconciler, for changes nobody saw move.
//!
//! The schedule pass reads a case only when its ListCases entry moved, and the ledger
//! ([`crate::reconcile`]) republishes only what was published and never acknowledged. Neither
//! notices a SIR change the list never showed, or a Jira write that was lost after both
//! snapshots were stored: the case equals its snapshot, the issue differs, nothing is published.
//!
//! So each schedule pass takes up to [`PollerSettings::max_audits_per_pass`] open (not Closed),
//! linked (link not broken), published (case snapshot stored) pairs whose last audit
//! ([`TrackedCase::audited_at`], the cursor in the mapping table) is older than
//! [`PollerSettings::audit_interval`], and closed pairs whose closure the poller read and that
//! were not audited since ([`audited_at_after_read`]: once; a closed case takes no more changes,
//! so a divergence left at closure, such as a title and summary edited on both sides within
//! seconds, each side then holding the other's word, would otherwise stay for good), those
//! audited longest ago first. A case whose list entry
//! moved this pass was just read and is left for a later pass. Each audit reads the case, its
//! comments and attachments (GetCase, ListComments), computes the change against the snapshot as
//! a moved case's would be, and always publishes it as a `CaseUpdated` marked `audit`:
//! jira-client then compares the live case with the live issue field by field (see its docs),
//! so a pair in sync costs reads only. A case that cannot be audited (not linked yet, link broken,
//! never published) takes its turn without a publish, so it does not head the queue every pass;
//! it counts against the bound like an audited one (its reads and write cost the same).
//!
//! [`PollerSettings::max_audits_per_pass`]: crate::PollerSettings::max_audits_per_pass
//! [`PollerSettings::audit_interval`]: crate::PollerSettings::audit_interval

use std::collections::{BTreeSet, HashMap};

use shared::events::BusEvent;
use shared::sir::{CaseSummary, team_emails};
use shared::status::SirStatus;
use shared::store::{CaseRecords, TrackedCase, now_epoch_seconds};

use crate::{CaseFailure, PassReport, Poller};

/// Whether the list entry moved since the case was last synced (then the pass reads it anyway).
pub(crate) fn moved(entry: &TrackedCase, summary: &CaseSummary) -> bool {
    let status = summary.status.map(|s| s.as_str().to_owned());
    entry.last_updated_date != summary.last_updated_date
        || entry.status != status
        || entry.title != summary.title
}

/// [`TrackedCase::audited_at`] of a closed case whose closure the poller has read and whose
/// last audit is still to come (no real audit is ever stamped 1970-01-01T00:00:01Z).
pub(crate) const CLOSING_AUDIT_DUE: u64 = 1;

/// The `audited_at` to store after reading a case now in `status`, tracked before as `previous`
/// (`None`: met for the first time, and published whole, which counts as audited). A case read
/// as it closes is due its closing audit: a closed case takes no more changes, so a divergence
/// left at the closure would otherwise stay for good. Only the closure read here counts: a case
/// closed before this release, or met already closed, is not audited again (an audit would
/// write the case's fields over Jira edits made since, which sir-client told people stay).
pub(crate) fn audited_at_after_read(
    previous: Option<&TrackedCase>,
    status: Option<SirStatus>,
    now: u64,
) -> u64 {
    match previous {
        None => now,
        Some(previous)
            if status == Some(SirStatus::Closed)
                && previous.status.as_deref() != Some(SirStatus::Closed.as_str()) =>
        {
            CLOSING_AUDIT_DUE
        }
        Some(previous) => previous.audited_at,
    }
}

/// The listed, unmoved tracked cases due for an audit at `now`, longest unaudited first: open
/// ones not audited for `interval`, and closed ones due their closing audit.
fn due<'a>(
    listed: &[CaseSummary],
    tracked: &'a HashMap<String, TrackedCase>,
    interval: u64,
    now: u64,
) -> Vec<&'a TrackedCase> {
    let mut due: Vec<&TrackedCase> = listed
        .iter()
        .filter_map(|summary| {
            let entry = tracked
                .get(&summary.case_id)
                .filter(|entry| !moved(entry, summary))?;
            let is_due = if summary.status == Some(SirStatus::Closed) {
                entry.audited_at == CLOSING_AUDIT_DUE
            } else {
                now.saturating_sub(entry.audited_at) >= interval
            };
            is_due.then_some(entry)
        })
        .collect();
    due.sort_by(|a, b| (a.audited_at, &a.case_id).cmp(&(b.audited_at, &b.case_id)));
    due
}

impl Poller {
    /// The schedule's audit (see the module docs); returns the cases that failed.
    pub(crate) async fn audit_due(
        &self,
        listed: &[CaseSummary],
        tracked: &HashMap<String, TrackedCase>,
        report: &mut PassReport,
    ) -> Vec<CaseFailure> {
        let max = self.settings.max_audits_per_pass;
        if max == 0 {
            return Vec::new();
        }
        let now = now_epoch_seconds();
        let due = due(listed, tracked, self.settings.audit_interval.as_secs(), now);
        let mut team: Option<BTreeSet<String>> = None;
        let mut failures = Vec::new();
        // Every candidate counts, audited or not: one that cannot be audited still costs reads
        // and a write.
        for entry in due.into_iter().take(max) {
            if let Err(error) = self.audit_one(entry, &mut team, now, report).await {
                tracing::error!(case_id = %entry.case_id, error = %shared::error::error_chain(&error), "case not audited");
                failures.push(CaseFailure {
                    case_id: entry.case_id.clone(),
                    error,
                });
            }
        }
        failures
    }

    /// Audits one pair when it can be audited; either way its turn is recorded.
    async fn audit_one(
        &self,
        entry: &TrackedCase,
        team: &mut Option<BTreeSet<String>>,
        now: u64,
        report: &mut PassReport,
    ) -> shared::Result<()> {
        let case_id = entry.case_id.as_str();
        if let Some((_, records)) = self.auditable(case_id).await? {
            self.publish_audit(case_id, &records, team, report).await?;
        }
        self.mark_audited(entry, now).await
    }

    /// Records the case's audit turn at `now`, on its entry as stored now (this pass may have
    /// swept its comments since `entry` was read); an entry another pass removed meanwhile is
    /// not made again.
    pub(crate) async fn mark_audited(&self, entry: &TrackedCase, now: u64) -> shared::Result<()> {
        let Some(mut fresh) = self.store.tracked_case(&entry.case_id).await? else {
            return Ok(());
        };
        fresh.audited_at = now;
        self.store.put_tracked_case(&fresh).await
    }

    /// The linked issue's key, with the case's records, when the case can be audited: linked
    /// (link not broken) and published (case snapshot stored).
    pub(crate) async fn auditable(
        &self,
        case_id: &str,
    ) -> shared::Result<Option<(String, CaseRecords)>> {
        let records = self.store.case_records(case_id).await?;
        let key = records
            .link
            .as_ref()
            .filter(|link| link.broken.is_none() && records.snapshot.is_some())
            .map(|link| link.issue_key.clone());
        Ok(key.map(|key| (key, records)))
    }

    /// Reads the case and publishes its audit (nothing when SIR no longer has it: the pass's
    /// deletion check handles that). `records`: the case's, read before the case. `team` is
    /// read once, at the first audit.
    pub(crate) async fn publish_audit(
        &self,
        case_id: &str,
        records: &CaseRecords,
        team: &mut Option<BTreeSet<String>>,
        report: &mut PassReport,
    ) -> shared::Result<bool> {
        let Some(details) = self.sir.get_case(case_id).await? else {
            return Ok(false);
        };
        let team = match team {
            Some(team) => team,
            None => team.insert(team_emails(self.sir.as_ref()).await?),
        };
        let (event, _) = self.change_of(details, team, records).await?;
        let event = match event {
            BusEvent::CaseUpdated(mut change) => {
                change.audit = true;
                // A repair, not a change: no sync lag to measure from it.
                change.changed_at = None;
                BusEvent::CaseUpdated(change)
            }
            // Linked and published, so not reached; published as it is if it were.
            other => other,
        };
        tracing::info!(case_id, "auditing the pair");
        self.publish_and_record(event, records, report, None)
            .await?;
        report.audited += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, status: SirStatus) -> CaseSummary {
        CaseSummary {
            case_id: id.into(),
            title: Some("t".into()),
            status: Some(status),
            last_updated_date: Some("2026-12-01T00:00:00Z".into()),
            created_date: None,
        }
    }

    fn entry(summary: &CaseSummary, audited_at: u64) -> TrackedCase {
        TrackedCase {
            case_id: summary.case_id.clone(),
            last_updated_date: summary.last_updated_date.clone(),
            status: summary.status.map(|s| s.as_str().to_owned()),
            title: summary.title.clone(),
            comments_checked_at: 0,
            audited_at,
        }
    }

    #[test]
    fn open_unmoved_cases_are_due_longest_unaudited_first_closed_ones_once_after_closure_moved_ones_never()
     {
        let open_old = summary("0000000001", SirStatus::Submitted);
        let open_older = summary("0000000002", SirStatus::DetectionAndAnalysis);
        let fresh = summary("0000000003", SirStatus::Submitted);
        // Closed: one whose closure was read and is due its closing audit, one audited since.
        let closed = summary("0000000004", SirStatus::Closed);
        let closed_and_audited = summary("0000000007", SirStatus::Closed);
        let mut moved_case = summary("0000000005", SirStatus::Submitted);
        let untracked = summary("0000000006", SirStatus::Submitted);
        let tracked: HashMap<String, TrackedCase> = [
            entry(&open_old, 500),
            entry(&open_older, 100),
            entry(&fresh, 3_500),
            entry(&closed, CLOSING_AUDIT_DUE),
            entry(&closed_and_audited, 3_900),
            entry(&moved_case, 0),
        ]
        .into_iter()
        .map(|e| (e.case_id.clone(), e))
        .collect();
        moved_case.last_updated_date = Some("2026-12-02T00:00:00Z".into());
        let listed = [
            open_old,
            open_older,
            fresh,
            closed,
            closed_and_audited,
            moved_case,
            untracked,
        ];
        let ids: Vec<&str> = due(&listed, &tracked, 3_000, 4_000)
            .into_iter()
            .map(|e| e.case_id.as_str())
            .collect();
        assert_eq!(ids, ["0000000004", "0000000002", "0000000001"]);
    }

    #[test]
    fn only_a_closure_read_by_the_poller_makes_the_closing_audit_due() {
        let open = entry(&summary("0000000001", SirStatus::Submitted), 500);
        let closed = entry(&summary("0000000002", SirStatus::Closed), 500);
        let closing = Some(SirStatus::Closed);
        assert_eq!(audited_at_after_read(None, closing, 4_000), 4_000);
        assert_eq!(
            audited_at_after_read(Some(&open), closing, 4_000),
            CLOSING_AUDIT_DUE
        );
        assert_eq!(audited_at_after_read(Some(&closed), closing, 4_000), 500);
        assert_eq!(
            audited_at_after_read(Some(&open), Some(SirStatus::Submitted), 4_000),
            500
        );
    }
}
