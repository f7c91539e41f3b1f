//! The poller against moto and the SIR emulator: what it publishes through the real bus rule,
//! what it does not (echoes, unchanged cases), deletions, native events, the adaptive schedule,
//! failure isolation, and how many SIR calls a pass costs.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::RuleState;
use integration_tests::World;
use integration_tests::clients::{schedule_tick, sir_client};
use integration_tests::world::RuleQueue;
use poller::{EventBridgeSchedule, PassReport, Poller, PollerError, PollerSettings};
use serde_json::{Value, json};
use shared::events::{BusEvent, rule_patterns};
use shared::publisher::EventPublisher;
use shared::sir::SdkSirClient;
use shared::store::{
    DeliverySubject, IssueLink, ItemLink, ItemLinkStore, LinkStore, LinkedItemKind, Origin,
    PendingDeliveryStore, TrackedCaseStore,
};
use sir_emulator::{CaseUpdate, NewCase, SirEmulator, SirEmulatorConfig, Watcher};

const HUMAN: &str = "human";

struct Setup {
    world: World,
    sir: SirEmulator,
    queue: RuleQueue,
    rule: String,
    poller: Poller,
    fail_for: Arc<Mutex<Option<String>>>,
}

/// The real publisher, made to refuse events about one case on demand.
struct FlakyPublisher {
    inner: shared::publisher::EventBridgePublisher,
    fail_for: Arc<Mutex<Option<String>>>,
}

#[async_trait]
impl EventPublisher for FlakyPublisher {
    async fn publish(&self, events: &[BusEvent]) -> shared::Result<()> {
        let refused = self.fail_for.lock().unwrap().clone();
        if let Some(id) = refused
            && events.iter().any(|e| e.subject() == id)
        {
            return Err(shared::Error::PublishFailed { failed: Vec::new() });
        }
        self.inner.publish(events).await
    }
}

async fn setup() -> Setup {
    let world = World::new().await.unwrap();
    let sir = SirEmulator::start(SirEmulatorConfig::default())
        .await
        .unwrap();
    let queue = world
        .rule_queue("jira-client", &rule_patterns::jira_client())
        .await
        .unwrap();
    let rule = world.poller_schedule_rule().await.unwrap();

    let fail_for = Arc::new(Mutex::new(None));
    let poller = Poller {
        sir: Arc::new(SdkSirClient::new(sir_client(
            &sir.endpoint(),
            "integration",
        ))),
        store: Arc::new(world.store()),
        publisher: Arc::new(FlakyPublisher {
            inner: world.publisher(),
            fail_for: Arc::clone(&fail_for),
        }),
        schedule: Arc::new(EventBridgeSchedule::new(world.eventbridge.clone(), &rule)),
        settings: PollerSettings {
            integration_principals: vec![sir.principal("integration")],
            ..PollerSettings::default()
        },
    };
    Setup {
        world,
        sir,
        queue,
        rule,
        poller,
        fail_for,
    }
}

fn native(detail_type: &str, case_id: &str) -> Value {
    json!({"version": "0", "id": "n", "detail-type": detail_type, "source": "aws.security-ir",
           "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
           "resources": [], "detail": {"caseId": case_id, "updatedBy": "someone"}})
}

fn case(title: &str) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Credential stuffing against the login API.".into(),
        watchers: vec![Watcher::email("Lead@Example.com")],
        ..NewCase::default()
    }
}

/// Events the jira-client rule delivered, parsed, and acknowledged in the pending-delivery
/// ledger as jira-client acknowledges what it applied (so a later publish is not merged with
/// them).
async fn delivered(s: &Setup, want: usize) -> Vec<BusEvent> {
    let wait = if want == 0 {
        Duration::from_millis(800)
    } else {
        Duration::from_secs(10)
    };
    let events: Vec<BusEvent> = s
        .world
        .receive(&s.queue, want.max(1), wait)
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            BusEvent::from_envelope(
                b["source"].as_str().unwrap(),
                b["detail-type"].as_str().unwrap(),
                b["detail"].clone(),
            )
            .unwrap()
        })
        .collect();
    let store = s.world.store();
    for event in &events {
        shared::delivery::acknowledge(&store, event).await.unwrap();
    }
    events
}

