//! The Jira sweep end to end: jira-notifications-handler, run by its schedule's `Scheduled Event`,
//! finds the project's issues updated since its cursor (`/search/jql` in the Jira emulator, with
//! its search lag when set) and puts each through the path an Automation message takes, with
//! Automation switched off in the emulator; and the case filter (which unlinked issues may create
//! a case) on both paths; and the audit each sweep run ends with (open issues round-robin, so an
//! edit the updated-since search never saw still reaches SIR). See `integration_tests::pipeline`
//! for the wiring.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::pipeline::{Intake, Integration, IntegrationOptions};
use jira_emulator::{IssueEdit, JiraEmulatorConfig, NewIssue, User};
use jira_notifications_handler::{NotificationsSettings, Sweeping};
use serde_json::Value;
use shared::config::CaseFilter;
use shared::store::{LinkStore, SnapshotStore, SweepCursor, SweepCursorStore};
use sir_emulator::CaseRecord;

async fn integration_with(options: IntegrationOptions) -> (Integration, User) {
    let it = Integration::start_with(options).await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    (it, alice)
}

/// Automation switched off: only the sweep tells the integration about Jira.
async fn without_automation(options: IntegrationOptions) -> (Integration, User) {
    let (it, alice) = integration_with(options).await;
    it.set_jira_push(false);
    (it, alice)
}

fn with_case_filter(case_filter: CaseFilter) -> IntegrationOptions {
    IntegrationOptions {
        notifications: Some(NotificationsSettings {
            case_filter,
            ..NotificationsSettings::new(integration_tests::pipeline::PROJECT_KEY)
        }),
        ..IntegrationOptions::default()
    }
}

/// The sweep's outcome for each issue it handled, as `KEY:Outcome`.
fn swept(report: &Value) -> Vec<String> {
    outcomes(report, "issues")
}

/// The audit's outcome for each open issue it synced, as `KEY:Outcome`.
fn audited(report: &Value) -> Vec<String> {
    outcomes(report, "audited")
}

/// The open issues the audit synced, whatever their outcome.
fn audited_keys(report: &Value) -> Vec<String> {
    audited(report)
        .into_iter()
        .filter_map(|s| s.split_once(':').map(|(key, _)| key.to_owned()))
        .collect()
}

fn outcomes(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["issueKey"].as_str().unwrap(),
                i["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

/// Runs the sweep (it must succeed) and delivers what it published.
async fn sweep_and_settle(it: &Integration) -> Value {
    let report = it.sweep_jira().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    report
}

fn comments_ending(case: &CaseRecord, text: &str) -> usize {
    case.comments
        .iter()
        .filter(|c| c.body.ends_with(text))
        .count()
}

#[tokio::test]
async fn with_automation_off_an_issue_its_comment_and_its_transition_reach_sir_through_the_sweep_once_each()
 {
    let (it, alice) = without_automation(IntegrationOptions::default()).await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Beaconing host"))
        .unwrap();
    let settled = it.settle().await.unwrap();
    assert_eq!(settled.notifications.handled, 0, "Automation is off");
    assert!(
        it.sir.cases().is_empty(),
        "nothing tells the integration yet"
    );

    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:Created")),
        "{report}"
    );
    assert_eq!(report["caughtUp"], true);
    let case = it.only_case();
    assert_eq!(case.title, "Beaconing host");

    it.jira
        .comment(&alice.account_id, &key, "Isolated the host.")
        .unwrap();
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:Updated")),
        "{report}"
    );
    assert_eq!(comments_ending(&it.only_case(), "Isolated the host."), 1);

    it.jira
        .transition_to(&alice.account_id, &key, "In Progress")
        .unwrap();
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:Updated")),
        "{report}"
    );
    assert_eq!(it.only_case().case_status, "Detection and Analysis");

    // Everything is synced: a further sweep finds the issue again (overlap) and publishes nothing.
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report)
            .iter()
            .all(|s| !s.ends_with(":Created") && !s.ends_with(":Updated")),
        "{report}"
    );
    let case = it.only_case();
    assert_eq!(comments_ending(&case, "Isolated the host."), 1, "once");
    assert_eq!(it.sir.cases().len(), 1, "one case");
}

