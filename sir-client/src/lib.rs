//! sir-client: the Lambda that applies the Jira side's issue events (`IssueCreated`,
//! `IssueUpdated`, `IssueDeleted`, source `jira`) from the integration bus to SIR.
//!
//! [`SirClientHandler::handle`] is exactly what Lambda runs (`main.rs` only wires it), over
//! injected [`SirApi`], [`JiraApi`] and [`SirClientStore`], so the tests call the same code.
//!
//! Per event, under a claim on the issue (renewed while the work runs; a concurrent delivery waits
//! for it, and fails retryably only if it stays held, see `run_claimed`), with the issue re-read
//! from Jira (events only say which issue and what changed):
//! - no link yet: CreateCase with the issue's own data and the configured engagement/resolver
//!   types and impacted accounts (never invented values), a `clientToken` derived from the site
//!   and issue key (a retry gets the same case) and the tag `jira-issue-key` (so jira-client
//!   links rather than duplicates a case it sees before the link exists); the case snapshot
//!   (from what was sent) and then the link are written at once, with no SIR call between
//!   CreateCase and them; one note on each side says where the other is, written by every
//!   delivery for the issue until recorded in its notes, so a create that stopped halfway still
//!   ends like one that did not;
//! - new Jira comments → CreateCaseComment (`clientToken` from the Jira comment id), edited ones →
//!   UpdateCaseComment, by the id map; the integration's own comments and copies of SIR comments
//!   are never copied back; new attachments → GetCaseAttachmentUploadUrl + PUT of the bytes;
//! - summary/description/watchers the event names as changed → UpdateCase (compared with the live
//!   case first, so an echo writes nothing); the status last, along the SIR graph (Done →
//!   CloseCase); a status the case cannot take is reported on the case, not retried forever;
//! - a closed case is never changed: the first update after closure is reported once on the
//!   issue;
//! - one item SIR refuses for good (a `ValidationException` on a status step, a comment or an
//!   attachment) is reported once on the issue (remembered in its notes) and the rest of the
//!   event is applied; any other failure fails the event, to be retried;
//! - `IssueDeleted` (or an issue Jira no longer has): a comment on the case, the link marked
//!   broken, the case's data untouched.
//!
//! After its writes, the SIR-side snapshot gets the fields it changed, so the poller does not
//! publish the integration's own change back.

mod comments_and_attachments;
mod config;
mod error;
mod metrics;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::Value;
use shared::comment_marker::{
    CommentMarker, KIND_CASE_CREATED, KIND_CLOSED_CASE_CHANGES, KIND_SIR_REFUSAL, MarkedComments,
    post_once,
};
use shared::events::{BusEvent, IssueChange, IssueField, IssueGone};
use shared::field_mapping::{FieldMapping, MappedSirField, strings_of};
use shared::issue_description::{case_console_url, sir_description_for_issue};
use shared::issue_notes::{JiraToSirNotes, read_notes, write_notes};
use shared::jira::{IntegrationAccount, JiraApi, JiraIssue, jira_timestamp_to_rfc3339};
use shared::live_mapping::{LiveMapping, MappingSource};
use shared::sir::{
    CaseDetails, CaseEdit, JIRA_ISSUE_TAG, JIRA_SITE_TAG, MAX_IMPACTED_ACCOUNTS,
    MAX_IMPACTED_REGIONS, MAX_IMPACTED_SERVICES, NewCase, SirApi, is_sir_region,
    is_sir_service_name, jira_site,
};
use shared::snapshot::{CaseSnapshot, Fingerprint};
use shared::status::{SirStatus, SirStatusStep, StatusMapping};
use shared::store::{
    ClaimKey, ClaimStore, DeliverySubject, IssueLink, ItemLink, ItemLinkStore, LinkOutcome,
    LinkStore, LinkedItemKind, Origin, PendingDeliveryStore, SnapshotStore, WATCHER_LEFT,
    WATCHER_REMOVED, run_claimed,
};
use shared::text::{SIR_TITLE_MAX_CHARS, clip_chars, normalize_line, normalize_text};

pub use comments_and_attachments::{MAX_ATTACHMENT_BYTES, sir_file_name};
pub use config::{
    ENGAGEMENT_TYPES, ENV_ENGAGEMENT_TYPE, ENV_IMPACTED_ACCOUNTS, ENV_REGION, ENV_RESOLVER_TYPE,
    RESOLVER_TYPES, SirClientConfig, SirClientSettings,
};
pub use error::SirClientError;

pub use shared::store::ISSUE_DELETED_REASON;
/// SIR's limit on a case's watchers.
pub const MAX_WATCHERS: usize = 30;

/// What the handler did with the issue's case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CaseOutcome {
    /// A case was created for the issue and linked.
    Created,
    /// The linked case was brought up to date.
    Updated,
    /// The linked case is closed: nothing was changed (reported once on the issue).
    CaseClosed,
    /// The issue's deletion was recorded on the case and the link marked broken.
    Deleted,
    /// The link is broken (one side was deleted): SIR was left alone.
    LinkBroken,
    /// An issue made by jira-client for a SIR case: the case exists already.
    FromSir,
    /// Jira no longer has the issue and it was never linked: nothing to do.
    IssueGone,
    /// A deleted issue that never had a case.
    NotLinked,
}

/// What one event changed in SIR (the Lambda's response, and what tests look at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedToSir {
    pub issue_key: String,
    pub case_id: Option<String>,
    pub outcome: CaseOutcome,
    /// `title`, `description` and/or `watchers` when UpdateCase changed them.
    pub fields_edited: Vec<String>,
    /// UpdateCaseStatus/CloseCase calls made.
    pub status_steps: usize,
    /// A Jira status the case could not take, reported on the case.
    pub status_refused: Option<String>,
    pub comments_added: usize,
    pub comments_updated: usize,
    /// Copies of comments deleted in Jira, edited to say so (SIR has no comment deletion).
    pub comments_deleted: usize,
    pub attachments_added: usize,
    /// Attachments larger than SIR takes, each reported in one case comment instead.
    pub attachments_refused: usize,
    /// Copied attachments deleted in Jira, each noted once on the case (the copy stays).
    pub attachments_deleted: usize,
    pub watchers_added: usize,
    /// Watchers the integration had added, removed from the case as they left the issue.
    pub watchers_removed: usize,
    /// Items SIR refused for good (a status change, a comment, an attachment), each reported
    /// once on the issue while the rest of the event was applied.
    pub items_refused: Vec<String>,
    /// Notes the integration wrote (on the case or the issue): where the other side is, a
    /// closed case, a deleted issue, an item SIR refused.
    pub notes: usize,
    /// Milliseconds from the source change the event carried (`changedAt`) to the end of this
    /// event: its sync lag, counted when it wrote something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

