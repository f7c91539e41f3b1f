//! Two deployments side by side, as two stacks in one account and region connecting one SIR to two
//! Jira sites: each has its own table, bus, SSM prefix, roles (the local IAM refuses either one the
//! other's resources) and Jira emulator; both read the same SIR, whose native events reach both
//! pollers. Each stack ignores only its own writes, so the other stack's copy in SIR is a
//! person's change to it: everything made in any of the three places reaches the other two
//! exactly once, with no echo and no ping-pong between the stacks.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::clients::schedule_tick;
use integration_tests::pipeline::{Integration, IntegrationOptions};
use jira_emulator::{NewIssue, User};
use sir_emulator::NewCase;

const HUMAN_SIR: &str = "human";

/// Site A's deployment, site B's beside it, and a person on each Jira site.
async fn two_sites() -> (Integration, Integration, User, User) {
    let a = Integration::start().await.unwrap();
    let b = Integration::start_beside(&a, IntegrationOptions::default())
        .await
        .unwrap();
    let alice = a
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let bob = b.jira.add_user(User::new("Bob Builder", "bob@example.org"));
    (a, b, alice, bob)
}

/// Delivers everything in flight in both deployments, then a schedule pass of both pollers and
/// both Jira sweeps (the safety nets must not copy anything again either), then settles again.
async fn settle(a: &Integration, b: &Integration) {
    for settled in Integration::settle_together(&[a, b]).await.unwrap() {
        settled.assert_clean();
    }
    for it in [a, b] {
        it.poller.handle(&schedule_tick()).await.unwrap();
        it.sweep_jira().await.unwrap();
    }
    for settled in Integration::settle_together(&[a, b]).await.unwrap() {
        settled.assert_clean();
    }
}

/// How many of the issue's comments contain `text`.
fn jira_copies(it: &Integration, key: &str, text: &str) -> usize {
    it.jira_comment_texts(key)
        .iter()
        .filter(|t| t.contains(text))
        .count()
}

/// How many of the case's comments contain `text`.
fn sir_copies(it: &Integration, case_id: &str, text: &str) -> usize {
    it.sir
        .case(case_id)
        .unwrap()
        .comments
        .iter()
        .filter(|c| c.body.contains(text))
        .count()
}

/// The only issue of the site, which must exist.
fn only_issue_key(it: &Integration) -> String {
    let issues = it.jira.issues();
    assert_eq!(
        issues.len(),
        1,
        "{:?}",
        issues.iter().map(|i| &i.key).collect::<Vec<_>>()
    );
    issues[0].key.clone()
}

#[tokio::test]
async fn a_case_reaches_both_sites_and_each_comment_lands_once_in_all_three_places() {
    let (a, b, alice, bob) = Box::pin(two_sites()).await;
    let case_id = a
        .sir
        .create_case(
            HUMAN_SIR,
            NewCase {
                title: "Seen from two Jira sites".into(),
                description: "One case, two deployments.".into(),
                ..NewCase::default()
            },
        )
        .case_id;
    settle(&a, &b).await;
    let (key_a, key_b) = (only_issue_key(&a), only_issue_key(&b));
    for (it, key) in [(&a, &key_a), (&b, &key_b)] {
        assert_eq!(
            it.jira.issue(key).unwrap().summary,
            "Seen from two Jira sites"
        );
    }

    a.sir
        .add_comment(HUMAN_SIR, &case_id, "written in SIR")
        .unwrap();
    settle(&a, &b).await;
    a.jira
        .comment(&alice.account_id, &key_a, "written on site A")
        .unwrap();
    settle(&a, &b).await;
    b.jira
        .comment(&bob.account_id, &key_b, "written on site B")
        .unwrap();
    settle(&a, &b).await;

    for text in ["written in SIR", "written on site A", "written on site B"] {
        assert_eq!(sir_copies(&a, &case_id, text), 1, "SIR: {text}");
        assert_eq!(jira_copies(&a, &key_a, text), 1, "site A: {text}");
        assert_eq!(jira_copies(&b, &key_b, text), 1, "site B: {text}");
    }
    assert_eq!(a.sir.cases().len(), 1);
    assert_eq!(only_issue_key(&a), key_a);
    assert_eq!(only_issue_key(&b), key_b);
}

#[tokio::test]
async fn an_issue_created_on_one_site_reaches_the_other_through_its_one_case() {
    let (a, b, alice, _bob) = Box::pin(two_sites()).await;
    let key_a = a
        .jira
        .create_issue(
            &alice.account_id,
            NewIssue {
                description: Some("Raised on site A.".into()),
                ..NewIssue::new("Phishing wave")
            },
        )
        .unwrap();
    settle(&a, &b).await;

    let cases = a.sir.cases();
    assert_eq!(cases.len(), 1, "one case for the issue");
    assert_eq!(cases[0].title, "Phishing wave");
    let key_b = only_issue_key(&b);
    assert_eq!(b.jira.issue(&key_b).unwrap().summary, "Phishing wave");
    // Site B's issue came from the case: it makes no second case, and nothing comes back to A.
    assert_eq!(only_issue_key(&a), key_a);
    assert_eq!(a.sir.cases().len(), 1);
}
