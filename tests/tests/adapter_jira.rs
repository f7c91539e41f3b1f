//! `shared`'s Jira client against the Jira emulator: reads, writes, multi-hop transitions, paged
//! comments, watchers by accountId from exact e-mail matches, byte-exact attachments both ways
//! (downloads through Cloud's redirect to its media host, without sending it our credentials),
//! JQL paging, and the retry rules (Retry-After honoured, 5xx bounded, creates never repeated
//! blindly). Against the Jira `E2E_JIRA` names: Jira Cloud by default, and Jira Data Center with
//! `E2E_JIRA=data-center` (`./run-tests.sh` runs both), where the same client speaks REST v2,
//! wiki markup and user names, and downloads from the site itself.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against the emulators, over sockets or in process"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::both_transports;
use integration_tests::in_process::{InProcessNet, Transport};
use integration_tests::pipeline::{e2e_jira, jira_flavor_of};

use jira_emulator::{
    Deployment, JiraEmulator, JiraEmulatorConfig, NewIssue as HumanIssue, RateLimit, User,
};
use secrecy::SecretString;
use shared::Error;
use shared::attachment_body::{AttachmentBody, AttachmentSource, InMemory};
use shared::comment_marker::{CommentMarker, KIND_SIR_COMMENT, MARKER_PROPERTY};
use shared::config::JiraSettings;
use shared::jira::{
    IssueEdit, JiraApi, JiraAttachment, JiraClient, NewIssue, RetryPolicy, TransitionScreens,
};

const ROUTE: [&str; 4] = ["To Do", "In Progress", "In Review", "Done"];

/// The emulator as the Jira `E2E_JIRA` names (Cloud by default), and a client configured for it.
async fn jira(transport: Transport) -> (JiraEmulator, JiraClient) {
    let emulator = emulator(
        transport,
        JiraEmulatorConfig {
            deployment: e2e_jira().1,
            ..JiraEmulatorConfig::default()
        },
    )
    .await;
    let client = client_for(&emulator, "integration-token");
    (emulator, client)
}

async fn emulator(transport: Transport, config: JiraEmulatorConfig) -> JiraEmulator {
    match transport {
        Transport::Sockets => JiraEmulator::start(config).await.unwrap(),
        Transport::InProcess => JiraEmulator::in_process(config).unwrap(),
    }
}

/// A client of `emulator` over the network, or in process when the emulator runs so.
fn client_for(emulator: &JiraEmulator, token: &str) -> JiraClient {
    let settings = JiraSettings {
        email: "integration@example.com".into(),
        url: emulator.base_url(),
        project_key: "SEC".into(),
        token: SecretString::from(token.to_owned()),
        flavor: jira_flavor_of(emulator.deployment()),
        token_expires_on: None,
        token_version: None,
        api_url: None,
    };
    let client = if emulator.base_url() == jira_emulator::IN_PROCESS_URL {
        JiraClient::with_transport(&settings, Arc::new(InProcessNet::new(emulator, None)))
    } else {
        JiraClient::new(&settings)
    };
    client.unwrap().with_retry_policy(RetryPolicy {
        max_retries: 4,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    })
}

fn new_issue(summary: &str, labels: &[&str]) -> NewIssue {
    NewIssue {
        project_key: "SEC".into(),
        issue_type: "Task".into(),
        summary: summary.into(),
        description: "Phishing mail reported by finance.\n\nHeaders attached.".into(),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        fields: serde_json::Map::new(),
        properties: Default::default(),
    }
}

fn requests_to(emulator: &JiraEmulator, method: &str, path_suffix: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_suffix))
        .count()
}

async fn myself_is_the_integration_user(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let me = client.myself().await.unwrap();
    assert_eq!(me.account_id, emulator.integration_account_id());
}

async fn created_issue_reads_back_with_text_description_and_labels(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Phishing wave", &["sir-case-1234567890"]))
        .await
        .unwrap();
    let issue = client.get_issue(&key).await.unwrap().unwrap();
    assert_eq!(issue.summary, "Phishing wave");
    assert_eq!(
        issue.description,
        "Phishing mail reported by finance.\n\nHeaders attached."
    );
    assert_eq!(issue.status, "To Do");
    assert_eq!(issue.labels, ["sir-case-1234567890"]);
    assert_eq!(
        issue.creator.unwrap().account_id,
        emulator.integration_account_id()
    );
    // Stored in Jira as ADF, not as a plain string.
    let record = emulator.issue(&key).unwrap();
    assert_eq!(record.description.unwrap()["type"], "doc");
}

