//! jira-client: the Lambda that applies the SIR side's case events (`CaseCreated`,
//! `CaseUpdated`, `CaseDeleted`, source `security-ir`) from the integration bus to Jira.
//!
//! [`JiraClientHandler::handle`] is exactly what Lambda runs (`main.rs` only wires it), over
//! injected [`JiraApi`], [`SirApi`] and [`JiraClientStore`], so the tests call the same code.
//!
//! Per event, under a claim on the case (renewed while the work runs; a concurrent delivery waits
//! for it, and fails retryably only if it stays held, see `run_claimed`):
//! - no link yet: the issue the case was created from (its `jira-issue-key` tag, set by
//!   sir-client), an issue labelled `sir-case-<caseId>` left by a crashed earlier run, or a new
//!   one (unless a create started less than `create_in_doubt_for` ago: search may not show its
//!   issue yet, so the event fails retryably); write the link at once;
//! - a broken link (one side deleted): nothing is done;
//! - then edit only the fields the event names as changed (or that differ from the stored case
//!   snapshot; all of them for `CaseCreated`), comparing with the live issue so a redelivery
//!   writes nothing. In the description, a details change rewrites only the details block (the
//!   rest of the ADF document kept node for node); the text above it is replaced only when SIR's
//!   description itself changed and is not SIR's copy of the issue's own text (clipped,
//!   flattened or the placeholder: see `sir_description_for_issue`); walk the workflow to the mapped status when SIR's status changed (a closed
//!   case always makes the issue Done; otherwise a status set in Jira is not undone while it is
//!   on its way to SIR); comment the closure once; add watchers by accountId (reporting
//!   unresolvable e-mails once); store the
//!   snapshots; copy new or edited SIR comments and new `Verified` attachments by their id maps.
//!   A `Pending` attachment fails the event retryably after everything else is applied.
//! - `CaseDeleted`: comment and label `sir-case-deleted` on the issue (never deleted), then mark
//!   the link broken. A `CaseCreated`/`CaseUpdated` for a case SIR says does not exist records
//!   the deletion the same way (once; nothing when the case had no issue yet) and succeeds.
//!
//! - an audit (`CaseUpdated` marked `audit`, published by the poller's periodic audit of an open
//!   pair) also compares the live case with the live issue field by field, and brings over a
//!   field that differs when the issue's field is still what the integration last left there
//!   (see `audit`); comments and attachments are compared in full as on every delivery.
//!
//! Each watcher, comment, attachment and the status move is an item of its own: one Jira refuses
//! for good is reported once on the issue and the rest applied (see `item_refusals`).
//!
//! Every comment it writes carries a marker ([`shared::comment_marker`]) that a retry looks for
//! before posting, and an upload is matched against the issue's attachments before it is made
//! again: a crash or a lost answer between a write and its record (id map, issue notes, label)
//! never leaves a second copy.
//! Anything else that leaves the event not fully applied is an `Err` (see [`JiraClientError`]),
//! returned once the other items were applied. When that is Jira refusing the credentials, the
//! open case says so in one comment per refused token first (see `refused_credentials`).

mod audit;
mod comments_attachments_watchers;
mod config;
mod error;
mod item_refusals;
mod metrics;
mod refused_credentials;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::Value;
use shared::adf::adf_to_text;
use shared::comment_marker::{CommentMarker, KIND_CASE_CLOSED, KIND_CASE_DELETED, post_once};
use shared::events::{BusEvent, CaseChange, CaseField, CaseGone};
use shared::field_mapping::{
    FieldMapping, JiraFieldKind, MappedSirField, ResolvedFieldMapping, label_of,
};
use shared::issue_description::{
    case_console_url, details_block_adf, issue_description_adf, sir_description_for_issue,
    strip_details_block, with_case_text, with_details_block,
};
use shared::issue_notes::{SirToJiraNotes, notes_read_with, read_notes, write_notes};
use shared::jira::{
    IntegrationAccount, IssueEdit, JiraApi, JiraIssue, NewIssue, TransitionScreens,
};
use shared::live_mapping::{LiveMapping, MappingSource};
use shared::sir::{CaseDetails, JIRA_ISSUE_TAG, OriginSite, SirApi};
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::status::{SirStatus, StatusMapping};
use shared::store::{
    AccountCacheStore, CaseRecordStore, CaseRecords, ClaimKey, ClaimStore, DeliverySubject,
    IssueLink, ItemLinkStore, LinkOutcome, LinkStore, PendingDelivery, PendingDeliveryStore,
    SnapshotStore, run_claimed,
};
use shared::text::{JIRA_SUMMARY_MAX_UTF16_UNITS, clip_utf16, normalize_line, normalize_text};

use comments_attachments_watchers::KnownOfIssue;
pub use config::{
    DEFAULT_ACCOUNT_CACHE_TTL, DEFAULT_ISSUE_TYPE, ENV_INTEGRATION_PRINCIPALS, ENV_ISSUE_TYPE,
    ENV_REGION, JiraClientConfig, JiraClientSettings,
};
pub use error::JiraClientError;
use item_refusals::ItemResults;
pub use item_refusals::RefusedItem;

pub use shared::jira::{CASE_LABEL_PREFIX, case_label};

/// Label added to an issue whose SIR case was deleted.
pub const DELETED_LABEL: &str = "sir-case-deleted";
/// Reason recorded on the link when the SIR case was deleted.
pub const CASE_DELETED_REASON: &str = "SIR case deleted";
pub use shared::store::ISSUE_DELETED_REASON;

/// What the handler did with the case's issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IssueOutcome {
    /// A new issue was created and linked.
    Created,
    /// An issue labelled for the case (left by a crashed run) was linked instead of creating one.
    Adopted,
    /// The case was created from this Jira issue (its `jira-issue-key` tag); the link was
    /// written (or found) here.
    LinkedToOrigin,
    /// The linked issue was brought up to date.
    Updated,
    /// The link is marked broken (one side was deleted): Jira was left alone.
    LinkBroken,
    /// The case's deletion was recorded on the issue and the link marked broken.
    Deleted,
    /// A deleted case that never had an issue: nothing to record.
    NotLinked,
}

/// What one event changed in Jira (the Lambda's response, and what tests look at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedToJira {
    pub case_id: String,
    pub issue_key: Option<String>,
    pub outcome: IssueOutcome,
    /// `summary` and/or `description` (the text above the details block) when they were
    /// edited, `details` when only the description's details block was.
    pub fields_edited: Vec<String>,
    /// Workflow transitions made (several for a distant status).
    pub transitions: usize,
    /// Copies of SIR comments added to the issue.
    pub comments_added: usize,
    pub comments_updated: usize,
    pub attachments_added: usize,
    /// Attachments Jira refused (too large): each reported in one comment instead.
    pub attachments_refused: usize,
    pub watchers_added: usize,
    /// Watchers the integration had added, removed from the issue as they left the case.
    pub watchers_removed: usize,
    /// Watcher e-mails no Jira account matches.
    pub watchers_unresolved: Vec<String>,
    /// Items Jira refused for good (reported on the issue once; the rest was applied).
    pub refused: Vec<RefusedItem>,
    /// Notes the integration wrote on the issue (a closed or deleted case, an attachment Jira
    /// refused, watchers without a Jira user, items Jira refused).
    pub notes: usize,
    /// On an audit: issue fields that differ from the case but were edited in Jira since the
    /// integration last wrote them (a change on its way to SIR), so left as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit_left_alone: Vec<String>,
    /// Milliseconds from the source change the event carried (`changedAt`) to the end of this
    /// event: its sync lag, counted when it wrote something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

