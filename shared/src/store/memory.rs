//! [`InMemoryMappingStore`]: every capability of the mapping table on plain maps behind one
//! mutex, for tests and the deterministic simulator. It has DynamoDB's semantics exactly where
//! this code relies on them, which the contract tests in tests/tests/adapter_mapping_store.rs prove by running
//! the same test bodies against it and against [`super::DynamoMappingStore`] on moto:
//! - the link is written both ways or not at all, each side only if absent;
//! - a claim is taken only if absent or expired, renewed only by its owner while unexpired, and
//!   released only by its owner;
//! - an account cached for `ttl` reads as absent from `now + ttl` on (as the Dynamo adapter reads
//!   an item DynamoDB has not swept yet);
//! - a re-read window is replaced only if as expected, and a refusal returns the stored one;
//! - a sweep cursor never moves back;
//! - a pending delivery is replaced only if its delivery id is as expected, and acknowledged
//!   (removed) only by its own id;
//! - listings return everything, in the order the Dynamo adapter's Query returns (sort key:
//!   SIR id, Jira id or case id, compared as strings).
//!
//! Time comes from an injectable clock (epoch seconds, [`InMemoryMappingStore::with_clock`];
//! default [`super::now_epoch_seconds`], [`crate::clock`]'s: virtual under a simulation's paused
//! runtime), so claim expiry and TTL are exercised without sleeping.
//! Claim owners are numbered, not random, so a seeded run repeats exactly. The mutex is never
//! held across an await: every method does its work in one critical section and then returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::account_cache::normalized_email;
use super::{
    AccountCacheStore, CachedAccount, CaseRecordStore, CaseRecords, Claim, ClaimKey, ClaimStore,
    ISSUE_CREATE_RECORD_TTL, IssueLink, ItemLink, ItemLinkStore, LinkOutcome, LinkStore,
    LinkedItemKind, NotifiedWindow, NotifiedWindowStore, SnapshotStore, SweepCursor,
    SweepCursorStore, TrackedCase, TrackedCaseStore, WindowExpectation, WindowSwap,
    now_epoch_seconds,
};
use super::{DeliverySubject, PendingDelivery, PendingDeliveryStore, WebhookDeliveryStore};
use crate::error::{Error, Result};
use crate::snapshot::{CaseSnapshot, IssueSnapshot};

/// A source of the current time in epoch seconds.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The mapping table in memory (see the module documentation).
pub struct InMemoryMappingStore {
    clock: Clock,
    tables: Mutex<Tables>,
}

/// The item maps of one partition (a case or an issue), by SIR id or Jira id: a `BTreeMap`, so
/// a listing comes in the order of DynamoDB's sort key.
type ItemPartition = BTreeMap<String, ItemLink>;

#[derive(Default)]
struct Tables {
    links_by_case: HashMap<String, IssueLink>,
    links_by_issue: HashMap<String, IssueLink>,
    /// By case: the epoch second the last issue create started.
    issue_creates: HashMap<String, u64>,
    claims: HashMap<ClaimKey, Claim>,
    claims_taken: u64,
    /// Snapshots as the JSON the Dynamo adapter stores, so a read is the same round trip.
    case_snapshots: HashMap<String, String>,
    issue_snapshots: HashMap<String, String>,
    items_by_case: HashMap<(LinkedItemKind, String), ItemPartition>,
    items_by_issue: HashMap<(LinkedItemKind, String), ItemPartition>,
    /// By normalized e-mail: the account and the epoch second it expires at.
    accounts: HashMap<String, (CachedAccount, u64)>,
    tracked: BTreeMap<String, TrackedCase>,
    windows: HashMap<String, NotifiedWindow>,
    sweep_cursors: HashMap<String, SweepCursor>,
    /// The pending-delivery ledger, cases before issues and each by id (the Dynamo listing's
    /// order: one Query per sort-key prefix, `CASE#` first).
    pending: BTreeMap<DeliverySubject, PendingDelivery>,
    /// Handled webhook deliveries by identifier: until when they are remembered (epoch seconds).
    webhook_deliveries: HashMap<String, u64>,
}

