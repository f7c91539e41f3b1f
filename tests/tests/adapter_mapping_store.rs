//! The mapping store's contract: every behaviour below is one test body over a [`Subject`], run
//! twice, as `dynamo::<behaviour>` against the DynamoDB adapter on moto and as
//! `in_memory::<behaviour>` against [`InMemoryMappingStore`], which is what proves the two equal
//! (links, recorded issue creates, claims and their expiry, snapshots, item maps and their paging
//! and order, the account cache and its TTL, tracked cases, the notifications handler's re-read
//! window, sweep cursors, the pending-delivery ledger). Where a test waits, the Dynamo side sleeps and the in-memory side moves its clock.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use integration_tests::World;
use shared::events::{BusEvent, CaseChange, CaseField, IdDelta, IssueChange};
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::status::SirStatus;
use shared::store::{
    CachedAccount, CaseRecords, Claim, ClaimKey, DeliverySubject, InMemoryMappingStore, IssueLink,
    ItemLink, LinkOutcome, LinkedItemKind, MappingStore, NotifiedWindow, Origin, PendingDelivery,
    SweepCursor, TrackedCase, WATCHER_LEFT, WindowExpectation, WindowSwap,
};

/// One store under test.
struct Subject {
    store: Arc<dyn MappingStore>,
    time: Time,
    /// The moto world that owns the Dynamo store's table, kept for the test's length.
    _world: Option<World>,
}

/// How time passes for a [`Subject`].
enum Time {
    /// The Dynamo adapter reads the system clock: waiting is sleeping.
    Real,
    /// The in-memory store reads this (epoch seconds): waiting is moving it on.
    Manual(Arc<AtomicU64>),
}

impl Time {
    /// The store's clock now, in epoch seconds.
    fn now(&self) -> u64 {
        match self {
            Time::Real => shared::store::now_epoch_seconds(),
            Time::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Lets `by` pass (whole seconds for the manual clock, rounded up).
    async fn pass(&self, by: Duration) {
        match self {
            Time::Real => tokio::time::sleep(by).await,
            Time::Manual(now) => {
                now.fetch_add(
                    by.as_secs() + u64::from(by.subsec_nanos() > 0),
                    Ordering::SeqCst,
                );
            }
        }
    }
}

async fn on_dynamo() -> Subject {
    let world = World::new().await.unwrap();
    Subject {
        store: Arc::new(world.store()),
        time: Time::Real,
        _world: Some(world),
    }
}

fn in_memory() -> Subject {
    // Any fixed start will do; a real-looking one keeps expiry arithmetic honest.
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let clock = Arc::clone(&now);
    Subject {
        store: Arc::new(InMemoryMappingStore::with_clock(move || {
            clock.load(Ordering::SeqCst)
        })),
        time: Time::Manual(now),
        _world: None,
    }
}

/// Runs each behaviour against both stores; `dynamo_only` items are tests of the DynamoDB item
/// layout itself, which the in-memory store does not have.
macro_rules! contract {
    (behaviours: [$($behaviour:ident),+ $(,)?], dynamo_only: {$($dynamo_only:item)*}) => {
        mod dynamo {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&super::on_dynamo().await).await;
                }
            )+
            $($dynamo_only)*
        }

        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    super::$behaviour(&super::in_memory()).await;
                }
            )+
        }
    };
}

contract! {
    behaviours: [
        link_is_written_both_ways_and_found_from_either_side,
        linking_a_linked_case_or_issue_again_returns_the_existing_link_and_writes_nothing,
        concurrent_link_writers_exactly_one_wins,
        concurrent_claims_exactly_one_wins_until_released,
        expired_claim_of_a_crashed_creator_can_be_taken_over,
        renewal_extends_only_the_owners_unexpired_claim,
        snapshots_are_stored_per_side_normalized,
        comment_and_attachment_maps_work_both_ways,
        watcher_maps_keep_their_kind_and_state_both_ways,
        listing_item_maps_pages_through_large_cases,
        broken_link_is_kept_and_marked_on_both_sides,
        marking_a_link_broken_needs_both_sides_and_otherwise_writes_nothing,
        account_cache_answers_until_its_ttl_passes,
        accounts_are_cached_and_read_many_at_once,
        cached_account_expires_when_its_ttl_passes_and_can_be_cached_again,
        tracked_cases_are_listed_updated_and_dropped,
        untracking_drops_only_that_case_and_is_no_error_when_untracked,
        listings_come_in_sort_key_order,
        notified_window_opens_once_and_refusals_return_the_stored_window,
        a_handled_webhook_delivery_is_remembered_until_its_time_ends,
        notified_window_is_replaced_only_if_unchanged_since_read,
        concurrent_window_openers_exactly_one_wins,
        issue_create_is_recorded_ages_and_is_forgotten,
        case_records_are_read_and_written_together_as_each_on_its_own,
        sweep_cursor_starts_absent_and_moves_only_forward,
        sweep_cursors_of_different_sweeps_are_separate,
        sweep_cursor_keeps_the_audit_rounds_start_only_when_written_with_one,
        pending_delivery_is_replaced_only_from_the_delivery_read_and_round_trips,
        acknowledging_removes_only_the_delivery_it_names,
        pending_deliveries_are_listed_cases_first_and_forgotten_per_subject,
        publishing_again_before_an_acknowledgement_merges_into_one_pending_delivery,
        changes_behind_a_fresh_unacknowledged_create_are_held_not_published,
    ],
    dynamo_only: {
        use shared::store::AccountCacheStore;

        #[tokio::test]
        async fn account_cache_item_carries_the_ttl_attribute_the_table_expires_by() {
            let world = integration_tests::World::new().await.unwrap();
            let store = world.store();
            let alice = shared::store::CachedAccount {
                email: "alice@example.com".into(),
                account_id: Some("5b10ac8d82e05b22cc7d4ef5".into()),
            };
            store
                .cache_account(&alice, std::time::Duration::from_secs(3600))
                .await
                .unwrap();
            let item = world
                .dynamodb
                .get_item()
                .table_name(&world.table_name)
                .key(
                    "PK",
                    aws_sdk_dynamodb::types::AttributeValue::S("EMAIL#alice@example.com".into()),
                )
                .key(
                    "SK",
                    aws_sdk_dynamodb::types::AttributeValue::S("JIRA_ACCOUNT".into()),
                )
                .send()
                .await
                .unwrap()
                .item
                .unwrap();
            assert!(
                item.contains_key(shared::store::schema::TTL_ATTRIBUTE),
                "TTL attribute is set"
            );
            let ttl = world
                .dynamodb
                .describe_time_to_live()
                .table_name(&world.table_name)
                .send()
                .await
                .unwrap();
            assert_eq!(
                ttl.time_to_live_description()
                    .and_then(|d| d.attribute_name()),
                Some(shared::store::schema::TTL_ATTRIBUTE)
            );
        }
    }
}

