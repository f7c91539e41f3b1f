//! The field mapping end to end through the pipeline, against a Jira project as strict as
//! Cloud's: a create screen that requires a custom field (Severity), custom fields of several
//! kinds, and a Done transition whose screen requires a resolution. The mapping document goes
//! through SSM as a cold start reads it (`IntegrationOptions::mapping_document`).

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::pipeline::{Integration, IntegrationOptions};
use jira_emulator::{
    CustomField, CustomFieldKind, Deployment, IssueEdit, JiraEmulatorConfig, User,
};
use serde_json::json;
use sir_emulator::{CaseUpdate, NewCase};

const HUMAN: &str = "human";

/// A project whose create screen requires Severity, with two more custom fields.
fn strict_site() -> JiraEmulatorConfig {
    JiraEmulatorConfig {
        custom_fields: vec![
            CustomField {
                required_on_create: true,
                options: vec!["Sev 1".into(), "Sev 2".into(), "Sev 3".into()],
                ..CustomField::new("customfield_10060", "Severity", CustomFieldKind::Select)
            },
            CustomField::new("customfield_10050", "AWS accounts", CustomFieldKind::Labels),
            CustomField::new("customfield_10070", "Incident start", CustomFieldKind::Date),
            // Rich text: ADF through Cloud's REST v3, wiki markup through Data Center's v2.
            CustomField::new(
                "customfield_10110",
                "Services affected",
                CustomFieldKind::TextArea,
            ),
        ],
        ..IntegrationOptions::default().jira
    }
}

const MAPPING: &str = r#"{
  "sirToJira": {"Closed": "Done"},
  "fields": {
    "sirToJira": {
      "impactedAccounts": "AWS accounts",
      "reportedIncidentStartDate": "customfield_10070",
      "impactedRegions": "labels",
      "impactedServices": "Services affected"
    },
    "onCreate": {"Severity": {"value": "Sev 2"}},
    "onTransition": {"Done": {"resolution": {"name": "Done"}}}
  }
}"#;

fn case() -> NewCase {
    NewCase {
        title: "Keys used from an unknown network".into(),
        description: "GuardDuty finding.".into(),
        impacted_accounts: vec!["111122223333".into()],
        impacted_aws_regions: vec!["eu-west-1".into()],
        impacted_services: vec!["Amazon S3".into(), "AWS IAM".into()],
        ..NewCase::default()
    }
}