impl InMemoryMappingStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(now_epoch_seconds)
    }

    /// An empty store reading the time (epoch seconds) from `clock`, which decides when claims
    /// and cached accounts expire.
    pub fn with_clock(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        InMemoryMappingStore {
            clock: Arc::new(clock),
            tables: Mutex::new(Tables::default()),
        }
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Every critical section leaves the maps consistent, so a panic elsewhere while the lock
    /// was held leaves nothing half-written to fear.
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryMappingStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InMemoryMappingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryMappingStore")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LinkStore for InMemoryMappingStore {
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome> {
        let mut tables = self.tables();
        if let Some(existing) = tables.links_by_case.get(&link.case_id) {
            return Ok(LinkOutcome::Exists(existing.clone()));
        }
        if let Some(existing) = tables.links_by_issue.get(&link.issue_key) {
            return Ok(LinkOutcome::Exists(existing.clone()));
        }
        tables
            .links_by_case
            .insert(link.case_id.clone(), link.clone());
        tables
            .links_by_issue
            .insert(link.issue_key.clone(), link.clone());
        Ok(LinkOutcome::Created)
    }

    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>> {
        Ok(self.tables().links_by_case.get(case_id).cloned())
    }

    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>> {
        Ok(self.tables().links_by_issue.get(issue_key).cloned())
    }

    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()> {
        let mut tables = self.tables();
        let Tables {
            links_by_case,
            links_by_issue,
            ..
        } = &mut *tables;
        match (
            links_by_case.get_mut(&link.case_id),
            links_by_issue.get_mut(&link.issue_key),
        ) {
            (Some(by_case), Some(by_issue)) => {
                by_case.broken = Some(reason.to_owned());
                by_issue.broken = Some(reason.to_owned());
                Ok(())
            }
            _ => Err(Error::StoreConditionFailed {
                operation: "mark_link_broken",
                reason: format!(
                    "case {} and issue {} are not both linked",
                    link.case_id, link.issue_key
                ),
            }),
        }
    }

    async fn record_issue_create(&self, case_id: &str) -> Result<()> {
        let now = self.now();
        self.tables().issue_creates.insert(case_id.to_owned(), now);
        Ok(())
    }

    async fn issue_create_age(&self, case_id: &str) -> Result<Option<Duration>> {
        let now = self.now();
        Ok(self
            .tables()
            .issue_creates
            .get(case_id)
            .filter(|started| **started + ISSUE_CREATE_RECORD_TTL.as_secs() > now)
            .map(|started| Duration::from_secs(now.saturating_sub(*started))))
    }

    async fn forget_issue_create(&self, case_id: &str) -> Result<()> {
        self.tables().issue_creates.remove(case_id);
        Ok(())
    }
}

#[async_trait]
impl ClaimStore for InMemoryMappingStore {
    async fn claim(&self, key: &ClaimKey, lease: Duration) -> Result<Option<Claim>> {
        let now = self.now();
        let mut tables = self.tables();
        if tables
            .claims
            .get(key)
            .is_some_and(|held| held.expires_at > now)
        {
            return Ok(None);
        }
        tables.claims_taken += 1;
        let claim = Claim {
            key: key.clone(),
            owner: format!("in-memory-claim-{}", tables.claims_taken),
            expires_at: now + lease.as_secs().max(1),
        };
        tables.claims.insert(key.clone(), claim.clone());
        Ok(Some(claim))
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        let mut tables = self.tables();
        if tables
            .claims
            .get(&claim.key)
            .is_some_and(|held| held.owner == claim.owner)
        {
            tables.claims.remove(&claim.key);
        }
        Ok(())
    }

    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<Option<Claim>> {
        let now = self.now();
        let mut tables = self.tables();
        match tables.claims.get_mut(&claim.key) {
            Some(held) if held.owner == claim.owner && held.expires_at > now => {
                held.expires_at = now + lease.as_secs().max(1);
                Ok(Some(held.clone()))
            }
            _ => Ok(None),
        }
    }
}

