//! Jira Automation: the SNS message after each change reaches an SQS queue subscribed to the
//! topic in moto; nothing when disabled; forged messages go out as given.

use std::time::Duration;

use jira_emulator::{IssueEdit, JiraEmulatorConfig, NewIssue, SnsTarget, User};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::support::{Jira, TopicQueue, adf, topic_with_queue};

const WAIT: Duration = Duration::from_secs(15);

async fn jira_publishing_to(queue: &TopicQueue) -> Jira {
    Jira::start_with(JiraEmulatorConfig {
        sns: Some(queue.target.clone()),
        ..JiraEmulatorConfig::default()
    })
    .await
}

fn parsed(messages: &[String]) -> Vec<Value> {
    messages
        .iter()
        .map(|message| serde_json::from_str(message).unwrap())
        .collect()
}

#[tokio::test]
async fn changes_by_the_integration_publish_the_issue_key() {
    let queue = topic_with_queue().await;
    let jira = jira_publishing_to(&queue).await;
    let key = jira.create("Automation", &[]).await;
    jira.put(
        &format!("/issue/{key}"),
        &json!({"update": {"labels": [{"add": "x"}]}}),
    )
    .send()
    .await
    .unwrap();
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("hi")}),
    )
    .send()
    .await
    .unwrap();
    jira.post(
        &format!("/issue/{key}/transitions"),
        &json!({"transition": {"id": "11"}}),
    )
    .send()
    .await
    .unwrap();
    jira.request(Method::POST, &jira.v3(&format!("/issue/{key}/attachments")))
        .header("X-Atlassian-Token", "no-check")
        .multipart(Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("x.txt")))
        .send()
        .await
        .unwrap();
    jira.delete(&format!("/issue/{key}")).send().await.unwrap();

    let messages = parsed(&queue.receive(6, WAIT).await);
    let me = jira.emulator.integration_account_id();
    let changed = json!({"automationData": {"IssueId": key, "Initiator": me}});
    assert_eq!(
        messages,
        [
            changed.clone(),
            changed.clone(),
            changed.clone(),
            changed.clone(),
            changed,
            json!({"automationData": {"IssueId": key, "Event": "issue_deleted", "Initiator": me}}),
        ]
    );
    assert_eq!(jira.emulator.automation().published().len(), 6);
}

#[tokio::test]
async fn changes_by_a_human_publish_too_but_watchers_and_no_op_edits_do_not() {
    let queue = topic_with_queue().await;
    let jira = jira_publishing_to(&queue).await;
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = jira
        .emulator
        .create_issue(&ann.account_id, NewIssue::new("Human"))
        .unwrap();
    let automation = jira.emulator.automation();
    assert!(automation.wait_idle(WAIT).await);
    jira.emulator
        .add_watcher(&key, &jira.emulator.integration_account_id())
        .unwrap();
    jira.emulator
        .edit_issue(
            &ann.account_id,
            &key,
            IssueEdit {
                summary: Some("Human".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    jira.emulator
        .edit_issue(
            &ann.account_id,
            &key,
            IssueEdit {
                description: Some("Now described".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    jira.emulator
        .comment(&ann.account_id, &key, "note")
        .unwrap();
    jira.emulator
        .transition_to(&ann.account_id, &key, "Done")
        .unwrap();
    jira.emulator.delete_issue(&ann.account_id, &key).unwrap();
    assert!(automation.wait_idle(WAIT).await);

    // create, description, comment, three hops, delete
    let messages = parsed(&queue.receive(7, WAIT).await);
    assert_eq!(messages.len(), 7);
    assert!(
        messages
            .iter()
            .all(|message| message["automationData"]["IssueId"] == key.as_str())
    );
    assert_eq!(messages[6]["automationData"]["Event"], "issue_deleted");
    assert_eq!(automation.failure_count(), 0);
}

#[tokio::test]
async fn nothing_is_published_while_automation_is_disabled() {
    let queue = topic_with_queue().await;
    let jira = jira_publishing_to(&queue).await;
    let automation = jira.emulator.automation();
    automation.set_enabled(false);
    let key = jira.create("Quiet", &[]).await;
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("shh")}),
    )
    .send()
    .await
    .unwrap();
    assert!(automation.wait_idle(WAIT).await);
    assert!(queue.receive(1, Duration::from_secs(2)).await.is_empty());
    assert!(automation.published().is_empty());

    automation.set_enabled(true);
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("loud")}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(queue.receive(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_forged_message_is_published_exactly_as_given() {
    let queue = topic_with_queue().await;
    let jira = jira_publishing_to(&queue).await;
    let automation = jira.emulator.automation();
    automation.set_enabled(false);
    let forged = r#"{"automationData":{"IssueId":"OTHER-1; DROP TABLE"}}"#;
    automation.publish_forged(forged);
    assert_eq!(queue.receive(1, WAIT).await, [forged.to_owned()]);
}

#[tokio::test]
async fn a_publishing_failure_is_counted_and_does_not_fail_the_request() {
    let queue = topic_with_queue().await;
    let jira = Jira::start_with(JiraEmulatorConfig {
        sns: Some(SnsTarget {
            topic_arn: format!("{}-missing", queue.target.topic_arn),
            ..queue.target.clone()
        }),
        ..JiraEmulatorConfig::default()
    })
    .await;
    let key = jira.create("Still created", &[]).await;
    let automation = jira.emulator.automation();
    assert!(automation.wait_idle(WAIT).await);
    assert_eq!(automation.failure_count(), 1);
    assert!(automation.published().is_empty());
    assert!(jira.emulator.issue(&key).is_some());
}

#[tokio::test]
async fn an_initiator_condition_stops_the_rules_for_that_account_only() {
    let queue = topic_with_queue().await;
    let jira = jira_publishing_to(&queue).await;
    let automation = jira.emulator.automation();
    automation.set_skip_initiator(Some(jira.emulator.integration_account_id()));
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    // The integration's own create and comment stop at the condition.
    let key = jira.create("Ours", &[]).await;
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("copied from SIR")}),
    )
    .send()
    .await
    .unwrap();
    // A person's comment goes out.
    jira.emulator
        .comment(&ann.account_id, &key, "a person's note")
        .unwrap();
    assert!(automation.wait_idle(WAIT).await);
    let messages = parsed(&queue.receive(1, WAIT).await);
    assert_eq!(
        messages,
        [json!({"automationData": {"IssueId": key, "Initiator": ann.account_id}})]
    );
    assert_eq!(automation.published().len(), 1);
    assert_eq!(automation.stopped_at_condition(), 2);

    // Through the admin API too, and removed again.
    let admin = reqwest::Client::new();
    let url = format!("{}/_emulator/automation", jira.emulator.base_url());
    admin
        .put(&url)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("ours again")}),
    )
    .send()
    .await
    .unwrap();
    assert!(automation.wait_idle(WAIT).await);
    assert_eq!(automation.published().len(), 2);
    assert_eq!(automation.stopped_at_condition(), 2);
    let messages = parsed(&queue.receive(1, WAIT).await);
    assert_eq!(
        messages,
        [
            json!({"automationData": {"IssueId": key, "Initiator": jira.emulator.integration_account_id()}})
        ]
    );

    // Rules made before the README asked for `Initiator` send the key only.
    admin
        .put(&url)
        .json(&json!({"enabled": true, "namesInitiator": false}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    jira.emulator
        .comment(&ann.account_id, &key, "another note")
        .unwrap();
    assert!(automation.wait_idle(WAIT).await);
    let messages = parsed(&queue.receive(1, WAIT).await);
    assert_eq!(messages, [json!({"automationData": {"IssueId": key}})]);
}
