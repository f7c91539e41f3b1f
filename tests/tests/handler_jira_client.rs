//! jira-client's handler against moto (mapping table, SSM) and both emulators, called with
//! EventBridge envelopes as the Lambda receives them, the events made from real SIR emulator
//! state: issue creation and adoption, field/status/comment/attachment/watcher sync,
//! idempotency under duplicate, concurrent and crashed deliveries, Jira faults, echo
//! prevention, case deletion, and refusal of events that are not case events.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_securityir::config::SharedCredentialsProvider;
use aws_sdk_securityir::config::retry::RetryConfig;
use aws_sdk_securityir::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssm::types::ParameterType;
use integration_tests::World;
use jira_client::{
    AppliedToJira, DELETED_LABEL, IssueOutcome, JiraClientConfig, JiraClientError,
    JiraClientHandler, JiraClientSettings, RefusedItem, case_label,
};
use jira_emulator::{
    IssueAction, IssueEdit as HumanEdit, IssueRecord, JiraEmulator, JiraEmulatorConfig,
    NewIssue as HumanIssue, User,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::adf::adf_to_text;
use shared::comment_marker::CommentMarker;
use shared::config::JiraSettings;
use shared::error::LambdaError;
use shared::events::{BusEvent, CaseChange, CaseGone, IssueChange};
use shared::issue_description::{case_console_url, compose_issue_description};
use shared::issue_notes::{IssueNotes, SirToJiraNotes};
use shared::jira::{
    IssueEdit, JiraApi, JiraAttachment, JiraClient, JiraComment, JiraIssue, JiraUser, NewIssue,
    RetryPolicy, Transition,
};
use shared::sir::{SdkSirClient, SirApi, sir_client_config};
use shared::snapshot::{CaseSnapshot, Fingerprint, IssueSnapshot};
use shared::store::{
    AccountCacheStore, CachedAccount, IssueLink, ItemLink, ItemLinkStore, LinkStore,
    LinkedItemKind, Origin, SnapshotStore,
};
use shared::text::normalize_text;
use sir_emulator::{CaseUpdate, NewCase as HumanCase, SirEmulator, SirEmulatorConfig, Watcher};

const REGION: &str = "eu-west-1";
/// SIR access key of the people working the case.
const HUMAN: &str = "human";
/// SIR access key jira-client reads SIR with.
const LAMBDA: &str = "jira-client";
/// SIR access key of the Jira → SIR Lambda: its comments are the integration's own.
const SIR_CLIENT: &str = "sir-client";

/// How far Jira's search index lags its writes in the crash, duplicate and adoption tests: Cloud
/// documents `/search/jql` as eventually consistent (a new issue may not be found for a while
/// unless `reconcileIssues` names it), and a Lambda retry can come within seconds.
const SEARCH_LAG: Duration = Duration::from_secs(5);

/// One test's world: moto (table), the SIR emulator and the Jira emulator.
struct Setup {
    world: World,
    sir: SirEmulator,
    jira: JiraEmulator,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with_jira(JiraEmulatorConfig::default()).await
    }

    /// A Jira whose search does not see writes younger than [`SEARCH_LAG`].
    async fn with_search_lag() -> Setup {
        Setup::with_jira(JiraEmulatorConfig {
            search_lag: SEARCH_LAG,
            ..JiraEmulatorConfig::default()
        })
        .await
    }

    async fn with_jira(config: JiraEmulatorConfig) -> Setup {
        let world = World::new().await.unwrap();
        let sir = SirEmulator::start(SirEmulatorConfig {
            region: REGION.into(),
            ..SirEmulatorConfig::default()
        })
        .await
        .unwrap();
        let jira = JiraEmulator::start(config).await.unwrap();
        Setup { world, sir, jira }
    }

    /// The Jira client main.rs builds, with short backoffs.
    fn jira_client(&self) -> JiraClient {
        JiraClient::new(&self.jira_settings())
            .unwrap()
            .with_retry_policy(RetryPolicy {
                max_retries: 4,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                max_retry_after: Duration::from_secs(5),
            })
    }

    /// A handler wired like main.rs wires it.
    fn handler(&self) -> JiraClientHandler {
        let jira = self.jira_client();
        let settings = JiraClientSettings {
            integration_principals: vec![
                self.sir.principal(SIR_CLIENT),
                self.sir.principal(LAMBDA),
            ],
            ..JiraClientSettings::new("SEC", self.jira.base_url(), REGION)
        };
        JiraClientHandler::new(
            Arc::new(jira),
            Arc::new(self.sir_api(LAMBDA)),
            Arc::new(self.world.store()),
            settings,
        )
    }

    fn jira_settings(&self) -> JiraSettings {
        JiraSettings {
            email: "integration@example.com".into(),
            url: self.jira.base_url(),
            project_key: "SEC".into(),
            token: SecretString::from("integration-token".to_owned()),
            flavor: shared::config::JiraFlavor::Cloud,
            token_expires_on: None,
            token_version: None,
            api_url: None,
        }
    }

    fn sdk_client(&self, access_key: &str) -> aws_sdk_securityir::Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.sir.endpoint())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                access_key, "secret", None, None, "test",
            )))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build();
        aws_sdk_securityir::Client::from_conf(sir_client_config(&sdk).build())
    }

    fn sir_api(&self, access_key: &str) -> SdkSirClient {
        SdkSirClient::new(self.sdk_client(access_key))
    }

    /// A case a responder opened in SIR, moved through `statuses`.
    fn open_case(&self, case: HumanCase, statuses: &[&str]) -> String {
        let id = self.sir.create_case(HUMAN, case).case_id;
        for status in statuses {
            self.sir.set_status(HUMAN, &id, status).unwrap();
        }
        id
    }

    /// The case as the poller reads it (GetCase through the SDK).
    async fn snapshot(&self, case_id: &str) -> CaseSnapshot {
        self.sir_api(HUMAN)
            .get_case(case_id)
            .await
            .unwrap()
            .unwrap()
            .snapshot
    }

    /// `CaseCreated` as the poller publishes it, which then stores the case snapshot.
    async fn created(&self, case_id: &str) -> EventBridgeEvent<Value> {
        let now = self.snapshot(case_id).await;
        let event = envelope(&BusEvent::CaseCreated(CaseChange::new(None, now.clone())));
        self.world.store().put_case_snapshot(&now).await.unwrap();
        event
    }

    /// `CaseUpdated` from `before` as the poller publishes it, which then stores the snapshot.
    async fn updated(&self, case_id: &str, before: &CaseSnapshot) -> EventBridgeEvent<Value> {
        let now = self.snapshot(case_id).await;
        let event = envelope(&BusEvent::CaseUpdated(CaseChange::new(
            Some(before),
            now.clone(),
        )));
        self.world.store().put_case_snapshot(&now).await.unwrap();
        event
    }

    /// Every live issue labelled for the case.
    fn issues_for(&self, case_id: &str) -> Vec<IssueRecord> {
        let label = case_label(case_id);
        self.jira
            .issues()
            .into_iter()
            .filter(|issue| issue.labels.contains(&label))
            .collect()
    }

    /// The one issue of the case (fails if there are none or several).
    fn issue_of(&self, case_id: &str) -> IssueRecord {
        let mut issues = self.issues_for(case_id);
        assert_eq!(issues.len(), 1, "exactly one issue for case {case_id}");
        issues.remove(0)
    }

    /// How many `POST /issue` (creates) Jira answered.
    fn jira_creates(&self) -> usize {
        self.jira
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/rest/api/3/issue")
            .count()
    }

    fn jira_requests(&self, method: &str, path_part: &str) -> usize {
        self.jira
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_part))
            .count()
    }
}

/// The envelope EventBridge hands a rule target.
fn envelope(event: &BusEvent) -> EventBridgeEvent<Value> {
    raw_envelope(
        event.source(),
        event.detail_type().as_str(),
        &serde_json::from_str(&event.detail_json().unwrap()).unwrap(),
    )
}

