//! The webhook intake end to end: the Jira emulator sends signed webhooks (as a Jira Cloud admin
//! webhook with a secret does) to jira-notifications-handler's function URL, which checks them
//! and takes a change down the same path an Automation message takes, to sir-client and SIR.
//! Requests that are not Jira's (unsigned, forged, replayed, oversized, for another project)
//! sync nothing and are answered with their class.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::pipeline::{Intake, Integration, IntegrationOptions, WEBHOOK_SECRET};
use jira_emulator::{NewIssue, User, WebhookSettings, sign_webhook};
use jira_notifications_handler::webhook::MAX_WEBHOOK_BYTES;
use serde_json::{Value, json};

async fn webhook_world() -> (Integration, User) {
    let it = Integration::start_with(IntegrationOptions {
        intake: Intake::Webhook,
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    it.jira.webhooks().set_settings(WebhookSettings {
        first_retry_after: Duration::from_millis(300),
        ..WebhookSettings::default()
    });
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    (it, alice)
}

fn url(it: &Integration) -> String {
    it.function_url.as_ref().unwrap().url.clone()
}

/// A webhook body as Jira sends it for `key`.
fn body_for(key: &str, event: &str) -> String {
    // A change made seconds ago (beyond the margin Jira's clock is given).
    body_at(key, event, shared::clock::now_epoch_millis() - 5_000)
}

/// A signed-webhook body for a change made at `changed_ms` (epoch milliseconds).
fn body_at(key: &str, event: &str, changed_ms: u64) -> String {
    json!({
        "timestamp": changed_ms,
        "webhookEvent": event,
        "issue_event_type_name": "issue_updated",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
        "issue": {"id": "10001", "key": key, "fields": {"summary": "x"}},
    })
    .to_string()
}

/// POSTs `body` to the function URL with `headers`; the status and the JSON answer.
async fn post(it: &Integration, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url(it))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn signed(body: &str, identifier: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-hub-signature",
            sign_webhook(WEBHOOK_SECRET, body.as_bytes()),
        ),
        ("x-atlassian-webhook-identifier", identifier.to_owned()),
    ]
}

fn issue_reads(it: &Integration, key: &str) -> usize {
    it.jira
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/issue/{key}")))
        .count()
}

#[tokio::test]
async fn changes_made_in_jira_reach_sir_through_signed_webhooks_without_automation() {
    let (it, alice) = webhook_world().await;
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
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let case = it.only_case();
    assert_eq!(case.title, "Phishing wave");
    it.jira
        .comment(&alice.account_id, &key, "Blocked the sender domain.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(
        it.sir_comment_texts(&case.case_id)
            .iter()
            .any(|t| t.contains("Blocked the sender domain.")),
        "{:#?}",
        it.sir_comment_texts(&case.case_id)
    );
    assert!(
        it.jira.automation().published().is_empty(),
        "no Automation rule ran"
    );
    let deliveries = it.jira.webhooks().deliveries();
    assert!(!deliveries.is_empty());
    for delivery in &deliveries {
        assert_eq!(delivery.attempts.last(), Some(&200), "{delivery:?}");
    }
    // The integration's own writes (the case's note on the issue) come back as webhooks too:
    // they are dropped unread.
    let own = settled
        .notifications
        .responses
        .iter()
        .filter(|r| r["body"]["outcome"] == "OwnChange")
        .count();
    assert!(own >= 1, "{:#?}", settled.notifications.responses);
}

