//! Native `aws.security-ir` events: what each change emits, delivery to moto's default bus, and
//! a failed publish that does not fail the call.

#![allow(
    clippy::disallowed_methods,
    reason = "waits in real time for events over sockets"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use common::{REGION, client, client_as, create_case, emulator, moto};
use serde_json::{Value, json};
use sir_emulator::{CaseUpdate, NewCase, SirEmulator, SirEmulatorConfig};

fn detail_types(emulator: &SirEmulator) -> Vec<String> {
    emulator
        .events()
        .into_iter()
        .map(|e| e.detail_type)
        .collect()
}

#[tokio::test]
async fn each_change_emits_its_native_event_with_who_did_it() {
    let emulator = emulator().await;
    let client = client_as(&emulator, "integration");
    let case_id = create_case(&client, "evented").await;
    let comment_id = client
        .create_case_comment()
        .case_id(&case_id)
        .body("hi")
        .send()
        .await
        .unwrap()
        .comment_id()
        .to_owned();
    client
        .update_case_comment()
        .case_id(&case_id)
        .comment_id(&comment_id)
        .body("hi!")
        .send()
        .await
        .unwrap();
    client
        .update_case()
        .case_id(&case_id)
        .title("renamed")
        .send()
        .await
        .unwrap();
    client
        .update_case_status()
        .case_id(&case_id)
        .case_status(aws_sdk_securityir::types::SelfManagedCaseStatus::DetectionAndAnalysis)
        .send()
        .await
        .unwrap();
    client.close_case().case_id(&case_id).send().await.unwrap();

    assert_eq!(
        detail_types(&emulator),
        [
            "Case Created",
            "Case Comment Added",
            "Case Comment Updated",
            "Case Updated",
            "Case Updated",
            "Case Closed",
        ]
    );
    let who = emulator.principal("integration");
    let details: Vec<Value> = emulator.events().into_iter().map(|e| e.detail).collect();
    assert_eq!(details[0], json!({ "caseId": case_id, "createdBy": who }));
    assert_eq!(details[1], json!({ "caseId": case_id, "createdBy": who }));
    for detail in &details[2..] {
        assert_eq!(detail, &json!({ "caseId": case_id, "updatedBy": who }));
    }
}

#[tokio::test]
async fn human_actions_emit_the_same_events_as_api_calls() {
    let emulator = emulator().await;
    let case_id = emulator
        .create_case("responder", NewCase::default())
        .case_id;
    let comment_id = emulator.add_comment("responder", &case_id, "note").unwrap();
    emulator
        .edit_comment("responder", &case_id, &comment_id, "note!")
        .unwrap();
    let update = CaseUpdate {
        description: Some("more".into()),
        ..CaseUpdate::default()
    };
    emulator.update_case("responder", &case_id, update).unwrap();
    emulator
        .upload_attachment("responder", &case_id, "a.txt", vec![1])
        .unwrap();
    emulator.aws_set_status(&case_id, "Acknowledged").unwrap();
    emulator.close_case("responder", &case_id).unwrap();
    assert_eq!(
        detail_types(&emulator),
        [
            "Case Created",
            "Case Comment Added",
            "Case Comment Updated",
            "Case Updated",
            "Case Updated",
            "Case Updated",
            "Case Closed",
        ]
    );
    assert_eq!(emulator.events()[5].detail["updatedBy"], "AWS Responder");
}

#[tokio::test]
async fn refused_and_repeated_calls_emit_nothing() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "quiet").await;
    client
        .update_case_status()
        .case_id(&case_id)
        .case_status(aws_sdk_securityir::types::SelfManagedCaseStatus::PostIncidentActivities)
        .send()
        .await
        .unwrap_err();
    for _ in 0..2 {
        client
            .create_case_comment()
            .case_id(&case_id)
            .body("once")
            .client_token("same")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        detail_types(&emulator),
        ["Case Created", "Case Comment Added"]
    );
}

#[tokio::test]
async fn native_events_reach_the_default_bus_of_moto() {
    let moto = moto();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("sir-native-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    eventbridge
        .put_rule()
        .name("sir-native-events")
        .event_bus_name("default")
        .event_pattern(json!({ "source": ["aws.security-ir"] }).to_string())
        .send()
        .await
        .unwrap();
    eventbridge
        .put_targets()
        .rule("sir-native-events")
        .event_bus_name("default")
        .targets(
            Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let emulator = SirEmulator::start(SirEmulatorConfig {
        events_endpoint: Some(moto.endpoint().to_owned()),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    let client = client(&emulator);
    let case_id = create_case(&client, "to the bus").await;
    emulator
        .add_comment("responder", &case_id, "seen?")
        .unwrap();
    client.close_case().case_id(&case_id).send().await.unwrap();
    assert!(emulator.events_settled(Duration::from_secs(20)).await);
    assert_eq!(emulator.event_stats().published, 3);
    assert_eq!(emulator.event_stats().failed, 0);

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.len() < 3 && Instant::now() < deadline {
        let messages = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in messages.messages() {
            let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            if envelope["detail"]["caseId"] == case_id.as_str() {
                received.push(envelope);
            }
        }
    }
    let mut types: Vec<&str> = received
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["Case Closed", "Case Comment Added", "Case Created"]);
    for envelope in &received {
        assert_eq!(envelope["source"], "aws.security-ir");
        assert_eq!(
            envelope["resources"][0],
            format!("arn:aws:security-ir:us-east-1:123456789012:case/{case_id}")
        );
    }
    let created = received
        .iter()
        .find(|e| e["detail-type"] == "Case Created")
        .unwrap();
    assert_eq!(created["detail"]["createdBy"], emulator.principal("human"));
}

#[tokio::test]
async fn failed_publish_does_not_fail_the_call_and_is_counted() {
    // Nothing listens on port 9 of the loopback interface.
    let emulator = SirEmulator::start(SirEmulatorConfig {
        events_endpoint: Some("http://127.0.0.1:9".to_owned()),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    let case_id = create_case(&client(&emulator), "unheard").await;
    assert!(emulator.case(&case_id).is_some());
    assert!(emulator.events_settled(Duration::from_secs(30)).await);
    let stats = emulator.event_stats();
    assert_eq!((stats.emitted, stats.published, stats.failed), (1, 0, 1));
}
