//! The bus contract against its JSON fixtures: every fixture is an EventBridge envelope as a rule
//! target receives it, parses to the right event, and serializes back to the same detail.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use shared::events::{
    BusEvent, CaseChange, DetailType, IdDelta, IssueChange, MAX_ENTRY_BYTES, MAX_IDS_PER_LIST,
};
use shared::snapshot::{CaseSnapshot, IssueSnapshot};
use shared::status::SirStatus;
use shared::text::{JIRA_SUMMARY_MAX_UTF16_UNITS, SIR_DESCRIPTION_MAX_CHARS, SIR_TITLE_MAX_CHARS};

fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn parse(envelope: &serde_json::Value) -> BusEvent {
    BusEvent::from_envelope(
        envelope["source"].as_str().unwrap(),
        envelope["detail-type"].as_str().unwrap(),
        envelope["detail"].clone(),
    )
    .unwrap()
}

#[test]
fn every_fixture_round_trips_to_the_same_detail() {
    let cases = [
        ("case_created.json", DetailType::CaseCreated),
        ("case_updated.json", DetailType::CaseUpdated),
        ("case_deleted.json", DetailType::CaseDeleted),
        ("issue_created.json", DetailType::IssueCreated),
        ("issue_updated.json", DetailType::IssueUpdated),
        ("issue_deleted.json", DetailType::IssueDeleted),
    ];
    for (name, detail_type) in cases {
        let envelope = fixture(name);
        let event = parse(&envelope);
        assert_eq!(event.detail_type(), detail_type, "{name}");
        assert_eq!(
            event.source(),
            envelope["source"].as_str().unwrap(),
            "{name}"
        );
        let back: serde_json::Value = serde_json::from_str(&event.detail_json().unwrap()).unwrap();
        assert_eq!(back, envelope["detail"], "{name} did not round-trip");
    }
}

#[test]
fn fixture_fingerprints_are_the_fingerprints_of_their_snapshots() {
    for name in ["case_created.json", "case_updated.json"] {
        let (BusEvent::CaseCreated(change) | BusEvent::CaseUpdated(change)) = parse(&fixture(name))
        else {
            panic!("{name} is not a case change");
        };
        assert_eq!(change.fingerprint, change.case.fingerprint(), "{name}");
    }
    for name in ["issue_created.json", "issue_updated.json"] {
        let (BusEvent::IssueCreated(change) | BusEvent::IssueUpdated(change)) =
            parse(&fixture(name))
        else {
            panic!("{name} is not an issue change");
        };
        assert_eq!(change.fingerprint, change.issue.fingerprint(), "{name}");
    }
}

#[test]
fn closure_travels_in_case_updated() {
    let BusEvent::CaseUpdated(change) = parse(&fixture("case_updated.json")) else {
        panic!("not CaseUpdated");
    };
    assert_eq!(change.case.status, SirStatus::Closed);
    assert_eq!(
        change.case.closure_code.as_deref(),
        Some("Investigation Completed")
    );
    assert_eq!(change.comments.added, ["000002", "000003"]);
}

#[test]
fn unknown_detail_type_and_bad_detail_are_errors() {
    assert!(BusEvent::from_envelope("security-ir", "CaseExploded", serde_json::json!({})).is_err());
    assert!(
        BusEvent::from_envelope("security-ir", "CaseCreated", serde_json::json!({"case": 1}))
            .is_err()
    );
}

/// The largest case SIR can hold: every field at its limit, in 4-byte characters where text.
fn largest_case() -> CaseSnapshot {
    let set = |n: usize, width: usize| -> BTreeSet<String> {
        (0..n).map(|i| format!("{i:0width$}")).collect()
    };
    CaseSnapshot {
        case_id: "9".repeat(10),
        title: "🛡".repeat(SIR_TITLE_MAX_CHARS),
        description: "🛡".repeat(SIR_DESCRIPTION_MAX_CHARS),
        status: SirStatus::ContainmentEradicationAndRecovery,
        // The longest of the model's closure codes.
        closure_code: Some("Investigation Completed".into()),
        engagement_type: Some("Security Incident".into()),
        reported_incident_start_date: Some("2026-11-20T10:00:00Z".into()),
        impacted_accounts: set(200, 12),
        impacted_regions: set(40, 20),
        impacted_services: set(600, 50),
        watchers: (0..30)
            .map(|i| format!("{i}{}@example.com", "w".repeat(240)))
            .collect(),
    }
}

#[test]
fn largest_possible_case_event_stays_far_below_the_eventbridge_limit() {
    let mut change = CaseChange::new(None, largest_case());
    // A case with 300 (or 30,000) long comments: only ids travel, and at most MAX_IDS_PER_LIST.
    let ids = (0..30_000).map(|i| format!("{i:036}"));
    change.comments = IdDelta::new(ids.clone(), ids.clone());
    change.attachments = IdDelta::new(ids.clone().take(50), std::iter::empty());
    let event = BusEvent::CaseUpdated(change);
    let bytes = event.entry_size().unwrap();
    assert!(bytes < MAX_ENTRY_BYTES / 2, "{bytes} bytes");
    let BusEvent::CaseUpdated(change) = &event else {
        unreachable!()
    };
    assert!(change.comments.truncated);
    assert_eq!(
        change.comments.added.len() + change.comments.updated.len(),
        MAX_IDS_PER_LIST
    );
}

#[test]
fn largest_possible_issue_event_stays_far_below_the_eventbridge_limit() {
    let issue = IssueSnapshot {
        issue_key: "SECURITYINCIDENTS-1234567".into(),
        summary: "🛡".repeat(JIRA_SUMMARY_MAX_UTF16_UNITS * 2),
        // Jira allows 32,767 characters; the synced part is what a case can hold.
        description: "🛡".repeat(32_767),
        status: "Waiting for customer".into(),
        watchers: (0..500).map(|i| format!("{i:024}")).collect(),
    };
    let mut change = IssueChange::new(None, issue);
    change.comments = IdDelta::new((0..10_000).map(|i| i.to_string()), std::iter::empty());
    let bytes = BusEvent::IssueUpdated(change).entry_size().unwrap();
    assert!(bytes < MAX_ENTRY_BYTES / 2, "{bytes} bytes");
}