#[tokio::test]
async fn unsigned_forged_oversized_other_project_and_replayed_requests_sync_nothing() {
    let (it, alice) = webhook_world().await;
    // An issue Jira never sent a webhook for: only what the requests below say could sync it.
    it.jira.webhooks().unregister_all();
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Not announced"))
        .unwrap();
    it.jira.webhooks().wait_idle(Duration::from_secs(5)).await;
    let body = body_for(&key, "jira:issue_created");

    let (status, answer) = post(&it, &body, &[]).await;
    assert_eq!((status, &answer["rejected"]), (401, &json!("unsigned")));
    let forged = vec![(
        "x-hub-signature",
        sign_webhook("a guessed secret", body.as_bytes()),
    )];
    let (status, answer) = post(&it, &body, &forged).await;
    assert_eq!(
        (status, &answer["rejected"]),
        (401, &json!("bad-signature"))
    );
    let other = body_for("OPS-1", "jira:issue_created");
    let (status, answer) = post(&it, &other, &signed(&other, "d-other")).await;
    assert_eq!(
        (status, &answer["rejected"]),
        (403, &json!("other-project"))
    );
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_WEBHOOK_BYTES * 2));
    let (status, answer) = post(&it, &huge, &signed(&huge, "d-huge")).await;
    assert_eq!((status, &answer["rejected"]), (413, &json!("oversized")));
    let (status, answer) = post(&it, "{not json", &signed("{not json", "d-junk")).await;
    assert_eq!((status, &answer["rejected"]), (400, &json!("not-json")));
    assert_eq!(issue_reads(&it, &key), 0, "nothing was read for them");
    it.settle().await.unwrap().assert_clean();
    assert!(it.sir.cases().is_empty(), "nothing synced");

    // A real delivery, then Jira's retry of it (and a replay): handled once.
    let (status, answer) = post(&it, &body, &signed(&body, "d-1")).await;
    assert_eq!((status, &answer["outcome"]), (200, &json!("Created")));
    let reads = issue_reads(&it, &key);
    for _ in 0..2 {
        let (status, answer) = post(&it, &body, &signed(&body, "d-1")).await;
        assert_eq!((status, &answer["outcome"]), (200, &json!("Duplicate")));
    }
    assert_eq!(issue_reads(&it, &key), reads, "a repeat reads nothing");
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Not announced");
}

#[tokio::test]
async fn a_delivery_that_fails_is_answered_502_retried_by_jira_and_synced_once() {
    let (it, alice) = webhook_world().await;
    // Every try of the handler's Jira client fails: the invocation fails.
    it.jira.faults().fail_next(8, 503);
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Flaky Jira"))
        .unwrap();
    let settled = it.settle().await.unwrap();
    assert!(
        !settled.notifications.errors.is_empty(),
        "the first try failed: {settled:#?}"
    );
    let deliveries: Vec<_> = it
        .jira
        .webhooks()
        .deliveries()
        .into_iter()
        .filter(|d| d.issue_key == key && d.event == "jira:issue_created")
        .collect();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    let attempts = &deliveries[0].attempts;
    assert!(attempts.contains(&502), "{attempts:?}");
    assert_eq!(attempts.last(), Some(&200), "{attempts:?}");
    assert_eq!(it.only_case().title, "Flaky Jira");
}

#[tokio::test]
async fn a_burst_of_signed_deliveries_for_one_issue_costs_one_re_read_per_window() {
    let (it, alice) = webhook_world().await;
    let key = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Busy issue"))
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let before = issue_reads(&it, &key);
    // 500 deliveries of a change made after the creation's re-read, delivered 50 at a time
    // once it is older than the margin Jira's clock is given, as Jira's queue delivers a bulk
    // edit's webhooks. (A change older than the creation's re-read would be covered by it.)
    let changed_ms = shared::clock::now_epoch_millis();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let body = body_at(&key, "jira:issue_updated", changed_ms);
    let started = std::time::Instant::now();
    let mut answered = Vec::new();
    for batch in 0..10 {
        let sends = (0..50).map(|n| {
            let identifier = format!("burst-{batch}-{n}");
            let headers = signed(&body, &identifier);
            let it = &it;
            let body = &body;
            async move { post(it, body, &headers).await }
        });
        answered.extend(futures_util::future::join_all(sends).await);
    }
    // Every one handled, or answered 429 (every re-read slot taken) for Jira to deliver again.
    assert!(
        answered.iter().all(|(s, _)| *s == 200 || *s == 429),
        "{answered:?}"
    );
    let outcomes: Vec<String> = answered
        .iter()
        .map(|(_, a)| a["outcome"].as_str().unwrap_or_default().to_owned())
        .filter(|o| o != "Coalesced" && o != "Busy")
        .collect();
    // One re-read per coalescing window (ten seconds) covers every change made before it; the
    // window the issue's creation opened may still be open when the burst starts.
    let windows = started.elapsed().as_secs() / 10 + 2;
    let reads = issue_reads(&it, &key) - before;
    assert!(
        reads >= 1 && reads <= usize::try_from(windows).unwrap(),
        "{reads} re-reads in {windows} window(s): {outcomes:?}"
    );
    assert_eq!(
        outcomes.len(),
        reads,
        "the others were covered: {outcomes:?}"
    );
}
