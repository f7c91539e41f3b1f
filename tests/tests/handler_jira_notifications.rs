//! jira-notifications-handler, fed by the Automation SNS topic of the real wiring (moto, the Jira
//! and SIR emulators): untrusted messages refused by class with nothing read from Jira, a
//! notification for an issue Jira never had, a Jira outage failing the invocation for SNS to
//! retry; and a flood of (forged) Automation messages naming one real issue, which costs a handful
//! of Jira re-reads while a change made in Jira during it still reaches SIR (see the handler's
//! `coalesce` module for why coalescing never loses a change).

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sns::SnsEvent;
use integration_tests::pipeline::{Integration, PROJECT_KEY, RouteLog, sns_event, sns_event_with};
use jira_emulator::{IssueEdit, NewIssue, User};
use jira_notifications_handler::{BatchReport, NotificationOutcome};
use serde_json::json;
use shared::error::LambdaError;

/// `t` as SNS writes its `Timestamp` (RFC 3339, UTC, milliseconds).
fn sns_timestamp(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let secs = i64::try_from(ms / 1_000).unwrap();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        ms % 1_000
    )
}

#[test]
fn sns_timestamps_are_rfc3339_utc() {
    let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
    assert_eq!(sns_timestamp(t), "2026-11-18T11:06:40.123Z");
    let leap_day_end = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
    assert_eq!(sns_timestamp(leap_day_end), "2000-02-29T23:59:59.000Z");
    assert_eq!(sns_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
}

/// The SNS event Lambda gets for one publish of `message`, accepted by SNS at `published`.
fn published_at(message_id: &str, message: &str, published: SystemTime) -> SnsEvent {
    sns_event(&json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:jira-automation",
        "Message": message,
        "Timestamp": sns_timestamp(published),
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.example/cert.pem",
        "UnsubscribeURL": "https://sns.example/unsubscribe",
    }))
    .unwrap()
}

fn automation_message(key: &str) -> String {
    format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#)
}

/// The integration, with Alice, a Jira user who works the issues (visible e-mail).
async fn integration() -> (Integration, User) {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "Alice@Example.com"));
    (it, alice)
}

fn new_issue(summary: &str, description: &str) -> NewIssue {
    NewIssue {
        description: Some(description.into()),
        ..NewIssue::new(summary)
    }
}

