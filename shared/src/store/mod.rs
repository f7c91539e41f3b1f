//! The mapping table: which Jira issue belongs to which SIR case, what each side looked like at the
//! last sync, which comment/attachment on one side is which on the other, and a short-lived cache
//! of e-mail → Jira accountId.
//!
//! One DynamoDB table with string keys `PK`/`SK` (see [`schema`]). Every lookup is a GetItem or a
//! Query on one partition; nothing scans. Items (`PK` / `SK`):
//! - `CASE#<caseId>` / `LINK` and `ISSUE#<issueKey>` / `LINK`: the link both ways, written together.
//! - `CASE#<caseId>` / `CLAIM`, `ISSUE#<issueKey>` / `CLAIM`: a lease one creator holds while it
//!   creates the other side, so concurrent deliveries cannot both create.
//! - `CASE#<caseId>` / `SNAPSHOT`, `ISSUE#<issueKey>` / `SNAPSHOT`: last synced fields per side.
//! - `CASE#<caseId>` / `COMMENT#<sirId>` ↔ `ISSUE#<issueKey>` / `COMMENT#<jiraId>`, and the same
//!   with `ATTACHMENT#`: item id maps both ways, written together.
//! - `EMAIL#<email>` / `JIRA_ACCOUNT`: cached accountId, expiring through the TTL attribute.
//! - `ISSUE#<issueKey>` / `NOTIFIED`: jira-notifications-handler's re-read window of the issue
//!   ([`NotifiedWindow`]), so a flood of messages costs a bounded number of Jira reads.
//! - `POLLER` / `CASE#<caseId>`: what the poller last saw of each case it tracks; one partition,
//!   so the poller lists what it knows with a Query (and notices a case that vanished).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot::{CaseSnapshot, IssueSnapshot};

/// The table's key schema, shared by the CDK stack, the local world and this adapter.
pub mod schema {
    /// Partition key (string).
    pub const PARTITION_KEY: &str = "PK";
    /// Sort key (string).
    pub const SORT_KEY: &str = "SK";
    /// Epoch seconds after which DynamoDB may delete the item (the table's TTL attribute).
    pub const TTL_ATTRIBUTE: &str = "expiresAt";
}

use schema::{PARTITION_KEY as PK, SORT_KEY as SK, TTL_ATTRIBUTE};

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

/// What [`MappingStore::create_link`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Both items were written.
    Created,
    /// The case or the issue was already linked; here is that link (it may be this very one,
    /// written by an earlier delivery of the same event).
    Exists(IssueLink),
}

/// What a claim is on: the case or the issue whose other side is about to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimKey {
    Case(String),
    Issue(String),
}

impl ClaimKey {
    fn pk(&self) -> String {
        match self {
            ClaimKey::Case(id) => case_pk(id),
            ClaimKey::Issue(key) => issue_pk(key),
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedItemKind {
    Comment,
    Attachment,
}

impl LinkedItemKind {
    fn prefix(self) -> &'static str {
        match self {
            LinkedItemKind::Comment => "COMMENT#",
            LinkedItemKind::Attachment => "ATTACHMENT#",
        }
    }
}

/// The side an item was first written on (so it is never copied back to where it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Sir,
    Jira,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Sir => "sir",
            Origin::Jira => "jira",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sir" => Some(Origin::Sir),
            "jira" => Some(Origin::Jira),
            _ => None,
        }
    }
}

/// One comment or attachment and its copy on the other side.
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
}

/// jira-notifications-handler's re-read window of one issue (`ISSUE#<key>` / `NOTIFIED`): how
/// many re-reads of the issue started in the window, and when the latest one started. Only
/// replaced whole, by [`MappingStore::swap_notified_window`] (compare and swap).
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

/// What the stored window must be for [`MappingStore::swap_notified_window`] to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowExpectation {
    /// No window open at this time (epoch seconds): none stored, or the stored one has closed.
    NoneOpenAt(u64),
    /// Exactly this window (nobody wrote since it was read).
    Exactly(NotifiedWindow),
}

/// What [`MappingStore::swap_notified_window`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSwap {
    /// The new window was written.
    Written,
    /// The stored window was not as expected; here it is (`None`: there is none).
    Refused(Option<NotifiedWindow>),
}

