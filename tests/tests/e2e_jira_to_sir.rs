//! Jira → SIR end to end, through the real wiring: the Jira emulator plays Automation to the SNS
//! topic in moto, jira-notifications-handler reads the subscribed queue's notifications, publishes
//! to the integration bus, the `jira` rule delivers to sir-client, which writes to the SIR
//! emulator; the SIR → Jira half runs alongside (see `integration_tests::pipeline`), so echoes
//! and round trips are real. What one handler does with its own input is in
//! `handler_jira_notifications.rs` and `handler_sir_client.rs`.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::iam::Function;
use integration_tests::pipeline::{Integration, IntegrationOptions, sns_event, sns_event_with};
use jira_emulator::{IssueEdit, NewIssue, User};
use shared::store::LinkStore;
use sir_emulator::CaseRecord;

const HUMAN_SIR: &str = "human";

/// A Jira user who works the issue (visible e-mail) and one whose e-mail is hidden.
struct People {
    alice: User,
    hidden: User,
}

async fn integration() -> (Integration, People) {
    integration_with(IntegrationOptions::default()).await
}

async fn integration_with(options: IntegrationOptions) -> (Integration, People) {
    let it = Integration::start_with(options).await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "Alice@Example.com"));
    let hidden = it.jira.add_user(User::with_hidden_email("Private Pat"));
    (it, People { alice, hidden })
}

fn new_issue(summary: &str, description: &str) -> NewIssue {
    NewIssue {
        description: Some(description.into()),
        ..NewIssue::new(summary)
    }
}

/// The issue's comments as text, oldest first.
fn jira_comment_texts(it: &Integration, key: &str) -> Vec<String> {
    it.jira_comment_texts(key)
}

fn comments_ending(case: &CaseRecord, text: &str) -> usize {
    case.comments
        .iter()
        .filter(|c| c.body.ends_with(text))
        .count()
}

#[tokio::test]
async fn issue_created_in_jira_becomes_one_linked_case_with_honest_fields() {
    let (it, people) = integration_with(IntegrationOptions {
        impacted_accounts: vec!["444455556666".into()],
        ..IntegrationOptions::default()
    })
    .await;
    let key = it
        .jira
        .create_issue(
            &people.alice.account_id,
            new_issue("Phishing wave", "Several users reported a lure."),
        )
        .unwrap();
    it.jira
        .add_watcher(&key, &people.hidden.account_id)
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert!(
        settled
            .to_sir
            .record_field("outcome")
            .contains(&"Created".to_owned())
    );

    let case = it.only_case();
    assert_eq!(case.title, "Phishing wave");
    assert_eq!(case.description, "Several users reported a lure.");
    assert_eq!(case.engagement_type, "Security Incident");
    assert_eq!(case.resolver_type, "Self");
    assert_eq!(case.case_status, "Submitted");
    assert_eq!(
        case.impacted_accounts,
        ["444455556666"],
        "from configuration only"
    );
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(
        case.reported_incident_start_date.unix_timestamp(),
        issue.created.unix_timestamp(),
        "the issue's creation time"
    );
    let watchers: Vec<&str> = case.watchers.iter().map(|w| w.email.as_str()).collect();
    assert_eq!(
        watchers,
        ["alice@example.com"],
        "visible e-mails only, never invented"
    );
    assert!(
        case.threat_actor_ip_addresses.is_empty(),
        "nothing invented"
    );
    assert_eq!(case.created_by, it.principal_of(Function::SirClient));
    assert_eq!(case.tags.get("jira-issue-key"), Some(&key));

    let link = it
        .world
        .store()
        .link_for_issue(&key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.case_id, case.case_id);
    // One note on each side, and the SIR side does not come back as a second issue.
    assert_eq!(it.jira.issues().len(), 1);
    assert!(
        case.comments.iter().any(|c| c.body.contains(&key)),
        "the case says where it came from"
    );
    let issue_comments = jira_comment_texts(&it, &key);
    assert_eq!(issue_comments.len(), 1, "{issue_comments:?}");
    assert!(issue_comments[0].contains(&case.case_id));
}