impl AppliedToJira {
    fn new(case_id: &str, issue_key: Option<&str>, outcome: IssueOutcome) -> Self {
        AppliedToJira {
            case_id: case_id.to_owned(),
            issue_key: issue_key.map(str::to_owned),
            outcome,
            fields_edited: Vec::new(),
            transitions: 0,
            comments_added: 0,
            comments_updated: 0,
            attachments_added: 0,
            attachments_refused: 0,
            watchers_added: 0,
            watchers_removed: 0,
            watchers_unresolved: Vec::new(),
            refused: Vec::new(),
            notes: 0,
            audit_left_alone: Vec::new(),

            lag_ms: None,
        }
    }
}

/// The case fields shown in the description's details block.
const DETAILS_FIELDS: [CaseField; 5] = [
    CaseField::EngagementType,
    CaseField::ReportedIncidentStartDate,
    CaseField::ImpactedAccounts,
    CaseField::ImpactedRegions,
    CaseField::ImpactedServices,
];

/// Which case fields one delivery brings over to the issue.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldsWanted {
    /// Every field: a created case, a new link, or nothing synced yet.
    everything: bool,
    /// The case was made from the issue now linked: nothing goes back to it at linking.
    from_jira: bool,
    /// The case is closed: its status always reaches the issue.
    closed: bool,
    /// The fields the event names or that differ from the stored case snapshot.
    changed: BTreeSet<CaseField>,
}

impl FieldsWanted {
    /// What to bring over for `change` (`created`: a `CaseCreated`), given how the issue was
    /// linked, the stored case snapshot `before` and the case as SIR has it now.
    fn for_delivery(
        change: &CaseChange,
        created: bool,
        outcome: IssueOutcome,
        before: Option<&CaseSnapshot>,
        case: &CaseSnapshot,
    ) -> Self {
        // Which fields to bring over: all of them for a created case, a new link or when
        // nothing was synced yet; otherwise those the event names or that differ from the
        // stored snapshot (the poller stores it when it publishes, so the event's list counts).
        // A case made from a Jira issue takes nothing back to that issue at linking: Jira is
        // where it came from.
        let from_jira = outcome == IssueOutcome::LinkedToOrigin;
        let everything =
            !from_jira && (created || outcome != IssueOutcome::Updated || before.is_none());
        let mut changed: BTreeSet<CaseField> = change.changed_fields.clone();
        if let Some(before) = before {
            changed.extend(CaseField::diff(before, case));
        }
        FieldsWanted {
            everything,
            from_jira,
            closed: case.status == SirStatus::Closed,
            changed,
        }
    }

    /// Brings `field` over too (an audit's finding, see `audit`).
    fn add(&mut self, field: CaseField) {
        self.changed.insert(field);
    }

    /// Whether `field` is brought over.
    fn wants(&self, field: CaseField) -> bool {
        // The status moves when SIR's changed (or on a new issue). A closed case always makes
        // the issue Done (compared with the live issue, so it costs no write when equal): a
        // closure must reach Jira even when the event that carried it was lost or overtaken.
        // Otherwise the issue's status is left alone, since a change made in Jira may be on its
        // way to SIR and must not be undone here.
        let named = self.everything || self.changed.contains(&field);
        match field {
            CaseField::Status => self.closed || named,
            CaseField::ClosureCode => self.closed && (named || self.from_jira),
            _ => named,
        }
    }
}

/// The labels each label-mapped SIR field put on the issue (see [`SirToJiraNotes::mapped_labels`]).
type MappedLabels = std::collections::BTreeMap<MappedSirField, BTreeSet<String>>;

/// Labels a removed mapped value never takes off the issue: the integration's own and those the
/// mapping's `onCreate` gives every issue.
fn labels_kept(case_id: &str, mapping: &ResolvedFieldMapping) -> BTreeSet<String> {
    let given = mapping.on_create.get("labels").and_then(Value::as_array);
    [
        case_label(case_id),
        shared::sync_status::PROBLEM_LABEL.to_owned(),
    ]
    .into_iter()
    .chain(
        given
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    )
    .collect()
}

/// What jira-client uses of the mapping table: links, a case's records read at once, claims on
/// cases, snapshots, item maps and the e-mail → accountId cache.
pub trait JiraClientStore:
    LinkStore
    + CaseRecordStore
    + ClaimStore
    + SnapshotStore
    + ItemLinkStore
    + AccountCacheStore
    + PendingDeliveryStore
{
}

impl<T> JiraClientStore for T where
    T: LinkStore
        + CaseRecordStore
        + ClaimStore
        + SnapshotStore
        + ItemLinkStore
        + AccountCacheStore
        + PendingDeliveryStore
        + ?Sized
{
}

/// Applies case events to Jira.
pub struct JiraClientHandler {
    jira: Arc<dyn JiraApi>,
    sir: Arc<dyn SirApi>,
    store: Arc<dyn JiraClientStore>,
    settings: JiraClientSettings,
    /// Whose attachments on an issue are the integration's own uploads.
    integration_account: IntegrationAccount,
    /// The field mapping resolved against the site's fields (`GET /field`), once per cold start.
    /// The status and field mapping, kept up to date from SSM (see [`shared::live_mapping`]).
    mappings: LiveMapping<JiraMappings>,
}

/// jira-client's part of the mapping document: the status mapping, and the field mapping
/// resolved against the site's fields on first use.
#[derive(Debug)]
pub struct JiraMappings {
    pub status: StatusMapping,
    pub fields: FieldMapping,
    resolved: tokio::sync::OnceCell<ResolvedFieldMapping>,
}

impl JiraMappings {
    pub fn new(status: StatusMapping, fields: FieldMapping) -> Self {
        JiraMappings {
            status,
            fields,
            resolved: tokio::sync::OnceCell::new(),
        }
    }

    /// The mapping document's parts jira-client uses (`None`: no document, the defaults).
    pub fn parse(document: Option<&str>) -> shared::Result<Self> {
        Ok(match document {
            Some(json) => JiraMappings::new(
                StatusMapping::from_json(json)?,
                FieldMapping::from_mapping_document(json)?,
            ),
            None => JiraMappings::new(StatusMapping::default(), FieldMapping::default()),
        })
    }

    /// The field mapping, resolved on first use (no request when nothing is mapped). A mapping
    /// the site cannot take (a field it does not have, or of a type the mapping cannot fill)
    /// fails every event loudly, as a broken status mapping fails the start.
    async fn resolve(&self, jira: &dyn JiraApi) -> Result<&ResolvedFieldMapping, JiraClientError> {
        self.resolved
            .get_or_try_init(|| async {
                if self.fields.is_empty() {
                    return Ok(ResolvedFieldMapping::default());
                }
                let site = jira.fields().await?;
                Ok::<_, JiraClientError>(self.fields.resolve(&site).map_err(shared::Error::from)?)
            })
            .await
    }
}

