//! The audit end to end through the local world: a pair that drifted without any event (a lost
//! Jira write with both snapshots looking synced) is repaired by a schedule pass once its audit
//! is due; a Jira edit on its way to SIR is left alone; a pair in sync costs no write on either
//! side (the emulators' request logs).

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;

use integration_tests::clients::schedule_tick;
use integration_tests::pipeline::{Integration, IntegrationOptions};
use jira_emulator::{IssueEdit, User};
use shared::store::SnapshotStore;
use sir_emulator::{NewCase, Watcher};

const HUMAN: &str = "human";

fn case(title: &str) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Unusual API calls from a new region.".into(),
        impacted_accounts: vec!["111122223333".into()],
        watchers: vec![Watcher::email("nobody-in-jira@example.com")],
        ..NewCase::default()
    }
}

/// A synced pair: the case, its issue key and a Jira user to edit the issue as.
async fn synced_pair(it: &Integration, title: &str) -> (String, String, User) {
    let id = it.sir.create_case(HUMAN, case(title)).case_id;
    it.sir.add_comment(HUMAN, &id, "First look done.").unwrap();
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    (id, key, alice)
}

fn rename(summary: &str) -> IssueEdit {
    IssueEdit {
        summary: Some(summary.into()),
        description: None,
        labels: None,
    }
}

/// One schedule pass with every pair due for its audit; the number of pairs it audited.
async fn audit_pass(it: &mut Integration) -> usize {
    it.poller.settings.audit_interval = Duration::ZERO;
    it.poller.handle(&schedule_tick()).await.unwrap().audited
}

#[tokio::test]
async fn audit_repairs_an_issue_field_left_different_by_a_lost_write() {
    let mut it = Integration::start().await.unwrap();
    let (_id, key, alice) = synced_pair(&it, "Unusual API calls").await;

    // A write of ours that Jira lost: the issue differs from the case while its snapshot says it
    // holds what we left there (no Automation message: nothing tells the integration).
    it.set_jira_push(false);
    it.jira
        .edit_issue(&alice.account_id, &key, rename("Stale title"))
        .unwrap();
    let store = it.world.store();
    let mut snapshot = store.issue_snapshot(&key).await.unwrap().unwrap();
    snapshot.summary = "Stale title".into();
    store.put_issue_snapshot(&snapshot).await.unwrap();

    // Nothing moved in SIR: before the audit is due, no pass publishes anything.
    let pass = it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!((pass.audited, pass.published.len()), (0, 0), "{pass:?}");
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Stale title");

    assert_eq!(audit_pass(&mut it).await, 1);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Unusual API calls");
    assert_eq!(
        store.issue_snapshot(&key).await.unwrap().unwrap().summary,
        "Unusual API calls"
    );
}

#[tokio::test]
async fn audit_brings_over_a_sir_status_whose_jira_write_was_lost_after_the_case_snapshot() {
    let mut it = Integration::start().await.unwrap();
    let (id, key, _) = synced_pair(&it, "Unusual API calls").await;
    it.sir
        .set_status(HUMAN, &id, "Detection and Analysis")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Progress");

    // The poller published the move and stored the case snapshot; the event never reached Jira
    // and nothing is pending (as after a ledger item lost with its table write). The issue's
    // "In Progress" asks for Detection and Analysis, not the case's status: it differs.
    let store = it.world.store();
    let mut snapshot = store.case_snapshot(&id).await.unwrap().unwrap();
    it.sir
        .set_status(HUMAN, &id, "Post-incident Activities")
        .unwrap();
    snapshot.status = shared::status::SirStatus::PostIncidentActivities;
    store.put_case_snapshot(&snapshot).await.unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_jira.handled, 0, "{settled:#?}");
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Progress");

    assert_eq!(audit_pass(&mut it).await, 1);
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Review");
}

#[tokio::test]
async fn audit_leaves_a_pending_jira_edit_alone() {
    let mut it = Integration::start().await.unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;

    // A person's edit whose Automation message has not come yet (its snapshot is the old one).
    it.set_jira_push(false);
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            rename("Unusual API calls (confirmed)"),
        )
        .unwrap();

    assert_eq!(audit_pass(&mut it).await, 1);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        it.jira.issue(&key).unwrap().summary,
        "Unusual API calls (confirmed)"
    );
    let left_alone: Vec<serde_json::Value> = settled
        .to_jira
        .responses
        .iter()
        .filter_map(|r| r.get("auditLeftAlone").cloned())
        .collect();
    assert_eq!(left_alone, [serde_json::json!(["summary"])]);

    // The edit then reaches SIR (the Jira sweep, as when Automation is out of runs).
    it.sweep_jira().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.sir.case(&id).unwrap().title,
        "Unusual API calls (confirmed)"
    );
}

