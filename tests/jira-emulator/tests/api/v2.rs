//! REST v2 serves the same issues with plain-text descriptions and comment bodies.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Jira, adf, json_of};

#[tokio::test]
async fn plain_text_bodies_round_trip_through_v2() {
    let jira = Jira::start().await;
    let description = "First paragraph.\n\nSecond paragraph,\nwith a line break.";
    let response = jira
        .request(Method::POST, &jira.v2("/issue"))
        .json(&json!({"fields": {
            "project": {"key": "SEC"},
            "issuetype": {"name": "Task"},
            "summary": "From v2",
            "description": description,
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key = json_of(response).await["key"].as_str().unwrap().to_owned();

    let comment = jira
        .request(Method::POST, &jira.v2(&format!("/issue/{key}/comment")))
        .json(&json!({"body": "A plain comment."}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), 201);
    assert_eq!(json_of(comment).await["body"], "A plain comment.");

    let v2: Value = json_of(
        jira.request(Method::GET, &jira.v2(&format!("/issue/{key}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v2["fields"]["description"], description);
    assert_eq!(
        v2["fields"]["comment"]["comments"][0]["body"],
        "A plain comment."
    );

    let v3 = json_of(jira.get(&format!("/issue/{key}")).send().await.unwrap()).await;
    let paragraphs = v3["fields"]["description"]["content"].as_array().unwrap();
    assert_eq!(paragraphs.len(), 2);
    assert_eq!(
        v3["fields"]["comment"]["comments"][0]["body"],
        adf("A plain comment.")
    );
}

#[tokio::test]
async fn v2_reads_adf_written_through_v3_as_text_and_refuses_documents() {
    let jira = Jira::start().await;
    let key = jira.create("Written in v3", &[]).await;
    let v2 = json_of(
        jira.request(Method::GET, &jira.v2(&format!("/issue/{key}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v2["fields"]["description"], "Created by the integration.");
    let document_in_v2 = jira
        .request(Method::PUT, &jira.v2(&format!("/issue/{key}")))
        .json(&json!({"fields": {"description": adf("not here")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(document_in_v2.status(), 400);
}