/// Jira made the integration a watcher when it wrote the "linked to" note; the Automation message
/// that comment fires re-reads the issue and finds nothing a person changed.
#[tokio::test]
async fn a_jira_born_case_gets_one_event_although_the_integration_became_a_watcher_of_its_issue() {
    let (it, people) = integration().await;
    let key = it
        .jira
        .create_issue(&people.alice.account_id, NewIssue::new("Beaconing host"))
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert!(
        it.jira
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&it.jira.integration_account_id()),
        "Jira made the integration a watcher when it commented"
    );
    assert_eq!(
        settled.to_sir.record_field("outcome"),
        ["Created"],
        "sir-client gets the creation and nothing else"
    );
    assert_eq!(it.only_case().title, "Beaconing host");
}

#[tokio::test]
async fn summary_description_and_status_changes_reach_the_case() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Suspicious login", "From a new country."))
        .unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;

    it.jira
        .edit_issue(
            me,
            &key,
            IssueEdit {
                summary: Some("Suspicious login (confirmed)".into()),
                description: Some("From a new country; MFA bypassed.".into()),
                labels: None,
            },
        )
        .unwrap();
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.title, "Suspicious login (confirmed)");
    assert_eq!(case.description, "From a new country; MFA bypassed.");
    assert_eq!(case.case_status, "Detection and Analysis");

    it.jira.transition_to(me, &key, "In Review").unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.sir.case(&case_id).unwrap().case_status,
        "Post-incident Activities"
    );

    it.jira.transition_to(me, &key, "Done").unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.case_status, "Closed");
    assert!(
        it.sir
            .requests()
            .iter()
            .any(|r| r.operation == "CloseCase" && r.status == 200),
        "closed with CloseCase"
    );
    // Our own writes came back as native events: the poller published nothing for them.
    assert_eq!(
        settled.to_jira.handled, 0,
        "{:#?}",
        settled.to_jira.responses
    );
    assert_eq!(it.jira.issue(&key).unwrap().status, "Done");
}

#[tokio::test]
async fn forty_comments_and_an_attachment_reach_the_case_once_each() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Chatty", "Lots to say."))
        .unwrap();
    it.settle().await.unwrap();
    for i in 0..40 {
        it.jira
            .comment(me, &key, format!("observation {i}"))
            .unwrap();
    }
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    it.jira
        .attach(me, &key, "pcap (1).bin", bytes.clone())
        .unwrap();
    it.settle().await.unwrap().assert_clean();

    let case = it.only_case();
    for i in 0..40 {
        assert_eq!(
            comments_ending(&case, &format!("observation {i}")),
            1,
            "observation {i}"
        );
    }
    let copy = case
        .comments
        .iter()
        .find(|c| c.body.ends_with("observation 0"))
        .unwrap();
    assert!(copy.body.contains("Alice Analyst"), "{}", copy.body);
    assert_eq!(case.attachments.len(), 1);
    let attachment = &case.attachments[0];
    assert!(
        attachment.file_name.ends_with("pcap__1_.bin"),
        "{}",
        attachment.file_name
    );
    assert_eq!(attachment.attachment_status, "Verified");
    assert_eq!(attachment.bytes, bytes, "byte-exact");

    // None of it goes back to Jira: the issue has the 40 comments and the integration's note.
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.comments.len(), 41);
    assert_eq!(issue.attachments.len(), 1);
}

#[tokio::test]
async fn an_edited_jira_comment_updates_its_copy() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it.jira.create_issue(me, new_issue("Edits", "x")).unwrap();
    let comment = it.jira.comment(me, &key, "first draft").unwrap();
    it.settle().await.unwrap();
    it.jira
        .edit_comment(me, &key, &comment, "final wording")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    assert_eq!(comments_ending(&case, "final wording"), 1);
    assert_eq!(comments_ending(&case, "first draft"), 0);
}

