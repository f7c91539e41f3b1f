//! Fault injection (throttling with `Retry-After`, injected failures, latency) as the SDK sees
//! it, and the admin HTTP API driven with plain HTTP.

#![allow(
    clippy::disallowed_methods,
    reason = "measures the real latency of requests over sockets"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_securityir::operation::list_cases::ListCasesError;
use common::{client, client_without_retries, create_case, emulator};
use serde_json::{Value, json};

#[tokio::test]
async fn throttled_call_is_a_429_with_retry_after_parsed_as_throttling_exception() {
    let emulator = emulator().await;
    emulator.faults().retry_after(7);
    emulator.faults().throttle_next(1);
    let error = client_without_retries(&emulator)
        .list_cases()
        .send()
        .await
        .unwrap_err();
    let raw = error.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 429);
    assert_eq!(raw.headers().get("retry-after"), Some("7"));
    match error.into_service_error() {
        ListCasesError::ThrottlingException(e) => {
            assert_eq!(e.retry_after_seconds(), Some(7));
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    client_without_retries(&emulator)
        .list_cases()
        .send()
        .await
        .expect("only the next call was throttled");
}

#[tokio::test]
async fn throttle_share_of_one_throttles_every_call_until_cleared() {
    let emulator = emulator().await;
    let client = client_without_retries(&emulator);
    emulator.faults().throttle_share(1.0);
    for _ in 0..5 {
        let error = client.list_cases().send().await.unwrap_err();
        assert!(error.into_service_error().is_throttling_exception());
    }
    emulator.faults().clear();
    client.list_cases().send().await.unwrap();
}

#[tokio::test]
async fn sdk_retries_through_injected_throttling_and_every_attempt_is_recorded() {
    let emulator = emulator().await;
    emulator.faults().throttle_next(2);
    client(&emulator).list_cases().send().await.unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[tokio::test]
async fn injected_failure_answers_the_model_error_of_that_status() {
    let emulator = emulator().await;
    let client = client_without_retries(&emulator);
    emulator.faults().fail_next(1, 500);
    let error = client.list_cases().send().await.unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 500);
    assert!(error.into_service_error().is_internal_server_exception());
    emulator.faults().fail_next(1, 409);
    let error = client.list_cases().send().await.unwrap_err();
    assert!(error.into_service_error().is_conflict_exception());
    client.list_cases().send().await.unwrap();
}

#[tokio::test]
async fn injected_latency_delays_every_answer() {
    let emulator = emulator().await;
    let client = client(&emulator);
    emulator.faults().latency(Duration::from_millis(300));
    let started = Instant::now();
    client.list_cases().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    emulator.faults().clear();
    let started = Instant::now();
    client.list_cases().send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn admin_api_drives_cases_comments_statuses_attachments_and_faults() {
    let emulator = emulator().await;
    let base = format!("{}/_emulator", emulator.endpoint());
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base}/cases"))
        .json(&json!({ "caller": "tool", "title": "From a tool", "description": "d" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case_id = created["caseId"].as_str().unwrap().to_owned();
    assert_eq!(created["createdBy"], emulator.principal("tool"));
    assert_eq!(created["caseStatus"], "Submitted");

    let comment = http
        .post(format!("{base}/cases/{case_id}/comments"))
        .json(&json!({ "body": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status().as_u16(), 201);
    let comment_id = comment.json::<Value>().await.unwrap()["commentId"]
        .as_str()
        .unwrap()
        .to_owned();
    http.put(format!("{base}/cases/{case_id}/comments/{comment_id}"))
        .json(&json!({ "body": "hello again" }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let patched: Value = http
        .patch(format!("{base}/cases/{case_id}"))
        .json(&json!({ "title": "Renamed", "watchersToAdd": [{ "email": "ann@example.com" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["title"], "Renamed");
    assert_eq!(patched["watchers"][0]["email"], "ann@example.com");

    let refused = http
        .post(format!("{base}/cases/{case_id}/status"))
        .json(&json!({ "caseStatus": "Post-incident Activities" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(
        refused.headers()["x-amzn-errortype"].to_str().unwrap(),
        "ValidationException"
    );
    let acknowledged: Value = http
        .post(format!("{base}/cases/{case_id}/aws-status"))
        .json(&json!({ "caseStatus": "Acknowledged" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(acknowledged["caseStatus"], "Acknowledged");
    let moved: Value = http
        .post(format!("{base}/cases/{case_id}/status"))
        .json(&json!({ "caseStatus": "Detection and Analysis" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["caseStatus"], "Detection and Analysis");

    let uploaded: Value = http
        .post(format!(
            "{base}/cases/{case_id}/attachments?fileName=log.txt&caller=tool"
        ))
        .body(b"log line".to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attachment_id = uploaded["attachmentId"].as_str().unwrap();
    let bytes = http
        .get(format!(
            "{base}/cases/{case_id}/attachments/{attachment_id}"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"log line");

    let closed: Value = http
        .post(format!("{base}/cases/{case_id}/close"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["caseStatus"], "Closed");
    assert_eq!(closed["closureCode"], "Investigation Completed");
    let listed: Vec<Value> = http
        .get(format!("{base}/cases"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let events: Value = http
        .get(format!("{base}/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["stats"]["emitted"], 8);
    assert_eq!(events["events"][0]["detailType"], "Case Created");

    http.put(format!("{base}/faults"))
        .json(&json!({ "throttleNext": 1, "retryAfterSeconds": 3 }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let error = client_without_retries(&emulator)
        .get_case()
        .case_id(&case_id)
        .send()
        .await
        .unwrap_err();
    assert!(error.into_service_error().is_throttling_exception());
    let requests: Vec<Value> = http
        .get(format!("{base}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requests.last().unwrap()["operation"], "GetCase");
    assert_eq!(requests.last().unwrap()["status"], 429);
    http.delete(format!("{base}/faults")).send().await.unwrap();
    assert_eq!(emulator.faults().settings().throttle_next, 0);

    let deleted = http
        .delete(format!("{base}/cases/{case_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let gone = http
        .get(format!("{base}/cases/{case_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    assert_eq!(
        gone.headers()["x-amzn-errortype"].to_str().unwrap(),
        "ResourceNotFoundException"
    );
}

#[tokio::test]
async fn admin_actions_are_not_recorded_as_api_requests() {
    let emulator = emulator().await;
    let case_id = create_case(&client(&emulator), "api").await;
    reqwest::get(format!("{}/_emulator/cases/{case_id}", emulator.endpoint()))
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(emulator.requests().len(), 1);
}
