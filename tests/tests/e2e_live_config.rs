//! Settings read from SSM without waiting for a cold start, end to end through the pipeline:
//! the functions keep their Jira sign-in for `CONFIG_TTL_SECONDS` and read it again at once when
//! Jira answers 401, so a token rotated with `./deploy.sh` (stored in SSM, the old one revoked)
//! works within one try; a token revoked without a new one fails the event saying how to rotate
//! it, and the event goes to the dead-letter queue after Lambda's retries; the case says it in
//! one comment per refused token.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_ssm::types::ParameterType;
use integration_tests::pipeline::{Integration, IntegrationOptions};
use jira_emulator::{IssueEdit, User};
use shared::metrics::names;
use sir_emulator::NewCase;

const HUMAN: &str = "human";

fn case() -> NewCase {
    NewCase {
        title: "Keys used from an unknown network".into(),
        description: "GuardDuty finding.".into(),
        impacted_accounts: vec!["111122223333".into()],
        ..NewCase::default()
    }
}

/// Revokes the integration user's token on the site, leaving `token` as its only one.
fn site_takes_only(it: &Integration, token: &str) {
    let me = it.jira.integration_account_id();
    let email = it
        .jira
        .users()
        .into_iter()
        .find(|u| u.account_id == me)
        .and_then(|u| u.email)
        .unwrap_or_else(|| "integration@example.com".into());
    it.jira.add_api_token(&me, &email, token).unwrap();
}