impl AppliedToSir {
    fn new(issue_key: &str, case_id: Option<&str>, outcome: CaseOutcome) -> Self {
        AppliedToSir {
            issue_key: issue_key.to_owned(),
            case_id: case_id.map(str::to_owned),
            outcome,
            fields_edited: Vec::new(),
            status_steps: 0,
            status_refused: None,
            comments_added: 0,
            comments_updated: 0,
            comments_deleted: 0,
            attachments_added: 0,
            attachments_refused: 0,
            attachments_deleted: 0,
            watchers_added: 0,
            watchers_removed: 0,
            items_refused: Vec::new(),
            notes: 0,

            lag_ms: None,
        }
    }
}

/// Which synced case fields this delivery changed (they go into the stored snapshot).
#[derive(Debug, Clone, Default)]
struct Touched {
    title: bool,
    description: bool,
    /// The watchers it added (lower-cased): only they go into the snapshot, so a watcher
    /// someone added in SIR meanwhile is still published.
    watchers_added: BTreeSet<String>,
    /// The watchers it removed (lower-cased): they leave the snapshot, so the poller does not
    /// publish their removal back.
    watchers_removed: BTreeSet<String>,
    status: bool,
}

/// What sir-client uses of the mapping table: links, claims on issues, snapshots, item maps and
/// the pending-delivery ledger (acknowledging what it applied).
pub trait SirClientStore:
    LinkStore + ClaimStore + SnapshotStore + ItemLinkStore + PendingDeliveryStore
{
}

impl<T> SirClientStore for T where
    T: LinkStore + ClaimStore + SnapshotStore + ItemLinkStore + PendingDeliveryStore + ?Sized
{
}

/// Applies issue events to SIR.
pub struct SirClientHandler {
    sir: Arc<dyn SirApi>,
    jira: Arc<dyn JiraApi>,
    store: Arc<dyn SirClientStore>,
    settings: SirClientSettings,
    /// The integration user's accountId (read once): what it wrote in Jira came from SIR.
    integration_account: IntegrationAccount,
    /// The status mapping and `jiraToSir`, kept up to date from SSM (see
    /// [`shared::live_mapping`]).
    mappings: LiveMapping<SirMappings>,
}

/// sir-client's part of the mapping document: the status mapping and the field mapping's
/// `jiraToSir` (the rest is jira-client's: a broken `sirToJira` does not stop the Jira → SIR
/// half), its Jira fields resolved to ids (`GET /field`) on first use.
#[derive(Debug)]
pub struct SirMappings {
    pub status: StatusMapping,
    pub fields_from_jira: BTreeMap<MappedSirField, String>,
    resolved: tokio::sync::OnceCell<Vec<(MappedSirField, String)>>,
}

impl SirMappings {
    pub fn new(status: StatusMapping, fields_from_jira: BTreeMap<MappedSirField, String>) -> Self {
        SirMappings {
            status,
            fields_from_jira,
            resolved: tokio::sync::OnceCell::new(),
        }
    }

    /// The mapping document's parts sir-client uses (`None`: no document, the defaults).
    pub fn parse(document: Option<&str>) -> shared::Result<Self> {
        Ok(match document {
            Some(json) => SirMappings::new(
                StatusMapping::from_json(json)?,
                FieldMapping::reverse_from_mapping_document(json)?,
            ),
            None => SirMappings::new(StatusMapping::default(), Default::default()),
        })
    }
}

impl std::fmt::Debug for SirClientHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SirClientHandler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SirClientHandler {
    pub fn new(
        sir: Arc<dyn SirApi>,
        jira: Arc<dyn JiraApi>,
        store: Arc<dyn SirClientStore>,
        settings: SirClientSettings,
    ) -> Self {
        let mappings = LiveMapping::fixed(SirMappings::new(
            settings.status_mapping.clone(),
            settings.fields_from_jira.clone(),
        ));
        SirClientHandler {
            sir,
            jira,
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
            SirMappings::new(
                self.settings.status_mapping.clone(),
                self.settings.fields_from_jira.clone(),
            ),
            source,
            SirMappings::parse,
        );
        self
    }

    pub fn settings(&self) -> &SirClientSettings {
        &self.settings
    }

    /// Applies one event as EventBridge delivers it to the Lambda.
    pub async fn handle(
        &self,
        event: EventBridgeEvent<Value>,
    ) -> Result<AppliedToSir, SirClientError> {
        let bus_event = BusEvent::from_envelope(&event.source, &event.detail_type, event.detail)
            .map_err(SirClientError::InvalidEvent)?;
        self.mappings.refresh().await;
        let key = bus_event.subject().to_owned();
        tracing::info!(
            detail_type = bus_event.detail_type().as_str(),
            issue_key = key,
            "applying issue event to SIR"
        );
        if matches!(
            bus_event,
            BusEvent::IssueCreated(_) | BusEvent::IssueUpdated(_) | BusEvent::IssueDeleted(_)
        ) && !shared::config::is_issue_key_of(&key, &self.settings.project_key)
        {
            return Err(SirClientError::OtherProject {
                issue_key: key,
                project_key: self.settings.project_key.clone(),
            });
        }
        let delivery_id = bus_event.delivery_id().map(str::to_owned);
        let changed_at = bus_event.changed_at().map(str::to_owned);
        let mut applied = match bus_event {
            BusEvent::IssueCreated(change) => {
                self.claimed(&key, self.sync_issue(&change, true)).await
            }
            BusEvent::IssueUpdated(change) => {
                self.claimed(&key, self.sync_issue(&change, false)).await
            }
            BusEvent::IssueDeleted(gone) => self.claimed(&key, self.issue_deleted(&gone)).await,
            other => Err(SirClientError::NotAnIssueEvent {
                detail_type: other.detail_type().as_str(),
            }),
        }?;
        if let Some(delivery_id) = delivery_id {
            let subject = DeliverySubject::Issue(key);
            shared::delivery::acknowledge_logged(self.store.as_ref(), &subject, &delivery_id).await;
        }
        applied.lag_ms =
            shared::events::lag_ms(changed_at.as_deref(), shared::clock::now_epoch_millis());
        Ok(applied)
    }

    /// Runs `work` holding the issue's claim (see [`run_claimed`]); a claim still held after the
    /// wait is a retryable [`SirClientError::ClaimHeld`].
    async fn claimed<T>(
        &self,
        issue_key: &str,
        work: impl Future<Output = Result<T, SirClientError>>,
    ) -> Result<T, SirClientError> {
        let key = ClaimKey::Issue(issue_key.to_owned());
        run_claimed(self.store.as_ref(), &key, &self.settings.claims, work)
            .await?
            .ok_or_else(|| SirClientError::ClaimHeld {
                issue_key: issue_key.to_owned(),
            })
    }