#[tokio::test]
async fn the_same_notification_twice_and_concurrently_makes_one_case_and_no_duplicate_comment() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    it.set_jira_push(false);
    let key = it.jira.create_issue(me, new_issue("Twice", "x")).unwrap();
    it.jira.comment(me, &key, "only once please").unwrap();
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    let event = || sns_event_with("dup", &message);
    let (a, b) = tokio::join!(
        it.notifications.handle(event()),
        it.notifications.handle(event())
    );
    a.unwrap();
    b.unwrap();
    it.notifications.handle(event()).await.unwrap();
    let settled = it.settle().await.unwrap();
    // A delivery that found the issue claimed failed retryably and came back; none was lost.
    for error in &settled.to_sir.errors {
        assert!(
            error.contains("being synced by another delivery"),
            "{error}"
        );
    }
    let case = it.only_case();
    assert_eq!(comments_ending(&case, "only once please"), 1);
}

#[tokio::test]
async fn the_integrations_own_jira_writes_publish_nothing_and_are_not_read_back() {
    Box::pin(own_jira_writes_publish_nothing(true)).await;
}

#[tokio::test]
async fn the_integrations_own_jira_writes_found_by_reading_publish_nothing_with_key_only_rules() {
    Box::pin(own_jira_writes_publish_nothing(false)).await;
}

/// jira-client's writes fire Automation; nothing goes to SIR for them. With rules that name the
/// initiator (`names_initiator`) the handler drops each such message unread (`OwnChange`);
/// with the older key-only rules it re-reads and finds its own echo.
async fn own_jira_writes_publish_nothing(names_initiator: bool) {
    let (it, _) = integration().await;
    it.jira.automation().set_names_initiator(names_initiator);
    let case_id = it
        .sir
        .create_case(
            HUMAN_SIR,
            sir_emulator::NewCase {
                title: "Made in SIR".into(),
                description: "Crypto-mining on EC2.".into(),
                ..sir_emulator::NewCase::default()
            },
        )
        .case_id;
    it.sir
        .add_comment(HUMAN_SIR, &case_id, "first finding")
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert!(
        settled.notifications.handled > 0,
        "Automation fired for jira-client's writes"
    );
    assert_eq!(settled.to_sir.handled, 0, "nothing was published for them");
    let own_outcomes_only = |outcomes: Vec<String>| {
        if names_initiator {
            assert!(outcomes.iter().all(|o| o == "OwnChange"), "{outcomes:?}");
        } else {
            // (A message published before a re-read of the issue started is coalesced.)
            assert!(
                outcomes
                    .iter()
                    .all(|o| o == "FromSir" || o == "Unchanged" || o == "Coalesced"),
                "{outcomes:?}"
            );
        }
    };
    own_outcomes_only(settled.notifications.record_field("outcome"));

    // A status change and a title edit in SIR: jira-client transitions and edits the issue;
    // the Automation messages for those are recognised as ours.
    it.sir
        .set_status(HUMAN_SIR, &case_id, "Detection and Analysis")
        .unwrap();
    it.sir
        .update_case(
            HUMAN_SIR,
            &case_id,
            sir_emulator::CaseUpdate {
                title: Some("Made in SIR (scoped)".into()),
                ..sir_emulator::CaseUpdate::default()
            },
        )
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        settled.to_sir.handled, 0,
        "{:#?}",
        settled.notifications.responses
    );
    assert!(settled.notifications.handled > 0);
    own_outcomes_only(settled.notifications.record_field("outcome"));
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.comments.len(), 1, "no comment came back");
}

