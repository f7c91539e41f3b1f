//! The sync status responders see, end to end through the pipeline (see
//! `shared::sync_status`): a change one side refuses for good puts the label `sir-sync-problem`
//! on the issue, lists the problem in the issue's notes property and is said once on the issue
//! and once on the case, in plain words; the label goes when the item goes through, or when a
//! responder removes it; a later event never repeats a note.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::Integration;
use jira_emulator::{IssueEdit, NewIssue, User};
use serde_json::{Value, json};
use shared::sync_status::PROBLEM_LABEL;
use sir_emulator::{CaseUpdate, NewCase, Watcher};

const HUMAN: &str = "human";

fn jira_texts(it: &Integration, key: &str) -> Vec<String> {
    it.jira_comment_texts(key)
}

fn sir_texts(it: &Integration, case_id: &str) -> Vec<String> {
    it.sir_comment_texts(case_id)
}

fn count(texts: &[String], part: &str) -> usize {
    texts.iter().filter(|t| t.contains(part)).count()
}

fn labelled(it: &Integration, key: &str) -> bool {
    it.jira
        .issue(key)
        .unwrap()
        .labels
        .iter()
        .any(|l| l == PROBLEM_LABEL)
}

/// The open problems a direction lists in its issue property.
fn open_problems(it: &Integration, key: &str, property: &str) -> Vec<String> {
    it.jira
        .issue(key)
        .unwrap()
        .properties
        .get(property)
        .and_then(|notes| notes.get("openProblems"))
        .and_then(Value::as_object)
        .map(|open| open.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_watcher_jira_refuses_is_a_labelled_problem_until_it_goes_through() {
    let it = Integration::start().await.unwrap();
    let ann = it
        .jira
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    it.jira.add_user(User::new("Bo Builder", "bo@example.com"));
    let refusal = "The user Ann Analyst cannot be added as a watcher of this issue.";
    it.jira.faults().refuse_watcher(&ann.account_id, refusal);
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Refused watcher".into(),
                description: "x".into(),
                watchers: vec![Watcher::email("ann@example.com")],
                ..NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    assert!(labelled(&it, &key), "the label marks the pair");
    let open = open_problems(&it, &key, "sir-integration");
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].contains("ann@example.com"), "{open:?}");
    let jira = jira_texts(&it, &key);
    assert_eq!(count(&jira, refusal), 1, "{jira:#?}");
    assert_eq!(count(&jira, "What to do"), 1, "{jira:#?}");
    let sir = sir_texts(&it, &case_id);
    assert_eq!(count(&sir, "Not synced to the Jira issue"), 1, "{sir:#?}");
    assert_eq!(count(&sir, refusal), 1, "{sir:#?}");
    // The note on the case is the integration's own: not copied to the issue as a comment.
    assert_eq!(count(&jira, "Not synced to the Jira issue"), 0, "{jira:#?}");

    // Another change: the watcher is refused again, and nothing is said again.
    it.sir
        .add_comment(HUMAN, &case_id, "Rotated the keys.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(labelled(&it, &key));
    assert_eq!(count(&jira_texts(&it, &key), refusal), 1);
    assert_eq!(
        count(&sir_texts(&it, &case_id), "Not synced to the Jira issue"),
        1
    );

    // Jira takes the watcher now: the next watcher change brings it over and the label goes.
    it.jira.faults().clear();
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("bo@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let issue = it.jira.issue(&key).unwrap();
    assert!(issue.watchers.contains(&ann.account_id));
    assert!(!labelled(&it, &key), "solved: {:?}", issue.labels);
    assert_eq!(
        open_problems(&it, &key, "sir-integration"),
        Vec::<String>::new()
    );
    assert_eq!(count(&jira_texts(&it, &key), refusal), 1);
}

#[tokio::test]
async fn a_comment_sir_refuses_is_labelled_until_a_responder_removes_the_label() {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = alice.account_id.as_str();
    let key = it
        .jira
        .create_issue(
            me,
            NewIssue {
                description: Some("x".into()),
                ..NewIssue::new("Refused comment")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(!labelled(&it, &key), "no problem, no label");
    let refusal = "Comment body contains content that is not allowed";
    it.sir.faults().refuse("CreateCaseComment", refusal);
    it.jira.comment(me, &key, "SIR will not take this").unwrap();
    it.settle().await.unwrap().assert_clean();

    assert!(labelled(&it, &key));
    let open = open_problems(&it, &key, "sir-integration-from-jira");
    assert_eq!(open.len(), 1, "{open:?}");
    let texts = jira_texts(&it, &key);
    assert_eq!(count(&texts, refusal), 1, "{texts:#?}");
    assert_eq!(count(&texts, "What to do"), 1, "{texts:#?}");

    // The responder copied it by hand and removes the label: the integration does not put it
    // back for that problem, and says nothing again.
    let labels: Vec<String> = it
        .jira
        .issue(&key)
        .unwrap()
        .labels
        .into_iter()
        .filter(|l| l != PROBLEM_LABEL)
        .collect();
    it.jira
        .edit_issue(
            me,
            &key,
            IssueEdit {
                summary: Some("Refused comment (handled)".into()),
                description: None,
                labels: Some(labels),
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(!labelled(&it, &key));
    assert_eq!(
        it.only_case().title,
        "Refused comment (handled)",
        "the rest still syncs"
    );
    assert_eq!(count(&jira_texts(&it, &key), refusal), 1);

    // A new refused item is a new problem: labelled again.
    it.jira.comment(me, &key, "nor this one").unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(labelled(&it, &key));
    assert_eq!(count(&jira_texts(&it, &key), refusal), 2);
}

#[tokio::test]
async fn a_status_change_sir_refuses_is_said_once_on_the_case_and_labels_the_issue() {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = alice.account_id.as_str();
    let key = it
        .jira
        .create_issue(
            me,
            NewIssue {
                description: Some("x".into()),
                ..NewIssue::new("Refused status")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case_id = it.only_case().case_id;
    let refusal = "Case status transition is not allowed for this case";
    it.sir.faults().refuse("UpdateCaseStatus", refusal);
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    it.settle().await.unwrap().assert_clean();
    it.jira.comment(me, &key, "still copied").unwrap();
    it.settle().await.unwrap().assert_clean();

    assert!(labelled(&it, &key));
    assert_eq!(
        open_problems(&it, &key, "sir-integration-from-jira").len(),
        1
    );
    let sir = sir_texts(&it, &case_id);
    assert_eq!(count(&sir, "Not copied from the Jira issue"), 1, "{sir:#?}");
    assert_eq!(count(&sir, refusal), 1, "{sir:#?}");
    assert_eq!(count(&sir, "still copied"), 1, "{sir:#?}");
    let jira = jira_texts(&it, &key);
    assert_eq!(count(&jira, refusal), 1, "{jira:#?}");
    // The note on the case is the integration's own: not copied back to the issue.
    assert_eq!(
        count(&jira, "Not copied from the Jira issue"),
        0,
        "{jira:#?}"
    );
}

/// A last sync time older than any test.
const LONG_AGO: &str = "2020-01-01T00:00:00Z";

/// When a direction last synced the pair, as its issue property holds it.
fn last_synced_at(it: &Integration, key: &str, property: &str) -> Option<String> {
    it.jira
        .issue(key)
        .unwrap()
        .properties
        .get(property)
        .and_then(|notes| notes.get("lastSyncedAt"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The writes of the property `property` Jira answered.
fn property_writes(it: &Integration, property: &str) -> usize {
    it.jira
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/properties/{property}")))
        .count()
}

#[tokio::test]
async fn each_direction_keeps_its_last_sync_time_on_the_issue_written_at_most_every_five_minutes() {
    const FROM_SIR: &str = "sir-integration";
    const FROM_JIRA: &str = "sir-integration-from-jira";
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = alice.account_id.as_str();
    let before = shared::sync_status::now_rfc3339();
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Last sync".into(),
                description: "x".into(),
                ..NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let first = last_synced_at(&it, &key, FROM_SIR).unwrap_or_else(|| {
        panic!(
            "SIR → Jira records its sync: {:?}",
            it.jira.issue(&key).unwrap().properties
        )
    });
    assert!(
        first >= before,
        "{first} is this sync's time (after {before})"
    );
    // The local world's response team has no Jira accounts: their note is the one request
    // for the property. The time came with the create, at no request of its own.
    let requests: Vec<String> = it
        .jira
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&format!("/properties/{FROM_SIR}")))
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(requests, ["PUT"], "only the unresolved watchers' note");

    // A change from Jira: the other direction records its own (moved back first, in case an
    // echo of jira-client's own edits recorded it already).
    it.jira
        .set_issue_property(me, &key, FROM_JIRA, json!({"lastSyncedAt": LONG_AGO}))
        .unwrap();
    it.jira.comment(me, &key, "Seen from Jira").unwrap();
    it.settle().await.unwrap().assert_clean();
    let from_jira = last_synced_at(&it, &key, FROM_JIRA).expect("Jira → SIR records its sync");
    assert!(from_jira >= before, "{from_jira}");
    assert!(
        it.sir_comment_texts(&case_id)
            .iter()
            .any(|t| t.contains("Seen from Jira"))
    );

    // More changes within five minutes: nothing is written again for the time.
    let writes = property_writes(&it, FROM_SIR);
    it.sir.add_comment(HUMAN, &case_id, "One").unwrap();
    it.settle().await.unwrap().assert_clean();
    it.sir.add_comment(HUMAN, &case_id, "Two").unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        property_writes(&it, FROM_SIR),
        writes,
        "no write within five minutes"
    );
    assert_eq!(last_synced_at(&it, &key, FROM_SIR), Some(first.clone()));

    // Six minutes later (the stored time moved back, as time passing would leave it), the next
    // sync writes it again, keeping the rest of the direction's notes: those it had, and those
    // the same event wrote before (a watcher with no Jira account, said once).
    let mut notes = it.jira.issue(&key).unwrap().properties[FROM_SIR].clone();
    notes["lastSyncedAt"] = LONG_AGO.into();
    notes["closureReported"] = true.into();
    it.jira
        .set_issue_property(me, &key, FROM_SIR, notes)
        .unwrap();
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("nobody@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let again = last_synced_at(&it, &key, FROM_SIR).unwrap();
    assert!(again >= first, "{again} renewed after {first}");
    let notes = &it.jira.issue(&key).unwrap().properties[FROM_SIR];
    assert_eq!(notes["closureReported"], true, "{notes}");
    assert!(
        notes["reportedUnresolvedWatchers"]
            .as_array()
            .unwrap()
            .contains(&json!("nobody@example.com")),
        "{notes}"
    );
    assert_eq!(last_synced_at(&it, &key, FROM_JIRA), Some(from_jira));
}