impl std::fmt::Debug for JiraClientHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClientHandler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl JiraClientHandler {
    pub fn new(
        jira: Arc<dyn JiraApi>,
        sir: Arc<dyn SirApi>,
        store: Arc<dyn JiraClientStore>,
        settings: JiraClientSettings,
    ) -> Self {
        let mappings = LiveMapping::fixed(JiraMappings::new(
            settings.status_mapping.clone(),
            settings.field_mapping.clone(),
        ));
        JiraClientHandler {
            jira,
            sir,
            store,
            settings,
            integration_account: IntegrationAccount::new(),
            mappings,
        }
    }

    /// The mappings read again from `source` after its TTL (see [`shared::live_mapping`]),
    /// starting from the settings' (as read at the cold start).
    pub fn with_live_mappings(mut self, source: MappingSource) -> Self {
        self.mappings = LiveMapping::from_ssm(
            JiraMappings::new(
                self.settings.status_mapping.clone(),
                self.settings.field_mapping.clone(),
            ),
            source,
            JiraMappings::parse,
        );
        self
    }

    /// The mappings in use.
    fn mappings(&self) -> Arc<JiraMappings> {
        self.mappings.current()
    }

    pub fn settings(&self) -> &JiraClientSettings {
        &self.settings
    }

    /// Applies one event as EventBridge delivers it to the Lambda.
    pub async fn handle(
        &self,
        event: EventBridgeEvent<Value>,
    ) -> Result<AppliedToJira, JiraClientError> {
        let bus_event = BusEvent::from_envelope(&event.source, &event.detail_type, event.detail)
            .map_err(JiraClientError::InvalidEvent)?;
        self.mappings.refresh().await;
        let detail_type = bus_event.detail_type().as_str();
        if !matches!(
            bus_event,
            BusEvent::CaseCreated(_) | BusEvent::CaseUpdated(_) | BusEvent::CaseDeleted(_)
        ) {
            return Err(JiraClientError::NotACaseEvent { detail_type });
        }
        // Checked before it is logged or used: it comes from the event, and goes into logs,
        // table keys, a Jira label and JQL.
        let case_id = bus_event.subject().to_owned();
        check_case_id(&case_id)?;
        tracing::info!(detail_type, case_id, "applying case event to Jira");
        let delivery_id = bus_event.delivery_id().map(str::to_owned);
        let changed_at = bus_event.changed_at().map(str::to_owned);
        let subject = DeliverySubject::Case(case_id.clone());
        let created_watchers = match &bus_event {
            BusEvent::CaseCreated(change) => Some(change.case.watchers.clone()),
            _ => None,
        };
        let case_status = match &bus_event {
            BusEvent::CaseCreated(change) | BusEvent::CaseUpdated(change) => {
                Some(change.case.status)
            }
            _ => None,
        };
        // The case's pending delivery as the sync read it, before it read the case.
        let mut pending_seen = None;
        // Boxed: the sync's future is large, and the Lambda runtime holds this one.
        let applied = Box::pin(async {
            match bus_event {
                BusEvent::CaseCreated(change) => {
                    self.claimed(
                        &case_id,
                        self.sync_case(&change, true, Some(&mut pending_seen)),
                    )
                    .await
                }
                BusEvent::CaseUpdated(change) => {
                    self.claimed(&case_id, self.sync_case(&change, false, None))
                        .await
                }
                BusEvent::CaseDeleted(gone) => {
                    self.claimed(&case_id, self.record_deletion(&gone)).await
                }
                other => Err(JiraClientError::NotACaseEvent {
                    detail_type: other.detail_type().as_str(),
                }),
            }
        })
        .await;
        let mut applied = match applied {
            Ok(applied) => applied,
            Err(err) => {
                self.say_credentials_refused(&case_id, case_status, &err)
                    .await;
                return Err(err);
            }
        };
        // A change the poller held behind this create (see `apply_held`), as read before the
        // case was: one seen then was recorded before this run read the case.
        let held_before = pending_seen
            .filter(|pending: &PendingDelivery| pending.held && delivery_id.is_some())
            .zip(created_watchers);
        if let Some(delivery_id) = delivery_id {
            let newer_pending =
                shared::delivery::acknowledge_logged(self.store.as_ref(), &subject, &delivery_id)
                    .await;
            if newer_pending {
                let covered = held_before.filter(|_| {
                    matches!(
                        applied.outcome,
                        IssueOutcome::Created | IssueOutcome::Adopted
                    )
                });
                if let Err(err) = Box::pin(self.apply_held(&case_id, &subject, covered)).await {
                    self.say_credentials_refused(&case_id, case_status, &err)
                        .await;
                    return Err(err);
                }
            }
        }
        applied.lag_ms =
            shared::events::lag_ms(changed_at.as_deref(), shared::clock::now_epoch_millis());
        Ok(applied)
    }

    /// The ledger holds a newer delivery than the one just applied. A published one is its own
    /// event's to apply; one the poller held (see
    /// [`shared::delivery::publish_recorded_or_held`]) nobody will deliver, so it is applied here
    /// and acknowledged, unless `covered`: the held delivery seen before this run read the case,
    /// with the watchers of the create just applied (whose issue this run made with everything
    /// the case had), which it then only acknowledges. A held delivery this cannot acknowledge
    /// (the poller keeps holding) is left to the next round, at most a few, then to the
    /// reconciler.
    async fn apply_held(
        &self,
        case_id: &str,
        subject: &DeliverySubject,
        covered: Option<(PendingDelivery, BTreeSet<String>)>,
    ) -> Result<(), JiraClientError> {
        const ROUNDS: usize = 3;
        for _ in 0..ROUNDS {
            let Some(pending) = self.store.pending_delivery(subject).await? else {
                return Ok(());
            };
            if !pending.held {
                tracing::info!(%subject, "a newer delivery was published: left to its event");
                return Ok(());
            }
            let (BusEvent::CaseCreated(change) | BusEvent::CaseUpdated(change)) = &pending.event
            else {
                return Ok(());
            };
            let is_covered = covered.as_ref().is_some_and(|(seen, watchers)| {
                seen.delivery_id == pending.delivery_id && change.case.watchers.is_subset(watchers)
            });
            if is_covered {
                tracing::info!(%subject, "the held delivery was recorded before the case was read: acknowledged");
            } else {
                let created = matches!(pending.event, BusEvent::CaseCreated(_));
                let applied = self
                    .claimed(case_id, self.sync_case(change, created, None))
                    .await?;
                tracing::info!(?applied, "applied the delivery held behind the create");
            }
            if self
                .store
                .acknowledge_delivery(subject, &pending.delivery_id)
                .await?
            {
                return Ok(());
            }
        }
        tracing::info!(%subject, "the held delivery kept changing: left to the reconciler");
        Ok(())
    }

    /// Runs `work` holding the case's claim (see [`run_claimed`]); a claim still held after the
    /// wait is a retryable [`JiraClientError::ClaimHeld`].
    async fn claimed<T>(
        &self,
        case_id: &str,
        work: impl Future<Output = Result<T, JiraClientError>>,
    ) -> Result<T, JiraClientError> {
        let key = ClaimKey::Case(case_id.to_owned());
        run_claimed(self.store.as_ref(), &key, &self.settings.claims, work)
            .await?
            .ok_or_else(|| JiraClientError::ClaimHeld {
                case_id: case_id.to_owned(),
            })
    }