async fn unknown_issue_reads_as_none(transport: Transport) {
    let (_emulator, client) = jira(transport).await;
    assert!(client.get_issue("SEC-999").await.unwrap().is_none());
}

async fn edit_changes_only_the_given_fields(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Before", &[]))
        .await
        .unwrap();
    client
        .edit_issue(
            &key,
            &IssueEdit {
                summary: Some("After".into()),
                ..IssueEdit::default()
            },
        )
        .await
        .unwrap();
    let issue = client.get_issue(&key).await.unwrap().unwrap();
    assert_eq!(issue.summary, "After");
    assert!(issue.description.starts_with("Phishing mail"));
    client
        .edit_issue(
            &key,
            &IssueEdit {
                description: Some("New text".into()),
                ..IssueEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        client.get_issue(&key).await.unwrap().unwrap().description,
        "New text"
    );
    // An empty edit sends nothing.
    let before = emulator.requests().len();
    client
        .edit_issue(&key, &IssueEdit::default())
        .await
        .unwrap();
    assert_eq!(emulator.requests().len(), before);
}

async fn transition_walks_several_hops_to_a_distant_status_and_back(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client.create_issue(&new_issue("Walk", &[])).await.unwrap();
    let hops = client
        .transition_to(&key, "Done", &ROUTE, &TransitionScreens::new())
        .await
        .unwrap();
    assert_eq!(hops, 3);
    assert_eq!(emulator.issue(&key).unwrap().status, "Done");
    // Already there: nothing to do.
    assert_eq!(
        client
            .transition_to(&key, "done", &ROUTE, &TransitionScreens::new())
            .await
            .unwrap(),
        0
    );
    // Reopened and moved on.
    let hops = client
        .transition_to(&key, "In Progress", &ROUTE, &TransitionScreens::new())
        .await
        .unwrap();
    assert_eq!(emulator.issue(&key).unwrap().status, "In Progress");
    assert!(hops >= 2, "Done → To Do → In Progress, {hops} hops");
}

async fn a_transition_applied_but_answered_504_is_checked_on_the_live_issue_and_the_walk_goes_on(
    transport: Transport,
) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Lost answer", &[]))
        .await
        .unwrap();
    // The first hop is made, its answer lost; its retry is not valid from the new status.
    emulator
        .faults()
        .fail_after_applying("POST", "/transitions", 504);
    let hops = client
        .transition_to(&key, "Done", &ROUTE, &TransitionScreens::new())
        .await
        .unwrap();
    assert_eq!(emulator.issue(&key).unwrap().status, "Done");
    assert_eq!(hops, 3);
}