/// How long a claim lasts: the contract's `claimLeaseSeconds` (cdk/contract.json, checked by
/// tests/tests/contract.rs), used by jira-client and sir-client, whose function timeout is 300 s.
///
/// Bounded on both sides by how Lambda runs and retries an asynchronous event:
/// - longer than the function timeout, so a live holder never loses its claim: the claim is taken
///   during the invocation, so it outlasts even an invocation that runs into its timeout;
/// - at most the timeout plus 30 s, so the claim of an invocation that timed out (or crashed) has
///   expired when Lambda's first retry comes (about 1 minute after the failure; the second about
///   2 minutes after that). A lease longer than the timeout plus that minute would make both
///   retries find the dead holder's claim and send the event to the dead-letter queue. The 30 s
///   margin covers the time between the invocation's start and the claim, and retry jitter.
pub const CLAIM_LEASE: Duration = Duration::from_secs(330);

/// Runs `work` holding the claim on `key`, so concurrent deliveries cannot both create the other
/// side or copy the same item. `Ok(None)`: another delivery holds it (the caller's retryable
/// error says so). The claim is released whatever `work` returns; a release that fails only
/// leaves the lease to expire.
pub async fn run_claimed<T, E: From<Error>>(
    store: &dyn MappingStore,
    key: &ClaimKey,
    lease: Duration,
    work: impl Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<Option<T>, E> {
    let Some(claim) = store.claim(key, lease).await? else {
        return Ok(None);
    };
    let result = work.await;
    if let Err(error) = store.release(&claim).await {
        tracing::warn!(?key, %error, "could not release the claim; it will expire");
    }
    result.map(Some)
}

/// The mapping table, as the Lambdas use it.
#[async_trait]
pub trait MappingStore: Send + Sync {
    /// Writes the link both ways in one transaction, each side only if it does not exist yet.
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome>;
    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>>;
    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>>;
    /// Marks both items of the link broken (one side deleted), keeping them.
    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()>;

    /// Takes the lease on `key` for `lease`, or `None` while someone else holds it.
    async fn claim(&self, key: &ClaimKey, lease: Duration) -> Result<Option<Claim>>;
    /// Gives the lease back (no-op if it expired and someone else took it since).
    async fn release(&self, claim: &Claim) -> Result<()>;

    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>>;
    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()>;
    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>>;
    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()>;

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
    /// Every item of `kind` mapped for the case (one paged Query on the case's partition).
    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>>;
    /// Every item of `kind` mapped for the issue (one paged Query on the issue's partition).
    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>>;

    /// The cached accountId for `email`, or `None` when not cached or expired.
    async fn cached_account(&self, email: &str) -> Result<Option<CachedAccount>>;
    async fn cache_account(&self, account: &CachedAccount, ttl: Duration) -> Result<()>;

    /// Every case the poller tracks (one paged Query on the tracking partition).
    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>>;
    /// What the poller last saw of one case (one GetItem).
    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>>;
    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()>;
    /// Stops tracking the case (it can no longer be read from SIR).
    async fn untrack_case(&self, case_id: &str) -> Result<()>;

    /// Replaces the issue's re-read window with `new` if the stored one is as `expected`, in one
    /// conditional PutItem; otherwise writes nothing and returns the stored window.
    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap>;
}

fn notified_window_from(item: &HashMap<String, AttributeValue>) -> Result<NotifiedWindow> {
    let r = ItemReader { item };
    let number = |name: &str| {
        r.opt_n(name)?
            .ok_or_else(|| r.malformed(format!("no number attribute {name}")))
    };
    let reads = number("reads")?;
    Ok(NotifiedWindow {
        expires_at: number(TTL_ATTRIBUTE)?,
        reads: u32::try_from(reads)
            .map_err(|_| r.malformed(format!("reads {reads} is out of range")))?,
        last_read_started_ms: number("lastReadStartedMs")?,
    })
}

fn tracked_case_from(item: &HashMap<String, AttributeValue>) -> Result<TrackedCase> {
    let r = ItemReader { item };
    Ok(TrackedCase {
        case_id: r.req_s("caseId")?.to_owned(),
        last_updated_date: r.opt_s("lastUpdatedDate").map(str::to_owned),
        status: r.opt_s("status").map(str::to_owned),
        title: r.opt_s("title").map(str::to_owned),
        comments_checked_at: r.opt_n("commentsCheckedAt")?.unwrap_or(0),
    })
}

/// [`MappingStore`] on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoMappingStore {
    client: Client,
    table: String,
}

fn case_pk(case_id: &str) -> String {
    format!("CASE#{case_id}")
}