    /// `CaseCreated` (`created`) and `CaseUpdated`: the issue made to match the case as SIR has
    /// it now (the event says which case and what changed). `pending_seen`, when given, gets
    /// the case's pending delivery as read before the case.
    async fn sync_case(
        &self,
        change: &CaseChange,
        created: bool,
        pending_seen: Option<&mut Option<PendingDelivery>>,
    ) -> Result<AppliedToJira, JiraClientError> {
        let case_id = change.case.case_id.as_str();
        // The link and the case snapshot (and the pending delivery) in one read. The case
        // snapshot is read before the case: sir-client stores it after its own writes, so one
        // read after the case could be newer than it, and the case's older value would then
        // look like a SIR change and be written over the Jira edit sir-client just took
        // (simulator seed 2494).
        let CaseRecords {
            link: existing,
            snapshot: before,
            pending,
            ..
        } = self.store.case_records(case_id).await?;
        if let Some(seen) = pending_seen {
            *seen = pending;
        }
        if let Some(link) = existing.as_ref().filter(|link| link.broken.is_some()) {
            return Ok(left_alone_for_broken_link(case_id, link));
        }
        // An audit reads what Jira last sent before the case, so a Jira edit SIR takes in
        // between is seen as pending or as already in the case (see `audit`).
        let audit_seen = match existing.as_ref().filter(|_| change.audit) {
            Some(link) => Some(self.audit_seen(&link.issue_key).await?),
            None => None,
        };
        let Some((details, case)) = self.read_case(change).await? else {
            // SIR says the case does not exist: a deletion to record (as `CaseDeleted` does),
            // not a failure to retry.
            tracing::info!(
                case_id,
                "SIR no longer has the case; recording its deletion"
            );
            return self.record_deletion_of(case_id, existing).await;
        };
        let (link, outcome) = match existing {
            // A case created from a Jira issue whose link sir-client wrote before this
            // `CaseCreated` arrived: its issue is where it came from, not one to describe.
            Some(link)
                if created
                    && self
                        .origin_issue(case_id, details.case_arn.as_deref())
                        .await?
                        .is_some_and(|origin| origin == link.issue_key) =>
            {
                (link, IssueOutcome::LinkedToOrigin)
            }
            Some(link) => (link, IssueOutcome::Updated),
            None => {
                self.create_or_adopt(&case, details.case_arn.as_deref())
                    .await?
            }
        };
        let key = link.issue_key.as_str();
        let mut applied = AppliedToJira::new(case_id, Some(key), outcome);
        let made_here = matches!(outcome, IssueOutcome::Created | IssueOutcome::Adopted);
        let Some(issue) = self.jira.get_issue(key).await? else {
            // The issue was deleted and its Automation message never came (dropped, or the
            // rule disabled); the sweep cannot see a deletion: record it here. But Jira also
            // answers 404 for an issue the integration may no longer see (Browse permission
            // lost, an issue security level): only a project search that works and no longer
            // lists the issue confirms the deletion (a lost permission fails the search, and
            // the event, instead of unlinking every case). An issue this delivery just made or
            // found is not gone: a retry reads it again.
            if made_here || self.issue_still_listed(&link).await? {
                return Err(shared::Error::JiraIssueNotFound {
                    key: key.to_owned(),
                }
                .into());
            }
            return self.record_issue_deletion(&link).await;
        };
        let mut wanted =
            FieldsWanted::for_delivery(change, created, outcome, before.as_ref(), &case);
        let (mut jira_state, live_watchers) = self.jira_baseline(key, &issue, outcome).await?;
        if let Some(seen) = audit_seen.filter(|_| outcome == IssueOutcome::Updated) {
            self.audit_fields(&case, &issue, seen, &jira_state, &mut wanted, &mut applied)
                .await?;
        }

        // Each item on its own: one Jira refuses is reported once and the rest still applied;
        // a failure a retry may fix fails the event once everything else was applied.
        let mut items = ItemResults::default();
        self.apply_fields(
            &case,
            &issue,
            &wanted,
            &mut jira_state,
            &mut applied,
            &mut items,
        )
        .await?;
        if wanted.wants(CaseField::Status) || wanted.wants(CaseField::ClosureCode) {
            let closure = self.report_closure(&case, key, &mut applied).await;
            items.defer(closure);
        }
        if wanted.wants(CaseField::Watchers) {
            // A closed case's closure note was recorded in the notes just before.
            let notes = (outcome == IssueOutcome::Created && case.status != SirStatus::Closed)
                .then(|| notes_read_with::<SirToJiraNotes>(&issue));
            // Boxed: inline, its future would make the handler's own too large.
            let watchers = Box::pin(self.sync_watchers(
                key,
                &case,
                &details.snapshot.watchers,
                KnownOfIssue {
                    watchers: live_watchers,
                    created_now: outcome == IssueOutcome::Created,
                    notes,
                },
                &mut jira_state,
                &mut applied,
                &mut items,
            ))
            .await;
            items.defer(watchers);
        }
        // The case-side snapshot is the poller's baseline of what it published: only the poller
        // (and sir-client after its own writes) set it, or a closure read here first would
        // never be published.

        let pending = self
            .copy_items(
                case_id,
                &details,
                key,
                outcome == IssueOutcome::Created,
                &mut applied,
                &mut items,
            )
            .await;
        let labelled = issue
            .labels
            .iter()
            .any(|label| label == shared::sync_status::PROBLEM_LABEL);
        self.report_sync_status(&case, key, labelled, &items, &mut applied)
            .await?;
        if let Some(failure) = items.into_failure() {
            return Err(failure);
        }
        if !pending.is_empty() {
            return Err(JiraClientError::AttachmentsPending {
                case_id: case_id.to_owned(),
                attachment_ids: pending,
            });
        }
        shared::sync_status::record_last_sync::<SirToJiraNotes>(self.jira.as_ref(), &issue).await;
        tracing::info!(?applied, "case applied to Jira");
        Ok(applied)
    }

    /// The case as SIR has it now, with the event's watchers merged in, normalized; and the
    /// details it was read with (its ARN and attachments). `None` when SIR says the case does
    /// not exist.
    async fn read_case(
        &self,
        change: &CaseChange,
    ) -> Result<Option<(CaseDetails, CaseSnapshot)>, JiraClientError> {
        let case_id = change.case.case_id.as_str();
        // The case is read again: events can arrive out of order, and an older event must not
        // set an older state. The event's watchers stay (they carry the response team the
        // poller merged in); attachments are read here too (the event carries only ids).
        let Some(details) = self.sir.get_case(case_id).await? else {
            return Ok(None);
        };
        let mut case = details.snapshot.clone();
        case.watchers.extend(change.case.watchers.iter().cloned());
        Ok(Some((details, case.normalized())))
    }

    /// Whether a search of the project (by the case's label) still lists the linked issue; an
    /// error when the project cannot be searched.
    async fn issue_still_listed(&self, link: &IssueLink) -> Result<bool, JiraClientError> {
        let keys = self
            .jira
            .search_keys_by_label(&self.settings.project_key, &case_label(&link.case_id))
            .await?;
        Ok(keys.contains(&link.issue_key))
    }

