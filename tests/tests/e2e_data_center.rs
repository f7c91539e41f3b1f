//! Jira Data Center end to end: the Jira emulator runs as a Data Center site (REST v2 only,
//! personal access tokens, users by user name, wiki markup, `/search` paged by `startAt`, no
//! Automation to SNS), the integration is configured for it as deploy.sh configures it, and
//! Jira's changes arrive by signed webhook. The text checks read what the emulator's own wiki
//! parser made of what the integration wrote, so a markup mistake shows as a wrong text.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::{Intake, Integration, IntegrationOptions};
use std::time::Duration;

use jira_emulator::{Deployment, JiraEmulatorConfig, NewIssue, User, WebhookSettings};
use serde_json::{Value, json};
use shared::adf::adf_to_text;
use sir_emulator::{CaseUpdate, NewCase, Watcher};

const HUMAN: &str = "human";

fn data_center() -> IntegrationOptions {
    IntegrationOptions {
        intake: Intake::Webhook,
        jira: JiraEmulatorConfig {
            deployment: Deployment::DataCenter,
            ..JiraEmulatorConfig::default()
        },
        ..IntegrationOptions::default()
    }
}

async fn data_center_world() -> (Integration, User) {
    let it = Integration::start_with(data_center()).await.unwrap();
    // Jira retries a delivery answered 429 or 5xx; soon, so that a settle sees it.
    it.jira.webhooks().set_settings(WebhookSettings {
        first_retry_after: Duration::from_millis(300),
        ..WebhookSettings::default()
    });
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    (it, alice)
}

/// What a reader of the issue sees as its description (the emulator's reading of the wiki).
fn description_text(it: &Integration, key: &str) -> String {
    adf_to_text(
        &it.jira
            .issue(key)
            .unwrap()
            .description
            .unwrap_or(Value::Null),
    )
}

/// Every request the integration made went to REST v2 or to Data Center's attachment path.
fn assert_only_data_center_paths(it: &Integration) {
    let requests = it.jira.requests();
    assert!(!requests.is_empty());
    let stray: Vec<_> = requests
        .iter()
        .filter(|r| !r.path.starts_with("/rest/api/2/") && !r.path.starts_with("/secure/"))
        .collect();
    assert!(stray.is_empty(), "{stray:#?}");
    // Signed in every time; nothing asked of an API Data Center lacks (an unset issue
    // property is the one 404 the integration expects).
    let refused: Vec<_> = requests
        .iter()
        .filter(|r| r.status == 401 || (r.status == 404 && !r.path.contains("/properties/")))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
}

#[tokio::test]
async fn a_case_reaches_jira_data_center_as_wiki_markup_with_its_watcher_comments_and_closure() {
    let (it, _alice) = data_center_world().await;
    let ann = it
        .jira
        .add_user(User::new("Ann Responder", "ann@example.com"));
    assert_eq!(
        ann.account_id, "ann",
        "Data Center names users by user name"
    );
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Leaked *access* key".into(),
                description: "Rotate key_id [AKIA…] now.\n- not a list\n{code} is text".into(),
                watchers: vec![Watcher::email("ann@example.com")],
                ..NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.summary, "Leaked *access* key");
    let description = description_text(&it, &key);
    assert!(
        description.starts_with("Rotate key_id [AKIA…] now.\n- not a list\n{code} is text"),
        "the text reads as SIR wrote it: {description:?}"
    );
    assert!(
        description.contains(&case_id),
        "the details block is there: {description:?}"
    );
    assert!(issue.watchers.contains(&ann.account_id), "{issue:#?}");

    it.sir
        .add_comment(HUMAN, &case_id, "Blocked *all* logins from 203.0.113.7")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let comments: Vec<String> = it
        .jira
        .issue(&key)
        .unwrap()
        .comments
        .iter()
        .map(|c| adf_to_text(&c.body))
        .collect();
    assert!(
        comments
            .iter()
            .any(|c| c.contains("Blocked *all* logins from 203.0.113.7")),
        "{comments:#?}"
    );

    it.sir.close_case(HUMAN, &case_id).unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&key).unwrap().status, "Done");
    assert_only_data_center_paths(&it);
    assert!(
        it.jira.automation().published().is_empty(),
        "Data Center has no Automation action to SNS"
    );
}

