//! The mapping table: which Jira issue belongs to which SIR case, what each side looked like at the
//! last sync, which comment/attachment on one side is which on the other, and a short-lived cache
//! of e-mail → Jira accountId.
//!
//! One small trait per capability, so each Lambda asks only for what it uses:
//!
//! | capability | trait | used by |
//! |---|---|---|
//! | case ⇄ issue links | [`LinkStore`] | all four Lambdas |
//! | a case's records read at once | [`CaseRecordStore`] | poller, jira-client |
//! | creation claims (leases) | [`ClaimStore`] | jira-client, sir-client (through [`run_claimed`]) |
//! | last synced case/issue | [`SnapshotStore`] | all four Lambdas |
//! | comment/attachment id maps | [`ItemLinkStore`] | all four Lambdas |
//! | e-mail → accountId cache | [`AccountCacheStore`] | jira-client |
//! | what the poller saw of each case | [`TrackedCaseStore`] | poller |
//! | an issue's re-read window | [`NotifiedWindowStore`] | jira-notifications-handler |
//! | how far a sweep got | [`SweepCursorStore`] | jira-notifications-handler (the Jira sweep) |
//! | deliveries not yet applied | [`PendingDeliveryStore`] | all four Lambdas |
//! | Jira webhook deliveries handled | [`WebhookDeliveryStore`] | jira-notifications-handler |
//!
//! [`MappingStore`] is all of them at once (implemented for every type that has them all), for
//! tests and wiring that want the whole table. Each Lambda crate names its own set (e.g.
//! `jira_client::JiraClientStore`).
//!
//! Two implementations of every capability: [`DynamoMappingStore`] (one module per capability,
//! next to this one) and [`InMemoryMappingStore`] ([`memory`]), which keeps plain maps behind a
//! mutex and has DynamoDB's semantics where this code relies on them (conditional writes, the
//! all-or-nothing link transaction, claim expiry, TTL'd items read as absent, listing order). Both
//! run the very same contract tests (tests/tests/adapter_mapping_store.rs, `dynamo::` against moto and
//! `in_memory::`), which is what proves them equal.
//!
//! On DynamoDB: one table with string keys `PK`/`SK` (see [`schema`]). Every lookup is a GetItem
//! or a Query on one partition; nothing scans. Items (`PK` / `SK`):
//! - `CASE#<caseId>` / `LINK` and `ISSUE#<issueKey>` / `LINK`: the link both ways, written together.
//! - `CASE#<caseId>` / `CLAIM`, `ISSUE#<issueKey>` / `CLAIM`: a short lease one delivery holds
//!   (renewed while it works, see [`run_claimed`]) while it creates or changes the other side, so
//!   concurrent deliveries cannot both create.
//! - `CASE#<caseId>` / `ISSUE_CREATE`: when jira-client last started creating the case's issue
//!   (`startedAt`, TTL'd), so a retry whose search does not show that issue yet does not create a
//!   second one.
//! - `CASE#<caseId>` / `SNAPSHOT`, `ISSUE#<issueKey>` / `SNAPSHOT`: last synced fields per side.
//! - `CASE#<caseId>` / `COMMENT#<sirId>` ↔ `ISSUE#<issueKey>` / `COMMENT#<jiraId>`, and the same
//!   with `ATTACHMENT#`: item id maps both ways, written together.
//! - `EMAIL#<email>` / `JIRA_ACCOUNT`: cached accountId, expiring through the TTL attribute.
//! - `ISSUE#<issueKey>` / `NOTIFIED`: jira-notifications-handler's re-read window of the issue
//!   ([`NotifiedWindow`]), so a flood of messages costs a bounded number of Jira reads.
//! - `SWEEP#<name>` / `CURSOR`: how far a sweep got ([`SweepCursor`]); only ever moved forward.
//!   `SWEEP#jira:<KEY>` is the Jira sweep's updated-since search; `SWEEP#audit:<KEY>` its audit
//!   of open issues (`lastKey` the last audited key, the position the time of the run,
//!   `roundStartedMs` when its round started).
//! - `POLLER` / `CASE#<caseId>`: what the poller last saw of each case it tracks; one partition,
//!   so the poller lists what it knows with a Query (and notices a case that vanished).
//! - `PENDING` / `CASE#<caseId>`, `PENDING` / `ISSUE#<issueKey>`: the pending-delivery ledger
//!   ([`PendingDelivery`]): the last `Case…`/`Issue…` event published for the subject and not yet
//!   acknowledged by the Lambda that applies it; one partition, so the poller's reconciler lists
//!   it with a Query.
//! - `WEBHOOK#<identifier>` / `DELIVERY`: a Jira webhook delivery handled (kept while Jira may
//!   still retry it, or someone replay it), TTL'd ([`WebhookDeliveryStore`]).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::events::BusEvent;
use crate::snapshot::{CaseSnapshot, IssueSnapshot};

