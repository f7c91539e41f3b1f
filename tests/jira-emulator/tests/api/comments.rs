//! Comments: ADF bodies, paging with startAt/maxResults/total, edits, comment properties.

use jira_emulator::NewIssue;
use std::time::Duration;

use serde_json::json;

use crate::support::{Jira, adf, json_of};

#[tokio::test]
async fn comments_page_with_start_at_max_results_and_total() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira
        .emulator
        .create_issue(&owner, NewIssue::new("Chatty"))
        .unwrap();
    for n in 0..65 {
        jira.emulator
            .comment(&owner, &key, format!("comment {n}"))
            .unwrap();
    }
    let page = |start_at: u32, max_results: u32| {
        jira.get(&format!("/issue/{key}/comment"))
            .query(&[("startAt", start_at), ("maxResults", max_results)])
            .send()
    };
    let first = json_of(page(0, 30).await.unwrap()).await;
    assert_eq!(first["total"], 65);
    assert_eq!(first["startAt"], 0);
    assert_eq!(first["maxResults"], 30);
    assert_eq!(first["comments"].as_array().unwrap().len(), 30);
    assert_eq!(first["comments"][0]["body"], adf("comment 0"));
    let last = json_of(page(60, 30).await.unwrap()).await;
    assert_eq!(last["comments"].as_array().unwrap().len(), 5);
    assert_eq!(last["comments"][4]["body"], adf("comment 64"));

    let default_page = json_of(
        jira.get(&format!("/issue/{key}/comment"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(default_page["maxResults"], 50);
    assert_eq!(default_page["comments"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn a_page_larger_than_100_comments_is_cut_to_100() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira
        .emulator
        .create_issue(&owner, NewIssue::new("Many"))
        .unwrap();
    for n in 0..120 {
        jira.emulator
            .comment(&owner, &key, format!("c{n}"))
            .unwrap();
    }
    let body = json_of(
        jira.get(&format!("/issue/{key}/comment"))
            .query(&[("maxResults", "1000")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["maxResults"], 100);
    assert_eq!(body["comments"].as_array().unwrap().len(), 100);
    assert_eq!(body["total"], 120);
}

#[tokio::test]
async fn a_comment_is_created_with_201_and_read_back_by_id() {
    let jira = Jira::start().await;
    let key = jira.create("Comment here", &[]).await;
    let response = jira
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": adf("hello")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created = json_of(response).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["author"]["accountId"],
        jira.emulator.integration_account_id()
    );
    let read = json_of(
        jira.get(&format!("/issue/{key}/comment/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["body"], adf("hello"));
    assert!(read["created"].is_string());
}

#[tokio::test]
async fn a_plain_string_comment_body_is_refused() {
    let jira = Jira::start().await;
    let key = jira.create("No strings", &[]).await;
    let response = jira
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": "just text"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["errors"]["comment"],
        "Comment body is not valid!"
    );
    let empty = jira
        .post(&format!("/issue/{key}/comment"), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert!(jira.emulator.issue(&key).unwrap().comments.is_empty());
}

#[tokio::test]
async fn editing_a_comment_replaces_its_body_and_keeps_its_author() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira.create("Edit comment", &[]).await;
    let id = jira.emulator.comment(&owner, &key, "before").unwrap();
    let response = jira
        .put(
            &format!("/issue/{key}/comment/{id}"),
            &json!({"body": adf("after")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let edited = json_of(response).await;
    assert_eq!(edited["body"], adf("after"));
    let missing = jira
        .put(
            &format!("/issue/{key}/comment/99999"),
            &json!({"body": adf("x")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn comment_properties_go_in_with_the_create_and_come_back_only_when_expanded() {
    let jira = Jira::start().await;
    let key = jira.create("Marked", &[]).await;
    let marker = json!({"kind": "sir-comment", "sirCaseId": "1234567890", "sirId": "c-1"});
    let created = json_of(
        jira.post(
            &format!("/issue/{key}/comment"),
            &json!({
                "body": adf("copied"),
                "properties": [{"key": "sir-integration-item", "value": marker}],
            }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created.get("properties").is_none(), "not asked for");

    let plain = json_of(
        jira.get(&format!("/issue/{key}/comment"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(plain["comments"][0].get("properties").is_none());
    let expanded = json_of(
        jira.get(&format!("/issue/{key}/comment"))
            .query(&[("expand", "properties")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        expanded["comments"][0]["properties"],
        json!([{"key": "sir-integration-item", "value": marker}])
    );

    // The comment-properties resource reads, replaces and deletes them.
    let one = json_of(
        jira.get(&format!("/comment/{id}/properties/sir-integration-item"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one["value"], marker);
    let status = jira
        .put(&format!("/comment/{id}/properties/other"), &json!({"n": 1}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    let keys = json_of(
        jira.get(&format!("/comment/{id}/properties"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let status = jira
        .delete(&format!("/comment/{id}/properties/other"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let gone = jira
        .get(&format!("/comment/{id}/properties/other"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(gone, 404);

    // Properties that are not [{key, value}] are refused as Jira refuses them.
    let refused = jira
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": adf("x"), "properties": {"key": "k"}}),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused, 400);
}

#[tokio::test]
async fn deleting_a_comment_answers_204_and_moves_neither_updated_nor_automation() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira.create("Delete comment", &[]).await;
    let id = jira.emulator.comment(&owner, &key, "oops").unwrap();
    let updated = jira.emulator.issue(&key).unwrap().updated;
    let automation = jira.emulator.automation();
    assert!(automation.wait_idle(Duration::from_secs(5)).await);
    let published = automation.published().len();

    let response = jira
        .delete(&format!("/issue/{key}/comment/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let issue = jira.emulator.issue(&key).unwrap();
    assert!(issue.comments.is_empty());
    assert_eq!(
        issue.updated, updated,
        "a comment's deletion is no issue update"
    );
    assert!(automation.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(automation.published().len(), published);
    let again = jira
        .delete(&format!("/issue/{key}/comment/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}
