//! SIR → Jira end to end, through the real bus rules: the SIR emulator's native events reach the
//! poller through the native-event rule, the poller publishes to the integration bus, the
//! jira-client rule delivers to jira-client, which writes to the Jira emulator. Handlers run the
//! way Lambda runs them (see `integration_tests::bus`): an `Err` leaves the event to be delivered
//! again.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use integration_tests::World;
use integration_tests::bus::{Delivery, Route};
use integration_tests::clients::{schedule_tick, sir_client};
use integration_tests::iam::Function;
use integration_tests::pipeline::{Integration, deliver_batch, parse};
use jira_client::{JiraClientHandler, JiraClientSettings};
use jira_emulator::{JiraEmulator, JiraEmulatorConfig};
use poller::{EventBridgeSchedule, Poller, PollerSettings};
use secrecy::SecretString;
use serde_json::Value;
use shared::config::JiraSettings;
use shared::events::rule_patterns;
use shared::jira::{JiraClient, RetryPolicy};
use shared::publisher::EventBridgePublisher;
use shared::sir::SdkSirClient;
use shared::store::DynamoMappingStore;
use sir_emulator::{CaseUpdate, NewCase, SirEmulator, SirEmulatorConfig, Watcher};

const HUMAN: &str = "human";

struct Pipeline {
    world: World,
    sir: SirEmulator,
    jira: JiraEmulator,
    native: Route,
    to_jira: Route,
    poller: Poller,
    jira_client: JiraClientHandler,
}

async fn pipeline() -> Pipeline {
    let world = World::new().await.unwrap();
    let sir = SirEmulator::start(SirEmulatorConfig {
        events_endpoint: Some(world.endpoint.clone()),
        event_bus_name: world.bus_name.clone(),
        authorizer: Some(world.iam.authorize_url()),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    let jira = JiraEmulator::start(JiraEmulatorConfig::default())
        .await
        .unwrap();
    let native = Route {
        queue: world
            .rule_queue("poller-native", &rule_patterns::native_sir())
            .await
            .unwrap(),
    };
    let to_jira = Route {
        queue: world
            .rule_queue("jira-client", &rule_patterns::jira_client())
            .await
            .unwrap(),
    };
    let rule = world.poller_schedule_rule().await.unwrap();
    // Each Lambda signs with its own key and may do only what its role allows.
    let poller_sdk = world.function_sdk(Function::Poller).await.unwrap();
    let jira_client_sdk = world.function_sdk(Function::JiraClient).await.unwrap();
    let sir_api = |function| {
        Arc::new(SdkSirClient::new(sir_client(
            &sir.endpoint(),
            &world.access_key(function),
        )))
    };
    let store = |sdk| {
        Arc::new(DynamoMappingStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &world.table_name,
        ))
    };
    let ours = vec![sir.principal(&world.access_key(Function::SirClient))];
    let poller = Poller {
        sir: sir_api(Function::Poller),
        store: store(&poller_sdk),
        publisher: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&poller_sdk),
            &world.bus_name,
        )),
        schedule: Arc::new(EventBridgeSchedule::new(
            aws_sdk_eventbridge::Client::new(&poller_sdk),
            &rule,
        )),
        settings: PollerSettings {
            integration_principals: ours.clone(),
            ..PollerSettings::default()
        },
    };
    let jira_api = JiraClient::new(&JiraSettings {
        email: "integration@example.com".into(),
        url: jira.base_url(),
        project_key: "SEC".into(),
        token: SecretString::from("integration-token".to_owned()),
        flavor: shared::config::JiraFlavor::Cloud,
        token_expires_on: None,
        token_version: None,
        api_url: None,
    })
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
    });
    let mut settings = JiraClientSettings::new("SEC", jira.base_url(), "us-east-1");
    settings.integration_principals = ours;
    let jira_client = JiraClientHandler::new(
        Arc::new(jira_api),
        sir_api(Function::JiraClient),
        store(&jira_client_sdk),
        settings,
    );
    Pipeline {
        world,
        sir,
        jira,
        native,
        to_jira,
        poller,
        jira_client,
    }
}

