//! The EventBridge publisher against moto: events reach exactly the rules whose pattern matches,
//! batches of more than ten are all delivered, and an oversized event is refused before sending.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::World;
use integration_tests::world::RuleQueue;
use serde_json::json;
use shared::Error;
use shared::events::{
    BusEvent, CaseChange, CaseGone, IssueChange, IssueGone, SOURCE_JIRA, SOURCE_SECURITY_IR,
};
use shared::publisher::EventPublisher;
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::status::SirStatus;

fn case(id: &str) -> CaseSnapshot {
    CaseSnapshot {
        case_id: id.into(),
        title: format!("Case {id}"),
        description: "Ransomware note found on a file share.".into(),
        status: SirStatus::Submitted,
        closure_code: None,
        engagement_type: Some("Security Incident".into()),
        reported_incident_start_date: None,
        impacted_accounts: BTreeSet::new(),
        impacted_regions: BTreeSet::new(),
        impacted_services: BTreeSet::new(),
        watchers: BTreeSet::new(),
    }
}

fn issue(key: &str) -> IssueSnapshot {
    IssueSnapshot {
        issue_key: key.into(),
        summary: format!("Issue {key}"),
        description: String::new(),
        status: "To Do".into(),
        watchers: BTreeSet::new(),
    }
}

fn received(bodies: &[serde_json::Value]) -> BTreeSet<(String, String)> {
    bodies
        .iter()
        .map(|b| {
            (
                b["source"].as_str().unwrap().to_owned(),
                b["detail-type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn queue(world: &World, name: &str, pattern: serde_json::Value) -> RuleQueue {
    world.rule_queue(name, &pattern).await.unwrap()
}

#[tokio::test]
async fn each_rule_receives_exactly_the_events_its_pattern_matches() {
    let world = World::new().await.unwrap();
    let to_jira = queue(&world, "to-jira", json!({"source": [SOURCE_SECURITY_IR]})).await;
    let to_sir = queue(&world, "to-sir", json!({"source": [SOURCE_JIRA]})).await;
    let deletions = queue(
        &world,
        "deletions",
        json!({"detail-type": ["CaseDeleted", "IssueDeleted"]}),
    )
    .await;

    let events = vec![
        BusEvent::CaseCreated(CaseChange::new(None, case("1"))),
        BusEvent::CaseDeleted(CaseGone {
            case_id: "2".into(),
            issue_key: Some("SEC-2".into()),
        }),
        BusEvent::IssueUpdated(IssueChange::new(Some(&issue("SEC-3")), issue("SEC-3"))),
        BusEvent::IssueDeleted(IssueGone {
            issue_key: "SEC-4".into(),
            case_id: None,
        }),
    ];
    world.publisher().publish(&events).await.unwrap();

    let wait = Duration::from_secs(10);
    let jira_side = world.receive(&to_jira, 2, wait).await.unwrap();
    let sir_side = world.receive(&to_sir, 2, wait).await.unwrap();
    let deleted = world.receive(&deletions, 2, wait).await.unwrap();
    assert_eq!(
        received(&jira_side),
        [
            ("security-ir".into(), "CaseCreated".into()),
            ("security-ir".into(), "CaseDeleted".into())
        ]
        .into()
    );
    assert_eq!(
        received(&sir_side),
        [
            ("jira".into(), "IssueDeleted".into()),
            ("jira".into(), "IssueUpdated".into())
        ]
        .into()
    );
    assert_eq!(
        received(&deleted),
        [
            ("jira".into(), "IssueDeleted".into()),
            ("security-ir".into(), "CaseDeleted".into())
        ]
        .into()
    );
    // Nothing more arrives than what matched.
    assert!(
        world
            .receive(&to_jira, 1, Duration::from_secs(2))
            .await
            .unwrap()
            .is_empty()
    );

    // What a consumer receives parses back to the event that was published.
    let created = jira_side
        .iter()
        .find(|b| b["detail-type"] == "CaseCreated")
        .unwrap();
    let parsed = BusEvent::from_envelope(
        created["source"].as_str().unwrap(),
        created["detail-type"].as_str().unwrap(),
        created["detail"].clone(),
    )
    .unwrap();
    assert_eq!(parsed, events[0]);
}

#[tokio::test]
async fn more_than_ten_events_are_sent_in_batches_and_all_arrive() {
    let world = World::new().await.unwrap();
    let all = queue(&world, "all", json!({"source": [SOURCE_SECURITY_IR]})).await;
    let events: Vec<_> = (0..23)
        .map(|i| BusEvent::CaseCreated(CaseChange::new(None, case(&format!("{i:010}")))))
        .collect();
    world.publisher().publish(&events).await.unwrap();
    let bodies = world
        .receive(&all, 23, Duration::from_secs(15))
        .await
        .unwrap();
    let ids: BTreeSet<_> = bodies
        .iter()
        .map(|b| b["detail"]["case"]["caseId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 23);
}

#[tokio::test]
async fn oversized_event_is_refused_before_anything_is_sent() {
    let world = World::new().await.unwrap();
    let all = queue(&world, "all", json!({"source": [SOURCE_SECURITY_IR]})).await;
    let mut huge = CaseChange::new(None, case("big"));
    // Only a hand-built event can be this big: constructors cap every list.
    huge.comments.added = (0..10_000).map(|i| format!("{i:036}")).collect();
    let small = BusEvent::CaseCreated(CaseChange::new(None, case("small")));
    let err = world
        .publisher()
        .publish(&[small, BusEvent::CaseUpdated(huge)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EventTooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("CaseUpdated event for big"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(
        world
            .receive(&all, 1, Duration::from_secs(2))
            .await
            .unwrap()
            .is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn missing_bus_is_an_error_not_a_silent_drop() {
    let world = World::new().await.unwrap();
    let publisher =
        shared::publisher::EventBridgePublisher::new(world.eventbridge.clone(), "no-such-bus");
    let err = publisher
        .publish(&[BusEvent::CaseCreated(CaseChange::new(None, case("1")))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EventBridge { .. }), "{err}");
}