async fn pass(s: &Setup) -> PassReport {
    s.poller.handle(&schedule_tick()).await.unwrap()
}

/// What jira-client does after applying a CaseCreated: link the case (so updates follow).
async fn link(s: &Setup, case_id: &str) {
    s.world
        .store()
        .create_link(&IssueLink::new(case_id, format!("SEC-{}", &case_id[..4])))
        .await
        .unwrap();
}

fn calls(sir: &SirEmulator, operation: &str) -> usize {
    sir.requests()
        .iter()
        .filter(|r| r.operation == operation)
        .count()
}

#[tokio::test]
async fn new_case_is_published_once_with_the_team_among_its_watchers() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Login attack")).case_id;
    let report = pass(&s).await;
    assert_eq!(report.published, [("CaseCreated", id.clone())]);
    let events = delivered(&s, 1).await;
    let BusEvent::CaseCreated(change) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(change.case.title, "Login attack");
    assert!(change.case.watchers.contains("lead@example.com"));
    assert!(
        change.case.watchers.contains("riley.responder@example.com"),
        "team merged"
    );
    // Nothing moved: the next pass reads no details and publishes nothing.
    let get_cases = calls(&s.sir, "GetCase");
    assert!(pass(&s).await.published.is_empty());
    assert_eq!(calls(&s.sir, "GetCase"), get_cases);
    assert!(delivered(&s, 0).await.is_empty());
}

#[tokio::test]
async fn edits_and_closure_are_published_as_updates_naming_what_changed() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Before")).case_id;
    pass(&s).await;
    link(&s, &id).await;
    delivered(&s, 1).await;

    s.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                title: Some("After".into()),
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(pass(&s).await.published, [("CaseUpdated", id.clone())]);
    let events = delivered(&s, 1).await;
    let BusEvent::CaseUpdated(change) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        change.changed_fields,
        [shared::events::CaseField::Title].into()
    );

    s.sir.close_case(HUMAN, &id).unwrap();
    pass(&s).await;
    let events = delivered(&s, 1).await;
    let BusEvent::CaseUpdated(change) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        change.case.status,
        shared::status::SirStatus::Closed,
        "a closure reaches Jira"
    );
    assert!(change.case.closure_code.is_some());
}

#[tokio::test]
async fn deleted_case_is_published_once_and_no_longer_tracked() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Doomed")).case_id;
    pass(&s).await;
    link(&s, &id).await;
    delivered(&s, 1).await;
    s.sir.delete_case(&id);
    assert_eq!(pass(&s).await.published, [("CaseDeleted", id.clone())]);
    let events = delivered(&s, 1).await;
    let BusEvent::CaseDeleted(gone) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        gone.issue_key.as_deref(),
        Some(format!("SEC-{}", &id[..4]).as_str())
    );
    assert!(pass(&s).await.published.is_empty());
    assert!(s.world.store().tracked_cases().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deleted_cases_unapplied_update_is_dropped_from_the_pending_ledger() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Doomed")).case_id;
    pass(&s).await;
    link(&s, &id).await;
    delivered(&s, 1).await;
    let renamed = CaseUpdate {
        title: Some("Doomed, renamed".into()),
        ..CaseUpdate::default()
    };
    s.sir.update_case(HUMAN, &id, renamed).unwrap();
    pass(&s).await;
    // Published, never applied: pending.
    let store = s.world.store();
    let subject = DeliverySubject::Case(id.clone());
    assert!(store.pending_delivery(&subject).await.unwrap().is_some());
    s.sir.delete_case(&id);
    assert_eq!(pass(&s).await.published, [("CaseDeleted", id.clone())]);
    assert_eq!(store.pending_delivery(&subject).await.unwrap(), None);
}