async fn unreachable_status_is_a_permanent_error(transport: Transport) {
    let (_emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Nowhere", &[]))
        .await
        .unwrap();
    let err = client
        .transition_to(&key, "Won't Fix", &ROUTE, &TransitionScreens::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::JiraTransitionUnreachable { .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
}

async fn transitioning_a_missing_issue_says_the_issue_does_not_exist(transport: Transport) {
    let (_emulator, client) = jira(transport).await;
    let key = client.create_issue(&new_issue("Gone", &[])).await.unwrap();
    let missing = format!("{key}9");
    let err = client
        .transition_to(&missing, "Done", &ROUTE, &TransitionScreens::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::JiraIssueNotFound { key } if *key == missing),
        "{err}"
    );
    assert!(!err.is_retryable());
}

async fn all_comments_are_read_across_pages_with_their_authors(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = emulator
        .create_issue(&ann.account_id, HumanIssue::new("Busy issue"))
        .unwrap();
    for i in 0..130 {
        emulator
            .comment(&ann.account_id, &key, format!("update {i}"))
            .unwrap();
    }
    let marker = CommentMarker::item(KIND_SIR_COMMENT, "1234567890", "c-1");
    let ours = client
        .add_comment(&key, "From SIR:\nline two", &marker)
        .await
        .unwrap();
    let comments = client.comments(&key).await.unwrap();
    assert_eq!(comments.len(), 131);
    assert_eq!(comments[0].body, "update 0");
    assert_eq!(comments[129].body, "update 129");
    assert_eq!(
        comments[0].author_account_id.as_deref(),
        Some(ann.account_id.as_str())
    );
    let last = comments.last().unwrap();
    assert_eq!(last.id, ours);
    assert_eq!(last.body, "From SIR:\nline two");
    assert_eq!(
        last.author_account_id,
        Some(emulator.integration_account_id())
    );
    assert!(requests_to(&emulator, "GET", "/comment") >= 2, "paged");
    // The marker went in with the create, as a comment property, and reads back.
    assert_eq!(last.marker.as_ref(), Some(&marker));
    assert_eq!(comments[0].marker, None, "a person's comment has none");
    let stored = emulator.issue(&key).unwrap();
    let stored = stored.comments.iter().find(|c| c.id == ours).unwrap();
    assert_eq!(
        stored.properties.get(MARKER_PROPERTY),
        Some(&serde_json::to_value(&marker).unwrap())
    );

    client.update_comment(&key, &ours, "edited").await.unwrap();
    let comments = client.comments(&key).await.unwrap();
    assert_eq!(comments.last().unwrap().body, "edited");
    assert_eq!(
        comments.last().unwrap().marker.as_ref(),
        Some(&marker),
        "an edit keeps the comment's properties"
    );
}

async fn user_lookup_matches_the_exact_email_only(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    emulator.add_user(User::new("Anna Other", "anna@example.com"));
    emulator.add_user(User::with_hidden_email("Hidden Harry"));
    let found = client
        .find_user_by_email("ANN@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account_id, ann.account_id);
    assert!(
        client
            .find_user_by_email("an@example.com")
            .await
            .unwrap()
            .is_none(),
        "a prefix is not a match"
    );
    assert!(
        client
            .find_user_by_email("harry@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        client
            .find_user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn watchers_are_added_by_the_id_jira_names_users_by(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = client
        .create_issue(&new_issue("Watched", &[]))
        .await
        .unwrap();
    client.add_watcher(&key, &ann.account_id).await.unwrap();
    assert!(
        client
            .watchers(&key)
            .await
            .unwrap()
            .contains(&ann.account_id)
    );
    assert!(
        emulator
            .issue(&key)
            .unwrap()
            .watchers
            .contains(&ann.account_id)
    );
    // The id is the accountId on Cloud, the user name on Data Center (the emulator's user names
    // are not e-mails; a site's may be): an e-mail where the id belongs names no user, and Jira's
    // refusal surfaces, nothing is dropped.
    let err = client
        .add_watcher(&key, "ann@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::JiraStatus {
                status: 400 | 404,
                ..
            }
        ),
        "{err}"
    );
}

fn every_byte(len: usize) -> bytes::Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
}

async fn attachments_travel_byte_exact_both_ways(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = client
        .create_issue(&new_issue("Evidence", &[]))
        .await
        .unwrap();
    let upload = every_byte(1_500_000);
    let sent = client
        .upload_attachment(&key, "memory-dump.bin", &InMemory(upload.clone()))
        .await
        .unwrap();
    assert_eq!(sent.filename, "memory-dump.bin");
    assert_eq!(sent.size, 1_500_000);
    assert_eq!(
        sent.author_account_id,
        Some(emulator.integration_account_id())
    );
    let stored = emulator.issue(&key).unwrap().attachments;
    assert_eq!(stored[0].bytes, upload);

    let human_bytes = every_byte(70_001);
    emulator
        .attach(&ann.account_id, &key, "pcap.pcap", human_bytes.to_vec())
        .unwrap();
    let issue = client.get_issue(&key).await.unwrap().unwrap();
    assert_eq!(issue.attachments.len(), 2);
    let theirs = issue
        .attachments
        .iter()
        .find(|a| a.filename == "pcap.pcap")
        .unwrap();
    assert_eq!(
        theirs.author_account_id.as_deref(),
        Some(ann.account_id.as_str())
    );
    assert_eq!(
        client
            .download_attachment(theirs)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        human_bytes
    );
    assert_eq!(
        client
            .download_attachment(&sent)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        upload
    );
    let media: Vec<(bool, u16)> = emulator
        .media_requests()
        .iter()
        .map(|r| (r.authorization, r.status))
        .collect();
    match emulator.deployment() {
        // Both came from the media host Cloud redirected to, which never saw the credentials.
        Deployment::Cloud => assert_eq!(media, [(false, 200), (false, 200)]),
        // Data Center serves them itself, to the signed-in integration.
        Deployment::DataCenter => {
            assert!(media.is_empty(), "{media:?}");
            let served = emulator
                .requests()
                .iter()
                .filter(|r| r.path.starts_with("/secure/attachment/") && r.status == 200)
                .count();
            assert_eq!(served, 2);
        }
    }
}

/// An attachment source counting how often it was opened.
#[derive(Debug)]
struct CountedOpens {
    bytes: bytes::Bytes,
    opens: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl AttachmentSource for CountedOpens {
    async fn open(&self) -> shared::Result<AttachmentBody> {
        self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(AttachmentBody::from_bytes(self.bytes.clone()))
    }
}

async fn an_upload_refused_with_429_is_sent_again_from_a_reopened_stream(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Evidence", &[]))
        .await
        .unwrap();
    let source = CountedOpens {
        bytes: every_byte(300_000),
        opens: 0.into(),
    };
    emulator.faults().fail_next(1, 429);
    let sent = client
        .upload_attachment(&key, "capture.pcap", &source)
        .await
        .unwrap();
    assert_eq!(
        source.opens.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a stream is sent once: the second attempt opened the source again"
    );
    assert_eq!(sent.size, 300_000);
    let stored = emulator.issue(&key).unwrap().attachments;
    assert_eq!(stored.len(), 1, "stored once");
    assert_eq!(stored[0].bytes, source.bytes);
}

async fn attachments_download_from_a_site_that_does_not_redirect(transport: Transport) {
    let emulator = emulator(
        transport,
        JiraEmulatorConfig {
            attachment_redirect: false,
            ..JiraEmulatorConfig::default()
        },
    )
    .await;
    let client = client_for(&emulator, "integration-token");
    let key = client
        .create_issue(&new_issue("Evidence", &[]))
        .await
        .unwrap();
    let bytes = every_byte(10_000);
    let sent = client
        .upload_attachment(&key, "notes.json", &InMemory(bytes.clone()))
        .await
        .unwrap();
    assert_eq!(
        client
            .download_attachment(&sent)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        bytes
    );
    assert!(emulator.media_requests().is_empty());
}

async fn credentials_are_never_sent_to_an_attachment_url_off_the_site(transport: Transport) {
    let (_emulator, client) = jira(transport).await;
    let foreign = JiraAttachment {
        id: "1".into(),
        filename: "x".into(),
        size: 1,
        mime_type: None,
        content_url: "http://127.0.0.2:9/steal".into(),
        author_account_id: None,
    };
    let err = client.download_attachment(&foreign).await.unwrap_err();
    // Refused before any request: not a connection error to the foreign host.
    assert!(
        matches!(&err, Error::AttachmentUrlOffSite { origin, .. } if origin == "http://127.0.0.2:9"),
        "{err:?}"
    );
}

async fn label_search_pages_through_every_match(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    for i in 0..130 {
        let mut issue = HumanIssue::new(format!("Issue {i}"));
        if i % 10 != 0 {
            issue.labels = vec!["sir-case-42".into()];
        }
        emulator.create_issue(&ann.account_id, issue).unwrap();
    }
    let keys = client
        .search_keys_by_label("SEC", "sir-case-42")
        .await
        .unwrap();
    assert_eq!(keys.len(), 117);
    let search = match emulator.deployment() {
        Deployment::Cloud => "/rest/api/3/search/jql",
        Deployment::DataCenter => "/rest/api/2/search",
    };
    assert!(
        requests_to(&emulator, "POST", search) >= 2,
        "paged with nextPageToken (Cloud) or startAt (Data Center)"
    );
    assert!(
        client
            .search_keys_by_label("SEC", "sir-case-43")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn recently_updated_issues_of_the_project_are_found(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let ann = emulator.add_user(User::new("Ann Analyst", "ann@example.com"));
    let first = emulator
        .create_issue(&ann.account_id, HumanIssue::new("One"))
        .unwrap();
    let second = emulator
        .create_issue(&ann.account_id, HumanIssue::new("Two"))
        .unwrap();
    emulator
        .comment(&ann.account_id, &first, "touched")
        .unwrap();
    let keys = client.recently_updated_keys("SEC", 2).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&first) && keys.contains(&second));
    let err = client.recently_updated_keys("OPS", 2).await.unwrap_err();
    assert!(
        err.to_string().contains("400") || format!("{err:?}").contains("400"),
        "{err:?}"
    );
}

async fn rate_limited_requests_wait_for_retry_after_and_succeed(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Throttled", &[]))
        .await
        .unwrap();
    emulator.faults().rate_limit(Some(RateLimit {
        capacity: 1,
        refill_per_second: 1.0,
    }));
    let started = Instant::now();
    for _ in 0..3 {
        client.get_issue(&key).await.unwrap().unwrap();
    }
    let throttled = emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(throttled >= 1, "the bucket refused some requests");
    // Each refusal said Retry-After ≥ 1 s; the client waited at least that before trying again.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

async fn each_limit_holds_back_only_its_own_part_and_is_named_in_the_error(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let one = client.create_issue(&new_issue("One", &[])).await.unwrap();
    let two = client.create_issue(&new_issue("Two", &[])).await.unwrap();
    let marker = |n: &str| CommentMarker::item(KIND_SIR_COMMENT, "1234567890", n);
    // Jira Cloud's burst limit: one bucket per endpoint and method.
    emulator.faults().burst_limit(Some(RateLimit {
        capacity: 1,
        refill_per_second: 1.0,
    }));
    client
        .add_comment(&one, "first", &marker("1"))
        .await
        .unwrap();
    // Another endpoint is not held back by the comment endpoint's empty bucket.
    client.get_issue(&one).await.unwrap().unwrap();
    // The same endpoint is refused (429, `jira-burst-based`), waits out Retry-After, succeeds.
    client
        .add_comment(&two, "second", &marker("2"))
        .await
        .unwrap();
    let refused: Vec<String> = emulator
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let version = match emulator.deployment() {
        Deployment::Cloud => 3,
        Deployment::DataCenter => 2,
    };
    assert_eq!(
        refused,
        [format!("POST /rest/api/{version}/issue/{two}/comment")],
        "only the limited endpoint was refused"
    );

    // Jira Cloud's per-issue write limit: a write to another issue goes through; the error of
    // one refused for longer than the client waits names the limit.
    emulator.faults().burst_limit(None);
    emulator.faults().issue_write_limit(Some(RateLimit {
        capacity: 1,
        refill_per_second: 0.05,
    }));
    client
        .add_comment(&one, "third", &marker("3"))
        .await
        .unwrap();
    client
        .add_comment(&two, "fourth", &marker("4"))
        .await
        .unwrap();
    let err = client
        .add_comment(&one, "fifth", &marker("5"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::JiraStatus { status: 429, messages, .. }
            if messages.contains("RateLimit-Reason: jira-per-issue-on-write")),
        "{err:?}"
    );
    assert!(err.is_retryable(), "the event is retried later");
}

async fn a_pause_jira_asked_for_holds_back_later_requests_to_that_part_only(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let one = client.create_issue(&new_issue("One", &[])).await.unwrap();
    let two = client.create_issue(&new_issue("Two", &[])).await.unwrap();
    let marker = |n: &str| CommentMarker::item(KIND_SIR_COMMENT, "1234567890", n);
    // Writes to one issue: one now, then one per 20 s; the client waits at most 5 s.
    emulator.faults().issue_write_limit(Some(RateLimit {
        capacity: 1,
        refill_per_second: 0.05,
    }));
    client
        .add_comment(&one, "first", &marker("1"))
        .await
        .unwrap();
    client
        .add_comment(&one, "second", &marker("2"))
        .await
        .unwrap_err();
    let sent = emulator.requests().len();

    // Another write to the refused issue is not sent into the pause: it fails at once, retryable,
    // naming the part and the wait.
    let err = client
        .add_comment(&one, "third", &marker("3"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::JiraPaused { part, wait, .. }
            if part == &format!("writes to {one}") && *wait > Duration::from_secs(5)),
        "{err:?}"
    );
    assert!(err.is_retryable(), "the event is retried later");
    assert_eq!(emulator.requests().len(), sent, "nothing was sent");

    // Reads of that issue and writes to another go on.
    client.get_issue(&one).await.unwrap().unwrap();
    client
        .add_comment(&two, "fourth", &marker("4"))
        .await
        .unwrap();
    assert_eq!(emulator.requests().len(), sent + 2);
    assert_eq!(
        emulator
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count(),
        1,
        "only the write Jira refused was refused"
    );
}

async fn a_refused_create_is_retried_but_a_failed_one_is_not(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    emulator.faults().fail_next(1, 429);
    client
        .create_issue(&new_issue("After 429", &[]))
        .await
        .unwrap();
    assert_eq!(requests_to(&emulator, "POST", "/issue"), 2);
    assert_eq!(emulator.issues().len(), 1);

    emulator.faults().fail_next(1, 500);
    let err = client
        .create_issue(&new_issue("After 500", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::JiraStatus { status: 500, .. }),
        "{err}"
    );
    assert!(
        err.is_retryable(),
        "the event is retried later, after a search by label"
    );
    assert_eq!(
        requests_to(&emulator, "POST", "/issue"),
        3,
        "no blind second create"
    );
}

async fn server_errors_are_retried_a_bounded_number_of_times(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client.create_issue(&new_issue("Flaky", &[])).await.unwrap();
    emulator.faults().fail_next(2, 503);
    assert!(
        client.get_issue(&key).await.unwrap().is_some(),
        "recovered within the retries"
    );

    emulator.faults().fail_next(1_000, 500);
    let before = requests_to(&emulator, "GET", &format!("/issue/{key}"));
    let err = client.get_issue(&key).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        requests_to(&emulator, "GET", &format!("/issue/{key}")) - before,
        5,
        "1 try + 4 retries"
    );
    emulator.faults().clear();
}

async fn an_outage_is_waited_out_when_short(transport: Transport) {
    let (emulator, client) = jira(transport).await;
    let key = client
        .create_issue(&new_issue("Outage", &[]))
        .await
        .unwrap();
    emulator.faults().outage(Duration::from_millis(1_500));
    assert!(client.get_issue(&key).await.unwrap().is_some());
}

async fn wrong_token_is_a_permanent_error(transport: Transport) {
    let (emulator, _client) = jira(transport).await;
    let err = client_for(&emulator, "wrong").myself().await.unwrap_err();
    assert!(matches!(err, Error::JiraCredentialsRefused { .. }), "{err}");
    assert!(
        err.to_string().contains("run ./deploy.sh again"),
        "says how to rotate it: {err}"
    );
    assert!(!err.is_retryable());
}

both_transports!(
    myself_is_the_integration_user,
    created_issue_reads_back_with_text_description_and_labels,
    unknown_issue_reads_as_none,
    edit_changes_only_the_given_fields,
    transition_walks_several_hops_to_a_distant_status_and_back,
    a_transition_applied_but_answered_504_is_checked_on_the_live_issue_and_the_walk_goes_on,
    unreachable_status_is_a_permanent_error,
    transitioning_a_missing_issue_says_the_issue_does_not_exist,
    all_comments_are_read_across_pages_with_their_authors,
    user_lookup_matches_the_exact_email_only,
    watchers_are_added_by_the_id_jira_names_users_by,
    attachments_travel_byte_exact_both_ways,
    attachments_download_from_a_site_that_does_not_redirect,
    an_upload_refused_with_429_is_sent_again_from_a_reopened_stream,
    credentials_are_never_sent_to_an_attachment_url_off_the_site,
    label_search_pages_through_every_match,
    recently_updated_issues_of_the_project_are_found,
    rate_limited_requests_wait_for_retry_after_and_succeed,
    each_limit_holds_back_only_its_own_part_and_is_named_in_the_error,
    a_pause_jira_asked_for_holds_back_later_requests_to_that_part_only,
    a_refused_create_is_retried_but_a_failed_one_is_not,
    server_errors_are_retried_a_bounded_number_of_times,
    an_outage_is_waited_out_when_short,
    wrong_token_is_a_permanent_error,
);
