//! An audit delivery (`CaseUpdated` marked `audit`, from the poller's periodic audit of an open
//! pair, or its closing audit of a pair whose closure it read): which issue fields to bring over
//! besides those the event names.
//!
//! The live case is compared with the live issue field by field (summary, description text,
//! details block, status per the mapping). A field that differs is written when the
//! event names it (SIR changed it: the rule of every delivery) or when the issue's field still
//! equals what the integration last left there (the issue snapshot): then the difference is a
//! lost write or a SIR change nobody saw, and SIR wins. A field that differs from its snapshot was
//! edited in Jira and is on its way to SIR: it is left alone and reported
//! ([`AppliedToJira::audit_left_alone`]); so is every field while a Jira change of the issue is
//! still pending in the ledger (jira-notifications-handler stores the issue snapshot when it
//! publishes, so the snapshot already equals that edit). The snapshot and the pending check are
//! read before the case ([`JiraClientHandler::audit_seen`]): read after it, a Jira edit SIR took
//! and acknowledged in between would look "as left" and the case's old value would be written
//! over it. The details block is the integration's
//! own and is rewritten when it is there (a Jira-born issue without one does not get one here).
//!
//! The status differs only when the issue's status asks the mapping (Jira → SIR) for a SIR
//! status other than the case's, or the case is Closed and the issue is not in its Jira status:
//! a status the mapping leaves alone ("To Do" by default, a custom workflow status) is a
//! person's choice SIR never hears of, so the audit does not move it back. Watchers are brought
//! over only when the event names them: a watcher a person removed in Jira is not re-added.
//! Writes are compared with the live issue as on every delivery, so a pair in sync costs none.
//! A closed case's audit leaves the summary and description alone once sir-client's closed-case
//! note is on the issue (a person edited the issue after the closure and was told it stays).

use shared::events::CaseField;
use shared::issue_description::{find_details_block, sir_description_for_issue};
use shared::issue_notes::{JiraToSirNotes, read_notes};
use shared::jira::JiraIssue;
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::status::{JiraStatusTarget, SirStatus, StatusMapping};
use shared::store::DeliverySubject;
use shared::text::{normalize_line, normalize_text};

use crate::{AppliedToJira, DETAILS_FIELDS, FieldsWanted, JiraClientError, JiraClientHandler};

/// The issue's side as an audit saw it before reading the case.
pub(crate) struct AuditSeen {
    snapshot: Option<IssueSnapshot>,
    jira_pending: bool,
}

/// Whether the issue's status disagrees with the case's (see the module docs).
fn status_differs(mapping: &StatusMapping, case: SirStatus, issue: &JiraIssue) -> bool {
    if issue
        .status
        .eq_ignore_ascii_case(mapping.jira_status_for(case))
    {
        return false;
    }
    case == SirStatus::Closed
        || matches!(
            mapping.sir_target_for(&issue.status),
            Some(JiraStatusTarget::Status(asked)) if asked != case
        )
}

impl JiraClientHandler {
    /// What Jira last sent for the issue, read before the case: its snapshot, then whether a
    /// Jira change of it is pending (jira-notifications-handler records the delivery before the
    /// snapshot, so a snapshot holding an edit is seen with its pending delivery, or after SIR
    /// took it, in which case the case read next holds it too).
    pub(crate) async fn audit_seen(&self, key: &str) -> Result<AuditSeen, JiraClientError> {
        let snapshot = self.store.issue_snapshot(key).await?;
        let jira_pending = self
            .store
            .pending_delivery(&DeliverySubject::Issue(key.to_owned()))
            .await?
            .is_some();
        Ok(AuditSeen {
            snapshot,
            jira_pending,
        })
    }

    /// Adds to `wanted` the fields an audit brings over (see the module docs) and records in
    /// `applied` those it leaves alone. `seen` was read before the case; `stored` is the issue
    /// snapshot as the delivery holds it (used when there was none before).
    pub(crate) async fn audit_fields(
        &self,
        case: &CaseSnapshot,
        issue: &JiraIssue,
        seen: AuditSeen,
        stored: &IssueSnapshot,
        wanted: &mut FieldsWanted,
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        let key = issue.key.as_str();
        let live = self.issue_snapshot_from(issue).await?;
        let AuditSeen {
            snapshot,
            jira_pending,
        } = seen;
        let baseline = snapshot.as_ref().unwrap_or(stored);
        // The closing audit of a case whose issue was edited after the closure: sir-client told
        // the people on the issue their changes stay there (its closed-case note), so the
        // issue's fields are not written over.
        let edited_after_closure = case.status == SirStatus::Closed
            && read_notes::<JiraToSirNotes>(self.jira.as_ref(), key)
                .await?
                .closed_case_reported;
        let status_off = status_differs(&self.mappings().status, case.status, issue);
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
                status_off,
                live.status.eq_ignore_ascii_case(&baseline.status),
            ),
        ];
        for (field, name, differs, as_left) in checks {
            if !differs || wanted.wants(field) {
                continue;
            }
            if as_left && !jira_pending && !edited_after_closure {
                wanted.add(field);
            } else {
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
