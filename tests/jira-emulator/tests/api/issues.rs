//! Creating, reading, editing and deleting issues over REST v3, and issue properties.

use jira_emulator::{IssueAction, NewIssue, User};
use serde_json::json;

use crate::support::{Jira, adf, json_of};

#[tokio::test]
async fn creating_an_issue_answers_201_with_id_key_and_self() {
    let jira = Jira::start().await;
    let response = jira
        .post(
            "/issue",
            &json!({"fields": {
                "project": {"key": "SEC"},
                "issuetype": {"name": "Task"},
                "summary": "Suspicious login",
                "description": adf("Seen from a new country."),
                "labels": ["sir-case-1", "security"],
            }}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created = json_of(response).await;
    assert_eq!(created["key"], "SEC-1");
    assert!(created["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(created["self"].as_str().unwrap().ends_with(&format!(
        "/rest/api/3/issue/{}",
        created["id"].as_str().unwrap()
    )));
    let stored = jira.emulator.issue("SEC-1").unwrap();
    assert_eq!(stored.labels, ["security", "sir-case-1"]);
    assert_eq!(stored.creator, jira.emulator.integration_account_id());
}

#[tokio::test]
async fn a_plain_string_description_is_refused_with_the_field_error() {
    let jira = Jira::start().await;
    let response = jira
        .post(
            "/issue",
            &json!({"fields": {
                "project": {"key": "SEC"},
                "issuetype": {"name": "Task"},
                "summary": "Plain text description",
                "description": "not a document",
            }}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["errorMessages"], json!([]));
    assert!(
        body["errors"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Operation value must be an Atlassian Document")
    );
    assert!(jira.emulator.issues().is_empty());
}

#[tokio::test]
async fn a_malformed_document_is_refused_like_a_string() {
    let jira = Jira::start().await;
    let key = jira.create("Edit me", &[]).await;
    let response = jira
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"description": {"type": "doc", "version": 2, "content": []}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(json_of(response).await["errors"]["description"].is_string());
}

fn create_body(summary: &str) -> serde_json::Value {
    json!({"fields": {
        "project": {"key": "SEC"},
        "issuetype": {"name": "Task"},
        "summary": summary,
    }})
}

#[tokio::test]
async fn a_summary_over_255_utf16_units_is_refused_even_under_255_characters() {
    let jira = Jira::start().await;
    // 128 emoji: 128 characters, but 256 UTF-16 units, which is what Jira (Java) counts.
    let too_long = "🛡".repeat(128);
    let response = jira
        .post("/issue", &create_body(&too_long))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(
        body["errors"]["summary"],
        "Summary must be less than 255 characters."
    );
    assert!(body["errorMessages"].as_array().unwrap().is_empty());
    assert!(jira.emulator.issues().is_empty());

    // 127 emoji (254 units) and 255 ASCII characters fit.
    let fits = "🛡".repeat(127);
    let response = jira
        .post("/issue", &create_body(&fits))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key = json_of(response).await["key"].as_str().unwrap().to_owned();
    let response = jira
        .post("/issue", &create_body(&"x".repeat(255)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // The same limit on edits.
    let response = jira
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"summary": too_long}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(jira.emulator.issue(&key).unwrap().summary, fits);
}

#[tokio::test]
async fn unknown_issue_type_missing_summary_and_unknown_fields_are_refused_together() {
    let jira = Jira::start().await;
    let response = jira
        .post(
            "/issue",
            &json!({"fields": {
                "project": {"key": "OTHER"},
                "issuetype": {"name": "Spaceship"},
                "customfield_10099": "x",
            }}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let errors = json_of(response).await["errors"].clone();
    assert!(errors["project"].is_string());
    assert_eq!(errors["issuetype"], "The issue type selected is invalid.");
    assert_eq!(
        errors["summary"],
        "You must specify a summary of the issue."
    );
    assert_eq!(
        errors["customfield_10099"],
        "Field 'customfield_10099' cannot be set. It is not on the appropriate screen, or unknown."
    );
}

#[tokio::test]
async fn common_issue_types_are_accepted() {
    let jira = Jira::start().await;
    for issue_type in ["Task", "Bug", "Story", "Epic", "Incident"] {
        let response = jira
            .post(
                "/issue",
                &json!({"fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": issue_type},
                    "summary": format!("A {issue_type}"),
                }}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{issue_type}");
    }
}

#[tokio::test]
async fn get_issue_shows_the_fields_cloud_includes() {
    let jira = Jira::start().await;
    let key = jira.create("Suspicious login", &["sir-case-7"]).await;
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("first")}),
    )
    .send()
    .await
    .unwrap();
    let issue = json_of(jira.get(&format!("/issue/{key}")).send().await.unwrap()).await;
    let fields = &issue["fields"];
    assert_eq!(issue["key"], key.as_str());
    assert_eq!(fields["summary"], "Suspicious login");
    assert_eq!(fields["description"], adf("Created by the integration."));
    assert_eq!(fields["status"]["name"], "To Do");
    assert_eq!(fields["status"]["statusCategory"]["key"], "new");
    assert_eq!(fields["labels"], json!(["sir-case-7"]));
    assert_eq!(fields["issuetype"]["name"], "Task");
    assert_eq!(fields["project"]["key"], "SEC");
    assert_eq!(
        fields["reporter"]["accountId"],
        jira.emulator.integration_account_id()
    );
    assert_eq!(
        fields["creator"]["accountId"],
        fields["reporter"]["accountId"]
    );
    assert_eq!(
        fields["watches"]["watchCount"], 1,
        "creators watch by default"
    );
    assert_eq!(fields["comment"]["total"], 1);
    assert_eq!(fields["comment"]["comments"][0]["body"], adf("first"));
    assert_eq!(fields["attachment"], json!([]));
    assert!(fields["created"].as_str().unwrap().ends_with("+0000"));
    assert!(fields["updated"].is_string());
}

#[tokio::test]
async fn fields_parameter_limits_the_fields_returned() {
    let jira = Jira::start().await;
    let key = jira.create("Only some fields", &[]).await;
    let issue = json_of(
        jira.get(&format!("/issue/{key}"))
            .query(&[("fields", "summary,status")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fields = issue["fields"].as_object().unwrap();
    let mut names: Vec<_> = fields.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["status", "summary"]);
}

#[tokio::test]
async fn expanding_the_changelog_shows_who_changed_what() {
    let jira = Jira::start().await;
    let key = jira.create("Before", &[]).await;
    jira.put(
        &format!("/issue/{key}"),
        &json!({"fields": {"summary": "After"}}),
    )
    .send()
    .await
    .unwrap();
    let issue = json_of(
        jira.get(&format!("/issue/{key}"))
            .query(&[("expand", "changelog")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let history = &issue["changelog"]["histories"][0];
    assert_eq!(
        history["author"]["accountId"],
        jira.emulator.integration_account_id()
    );
    assert_eq!(history["items"][0]["field"], "summary");
    assert_eq!(history["items"][0]["fromString"], "Before");
    assert_eq!(history["items"][0]["toString"], "After");
}

#[tokio::test]
async fn editing_with_fields_and_label_updates_answers_204() {
    let jira = Jira::start().await;
    let key = jira.create("Old summary", &["keep", "drop"]).await;
    let response = jira
        .put(
            &format!("/issue/{key}"),
            &json!({
                "fields": {"summary": "New summary", "description": adf("New description")},
                "update": {"labels": [{"add": "added"}, {"remove": "drop"}]},
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let issue = jira.emulator.issue(&key).unwrap();
    assert_eq!(issue.summary, "New summary");
    assert_eq!(issue.description, Some(adf("New description")));
    assert_eq!(issue.labels, ["added", "keep"]);
    assert!(issue.updated > issue.created);
}

#[tokio::test]
async fn labels_with_spaces_are_refused() {
    let jira = Jira::start().await;
    let key = jira.create("Labels", &[]).await;
    let response = jira
        .put(
            &format!("/issue/{key}"),
            &json!({"update": {"labels": [{"add": "two words"}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(json_of(response).await["errors"]["labels"].is_string());
}

#[tokio::test]
async fn an_unknown_issue_is_404_with_clouds_message() {
    let jira = Jira::start().await;
    for request in [
        jira.get("/issue/SEC-999"),
        jira.put("/issue/SEC-999", &json!({"fields": {"summary": "x"}})),
        jira.delete("/issue/SEC-999"),
        jira.get("/issue/SEC-999/comment"),
        jira.get("/issue/SEC-999/transitions"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            json_of(response).await,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
        );
    }
}

#[tokio::test]
async fn deleting_answers_204_and_the_issue_is_gone_with_who_deleted_it() {
    let jira = Jira::start().await;
    let key = jira.create("Delete me", &[]).await;
    let response = jira.delete(&format!("/issue/{key}")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let after = jira.get(&format!("/issue/{key}")).send().await.unwrap();
    assert_eq!(after.status(), 404);
    assert!(jira.emulator.issue(&key).is_none());
    let deleted = jira.emulator.deleted_issues();
    let last = deleted[0].history.last().unwrap();
    assert_eq!(last.action, IssueAction::Deleted);
    assert_eq!(last.account_id, jira.emulator.integration_account_id());
}

#[tokio::test]
async fn issue_properties_round_trip_and_unknown_ones_are_404() {
    let jira = Jira::start().await;
    let key = jira.create("Properties", &[]).await;
    let path = format!("/issue/{key}/properties/sir-sync");
    let first = jira
        .put(&path, &json!({"caseId": "123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let second = jira
        .put(&path, &json!({"caseId": "456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let read = json_of(jira.get(&path).send().await.unwrap()).await;
    assert_eq!(read, json!({"key": "sir-sync", "value": {"caseId": "456"}}));
    let missing = jira
        .get(&format!("/issue/{key}/properties/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn human_actions_are_recorded_with_their_account() {
    let jira = Jira::start().await;
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = jira
        .emulator
        .create_issue(&ann.account_id, NewIssue::new("Found by Ann"))
        .unwrap();
    let comment_id = jira
        .emulator
        .comment(&ann.account_id, &key, "Ann's note")
        .unwrap();
    jira.emulator
        .attach(&ann.account_id, &key, "evidence.txt", b"bytes".to_vec())
        .unwrap();
    jira.emulator
        .transition_to(&ann.account_id, &key, "In Progress")
        .unwrap();
    jira.post(
        &format!("/issue/{key}/comment"),
        &json!({"body": adf("integration note")}),
    )
    .send()
    .await
    .unwrap();

    let record = jira.emulator.issue(&key).unwrap();
    assert_eq!(record.creator, ann.account_id);
    assert_eq!(record.comments[0].author, ann.account_id);
    assert_eq!(
        record.comments[1].author,
        jira.emulator.integration_account_id()
    );
    assert_eq!(record.attachments[0].author, ann.account_id);
    assert!(record.history.iter().any(|entry| entry.account_id == ann.account_id
        && matches!(&entry.action, IssueAction::Transitioned { to, .. } if to == "In Progress")));

    let comments = json_of(
        jira.get(&format!("/issue/{key}/comment"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(comments["comments"][0]["id"], comment_id.as_str());
    assert_eq!(
        comments["comments"][0]["author"]["accountId"],
        ann.account_id.as_str()
    );
    assert_eq!(
        comments["comments"][1]["author"]["accountId"],
        jira.emulator.integration_account_id()
    );
}

#[tokio::test]
async fn requests_are_recorded_with_account_and_status() {
    let jira = Jira::start().await;
    jira.create("Counted", &[]).await;
    jira.get("/issue/SEC-404").send().await.unwrap();
    jira.http.get(jira.v3("/myself")).send().await.unwrap();
    let requests = jira.emulator.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/rest/api/3/issue");
    assert_eq!(requests[0].status, 201);
    assert_eq!(
        requests[0].account_id.as_deref(),
        Some(jira.emulator.integration_account_id().as_str())
    );
    assert_eq!(requests[1].status, 404);
    assert_eq!(requests[2].status, 401);
    assert_eq!(requests[2].account_id, None);
}