    /// The linked issue is gone from Jira: as sir-client records an `IssueDeleted`, a note on
    /// the case (unless it is closed; its `clientToken` makes a retry find the first) and the
    /// link marked broken, the case's data untouched; never an error to retry into the DLQ.
    async fn record_issue_deletion(
        &self,
        link: &IssueLink,
    ) -> Result<AppliedToJira, JiraClientError> {
        let (case_id, key) = (link.case_id.as_str(), link.issue_key.as_str());
        tracing::info!(
            case_id,
            issue_key = key,
            "the linked issue is gone from Jira; recording its deletion"
        );
        if let Some(details) = self.sir.get_case(case_id).await?
            && details.snapshot.status != SirStatus::Closed
        {
            self.sir
                .create_comment(
                    case_id,
                    &shared::store::issue_deleted_case_note(key),
                    &format!(
                        "jira-client-{case_id}-{}-{key}-deleted",
                        shared::sir::jira_site_id(&self.settings.jira_url)
                    ),
                )
                .await?;
        }
        self.store
            .mark_link_broken(link, ISSUE_DELETED_REASON)
            .await?;
        Ok(AppliedToJira::new(
            case_id,
            Some(key),
            IssueOutcome::LinkBroken,
        ))
    }

    /// The stored Jira-side snapshot of the linked issue `key`; when there is none yet, one read
    /// from the live issue (less its watchers when `made_here`, see below), stored before
    /// anything is written to Jira, with the watchers Jira listed (so the watcher sync does not
    /// ask again; none for an issue `Created` by this run, which is not asked).
    async fn jira_baseline(
        &self,
        key: &str,
        issue: &JiraIssue,
        outcome: IssueOutcome,
    ) -> Result<(IssueSnapshot, Option<Vec<String>>), JiraClientError> {
        // An issue this run created has a key nothing was ever stored under: not looked up.
        if outcome != IssueOutcome::Created
            && let Some(snapshot) = self.store.issue_snapshot(key).await?
        {
            return Ok((snapshot, None));
        }
        let made_here = matches!(outcome, IssueOutcome::Created | IssueOutcome::Adopted);
        let me = self.integration_account.id(self.jira.as_ref()).await?;
        // An issue this run created a moment ago has no watcher but (per the site's autowatch)
        // the integration itself, left out of the snapshot anyway: not asked. Adding a case
        // watcher who already watches it is a no-op in Jira.
        let watchers = if outcome == IssueOutcome::Created {
            Vec::new()
        } else {
            self.jira.watchers(key).await?
        };
        let mut snapshot = shared::jira::issue_snapshot_with(issue, &watchers, me);
        // On an issue this case's delivery created or adopted (after a lost create answer), a
        // watcher other than those copied from the case can only be one a person added before
        // this first read, never seen by the Jira → SIR side: left out, so the next re-read of
        // the issue names it and sir-client copies it (simulator seed 8). One the case already
        // has costs an UpdateCase that adds nothing.
        if made_here {
            snapshot.watchers.clear();
        }
        self.store.put_issue_snapshot(&snapshot).await?;
        Ok((snapshot, Some(watchers)))
    }

    /// SIR comments, then `Verified` attachments, copied by their id maps; returns the ids of
    /// attachments still `Pending`, which fail the event retryably once everything else is
    /// applied.
    async fn copy_items(
        &self,
        case_id: &str,
        details: &CaseDetails,
        key: &str,
        created_now: bool,
        applied: &mut AppliedToJira,
        items: &mut ItemResults,
    ) -> Vec<String> {
        let comments = self
            .sync_comments(case_id, key, created_now, applied, items)
            .await;
        items.defer(comments);
        let attachments = self.sync_attachments(details, key, applied, items).await;
        items.defer(attachments).unwrap_or_default()
    }

    /// The issue of a case that has no link yet: the Jira issue the case was created from (its
    /// [`JIRA_ISSUE_TAG`] tag; sir-client may not have written the link yet), one labelled for
    /// it by an earlier run that crashed before writing the link, or a new one. The link is
    /// written at once.
    async fn create_or_adopt(
        &self,
        case: &CaseSnapshot,
        case_arn: Option<&str>,
    ) -> Result<(IssueLink, IssueOutcome), JiraClientError> {
        let case_id = case.case_id.as_str();
        let (key, outcome) = match self.origin_issue(case_id, case_arn).await? {
            Some(key) => (key, IssueOutcome::LinkedToOrigin),
            None => self.adopt_or_create_issue(case).await?,
        };
        let link = self.write_link(case_id, key).await?;
        Ok((link, outcome))
    }

    /// The issue of this project the case was created from, by its [`JIRA_ISSUE_TAG`] tag (a
    /// tag naming another project's issue, or an issue of another Jira site by its
    /// [`shared::sir::JIRA_SITE_TAG`], is ignored: that case came from another deployment).
    async fn origin_issue(
        &self,
        case_id: &str,
        case_arn: Option<&str>,
    ) -> Result<Option<String>, JiraClientError> {
        let origin = match case_arn {
            Some(arn) => {
                let mut tags = self.sir.case_tags(arn).await?;
                let site = shared::sir::origin_site(&tags, &self.settings.jira_url);
                match (tags.remove(JIRA_ISSUE_TAG), site) {
                    (Some(key), OriginSite::This) => Some(key),
                    (Some(key), OriginSite::Untagged)
                        if self.announced_from_here(case_id, &key).await? =>
                    {
                        Some(key)
                    }
                    _ => None,
                }
            }
            None => None,
        };
        Ok(match origin {
            Some(key) if shared::config::is_issue_key_of(&key, &self.settings.project_key) => {
                tracing::info!(
                    case_id,
                    issue_key = key,
                    "the case was created from this issue"
                );
                Some(key)
            }
            _ => None,
        })
    }

    /// Whether the case's comments hold sir-client's note naming the issue `key` of this site
    /// by its URL: the only sign of the site on a case created before the site tag existed (a
    /// second deployment must not take another site's `SEC-1` for its own).
    async fn announced_from_here(&self, case_id: &str, key: &str) -> Result<bool, JiraClientError> {
        let url = format!(
            "{}/browse/{}",
            shared::sir::jira_site(&self.settings.jira_url),
            key.to_lowercase()
        );
        Ok(self
            .sir
            .list_comments(case_id)
            .await?
            .iter()
            .any(|comment| comment.body.to_lowercase().contains(&url)))
    }

