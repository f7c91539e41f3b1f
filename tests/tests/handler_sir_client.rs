//! sir-client's handler, fed the `jira` rule's events of the real wiring (moto, the Jira and SIR
//! emulators): two deliveries of one IssueCreated at once, and a crash after CreateCase but
//! before the link write, make one case and write each note and comment once; a write whose
//! answer was lost after SIR or Jira made it (a note on the issue, a SIR comment, an upload) is
//! found by the redelivery, not made twice.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::{Integration, sns_event, sns_event_with};
use jira_emulator::{NewIssue, User};
use serde_json::Value;
use shared::error::LambdaError;
use sir_emulator::CaseRecord;

/// The integration, with Alice, a Jira user who works the issues (visible e-mail).
async fn integration() -> (Integration, User) {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "Alice@Example.com"));
    (it, alice)
}

fn new_issue(summary: &str, description: &str) -> NewIssue {
    NewIssue {
        description: Some(description.into()),
        ..NewIssue::new(summary)
    }
}

fn comments_ending(case: &CaseRecord, text: &str) -> usize {
    case.comments
        .iter()
        .filter(|c| c.body.ends_with(text))
        .count()
}

#[tokio::test]
async fn concurrent_and_crashed_deliveries_to_sir_client_make_one_case() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it.jira.create_issue(me, new_issue("Raced", "x")).unwrap();
    it.jira.comment(me, &key, "copied once").unwrap();
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    it.notifications
        .handle(sns_event_with("m-1", &message))
        .await
        .unwrap();
    let envelopes = it
        .world
        .receive(&it.to_sir, 1, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        serde_json::from_value(envelopes[0].clone()).unwrap();
    assert_eq!(event.detail_type, "IssueCreated");

    let (a, b) = tokio::join!(
        it.sir_client.handle(event.clone()),
        it.sir_client.handle(event.clone())
    );
    let results = [a, b];
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert!(created >= 1, "{results:?}");
    for result in &results {
        if let Err(err) = result {
            assert!(err.is_retryable(), "the loser is retried: {err}");
        }
    }
    assert_eq!(it.sir.cases().len(), 1);

    // A crash after CreateCase but before the link: the retry gets the same case back by its
    // clientToken, and no note or comment is written twice.
    let case_id = it.only_case().case_id;
    it.world
        .dynamodb
        .transact_write_items()
        .transact_items(delete_link_item(&it, &format!("ISSUE#{key}")))
        .transact_items(delete_link_item(&it, &format!("CASE#{case_id}")))
        .send()
        .await
        .unwrap();
    let again = it.sir_client.handle(event).await.unwrap();
    assert_eq!(again.case_id.as_deref(), Some(case_id.as_str()));
    let case = it.only_case();
    assert_eq!(comments_ending(&case, "copied once"), 1);
    assert_eq!(
        case.comments
            .iter()
            .filter(|c| c.body.contains("was created from Jira"))
            .count(),
        1
    );
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.comments.len(), 2, "the human's comment and one note");
}

fn delete_link_item(it: &Integration, pk: &str) -> aws_sdk_dynamodb::types::TransactWriteItem {
    use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(&it.world.table_name)
                .key("PK", AttributeValue::S(pk.to_owned()))
                .key("SK", AttributeValue::S("LINK".to_owned()))
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn a_case_created_note_whose_answer_was_lost_is_posted_once_on_the_issue() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Lost note", "x"))
        .unwrap();
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    it.notifications
        .handle(sns_event_with("m-1", &message))
        .await
        .unwrap();
    let envelopes = it
        .world
        .receive(&it.to_sir, 1, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        serde_json::from_value(envelopes[0].clone()).unwrap();

    // Jira applies the note and its answer is lost: the delivery fails before the issue notes
    // record it; the retry finds the note by its marker instead of posting it again.
    it.jira
        .faults()
        .fail_after_applying("POST", "/comment", 504);
    let failed = it.sir_client.handle(event.clone()).await;
    assert!(failed.is_err(), "{failed:?}");
    it.sir_client.handle(event).await.unwrap();

    let issue = it.jira.issue(&key).unwrap();
    let notes = issue
        .comments
        .iter()
        .filter(|c| shared::adf::adf_to_text(&c.body).contains("was created for this issue"))
        .count();
    assert_eq!(notes, 1);
    assert_eq!(issue.comments.len(), 1);
    assert_eq!(
        issue.properties["sir-integration-from-jira"]["caseAnnounced"],
        serde_json::json!(true)
    );
    let case = it.only_case();
    assert_eq!(
        case.comments
            .iter()
            .filter(|c| c.body.contains("was created from Jira"))
            .count(),
        1
    );
}

/// The event the notifications handler publishes for `key` now (Automation off: the test
/// delivers the message, `message_id` unique per message).
async fn event_for(
    it: &Integration,
    key: &str,
    message_id: &str,
) -> aws_lambda_events::eventbridge::EventBridgeEvent<Value> {
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    // Published now: a message older than the last re-read of the issue is coalesced.
    let now = aws_sdk_securityir::primitives::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_sdk_securityir::primitives::DateTimeFormat::DateTime)
        .unwrap();
    let notification = serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id,
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
    serde_json::from_value(envelopes[0].clone()).unwrap()
}