#[tokio::test]
async fn a_deleted_issue_is_recorded_on_the_case_and_its_data_kept() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Gone soon", "keep me"))
        .unwrap();
    it.settle().await.unwrap();
    let before = it.only_case();
    it.jira.delete_issue(me, &key).unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    assert_eq!(
        case.case_status, before.case_status,
        "never closed or altered"
    );
    assert_eq!(case.title, before.title);
    assert_eq!(case.description, before.description);
    assert_eq!(
        case.comments
            .iter()
            .filter(|c| c.body.contains(&key) && c.body.contains("deleted"))
            .count(),
        1
    );
    let link = it
        .world
        .store()
        .link_for_issue(&key)
        .await
        .unwrap()
        .unwrap();
    assert!(link.broken.is_some(), "the link is marked broken");
}

#[tokio::test]
async fn sir_throttling_is_ridden_out_and_nothing_is_lost() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    it.sir.faults().retry_after(0);
    it.sir.faults().throttle_next(12);
    let key = it
        .jira
        .create_issue(me, new_issue("Under throttling", "x"))
        .unwrap();
    for i in 0..5 {
        it.jira.comment(me, &key, format!("step {i}")).unwrap();
    }
    let settled = it.settle().await.unwrap();
    let throttled = it.sir.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "SIR did throttle");
    assert!(settled.to_sir.handled > 0);
    let case = it.only_case();
    for i in 0..5 {
        assert_eq!(comments_ending(&case, &format!("step {i}")), 1, "step {i}");
    }
}

#[tokio::test]
async fn an_update_to_the_issue_of_a_closed_case_is_reported_once_and_not_retried() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Closed early", "x"))
        .unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;
    it.sir.close_case(HUMAN_SIR, &case_id).unwrap();
    it.settle().await.unwrap();
    assert_eq!(
        it.jira.issue(&key).unwrap().status,
        "Done",
        "the closure reached Jira"
    );
    let notes_before = it.jira.issue(&key).unwrap().comments.len();

    it.jira.comment(me, &key, "late thought").unwrap();
    it.jira.comment(me, &key, "another late thought").unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert!(
        settled
            .to_sir
            .record_field("outcome")
            .contains(&"CaseClosed".to_owned())
    );
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(
        comments_ending(&case, "late thought"),
        0,
        "a closed case is not changed"
    );
    let texts = jira_comment_texts(&it, &key);
    let reported = texts.iter().filter(|t| t.contains("is closed")).count();
    assert_eq!(reported, 1, "{texts:?}");
    assert_eq!(texts.len(), notes_before + 3);
}

#[tokio::test]
async fn a_comment_edited_in_jira_after_the_case_closed_is_reported_on_the_issue() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Closed with a comment", "x"))
        .unwrap();
    it.settle().await.unwrap();
    let comment = it.jira.comment(me, &key, "first thought").unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;
    assert_eq!(comments_ending(&it.only_case(), "first thought"), 1);
    it.sir.close_case(HUMAN_SIR, &case_id).unwrap();
    it.settle().await.unwrap();
    assert_eq!(it.jira.issue(&key).unwrap().status, "Done");

    it.jira
        .edit_comment(me, &key, &comment, "second thought")
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(
        comments_ending(&case, "first thought"),
        1,
        "a closed case is not changed"
    );
    assert_eq!(comments_ending(&case, "second thought"), 0);
    // The edit will never reach the case, so the people on the issue are told, once.
    let texts = jira_comment_texts(&it, &key);
    let reported = texts.iter().filter(|t| t.contains("is closed")).count();
    assert_eq!(reported, 1, "{texts:?}");
}

#[tokio::test]
async fn a_status_the_case_cannot_take_is_reported_on_the_case() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("AWS decides", "x"))
        .unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;
    it.sir.aws_set_status(&case_id, "Ready to Close").unwrap();
    it.settle().await.unwrap();
    // Ready to Close shows as In Review; moving the issue back to In Progress asks SIR for
    // Detection and Analysis, which a Ready to Close case cannot go back to.
    assert_eq!(it.jira.issue(&key).unwrap().status, "In Review");
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.case_status, "Ready to Close");
    let reports = case
        .comments
        .iter()
        .filter(|c| c.body.contains("cannot follow"))
        .count();
    assert_eq!(reports, 1);
}

