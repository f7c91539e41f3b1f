//! The reconciler: publishes again what was published and never applied.
//!
//! Every `Case…`/`Issue…` event the poller or jira-notifications-handler publishes is recorded in
//! the pending-delivery ledger first ([`shared::delivery`]); jira-client and sir-client remove it
//! once they applied it. An item still there after [`PollerSettings::redelivery_window`] belongs
//! to an event Lambda gave up on (dead-letter queue) or never received: each schedule pass
//! publishes up to [`PollerSettings::max_redeliveries_per_pass`] of them again, oldest first.
//! The window is longer than Lambda's own retries of an asynchronous event can take, so an event
//! still being retried is not doubled.
//!
//! On demand (`{"reconcile":{"dryRun":true|false}}`, `./deploy.sh --reconcile [--dry-run]`)
//! every pending delivery is listed, pair by pair, whatever its age, and (without `dryRun`)
//! published again. With `"audit":true` every open linked pair is audited too (see
//! [`crate::audit`]), those audited longest ago first, within what is left of the request's
//! bound; a dry run lists them.

use serde::{Deserialize, Serialize};
use shared::events::BusEvent;
use shared::status::SirStatus;
use shared::store::{DeliverySubject, PendingDelivery, TrackedCase, now_epoch_seconds};

use crate::{CaseFailure, PassReport, Poller, PollerError};

/// One pending delivery as the on-demand reconcile reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_key: Option<String>,
    /// The detail-type of the event waiting to be applied.
    pub event_type: String,
    /// The synced fields it names (empty for a create: everything).
    pub changed_fields: Vec<String>,
    /// Comment / attachment ids it names.
    pub comments: usize,
    pub attachments: usize,
    /// Seconds since it was first published without being applied.
    pub age_seconds: u64,
    /// How often it was published.
    pub attempts: u32,
    /// Published again by this request.
    pub republished: bool,
}

/// What an on-demand reconcile found (and did).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub dry_run: bool,
    pub pending: Vec<PendingReport>,
    /// Pending deliveries beyond this request's bound, left for the next request.
    #[serde(default)]
    pub remaining: usize,
    /// What an audit request (`"audit":true`) audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditReport>,
}

/// One open linked pair an on-demand audit took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditedPair {
    pub case_id: String,
    pub issue_key: String,
    /// Its audit was published (`false` in a dry run, or when SIR no longer has the case).
    pub published: bool,
}

/// What the audit of an on-demand reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    pub pairs: Vec<AuditedPair>,
    /// Open cases beyond the request's bound, not looked at: the next request takes them.
    #[serde(default)]
    pub remaining: usize,
}

impl ReconcileReport {
    /// The report for a person: one line per pending pair, then what was done.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.pending_lines();
        if let Some(audit) = &self.audit {
            for pair in &audit.pairs {
                let done = match (self.dry_run, pair.published) {
                    (true, _) => "would be audited",
                    (false, true) => {
                        "audited (jira-client compares the live case with the live issue)"
                    }
                    (false, false) => "not audited (SIR no longer has the case)",
                };
                lines.push(format!(
                    "case {} <-> issue {}: {done}",
                    pair.case_id, pair.issue_key
                ));
            }
            lines.push(format!(
                "{} open pair(s) audited{}",
                audit.pairs.len(),
                if self.dry_run {
                    "; dry run: nothing was published"
                } else {
                    ""
                }
            ));
            if audit.remaining > 0 {
                lines.push(format!(
                    "{} more open case(s) beyond the bound of one request: run it again",
                    audit.remaining
                ));
            }
        }
        lines
    }

    fn pending_lines(&self) -> Vec<String> {
        if self.pending.is_empty() && self.remaining == 0 {
            return vec!["nothing pending: every published change was applied".to_owned()];
        }
        let mut lines = Vec::new();
        for p in &self.pending {
            let pair = format!(
                "case {} <-> issue {}",
                p.case_id.as_deref().unwrap_or("(none yet)"),
                p.issue_key.as_deref().unwrap_or("(none yet)")
            );
            let mut what = if p.changed_fields.is_empty() {
                "everything".to_owned()
            } else {
                p.changed_fields.join(", ")
            };
            if p.comments > 0 {
                what.push_str(&format!(", {} comment(s)", p.comments));
            }
            if p.attachments > 0 {
                what.push_str(&format!(", {} attachment(s)", p.attachments));
            }
            let done = match (self.dry_run, p.republished) {
                (true, _) => "would be published again",
                (false, true) => "published again",
                (false, false) => "dropped (the link is broken: one side was deleted)",
            };
            lines.push(format!(
                "{pair}: {} ({what}) not applied for {} min, published {} time(s); {done}",
                p.event_type,
                p.age_seconds / 60,
                p.attempts
            ));
        }
        lines.push(format!(
            "{} pending pair(s){}",
            self.pending.len(),
            if self.dry_run {
                "; dry run: nothing was published"
            } else {
                ""
            }
        ));
        if self.remaining > 0 {
            lines.push(format!(
                "{} more pending beyond the bound of one request: run it again",
                self.remaining
            ));
        }
        lines
    }
}

