//! The table as the handlers see it: [`SimStore`] wraps the world's [`InMemoryMappingStore`]
//! (whose semantics are DynamoDB's, per the shared contract tests) and changes nothing of them.
//! It only adds what a run asks for:
//!
//! - races: under a [`super::FaultPlan`], a seeded share of calls wait a seeded 1 ms – 2 s of
//!   virtual time before they reach the table, so concurrent invocations interleave between a
//!   read and the conditional write that depends on it (as DynamoDB's latency and throttling
//!   retries spread them);
//! - a [`Breakage`] that loses the comment id map: every comment item-link write is answered
//!   `Ok` and dropped.
//!
//! The world itself reads the inner store directly, without delays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use shared::Result;
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::store::{
    AccountCacheStore, CachedAccount, CaseRecordStore, CaseRecords, Claim, ClaimKey, ClaimStore,
    DeliverySubject, InMemoryMappingStore, IssueLink, ItemLink, ItemLinkStore, LinkOutcome,
    LinkStore, LinkedItemKind, NotifiedWindow, NotifiedWindowStore, PendingDelivery,
    PendingDeliveryStore, SnapshotStore, SweepCursor, SweepCursorStore, TrackedCase,
    TrackedCaseStore, WebhookDeliveryStore, WindowExpectation, WindowSwap,
};

use super::Breakage;

/// The longest delay a race adds before one store call.
pub const MAX_STORE_DELAY: Duration = Duration::from_secs(2);

/// Seeded delays before store calls.
#[derive(Debug)]
struct Races {
    share: f64,
    rng: Mutex<fastrand::Rng>,
    delayed: AtomicUsize,
}

/// The handlers' view of the table (see the module documentation).
#[derive(Debug)]
pub struct SimStore {
    inner: Arc<InMemoryMappingStore>,
    races: Option<Races>,
    breakage: Option<Breakage>,
}

impl SimStore {
    /// `inner` as it is, unless `race_share` (of calls delayed, seeded by `seed`) is above zero
    /// or a `breakage` is given.
    pub fn new(
        inner: Arc<InMemoryMappingStore>,
        race_share: f64,
        seed: u64,
        breakage: Option<Breakage>,
    ) -> Self {
        let races = (race_share > 0.0).then(|| Races {
            share: race_share,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            delayed: AtomicUsize::new(0),
        });
        Self {
            inner,
            races,
            breakage,
        }
    }

    /// How many store calls a race has delayed so far.
    pub fn delayed_calls(&self) -> usize {
        self.races
            .as_ref()
            .map_or(0, |races| races.delayed.load(Ordering::Relaxed))
    }

    /// Waits before a call when the seed says so: log-uniform over 1 ms – [`MAX_STORE_DELAY`],
    /// so most waits are short and a few span several of another invocation's calls.
    async fn race(&self) {
        let Some(races) = &self.races else {
            return;
        };
        let delay = {
            let mut rng = races.rng.lock().unwrap_or_else(PoisonError::into_inner);
            if rng.f64() >= races.share {
                return;
            }
            let max_ms = MAX_STORE_DELAY.as_secs_f64() * 1000.0;
            Duration::from_secs_f64((rng.f64() * max_ms.ln()).exp() / 1000.0)
        };
        races.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
    }
}

#[async_trait]
impl LinkStore for SimStore {
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome> {
        self.race().await;
        self.inner.create_link(link).await
    }

    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>> {
        self.race().await;
        self.inner.link_for_case(case_id).await
    }

    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>> {
        self.race().await;
        self.inner.link_for_issue(issue_key).await
    }

    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()> {
        self.race().await;
        self.inner.mark_link_broken(link, reason).await
    }

    async fn record_issue_create(&self, case_id: &str) -> Result<()> {
        self.race().await;
        self.inner.record_issue_create(case_id).await
    }

    async fn issue_create_age(&self, case_id: &str) -> Result<Option<Duration>> {
        self.race().await;
        self.inner.issue_create_age(case_id).await
    }

    async fn forget_issue_create(&self, case_id: &str) -> Result<()> {
        self.race().await;
        self.inner.forget_issue_create(case_id).await
    }
}

#[async_trait]
impl CaseRecordStore for SimStore {
    async fn case_records(&self, case_id: &str) -> Result<CaseRecords> {
        self.race().await;
        self.inner.case_records(case_id).await
    }

    async fn put_snapshot_and_tracked_case(
        &self,
        snapshot: &CaseSnapshot,
        tracked: &TrackedCase,
    ) -> Result<()> {
        self.race().await;
        self.inner
            .put_snapshot_and_tracked_case(snapshot, tracked)
            .await
    }
}

