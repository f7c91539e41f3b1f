//! The status graph, closing, closed-case immutability and comments, through the SDK and the
//! human actions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_securityir::Client;
use aws_sdk_securityir::error::ProvideErrorMetadata;
use aws_sdk_securityir::types::{
    CaseStatus, ClosureCode, ResolverType, SelfManagedCaseStatus as Status,
};
use common::{client, client_as, create_case, emulator};
use sir_emulator::{CaseUpdate, Error, NewCase, SirEmulator};

const DA: &str = "Detection and Analysis";
const CER: &str = "Containment, Eradication and Recovery";
const PIA: &str = "Post-incident Activities";

async fn move_to(client: &Client, case_id: &str, status: Status) -> Result<(), String> {
    client
        .update_case_status()
        .case_id(case_id)
        .case_status(status)
        .send()
        .await
        .map(|output| assert!(output.case_status().is_some()))
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

fn status_of(emulator: &SirEmulator, case_id: &str) -> String {
    emulator.case(case_id).unwrap().case_status
}

#[tokio::test]
async fn submitted_case_moves_only_to_detection_and_analysis() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "graph").await;
    for refused in [
        Status::ContainmentEradicationAndRecovery,
        Status::PostIncidentActivities,
        Status::Submitted,
    ] {
        assert_eq!(
            move_to(&client, &case_id, refused.clone()).await,
            Err("ValidationException".to_owned()),
            "{refused:?}"
        );
    }
    assert_eq!(status_of(&emulator, &case_id), "Submitted");
    move_to(&client, &case_id, Status::DetectionAndAnalysis)
        .await
        .unwrap();
    assert_eq!(status_of(&emulator, &case_id), DA);
}

#[tokio::test]
async fn active_statuses_move_along_every_edge_both_ways() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "graph").await;
    for (status, expected) in [
        (Status::DetectionAndAnalysis, DA),
        (Status::ContainmentEradicationAndRecovery, CER),
        (Status::PostIncidentActivities, PIA),
        (Status::DetectionAndAnalysis, DA),
        (Status::PostIncidentActivities, PIA),
        (Status::ContainmentEradicationAndRecovery, CER),
        (Status::DetectionAndAnalysis, DA),
    ] {
        move_to(&client, &case_id, status).await.unwrap();
        assert_eq!(status_of(&emulator, &case_id), expected);
    }
}

#[tokio::test]
async fn no_status_leads_back_to_submitted_or_to_the_same_status() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "graph").await;
    move_to(&client, &case_id, Status::DetectionAndAnalysis)
        .await
        .unwrap();
    for refused in [Status::Submitted, Status::DetectionAndAnalysis] {
        assert_eq!(
            move_to(&client, &case_id, refused).await,
            Err("ValidationException".to_owned())
        );
    }
}

#[tokio::test]
async fn aws_managed_statuses_are_refused_as_targets() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "graph").await;
    for target in ["Acknowledged", "Ready to Close", "Closed"] {
        assert_eq!(
            move_to(&client, &case_id, Status::from(target)).await,
            Err("ValidationException".to_owned()),
            "{target}"
        );
    }
}

#[tokio::test]
async fn acknowledged_case_moves_on_like_a_submitted_one() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "acknowledged").await;
    emulator.aws_set_status(&case_id, "Acknowledged").unwrap();
    let case = client.get_case().case_id(&case_id).send().await.unwrap();
    assert_eq!(case.case_status(), Some(&CaseStatus::Acknowledged));
    assert_eq!(
        move_to(&client, &case_id, Status::ContainmentEradicationAndRecovery).await,
        Err("ValidationException".to_owned())
    );
    move_to(&client, &case_id, Status::DetectionAndAnalysis)
        .await
        .unwrap();
}

#[tokio::test]
async fn close_case_works_from_any_status_and_sets_the_closure_code() {
    let emulator = emulator().await;
    let client = client(&emulator);
    for from in [
        None,
        Some("Acknowledged"),
        Some(CER),
        Some("Ready to Close"),
    ] {
        let case_id = create_case(&client, "to close").await;
        if let Some(status) = from {
            emulator.aws_set_status(&case_id, status).unwrap();
        }
        let closed = client.close_case().case_id(&case_id).send().await.unwrap();
        assert_eq!(closed.case_status(), Some(&CaseStatus::Closed));
        assert!(closed.closed_date().is_some());
        let case = client.get_case().case_id(&case_id).send().await.unwrap();
        assert_eq!(case.case_status(), Some(&CaseStatus::Closed));
        assert_eq!(
            case.closure_code(),
            Some(&ClosureCode::InvestigationCompleted)
        );
        assert_eq!(case.closed_date(), closed.closed_date());
    }
}

#[tokio::test]
async fn closed_case_cannot_be_changed_by_any_call() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "closed").await;
    let comment_id = emulator.add_comment("human", &case_id, "before").unwrap();
    client.close_case().case_id(&case_id).send().await.unwrap();
    let before = emulator.case(&case_id).unwrap();

    let codes = [
        client
            .update_case()
            .case_id(&case_id)
            .title("reopen?")
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .update_case_status()
            .case_id(&case_id)
            .case_status(Status::DetectionAndAnalysis)
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .close_case()
            .case_id(&case_id)
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .update_resolver_type()
            .case_id(&case_id)
            .resolver_type(ResolverType::Aws)
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .create_case_comment()
            .case_id(&case_id)
            .body("after")
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .update_case_comment()
            .case_id(&case_id)
            .comment_id(&comment_id)
            .body("after")
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        client
            .get_case_attachment_upload_url()
            .case_id(&case_id)
            .file_name("late.txt")
            .content_length(3)
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
    ];
    for code in codes {
        assert_eq!(code.as_deref(), Some("ConflictException"));
    }
    assert_eq!(emulator.case(&case_id).unwrap(), before);
    assert!(
        client.get_case().case_id(&case_id).send().await.is_ok(),
        "reads still work"
    );
}