fn to_json<T: Serialize>(snapshot: &T) -> Result<String> {
    serde_json::to_string(snapshot).map_err(Error::json("snapshot"))
}

#[async_trait]
impl CaseRecordStore for InMemoryMappingStore {
    async fn case_records(&self, case_id: &str) -> Result<CaseRecords> {
        let tables = self.tables();
        Ok(CaseRecords {
            link: tables.links_by_case.get(case_id).cloned(),
            snapshot: from_json(tables.case_snapshots.get(case_id))?,
            tracked: tables.tracked.get(case_id).cloned(),
            pending: tables
                .pending
                .get(&DeliverySubject::Case(case_id.to_owned()))
                .cloned(),
        })
    }

    async fn put_snapshot_and_tracked_case(
        &self,
        snapshot: &CaseSnapshot,
        tracked: &TrackedCase,
    ) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let json = to_json(&snapshot)?;
        let mut tables = self.tables();
        tables.case_snapshots.insert(snapshot.case_id, json);
        tables
            .tracked
            .insert(tracked.case_id.clone(), tracked.clone());
        Ok(())
    }
}

fn from_json<T: DeserializeOwned>(json: Option<&String>) -> Result<Option<T>> {
    json.map(|json| serde_json::from_str(json).map_err(Error::json("stored snapshot")))
        .transpose()
}

#[async_trait]
impl SnapshotStore for InMemoryMappingStore {
    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>> {
        from_json(self.tables().case_snapshots.get(case_id))
    }

    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let json = to_json(&snapshot)?;
        self.tables().case_snapshots.insert(snapshot.case_id, json);
        Ok(())
    }

    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>> {
        from_json(self.tables().issue_snapshots.get(issue_key))
    }

    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let json = to_json(&snapshot)?;
        self.tables()
            .issue_snapshots
            .insert(snapshot.issue_key, json);
        Ok(())
    }
}

#[async_trait]
impl ItemLinkStore for InMemoryMappingStore {
    async fn put_item_link(&self, link: &ItemLink) -> Result<()> {
        let mut tables = self.tables();
        tables
            .items_by_case
            .entry((link.kind, link.case_id.clone()))
            .or_default()
            .insert(link.sir_id.clone(), link.clone());
        tables
            .items_by_issue
            .entry((link.kind, link.issue_key.clone()))
            .or_default()
            .insert(link.jira_id.clone(), link.clone());
        Ok(())
    }

    async fn item_link_by_sir_id(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
        sir_id: &str,
    ) -> Result<Option<ItemLink>> {
        Ok(self
            .tables()
            .items_by_case
            .get(&(kind, case_id.to_owned()))
            .and_then(|partition| partition.get(sir_id))
            .cloned())
    }

