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

/// Ann with an API token with these classic scopes.
fn with_scoped_token(jira: &Jira, scopes: &[&str]) -> String {
    let ann = jira
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    jira.emulator
        .add_scoped_api_token(&ann.account_id, "ann@example.com", "ann-scoped", scopes)
        .unwrap();
    ann.account_id
}

#[tokio::test]
async fn the_cloud_id_is_public_and_the_gateway_is_another_origin_for_the_same_site() {
    let jira = Jira::start().await;
    let tenant = json_of(
        jira.http
            .get(format!("{}/_edge/tenant_info", jira.emulator.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tenant["cloudId"], jira.emulator.cloud_id());
    let gateway = jira.emulator.gateway_url();
    assert!(gateway.ends_with(&format!("/ex/jira/{}", jira.emulator.cloud_id())));
    assert!(!gateway.starts_with(&jira.emulator.base_url()), "{gateway}");
    // Another cloud id is no site.
    let elsewhere = gateway.replace(
        &jira.emulator.cloud_id(),
        "00000000-0000-0000-0000-000000000000",
    );
    let response = jira
        .http
        .get(format!("{elsewhere}/rest/api/3/myself"))
        .basic_auth(EMAIL, Some("integration-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_token_with_scopes_works_through_the_gateway_only_and_within_its_scopes() {
    let jira = Jira::start().await;
    let ann = with_scoped_token(&jira, &["read:jira-user", "read:jira-work"]);
    let gateway = jira.emulator.gateway_url();
    let key = jira.create("Scoped", &[]).await;
    let as_ann = |method: reqwest::Method, url: String| {
        jira.http
            .request(method, url)
            .basic_auth("ann@example.com", Some("ann-scoped"))
    };
    // The site refuses it.
    let on_site = as_ann(reqwest::Method::GET, jira.v3("/myself"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_site.status(), 401);
    // The gateway takes it for what its scopes allow.
    let me = as_ann(reqwest::Method::GET, format!("{gateway}/rest/api/3/myself"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(json_of(me).await["accountId"], ann.as_str());
    let issue = as_ann(
        reqwest::Method::GET,
        format!("{gateway}/rest/api/3/issue/{key}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(issue.status(), 200);
    // A write needs write:jira-work.
    let comment = as_ann(
        reqwest::Method::POST,
        format!("{gateway}/rest/api/3/issue/{key}/comment"),
    )
    .json(&serde_json::json!({"body": crate::support::adf("hello")}))
    .send()
    .await
    .unwrap();
    assert_eq!(comment.status(), 401);
    let body = json_of(comment).await;
    assert_eq!(body["message"], "Unauthorized; scope does not match");
    // A token without scopes is for the site only.
    let classic = jira
        .http
        .get(format!("{gateway}/rest/api/3/myself"))
        .basic_auth(EMAIL, Some("integration-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(classic.status(), 401);
}
