//! An API token with scopes, end to end: Atlassian serves one only through its API gateway
//! (`api.atlassian.com/ex/jira/<cloud id>`, another origin; the emulated site refuses it), so the
//! integration, told the gateway by deploy.sh (`jiraApiUrl` beside the token), syncs both ways
//! there with exactly the scopes the README lists, attachments included (Jira names them on the
//! site); a token missing one fails the event saying which scopes it needs.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::{Intake, Integration, IntegrationOptions};
use jira_emulator::{Deployment, JiraEmulatorConfig, NewIssue, User};
use shared::jira::scopes::CLASSIC_SCOPES;
use sir_emulator::NewCase;

const HUMAN: &str = "human";

/// Jira Cloud whatever `E2E_JIRA` says: API tokens with scopes and the gateway are Cloud's.
fn on_cloud(scopes: Vec<&'static str>) -> IntegrationOptions {
    let defaults = IntegrationOptions::default();
    let intake = match defaults.jira.deployment {
        Deployment::Cloud => defaults.intake,
        Deployment::DataCenter => Intake::Automation,
    };
    IntegrationOptions {
        intake,
        jira: JiraEmulatorConfig {
            deployment: Deployment::Cloud,
            ..defaults.jira
        },
        scoped_token: Some(scopes),
        ..defaults
    }
}

fn case() -> NewCase {
    NewCase {
        title: "Access keys used from a new ASN".into(),
        description: "GuardDuty finding.".into(),
        impacted_accounts: vec!["111122223333".into()],
        ..NewCase::default()
    }
}

#[tokio::test]
async fn a_token_with_only_the_readme_scopes_syncs_both_ways_through_the_gateway() {
    let it = Integration::start_with(on_cloud(CLASSIC_SCOPES.to_vec()))
        .await
        .unwrap();
    let id = it.sir.create_case(HUMAN, case()).case_id;
    it.sir.add_comment(HUMAN, &id, "Keys disabled.").unwrap();
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    assert!(
        it.jira_comment_texts(&key)
            .iter()
            .any(|text| text.contains("Keys disabled.")),
        "the SIR comment reached the issue"
    );

    // From Jira: a comment and an attachment, whose `content` names the site (where the token
    // is refused): downloaded through the gateway.
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    it.jira
        .comment(&alice.account_id, &key, "Found the source IP.")
        .unwrap();
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    it.jira
        .attach(&alice.account_id, &key, "flows.csv", bytes.clone())
        .unwrap();
    // A new issue in Jira makes a case.
    let created = it
        .jira
        .create_issue(&alice.account_id, NewIssue::new("Phishing report"))
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it
        .sir
        .cases()
        .into_iter()
        .find(|c| c.case_id == id)
        .unwrap();
    assert!(
        case.comments
            .iter()
            .any(|c| c.body.contains("Found the source IP.")),
        "{:?}",
        case.comments
    );
    assert_eq!(case.attachments.len(), 1);
    assert_eq!(case.attachments[0].bytes, bytes, "byte-exact");
    assert!(
        it.sir.cases().iter().any(|c| c.title == "Phishing report"),
        "{created} made a case"
    );
}

#[tokio::test]
async fn a_token_missing_a_scope_fails_the_event_saying_which_scopes_it_needs() {
    let it = Integration::start_with(IntegrationOptions {
        async_retry_budget: Some(3),
        ..on_cloud(vec!["read:jira-user", "read:jira-work"])
    })
    .await
    .unwrap();
    let id = it.sir.create_case(HUMAN, case()).case_id;
    let settled = it.settle().await.unwrap();
    // The create (the change of the note that says it on the case is held behind it).
    assert_eq!(settled.to_jira.dead_lettered.len(), 1, "{settled:#?}");
    let error = settled.to_jira.errors.last().unwrap();
    assert!(
        error.contains("Unauthorized; scope does not match")
            && error.contains("read:jira-user, read:jira-work, write:jira-work"),
        "{error}"
    );
    assert!(it.jira.issues().is_empty(), "nothing was created");
    let notes: Vec<String> = it
        .sir_comment_texts(&id)
        .into_iter()
        .filter(|text| text.starts_with("Not synced to Jira"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("its API token lacks a scope")
            && notes[0].contains("read:jira-user, read:jira-work, write:jira-work"),
        "said as a missing scope: {}",
        notes[0]
    );
}