fn raw_envelope(source: &str, detail_type: &str, detail: &Value) -> EventBridgeEvent<Value> {
    serde_json::from_value(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": integration_tests::world::ACCOUNT,
        "time": "2026-11-20T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }))
    .unwrap()
}

fn human_case(title: &str) -> HumanCase {
    HumanCase {
        title: title.into(),
        description: "Access keys used from an unknown ASN.\n\nSee CloudTrail.".into(),
        impacted_accounts: vec!["111122223333".into()],
        impacted_aws_regions: vec!["eu-west-1".into()],
        impacted_services: vec!["IAM".into()],
        ..HumanCase::default()
    }
}

fn description_of(issue: &IssueRecord) -> String {
    issue
        .description
        .as_ref()
        .map(adf_to_text)
        .unwrap_or_default()
}

fn comments_of(issue: &IssueRecord) -> Vec<String> {
    issue
        .comments
        .iter()
        .map(|c| adf_to_text(&c.body))
        .collect()
}

fn comments_containing(issue: &IssueRecord, text: &str) -> usize {
    comments_of(issue)
        .iter()
        .filter(|c| c.contains(text))
        .count()
}

fn transitions_in(issue: &IssueRecord) -> usize {
    issue
        .history
        .iter()
        .filter(|h| matches!(h.action, IssueAction::Transitioned { .. }))
        .count()
}

async fn apply(handler: &JiraClientHandler, event: EventBridgeEvent<Value>) -> AppliedToJira {
    handler.handle(event).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// A new case becomes one issue.

#[tokio::test]
async fn new_case_becomes_an_issue_with_summary_details_label_and_mapped_status() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(
        human_case("Suspicious IAM activity"),
        &[
            "Detection and Analysis",
            "Containment, Eradication and Recovery",
        ],
    );
    let applied = apply(&handler, s.created(&case_id).await).await;

    assert_eq!(applied.outcome, IssueOutcome::Created);
    let issue = s.issue_of(&case_id);
    assert_eq!(applied.issue_key.as_deref(), Some(issue.key.as_str()));
    assert_eq!(issue.summary, "Suspicious IAM activity");
    assert_eq!(issue.issue_type, "Task");
    assert_eq!(issue.labels, [format!("sir-case-{case_id}")]);
    assert_eq!(issue.status, "In Progress");
    let case = s.snapshot(&case_id).await;
    let description = description_of(&issue);
    assert_eq!(
        description,
        normalize_text(&compose_issue_description(
            &case,
            &case_console_url(REGION, &case_id)
        ))
    );
    assert!(description.starts_with("Access keys used from an unknown ASN.\n\nSee CloudTrail."));
    for detail in [
        format!("Case ID: {case_id}"),
        format!(
            "https://eu-west-1.console.aws.amazon.com/security-ir/home?region=eu-west-1#/cases/{case_id}"
        ),
        "Engagement type: Security Incident".to_owned(),
        "Impacted accounts: 111122223333".to_owned(),
        "Impacted regions: eu-west-1".to_owned(),
        "Impacted services: IAM".to_owned(),
        "Reported incident start: ".to_owned(),
    ] {
        assert!(description.contains(&detail), "{detail} in {description}");
    }

    // The link and both snapshots: the Jira side's holds the synced text, without the details.
    let store = s.world.store();
    let link = store.link_for_case(&case_id).await.unwrap().unwrap();
    assert_eq!(link.issue_key, issue.key);
    assert_eq!(store.case_snapshot(&case_id).await.unwrap(), Some(case));
    let jira_side = store.issue_snapshot(&issue.key).await.unwrap().unwrap();
    assert_eq!(jira_side.summary, "Suspicious IAM activity");
    assert_eq!(
        jira_side.description,
        "Access keys used from an unknown ASN.\n\nSee CloudTrail."
    );
    assert_eq!(jira_side.status, "In Progress");
}

#[tokio::test]
async fn post_incident_case_walks_several_hops_to_in_review() {
    let s = Setup::new().await;
    let case_id = s.open_case(
        human_case("Post-incident"),
        &["Detection and Analysis", "Post-incident Activities"],
    );
    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "In Review");
    assert_eq!(applied.transitions, 2, "To Do → In Progress → In Review");
    assert_eq!(transitions_in(&issue), 2);
}

#[tokio::test]
async fn submitted_case_stays_in_to_do_and_long_title_is_clipped_to_the_summary_limit() {
    let s = Setup::new().await;
    let title = format!("Exfiltration {}", "x".repeat(290));
    let case_id = s.open_case(human_case(&title), &[]);
    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.summary.chars().count(), 255);
    assert!(title.starts_with(&issue.summary));
    assert_eq!(issue.status, "To Do");
    assert_eq!(applied.transitions, 0);
}

#[tokio::test]
async fn existing_comments_and_verified_attachments_are_copied_with_their_bytes() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("With history"), &[]);
    let first = s
        .sir
        .add_comment(HUMAN, &case_id, "Isolated the instance.")
        .unwrap();
    s.sir
        .add_comment(HUMAN, &case_id, "Rotated the keys.\nAll of them.")
        .unwrap();
    let bytes: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let attachment = s
        .sir
        .upload_attachment(HUMAN, &case_id, "cloudtrail.json", bytes.clone())
        .unwrap();

    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    assert_eq!((applied.comments_added, applied.attachments_added), (2, 1));

    let issue = s.issue_of(&case_id);
    let comments = comments_of(&issue);
    assert_eq!(comments.len(), 2);
    assert!(comments[0].starts_with("[AWS Security Incident Response] Comment by human at "));
    assert!(comments[0].ends_with("\n\nIsolated the instance."));
    assert!(comments[1].ends_with("Rotated the keys.\nAll of them."));
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(issue.attachments[0].filename, "cloudtrail.json");
    assert_eq!(issue.attachments[0].bytes.as_ref(), bytes.as_slice());

    // Both are mapped by id, as copies made from SIR.
    let store = s.world.store();
    let comment_link = store
        .item_link_by_sir_id(LinkedItemKind::Comment, &case_id, &first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(comment_link.origin, Origin::Sir);
    assert_eq!(comment_link.jira_id, issue.comments[0].id);
    let attachment_link = store
        .item_link_by_sir_id(LinkedItemKind::Attachment, &case_id, &attachment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attachment_link.jira_id, issue.attachments[0].id);
}

#[tokio::test]
async fn watchers_are_added_by_account_id_and_unresolvable_emails_are_reported_once() {
    let s = Setup::new().await;
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let case_id = s.open_case(
        HumanCase {
            watchers: vec![
                Watcher::email("Ann@Example.com"),
                Watcher::email("ghost@example.com"),
            ],
            ..human_case("Watched")
        },
        &[],
    );
    let handler = s.handler();
    let applied = apply(&handler, s.created(&case_id).await).await;
    assert_eq!(applied.watchers_added, 1);
    assert_eq!(applied.watchers_unresolved, ["ghost@example.com"]);

    let issue = s.issue_of(&case_id);
    assert!(
        issue.watchers.contains(&ann.account_id),
        "{:?}",
        issue.watchers
    );
    assert_eq!(comments_containing(&issue, "ghost@example.com"), 1);
    // The "no such user" answer is cached too.
    assert_eq!(
        s.world
            .store()
            .cached_account("ghost@example.com")
            .await
            .unwrap(),
        Some(CachedAccount {
            email: "ghost@example.com".into(),
            account_id: None,
        })
    );
    let jira_side = s
        .world
        .store()
        .issue_snapshot(&issue.key)
        .await
        .unwrap()
        .unwrap();
    assert!(jira_side.watchers.contains(&ann.account_id));

    // A second unresolvable watcher: only it is reported; the first is not reported again and
    // no one is looked up again (the cache answers).
    let before = s.snapshot(&case_id).await;
    s.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("nobody@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    let searches = s.jira_requests("GET", "/user/search");
    let event = s.updated(&case_id, &before).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!(
        applied.watchers_unresolved,
        ["ghost@example.com", "nobody@example.com"]
    );
    assert_eq!(s.jira_requests("GET", "/user/search") - searches, 1);
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "ghost@example.com"), 1);
    assert_eq!(comments_containing(&issue, "nobody@example.com"), 1);
    assert_eq!(
        issue.properties[SirToJiraNotes::PROPERTY]["reportedUnresolvedWatchers"],
        json!(["ghost@example.com", "nobody@example.com"])
    );

    // The same event again reports nothing.
    let comments = issue.comments.len();
    apply(&handler, event).await;
    assert_eq!(s.issue_of(&case_id).comments.len(), comments);
}

#[tokio::test]
async fn a_watcher_jira_refuses_is_reported_once_and_comments_and_attachments_still_arrive() {
    let s = Setup::new().await;
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let bob = s.jira.add_user(User::new("Bob Builder", "bob@example.com"));
    let refusal = "The user Ann Analyst cannot be added as a watcher of this issue.";
    s.jira.faults().refuse_watcher(&ann.account_id, refusal);
    let case_id = s.open_case(
        HumanCase {
            watchers: vec![
                Watcher::email("ann@example.com"),
                Watcher::email("bob@example.com"),
            ],
            ..human_case("Refused watcher")
        },
        &[],
    );
    s.sir
        .add_comment(HUMAN, &case_id, "Isolated the instance.")
        .unwrap();
    s.sir
        .upload_attachment(HUMAN, &case_id, "evidence.txt", b"evidence".to_vec())
        .unwrap();
    let handler = s.handler();
    let event = s.created(&case_id).await;

    let applied = apply(&handler, event.clone()).await;
    assert_eq!(applied.watchers_added, 1);
    assert_eq!(
        (applied.comments_added, applied.notes),
        (1, 1),
        "the copy, and the one note"
    );
    assert_eq!(applied.attachments_added, 1);
    assert_eq!(
        applied.refused,
        [RefusedItem {
            item: "watcher ann@example.com".into(),
            reason: refusal.into(),
        }]
    );
    let issue = s.issue_of(&case_id);
    assert!(issue.watchers.contains(&bob.account_id));
    assert!(!issue.watchers.contains(&ann.account_id));
    assert_eq!(comments_containing(&issue, "Isolated the instance."), 1);
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(comments_containing(&issue, refusal), 1);
    assert_eq!(comments_containing(&issue, "watcher ann@example.com"), 1);

    // Redelivered: the watcher is tried again, refused again, and not reported again.
    let applied = apply(&handler, event).await;
    assert_eq!(applied.refused.len(), 1);
    assert_eq!(applied.comments_added, 0);
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, refusal), 1);
    assert_eq!(issue.comments.len(), 2);
}