impl Pipeline {
    /// Delivers everything in flight (native events → poller → bus → jira-client) until quiet.
    async fn settle(&self) -> (Delivery, Delivery) {
        // Every native event the emulator emitted has been handed to EventBridge first; the quiet
        // window then covers EventBridge → SQS delivery, which is slower on a loaded machine.
        assert!(
            self.sir.events_settled(Duration::from_secs(20)).await,
            "SIR events stuck"
        );
        let quiet = Duration::from_millis(2_500);
        let within = Duration::from_secs(90);
        let poller = &self.poller;
        let native = self
            .native
            .pump(&self.world, quiet, within, |envelope| async move {
                poller.handle(&envelope).await.map(drop)
            })
            .await
            .unwrap();
        let handler = &self.jira_client;
        let to_jira = self
            .to_jira
            .pump(&self.world, quiet, within, |envelope| async move {
                let event: EventBridgeEvent<Value> = serde_json::from_value(envelope).unwrap();
                handler.handle(event).await.map(drop)
            })
            .await
            .unwrap();
        let denials = self.world.iam_denials().await.unwrap();
        assert!(
            denials.is_empty(),
            "IAM refused a Lambda: {}",
            integration_tests::iam::describe(&denials)
        );
        (native, to_jira)
    }

    /// Delivers the native events to the poller only (what it publishes waits on the bus).
    async fn pump_native(&self) -> Delivery {
        assert!(
            self.sir.events_settled(Duration::from_secs(20)).await,
            "SIR events stuck"
        );
        let poller = &self.poller;
        self.native
            .pump(
                &self.world,
                Duration::from_millis(2_500),
                Duration::from_secs(90),
                |envelope| async move { poller.handle(&envelope).await.map(drop) },
            )
            .await
            .unwrap()
    }

    /// DynamoDB calls the poller and jira-client have made so far (the local IAM counts every
    /// request signed with their keys).
    async fn table_calls(&self) -> u64 {
        let keys = [
            self.world.access_key(Function::Poller),
            self.world.access_key(Function::JiraClient),
        ];
        self.world
            .aws_calls()
            .await
            .unwrap()
            .iter()
            .filter(|c| keys.contains(&c.access_key_id) && c.call.starts_with("dynamodb:"))
            .map(|c| c.count)
            .sum()
    }

    /// Requests jira-client made of Jira with `method` whose path ends with `suffix`.
    fn jira_requests(&self, method: &str, suffix: &str) -> usize {
        self.jira
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .count()
    }

    fn only_issue(&self) -> jira_emulator::IssueRecord {
        let issues = self.jira.issues();
        assert_eq!(
            issues.len(),
            1,
            "{:#?}",
            issues.iter().map(|i| &i.key).collect::<Vec<_>>()
        );
        issues.into_iter().next().unwrap()
    }
}

fn case(title: &str) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Data exfiltration to an unknown S3 bucket.".into(),
        impacted_accounts: vec!["111122223333".into()],
        watchers: vec![Watcher::email("nobody-in-jira@example.com")],
        ..NewCase::default()
    }
}

fn comment_texts(issue: &jira_emulator::IssueRecord) -> Vec<String> {
    issue
        .comments
        .iter()
        .map(|c| shared::adf::adf_to_text(&c.body))
        .collect()
}

/// What a new case costs the mapping table (poller and jira-client), pinned at what this
/// pipeline measured after the cuts issue 15 made: one read of the case's records per run, the
/// poller's snapshot and entry in one write, the watchers' accounts read (and cached) at once,
/// the ledger's first swap from the records, no id-map read for a case not linked yet: 13 and
/// 35 calls, where the same two cases cost 23 and 69 before them. A read or write that creeps
/// back fails here; the second bound leaves 2 calls for how the five comments' events fall
/// between runs.
#[tokio::test]
async fn a_new_case_costs_the_mapping_table_a_bounded_number_of_calls() {
    let p = pipeline().await;
    p.sir.create_case(HUMAN, case("Exfiltration"));
    p.settle().await;
    let alone = p.table_calls().await;

    let id = p
        .sir
        .create_case(HUMAN, case("Exfiltration, five findings"))
        .case_id;
    for i in 1..=5 {
        p.sir
            .add_comment(HUMAN, &id, &format!("Finding {i}."))
            .unwrap();
    }
    p.settle().await;
    let with_comments = p.table_calls().await - alone;
    assert_eq!(p.jira.issues().len(), 2);
    assert!(alone <= 13, "a new case cost {alone} table calls");
    assert!(
        with_comments <= 37,
        "a new case with 5 comments cost {with_comments} table calls (alone {alone})"
    );
}

