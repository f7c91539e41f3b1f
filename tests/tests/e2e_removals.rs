//! Removals reach the other side, end to end through the pipeline: a watcher the integration
//! added leaves with the person on the side they watch from (one who watches by their own
//! choice stays); a comment deleted in Jira has its SIR copy edited to say so (SIR has no
//! comment deletion); an attachment deleted in Jira is noted on the case once (its copy stays).
//! Nothing is ever said twice, and nothing comes back.
//!
//! Jira tells no Automation rule about a watcher or a comment deleted (the emulator plays the
//! strictest reading): the Jira sweep's audit finds them, as it does in production.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::{Integration, RouteLog};
use jira_emulator::{NewIssue, User};
use serde_json::Value;
use sir_emulator::{CaseUpdate, NewCase, Watcher};

const HUMAN: &str = "human";

/// `field` summed over every response the route logged.
fn total(log: &RouteLog, field: &str) -> u64 {
    log.responses
        .iter()
        .flat_map(|r| match r.get("records") {
            Some(Value::Array(records)) => records.clone(),
            _ => vec![r.clone()],
        })
        .filter_map(|r| r.get(field).and_then(Value::as_u64))
        .sum()
}

fn sir_watchers(it: &Integration, case_id: &str) -> Vec<String> {
    it.sir
        .case(case_id)
        .unwrap()
        .watchers
        .iter()
        .map(|w| w.email.to_lowercase())
        .collect()
}

fn sir_texts(it: &Integration, case_id: &str) -> Vec<String> {
    it.sir_comment_texts(case_id)
}

fn count(texts: &[String], part: &str) -> usize {
    texts.iter().filter(|t| t.contains(part)).count()
}

#[tokio::test]
async fn a_watcher_removed_in_sir_leaves_the_issue_only_where_the_integration_added_it() {
    let it = Integration::start().await.unwrap();
    let ann = it
        .jira
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let bo = it.jira.add_user(User::new("Bo Builder", "bo@example.com"));
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Leaked key".into(),
                description: "x".into(),
                watchers: vec![Watcher::email("ann@example.com")],
                ..NewCase::default()
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
            .contains(&ann.account_id)
    );

    // Bo watches the issue by his own choice; the sweep's audit brings him to the case.
    it.jira.add_watcher(&key, &bo.account_id).unwrap();
    it.sweep_jira().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(sir_watchers(&it, &case_id).contains(&"bo@example.com".to_owned()));

    // Both leave the case in SIR.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_delete: vec![
                    Watcher::email("ann@example.com"),
                    Watcher::email("bo@example.com"),
                ],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_jira, "watchersRemoved"), 1);
    let watchers = it.jira.issue(&key).unwrap().watchers;
    assert!(
        !watchers.contains(&ann.account_id),
        "the integration added Ann to the issue, so she leaves it: {watchers:?}"
    );
    assert!(
        watchers.contains(&bo.account_id),
        "Bo watches the issue by his own choice and stays: {watchers:?}"
    );

    // Nothing comes back: Bo is not added to the case again, Ann not to the issue.
    it.jira
        .comment(&bo.account_id, &key, "Still looking at it.")
        .unwrap();
    it.sweep_jira().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(
        !sir_watchers(&it, &case_id)
            .iter()
            .any(|w| w.contains("bo@"))
    );
    assert!(
        !sir_watchers(&it, &case_id)
            .iter()
            .any(|w| w.contains("ann@"))
    );
    assert!(
        !it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&ann.account_id)
    );
}

#[tokio::test]
async fn a_watcher_removed_in_jira_leaves_the_case_only_where_the_integration_added_it() {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let bo = it.jira.add_user(User::new("Bo Builder", "bo@example.com"));
    let cy = it.jira.add_user(User::new("Cy Cyber", "cy@example.com"));
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Phishing wave"))
        .unwrap();
    it.jira.add_watcher(&key, &bo.account_id).unwrap();
    it.settle().await.unwrap().assert_clean();
    let case_id = it.only_case().case_id;
    assert!(sir_watchers(&it, &case_id).contains(&"bo@example.com".to_owned()));

    // Cy joins the case in SIR by his own choice; the integration adds him to the issue.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("cy@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(
        it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&cy.account_id)
    );

    // Both stop watching the issue; the sweep's audit finds it.
    it.jira.remove_watcher(&key, &bo.account_id).unwrap();
    it.jira.remove_watcher(&key, &cy.account_id).unwrap();
    it.sweep_jira().await.unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_sir, "watchersRemoved"), 1);
    let watchers = sir_watchers(&it, &case_id);
    assert!(
        !watchers.contains(&"bo@example.com".to_owned()),
        "the integration added Bo to the case, so he leaves it: {watchers:?}"
    );
    assert!(
        watchers.contains(&"cy@example.com".to_owned()),
        "Cy watches the case by his own choice and stays: {watchers:?}"
    );
    assert!(watchers.contains(&"alice@example.com".to_owned()));

    // Nothing comes back: Cy is not added to the issue again, Bo not to the case.
    it.sir
        .add_comment(HUMAN, &case_id, "Blocked the sender.")
        .unwrap();
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("alice@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(
        !it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&cy.account_id)
    );
    assert!(!sir_watchers(&it, &case_id).contains(&"bo@example.com".to_owned()));
}

