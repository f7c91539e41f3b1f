//! Rate limiting, injected 5xx, latency, outages, and writes applied whose answer is lost.

#![allow(
    clippy::disallowed_methods,
    reason = "measures the real latency of requests over sockets"
)]

use std::time::{Duration, Instant};

use jira_emulator::{JiraEmulatorConfig, RateLimit};
use serde_json::json;

use crate::support::{Jira, adf};

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let jira = Jira::start_with(JiraEmulatorConfig {
        rate_limit: Some(RateLimit {
            capacity: 3,
            refill_per_second: 0.2,
        }),
        ..JiraEmulatorConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = jira.get("/myself").send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(matches!(retry_after, Some(seconds) if (1..=5).contains(&seconds)));

    jira.emulator.faults().rate_limit(None);
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn injected_failures_answer_the_next_requests_then_stop() {
    let jira = Jira::start().await;
    jira.emulator.faults().fail_next(2, 502);
    let statuses = [
        jira.get("/myself").send().await.unwrap().status(),
        jira.get("/myself").send().await.unwrap().status(),
        jira.get("/myself").send().await.unwrap().status(),
    ];
    assert_eq!(statuses.map(|status| status.as_u16()), [502, 502, 200]);
    let recorded: Vec<u16> = jira
        .emulator
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(recorded, [502, 502, 200]);
}

#[tokio::test]
async fn an_outage_answers_503_with_retry_after_until_it_ends() {
    let jira = Jira::start().await;
    jira.emulator.faults().outage(Duration::from_millis(600));
    let during = jira.get("/myself").send().await.unwrap();
    assert_eq!(during.status(), 503);
    assert_eq!(during.headers()["retry-after"], "1");
    let server_info = jira.http.get(jira.v3("/serverInfo")).send().await.unwrap();
    assert_eq!(server_info.status(), 503, "the whole site is down");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn latency_delays_every_request_until_cleared() {
    let jira = Jira::start().await;
    let faults = jira.emulator.faults();
    faults.latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    faults.fail_next(5, 500);
    faults.clear();
    let started = Instant::now();
    assert_eq!(jira.get("/myself").send().await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_write_armed_to_lose_its_answer_is_applied_and_answered_with_the_failure() {
    let jira = Jira::start().await;
    let key = jira.create("Lost answer", &[]).await;
    let armed = jira
        .http
        .post(jira.admin("/faults"))
        .json(&json!({"failAfterApplying": {"method": "POST", "pathPart": "/comment", "status": 504}}))
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 204);
    let status = jira
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": adf("landed")}),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 504);
    assert_eq!(
        jira.emulator.issue(&key).unwrap().comments.len(),
        1,
        "applied"
    );
    let status = jira
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": adf("again")}),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201, "once only");
}
