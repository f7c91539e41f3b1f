//! jira-notifications-handler: the Lambda behind the SNS topic Jira Automation publishes to, and
//! behind the function URL signed Jira webhooks call ([`webhook`]). It turns "something happened
//! to issue KEY" into `IssueCreated | IssueUpdated | IssueDeleted` on the integration bus (source
//! `jira`), for sir-client to apply to SIR. A webhook that passes its checks takes the same path
//! as an SNS record from step 1's initiator check on.
//!
//! [`NotificationHandler::handle`] is exactly what Lambda runs (`main.rs` only wires it). For
//! every record of the SNS event:
//! 1. the message is validated ([`message::parse_notification`]); a rejected one is logged with
//!    its class and dropped, with no call made on its behalf; a message whose rule names the
//!    integration account as the initiator (`Initiator`, see the README's rule table) is the
//!    integration's own change and is dropped too, unread (the account is read once per cold
//!    start);
//! 2. repeated messages about one issue are coalesced ([`coalesce`]): a message published before
//!    a re-read of the issue started is covered by it and costs no Jira call, and at most a few
//!    re-reads of an issue start per ten-second window, however many messages name it; a
//!    message that finds every slot taken waits for the next window, so no change is lost;
//! 3. the issue is re-read from Jira (the message is never trusted for content). A 404 for an
//!    issue the table links publishes `IssueDeleted`; for an unknown issue it does nothing;
//! 4. the issue is compared with the Jira-side snapshot (one GetItem) and the comment and
//!    attachment maps: an issue of the project never linked and not made by the integration
//!    (no `sir-case-*` label) publishes `IssueCreated`; a linked one publishes `IssueUpdated` when
//!    the synced fields' fingerprint changed or it has comments/attachments that are new or
//!    edited and did not come from SIR. Anything the integration user wrote is an echo of
//!    jira-client and is not published;
//! 5. an `IssueCreated`/`IssueUpdated` is recorded in the pending-delivery ledger before it is
//!    published (sir-client acknowledges it once applied; the poller's reconciler publishes it
//!    again if that never happens); after a successful publish the snapshot is stored, so the
//!    next message about an unchanged issue publishes nothing.
//!
//! A record that fails (Jira, DynamoDB or EventBridge) does not stop the others; the invocation
//! then returns `Err` naming them, so Lambda retries it and the dead-letter queue keeps it.
//!
//! An issue not linked to a case creates one only if the case filter admits it
//! ([`CaseFilter`]: by default issues created after the installation; or a JQL filter, checked as
//! `key = <key> AND (<filter>)`); any other is skipped with a log line and no event.
//!
//! The same Lambda also runs on a schedule: a `Scheduled Event` runs the Jira [`sweep`], which
//! puts every issue updated since its cursor through the same [`NotificationHandler::sync_issue`],
//! then audits a few open issues round-robin the same way, so an edit the search missed is found
//! too ([`NotificationHandler::handle_invocation`] tells the two inputs apart).

pub mod coalesce;
mod config;
mod error;
pub mod message;
mod metrics;
pub mod sweep;
pub mod webhook;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use shared::store::now_epoch_seconds;

use aws_lambda_events::sns::SnsEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::CaseFilter;
use shared::events::{BusEvent, IdDelta, IssueChange, IssueField, IssueGone};
use shared::jira::{IntegrationAccount, JiraApi, JiraIssue, jira_timestamp_to_epoch_ms};
use shared::publisher::EventPublisher;
use shared::snapshot::{Fingerprint, IssueSnapshot};
use shared::store::{
    DELETED_IN_JIRA, IssueLink, ItemLink, ItemLinkStore, LinkStore, LinkedItemKind,
    NotifiedWindowStore, Origin, PendingDeliveryStore, SnapshotStore, SweepCursorStore,
    WebhookDeliveryStore,
};

use crate::coalesce::{Admission, Coalescer};