#[tokio::test]
async fn mapped_fields_and_required_values_reach_the_issue_and_follow_the_case() {
    let it = Integration::start_with(IntegrationOptions {
        jira: strict_site(),
        mapping_document: Some(MAPPING.into()),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    it.jira
        .faults()
        .require_transition_field("Done", "resolution", "Resolution is required.");
    let created = it.sir.create_case(HUMAN, case());
    let case_id = created.case_id.clone();
    it.settle().await.unwrap().assert_clean();

    let issue = it.jira.issues()[0].clone();
    assert_eq!(
        issue.custom_fields["customfield_10060"],
        json!({"value": "Sev 2"}),
        "the required field has its configured value"
    );
    assert_eq!(
        issue.custom_fields["customfield_10050"],
        json!(["111122223333"])
    );
    let start = it.sir.case(&case_id).unwrap().reported_incident_start_date;
    assert_eq!(
        issue.custom_fields["customfield_10070"],
        json!(format!(
            "{:04}-{:02}-{:02}",
            start.year(),
            u8::from(start.month()),
            start.day()
        ))
    );
    assert!(
        issue.labels.contains(&"eu-west-1".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(issue.labels.contains(&format!("sir-case-{case_id}")));
    let services = &issue.custom_fields["customfield_10110"];
    let services = match it.jira.deployment() {
        Deployment::Cloud => shared::adf::adf_to_text(services),
        Deployment::DataCenter => services.as_str().unwrap().to_owned(),
    };
    assert_eq!(services, "AWS IAM, Amazon S3");

    // A changed SIR field reaches its Jira field.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_accounts_to_add: vec!["444455556666".into()],
                impacted_aws_regions_to_add: vec!["us-east-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let issue = it.jira.issue(&issue.key).unwrap();
    assert_eq!(
        issue.custom_fields["customfield_10050"],
        json!(["111122223333", "444455556666"])
    );
    assert!(
        issue.labels.contains(&"us-east-1".to_owned()),
        "{:?}",
        issue.labels
    );
    assert!(issue.labels.contains(&format!("sir-case-{case_id}")));

    // Closing the case moves the issue to Done, through the screen that requires a resolution.
    it.sir.close_case(HUMAN, &case_id).unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(it.jira.issue(&issue.key).unwrap().status, "Done");
}

#[tokio::test]
async fn a_value_removed_in_sir_takes_its_label_off_the_issue_and_labels_people_added_stay() {
    let it = Integration::start_with(IntegrationOptions {
        jira: strict_site(),
        mapping_document: Some(MAPPING.into()),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let created = it.sir.create_case(
        HUMAN,
        NewCase {
            impacted_aws_regions: vec!["eu-west-1".into(), "us-east-1".into()],
            ..case()
        },
    );
    let case_id = created.case_id.clone();
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();
    let labels = |it: &Integration| it.jira.issue(&key).unwrap().labels;
    assert!(labels(&it).contains(&"eu-west-1".to_owned()));

    // A responder labels the issue by hand, with one label a region of the case could also
    // have had.
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let mut by_hand = labels(&it);
    by_hand.extend(["needs-triage".to_owned(), "ap-south-1".to_owned()]);
    it.jira
        .edit_issue(
            &alice.account_id,
            &key,
            IssueEdit {
                labels: Some(by_hand),
                ..IssueEdit::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();

    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_aws_regions_to_delete: vec!["eu-west-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let now = labels(&it);
    assert!(
        !now.contains(&"eu-west-1".to_owned()),
        "the removed region's label left the issue: {now:?}"
    );
    for kept in [
        "us-east-1".to_owned(),
        "needs-triage".to_owned(),
        "ap-south-1".to_owned(),
        format!("sir-case-{case_id}"),
    ] {
        assert!(now.contains(&kept), "{kept} stays: {now:?}");
    }

    // The region comes back: so does its label; and removing every region leaves the labels
    // people set.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_aws_regions_to_add: vec!["eu-west-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert!(labels(&it).contains(&"eu-west-1".to_owned()));
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_aws_regions_to_delete: vec!["eu-west-1".into(), "us-east-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let mut now = labels(&it);
    now.sort();
    assert_eq!(
        now,
        [
            "ap-south-1".to_owned(),
            "needs-triage".to_owned(),
            format!("sir-case-{case_id}")
        ]
    );
}

#[tokio::test]
async fn without_the_required_value_jira_refuses_the_create_and_the_event_fails_loudly() {
    let it = Integration::start_with(IntegrationOptions {
        jira: strict_site(),
        async_retry_budget: Some(3),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    it.sir.create_case(HUMAN, case());
    let settled = it.settle().await.unwrap();
    assert!(it.jira.issues().is_empty());
    assert!(
        settled
            .to_jira
            .errors
            .iter()
            .any(|e| e.contains("Severity is required")),
        "{:?}",
        settled.to_jira.errors
    );
    assert!(!settled.to_jira.dead_lettered.is_empty(), "kept in the DLQ");
}

#[tokio::test]
async fn a_mapping_naming_a_field_the_site_lacks_fails_every_event_loudly() {
    let it = Integration::start_with(IntegrationOptions {
        jira: strict_site(),
        async_retry_budget: Some(3),
        mapping_document: Some(
            r#"{"fields": {"sirToJira": {"impactedAccounts": "Accounts affected"},
                            "onCreate": {"Severity": {"value": "Sev 2"}}}}"#
                .into(),
        ),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    it.sir.create_case(HUMAN, case());
    let settled = it.settle().await.unwrap();
    assert!(it.jira.issues().is_empty());
    assert!(
        settled
            .to_jira
            .errors
            .iter()
            .any(|e| e.contains("no field \"Accounts affected\"")),
        "{:?}",
        settled.to_jira.errors
    );
}

#[tokio::test]
async fn a_mapped_value_jira_refuses_is_reported_once_and_the_rest_of_the_change_applies() {
    let mut site = strict_site();
    site.custom_fields.push(CustomField {
        options: vec!["eu-west-1".into()],
        ..CustomField::new("customfield_10090", "Main region", CustomFieldKind::Select)
    });
    let it = Integration::start_with(IntegrationOptions {
        jira: site,
        mapping_document: Some(
            r#"{"fields": {"sirToJira": {"impactedRegions": "Main region"},
                            "onCreate": {"Severity": {"value": "Sev 3"}}}}"#
                .into(),
        ),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let case_id = it
        .sir
        .create_case(
            HUMAN,
            NewCase {
                impacted_aws_regions: Vec::new(),
                ..case()
            },
        )
        .case_id;
    it.settle().await.unwrap().assert_clean();
    let key = it.jira.issues()[0].key.clone();

    // A region the select does not offer, and a comment with it.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_aws_regions_to_add: vec!["ap-south-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.sir
        .add_comment(HUMAN, &case_id, "Rotated the access keys.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let texts = it.jira_comment_texts(&key);
    let said = |texts: &[String]| texts.iter().filter(|t| t.contains("mapped fields")).count();
    assert_eq!(said(&texts), 1, "{texts:#?}");
    assert!(
        texts
            .iter()
            .any(|t| t.ends_with("Rotated the access keys."))
    );
    let issue = it.jira.issue(&key).unwrap();
    assert!(!issue.custom_fields.contains_key("customfield_10090"));
    assert!(
        issue
            .labels
            .contains(&shared::sync_status::PROBLEM_LABEL.to_owned())
    );

    // Said once: the next change of the field is refused again, silently.
    it.sir
        .update_case(
            HUMAN,
            &case_id,
            CaseUpdate {
                impacted_aws_regions_to_add: vec!["sa-east-1".into()],
                ..CaseUpdate::default()
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(said(&it.jira_comment_texts(&key)), 1);
}

#[tokio::test]
async fn a_case_made_from_an_issue_takes_mapped_values_and_reports_an_unusable_one_once() {
    let mut site = strict_site();
    site.custom_fields.push(CustomField::new(
        "customfield_10080",
        "Engagement",
        CustomFieldKind::Text,
    ));
    site.custom_fields.push(CustomField::new(
        "customfield_10090",
        "Regions",
        CustomFieldKind::Labels,
    ));
    site.custom_fields.push(CustomField {
        options: vec!["Amazon S3".into(), "IAM".into(), "S3/Glacier".into()],
        ..CustomField::new(
            "customfield_10100",
            "Services",
            CustomFieldKind::MultiSelect,
        )
    });
    let it = Integration::start_with(IntegrationOptions {
        jira: site,
        impacted_accounts: vec!["999999999999".into()],
        mapping_document: Some(
            r#"{"fields": {"jiraToSir": {"impactedAccounts": "AWS accounts",
                                          "impactedRegions": "Regions",
                                          "impactedServices": "services",
                                          "engagementType": "customfield_10080"}}}"#
                .into(),
        ),
        ..IntegrationOptions::default()
    })
    .await
    .unwrap();
    let alice = it
        .jira
        .add_user(User::new("Alice Analyst", "alice@example.com"));
    let key = it
        .jira
        .create_issue(
            &alice.account_id,
            jira_emulator::NewIssue {
                custom_fields: [
                    (
                        "customfield_10050".to_owned(),
                        json!(["111122223333", "not-an-account"]),
                    ),
                    ("customfield_10080".to_owned(), json!("Investigation")),
                    (
                        "customfield_10090".to_owned(),
                        json!(["eu-west-1", "Ireland", "us-east-1"]),
                    ),
                    (
                        "customfield_10100".to_owned(),
                        json!([{"value": "Amazon S3"}, {"value": "S3/Glacier"}]),
                    ),
                    ("customfield_10060".to_owned(), json!({"value": "Sev 1"})),
                ]
                .into(),
                ..jira_emulator::NewIssue::new("Suspicious role assumption")
            },
        )
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    let case = it.only_case();
    assert_eq!(case.impacted_accounts, ["111122223333"], "not the default");
    assert_eq!(case.engagement_type, "Investigation");
    assert_eq!(case.impacted_aws_regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(
        case.impacted_services,
        ["Amazon S3"],
        "S3/Glacier is outside the model's pattern: left out"
    );
    let said = |it: &Integration| {
        it.jira_comment_texts(&key)
            .iter()
            .filter(|t| t.contains("not-an-account"))
            .count()
    };
    assert_eq!(said(&it), 1, "{:#?}", it.jira_comment_texts(&key));
    for unusable in ["Ireland", "S3/Glacier"] {
        let notes = it.jira_comment_texts(&key);
        assert_eq!(
            notes.iter().filter(|t| t.contains(unusable)).count(),
            1,
            "{unusable}: {notes:#?}"
        );
        let case_notes = it.sir_comment_texts(&it.only_case().case_id);
        assert_eq!(
            case_notes.iter().filter(|t| t.contains(unusable)).count(),
            1,
            "{unusable}: {case_notes:#?}"
        );
    }

    // Said once: a later change of the issue says nothing again.
    it.jira
        .comment(&alice.account_id, &key, "Looking into it.")
        .unwrap();
    it.settle().await.unwrap().assert_clean();
    assert_eq!(said(&it), 1);
}