#[tokio::test]
async fn a_case_created_in_sir_reaches_jira_without_waiting_for_the_schedule() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Exfiltration")).case_id;
    let (native, to_jira) = p.settle().await;
    assert!(
        native.handled >= 1 && to_jira.handled >= 1,
        "{native:?} {to_jira:?}"
    );
    let issue = p.only_issue();
    assert_eq!(issue.summary, "Exfiltration");
    assert!(issue.labels.contains(&format!("sir-case-{id}")));
    assert_eq!(issue.status, "To Do");
    assert_eq!(issue.creator, p.jira.integration_account_id());
}

#[tokio::test]
async fn comments_edits_and_closure_flow_to_jira_once_each() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Lifecycle")).case_id;
    p.settle().await;
    for i in 0..60 {
        p.sir
            .add_comment(HUMAN, &id, &format!("finding {i}"))
            .unwrap();
    }
    p.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                title: Some("Lifecycle (scoped)".into()),
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    p.sir
        .set_status(HUMAN, &id, "Detection and Analysis")
        .unwrap();
    p.sir
        .set_status(HUMAN, &id, "Containment, Eradication and Recovery")
        .unwrap();
    p.settle().await;
    let issue = p.only_issue();
    assert_eq!(issue.summary, "Lifecycle (scoped)");
    assert_eq!(issue.status, "In Progress");
    let texts = comment_texts(&issue);
    for i in 0..60 {
        let n = texts
            .iter()
            .filter(|t| t.ends_with(&format!("finding {i}")))
            .count();
        assert_eq!(n, 1, "finding {i} appears {n} times");
    }

    // A full schedule pass afterwards finds nothing new to send.
    p.poller.handle(&schedule_tick()).await.unwrap();
    p.settle().await;
    assert_eq!(comment_texts(&p.only_issue()).len(), texts.len());

    p.sir.close_case(HUMAN, &id).unwrap();
    let delivered = p.settle().await;
    if p.only_issue().status != "Done" {
        eprintln!("deliveries {delivered:?}");
        eprintln!(
            "last SIR events {:?}",
            p.sir.events().iter().rev().take(3).collect::<Vec<_>>()
        );
        eprintln!(
            "issue history {:?}",
            p.only_issue()
                .history
                .iter()
                .rev()
                .take(8)
                .map(|h| format!("{:?}", h.action))
                .collect::<Vec<_>>()
        );
        eprintln!(
            "case snapshot {:?}",
            shared::store::SnapshotStore::case_snapshot(&p.world.store(), &id).await
        );
    }
    assert_eq!(p.only_issue().status, "Done", "a closure reaches Jira");
}

#[tokio::test]
async fn our_own_comment_in_sir_is_not_sent_back_to_jira() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Echo")).case_id;
    p.settle().await;
    let before = comment_texts(&p.only_issue()).len();
    p.sir
        .add_comment(
            &p.world.access_key(Function::SirClient),
            &id,
            "written by sir-client",
        )
        .unwrap();
    p.settle().await;
    p.poller.handle(&schedule_tick()).await.unwrap();
    p.settle().await;
    let texts = comment_texts(&p.only_issue());
    assert_eq!(texts.len(), before, "{texts:?}");
}

