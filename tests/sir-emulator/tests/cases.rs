//! Cases through the unmodified `aws-sdk-securityir` client: the wire format, validation against
//! the model, pagination, idempotency, identity, memberships and the errors the service answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use aws_sdk_securityir::error::ProvideErrorMetadata;
use aws_sdk_securityir::operation::create_case::CreateCaseError;
use aws_sdk_securityir::operation::update_case::UpdateCaseError;
use aws_sdk_securityir::primitives::DateTime;
use aws_sdk_securityir::types::{
    AwsRegion, CaseStatus, EngagementType, ImpactedAwsRegion, ThreatActorIp,
    ValidationExceptionReason, Watcher,
};
use common::{ACCOUNT, client, client_as, create_case, emulator, valid_create_case};
use serde_json::Value;
use sir_emulator::NewCase;

fn watcher(n: usize) -> Watcher {
    Watcher::builder()
        .email(format!("watcher{n}@example.com"))
        .build()
        .unwrap()
}

fn validation_fields(error: CreateCaseError) -> Vec<String> {
    match error {
        CreateCaseError::ValidationException(e) => {
            assert_eq!(
                e.reason(),
                &ValidationExceptionReason::FieldValidationFailed
            );
            e.field_list().iter().map(|f| f.name().to_owned()).collect()
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
}

#[tokio::test]
async fn create_then_get_case_round_trips_every_member() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let created = valid_create_case(&client, "Compromised access key")
        .set_impacted_accounts(Some(vec!["111122223333".into()]))
        .watchers(
            Watcher::builder()
                .email("ann@example.com")
                .name("Ann")
                .job_title("CISO")
                .build()
                .unwrap(),
        )
        .threat_actor_ip_addresses(
            ThreatActorIp::builder()
                .ip_address("203.0.113.7")
                .user_agent("curl/8")
                .build()
                .unwrap(),
        )
        .impacted_services("Amazon EC2")
        .impacted_aws_regions(
            ImpactedAwsRegion::builder()
                .region(AwsRegion::EuWest1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let case_id = created.case_id();
    assert_eq!(case_id.len(), 10);
    assert!(case_id.chars().all(|c| c.is_ascii_digit()));

    let case = client.get_case().case_id(case_id).send().await.unwrap();
    assert_eq!(case.title(), Some("Compromised access key"));
    assert_eq!(case.case_status(), Some(&CaseStatus::Submitted));
    assert_eq!(
        case.engagement_type(),
        Some(&EngagementType::SecurityIncident)
    );
    assert_eq!(
        case.case_arn(),
        Some(format!("arn:aws:security-ir:us-east-1:{ACCOUNT}:case/{case_id}").as_str())
    );
    assert_eq!(
        case.reported_incident_start_date(),
        Some(&DateTime::from_secs(1_700_000_000))
    );
    assert_eq!(case.impacted_accounts(), ["111122223333"]);
    assert_eq!(case.watchers()[0].name(), Some("Ann"));
    assert_eq!(case.watchers()[0].job_title(), Some("CISO"));
    assert_eq!(
        case.threat_actor_ip_addresses()[0].user_agent(),
        Some("curl/8")
    );
    assert_eq!(case.impacted_services(), ["Amazon EC2"]);
    assert_eq!(case.impacted_aws_regions()[0].region(), &AwsRegion::EuWest1);
    assert!(case.closure_code().is_none());
    assert!(case.created_date().is_some());
    assert!(case.case_attachments().is_empty());
}

#[tokio::test]
async fn list_cases_pages_sixty_cases_by_next_token() {
    let emulator = emulator().await;
    let created: Vec<String> = (0..60)
        .map(|n| {
            emulator
                .create_case(
                    "human",
                    NewCase {
                        title: format!("case {n}"),
                        ..NewCase::default()
                    },
                )
                .case_id
        })
        .collect();
    let client = client(&emulator);
    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_cases()
            .max_results(25)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.total(), Some(60));
        page_sizes.push(page.items().len());
        for item in page.items() {
            assert!(item.case_status().is_some());
            assert!(item.last_updated_date().is_some());
            seen.push(item.case_id().to_owned());
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(page_sizes, [25, 25, 10]);
    assert_eq!(seen, created, "every case once, oldest first");
}

#[tokio::test]
async fn list_cases_without_max_results_answers_pages_of_ten() {
    let emulator = emulator().await;
    for _ in 0..12 {
        emulator.create_case("human", NewCase::default());
    }
    let page = client(&emulator).list_cases().send().await.unwrap();
    assert_eq!(page.items().len(), 10);
    assert!(page.next_token().is_some());
}

#[tokio::test]
async fn max_results_outside_one_to_twenty_five_is_a_validation_exception() {
    let emulator = emulator().await;
    let client = client(&emulator);
    for refused in [0, 26] {
        let error = client
            .list_cases()
            .max_results(refused)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(error.is_validation_exception(), "{refused}: {error:?}");
    }
    client.list_cases().max_results(25).send().await.unwrap();
}

#[tokio::test]
async fn next_token_not_handed_out_is_an_invalid_token_exception() {
    let emulator = emulator().await;
    let error = client(&emulator)
        .list_cases()
        .next_token("made-up")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 423);
    assert!(error.into_service_error().is_invalid_token_exception());
}

#[tokio::test]
async fn unknown_case_is_resource_not_found() {
    let emulator = emulator().await;
    let error = client(&emulator)
        .get_case()
        .case_id("9999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 404);
    assert!(error.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn case_id_outside_the_model_pattern_is_a_validation_exception() {
    let emulator = emulator().await;
    let error = client(&emulator)
        .get_case()
        .case_id("not-a-case")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_validation_exception(), "{error:?}");
}

#[tokio::test]
async fn create_case_without_a_required_member_is_a_validation_exception() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let error = client
        .create_case()
        .description("no title, no lists")
        .engagement_type(EngagementType::Investigation)
        .resolver_type(aws_sdk_securityir::types::ResolverType::SelfValue)
        .reported_incident_start_date(DateTime::from_secs(1_700_000_000))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let fields: BTreeSet<String> = validation_fields(error).into_iter().collect();
    assert_eq!(
        fields,
        BTreeSet::from(["title".into(), "watchers".into(), "impactedAccounts".into()])
    );
}

#[tokio::test]
async fn create_case_with_a_value_outside_the_enum_is_a_validation_exception() {
    let emulator = emulator().await;
    let error = valid_create_case(&client(&emulator), "t")
        .engagement_type(EngagementType::from("Party"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(validation_fields(error), ["engagementType"]);
}

#[tokio::test]
async fn title_of_three_hundred_characters_is_accepted_and_longer_refused() {
    let emulator = emulator().await;
    let client = client(&emulator);
    create_case(&client, &"t".repeat(300)).await;
    let error = valid_create_case(&client, &"t".repeat(301))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(validation_fields(error), ["title"]);
    assert_eq!(emulator.cases().len(), 1);
}

#[tokio::test]
async fn thirty_watchers_are_accepted_and_thirty_one_refused() {
    let emulator = emulator().await;
    let client = client(&emulator);
    valid_create_case(&client, "30")
        .set_watchers(Some((0..30).map(watcher).collect()))
        .send()
        .await
        .unwrap();
    let error = valid_create_case(&client, "31")
        .set_watchers(Some((0..31).map(watcher).collect()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(validation_fields(error), ["watchers"]);
}

#[tokio::test]
async fn watcher_email_and_account_ids_must_match_their_patterns() {
    let emulator = emulator().await;
    let error = valid_create_case(&client(&emulator), "patterns")
        .watchers(Watcher::builder().email("not an email").build().unwrap())
        .impacted_accounts("12345")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let fields: BTreeSet<String> = validation_fields(error).into_iter().collect();
    assert_eq!(
        fields,
        BTreeSet::from(["watchers[0].email".into(), "impactedAccounts[0]".into()])
    );
}

#[tokio::test]
async fn update_case_changes_fields_and_adds_and_deletes_list_entries() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = valid_create_case(&client, "before")
        .set_watchers(Some(vec![watcher(1), watcher(2)]))
        .impacted_accounts("111122223333")
        .send()
        .await
        .unwrap()
        .case_id()
        .to_owned();
    client
        .update_case()
        .case_id(&case_id)
        .title("after")
        .description("new description")
        .engagement_type(EngagementType::Investigation)
        .actual_incident_start_date(DateTime::from_secs(1_690_000_000))
        .watchers_to_add(watcher(3))
        .watchers_to_delete(watcher(1))
        .impacted_accounts_to_add("444455556666")
        .impacted_accounts_to_delete("111122223333")
        .send()
        .await
        .unwrap();
    let case = client.get_case().case_id(&case_id).send().await.unwrap();
    assert_eq!(case.title(), Some("after"));
    assert_eq!(case.description(), Some("new description"));
    assert_eq!(case.engagement_type(), Some(&EngagementType::Investigation));
    assert_eq!(
        case.actual_incident_start_date(),
        Some(&DateTime::from_secs(1_690_000_000))
    );
    let emails: Vec<&str> = case.watchers().iter().map(|w| w.email()).collect();
    assert_eq!(emails, ["watcher2@example.com", "watcher3@example.com"]);
    assert_eq!(case.impacted_accounts(), ["444455556666"]);
    assert!(case.last_updated_date() >= case.created_date());
}

#[tokio::test]
async fn watchers_to_add_beyond_thirty_in_total_are_refused() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = valid_create_case(&client, "full")
        .set_watchers(Some((0..30).map(watcher).collect()))
        .send()
        .await
        .unwrap()
        .case_id()
        .to_owned();
    let error = client
        .update_case()
        .case_id(&case_id)
        .watchers_to_add(watcher(99))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(error, UpdateCaseError::ValidationException(_)),
        "{error:?}"
    );
    assert_eq!(emulator.case(&case_id).unwrap().watchers.len(), 30);
}

#[tokio::test]
async fn create_case_client_token_is_idempotent_per_caller() {
    let emulator = emulator().await;
    let first = valid_create_case(&client(&emulator), "once")
        .client_token("issue-SEC-1")
        .send()
        .await
        .unwrap();
    let again = valid_create_case(&client(&emulator), "once")
        .client_token("issue-SEC-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.case_id(), again.case_id());
    assert_eq!(emulator.cases().len(), 1);
    assert_eq!(emulator.events().len(), 1, "no second Case Created");

    let other_caller = valid_create_case(&client_as(&emulator, "someone-else"), "once")
        .client_token("issue-SEC-1")
        .send()
        .await
        .unwrap();
    assert_ne!(other_caller.case_id(), first.case_id());
}

#[tokio::test]
async fn caller_access_key_is_recorded_as_creator_and_last_updater() {
    let emulator = emulator().await;
    let integration = client_as(&emulator, "AKIAINTEGRATION");
    let case_id = create_case(&integration, "by the integration").await;
    let comment_id = integration
        .create_case_comment()
        .case_id(&case_id)
        .body("first")
        .send()
        .await
        .unwrap()
        .comment_id()
        .to_owned();
    client_as(&emulator, "AKIAHUMAN")
        .update_case_comment()
        .case_id(&case_id)
        .comment_id(&comment_id)
        .body("edited")
        .send()
        .await
        .unwrap();

    let integration_arn = format!("arn:aws:iam::{ACCOUNT}:user/AKIAINTEGRATION");
    let human_arn = format!("arn:aws:iam::{ACCOUNT}:user/AKIAHUMAN");
    assert_eq!(emulator.principal("AKIAINTEGRATION"), integration_arn);
    let comments = integration
        .list_comments()
        .case_id(&case_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        comments.items()[0].creator(),
        Some(integration_arn.as_str())
    );
    assert_eq!(
        comments.items()[0].last_updated_by(),
        Some(human_arn.as_str())
    );
    let case = emulator.case(&case_id).unwrap();
    assert_eq!(case.created_by, integration_arn);
    assert_eq!(case.last_updated_by, human_arn);
    let edits = integration
        .list_case_edits()
        .case_id(&case_id)
        .send()
        .await
        .unwrap();
    assert_eq!(edits.items()[0].principal(), Some(integration_arn.as_str()));
    assert_eq!(edits.total(), Some(3));
}

#[tokio::test]
async fn request_without_authorization_is_access_denied() {
    let emulator = emulator().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/list-cases", emulator.endpoint()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"].to_str().unwrap(),
        "AccessDeniedException"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn wire_uses_model_success_codes_and_epoch_second_timestamps() {
    let emulator = emulator().await;
    let http = reqwest::Client::new();
    let signed = "AWS4-HMAC-SHA256 Credential=rawcaller/20240101/us-east-1/security-ir/aws4_request, SignedHeaders=host, Signature=00";
    let created = http
        .post(format!("{}/v1/create-case", emulator.endpoint()))
        .header("authorization", signed)
        .body(
            r#"{"title":"t","description":"d","engagementType":"Investigation","resolverType":"Self",
                "reportedIncidentStartDate":1700000000.5,"impactedAccounts":[],"watchers":[]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let case_id = created.json::<Value>().await.unwrap()["caseId"]
        .as_str()
        .unwrap()
        .to_owned();
    let case: Value = http
        .get(format!(
            "{}/v1/cases/{case_id}/get-case",
            emulator.endpoint()
        ))
        .header("authorization", signed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        case["reportedIncidentStartDate"].as_f64(),
        Some(1_700_000_000.5)
    );
    assert!(case["createdDate"].is_number());
    assert_eq!(case["impactedAwsRegions"], serde_json::json!([]));
}

#[tokio::test]
async fn requests_are_recorded_with_operation_caller_and_case() {
    let emulator = emulator().await;
    let client = client_as(&emulator, "poller");
    let case_id = create_case(&client, "recorded").await;
    client.get_case().case_id(&case_id).send().await.unwrap();
    let recorded = emulator.requests();
    let names: Vec<&str> = recorded.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(names, ["CreateCase", "GetCase"]);
    assert_eq!(recorded[1].access_key_id.as_deref(), Some("poller"));
    assert_eq!(recorded[1].case_id.as_deref(), Some(case_id.as_str()));
    assert_eq!(recorded[1].status, 200);
}

#[tokio::test]
async fn the_one_membership_is_listed_and_readable() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let list = client.list_memberships().send().await.unwrap();
    assert_eq!(list.items().len(), 1);
    let id = list.items()[0].membership_id().to_owned();
    assert_eq!(id, format!("m-{ACCOUNT}"));
    let membership = client
        .get_membership()
        .membership_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(membership.account_id(), Some(ACCOUNT));
    assert_eq!(
        membership.membership_status().map(|s| s.as_str()),
        Some("Active")
    );
    let error = client
        .get_membership()
        .membership_id("m-0000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_resource_not_found_exception());
}

#[tokio::test]
async fn deleted_case_can_no_longer_be_read_or_listed() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "soon gone").await;
    emulator.delete_case(&case_id);
    let error = client
        .get_case()
        .case_id(&case_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_resource_not_found_exception());
    assert!(client.list_cases().send().await.unwrap().items().is_empty());
}

#[tokio::test]
async fn tags_given_at_creation_are_listed_and_editable() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = valid_create_case(&client, "tagged")
        .tags("team", "blue")
        .send()
        .await
        .unwrap()
        .case_id()
        .to_owned();
    let arn = format!("arn:aws:security-ir:us-east-1:{ACCOUNT}:case/{case_id}");
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()["env"], "test");
}

#[tokio::test]
async fn operations_not_emulated_answer_unknown_operation() {
    let emulator = emulator().await;
    let error = client(&emulator)
        .cancel_membership()
        .membership_id(format!("m-{ACCOUNT}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ValidationException"));
    let error = error.into_service_error();
    match error {
        aws_sdk_securityir::operation::cancel_membership::CancelMembershipError::ValidationException(e) => {
            assert_eq!(e.reason(), &ValidationExceptionReason::UnknownOperation);
        }
        other => panic!("{other:?}"),
    }
    let response = reqwest::Client::new()
        .get(format!("{}/v1/nowhere", emulator.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["x-amzn-errortype"].to_str().unwrap(),
        "UnknownOperationException"
    );
}