/// The outcome of every record of `reports`, as the Lambda reports it (`"Coalesced"`, …).
fn outcomes_of<'a>(reports: impl IntoIterator<Item = &'a BatchReport>) -> Vec<String> {
    reports
        .into_iter()
        .flat_map(BatchReport::outcomes)
        .map(|o| {
            serde_json::to_value(o)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The outcomes the notifications route reported during a settle.
fn settled_outcomes(log: &RouteLog) -> Vec<String> {
    log.responses
        .iter()
        .flat_map(|r| r["records"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["outcome"].as_str().map(str::to_owned))
        .collect()
}

/// Re-reads: every outcome but `Coalesced` (each is one read of the issue from Jira).
fn rereads(outcomes: &[String]) -> usize {
    outcomes.iter().filter(|o| *o != "Coalesced").count()
}

/// Delivers `count` (even) messages about `key`, each published at `published`, as SNS invokes
/// a function with a reserved concurrency of 2: one record per invocation, two at a time.
async fn flood(
    it: &Integration,
    key: &str,
    first_id: usize,
    count: usize,
    published: SystemTime,
) -> Vec<BatchReport> {
    let message = automation_message(key);
    let event = |i: usize| published_at(&format!("forged-{i}"), &message, published);
    let mut reports = Vec::new();
    for i in (first_id..first_id + count).step_by(2) {
        let (a, b) = tokio::join!(
            it.notifications.handle(event(i)),
            it.notifications.handle(event(i + 1))
        );
        reports.push(a.unwrap());
        reports.push(b.unwrap());
    }
    reports
}

/// GET requests Jira answered for the issue itself (one per re-read of it).
fn issue_reads(it: &Integration, key: &str) -> usize {
    let path = format!("/rest/api/3/issue/{key}");
    it.jira
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

#[tokio::test]
async fn a_thousand_messages_for_one_issue_cost_a_handful_of_jira_reads_and_a_change_during_them_reaches_sir()
 {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = alice.account_id.as_str();
    let key = it
        .jira
        .create_issue(
            me,
            NewIssue {
                description: Some("Phishing wave".into()),
                ..NewIssue::new("Flooded issue")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "Flooded issue");

    // The first half of the flood: 500 messages SNS accepted in one burst, nothing changes.
    it.jira.clear_requests();
    let burst = SystemTime::now();
    let first = Box::pin(flood(&it, &key, 0, 500, burst)).await;
    let first_outcomes = outcomes_of(&first);
    assert_eq!(first_outcomes.len(), 500);
    let reads = issue_reads(&it, &key);
    assert!(
        (1..=4).contains(&reads),
        "500 messages cost {reads} reads of the issue"
    );
    assert_eq!(rereads(&first_outcomes), reads);
    // Each re-read is a few calls (issue, watchers, comments): nothing else was asked of Jira.
    let calls = it.jira.requests().len();
    assert!(
        calls <= 4 * reads + 1,
        "{calls} Jira calls for {reads} re-reads"
    );

    // A person changes the issue while the flood goes on; Automation publishes about it.
    it.jira
        .edit_issue(
            me,
            &key,
            IssueEdit {
                summary: Some("Flooded issue, contained".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    it.jira
        .comment(me, &key, "changed during the flood")
        .unwrap();
    // The second half (published with the first burst) is delivered alongside the real
    // Automation messages and everything they set off.
    let (second, settled) = tokio::join!(flood(&it, &key, 500, 500, burst), it.settle());
    let settled = settled.unwrap();
    settled.assert_clean();
    it.settle().await.unwrap().assert_clean();

    let case = it.only_case();
    assert_eq!(case.title, "Flooded issue, contained");
    assert_eq!(
        case.comments
            .iter()
            .filter(|c| c.body.ends_with("changed during the flood"))
            .count(),
        1
    );
    let mut all = first_outcomes;
    all.extend(outcomes_of(&second));
    all.extend(settled_outcomes(&settled.notifications));
    let total = rereads(&all);
    assert!(
        total <= 8,
        "1,000 messages and the change's own cost {total} re-reads: {:?}",
        all.iter().filter(|o| *o != "Coalesced").collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_message_that_finds_every_reread_slot_taken_waits_for_the_next_window_and_its_change_arrives()
 {
    let it = Integration::start().await.unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let me = alice.account_id.as_str();
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, NewIssue::new("Busy issue"))
        .unwrap();
    let message = automation_message(&key);
    let handle = |id: &str| {
        let event = published_at(id, &message, SystemTime::now());
        it.notifications.handle(event)
    };
    // Created until sir-client links the issue (nothing is settled here), then Updated.
    let reread = |report: BatchReport| {
        let outcomes = report.outcomes();
        assert!(
            matches!(
                outcomes[..],
                [NotificationOutcome::Created | NotificationOutcome::Updated]
            ),
            "{outcomes:?}"
        );
    };
    // Three quick changes, each published after the previous re-read started: each takes one of
    // the window's three re-read slots at once.
    let started = Instant::now();
    reread(handle("m-1").await.unwrap());
    it.jira.comment(me, &key, "first").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    reread(handle("m-2").await.unwrap());
    it.jira.comment(me, &key, "second").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    reread(handle("m-3").await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(5), "no waiting yet");
    // The fourth change finds every slot taken: its message waits for the window to close and
    // then re-reads, so the change is not lost.
    it.jira.comment(me, &key, "third").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fourth_published = SystemTime::now();
    let fourth = it
        .notifications
        .handle(published_at("m-4", &message, fourth_published))
        .await
        .unwrap();
    reread(fourth);
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited");
    // A message published before that re-read started is covered by it: no Jira call.
    it.jira.clear_requests();
    let late = it
        .notifications
        .handle(published_at("m-0", &message, fourth_published))
        .await
        .unwrap();
    assert_eq!(late.outcomes(), [NotificationOutcome::Coalesced]);
    assert!(it.jira.requests().is_empty(), "{:?}", it.jira.requests());

    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    for text in ["first", "second", "third"] {
        assert_eq!(
            case.comments
                .iter()
                .filter(|c| c.body.ends_with(text))
                .count(),
            1,
            "{text}"
        );
    }
}

#[tokio::test]
async fn forged_and_malformed_messages_publish_nothing() {
    let (it, _alice) = integration().await;
    let forged = [
        r#"{"automationData":{"IssueId":"OPS-1"}}"#.to_owned(),
        "{not json".to_owned(),
        r#"{"automationData":{"Summary":"no key"}}"#.to_owned(),
        r#"{"automationData":{"IssueId":"SEC-1 OR 1=1"}}"#.to_owned(),
    ];
    for message in &forged {
        it.jira.automation().publish_forged(message);
    }
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    let mut rejected = settled.notifications.record_field("rejected");
    rejected.sort();
    assert_eq!(
        rejected,
        ["ill-formed-key", "missing-key", "not-json", "other-project"]
    );
    // A message far larger than Automation ever sends (SNS would not even carry 1 MB).
    let huge = format!(
        r#"{{"automationData":{{"IssueId":"{PROJECT_KEY}-1","pad":"{}"}}}}"#,
        "x".repeat(1024 * 1024)
    );
    let report = it
        .notifications
        .handle(sns_event_with("huge", &huge))
        .await
        .unwrap();
    assert_eq!(report.rejections(), ["oversized"]);
    assert_eq!(it.settle().await.unwrap().to_sir.handled, 0);
    assert!(it.sir.cases().is_empty());
    assert!(
        it.jira.requests().is_empty(),
        "nothing was read from Jira for a rejected message"
    );
}

#[tokio::test]
async fn a_notification_for_an_issue_jira_never_had_does_nothing() {
    let (it, _alice) = integration().await;
    it.jira.automation().publish_forged(&format!(
        r#"{{"automationData":{{"IssueId":"{PROJECT_KEY}-404"}}}}"#
    ));
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        settled.notifications.record_field("outcome"),
        ["UnknownIssue"]
    );
    assert_eq!(settled.to_sir.handled, 0);
    assert!(it.sir.cases().is_empty());
}

#[tokio::test]
async fn a_jira_outage_fails_the_notification_and_redelivery_completes_it() {
    let (it, alice) = integration().await;
    let me = &alice.account_id;
    it.jira.automation().set_enabled(false);
    let key = it
        .jira
        .create_issue(me, new_issue("During the outage", "x"))
        .unwrap();
    it.jira.faults().outage(Duration::from_secs(5));
    let message = format!(r#"{{"automationData":{{"IssueId":"{key}"}}}}"#);
    let err = it
        .notifications
        .handle(sns_event_with("m-1", &message))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains(&key), "{err}");
    assert!(it.sir.cases().is_empty());

    tokio::time::sleep(Duration::from_secs(5)).await;
    let report = it
        .notifications
        .handle(sns_event_with("m-1", &message))
        .await
        .unwrap();
    assert_eq!(report.outcomes(), [NotificationOutcome::Created]);
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.only_case().title, "During the outage");
}

// ---------------------------------------------------------------------------------------------
// The Jira sweep (a Scheduled Event) and the case filter's configuration.

mod sweep {
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_sdk_ssm::types::ParameterType;
    use integration_tests::iam::Function;
    use integration_tests::pipeline::{Integration, IntegrationOptions, PROJECT_KEY};
    use jira_emulator::{NewIssue, User};
    use jira_notifications_handler::{
        HandlerError, NotificationsConfig, NotificationsSettings, Sweeping,
    };
    use serde_json::Value;
    use shared::config::CaseFilter;
    use shared::store::SweepCursorStore;

    async fn without_automation(sweep: Sweeping) -> (Integration, User) {
        let it = Integration::start_with(IntegrationOptions {
            notifications: Some(NotificationsSettings {
                sweep,
                ..NotificationsSettings::new(PROJECT_KEY)
            }),
            ..IntegrationOptions::default()
        })
        .await
        .unwrap();
        it.jira.automation().set_enabled(false);
        let alice = it
            .jira
            .add_user(User::new("Alice Analyst", "alice@example.com"));
        (it, alice)
    }

    fn created(report: &Value) -> Vec<String> {
        report["issues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["outcome"] == "Created")
            .map(|i| i["issueKey"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_issue_that_fails_leaves_the_cursor_and_is_named_while_the_others_are_synced() {
        let (it, alice) = without_automation(Sweeping::default()).await;
        let keys: Vec<String> = (1..=3)
            .map(|n| {
                it.jira
                    .create_issue(&alice.account_id, NewIssue::new(format!("issue {n}")))
                    .unwrap()
            })
            .collect();
        // The second issue's stored snapshot cannot be read: syncing it fails.
        it.world
            .dynamodb
            .put_item()
            .table_name(&it.world.table_name)
            .item("PK", AttributeValue::S(format!("ISSUE#{}", keys[1])))
            .item("SK", AttributeValue::S("SNAPSHOT".into()))
            .item("snapshot", AttributeValue::S("not json".into()))
            .send()
            .await
            .unwrap();
        let err = it
            .notifications
            .handle_invocation(integration_tests::clients::schedule_tick())
            .await
            .unwrap_err();
        let HandlerError::SweepIssuesFailed { handled, failures } = &err else {
            panic!("{err}");
        };
        assert_eq!(*handled, 2, "{err}");
        let failed: Vec<&str> = failures.iter().map(|f| f.issue_key.as_str()).collect();
        assert_eq!(failed, [keys[1].as_str()]);
        let store = it.world.store();
        assert_eq!(
            store.sweep_cursor("jira:SEC").await.unwrap(),
            None,
            "the cursor did not move past the failed issue"
        );
        it.settle().await.unwrap().assert_clean();
        assert_eq!(it.sir.cases().len(), 2, "the others were synced");

        it.world
            .dynamodb
            .delete_item()
            .table_name(&it.world.table_name)
            .key("PK", AttributeValue::S(format!("ISSUE#{}", keys[1])))
            .key("SK", AttributeValue::S("SNAPSHOT".into()))
            .send()
            .await
            .unwrap();
        let report = it.sweep_jira().await.unwrap();
        assert_eq!(created(&report), [keys[1].clone()], "{report}");
        assert!(
            store
                .sweep_cursor("jira:SEC")
                .await
                .unwrap()
                .unwrap()
                .caught_up
        );
        it.settle().await.unwrap().assert_clean();
        assert_eq!(it.sir.cases().len(), 3);
    }

    #[tokio::test]
    async fn a_run_stops_at_its_bound_and_the_next_goes_on_after_the_last_issue_it_handled() {
        let (it, alice) = without_automation(Sweeping {
            max_issues: 2,
            page_size: 2,
            ..Sweeping::default()
        })
        .await;
        let mut keys = Vec::new();
        for n in 1..=5 {
            keys.push(
                it.jira
                    .create_issue(&alice.account_id, NewIssue::new(format!("issue {n}")))
                    .unwrap(),
            );
        }
        let store = it.world.store();
        let mut seen = Vec::new();
        for run in 1..=3 {
            let report = it.sweep_jira().await.unwrap();
            seen.extend(created(&report));
            let cursor = store.sweep_cursor("jira:SEC").await.unwrap().unwrap();
            assert_eq!(cursor.caught_up, run == 3, "run {run}: {report}");
            assert_eq!(report["caughtUp"], run == 3, "run {run}: {report}");
        }
        assert_eq!(seen, keys, "each issue once, in the order of their updates");
        it.settle().await.unwrap().assert_clean();
        assert_eq!(it.sir.cases().len(), 5);
    }

    #[tokio::test]
    async fn more_changes_within_the_overlap_than_a_run_takes_do_not_stall_the_sweep() {
        let (it, alice) = without_automation(Sweeping {
            max_issues: 2,
            page_size: 2,
            ..Sweeping::default()
        })
        .await;
        for n in 1..=5 {
            it.jira
                .create_issue(&alice.account_id, NewIssue::new(format!("issue {n}")))
                .unwrap();
        }
        let store = it.world.store();
        for _ in 1..=3 {
            it.sweep_jira().await.unwrap();
        }
        assert!(
            store
                .sweep_cursor("jira:SEC")
                .await
                .unwrap()
                .unwrap()
                .caught_up
        );
        it.settle().await.unwrap().assert_clean();
        assert_eq!(it.sir.cases().len(), 5);
        // Their cases' notes updated them: sweep until caught up after those updates.
        let mut runs = 0;
        while it.sweep_jira().await.unwrap()["caughtUp"] != true {
            runs += 1;
            assert!(runs < 5, "never caught up");
        }
        // The five are within the overlap, so the next search finds them again, more than a
        // run takes: each run must still get further, to the issue made after them.
        let late = it
            .jira
            .create_issue(&alice.account_id, NewIssue::new("made after the burst"))
            .unwrap();
        let mut runs = 0;
        let mut seen = Vec::new();
        loop {
            runs += 1;
            assert!(runs <= 5, "the sweep stalls: it never reached {late}");
            let report = it.sweep_jira().await.unwrap();
            seen.extend(created(&report));
            if report["caughtUp"] == true {
                break;
            }
        }
        assert_eq!(seen, [late]);
        it.settle().await.unwrap().assert_clean();
        assert_eq!(it.sir.cases().len(), 6);
    }

    #[tokio::test]
    async fn an_invocation_that_is_neither_sns_nor_the_schedule_is_refused() {
        let (it, _) = without_automation(Sweeping::default()).await;
        let err = it
            .notifications
            .handle_invocation(
                serde_json::json!({"detail-type": "Scheduled Event", "source": "evil"}),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, HandlerError::UnknownInvocation { .. }),
            "{err}"
        );
        assert!(it.jira.requests().is_empty(), "nothing was asked of Jira");
    }

    /// A world with the Jira parameters deploy.sh writes, and SSM as the handler's role reads it.
    async fn world_with_jira_parameters() -> (integration_tests::World, aws_sdk_ssm::Client) {
        let world = integration_tests::World::new().await.unwrap();
        world
            .put_jira_parameters(
                "integration@example.com",
                "http://localhost:9",
                "SEC",
                "integration-token",
            )
            .await
            .unwrap();
        let sdk = world
            .function_sdk(Function::JiraNotificationsHandler)
            .await
            .unwrap();
        (world, aws_sdk_ssm::Client::new(&sdk))
    }

    #[tokio::test]
    async fn configuration_reads_the_case_filter_and_installation_time_with_the_handlers_role() {
        let (world, ssm) = world_with_jira_parameters().await;
        let env = [
            ("MAPPING_TABLE_NAME", world.table_name.clone()),
            ("EVENT_BUS_NAME", world.bus_name.clone()),
            ("SSM_PARAMETER_PREFIX", world.parameters.prefix().to_owned()),
            (
                jira_notifications_handler::ENV_AUDIT_INTERVAL_MINUTES,
                "15".to_owned(),
            ),
        ];
        let lookup = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        assert_eq!(
            config.handler.case_filter,
            CaseFilter::Any,
            "neither is set"
        );
        assert_eq!(
            config.handler.sweep.audit_interval,
            std::time::Duration::from_secs(15 * 60)
        );

        world
            .put_parameter(
                &world.parameters.installed_at(),
                "2026-12-01T09:30:00Z",
                ParameterType::String,
            )
            .await
            .unwrap();
        world
            .put_parameter(
                &world.parameters.jira_case_filter(),
                "default",
                ParameterType::String,
            )
            .await
            .unwrap();
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        assert!(
            matches!(
                config.handler.case_filter,
                CaseFilter::CreatedSince {
                    epoch_seconds: 1_796_117_400,
                    ..
                }
            ),
            "{:?}",
            config.handler.case_filter
        );
        world
            .put_parameter(
                &world.parameters.jira_case_filter(),
                "labels = security",
                ParameterType::String,
            )
            .await
            .unwrap();
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        assert_eq!(
            config.handler.case_filter,
            CaseFilter::Jql("labels = security".into())
        );
        assert!(world.iam_denials().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_webhook_secret_is_read_decrypted_when_set_and_the_intake_is_off_unless_secure() {
        let (world, ssm) = world_with_jira_parameters().await;
        let env = [
            ("MAPPING_TABLE_NAME", world.table_name.clone()),
            ("EVENT_BUS_NAME", world.bus_name.clone()),
            ("SSM_PARAMETER_PREFIX", world.parameters.prefix().to_owned()),
        ];
        let lookup = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        assert!(
            config.webhook_secret.is_none(),
            "no secret: the intake is off"
        );

        let name = world.parameters.jira_webhook_secret();
        world
            .put_parameter(&name, "s3cr3t-from-deploy", ParameterType::SecureString)
            .await
            .unwrap();
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        let secret = config.webhook_secret.as_ref().expect("read");
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(secret),
            "s3cr3t-from-deploy"
        );
        assert!(
            !format!("{config:?}").contains("s3cr3t"),
            "the secret never reaches Debug"
        );

        world
            .put_parameter(&name, "plain", ParameterType::String)
            .await
            .unwrap();
        // Not a SecureString: the intake is off; the rest of the handler still starts.
        let config = NotificationsConfig::load(lookup, &ssm).await.unwrap();
        assert!(config.webhook_secret.is_none());
        assert!(world.iam_denials().await.unwrap().is_empty());
    }
}
