//! What the emulators push out is the same in process as over the network: the same actions
//! give the same Jira Automation messages (as SNS delivers them, through moto) and the same
//! native SIR events (as an EventBridge rule delivers them, through moto), in the same order.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::World;
use integration_tests::world::{REGION, RuleQueue};
use jira_emulator::{
    IssueEdit, JiraEmulator, JiraEmulatorConfig, NewIssue as HumanIssue, SnsTarget, User,
};
use serde_json::{Value, json};
use sir_emulator::{EventEntry, NewCase, SirEmulator, SirEmulatorConfig};

/// What a responder does in Jira: every kind of change Automation reports. Returns the
/// responder's accountId (each emulator makes its own).
fn act_in_jira(jira: &JiraEmulator) -> String {
    let ann = jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let who = ann.account_id.as_str();
    let key = jira
        .create_issue(who, HumanIssue::new("Suspicious login"))
        .unwrap();
    jira.edit_issue(
        who,
        &key,
        IssueEdit {
            summary: Some("Suspicious login from a new ASN".into()),
            ..IssueEdit::default()
        },
    )
    .unwrap();
    let comment = jira.comment(who, &key, "Looking into it.").unwrap();
    jira.edit_comment(who, &key, &comment, "Looking into it now.")
        .unwrap();
    jira.transition_to(who, &key, "In Review").unwrap();
    jira.attach(who, &key, "headers.txt", b"Received: from".to_vec())
        .unwrap();
    jira.delete_issue(who, &key).unwrap();
    ann.account_id
}

/// The messages with the responder's accountId replaced by `<responder>`.
fn with_responder_named(messages: &[String], account_id: &str) -> Vec<String> {
    messages
        .iter()
        .map(|message| message.replace(account_id, "<responder>"))
        .collect()
}

#[tokio::test]
async fn automation_messages_in_process_are_the_ones_sns_delivers() {
    let world = World::new().await.unwrap();
    let (topic_arn, queue_url) = world.automation_topic().await.unwrap();
    let over_sns = JiraEmulator::start(JiraEmulatorConfig {
        sns: Some(SnsTarget {
            endpoint: world.endpoint.clone(),
            topic_arn,
            region: REGION.to_owned(),
        }),
        ..JiraEmulatorConfig::default()
    })
    .await
    .unwrap();
    let responder_over_sns = act_in_jira(&over_sns);
    assert!(
        over_sns
            .automation()
            .wait_idle(Duration::from_secs(30))
            .await
    );
    assert_eq!(over_sns.automation().failures(), Vec::<String>::new());
    let expected = over_sns.automation().published().len();
    let queue = RuleQueue {
        rule_name: String::new(),
        queue_url,
    };
    let delivered: Vec<String> = world
        .receive(&queue, expected, Duration::from_secs(30))
        .await
        .unwrap()
        .iter()
        .map(|envelope| envelope["Message"].as_str().unwrap().to_owned())
        .collect();

    let in_process = JiraEmulator::in_process(JiraEmulatorConfig::default()).unwrap();
    let responder_in_process = act_in_jira(&in_process);
    let taken = in_process.take_automation_messages();
    assert_eq!(taken.len(), 8, "{taken:?}");
    let taken = with_responder_named(&taken, &responder_in_process);
    assert_eq!(taken, with_responder_named(&delivered, &responder_over_sns));
    assert!(
        taken
            .iter()
            .all(|m| m.contains(r#""Initiator":"<responder>""#)),
        "{taken:?}"
    );
    assert!(
        in_process.take_automation_messages().is_empty(),
        "taken once"
    );
}

/// What a responder does in SIR: every kind of native event.
fn act_in_sir(sir: &SirEmulator) -> String {
    let case = sir
        .create_case(
            "human",
            NewCase {
                title: "Unusual API calls".into(),
                description: "From a new ASN.".into(),
                ..NewCase::default()
            },
        )
        .case_id;
    let comment = sir.add_comment("human", &case, "Looking.").unwrap();
    sir.edit_comment("human", &case, &comment, "Looking now.")
        .unwrap();
    sir.set_status("human", &case, "Detection and Analysis")
        .unwrap();
    sir.upload_attachment("human", &case, "notes.txt", b"evidence".to_vec())
        .unwrap();
    sir.close_case("human", &case).unwrap();
    case
}

/// The parts of a delivered EventBridge event a PutEvents entry sets, with the case id (each
/// emulator numbers its cases from its own random start) replaced by `<case>`.
fn comparable(
    source: &str,
    detail_type: &str,
    detail: &Value,
    resources: &Value,
    case: &str,
) -> Value {
    let text = json!({
        "source": source,
        "detail-type": detail_type,
        "detail": detail,
        "resources": resources,
    })
    .to_string()
    .replace(case, "<case>");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn native_events_in_process_are_the_ones_eventbridge_delivers() {
    let world = World::new().await.unwrap();
    let queue = world
        .rule_queue("native", &json!({ "source": [sir_emulator::EVENT_SOURCE] }))
        .await
        .unwrap();
    let over_eventbridge = SirEmulator::start(SirEmulatorConfig {
        events_endpoint: Some(world.endpoint.clone()),
        event_bus_name: world.bus_name.clone(),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    let case = act_in_sir(&over_eventbridge);
    assert!(
        over_eventbridge
            .events_settled(Duration::from_secs(30))
            .await
    );
    assert_eq!(over_eventbridge.event_stats().failed, 0);
    let expected = over_eventbridge.events().len();
    let delivered: Vec<Value> = world
        .receive(&queue, expected, Duration::from_secs(30))
        .await
        .unwrap()
        .iter()
        .map(|event| {
            comparable(
                event["source"].as_str().unwrap(),
                event["detail-type"].as_str().unwrap(),
                &event["detail"],
                &event["resources"],
                &case,
            )
        })
        .collect();

    let in_process = SirEmulator::in_process(SirEmulatorConfig {
        event_bus_name: world.bus_name.clone(),
        ..SirEmulatorConfig::default()
    })
    .unwrap();
    let in_process_case = act_in_sir(&in_process);
    let entries: Vec<EventEntry> = in_process.take_events();
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert!(entries.iter().all(|e| e.event_bus_name == world.bus_name));
    let taken: Vec<Value> = entries
        .iter()
        .map(|entry| {
            comparable(
                &entry.source,
                &entry.detail_type,
                &serde_json::from_str(&entry.detail).unwrap(),
                &json!(entry.resources),
                &in_process_case,
            )
        })
        .collect();
    assert_eq!(taken, delivered);
    assert!(in_process.take_events().is_empty(), "taken once");
}