    /// `IssueCreated` (`created`) and `IssueUpdated`: the case made to match the issue as Jira
    /// has it now, for what the Jira side changed.
    async fn sync_issue(
        &self,
        change: &IssueChange,
        created: bool,
    ) -> Result<AppliedToSir, SirClientError> {
        let key = change.issue.issue_key.as_str();
        let existing = self.store.link_for_issue(key).await?;
        if let Some(link) = existing.as_ref().filter(|l| l.broken.is_some()) {
            return Ok(left_alone_for_broken_link(key, link));
        }
        let Some(issue) = self.jira.get_issue(key).await? else {
            return self.issue_missing(key, existing).await;
        };
        let (link, outcome) = match existing {
            Some(link) => ((link, Vec::new()), CaseOutcome::Updated),
            None if shared::jira::is_made_for_a_case(&issue.labels) => {
                tracing::info!(
                    issue_key = key,
                    "the issue was made for a SIR case; nothing to create"
                );
                return Ok(AppliedToSir::new(key, None, CaseOutcome::FromSir));
            }
            None => (
                Box::pin(self.create_case(&issue)).await?,
                CaseOutcome::Created,
            ),
        };
        let (link, unusable) = link;
        let case_id = link.case_id.as_str();
        let mut applied = AppliedToSir::new(key, Some(case_id), outcome);
        for (item, message) in unusable {
            self.report_problem(key, case_id, &item, message, &mut applied)
                .await?;
        }
        let details = self.live_case(case_id, key).await?;
        // Every delivery until both notes are recorded, not only the one that created the case:
        // that one may have stopped anywhere after CreateCase.
        if !shared::jira::is_made_for_a_case(&issue.labels) {
            self.announce_case(&issue, &details, &mut applied).await?;
        }
        if details.snapshot.status == SirStatus::Closed {
            self.forget_deletions(key, change).await?;
            // Only a change the case will never get is worth telling (a late redelivery of
            // something already copied is not).
            let named = |field: IssueField| created || change.changed_fields.contains(&field);
            if self.has_unsynced_changes(&issue, &details, named).await? {
                self.report_closed_case(key, case_id, &mut applied).await?;
            }
            applied.outcome = CaseOutcome::CaseClosed;
            return Ok(applied);
        }
        // Boxed: the futures of every step together would make the handler's own large.
        Box::pin(self.apply_changes(change, created, &issue, case_id, &details, &mut applied))
            .await?;
        shared::sync_status::record_last_sync::<JiraToSirNotes>(self.jira.as_ref(), &issue).await;
        tracing::info!(?applied, "issue applied to SIR");
        Ok(applied)
    }

    /// Jira no longer has the issue an event names: its deletion recorded on the linked case,
    /// or nothing to do when it was never linked.
    async fn issue_missing(
        &self,
        key: &str,
        existing: Option<IssueLink>,
    ) -> Result<AppliedToSir, SirClientError> {
        match existing {
            Some(link) => self.record_deletion(&link).await,
            None => {
                tracing::info!(
                    issue_key = key,
                    "Jira no longer has the issue; nothing to do"
                );
                Ok(AppliedToSir::new(key, None, CaseOutcome::IssueGone))
            }
        }
    }

    /// The linked case as SIR has it now; a linked case SIR does not have is an error.
    async fn live_case(&self, case_id: &str, key: &str) -> Result<CaseDetails, SirClientError> {
        self.sir
            .get_case(case_id)
            .await?
            .ok_or_else(|| SirClientError::CaseNotFound {
                case_id: case_id.to_owned(),
                issue_key: key.to_owned(),
            })
    }

    /// The issue's changes applied to its open case: comments and attachments, then (on a case
    /// that already existed) the fields the event names, then the status; last, the case
    /// snapshot gets what was written.
    async fn apply_changes(
        &self,
        change: &IssueChange,
        created: bool,
        issue: &JiraIssue,
        case_id: &str,
        details: &CaseDetails,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        // A retried IssueCreated compares everything: the first try may have stopped anywhere.
        let wants = |field: IssueField| created || change.changed_fields.contains(&field);
        let mut touched = Touched::default();
        // Comments and attachments before the status: a comment written just before Done must
        // reach the case before it is closed.
        self.sync_comments(issue, case_id, applied).await?;
        self.sync_attachments(issue, details, applied).await?;
        if applied.outcome == CaseOutcome::Updated {
            self.apply_fields(issue, details, &wants, &mut touched, applied)
                .await?;
        }
        if wants(IssueField::Status) {
            self.apply_status(issue, details, &mut touched, applied)
                .await?;
        }
        self.record_snapshot(case_id, touched).await
    }

    /// CreateCase for an issue, then the case snapshot and the link at once (the response team
    /// is read first, so no SIR call can fail between them).
    async fn create_case(
        &self,
        issue: &JiraIssue,
    ) -> Result<(IssueLink, Vec<(String, String)>), SirClientError> {
        let key = issue.key.as_str();
        let start = issue
            .created
            .as_deref()
            .and_then(jira_timestamp_to_rfc3339)
            .ok_or_else(|| SirClientError::InvalidIssue {
                issue_key: key.to_owned(),
                reason: format!("its creation time {:?} is not a timestamp", issue.created),
            })?;
        let (watchers, watcher_accounts) = self.initial_watchers(issue).await?;
        let from_jira = self.values_from_jira(issue).await?;
        // Read before CreateCase: nothing between CreateCase and the records may fail on SIR.
        let team = shared::sir::team_emails(self.sir.as_ref()).await?;
        let new = NewCase {
            client_token: self.client_token(key, "case"),
            title: title_for(issue),
            description: description_for(issue),
            engagement_type: from_jira
                .engagement_type
                .unwrap_or_else(|| self.settings.engagement_type.clone()),
            resolver_type: self.settings.resolver_type.clone(),
            reported_incident_start_date: start,
            impacted_accounts: from_jira
                .impacted_accounts
                .unwrap_or_else(|| self.settings.impacted_accounts.clone()),
            impacted_regions: from_jira.impacted_regions,
            impacted_services: from_jira.impacted_services,
            watchers,
            tags: [
                (JIRA_ISSUE_TAG.to_owned(), key.to_owned()),
                (JIRA_SITE_TAG.to_owned(), jira_site(&self.settings.jira_url)),
            ]
            .into(),
        };
        let case_id = self.sir.create_case(&new).await?;
        tracing::info!(issue_key = key, case_id, "created the case");
        // The poller's baseline, from what was sent, before the link: once the link exists a
        // retry takes the update path, and without a snapshot the poller would publish the new
        // case back as one to describe.
        self.store
            .put_case_snapshot(&shared::sir::observed_snapshot(
                sent_snapshot(&case_id, &new),
                &team,
            ))
            .await?;
        let link = self.write_link(case_id, key).await?;
        self.link_watchers_added(&link.case_id, key, &watcher_accounts)
            .await?;
        Ok((link, from_jira.unusable))
    }