    /// The oldest issue labelled for the case (left by a run that crashed before writing the
    /// link), or else a new issue created with that label.
    async fn adopt_or_create_issue(
        &self,
        case: &CaseSnapshot,
    ) -> Result<(String, IssueOutcome), JiraClientError> {
        let case_id = case.case_id.as_str();
        let label = case_label(case_id);
        // Every create is recorded before its request, and the record outlives any retry: with
        // none, no issue carries the label and the search is not needed. Read here, right before
        // a create, not with the case's records: a run whose claim lapsed while it read SIR must
        // still see the create another run recorded meanwhile, not create a second issue.
        let create_started = self.store.issue_create_age(case_id).await?;
        let found = match create_started {
            Some(_) => {
                self.jira
                    .search_keys_by_label(&self.settings.project_key, &label)
                    .await?
            }
            None => Vec::new(),
        };
        Ok(match found.split_first() {
            Some((oldest, others)) => {
                if !others.is_empty() {
                    tracing::warn!(
                        case_id,
                        adopted = oldest,
                        ?others,
                        "several issues carry the case label; adopting the oldest"
                    );
                }
                tracing::info!(case_id, issue_key = oldest, "adopting the labelled issue");
                (oldest.clone(), IssueOutcome::Adopted)
            }
            None => {
                let mappings = self.mappings();
                let mapping = mappings.resolve(self.jira.as_ref()).await?;
                let mut fields = mapping.create_fields(case);
                let mut labels = vec![label];
                // Labels given in `onCreate` join the integration's rather than replace them.
                if let Some(Value::Array(given)) = fields.remove("labels") {
                    labels.extend(given.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                let mapped_labels = mapping.labels_by_field(case);
                labels.extend(mapped_labels.values().flatten().cloned());
                let notes = SirToJiraNotes {
                    mapped_labels: Some(mapped_labels),
                    ..SirToJiraNotes::default()
                };
                let new = NewIssue {
                    project_key: self.settings.project_key.clone(),
                    issue_type: self.settings.issue_type.clone(),
                    summary: summary_for(case),
                    description: issue_description_adf(case, &self.console_url(case_id)).into(),
                    labels,
                    fields,
                    properties: [shared::sync_status::new_issue_notes(notes)?].into(),
                };
                let key = self
                    .create_issue_once(case_id, &new, create_started)
                    .await?;
                tracing::info!(case_id, issue_key = key, "created the issue");
                (key, IssueOutcome::Created)
            }
        })
    }

    /// Creates the case's issue, which search did not find. A create started less than
    /// `create_in_doubt_for` ago (its run died before writing the link) may have made an issue
    /// Jira's search does not show yet: that is a retryable [`JiraClientError::CreateInDoubt`],
    /// not a second issue. Jira Cloud has no read-after-write lookup that finds the issue
    /// without knowing its id (`reconcileIssues` needs ids; labels, properties and JQL all go
    /// through the index), so waiting out the index is the only safe choice. The start is
    /// recorded before the POST and forgotten when Jira refused the create (nothing was made).
    async fn create_issue_once(
        &self,
        case_id: &str,
        new: &NewIssue,
        create_started: Option<std::time::Duration>,
    ) -> Result<String, JiraClientError> {
        if let Some(age) = create_started {
            let bound = self.settings.create_in_doubt_for;
            if age < bound {
                return Err(JiraClientError::CreateInDoubt {
                    case_id: case_id.to_owned(),
                    age_seconds: age.as_secs(),
                    bound_seconds: bound.as_secs(),
                });
            }
            tracing::warn!(
                case_id,
                age_seconds = age.as_secs(),
                "an earlier create left no issue that search finds; creating it now"
            );
        }
        self.store.record_issue_create(case_id).await?;
        match self.jira.create_issue(new).await {
            Ok(key) => Ok(key),
            Err(err) => {
                if create_surely_refused(&err) {
                    self.store.forget_issue_create(case_id).await?;
                }
                Err(err.into())
            }
        }
    }

    /// Links the case to `key`; a link written meanwhile for this case wins (that issue is
    /// synced), one that ties `key` to another case is a conflict.
    async fn write_link(&self, case_id: &str, key: String) -> Result<IssueLink, JiraClientError> {
        match self
            .store
            .create_link(&IssueLink::new(case_id, &key))
            .await?
        {
            LinkOutcome::Created => Ok(IssueLink::new(case_id, &key)),
            LinkOutcome::Exists(existing) if existing.case_id == case_id => {
                if existing.issue_key != key {
                    tracing::error!(
                        case_id,
                        linked = existing.issue_key,
                        orphan = key,
                        "the case was linked meanwhile to another issue; syncing that one"
                    );
                }
                Ok(existing)
            }
            LinkOutcome::Exists(existing) => Err(JiraClientError::LinkConflict {
                case_id: case_id.to_owned(),
                issue_key: key,
                linked_case_id: existing.case_id,
            }),
        }
    }

    /// Summary and description (one edit), then the status (an item of its own: see
    /// [`ItemResults`]); each compared with the live issue first, and the Jira-side snapshot
    /// updated after each write.
    async fn apply_fields(
        &self,
        case: &CaseSnapshot,
        issue: &JiraIssue,
        wanted: &FieldsWanted,
        jira_state: &mut IssueSnapshot,
        applied: &mut AppliedToJira,
        items: &mut ItemResults,
    ) -> Result<(), JiraClientError> {
        let key = issue.key.as_str();
        let mut edit = IssueEdit::default();
        if wanted.wants(CaseField::Title) {
            let summary = summary_for(case);
            if summary != normalize_line(&issue.summary) {
                edit.summary = Some(summary);
            }
        }
        // The details block is rewritten on its own; the text people read above it only when
        // SIR's description itself changed and is not SIR's copy of this very text (a Jira-born
        // case holds a clipped, flattened or placeholder copy: writing it back would destroy
        // the rich text it came from).
        let details = DETAILS_FIELDS.into_iter().any(|field| wanted.wants(field));
        let text = wanted.wants(CaseField::Description)
            && normalize_text(&case.description)
                != normalize_text(&sir_description_for_issue(key, &issue.description));
        if details || text {
            let block = details_block_adf(case, &self.console_url(&case.case_id));
            let doc = if text {
                with_case_text(&issue.description_adf, &case.description, block)
            } else {
                with_details_block(&issue.description_adf, block)
            };
            // Compared as read: an unchanged block written by an earlier release is left as is.
            if adf_to_text(&doc) != normalize_text(&issue.description) {
                edit.description = Some(doc.into());
            }
        }
        if edit != IssueEdit::default() {
            self.jira.edit_issue(key, &edit).await?;
            if let Some(summary) = edit.summary {
                jira_state.summary = summary;
                applied.fields_edited.push("summary".to_owned());
            }
            if let Some(description) = edit.description {
                // Only a text we wrote is ours; after a block-only edit the text above it is
                // still the person's, and a change of it not yet synced must stay visible.
                if text {
                    jira_state.description =
                        strip_details_block(&adf_to_text(&description.to_adf()));
                    applied.fields_edited.push("description".to_owned());
                } else {
                    applied.fields_edited.push("details".to_owned());
                }
            }
            self.store.put_issue_snapshot(jira_state).await?;
        }
        // Mapped fields are an item of their own: a value Jira refuses is reported once, and a
        // mapping the site cannot take fails the event only after everything else was applied.
        let mappings = self.mappings();
        let configured = &mappings.fields;
        if configured
            .sir_to_jira
            .keys()
            .any(|field| wanted.wants(field.case_field()))
        {
            let written = self.write_mapped_fields(case, issue, wanted).await;
            if items
                .settle(|| "mapped fields".to_owned(), written)
                .is_some_and(|wrote| wrote)
            {
                applied.fields_edited.push("mapped fields".to_owned());
            }
        }
        if wanted.wants(CaseField::Status) {
            let target = mappings.status.jira_status_for(case.status);
            let screens = if configured.on_transition.is_empty() {
                TransitionScreens::new()
            } else {
                items
                    .defer(
                        mappings
                            .resolve(self.jira.as_ref())
                            .await
                            .map(|m| m.on_transition.clone()),
                    )
                    .unwrap_or_default()
            };
            if !issue.status.eq_ignore_ascii_case(target) {
                let route = self.settings.jira_route();
                let route: Vec<&str> = route.iter().map(String::as_str).collect();
                let moved = self.jira.transition_to(key, target, &route, &screens).await;
                let moved = items.settle(
                    || format!("status change to {target}"),
                    moved.map_err(JiraClientError::from),
                );
                match moved {
                    Some(hops) => {
                        applied.transitions = hops;
                        jira_state.status = target.to_owned();
                        self.store.put_issue_snapshot(jira_state).await?;
                    }
                    // Stopped on the way: the hops made are ours too, so the snapshot takes the
                    // status reached (or they would come back from Jira as a responder's move).
                    None => {
                        if let Some(now) = self.jira.get_issue(key).await?
                            && !now.status.eq_ignore_ascii_case(&issue.status)
                        {
                            jira_state.status = now.status;
                            self.store.put_issue_snapshot(jira_state).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the mapped fields the delivery names (see [`shared::field_mapping`]) in one
    /// edit; `false` when there was nothing to write. A value mapped to the system labels that
    /// left the case takes its label off the issue (see [`SirToJiraNotes::mapped_labels`]).
    async fn write_mapped_fields(
        &self,
        case: &CaseSnapshot,
        issue: &JiraIssue,
        wanted: &FieldsWanted,
    ) -> Result<bool, JiraClientError> {
        let key = issue.key.as_str();
        let mappings = self.mappings();
        let mapping = mappings.resolve(self.jira.as_ref()).await?;
        let mut edit = IssueEdit::default();
        let mut labels_wanted = false;
        for mapped in &mapping.to_jira {
            if !wanted.wants(mapped.sir.case_field()) {
                continue;
            }
            let values = mapped.sir.values(case);
            if mapped.kind == JiraFieldKind::SystemLabels {
                labels_wanted = true;
                edit.labels_to_add
                    .extend(values.iter().map(|v| label_of(v)).filter(|l| !l.is_empty()));
            } else {
                edit.fields
                    .insert(mapped.jira_id.clone(), mapped.kind.value(&values));
            }
        }
        let mut labels_to_record = None;
        if labels_wanted {
            let now = mapping.labels_by_field(case);
            let all_now: BTreeSet<&String> = now.values().flatten().collect();
            let before = notes_read_with::<SirToJiraNotes>(issue).mapped_labels;
            let kept = labels_kept(&case.case_id, mapping);
            let brought = |field: &MappedSirField| wanted.wants(field.case_field());
            // Only the label-mapped fields this delivery brings over lose labels: a field no
            // longer mapped to the labels takes none off, and one not brought over keeps what
            // it last put there (an earlier event for it may have failed).
            for (field, labels) in now.iter().filter(|(field, _)| brought(field)) {
                let Some(old) = before.as_ref().and_then(|b| b.get(field)) else {
                    continue;
                };
                edit.labels_to_remove.extend(
                    old.difference(labels)
                        .filter(|label| {
                            !all_now.contains(label)
                                && !kept.contains(*label)
                                && issue.labels.contains(*label)
                        })
                        .cloned(),
                );
            }
            edit.labels_to_remove.sort();
            edit.labels_to_remove.dedup();
            // What is remembered after this edit: the brought fields' labels now, the others'
            // as remembered (fields no longer mapped to the labels dropped).
            let mut after = MappedLabels::new();
            for (field, labels) in &now {
                if brought(field) {
                    after.insert(*field, labels.clone());
                } else if let Some(old) = before.as_ref().and_then(|b| b.get(field)) {
                    after.insert(*field, old.clone());
                }
            }
            // A label about to be added that is not remembered yet is remembered first (with
            // the old ones): a failure after the edit must not leave a label the integration
            // put there but no longer knows of, which a later removal would miss.
            let remembered: BTreeSet<&String> =
                before.iter().flat_map(|b| b.values().flatten()).collect();
            if edit
                .labels_to_add
                .iter()
                .any(|label| !remembered.contains(label) && !issue.labels.contains(label))
            {
                let mut both = after.clone();
                for (field, labels) in before.iter().flatten() {
                    if both.contains_key(field) {
                        both.entry(*field)
                            .or_default()
                            .extend(labels.iter().cloned());
                    }
                }
                let done = both == after;
                self.record_mapped_labels(key, both).await?;
                if done {
                    return self.apply_mapped_edit(key, &edit).await;
                }
            }
            if before.as_ref() != Some(&after) {
                labels_to_record = Some(after);
            }
        }
        let wrote = self.apply_mapped_edit(key, &edit).await?;
        // After the edit: a crash in between leaves the old set, so a retry removes again.
        if let Some(now) = labels_to_record {
            self.record_mapped_labels(key, now).await?;
        }
        Ok(wrote)
    }

    /// The mapped fields' edit, unless it is empty; whether it wrote.
    async fn apply_mapped_edit(
        &self,
        key: &str,
        edit: &IssueEdit,
    ) -> Result<bool, JiraClientError> {
        if *edit == IssueEdit::default() {
            return Ok(false);
        }
        self.jira.edit_issue(key, edit).await?;
        Ok(true)
    }

    /// Remembers on the issue the labels the mapped fields put there (see
    /// [`SirToJiraNotes::mapped_labels`]).
    async fn record_mapped_labels(
        &self,
        key: &str,
        labels: MappedLabels,
    ) -> Result<(), JiraClientError> {
        let mut notes: SirToJiraNotes = read_notes(self.jira.as_ref(), key).await?;
        notes.mapped_labels = Some(labels);
        write_notes(self.jira.as_ref(), key, &notes).await?;
        Ok(())
    }

    /// One comment noting the closure code of a closed case (remembered on the issue, so a
    /// redelivery or a later event does not repeat it).
    async fn report_closure(
        &self,
        case: &CaseSnapshot,
        key: &str,
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        if case.status != SirStatus::Closed {
            return Ok(());
        }
        let mut notes: SirToJiraNotes = read_notes(self.jira.as_ref(), key).await?;
        if notes.closure_reported {
            return Ok(());
        }
        let code = case.closure_code.as_deref().unwrap_or("none given");
        let posted = post_once(
            self.jira.as_ref(),
            key,
            &format!(
                "The AWS Security Incident Response case {} was closed (closure code: {code}).",
                case.case_id
            ),
            &CommentMarker::note(KIND_CASE_CLOSED, &case.case_id),
        )
        .await?;
        if posted.is_new() {
            applied.notes += 1;
        }
        notes.closure_reported = true;
        write_notes(self.jira.as_ref(), key, &notes).await?;
        Ok(())
    }

    /// `CaseDeleted`: the issue is kept; a comment and a label say the case is gone, then the
    /// link is marked broken so nothing is synced any more.
    async fn record_deletion(&self, gone: &CaseGone) -> Result<AppliedToJira, JiraClientError> {
        let case_id = gone.case_id.as_str();
        let link = self.store.link_for_case(case_id).await?;
        self.record_deletion_of(case_id, link).await
    }

    /// Records that the case is gone on its linked issue (`link`, as read under the claim): a
    /// `CaseDeleted`, or a case SIR no longer has while a `CaseCreated`/`CaseUpdated` for it was
    /// in flight. Once: the label says the comment is there, the broken link that it is done.
    async fn record_deletion_of(
        &self,
        case_id: &str,
        link: Option<IssueLink>,
    ) -> Result<AppliedToJira, JiraClientError> {
        let Some(link) = link else {
            tracing::info!(case_id, "the deleted case has no issue; nothing to record");
            return Ok(AppliedToJira::new(case_id, None, IssueOutcome::NotLinked));
        };
        let key = link.issue_key.as_str();
        if link.broken.is_some() {
            tracing::info!(case_id, issue_key = key, "the link is already broken");
            return Ok(AppliedToJira::new(
                case_id,
                Some(key),
                IssueOutcome::LinkBroken,
            ));
        }
        let mut applied = AppliedToJira::new(case_id, Some(key), IssueOutcome::Deleted);
        match self.jira.get_issue(key).await? {
            // The label is written after the comment, so it says the comment is there; without
            // it, the comment's marker does.
            Some(issue) if !issue.labels.iter().any(|l| l == DELETED_LABEL) => {
                let posted = post_once(
                    self.jira.as_ref(),
                    key,
                    &format!(
                        "The AWS Security Incident Response case {case_id} no longer exists \
                         (it was deleted on the AWS side). This issue is kept and is no longer \
                         synced with it."
                    ),
                    &CommentMarker::note(KIND_CASE_DELETED, case_id),
                )
                .await?;
                if posted.is_new() {
                    applied.notes += 1;
                }
                self.jira.add_label(key, DELETED_LABEL).await?;
            }
            Some(_) => {}
            None => tracing::info!(case_id, issue_key = key, "the issue is gone too"),
        }
        self.store
            .mark_link_broken(&link, CASE_DELETED_REASON)
            .await?;
        Ok(applied)
    }

    /// The Jira-side snapshot of an issue read live (when none is stored yet; see
    /// [`shared::jira::live_issue_snapshot`]: the integration account is not a watcher).
    async fn issue_snapshot_from(
        &self,
        issue: &JiraIssue,
    ) -> Result<IssueSnapshot, JiraClientError> {
        Ok(
            shared::jira::live_issue_snapshot(self.jira.as_ref(), &self.integration_account, issue)
                .await?,
        )
    }

    fn console_url(&self, case_id: &str) -> String {
        case_console_url(&self.settings.region, case_id)
    }
}

/// The answer for a case whose link is broken (one side was deleted): Jira is left alone.
fn left_alone_for_broken_link(case_id: &str, link: &IssueLink) -> AppliedToJira {
    tracing::info!(
        case_id,
        issue_key = link.issue_key,
        reason = link.broken,
        "the link is broken; Jira is left alone"
    );
    AppliedToJira::new(case_id, Some(&link.issue_key), IssueOutcome::LinkBroken)
}

/// Whether Jira answered the create with a refusal that made nothing (a 4xx, 429 included, or
/// 503): anything else (a timeout, a dropped connection, another 5xx) may hide an issue made.
fn create_surely_refused(err: &shared::Error) -> bool {
    matches!(err, shared::Error::JiraStatus { status, .. } if (400..500).contains(status) || *status == 503)
        || matches!(err, shared::Error::JiraCredentialsRefused { .. })
}

/// The issue summary for a case: its title on one line, clipped to Jira's limit (in UTF-16
/// units, as Jira counts: a SIR title of 300 emoji is 600 units).
fn summary_for(case: &CaseSnapshot) -> String {
    let summary = clip_utf16(&normalize_line(&case.title), JIRA_SUMMARY_MAX_UTF16_UNITS);
    if summary.is_empty() {
        format!("AWS Security Incident Response case {}", case.case_id)
    } else {
        summary
    }
}

/// A case id goes into table keys, a Jira label and JQL: only the shape of a SIR case id
/// ([`shared::sir::is_case_id`], as the poller checks the ids of native events).
fn check_case_id(case_id: &str) -> Result<(), JiraClientError> {
    if shared::sir::is_case_id(case_id) {
        Ok(())
    } else {
        Err(JiraClientError::InvalidEvent(shared::Error::Unknown {
            what: "case id",
            value: case_id.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_that_could_break_a_label_or_jql_are_refused() {
        assert!(check_case_id("1234567890").is_ok());
        for bad in ["", "12 34", "1\" OR labels = \"x", "a/b"] {
            assert!(check_case_id(bad).is_err(), "{bad:?}");
        }
    }

    fn case(status: SirStatus) -> CaseSnapshot {
        CaseSnapshot {
            case_id: "1234567890".into(),
            title: "Suspicious login".into(),
            description: String::new(),
            status,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        }
    }

    #[test]
    fn an_update_brings_over_only_changed_fields_but_a_closure_always_reaches_the_issue() {
        let before = case(SirStatus::Submitted);
        let mut now = case(SirStatus::Submitted);
        now.title = "Renamed".into();
        let change = CaseChange::new(Some(&before), now.clone());
        let wanted =
            FieldsWanted::for_delivery(&change, false, IssueOutcome::Updated, Some(&before), &now);
        assert!(wanted.wants(CaseField::Title));
        assert!(!wanted.wants(CaseField::Description));
        assert!(!wanted.wants(CaseField::Status));
        assert!(!wanted.wants(CaseField::ClosureCode));

        let closed = case(SirStatus::Closed);
        let wanted = FieldsWanted::for_delivery(
            &change,
            false,
            IssueOutcome::Updated,
            Some(&closed),
            &closed,
        );
        assert!(wanted.wants(CaseField::Status));
        assert!(!wanted.wants(CaseField::ClosureCode));
    }

    #[test]
    fn a_new_link_brings_over_everything_except_to_the_issue_the_case_came_from() {
        let now = case(SirStatus::Closed);
        let change = CaseChange::new(Some(&now), now.clone());
        let wanted = FieldsWanted::for_delivery(&change, false, IssueOutcome::Adopted, None, &now);
        assert!(wanted.wants(CaseField::Title) && wanted.wants(CaseField::Watchers));
        assert!(wanted.wants(CaseField::ClosureCode));

        let wanted =
            FieldsWanted::for_delivery(&change, true, IssueOutcome::LinkedToOrigin, None, &now);
        assert!(!wanted.wants(CaseField::Title) && !wanted.wants(CaseField::Watchers));
        assert!(wanted.wants(CaseField::Status) && wanted.wants(CaseField::ClosureCode));
    }

    #[test]
    fn summary_is_the_title_on_one_line_within_jira_limit() {
        let mut case = CaseSnapshot {
            case_id: "1234567890".into(),
            title: format!("Suspicious\n{}", "x".repeat(300)),
            description: String::new(),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        };
        let summary = summary_for(&case);
        assert_eq!(summary.chars().count(), JIRA_SUMMARY_MAX_UTF16_UNITS);
        assert!(summary.starts_with("Suspicious x"));
        case.title = "🛡".repeat(300);
        assert_eq!(summary_for(&case).encode_utf16().count(), 254);
        case.title = "  ".into();
        assert_eq!(
            summary_for(&case),
            "AWS Security Incident Response case 1234567890"
        );
    }
}