#[tokio::test]
async fn our_own_writes_publish_nothing() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Echo")).case_id;
    pass(&s).await;
    link(&s, &id).await;
    delivered(&s, 1).await;
    // sir-client's comment (its principal) and a comment mapped as coming from Jira.
    s.sir
        .add_comment("integration", &id, "copied from Jira")
        .unwrap();
    let mapped = s.sir.add_comment(HUMAN, &id, "also from Jira").unwrap();
    s.world
        .store()
        .put_item_link(&ItemLink {
            kind: LinkedItemKind::Comment,
            case_id: id.clone(),
            sir_id: mapped,
            issue_key: "SEC-1".into(),
            jira_id: "10001".into(),
            origin: Origin::Jira,
            fingerprint: None,
        })
        .await
        .unwrap();
    let report = pass(&s).await;
    assert!(
        report.read >= 1,
        "the list entry moved, so the case was read"
    );
    assert!(report.published.is_empty(), "{report:?}");
    assert!(delivered(&s, 0).await.is_empty());
}

#[tokio::test]
async fn native_comment_event_syncs_that_case_alone() {
    let s = setup().await;
    let quiet = s.sir.create_case(HUMAN, case("Quiet")).case_id;
    let busy = s.sir.create_case(HUMAN, case("Busy")).case_id;
    pass(&s).await;
    link(&s, &busy).await;
    link(&s, &quiet).await;
    delivered(&s, 2).await;
    let comment = s
        .sir
        .add_comment(HUMAN, &busy, "IOC list attached")
        .unwrap();
    let lists = calls(&s.sir, "ListCases");
    let quiet_calls = |sir: &SirEmulator| {
        sir.requests()
            .iter()
            .filter(|r| r.case_id.as_deref() == Some(quiet.as_str()))
            .count()
    };
    let quiet_before = quiet_calls(&s.sir);
    let report = s
        .poller
        .handle(&native("Case Comment Added", &busy))
        .await
        .unwrap();
    assert_eq!(report.published, [("CaseUpdated", busy.clone())]);
    assert_eq!(
        calls(&s.sir, "ListCases"),
        lists,
        "no schedule pass for a native event"
    );
    assert_eq!(
        quiet_calls(&s.sir),
        quiet_before,
        "the other case was not touched"
    );
    let events = delivered(&s, 1).await;
    let BusEvent::CaseUpdated(change) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(change.comments.added, [comment]);
}

#[tokio::test]
async fn unknown_event_shapes_are_errors() {
    let s = setup().await;
    for bad in [
        json!({"source": "jira", "detail-type": "IssueCreated"}),
        native("Case Updated", "not-a-case"),
    ] {
        assert!(
            matches!(
                s.poller.handle(&bad).await,
                Err(PollerError::UnknownEvent(_))
            ),
            "{bad}"
        );
    }
}

async fn schedule_of(s: &Setup) -> (Option<String>, Option<RuleState>) {
    let rule = s
        .world
        .eventbridge
        .describe_rule()
        .name(&s.rule)
        .send()
        .await
        .unwrap();
    (
        rule.schedule_expression().map(str::to_owned),
        rule.state().cloned(),
    )
}

#[tokio::test]
async fn schedule_runs_every_minute_while_a_case_is_open_and_keeps_its_state() {
    let s = setup().await;
    let id = s.sir.create_case(HUMAN, case("Open")).case_id;
    assert_eq!(
        pass(&s).await.schedule,
        Some(poller::ScheduleRate::EveryMinute)
    );
    assert_eq!(
        schedule_of(&s).await,
        (Some("rate(1 minute)".into()), Some(RuleState::Disabled))
    );
    s.sir.close_case(HUMAN, &id).unwrap();
    pass(&s).await;
    assert_eq!(schedule_of(&s).await.0.as_deref(), Some("rate(5 minutes)"));
}

#[tokio::test]
async fn sir_outage_fails_the_pass_and_leaves_the_schedule_alone() {
    let s = setup().await;
    s.sir.create_case(HUMAN, case("Open"));
    pass(&s).await;
    s.sir.faults().fail_next(100, 500);
    let err = s.poller.handle(&schedule_tick()).await.unwrap_err();
    assert!(
        matches!(&err, PollerError::Shared(e) if e.is_retryable()),
        "{err}"
    );
    s.sir.faults().clear();
    assert_eq!(schedule_of(&s).await.0.as_deref(), Some("rate(1 minute)"));
}

