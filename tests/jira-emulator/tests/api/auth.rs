//! Basic auth with the integration user's e-mail and API token; `serverInfo` needs none.

use jira_emulator::User;
use serde_json::Value;

use crate::support::{EMAIL, Jira, json_of};

#[tokio::test]
async fn requests_without_credentials_are_refused_with_401() {
    let jira = Jira::start().await;
    let response = jira.http.get(jira.v3("/myself")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body = json_of(response).await;
    assert!(body["errorMessages"][0].is_string());
}

#[tokio::test]
async fn requests_with_a_wrong_token_are_refused_with_401() {
    let jira = Jira::start().await;
    let response = jira
        .http
        .get(jira.v3("/myself"))
        .basic_auth(EMAIL, Some("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let bearer = jira
        .http
        .get(jira.v3("/myself"))
        .bearer_auth("integration-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
}

#[tokio::test]
async fn myself_is_the_integration_user_with_its_email() {
    let jira = Jira::start().await;
    let me = json_of(jira.get("/myself").send().await.unwrap()).await;
    assert_eq!(me["accountId"], jira.emulator.integration_account_id());
    assert_eq!(me["emailAddress"], EMAIL);
    assert_eq!(me["accountType"], "atlassian");
}

#[tokio::test]
async fn server_info_answers_without_auth_and_says_cloud() {
    let jira = Jira::start().await;
    for url in [jira.v3("/serverInfo"), jira.v2("/serverInfo")] {
        let response = jira.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let info: Value = response.json().await.unwrap();
        assert_eq!(info["deploymentType"], "Cloud");
        assert_eq!(info["baseUrl"], jira.emulator.base_url());
    }
}

#[tokio::test]
async fn a_user_given_a_token_calls_the_api_as_themselves() {
    let jira = Jira::start().await;
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    jira.emulator
        .add_api_token(&ann.account_id, "ann@example.com", "ann-token")
        .unwrap();
    let me = json_of(
        jira.http
            .get(jira.v3("/myself"))
            .basic_auth("ann@example.com", Some("ann-token"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["accountId"], ann.account_id.as_str());
}
