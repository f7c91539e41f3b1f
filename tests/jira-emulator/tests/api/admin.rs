//! The `/_emulator` admin API drives the same human actions and switches over JSON.

use serde_json::{Value, json};

use crate::support::{Jira, json_of};

#[tokio::test]
async fn the_admin_api_acts_as_a_human_and_reads_state_back() {
    let jira = Jira::start().await;
    let http = &jira.http;
    let user = json_of(
        http.post(jira.admin("/users"))
            .json(&json!({"displayName": "Ann Analyst", "email": "ann@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ann = user["accountId"].as_str().unwrap().to_owned();
    let created = http
        .post(jira.admin("/issues"))
        .json(&json!({"as": ann, "summary": "From a script", "description": "Plain text", "labels": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = json_of(created).await["key"].as_str().unwrap().to_owned();
    let commented = http
        .post(jira.admin(&format!("/issues/{key}/comments")))
        .json(&json!({"as": ann, "body": "Hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(commented.status(), 201);
    let moved = http
        .post(jira.admin(&format!("/issues/{key}/transition")))
        .json(&json!({"as": ann, "status": "In Review"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 204);
    let attached = http
        .post(jira.admin(&format!("/issues/{key}/attachments")))
        .query(&[("as", ann.as_str()), ("fileName", "notes.txt")])
        .body("file body")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.status(), 201);

    let issue: Value = json_of(
        http.get(jira.admin(&format!("/issues/{key}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(issue["status"], "In Review");
    assert_eq!(issue["creator"], ann.as_str());
    assert_eq!(issue["comments"][0]["author"], ann.as_str());
    assert_eq!(issue["attachments"][0]["size"], 9);
    assert_eq!(
        jira.emulator.issue(&key).unwrap().attachments[0]
            .bytes
            .as_ref(),
        b"file body"
    );

    let unknown = http
        .post(jira.admin("/issues/SEC-99/comments"))
        .json(&json!({"as": ann, "body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(json_of(unknown).await["error"].is_string());
}

#[tokio::test]
async fn the_admin_api_switches_faults_and_automation_and_lists_requests() {
    let jira = Jira::start().await;
    let http = &jira.http;
    let set = http
        .post(jira.admin("/faults"))
        .json(&json!({"failNext": {"count": 1, "status": 500}}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 500);
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);

    http.post(jira.admin("/faults"))
        .json(&json!({"rateLimit": {"capacity": 1, "refillPerSecond": 0.01}}))
        .send()
        .await
        .unwrap();
    jira.get("/myself").send().await.unwrap();
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 429);
    http.delete(jira.admin("/faults")).send().await.unwrap();
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);

    let requests = json_of(http.get(jira.admin("/requests")).send().await.unwrap()).await;
    let statuses: Vec<_> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 200, 200, 429, 200]);

    http.put(jira.admin("/automation"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(!jira.emulator.automation().is_enabled());
    http.post(jira.admin("/automation/forged"))
        .body("raw message")
        .send()
        .await
        .unwrap();
    assert!(
        jira.emulator
            .automation()
            .wait_idle(std::time::Duration::from_secs(5))
            .await
    );
    let state = json_of(http.get(jira.admin("/automation")).send().await.unwrap()).await;
    assert_eq!(state["enabled"], false);
    assert_eq!(state["published"], json!(["raw message"]));
}