#[tokio::test]
async fn one_failing_case_does_not_stop_the_others_and_is_retried_next_pass() {
    let s = setup().await;
    let ids: Vec<_> = (0..3)
        .map(|i| s.sir.create_case(HUMAN, case(&format!("Case {i}"))).case_id)
        .collect();
    *s.fail_for.lock().unwrap() = Some(ids[1].clone());
    let err = s.poller.handle(&schedule_tick()).await.unwrap_err();
    let PollerError::CasesFailed { failures, done } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 1);
    // the rest of the run is kept, for its metrics
    assert_eq!((done.scheduled, done.listed), (true, ids.len()));
    assert_eq!(failures[0].case_id, ids[1]);
    assert_eq!(delivered(&s, 2).await.len(), 2, "the other cases went out");
    *s.fail_for.lock().unwrap() = None;
    assert_eq!(pass(&s).await.published, [("CaseCreated", ids[1].clone())]);
}

#[tokio::test]
async fn a_pass_over_100_open_cases_with_3_changed_costs_a_dozen_sir_calls() {
    let s = setup().await;
    let ids: Vec<_> = (0..100)
        .map(|i| s.sir.create_case(HUMAN, case(&format!("Case {i}"))).case_id)
        .collect();
    pass(&s).await;
    for id in &ids {
        link(&s, id).await;
    }
    let created = s
        .world
        .receive(&s.queue, 100, Duration::from_secs(20))
        .await
        .unwrap();
    // jira-client applied each create and acknowledged it (a change behind an unacknowledged
    // create is held, not published).
    for event in &created {
        let case_id = event["detail"]["case"]["caseId"].as_str().unwrap();
        let delivery_id = event["detail"]["deliveryId"].as_str().unwrap();
        assert!(
            s.world
                .store()
                .acknowledge_delivery(&DeliverySubject::Case(case_id.to_owned()), delivery_id)
                .await
                .unwrap()
        );
    }
    for id in &ids[..3] {
        s.sir
            .update_case(
                HUMAN,
                id,
                CaseUpdate {
                    description: Some("Scope grew.".into()),
                    ..CaseUpdate::default()
                },
            )
            .unwrap();
    }
    let before = s.sir.requests().len();
    let report = pass(&s).await;
    let calls_made = s.sir.requests().len() - before;
    println!("SIR calls for one pass over 100 open cases, 3 changed: {calls_made} ({report:?})");
    assert_eq!(report.published.len(), 3);
    // 4 ListCases pages + ListMemberships + GetMembership + 3 × (GetCase + ListComments).
    assert_eq!(calls_made, 12);
}