fn case(id: &str) -> CaseSnapshot {
    CaseSnapshot {
        case_id: id.into(),
        title: "Crypto-mining on EC2".into(),
        description: "GuardDuty finding.\r\n\r\nInstance i-0abc.".into(),
        status: SirStatus::DetectionAndAnalysis,
        closure_code: None,
        engagement_type: Some("Security Incident".into()),
        reported_incident_start_date: Some("2026-11-20T08:30:00Z".into()),
        impacted_accounts: ["111122223333".to_owned()].into(),
        impacted_regions: BTreeSet::new(),
        impacted_services: BTreeSet::new(),
        watchers: ["Responder@Example.com".to_owned()].into(),
    }
}

async fn link_is_written_both_ways_and_found_from_either_side(f: &Subject) {
    let store = &f.store;
    let link = IssueLink::new("1234567890", "SEC-1");
    assert_eq!(
        store.create_link(&link).await.unwrap(),
        LinkOutcome::Created
    );
    assert_eq!(
        store.link_for_case("1234567890").await.unwrap(),
        Some(link.clone())
    );
    assert_eq!(store.link_for_issue("SEC-1").await.unwrap(), Some(link));
    assert_eq!(store.link_for_case("9990000000").await.unwrap(), None);
    assert_eq!(store.link_for_issue("SEC-999").await.unwrap(), None);
}

async fn linking_a_linked_case_or_issue_again_returns_the_existing_link_and_writes_nothing(
    f: &Subject,
) {
    let store = &f.store;
    let first = IssueLink::new("1110000000", "SEC-1");
    store.create_link(&first).await.unwrap();

    // The same event delivered twice: the same link comes back.
    assert_eq!(
        store.create_link(&first).await.unwrap(),
        LinkOutcome::Exists(first.clone())
    );
    // The case is taken: a second issue cannot be linked to it, and no half-link is left.
    let second_issue = IssueLink::new("1110000000", "SEC-2");
    assert_eq!(
        store.create_link(&second_issue).await.unwrap(),
        LinkOutcome::Exists(first.clone())
    );
    assert_eq!(store.link_for_issue("SEC-2").await.unwrap(), None);
    // The issue is taken: a second case cannot be linked to it.
    let second_case = IssueLink::new("2220000000", "SEC-1");
    assert_eq!(
        store.create_link(&second_case).await.unwrap(),
        LinkOutcome::Exists(first)
    );
    assert_eq!(store.link_for_case("2220000000").await.unwrap(), None);
}

