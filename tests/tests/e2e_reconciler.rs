//! No change is lost after a dead-letter queue: end to end through the local world with Lambda's
//! asynchronous retry budget (three tries, then the route's dead-letter list), a change whose
//! event the consumer could not apply in three tries stays in the pending-delivery ledger; the
//! reconciler lists it (`{"reconcile":{"dryRun":true}}`, changing nothing) and converges the pair
//! in one pass: the schedule's once the redelivery window has passed, or the on-demand request.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::clients::schedule_tick;
use integration_tests::pipeline::{Integration, IntegrationOptions};
use jira_emulator::{IssueEdit, NewIssue, User};
use poller::{PassReport, PendingReport};
use serde_json::json;
use shared::store::PendingDeliveryStore;
use sir_emulator::{CaseUpdate, NewCase, Watcher};

const HUMAN: &str = "human";

async fn integration() -> Integration {
    Integration::start_with(IntegrationOptions {
        async_retry_budget: Some(3),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap()
}

fn case(title: &str) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Data exfiltration to an unknown S3 bucket.".into(),
        impacted_accounts: vec!["111122223333".into()],
        watchers: vec![Watcher::email("nobody-in-jira@example.com")],
        ..NewCase::default()
    }
}

async fn reconcile(it: &Integration, dry_run: bool) -> PassReport {
    it.poller
        .handle(&json!({"reconcile": {"dryRun": dry_run}}))
        .await
        .unwrap()
}

fn pending_of(report: &PassReport) -> Vec<PendingReport> {
    report.reconcile.as_ref().unwrap().pending.clone()
}

async fn ledger_len(it: &Integration) -> usize {
    it.world.store().pending_deliveries().await.unwrap().len()
}

#[tokio::test]
async fn a_case_change_dead_lettered_on_the_way_to_jira_is_listed_then_applied_by_one_schedule_pass()
 {
    let mut it = integration().await;
    let id = it.sir.create_case(HUMAN, case("Exfiltration")).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    assert_eq!(
        ledger_len(&it).await,
        0,
        "applied deliveries are acknowledged"
    );

    // Jira is down for longer than Lambda retries: both changes' events end in the DLQ.
    it.jira.faults().outage(Duration::from_secs(3600));
    let renamed = CaseUpdate {
        title: Some("Exfiltration (confirmed)".into()),
        ..CaseUpdate::default()
    };
    it.sir.update_case(HUMAN, &id, renamed).unwrap();
    it.sir
        .set_status(HUMAN, &id, "Detection and Analysis")
        .unwrap();
    let settled = it.settle().await.unwrap();
    assert!(
        !settled.to_jira.dead_lettered.is_empty(),
        "{:#?}",
        settled.to_jira
    );
    assert_eq!(settled.to_jira.handled, 0);
    it.jira.faults().clear();
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.summary, "Exfiltration");
    assert_eq!(issue.status, "To Do");

    // The dry run lists the pair and changes nothing.
    let listed = pending_of(&reconcile(&it, true).await);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let pair = &listed[0];
    assert_eq!(pair.case_id.as_deref(), Some(id.as_str()));
    assert_eq!(pair.issue_key.as_deref(), Some(key.as_str()));
    assert_eq!(pair.event_type, "CaseUpdated");
    for field in ["title", "status"] {
        assert!(pair.changed_fields.iter().any(|f| f == field), "{pair:?}");
    }
    assert!(pair.attempts >= 1 && !pair.republished, "{pair:?}");
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_jira.handled, 0, "a dry run publishes nothing");
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Exfiltration");

    // Within the window the schedule leaves it to Lambda's retries.
    it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(it.settle().await.unwrap().to_jira.handled, 0);

    // Once the window has passed, one schedule pass converges the pair.
    it.poller.settings.redelivery_window = Duration::ZERO;
    let pass = it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(pass.published, [("CaseUpdated", id.clone())]);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.summary, "Exfiltration (confirmed)");
    assert_eq!(issue.status, "In Progress");
    assert_eq!(ledger_len(&it).await, 0, "acknowledged once applied");
}