#[tokio::test]
async fn round_trip_case_from_sir_commented_in_jira_gets_the_comment_once_and_no_echo() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let case_id = it
        .sir
        .create_case(
            HUMAN_SIR,
            sir_emulator::NewCase {
                title: "Round trip".into(),
                description: "Started in SIR.".into(),
                ..sir_emulator::NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap();
    let key = it.jira.issues()[0].key.clone();
    it.jira.comment(me, &key, "seen from Jira").unwrap();
    it.settle().await.unwrap().assert_clean();
    // A schedule pass too: the poller must not send the copy back.
    it.poller
        .handle(&integration_tests::clients::schedule_tick())
        .await
        .unwrap();
    it.settle().await.unwrap().assert_clean();

    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(comments_ending(&case, "seen from Jira"), 1);
    let texts = jira_comment_texts(&it, &key);
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("seen from Jira"))
            .count(),
        1,
        "no echo back to Jira: {texts:?}"
    );
    assert_eq!(it.jira.issues().len(), 1);
    assert_eq!(it.sir.cases().len(), 1);
}

#[tokio::test]
async fn an_attachment_larger_than_sir_takes_is_reported_on_the_case() {
    let (it, people) = integration_with(IntegrationOptions {
        jira: jira_emulator::JiraEmulatorConfig {
            max_attachment_bytes: 200 * 1024 * 1024,
            ..IntegrationOptions::default().jira
        },
        ..IntegrationOptions::default()
    })
    .await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Big evidence", "x"))
        .unwrap();
    let size = sir_client::MAX_ATTACHMENT_BYTES as usize + 1;
    it.jira
        .attach(me, &key, "disk.img", vec![0u8; size])
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    assert!(
        case.attachments.is_empty(),
        "nothing SIR would refuse was sent"
    );
    let reports: Vec<&str> = case
        .comments
        .iter()
        .map(|c| c.body.as_str())
        .filter(|b| b.contains("disk.img") && b.contains("larger than"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        !it.jira
            .requests()
            .iter()
            .any(|r| r.path.contains("/attachment/content/")),
        "the bytes were never downloaded"
    );
}

/// `len` bytes that differ from position to position (so a dropped, doubled or shifted chunk
/// shows), starting from `seed`.
fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_add((i / 65_536) as u8))
        .collect()
}

#[tokio::test]
async fn a_100_mib_attachment_travels_byte_exact_each_way() {
    let (it, people) = integration_with(IntegrationOptions {
        jira: jira_emulator::JiraEmulatorConfig {
            max_attachment_bytes: 200 * 1024 * 1024,
            ..IntegrationOptions::default().jira
        },
        ..IntegrationOptions::default()
    })
    .await;
    let me = &people.alice.account_id;
    let size = usize::try_from(sir_client::MAX_ATTACHMENT_BYTES).unwrap();

    // Jira → SIR: streamed from the media host Jira redirects to into SIR's upload URL.
    let key = it
        .jira
        .create_issue(me, new_issue("Disk image", "x"))
        .unwrap();
    let from_jira = patterned(size, 7);
    it.jira
        .attach(me, &key, "disk.img", from_jira.clone())
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = case_of(&it, &key);
    assert_eq!(case.attachments.len(), 1);
    assert_eq!(case.attachments[0].attachment_status, "Verified");
    assert!(
        case.attachments[0].bytes == from_jira,
        "byte-exact in SIR ({} bytes stored)",
        case.attachments[0].bytes.len()
    );
    drop(from_jira);

    // SIR → Jira: streamed from SIR's download URL into Jira's multipart upload.
    let from_sir = patterned(size, 13);
    it.sir
        .upload_attachment(HUMAN_SIR, &case.case_id, "memory.dmp", from_sir.clone())
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let issue = it.jira.issue(&key).unwrap();
    let copied: Vec<_> = issue
        .attachments
        .iter()
        .filter(|a| a.filename == "memory.dmp")
        .collect();
    assert_eq!(copied.len(), 1, "uploaded once");
    assert!(
        copied[0].bytes.as_ref() == from_sir.as_slice(),
        "byte-exact in Jira ({} bytes stored)",
        copied[0].bytes.len()
    );
}

