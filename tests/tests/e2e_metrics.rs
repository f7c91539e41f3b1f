//! The functions' CloudWatch metrics end to end: what each invocation through the pipeline (SNS,
//! the bus rules, the function URL, both emulators) writes as Embedded Metric Format lines, as
//! each Lambda's `main.rs` writes them to its log. Every line must parse as EMF by the rules of
//! AWS's specification, and the counts must be what happened.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::pipeline::{Intake, Integration, IntegrationOptions};
use jira_emulator::{IssueEdit, JiraEmulatorConfig, User, WebhookSettings, sign_webhook};
use serde_json::json;
use shared::metrics::{CLASS_DIMENSION, FUNCTION_DIMENSION, REASON_DIMENSION, names};
use sir_emulator::NewCase;

const HUMAN: &str = "human";

fn case(title: &str) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Unusual API calls from a new region.".into(),
        impacted_accounts: vec!["111122223333".into()],
        ..NewCase::default()
    }
}

fn sum(it: &Integration, function: &str, metric: &str) -> f64 {
    it.metrics.sum(function, metric, None).unwrap()
}

#[tokio::test]
async fn a_case_synced_to_jira_and_an_edit_synced_back_are_counted_by_each_function() {
    let it = Integration::start().await.unwrap();
    let id = it.sir.create_case(HUMAN, case("Unusual API calls")).case_id;
    it.sir.add_comment(HUMAN, &id, "First look done.").unwrap();
    it.sir.add_comment(HUMAN, &id, "Keys rotated.").unwrap();
    it.settle().await.unwrap().assert_clean();

    assert_eq!(sum(&it, "jira-client", names::ISSUES_CREATED), 1.0);
    assert_eq!(
        sum(&it, "jira-client", names::COMMENTS_SYNCED),
        2.0,
        "the two SIR comments, not the integration's notes"
    );
    let kinds: f64 = [
        names::ISSUES_CREATED,
        names::FIELDS_SYNCED,
        names::STATUS_CHANGES_SYNCED,
        names::COMMENTS_SYNCED,
        names::ATTACHMENTS_SYNCED,
        names::WATCHERS_SYNCED,
        names::DELETIONS_SYNCED,
    ]
    .iter()
    .map(|name| sum(&it, "jira-client", name))
    .sum();
    assert_eq!(sum(&it, "jira-client", names::ITEMS_SYNCED), kinds);
    assert!(sum(&it, "poller", names::CHANGES_PUBLISHED) >= 1.0);
    assert!(sum(&it, "jira-client", names::SUCCESSFUL_RUNS) >= 1.0);
    assert_eq!(
        sum(&it, "sir-client", names::CASES_CREATED),
        0.0,
        "nothing came from Jira"
    );

    // A person renames the issue: jira-notifications-handler publishes it, sir-client writes it.
    let key = it.jira.issues()[0].key.clone();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("Unusual API calls from eu-south-2".into()),
                description: None,
                labels: None,
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Unusual API calls from eu-south-2");
    assert!(sum(&it, "jira-notifications-handler", names::CHANGES_PUBLISHED) >= 1.0);
    assert_eq!(
        sum(&it, "sir-client", names::FIELDS_SYNCED),
        1.0,
        "the title"
    );
    assert_eq!(sum(&it, "sir-client", names::ITEMS_SYNCED), 1.0);

    // A schedule pass says how many cases are open.
    it.schedule_pass().await.unwrap();
    let open: Vec<f64> = open_cases(&it);
    assert_eq!(open.last(), Some(&1.0), "{open:?}");

    // Every line is EMF, of one of the four functions, with FunctionName first.
    let documents = it.metrics.documents().unwrap();
    assert!(!documents.is_empty());
    for document in &documents {
        let function = document[FUNCTION_DIMENSION].as_str().unwrap();
        assert!(
            [
                "poller",
                "jira-client",
                "jira-notifications-handler",
                "sir-client"
            ]
            .contains(&function),
            "{document:?}"
        );
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            json!(FUNCTION_DIMENSION)
        );
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            json!("SirJiraIntegration")
        );
    }
}

/// Every `SyncLagSeconds` value `function` wrote so far.
fn lags(it: &Integration, function: &str) -> Vec<f64> {
    it.metrics
        .documents()
        .unwrap()
        .iter()
        .filter(|d| d[FUNCTION_DIMENSION] == json!(function))
        .filter_map(|d| d.get(names::SYNC_LAG_SECONDS))
        .flat_map(|value| match value {
            serde_json::Value::Array(values) => values.iter().filter_map(|v| v.as_f64()).collect(),
            other => other.as_f64().into_iter().collect::<Vec<_>>(),
        })
        .collect()
}