mod account_cache;
mod case_records;
mod claims;
mod dynamo;
mod item_links;
mod links;
pub mod memory;
mod notified_windows;
mod pending_deliveries;
mod run_claimed;
mod snapshots;
mod sweep_cursors;
mod tracked_cases;
mod webhook_deliveries;

pub use account_cache::normalized_email;
pub use dynamo::DynamoMappingStore;
pub use memory::InMemoryMappingStore;
pub use run_claimed::{
    CLAIM_LEASE, CLAIM_POLL, CLAIM_RENEW_EVERY, CLAIM_WAIT, ClaimTiming, run_claimed,
};

/// The table's key schema, shared by the CDK stack, the local world and this adapter.
pub mod schema {
    /// Partition key (string).
    pub const PARTITION_KEY: &str = "PK";
    /// Sort key (string).
    pub const SORT_KEY: &str = "SK";
    /// Epoch seconds after which DynamoDB may delete the item (the table's TTL attribute).
    pub const TTL_ATTRIBUTE: &str = "expiresAt";
}

/// Reason recorded on the link when the Jira issue was deleted (by sir-client on
/// `IssueDeleted`, by jira-client when the linked issue is gone).
pub const ISSUE_DELETED_REASON: &str = "Jira issue deleted";

/// The note on a case whose linked Jira issue `issue_key` was deleted.
pub fn issue_deleted_case_note(issue_key: &str) -> String {
    format!(
        "Jira issue {issue_key} linked to this case was deleted in Jira. The case and its data \
         are kept; it is no longer synced with Jira."
    )
}

/// The link between one SIR case and one Jira issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueLink {
    pub case_id: String,
    pub issue_key: String,
    /// Set when one side was deleted; the link is kept so nothing is re-created or lost.
    pub broken: Option<String>,
}

impl IssueLink {
    pub fn new(case_id: impl Into<String>, issue_key: impl Into<String>) -> Self {
        IssueLink {
            case_id: case_id.into(),
            issue_key: issue_key.into(),
            broken: None,
        }
    }
}

/// What [`LinkStore::create_link`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Both items were written.
    Created,
    /// The case or the issue was already linked; here is that link (it may be this very one,
    /// written by an earlier delivery of the same event).
    Exists(IssueLink),
}

/// What a claim is on: the case or the issue whose other side is about to be created.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClaimKey {
    Case(String),
    Issue(String),
}

/// A lease on a [`ClaimKey`], held until released or until it expires (so a crashed holder
/// does not block the next delivery for longer than the lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: ClaimKey,
    /// Random per claim: only the holder can release it.
    pub owner: String,
    /// Epoch seconds.
    pub expires_at: u64,
}

/// Which kind of item an [`ItemLink`] maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkedItemKind {
    Comment,
    Attachment,
    /// A watcher the integration added on one side because the person watches the other:
    /// `sir_id` is the e-mail (lower case), `jira_id` the accountId, `origin` the side the
    /// person watches by their own choice, `fingerprint` its state ([`WATCHER_LEFT`],
    /// [`WATCHER_REMOVED`], `None` while active). Only an active one is ever removed by the
    /// integration, and only when the person stops watching on the origin side.
    Watcher,
}

/// The side an item was first written on (so it is never copied back to where it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Sir,
    Jira,
}

/// One comment, attachment or watcher and its copy on the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLink {
    pub kind: LinkedItemKind,
    pub case_id: String,
    pub sir_id: String,
    pub issue_key: String,
    pub jira_id: String,
    pub origin: Origin,
    /// Digest of the body as last synced, to notice edits; `None` when not tracked.
    pub fingerprint: Option<String>,
}