/// The case made for `key` (by its `jira-issue-key` tag).
fn case_of(it: &Integration, key: &str) -> CaseRecord {
    let cases: Vec<CaseRecord> = it
        .sir
        .cases()
        .into_iter()
        .filter(|c| c.tags.get("jira-issue-key").map(String::as_str) == Some(key))
        .collect();
    assert_eq!(cases.len(), 1, "one case for {key}");
    cases.into_iter().next().unwrap()
}

/// The pair of `key` is as an uninterrupted create leaves it: one note on each side, and the
/// issue's description as its reporter wrote it (`description_before`).
fn assert_created_like_an_uninterrupted_create(
    it: &Integration,
    key: &str,
    description_before: Option<&serde_json::Value>,
) {
    let case = case_of(it, key);
    let origin_notes = case
        .comments
        .iter()
        .filter(|c| {
            c.body
                .contains(&format!("was created from Jira issue {key}"))
        })
        .count();
    assert_eq!(
        origin_notes, 1,
        "{key}: the case says once where it came from"
    );
    let texts = jira_comment_texts(it, key);
    let case_notes = texts
        .iter()
        .filter(|t| t.contains(&case.case_id) && t.contains("was created for this issue"))
        .count();
    assert_eq!(
        case_notes, 1,
        "{key}: the issue names its case once: {texts:?}"
    );
    let issue = it.jira.issue(key).unwrap();
    assert_eq!(
        issue.description.as_ref(),
        description_before,
        "{key}: the Jira-born description is untouched"
    );
}

/// Creates an issue, then `fault` on the SIR side, settles; checks the pair.
async fn create_with_sir_fault(fault: impl FnOnce(&sir_emulator::Faults)) {
    let (it, people) = integration().await;
    // On the heap: the whole integration would otherwise sit in this future's state.
    let it = Box::new(it);
    it.sir.faults().retry_after(0);
    fault(&it.sir.faults());
    let key = it
        .jira
        .create_issue(
            &people.alice.account_id,
            new_issue("Half-failed create", "Written by the reporter."),
        )
        .unwrap();
    let description = it.jira.issue(&key).unwrap().description;
    let settled = it.settle().await.unwrap();
    assert!(
        !settled.to_sir.errors.is_empty(),
        "the first delivery failed after CreateCase"
    );
    assert_eq!(it.jira.issues().len(), 1);
    assert_created_like_an_uninterrupted_create(&it, &key, description.as_ref());
}

#[tokio::test]
async fn a_create_that_stopped_right_after_create_case_ends_like_an_uninterrupted_one() {
    // Three failed attempts: the SDK retries a call twice on its own.
    create_with_sir_fault(|faults| faults.fail_after("CreateCase", 429, 3)).await;
}

#[tokio::test]
async fn a_create_that_stopped_before_its_note_on_the_case_ends_like_an_uninterrupted_one() {
    // After CreateCase, sir-client's first read of the case; the next call is the case's note.
    create_with_sir_fault(|faults| faults.fail_after("GetCase", 429, 3)).await;
}

#[tokio::test]
async fn issues_created_while_sir_throttles_half_the_calls_end_like_uninterrupted_creates() {
    let (it, people) = integration().await;
    it.sir.faults().retry_after(0);
    it.sir.faults().throttle_share(0.5);
    let mut created = Vec::new();
    for i in 0..4 {
        let key = it
            .jira
            .create_issue(
                &people.alice.account_id,
                new_issue(
                    &format!("Throttled {i}"),
                    &format!("Reporter's own text {i}."),
                ),
            )
            .unwrap();
        let description = it.jira.issue(&key).unwrap().description;
        created.push((key, description));
    }
    it.settle().await.unwrap();
    let throttled = it.sir.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "SIR did throttle");
    // Whatever is still retrying finishes once SIR stops throttling.
    it.sir.faults().clear();
    it.settle().await.unwrap();
    assert_eq!(it.jira.issues().len(), created.len());
    assert_eq!(it.sir.cases().len(), created.len());
    for (key, description) in &created {
        assert_created_like_an_uninterrupted_create(&it, key, description.as_ref());
    }
}