/// The names of the changed fields as the bus spells them.
fn field_names<T: Serialize>(fields: &T) -> Vec<String> {
    match serde_json::to_value(fields) {
        Ok(serde_json::Value::Array(names)) => names
            .into_iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn failure(subject: &DeliverySubject, error: shared::Error) -> CaseFailure {
    let case_id = match subject {
        DeliverySubject::Case(id) => id.clone(),
        DeliverySubject::Issue(key) => format!("issue {key}"),
    };
    CaseFailure { case_id, error }
}

impl Poller {
    /// The schedule's part: publishes again the deliveries older than the redelivery window,
    /// oldest first, at most the per-pass bound; returns the subjects that failed.
    pub(crate) async fn redeliver_due(&self, report: &mut PassReport) -> Vec<CaseFailure> {
        let now = now_epoch_seconds();
        let window = self.settings.redelivery_window.as_secs();
        let mut due: Vec<PendingDelivery> = match self.store.pending_deliveries().await {
            Ok(pending) => pending
                .into_iter()
                .filter(|p| now.saturating_sub(p.published_at) >= window)
                .collect(),
            Err(error) => {
                return vec![CaseFailure {
                    case_id: "(pending deliveries)".into(),
                    error,
                }];
            }
        };
        due.sort_by_key(|p| p.published_at);
        due.truncate(self.settings.max_redeliveries_per_pass);
        let mut failures = Vec::new();
        for pending in &due {
            if let Err(error) = self.redeliver(pending, now, report).await {
                tracing::error!(subject = %pending.subject, error = %shared::error::error_chain(&error), "pending delivery not published again");
                failures.push(failure(&pending.subject, error));
            }
        }
        failures
    }

    /// The on-demand reconcile: lists the pending deliveries and, unless `dry_run`, publishes
    /// each again; at most [`PollerSettings::max_reconcile_per_request`] of them, those published
    /// longest ago first (so a request after one that stopped at the bound takes the others).
    pub async fn reconcile(&self, dry_run: bool) -> Result<PassReport, PollerError> {
        self.reconcile_with(dry_run, false).await
    }

    /// [`Self::reconcile`], and with `audit` every open linked pair audited too (listed only
    /// in a dry run), within what the pending deliveries left of the request's bound.
    pub async fn reconcile_with(
        &self,
        dry_run: bool,
        audit: bool,
    ) -> Result<PassReport, PollerError> {
        let now = now_epoch_seconds();
        let mut pending = self.store.pending_deliveries().await?;
        pending.sort_by_key(|p| (p.published_at, p.first_published_at));
        let bound = self.settings.max_reconcile_per_request.max(1);
        let remaining = pending.len().saturating_sub(bound);
        pending.truncate(bound);
        let mut report = PassReport::default();
        let mut listed = Vec::new();
        let mut failures = Vec::new();
        for delivery in &pending {
            let mut entry = self.describe(delivery, now).await?;
            if !dry_run {
                match self.redeliver(delivery, now, &mut report).await {
                    Ok(done) => entry.republished = done,
                    Err(error) => failures.push(failure(&delivery.subject, error)),
                }
            }
            listed.push(entry);
        }
        let audit = if audit {
            let room = bound.saturating_sub(pending.len());
            Some(
                self.audit_all(dry_run, room, &mut report, &mut failures)
                    .await?,
            )
        } else {
            None
        };
        report.reconcile = Some(ReconcileReport {
            dry_run,
            pending: listed,
            remaining,
            audit,
        });
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(PollerError::CasesFailed {
                failures,
                done: Box::new(report),
            })
        }
    }

    /// The on-demand audit: open tracked cases, those audited longest ago first, up to `room`
    /// auditable pairs; each audited (and its turn recorded) unless `dry_run`.
    async fn audit_all(
        &self,
        dry_run: bool,
        room: usize,
        report: &mut PassReport,
        failures: &mut Vec<CaseFailure>,
    ) -> Result<AuditReport, PollerError> {
        let now = now_epoch_seconds();
        let mut open: Vec<TrackedCase> = self
            .store
            .tracked_cases()
            .await?
            .into_iter()
            .filter(|t| t.status.as_deref() != Some(SirStatus::Closed.as_str()))
            .collect();
        open.sort_by(|a, b| (a.audited_at, &a.case_id).cmp(&(b.audited_at, &b.case_id)));
        let mut audit = AuditReport::default();
        let mut team = None;
        for (at, entry) in open.iter().enumerate() {
            if audit.pairs.len() >= room {
                audit.remaining = open.len() - at;
                break;
            }
            let case_id = entry.case_id.as_str();
            let Some((issue_key, records)) = self.auditable(case_id).await? else {
                continue;
            };
            let mut pair = AuditedPair {
                case_id: case_id.to_owned(),
                issue_key,
                published: false,
            };
            if !dry_run {
                match self
                    .publish_audit(case_id, &records, &mut team, report)
                    .await
                {
                    Ok(published) => {
                        pair.published = published;
                        self.mark_audited(entry, now).await?;
                    }
                    Err(error) => failures.push(CaseFailure {
                        case_id: case_id.to_owned(),
                        error,
                    }),
                }
            }
            audit.pairs.push(pair);
        }
        Ok(audit)
    }

    async fn describe(&self, pending: &PendingDelivery, now: u64) -> shared::Result<PendingReport> {
        let (case_id, issue_key) = match &pending.subject {
            DeliverySubject::Case(id) => {
                let link = self.store.link_for_case(id).await?;
                (Some(id.clone()), link.map(|l| l.issue_key))
            }
            DeliverySubject::Issue(key) => {
                let link = self.store.link_for_issue(key).await?;
                (link.map(|l| l.case_id), Some(key.clone()))
            }
        };
        let (changed_fields, comments, attachments) = match &pending.event {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => {
                (field_names(&c.changed_fields), &c.comments, &c.attachments)
            }
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => {
                (field_names(&i.changed_fields), &i.comments, &i.attachments)
            }
            BusEvent::CaseDeleted(_) | BusEvent::IssueDeleted(_) => {
                (Vec::new(), &Default::default(), &Default::default())
            }
        };
        Ok(PendingReport {
            case_id,
            issue_key,
            event_type: pending.event.detail_type().as_str().to_owned(),
            changed_fields,
            comments: comments.added.len() + comments.updated.len(),
            attachments: attachments.added.len() + attachments.updated.len(),
            age_seconds: now.saturating_sub(pending.first_published_at),
            attempts: pending.attempts,
            republished: false,
        })
    }

    /// Publishes one pending delivery again and records the attempt; `false` when it was
    /// dropped instead (its pair's link is broken: one side was deleted, nothing is synced).
    async fn redeliver(
        &self,
        pending: &PendingDelivery,
        now: u64,
        report: &mut PassReport,
    ) -> shared::Result<bool> {
        let link = match &pending.subject {
            DeliverySubject::Case(id) => self.store.link_for_case(id).await?,
            DeliverySubject::Issue(key) => self.store.link_for_issue(key).await?,
        };
        if link.is_some_and(|l| l.broken.is_some()) {
            tracing::info!(subject = %pending.subject, "pending delivery of a broken pair dropped");
            self.store.forget_pending_delivery(&pending.subject).await?;
            return Ok(false);
        }
        self.publisher
            .publish(std::slice::from_ref(&pending.event))
            .await?;
        let attempts = pending.attempts.saturating_add(1);
        let republished = PendingDelivery {
            published_at: now,
            attempts,
            held: false,
            ..pending.clone()
        };
        // Refused: applied (or replaced by a newer publish) meanwhile, which is all the better.
        self.store
            .swap_pending_delivery(Some(&pending.delivery_id), &republished)
            .await?;
        let age = now.saturating_sub(pending.first_published_at);
        if attempts > self.settings.alert_after_attempts {
            tracing::error!(subject = %pending.subject, attempts, age_seconds = age, "a change is still not applied after several deliveries: check the dead-letter queue and the function's errors");
        } else {
            tracing::warn!(subject = %pending.subject, attempts, age_seconds = age, "published a pending delivery again");
        }
        report.published.push((
            pending.event.detail_type().as_str(),
            pending.event.subject().to_owned(),
        ));
        report.redelivered += 1;
        Ok(true)
    }
}