#[tokio::test]
async fn a_transient_failure_of_one_item_fails_the_event_after_the_rest_is_applied() {
    let s = Setup::new().await;
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let case_id = s.open_case(
        HumanCase {
            watchers: vec![Watcher::email("ann@example.com")],
            ..human_case("Busy Jira")
        },
        &[],
    );
    s.sir
        .add_comment(HUMAN, &case_id, "Isolated the instance.")
        .unwrap();
    let handler = s.handler();
    let event = s.created(&case_id).await;
    apply(&handler, s.created(&case_id).await).await;
    s.sir
        .add_comment(HUMAN, &case_id, "Second thought.")
        .unwrap();
    assert!(s.issue_of(&case_id).watchers.contains(&ann.account_id));
    let bo = s.jira.add_user(User::new("Bo Builder", "bo@example.com"));
    s.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                watchers_to_add: vec![Watcher::email("bo@example.com")],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    // Every add-watcher call answers 503 (the client's retries included).
    s.jira.faults().fail_watcher(&bo.account_id, 503);

    let err = handler.handle(event.clone()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "Second thought."), 1);
    assert!(!issue.watchers.contains(&bo.account_id));
    assert_eq!(comments_containing(&issue, "refused"), 0);
}

#[tokio::test]
async fn a_transition_jira_refuses_for_a_required_field_is_reported_once_and_the_rest_applied() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(
        human_case("Needs a resolution"),
        &["Detection and Analysis"],
    );
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    s.jira
        .faults()
        .require_transition_field("Done", "resolution", "Resolution is required.");
    s.sir
        .add_comment(HUMAN, &case_id, "Closing it now.")
        .unwrap();
    s.sir.close_case(HUMAN, &case_id).unwrap();

    let event = s.updated(&case_id, &before).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!(
        applied.refused,
        [RefusedItem {
            item: "status change to Done".into(),
            reason: "resolution: Resolution is required.".into(),
        }]
    );
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "In Review", "moved as far as Jira let it");
    // The hops made are the integration's own: not taken for a responder's move later.
    let jira_side = s
        .world
        .store()
        .issue_snapshot(&issue.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jira_side.status, "In Review");
    assert_eq!(comments_containing(&issue, "Closing it now."), 1);
    let closure = format!("closure code: {}", sir_emulator::CLOSURE_CODE);
    assert_eq!(comments_containing(&issue, &closure), 1);
    assert_eq!(comments_containing(&issue, "Resolution is required."), 1);

    // Redelivered: reported once.
    apply(&handler, event).await;
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "Resolution is required."), 1);
    assert_eq!(comments_containing(&issue, &closure), 1);
}

// ---------------------------------------------------------------------------------------------
// Changes of a linked case.

#[tokio::test]
async fn title_description_and_status_edits_propagate_and_redelivery_writes_nothing() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Before"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;

    s.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                title: Some("After".into()),
                description: Some("New findings.\n\nTwo hosts.".into()),
                impacted_accounts_to_add: vec!["444455556666".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    s.sir
        .set_status(HUMAN, &case_id, "Detection and Analysis")
        .unwrap();
    let event = s.updated(&case_id, &before).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!(applied.outcome, IssueOutcome::Updated);
    assert_eq!(applied.fields_edited, ["summary", "description"]);
    assert_eq!(applied.transitions, 1);

    let issue = s.issue_of(&case_id);
    assert_eq!(issue.summary, "After");
    let description = description_of(&issue);
    assert!(
        description.starts_with("New findings.\n\nTwo hosts.\n\n"),
        "{description}"
    );
    assert!(description.contains("Impacted accounts: 111122223333, 444455556666"));
    assert_eq!(issue.status, "In Progress");

    let store = s.world.store();
    let jira_side = store.issue_snapshot(&issue.key).await.unwrap().unwrap();
    assert_eq!(
        (
            jira_side.summary.as_str(),
            jira_side.description.as_str(),
            jira_side.status.as_str()
        ),
        ("After", "New findings.\n\nTwo hosts.", "In Progress")
    );
    assert_eq!(
        store.case_snapshot(&case_id).await.unwrap(),
        Some(s.snapshot(&case_id).await)
    );

    // The same event again: the issue already matches, nothing is written.
    let edits = s.jira_requests("PUT", "/issue/");
    let moves = s.jira_requests("POST", "/transitions");
    let applied = apply(&handler, event).await;
    assert!(applied.fields_edited.is_empty());
    assert_eq!(applied.transitions, 0);
    assert_eq!(s.jira_requests("PUT", "/issue/"), edits);
    assert_eq!(s.jira_requests("POST", "/transitions"), moves);
}

#[tokio::test]
async fn only_changed_fields_are_written_so_a_jira_edit_of_another_field_stays() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Original title"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let key = s.issue_of(&case_id).key;
    let before = s.snapshot(&case_id).await;

    // Someone renames the issue in Jira; meanwhile the case only changes status in SIR.
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    s.jira
        .edit_issue(
            &ann.account_id,
            &key,
            HumanEdit {
                summary: Some("Renamed in Jira".into()),
                ..HumanEdit::default()
            },
        )
        .unwrap();
    s.sir
        .set_status(HUMAN, &case_id, "Detection and Analysis")
        .unwrap();
    let applied = apply(&handler, s.updated(&case_id, &before).await).await;
    assert!(applied.fields_edited.is_empty());
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.summary, "Renamed in Jira");
    assert_eq!(issue.status, "In Progress");
}

#[tokio::test]
async fn closed_case_moves_the_issue_to_done_with_one_closure_comment() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("To close"), &["Detection and Analysis"]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    s.sir.close_case(HUMAN, &case_id).unwrap();

    let event = s.updated(&case_id, &before).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!(applied.transitions, 2, "In Progress → In Review → Done");
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "Done");
    let note = format!("closure code: {}", sir_emulator::CLOSURE_CODE);
    assert_eq!(comments_containing(&issue, &note), 1);

    // Delivered again, and as a late CaseCreated: still one closure comment.
    apply(&handler, event).await;
    apply(&handler, s.created(&case_id).await).await;
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, &note), 1);
    assert_eq!(issue.status, "Done");
}

#[tokio::test]
async fn sixty_comments_sync_without_duplicates_and_edits_update_their_copies() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Chatty"), &[]);
    let ids: Vec<String> = (0..60)
        .map(|i| {
            s.sir
                .add_comment(HUMAN, &case_id, &format!("Update number {i}."))
                .unwrap()
        })
        .collect();
    let created = s.created(&case_id).await;
    let applied = apply(&handler, created.clone()).await;
    assert_eq!(applied.comments_added, 60);
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.comments.len(), 60);
    for i in 0..60 {
        assert_eq!(
            comments_containing(&issue, &format!("Update number {i}.")),
            1,
            "comment {i}"
        );
    }

    // Delivered again: nothing new.
    let applied = apply(&handler, created).await;
    assert_eq!((applied.comments_added, applied.comments_updated), (0, 0));
    assert_eq!(s.issue_of(&case_id).comments.len(), 60);

    // One new comment and one edited: one added, one updated in place.
    let before = s.snapshot(&case_id).await;
    s.sir
        .add_comment(HUMAN, &case_id, "Update number 60.")
        .unwrap();
    s.sir
        .edit_comment(HUMAN, &case_id, &ids[5], "Update number 5, corrected.")
        .unwrap();
    let event = s.updated(&case_id, &before).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!((applied.comments_added, applied.comments_updated), (1, 1));
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.comments.len(), 61);
    assert_eq!(
        comments_containing(&issue, "Update number 5, corrected."),
        1
    );
    assert_eq!(comments_containing(&issue, "Update number 5."), 0);
    let applied = apply(&handler, event).await;
    assert_eq!((applied.comments_added, applied.comments_updated), (0, 0));
    assert_eq!(s.issue_of(&case_id).comments.len(), 61);
}

#[tokio::test]
async fn comments_and_attachments_that_came_from_jira_are_not_posted_back() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Two-way"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let key = s.issue_of(&case_id).key;
    let before = s.snapshot(&case_id).await;

    // The Jira → SIR Lambda copied a Jira comment to SIR (its own principal, link written)...
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let jira_comment = s
        .jira
        .comment(&ann.account_id, &key, "Seen from Jira.")
        .unwrap();
    let copy = s
        .sir
        .add_comment(SIR_CLIENT, &case_id, "Seen from Jira.")
        .unwrap();
    s.world
        .store()
        .put_item_link(&ItemLink {
            kind: LinkedItemKind::Comment,
            case_id: case_id.clone(),
            sir_id: copy,
            issue_key: key.clone(),
            jira_id: jira_comment,
            origin: Origin::Jira,
            fingerprint: Some(Fingerprint::of_text("Seen from Jira.").as_str().to_owned()),
        })
        .await
        .unwrap();
    // ...and crashed after another copy, before writing its link: its principal gives it away.
    s.sir
        .add_comment(SIR_CLIENT, &case_id, "Copied, link lost.")
        .unwrap();
    // A comment whose link says it came from Jira, whoever wrote it in SIR.
    let other = s
        .sir
        .add_comment(HUMAN, &case_id, "Mapped from Jira.")
        .unwrap();
    s.world
        .store()
        .put_item_link(&ItemLink {
            kind: LinkedItemKind::Comment,
            case_id: case_id.clone(),
            sir_id: other,
            issue_key: key.clone(),
            jira_id: "99999".into(),
            origin: Origin::Jira,
            fingerprint: None,
        })
        .await
        .unwrap();
    // An attachment the Jira → SIR Lambda copied to SIR.
    s.sir
        .upload_attachment(SIR_CLIENT, &case_id, "from-jira.txt", b"jira".to_vec())
        .unwrap();
    // And one responder comment that must be copied.
    s.sir
        .add_comment(HUMAN, &case_id, "Written in SIR.")
        .unwrap();

    let applied = apply(&handler, s.updated(&case_id, &before).await).await;
    assert_eq!((applied.comments_added, applied.comments_updated), (1, 0));
    assert_eq!(applied.attachments_added, 0);
    assert!(s.issue_of(&case_id).attachments.is_empty());
    let issue = s.issue_of(&case_id);
    assert_eq!(
        comments_containing(&issue, "Seen from Jira."),
        1,
        "only the original"
    );
    assert_eq!(comments_containing(&issue, "Copied, link lost."), 0);
    assert_eq!(comments_containing(&issue, "Mapped from Jira."), 0);
    assert_eq!(comments_containing(&issue, "Written in SIR."), 1);
}