#[tokio::test]
async fn a_status_change_sir_refuses_is_reported_once_and_the_comments_still_reach_the_case() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Refused move", "x"))
        .unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;
    let refusal = "Case status transition is not allowed for this case";
    it.sir.faults().refuse("UpdateCaseStatus", refusal);

    // Delivered by hand, so the very same event can be delivered again.
    it.set_jira_push(false);
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    it.jira
        .comment(me, &key, "copied despite the refusal")
        .unwrap();
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    // Published now: a message older than the last re-read of the issue is coalesced.
    let now = aws_sdk_securityir::primitives::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_sdk_securityir::primitives::DateTimeFormat::DateTime)
        .unwrap();
    let notification = serde_json::json!({
        "Type": "Notification",
        "MessageId": "refused-1",
        "TopicArn": format!("arn:aws:sns:{}:{}:jira-automation",
            integration_tests::world::REGION, integration_tests::world::ACCOUNT),
        "Message": message,
        "Timestamp": now,
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.example/cert.pem",
        "UnsubscribeURL": "https://sns.example/unsubscribe",
    });
    it.notifications
        .handle(sns_event(&notification).unwrap())
        .await
        .unwrap();
    let envelopes = it
        .world
        .receive(&it.to_sir, 1, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(envelopes[0].clone()).unwrap();
    let applied = it.sir_client.handle(event.clone()).await.unwrap();
    assert_eq!(applied.items_refused.len(), 1, "{applied:?}");
    assert_eq!(applied.comments_added, 1);
    let again = it.sir_client.handle(event).await.unwrap();
    assert_eq!(again.notes, 0, "a redelivery reports nothing again");
    it.set_jira_push(true);
    it.settle().await.unwrap();

    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.case_status, "Submitted", "SIR refused the move");
    assert_eq!(comments_ending(&case, "copied despite the refusal"), 1);
    let texts = jira_comment_texts(&it, &key);
    let reports: Vec<&String> = texts.iter().filter(|t| t.contains(refusal)).collect();
    assert_eq!(reports.len(), 1, "{texts:?}");
    assert!(
        reports[0].contains("In Progress"),
        "names the item: {reports:?}"
    );
}

#[tokio::test]
async fn a_comment_sir_refuses_is_reported_once_and_the_other_changes_still_reach_the_case() {
    let (it, people) = integration().await;
    let me = &people.alice.account_id;
    let key = it
        .jira
        .create_issue(me, new_issue("Refused comment", "x"))
        .unwrap();
    it.settle().await.unwrap();
    let case_id = it.only_case().case_id;
    let refusal = "Comment body contains content that is not allowed";
    it.sir.faults().refuse("CreateCaseComment", refusal);

    it.jira.comment(me, &key, "SIR will not take this").unwrap();
    it.jira
        .edit_issue(
            me,
            &key,
            IssueEdit {
                summary: Some("Refused comment (retitled)".into()),
                description: None,
                labels: None,
            },
        )
        .unwrap();
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();

    let case = it.sir.case(&case_id).unwrap();
    assert_eq!(case.title, "Refused comment (retitled)");
    assert_eq!(case.case_status, "Detection and Analysis");
    assert_eq!(comments_ending(&case, "SIR will not take this"), 0);
    let texts = jira_comment_texts(&it, &key);
    let reports = texts.iter().filter(|t| t.contains(refusal)).count();
    assert_eq!(reports, 1, "one note for the refused comment: {texts:?}");
}