/// The issue's watchers and every published `IssueUpdated` leave the integration account out:
/// Jira made it a watcher when it wrote the "linked to" note, and that is no one's edit.
#[tokio::test]
async fn a_jira_born_case_is_not_updated_when_the_integration_becomes_a_watcher_of_its_issue() {
    let (it, alice) = without_automation(IntegrationOptions::default()).await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Beaconing host"))
        .unwrap();
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:Created")),
        "{report}"
    );
    let watchers = it.jira.issue(&key).unwrap().watchers;
    assert!(
        watchers.contains(&it.jira.integration_account_id()),
        "Jira made the integration a watcher when it commented: {watchers:?}"
    );

    let report = it.sweep_jira().await.unwrap();
    assert!(
        swept(&report)
            .iter()
            .chain(audited(&report).iter())
            .all(|s| !s.ends_with(":Updated")),
        "{report}"
    );
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_sir.handled, 0, "sir-client gets no event");
}

#[tokio::test]
async fn with_search_lag_an_issue_edited_a_moment_ago_is_found_by_its_indexed_version_and_read_fresh()
 {
    let (it, alice) = integration_with(IntegrationOptions::default()).await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Old title"))
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Old title");

    it.set_jira_push(false);
    let lag = Duration::from_secs(3);
    it.jira.set_search_lag(lag);
    tokio::time::sleep(lag).await;
    // Bring the cursor up to now: the sweep's next search starts from here (less its overlap).
    sweep_and_settle(&it).await;
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("New title".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    // Cloud's index still holds the issue as it was (its earlier `updated` is within the span),
    // so the sweep finds it, and the re-read sees the edit.
    let report = sweep_and_settle(&it).await;
    assert_eq!(swept(&report), [format!("{key}:Updated")], "{report}");
    assert_eq!(it.only_case().title, "New title");

    // Once indexed, the edit is found again and publishes nothing.
    tokio::time::sleep(lag + Duration::from_millis(500)).await;
    let report = sweep_and_settle(&it).await;
    assert_eq!(swept(&report), [format!("{key}:Unchanged")], "{report}");
}

#[tokio::test]
async fn a_first_sweep_that_fails_still_fixes_where_the_swept_span_starts() {
    let (it, _alice) = without_automation(IntegrationOptions::default()).await;
    let store = it.world.store();
    assert_eq!(store.sweep_cursor("jira:SEC").await.unwrap(), None);
    let before_ms = u64::try_from(epoch_seconds()).unwrap() * 1_000;
    it.jira.faults().outage(Duration::from_secs(3_600));

    let failed = it.sweep_jira().await;
    assert!(failed.is_err(), "Jira is down: {failed:?}");
    // Had the start waited for the first run that succeeds, an issue made and closed during a
    // longer outage would never be searched for (the audit reads only open issues).
    let cursor = store.sweep_cursor("jira:SEC").await.unwrap().unwrap();
    assert!(cursor.caught_up, "{cursor:?}");
    // Where the next search starts: the failed run's start less the overlap.
    let overlap_ms = 5 * 60 * 1_000;
    assert!(cursor.position_ms + overlap_ms >= before_ms, "{cursor:?}");
    assert!(
        cursor.position_ms + overlap_ms <= before_ms + 60_000,
        "the failed run's start less the overlap: {cursor:?}"
    );
}

fn epoch_seconds() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_issue_created_before_installation_does_not_become_a_case_and_one_after_it_does() {
    // The filter is replaced mid-test, as a cold start reading new SSM values does: only a
    // handler that no function URL shares can be, so this runs with the SNS intake (the case
    // filter is the same for both intakes).
    let (mut it, alice) = integration_with(IntegrationOptions {
        intake: Intake::Automation,
        jira: JiraEmulatorConfig::default(),
        ..IntegrationOptions::default()
    })
    .await;
    let old = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Before installation"))
        .unwrap();
    // Installed the second after the old issue was created.
    let installed = epoch_seconds() + 1;
    while epoch_seconds() < installed {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::sync::Arc::get_mut(&mut it.notifications)
        .expect("no function URL shares the handler")
        .set_case_filter(CaseFilter::CreatedSince {
            epoch_seconds: installed,
            recorded: "just after the old issue".into(),
        });
    let new = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("After installation"))
        .unwrap();
    // Both paths: the Automation messages, then the sweep.
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert!(
        settled
            .notifications
            .record_field("outcome")
            .contains(&"OutsideCaseFilter".to_owned())
    );
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{old}:OutsideCaseFilter")),
        "{report}"
    );
    let case = it.only_case();
    assert_eq!(case.title, "After installation");
    let store = it.world.store();
    assert!(store.link_for_issue(&old).await.unwrap().is_none());
    assert!(store.link_for_issue(&new).await.unwrap().is_some());
}