#[tokio::test]
async fn the_audit_takes_the_longest_unaudited_first_and_unauditable_ones_use_its_bound() {
    let mut s = setup().await;
    s.poller.settings.max_audits_per_pass = 2;
    let titles = ["A", "B", "C", "D", "Closed", "Unlinked", "Broken"];
    let ids: Vec<String> = titles
        .iter()
        .map(|t| s.sir.create_case(HUMAN, case(t)).case_id)
        .collect();
    pass(&s).await;
    delivered(&s, titles.len()).await;
    let store = s.world.store();
    for (i, id) in ids.iter().enumerate() {
        if titles[i] != "Unlinked" {
            let link = IssueLink::new(id, format!("SEC-{}", i + 1));
            store.create_link(&link).await.unwrap();
            if titles[i] == "Broken" {
                store
                    .mark_link_broken(&link, "issue deleted")
                    .await
                    .unwrap();
            }
        }
    }
    s.sir.close_case(HUMAN, &ids[4]).unwrap();
    assert_eq!(pass(&s).await.published, [("CaseUpdated", ids[4].clone())]);
    delivered(&s, 1).await;
    // Last audits long ago, in this order: B, C, A, D; the others never.
    for (i, audited_at) in [300, 100, 200, 400, 0, 0, 0].into_iter().enumerate() {
        let mut entry = store.tracked_case(&ids[i]).await.unwrap().unwrap();
        entry.audited_at = audited_at;
        store.put_tracked_case(&entry).await.unwrap();
    }
    let audited_at = |i: usize| {
        let store = &store;
        let id = ids[i].clone();
        async move { store.tracked_case(&id).await.unwrap().unwrap().audited_at }
    };

    // The unlinked and broken ones come first: they take their turn unpublished, and count
    // against the bound (their reads and write cost the same).
    let turns = pass(&s).await;
    assert_eq!((turns.audited, turns.published.len()), (0, 0), "{turns:?}");
    assert!(audited_at(5).await > 400 && audited_at(6).await > 400);
    assert_eq!(audited_at(1).await, 100, "not taken beyond the bound");

    let audited = |report: &PassReport| -> Vec<String> {
        report.published.iter().map(|(_, id)| id.clone()).collect()
    };
    let first = pass(&s).await;
    assert_eq!(first.audited, 2);
    assert_eq!(audited(&first), [ids[1].clone(), ids[2].clone()]);
    let events = delivered(&s, 2).await;
    assert!(
        events.iter().all(
            |e| matches!(e, BusEvent::CaseUpdated(c) if c.audit && c.changed_fields.is_empty())
        ),
        "{events:?}"
    );
    let second = pass(&s).await;
    assert_eq!(audited(&second), [ids[0].clone(), ids[3].clone()]);
    delivered(&s, 2).await;
    // Every open linked pair was audited within the interval: nothing is due.
    let third = pass(&s).await;
    assert_eq!((third.audited, third.published.len()), (0, 0));
    // The closed case is never audited.
    assert_eq!(audited_at(4).await, 0);
}

#[tokio::test]
async fn an_on_demand_audit_stops_at_the_requests_bound_and_the_next_request_takes_the_rest() {
    let mut s = setup().await;
    s.poller.settings.max_reconcile_per_request = 2;
    let ids: Vec<String> = ["One", "Two", "Three"]
        .iter()
        .map(|t| s.sir.create_case(HUMAN, case(t)).case_id)
        .collect();
    pass(&s).await;
    delivered(&s, 3).await;
    let store = s.world.store();
    for (i, id) in ids.iter().enumerate() {
        let link = IssueLink::new(id, format!("SEC-{}", i + 1));
        store.create_link(&link).await.unwrap();
        // Never audited (their first sight counted as one this very second).
        let mut entry = store.tracked_case(id).await.unwrap().unwrap();
        entry.audited_at = 0;
        store.put_tracked_case(&entry).await.unwrap();
    }
    let request = |dry_run: bool| json!({"reconcile": {"dryRun": dry_run, "audit": true}});
    let pairs = |report: &PassReport| -> (Vec<String>, usize) {
        let audit = report.reconcile.as_ref().unwrap().audit.clone().unwrap();
        (
            audit.pairs.into_iter().map(|p| p.case_id).collect(),
            audit.remaining,
        )
    };

    let dry = s.poller.handle(&request(true)).await.unwrap();
    assert_eq!(pairs(&dry).0.len(), 2);
    assert_eq!(pairs(&dry).1, 1);
    assert!(dry.published.is_empty());
    assert!(delivered(&s, 0).await.is_empty());

    let first = s.poller.handle(&request(false)).await.unwrap();
    let (taken, remaining) = pairs(&first);
    assert_eq!((taken.len(), remaining, first.audited), (2, 1, 2));
    delivered(&s, 2).await;
    let second = s.poller.handle(&request(false)).await.unwrap();
    let (rest, _) = pairs(&second);
    assert!(
        !taken.contains(&rest[0]),
        "the case the first request left comes first: {taken:?} {rest:?}"
    );
    let events = delivered(&s, 2).await;
    assert!(
        events
            .iter()
            .all(|e| matches!(e, BusEvent::CaseUpdated(c) if c.audit)),
        "{events:?}"
    );
}
