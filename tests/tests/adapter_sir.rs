//! `shared`'s SIR adapter (the unmodified aws-sdk-securityir client) against the SIR emulator:
//! full paging of cases and comments, field mapping, idempotent creates by clientToken, the
//! status graph, closed cases, byte-exact attachments both ways, the response team, and retries.

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against the emulators, over sockets or in process"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::both_transports;
use integration_tests::clients;
use integration_tests::in_process::{InProcessNet, Transport};

use shared::Error;
use shared::attachment_body::AttachmentBody;
use shared::sir::{CaseEdit, JIRA_ISSUE_TAG, NewCase, SdkSirClient, SirApi};
use shared::status::{SirStatus, StatusError};
use sir_emulator::{NewCase as HumanCase, SirEmulator, SirEmulatorConfig, Watcher};

const INTEGRATION: &str = "integration";
const HUMAN: &str = "human";

async fn sir(transport: Transport) -> (SirEmulator, SdkSirClient) {
    let (emulator, client) = match transport {
        Transport::Sockets => {
            let emulator = SirEmulator::start(SirEmulatorConfig::default())
                .await
                .unwrap();
            let client = SdkSirClient::new(sdk_client(&emulator, INTEGRATION));
            (emulator, client)
        }
        Transport::InProcess => {
            let emulator = SirEmulator::in_process(SirEmulatorConfig::default()).unwrap();
            let client = SdkSirClient::with_transport(
                sdk_client(&emulator, INTEGRATION),
                Arc::new(InProcessNet::sir(&emulator)),
            );
            (emulator, client)
        }
    };
    (emulator, client)
}

/// An SDK client of `emulator` over the network, or in process when the emulator runs so.
fn sdk_client(emulator: &SirEmulator, access_key: &str) -> aws_sdk_securityir::Client {
    if emulator.endpoint() == sir_emulator::IN_PROCESS_URL {
        clients::sir_client_in_process(
            &InProcessNet::sir(emulator),
            &emulator.endpoint(),
            access_key,
        )
    } else {
        clients::sir_client(&emulator.endpoint(), access_key)
    }
}

fn human_case(title: &str) -> HumanCase {
    HumanCase {
        title: title.into(),
        description: "Unusual API calls from a new ASN.".into(),
        impacted_accounts: vec!["111122223333".into()],
        watchers: vec![Watcher::email("responder@example.com")],
        impacted_services: vec!["IAM".into()],
        impacted_aws_regions: vec!["eu-west-1".into()],
        ..HumanCase::default()
    }
}

fn new_case(token: &str) -> NewCase {
    NewCase {
        client_token: token.into(),
        title: "From Jira SEC-7".into(),
        description: "Created in Jira.".into(),
        engagement_type: "Security Incident".into(),
        resolver_type: "Self".into(),
        reported_incident_start_date: "2026-11-20T08:30:00Z".into(),
        impacted_accounts: Vec::new(),
        impacted_regions: Vec::new(),
        impacted_services: Vec::new(),
        watchers: Vec::new(),
        tags: [(JIRA_ISSUE_TAG.to_owned(), "SEC-7".to_owned())].into(),
    }
}

fn calls(emulator: &SirEmulator, operation: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.operation == operation)
        .count()
}

async fn list_cases_pages_through_every_case(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    for i in 0..60 {
        emulator.create_case(HUMAN, human_case(&format!("Case {i}")));
    }
    let cases = client.list_cases().await.unwrap();
    assert_eq!(cases.len(), 60);
    assert_eq!(calls(&emulator, "ListCases"), 3, "25 a page");
    assert!(cases.iter().all(|c| c.status == Some(SirStatus::Submitted)));
    assert!(cases.iter().all(|c| c.last_updated_date.is_some()));
}

async fn get_case_maps_every_synced_field(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let record = emulator.create_case(HUMAN, human_case("Mapped"));
    let details = client.get_case(&record.case_id).await.unwrap().unwrap();
    let case = &details.snapshot;
    assert_eq!(case.case_id, record.case_id);
    assert_eq!(case.title, "Mapped");
    assert_eq!(case.description, "Unusual API calls from a new ASN.");
    assert_eq!(case.status, SirStatus::Submitted);
    assert_eq!(case.engagement_type.as_deref(), Some("Security Incident"));
    assert!(case.reported_incident_start_date.is_some());
    assert_eq!(case.impacted_accounts, ["111122223333".to_owned()].into());
    assert_eq!(case.impacted_regions, ["eu-west-1".to_owned()].into());
    assert_eq!(case.impacted_services, ["IAM".to_owned()].into());
    assert_eq!(case.watchers, ["responder@example.com".to_owned()].into());
    assert_eq!(details.resolver_type.as_deref(), Some("Self"));
    assert!(
        client.get_case("9999999999").await.unwrap().is_none(),
        "unknown case reads as None"
    );
}

