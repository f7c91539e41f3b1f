//! The poller: reads SIR and publishes `CaseCreated | CaseUpdated | CaseDeleted` to the
//! integration bus.
//!
//! Two triggers, one handler ([`Poller::handle`]):
//! - a native `aws.security-ir` event names one case: only that case is re-read, within seconds;
//! - the schedule is the safety net: one pass pages through ListCases and reads details only of
//!   cases that are new or whose list entry (lastUpdatedDate, status, title) moved. A comment
//!   need not move lastUpdatedDate, so comments of open cases are also swept at a slower cadence
//!   ([`PollerSettings::comment_sweep_interval`]), a few cases per pass, oldest sweep first, with
//!   one ListComments each (the case's fields come from its stored snapshot).
//!
//! Each pass also audits a few open linked pairs ([`audit`]), whatever moved or did not: a
//! change the list never showed, or a Jira write that was lost, is repaired within
//! [`PollerSettings::audit_interval`].
//!
//! A case neither linked nor ever published is first judged by the backfill rule
//! ([`backfill`]): a case it leaves out is tracked but never published.
//!
//! Each `CaseCreated`/`CaseUpdated` is recorded in the pending-delivery ledger before it is
//! published, and every schedule pass ends with the reconciler ([`reconcile`]): deliveries
//! jira-client has not acknowledged within the redelivery window are published again. The same
//! reconciler runs on demand for a `{"reconcile":{"dryRun":…}}` request.
//!
//! What was published is recorded (snapshot, tracked list entry) only after the publish
//! succeeded, so a failed case is tried again next pass; one failing case never stops the
//! others, and the pass then ends in `Err` naming them. If SIR cannot even be listed the pass
//! fails at once: an outage never looks like "no cases" and never slows the schedule.

pub mod audit;
pub mod backfill;
mod config;
mod error;
mod metrics;
pub mod reconcile;
pub mod schedule;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use backfill::never_published;
use serde_json::Value;
use shared::events::{BusEvent, CaseChange, CaseGone, IdDelta, SOURCE_NATIVE_SIR};
use shared::publisher::EventPublisher;
use shared::sir::{CaseDetails, CaseSummary, SirApi, SirComment, observed_snapshot, team_emails};
use shared::snapshot::Fingerprint;
use shared::status::SirStatus;
use shared::store::{
    CaseRecordStore, CaseRecords, DeliverySubject, ItemLink, ItemLinkStore, LinkStore,
    LinkedItemKind, Origin, PendingDeliveryStore, SnapshotStore, TrackedCase, TrackedCaseStore,
    now_epoch_seconds,
};

pub use backfill::{Backfill, LeftOut};
pub use config::{
    ENV_AUDIT_INTERVAL_MINUTES, ENV_COMMENT_SWEEP_MINUTES, ENV_INTEGRATION_PRINCIPALS,
    ENV_MAX_AUDITS_PER_PASS, ENV_REDELIVERY_WINDOW_MINUTES, ENV_SCHEDULE_RULE_NAME, PollerConfig,
    PollerSettings,
};
pub use error::{CaseFailure, PollerError};
pub use reconcile::{AuditReport, AuditedPair, PendingReport, ReconcileReport};
pub use schedule::{EventBridgeSchedule, ScheduleControl, ScheduleRate};

/// What started the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule rule's tick.
    Schedule,
    /// A native SIR event about this case.
    Case(String),
    /// An on-demand reconcile (`{"reconcile":{"dryRun":true,"audit":true}}`; both default to
    /// false): `audit` audits every open linked pair too, within the request's bound.
    Reconcile { dry_run: bool, audit: bool },
}