    /// The SIR fields a new case takes from the issue's mapped Jira fields (`jiraToSir`),
    /// checked as SIR checks them; a value SIR would refuse is left out and listed (item,
    /// why) to be reported once, and a field with no usable value keeps the default.
    async fn values_from_jira(&self, issue: &JiraIssue) -> Result<ValuesFromJira, SirClientError> {
        let mut values = ValuesFromJira::default();
        let mappings = self.mappings.current();
        if mappings.fields_from_jira.is_empty() {
            return Ok(values);
        }
        let ids = mappings
            .resolved
            .get_or_try_init(|| async {
                let site = self.jira.fields().await?;
                FieldMapping::resolve_reverse(&mappings.fields_from_jira, &site)
                    .map_err(|e| SirClientError::from(shared::Error::from(e)))
            })
            .await?;
        let wanted: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
        let found = self.jira.issue_fields(&issue.key, &wanted).await?;
        for (sir, id) in ids {
            let Some(value) = found.get(id) else { continue };
            let strings = strings_of(value);
            match sir {
                MappedSirField::ImpactedAccounts => {
                    let good = usable(
                        strings,
                        |a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()),
                        "a 12-digit AWS account ID",
                        id,
                        &mut values.unusable,
                    );
                    if !good.is_empty() {
                        values.impacted_accounts =
                            Some(good.into_iter().take(MAX_IMPACTED_ACCOUNTS).collect());
                    }
                }
                MappedSirField::ImpactedRegions => {
                    let good = usable(
                        strings,
                        is_sir_region,
                        "an AWS region code SIR takes (such as eu-west-1)",
                        id,
                        &mut values.unusable,
                    );
                    values.impacted_regions = good.into_iter().take(MAX_IMPACTED_REGIONS).collect();
                }
                MappedSirField::ImpactedServices => {
                    // A label has no spaces (`sirToJira` writes `_` for them), and a service
                    // name has no `_`.
                    let strings = strings.iter().map(|s| s.replace('_', " ")).collect();
                    let good = usable(
                        strings,
                        is_sir_service_name,
                        "a service name SIR takes (2 to 50 letters, digits, spaces and !\"#$%&'()*+,-.:)",
                        id,
                        &mut values.unusable,
                    );
                    values.impacted_services =
                        good.into_iter().take(MAX_IMPACTED_SERVICES).collect();
                }
                MappedSirField::EngagementType => {
                    let Some(first) = strings.first() else {
                        continue;
                    };
                    match ENGAGEMENT_TYPES
                        .iter()
                        .find(|t| t.eq_ignore_ascii_case(first))
                    {
                        Some(known) => values.engagement_type = Some((*known).to_owned()),
                        None => values.unusable.push((
                            format!("the value \"{first}\" of Jira field {id}"),
                            format!(
                                "not an engagement type SIR takes ({}), so the case has the \
                                 default {}",
                                ENGAGEMENT_TYPES.join(", "),
                                self.settings.engagement_type
                            ),
                        )),
                    }
                }
                _ => {}
            }
        }
        Ok(values)
    }

    /// The watchers a new case gets: the issue's watchers' e-mails, as many as SIR takes, and
    /// the accountId of each.
    async fn initial_watchers(
        &self,
        issue: &JiraIssue,
    ) -> Result<(Vec<String>, BTreeMap<String, String>), SirClientError> {
        let mut accounts = BTreeMap::new();
        let people = self.jira_people(issue).await?;
        for (email, account_id) in people.emails {
            if accounts.len() == MAX_WATCHERS {
                tracing::warn!(
                    issue_key = issue.key,
                    "more watchers than SIR takes; the rest are left out"
                );
                break;
            }
            accounts.insert(email, account_id);
        }
        Ok((accounts.keys().cloned().collect(), accounts))
    }

    /// Links each watcher the integration added to the case (e-mail → accountId) with origin
    /// `Jira`, so that it is removed from the case when it leaves the issue, and only it.
    async fn link_watchers_added(
        &self,
        case_id: &str,
        key: &str,
        added: &BTreeMap<String, String>,
    ) -> Result<(), SirClientError> {
        for (email, account_id) in added {
            self.store
                .put_item_link(&ItemLink {
                    kind: LinkedItemKind::Watcher,
                    case_id: case_id.to_owned(),
                    sir_id: email.clone(),
                    issue_key: key.to_owned(),
                    jira_id: account_id.clone(),
                    origin: Origin::Jira,
                    fingerprint: None,
                })
                .await?;
        }
        Ok(())
    }

    /// Links the new case to the issue; a link already there for the same pair (an earlier try)
    /// is fine, one for another pair is a conflict.
    async fn write_link(&self, case_id: String, key: &str) -> Result<IssueLink, SirClientError> {
        let link = IssueLink::new(&case_id, key);
        match self.store.create_link(&link).await? {
            LinkOutcome::Created => {}
            LinkOutcome::Exists(existing)
                if existing.case_id == case_id && existing.issue_key == key => {}
            LinkOutcome::Exists(existing) => {
                return Err(SirClientError::LinkConflict {
                    case_id,
                    issue_key: key.to_owned(),
                    existing: format!(
                        "case {} is linked to issue {}",
                        existing.case_id, existing.issue_key
                    ),
                });
            }
        }
        Ok(link)
    }

    /// One note on each side of a pair made from a Jira issue: on the case, the issue it came
    /// from; on the issue, the case made for it. Recorded on the issue once both are written;
    /// until then every delivery writes them again, the case's by its `clientToken` (SIR returns
    /// the same comment), so each side gets its note once whichever step a delivery stopped at.
    async fn announce_case(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let key = issue.key.as_str();
        let case_id = details.snapshot.case_id.as_str();
        let mut notes: JiraToSirNotes = read_notes(self.jira.as_ref(), key).await?;
        if notes.case_announced {
            return Ok(());
        }
        // A closed case takes no comment.
        if details.snapshot.status != SirStatus::Closed {
            self.sir
                .create_comment(
                    case_id,
                    &format!(
                        "This case was created from Jira issue {key} ({}). Comments, \
                         attachments, summary, description and status changes made there are \
                         copied here.",
                        self.settings.issue_url(key)
                    ),
                    &self.client_token(key, "announce"),
                )
                .await?;
            applied.notes += 1;
        }
        // Its marker makes it found again if the notes could not record it.
        post_once(
            self.jira.as_ref(),
            key,
            &format!(
                "AWS Security Incident Response case {case_id} was created for this issue: {}",
                case_console_url(&self.settings.region, case_id)
            ),
            &CommentMarker::note(KIND_CASE_CREATED, case_id),
        )
        .await?;
        notes.case_announced = true;
        write_notes(self.jira.as_ref(), key, &notes).await?;
        applied.notes += 1;
        Ok(())
    }

    /// Summary, description and watchers in one UpdateCase, each only if the event names it
    /// and it differs from the live case.
    async fn apply_fields(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        wants: &impl Fn(IssueField) -> bool,
        touched: &mut Touched,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let case = &details.snapshot;
        let mut edit = CaseEdit::default();
        if wants(IssueField::Summary) {
            let title = title_for(issue);
            if normalize_line(&case.title) != title {
                edit.title = Some(title);
            }
        }
        if wants(IssueField::Description) {
            let description = description_for(issue);
            if normalize_text(&case.description) != normalize_text(&description) {
                edit.description = Some(description);
            }
        }
        let mut watchers = WatcherChanges::default();
        if wants(IssueField::Watchers) {
            watchers = self.watcher_changes(issue, case).await?;
            edit.watchers_to_add = watchers.to_add.keys().cloned().collect();
            edit.watchers_to_delete = watchers.to_delete.clone();
        }
        if edit != CaseEdit::default() {
            self.sir.update_case(&case.case_id, &edit).await?;
        }
        // After the write: a link is only ever for a watcher the integration did add.
        self.link_watchers_added(&case.case_id, &issue.key, &watchers.to_add)
            .await?;
        for (link, state) in &watchers.new_states {
            self.store
                .put_item_link(&ItemLink {
                    fingerprint: Some(state.clone()),
                    ..link.clone()
                })
                .await?;
        }
        if edit.title.is_some() {
            touched.title = true;
            applied.fields_edited.push("title".to_owned());
        }
        if edit.description.is_some() {
            touched.description = true;
            applied.fields_edited.push("description".to_owned());
        }
        if !edit.watchers_to_add.is_empty() {
            touched.watchers_added = edit
                .watchers_to_add
                .iter()
                .map(|w| w.to_lowercase())
                .collect();
            applied.watchers_added = edit.watchers_to_add.len();
        }
        if !edit.watchers_to_delete.is_empty() {
            touched.watchers_removed = edit
                .watchers_to_delete
                .iter()
                .map(|w| w.to_lowercase())
                .collect();
            applied.watchers_removed = edit.watchers_to_delete.len();
        }
        if !(edit.watchers_to_add.is_empty() && edit.watchers_to_delete.is_empty()) {
            applied.fields_edited.push("watchers".to_owned());
        }
        Ok(())
    }

    /// What the case's watchers need, as jira-client does it the other way (see its
    /// `sync_watchers`): the issue's people (reporter and watchers with an e-mail SIR takes)
    /// not on the case are added and linked (origin `Jira`), within SIR's limit, unless a link
    /// says otherwise: one a person removed from the case is marked [`WATCHER_LEFT`] and not
    /// added again; one linked the other way (origin `Sir`: they watch the case by choice) is
    /// jira-client's. An active linked watcher no longer on the issue is removed from the case
    /// and marked [`WATCHER_REMOVED`] (only those: a person who watches the case by their own
    /// choice stays).
    async fn watcher_changes(
        &self,
        issue: &JiraIssue,
        case: &CaseSnapshot,
    ) -> Result<WatcherChanges, SirClientError> {
        let people = self.jira_people(issue).await?;
        let links: BTreeMap<String, ItemLink> = self
            .store
            .item_links_for_case(LinkedItemKind::Watcher, &case.case_id)
            .await?
            .into_iter()
            .filter(|link| link.issue_key == issue.key)
            .map(|link| (link.sir_id.clone(), link))
            .collect();
        let present: BTreeSet<String> = case.watchers.iter().map(|w| w.to_lowercase()).collect();
        let mut changes = WatcherChanges::default();
        for (email, link) in &links {
            if link.origin != Origin::Jira || people.accounts.contains(&link.jira_id) {
                continue;
            }
            match link.fingerprint.as_deref() {
                // Removed already, or left the case by their own choice: that stays.
                Some(_) => continue,
                None if present.contains(email) => changes.to_delete.push(email.clone()),
                None => {}
            }
            changes
                .new_states
                .push((link.clone(), WATCHER_REMOVED.to_owned()));
        }
        let room = MAX_WATCHERS.saturating_sub(present.len() - changes.to_delete.len());
        let mut missing: Vec<(String, String)> = Vec::new();
        for (email, account_id) in people.emails {
            if present.contains(&email) {
                continue;
            }
            if let Some(link) = links.get(&email) {
                match (link.origin, link.fingerprint.as_deref()) {
                    (Origin::Jira, Some(WATCHER_REMOVED)) => {}
                    // Added once; a person removed them from the case since.
                    (Origin::Jira, None) => {
                        changes
                            .new_states
                            .push((link.clone(), WATCHER_LEFT.to_owned()));
                        continue;
                    }
                    _ => continue,
                }
            }
            missing.push((email, account_id));
        }
        if missing.len() > room {
            tracing::warn!(
                issue_key = issue.key,
                left_out = missing.len() - room,
                "more watchers than SIR takes; the rest are left out"
            );
        }
        changes.to_add = missing.into_iter().take(room).collect();
        Ok(changes)
    }

    /// Moves the case to what the issue's status maps to, along SIR's graph. A Jira status that
    /// already corresponds to the case's status changes nothing (SIR has more statuses than the
    /// mapping distinguishes); one the case cannot take is reported on the case once per change.
    async fn apply_status(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        touched: &mut Touched,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let case_id = details.snapshot.case_id.as_str();
        let current = details.snapshot.status;
        let mappings = self.mappings.current();
        let mapping = &mappings.status;
        if mapping
            .jira_status_for(current)
            .eq_ignore_ascii_case(issue.status.trim())
        {
            return Ok(());
        }
        let steps = match mapping.plan_for_jira_status(current, &issue.status) {
            Ok(steps) => steps,
            Err(shared::status::StatusError::Unreachable { reason, .. }) => {
                let text = format!(
                    "Jira issue {} moved to \"{}\", which this case cannot follow from \"{}\": \
                     {reason}. The case keeps its status.",
                    issue.key,
                    issue.status,
                    current.as_str()
                );
                let token = self.client_token(
                    &issue.key,
                    &format!(
                        "status-{}",
                        Fingerprint::of_text(&format!(
                            "{}|{}|{}",
                            issue.status,
                            current.as_str(),
                            issue.updated.as_deref().unwrap_or_default()
                        ))
                    ),
                );
                self.sir.create_comment(case_id, &text, &token).await?;
                tracing::warn!(issue_key = issue.key, case_id, %text, "status not applied; reported on the case");
                applied.status_refused = Some(issue.status.clone());
                applied.notes += 1;
                return Ok(());
            }
            Err(other) => return Err(shared::Error::from(other).into()),
        };
        for step in steps {
            let done = match step {
                SirStatusStep::Update(status) => self.sir.update_case_status(case_id, status).await,
                SirStatusStep::Close => self.sir.close_case(case_id).await,
            };
            if let Err(err) = done {
                let item = format!(
                    "the status change to \"{}\" (case in \"{}\")",
                    issue.status,
                    current.as_str()
                );
                return self
                    .report_refusal(&issue.key, case_id, &item, err.into(), applied)
                    .await;
            }
            touched.status = true;
            applied.status_steps += 1;
        }
        Ok(())
    }

    /// One item of the event that SIR refused for good (`ValidationException`): reported once
    /// on the issue (remembered in its notes), and the rest of the event goes on. Any other
    /// failure fails the event, to be retried.
    pub(crate) async fn report_refusal(
        &self,
        key: &str,
        case_id: &str,
        item: &str,
        err: SirClientError,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let message = match &err {
            SirClientError::Shared(shared) => match shared.sir_refusal() {
                Some(message) => message.to_owned(),
                None => return Err(err),
            },
            _ => return Err(err),
        };
        self.report_problem(key, case_id, item, message, applied)
            .await
    }

    /// An item the case cannot take (`message` says why), reported once on the issue and on
    /// the case, and listed as an open problem (see [`Self::report_refusal`]).
    pub(crate) async fn report_problem(
        &self,
        key: &str,
        case_id: &str,
        item: &str,
        message: String,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        tracing::warn!(
            issue_key = key,
            case_id,
            item,
            message,
            "SIR refused an item"
        );
        applied.items_refused.push(item.to_owned());
        let mut notes: JiraToSirNotes = read_notes(self.jira.as_ref(), key).await?;
        // Read now, not from the event's first read: an earlier item of this event may have
        // put the label on.
        let labelled = self.jira.get_issue(key).await?.is_some_and(|issue| {
            issue
                .labels
                .iter()
                .any(|label| label == shared::sync_status::PROBLEM_LABEL)
        });
        let outcomes = shared::sync_status::ItemOutcomes {
            refused: vec![(item.to_owned(), message.clone())],
            went_through: BTreeSet::new(),
        };
        let status_changed = shared::sync_status::update_open_problems::<
            JiraToSirNotes,
            shared::issue_notes::SirToJiraNotes,
        >(self.jira.as_ref(), key, labelled, &mut notes, &outcomes)
        .await?;
        if !notes.reported_refusals.insert(item.to_owned()) {
            if status_changed {
                write_notes(self.jira.as_ref(), key, &notes).await?;
                shared::sync_status::confirm_label(self.jira.as_ref(), key, &notes).await?;
            }
            return Ok(());
        }
        self.say_refusal_on_case(key, case_id, item, &message)
            .await?;
        // A note an earlier try posted before it could record it in the notes.
        let listed = MarkedComments::load(self.jira.as_ref(), key)
            .await?
            .listed(KIND_SIR_REFUSAL, case_id);
        if !listed.contains(item) {
            self.jira
                .add_comment(
                    key,
                    &format!(
                        "AWS Security Incident Response refused {item} for case {case_id}: \
                         \"{message}\". Everything else on this issue is still copied to the case. \
                         What to do: change what SIR names above, or add it to the case by hand; \
                         this issue carries the label {} until you remove it.",
                        shared::sync_status::PROBLEM_LABEL
                    ),
                    &CommentMarker::listing(KIND_SIR_REFUSAL, case_id, [item.to_owned()]),
                )
                .await?;
        }
        write_notes(self.jira.as_ref(), key, &notes).await?;
        if status_changed {
            shared::sync_status::confirm_label(self.jira.as_ref(), key, &notes).await?;
        }
        applied.notes += 1;
        Ok(())
    }

    /// The refusal said on the case too, for responders working in SIR (its `clientToken`
    /// names the item, so a retry adds none). A case that refuses even this note (a closed one)
    /// keeps the issue's note and label: the refusal is logged, not retried.
    async fn say_refusal_on_case(
        &self,
        key: &str,
        case_id: &str,
        item: &str,
        message: &str,
    ) -> Result<(), SirClientError> {
        let token = self.client_token(
            key,
            &format!("problem-{}", &Fingerprint::of_text(item).as_str()[..16]),
        );
        let note = format!(
            "Not copied from the Jira issue {}: {item}. AWS Security Incident Response said: \
             \"{message}\". What to do: change it in Jira so SIR takes it, or add it to this \
             case by hand. The issue carries the label {} until someone removes it.",
            self.settings.issue_url(key),
            shared::sync_status::PROBLEM_LABEL
        );
        match self.sir.create_comment(case_id, &note, &token).await {
            Ok(_) => Ok(()),
            Err(err) if err.sir_refusal().is_some() => {
                tracing::warn!(case_id, issue_key = key, error = %err, "the case refused the note of a refusal");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Whether the issue holds something the (closed) case does not: a comment or attachment not
    /// copied, a comment edited since it was copied, or a summary/description that differs and
    /// that the delivery names as changed in Jira (`named`). A difference the event does not
    /// name is not a person's edit after the closure: a title and summary edited on both sides
    /// within seconds just before it, each side left with the other's word, is the closing
    /// audit's to settle (which a note would stop: it is the audit's sign of such an edit).
    async fn has_unsynced_changes(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        named: impl Fn(IssueField) -> bool,
    ) -> Result<bool, SirClientError> {
        let case = &details.snapshot;
        if (named(IssueField::Summary) && normalize_line(&case.title) != title_for(issue))
            || (named(IssueField::Description)
                && normalize_text(&case.description) != normalize_text(&description_for(issue)))
        {
            return Ok(true);
        }
        let me = self
            .integration_account
            .id(self.jira.as_ref())
            .await?
            .to_owned();
        let key = issue.key.as_str();
        let copied = |links: Vec<ItemLink>| -> BTreeSet<String> {
            links.into_iter().map(|l| l.jira_id).collect()
        };
        let comment_links: BTreeMap<String, ItemLink> = self
            .store
            .item_links_for_issue(LinkedItemKind::Comment, key)
            .await?
            .into_iter()
            .map(|link| (link.jira_id.clone(), link))
            .collect();
        // A comment not copied, or one from Jira edited since its copy was written (as
        // jira-notifications-handler tells edits apart).
        let fresh_comment = self
            .jira
            .comments(key)
            .await?
            .into_iter()
            .any(|c| match comment_links.get(&c.id) {
                Some(link) if link.origin == Origin::Sir => false,
                Some(link) => {
                    link.fingerprint.as_deref() != Some(Fingerprint::of_text(&c.body).as_str())
                }
                None => c.author_account_id.as_deref() != Some(me.as_str()),
            });
        if fresh_comment {
            return Ok(true);
        }
        let attachments = copied(
            self.store
                .item_links_for_issue(LinkedItemKind::Attachment, key)
                .await?,
        );
        Ok(issue.attachments.iter().any(|a| {
            a.author_account_id.as_deref() != Some(me.as_str()) && !attachments.contains(&a.id)
        }))
    }

    /// The first change to the issue of a closed case is answered on the issue; SIR is left
    /// alone (a closed case accepts no change).
    async fn report_closed_case(
        &self,
        key: &str,
        case_id: &str,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let mut notes: JiraToSirNotes = read_notes(self.jira.as_ref(), key).await?;
        if notes.closed_case_reported {
            tracing::info!(
                issue_key = key,
                case_id,
                "the case is closed; already reported"
            );
            return Ok(());
        }
        post_once(
            self.jira.as_ref(),
            key,
            &format!(
                "The AWS Security Incident Response case {case_id} is closed, so changes made to \
                 this issue are no longer copied to it (SIR does not reopen closed cases)."
            ),
            &CommentMarker::note(KIND_CLOSED_CASE_CHANGES, case_id),
        )
        .await?;
        notes.closed_case_reported = true;
        write_notes(self.jira.as_ref(), key, &notes).await?;
        applied.notes += 1;
        Ok(())
    }

    /// `IssueDeleted`: recorded on the case, then the link is marked broken.
    async fn issue_deleted(&self, gone: &IssueGone) -> Result<AppliedToSir, SirClientError> {
        let key = gone.issue_key.as_str();
        match self.store.link_for_issue(key).await? {
            None => {
                tracing::info!(
                    issue_key = key,
                    "the deleted issue has no case; nothing to record"
                );
                Ok(AppliedToSir::new(key, None, CaseOutcome::NotLinked))
            }
            Some(link) if link.broken.is_some() => Ok(AppliedToSir::new(
                key,
                Some(&link.case_id),
                CaseOutcome::LinkBroken,
            )),
            Some(link) => {
                // Never trust the event alone: an issue Jira still has was not deleted.
                if self.jira.get_issue(key).await?.is_some() {
                    tracing::warn!(
                        issue_key = key,
                        "IssueDeleted for an issue Jira still has; ignored"
                    );
                    return Ok(AppliedToSir::new(
                        key,
                        Some(&link.case_id),
                        CaseOutcome::Updated,
                    ));
                }
                self.record_deletion(&link).await
            }
        }
    }

    /// A comment on the case (unless it is closed or gone) and the link marked broken; the
    /// case's data is never changed.
    async fn record_deletion(&self, link: &IssueLink) -> Result<AppliedToSir, SirClientError> {
        let key = link.issue_key.as_str();
        let case_id = link.case_id.as_str();
        let mut applied = AppliedToSir::new(key, Some(case_id), CaseOutcome::Deleted);
        match self.sir.get_case(case_id).await? {
            Some(details) if details.snapshot.status != SirStatus::Closed => {
                self.sir
                    .create_comment(
                        case_id,
                        &shared::store::issue_deleted_case_note(key),
                        &self.client_token(key, "deleted"),
                    )
                    .await?;
                applied.notes += 1;
            }
            Some(_) => tracing::info!(issue_key = key, case_id, "the case is closed; no comment"),
            None => tracing::info!(issue_key = key, case_id, "the case is gone too"),
        }
        self.store
            .mark_link_broken(link, ISSUE_DELETED_REASON)
            .await?;
        tracing::info!(issue_key = key, case_id, "recorded the issue's deletion");
        Ok(applied)
    }

    /// Stores the case snapshot with the fields this delivery changed, read back from SIR, so
    /// the poller sees no change of ours. Fields it did not change keep their stored value, so a
    /// change someone made in SIR meanwhile is still published.
    async fn record_snapshot(&self, case_id: &str, touched: Touched) -> Result<(), SirClientError> {
        if !(touched.title
            || touched.description
            || !touched.watchers_added.is_empty()
            || !touched.watchers_removed.is_empty()
            || touched.status)
        {
            return Ok(());
        }
        let Some(details) = self.sir.get_case(case_id).await? else {
            return Ok(());
        };
        let team = shared::sir::team_emails(self.sir.as_ref()).await?;
        let fresh = shared::sir::observed_snapshot(details.snapshot, &team);
        let snapshot = match self.store.case_snapshot(case_id).await? {
            None => fresh,
            Some(before) => merge_touched(before, &fresh, &touched),
        };
        self.store.put_case_snapshot(&snapshot).await?;
        Ok(())
    }

    /// The issue's reporter and watchers other than the integration user: every accountId, and
    /// the e-mails Jira shows (privacy settings may hide them) that SIR takes as watchers,
    /// lower-cased, with their accountIds; never invented.
    async fn jira_people(&self, issue: &JiraIssue) -> Result<JiraPeople, SirClientError> {
        let me = self
            .integration_account
            .id(self.jira.as_ref())
            .await?
            .to_owned();
        let mut people = JiraPeople::default();
        let mut push = |account_id: &str, email: Option<&str>| {
            people.accounts.insert(account_id.to_owned());
            if let Some(email) = email.map(|e| e.trim().to_lowercase())
                && is_sir_email(&email)
                && !people.emails.iter().any(|(known, _)| *known == email)
            {
                people.emails.push((email, account_id.to_owned()));
            }
        };
        if let Some(reporter) = issue.reporter.as_ref().filter(|r| r.account_id != me) {
            push(&reporter.account_id, reporter.email.as_deref());
        }
        for account_id in self.jira.watchers(&issue.key).await? {
            if account_id == me {
                continue;
            }
            let user = self.jira.user(&account_id).await?;
            push(&account_id, user.as_ref().and_then(|u| u.email.as_deref()));
        }
        Ok(people)
    }

    /// A `clientToken` for one create made on behalf of the issue: the same for every retry,
    /// different per Jira site (two deployments with the same project key never collide).
    fn client_token(&self, key: &str, what: &str) -> String {
        let site = shared::sir::jira_site_id(&self.settings.jira_url);
        let token = format!("jira-{site}-{key}-{what}");
        clip_chars(&token, 255)
    }
}

/// What a new case takes from the issue's mapped fields (see
/// [`SirClientHandler::values_from_jira`]); `None`: the default.
#[derive(Debug, Default)]
struct ValuesFromJira {
    impacted_accounts: Option<Vec<String>>,
    /// Empty when unmapped or unset: SIR has no default for them.
    impacted_regions: Vec<String>,
    impacted_services: Vec<String>,
    engagement_type: Option<String>,
    /// (item, why) for each value SIR would refuse.
    unusable: Vec<(String, String)>,
}

/// The values of Jira field `id` that pass `check` (each once, in order), each other one listed
/// in `unusable` as not `what`.
fn usable(
    values: Vec<String>,
    check: impl Fn(&str) -> bool,
    what: &str,
    id: &str,
    unusable: &mut Vec<(String, String)>,
) -> Vec<String> {
    let mut good: Vec<String> = Vec::new();
    for value in values {
        if !check(&value) {
            unusable.push((
                format!("the value \"{value}\" of Jira field {id}"),
                format!("not {what}, so the case was created without it"),
            ));
        } else if !good.contains(&value) {
            good.push(value);
        }
    }
    good
}

/// The people of an issue (see [`SirClientHandler::jira_people`]).
#[derive(Debug, Default)]
struct JiraPeople {
    accounts: BTreeSet<String>,
    /// (e-mail, accountId), in the issue's order: reporter first.
    emails: Vec<(String, String)>,
}

/// What one delivery changes in the case's watchers (see
/// [`SirClientHandler::watcher_changes`]).
#[derive(Debug, Default)]
struct WatcherChanges {
    /// E-mail → accountId.
    to_add: BTreeMap<String, String>,
    to_delete: Vec<String>,
    /// Links whose state changes ([`WATCHER_LEFT`], [`WATCHER_REMOVED`]), written once the
    /// case was updated.
    new_states: Vec<(ItemLink, String)>,
}

/// The answer for an issue whose link is broken (one side was deleted): SIR is left alone.
fn left_alone_for_broken_link(key: &str, link: &IssueLink) -> AppliedToSir {
    tracing::info!(
        issue_key = key,
        case_id = link.case_id,
        reason = link.broken,
        "the link is broken; SIR is left alone"
    );
    AppliedToSir::new(key, Some(&link.case_id), CaseOutcome::LinkBroken)
}

/// The snapshot of a case just created with `new`, as the poller will observe it (before the
/// response team joins its watchers): SIR starts every case `Submitted`.
fn sent_snapshot(case_id: &str, new: &NewCase) -> CaseSnapshot {
    CaseSnapshot {
        case_id: case_id.to_owned(),
        title: new.title.clone(),
        description: new.description.clone(),
        status: SirStatus::Submitted,
        closure_code: None,
        engagement_type: Some(new.engagement_type.clone()),
        reported_incident_start_date: Some(new.reported_incident_start_date.clone()),
        impacted_accounts: new.impacted_accounts.iter().cloned().collect(),
        impacted_regions: new.impacted_regions.iter().cloned().collect(),
        impacted_services: new.impacted_services.iter().cloned().collect(),
        watchers: new.watchers.iter().cloned().collect(),
    }
}

/// `before` with the fields a delivery changed taken from `fresh`.
fn merge_touched(before: CaseSnapshot, fresh: &CaseSnapshot, touched: &Touched) -> CaseSnapshot {
    let mut snapshot = before;
    if touched.title {
        snapshot.title = fresh.title.clone();
    }
    if touched.description {
        snapshot.description = fresh.description.clone();
    }
    snapshot.watchers.extend(
        fresh
            .watchers
            .iter()
            .filter(|watcher| touched.watchers_added.contains(&watcher.to_lowercase()))
            .cloned(),
    );
    // Only one SIR no longer lists (a response team member stays in what the poller sees).
    snapshot.watchers.retain(|watcher| {
        !touched.watchers_removed.contains(&watcher.to_lowercase())
            || fresh
                .watchers
                .iter()
                .any(|w| w.eq_ignore_ascii_case(watcher))
    });
    if touched.status {
        snapshot.status = fresh.status;
        snapshot.closure_code = fresh.closure_code.clone();
    }
    snapshot.normalized()
}

/// Whether SIR accepts `email` as a watcher (its model's pattern and length, roughly).
fn is_sir_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    (6..=254).contains(&email.len())
        && !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c))
        && !domain.is_empty()
        && domain.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The case title for an issue: its summary on one line within SIR's limit.