/// Prefix of the id an attachment link records on the receiving side when that side refused the
/// attachment (Jira: too large for it; SIR: over its 100 MiB limit): the id of the comment that
/// told people so. The attachment counts as handled, so it is not tried again, and the id cannot
/// be mistaken for a real attachment id. The same prefix both ways, so one look at a link says.
pub const REFUSED_ATTACHMENT_PREFIX: &str = "refused-comment-";

/// The `fingerprint` of a link whose Jira item (origin `Jira`) was deleted in Jira and whose
/// deletion was carried to SIR (the comment copy edited to say so, the attachment's deletion
/// noted on the case): said once. A body digest is hex, so it is never this.
pub const DELETED_IN_JIRA: &str = "deleted-in-jira";

/// The state of a watcher link whose person stopped watching on the receiving side by their own
/// choice: they are not added there again, and never removed from there by the integration.
pub const WATCHER_LEFT: &str = "left";

/// The state of a watcher link whose person left the origin side, so the integration removed
/// them from the receiving side: they are added again only when the origin side (as read live,
/// not from an older event) has them again.
pub const WATCHER_REMOVED: &str = "removed";

/// A cached answer to "which Jira account has this e-mail?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAccount {
    pub email: String,
    /// `None`: Jira was asked and knows no (visible) account with this e-mail.
    pub account_id: Option<String>,
}

/// What the poller last saw of a case in ListCases, so unchanged cases cost no further call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedCase {
    pub case_id: String,
    /// ListCases' `lastUpdatedDate` (RFC 3339) when last synced.
    pub last_updated_date: Option<String>,
    /// ListCases' `caseStatus` when last synced.
    pub status: Option<String>,
    /// ListCases' `title` when last synced.
    pub title: Option<String>,
    /// Epoch seconds of the last full comment check (see the poller's slow comment sweep).
    pub comments_checked_at: u64,
    /// Epoch seconds of the last audit of the pair (0: never; see the poller's audit).
    pub audited_at: u64,
}

/// jira-notifications-handler's re-read window of one issue (`ISSUE#<key>` / `NOTIFIED`): how
/// many re-reads of the issue started in the window, and when the latest one started. Only
/// replaced whole, by [`NotifiedWindowStore::swap_notified_window`] (compare and swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifiedWindow {
    /// Epoch seconds when the window closes; stored in the TTL attribute, so DynamoDB deletes the
    /// item some time later (nothing relies on when).
    pub expires_at: u64,
    /// Re-reads started in this window.
    pub reads: u32,
    /// Epoch milliseconds when the latest re-read that still counts started (0: none counts).
    pub last_read_started_ms: u64,
}

/// What the stored window must be for [`NotifiedWindowStore::swap_notified_window`] to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowExpectation {
    /// No window open at this time (epoch seconds): none stored, or the stored one has closed.
    NoneOpenAt(u64),
    /// Exactly this window (nobody wrote since it was read).
    Exactly(NotifiedWindow),
}

/// What [`NotifiedWindowStore::swap_notified_window`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSwap {
    /// The new window was written.
    Written,
    /// The stored window was not as expected; here it is (`None`: there is none).
    Refused(Option<NotifiedWindow>),
}

/// How far a sweep got (`SWEEP#<name>` / `CURSOR`): everything changed before `position_ms` has
/// been handled (up to the sweep's overlap, see jira-notifications-handler's sweep). The Jira
/// audit uses it as a round-robin cursor: `last_key` the last key audited (`None`: start from
/// the first), `position_ms` the time of the run that wrote it, so an older run never writes
/// over a newer one, `caught_up` the round wrapped, `round_started_ms` when that round began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor {
    /// Epoch milliseconds.
    pub position_ms: u64,
    /// The run that wrote it reached the end of what its search found (rather than stopping at
    /// its bound of work): the position is then where the next search starts (the Jira sweep:
    /// the time that search started less its overlap; the audit: the time its run started).
    pub caught_up: bool,
    /// When not caught up: the last item handled at `position_ms` (items are handled in order
    /// of change time, then of this), so the next run skips what is at or before it.
    pub last_key: Option<String>,
    /// The Jira audit's: when the round this cursor is part of started (epoch milliseconds),
    /// which with `caught_up` says when the next round may start. `None` for the updated-since
    /// search and for items written before it existed (stored as `roundStartedMs`).
    pub round_started_ms: Option<u64>,
}