impl Trigger {
    /// Recognises an EventBridge envelope: `aws.events` "Scheduled Event", or a native
    /// `aws.security-ir` event with `detail.caseId`; or a reconcile request (a direct invoke).
    pub fn of(event: &Value) -> Result<Trigger, PollerError> {
        if let Some(request) = event.get("reconcile") {
            let flag = |name: &str| match request.get(name) {
                None => Ok(false),
                Some(Value::Bool(set)) => Ok(*set),
                Some(other) => Err(PollerError::UnknownEvent(format!(
                    "reconcile request with {name} {other} (true or false)"
                ))),
            };
            return Ok(Trigger::Reconcile {
                dry_run: flag("dryRun")?,
                audit: flag("audit")?,
            });
        }
        let source = event
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let detail_type = event
            .get("detail-type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match source {
            "aws.events" if detail_type == "Scheduled Event" => Ok(Trigger::Schedule),
            SOURCE_NATIVE_SIR => event
                .pointer("/detail/caseId")
                .and_then(Value::as_str)
                .filter(|id| shared::sir::is_case_id(id))
                .map(|id| Trigger::Case(id.to_owned()))
                .ok_or_else(|| {
                    PollerError::UnknownEvent(format!(
                        "{source} {detail_type} without a valid caseId"
                    ))
                }),
            _ => Err(PollerError::UnknownEvent(format!(
                "source {source:?}, detail-type {detail_type:?}"
            ))),
        }
    }
}

/// What one run did (the Lambda's response, for the logs).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// Cases ListCases returned.
    pub listed: usize,
    /// A schedule pass over every case (not one case's event, nor a reconcile).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    /// Of the cases listed, those not closed that the integration tracks (synced before: the
    /// ones its audits cover).
    #[serde(default)]
    pub open: usize,
    /// Pending deliveries published again by the reconciler (see [`reconcile`]), also in
    /// `published`.
    #[serde(default)]
    pub redelivered: usize,
    /// Cases whose details were read (GetCase).
    pub read: usize,
    /// Cases whose comments were swept without a GetCase.
    pub swept: usize,
    /// Linked pairs audited (see [`audit`]): each published as a `CaseUpdated` marked `audit`.
    pub audited: usize,
    /// Cases the backfill rule left out this run.
    pub left_out: usize,
    /// (detail-type, case id) of every published event.
    pub published: Vec<(&'static str, String)>,
    /// (detail-type, case id) of every change recorded in the ledger behind the case's
    /// unacknowledged `CaseCreated` instead of being published (see
    /// [`shared::delivery::publish_recorded_or_held`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<(&'static str, String)>,
    /// The rate the schedule was set to, when it changed.
    pub schedule: Option<ScheduleRate>,
    /// What an on-demand reconcile found and did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileReport>,
}

/// What the poller uses of the mapping table: links, case snapshots, a case's records read at
/// once, item maps, the cases it tracks and the pending-delivery ledger.
pub trait PollerStore:
    LinkStore
    + SnapshotStore
    + CaseRecordStore
    + ItemLinkStore
    + TrackedCaseStore
    + PendingDeliveryStore
{
}

impl<T> PollerStore for T where
    T: LinkStore
        + SnapshotStore
        + CaseRecordStore
        + ItemLinkStore
        + TrackedCaseStore
        + PendingDeliveryStore
        + ?Sized
{
}

/// The poller's dependencies, built once per cold start.
pub struct Poller {
    pub sir: Arc<dyn SirApi>,
    pub store: Arc<dyn PollerStore>,
    pub publisher: Arc<dyn EventPublisher>,
    pub schedule: Arc<dyn ScheduleControl>,
    pub settings: PollerSettings,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a case's details are read this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Details,
    CommentSweep,
}

impl Poller {
    /// The Lambda handler: one run for whatever `event` is.
    pub async fn handle(&self, event: &Value) -> Result<PassReport, PollerError> {
        match Trigger::of(event)? {
            Trigger::Schedule => self.schedule_pass().await,
            Trigger::Case(case_id) => self.case_event(&case_id).await,
            Trigger::Reconcile { dry_run, audit } => self.reconcile_with(dry_run, audit).await,
        }
    }

