//! The world on one simulated clock: under a paused current-thread runtime with a simulated
//! wall-clock origin installed (`shared::clock::simulate_from`), the mapping store's claims, the
//! coalescer's windows, the Jira emulator's stamps and search lag, and the SIR emulator's dates
//! all follow tokio's virtual time, which jumps over a sleep at once. The emulators are driven through their Rust
//! API only: a socket wait would let the paused clock jump.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jira_emulator::{IssueEdit, JiraEmulator, JiraEmulatorConfig, NewIssue};
use jira_notifications_handler::Coalescing;
use jira_notifications_handler::coalesce::{Admission, Coalescer};
use shared::clock;
use shared::store::{
    CLAIM_LEASE, ClaimKey, ClaimStore, ClaimTiming, InMemoryMappingStore, run_claimed,
};
use sir_emulator::{NewCase, SirEmulator, SirEmulatorConfig};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z, where every simulated history here starts.
fn origin() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn at(offset: Duration) -> OffsetDateTime {
    OffsetDateTime::from(origin() + offset)
}

/// Real elapsed time, to show that virtual minutes cost none of it.
#[allow(clippy::disallowed_methods, reason = "measures real time")]
fn real_now() -> std::time::Instant {
    std::time::Instant::now()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dead_holders_claim_is_taken_over_one_lease_later_in_virtual_time() {
    let _clock = clock::simulate_from(origin());
    let real = real_now();
    let store = InMemoryMappingStore::new();
    let key = ClaimKey::Case("1234567890".into());

    let dead = store.claim(&key, CLAIM_LEASE).await.unwrap().unwrap();
    assert_eq!(dead.expires_at, clock::now_epoch_seconds() + 60);
    assert!(store.claim(&key, CLAIM_LEASE).await.unwrap().is_none());

    tokio::time::sleep(CLAIM_LEASE + Duration::from_secs(1)).await;
    let taken = store.claim(&key, CLAIM_LEASE).await.unwrap();
    assert!(taken.is_some(), "the expired claim was not taken over");
    assert_eq!(clock::now_system(), origin() + Duration::from_secs(61));
    assert!(real_now().duration_since(real) < Duration::from_secs(5));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delivery_waiting_for_a_dead_holder_runs_once_the_lease_runs_out() {
    let _clock = clock::simulate_from(origin());
    let real = real_now();
    let store = InMemoryMappingStore::new();
    let key = ClaimKey::Issue("SEC-1".into());
    let _dead = store.claim(&key, CLAIM_LEASE).await.unwrap().unwrap();
    let started = clock::Instant::now();

    let ran = run_claimed::<_, shared::Error>(&store, &key, &ClaimTiming::default(), async {
        Ok(clock::Instant::now() - started)
    })
    .await
    .unwrap();

    // Polled every 2 s: the first poll at or after the expiry (60 s) takes it.
    let waited = ran.expect("the waiting delivery never got the claim");
    assert!(waited >= CLAIM_LEASE && waited <= CLAIM_LEASE + Duration::from_secs(2));
    assert!(real_now().duration_since(real) < Duration::from_secs(5));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_message_beyond_the_windows_slots_waits_exactly_until_the_window_closes() {
    let _clock = clock::simulate_from(origin());
    let store = InMemoryMappingStore::new();
    let coalescer = Coalescer {
        settings: Coalescing {
            window: Duration::from_secs(10),
            reads_per_window: 1,
            clock_margin: Duration::from_millis(100),
        },
    };
    let published_ms = clock::now_epoch_millis();
    let first = coalescer
        .admit(&store, "SEC-1", published_ms, true)
        .await
        .unwrap();
    assert!(matches!(first, Admission::Read(_)));

    let started = clock::Instant::now();
    let second = coalescer
        .admit(&store, "SEC-1", published_ms, true)
        .await
        .unwrap();
    assert!(matches!(second, Admission::Read(_)));
    assert_eq!(clock::Instant::now() - started, Duration::from_secs(10));
    assert_eq!(clock::now_system(), origin() + Duration::from_secs(10));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_jira_emulators_stamps_and_search_lag_follow_the_virtual_clock() {
    let _clock = clock::simulate_from(origin());
    let jira = JiraEmulator::start(JiraEmulatorConfig {
        search_lag: Duration::from_secs(5),
        ..JiraEmulatorConfig::default()
    })
    .await
    .unwrap();
    let me = jira.integration_account_id();
    let key = jira.create_issue(&me, NewIssue::new("Phishing")).unwrap();
    let created = jira.issue(&key).unwrap();
    assert_eq!(created.created, at(Duration::ZERO));
    assert_eq!(created.updated, at(Duration::ZERO));
    let jql = "project = SEC";
    assert_eq!(jira.search_keys(jql).unwrap(), Vec::<String>::new());

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(jira.search_keys(jql).unwrap(), vec![key.clone()]);

    tokio::time::sleep(Duration::from_secs(85)).await;
    let edit = IssueEdit {
        summary: Some("Phishing wave".into()),
        ..IssueEdit::default()
    };
    jira.edit_issue(&me, &key, edit).unwrap();
    assert_eq!(
        jira.issue(&key).unwrap().updated,
        at(Duration::from_secs(90))
    );
    // The index still holds the issue as it was: found, but not yet by its new `updated`.
    assert_eq!(jira.search_keys(jql).unwrap(), vec![key.clone()]);
    let recent = "project = SEC AND updated >= \"-1m\"";
    assert_eq!(jira.search_keys(recent).unwrap(), Vec::<String>::new());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(jira.search_keys(recent).unwrap(), vec![key]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_sir_emulators_dates_follow_the_virtual_clock() {
    let _clock = clock::simulate_from(origin());
    let sir = SirEmulator::start(SirEmulatorConfig::default())
        .await
        .unwrap();
    let case = sir.create_case("human", NewCase::default());
    assert_eq!(case.created_date, at(Duration::ZERO));
    assert_eq!(case.reported_incident_start_date, at(Duration::ZERO));

    tokio::time::sleep(Duration::from_secs(90)).await;
    sir.add_comment("human", &case.case_id, "Contained.")
        .unwrap();
    let case = sir.case(&case.case_id).unwrap();
    assert_eq!(case.comments[0].created_date, at(Duration::from_secs(90)));
    assert_eq!(case.last_updated_date, at(Duration::from_secs(90)));
}