#[tokio::test]
async fn edited_comment_whose_jira_copy_is_gone_is_posted_again() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Lost copy"), &[]);
    let comment = s.sir.add_comment(HUMAN, &case_id, "First words.").unwrap();
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    // The link points to a Jira comment that no longer exists.
    let store = s.world.store();
    let link = store
        .item_link_by_sir_id(LinkedItemKind::Comment, &case_id, &comment)
        .await
        .unwrap()
        .unwrap();
    store
        .put_item_link(&ItemLink {
            jira_id: "999999".into(),
            ..link
        })
        .await
        .unwrap();
    s.sir
        .edit_comment(HUMAN, &case_id, &comment, "Second thoughts.")
        .unwrap();

    let applied = apply(&handler, s.updated(&case_id, &before).await).await;
    assert_eq!(applied.comments_updated, 1);
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "Second thoughts."), 1);
    let relinked = store
        .item_link_by_sir_id(LinkedItemKind::Comment, &case_id, &comment)
        .await
        .unwrap()
        .unwrap();
    let copy = issue.comments.last().unwrap();
    assert_eq!(relinked.jira_id, copy.id);
    assert!(adf_to_text(&copy.body).ends_with("Second thoughts."));
}

#[tokio::test]
async fn pending_attachment_fails_retryably_until_it_is_verified() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Evidence"), &[]);
    s.sir
        .upload_attachment(HUMAN, &case_id, "ready.txt", b"ready".to_vec())
        .unwrap();
    let later = b"uploaded later".to_vec();
    let upload = s
        .sdk_client(HUMAN)
        .get_case_attachment_upload_url()
        .case_id(&case_id)
        .file_name("later.txt")
        .content_length(i64::try_from(later.len()).unwrap())
        .send()
        .await
        .unwrap();

    let event = s.created(&case_id).await;
    let err = handler.handle(event.clone()).await.unwrap_err();
    assert!(
        matches!(err, JiraClientError::AttachmentsPending { .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    // Everything else is there already.
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(issue.attachments[0].filename, "ready.txt");

    let response = reqwest::Client::new()
        .put(upload.attachment_presigned_url())
        .body(later.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let applied = apply(&handler, event).await;
    assert_eq!(applied.attachments_added, 1);
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.attachments.len(), 2);
    let copied = issue
        .attachments
        .iter()
        .find(|a| a.filename == "later.txt")
        .unwrap();
    assert_eq!(copied.bytes.as_ref(), later.as_slice());
}

#[tokio::test]
async fn attachment_jira_refuses_as_too_large_is_reported_once_and_not_tried_again() {
    let s = Setup::with_jira(JiraEmulatorConfig {
        max_attachment_bytes: 1_024,
        ..JiraEmulatorConfig::default()
    })
    .await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Big evidence"), &[]);
    s.sir
        .upload_attachment(HUMAN, &case_id, "memory.dmp", vec![7u8; 4_096])
        .unwrap();
    let event = s.created(&case_id).await;
    let applied = apply(&handler, event.clone()).await;
    assert_eq!(
        (applied.attachments_added, applied.attachments_refused),
        (0, 1)
    );
    let issue = s.issue_of(&case_id);
    assert!(issue.attachments.is_empty());
    assert_eq!(comments_containing(&issue, "memory.dmp (4096 bytes)"), 1);

    let uploads = s.jira_requests("POST", "/attachments");
    apply(&handler, event).await;
    assert_eq!(s.jira_requests("POST", "/attachments"), uploads);
    assert_eq!(comments_containing(&s.issue_of(&case_id), "memory.dmp"), 1);
}

// ---------------------------------------------------------------------------------------------
// Each write is made once, even when its answer was lost after Jira applied it.

/// Delivers `event` with the answer to the next `method` request whose path contains
/// `path_part` lost after Jira applied it (as a gateway timeout, or a Lambda that stopped right
/// after the call, leaves it): the delivery fails with the write made and not recorded. Then
/// delivers it again, as Lambda retries it, and returns what that did.
async fn lose_the_answer_then_redeliver(
    s: &Setup,
    handler: &JiraClientHandler,
    event: EventBridgeEvent<Value>,
    method: &str,
    path_part: &str,
) -> AppliedToJira {
    s.jira.faults().fail_after_applying(method, path_part, 504);
    let failed = handler.handle(event.clone()).await;
    assert!(
        failed.is_err(),
        "the lost answer fails the delivery: {failed:?}"
    );
    let lost = s
        .jira
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_part) && r.status == 504)
        .count();
    assert_eq!(lost, 1, "the write was made and its answer lost");
    handler.handle(event).await.unwrap()
}

#[tokio::test]
async fn a_comment_copy_whose_answer_was_lost_is_found_and_linked_not_posted_again() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Lost answer"), &[]);
    let sir_id = s
        .sir
        .add_comment(HUMAN, &case_id, "Isolated the instance.")
        .unwrap();
    let event = s.created(&case_id).await;

    let applied = lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/comment").await;
    assert_eq!(applied.comments_added, 0, "found, not posted");
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "Isolated the instance."), 1);
    assert_eq!(issue.comments.len(), 1);
    let link = s
        .world
        .store()
        .item_link_by_sir_id(LinkedItemKind::Comment, &case_id, &sir_id)
        .await
        .unwrap()
        .expect("the copy found is linked");
    assert_eq!(link.jira_id, issue.comments[0].id);
}

#[tokio::test]
async fn an_upload_whose_answer_was_lost_is_found_and_linked_not_uploaded_again() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Lost upload answer"), &[]);
    let bytes = b"CloudTrail excerpt".to_vec();
    let sir_id = s
        .sir
        .upload_attachment(HUMAN, &case_id, "cloudtrail.json", bytes.clone())
        .unwrap();
    let event = s.created(&case_id).await;

    let applied = lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/attachments").await;
    assert_eq!(applied.attachments_added, 0, "found, not uploaded");
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.attachments.len(), 1);
    assert_eq!(issue.attachments[0].bytes.as_ref(), bytes.as_slice());
    let link = s
        .world
        .store()
        .item_link_by_sir_id(LinkedItemKind::Attachment, &case_id, &sir_id)
        .await
        .unwrap()
        .expect("the upload found is linked");
    assert_eq!(link.jira_id, issue.attachments[0].id);
    assert_eq!(s.jira_requests("POST", "/attachments"), 1);
}

#[tokio::test]
async fn a_too_large_note_whose_answer_was_lost_is_posted_once() {
    let s = Setup::with_jira(JiraEmulatorConfig {
        max_attachment_bytes: 1_024,
        ..JiraEmulatorConfig::default()
    })
    .await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Big evidence, lost answer"), &[]);
    s.sir
        .upload_attachment(HUMAN, &case_id, "memory.dmp", vec![7u8; 4_096])
        .unwrap();
    let event = s.created(&case_id).await;

    let applied = lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/comment").await;
    assert_eq!(applied.attachments_refused, 1);
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "memory.dmp (4096 bytes)"), 1);
    assert_eq!(issue.comments.len(), 1);
}

#[tokio::test]
async fn a_closure_note_whose_answer_was_lost_is_posted_once_and_recorded() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Closing, lost answer"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    s.sir.close_case(HUMAN, &case_id).unwrap();
    let event = s.updated(&case_id, &before).await;

    lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/comment").await;
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "Done");
    assert_eq!(comments_containing(&issue, "was closed (closure code"), 1);
    assert_eq!(
        issue.properties[SirToJiraNotes::PROPERTY]["closureReported"],
        json!(true)
    );
}

#[tokio::test]
async fn a_deletion_note_whose_answer_was_lost_is_posted_once_then_labelled() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Deleted, lost answer"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let key = s.issue_of(&case_id).key;
    s.sir.delete_case(&case_id);
    let deleted = envelope(&BusEvent::CaseDeleted(CaseGone {
        case_id: case_id.clone(),
        issue_key: Some(key.clone()),
    }));

    let applied = lose_the_answer_then_redeliver(&s, &handler, deleted, "POST", "/comment").await;
    assert_eq!(applied.outcome, IssueOutcome::Deleted);
    let issue = s.jira.issue(&key).unwrap();
    assert_eq!(comments_containing(&issue, "no longer exists"), 1);
    assert!(issue.labels.contains(&DELETED_LABEL.to_owned()));
    let link = s
        .world
        .store()
        .link_for_case(&case_id)
        .await
        .unwrap()
        .unwrap();
    assert!(link.broken.is_some());
}

