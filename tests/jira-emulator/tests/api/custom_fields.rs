//! Custom fields: listed by `GET /field`, required ones refused when missing on create with
//! Cloud's 400, values checked by kind, set on edit, shown on the issue (`null` when unset).

use jira_emulator::{CustomField, CustomFieldKind, JiraEmulatorConfig};
use serde_json::{Value, json};

use crate::support::{Jira, json_of};

fn site() -> JiraEmulatorConfig {
    JiraEmulatorConfig {
        custom_fields: vec![
            CustomField {
                required_on_create: true,
                options: vec!["Sev 1".into(), "Sev 2".into()],
                ..CustomField::new("customfield_10060", "Severity", CustomFieldKind::Select)
            },
            CustomField::new("customfield_10050", "AWS accounts", CustomFieldKind::Labels),
            CustomField::new("customfield_10070", "Incident start", CustomFieldKind::Date),
        ],
        ..JiraEmulatorConfig::default()
    }
}

fn create_body(fields: &Value) -> Value {
    let mut body = json!({"fields": {
        "project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "Leak",
    }});
    for (id, value) in fields.as_object().unwrap() {
        body["fields"][id] = value.clone();
    }
    body
}

#[tokio::test]
async fn fields_are_listed_with_their_schema() {
    let jira = Jira::start_with(site()).await;
    let fields = json_of(jira.get("/field").send().await.unwrap()).await;
    let by_id = |id: &str| {
        fields
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("labels")["schema"]["items"], "string");
    let severity = by_id("customfield_10060");
    assert_eq!(severity["name"], "Severity");
    assert_eq!(severity["custom"], true);
    assert_eq!(severity["schema"]["type"], "option");
    assert_eq!(by_id("customfield_10050")["schema"]["type"], "array");
    assert_eq!(by_id("customfield_10070")["schema"]["type"], "date");
}

#[tokio::test]
async fn a_create_without_a_required_field_is_refused_as_cloud_does() {
    let jira = Jira::start_with(site()).await;
    let refused = jira
        .post("/issue", &create_body(&json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body = json_of(refused).await;
    assert_eq!(body["errors"]["customfield_10060"], "Severity is required.");
    assert!(jira.emulator.issues().is_empty());

    let bad_option = jira
        .post(
            "/issue",
            &create_body(&json!({"customfield_10060": {"value": "Sev 9"}})),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad_option.status(), 400);
    let spaces = jira
        .post(
            "/issue",
            &create_body(&json!({
                "customfield_10060": {"value": "Sev 1"},
                "customfield_10050": ["has space"],
            })),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(spaces.status(), 400);
    let unknown = jira
        .post(
            "/issue",
            &create_body(&json!({"customfield_10060": {"value": "Sev 1"}, "customfield_1": "x"})),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(jira.emulator.issues().is_empty());
}

#[tokio::test]
async fn custom_field_values_are_set_on_create_and_edit_and_shown_on_the_issue() {
    let jira = Jira::start_with(site()).await;
    let created = jira
        .post(
            "/issue",
            &create_body(&json!({
                "customfield_10060": {"value": "Sev 2"},
                "customfield_10050": ["111122223333"],
            })),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = json_of(created).await["key"].as_str().unwrap().to_owned();
    let issue = json_of(jira.get(&format!("/issue/{key}")).send().await.unwrap()).await;
    assert_eq!(
        issue["fields"]["customfield_10060"],
        json!({"value": "Sev 2"})
    );
    assert_eq!(
        issue["fields"]["customfield_10050"],
        json!(["111122223333"])
    );
    assert_eq!(issue["fields"]["customfield_10070"], Value::Null);

    let edited = jira
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"customfield_10070": "2026-11-30", "customfield_10050": null}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 204);
    let record = jira.emulator.issue(&key).unwrap();
    assert_eq!(record.custom_fields["customfield_10070"], "2026-11-30");
    assert!(!record.custom_fields.contains_key("customfield_10050"));
    let bad_date = jira
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"customfield_10070": "30/11/2026"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad_date.status(), 400);
}