#[tokio::test]
async fn an_issue_the_jql_case_filter_leaves_out_publishes_nothing_until_it_matches() {
    let (it, alice) = without_automation(with_case_filter(CaseFilter::Jql(
        "labels = security OR labels = incident".into(),
    )))
    .await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Printer jam"))
        .unwrap();
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:OutsideCaseFilter")),
        "{report}"
    );
    assert!(it.sir.cases().is_empty());
    assert!(
        it.world
            .store()
            .issue_snapshot(&key)
            .await
            .unwrap()
            .is_none(),
        "nothing recorded for it either"
    );

    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                labels: Some(vec!["incident".into()]),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    let report = sweep_and_settle(&it).await;
    assert!(
        swept(&report).contains(&format!("{key}:Created")),
        "{report}"
    );
    assert_eq!(it.only_case().title, "Printer jam");
}

#[tokio::test]
async fn with_search_lag_a_new_issue_matching_the_jql_filter_is_not_missed() {
    // The filter check reads after write (reconcileIssues): an issue created a moment ago is
    // matched although the search index does not show it yet.
    let (it, alice) = integration_with(IntegrationOptions {
        jira: JiraEmulatorConfig {
            search_lag: Duration::from_secs(30),
            ..JiraEmulatorConfig::default()
        },
        ..with_case_filter(CaseFilter::Jql("labels = security".into()))
    })
    .await;
    it.jira
        .create_issue(
            &alice.account_id,
            NewIssue {
                labels: vec!["security".into()],
                ..NewIssue::new("Fresh")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Fresh");
}

/// Settings whose audit takes `max_audits` open issues per run, each round starting as soon as
/// the last one wrapped (no audit interval), so a test walks rounds run by run.
fn auditing(max_audits: u32) -> IntegrationOptions {
    IntegrationOptions {
        notifications: Some(NotificationsSettings {
            sweep: Sweeping {
                max_audits,
                audit_interval: Duration::ZERO,
                ..Sweeping::default()
            },
            ..NotificationsSettings::new(integration_tests::pipeline::PROJECT_KEY)
        }),
        ..IntegrationOptions::default()
    }
}

/// Moves the updated-since search's cursor past everything, as an outage or a run that stopped
/// after a burst can leave it: the search skips every issue it finds as handled.
async fn hide_from_the_search(it: &Integration) {
    let far_future = u64::try_from(epoch_seconds() + 3_600).unwrap() * 1_000;
    let cursor = SweepCursor {
        position_ms: far_future,
        caught_up: false,
        last_key: Some("SEC-999999".into()),
        round_started_ms: None,
    };
    let store = it.world.store();
    assert!(
        store
            .advance_sweep_cursor("jira:SEC", &cursor)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn jira_audit_brings_over_an_edit_the_sweep_never_saw() {
    let (it, alice) = integration_with(IntegrationOptions::default()).await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Old title"))
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Old title");

    it.set_jira_push(false);
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("New title".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    hide_from_the_search(&it).await;

    let report = sweep_and_settle(&it).await;
    assert!(
        !swept(&report).contains(&format!("{key}:Updated")),
        "the updated-since search does not bring it: {report}"
    );
    assert!(report["skipped"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(audited(&report), vec![format!("{key}:Updated")], "{report}");
    assert_eq!(it.only_case().title, "New title");
}

#[tokio::test]
async fn jira_audit_walks_every_open_issue_round_robin() {
    let (it, alice) = without_automation(auditing(2)).await;
    let mut keys = Vec::new();
    for n in 1..=6 {
        keys.push(
            it.jira
                .create_issue(&alice.account_id, NewIssue::new(format!("Alert {n}")))
                .unwrap(),
        );
    }
    it.jira
        .transition_to(&alice.account_id, &keys[2], "Done")
        .unwrap();
    hide_from_the_search(&it).await;
    let audit_cursor = || async {
        it.world
            .store()
            .sweep_cursor("audit:SEC")
            .await
            .unwrap()
            .and_then(|c| c.last_key)
    };
    let created = |indexes: &[usize]| -> Vec<String> {
        indexes
            .iter()
            .map(|i| format!("{}:Created", keys[*i]))
            .collect()
    };

    // Two per run, in key order, the Done issue (the third) skipped.
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited(&report), created(&[0, 1]), "{report}");
    assert_eq!(audit_cursor().await, Some(keys[1].clone()));
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited(&report), created(&[3, 4]), "{report}");
    assert_eq!(audit_cursor().await, Some(keys[4].clone()));
    // A short page: the last open issue, then the cursor wraps to the start.
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited(&report), created(&[5]), "{report}");
    assert_eq!(report["auditCursor"], Value::Null, "{report}");
    assert_eq!(audit_cursor().await, None);
    // From the first again.
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited_keys(&report), keys[..2].to_vec(), "{report}");
    let cases = it.sir.cases();
    assert_eq!(
        cases.len(),
        5,
        "one case per open issue, none for the Done one"
    );
    assert!(cases.iter().all(|case| case.title != "Alert 3"));
}

#[tokio::test]
async fn jira_audit_of_synced_issues_publishes_nothing() {
    let (it, alice) = integration_with(IntegrationOptions::default()).await;
    let mut keys = Vec::new();
    for n in 1..=3 {
        let key = it
            .jira
            .create_issue(&alice.account_id, NewIssue::new(format!("Alert {n}")))
            .unwrap();
        it.jira
            .comment(&alice.account_id, &key, "Looking into it.")
            .unwrap();
        keys.push(key);
    }
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.sir.cases().len(), 3);

    let report = it.sweep_jira().await.unwrap();
    assert_eq!(
        audited(&report),
        keys.iter()
            .map(|key| format!("{key}:Unchanged"))
            .collect::<Vec<_>>(),
        "{report}"
    );
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(settled.to_sir.handled, 0, "nothing published");
    assert_eq!(it.sir.cases().len(), 3);
}

#[tokio::test]
async fn jira_audit_starts_from_the_first_open_issue_when_its_cursor_issue_is_deleted() {
    let (it, alice) = without_automation(auditing(2)).await;
    let mut keys = Vec::new();
    for n in 1..=3 {
        keys.push(
            it.jira
                .create_issue(&alice.account_id, NewIssue::new(format!("Alert {n}")))
                .unwrap(),
        );
    }
    hide_from_the_search(&it).await;
    let report = sweep_and_settle(&it).await;
    assert_eq!(
        report["auditCursor"],
        Value::from(keys[1].clone()),
        "{report}"
    );

    // Jira answers 400 for `key > <deleted key>`.
    it.jira.delete_issue(&alice.account_id, &keys[1]).unwrap();
    let report = sweep_and_settle(&it).await;
    assert_eq!(
        audited_keys(&report),
        vec![keys[0].clone(), keys[2].clone()],
        "{report}"
    );
    assert!(
        audited(&report).contains(&format!("{}:Created", keys[2])),
        "{report}"
    );
}

/// `n` open issues created as alice, not yet synced (no Automation), hidden from the
/// updated-since search so only the audit finds them.
async fn open_issues_for_the_audit(it: &Integration, alice: &User, n: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for n in 1..=n {
        keys.push(
            it.jira
                .create_issue(&alice.account_id, NewIssue::new(format!("Alert {n}")))
                .unwrap(),
        );
    }
    hide_from_the_search(it).await;
    keys
}

async fn audit_cursor(it: &Integration) -> Option<String> {
    it.world
        .store()
        .sweep_cursor("audit:SEC")
        .await
        .unwrap()
        .and_then(|c| c.last_key)
}

#[tokio::test]
async fn jira_audit_names_an_issue_it_could_not_sync_moves_past_it_and_audits_it_next_round() {
    let (it, alice) = without_automation(auditing(3)).await;
    let keys = open_issues_for_the_audit(&it, &alice, 4).await;
    it.jira
        .faults()
        .fail_after_applying("GET", &format!("/issue/{}/watchers", keys[0]), 400);

    let error = it.sweep_jira().await.unwrap_err();
    assert!(
        error.contains("audit") && error.contains(&keys[0]),
        "{error}"
    );
    it.settle().await.unwrap().assert_clean();
    let titles: Vec<String> = it.sir.cases().into_iter().map(|c| c.title).collect();
    assert_eq!(titles.len(), 2, "the others were synced: {titles:?}");
    assert!(!titles.contains(&"Alert 1".to_owned()));
    assert_eq!(
        audit_cursor(&it).await,
        Some(keys[2].clone()),
        "moves past the failed issue"
    );

    // The last open issue, then the round wraps and the failed one is audited again.
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited_keys(&report), keys[3..].to_vec(), "{report}");
    assert_eq!(audit_cursor(&it).await, None);
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited_keys(&report), keys[..3].to_vec(), "{report}");
    assert!(
        audited(&report).contains(&format!("{}:Created", keys[0])),
        "{report}"
    );
    assert_eq!(it.sir.cases().len(), 4);
}