#[tokio::test]
async fn a_comment_deleted_in_jira_is_said_once_on_its_sir_copy_and_sir_originals_stay() {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Credential stuffing"))
        .unwrap();
    let oops = it
        .jira
        .comment(&alice.account_id, &key, "The admin password is hunter2")
        .unwrap();
    it.jira
        .comment(&alice.account_id, &key, "Blocked the source range.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case_id = it.only_case().case_id;
    it.sir
        .add_comment(HUMAN, &case_id, "Forensics image taken.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(count(&sir_texts(&it, &case_id), "hunter2"), 1);

    // Alice deletes her comment, and someone deletes the Jira copy of the SIR comment.
    it.jira
        .delete_comment(&alice.account_id, &key, &oops)
        .unwrap();
    let copy_of_sir = it
        .jira
        .issue(&key)
        .unwrap()
        .comments
        .iter()
        .find(|c| c.body.to_string().contains("Forensics image taken."))
        .map(|c| c.id.clone())
        .unwrap();
    it.jira
        .delete_comment(&alice.account_id, &key, &copy_of_sir)
        .unwrap();
    let quiet = it.settle().await.unwrap();
    assert_eq!(quiet.moved(), 0, "Jira tells Automation nothing of it");
    it.sweep_jira().await.unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_sir, "commentsDeleted"), 1);

    let texts = sir_texts(&it, &case_id);
    assert_eq!(count(&texts, "hunter2"), 0, "{texts:#?}");
    assert_eq!(count(&texts, "deleted in Jira"), 1, "{texts:#?}");
    assert_eq!(
        count(
            &texts,
            &format!("[Jira {key}] Comment by Alice Analyst at ")
        ),
        2,
        "the copy keeps its header: {texts:#?}"
    );
    assert_eq!(count(&texts, "Blocked the source range."), 1);
    assert_eq!(
        count(&texts, "Forensics image taken."),
        1,
        "a SIR comment stays in SIR whatever happens to its Jira copy"
    );
    // The edit is the integration's own: nothing goes back to the issue.
    let jira = it.jira_comment_texts(&key);
    assert_eq!(count(&jira, "deleted in Jira"), 0, "{jira:#?}");
    assert_eq!(count(&jira, "Forensics image taken."), 0, "{jira:#?}");

    // Said once: the next change of the issue edits nothing again.
    it.jira
        .comment(&alice.account_id, &key, "Closing soon.")
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_sir, "commentsDeleted"), 0);
    assert_eq!(count(&sir_texts(&it, &case_id), "deleted in Jira"), 1);
}

#[tokio::test]
async fn an_attachment_deleted_in_jira_is_noted_once_on_the_case_and_its_copy_stays() {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Malware sample"))
        .unwrap();
    let attachment = it
        .jira
        .attach(&alice.account_id, &key, "sample.bin", b"MZ...".to_vec())
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case_id = it.only_case().case_id;
    let copies = it.sir.case(&case_id).unwrap().attachments.len();
    assert_eq!(copies, 1);

    // Deleting an attachment is an issue update: Automation tells the integration at once.
    it.jira
        .delete_attachment(&alice.account_id, &attachment)
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_sir, "attachmentsDeleted"), 1);
    let texts = sir_texts(&it, &case_id);
    let note = format!("sample.bin was deleted from Jira issue {key}");
    assert_eq!(count(&texts, &note), 1, "{texts:#?}");
    assert_eq!(
        it.sir.case(&case_id).unwrap().attachments.len(),
        copies,
        "nothing is deleted automatically"
    );
    // The note is the integration's own: it is not copied to the issue.
    assert_eq!(
        count(&it.jira_comment_texts(&key), "was deleted from Jira"),
        0
    );

    // Noted once: the sweep's audit and the next change say nothing more.
    it.sweep_jira().await.unwrap();
    it.jira
        .comment(&alice.account_id, &key, "Sample is in the sandbox now.")
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_sir, "attachmentsDeleted"), 0);
    assert_eq!(count(&sir_texts(&it, &case_id), &note), 1);
}

#[tokio::test]
async fn a_watcher_who_left_the_issue_by_choice_is_neither_added_back_nor_later_removed() {
    let it = Integration::start().await.unwrap();
    let ann = it
        .jira
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    it.jira.add_user(User::new("Bo Builder", "bo@example.com"));
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Odd logins".into(),
                description: "x".into(),
                watchers: vec![Watcher::email("ann@example.com")],
                ..NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let watches = |it: &Integration| {
        it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&ann.account_id)
    };
    assert!(watches(&it));

    // Ann stops watching the issue; a later watcher change of the case does not add her back.
    it.jira.remove_watcher(&key, &ann.account_id).unwrap();
    let add_bo = CaseUpdate {
        watchers_to_add: vec![Watcher::email("bo@example.com")],
        ..CaseUpdate::default()
    };
    it.sir.update_case(HUMAN, &case_id, add_bo).unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(!watches(&it), "she left the issue by her own choice");
    assert!(sir_watchers(&it, &case_id).contains(&"ann@example.com".to_owned()));

    // She watches the issue again by her own choice, then leaves the case: she stays on the issue.
    it.jira.add_watcher(&key, &ann.account_id).unwrap();
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_delete: vec![Watcher::email("ann@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(total(&settled.to_jira, "watchersRemoved"), 0);
    assert!(watches(&it), "her own watch of the issue stays");
}