#[tokio::test]
async fn an_unresolved_watchers_note_whose_answer_was_lost_is_posted_once_and_recorded() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(
        HumanCase {
            watchers: vec![Watcher::email("ghost@example.com")],
            ..human_case("Ghost watcher, lost answer")
        },
        &[],
    );
    let event = s.created(&case_id).await;

    lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/comment").await;
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, "ghost@example.com"), 1);
    assert_eq!(
        issue.properties[SirToJiraNotes::PROPERTY]["reportedUnresolvedWatchers"],
        json!(["ghost@example.com"])
    );
}

#[tokio::test]
async fn a_refusal_note_whose_answer_was_lost_is_posted_once_and_recorded() {
    let s = Setup::new().await;
    let ann = s.jira.add_user(User::new("Ann Analyst", "ann@example.com"));
    let refusal = "The user Ann Analyst cannot be added as a watcher of this issue.";
    s.jira.faults().refuse_watcher(&ann.account_id, refusal);
    let handler = s.handler();
    let case_id = s.open_case(
        HumanCase {
            watchers: vec![Watcher::email("ann@example.com")],
            ..human_case("Refused watcher, lost answer")
        },
        &[],
    );
    let event = s.created(&case_id).await;

    lose_the_answer_then_redeliver(&s, &handler, event, "POST", "/comment").await;
    let issue = s.issue_of(&case_id);
    assert_eq!(comments_containing(&issue, refusal), 1);
    assert_eq!(
        issue.properties[SirToJiraNotes::PROPERTY]["reportedRefusals"],
        json!(["watcher ann@example.com"])
    );
}

// ---------------------------------------------------------------------------------------------
// Exactly one issue, whatever the deliveries.

