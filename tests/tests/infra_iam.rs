//! The local world refuses what IAM would: every Lambda signs with its own access key, and moto
//! (through the local IAM in front of it) and the SIR emulator allow it only what its role in the
//! synthesized template (`cdk/iam-policies.json`) allows, by action **and** resource ARN. Taking one
//! grant away from a role makes the very call that needs it fail with IAM's refusal, naming the
//! function, the action and the resource.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::iam::{Function, template_policies};
use integration_tests::pipeline::{Integration, IntegrationOptions};
use integration_tests::{HarnessError, World};
use jira_emulator::{NewIssue, User};
use sir_emulator::NewCase;

fn revoking(function: Function, action: &str) -> IntegrationOptions {
    IntegrationOptions {
        revoked: vec![(function, action.to_owned())],
        ..IntegrationOptions::default()
    }
}

/// The refusal `settle` reports, as text.
async fn refusal_of(it: &Integration) -> String {
    match it.settle().await {
        Err(HarnessError::IamDenied(denied)) => denied,
        other => panic!("expected an IAM refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn sir_client_without_get_membership_is_refused_on_the_membership_arn() {
    let it = Integration::start_with(revoking(Function::SirClient, "security-ir:GetMembership"))
        .await
        .unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    it.jira
        .create_issue(&alice.account_id, NewIssue::new("Phishing wave"))
        .unwrap();

    let denied = refusal_of(&it).await;
    assert!(
        denied.starts_with(
            "sirClient may not security-ir:GetMembership on arn:aws:security-ir:us-east-1:123456789012:membership/"
        ),
        "{denied}"
    );
    let refused: Vec<_> = it
        .sir
        .requests()
        .into_iter()
        .filter(|r| r.operation == "GetMembership")
        .collect();
    assert!(!refused.is_empty());
    assert!(
        refused.iter().all(|r| r.status == 403),
        "SIR answers AccessDeniedException (403): {refused:?}"
    );
}

#[tokio::test]
async fn the_notifications_handler_without_put_events_is_refused_by_the_bus() {
    let it = Integration::start_with(revoking(
        Function::JiraNotificationsHandler,
        "events:PutEvents",
    ))
    .await
    .unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    it.jira
        .create_issue(&alice.account_id, NewIssue::new("Phishing wave"))
        .unwrap();

    let denied = refusal_of(&it).await;
    assert_eq!(
        denied,
        format!(
            "jiraNotificationsHandler may not events:PutEvents on arn:aws:events:us-east-1:123456789012:event-bus/{}",
            it.world.bus_name
        )
    );
    assert!(it.sir.cases().is_empty(), "nothing reached SIR");
}

#[tokio::test]
async fn the_poller_without_put_item_is_refused_on_the_table() {
    let it = Integration::start_with(revoking(Function::Poller, "dynamodb:PutItem"))
        .await
        .unwrap();
    it.sir.create_case(
        "human",
        NewCase {
            title: "Suspicious login".into(),
            description: "Console login from a new country.".into(),
            ..NewCase::default()
        },
    );

    let denied = refusal_of(&it).await;
    assert!(
        denied.contains(&format!(
            "poller may not dynamodb:PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/{}",
            it.world.table_name
        )),
        "{denied}"
    );
}

#[tokio::test]
async fn a_granted_action_on_another_resource_is_refused() {
    let world = World::new().await.unwrap();
    let other = World::new().await.unwrap();
    let sdk = world.function_sdk(Function::Poller).await.unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let key = |pk: &str| {
        [
            ("PK".to_owned(), AttributeValue::S(pk.to_owned())),
            ("SK".to_owned(), AttributeValue::S("LINK".to_owned())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };

    dynamodb
        .get_item()
        .table_name(&world.table_name)
        .set_key(Some(key("CASE#1")))
        .send()
        .await
        .expect("GetItem on its own table is granted");
    let error = dynamodb
        .get_item()
        .table_name(&other.table_name)
        .set_key(Some(key("CASE#1")))
        .send()
        .await
        .expect_err("GetItem on another table is not");
    let text = format!("{:?}", error.into_service_error());
    assert!(text.contains("AccessDeniedException"), "{text}");
    assert!(
        text.contains(&format!("table/{}", other.table_name)),
        "names the resource: {text}"
    );
}

#[tokio::test]
async fn the_policy_file_is_each_roles_template_policy_bound_to_the_world() {
    let world = World::new().await.unwrap();
    let document = template_policies(Function::Poller)
        .unwrap()
        .document(&world.bindings());
    let text = document.to_string();
    assert!(text.contains(&format!(
        "arn:aws:dynamodb:us-east-1:123456789012:table/{}",
        world.table_name
    )));
    assert!(text.contains(&format!(
        "arn:aws:events:us-east-1:123456789012:rule/{}-poller-schedule",
        world.stack_name
    )));
    assert!(!text.contains("${"), "every placeholder bound: {text}");
}

#[tokio::test]
async fn a_call_no_role_grants_is_refused_in_the_services_own_shape() {
    let world = World::new().await.unwrap();
    let (topic_arn, _) = world.automation_topic().await.unwrap();
    let sdk = world
        .function_sdk(Function::JiraNotificationsHandler)
        .await
        .unwrap();
    let error = aws_sdk_sns::Client::new(&sdk)
        .publish()
        .topic_arn(&topic_arn)
        .message("{}")
        .send()
        .await
        .expect_err("no role may publish to the Automation topic");
    let service_error = error.into_service_error();
    assert!(
        matches!(
            service_error,
            aws_sdk_sns::operation::publish::PublishError::AuthorizationErrorException(_)
        ),
        "{service_error:?}"
    );
    let denials = world.iam_denials().await.unwrap();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].action, "sns:Publish");
    assert_eq!(denials[0].resource, topic_arn);
}