pub use coalesce::Coalescing;
pub use config::{
    ENV_AUDIT_INTERVAL_MINUTES, ENV_AUDIT_PER_RUN, NotificationsConfig, NotificationsSettings,
};
pub use error::{HandlerError, RecordFailure, SweepFailure};
pub use message::{MAX_MESSAGE_BYTES, Notification, Rejection, parse_notification};
pub use sweep::{SweepReport, Sweeping, SweptIssue};
pub use webhook::{WebhookRejection, WebhookRequest, WebhookResponse};

/// How far a webhook's `timestamp` (Jira's clock) is trusted ahead of our own: a delivery counts
/// as published at the later of that plus this and never after it was received.
const WEBHOOK_CLOCK_MARGIN: Duration = Duration::from_secs(2);

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How long a handled webhook delivery is remembered: past Jira's last retry (about 30 minutes),
/// and a replayed delivery older than this only costs a re-read of the issue.
const WEBHOOK_DELIVERY_KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// What the handler did about one issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NotificationOutcome {
    /// `IssueCreated` was published.
    Created,
    /// `IssueUpdated` was published.
    Updated,
    /// `IssueDeleted` was published (Jira answers 404 for a linked issue).
    Deleted,
    /// The issue is as last synced, or what changed was the integration's own writing.
    Unchanged,
    /// An issue jira-client made for a SIR case, not linked yet: SIR already has it.
    FromSir,
    /// The link is broken (one side was deleted): nothing is synced any more.
    LinkBroken,
    /// Jira answers 404 and the table knows no such issue: nothing to tell.
    UnknownIssue,
    /// Not re-read: a re-read of the issue that started after this message was published covers
    /// it (see [`coalesce`]).
    Coalesced,
    /// Not linked, and the case filter does not let it create a case: nothing published.
    OutsideCaseFilter,
    /// Not re-read: the rule names the integration account as the initiator, so the change is
    /// the integration's own writing (which would read as [`NotificationOutcome::Unchanged`]).
    OwnChange,
    /// Not re-read yet: a webhook found every re-read slot of the issue's window taken; it is
    /// answered 429, so Jira delivers it again after the window.
    Busy,
}

impl NotificationOutcome {
    /// Every outcome.
    pub const ALL: [NotificationOutcome; 11] = [
        NotificationOutcome::Created,
        NotificationOutcome::Updated,
        NotificationOutcome::Deleted,
        NotificationOutcome::Unchanged,
        NotificationOutcome::FromSir,
        NotificationOutcome::LinkBroken,
        NotificationOutcome::UnknownIssue,
        NotificationOutcome::Coalesced,
        NotificationOutcome::OutsideCaseFilter,
        NotificationOutcome::OwnChange,
        NotificationOutcome::Busy,
    ];
}

/// What one invocation did: a batch of SNS records, or a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InvocationReport {
    Notifications(BatchReport),
    Sweep(SweepReport),
    /// The function URL's answer to a webhook request.
    Webhook(WebhookResponse),
}

/// What happened to one SNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    pub message_id: String,
    /// The issue, when the message was accepted.
    pub issue_key: Option<String>,
    pub outcome: Option<NotificationOutcome>,
    /// The rejection class (`not-json`, `missing-key`, …), when it was rejected.
    pub rejected: Option<&'static str>,
}

/// What one invocation did (the Lambda's response, and what tests look at).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub records: Vec<RecordReport>,
}

impl BatchReport {
    /// The outcomes of accepted records, in order.
    pub fn outcomes(&self) -> Vec<NotificationOutcome> {
        self.records.iter().filter_map(|r| r.outcome).collect()
    }

    /// The rejection classes, in order.
    pub fn rejections(&self) -> Vec<&'static str> {
        self.records.iter().filter_map(|r| r.rejected).collect()
    }
}

/// What jira-notifications-handler uses of the mapping table: links, issue snapshots, item maps,
/// its own re-read windows, the sweep's cursor and the pending-delivery ledger (recording what
/// it publishes).
pub trait NotificationsStore:
    LinkStore
    + SnapshotStore
    + ItemLinkStore
    + NotifiedWindowStore
    + SweepCursorStore
    + PendingDeliveryStore
    + WebhookDeliveryStore
{
}