/// The current time in epoch seconds ([`crate::clock`]'s), the unit of the table's TTL attribute
/// and of every time the table holds (claims, the poller's `commentsCheckedAt`); 0 if the clock
/// is before 1970.
pub use crate::clock::now_epoch_seconds;

/// The link between each SIR case and its Jira issue.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Writes the link both ways in one transaction, each side only if it does not exist yet:
    /// either both are written or neither.
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome>;
    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>>;
    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>>;
    /// Marks both items of the link broken (one side deleted), keeping them; an error, writing
    /// nothing, unless both exist.
    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()>;
    /// Records, just before the case's issue is created, that a create started now (replacing an
    /// earlier record; kept for [`ISSUE_CREATE_RECORD_TTL`]): a later attempt that finds no link
    /// and no issue by search then knows an issue may exist that search does not show yet.
    async fn record_issue_create(&self, case_id: &str) -> Result<()>;
    /// How long ago the recorded create of the case's issue started; `None` when none is recorded
    /// (or it expired).
    async fn issue_create_age(&self, case_id: &str) -> Result<Option<Duration>>;
    /// Forgets the recorded create (Jira refused it: nothing was created).
    async fn forget_issue_create(&self, case_id: &str) -> Result<()>;
}

/// What the table keeps about one case that a run needs before it reads the case, read in one
/// call: [`CaseRecordStore::case_records`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseRecords {
    /// As [`LinkStore::link_for_case`].
    pub link: Option<IssueLink>,
    /// As [`SnapshotStore::case_snapshot`].
    pub snapshot: Option<CaseSnapshot>,
    /// As [`TrackedCaseStore::tracked_case`].
    pub tracked: Option<TrackedCase>,
    /// As [`PendingDeliveryStore::pending_delivery`] of the case.
    pub pending: Option<PendingDelivery>,
}

/// A case's records, read and written together: one call where a read or write of each would
/// be several.
#[async_trait]
pub trait CaseRecordStore: Send + Sync {
    /// The case's link, snapshot, poller entry and pending delivery (DynamoDB: one consistent
    /// `TransactGetItems`, authorised as `GetItem` on each item; it bills two read units per
    /// item, and a write to one of the items in flight cancels it, retryably). The recorded
    /// issue create is not among them: jira-client reads it right before it would create, so
    /// a create recorded by another run meanwhile is seen.
    async fn case_records(&self, case_id: &str) -> Result<CaseRecords>;
    /// Stores the case's snapshot (as [`SnapshotStore::put_case_snapshot`]) and the poller's
    /// entry (as [`TrackedCaseStore::put_tracked_case`]) at once: both or neither (DynamoDB:
    /// one `TransactWriteItems`, authorised as `PutItem` on each).
    async fn put_snapshot_and_tracked_case(
        &self,
        snapshot: &CaseSnapshot,
        tracked: &TrackedCase,
    ) -> Result<()>;
}

/// How long a recorded issue create ([`LinkStore::record_issue_create`]) is kept: far longer than
/// any search index lag, and than any retry of the create's event (a DLQ keeps a message 14
/// days at most, the reconciler republishes within the hour), so jira-client searches for a
/// labelled issue only when a create was recorded; short enough that the table does not keep it
/// for good.
pub const ISSUE_CREATE_RECORD_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Leases that keep concurrent deliveries from creating the same thing twice.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Takes the lease on `key` for `lease` (at least a second), or `None` while someone else
    /// holds an unexpired one. An expired lease is taken over.
    async fn claim(&self, key: &ClaimKey, lease: Duration) -> Result<Option<Claim>>;
    /// Gives the lease back (no-op if it expired and someone else took it since).
    async fn release(&self, claim: &Claim) -> Result<()>;
    /// Extends the holder's lease to `lease` from now; `None` when the claim is no longer this
    /// holder's to extend (it expired, or was released or taken over): the holder has lost it.
    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<Option<Claim>>;
}

/// What each side looked like at the last sync, stored normalized.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>>;
    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()>;
    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>>;
    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()>;
}