/// Delivers `event` with the answer to the next Jira comment post lost after Jira made it, then
/// again, as Lambda retries it.
async fn lose_the_note_answer_then_redeliver(
    it: &Integration,
    event: aws_lambda_events::eventbridge::EventBridgeEvent<Value>,
) {
    it.jira
        .faults()
        .fail_after_applying("POST", "/comment", 504);
    let failed = it.sir_client.handle(event.clone()).await;
    assert!(failed.is_err(), "{failed:?}");
    it.sir_client.handle(event).await.unwrap();
}

fn issue_comments_containing(it: &Integration, key: &str, text: &str) -> usize {
    it.jira
        .issue(key)
        .unwrap()
        .comments
        .iter()
        .filter(|c| shared::adf::adf_to_text(&c.body).contains(text))
        .count()
}

#[tokio::test]
async fn a_refusal_note_whose_answer_was_lost_is_posted_once_on_the_issue() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Refused move", "x"))
        .unwrap();
    it.sir_client
        .handle(event_for(&it, &key, "m-1").await)
        .await
        .unwrap();
    it.sir
        .faults()
        .refuse("UpdateCaseStatus", "The case cannot move now.");
    it.jira.transition_to(me, &key, "In Progress").unwrap();
    let event = event_for(&it, &key, "m-2").await;
    assert_eq!(event.detail_type, "IssueUpdated");

    lose_the_note_answer_then_redeliver(&it, event).await;
    assert_eq!(
        issue_comments_containing(&it, &key, "The case cannot move now."),
        1
    );
}

#[tokio::test]
async fn a_closed_case_note_whose_answer_was_lost_is_posted_once_on_the_issue() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Closed early", "x"))
        .unwrap();
    it.sir_client
        .handle(event_for(&it, &key, "m-1").await)
        .await
        .unwrap();
    it.sir.close_case("human", &it.only_case().case_id).unwrap();
    it.jira.comment(me, &key, "one more thing").unwrap();
    let event = event_for(&it, &key, "m-2").await;

    lose_the_note_answer_then_redeliver(&it, event).await;
    assert_eq!(
        issue_comments_containing(&it, &key, "is closed, so changes"),
        1
    );
}

#[tokio::test]
async fn sir_comments_whose_answers_were_lost_are_made_once_by_their_client_token() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Lost SIR answer", "x"))
        .unwrap();
    it.jira.comment(me, &key, "copied once").unwrap();
    let event = event_for(&it, &key, "m-1").await;

    // SIR makes the comment and every answer the SDK gets (its retries included) is lost.
    it.sir.faults().lose_answers("CreateCaseComment", 500, 3);
    let failed = it.sir_client.handle(event.clone()).await;
    assert!(failed.is_err(), "{failed:?}");
    it.sir_client.handle(event).await.unwrap();

    let case = it.only_case();
    assert_eq!(comments_ending(&case, "copied once"), 1);
    assert_eq!(
        case.comments
            .iter()
            .filter(|c| c.body.contains("was created from Jira"))
            .count(),
        1
    );
    assert_eq!(case.comments.len(), 2);
}

#[tokio::test]
async fn an_attachment_whose_upload_url_answer_was_lost_arrives_once_with_its_bytes() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Lost upload", "x"))
        .unwrap();
    let bytes = b"pcap excerpt".to_vec();
    it.jira
        .attach(me, &key, "capture.pcap", bytes.clone())
        .unwrap();
    let event = event_for(&it, &key, "m-1").await;

    // SIR lists a Pending attachment from the request on; the bytes never went.
    it.sir
        .faults()
        .lose_answers("GetCaseAttachmentUploadUrl", 500, 3);
    let failed = it.sir_client.handle(event.clone()).await;
    assert!(failed.is_err(), "{failed:?}");
    it.sir_client.handle(event).await.unwrap();

    let case = it.only_case();
    assert_eq!(case.attachments.len(), 1, "{:?}", case.attachments);
    assert_eq!(case.attachments[0].attachment_status, "Verified");
    assert_eq!(case.attachments[0].bytes, bytes);
}

#[tokio::test]
async fn a_comment_edited_between_a_lost_copy_and_its_retry_has_one_copy_with_the_new_text() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("Edited meanwhile", "x"))
        .unwrap();
    it.sir_client
        .handle(event_for(&it, &key, "m-1").await)
        .await
        .unwrap();
    let comment = it.jira.comment(me, &key, "first words").unwrap();
    let event = event_for(&it, &key, "m-2").await;

    // SIR makes the copy, its answers are lost; then the comment is edited in Jira. The retry
    // sends the same clientToken with the new text: SIR answers ConflictException, as AWS does.
    it.sir.faults().lose_answers("CreateCaseComment", 500, 3);
    assert!(it.sir_client.handle(event.clone()).await.is_err());
    it.jira
        .edit_comment(me, &key, &comment, "second thoughts")
        .unwrap();
    it.sir_client.handle(event).await.unwrap();

    let case = it.only_case();
    assert_eq!(comments_ending(&case, "first words"), 0);
    assert_eq!(comments_ending(&case, "second thoughts"), 1);
    let copies = case
        .comments
        .iter()
        .filter(|c| c.body.starts_with(&format!("[Jira {key}] Comment by")))
        .count();
    assert_eq!(copies, 1);
}
