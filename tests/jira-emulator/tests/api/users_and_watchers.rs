//! User search (prefix, hidden e-mails) and watchers by accountId only.

use jira_emulator::User;
use serde_json::{Value, json};

use crate::support::{Jira, json_of};

async fn search_users(jira: &Jira, query: &str) -> Vec<Value> {
    let response = jira
        .get("/user/search")
        .query(&[("query", query)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await.as_array().unwrap().clone()
}

#[tokio::test]
async fn user_search_matches_name_prefixes_and_visible_emails_only() {
    let jira = Jira::start().await;
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let hidden = jira
        .emulator
        .add_user(User::with_hidden_email("Hector Hidden"));

    let by_name = search_users(&jira, "ann").await;
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0]["accountId"], ann.account_id.as_str());
    assert_eq!(by_name[0]["emailAddress"], "ann@example.com");

    let by_surname = search_users(&jira, "Analy").await;
    assert_eq!(by_surname[0]["accountId"], ann.account_id.as_str());

    let by_email = search_users(&jira, "ann@example.com").await;
    assert_eq!(by_email.len(), 1);

    let hidden_by_name = search_users(&jira, "Hector").await;
    assert_eq!(hidden_by_name[0]["accountId"], hidden.account_id.as_str());
    assert!(hidden_by_name[0].get("emailAddress").is_none());

    assert!(search_users(&jira, "nobody@example.com").await.is_empty());
    assert!(
        search_users(&jira, "nn").await.is_empty(),
        "prefix, not substring"
    );
}

#[tokio::test]
async fn a_user_whose_email_is_hidden_is_not_found_by_it() {
    let jira = Jira::start().await;
    let hidden = jira.emulator.add_user(User {
        account_id: String::new(),
        display_name: "Quiet Person".into(),
        email: None,
        active: true,
    });
    assert!(search_users(&jira, "quiet@example.com").await.is_empty());
    let by_id = json_of(
        jira.get("/user")
            .query(&[("accountId", hidden.account_id.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(by_id["displayName"], "Quiet Person");
    assert!(by_id.get("emailAddress").is_none());
    let unknown = jira
        .get("/user")
        .query(&[("accountId", "712020:missing")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn user_search_without_a_query_is_refused() {
    let jira = Jira::start().await;
    let response = jira.get("/user/search").send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_watcher_is_added_by_account_id_and_removed_again() {
    let jira = Jira::start().await;
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = jira.create("Watch me", &[]).await;
    let response = jira
        .post(&format!("/issue/{key}/watchers"), &json!(ann.account_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let watchers = json_of(
        jira.get(&format!("/issue/{key}/watchers"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(watchers["watchCount"], 2, "the creator and Ann");
    assert_eq!(watchers["isWatching"], true);
    assert!(
        watchers["watchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["accountId"] == ann.account_id.as_str())
    );

    let removed = jira
        .delete(&format!("/issue/{key}/watchers"))
        .query(&[("accountId", ann.account_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert!(
        !jira
            .emulator
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&ann.account_id)
    );
}

#[tokio::test]
async fn a_watcher_given_by_email_or_unknown_id_is_refused() {
    let jira = Jira::start().await;
    jira.emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = jira.create("Watch me", &[]).await;
    let by_email = jira
        .post(&format!("/issue/{key}/watchers"), &json!("ann@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_email.status(), 404);
    let by_object = jira
        .post(
            &format!("/issue/{key}/watchers"),
            &json!({"accountId": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_object.status(), 400);
    let by_username = jira
        .delete(&format!("/issue/{key}/watchers"))
        .query(&[("username", "ann")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_username.status(), 400);
    assert_eq!(jira.emulator.issue(&key).unwrap().watchers.len(), 1);
}