#[tokio::test]
async fn an_attachment_added_in_sir_reaches_the_issue_byte_exact_once() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Evidence")).case_id;
    p.settle().await;
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    p.sir
        .upload_attachment(HUMAN, &id, "cloudtrail-excerpt.json", bytes.clone())
        .unwrap();
    p.sir
        .add_comment(HUMAN, &id, "CloudTrail excerpt attached.")
        .unwrap();
    p.settle().await;
    p.poller.handle(&schedule_tick()).await.unwrap();
    p.settle().await;
    let issue = p.only_issue();
    assert_eq!(issue.attachments.len(), 1, "{:?}", issue.attachments);
    assert_eq!(issue.attachments[0].filename, "cloudtrail-excerpt.json");
    assert_eq!(issue.attachments[0].bytes.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_jira_outage_is_ridden_out_by_redelivery() {
    let p = pipeline().await;
    p.jira.faults().outage(Duration::from_secs(6));
    p.sir.create_case(HUMAN, case("During the outage"));
    let (_, first) = p.settle().await;
    assert!(
        !first.errors.is_empty(),
        "the handler reported the outage: {first:?}"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    p.settle().await;
    assert_eq!(p.only_issue().summary, "During the outage");
}

#[tokio::test]
async fn sir_throttling_during_a_pass_delays_but_skips_nothing() {
    let p = pipeline().await;
    // Native events off: only the schedule sees these cases.
    let ids: Vec<_> = (0..8)
        .map(|i| p.sir.create_case(HUMAN, case(&format!("Case {i}"))).case_id)
        .collect();
    p.native
        .pump(
            &p.world,
            Duration::from_millis(500),
            Duration::from_secs(10),
            |_| async { Ok::<(), String>(()) },
        )
        .await
        .unwrap();
    p.sir.faults().retry_after(0);
    p.sir.faults().throttle_share(0.5);
    let mut passes = 0;
    while p.poller.handle(&schedule_tick()).await.is_err() {
        passes += 1;
        assert!(passes < 20, "the schedule never got through");
    }
    p.sir.faults().clear();
    p.settle().await;
    let issues = p.jira.issues();
    assert_eq!(issues.len(), ids.len());
    for id in &ids {
        assert!(
            issues
                .iter()
                .any(|i| i.labels.contains(&format!("sir-case-{id}"))),
            "case {id} missing"
        );
    }
}

/// An issue deleted in Jira whose Automation message never came: jira-client, under its own
/// role, finds it gone at the case's next change, notes it on the case and breaks the link.
#[tokio::test]
async fn an_issue_deleted_unannounced_is_noted_on_its_case_by_jira_client() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Issue will vanish")).case_id;
    p.settle().await;
    let key = p.only_issue().key;
    p.jira.automation().set_enabled(false);
    p.jira
        .delete_issue(&p.jira.integration_account_id(), &key)
        .unwrap();
    p.sir
        .add_comment(HUMAN, &id, "Still investigating.")
        .unwrap();
    p.poller.handle(&schedule_tick()).await.unwrap();
    p.settle().await;
    let notes: Vec<String> = p
        .sir
        .case(&id)
        .unwrap()
        .comments
        .iter()
        .map(|c| c.body.clone())
        .filter(|body| body.contains(&format!("Jira issue {key} linked to this case was deleted")))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(p.jira.issues().is_empty(), "no issue is re-created");
}

#[tokio::test]
async fn a_deleted_case_leaves_its_issue_with_a_note() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Short-lived")).case_id;
    p.settle().await;
    p.sir.delete_case(&id);
    p.poller.handle(&schedule_tick()).await.unwrap();
    p.settle().await;
    let issue = p.only_issue();
    assert!(
        issue.labels.iter().any(|l| l.contains("deleted")),
        "{:?}",
        issue.labels
    );
    assert!(comment_texts(&issue).iter().any(|t| t.contains(&id)));
}