    async fn item_link_by_jira_id(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
        jira_id: &str,
    ) -> Result<Option<ItemLink>> {
        Ok(self
            .tables()
            .items_by_issue
            .get(&(kind, issue_key.to_owned()))
            .and_then(|partition| partition.get(jira_id))
            .cloned())
    }

    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>> {
        Ok(self
            .tables()
            .items_by_case
            .get(&(kind, case_id.to_owned()))
            .map(|partition| partition.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>> {
        Ok(self
            .tables()
            .items_by_issue
            .get(&(kind, issue_key.to_owned()))
            .map(|partition| partition.values().cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl AccountCacheStore for InMemoryMappingStore {
    async fn cached_accounts(&self, emails: &[String]) -> Result<HashMap<String, CachedAccount>> {
        let now = self.now();
        let tables = self.tables();
        Ok(emails
            .iter()
            .map(|email| normalized_email(email))
            .filter_map(|email| {
                tables
                    .accounts
                    .get(&email)
                    .filter(|(_, expires_at)| *expires_at > now)
                    .map(|(account, _)| (email, account.clone()))
            })
            .collect())
    }

    async fn cache_accounts(&self, accounts: &[CachedAccount], ttl: Duration) -> Result<()> {
        let expires_at = self.now() + ttl.as_secs();
        let mut tables = self.tables();
        for account in accounts {
            let email = normalized_email(&account.email);
            let stored = CachedAccount {
                email: email.clone(),
                account_id: account.account_id.clone(),
            };
            tables.accounts.insert(email, (stored, expires_at));
        }
        Ok(())
    }
}

#[async_trait]
impl TrackedCaseStore for InMemoryMappingStore {
    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>> {
        Ok(self.tables().tracked.values().cloned().collect())
    }

    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>> {
        Ok(self.tables().tracked.get(case_id).cloned())
    }

    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()> {
        self.tables()
            .tracked
            .insert(case.case_id.clone(), case.clone());
        Ok(())
    }

    async fn untrack_case(&self, case_id: &str) -> Result<()> {
        self.tables().tracked.remove(case_id);
        Ok(())
    }
}

#[async_trait]
impl NotifiedWindowStore for InMemoryMappingStore {
    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap> {
        let mut tables = self.tables();
        let stored = tables.windows.get(issue_key).copied();
        let as_expected = match expected {
            WindowExpectation::NoneOpenAt(now) => stored.is_none_or(|w| w.expires_at <= now),
            WindowExpectation::Exactly(current) => stored == Some(current),
        };
        if !as_expected {
            return Ok(WindowSwap::Refused(stored));
        }
        tables.windows.insert(issue_key.to_owned(), *new);
        Ok(WindowSwap::Written)
    }
}

#[async_trait]
impl WebhookDeliveryStore for InMemoryMappingStore {
    async fn delivery_handled(&self, identifier: &str, now: u64) -> Result<bool> {
        Ok(self
            .tables()
            .webhook_deliveries
            .get(identifier)
            .is_some_and(|&kept_until| kept_until > now))
    }

    async fn finish_delivery(&self, identifier: &str, keep_until: u64) -> Result<()> {
        self.tables()
            .webhook_deliveries
            .insert(identifier.to_owned(), keep_until);
        Ok(())
    }
}

#[async_trait]
impl SweepCursorStore for InMemoryMappingStore {
    async fn sweep_cursor(&self, sweep: &str) -> Result<Option<SweepCursor>> {
        Ok(self.tables().sweep_cursors.get(sweep).cloned())
    }

    async fn advance_sweep_cursor(&self, sweep: &str, cursor: &SweepCursor) -> Result<bool> {
        let mut tables = self.tables();
        if tables
            .sweep_cursors
            .get(sweep)
            .is_some_and(|stored| stored.position_ms > cursor.position_ms)
        {
            return Ok(false);
        }
        tables
            .sweep_cursors
            .insert(sweep.to_owned(), cursor.clone());
        Ok(true)
    }
}

#[async_trait]
impl PendingDeliveryStore for InMemoryMappingStore {
    async fn pending_delivery(&self, subject: &DeliverySubject) -> Result<Option<PendingDelivery>> {
        Ok(self.tables().pending.get(subject).cloned())
    }

    async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>> {
        Ok(self.tables().pending.values().cloned().collect())
    }

    async fn swap_pending_delivery(
        &self,
        expected: Option<&str>,
        new: &PendingDelivery,
    ) -> Result<bool> {
        let mut tables = self.tables();
        let stored = tables
            .pending
            .get(&new.subject)
            .map(|p| p.delivery_id.as_str());
        if stored != expected {
            return Ok(false);
        }
        tables.pending.insert(new.subject.clone(), new.clone());
        Ok(true)
    }

    async fn acknowledge_delivery(
        &self,
        subject: &DeliverySubject,
        delivery_id: &str,
    ) -> Result<bool> {
        let mut tables = self.tables();
        if tables
            .pending
            .get(subject)
            .is_some_and(|p| p.delivery_id == delivery_id)
        {
            tables.pending.remove(subject);
            return Ok(true);
        }
        Ok(false)
    }

    async fn forget_pending_delivery(&self, subject: &DeliverySubject) -> Result<()> {
        self.tables().pending.remove(subject);
        Ok(())
    }
}