#[tokio::test]
async fn an_issue_change_dead_lettered_on_the_way_to_sir_is_listed_then_applied_on_demand() {
    let it = integration().await;
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = &alice.account_id;
    let key = it
        .jira
        .create_issue(
            me,
            NewIssue {
                description: Some("From a new country.".into()),
                ..NewIssue::new("Suspicious login")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case_id = it.only_case().case_id;
    assert_eq!(ledger_len(&it).await, 0);

    // SIR fails every call for longer than Lambda retries.
    it.sir.faults().fail_next(100_000, 500);
    it.jira
        .edit_issue(
            me,
            &key,
            IssueEdit {
                summary: Some("Suspicious login (confirmed)".into()),
                description: None,
                labels: None,
            },
        )
        .unwrap();
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    let settled = it.settle().await.unwrap();
    assert!(
        !settled.to_sir.dead_lettered.is_empty(),
        "{:#?}",
        settled.to_sir
    );
    it.sir.faults().clear();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.title, "Suspicious login");
    assert_eq!(case.case_status, "Submitted");

    let listed = pending_of(&reconcile(&it, true).await);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let pair = &listed[0];
    assert_eq!(pair.issue_key.as_deref(), Some(key.as_str()));
    assert_eq!(pair.case_id.as_deref(), Some(case_id.as_str()));
    assert_eq!(pair.event_type, "IssueUpdated");
    for field in ["summary", "status"] {
        assert!(pair.changed_fields.iter().any(|f| f == field), "{pair:?}");
    }
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_sir.handled, 0, "a dry run publishes nothing");

    let done = pending_of(&reconcile(&it, false).await);
    assert!(done.iter().all(|p| p.republished), "{done:#?}");
    it.settle().await.unwrap().assert_clean();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.title, "Suspicious login (confirmed)");
    assert_eq!(case.case_status, "Detection and Analysis");
    assert_eq!(ledger_len(&it).await, 0);
}

#[tokio::test]
async fn an_older_events_success_leaves_a_newer_pending_delivery_in_place() {
    let it = integration().await;
    let id = it.sir.create_case(HUMAN, case("Two changes")).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let subject = shared::store::DeliverySubject::Case(id.clone());
    let store = it.world.store();

    // Two changes published before jira-client gets either: the ledger holds the newer one.
    let renamed = CaseUpdate {
        title: Some("Two changes (first)".into()),
        ..CaseUpdate::default()
    };
    it.sir.update_case(HUMAN, &id, renamed).unwrap();
    it.poller.case_event(&id).await.unwrap();
    let older = store.pending_delivery(&subject).await.unwrap().unwrap();
    it.sir
        .set_status(HUMAN, &id, "Detection and Analysis")
        .unwrap();
    it.poller.case_event(&id).await.unwrap();
    let newer = store.pending_delivery(&subject).await.unwrap().unwrap();
    assert_ne!(older.delivery_id, newer.delivery_id);

    // The older event is applied first: its acknowledgement must not clear the newer delivery.
    let envelope = json!({
        "version": "0", "id": "older", "detail-type": older.event.detail_type().as_str(),
        "source": older.event.source(), "account": integration_tests::world::ACCOUNT,
        "time": "2026-12-02T04:00:00Z", "region": integration_tests::world::REGION,
        "resources": [], "detail": serde_json::from_str::<serde_json::Value>(&older.event.detail_json().unwrap()).unwrap(),
    });
    it.jira_client
        .handle(serde_json::from_value(envelope).unwrap())
        .await
        .unwrap();
    assert_eq!(
        store.pending_delivery(&subject).await.unwrap(),
        Some(newer),
        "the newer delivery is still pending"
    );

    // Its own delivery applies and acknowledges it.
    it.settle().await.unwrap().assert_clean();
    assert_eq!(store.pending_delivery(&subject).await.unwrap(), None);
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Progress");
}

#[tokio::test]
async fn an_on_demand_reconcile_stops_at_its_bound_and_the_next_request_takes_the_rest() {
    let mut it = integration().await;
    it.poller.settings.max_reconcile_per_request = 2;
    // Jira down past Lambda's retries: three new cases' events end in the DLQ, all pending.
    it.jira.faults().outage(Duration::from_secs(3600));
    let ids: Vec<String> = ["First", "Second", "Third"]
        .into_iter()
        .map(|title| it.sir.create_case(HUMAN, case(title)).case_id)
        .collect();
    let settled = it.settle().await.unwrap();
    assert_eq!(settled.to_jira.handled, 0, "{:#?}", settled.to_jira);
    assert_eq!(ledger_len(&it).await, 3);

    let dry = reconcile(&it, true).await.reconcile.unwrap();
    assert_eq!((dry.pending.len(), dry.remaining), (2, 1), "{dry:#?}");
    assert!(
        dry.lines().iter().any(|l| l.contains("1 more pending")),
        "{:?}",
        dry.lines()
    );

    let first = reconcile(&it, false).await.reconcile.unwrap();
    assert_eq!((first.pending.len(), first.remaining), (2, 1), "{first:#?}");
    assert!(first.pending.iter().all(|p| p.republished), "{first:#?}");
    let second = reconcile(&it, false).await.reconcile.unwrap();
    let case_ids = |report: &poller::ReconcileReport| -> BTreeSet<String> {
        report
            .pending
            .iter()
            .filter_map(|p| p.case_id.clone())
            .collect()
    };
    let handled: BTreeSet<String> = case_ids(&first)
        .union(&case_ids(&second))
        .cloned()
        .collect();
    assert_eq!(
        handled,
        ids.iter().cloned().collect(),
        "the second request takes the case the first left: {first:#?} {second:#?}"
    );

    it.jira.faults().clear();
    it.settle().await.unwrap();
    assert_eq!(it.jira.issues().len(), 3);
    assert_eq!(ledger_len(&it).await, 0);
}