#[tokio::test]
async fn audit_leaves_a_jira_edit_alone_while_its_delivery_to_sir_is_pending() {
    let mut it = Integration::start_with(IntegrationOptions {
        async_retry_budget: Some(3),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;

    // The edit reached the integration (its issue snapshot is stored) but not SIR: sir-client
    // failed past Lambda's retries, the event is in the ledger.
    it.sir.faults().fail_next(100_000, 500);
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            rename("Unusual API calls (confirmed)"),
        )
        .unwrap();
    let settled = it.settle().await.unwrap();
    assert!(!settled.to_sir.dead_lettered.is_empty(), "{settled:#?}");
    it.sir.faults().clear();
    let store = it.world.store();
    assert_eq!(
        store.issue_snapshot(&key).await.unwrap().unwrap().summary,
        "Unusual API calls (confirmed)"
    );

    assert_eq!(audit_pass(&mut it).await, 1);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        it.jira.issue(&key).unwrap().summary,
        "Unusual API calls (confirmed)",
        "the pending edit is not undone"
    );
    assert_eq!(
        settled.to_jira.record_field("outcome"),
        ["Updated"],
        "{settled:#?}"
    );

    // The reconciler then delivers it.
    it.poller
        .handle(&serde_json::json!({"reconcile": {"dryRun": false}}))
        .await
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.sir.case(&id).unwrap().title,
        "Unusual API calls (confirmed)"
    );
}

#[tokio::test]
async fn audit_of_a_synced_pair_writes_nothing() {
    let mut it = Integration::start().await.unwrap();
    let (id, key, _) = synced_pair(&it, "Unusual API calls").await;
    let before = it.jira.issue(&key).unwrap();
    it.jira.clear_requests();
    let sir_seen = it.sir.requests().len();

    assert_eq!(audit_pass(&mut it).await, 1);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_jira.handled, 1, "the audit reached jira-client");

    let jira_writes: Vec<String> = it
        .jira
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/search/jql"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(jira_writes.is_empty(), "{jira_writes:?}");
    let sir_writes: Vec<String> = it.sir.requests()[sir_seen..]
        .iter()
        .map(|r| r.operation.clone())
        .filter(|op| !(op.starts_with("Get") || op.starts_with("List")))
        .collect();
    assert!(sir_writes.is_empty(), "{sir_writes:?}");
    let after = it.jira.issue(&key).unwrap();
    assert_eq!(
        (after.summary, after.status, after.updated),
        (before.summary, before.status, before.updated)
    );
    assert_eq!(it.sir.case(&id).unwrap().title, "Unusual API calls");
}

#[tokio::test]
async fn an_on_demand_audit_lists_the_pair_in_a_dry_run_then_repairs_it() {
    let it = Integration::start().await.unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;
    it.set_jira_push(false);
    it.jira
        .edit_issue(&alice.account_id, &key, rename("Stale title"))
        .unwrap();
    let store = it.world.store();
    let mut snapshot = store.issue_snapshot(&key).await.unwrap().unwrap();
    snapshot.summary = "Stale title".into();
    store.put_issue_snapshot(&snapshot).await.unwrap();

    let request = |dry_run: bool| json!({"reconcile": {"dryRun": dry_run, "audit": true}});
    let dry = it.poller.handle(&request(true)).await.unwrap();
    let audit = dry.reconcile.as_ref().unwrap().audit.clone().unwrap();
    assert_eq!(
        audit.pairs,
        [poller::AuditedPair {
            case_id: id.clone(),
            issue_key: key.clone(),
            published: false
        }]
    );
    let lines = dry.reconcile.unwrap().lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&key) && l.contains("would be audited")),
        "{lines:?}"
    );
    assert_eq!(
        it.settle().await.unwrap().to_jira.handled,
        0,
        "a dry run publishes nothing"
    );
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Stale title");

    let done = it.poller.handle(&request(false)).await.unwrap();
    assert_eq!(done.audited, 1);
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Unusual API calls");
}