/// A description a reporter wrote in Jira: sections of headings, bullet lists with bold text
/// and links, and code blocks, about 20,000 characters as read.
fn rich_description() -> serde_json::Value {
    use serde_json::json;
    let mut content = Vec::new();
    let mut section = 0;
    loop {
        let doc = json!({"type": "doc", "version": 1, "content": content});
        if shared::adf::adf_to_text(&doc).chars().count() >= 20_000 {
            return doc;
        }
        section += 1;
        content.extend([
            json!({"type": "heading", "attrs": {"level": 2},
                   "content": [{"type": "text", "text": format!("Finding {section}")}]}),
            json!({"type": "paragraph", "content": [
                {"type": "text", "text": "Host "},
                {"type": "text", "text": format!("web-{section}"), "marks": [{"type": "strong"}]},
                {"type": "text", "text": " called out to a known C2 address; see the "},
                {"type": "text", "text": "runbook", "marks": [{"type": "link",
                    "attrs": {"href": format!("https://wiki.example.com/runbook/{section}")}}]},
                {"type": "text", "text": ". Containment was started and the on-call team paged."}
            ]}),
            json!({"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "Isolated", "marks": [{"type": "em"}]},
                    {"type": "text", "text": " the instance's security group at 10:0{section}"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "Rotated the role's keys and revoked its sessions"}]}]}
            ]}),
            json!({"type": "codeBlock", "attrs": {"language": "bash"}, "content": [
                {"type": "text", "text": format!(
                    "aws ec2 modify-instance-attribute --instance-id i-{section:017x} --groups sg-0quarantine")}]}),
        ]);
    }
}

/// The top-level nodes of an issue's description.
fn description_nodes(it: &Integration, key: &str) -> Vec<serde_json::Value> {
    let description = it.jira.issue(key).unwrap().description.unwrap();
    description["content"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_details_change_in_sir_rewrites_only_the_details_block_of_a_rich_jira_born_description() {
    let (it, people) = integration().await;
    let rich = rich_description();
    let written = rich["content"].as_array().unwrap().clone();
    let key = it
        .jira
        .create_issue(
            &people.alice.account_id,
            NewIssue {
                description: Some(rich.clone().into()),
                ..NewIssue::new("Long rich report")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    assert!(
        case.description.ends_with(&format!(
            "[Cut to fit SIR; the full text is in Jira issue {key}.]"
        )),
        "SIR holds a clipped, flattened copy"
    );
    assert_eq!(
        description_nodes(&it, &key),
        written,
        "linking writes nothing"
    );

    for (account, accounts) in [
        ("999988887777", "Impacted accounts: 999988887777"),
        (
            "111122223333",
            "Impacted accounts: 111122223333, 999988887777",
        ),
    ] {
        it.sir
            .update_case(
                HUMAN_SIR,
                &case.case_id,
                sir_emulator::CaseUpdate {
                    impacted_accounts_to_add: vec![account.into()],
                    ..sir_emulator::CaseUpdate::default()
                },
            )
            .unwrap();
        let settled = it.settle().await.unwrap();
        settled.assert_clean();
        let nodes = description_nodes(&it, &key);
        assert_eq!(nodes.len(), written.len() + 1, "one block, appended once");
        assert_eq!(
            nodes[..written.len()],
            written[..],
            "every node kept as written"
        );
        let block = nodes.last().unwrap();
        assert_eq!(block["type"], "panel");
        let block_text = shared::adf::adf_to_text(
            &serde_json::json!({"type": "doc", "version": 1, "content": [block]}),
        );
        assert!(block_text.contains(accounts), "{block_text}");
        assert!(block_text.contains(&format!("Case ID: {}", case.case_id)));
        assert_eq!(
            it.sir.case(&case.case_id).unwrap().description,
            case.description,
            "the block never travels back to SIR"
        );
        assert!(settled.to_sir.record_field("outcome").is_empty());
    }
}