async fn concurrent_link_writers_exactly_one_wins(f: &Subject) {
    let store = Arc::clone(&f.store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_link(&IssueLink::new("7770000000", format!("SEC-{i}")))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == LinkOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let winner = store.link_for_case("7770000000").await.unwrap().unwrap();
    let mut reverse = 0;
    for i in 0..8 {
        if store
            .link_for_issue(&format!("SEC-{i}"))
            .await
            .unwrap()
            .is_some()
        {
            reverse += 1;
        }
    }
    assert_eq!(reverse, 1, "exactly the winner's issue item exists");
    assert!(
        store
            .link_for_issue(&winner.issue_key)
            .await
            .unwrap()
            .is_some()
    );
}

async fn concurrent_claims_exactly_one_wins_until_released(f: &Subject) {
    let store = Arc::clone(&f.store);
    let key = ClaimKey::Case("5550000000".into());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move { store.claim(&key, Duration::from_secs(300)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(claim) = task.await.unwrap().unwrap() {
            winners.push(claim);
        }
    }
    assert_eq!(winners.len(), 1);
    // Held: nobody else gets it. Released: the next creator does.
    assert!(
        store
            .claim(&key, Duration::from_secs(300))
            .await
            .unwrap()
            .is_none()
    );
    store.release(&winners[0]).await.unwrap();
    assert!(
        store
            .claim(&key, Duration::from_secs(300))
            .await
            .unwrap()
            .is_some()
    );
    // Claims on the issue side are independent of the case side.
    assert!(
        store
            .claim(&ClaimKey::Issue("SEC-5".into()), Duration::from_secs(300))
            .await
            .unwrap()
            .is_some()
    );
}

async fn expired_claim_of_a_crashed_creator_can_be_taken_over(f: &Subject) {
    let store = &f.store;
    let key = ClaimKey::Issue("SEC-9".into());
    // Leases end on whole epoch seconds: one of a few seconds is still held a moment later
    // however the test's start falls within a second (one of 1 s may already be over).
    let crashed = store
        .claim(&key, Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .claim(&key, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    f.time.pass(Duration::from_millis(4100)).await;
    let taken = store
        .claim(&key, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    // The crashed holder waking up late cannot release the new holder's claim.
    store.release(&crashed).await.unwrap();
    assert!(
        store
            .claim(&key, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    store.release(&taken).await.unwrap();
}

async fn renewal_extends_only_the_owners_unexpired_claim(f: &Subject) {
    let store = &f.store;
    let key = ClaimKey::Case("5550000001".into());
    let claim = store
        .claim(&key, Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();
    let renewed = store
        .renew(&claim, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(renewed.expires_at >= f.time.now() + 59);
    assert_eq!(renewed.owner, claim.owner);
    f.time.pass(Duration::from_millis(2100)).await;
    assert!(
        store
            .claim(&key, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "held past its first lease"
    );
    let stranger = Claim {
        owner: "someone-else".into(),
        ..renewed.clone()
    };
    assert_eq!(
        store
            .renew(&stranger, Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
    store.release(&renewed).await.unwrap();
    assert_eq!(
        store
            .renew(&renewed, Duration::from_secs(60))
            .await
            .unwrap(),
        None,
        "a released claim is not renewed"
    );

    // A claim that ran out is not renewed, even before anyone took it over.
    let short = store
        .claim(&key, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    f.time.pass(Duration::from_millis(2100)).await;
    assert_eq!(
        store.renew(&short, Duration::from_secs(60)).await.unwrap(),
        None
    );
}

async fn snapshots_are_stored_per_side_normalized(f: &Subject) {
    let store = &f.store;
    assert_eq!(store.case_snapshot("4200000000").await.unwrap(), None);
    let snapshot = case("4200000000");
    store.put_case_snapshot(&snapshot).await.unwrap();
    let read = store.case_snapshot("4200000000").await.unwrap().unwrap();
    assert_eq!(read, snapshot.clone().normalized());
    assert_eq!(read.fingerprint(), snapshot.fingerprint());

    let issue = IssueSnapshot {
        issue_key: "SEC-42".into(),
        summary: "Crypto-mining on EC2".into(),
        description: "GuardDuty finding.".into(),
        status: "In Progress".into(),
        watchers: BTreeSet::new(),
    };
    store.put_issue_snapshot(&issue).await.unwrap();
    assert_eq!(
        store.issue_snapshot("SEC-42").await.unwrap(),
        Some(issue.normalized())
    );
    // The case snapshot is untouched by the issue side's write.
    assert_eq!(store.case_snapshot("4200000000").await.unwrap(), Some(read));
}

async fn comment_and_attachment_maps_work_both_ways(f: &Subject) {
    let store = &f.store;
    let comment = |sir: &str, jira: &str, origin| ItemLink {
        kind: LinkedItemKind::Comment,
        case_id: "4200000000".into(),
        sir_id: sir.into(),
        issue_key: "SEC-42".into(),
        jira_id: jira.into(),
        origin,
        fingerprint: Some(format!("fp-{sir}")),
    };
    store
        .put_item_link(&comment("000001", "10001", Origin::Sir))
        .await
        .unwrap();
    store
        .put_item_link(&comment("000002", "10002", Origin::Jira))
        .await
        .unwrap();
    let attachment = ItemLink {
        kind: LinkedItemKind::Attachment,
        fingerprint: None,
        ..comment("7c1d3a52-9f0e-4b8a-a6d2-3e5f4c2b1a90", "20001", Origin::Sir)
    };
    store.put_item_link(&attachment).await.unwrap();

    let by_sir = store
        .item_link_by_sir_id(LinkedItemKind::Comment, "4200000000", "000002")
        .await
        .unwrap();
    assert_eq!(by_sir, Some(comment("000002", "10002", Origin::Jira)));
    let by_jira = store
        .item_link_by_jira_id(LinkedItemKind::Comment, "SEC-42", "10001")
        .await
        .unwrap();
    assert_eq!(by_jira, Some(comment("000001", "10001", Origin::Sir)));
    assert_eq!(
        store
            .item_link_by_sir_id(LinkedItemKind::Comment, "4200000000", "000003")
            .await
            .unwrap(),
        None
    );
    // Kinds do not mix: the attachment is not a comment.
    assert_eq!(
        store
            .item_link_by_sir_id(
                LinkedItemKind::Comment,
                "4200000000",
                "7c1d3a52-9f0e-4b8a-a6d2-3e5f4c2b1a90"
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .item_link_by_jira_id(LinkedItemKind::Attachment, "SEC-42", "20001")
            .await
            .unwrap(),
        Some(attachment.clone())
    );

    let for_case = store
        .item_links_for_case(LinkedItemKind::Comment, "4200000000")
        .await
        .unwrap();
    assert_eq!(for_case.len(), 2);
    let for_issue = store
        .item_links_for_issue(LinkedItemKind::Attachment, "SEC-42")
        .await
        .unwrap();
    assert_eq!(for_issue, [attachment]);

    // An edit overwrites the fingerprint in both directions.
    let mut edited = comment("000001", "10001", Origin::Sir);
    edited.fingerprint = Some("fp-edited".into());
    store.put_item_link(&edited).await.unwrap();
    assert_eq!(
        store
            .item_link_by_jira_id(LinkedItemKind::Comment, "SEC-42", "10001")
            .await
            .unwrap(),
        Some(edited)
    );
}

async fn watcher_maps_keep_their_kind_and_state_both_ways(f: &Subject) {
    let store = &f.store;
    let watcher = |email: &str, account: &str, origin| ItemLink {
        kind: LinkedItemKind::Watcher,
        case_id: "4200000000".into(),
        sir_id: email.into(),
        issue_key: "SEC-42".into(),
        jira_id: account.into(),
        origin,
        fingerprint: None,
    };
    let ann = watcher("ann@example.com", "acc-ann", Origin::Sir);
    let bob = watcher("bob@example.com", "acc-bob", Origin::Jira);
    store.put_item_link(&ann).await.unwrap();
    store.put_item_link(&bob).await.unwrap();
    // A comment with the same ids is another kind.
    let comment = ItemLink {
        kind: LinkedItemKind::Comment,
        ..ann.clone()
    };
    store.put_item_link(&comment).await.unwrap();
    // Ann left the issue: her link's state changes on both sides.
    let left = ItemLink {
        fingerprint: Some(WATCHER_LEFT.into()),
        ..ann.clone()
    };
    store.put_item_link(&left).await.unwrap();
    assert_eq!(
        store
            .item_links_for_case(LinkedItemKind::Watcher, "4200000000")
            .await
            .unwrap(),
        [left.clone(), bob.clone()]
    );
    assert_eq!(
        store
            .item_links_for_issue(LinkedItemKind::Watcher, "SEC-42")
            .await
            .unwrap(),
        [left, bob]
    );
    assert_eq!(
        store
            .item_link_by_jira_id(LinkedItemKind::Comment, "SEC-42", "acc-ann")
            .await
            .unwrap(),
        Some(comment)
    );
}

async fn listing_item_maps_pages_through_large_cases(f: &Subject) {
    let store = Arc::clone(&f.store);
    // Items big enough that one Query page (1 MB) cannot hold them all.
    let fingerprint = "f".repeat(4_000);
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let store = Arc::clone(&store);
            let link = ItemLink {
                kind: LinkedItemKind::Comment,
                case_id: "1234500000".into(),
                sir_id: format!("{:06}", i + 1),
                issue_key: "SEC-BIG".into(),
                jira_id: format!("{}", 10_000 + i),
                origin: Origin::Sir,
                fingerprint: Some(fingerprint.clone()),
            };
            tokio::spawn(async move { store.put_item_link(&link).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let all = store
        .item_links_for_case(LinkedItemKind::Comment, "1234500000")
        .await
        .unwrap();
    assert_eq!(all.len(), 300);
    let ids: BTreeSet<_> = all.iter().map(|l| l.sir_id.clone()).collect();
    assert_eq!(ids.len(), 300);
}

async fn broken_link_is_kept_and_marked_on_both_sides(f: &Subject) {
    let store = &f.store;
    let link = IssueLink::new("8800000000", "SEC-88");
    store.create_link(&link).await.unwrap();
    store
        .mark_link_broken(&link, "Jira issue deleted")
        .await
        .unwrap();
    let by_case = store.link_for_case("8800000000").await.unwrap().unwrap();
    let by_issue = store.link_for_issue("SEC-88").await.unwrap().unwrap();
    assert_eq!(by_case.broken.as_deref(), Some("Jira issue deleted"));
    assert_eq!(by_case, by_issue);
    // Marking a link that does not exist is an error, not a silent success.
    assert!(
        store
            .mark_link_broken(&IssueLink::new("1000000000", "SEC-0"), "x")
            .await
            .is_err()
    );
}

async fn account_cache_answers_until_its_ttl_passes(f: &Subject) {
    let store = &f.store;
    let alice = CachedAccount {
        email: "alice@example.com".into(),
        account_id: Some("5b10ac8d82e05b22cc7d4ef5".into()),
    };
    store
        .cache_account(&alice, Duration::from_secs(3600))
        .await
        .unwrap();
    // Look-ups ignore e-mail case.
    assert_eq!(
        store.cached_account("Alice@Example.COM").await.unwrap(),
        Some(alice)
    );

    // "Jira has no such user" is cached too, so it is not asked again every sync.
    let ghost = CachedAccount {
        email: "ghost@example.com".into(),
        account_id: None,
    };
    store
        .cache_account(&ghost, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.cached_account("ghost@example.com").await.unwrap(),
        Some(ghost)
    );

    // Expired entries are not served even before DynamoDB's TTL sweep removes them.
    let stale = CachedAccount {
        email: "bob@example.com".into(),
        account_id: Some("x".into()),
    };
    store.cache_account(&stale, Duration::ZERO).await.unwrap();
    assert_eq!(store.cached_account("bob@example.com").await.unwrap(), None);
}

async fn accounts_are_cached_and_read_many_at_once(f: &Subject) {
    let store = &f.store;
    let account = |i: usize| CachedAccount {
        email: format!("responder{i}@example.com"),
        account_id: (!i.is_multiple_of(3)).then(|| format!("acc-{i}")),
    };
    // More than one transaction holds, with one e-mail twice in another case.
    let mut accounts: Vec<CachedAccount> = (0..130).map(account).collect();
    accounts.push(CachedAccount {
        email: " Responder7@Example.com".into(),
        account_id: Some("acc-7".into()),
    });
    store
        .cache_accounts(&accounts, Duration::from_secs(3600))
        .await
        .unwrap();
    let stale = CachedAccount {
        email: "stale@example.com".into(),
        account_id: Some("x".into()),
    };
    store.cache_account(&stale, Duration::ZERO).await.unwrap();

    let mut asked: Vec<String> = (0..130)
        .map(|i| format!("RESPONDER{i}@example.com"))
        .collect();
    asked.push("nobody@example.com".into());
    asked.push("stale@example.com".into());
    asked.push("responder5@example.com".into());
    let found = store.cached_accounts(&asked).await.unwrap();
    // Every cached one, by normalized e-mail; not the uncached, not the expired.
    assert_eq!(found.len(), 130, "{:?}", found.keys().collect::<Vec<_>>());
    for i in 0..130 {
        assert_eq!(found[&format!("responder{i}@example.com")], account(i));
    }
    assert!(!found.contains_key("nobody@example.com"));
    assert!(!found.contains_key("stale@example.com"));
    assert!(store.cached_accounts(&[]).await.unwrap().is_empty());
}

async fn tracked_cases_are_listed_updated_and_dropped(f: &Subject) {
    let store = &f.store;
    assert!(store.tracked_cases().await.unwrap().is_empty());
    let tracked = |id: &str, status: &str| TrackedCase {
        case_id: id.into(),
        last_updated_date: Some("2026-11-21T10:00:00Z".into()),
        status: Some(status.into()),
        title: Some("t".into()),
        comments_checked_at: 7,
        audited_at: 1_700_000_042,
    };
    for i in 0..30 {
        store
            .put_tracked_case(&tracked(&format!("{i:010}"), "Submitted"))
            .await
            .unwrap();
    }
    store
        .put_tracked_case(&tracked("0000000003", "Closed"))
        .await
        .unwrap();
    store.untrack_case("0000000004").await.unwrap();
    let all = store.tracked_cases().await.unwrap();
    assert_eq!(all.len(), 29);
    assert_eq!(
        all.iter().find(|c| c.case_id == "0000000003").unwrap(),
        &tracked("0000000003", "Closed")
    );
    assert!(all.iter().all(|c| c.case_id != "0000000004"));
    // One case by its key, as the poller reads it for a native event.
    assert_eq!(
        store.tracked_case("0000000003").await.unwrap(),
        Some(tracked("0000000003", "Closed"))
    );
    assert_eq!(store.tracked_case("0000000004").await.unwrap(), None);
}

fn window(expires_at: u64, reads: u32, last_read_started_ms: u64) -> NotifiedWindow {
    NotifiedWindow {
        expires_at,
        reads,
        last_read_started_ms,
    }
}

async fn a_handled_webhook_delivery_is_remembered_until_its_time_ends(f: &Subject) {
    let store = &f.store;
    let id = "9f5a3c7e-0d41-4f0e-8b1e-2c6f1a7d9e10";
    assert!(!store.delivery_handled(id, 1_000).await.unwrap());
    store.finish_delivery(id, 8_000).await.unwrap();
    assert!(store.delivery_handled(id, 1_001).await.unwrap(), "a repeat");
    assert!(store.delivery_handled(id, 7_999).await.unwrap());
    assert!(!store.delivery_handled("other", 1_001).await.unwrap());
    // Past its time (before DynamoDB's TTL deletes it): no record.
    assert!(!store.delivery_handled(id, 8_000).await.unwrap());
}

async fn notified_window_opens_once_and_refusals_return_the_stored_window(f: &Subject) {
    let store = &f.store;
    let first = window(1_010, 1, 1_000_000);
    assert_eq!(
        store
            .swap_notified_window("SEC-1", WindowExpectation::NoneOpenAt(1_000), &first)
            .await
            .unwrap(),
        WindowSwap::Written
    );
    // Still open at 1009: a second opener is refused and told what is there.
    let rival = window(1_019, 1, 1_009_000);
    assert_eq!(
        store
            .swap_notified_window("SEC-1", WindowExpectation::NoneOpenAt(1_009), &rival)
            .await
            .unwrap(),
        WindowSwap::Refused(Some(first))
    );
    // Another issue has its own window.
    assert_eq!(
        store
            .swap_notified_window("SEC-2", WindowExpectation::NoneOpenAt(1_009), &rival)
            .await
            .unwrap(),
        WindowSwap::Written
    );
    // Closed at 1010: the next window opens.
    let next = window(1_020, 1, 1_010_000);
    assert_eq!(
        store
            .swap_notified_window("SEC-1", WindowExpectation::NoneOpenAt(1_010), &next)
            .await
            .unwrap(),
        WindowSwap::Written
    );
}

async fn notified_window_is_replaced_only_if_unchanged_since_read(f: &Subject) {
    let store = &f.store;
    let first = window(1_010, 1, 1_000_000);
    // Nothing stored: an update of a window that is not there is refused with none.
    assert_eq!(
        store
            .swap_notified_window("SEC-3", WindowExpectation::Exactly(first), &first)
            .await
            .unwrap(),
        WindowSwap::Refused(None)
    );
    store
        .swap_notified_window("SEC-3", WindowExpectation::NoneOpenAt(1_000), &first)
        .await
        .unwrap();
    let second = window(1_010, 2, 1_002_000);
    assert_eq!(
        store
            .swap_notified_window("SEC-3", WindowExpectation::Exactly(first), &second)
            .await
            .unwrap(),
        WindowSwap::Written
    );
    // A writer that read `first` is too late: it learns of `second` instead.
    let stale = window(1_010, 2, 1_003_000);
    assert_eq!(
        store
            .swap_notified_window("SEC-3", WindowExpectation::Exactly(first), &stale)
            .await
            .unwrap(),
        WindowSwap::Refused(Some(second))
    );
}

async fn concurrent_window_openers_exactly_one_wins(f: &Subject) {
    let store = Arc::clone(&f.store);
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mine = window(2_010, 1, 2_000_000 + i);
                store
                    .swap_notified_window("SEC-4", WindowExpectation::NoneOpenAt(2_000), &mine)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut written = 0;
    let mut seen = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            WindowSwap::Written => written += 1,
            WindowSwap::Refused(Some(stored)) => {
                seen.insert(stored.last_read_started_ms);
            }
            WindowSwap::Refused(None) => panic!("a refused opener sees the winner's window"),
        }
    }
    assert_eq!(written, 1);
    // Every loser saw the same (the winner's) window.
    assert_eq!(seen.len(), 1, "{seen:?}");
}

async fn marking_a_link_broken_needs_both_sides_and_otherwise_writes_nothing(f: &Subject) {
    let store = &f.store;
    let link = IssueLink::new("6600000000", "SEC-66");
    store.create_link(&link).await.unwrap();
    // One side of each pair is linked (to something else): refused as a whole, nothing written.
    assert!(
        store
            .mark_link_broken(&IssueLink::new("6600000000", "SEC-67"), "x")
            .await
            .is_err()
    );
    assert!(
        store
            .mark_link_broken(&IssueLink::new("6700000000", "SEC-66"), "x")
            .await
            .is_err()
    );
    assert_eq!(
        store.link_for_case("6600000000").await.unwrap(),
        Some(link.clone())
    );
    assert_eq!(store.link_for_issue("SEC-66").await.unwrap(), Some(link));
    assert_eq!(store.link_for_case("6700000000").await.unwrap(), None);
    assert_eq!(store.link_for_issue("SEC-67").await.unwrap(), None);
}

async fn cached_account_expires_when_its_ttl_passes_and_can_be_cached_again(f: &Subject) {
    let store = &f.store;
    let carol = CachedAccount {
        email: "carol@example.com".into(),
        account_id: Some("carol-1".into()),
    };
    store
        .cache_account(&carol, Duration::from_secs(2))
        .await
        .unwrap();
    // Look-ups ignore surrounding spaces as well as case.
    assert_eq!(
        store.cached_account("  Carol@Example.com ").await.unwrap(),
        Some(carol.clone())
    );
    f.time.pass(Duration::from_millis(2100)).await;
    assert_eq!(
        store.cached_account("carol@example.com").await.unwrap(),
        None
    );
    // Cached again (the answer changed meanwhile): the new answer is served.
    let moved = CachedAccount {
        account_id: Some("carol-2".into()),
        ..carol
    };
    store
        .cache_account(&moved, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.cached_account("carol@example.com").await.unwrap(),
        Some(moved)
    );
}

async fn untracking_drops_only_that_case_and_is_no_error_when_untracked(f: &Subject) {
    let store = &f.store;
    let tracked = |id: &str| TrackedCase {
        case_id: id.into(),
        last_updated_date: None,
        status: None,
        title: None,
        comments_checked_at: 0,
        audited_at: 0,
    };
    store
        .put_tracked_case(&tracked("0000000001"))
        .await
        .unwrap();
    store
        .put_tracked_case(&tracked("0000000002"))
        .await
        .unwrap();
    store.untrack_case("0000000001").await.unwrap();
    store.untrack_case("0000000001").await.unwrap();
    store.untrack_case("0000000009").await.unwrap();
    assert_eq!(store.tracked_case("0000000001").await.unwrap(), None);
    assert_eq!(
        store.tracked_cases().await.unwrap(),
        [tracked("0000000002")]
    );
}

async fn listings_come_in_sort_key_order(f: &Subject) {
    let store = &f.store;
    let link = |sir: &str, jira: &str| ItemLink {
        kind: LinkedItemKind::Comment,
        case_id: "5432100000".into(),
        sir_id: sir.into(),
        issue_key: "SEC-ORDER".into(),
        jira_id: jira.into(),
        origin: Origin::Jira,
        fingerprint: None,
    };
    for (sir, jira) in [
        ("000003", "300"),
        ("000010", "1000"),
        ("000001", "20"),
        ("000002", "4"),
    ] {
        store.put_item_link(&link(sir, jira)).await.unwrap();
    }
    let sir_ids: Vec<_> = store
        .item_links_for_case(LinkedItemKind::Comment, "5432100000")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.sir_id)
        .collect();
    assert_eq!(sir_ids, ["000001", "000002", "000003", "000010"]);
    // Jira ids are ordered as strings, not as numbers.
    let jira_ids: Vec<_> = store
        .item_links_for_issue(LinkedItemKind::Comment, "SEC-ORDER")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.jira_id)
        .collect();
    assert_eq!(jira_ids, ["1000", "20", "300", "4"]);

    for id in ["0000000030", "0000000001", "0000000200"] {
        let case = TrackedCase {
            case_id: id.into(),
            last_updated_date: None,
            status: None,
            title: None,
            comments_checked_at: 0,
            audited_at: 0,
        };
        store.put_tracked_case(&case).await.unwrap();
    }
    let case_ids: Vec<_> = store
        .tracked_cases()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.case_id)
        .collect();
    assert_eq!(case_ids, ["0000000001", "0000000030", "0000000200"]);
}

async fn issue_create_is_recorded_ages_and_is_forgotten(f: &Subject) {
    let store = &f.store;
    // Ages are bounded by the time that passed around each call, not by fixed figures: a loaded
    // machine may take seconds per call.
    let since = |start: u64| Duration::from_secs(f.time.now() - start);
    assert_eq!(store.issue_create_age("1111111111").await.unwrap(), None);
    let first = f.time.now();
    store.record_issue_create("1111111111").await.unwrap();
    let fresh = store.issue_create_age("1111111111").await.unwrap().unwrap();
    assert!(fresh <= since(first), "{fresh:?}");
    assert_eq!(store.issue_create_age("2222222222").await.unwrap(), None);

    f.time.pass(Duration::from_secs(2)).await;
    let aged = store.issue_create_age("1111111111").await.unwrap().unwrap();
    assert!(aged >= Duration::from_secs(2), "{aged:?}");
    // A new create starts the count again.
    let second = f.time.now();
    store.record_issue_create("1111111111").await.unwrap();
    let again = store.issue_create_age("1111111111").await.unwrap().unwrap();
    // The first record is at least 2 s older than `second`: a count that was not restarted
    // would exceed this bound.
    assert!(again <= since(second), "{again:?} {aged:?}");

    store.forget_issue_create("1111111111").await.unwrap();
    assert_eq!(store.issue_create_age("1111111111").await.unwrap(), None);
    store.forget_issue_create("1111111111").await.unwrap();
}

async fn case_records_are_read_and_written_together_as_each_on_its_own(f: &Subject) {
    let store = &f.store;
    let id = "5100000000";
    assert_eq!(
        store.case_records(id).await.unwrap(),
        CaseRecords::default()
    );

    let snapshot = case(id);
    let entry = TrackedCase {
        case_id: id.into(),
        last_updated_date: Some("2026-11-21T10:00:00Z".into()),
        status: Some("Submitted".into()),
        title: Some("t".into()),
        comments_checked_at: 7,
        audited_at: 1_700_000_042,
    };
    // Written together, read back on their own as each was written alone.
    store
        .put_snapshot_and_tracked_case(&snapshot, &entry)
        .await
        .unwrap();
    assert_eq!(
        store.case_snapshot(id).await.unwrap(),
        Some(snapshot.clone().normalized())
    );
    assert_eq!(store.tracked_case(id).await.unwrap(), Some(entry.clone()));
    // No link yet: it reads as absent.
    let partial = store.case_records(id).await.unwrap();
    assert_eq!(partial.link, None);
    assert_eq!(partial.snapshot, Some(snapshot.clone().normalized()));
    assert_eq!(partial.tracked, Some(entry.clone()));
    assert_eq!(partial.pending, None);

    let waiting = pending(case_update(id, "renamed"), "d-51", 1_800_000_000);
    assert!(store.swap_pending_delivery(None, &waiting).await.unwrap());
    // An issue's pending delivery is not the case's.
    let issue_side = pending(issue_update("SEC-51"), "d-52", 1_800_000_000);
    assert!(
        store
            .swap_pending_delivery(None, &issue_side)
            .await
            .unwrap()
    );
    let link = IssueLink::new(id, "SEC-51");
    store.create_link(&link).await.unwrap();
    store
        .mark_link_broken(&link, "Jira issue deleted")
        .await
        .unwrap();
    let records = store.case_records(id).await.unwrap();
    assert_eq!(records.link, store.link_for_case(id).await.unwrap());
    assert_eq!(
        records.link.as_ref().and_then(|l| l.broken.as_deref()),
        Some("Jira issue deleted")
    );
    assert_eq!(records.snapshot, store.case_snapshot(id).await.unwrap());
    assert_eq!(records.tracked, store.tracked_case(id).await.unwrap());
    assert_eq!(records.pending, Some(waiting));

    // Another case's records are its own.
    assert_eq!(
        store.case_records("5100000001").await.unwrap(),
        CaseRecords::default()
    );
}

// ---------------------------------------------------------------------------------------------
// `run_claimed` over both stores, in real time with a short lease (second-grained expiry, as the
// table's), so a dead holder, a long-running holder and a lost claim each take a few seconds.

mod run_claimed {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use shared::store::{ClaimKey, ClaimStore, ClaimTiming, run_claimed};

    const TIMING: ClaimTiming = ClaimTiming {
        lease: Duration::from_secs(2),
        renew_every: Duration::from_millis(500),
        wait: Duration::from_secs(8),
        poll: Duration::from_millis(100),
    };

    macro_rules! on_both {
        ($($behaviour:ident),+ $(,)?) => {
            mod dynamo {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $behaviour() {
                        let world = integration_tests::World::new().await.unwrap();
                        super::$behaviour(std::sync::Arc::new(world.store())).await;
                    }
                )+
            }
            mod in_memory {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $behaviour() {
                        super::$behaviour(std::sync::Arc::new(
                            shared::store::InMemoryMappingStore::new(),
                        ))
                        .await;
                    }
                )+
            }
        };
    }

    on_both!(
        a_dead_holders_claim_stops_blocking_a_waiting_delivery_after_the_short_lease,
        a_live_holders_long_work_keeps_its_claim_and_the_waiting_delivery_runs_after_it,
        a_delivery_gives_up_retryably_when_the_claim_stays_held_past_its_wait,
        work_whose_claim_ran_out_and_was_taken_is_stopped_with_a_retryable_error,
    );

    type Store = Arc<dyn ClaimStore>;

    async fn a_dead_holders_claim_stops_blocking_a_waiting_delivery_after_the_short_lease(
        store: Store,
    ) {
        let key = ClaimKey::Case("5551000000".into());
        // Taken and never renewed nor released: its holder died.
        store.claim(&key, TIMING.lease).await.unwrap().unwrap();
        let started = Instant::now();
        let ran = run_claimed(store.as_ref(), &key, &TIMING, async {
            Ok::<_, shared::Error>("ran")
        })
        .await
        .unwrap();
        assert_eq!(ran, Some("ran"));
        assert!(started.elapsed() <= TIMING.lease + Duration::from_secs(1));
    }

    async fn a_live_holders_long_work_keeps_its_claim_and_the_waiting_delivery_runs_after_it(
        store: Store,
    ) {
        let key = ClaimKey::Issue("SEC-71".into());
        let log = Arc::new(Mutex::new(Vec::new()));
        let holder = {
            let (store, key, log) = (Arc::clone(&store), key.clone(), Arc::clone(&log));
            tokio::spawn(async move {
                run_claimed(store.as_ref(), &key, &TIMING, async {
                    log.lock().unwrap().push("holder starts");
                    // Twice the lease: only renewals keep the claim.
                    tokio::time::sleep(TIMING.lease * 2).await;
                    log.lock().unwrap().push("holder ends");
                    Ok::<_, shared::Error>(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let waited = run_claimed(store.as_ref(), &key, &TIMING, async {
            log.lock().unwrap().push("waiting delivery runs");
            Ok::<_, shared::Error>(())
        })
        .await
        .unwrap();
        assert_eq!(waited, Some(()));
        assert_eq!(holder.await.unwrap().unwrap(), Some(()));
        assert_eq!(
            *log.lock().unwrap(),
            ["holder starts", "holder ends", "waiting delivery runs"]
        );
    }

    async fn a_delivery_gives_up_retryably_when_the_claim_stays_held_past_its_wait(store: Store) {
        let key = ClaimKey::Case("5552000000".into());
        let holder = {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move {
                run_claimed(store.as_ref(), &key, &TIMING, async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, shared::Error>(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let impatient = ClaimTiming {
            wait: Duration::from_millis(1500),
            ..TIMING
        };
        let started = Instant::now();
        let gave_up = run_claimed(store.as_ref(), &key, &impatient, async {
            Ok::<_, shared::Error>(())
        })
        .await
        .unwrap();
        assert_eq!(
            gave_up, None,
            "the caller answers with its retryable ClaimHeld"
        );
        assert!(started.elapsed() >= impatient.wait);
        assert!(started.elapsed() < impatient.wait + Duration::from_secs(2));
        assert_eq!(holder.await.unwrap().unwrap(), Some(()));
    }

    async fn work_whose_claim_ran_out_and_was_taken_is_stopped_with_a_retryable_error(
        store: Store,
    ) {
        let key = ClaimKey::Case("5553000000".into());
        // Renewals come too late (as when DynamoDB refused them): the lease runs out meanwhile.
        let late = ClaimTiming {
            lease: Duration::from_secs(1),
            renew_every: Duration::from_millis(2500),
            ..TIMING
        };
        let holder = {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move {
                run_claimed(store.as_ref(), &key, &late, async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, shared::Error>(())
                })
                .await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let taker = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(claim) = store.claim(&key, Duration::from_secs(60)).await.unwrap() {
                break claim;
            }
            assert!(Instant::now() < deadline, "the lease never ran out");
        };
        let err = holder.await.unwrap().unwrap_err();
        assert!(
            matches!(err, shared::Error::ClaimLost { .. }) && err.is_retryable(),
            "{err}"
        );
        assert!(
            store
                .claim(&key, Duration::from_secs(60))
                .await
                .unwrap()
                .is_none(),
            "the stopped holder did not release the new holder's claim"
        );
        store.release(&taker).await.unwrap();
    }
}

fn cursor(position_ms: u64, caught_up: bool) -> SweepCursor {
    SweepCursor {
        position_ms,
        caught_up,
        last_key: (!caught_up).then(|| format!("SEC-{position_ms}")),
        round_started_ms: None,
    }
}

async fn sweep_cursor_starts_absent_and_moves_only_forward(f: &Subject) {
    let s = &f.store;
    assert_eq!(s.sweep_cursor("jira").await.unwrap(), None);
    assert!(
        s.advance_sweep_cursor("jira", &cursor(1_000, false))
            .await
            .unwrap()
    );
    assert_eq!(
        s.sweep_cursor("jira").await.unwrap(),
        Some(cursor(1_000, false))
    );
    assert!(
        s.advance_sweep_cursor("jira", &cursor(5_000, true))
            .await
            .unwrap()
    );
    // A late run (it started before the one that wrote 5 000) does not move it back.
    assert!(
        !s.advance_sweep_cursor("jira", &cursor(4_999, false))
            .await
            .unwrap()
    );
    assert_eq!(
        s.sweep_cursor("jira").await.unwrap(),
        Some(cursor(5_000, true))
    );
    // The same position again is written (a run that found nothing new records it caught up).
    assert!(
        s.advance_sweep_cursor("jira", &cursor(5_000, false))
            .await
            .unwrap()
    );
    assert_eq!(
        s.sweep_cursor("jira").await.unwrap(),
        Some(cursor(5_000, false))
    );
}

async fn sweep_cursors_of_different_sweeps_are_separate(f: &Subject) {
    let s = &f.store;
    s.advance_sweep_cursor("jira:SEC", &cursor(9_000, true))
        .await
        .unwrap();
    assert_eq!(s.sweep_cursor("jira:OPS").await.unwrap(), None);
    assert!(
        s.advance_sweep_cursor("jira:OPS", &cursor(1, false))
            .await
            .unwrap()
    );
    assert_eq!(
        s.sweep_cursor("jira:SEC").await.unwrap(),
        Some(cursor(9_000, true))
    );
}

async fn sweep_cursor_keeps_the_audit_rounds_start_only_when_written_with_one(f: &Subject) {
    let s = &f.store;
    let wrapped = SweepCursor {
        round_started_ms: Some(1_000),
        ..cursor(3_000, true)
    };
    assert!(s.advance_sweep_cursor("audit:SEC", &wrapped).await.unwrap());
    assert_eq!(s.sweep_cursor("audit:SEC").await.unwrap(), Some(wrapped));
    // A cursor written without one (the search's, or a handler from before rounds) replaces
    // the whole item: no round start from an earlier write lingers.
    assert!(
        s.advance_sweep_cursor("audit:SEC", &cursor(4_000, true))
            .await
            .unwrap()
    );
    assert_eq!(
        s.sweep_cursor("audit:SEC").await.unwrap(),
        Some(cursor(4_000, true))
    );
}

fn case_update(id: &str, title: &str) -> BusEvent {
    let mut after = case(id);
    after.title = title.into();
    let mut change = CaseChange::new(Some(&case(id)), after);
    change.comments = IdDelta::new([format!("{title}-comment")], []);
    BusEvent::CaseUpdated(change)
}

fn issue_update(key: &str) -> BusEvent {
    let before = IssueSnapshot {
        issue_key: key.into(),
        summary: "Phishing".into(),
        description: "Lure".into(),
        status: "To Do".into(),
        watchers: BTreeSet::new(),
    };
    let mut after = before.clone();
    after.status = "In Progress".into();
    BusEvent::IssueUpdated(IssueChange::new(Some(&before), after))
}

fn pending(event: BusEvent, delivery_id: &str, at: u64) -> PendingDelivery {
    PendingDelivery {
        subject: DeliverySubject::of(&event).unwrap(),
        event: shared::delivery::with_delivery_id(event, delivery_id),
        delivery_id: delivery_id.into(),
        first_published_at: at,
        published_at: at,
        attempts: 1,
        held: false,
    }
}

async fn pending_delivery_is_replaced_only_from_the_delivery_read_and_round_trips(f: &Subject) {
    let store = &f.store;
    let subject = DeliverySubject::Case("1111111111".into());
    assert_eq!(store.pending_delivery(&subject).await.unwrap(), None);
    let first = pending(case_update("1111111111", "one"), "d-1", 1_800_000_000);
    assert!(store.swap_pending_delivery(None, &first).await.unwrap());
    assert_eq!(
        store.pending_delivery(&subject).await.unwrap().as_ref(),
        Some(&first)
    );
    // A second writer that also read "nothing pending" loses.
    let rival = pending(case_update("1111111111", "rival"), "d-r", 1_800_000_001);
    assert!(!store.swap_pending_delivery(None, &rival).await.unwrap());
    // A writer that read d-1 replaces it; one that read a stale id does not.
    let mut second = pending(case_update("1111111111", "two"), "d-2", 1_800_000_000);
    second.published_at = 1_800_000_060;
    second.attempts = 2;
    second.held = true;
    assert!(
        !store
            .swap_pending_delivery(Some("d-x"), &second)
            .await
            .unwrap()
    );
    assert!(
        store
            .swap_pending_delivery(Some("d-1"), &second)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pending_delivery(&subject).await.unwrap(),
        Some(second)
    );
}

async fn acknowledging_removes_only_the_delivery_it_names(f: &Subject) {
    let store = &f.store;
    let subject = DeliverySubject::Issue("SEC-7".into());
    assert!(!store.acknowledge_delivery(&subject, "d-1").await.unwrap());
    let older = pending(issue_update("SEC-7"), "d-1", 1_800_000_000);
    assert!(store.swap_pending_delivery(None, &older).await.unwrap());
    let newer = pending(issue_update("SEC-7"), "d-2", 1_800_000_100);
    assert!(
        store
            .swap_pending_delivery(Some("d-1"), &newer)
            .await
            .unwrap()
    );
    // The older event's consumer finishes: the newer delivery stays.
    assert!(!store.acknowledge_delivery(&subject, "d-1").await.unwrap());
    assert_eq!(store.pending_delivery(&subject).await.unwrap(), Some(newer));
    assert!(store.acknowledge_delivery(&subject, "d-2").await.unwrap());
    assert_eq!(store.pending_delivery(&subject).await.unwrap(), None);
}

async fn pending_deliveries_are_listed_cases_first_and_forgotten_per_subject(f: &Subject) {
    let store = &f.store;
    for item in [
        pending(issue_update("SEC-2"), "i-2", 5),
        pending(case_update("2222222222", "b"), "c-2", 4),
        pending(issue_update("SEC-10"), "i-10", 3),
        pending(case_update("1111111111", "a"), "c-1", 2),
    ] {
        assert!(store.swap_pending_delivery(None, &item).await.unwrap());
    }
    // Items elsewhere in the table are not listed.
    store.put_case_snapshot(&case("3333333333")).await.unwrap();
    let ids =
        |all: Vec<PendingDelivery>| all.into_iter().map(|p| p.delivery_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pending_deliveries().await.unwrap()),
        ["c-1", "c-2", "i-10", "i-2"],
        "by sort key: CASE# then ISSUE#, ids as strings"
    );
    store
        .forget_pending_delivery(&DeliverySubject::Case("2222222222".into()))
        .await
        .unwrap();
    store
        .forget_pending_delivery(&DeliverySubject::Case("9999999999".into()))
        .await
        .unwrap();
    assert_eq!(
        ids(store.pending_deliveries().await.unwrap()),
        ["c-1", "i-10", "i-2"]
    );
}

/// A publisher that keeps what it was given.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<BusEvent>>);

#[async_trait::async_trait]
impl shared::publisher::EventPublisher for Kept {
    async fn publish(&self, events: &[BusEvent]) -> shared::Result<()> {
        self.0.lock().unwrap().extend(events.iter().cloned());
        Ok(())
    }
}

async fn publishing_again_before_an_acknowledgement_merges_into_one_pending_delivery(f: &Subject) {
    let store: &dyn MappingStore = f.store.as_ref();
    let kept = Kept::default();
    let first = shared::delivery::publish_recorded(store, &kept, case_update("1111111111", "one"))
        .await
        .unwrap();
    let second = shared::delivery::publish_recorded(store, &kept, case_update("1111111111", "two"))
        .await
        .unwrap();
    assert_eq!(*kept.0.lock().unwrap(), [first.clone(), second.clone()]);
    let (Some(first_id), Some(second_id)) = (first.delivery_id(), second.delivery_id()) else {
        panic!("published events carry their delivery ids: {first:?} {second:?}");
    };
    assert_ne!(first_id, second_id);
    let stored = store
        .pending_delivery(&DeliverySubject::Case("1111111111".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.delivery_id, second_id);
    assert_eq!(stored.attempts, 2);
    let BusEvent::CaseUpdated(change) = &stored.event else {
        panic!("{stored:?}");
    };
    assert_eq!(change.case.title, "two");
    assert_eq!(change.comments.added, ["one-comment", "two-comment"]);
    // The first event's consumer acknowledges late: the merged delivery stays.
    assert!(!shared::delivery::acknowledge(store, &first).await.unwrap());
    assert!(shared::delivery::acknowledge(store, &second).await.unwrap());
    assert!(store.pending_deliveries().await.unwrap().is_empty());
}

async fn changes_behind_a_fresh_unacknowledged_create_are_held_not_published(f: &Subject) {
    let store: &dyn MappingStore = f.store.as_ref();
    let kept = Kept::default();
    let subject = DeliverySubject::Case("1111111111".into());
    let created = BusEvent::CaseCreated(CaseChange::new(None, case("1111111111")));
    let create = shared::delivery::publish_recorded_or_held(store, &kept, created)
        .await
        .unwrap();
    assert!(!create.held);
    let first = store.pending_delivery(&subject).await.unwrap().unwrap();
    for title in ["two", "three"] {
        let update = shared::delivery::publish_recorded_or_held(
            store,
            &kept,
            case_update("1111111111", title),
        )
        .await
        .unwrap();
        assert!(update.held, "{title}: {update:?}");
    }
    assert_eq!(*kept.0.lock().unwrap(), std::slice::from_ref(&create.event));
    let held = store.pending_delivery(&subject).await.unwrap().unwrap();
    assert!(held.held);
    assert_eq!(
        (held.published_at, held.attempts),
        (first.published_at, 1),
        "a hold is not a publish: the reconciler's window runs from the create"
    );
    let BusEvent::CaseUpdated(change) = &held.event else {
        panic!("{held:?}");
    };
    assert_eq!(change.case.title, "three");
    assert!(change.changed_fields.contains(&CaseField::Watchers));
    assert_eq!(change.comments.added, ["two-comment", "three-comment"]);
    // The create's consumer cannot acknowledge it: the held delivery is its to apply.
    assert!(
        !shared::delivery::acknowledge(store, &create.event)
            .await
            .unwrap()
    );
    assert!(
        store
            .acknowledge_delivery(&subject, &held.delivery_id)
            .await
            .unwrap()
    );

    // Behind a create published longer ago than the hold window, or behind an update, a change
    // is published.
    let old =
        shared::store::now_epoch_seconds() - shared::delivery::HOLD_BEHIND_CREATE_FOR.as_secs() - 1;
    let stale = pending(
        BusEvent::CaseCreated(CaseChange::new(None, case("2222222222"))),
        "d-stale",
        old,
    );
    assert!(store.swap_pending_delivery(None, &stale).await.unwrap());
    let after_stale =
        shared::delivery::publish_recorded_or_held(store, &kept, case_update("2222222222", "late"))
            .await
            .unwrap();
    assert!(!after_stale.held);
    let behind_update = shared::delivery::publish_recorded_or_held(
        store,
        &kept,
        case_update("2222222222", "later"),
    )
    .await
    .unwrap();
    assert!(!behind_update.held);
    assert_eq!(kept.0.lock().unwrap().len(), 3);
}
