//! An audit delivery (`CaseUpdated` marked `audit`, from the poller's periodic audit of an open
//! pair): which issue fields to bring over besides those the event names.
//!
//! The live case is compared with the live issue field by field (summary, description text,
//! details block, status per the mapping, watchers). A field that differs is written when the
//! event names it (SIR changed it: the rule of every delivery) or when the issue's field still
//! equals what the integration last left there (the issue snapshot): then the difference is a
//! lost write or a SIR change nobody saw, and SIR wins. A field that differs from its snapshot was
//! edited in Jira and is on its way to SIR: it is left alone and reported
//! ([`AppliedToJira::audit_left_alone`]); so is every field while a Jira change of the issue is
//! still pending in the ledger (jira-notifications-handler stores the issue snapshot when it
//! publishes, so the snapshot already equals that edit). The details block is the integration's
//! own and is rewritten when it is there (a Jira-born issue without one does not get one here).
//! Writes are compared with the live issue as on every delivery, so a pair in sync costs none.

use shared::events::CaseField;
use shared::issue_description::{find_details_block, sir_description_for_issue};
use shared::jira::JiraIssue;
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::store::DeliverySubject;
use shared::text::{normalize_line, normalize_text};

use crate::{AppliedToJira, DETAILS_FIELDS, FieldsWanted, JiraClientError, JiraClientHandler};

impl JiraClientHandler {
    /// Adds to `wanted` the fields an audit brings over (see the module docs) and records in
    /// `applied` those it leaves alone.
    pub(crate) async fn audit_fields(
        &self,
        case: &CaseSnapshot,
        issue: &JiraIssue,
        baseline: &IssueSnapshot,
        wanted: &mut FieldsWanted,
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        let key = issue.key.as_str();
        let live = self.issue_snapshot_from(issue).await?;
        let jira_pending = self
            .store
            .pending_delivery(&DeliverySubject::Issue(key.to_owned()))
            .await?
            .is_some();
        let target = self.settings.status_mapping.jira_status_for(case.status);
        let checks = [
            (
                CaseField::Title,
                "summary",
                crate::summary_for(case) != normalize_line(&issue.summary),
                live.summary == baseline.summary,
            ),
            (
                CaseField::Description,
                "description",
                normalize_text(&case.description)
                    != normalize_text(&sir_description_for_issue(key, &issue.description)),
                live.description == baseline.description,
            ),
            (
                CaseField::Status,
                "status",
                !issue.status.eq_ignore_ascii_case(target),
                live.status.eq_ignore_ascii_case(&baseline.status),
            ),
            (
                CaseField::Watchers,
                "watchers",
                // Watchers are only ever added: the comparison is sync_watchers' own.
                !case.watchers.is_empty(),
                live.watchers == baseline.watchers,
            ),
        ];
        for (field, name, differs, as_left) in checks {
            if !differs || wanted.wants(field) {
                continue;
            }
            if as_left && !jira_pending {
                wanted.add(field);
            } else if field != CaseField::Watchers {
                applied.audit_left_alone.push(name.to_owned());
            }
        }
        if find_details_block(&issue.description_adf).is_some() {
            for field in DETAILS_FIELDS {
                wanted.add(field);
            }
        }
        if !applied.audit_left_alone.is_empty() {
            tracing::info!(
                case_id = case.case_id,
                issue_key = key,
                left_alone = ?applied.audit_left_alone,
                jira_pending,
                "audit: fields edited in Jira since the last sync are left for SIR to take"
            );
        }
        Ok(())
    }
}