async fn every_comment_is_read_across_pages_with_its_creator(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let case = emulator.create_case(HUMAN, human_case("Chatty"));
    for i in 0..65 {
        emulator
            .add_comment(HUMAN, &case.case_id, &format!("note {i}"))
            .unwrap();
    }
    let ours = client
        .create_comment(&case.case_id, "from Jira", "jira-comment-10001")
        .await
        .unwrap();
    let comments = client.list_comments(&case.case_id).await.unwrap();
    assert_eq!(comments.len(), 66);
    assert_eq!(comments[0].body, "note 0");
    assert_eq!(
        comments[0].creator.as_deref(),
        Some(emulator.principal(HUMAN).as_str())
    );
    let last = comments.iter().find(|c| c.comment_id == ours).unwrap();
    assert_eq!(
        last.creator.as_deref(),
        Some(emulator.principal(INTEGRATION).as_str())
    );
    assert!(calls(&emulator, "ListComments") >= 3);
}

async fn same_client_token_creates_one_case_and_one_comment(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let first = client.create_case(&new_case("jira-SEC-7")).await.unwrap();
    let again = client.create_case(&new_case("jira-SEC-7")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(emulator.cases().len(), 1);
    let other = client.create_case(&new_case("jira-SEC-8")).await.unwrap();
    assert_ne!(first, other);
    // Nothing invented: no accounts, no watchers.
    let stored = emulator.case(&first).unwrap();
    assert!(stored.impacted_accounts.is_empty() && stored.watchers.is_empty());
    assert!(stored.impacted_aws_regions.is_empty() && stored.impacted_services.is_empty());
    // Regions and services go out in SIR's shapes, checked against its model.
    let with_scope = client
        .create_case(&NewCase {
            impacted_regions: vec!["eu-west-1".into(), "us-east-1".into()],
            impacted_services: vec!["Amazon S3".into()],
            ..new_case("jira-SEC-9")
        })
        .await
        .unwrap();
    let stored = emulator.case(&with_scope).unwrap();
    assert_eq!(stored.impacted_aws_regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(stored.impacted_services, ["Amazon S3"]);
    // The tag that names the issue is set at creation and read back by the case's ARN.
    let details = client.get_case(&first).await.unwrap().unwrap();
    let arn = details.case_arn.expect("GetCase returns the case ARN");
    let tags = client.case_tags(&arn).await.unwrap();
    assert_eq!(tags.get(JIRA_ISSUE_TAG).map(String::as_str), Some("SEC-7"));

    let c1 = client
        .create_comment(&first, "hello", "jira-comment-1")
        .await
        .unwrap();
    let c2 = client
        .create_comment(&first, "hello", "jira-comment-1")
        .await
        .unwrap();
    assert_eq!(c1, c2);
    assert_eq!(emulator.case(&first).unwrap().comments.len(), 1);
}

async fn update_changes_fields_and_watchers(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let case = emulator.create_case(HUMAN, human_case("Old title"));
    client
        .update_case(
            &case.case_id,
            &CaseEdit {
                title: Some("New title".into()),
                description: Some("New description".into()),
                watchers_to_add: vec!["lead@example.com".into()],
                watchers_to_delete: vec!["responder@example.com".into()],
            },
        )
        .await
        .unwrap();
    let stored = emulator.case(&case.case_id).unwrap();
    assert_eq!(stored.title, "New title");
    assert_eq!(stored.description, "New description");
    let emails: Vec<_> = stored.watchers.iter().map(|w| w.email.as_str()).collect();
    assert_eq!(emails, ["lead@example.com"]);
    assert_eq!(stored.last_updated_by, emulator.principal(INTEGRATION));
}

async fn status_moves_only_along_the_graph_and_closing_is_final(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let case = emulator.create_case(HUMAN, human_case("Graph")).case_id;
    client
        .update_case_status(&case, SirStatus::DetectionAndAnalysis)
        .await
        .unwrap();
    client
        .update_case_status(&case, SirStatus::PostIncidentActivities)
        .await
        .unwrap();
    let refused = client
        .update_case_status(&case, SirStatus::Submitted)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Sir {
                operation: "UpdateCaseStatus",
                ..
            }
        ),
        "{refused}"
    );
    assert!(!refused.is_retryable());
    // AWS-managed statuses are refused before any call.
    let before = calls(&emulator, "UpdateCaseStatus");
    let aws_managed = client
        .update_case_status(&case, SirStatus::ReadyToClose)
        .await
        .unwrap_err();
    assert!(
        matches!(
            aws_managed,
            Error::Status(StatusError::NotSelfManaged {
                status: SirStatus::ReadyToClose
            })
        ),
        "{aws_managed}"
    );
    assert!(!aws_managed.is_retryable());
    assert_eq!(calls(&emulator, "UpdateCaseStatus"), before);

    client.close_case(&case).await.unwrap();
    let closed = client.get_case(&case).await.unwrap().unwrap();
    assert_eq!(closed.snapshot.status, SirStatus::Closed);
    assert!(closed.snapshot.closure_code.is_some());
    let err = client
        .update_case(
            &case,
            &CaseEdit {
                title: Some("too late".into()),
                ..CaseEdit::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable(),
        "a closed case never accepts changes: {err}"
    );
    assert!(
        client
            .create_comment(&case, "late", "t-late")
            .await
            .is_err()
    );
}

fn every_byte(len: usize) -> bytes::Bytes {
    (0..len).map(|i| (i % 253) as u8).collect::<Vec<_>>().into()
}

async fn attachments_travel_byte_exact_both_ways(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let case = emulator.create_case(HUMAN, human_case("Evidence")).case_id;
    let ours = every_byte(1_500_000);
    client
        .upload_attachment(
            &case,
            "memory-dump.bin",
            AttachmentBody::from_bytes(ours.clone()),
            "jira-attachment-1",
        )
        .await
        .unwrap();
    let details = client.get_case(&case).await.unwrap().unwrap();
    let uploaded = details
        .attachments
        .iter()
        .find(|a| a.file_name == "memory-dump.bin")
        .unwrap();
    assert_eq!(uploaded.status, "Verified");
    assert_eq!(uploaded.creator, emulator.principal(INTEGRATION));
    assert_eq!(
        emulator
            .case(&case)
            .unwrap()
            .attachment(&uploaded.attachment_id)
            .unwrap()
            .bytes,
        ours
    );
    assert_eq!(
        client
            .download_attachment(&case, &uploaded.attachment_id)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        ours
    );

    let theirs = every_byte(4_097);
    let id = emulator
        .upload_attachment(HUMAN, &case, "notes.txt", theirs.to_vec())
        .unwrap();
    assert_eq!(
        client
            .download_attachment(&case, &id)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        theirs
    );
}

async fn pending_attachment_cannot_be_downloaded_yet(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    let case = emulator.create_case(HUMAN, human_case("Pending")).case_id;
    // An upload URL handed out but never used leaves the attachment Pending.
    sdk_client(&emulator, HUMAN)
        .get_case_attachment_upload_url()
        .case_id(&case)
        .file_name("later.bin")
        .content_length(10)
        .send()
        .await
        .unwrap();
    let details = client.get_case(&case).await.unwrap().unwrap();
    let pending = &details.attachments[0];
    assert_eq!(pending.status, "Pending");
    let err = client
        .download_attachment(&case, &pending.attachment_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sir { .. }), "{err}");
}