#[tokio::test]
async fn jira_audit_goes_on_past_an_issue_that_fails_on_every_attempt() {
    let (it, alice) = without_automation(auditing(2)).await;
    let keys = open_issues_for_the_audit(&it, &alice, 5).await;
    for _ in 0..50 {
        it.jira
            .faults()
            .fail_after_applying("GET", &format!("/issue/{}/watchers", keys[0]), 400);
    }

    for round in 0..2 {
        let error = it.sweep_jira().await.unwrap_err();
        assert!(error.contains(&keys[0]), "round {round}: {error}");
        it.settle().await.unwrap().assert_clean();
        let report = sweep_and_settle(&it).await;
        assert_eq!(audited_keys(&report), keys[2..4].to_vec(), "{report}");
        let report = sweep_and_settle(&it).await;
        assert_eq!(audited_keys(&report), keys[4..].to_vec(), "{report}");
        assert_eq!(report["auditCursor"], Value::Null, "{report}");
    }
    let mut titles: Vec<String> = it.sir.cases().into_iter().map(|c| c.title).collect();
    titles.sort();
    assert_eq!(titles, ["Alert 2", "Alert 3", "Alert 4", "Alert 5"]);
}

#[tokio::test]
async fn jira_audit_does_not_wrap_on_a_short_page_jira_says_is_not_the_last() {
    // Cloud's paging (Data Center's `startAt` and `total` leave no room for short pages).
    let mut options = auditing(3);
    options.jira.deployment = jira_emulator::Deployment::Cloud;
    let (it, alice) = without_automation(options).await;
    let keys = open_issues_for_the_audit(&it, &alice, 4).await;
    // Jira Cloud may return fewer issues than maxResults while more follow.
    it.jira.set_search_short_pages(2);

    let report = sweep_and_settle(&it).await;
    assert_eq!(audited_keys(&report), keys[..2].to_vec(), "{report}");
    assert_eq!(audit_cursor(&it).await, Some(keys[1].clone()));
    let report = sweep_and_settle(&it).await;
    assert_eq!(audited_keys(&report), keys[2..].to_vec(), "{report}");
    assert_eq!(audit_cursor(&it).await, None, "wraps when Jira says so");
    assert_eq!(it.sir.cases().len(), 4);
}