#[async_trait]
impl ClaimStore for SimStore {
    async fn claim(&self, key: &ClaimKey, lease: Duration) -> Result<Option<Claim>> {
        self.race().await;
        self.inner.claim(key, lease).await
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        self.race().await;
        self.inner.release(claim).await
    }

    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<Option<Claim>> {
        self.race().await;
        self.inner.renew(claim, lease).await
    }
}

#[async_trait]
impl SnapshotStore for SimStore {
    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>> {
        self.race().await;
        self.inner.case_snapshot(case_id).await
    }

    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()> {
        self.race().await;
        self.inner.put_case_snapshot(snapshot).await
    }

    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>> {
        self.race().await;
        self.inner.issue_snapshot(issue_key).await
    }

    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()> {
        self.race().await;
        self.inner.put_issue_snapshot(snapshot).await
    }
}

#[async_trait]
impl ItemLinkStore for SimStore {
    async fn put_item_link(&self, link: &ItemLink) -> Result<()> {
        self.race().await;
        if self.breakage == Some(Breakage::CommentIdMapDropped)
            && link.kind == LinkedItemKind::Comment
        {
            return Ok(());
        }
        self.inner.put_item_link(link).await
    }

    async fn item_link_by_sir_id(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
        sir_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.race().await;
        self.inner.item_link_by_sir_id(kind, case_id, sir_id).await
    }

    async fn item_link_by_jira_id(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
        jira_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.race().await;
        self.inner
            .item_link_by_jira_id(kind, issue_key, jira_id)
            .await
    }

    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>> {
        self.race().await;
        self.inner.item_links_for_case(kind, case_id).await
    }

    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>> {
        self.race().await;
        self.inner.item_links_for_issue(kind, issue_key).await
    }
}

#[async_trait]
impl AccountCacheStore for SimStore {
    async fn cached_accounts(
        &self,
        emails: &[String],
    ) -> Result<std::collections::HashMap<String, CachedAccount>> {
        self.race().await;
        self.inner.cached_accounts(emails).await
    }

    async fn cache_accounts(&self, accounts: &[CachedAccount], ttl: Duration) -> Result<()> {
        self.race().await;
        self.inner.cache_accounts(accounts, ttl).await
    }
}

#[async_trait]
impl TrackedCaseStore for SimStore {
    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>> {
        self.race().await;
        self.inner.tracked_cases().await
    }

    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>> {
        self.race().await;
        self.inner.tracked_case(case_id).await
    }

    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()> {
        self.race().await;
        self.inner.put_tracked_case(case).await
    }

    async fn untrack_case(&self, case_id: &str) -> Result<()> {
        self.race().await;
        self.inner.untrack_case(case_id).await
    }
}

#[async_trait]
impl NotifiedWindowStore for SimStore {
    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap> {
        self.race().await;
        self.inner
            .swap_notified_window(issue_key, expected, new)
            .await
    }
}

#[async_trait]
impl WebhookDeliveryStore for SimStore {
    async fn delivery_handled(&self, identifier: &str, now: u64) -> Result<bool> {
        self.race().await;
        self.inner.delivery_handled(identifier, now).await
    }

    async fn finish_delivery(&self, identifier: &str, keep_until: u64) -> Result<()> {
        self.race().await;
        self.inner.finish_delivery(identifier, keep_until).await
    }
}

#[async_trait]
impl SweepCursorStore for SimStore {
    async fn sweep_cursor(&self, sweep: &str) -> Result<Option<SweepCursor>> {
        self.race().await;
        self.inner.sweep_cursor(sweep).await
    }

    async fn advance_sweep_cursor(&self, sweep: &str, cursor: &SweepCursor) -> Result<bool> {
        self.race().await;
        self.inner.advance_sweep_cursor(sweep, cursor).await
    }
}

#[async_trait]
impl PendingDeliveryStore for SimStore {
    async fn pending_delivery(&self, subject: &DeliverySubject) -> Result<Option<PendingDelivery>> {
        self.race().await;
        self.inner.pending_delivery(subject).await
    }

    async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>> {
        self.race().await;
        self.inner.pending_deliveries().await
    }

    async fn swap_pending_delivery(
        &self,
        expected: Option<&str>,
        new: &PendingDelivery,
    ) -> Result<bool> {
        self.race().await;
        self.inner.swap_pending_delivery(expected, new).await
    }

    async fn acknowledge_delivery(
        &self,
        subject: &DeliverySubject,
        delivery_id: &str,
    ) -> Result<bool> {
        self.race().await;
        self.inner.acknowledge_delivery(subject, delivery_id).await
    }

    async fn forget_pending_delivery(&self, subject: &DeliverySubject) -> Result<()> {
        self.race().await;
        self.inner.forget_pending_delivery(subject).await
    }
}