fn issue_pk(issue_key: &str) -> String {
    format!("ISSUE#{issue_key}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.trim().to_lowercase())
}

const LINK: &str = "LINK";
const CLAIM: &str = "CLAIM";
const SNAPSHOT: &str = "SNAPSHOT";
const JIRA_ACCOUNT: &str = "JIRA_ACCOUNT";
const POLLER: &str = "POLLER";
const NOTIFIED: &str = "NOTIFIED";

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// The current time in epoch seconds, the unit of the table's TTL attribute and of every time
/// the table holds (claims, the poller's `commentsCheckedAt`); 0 if the clock is before 1970.
pub fn now_epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads attributes of one item, naming the item in every error.
struct ItemReader<'a> {
    item: &'a HashMap<String, AttributeValue>,
}

impl<'a> ItemReader<'a> {
    fn malformed(&self, reason: String) -> Error {
        let get = |k| {
            self.item
                .get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        Error::MalformedItem {
            pk: get(PK),
            sk: get(SK),
            reason,
        }
    }

    fn opt_s(&self, name: &str) -> Option<&'a str> {
        self.item
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    fn req_s(&self, name: &str) -> Result<&'a str> {
        self.opt_s(name)
            .ok_or_else(|| self.malformed(format!("no string attribute {name}")))
    }

    fn opt_n(&self, name: &str) -> Result<Option<u64>> {
        match self.item.get(name).map(AttributeValue::as_n) {
            None => Ok(None),
            Some(Ok(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| self.malformed(format!("attribute {name} is not a whole number"))),
            Some(Err(_)) => Err(self.malformed(format!("attribute {name} is not a number"))),
        }
    }
}

impl DynamoMappingStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMappingStore {
            client,
            table: table.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(Error::dynamodb("GetItem"))?;
        Ok(out.item)
    }