impl<T> NotificationsStore for T where
    T: LinkStore
        + SnapshotStore
        + ItemLinkStore
        + NotifiedWindowStore
        + SweepCursorStore
        + PendingDeliveryStore
        + WebhookDeliveryStore
        + ?Sized
{
}

/// Turns Jira Automation notifications into issue events.
pub struct NotificationHandler {
    jira: Arc<dyn JiraApi>,
    store: Arc<dyn NotificationsStore>,
    publisher: Arc<dyn EventPublisher>,
    settings: NotificationsSettings,
    /// The integration user's accountId (read once): what it wrote is jira-client's echo.
    integration_account: IntegrationAccount,
    coalescer: Coalescer,
    /// The webhook intake's secret (`None`: the intake is off).
    webhook_secret: Option<SecretString>,
}

impl std::fmt::Debug for NotificationHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationHandler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl NotificationHandler {
    pub fn new(
        jira: Arc<dyn JiraApi>,
        store: Arc<dyn NotificationsStore>,
        publisher: Arc<dyn EventPublisher>,
        settings: NotificationsSettings,
    ) -> Self {
        NotificationHandler {
            jira,
            store,
            publisher,
            settings,
            integration_account: IntegrationAccount::new(),
            coalescer: Coalescer::default(),
            webhook_secret: None,
        }
    }

    /// The same handler with the webhook intake on, checking signatures under `secret`.
    #[must_use]
    pub fn with_webhook_secret(mut self, secret: SecretString) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    /// Replaces the case filter, as a cold start reading new SSM values would.
    pub fn set_case_filter(&mut self, case_filter: CaseFilter) {
        self.settings.case_filter = case_filter;
    }

    /// The same handler with other coalescing settings (the default is [`Coalescing::default`]).
    #[must_use]
    pub fn with_coalescing(mut self, settings: Coalescing) -> Self {
        self.coalescer = Coalescer { settings };
        self
    }

    /// Lambda's input, whichever it is: an SNS event (Jira Automation) is handled record by
    /// record ([`NotificationHandler::handle`]); the schedule rule's `Scheduled Event` runs the
    /// [`sweep`]. Anything else is an error, with nothing done.
    pub async fn handle_invocation(&self, event: Value) -> Result<InvocationReport, HandlerError> {
        let text = |field: &str| event.get(field).and_then(Value::as_str);
        if text("detail-type") == Some("Scheduled Event") && text("source") == Some("aws.events") {
            return self.sweep().await.map(InvocationReport::Sweep);
        }
        if WebhookRequest::is_function_url_event(&event) {
            return self
                .handle_function_url_event(&event)
                .await
                .map(InvocationReport::Webhook);
        }
        if event.get("Records").is_some() {
            let shown: String = event.to_string().chars().take(200).collect();
            let sns: SnsEvent = serde_json::from_value(event)
                .map_err(|_| HandlerError::UnknownInvocation { shown })?;
            return self.handle(sns).await.map(InvocationReport::Notifications);
        }
        Err(HandlerError::UnknownInvocation {
            shown: event.to_string().chars().take(200).collect(),
        })
    }