#[tokio::test]
async fn audit_leaves_an_issue_moved_to_a_status_the_mapping_leaves_alone() {
    let mut it = Integration::start().await.unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;
    it.sir
        .set_status(HUMAN, &id, "Detection and Analysis")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Progress");

    // A person moves the issue back to "To Do" (mapped to no SIR change): published, nothing
    // for SIR to do, the snapshot now equals the issue.
    it.jira
        .transition_to(&alice.account_id, &key, "To Do")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.sir.case(&id).unwrap().case_status,
        "Detection and Analysis",
        "To Do leaves the case alone"
    );

    assert_eq!(audit_pass(&mut it).await, 1);
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_jira.handled, 1, "the audit reached jira-client");
    assert_eq!(
        it.jira.issue(&key).unwrap().status,
        "To Do",
        "the person's status is not moved back"
    );
}

#[tokio::test]
async fn audit_does_not_re_add_a_watcher_a_person_removed_in_jira() {
    let mut it = Integration::start().await.unwrap();
    let bob = it
        .jira
        .add_user(User::new("Bob Builder", "bob@example.com"));
    let id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                watchers: vec![Watcher::email("bob@example.com")],
                ..case("Unusual API calls")
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    assert!(
        it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&bob.account_id),
        "the case's watcher watches the issue"
    );

    // Bob stops watching in Jira; the change is published (the Jira sweep's audit reads it)
    // and the snapshot equals the issue again.
    it.jira.remove_watcher(&key, &bob.account_id).unwrap();
    it.sweep_jira().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    let store = it.world.store();
    let snapshot = store.issue_snapshot(&key).await.unwrap().unwrap();
    assert!(
        !snapshot.watchers.iter().any(|w| w.contains("bob")),
        "{snapshot:?}"
    );

    assert_eq!(audit_pass(&mut it).await, 1);
    it.settle().await.unwrap().assert_clean();
    assert!(
        !it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&bob.account_id),
        "the audit does not re-add a removed watcher"
    );
    assert!(
        it.sir
            .case(&id)
            .unwrap()
            .watchers
            .iter()
            .any(|w| w.email == "bob@example.com"),
        "SIR keeps its watcher"
    );
}

#[tokio::test]
async fn closing_audit_settles_a_summary_left_different_at_the_closure() {
    let it = Integration::start().await.unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;
    // As a title and summary edited on both sides within seconds leave them: the issue holds a
    // word of its own that its snapshot says the integration left there, and nothing is on its
    // way to either side.
    it.set_jira_push(false);
    it.jira
        .edit_issue(&alice.account_id, &key, rename("Crossed word"))
        .unwrap();
    let store = it.world.store();
    let mut snapshot = store.issue_snapshot(&key).await.unwrap().unwrap();
    snapshot.summary = "Crossed word".into();
    store.put_issue_snapshot(&snapshot).await.unwrap();
    it.set_jira_push(true);

    it.sir.close_case(HUMAN, &id).unwrap();
    it.settle().await.unwrap().assert_clean();
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.status, "Done");
    assert_eq!(
        issue.summary, "Crossed word",
        "the closure names only the status"
    );

    // The next pass audits the pair once (closed pairs are otherwise never audited), whatever
    // the audit interval.
    let pass = it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(pass.audited, 1, "{pass:?}");
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().summary, "Unusual API calls");
    let pass = it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(pass.audited, 0, "once: {pass:?}");
}

#[tokio::test]
async fn closing_audit_leaves_an_issue_edited_after_the_closure_as_it_is() {
    let it = Integration::start().await.unwrap();
    let (id, key, alice) = synced_pair(&it, "Unusual API calls").await;
    it.sir.close_case(HUMAN, &id).unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().status, "Done");

    it.jira
        .edit_issue(&alice.account_id, &key, rename("Renamed after closure"))
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    // sir-client told the people on the issue the case takes no more changes.
    assert!(
        it.jira
            .issue(&key)
            .unwrap()
            .comments
            .iter()
            .any(|c| c.body.to_string().contains("is closed"))
    );

    let pass = it.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(pass.audited, 1, "{pass:?}");
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.jira.issue(&key).unwrap().summary,
        "Renamed after closure"
    );
    assert_eq!(it.sir.case(&id).unwrap().title, "Unusual API calls");
}