#[tokio::test]
async fn a_case_deleted_while_its_update_is_in_flight_gets_one_deletion_note_and_no_failure() {
    let it = Integration::start().await.unwrap();
    let id = it.sir.create_case(HUMAN, case("Vanishing")).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    // The poller publishes the CaseUpdated; the case is gone before jira-client gets it.
    let update = CaseUpdate {
        title: Some("Renamed just before the deletion".into()),
        ..CaseUpdate::default()
    };
    it.sir.update_case(HUMAN, &id, update).unwrap();
    assert!(it.sir.events_settled(Duration::from_secs(20)).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut published = 0;
    let poller = &it.poller;
    while published == 0 {
        assert!(std::time::Instant::now() < deadline, "no native event");
        let results = deliver_batch(&it.world.sqs, &it.native.queue_url, |body| async move {
            let envelope = parse(&body)?;
            poller
                .handle(&envelope)
                .await
                .map(|_| Value::Null)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        published += results.len();
    }
    it.sir.delete_case(&id);

    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        settled.to_jira.record_field("outcome"),
        vec!["Deleted".to_owned()]
    );
    let issue = it.jira.issue(&key).unwrap();
    assert!(issue.labels.iter().any(|l| l == jira_client::DELETED_LABEL));
    let notes = |issue: &jira_emulator::IssueRecord| {
        comment_texts(issue)
            .iter()
            .filter(|t| t.contains(&id) && t.contains("no longer exists"))
            .count()
    };
    assert_eq!(notes(&issue), 1);

    // The poller's next pass publishes CaseDeleted: nothing more is said.
    it.poller.handle(&schedule_tick()).await.unwrap();
    let settled = it.settle().await.unwrap();
    settled.assert_clean();
    assert_eq!(
        settled.to_jira.record_field("outcome"),
        vec!["LinkBroken".to_owned()]
    );
    assert_eq!(notes(&it.jira.issue(&key).unwrap()), 1);
}

#[tokio::test]
async fn a_watcher_jira_refuses_is_reported_once_and_the_rest_of_the_case_still_arrives() {
    let it = Integration::start().await.unwrap();
    let ann = it
        .jira
        .add_user(jira_emulator::User::new("Ann Analyst", "ann@example.com"));
    let refusal = "The user Ann Analyst cannot be added as a watcher of this issue.";
    it.jira.faults().refuse_watcher(&ann.account_id, refusal);
    let id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                watchers: vec![Watcher::email("ann@example.com")],
                ..case("Refused watcher")
            },
        )
        .case_id;
    it.sir
        .add_comment(HUMAN, &id, "Isolated the instance.")
        .unwrap();
    it.sir
        .upload_attachment(HUMAN, &id, "evidence.txt", b"evidence".to_vec())
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let issue = &it.jira.issues()[0];
    let texts = comment_texts(issue);
    let copies = |text: &str| texts.iter().filter(|t| t.contains(text)).count();
    assert_eq!(copies("Isolated the instance."), 1, "{texts:#?}");
    assert_eq!(copies(refusal), 1, "{texts:#?}");
    assert_eq!(issue.attachments.len(), 1);
    assert!(!issue.watchers.contains(&ann.account_id));

    // A later change of the case: the watcher is refused again, not reported again.
    it.sir.add_comment(HUMAN, &id, "Rotated the keys.").unwrap();
    it.settle().await.unwrap().assert_clean();
    let texts = comment_texts(&it.jira.issue(&issue.key).unwrap());
    assert_eq!(texts.iter().filter(|t| t.contains(refusal)).count(), 1);
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("Rotated the keys."))
            .count(),
        1
    );
}

#[tokio::test]
async fn jira_answering_429_for_20_seconds_then_recovering_gets_everything() {
    let p = pipeline().await;
    let faults = p.jira.faults();
    // A bucket that refills one request every 30 s: everything is 429 with a long Retry-After.
    faults.rate_limit(Some(jira_emulator::RateLimit {
        capacity: 1,
        refill_per_second: 1.0 / 30.0,
    }));
    let recovery = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        faults.rate_limit(None);
    });
    let id = p.sir.create_case(HUMAN, case("Throttled Jira")).case_id;
    for i in 0..5 {
        p.sir.add_comment(HUMAN, &id, &format!("step {i}")).unwrap();
    }
    let (_, during) = p.settle().await;
    recovery.await.unwrap();
    let (_, after) = p.settle().await;
    assert!(
        !during.errors.is_empty() || after.handled > 0,
        "{during:?} {after:?}"
    );
    let throttled = p.jira.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "Jira did refuse requests");
    let issue = p.only_issue();
    let texts = comment_texts(&issue);
    for i in 0..5 {
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.ends_with(&format!("step {i}")))
                .count(),
            1,
            "step {i}"
        );
    }
}