    /// Re-reads one case named by a native event.
    pub async fn case_event(&self, case_id: &str) -> Result<PassReport, PollerError> {
        let team = team_emails(self.sir.as_ref()).await?;
        let mut report = PassReport::default();
        // Read before the case (as jira-client reads them): a snapshot sir-client stores after
        // its own write to the case is then at most older than the case read, never newer.
        let records = self.store.case_records(case_id).await?;
        let tracked = records.tracked.clone();
        match self.sir.get_case(case_id).await? {
            Some(details) => {
                report.read = 1;
                let open = details.snapshot.status != SirStatus::Closed;
                let entry = TrackedCase {
                    case_id: case_id.to_owned(),
                    last_updated_date: details.last_updated_date.clone(),
                    status: Some(details.snapshot.status.as_str().to_owned()),
                    title: Some(details.snapshot.title.clone()),
                    comments_checked_at: now_epoch_seconds(),
                    audited_at: audit::audited_at_after_read(
                        tracked.as_ref(),
                        Some(details.snapshot.status),
                        now_epoch_seconds(),
                    ),
                };
                let left_out = self.left_out(
                    case_id,
                    details.created_date.as_deref(),
                    Some(details.snapshot.status),
                    &records,
                );
                let event = if left_out.is_some() {
                    report.left_out = 1;
                    None
                } else {
                    self.changes_of(details, &team, &records).await?
                };
                self.record_seen(event, &entry, &records, &mut report)
                    .await?;
                if open && self.schedule.set_rate(ScheduleRate::EveryMinute).await? {
                    report.schedule = Some(ScheduleRate::EveryMinute);
                }
            }
            None if tracked.is_some() => self.case_gone(case_id, &records, &mut report).await?,
            None => {
                tracing::info!(
                    case_id,
                    "native event for a case SIR no longer has and we never saw"
                );
            }
        }
        Ok(report)
    }