/// Which comment/attachment on one side is which on the other.
#[async_trait]
pub trait ItemLinkStore: Send + Sync {
    /// Writes the item map both ways in one transaction (overwriting an earlier version).
    async fn put_item_link(&self, link: &ItemLink) -> Result<()>;
    async fn item_link_by_sir_id(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
        sir_id: &str,
    ) -> Result<Option<ItemLink>>;
    async fn item_link_by_jira_id(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
        jira_id: &str,
    ) -> Result<Option<ItemLink>>;
    /// Every item of `kind` mapped for the case (one paged Query on the case's partition),
    /// ordered by SIR id.
    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>>;
    /// Every item of `kind` mapped for the issue (one paged Query on the issue's partition),
    /// ordered by Jira id (as strings).
    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>>;
}

/// The short-lived e-mail → Jira accountId cache.
#[async_trait]
pub trait AccountCacheStore: Send + Sync {
    /// The cached accounts of `emails` (any case) that are cached and unexpired, by normalized
    /// e-mail (trimmed, lower case), in one read (DynamoDB: `TransactGetItems` per 25, two read
    /// units per item).
    async fn cached_accounts(
        &self,
        emails: &[String],
    ) -> Result<std::collections::HashMap<String, CachedAccount>>;
    /// Caches `accounts` for `ttl`, in one write (DynamoDB: a `PutItem` for one account, else
    /// `TransactWriteItems` per 25).
    async fn cache_accounts(&self, accounts: &[CachedAccount], ttl: Duration) -> Result<()>;

    /// The cached accountId for `email` (any case), or `None` when not cached or expired.
    async fn cached_account(&self, email: &str) -> Result<Option<CachedAccount>> {
        let mut found = self.cached_accounts(&[email.to_owned()]).await?;
        Ok(found.remove(&normalized_email(email)))
    }

    async fn cache_account(&self, account: &CachedAccount, ttl: Duration) -> Result<()> {
        self.cache_accounts(std::slice::from_ref(account), ttl)
            .await
    }
}

/// What the poller last saw of each case it tracks.
#[async_trait]
pub trait TrackedCaseStore: Send + Sync {
    /// Every case the poller tracks (one paged Query on the tracking partition), ordered by
    /// case id.
    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>>;
    /// What the poller last saw of one case (one GetItem).
    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>>;
    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()>;
    /// Stops tracking the case (it can no longer be read from SIR); nothing to do if untracked.
    async fn untrack_case(&self, case_id: &str) -> Result<()>;
}

/// jira-notifications-handler's re-read window of each issue.
#[async_trait]
pub trait NotifiedWindowStore: Send + Sync {
    /// Replaces the issue's re-read window with `new` if the stored one is as `expected`, in one
    /// conditional PutItem; otherwise writes nothing and returns the stored window.
    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap>;
}

/// The Jira webhook deliveries jira-notifications-handler handled, by Jira's delivery identifier
/// (`X-Atlassian-Webhook-Identifier`, the same on every retry of one delivery). Only handled ones
/// are recorded: two tries of one delivery at once both handle it, which is harmless (handling is
/// an idempotent re-read of the issue, coalesced), while a try that dies never holds a retry back.
#[async_trait]
pub trait WebhookDeliveryStore: Send + Sync {
    /// Whether delivery `identifier` was handled and is still remembered at `now` (epoch
    /// seconds); one consistent GetItem.
    async fn delivery_handled(&self, identifier: &str, now: u64) -> Result<bool>;
    /// Records delivery `identifier` as handled, remembered until `keep_until` (epoch seconds).
    async fn finish_delivery(&self, identifier: &str, keep_until: u64) -> Result<()>;
}

/// Where each sweep got to.
#[async_trait]
pub trait SweepCursorStore: Send + Sync {
    /// The cursor of the sweep called `sweep`; `None` before its first run.
    async fn sweep_cursor(&self, sweep: &str) -> Result<Option<SweepCursor>>;
    /// Stores `cursor` unless the stored one is further on (one conditional PutItem), so an
    /// overlapping or late run never moves the cursor back. `false`: it was further on and is
    /// kept.
    async fn advance_sweep_cursor(&self, sweep: &str, cursor: &SweepCursor) -> Result<bool>;
}

/// What a pending delivery is about: the case (events from SIR) or the issue (events from Jira).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliverySubject {
    Case(String),
    Issue(String),
}