#[tokio::test]
async fn wiki_a_person_writes_in_data_center_reaches_sir_as_plain_text_by_signed_webhook() {
    let (it, alice) = data_center_world().await;
    it.jira
        .add_api_token(&alice.account_id, "alice@example.com", "alice-pat")
        .unwrap();
    let key = it
        .jira
        .create_issue(
            &alice.account_id,
            NewIssue {
                description: Some("Found by the SOC.".into()),
                ..NewIssue::new("Phishing wave")
            },
        )
        .unwrap();
    let created = it.settle().await.unwrap();
    created.assert_clean();
    let case = it.only_case();
    assert_eq!(case.title, "Phishing wave");
    // The webhooks of the integration's own writes (its note on the new issue) name it by user
    // name: they are dropped unread.
    let own = created
        .notifications
        .responses
        .iter()
        .filter(|r| r["body"]["outcome"] == "OwnChange")
        .count();
    assert!(own >= 1, "{:#?}", created.notifications.responses);
    assert_eq!(case.description, "Found by the SOC.");

    // Alice comments in the Jira UI, in wiki markup (sent here through REST v2 with her PAT).
    let response = reqwest::Client::new()
        .post(format!(
            "{}/rest/api/2/issue/{key}/comment",
            it.jira.base_url()
        ))
        .bearer_auth("alice-pat")
        .json(&json!({"body": "*Blocked* the [sender domain|https://mail.example.com]."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    it.jira
        .attach(
            &alice.account_id,
            &key,
            "headers.txt",
            b"Received: x".to_vec(),
        )
        .unwrap();
    it.jira
        .transition_to(&alice.account_id, &key, "Done")
        .unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();

    let case = it.sir.case(&case.case_id).unwrap();
    let copy = case
        .comments
        .iter()
        .find(|c| c.body.contains("Blocked"))
        .unwrap_or_else(|| panic!("{:#?}", case.comments));
    assert!(
        copy.body.contains("Blocked the sender domain"),
        "markup gone: {}",
        copy.body
    );
    assert!(!copy.body.contains("*Blocked*"), "{}", copy.body);
    assert!(copy.body.contains("Alice Analyst"), "{}", copy.body);
    assert_eq!(case.attachments.len(), 1, "{:#?}", case.attachments);
    assert_eq!(case.attachments[0].bytes, b"Received: x".to_vec());
    assert_eq!(case.case_status, "Closed");
    assert_only_data_center_paths(&it);
}

#[tokio::test]
async fn the_jira_sweep_and_reconciler_search_data_center_by_start_at() {
    let (it, alice) = data_center_world().await;
    for n in 0..3 {
        it.jira
            .create_issue(&alice.account_id, NewIssue::new(format!("Issue {n}")))
            .unwrap();
    }
    it.settle().await.unwrap().assert_clean();
    it.jira.clear_requests();
    let swept = it.sweep_jira().await.unwrap();
    let searches: Vec<_> = it
        .jira
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/search"))
        .collect();
    assert!(!searches.is_empty(), "{swept:#?}");
    assert!(
        searches
            .iter()
            .all(|r| r.path == "/rest/api/2/search" && r.status == 200),
        "{searches:#?}"
    );
    assert_only_data_center_paths(&it);
}

/// The description's wiki markup as Data Center holds it.
async fn raw_description(it: &Integration, key: &str) -> String {
    let issue: Value = reqwest::Client::new()
        .get(format!(
            "{}/rest/api/2/issue/{key}?fields=description",
            it.jira.base_url()
        ))
        .bearer_auth("integration-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issue["fields"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn markup_a_person_wrote_above_the_details_block_is_kept_as_written_when_the_block_changes() {
    let (it, alice) = data_center_world().await;
    it.jira
        .add_api_token(&alice.account_id, "alice@example.com", "alice-pat")
        .unwrap();
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                title: "Rich description".into(),
                description: "Two hosts.".into(),
                ..NewCase::default()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let block = raw_description(&it, &key)
        .await
        .split_once("\n\n")
        .map(|(_, block)| block.to_owned())
        .unwrap();
    assert!(block.contains(&case_id), "{block:?}");

    // Alice rewrites the text above the block in markup that does not survive a trip through
    // ADF: a colour, a panel title, an app's macro.
    let written = "{color:red}*Urgent*{color}: see {panel:title=Scope}two hosts{panel}\n\n\
                   {status:colour=Red|title=Blocked} and -gone- text";
    let response = reqwest::Client::new()
        .put(format!("{}/rest/api/2/issue/{key}", it.jira.base_url()))
        .bearer_auth("alice-pat")
        .json(&json!({"fields": {"description": format!("{written}\n\n{block}")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    it.settle().await.unwrap().assert_clean();

    // Impacted accounts change in SIR: jira-client writes a new details block each time.
    for account in ["111122223333", "444455556666"] {
        let update = CaseUpdate {
            impacted_accounts_to_add: vec![account.into()],
            ..CaseUpdate::default()
        };
        it.sir.update_case(HUMAN, &case_id, update).unwrap();
        it.settle().await.unwrap().assert_clean();
        let raw = raw_description(&it, &key).await;
        assert!(
            raw.starts_with(&format!("{written}\n\n")),
            "kept as written: {raw:?}"
        );
        assert!(raw.contains(account), "the block changed: {raw:?}");
        assert_eq!(
            raw.matches(&case_id).count(),
            block.matches(&case_id).count()
        );
    }
}
