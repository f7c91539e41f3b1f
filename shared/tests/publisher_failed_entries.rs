//! PutEvents answers 200 with `FailedEntryCount > 0` when it refuses some entries. moto never does
//! that for well-formed entries, so this one edge is checked with aws-smithy-mocks.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use shared::Error;
use shared::events::{BusEvent, CaseChange};
use shared::publisher::{EventBridgePublisher, EventPublisher};
use shared::snapshot::CaseSnapshot;
use shared::status::SirStatus;

fn client(rules: &[&Rule]) -> aws_sdk_eventbridge::Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

fn event(id: &str) -> BusEvent {
    BusEvent::CaseUpdated(CaseChange::new(
        None,
        CaseSnapshot {
            case_id: id.into(),
            title: "t".into(),
            description: "d".into(),
            status: SirStatus::Closed,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        },
    ))
}

fn ok_entry(id: &str) -> PutEventsResultEntry {
    PutEventsResultEntry::builder().event_id(id).build()
}

#[tokio::test]
async fn refused_entries_are_named_in_the_error() {
    let first_batch = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        let mut out = PutEventsOutput::builder().failed_entry_count(1);
        for i in 0..10 {
            out = out.entries(if i == 3 {
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build()
            } else {
                ok_entry(&format!("e{i}"))
            });
        }
        out.build()
    });
    let second_batch = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(ok_entry("e10"))
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("AccessDeniedException")
                    .error_message("not allowed")
                    .build(),
            )
            .build()
    });
    let publisher = EventBridgePublisher::new(client(&[&first_batch, &second_batch]), "bus");
    let events: Vec<_> = (0..12).map(|i| event(&format!("case-{i}"))).collect();
    let err = publisher.publish(&events).await.unwrap_err();

    assert_eq!(first_batch.num_calls(), 1);
    assert_eq!(
        second_batch.num_calls(),
        1,
        "the second batch is still sent"
    );
    let Error::PublishFailed { failed } = &err else {
        panic!("unexpected error {err}");
    };
    let subjects: Vec<_> = failed.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["case-3", "case-11"]);
    assert_eq!(failed[0].error_code.as_deref(), Some("ThrottlingException"));
    let message = err.to_string();
    assert!(
        message.contains("CaseUpdated case-3 (ThrottlingException: Rate exceeded)"),
        "{message}"
    );
    assert!(
        message.contains("case-11 (AccessDeniedException"),
        "{message}"
    );
    assert!(!err.is_retryable(), "access denied will not pass by itself");
}

#[tokio::test]
async fn all_accepted_is_ok() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(0)
            .entries(ok_entry("e0"))
            .build()
    });
    let publisher = EventBridgePublisher::new(client(&[&rule]), "bus");
    publisher.publish(&[event("1")]).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn nothing_to_publish_makes_no_call() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
    let publisher = EventBridgePublisher::new(client(&[&rule]), "bus");
    publisher.publish(&[]).await.unwrap();
    assert_eq!(rule.num_calls(), 0);
}