async fn response_team_comes_from_the_active_membership(transport: Transport) {
    let (_emulator, client) = sir(transport).await;
    let team = client.incident_response_team().await.unwrap();
    assert!(!team.is_empty());
    assert!(team.iter().all(|r| r.email.contains('@')));
}

async fn throttling_is_retried_by_the_sdk_and_reported_retryable_when_it_persists(
    transport: Transport,
) {
    let (emulator, client) = sir(transport).await;
    emulator.create_case(HUMAN, human_case("Throttled"));
    emulator.faults().retry_after(0);
    emulator.faults().throttle_next(2);
    assert_eq!(
        client.list_cases().await.unwrap().len(),
        1,
        "recovered within the retries"
    );

    emulator.faults().throttle_next(100);
    let err = client.list_cases().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    emulator.faults().clear();

    emulator.faults().fail_next(100, 500);
    let err = client.list_cases().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    emulator.faults().clear();
}

async fn throttled_calls_wait_for_retry_after(transport: Transport) {
    let (emulator, client) = sir(transport).await;
    emulator.create_case(HUMAN, human_case("Patient"));
    emulator.faults().retry_after(1);
    emulator.faults().throttle_next(1);
    let started = Instant::now();
    assert_eq!(client.list_cases().await.unwrap().len(), 1);
    // The SDK's own backoff here is 10 ms: only Retry-After makes it wait a second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls(&emulator, "ListCases"), 2);
}

both_transports!(
    list_cases_pages_through_every_case,
    get_case_maps_every_synced_field,
    every_comment_is_read_across_pages_with_its_creator,
    same_client_token_creates_one_case_and_one_comment,
    update_changes_fields_and_watchers,
    status_moves_only_along_the_graph_and_closing_is_final,
    attachments_travel_byte_exact_both_ways,
    pending_attachment_cannot_be_downloaded_yet,
    response_team_comes_from_the_active_membership,
    throttling_is_retried_by_the_sdk_and_reported_retryable_when_it_persists,
    throttled_calls_wait_for_retry_after,
);