    /// One pass of the schedule over every case.
    pub async fn schedule_pass(&self) -> Result<PassReport, PollerError> {
        let listed = self.sir.list_cases().await?;
        let tracked: HashMap<String, TrackedCase> = self
            .store
            .tracked_cases()
            .await?
            .into_iter()
            .map(|t| (t.case_id.clone(), t))
            .collect();
        let mut report = PassReport {
            scheduled: true,
            listed: listed.len(),
            open: listed
                .iter()
                .filter(|c| c.status != Some(SirStatus::Closed) && tracked.contains_key(&c.case_id))
                .count(),
            ..PassReport::default()
        };
        let mut failures = self.sync_planned(&listed, &tracked, &mut report).await?;
        failures.extend(self.check_unlisted(&listed, &tracked, &mut report).await);
        failures.extend(self.audit_due(&listed, &tracked, &mut report).await);
        failures.extend(self.redeliver_due(&mut report).await);
        let rate = rate_for(&listed);
        if self.schedule.set_rate(rate).await? {
            report.schedule = Some(rate);
        }
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(PollerError::CasesFailed {
                failures,
                done: Box::new(report),
            })
        }
    }

    /// Reads the listed cases the plan names (details, or a comment sweep) and publishes what
    /// changed; returns the cases that failed (the others are still synced).
    async fn sync_planned(
        &self,
        listed: &[CaseSummary],
        tracked: &HashMap<String, TrackedCase>,
        report: &mut PassReport,
    ) -> Result<Vec<CaseFailure>, PollerError> {
        let now = now_epoch_seconds();
        let needs = self.plan(listed, tracked, now);
        let team = if needs.is_empty() {
            BTreeSet::new()
        } else {
            team_emails(self.sir.as_ref()).await?
        };
        let mut failures = Vec::new();
        for (summary, need) in needs {
            let result = match need {
                Need::Details => {
                    let audited_at = audit::audited_at_after_read(
                        tracked.get(&summary.case_id),
                        summary.status,
                        now,
                    );
                    self.sync_details(summary, &team, (now, audited_at), report)
                        .await
                }
                Need::CommentSweep => {
                    let entry = &tracked[&summary.case_id];
                    self.sweep_comments(summary, entry, now, report).await
                }
            };
            if let Err(error) = result {
                tracing::error!(case_id = %summary.case_id, error = %shared::error::error_chain(&error), "case not synced");
                failures.push(CaseFailure {
                    case_id: summary.case_id.clone(),
                    error,
                });
            }
        }
        Ok(failures)
    }

    /// Checks every tracked case ListCases no longer returns (see [`Self::check_gone`]); returns
    /// the cases that failed.
    async fn check_unlisted(
        &self,
        listed: &[CaseSummary],
        tracked: &HashMap<String, TrackedCase>,
        report: &mut PassReport,
    ) -> Vec<CaseFailure> {
        let listed_ids: BTreeSet<&str> = listed.iter().map(|c| c.case_id.as_str()).collect();
        let mut failures = Vec::new();
        for gone in tracked
            .keys()
            .filter(|id| !listed_ids.contains(id.as_str()))
        {
            if let Err(error) = self.check_gone(gone, report).await {
                failures.push(CaseFailure {
                    case_id: gone.clone(),
                    error,
                });
            }
        }
        failures
    }

    /// Which listed cases need reading, and how.
    fn plan<'a>(
        &self,
        listed: &'a [CaseSummary],
        tracked: &HashMap<String, TrackedCase>,
        now: u64,
    ) -> Vec<(&'a CaseSummary, Need)> {
        let mut needs = Vec::new();
        let mut sweep_candidates = Vec::new();
        for summary in listed {
            let Some(entry) = tracked.get(&summary.case_id) else {
                needs.push((summary, Need::Details));
                continue;
            };
            if audit::moved(entry, summary) {
                needs.push((summary, Need::Details));
            } else if summary.status != Some(SirStatus::Closed)
                && now.saturating_sub(entry.comments_checked_at)
                    >= self.settings.comment_sweep_interval.as_secs()
            {
                sweep_candidates.push((entry.comments_checked_at, summary));
            }
        }
        sweep_candidates.sort_by_key(|(checked_at, _)| *checked_at);
        needs.extend(
            sweep_candidates
                .into_iter()
                .take(self.settings.max_comment_sweeps_per_pass)
                .map(|(_, summary)| (summary, Need::CommentSweep)),
        );
        needs
    }

    async fn sync_details(
        &self,
        summary: &CaseSummary,
        team: &BTreeSet<String>,
        (now, audited_at): (u64, u64),
        report: &mut PassReport,
    ) -> shared::Result<()> {
        let entry = TrackedCase {
            case_id: summary.case_id.clone(),
            last_updated_date: summary.last_updated_date.clone(),
            status: summary.status.map(|s| s.as_str().to_owned()),
            title: summary.title.clone(),
            comments_checked_at: now,
            audited_at,
        };
        let created = summary.created_date.as_deref();
        let records = self.store.case_records(&summary.case_id).await?;
        if self
            .left_out(&summary.case_id, created, summary.status, &records)
            .is_some()
        {
            report.left_out += 1;
            return self.store.put_tracked_case(&entry).await;
        }
        let Some(details) = self.sir.get_case(&summary.case_id).await? else {
            // Listed a moment ago, gone now: the next pass (or this one's check) handles it.
            return Ok(());
        };
        report.read += 1;
        let event = self.changes_of(details, team, &records).await?;
        self.record_seen(event, &entry, &records, report).await
    }

    async fn sweep_comments(
        &self,
        summary: &CaseSummary,
        entry: &TrackedCase,
        now: u64,
        report: &mut PassReport,
    ) -> shared::Result<()> {
        report.swept += 1;
        let mut entry = entry.clone();
        entry.comments_checked_at = now;
        let records = self.store.case_records(&summary.case_id).await?;
        let Some(snapshot) = records.snapshot.clone() else {
            // Never published (left out by the backfill rule): nothing to copy, but its turn is
            // taken, so it does not hold the sweep's first place every pass.
            return self.store.put_tracked_case(&entry).await;
        };
        if records
            .link
            .as_ref()
            .is_some_and(|link| link.broken.is_some())
        {
            // One side was deleted: nothing is synced, so a comment added since would be
            // published again every sweep and never copied.
            return self.store.put_tracked_case(&entry).await;
        }
        let comments = self.sir.list_comments(&summary.case_id).await?;
        let delta = self
            .comment_delta(&summary.case_id, &comments, records.link.is_some())
            .await?;
        let event = (!delta.is_empty()).then(|| {
            let mut change = CaseChange::new(Some(&snapshot), snapshot.clone());
            change.changed_at = newest_comment_time(&comments, &delta);
            change.comments = delta;
            BusEvent::CaseUpdated(change)
        });
        self.record_seen(event, &entry, &records, report).await
    }

    /// The event a case's current state calls for, or `None` when nothing changed (including
    /// an echo of our own write: same fingerprint, comments that are ours).
    async fn changes_of(
        &self,
        details: CaseDetails,
        team: &BTreeSet<String>,
        records: &CaseRecords,
    ) -> shared::Result<Option<BusEvent>> {
        let (event, changed) = self.change_of(details, team, records).await?;
        Ok(changed.then_some(event))
    }

    /// The event for a case's current state against its snapshot, and whether anything changed:
    /// `CaseCreated` for a case never published (or not linked yet), else `CaseUpdated`.
    /// `records`: the case's, read before the case.
    async fn change_of(
        &self,
        details: CaseDetails,
        team: &BTreeSet<String>,
        records: &CaseRecords,
    ) -> shared::Result<(BusEvent, bool)> {
        let case_id = details.snapshot.case_id.clone();
        let changed_at = (details.last_updated_date.clone())
            .filter(|at| !self.settings.backfill.predates_installation(at));
        let snapshot = observed_snapshot(details.snapshot, team);
        let before = records.snapshot.clone();
        let linked = records.link.is_some();
        let comments = self.sir.list_comments(&case_id).await?;
        let comment_delta = self.comment_delta(&case_id, &comments, linked).await?;
        let attachment_delta = self
            .attachment_delta(&case_id, &details.attachments, linked)
            .await?;
        let Some(before) = before.filter(|_| linked) else {
            // Never seen (or seen but never linked: jira-client has not created the issue yet).
            let mut change = CaseChange::new(None, snapshot);
            change.comments = comment_delta;
            change.attachments = attachment_delta;
            change.changed_at = changed_at;
            return Ok((BusEvent::CaseCreated(change), true));
        };
        let mut change = CaseChange::new(Some(&before), snapshot);
        // When what the event carries changed: a field change moves the case's
        // lastUpdatedDate, a comment or an attachment need not; a comment-only change counts
        // from the comment.
        let items = latest(
            newest_comment_time(&comments, &comment_delta)
                .as_deref()
                .into_iter()
                .chain(
                    details
                        .attachments
                        .iter()
                        .filter(|a| attachment_delta.added.contains(&a.attachment_id))
                        .map(|a| a.created_date.as_str()),
                )
                .filter(|at| !self.settings.backfill.predates_installation(at)),
        );
        change.changed_at = if change.fingerprint == before.fingerprint() {
            items
        } else {
            latest(changed_at.as_deref().into_iter().chain(items.as_deref()))
        };
        change.comments = comment_delta;
        change.attachments = attachment_delta;
        let unchanged = change.fingerprint == before.fingerprint()
            && change.comments.is_empty()
            && change.attachments.is_empty();
        Ok((BusEvent::CaseUpdated(change), !unchanged))
    }

    fn is_ours(&self, creator: Option<&str>) -> bool {
        shared::sir::is_integration_principal(&self.settings.integration_principals, creator)
    }

    /// Comments that are new or edited on the SIR side since they were last copied. `linked`:
    /// whether the case had a link when its records were read; without one nothing was copied
    /// yet (items are copied, and their id maps written, only once the link is), so the id map
    /// is not read.
    async fn comment_delta(
        &self,
        case_id: &str,
        comments: &[SirComment],
        linked: bool,
    ) -> shared::Result<IdDelta> {
        if comments.is_empty() {
            return Ok(IdDelta::default());
        }
        let links: HashMap<String, ItemLink> = if linked {
            self.store
                .item_links_for_case(LinkedItemKind::Comment, case_id)
                .await?
                .into_iter()
                .map(|l| (l.sir_id.clone(), l))
                .collect()
        } else {
            HashMap::new()
        };
        let mut added = Vec::new();
        let mut updated = Vec::new();
        for comment in comments {
            match links.get(&comment.comment_id) {
                // Came from Jira: editing it back and forth is sir-client's business.
                Some(link) if link.origin == Origin::Jira => {}
                Some(link) => {
                    let now = Fingerprint::of_text(&comment.body);
                    if link
                        .fingerprint
                        .as_deref()
                        .is_some_and(|fp| fp != now.as_str())
                    {
                        updated.push(comment.comment_id.clone());
                    }
                }
                None if self.is_ours(comment.creator.as_deref()) => {}
                None => added.push(comment.comment_id.clone()),
            }
        }
        Ok(IdDelta::new(added, updated))
    }

    /// Verified attachments not copied yet (a Pending one is picked up once verified);
    /// `linked` as for [`Self::comment_delta`].
    async fn attachment_delta(
        &self,
        case_id: &str,
        attachments: &[shared::sir::SirAttachment],
        linked: bool,
    ) -> shared::Result<IdDelta> {
        if attachments.is_empty() {
            return Ok(IdDelta::default());
        }
        let known: BTreeSet<String> = if linked {
            self.store
                .item_links_for_case(LinkedItemKind::Attachment, case_id)
                .await?
                .into_iter()
                .map(|l| l.sir_id)
                .collect()
        } else {
            BTreeSet::new()
        };
        let added = attachments
            .iter()
            .filter(|a| a.status == "Verified")
            .filter(|a| !known.contains(&a.attachment_id) && !self.is_ours(Some(&a.creator)))
            .map(|a| a.attachment_id.clone());
        Ok(IdDelta::new(added, std::iter::empty()))
    }

    /// Records what this run saw of a case: publishes `event` when there is one (see
    /// [`Self::publish_and_record`]), and stores the poller's `entry`, with the case's new
    /// snapshot in one write when the event carries one. `records`: the case's, read by this run.
    async fn record_seen(
        &self,
        event: Option<BusEvent>,
        entry: &TrackedCase,
        records: &CaseRecords,
        report: &mut PassReport,
    ) -> shared::Result<()> {
        match event {
            Some(event) => {
                self.publish_and_record(event, records, report, Some(entry))
                    .await
            }
            None => self.store.put_tracked_case(entry).await,
        }
    }

    /// Publishes (recording a pending delivery first), then records the case as synced (never
    /// before: a failed publish is retried): its snapshot, and with it the poller's `entry` when
    /// one is given (else the entry alone; for a deletion only the entry). `records`: the
    /// case's, read by this run, whose pending delivery the ledger's swap starts from.
    async fn publish_and_record(
        &self,
        event: BusEvent,
        records: &CaseRecords,
        report: &mut PassReport,
        entry: Option<&TrackedCase>,
    ) -> shared::Result<()> {
        let recorded = shared::delivery::publish_recorded_or_held_after_read(
            self.store.as_ref(),
            self.publisher.as_ref(),
            event,
            records.pending.clone(),
        )
        .await?;
        let event = recorded.event;
        match (&event, entry) {
            (BusEvent::CaseCreated(change) | BusEvent::CaseUpdated(change), Some(entry)) => {
                self.store
                    .put_snapshot_and_tracked_case(&change.case, entry)
                    .await?;
            }
            (BusEvent::CaseCreated(change) | BusEvent::CaseUpdated(change), None) => {
                self.store.put_case_snapshot(&change.case).await?;
            }
            (_, Some(entry)) => self.store.put_tracked_case(entry).await?,
            (_, None) => {}
        }
        let entry = (event.detail_type().as_str(), event.subject().to_owned());
        if recorded.held {
            tracing::info!(
                case_id = entry.1,
                "held behind the case's unacknowledged CaseCreated: jira-client applies it next"
            );
            report.held.push(entry);
        } else {
            report.published.push(entry);
        }
        Ok(())
    }

    /// A tracked case missing from ListCases: deleted if GetCase says so.
    async fn check_gone(&self, case_id: &str, report: &mut PassReport) -> shared::Result<()> {
        if self.sir.get_case(case_id).await?.is_some() {
            return Ok(());
        }
        let records = self.store.case_records(case_id).await?;
        self.case_gone(case_id, &records, report).await
    }

    /// A case SIR no longer has, with its `records`.
    async fn case_gone(
        &self,
        case_id: &str,
        records: &CaseRecords,
        report: &mut PassReport,
    ) -> shared::Result<()> {
        if never_published(records) {
            return self.store.untrack_case(case_id).await;
        }
        let issue_key = records.link.as_ref().map(|l| l.issue_key.clone());
        let event = BusEvent::CaseDeleted(CaseGone {
            case_id: case_id.to_owned(),
            issue_key,
        });
        self.publish_and_record(event, records, report, None)
            .await?;
        // Whatever update was still pending is moot: the deletion is what the issue gets.
        self.store
            .forget_pending_delivery(&DeliverySubject::Case(case_id.to_owned()))
            .await?;
        self.store.untrack_case(case_id).await
    }
}