    async fn put(&self, item: HashMap<String, AttributeValue>) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(Error::dynamodb("PutItem"))?;
        Ok(())
    }

    async fn query_prefix(
        &self,
        pk: String,
        sk_prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(sk_prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(Error::dynamodb("Query"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    fn put_transact_item(
        item: HashMap<String, AttributeValue>,
        condition: Option<&str>,
        table: &str,
    ) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if let Some(condition) = condition {
            put = put.condition_expression(condition);
        }
        let put = put.build().map_err(|source| Error::RequestBuild {
            what: "TransactWriteItems Put",
            source,
        })?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn link_item(pk: String, link: &IssueLink, now: u64) -> HashMap<String, AttributeValue> {
        let mut item = key(pk, LINK);
        item.insert("caseId".into(), s(&link.case_id));
        item.insert("issueKey".into(), s(&link.issue_key));
        item.insert("linkedAt".into(), n(now));
        if let Some(reason) = &link.broken {
            item.insert("broken".into(), s(reason));
        }
        item
    }

    fn read_link(item: &HashMap<String, AttributeValue>) -> Result<IssueLink> {
        let r = ItemReader { item };
        Ok(IssueLink {
            case_id: r.req_s("caseId")?.to_owned(),
            issue_key: r.req_s("issueKey")?.to_owned(),
            broken: r.opt_s("broken").map(str::to_owned),
        })
    }

    fn item_link_items(link: &ItemLink) -> [HashMap<String, AttributeValue>; 2] {
        let prefix = link.kind.prefix();
        let fill = |mut item: HashMap<String, AttributeValue>| {
            item.insert("caseId".into(), s(&link.case_id));
            item.insert("sirId".into(), s(&link.sir_id));
            item.insert("issueKey".into(), s(&link.issue_key));
            item.insert("jiraId".into(), s(&link.jira_id));
            item.insert("origin".into(), s(link.origin.as_str()));
            if let Some(fp) = &link.fingerprint {
                item.insert("fingerprint".into(), s(fp));
            }
            item
        };
        [
            fill(key(
                case_pk(&link.case_id),
                format!("{prefix}{}", link.sir_id),
            )),
            fill(key(
                issue_pk(&link.issue_key),
                format!("{prefix}{}", link.jira_id),
            )),
        ]
    }

    fn read_item_link(
        kind: LinkedItemKind,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<ItemLink> {
        let r = ItemReader { item };
        let origin = r.req_s("origin")?;
        Ok(ItemLink {
            kind,
            case_id: r.req_s("caseId")?.to_owned(),
            sir_id: r.req_s("sirId")?.to_owned(),
            issue_key: r.req_s("issueKey")?.to_owned(),
            jira_id: r.req_s("jiraId")?.to_owned(),
            origin: Origin::parse(origin)
                .ok_or_else(|| r.malformed(format!("unknown origin {origin:?}")))?,
            fingerprint: r.opt_s("fingerprint").map(str::to_owned),
        })
    }

    async fn get_snapshot<T: serde::de::DeserializeOwned>(&self, pk: String) -> Result<Option<T>> {
        let Some(item) = self.get(pk, SNAPSHOT).await? else {
            return Ok(None);
        };
        let json = ItemReader { item: &item }.req_s("snapshot")?;
        serde_json::from_str(json)
            .map(Some)
            .map_err(Error::json("stored snapshot"))
    }

    async fn put_snapshot<T: Serialize>(
        &self,
        pk: String,
        snapshot: &T,
        fingerprint: &str,
    ) -> Result<()> {
        let mut item = key(pk, SNAPSHOT);
        item.insert(
            "snapshot".into(),
            s(serde_json::to_string(snapshot).map_err(Error::json("snapshot"))?),
        );
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("syncedAt".into(), n(now_epoch_seconds()));
        self.put(item).await
    }
}

#[async_trait]
impl MappingStore for DynamoMappingStore {
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome> {
        let now = now_epoch_seconds();
        let condition = "attribute_not_exists(PK)";
        let result = self
            .client
            .transact_write_items()
            .transact_items(Self::put_transact_item(
                Self::link_item(case_pk(&link.case_id), link, now),
                Some(condition),
                &self.table,
            )?)
            .transact_items(Self::put_transact_item(
                Self::link_item(issue_pk(&link.issue_key), link, now),
                Some(condition),
                &self.table,
            )?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(LinkOutcome::Created),
            Err(err) => {
                let lost_condition = matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(cancel))
                        if cancel.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if !lost_condition {
                    return Err(Error::dynamodb("TransactWriteItems")(err));
                }
                if let Some(existing) = self.link_for_case(&link.case_id).await? {
                    return Ok(LinkOutcome::Exists(existing));
                }
                match self.link_for_issue(&link.issue_key).await? {
                    Some(existing) => Ok(LinkOutcome::Exists(existing)),
                    None => Err(Error::dynamodb("TransactWriteItems")(err)),
                }
            }
        }
    }

    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>> {
        self.get(case_pk(case_id), LINK)
            .await?
            .map(|item| Self::read_link(&item))
            .transpose()
    }

    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>> {
        self.get(issue_pk(issue_key), LINK)
            .await?
            .map(|item| Self::read_link(&item))
            .transpose()
    }

    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()> {
        let update = |pk: String| -> Result<TransactWriteItem> {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, LINK)))
                .update_expression("SET #broken = :reason, #brokenAt = :now")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#broken", "broken")
                .expression_attribute_names("#brokenAt", "brokenAt")
                .expression_attribute_values(":reason", s(reason))
                .expression_attribute_values(":now", n(now_epoch_seconds()))
                .build()
                .map_err(|source| Error::RequestBuild {
                    what: "TransactWriteItems Update",
                    source,
                })?;
            Ok(TransactWriteItem::builder().update(update).build())
        };
        self.client
            .transact_write_items()
            .transact_items(update(case_pk(&link.case_id))?)
            .transact_items(update(issue_pk(&link.issue_key))?)
            .send()
            .await
            .map_err(Error::dynamodb("TransactWriteItems"))?;
        Ok(())
    }

    async fn claim(&self, claim_key: &ClaimKey, lease: Duration) -> Result<Option<Claim>> {
        let now = now_epoch_seconds();
        let claim = Claim {
            key: claim_key.clone(),
            owner: uuid::Uuid::new_v4().to_string(),
            expires_at: now + lease.as_secs().max(1),
        };
        let mut item = key(claim_key.pk(), CLAIM);
        item.insert("owner".into(), s(&claim.owner));
        item.insert(TTL_ATTRIBUTE.into(), n(claim.expires_at));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(claim)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(Error::dynamodb("PutItem")(err)),
        }
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(claim.key.pk(), CLAIM)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&claim.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(Error::dynamodb("DeleteItem")(err)),
        }
    }

    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>> {
        self.get_snapshot(case_pk(case_id)).await
    }

    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let fingerprint = snapshot.fingerprint();
        self.put_snapshot(case_pk(&snapshot.case_id), &snapshot, fingerprint.as_str())
            .await
    }

    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>> {
        self.get_snapshot(issue_pk(issue_key)).await
    }

    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let fingerprint = snapshot.fingerprint();
        self.put_snapshot(
            issue_pk(&snapshot.issue_key),
            &snapshot,
            fingerprint.as_str(),
        )
        .await
    }

    async fn put_item_link(&self, link: &ItemLink) -> Result<()> {
        let [by_case, by_issue] = Self::item_link_items(link);
        self.client
            .transact_write_items()
            .transact_items(Self::put_transact_item(by_case, None, &self.table)?)
            .transact_items(Self::put_transact_item(by_issue, None, &self.table)?)
            .send()
            .await
            .map_err(Error::dynamodb("TransactWriteItems"))?;
        Ok(())
    }

    async fn item_link_by_sir_id(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
        sir_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.get(case_pk(case_id), &format!("{}{sir_id}", kind.prefix()))
            .await?
            .map(|item| Self::read_item_link(kind, &item))
            .transpose()
    }

    async fn item_link_by_jira_id(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
        jira_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.get(issue_pk(issue_key), &format!("{}{jira_id}", kind.prefix()))
            .await?
            .map(|item| Self::read_item_link(kind, &item))
            .transpose()
    }

    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>> {
        self.query_prefix(case_pk(case_id), kind.prefix())
            .await?
            .iter()
            .map(|item| Self::read_item_link(kind, item))
            .collect()
    }

    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>> {
        self.query_prefix(issue_pk(issue_key), kind.prefix())
            .await?
            .iter()
            .map(|item| Self::read_item_link(kind, item))
            .collect()
    }

    async fn cached_account(&self, email: &str) -> Result<Option<CachedAccount>> {
        let Some(item) = self.get(email_pk(email), JIRA_ACCOUNT).await? else {
            return Ok(None);
        };
        let r = ItemReader { item: &item };
        // DynamoDB deletes expired items lazily (up to days later): expiry is checked here.
        let expired = r
            .opt_n(TTL_ATTRIBUTE)?
            .is_none_or(|at| at <= now_epoch_seconds());
        if expired {
            return Ok(None);
        }
        Ok(Some(CachedAccount {
            email: r.req_s("email")?.to_owned(),
            account_id: r.opt_s("accountId").map(str::to_owned),
        }))
    }

    async fn cache_account(&self, account: &CachedAccount, ttl: Duration) -> Result<()> {
        let mut item = key(email_pk(&account.email), JIRA_ACCOUNT);
        item.insert("email".into(), s(account.email.trim().to_lowercase()));
        if let Some(id) = &account.account_id {
            item.insert("accountId".into(), s(id));
        }
        item.insert(TTL_ATTRIBUTE.into(), n(now_epoch_seconds() + ttl.as_secs()));
        self.put(item).await
    }

    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>> {
        self.query_prefix(POLLER.to_owned(), "CASE#")
            .await?
            .iter()
            .map(tracked_case_from)
            .collect()
    }

    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>> {
        self.get(POLLER.to_owned(), &format!("CASE#{case_id}"))
            .await?
            .as_ref()
            .map(tracked_case_from)
            .transpose()
    }

    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()> {
        let mut item = key(POLLER.to_owned(), format!("CASE#{}", case.case_id));
        item.insert("caseId".into(), s(&case.case_id));
        for (name, value) in [
            ("lastUpdatedDate", &case.last_updated_date),
            ("status", &case.status),
            ("title", &case.title),
        ] {
            if let Some(value) = value {
                item.insert(name.into(), s(value));
            }
        }
        item.insert("commentsCheckedAt".into(), n(case.comments_checked_at));
        self.put(item).await
    }

    async fn untrack_case(&self, case_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(POLLER.to_owned(), format!("CASE#{case_id}"))))
            .send()
            .await
            .map_err(Error::dynamodb("DeleteItem"))?;
        Ok(())
    }

    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap> {
        let mut item = key(issue_pk(issue_key), NOTIFIED);
        item.insert(TTL_ATTRIBUTE.into(), n(new.expires_at));
        item.insert("reads".into(), n(u64::from(new.reads)));
        item.insert("lastReadStartedMs".into(), n(new.last_read_started_ms));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            WindowExpectation::NoneOpenAt(now) => request
                .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":now", n(now)),
            WindowExpectation::Exactly(current) => request
                .condition_expression("#ttl = :ttl AND #reads = :reads AND #last = :last")
                .expression_attribute_names("#reads", "reads")
                .expression_attribute_names("#last", "lastReadStartedMs")
                .expression_attribute_values(":ttl", n(current.expires_at))
                .expression_attribute_values(":reads", n(u64::from(current.reads)))
                .expression_attribute_values(":last", n(current.last_read_started_ms)),
        };
        match request.send().await {
            Ok(_) => Ok(WindowSwap::Written),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed
                    .item()
                    .map(notified_window_from)
                    .transpose()
                    .map(WindowSwap::Refused),
                _ => Err(Error::dynamodb("PutItem")(err)),
            },
        }
    }
}
