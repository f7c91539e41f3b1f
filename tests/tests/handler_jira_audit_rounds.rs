//! The Jira sweep's audit paced by rounds, on virtual time: jira-notifications-handler's sweep
//! against the Jira emulator in process and the in-memory mapping store, under a paused
//! current-thread runtime with a simulated wall clock (`shared::clock::simulate_from`), so an
//! hour of schedule runs passes at once. Once a round over the open issues wraps, the runs before
//! the audit interval has passed since that round started search for updated issues only; the
//! first run after it starts the next round from the first open issue.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use integration_tests::in_process::InProcessNet;
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, NewIssue, User};
use jira_notifications_handler::{NotificationHandler, NotificationsSettings, Sweeping};
use secrecy::SecretString;
use shared::clock;
use shared::config::JiraSettings;
use shared::events::BusEvent;
use shared::jira::JiraClient;
use shared::publisher::EventPublisher;
use shared::store::{InMemoryMappingStore, SweepCursorStore};

const PROJECT_KEY: &str = "SEC";

/// 2026-01-01T00:00:00Z, where the simulated history starts.
fn origin() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// Takes every event; what the sweep publishes is not under test here.
struct Accepting;

#[async_trait]
impl EventPublisher for Accepting {
    async fn publish(&self, _events: &[BusEvent]) -> shared::Result<()> {
        Ok(())
    }
}

struct Setup {
    jira: JiraEmulator,
    store: Arc<InMemoryMappingStore>,
    handler: NotificationHandler,
}

fn setup(sweep: Sweeping) -> Setup {
    let jira = JiraEmulator::in_process(JiraEmulatorConfig::default()).unwrap();
    let settings = JiraSettings {
        email: "integration@example.com".into(),
        url: jira.base_url(),
        project_key: PROJECT_KEY.into(),
        token: SecretString::from("integration-token".to_owned()),
        flavor: shared::config::JiraFlavor::Cloud,
        token_expires_on: None,
        token_version: None,
        api_url: None,
    };
    let api =
        JiraClient::with_transport(&settings, Arc::new(InProcessNet::new(&jira, None))).unwrap();
    let store = Arc::new(InMemoryMappingStore::new());
    let handler = NotificationHandler::new(
        Arc::new(api),
        store.clone(),
        Arc::new(Accepting),
        NotificationsSettings {
            sweep,
            ..NotificationsSettings::new(PROJECT_KEY)
        },
    );
    Setup {
        jira,
        store,
        handler,
    }
}

/// `n` open issues, filed by a responder, then a second for Jira to index them (the emulator
/// stamps writes within one instant a millisecond apart, into the virtual future).
async fn open_issues(jira: &JiraEmulator, n: usize) -> Vec<String> {
    let alice = jira.add_user(User::new("Alice Analyst", "alice@example.com"));
    let keys = (1..=n)
        .map(|i| {
            jira.create_issue(&alice.account_id, NewIssue::new(format!("Alert {i}")))
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    keys
}

/// One sweep run (it must succeed): the keys its audit synced.
async fn audited(handler: &NotificationHandler) -> Vec<String> {
    let report = handler.sweep().await.unwrap();
    report.audited.into_iter().map(|i| i.issue_key).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_a_round_wraps_the_audit_waits_the_interval_from_the_rounds_start() {
    let _clock = clock::simulate_from(origin());
    let interval = Duration::from_secs(30 * 60);
    let it = setup(Sweeping {
        max_audits: 2,
        audit_interval: interval,
        ..Sweeping::default()
    });
    let keys = open_issues(&it.jira, 3).await;
    let round_start = clock::Instant::now();

    assert_eq!(audited(&it.handler).await, keys[..2]);
    // Runs far enough apart that the updated-since search, its overlap included, no longer
    // finds the issues filed before the first: what Jira is asked below is the audit's doing.
    let apart = Duration::from_secs(10 * 60);
    tokio::time::sleep(apart).await;
    assert_eq!(audited(&it.handler).await, keys[2..], "the round wraps");
    let cursor = it.store.sweep_cursor("audit:SEC").await.unwrap().unwrap();
    assert!(cursor.caught_up && cursor.last_key.is_none(), "{cursor:?}");

    for at in [2 * apart, interval - Duration::from_secs(60)] {
        tokio::time::sleep_until(round_start + at).await;
        it.jira.clear_requests();
        assert_eq!(
            audited(&it.handler).await,
            Vec::<String>::new(),
            "at {at:?}"
        );
        let asked: Vec<(String, String)> = it
            .jira
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            asked,
            [("POST".to_owned(), "/rest/api/3/search/jql".to_owned())],
            "only the updated-since search at {at:?}"
        );
    }

    // The interval counts from the start of the round that ended, not from its wrap.
    tokio::time::sleep_until(round_start + interval).await;
    assert_eq!(audited(&it.handler).await, keys[..2], "the next round");
    tokio::time::sleep(apart).await;
    assert_eq!(audited(&it.handler).await, keys[2..]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_round_longer_than_the_interval_is_followed_by_the_next_at_once() {
    let _clock = clock::simulate_from(origin());
    let it = setup(Sweeping {
        max_audits: 1,
        audit_interval: Duration::from_secs(3 * 60),
        ..Sweeping::default()
    });
    let keys = open_issues(&it.jira, 3).await;

    let mut walked = Vec::new();
    for _ in 0..5 {
        walked.extend(audited(&it.handler).await);
        tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    }
    let expected: Vec<String> = keys.iter().chain(&keys[..2]).cloned().collect();
    assert_eq!(walked, expected);
}