impl DeliverySubject {
    /// The subject of a `CaseCreated`/`CaseUpdated`/`IssueCreated`/`IssueUpdated`; `None` for
    /// the deletions, which are not kept in the ledger.
    pub fn of(event: &BusEvent) -> Option<DeliverySubject> {
        match event {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => {
                Some(DeliverySubject::Case(c.case.case_id.clone()))
            }
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => {
                Some(DeliverySubject::Issue(i.issue.issue_key.clone()))
            }
            BusEvent::CaseDeleted(_) | BusEvent::IssueDeleted(_) => None,
        }
    }

    /// The item's sort key in the ledger's partition: `CASE#<id>` or `ISSUE#<key>`.
    pub fn sort_key(&self) -> String {
        match self {
            DeliverySubject::Case(id) => format!("CASE#{id}"),
            DeliverySubject::Issue(key) => format!("ISSUE#{key}"),
        }
    }
}

impl std::fmt::Display for DeliverySubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverySubject::Case(id) => write!(f, "case {id}"),
            DeliverySubject::Issue(key) => write!(f, "issue {key}"),
        }
    }
}

/// A published event its consumer has not acknowledged yet (`PENDING` / `CASE#<id>` or
/// `ISSUE#<key>`): if the event ends in the dead-letter queue, the reconciler publishes it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    pub subject: DeliverySubject,
    /// Unique per content published: what the consumer's acknowledgement must name.
    pub delivery_id: String,
    /// The event to publish again (carrying `delivery_id`).
    pub event: BusEvent,
    /// Epoch seconds of the first publish not acknowledged since.
    pub first_published_at: u64,
    /// Epoch seconds of the latest publish (or republish).
    pub published_at: u64,
    /// Publishes of this subject since the last acknowledgement (1 after the first).
    pub attempts: u32,
    /// Recorded but not published: merged into an unacknowledged `CaseCreated` published less
    /// than [`crate::delivery::HOLD_BEHIND_CREATE_FOR`] ago, whose consumer applies it after the
    /// create (see [`crate::delivery::publish_recorded_or_held`]); the reconciler publishes it
    /// if that never happens. `published_at` stays the last real publish.
    pub held: bool,
}

/// The pending-delivery ledger: what was published and not yet applied.
#[async_trait]
pub trait PendingDeliveryStore: Send + Sync {
    /// The subject's pending delivery (one GetItem).
    async fn pending_delivery(&self, subject: &DeliverySubject) -> Result<Option<PendingDelivery>>;
    /// Every pending delivery (one paged Query on the ledger's partition), cases first, each
    /// kind ordered by id.
    async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>>;
    /// Writes `new` if the subject's stored delivery has the id `expected` (`None`: none is
    /// stored), in one conditional PutItem; `false`, writing nothing, otherwise.
    async fn swap_pending_delivery(
        &self,
        expected: Option<&str>,
        new: &PendingDelivery,
    ) -> Result<bool>;
    /// Removes the subject's pending delivery if it is `delivery_id` (one conditional DeleteItem):
    /// a consumer that applied an older event leaves a newer delivery in place. `true` if removed.
    async fn acknowledge_delivery(
        &self,
        subject: &DeliverySubject,
        delivery_id: &str,
    ) -> Result<bool>;
    /// Removes whatever is pending for the subject (it was deleted); no error if nothing is.
    async fn forget_pending_delivery(&self, subject: &DeliverySubject) -> Result<()>;
}

/// The whole mapping table: every capability. Implemented for every type that has them all.
pub trait MappingStore:
    LinkStore
    + CaseRecordStore
    + ClaimStore
    + SnapshotStore
    + ItemLinkStore
    + AccountCacheStore
    + TrackedCaseStore
    + NotifiedWindowStore
    + SweepCursorStore
    + PendingDeliveryStore
    + WebhookDeliveryStore
{
}

impl<T> MappingStore for T where
    T: LinkStore
        + CaseRecordStore
        + ClaimStore
        + SnapshotStore
        + ItemLinkStore
        + AccountCacheStore
        + TrackedCaseStore
        + NotifiedWindowStore
        + SweepCursorStore
        + PendingDeliveryStore
        + WebhookDeliveryStore
        + ?Sized
{
}