    /// Handles every record of an SNS event.
    pub async fn handle(&self, event: SnsEvent) -> Result<BatchReport, HandlerError> {
        let total = event.records.len();
        let mut report = BatchReport::default();
        let mut failures = Vec::new();
        for record in event.records {
            let message_id = record.sns.message_id;
            // Set by SNS when it accepted the publish (a sender cannot choose it); a value
            // before 1970 (never seen) counts as "just now", so it is never covered.
            let published_ms =
                u64::try_from(record.sns.timestamp.timestamp_millis()).unwrap_or(u64::MAX);
            match self
                .handle_message(&message_id, &record.sns.message, published_ms)
                .await
            {
                Ok(record_report) => report.records.push(record_report),
                Err((issue_key, error)) => {
                    tracing::error!(
                        message_id,
                        issue_key,
                        error = %shared::error::error_chain(&error),
                        "notification not handled; the invocation fails so it is retried"
                    );
                    failures.push(RecordFailure {
                        message_id,
                        issue_key,
                        error,
                    });
                }
            }
        }
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(HandlerError::RecordsFailed { total, failures })
        }
    }

    /// Validates one message (published by SNS at `published_ms`, epoch milliseconds) and syncs
    /// the issue it names, unless a re-read covers it. A rejected message is `Ok` (logged, nothing
    /// done); a failure names the issue.
    pub async fn handle_message(
        &self,
        message_id: &str,
        message: &str,
        published_ms: u64,
    ) -> Result<RecordReport, (String, shared::Error)> {
        let notification = match parse_notification(message, &self.settings.project_key) {
            Ok(notification) => notification,
            Err(rejection) => {
                tracing::warn!(
                    message_id,
                    rejection = rejection.kind(),
                    reason = %rejection,
                    "rejected a notification: nothing was read or published for it"
                );
                return Ok(RecordReport {
                    message_id: message_id.to_owned(),
                    issue_key: None,
                    outcome: None,
                    rejected: Some(rejection.kind()),
                });
            }
        };
        self.handle_notification(message_id, notification, published_ms, true)
            .await
    }

    /// Syncs the issue a notification that passed its checks names (published at
    /// `published_ms`, epoch milliseconds), unless it is the integration's own change or a
    /// re-read covers it.
    async fn handle_notification(
        &self,
        message_id: &str,
        notification: Notification,
        published_ms: u64,
        wait_for_slot: bool,
    ) -> Result<RecordReport, (String, shared::Error)> {
        let key = notification.issue_key;
        let report = |key: String, outcome| RecordReport {
            message_id: message_id.to_owned(),
            issue_key: Some(key),
            outcome: Some(outcome),
            rejected: None,
        };
        if let Some(initiator) = &notification.initiator {
            let me = match self.integration_account.id(self.jira.as_ref()).await {
                Ok(me) => me,
                Err(error) => return Err((key, error)),
            };
            if initiator == me {
                tracing::debug!(
                    message_id,
                    issue_key = key,
                    "the integration's own change; not re-read"
                );
                return Ok(report(key, NotificationOutcome::OwnChange));
            }
        }
        let slot = match self
            .coalescer
            .admit(self.store.as_ref(), &key, published_ms, wait_for_slot)
            .await
        {
            Ok(Admission::Read(slot)) => slot,
            Ok(Admission::Busy { closes_ms }) => {
                tracing::info!(
                    message_id,
                    issue_key = key,
                    closes_ms,
                    "every re-read slot of the issue is taken; the webhook comes again"
                );
                return Ok(report(key, NotificationOutcome::Busy));
            }
            Ok(Admission::Covered {
                read_started_after_ms,
            }) => {
                tracing::debug!(
                    message_id,
                    issue_key = key,
                    read_started_after_ms,
                    "a re-read that started after this message was published covers it"
                );
                return Ok(report(key, NotificationOutcome::Coalesced));
            }
            Err(error) => return Err((key, error)),
        };
        match self.sync_issue(&key, notification.deleted_hint).await {
            Ok(outcome) => Ok(report(key, outcome)),
            Err(error) => {
                slot.give_back(self.store.as_ref(), &key).await;
                Err((key, error))
            }
        }
    }

    /// A function URL request: a Jira webhook (see [`webhook`]), answered with its status.
    async fn handle_function_url_event(
        &self,
        event: &Value,
    ) -> Result<WebhookResponse, HandlerError> {
        let checked = match &self.webhook_secret {
            None => Err(WebhookRejection::IntakeOff),
            Some(secret) => WebhookRequest::from_function_url_event(event).and_then(|request| {
                webhook::verify_webhook(&request, secret, &self.settings.project_key)
            }),
        };
        let delivery = match checked {
            Ok(delivery) => delivery,
            Err(rejection) => {
                tracing::warn!(
                    rejection = rejection.kind(),
                    status = rejection.status(),
                    reason = %rejection,
                    "rejected a webhook request: nothing was read or published for it"
                );
                return Ok(WebhookResponse::new(
                    rejection.status(),
                    "rejected",
                    rejection.kind(),
                ));
            }
        };
        self.handle_webhook(delivery).await
    }

    /// A webhook delivery that passed its checks: handled once per Jira delivery identifier.
    pub async fn handle_webhook(
        &self,
        delivery: webhook::WebhookDelivery,
    ) -> Result<WebhookResponse, HandlerError> {
        let key = delivery.notification.issue_key.clone();
        let identifier = delivery
            .identifier
            .clone()
            .unwrap_or_else(|| "(none)".to_owned());
        let failed = |source: shared::Error| HandlerError::Webhook {
            identifier: identifier.clone(),
            issue_key: key.clone(),
            source,
        };
        let now = now_epoch_seconds();
        if let Some(id) = &delivery.identifier
            && self.store.delivery_handled(id, now).await.map_err(failed)?
        {
            tracing::info!(
                delivery = id,
                issue_key = key,
                "a webhook delivery handled already; not handled again"
            );
            return Ok(WebhookResponse::new(200, "outcome", "Duplicate"));
        }
        // Received now: the change was made before. Jira's own `timestamp` is its clock's (a Data
        // Center server's may be off), so it is trusted only within WEBHOOK_CLOCK_MARGIN of
        // ours: a re-read covers this delivery only if it started after the change.
        let now_ms = shared::clock::now_epoch_millis();
        let published_ms = delivery.event_ms.map_or(now_ms, |at| {
            at.saturating_add(millis(WEBHOOK_CLOCK_MARGIN)).min(now_ms)
        });
        let report = self
            .handle_notification(
                &identifier,
                delivery.notification.clone(),
                published_ms,
                false,
            )
            .await;
        let report = match report {
            Ok(report) => report,
            Err((_, error)) => {
                tracing::error!(
                    delivery = identifier,
                    issue_key = key,
                    error = %shared::error::error_chain(&error),
                    "webhook delivery not handled; answered 502 so Jira retries it"
                );
                return Err(failed(error));
            }
        };
        if report.outcome == Some(NotificationOutcome::Busy) {
            // Not handled: Jira retries a 429 (after the window, as it spaces its retries).
            let mut response = WebhookResponse::new(429, "outcome", "Busy");
            response.headers.insert(
                "retry-after".into(),
                millis(self.coalescer.settings.window)
                    .div_ceil(1_000)
                    .to_string(),
            );
            return Ok(response);
        }
        if let Some(id) = &delivery.identifier {
            self.store
                .finish_delivery(id, now + WEBHOOK_DELIVERY_KEPT.as_secs())
                .await
                .map_err(failed)?;
        }
        let outcome = report
            .outcome
            .map(|outcome| format!("{outcome:?}"))
            .unwrap_or_default();
        Ok(WebhookResponse::new(200, "outcome", &outcome))
    }

    /// Re-reads the issue and publishes what changed since the last sync.
    pub async fn sync_issue(
        &self,
        key: &str,
        deleted_hint: bool,
    ) -> shared::Result<NotificationOutcome> {
        let link = self.store.link_for_issue(key).await?;
        let Some(issue) = self.jira.get_issue(key).await? else {
            return self.issue_gone(key, link).await;
        };
        if deleted_hint {
            tracing::info!(
                issue_key = key,
                "the message says deleted, but Jira still has the issue"
            );
        }
        if let Some(outcome) = self.not_synced(key, link.as_ref(), &issue) {
            return Ok(outcome);
        }
        if link.is_none() && !self.may_create_case(&issue).await? {
            return Ok(NotificationOutcome::OutsideCaseFilter);
        }
        let (change, before) = self.read_change(key, &issue).await?;
        let Some(event) = event_for(key, link.as_ref(), before.as_ref(), change) else {
            return Ok(NotificationOutcome::Unchanged);
        };
        self.publish_then_snapshot(key, event).await
    }

    /// Why the issue, which Jira has, is not synced: a broken link, an issue moved to another
    /// project, or one made for a SIR case and not linked yet. `None`: it is synced.
    fn not_synced(
        &self,
        key: &str,
        link: Option<&IssueLink>,
        issue: &JiraIssue,
    ) -> Option<NotificationOutcome> {
        if let Some(link) = link.filter(|l| l.broken.is_some()) {
            tracing::info!(
                issue_key = key,
                case_id = link.case_id,
                reason = link.broken,
                "the link is broken; nothing is synced"
            );
            return Some(NotificationOutcome::LinkBroken);
        }
        // Jira redirects a moved issue's old key to its new one: only this project's issues.
        if !shared::config::is_issue_key_of(&issue.key, &self.settings.project_key) {
            tracing::warn!(
                asked = key,
                found = issue.key,
                "the issue now belongs to another project; ignored"
            );
            return Some(NotificationOutcome::Unchanged);
        }
        if link.is_none() && shared::jira::is_made_for_a_case(&issue.labels) {
            tracing::info!(
                issue_key = key,
                "an issue made for a SIR case, not linked yet; SIR already has it"
            );
            return Some(NotificationOutcome::FromSir);
        }
        None
    }

    /// Whether the case filter lets this unlinked issue create a case (logged when not).
    async fn may_create_case(&self, issue: &JiraIssue) -> shared::Result<bool> {
        let (admitted, filter) = match &self.settings.case_filter {
            CaseFilter::Any => return Ok(true),
            CaseFilter::CreatedSince {
                epoch_seconds,
                recorded,
            } => {
                let created_ms = issue
                    .created
                    .as_deref()
                    .and_then(jira_timestamp_to_epoch_ms);
                let since_ms = u64::try_from(*epoch_seconds)
                    .unwrap_or(0)
                    .saturating_mul(1_000);
                // An issue whose creation time cannot be read is not known to be new.
                (
                    created_ms.is_some_and(|created| created >= since_ms),
                    format!("created at or after the installation ({recorded})"),
                )
            }
            CaseFilter::Jql(jql) => (
                self.jira.issue_matches(issue, jql).await?,
                format!("matching the case filter ({jql})"),
            ),
        };
        if !admitted {
            tracing::info!(
                issue_key = issue.key,
                created = issue.created,
                "not linked and not {filter}: it does not create a SIR case"
            );
        }
        Ok(admitted)
    }

    /// The issue as it is now against the stored Jira-side snapshot (returned too, `None` when
    /// never stored), with the comments and attachments new or edited in Jira.
    async fn read_change(
        &self,
        key: &str,
        issue: &JiraIssue,
    ) -> shared::Result<(IssueChange, Option<IssueSnapshot>)> {
        let me = self.integration_account.id(self.jira.as_ref()).await?;
        let after = self.snapshot_of(issue).await?;
        let before = self.store.issue_snapshot(key).await?;
        let comments = self.comment_delta(key, me).await?;
        let attachments = self.attachment_delta(issue, me).await?;
        let mut change = IssueChange::new(before.as_ref(), after);
        change.comments = comments;
        change.attachments = attachments;
        // The sync lag runs from the issue's last update; an issue seen for the first time
        // counts only when it was created since the installation (an older one the filter
        // admits, or the audit finds, measures its age, not the integration's delay).
        let new_since_installation = match &self.settings.case_filter {
            CaseFilter::CreatedSince { epoch_seconds, .. } => {
                let since_ms = u64::try_from(*epoch_seconds)
                    .unwrap_or(0)
                    .saturating_mul(1_000);
                (issue.created.as_deref())
                    .and_then(jira_timestamp_to_epoch_ms)
                    .is_some_and(|created| created >= since_ms)
            }
            CaseFilter::Any | CaseFilter::Jql(_) => false,
        };
        if before.is_some() || new_since_installation {
            change.changed_at = (issue.updated.as_deref())
                .and_then(jira_timestamp_to_epoch_ms)
                .and_then(shared::events::epoch_ms_to_rfc3339);
        }
        Ok((change, before))
    }

    /// Publishes the event (recorded as a pending delivery first, so the reconciler publishes it
    /// again if it is never applied), then stores the issue's snapshot. Only after a successful
    /// publish: stored first, a failed publish would be lost, as the retry would find nothing
    /// changed.
    async fn publish_then_snapshot(
        &self,
        key: &str,
        event: BusEvent,
    ) -> shared::Result<NotificationOutcome> {
        let outcome = match &event {
            BusEvent::IssueCreated(_) => NotificationOutcome::Created,
            _ => NotificationOutcome::Updated,
        };
        let event =
            shared::delivery::publish_recorded(self.store.as_ref(), self.publisher.as_ref(), event)
                .await?;
        if let BusEvent::IssueCreated(change) | BusEvent::IssueUpdated(change) = &event {
            self.store.put_issue_snapshot(&change.issue).await?;
            tracing::info!(
                issue_key = key,
                detail_type = event.detail_type().as_str(),
                changed = ?change.changed_fields,
                comments = change.comments.added.len() + change.comments.updated.len(),
                attachments = change.attachments.added.len(),
                "published"
            );
        }
        Ok(outcome)
    }

    /// Jira answered 404: `IssueDeleted` if the table links the issue, otherwise nothing.
    async fn issue_gone(
        &self,
        key: &str,
        link: Option<IssueLink>,
    ) -> shared::Result<NotificationOutcome> {
        match link {
            Some(link) if link.broken.is_none() => {
                let event = BusEvent::IssueDeleted(IssueGone {
                    issue_key: key.to_owned(),
                    case_id: Some(link.case_id.clone()),
                });
                self.publisher.publish(std::slice::from_ref(&event)).await?;
                tracing::info!(
                    issue_key = key,
                    case_id = link.case_id,
                    "the linked issue is gone; published IssueDeleted"
                );
                Ok(NotificationOutcome::Deleted)
            }
            Some(_) => Ok(NotificationOutcome::LinkBroken),
            None => {
                tracing::info!(
                    issue_key = key,
                    "Jira has no such issue and it was never linked"
                );
                Ok(NotificationOutcome::UnknownIssue)
            }
        }
    }

    /// The issue's synced fields as the Jira-side snapshot holds them (see
    /// [`shared::jira::live_issue_snapshot`]: the integration account is not a watcher).
    async fn snapshot_of(&self, issue: &JiraIssue) -> shared::Result<IssueSnapshot> {
        shared::jira::live_issue_snapshot(self.jira.as_ref(), &self.integration_account, issue)
            .await
    }

    /// Comments that are new or edited in Jira since they were copied to SIR, and copied ones
    /// Jira no longer has (deleted there, not said in SIR yet). The integration user's comments
    /// (copies of SIR comments, its own notes) and copies of SIR comments are never listed.
    async fn comment_delta(&self, key: &str, me: &str) -> shared::Result<IdDelta> {
        let comments = self.jira.comments(key).await?;
        let links = self.links_by_jira_id(LinkedItemKind::Comment, key).await?;
        let mut added = Vec::new();
        let mut updated = Vec::new();
        for comment in &comments {
            match links.get(&comment.id) {
                Some(link) if link.origin == Origin::Sir => {}
                Some(link) => {
                    let now = Fingerprint::of_text(&comment.body);
                    if link.fingerprint.as_deref() != Some(now.as_str()) {
                        updated.push(comment.id.clone());
                    }
                }
                None if comment.author_account_id.as_deref() == Some(me) => {}
                None => added.push(comment.id.clone()),
            }
        }
        let listed: HashSet<&str> = comments.iter().map(|c| c.id.as_str()).collect();
        Ok(IdDelta::new(added, updated).with_removed(deleted_in_jira(&links, &listed)))
    }

    /// Attachments added in Jira (not by the integration user) and not copied yet, and copied
    /// ones Jira no longer has (deleted there, not noted on the case yet).
    async fn attachment_delta(&self, issue: &JiraIssue, me: &str) -> shared::Result<IdDelta> {
        let links = self
            .links_by_jira_id(LinkedItemKind::Attachment, &issue.key)
            .await?;
        let added = issue
            .attachments
            .iter()
            .filter(|a| a.author_account_id.as_deref() != Some(me))
            .map(|a| a.id.as_str())
            .filter(|id| !links.contains_key(*id))
            .map(str::to_owned);
        let listed: HashSet<&str> = issue.attachments.iter().map(|a| a.id.as_str()).collect();
        Ok(IdDelta::new(added, std::iter::empty()).with_removed(deleted_in_jira(&links, &listed)))
    }

    async fn links_by_jira_id(
        &self,
        kind: LinkedItemKind,
        key: &str,
    ) -> shared::Result<HashMap<String, ItemLink>> {
        Ok(self
            .store
            .item_links_for_issue(kind, key)
            .await?
            .into_iter()
            .map(|link| (link.jira_id.clone(), link))
            .collect())
    }
}