#[tokio::test]
async fn closed_case_cannot_be_changed_by_human_actions_or_aws() {
    let emulator = emulator().await;
    let case_id = emulator.create_case("human", NewCase::default()).case_id;
    emulator.close_case("human", &case_id).unwrap();
    let conflict = |result: Result<(), Error>| matches!(result, Err(Error::Conflict { .. }));
    assert!(conflict(emulator.close_case("human", &case_id)));
    assert!(conflict(emulator.set_status("human", &case_id, DA)));
    assert!(conflict(emulator.aws_set_status(&case_id, "Acknowledged")));
    let update = CaseUpdate {
        title: Some("x".into()),
        ..CaseUpdate::default()
    };
    assert!(conflict(emulator.update_case("human", &case_id, update)));
    assert!(matches!(
        emulator.add_comment("human", &case_id, "late"),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        emulator.upload_attachment("human", &case_id, "late.txt", vec![1]),
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test]
async fn human_set_status_follows_the_same_graph_as_the_api() {
    let emulator = emulator().await;
    let case_id = emulator.create_case("human", NewCase::default()).case_id;
    assert!(matches!(
        emulator.set_status("human", &case_id, CER),
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        emulator.set_status("human", &case_id, "Acknowledged"),
        Err(Error::Validation { .. })
    ));
    emulator.set_status("human", &case_id, DA).unwrap();
    emulator.set_status("human", &case_id, PIA).unwrap();
    assert_eq!(status_of(&emulator, &case_id), PIA);
}

#[tokio::test]
async fn comments_page_by_next_token_past_sixty() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "chatty").await;
    let mut created = Vec::new();
    for n in 0..65 {
        created.push(
            emulator
                .add_comment("human", &case_id, &format!("comment {n}"))
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_comments()
            .case_id(&case_id)
            .max_results(25)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.total(), Some(65));
        sizes.push(page.items().len());
        seen.extend(page.items().iter().map(|c| c.comment_id().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [25, 25, 15]);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn comment_ids_are_six_digits_and_bodies_round_trip() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "comments").await;
    let body = "Line one\nLine two — with ünïcödé";
    let comment_id = client
        .create_case_comment()
        .case_id(&case_id)
        .body(body)
        .send()
        .await
        .unwrap()
        .comment_id()
        .to_owned();
    assert_eq!(comment_id.len(), 6);
    assert!(comment_id.chars().all(|c| c.is_ascii_digit()));
    let listed = client
        .list_comments()
        .case_id(&case_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items()[0].body(), Some(body));
    assert!(listed.items()[0].created_date().is_some());
}

#[tokio::test]
async fn comment_client_token_is_idempotent_per_case() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let first_case = create_case(&client, "one").await;
    let second_case = create_case(&client, "two").await;
    let mut ids = Vec::new();
    for case_id in [&first_case, &first_case, &second_case] {
        ids.push(
            client
                .create_case_comment()
                .case_id(case_id)
                .body("from Jira comment 10001")
                .client_token("jira-comment-10001")
                .send()
                .await
                .unwrap()
                .comment_id()
                .to_owned(),
        );
    }
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    assert_eq!(emulator.case(&first_case).unwrap().comments.len(), 1);
    assert_eq!(emulator.case(&second_case).unwrap().comments.len(), 1);

    // The same token with another body is another request: a conflict, nothing written.
    let conflict = client
        .create_case_comment()
        .case_id(&first_case)
        .body("edited since")
        .client_token("jira-comment-10001")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(conflict.is_conflict_exception(), "{conflict:?}");
    assert_eq!(emulator.case(&first_case).unwrap().comments.len(), 1);
}

#[tokio::test]
async fn update_case_comment_changes_body_and_last_updater_but_not_creator() {
    let emulator = emulator().await;
    let case_id = emulator.create_case("human", NewCase::default()).case_id;
    let comment_id = emulator.add_comment("alice", &case_id, "draft").unwrap();
    let updated = client_as(&emulator, "bob")
        .update_case_comment()
        .case_id(&case_id)
        .comment_id(&comment_id)
        .body("final")
        .send()
        .await
        .unwrap();
    assert_eq!(updated.comment_id(), comment_id);
    assert_eq!(updated.body(), Some("final"));
    let comment = emulator
        .case(&case_id)
        .unwrap()
        .comment(&comment_id)
        .unwrap()
        .clone();
    assert_eq!(comment.body, "final");
    assert_eq!(comment.creator, emulator.principal("alice"));
    assert_eq!(comment.last_updated_by, emulator.principal("bob"));
    assert!(comment.last_updated_date >= comment.created_date);
}

#[tokio::test]
async fn comment_body_must_be_one_to_twelve_thousand_characters() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "limits").await;
    client
        .create_case_comment()
        .case_id(&case_id)
        .body("x".repeat(12_000))
        .send()
        .await
        .unwrap();
    for refused in ["x".repeat(12_001), String::new()] {
        let error = client
            .create_case_comment()
            .case_id(&case_id)
            .body(refused)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(error.is_validation_exception(), "{error:?}");
    }
    assert!(matches!(
        emulator.add_comment("human", &case_id, &"x".repeat(12_001)),
        Err(Error::Validation { .. })
    ));
}

#[tokio::test]
async fn unknown_comment_is_resource_not_found() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "no such comment").await;
    let error = client
        .update_case_comment()
        .case_id(&case_id)
        .comment_id("123456")
        .body("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_resource_not_found_exception(), "{error:?}");
}