#[tokio::test]
async fn a_case_titled_with_300_emoji_gets_an_issue_whose_summary_jira_accepts() {
    let p = pipeline().await;
    // SIR counts code points (300 fit); Jira counts UTF-16 units (600 here, 255 allowed).
    let title = "🛡".repeat(300);
    let id = p.sir.create_case(HUMAN, case(&title)).case_id;
    let (_, to_jira) = p.settle().await;
    assert!(to_jira.errors.is_empty(), "{:?}", to_jira.errors);
    let issue = p.only_issue();
    assert!(
        issue.summary.encode_utf16().count() <= 255,
        "{} units",
        issue.summary.encode_utf16().count()
    );
    assert_eq!(
        issue.summary,
        "🛡".repeat(127),
        "as much of the title as fits"
    );
    assert!(issue.labels.contains(&format!("sir-case-{id}")));
}

/// The top-level nodes of an issue's description.
fn description_nodes(issue: &jira_emulator::IssueRecord) -> Vec<Value> {
    issue.description.as_ref().unwrap()["content"]
        .as_array()
        .unwrap()
        .clone()
}

fn text_of(nodes: &[Value]) -> String {
    shared::adf::adf_to_text(&serde_json::json!({"type": "doc", "version": 1, "content": nodes}))
}

#[tokio::test]
async fn a_description_extended_in_jira_keeps_its_rich_text_until_sir_changes_the_description() {
    use serde_json::json;
    let it = Integration::start().await.unwrap();
    let ann = it
        .jira
        .add_user(jira_emulator::User::new("Ann Analyst", "ann@example.com"));
    let id = it.sir.create_case(HUMAN, case("Extended in Jira")).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    // Ann adds a rich section above the details block (Jira's editor keeps the panel).
    let mut nodes = description_nodes(&it.jira.issue(&key).unwrap());
    let block = nodes.pop().unwrap();
    assert_eq!(block["type"], "panel");
    nodes.extend([
        json!({"type": "heading", "attrs": {"level": 3},
               "content": [{"type": "text", "text": "Ann's notes"}]}),
        json!({"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Bucket policy", "marks": [{"type": "strong"}]},
                {"type": "text", "text": " allowed public reads since Monday"}]}]}]}),
    ]);
    let extended = nodes.clone();
    nodes.push(block);
    it.jira
        .edit_issue(
            &ann.account_id,
            &key,
            jira_emulator::IssueEdit {
                description: Some(json!({"type": "doc", "version": 1, "content": nodes}).into()),
                ..jira_emulator::IssueEdit::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let sir_copy = it.sir.case(&id).unwrap().description;
    assert_eq!(sir_copy, text_of(&extended), "SIR gets the text, flattened");

    // A details change: the block alone is rewritten, Ann's rich text stays as she wrote it.
    it.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                impacted_accounts_to_add: vec!["999988887777".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let nodes = description_nodes(&it.jira.issue(&key).unwrap());
    assert_eq!(nodes[..extended.len()], extended[..]);
    assert_eq!(nodes.len(), extended.len() + 1);
    assert!(
        text_of(&nodes[extended.len()..]).contains("Impacted accounts: 111122223333, 999988887777")
    );
    assert_eq!(it.sir.case(&id).unwrap().description, sir_copy);

    // The description itself rewritten in SIR: SIR's text replaces the part above the block.
    it.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                description: Some("Rewritten in SIR after the review.".into()),
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let nodes = description_nodes(&it.jira.issue(&key).unwrap());
    assert_eq!(nodes.len(), 2);
    assert_eq!(text_of(&nodes[..1]), "Rewritten in SIR after the review.");
    assert!(text_of(&nodes[1..]).contains("Impacted accounts: 111122223333, 999988887777"));
    assert_eq!(
        it.sir.case(&id).unwrap().description,
        "Rewritten in SIR after the review.",
        "nothing echoed back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_deliveries_outlasting_the_lease_both_succeed_under_jira_clients_role() {
    let lease = Duration::from_secs(2);
    let it = Integration::start_with(integration_tests::pipeline::IntegrationOptions {
        claims: Some(shared::store::ClaimTiming {
            lease,
            renew_every: Duration::from_millis(500),
            wait: Duration::from_secs(60),
            poll: Duration::from_millis(200),
        }),
        ..integration_tests::pipeline::IntegrationOptions::default()
    })
    .await
    .unwrap();
    let id = it.sir.create_case(HUMAN, case("Overlapping")).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    // A change whose sync takes several leases: every Jira call is slow.
    it.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                title: Some("Overlapping (renamed)".into()),
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.sir.add_comment(HUMAN, &id, "First finding.").unwrap();
    it.sir.add_comment(HUMAN, &id, "Second finding.").unwrap();
    assert!(it.sir.events_settled(Duration::from_secs(20)).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let poller = &it.poller;
    let mut published = 0;
    while published == 0 {
        assert!(std::time::Instant::now() < deadline, "no native event");
        let results = deliver_batch(&it.world.sqs, &it.native.queue_url, |body| async move {
            let envelope = parse(&body)?;
            poller
                .handle(&envelope)
                .await
                .map(|_| Value::Null)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap();
        published += results.len();
    }
    it.jira.faults().latency(Duration::from_secs(1));

    // Each event delivered twice at once, as two Lambda instances would run it.
    let jira_client = &it.jira_client;
    let mut holder_took = Duration::ZERO;
    let mut deliveries = 0;
    while deliveries == 0 {
        assert!(std::time::Instant::now() < deadline, "no CaseUpdated");
        let results = deliver_batch(&it.world.sqs, &it.to_jira.queue_url, |body| async move {
            let event: EventBridgeEvent<Value> =
                serde_json::from_value(parse(&body)?).map_err(|e| e.to_string())?;
            let timed = |event| async move {
                let started = std::time::Instant::now();
                let result = Box::pin(jira_client.handle(event)).await;
                (result, started.elapsed())
            };
            let ((a, a_took), (b, b_took)) = tokio::join!(timed(event.clone()), timed(event));
            a.map_err(|e| shared::error::error_chain(&e))?;
            b.map_err(|e| shared::error::error_chain(&e))?;
            // The holder finished first: its own work's length.
            Ok(serde_json::json!(a_took.min(b_took).as_millis()))
        })
        .await
        .unwrap();
        for result in results {
            let millis = result.expect("both overlapping deliveries succeed");
            holder_took = holder_took.max(Duration::from_millis(millis.as_u64().unwrap()));
            deliveries += 1;
        }
    }
    assert!(
        holder_took > lease * 2,
        "the holder's work outlasted its lease twice: {holder_took:?}"
    );
    it.jira.faults().clear();
    // Nothing left over, and no call the roles refuse (settle fails on an IAM denial).
    it.settle().await.unwrap().assert_clean();
    let issue = it.jira.issue(&key).unwrap();
    assert_eq!(issue.summary, "Overlapping (renamed)");
    let texts = comment_texts(&issue);
    for comment in ["First finding.", "Second finding."] {
        assert_eq!(
            texts.iter().filter(|t| t.contains(comment)).count(),
            1,
            "{texts:#?}"
        );
    }
}

#[tokio::test]
async fn writes_whose_answers_jira_lost_are_not_made_twice_by_the_redelivery() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Lost answers")).case_id;
    p.settle().await;
    p.sir
        .add_comment(HUMAN, &id, "Exfiltration confirmed.")
        .unwrap();
    let bytes = b"src,dst\n10.0.0.1,203.0.113.9\n".to_vec();
    p.sir
        .upload_attachment(HUMAN, &id, "flows.csv", bytes.clone())
        .unwrap();
    // Jira makes the copy and the upload; both answers are lost, so the delivery fails and the
    // message comes back.
    p.jira.faults().fail_after_applying("POST", "/comment", 504);
    p.jira
        .faults()
        .fail_after_applying("POST", "/attachments", 504);
    let (_, first) = p.settle().await;
    assert!(
        !first.errors.is_empty(),
        "the lost answers failed a delivery"
    );
    let lost = p.jira.requests().iter().filter(|r| r.status == 504).count();
    assert_eq!(lost, 2, "both writes were made and their answers lost");
    p.settle().await;

    let issue = p.only_issue();
    let copies = comment_texts(&issue)
        .iter()
        .filter(|t| t.ends_with("Exfiltration confirmed."))
        .count();
    assert_eq!(copies, 1);
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(issue.attachments[0].bytes.as_ref(), bytes.as_slice());
}

/// Changes made in SIR while the case's issue is being created are held in the ledger behind the
/// unacknowledged `CaseCreated`, not published as more `CaseCreated`s (each would cost
/// jira-client Jira and SIR reads); jira-client's create already read them, so it only
/// acknowledges the held delivery.
#[tokio::test]
async fn changes_made_before_the_issue_exists_ride_on_the_create_instead_of_more_events() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Held")).case_id;
    p.pump_native().await;
    for i in 1..=3 {
        p.sir
            .add_comment(HUMAN, &id, &format!("finding {i}"))
            .unwrap();
    }
    p.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                title: Some("Held (scoped)".into()),
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    p.pump_native().await;
    let subject = shared::store::DeliverySubject::Case(id.clone());
    let store = p.world.store();
    let held = shared::store::PendingDeliveryStore::pending_delivery(&store, &subject)
        .await
        .unwrap()
        .unwrap();
    assert!(held.held, "{held:?}");

    let (_, to_jira) = p.settle().await;
    assert_eq!(
        to_jira.handled, 1,
        "one CaseCreated, nothing after it: {to_jira:?}"
    );
    let issue = p.only_issue();
    assert_eq!(issue.summary, "Held (scoped)");
    let texts = comment_texts(&issue);
    for i in 1..=3 {
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.ends_with(&format!("finding {i}")))
                .count(),
            1,
            "{texts:?}"
        );
    }
    assert_eq!(
        shared::store::PendingDeliveryStore::pending_delivery(&store, &subject)
            .await
            .unwrap(),
        None,
        "the held delivery is acknowledged"
    );
    // What the create needed of Jira and no more: no search for an earlier create (none was
    // recorded), the issue read once, its watchers and comments never (it is new: nobody but
    // the integration watches it, nobody has commented).
    assert_eq!(p.jira_requests("POST", "/search/jql"), 0);
    assert_eq!(p.jira_requests("POST", "/rest/api/3/issue"), 1);
    assert_eq!(p.jira_requests("GET", &format!("/issue/{}", issue.key)), 1);
    assert_eq!(p.jira_requests("GET", "/watchers"), 0);
    assert_eq!(p.jira_requests("GET", "/comment"), 0);
}

/// A held delivery the create did not cover (here a watcher added after the create was
/// published) is applied by jira-client right after the create, with no event of its own.
#[tokio::test]
async fn a_held_change_the_create_did_not_cover_is_applied_right_after_it() {
    let p = pipeline().await;
    let id = p.sir.create_case(HUMAN, case("Held watcher")).case_id;
    p.pump_native().await;
    p.sir
        .update_case(
            HUMAN,
            &id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("ann@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    p.sir.add_comment(HUMAN, &id, "late finding").unwrap();
    p.pump_native().await;
    let ann = p
        .jira
        .add_user(jira_emulator::User::new("Ann Analyst", "ann@example.com"));

    let (_, to_jira) = p.settle().await;
    assert_eq!(to_jira.handled, 1, "{to_jira:?}");
    let issue = p.only_issue();
    assert!(
        issue.watchers.contains(&ann.account_id),
        "{:?}",
        issue.watchers
    );
    assert_eq!(
        comment_texts(&issue)
            .iter()
            .filter(|t| t.ends_with("late finding"))
            .count(),
        1
    );
    // The held delivery was applied (a second read of the issue) and acknowledged.
    assert_eq!(p.jira_requests("GET", &format!("/issue/{}", issue.key)), 2);
    let store = p.world.store();
    assert_eq!(
        shared::store::PendingDeliveryStore::pending_delivery(
            &store,
            &shared::store::DeliverySubject::Case(id)
        )
        .await
        .unwrap(),
        None
    );
}