#[tokio::test]
async fn a_token_rotated_in_ssm_is_used_at_the_first_401_without_a_cold_start() {
    let it = Integration::start().await.unwrap();
    let id = it.sir.create_case(HUMAN, case()).case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    // `./deploy.sh --token -` with a new token: stored in SSM; the old one is revoked.
    site_takes_only(&it, "rotated-token");
    it.world
        .put_parameter(
            &it.world.parameters.jira_token(),
            "rotated-token",
            ParameterType::SecureString,
        )
        .await
        .unwrap();

    // Both directions go on: every function meets the 401 once, reads SSM and goes on.
    it.sir.add_comment(HUMAN, &id, "Keys rotated.").unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("Keys used from an unknown network in eu-south-2".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(
        it.jira_comment_texts(&key)
            .iter()
            .any(|text| text.contains("Keys rotated.")),
        "the SIR comment reached the issue with the new token"
    );
    assert_eq!(
        it.only_case().title,
        "Keys used from an unknown network in eu-south-2"
    );
}

#[tokio::test]
async fn a_token_revoked_without_a_new_one_fails_the_event_and_says_it_once_on_the_case() {
    let it = Integration::start_with(IntegrationOptions {
        async_retry_budget: Some(3),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let id = it.sir.create_case(HUMAN, case()).case_id;
    it.settle().await.unwrap().assert_clean();

    site_takes_only(&it, "a-token-the-integration-does-not-have");
    it.sir.add_comment(HUMAN, &id, "Keys rotated.").unwrap();
    let settled = it.settle().await.unwrap();
    // The change, and the note below (SIR tells the poller of every comment), each tried three
    // times.
    assert_eq!(
        settled.to_jira.dead_lettered.len(),
        2,
        "after Lambda's retries: {settled:#?}"
    );
    let error = settled.to_jira.errors.last().unwrap();
    assert!(
        error.contains("Jira refused the integration's credentials (HTTP 401")
            && error.contains("run ./deploy.sh again with it"),
        "{error}"
    );
    // The issue cannot be written; the case says it, once for all the tries.
    let said = |it: &Integration| -> Vec<String> {
        it.sir_comment_texts(&id)
            .into_iter()
            .filter(|text| text.starts_with("Not synced to Jira"))
            .collect()
    };
    let notes = said(&it);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("Jira refused the integration's credentials (HTTP 401")
            && notes[0].contains("./deploy.sh again with it (--token - --token-expires")
            && notes[0].contains("./deploy.sh --replay-dlq"),
        "says why and what to do: {}",
        notes[0]
    );
    assert!(
        notes[0].contains(&it.jira.base_url()) && notes[0].contains("(Jira credentials v"),
        "names the site and the token's version: {}",
        notes[0]
    );

    // The next change meets the same refused token: nothing more is said.
    it.sir.add_comment(HUMAN, &id, "Still refused?").unwrap();
    let settled = it.settle().await.unwrap();
    assert_eq!(settled.to_jira.dead_lettered.len(), 1, "{settled:#?}");
    assert_eq!(said(&it).len(), 1, "{:#?}", said(&it));

    // A new token that Jira refuses too (the wrong one was pasted) is said again. (The
    // functions read SSM again at a 401 at most every 30 s while nothing changes there.)
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    it.world
        .put_parameter(
            &it.world.parameters.jira_token(),
            "another-token-the-site-does-not-know",
            ParameterType::SecureString,
        )
        .await
        .unwrap();
    it.sir.add_comment(HUMAN, &id, "Rotated?").unwrap();
    let settled = it.settle().await.unwrap();
    assert_eq!(settled.to_jira.dead_lettered.len(), 2, "{settled:#?}");
    let notes = said(&it);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    let named = |note: &str| note[note.rfind("(Jira credentials ").unwrap()..].to_owned();
    assert_ne!(named(&notes[0]), named(&notes[1]));
    for note in &notes {
        for token in ["integration-token", "another-token-the-site-does-not-know"] {
            assert!(!note.contains(token), "{note}");
        }
    }
}

/// The UTC day `days` days from now, `YYYY-MM-DD`.
fn day_from_today(days: i64) -> String {
    let now = i64::try_from(shared::clock::now_epoch_seconds()).unwrap();
    let date = aws_smithy_types::DateTime::from_secs(now + days * 86_400)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    date[..10].to_owned()
}

#[tokio::test]
async fn the_days_the_jira_token_has_left_are_a_metric_and_a_401_after_its_expiry_says_it_expired()
{
    // deploy.sh --token-expires: the date beside the token in SSM.
    let it = Integration::start_with(IntegrationOptions {
        async_retry_budget: Some(3),
        token_expires_on: Some(day_from_today(20)),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let id = it.sir.create_case(HUMAN, case()).case_id;
    it.settle().await.unwrap().assert_clean();
    let days = it
        .metrics
        .values("jira-client", names::JIRA_TOKEN_DAYS_LEFT)
        .unwrap();
    // (19 if the test ran across midnight UTC)
    assert!(
        !days.is_empty() && days.iter().all(|d| *d == 20.0 || *d == 19.0),
        "each jira-client invocation that called Jira wrote the days left: {days:?}"
    );
    assert!(
        it.metrics
            .values("poller", names::JIRA_TOKEN_DAYS_LEFT)
            .unwrap()
            .is_empty(),
        "the poller never calls Jira"
    );

    // The day passes: Jira refuses the token, and the functions, reading SSM again at the 401,
    // say it expired on the day stored (not just "expired or revoked").
    let expired_on = day_from_today(-1);
    it.world
        .put_parameter(
            &it.world.parameters.jira_token_expires_on(),
            &expired_on,
            ParameterType::String,
        )
        .await
        .unwrap();
    site_takes_only(&it, "a-token-the-integration-does-not-have");
    it.sir.add_comment(HUMAN, &id, "Token expired?").unwrap();
    let settled = it.settle().await.unwrap();
    // The change, and the note that says it on the case (its own change fails too).
    assert_eq!(settled.to_jira.dead_lettered.len(), 2, "{settled:#?}");
    let error = settled.to_jira.errors.last().unwrap();
    assert!(
        error.contains(&format!("The API token expired on {expired_on}"))
            && error.contains("--token-expires YYYY-MM-DD"),
        "{error}"
    );
    assert!(
        it.sir_comment_texts(&id)
            .iter()
            .any(|text| text.starts_with("Not synced to Jira")
                && text.contains(&format!("The API token expired on {expired_on}"))),
        "{:#?}",
        it.sir_comment_texts(&id)
    );
    let days = it
        .metrics
        .values("jira-client", names::JIRA_TOKEN_DAYS_LEFT)
        .unwrap();
    assert_eq!(days.last(), Some(&-1.0), "{days:?}");
}

#[tokio::test]
async fn a_changed_mapping_applies_without_a_cold_start_and_a_broken_one_keeps_the_last_good() {
    let it = Integration::start_with(IntegrationOptions {
        mapping_document: Some("{}".into()),
        // Read again before every event (the default is five minutes).
        config_ttl: Some(std::time::Duration::ZERO),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    it.sir.create_case(HUMAN, case());
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let initial = it.only_case().case_status;
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let mapping = |document: &'static str| {
        let it = &it;
        async move {
            it.world
                .put_parameter(
                    &it.world.parameters.status_mapping(),
                    document,
                    ParameterType::String,
                )
                .await
                .unwrap();
        }
    };

    // The team decides that In Progress in Jira says nothing to SIR (by default it moves the
    // case to Detection and Analysis): the running functions take it at once.
    mapping(r#"{"jiraToSir": {"In Progress": "no change"}}"#).await;
    it.jira
        .transition_to(&alice.account_id, &key, "In Progress")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(
        it.only_case().case_status,
        initial,
        "the new mapping applied"
    );

    // A document that does not parse: the last good mapping stays, the sync goes on, and the
    // rejection is counted for its alarm.
    mapping(r#"{"jiraToSir": {"In Progress": "#).await;
    it.jira
        .transition_to(&alice.account_id, &key, "To Do")
        .unwrap();
    it.jira
        .transition_to(&alice.account_id, &key, "In Progress")
        .unwrap();
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                summary: Some("Keys used from an unknown network, contained".into()),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let now = it.only_case();
    assert_eq!(
        now.case_status, initial,
        "the last good mapping is still in use"
    );
    assert_eq!(now.title, "Keys used from an unknown network, contained");
    assert!(
        it.metrics
            .sum("sir-client", names::CONFIG_REJECTED, None)
            .unwrap()
            >= 1.0
    );
}