/// The Jira ids of items copied from Jira (origin `Jira`) that `listed` no longer holds and whose
/// deletion was not carried to SIR yet, in id order.
fn deleted_in_jira(links: &HashMap<String, ItemLink>, listed: &HashSet<&str>) -> Vec<String> {
    let mut gone: Vec<String> = links
        .values()
        .filter(|link| link.origin == Origin::Jira)
        .filter(|link| link.fingerprint.as_deref() != Some(DELETED_IN_JIRA))
        .filter(|link| !listed.contains(link.jira_id.as_str()))
        .map(|link| link.jira_id.clone())
        .collect();
    gone.sort();
    gone
}

/// The event to publish for `change`: `IssueCreated` for an issue never linked, `IssueUpdated`
/// for a linked one that changed since the snapshot `before`; `None` when nothing changed.
fn event_for(
    key: &str,
    link: Option<&IssueLink>,
    before: Option<&IssueSnapshot>,
    mut change: IssueChange,
) -> Option<BusEvent> {
    match (link, before) {
        (None, _) => Some(BusEvent::IssueCreated(change)),
        (Some(_), Some(before))
            if before.fingerprint() == change.fingerprint
                && change.comments.is_empty()
                && change.attachments.is_empty() =>
        {
            tracing::debug!(issue_key = key, "nothing changed since the last sync");
            None
        }
        (Some(_), Some(_)) => Some(BusEvent::IssueUpdated(change)),
        (Some(_), None) => {
            // Linked but never snapshotted (a crash between the two writes): every field
            // is named, so nothing the issue holds is missed.
            change.changed_fields = BTreeSet::from([
                IssueField::Summary,
                IssueField::Description,
                IssueField::Status,
                IssueField::Watchers,
            ]);
            Some(BusEvent::IssueUpdated(change))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(summary: &str) -> IssueSnapshot {
        IssueSnapshot {
            issue_key: "SEC-1".into(),
            summary: summary.into(),
            description: String::new(),
            status: "To Do".into(),
            watchers: BTreeSet::new(),
        }
        .normalized()
    }

    #[test]
    fn an_unlinked_issue_is_created_and_a_linked_one_updated_only_when_it_changed() {
        let link = IssueLink::new("1234567890", "SEC-1");
        let before = snapshot("Suspicious login");
        let same = IssueChange::new(Some(&before), snapshot("Suspicious login"));
        assert!(matches!(
            event_for("SEC-1", None, None, same.clone()),
            Some(BusEvent::IssueCreated(_))
        ));
        assert_eq!(event_for("SEC-1", Some(&link), Some(&before), same), None);

        let renamed = IssueChange::new(Some(&before), snapshot("Renamed"));
        let Some(BusEvent::IssueUpdated(change)) =
            event_for("SEC-1", Some(&link), Some(&before), renamed)
        else {
            panic!("a changed linked issue is updated");
        };
        assert_eq!(change.changed_fields, BTreeSet::from([IssueField::Summary]));
    }

    #[test]
    fn a_linked_issue_never_snapshotted_names_every_field() {
        let link = IssueLink::new("1234567890", "SEC-1");
        let change = IssueChange::new(None, snapshot("Suspicious login"));
        let Some(BusEvent::IssueUpdated(change)) = event_for("SEC-1", Some(&link), None, change)
        else {
            panic!("a linked issue without a snapshot is updated");
        };
        assert_eq!(
            change.changed_fields,
            BTreeSet::from([
                IssueField::Summary,
                IssueField::Description,
                IssueField::Status,
                IssueField::Watchers,
            ])
        );
    }
}