#[tokio::test]
async fn same_case_created_delivered_twice_makes_one_issue() {
    let s = Setup::with_search_lag().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Twice"), &[]);
    let event = s.created(&case_id).await;
    assert_eq!(
        apply(&handler, event.clone()).await.outcome,
        IssueOutcome::Created
    );
    assert_eq!(apply(&handler, event).await.outcome, IssueOutcome::Updated);
    s.issue_of(&case_id);
    assert_eq!(s.jira_creates(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_deliveries_make_one_issue_and_both_succeed() {
    let s = Setup::with_search_lag().await;
    let case_id = s.open_case(human_case("Concurrent"), &[]);
    let event = s.created(&case_id).await;
    // Slow Jira calls: the first delivery's work lasts while the second finds the claim held.
    s.jira.faults().latency(Duration::from_millis(200));
    // Two Lambda instances, each with its own clients.
    let (first, second) = (s.handler(), s.handler());
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(first.handle(event.clone()), second.handle(event.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut outcomes = [a.outcome, b.outcome];
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(
        outcomes,
        [IssueOutcome::Created, IssueOutcome::Updated],
        "the second waited for the claim, then found the issue"
    );
    assert!(started.elapsed() < shared::store::CLAIM_WAIT);
    s.issue_of(&case_id);
    assert_eq!(s.jira_creates(), 1);
}

/// The same crash as below, but the retry comes while Jira Cloud's search index still lags the
/// create (a duplicate delivery seconds later): `/search/jql` does not show the orphan yet.
#[tokio::test]
async fn an_orphan_younger_than_the_search_index_is_adopted_not_duplicated() {
    let s = Setup::with_search_lag().await;
    let case_id = s.open_case(human_case("Crashed run"), &[]);
    let event = s.created(&case_id).await;
    // The run creates the issue and dies before it can write the link.
    let crashing = JiraClientHandler::new(
        Arc::new(JiraDownAfterCreate {
            inner: s.jira_client(),
            faults: s.jira.faults(),
            create: CreateFate::AnswerLost,
        }),
        Arc::new(s.sir_api(LAMBDA)),
        Arc::new(s.world.store()),
        s.handler().settings().clone(),
    );
    let err = crashing.handle(event.clone()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    s.jira.faults().clear();
    let orphan = s.issue_of(&case_id).key;

    // The retry comes while search does not show the orphan yet: it waits, creating nothing.
    let handler = s.handler();
    let err = handler.handle(event.clone()).await.unwrap_err();
    assert!(
        matches!(err, JiraClientError::CreateInDoubt { .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(s.jira_creates(), 1);

    // Once the index shows it, the next retry adopts it.
    tokio::time::sleep(SEARCH_LAG).await;
    let applied = apply(&handler, event).await;
    assert_eq!(applied.outcome, IssueOutcome::Adopted);
    assert_eq!(s.issue_of(&case_id).key, orphan);
    assert_eq!(s.jira_creates(), 1, "no second create");
}

#[tokio::test]
async fn a_create_that_left_no_issue_is_made_again_once_older_than_the_bound() {
    let s = Setup::with_search_lag().await;
    let case_id = s.open_case(human_case("Create lost"), &[]);
    let event = s.created(&case_id).await;
    // A run recorded its create and died before Jira had it.
    s.world.store().record_issue_create(&case_id).await.unwrap();
    let settings = JiraClientSettings {
        create_in_doubt_for: Duration::from_secs(2),
        ..s.handler().settings().clone()
    };
    let handler = JiraClientHandler::new(
        Arc::new(s.jira_client()),
        Arc::new(s.sir_api(LAMBDA)),
        Arc::new(s.world.store()),
        settings,
    );
    let err = handler.handle(event.clone()).await.unwrap_err();
    assert!(
        matches!(err, JiraClientError::CreateInDoubt { .. }),
        "{err}"
    );
    assert_eq!(s.jira_creates(), 0);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let applied = apply(&handler, event).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    assert_eq!(s.issues_for(&case_id).len(), 1);
}

#[tokio::test]
async fn a_create_jira_refused_is_made_again_at_once() {
    let s = Setup::with_search_lag().await;
    let case_id = s.open_case(human_case("Throttled create"), &[]);
    let event = s.created(&case_id).await;
    let handler = s.handler();
    // Jira answers the create 429 (beyond the client's retries): nothing was made, so the
    // redelivery creates without waiting for the search index.
    let search_then_fail = JiraClientHandler::new(
        Arc::new(JiraDownAfterCreate {
            inner: s.jira_client(),
            faults: s.jira.faults(),
            create: CreateFate::Throttled,
        }),
        Arc::new(s.sir_api(LAMBDA)),
        Arc::new(s.world.store()),
        handler.settings().clone(),
    );
    let err = search_then_fail.handle(event.clone()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(s.jira_creates(), 0);

    let applied = apply(&handler, event).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    assert_eq!(s.issues_for(&case_id).len(), 1);
}

#[tokio::test]
async fn issue_left_by_a_crash_before_the_link_write_is_adopted() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Crashed run"), &["Detection and Analysis"]);
    // A run recorded its create, created the labelled issue, then died before writing the link.
    s.world.store().record_issue_create(&case_id).await.unwrap();
    let orphan = s
        .jira
        .create_issue(
            &s.jira.integration_account_id(),
            HumanIssue {
                labels: vec![case_label(&case_id)],
                ..HumanIssue::new("Crashed run")
            },
        )
        .unwrap();

    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    assert_eq!(applied.outcome, IssueOutcome::Adopted);
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.key, orphan);
    assert_eq!(s.jira_creates(), 0, "no second create");
    // Brought up to date like a new one.
    assert!(description_of(&issue).contains(&format!("Case ID: {case_id}")));
    assert_eq!(issue.status, "In Progress");
    assert_eq!(
        s.world
            .store()
            .link_for_case(&case_id)
            .await
            .unwrap()
            .unwrap()
            .issue_key,
        orphan
    );
}

#[tokio::test]
async fn a_late_case_created_for_a_case_made_from_its_linked_issue_leaves_the_description_alone() {
    let s = Setup::new().await;
    let key = s
        .jira
        .create_issue(
            &s.jira.integration_account_id(),
            HumanIssue {
                description: Some("Written by the reporter, in Jira.".into()),
                ..HumanIssue::new("Born in Jira")
            },
        )
        .unwrap();
    let before = s.jira.issue(&key).unwrap().description;
    // sir-client made the case from the issue and linked it before the poller saw the case.
    let case_id = s
        .sir
        .create_case(
            SIR_CLIENT,
            HumanCase {
                tags: [
                    ("jira-issue-key".to_owned(), key.clone()),
                    (
                        "jira-site".to_owned(),
                        shared::sir::jira_site(&s.jira.base_url()),
                    ),
                ]
                .into(),
                ..human_case("Born in Jira")
            },
        )
        .case_id;
    s.world
        .store()
        .create_link(&IssueLink::new(&case_id, &key))
        .await
        .unwrap();

    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    assert_eq!(applied.outcome, IssueOutcome::LinkedToOrigin);
    assert_eq!(
        s.jira.issue(&key).unwrap().description,
        before,
        "the Jira-born description is not replaced by the case details"
    );
}

#[tokio::test]
async fn a_case_made_from_another_sites_issue_of_the_same_key_gets_an_issue_of_its_own() {
    let s = Setup::new().await;
    let here = s
        .jira
        .create_issue(&s.jira.integration_account_id(), HumanIssue::new("Ours"))
        .unwrap();
    let tagged = |site: Option<&str>| -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([("jira-issue-key".to_owned(), here.clone())]);
        if let Some(site) = site {
            tags.insert("jira-site".to_owned(), site.to_owned());
        }
        tags
    };
    // Another deployment's site made this case from its own issue of the same key.
    let theirs = s
        .sir
        .create_case(
            SIR_CLIENT,
            HumanCase {
                tags: tagged(Some("https://other.atlassian.net")),
                ..human_case("Born on the other site")
            },
        )
        .case_id;
    let applied = apply(&s.handler(), s.created(&theirs).await).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    assert_ne!(applied.issue_key.as_deref(), Some(here.as_str()));

    // Made before the site tag existed: without a note naming this site's issue, not ours...
    let old_theirs = s
        .sir
        .create_case(
            SIR_CLIENT,
            HumanCase {
                tags: tagged(None),
                ..human_case("Older, other site")
            },
        )
        .case_id;
    let applied = apply(&s.handler(), s.created(&old_theirs).await).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    // ...and with sir-client's note naming it, ours.
    let old_ours = s
        .sir
        .create_case(
            SIR_CLIENT,
            HumanCase {
                tags: tagged(None),
                ..human_case("Older, this site")
            },
        )
        .case_id;
    s.sir
        .add_comment(
            SIR_CLIENT,
            &old_ours,
            &format!(
                "This case was created from Jira issue {here} ({}/browse/{here}).",
                s.jira.base_url()
            ),
        )
        .unwrap();
    let applied = apply(&s.handler(), s.created(&old_ours).await).await;
    assert_eq!(applied.outcome, IssueOutcome::LinkedToOrigin);
    assert_eq!(applied.issue_key.as_deref(), Some(here.as_str()));
}

#[tokio::test]
async fn several_labelled_issues_adopt_the_oldest() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Two orphans"), &[]);
    let integration = s.jira.integration_account_id();
    let orphan = |summary: &str| {
        s.jira
            .create_issue(
                &integration,
                HumanIssue {
                    labels: vec![case_label(&case_id)],
                    ..HumanIssue::new(summary)
                },
            )
            .unwrap()
    };
    // Runs that recorded their creates and died before linking what they made.
    s.world.store().record_issue_create(&case_id).await.unwrap();
    let oldest = orphan("First");
    orphan("Second");
    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    assert_eq!(applied.outcome, IssueOutcome::Adopted);
    assert_eq!(applied.issue_key.as_deref(), Some(oldest.as_str()));
    assert_eq!(s.jira_creates(), 0);
}

#[tokio::test]
async fn labelled_issue_linked_to_another_case_is_a_conflict_not_adopted() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Copied label"), &[]);
    // A run of this case's create died after recording it: the next one searches the label.
    s.world.store().record_issue_create(&case_id).await.unwrap();
    let key = s
        .jira
        .create_issue(
            &s.jira.integration_account_id(),
            HumanIssue {
                labels: vec![case_label(&case_id)],
                ..HumanIssue::new("Someone copied the label")
            },
        )
        .unwrap();
    s.world
        .store()
        .create_link(&IssueLink::new("9999999999", &key))
        .await
        .unwrap();
    let err = s
        .handler()
        .handle(s.created(&case_id).await)
        .await
        .unwrap_err();
    assert!(matches!(err, JiraClientError::LinkConflict { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(
        s.world
            .store()
            .link_for_case(&case_id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn linked_issue_deleted_in_jira_is_recorded_on_the_case_and_the_link_is_broken() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Issue deleted"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    let key = s.issue_of(&case_id).key;
    s.jira
        .delete_issue(&s.jira.integration_account_id(), &key)
        .unwrap();
    s.sir
        .add_comment(HUMAN, &case_id, "Nowhere to go.")
        .unwrap();
    // The deletion's Automation message never came: the next update finds the issue gone.
    let applied = handler
        .handle(s.updated(&case_id, &before).await)
        .await
        .unwrap();
    assert_eq!(applied.outcome, IssueOutcome::LinkBroken);
    let link = s
        .world
        .store()
        .link_for_case(&case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        link.broken.as_deref(),
        Some(jira_client::ISSUE_DELETED_REASON)
    );
    let notes = |s: &Setup| {
        s.sir
            .case(&case_id)
            .unwrap()
            .comments
            .iter()
            .filter(|c| {
                c.body
                    .contains(&format!("Jira issue {key} linked to this case was deleted"))
            })
            .count()
    };
    assert_eq!(notes(&s), 1);
    // Another delivery leaves the case and Jira alone.
    let again = handler
        .handle(s.updated(&case_id, &before).await)
        .await
        .unwrap();
    assert_eq!(again.outcome, IssueOutcome::LinkBroken);
    assert_eq!(notes(&s), 1);
    assert!(s.jira.issues().is_empty(), "no issue is re-created");
}

/// Jira answers 404 too for an issue the integration may no longer see (Browse permission lost):
/// while a search of the project fails, the 404 fails the event and nothing is unlinked; once
/// the search works and no longer lists the issue, its deletion is recorded.
#[tokio::test]
async fn a_404_is_taken_for_a_deletion_only_once_a_project_search_confirms_it() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Hidden or deleted"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    let key = s.issue_of(&case_id).key;
    s.jira
        .delete_issue(&s.jira.integration_account_id(), &key)
        .unwrap();
    s.jira.faults().fail_after_applying("POST", "/search", 403);
    let failed = handler.handle(s.updated(&case_id, &before).await).await;
    assert!(failed.is_err(), "{failed:?}");
    let link = || async {
        s.world
            .store()
            .link_for_case(&case_id)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(link().await.broken, None);
    let comments = s.sir.case(&case_id).unwrap().comments.len();
    assert_eq!(comments, 0, "no note while the deletion is unconfirmed");

    let applied = handler
        .handle(s.updated(&case_id, &before).await)
        .await
        .unwrap();
    assert_eq!(applied.outcome, IssueOutcome::LinkBroken);
    assert_eq!(
        link().await.broken.as_deref(),
        Some(jira_client::ISSUE_DELETED_REASON)
    );
}

// ---------------------------------------------------------------------------------------------
// Jira faults.

#[tokio::test]
async fn jira_answering_429_for_a_while_is_waited_out() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Throttled"), &[]);
    s.jira.faults().fail_next(3, 429);
    let applied = apply(&s.handler(), s.created(&case_id).await).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    s.issue_of(&case_id);
    let throttled = s.jira.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(throttled, 3);
}

#[tokio::test]
async fn jira_outage_longer_than_the_retries_fails_the_event_and_redelivery_succeeds() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Outage"), &[]);
    s.sir
        .add_comment(HUMAN, &case_id, "Before the outage.")
        .unwrap();
    let event = s.created(&case_id).await;

    s.jira.faults().outage(Duration::from_secs(120));
    let err = handler.handle(event.clone()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(s.jira.issues().is_empty());

    s.jira.faults().clear();
    let applied = apply(&handler, event).await;
    assert_eq!(applied.outcome, IssueOutcome::Created);
    assert_eq!(
        comments_containing(&s.issue_of(&case_id), "Before the outage."),
        1
    );
}

/// Jira as the handler sees it, going down (500 on everything) right after an issue is created
/// (see [`CreateFate`]).
struct JiraDownAfterCreate {
    inner: JiraClient,
    faults: jira_emulator::Faults,
    create: CreateFate,
}

/// What becomes of the create in [`JiraDownAfterCreate`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum CreateFate {
    /// Made and answered.
    Answered,
    /// Made, but the answer is lost (a 504 from the gateway, as when the run times out after
    /// Jira made the issue): the run ends before it can write the link.
    AnswerLost,
    /// Refused with 429 (after the client's retries): nothing made.
    Throttled,
}

#[async_trait::async_trait]
impl JiraApi for JiraDownAfterCreate {
    async fn myself(&self) -> shared::Result<JiraUser> {
        self.inner.myself().await
    }
    async fn get_issue(&self, key: &str) -> shared::Result<Option<JiraIssue>> {
        self.inner.get_issue(key).await
    }
    async fn create_issue(&self, issue: &NewIssue) -> shared::Result<String> {
        let status = match self.create {
            CreateFate::Throttled => 429,
            CreateFate::Answered | CreateFate::AnswerLost => {
                let key = self.inner.create_issue(issue).await?;
                self.faults.fail_next(10_000, 500);
                if self.create == CreateFate::Answered {
                    return Ok(key);
                }
                504
            }
        };
        Err(shared::Error::JiraStatus {
            operation: "create issue",
            status,
            messages: String::new(),
            retry_after: None,
        })
    }
    async fn edit_issue(&self, key: &str, edit: &IssueEdit) -> shared::Result<()> {
        self.inner.edit_issue(key, edit).await
    }
    async fn transitions(&self, key: &str) -> shared::Result<Vec<Transition>> {
        self.inner.transitions(key).await
    }
    async fn transition_to(
        &self,
        key: &str,
        target: &str,
        route: &[&str],
        screens: &shared::jira::TransitionScreens,
    ) -> shared::Result<usize> {
        self.inner.transition_to(key, target, route, screens).await
    }
    async fn fields(&self) -> shared::Result<Vec<shared::jira::JiraField>> {
        self.inner.fields().await
    }
    async fn issue_fields(
        &self,
        key: &str,
        ids: &[String],
    ) -> shared::Result<serde_json::Map<String, Value>> {
        self.inner.issue_fields(key, ids).await
    }
    async fn comments(&self, key: &str) -> shared::Result<Vec<JiraComment>> {
        self.inner.comments(key).await
    }
    async fn add_comment(
        &self,
        key: &str,
        text: &str,
        marker: &CommentMarker,
    ) -> shared::Result<String> {
        self.inner.add_comment(key, text, marker).await
    }
    async fn update_comment(&self, key: &str, id: &str, text: &str) -> shared::Result<()> {
        self.inner.update_comment(key, id, text).await
    }
    async fn watchers(&self, key: &str) -> shared::Result<Vec<String>> {
        self.inner.watchers(key).await
    }
    async fn add_watcher(&self, key: &str, account_id: &str) -> shared::Result<()> {
        self.inner.add_watcher(key, account_id).await
    }
    async fn remove_watcher(&self, key: &str, account_id: &str) -> shared::Result<()> {
        self.inner.remove_watcher(key, account_id).await
    }
    async fn comment_exists(&self, key: &str, comment_id: &str) -> shared::Result<bool> {
        self.inner.comment_exists(key, comment_id).await
    }
    async fn find_user_by_email(&self, email: &str) -> shared::Result<Option<JiraUser>> {
        self.inner.find_user_by_email(email).await
    }
    async fn user(&self, account_id: &str) -> shared::Result<Option<JiraUser>> {
        self.inner.user(account_id).await
    }
    async fn recently_updated_keys(
        &self,
        project: &str,
        minutes: u32,
    ) -> shared::Result<Vec<String>> {
        self.inner.recently_updated_keys(project, minutes).await
    }
    async fn updated_issues_page(
        &self,
        project: &str,
        minutes: u32,
        page_size: u32,
        page_token: Option<&str>,
    ) -> shared::Result<shared::jira::UpdatedIssuesPage> {
        self.inner
            .updated_issues_page(project, minutes, page_size, page_token)
            .await
    }
    async fn open_issues_after(
        &self,
        project: &str,
        after_key: Option<&str>,
        max: u32,
    ) -> shared::Result<shared::jira::OpenIssuesPage> {
        self.inner.open_issues_after(project, after_key, max).await
    }
    async fn issue_matches(&self, issue: &JiraIssue, filter: &str) -> shared::Result<bool> {
        self.inner.issue_matches(issue, filter).await
    }
    async fn upload_attachment(
        &self,
        key: &str,
        file_name: &str,
        source: &dyn shared::attachment_body::AttachmentSource,
    ) -> shared::Result<JiraAttachment> {
        self.inner.upload_attachment(key, file_name, source).await
    }
    async fn download_attachment(
        &self,
        attachment: &JiraAttachment,
    ) -> shared::Result<shared::attachment_body::AttachmentBody> {
        self.inner.download_attachment(attachment).await
    }
    async fn search_keys_by_label(
        &self,
        project: &str,
        label: &str,
    ) -> shared::Result<Vec<String>> {
        self.inner.search_keys_by_label(project, label).await
    }
    async fn add_label(&self, key: &str, label: &str) -> shared::Result<()> {
        self.inner.add_label(key, label).await
    }
    async fn remove_label(&self, key: &str, label: &str) -> shared::Result<()> {
        self.inner.remove_label(key, label).await
    }
    async fn issue_property(&self, key: &str, property: &str) -> shared::Result<Option<Value>> {
        self.inner.issue_property(key, property).await
    }
    async fn set_issue_property(
        &self,
        key: &str,
        property: &str,
        value: &Value,
    ) -> shared::Result<()> {
        self.inner.set_issue_property(key, property, value).await
    }
}

#[tokio::test]
async fn jira_failing_right_after_the_create_fails_the_event_and_redelivery_completes_it() {
    let s = Setup::with_search_lag().await;
    let case_id = s.open_case(human_case("Half done"), &["Detection and Analysis"]);
    s.sir.add_comment(HUMAN, &case_id, "Copy me.").unwrap();
    let event = s.created(&case_id).await;
    let failing = JiraClientHandler::new(
        Arc::new(JiraDownAfterCreate {
            inner: s.jira_client(),
            faults: s.jira.faults(),
            create: CreateFate::Answered,
        }),
        Arc::new(s.sir_api(LAMBDA)),
        Arc::new(s.world.store()),
        s.handler().settings().clone(),
    );
    let err = failing.handle(event.clone()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "To Do", "created, nothing more");
    assert!(issue.comments.is_empty());

    s.jira.faults().clear();
    let applied = apply(&s.handler(), event).await;
    assert_eq!(applied.outcome, IssueOutcome::Updated);
    let issue = s.issue_of(&case_id);
    assert_eq!(issue.status, "In Progress");
    assert_eq!(comments_containing(&issue, "Copy me."), 1);
}

// ---------------------------------------------------------------------------------------------
// Deletion.

#[tokio::test]
async fn deleted_case_is_recorded_on_the_kept_issue_and_the_link_is_broken() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Doomed"), &[]);
    let updated_before_deletion = {
        apply(&handler, s.created(&case_id).await).await;
        let before = s.snapshot(&case_id).await;
        s.sir.add_comment(HUMAN, &case_id, "Late comment.").unwrap();
        s.updated(&case_id, &before).await
    };
    let key = s.issue_of(&case_id).key;
    s.sir.delete_case(&case_id);

    let deleted = envelope(&BusEvent::CaseDeleted(CaseGone {
        case_id: case_id.clone(),
        issue_key: Some(key.clone()),
    }));
    let applied = apply(&handler, deleted.clone()).await;
    assert_eq!(applied.outcome, IssueOutcome::Deleted);
    let issue = s.jira.issue(&key).expect("the issue is never deleted");
    assert!(issue.labels.contains(&DELETED_LABEL.to_owned()));
    assert!(issue.labels.contains(&case_label(&case_id)));
    assert_eq!(comments_containing(&issue, "no longer exists"), 1);
    let link = s
        .world
        .store()
        .link_for_case(&case_id)
        .await
        .unwrap()
        .unwrap();
    assert!(link.broken.is_some());

    // Again, and a late update: nothing more happens in Jira.
    let requests = s.jira.requests().len();
    assert_eq!(
        apply(&handler, deleted).await.outcome,
        IssueOutcome::LinkBroken
    );
    assert_eq!(
        apply(&handler, updated_before_deletion).await.outcome,
        IssueOutcome::LinkBroken
    );
    assert_eq!(s.jira.requests().len(), requests);
    assert_eq!(
        comments_containing(&s.jira.issue(&key).unwrap(), "no longer exists"),
        1
    );
}

#[tokio::test]
async fn deleted_case_without_an_issue_changes_nothing() {
    let s = Setup::new().await;
    let deleted = envelope(&BusEvent::CaseDeleted(CaseGone {
        case_id: "1234567890".into(),
        issue_key: None,
    }));
    assert_eq!(
        apply(&s.handler(), deleted).await.outcome,
        IssueOutcome::NotLinked
    );
    assert!(s.jira.requests().is_empty());
}

#[tokio::test]
async fn update_for_a_case_sir_no_longer_has_records_the_deletion_once_and_succeeds() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Vanishing"), &[]);
    apply(&handler, s.created(&case_id).await).await;
    let before = s.snapshot(&case_id).await;
    s.sir.add_comment(HUMAN, &case_id, "Late comment.").unwrap();
    let updated = s.updated(&case_id, &before).await;
    let key = s.issue_of(&case_id).key;
    s.sir.delete_case(&case_id);

    let applied = apply(&handler, updated.clone()).await;
    assert_eq!(applied.outcome, IssueOutcome::Deleted);
    let issue = s.jira.issue(&key).unwrap();
    assert!(issue.labels.contains(&DELETED_LABEL.to_owned()));
    assert_eq!(comments_containing(&issue, "no longer exists"), 1);
    assert_eq!(comments_containing(&issue, "Late comment."), 0);

    // The redelivery and the poller's later CaseDeleted add nothing.
    let requests = s.jira.requests().len();
    assert_eq!(
        apply(&handler, updated).await.outcome,
        IssueOutcome::LinkBroken
    );
    let deleted = envelope(&BusEvent::CaseDeleted(CaseGone {
        case_id: case_id.clone(),
        issue_key: Some(key.clone()),
    }));
    assert_eq!(
        apply(&handler, deleted).await.outcome,
        IssueOutcome::LinkBroken
    );
    assert_eq!(s.jira.requests().len(), requests);
}

#[tokio::test]
async fn created_event_for_a_case_gone_before_its_issue_existed_changes_nothing() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Gone at once"), &[]);
    let created = s.created(&case_id).await;
    s.sir.delete_case(&case_id);
    assert_eq!(
        apply(&s.handler(), created).await.outcome,
        IssueOutcome::NotLinked
    );
    assert!(s.jira.requests().is_empty());
    assert!(
        s.world
            .store()
            .link_for_case(&case_id)
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Refused events.

#[tokio::test]
async fn forged_and_foreign_events_are_refused_without_touching_jira() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Forged"), &[]);
    let created = BusEvent::CaseCreated(CaseChange::new(None, s.snapshot(&case_id).await));
    let detail: Value = serde_json::from_str(&created.detail_json().unwrap()).unwrap();

    // A case event claiming to come from the Jira side.
    let err = handler
        .handle(raw_envelope("jira", "CaseCreated", &detail))
        .await
        .unwrap_err();
    assert!(matches!(err, JiraClientError::InvalidEvent(_)), "{err}");
    assert!(!err.is_retryable());

    // An issue event (for sir-client, not for us).
    let issue_event = envelope(&BusEvent::IssueCreated(IssueChange::new(
        None,
        IssueSnapshot {
            issue_key: "SEC-1".into(),
            summary: "From Jira".into(),
            description: String::new(),
            status: "To Do".into(),
            watchers: Default::default(),
        },
    )));
    let err = handler.handle(issue_event).await.unwrap_err();
    assert!(
        matches!(err, JiraClientError::NotACaseEvent { .. }),
        "{err}"
    );
    assert!(!err.is_retryable());

    // A detail of the wrong shape, and a case id that would break a label or JQL.
    let err = handler
        .handle(raw_envelope(
            "security-ir",
            "CaseCreated",
            &json!({"caseId": 1}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, JiraClientError::InvalidEvent(_)), "{err}");
    let mut bad_id = detail;
    bad_id["case"]["caseId"] = json!("1\" OR labels IS NOT EMPTY");
    let err = handler
        .handle(raw_envelope("security-ir", "CaseCreated", &bad_id))
        .await
        .unwrap_err();
    assert!(matches!(err, JiraClientError::InvalidEvent(_)), "{err}");

    assert!(s.jira.requests().is_empty());
    assert!(s.jira.issues().is_empty());
}

/// Log lines written while the guard lives (this thread; the test runtime is current-thread).
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}

#[tokio::test]
async fn a_case_id_from_the_event_is_checked_before_it_is_logged() {
    let s = Setup::new().await;
    let handler = s.handler();
    let case_id = s.open_case(human_case("Forged id"), &[]);
    let created = BusEvent::CaseCreated(CaseChange::new(None, s.snapshot(&case_id).await));
    let mut detail: Value = serde_json::from_str(&created.detail_json().unwrap()).unwrap();
    let forged = "1\nINFO forged-log-line case_id=42";
    detail["case"]["caseId"] = json!(forged);

    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let err = handler
        .handle(raw_envelope("security-ir", "CaseCreated", &detail))
        .await
        .unwrap_err();
    drop(guard);
    assert!(matches!(err, JiraClientError::InvalidEvent(_)), "{err}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!logged.contains("forged-log-line"), "{logged}");
    assert!(s.jira.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[tokio::test]
async fn configuration_comes_from_the_environment_and_ssm() {
    let s = Setup::new().await;
    s.world
        .put_jira_parameters(
            "integration@example.com",
            &s.jira.base_url(),
            "SEC",
            "integration-token",
        )
        .await
        .unwrap();
    s.world
        .put_parameter(
            &s.world.parameters.status_mapping(),
            r#"{"sirToJira": {"Submitted": "Backlog"}}"#,
            ParameterType::String,
        )
        .await
        .unwrap();
    let env: BTreeMap<&str, String> = BTreeMap::from([
        ("MAPPING_TABLE_NAME", s.world.table_name.clone()),
        ("EVENT_BUS_NAME", s.world.bus_name.clone()),
        (
            "SSM_PARAMETER_PREFIX",
            s.world.parameters.prefix().to_owned(),
        ),
        ("AWS_REGION", REGION.to_owned()),
        (
            "SIR_INTEGRATION_PRINCIPALS",
            " arn:aws:iam::123456789012:role/SirClient , arn:aws:iam::123456789012:user/bot".into(),
        ),
    ]);
    let lookup = |name: &str| env.get(name).cloned();
    let config = JiraClientConfig::load(lookup, &s.world.ssm).await.unwrap();
    assert_eq!(config.shared.table_name, s.world.table_name);
    assert_eq!(config.jira.url, s.jira.base_url());
    let handler = &config.handler;
    assert_eq!(handler.project_key, "SEC");
    assert_eq!(handler.issue_type, "Task");
    assert_eq!(handler.region, REGION);
    assert_eq!(
        handler.integration_principals,
        [
            "arn:aws:iam::123456789012:role/SirClient",
            "arn:aws:iam::123456789012:user/bot"
        ]
    );
    assert_eq!(
        handler
            .status_mapping
            .jira_status_for(shared::status::SirStatus::Submitted),
        "Backlog"
    );

    let with_type = |name: &str| {
        if name == "JIRA_ISSUE_TYPE" {
            Some("Incident".to_owned())
        } else {
            env.get(name).cloned()
        }
    };
    let config = JiraClientConfig::load(with_type, &s.world.ssm)
        .await
        .unwrap();
    assert_eq!(config.handler.issue_type, "Incident");

    let without_region = |name: &str| {
        if name == "AWS_REGION" {
            None
        } else {
            env.get(name).cloned()
        }
    };
    let err = JiraClientConfig::load(without_region, &s.world.ssm)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
}

/// A SIR whose first GetCase, once answered, lets a person's Jira edit of the summary reach SIR
/// before the caller goes on: jira-notifications-handler stores the issue snapshot holding it,
/// sir-client applies it to the case and acknowledges (nothing pending).
struct JiraEditLandsAfterGetCase {
    inner: SdkSirClient,
    store: shared::store::DynamoMappingStore,
    sir_client: SdkSirClient,
    issue_key: String,
    summary: String,
    landed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SirApi for JiraEditLandsAfterGetCase {
    async fn list_cases(&self) -> shared::Result<Vec<shared::sir::CaseSummary>> {
        self.inner.list_cases().await
    }
    async fn get_case(&self, case_id: &str) -> shared::Result<Option<shared::sir::CaseDetails>> {
        let details = self.inner.get_case(case_id).await?;
        if !self.landed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let mut snapshot = self.store.issue_snapshot(&self.issue_key).await?.unwrap();
            snapshot.summary = self.summary.clone();
            self.store.put_issue_snapshot(&snapshot).await?;
            let edit = shared::sir::CaseEdit {
                title: Some(self.summary.clone()),
                ..shared::sir::CaseEdit::default()
            };
            self.sir_client.update_case(case_id, &edit).await?;
        }
        Ok(details)
    }
    async fn list_comments(&self, case_id: &str) -> shared::Result<Vec<shared::sir::SirComment>> {
        self.inner.list_comments(case_id).await
    }
    async fn create_case(&self, case: &shared::sir::NewCase) -> shared::Result<String> {
        self.inner.create_case(case).await
    }
    async fn update_case(&self, case_id: &str, edit: &shared::sir::CaseEdit) -> shared::Result<()> {
        self.inner.update_case(case_id, edit).await
    }
    async fn update_case_status(
        &self,
        case_id: &str,
        status: shared::status::SirStatus,
    ) -> shared::Result<()> {
        self.inner.update_case_status(case_id, status).await
    }
    async fn close_case(&self, case_id: &str) -> shared::Result<()> {
        self.inner.close_case(case_id).await
    }
    async fn create_comment(
        &self,
        case_id: &str,
        body: &str,
        client_token: &str,
    ) -> shared::Result<String> {
        self.inner.create_comment(case_id, body, client_token).await
    }
    async fn update_comment(
        &self,
        case_id: &str,
        comment_id: &str,
        body: &str,
    ) -> shared::Result<()> {
        self.inner.update_comment(case_id, comment_id, body).await
    }
    async fn upload_attachment(
        &self,
        case_id: &str,
        file_name: &str,
        body: shared::attachment_body::AttachmentBody,
        client_token: &str,
    ) -> shared::Result<()> {
        self.inner
            .upload_attachment(case_id, file_name, body, client_token)
            .await
    }
    async fn download_attachment(
        &self,
        case_id: &str,
        attachment_id: &str,
    ) -> shared::Result<shared::attachment_body::AttachmentBody> {
        self.inner.download_attachment(case_id, attachment_id).await
    }
    async fn incident_response_team(&self) -> shared::Result<Vec<shared::sir::IncidentResponder>> {
        self.inner.incident_response_team().await
    }
    async fn case_tags(&self, case_arn: &str) -> shared::Result<BTreeMap<String, String>> {
        self.inner.case_tags(case_arn).await
    }
}

#[tokio::test]
async fn an_audit_does_not_write_over_a_jira_edit_sir_takes_while_the_audit_runs() {
    let s = Setup::new().await;
    let case_id = s.open_case(human_case("Suspicious IAM activity"), &[]);
    apply(&s.handler(), s.created(&case_id).await).await;
    let key = s.issue_of(&case_id).key;
    let alice = s
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let edited = "Suspicious IAM activity (confirmed)";
    s.jira
        .edit_issue(
            &alice.account_id,
            &key,
            HumanEdit {
                summary: Some(edited.into()),
                description: None,
                labels: None,
            },
        )
        .unwrap();

    let racing = JiraClientHandler::new(
        Arc::new(s.jira_client()),
        Arc::new(JiraEditLandsAfterGetCase {
            inner: s.sir_api(LAMBDA),
            store: s.world.store(),
            sir_client: s.sir_api(SIR_CLIENT),
            issue_key: key.clone(),
            summary: edited.into(),
            landed: std::sync::atomic::AtomicBool::new(false),
        }),
        Arc::new(s.world.store()),
        JiraClientSettings {
            integration_principals: vec![s.sir.principal(SIR_CLIENT), s.sir.principal(LAMBDA)],
            ..JiraClientSettings::new("SEC", s.jira.base_url(), REGION)
        },
    );
    let before = s.snapshot(&case_id).await;
    let mut change = CaseChange::new(Some(&before), before.clone());
    change.audit = true;
    let applied = apply(&racing, envelope(&BusEvent::CaseUpdated(change))).await;

    assert_eq!(applied.audit_left_alone, ["summary"], "{applied:?}");
    assert_eq!(
        s.issue_of(&case_id).summary,
        edited,
        "the edit is not undone"
    );
    assert_eq!(s.sir.case(&case_id).unwrap().title, edited);
}