pub fn title_for(issue: &JiraIssue) -> String {
    let title = clip_chars(&normalize_line(&issue.summary), SIR_TITLE_MAX_CHARS);
    if title.is_empty() {
        format!("Jira issue {}", issue.key)
    } else {
        title
    }
}

/// The case description for an issue: its description (without a details block) within SIR's
/// limit, saying so when it was cut; SIR requires one, so an empty one says it is empty (see
/// [`sir_description_for_issue`], which jira-client also uses to recognise SIR's copy).
pub fn description_for(issue: &JiraIssue) -> String {
    sir_description_for_issue(&issue.key, &issue.description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::text::SIR_DESCRIPTION_MAX_CHARS;

    fn issue(summary: &str, description: &str) -> JiraIssue {
        JiraIssue {
            id: "10001".into(),
            key: "SEC-12".into(),
            summary: summary.into(),
            description: description.into(),
            description_adf: shared::adf::text_to_adf(description),
            status: "To Do".into(),
            labels: Vec::new(),
            created: Some("2026-11-21T10:00:00.000+0000".into()),
            updated: None,
            reporter: None,
            creator: None,
            attachments: Vec::new(),
            notes_properties: Default::default(),
        }
    }

    #[test]
    fn the_poller_baseline_of_a_new_case_holds_the_regions_and_services_sent() {
        let new = NewCase {
            client_token: "t".into(),
            title: "T".into(),
            description: "D".into(),
            engagement_type: "Investigation".into(),
            resolver_type: "Self".into(),
            reported_incident_start_date: "2026-11-21T10:00:00Z".into(),
            impacted_accounts: vec!["111122223333".into()],
            impacted_regions: vec!["eu-west-1".into()],
            impacted_services: vec!["Amazon S3".into()],
            watchers: Vec::new(),
            tags: BTreeMap::new(),
        };
        let snapshot = sent_snapshot("c-1", &new);
        // Otherwise the poller would see them as a change in SIR and publish the case back.
        assert_eq!(
            snapshot.impacted_regions,
            BTreeSet::from(["eu-west-1".to_owned()])
        );
        assert_eq!(
            snapshot.impacted_services,
            BTreeSet::from(["Amazon S3".to_owned()])
        );
    }

    #[test]
    fn title_and_description_stay_within_sir_limits_and_are_never_empty() {
        let long = issue(&"t".repeat(400), &"d".repeat(9_000));
        assert_eq!(title_for(&long).chars().count(), SIR_TITLE_MAX_CHARS);
        let description = description_for(&long);
        assert_eq!(description.chars().count(), SIR_DESCRIPTION_MAX_CHARS);
        assert!(description.ends_with("the full text is in Jira issue SEC-12.]"));
        let empty = issue("  ", "");
        assert_eq!(title_for(&empty), "Jira issue SEC-12");
        assert_eq!(
            description_for(&empty),
            "Jira issue SEC-12 has no description."
        );
    }

    #[test]
    fn only_emails_sir_accepts_are_watchers() {
        assert!(is_sir_email("alice@example.com"));
        assert!(is_sir_email("a.b+c@sub.example.co"));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@b..c",
            "x@y",
        ] {
            assert!(!is_sir_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn snapshot_takes_only_the_fields_and_watchers_this_delivery_changed() {
        let base = CaseSnapshot {
            case_id: "1".into(),
            title: "old".into(),
            description: "old".into(),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        };
        let fresh = CaseSnapshot {
            title: "new".into(),
            description: "changed in SIR meanwhile".into(),
            status: SirStatus::Closed,
            closure_code: Some("Investigation Completed".into()),
            watchers: ["ann@example.com".into(), "dan@example.com".into()].into(),
            ..base.clone()
        };
        let merged = merge_touched(
            base.clone(),
            &fresh,
            &Touched {
                title: true,
                status: true,
                watchers_added: ["ann@example.com".into()].into(),
                ..Touched::default()
            },
        );
        assert_eq!(
            merged.watchers,
            BTreeSet::from(["ann@example.com".to_owned()]),
            "a watcher added in SIR meanwhile (dan) is not taken as synced"
        );
        assert_eq!(merged.title, "new");
        assert_eq!(merged.description, "old");
        assert_eq!(merged.status, SirStatus::Closed);
        assert_eq!(
            merged.closure_code.as_deref(),
            Some("Investigation Completed")
        );
    }
}