/// The schedule's rate after a pass: every minute while any listed case is open (or of unknown
/// status), every five minutes when all are closed or none is listed.
fn rate_for(listed: &[CaseSummary]) -> ScheduleRate {
    if listed.iter().any(|c| c.status != Some(SirStatus::Closed)) {
        ScheduleRate::EveryMinute
    } else {
        ScheduleRate::EveryFiveMinutes
    }
}

/// When the newest of the comments `delta` names was written or edited: the change time of a
/// comment-only event (a comment need not move the case's `lastUpdatedDate`).
fn newest_comment_time(comments: &[SirComment], delta: &IdDelta) -> Option<String> {
    latest(
        comments
            .iter()
            .filter(|c| {
                delta.added.contains(&c.comment_id) || delta.updated.contains(&c.comment_id)
            })
            .filter_map(|c| c.last_updated_date.as_deref().or(c.created_date.as_deref())),
    )
}

/// The latest of RFC 3339 times (one that cannot be read counts as none).
fn latest<'a>(times: impl IntoIterator<Item = &'a str>) -> Option<String> {
    times
        .into_iter()
        .filter_map(|at| shared::events::rfc3339_to_epoch_ms(at).map(|ms| (ms, at)))
        .max_by_key(|&(ms, _)| ms)
        .map(|(_, at)| at.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(case_id: &str, status: Option<SirStatus>) -> CaseSummary {
        CaseSummary {
            case_id: case_id.to_owned(),
            title: None,
            status,
            last_updated_date: None,
            created_date: None,
        }
    }

    #[test]
    fn a_reconcile_request_is_recognised_and_a_dry_run_only_when_asked_for() {
        let of = |event: Value| Trigger::of(&event);
        assert_eq!(
            of(serde_json::json!({"reconcile": {"dryRun": true}})).ok(),
            Some(Trigger::Reconcile {
                dry_run: true,
                audit: false
            })
        );
        assert_eq!(
            of(serde_json::json!({"reconcile": {"audit": true}})).ok(),
            Some(Trigger::Reconcile {
                dry_run: false,
                audit: true
            })
        );
        assert!(matches!(
            of(serde_json::json!({"reconcile": {"audit": 1}})),
            Err(PollerError::UnknownEvent(_))
        ));
        assert_eq!(
            of(serde_json::json!({"reconcile": {}})).ok(),
            Some(Trigger::Reconcile {
                dry_run: false,
                audit: false
            })
        );
        assert!(matches!(
            of(serde_json::json!({"reconcile": {"dryRun": "yes"}})),
            Err(PollerError::UnknownEvent(_))
        ));
        assert!(matches!(
            of(serde_json::json!({"reconcilE": {}})),
            Err(PollerError::UnknownEvent(_))
        ));
    }

    #[test]
    fn the_schedule_runs_every_minute_while_any_case_is_open_or_of_unknown_status() {
        assert_eq!(rate_for(&[]), ScheduleRate::EveryFiveMinutes);
        let closed = summary("1234567890", Some(SirStatus::Closed));
        assert_eq!(
            rate_for(std::slice::from_ref(&closed)),
            ScheduleRate::EveryFiveMinutes
        );
        let open = summary("1234567891", Some(SirStatus::Submitted));
        assert_eq!(rate_for(&[closed.clone(), open]), ScheduleRate::EveryMinute);
        assert_eq!(
            rate_for(&[closed, summary("1234567892", None)]),
            ScheduleRate::EveryMinute
        );
    }
}
