//! The poller's backfill rule against moto and the SIR emulator: on a first installation, which
//! existing SIR cases are brought over (published as `CaseCreated`, so they get a Jira issue),
//! with the rule read from SSM as the Lambda reads it at cold start.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::World;
use integration_tests::clients::{schedule_tick, sir_client};
use integration_tests::world::RuleQueue;
use poller::{Backfill, EventBridgeSchedule, Poller, PollerSettings};
use serde_json::json;
use shared::events::{BusEvent, rule_patterns};
use shared::sir::SdkSirClient;
use shared::store::{IssueLink, LinkStore, TrackedCaseStore};
use sir_emulator::{NewCase, SirEmulator, SirEmulatorConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HUMAN: &str = "human";
fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

struct Setup {
    world: World,
    sir: SirEmulator,
    queue: RuleQueue,
    poller: Poller,
}

/// The poller with the rule `backfill` (the parameter's JSON) and an installation a minute ago,
/// both read from SSM.
async fn setup(backfill: &str) -> Setup {
    let world = World::new().await.unwrap();
    let sir = SirEmulator::start(SirEmulatorConfig::default())
        .await
        .unwrap();
    let queue = world
        .rule_queue("jira-client", &rule_patterns::jira_client())
        .await
        .unwrap();
    let rule = world.poller_schedule_rule().await.unwrap();
    let installed_at = (OffsetDateTime::now_utc() - Duration::from_secs(60))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    for (name, value) in [
        (world.parameters.installed_at(), installed_at.as_str()),
        (world.parameters.backfill(), backfill),
    ] {
        world
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let backfill = Backfill::load(&world.ssm, &world.parameters).await.unwrap();
    let poller = Poller {
        sir: Arc::new(SdkSirClient::new(sir_client(
            &sir.endpoint(),
            "integration",
        ))),
        store: Arc::new(world.store()),
        publisher: Arc::new(world.publisher()),
        schedule: Arc::new(EventBridgeSchedule::new(world.eventbridge.clone(), &rule)),
        settings: PollerSettings {
            integration_principals: vec![sir.principal("integration")],
            backfill,
            ..PollerSettings::default()
        },
    };
    Setup {
        world,
        sir,
        queue,
        poller,
    }
}

/// A responder's case created `age` ago (before the installation when older than a minute),
/// closed when `closed`.
fn existing_case(s: &Setup, title: &str, age: time::Duration, closed: bool) -> String {
    let case = s.sir.create_case(
        HUMAN,
        NewCase {
            title: title.into(),
            description: "Found while triaging GuardDuty findings.".into(),
            ..NewCase::default()
        },
    );
    if closed {
        s.sir.close_case(HUMAN, &case.case_id).unwrap();
    }
    if age > time::Duration::ZERO {
        s.sir
            .backdate_case(&case.case_id, OffsetDateTime::now_utc() - age)
            .unwrap();
    }
    case.case_id
}

/// The case ids of the CaseCreated events the jira-client rule delivered: `want` of them, and
/// whatever else arrives within a moment after.
async fn created(s: &Setup, want: usize) -> BTreeSet<String> {
    let mut bodies = Vec::new();
    if want > 0 {
        bodies = s
            .world
            .receive(&s.queue, want, Duration::from_secs(15))
            .await
            .unwrap();
    }
    bodies.extend(
        s.world
            .receive(&s.queue, 1, Duration::from_millis(800))
            .await
            .unwrap(),
    );
    let mut ids = BTreeSet::new();
    for body in bodies {
        let event = BusEvent::from_envelope(
            body["source"].as_str().unwrap(),
            body["detail-type"].as_str().unwrap(),
            body["detail"].clone(),
        )
        .unwrap();
        match event {
            BusEvent::CaseCreated(change) => {
                assert!(ids.insert(change.case.case_id.clone()), "published twice");
            }
            other => panic!("only CaseCreated expected, got {other:?}"),
        }
    }
    ids
}

fn get_case_calls(sir: &SirEmulator) -> usize {
    sir.requests()
        .iter()
        .filter(|r| r.operation == "GetCase")
        .count()
}

#[tokio::test]
async fn first_install_brings_over_open_cases_since_the_cut_off_and_every_case_created_after_installation()
 {
    let cut_off = (OffsetDateTime::now_utc() - days(200)).date();
    let s = setup(&json!({"since": cut_off.to_string(), "closed": false}).to_string()).await;
    // 30 cases from before the installation, 10 of them closed: 15 created before the cut-off
    // (5 closed), 15 after it (5 closed).
    let mut expected = BTreeSet::new();
    let mut left_out = BTreeSet::new();
    for i in 0..30 {
        let before_cut_off = i < 15;
        let closed = i % 3 == 0;
        let age = if before_cut_off { days(300) } else { days(100) };
        let id = existing_case(&s, &format!("Old case {i}"), age, closed);
        if before_cut_off || closed {
            left_out.insert(id);
        } else {
            expected.insert(id);
        }
    }
    assert_eq!((expected.len(), left_out.len()), (10, 20));
    // Created after the installation and already closed when the poller first sees it.
    expected.insert(existing_case(
        &s,
        "New, closed at once",
        time::Duration::ZERO,
        true,
    ));
    // Old and closed, but already linked (a Jira-born case): a linked case always syncs.
    let linked = existing_case(&s, "Old but linked", days(400), true);
    s.world
        .store()
        .create_link(&IssueLink::new(&linked, "SEC-7"))
        .await
        .unwrap();
    expected.insert(linked);

    let report = s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(report.listed, 32);
    assert_eq!(report.left_out, 20);
    assert_eq!(
        report.read, 12,
        "a left-out case is judged from its list entry, never read"
    );
    assert_eq!(created(&s, expected.len()).await, expected);
    for id in &left_out {
        assert!(
            s.world.store().tracked_case(id).await.unwrap().is_some(),
            "a left-out case is tracked"
        );
    }

    // The next pass reads nothing again and publishes nothing.
    let reads = get_case_calls(&s.sir);
    let report = s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!((report.read, report.left_out), (0, 0));
    assert_eq!(get_case_calls(&s.sir), reads);
    assert!(created(&s, 0).await.is_empty());
}

#[tokio::test]
async fn a_left_out_case_stays_out_when_it_changes_or_a_native_event_names_it_and_its_deletion_is_not_published()
 {
    let s = setup(r#"{"since":"","closed":false}"#).await;
    let old_closed = existing_case(&s, "Old and closed", days(30), true);
    let old_open = existing_case(&s, "Old and open", days(30), false);
    s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(created(&s, 1).await, BTreeSet::from([old_open.clone()]));

    // SIR refuses changes to a closed case; a native event naming it is judged again: still out.
    let native = json!({"version": "0", "id": "n", "detail-type": "Case Updated",
        "source": "aws.security-ir", "account": "123456789012", "time": "2026-11-21T10:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {"caseId": old_closed}});
    let report = s.poller.handle(&native).await.unwrap();
    assert_eq!(report.left_out, 1);
    assert!(report.published.is_empty());

    s.sir.delete_case(&old_closed);
    let report = s.poller.handle(&schedule_tick()).await.unwrap();
    assert!(report.published.is_empty(), "{:?}", report.published);
    assert!(
        s.world
            .store()
            .tracked_case(&old_closed)
            .await
            .unwrap()
            .is_none(),
        "no longer tracked"
    );
    assert!(created(&s, 0).await.is_empty());
}

#[tokio::test]
async fn left_out_open_cases_do_not_hold_the_comment_sweep_from_the_synced_ones() {
    let cut_off = (OffsetDateTime::now_utc() - days(10)).date();
    let mut s = setup(&json!({"since": cut_off.to_string(), "closed": false}).to_string()).await;
    s.poller.settings.comment_sweep_interval = Duration::ZERO;
    s.poller.settings.max_comment_sweeps_per_pass = 1;
    // Listed first: left out, open, before the cut-off.
    let left_out = existing_case(&s, "Old and open", days(30), false);
    let synced = existing_case(&s, "New", time::Duration::ZERO, false);
    s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(created(&s, 1).await, BTreeSet::from([synced.clone()]));
    s.world
        .store()
        .create_link(&IssueLink::new(&synced, "SEC-1"))
        .await
        .unwrap();

    for _ in 0..2 {
        let report = s.poller.handle(&schedule_tick()).await.unwrap();
        assert_eq!(report.swept, 1);
    }
    let swept = |case_id: &str| {
        s.sir
            .requests()
            .iter()
            .filter(|r| r.operation == "ListComments" && r.case_id.as_deref() == Some(case_id))
            .count()
    };
    assert_eq!(
        swept(&left_out),
        0,
        "a left-out case's comments are never read"
    );
    assert_eq!(
        swept(&synced),
        2,
        "the synced case's comments were listed when it was created, and by its sweep"
    );
}

#[tokio::test]
async fn with_closed_set_old_closed_cases_are_brought_over_too() {
    let s = setup(r#"{"closed":true}"#).await;
    let old_closed = existing_case(&s, "Old and closed", days(30), true);
    s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(created(&s, 1).await, BTreeSet::from([old_closed]));
}

#[tokio::test]
async fn a_case_whose_issue_was_deleted_is_not_swept_for_comments_again_and_again() {
    let mut s = setup(r#"{"closed":false}"#).await;
    s.poller.settings.comment_sweep_interval = Duration::ZERO;
    let case_id = existing_case(&s, "New", time::Duration::ZERO, false);
    s.poller.handle(&schedule_tick()).await.unwrap();
    assert_eq!(created(&s, 1).await, BTreeSet::from([case_id.clone()]));
    let link = IssueLink::new(&case_id, "SEC-1");
    let store = s.world.store();
    store.create_link(&link).await.unwrap();
    store
        .mark_link_broken(&link, "the issue was deleted in Jira")
        .await
        .unwrap();
    s.sir
        .add_comment(HUMAN, &case_id, "Still investigating.")
        .unwrap();
    // The comment moved the case, so the next pass re-reads it (once, as for any change).
    s.poller.handle(&schedule_tick()).await.unwrap();
    s.world
        .receive(&s.queue, 1, Duration::from_secs(15))
        .await
        .unwrap();

    for _ in 0..2 {
        let report = s.poller.handle(&schedule_tick()).await.unwrap();
        assert_eq!(report.swept, 1, "its turn is still taken");
    }
    let published = s
        .world
        .receive(&s.queue, 1, Duration::from_millis(800))
        .await
        .unwrap();
    assert_eq!(
        published,
        Vec::<serde_json::Value>::new(),
        "nothing is synced for a broken pair, so its sweep publishes nothing"
    );
}