#[tokio::test]
async fn sync_lag_runs_from_the_change_on_one_side_to_the_write_on_the_other_each_way() {
    let it = Integration::start().await.unwrap();
    let id = it.sir.create_case(HUMAN, case("Unusual API calls")).case_id;
    it.settle().await.unwrap().assert_clean();
    let created = lags(&it, "jira-client");
    assert!(
        !created.is_empty(),
        "the create wrote, so its lag is measured"
    );

    // A change left waiting two seconds before the poller and jira-client see it: the lag
    // counts from the change in SIR, not from the event.
    let waited = Duration::from_secs(2);
    let started = std::time::Instant::now();
    it.sir.add_comment(HUMAN, &id, "Keys rotated.").unwrap();
    tokio::time::sleep(waited).await;
    it.settle().await.unwrap().assert_clean();
    let bound = started.elapsed().as_secs_f64() + 1.0;
    let to_jira = lags(&it, "jira-client");
    let newest = to_jira[created.len()..].to_vec();
    assert_eq!(newest.len(), 1, "one event wrote the comment: {to_jira:?}");
    assert!(
        newest[0] >= waited.as_secs_f64() - 1.0 && newest[0] <= bound,
        "{newest:?} within [{} s, {bound} s]",
        waited.as_secs_f64() - 1.0
    );

    // The same from Jira.
    let key = it.jira.issues()[0].key.clone();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let started = std::time::Instant::now();
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("Unusual API calls from eu-south-2".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    tokio::time::sleep(waited).await;
    it.settle().await.unwrap().assert_clean();
    let bound = started.elapsed().as_secs_f64() + 1.0;
    let to_sir = lags(&it, "sir-client");
    assert_eq!(to_sir.len(), 1, "one event wrote the title: {to_sir:?}");
    assert!(
        to_sir[0] >= waited.as_secs_f64() - 1.0 && to_sir[0] <= bound,
        "{to_sir:?} within [{} s, {bound} s]",
        waited.as_secs_f64() - 1.0
    );

    // Echoes and passes that write nothing measure no lag.
    let before = (
        lags(&it, "jira-client").len(),
        lags(&it, "sir-client").len(),
    );
    it.schedule_pass().await.unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        (
            lags(&it, "jira-client").len(),
            lags(&it, "sir-client").len()
        ),
        before
    );
}

fn open_cases(it: &Integration) -> Vec<f64> {
    it.metrics
        .documents()
        .unwrap()
        .iter()
        .filter(|d| d[FUNCTION_DIMENSION] == json!("poller"))
        .filter_map(|d| d.get(names::OPEN_CASES).and_then(|v| v.as_f64()))
        .collect()
}

#[tokio::test]
async fn an_attachment_jira_refuses_is_counted_as_not_synced_with_its_reason() {
    let it = Integration::start_with(IntegrationOptions {
        jira: JiraEmulatorConfig {
            max_attachment_bytes: 1_024,
            ..IntegrationOptions::default().jira
        },
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let id = it.sir.create_case(HUMAN, case("Big evidence")).case_id;
    it.sir
        .upload_attachment(HUMAN, &id, "memory.dmp", vec![7u8; 4_096])
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let refused = it
        .metrics
        .sum(
            "jira-client",
            names::ITEMS_NOT_SYNCED,
            Some((REASON_DIMENSION, "attachment-too-large")),
        )
        .unwrap();
    assert_eq!(refused, 1.0, "{:#?}", it.metrics.lines());
    assert_eq!(sum(&it, "jira-client", names::ATTACHMENTS_SYNCED), 0.0);
    assert_eq!(
        sum(&it, "jira-client", names::ITEMS_SYNCED),
        sum(&it, "jira-client", names::ISSUES_CREATED)
            + sum(&it, "jira-client", names::FIELDS_SYNCED),
        "the note about the refused attachment is no synced item: {:#?}",
        it.metrics.lines()
    );
}

#[tokio::test]
async fn jira_refusing_for_its_rate_shows_as_throttles_and_retries_of_the_function_that_called() {
    let it = Integration::start().await.unwrap();
    it.sir.create_case(HUMAN, case("Throttled"));
    // Every Jira request is answered 503 with Retry-After for a moment: jira-client waits and
    // tries again, within its retry budget.
    it.jira.faults().outage(Duration::from_millis(800));
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issues().len(), 1);
    let jira = |metric: &str| {
        it.metrics
            .sum("jira-client", metric, Some(("Remote", "Jira")))
            .unwrap()
    };
    assert!(
        jira(names::REMOTE_THROTTLES) >= 1.0,
        "{:#?}",
        it.metrics.lines()
    );
    assert!(
        jira(names::REMOTE_RETRIES) >= 1.0,
        "{:#?}",
        it.metrics.lines()
    );
    // The poller never called Jira: none of it is the poller's.
    assert_eq!(
        it.metrics
            .sum("poller", names::REMOTE_RETRIES, Some(("Remote", "Jira")))
            .unwrap(),
        0.0
    );
}

#[tokio::test]
async fn rejected_webhook_requests_are_counted_by_class() {
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
    let url = it.function_url.as_ref().unwrap().url.clone();
    let body = json!({"webhookEvent": "jira:issue_updated", "issue": {"key": "SEC-1"}}).to_string();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(post(vec![]).await.unwrap().status().as_u16(), 401);
    for _ in 0..2 {
        let forged = vec![(
            "x-hub-signature",
            sign_webhook("a guessed secret", body.as_bytes()),
        )];
        assert_eq!(post(forged).await.unwrap().status().as_u16(), 401);
    }
    let class = |class: &str| {
        it.metrics
            .sum(
                "jira-notifications-handler",
                names::INTAKE_REJECTED,
                Some((CLASS_DIMENSION, class)),
            )
            .unwrap()
    };
    assert_eq!(class("unsigned"), 1.0, "{:#?}", it.metrics.lines());
    assert_eq!(class("bad-signature"), 2.0, "{:#?}", it.metrics.lines());
    assert_eq!(
        sum(&it, "jira-notifications-handler", names::CHANGES_PUBLISHED),
        0.0
    );
}
