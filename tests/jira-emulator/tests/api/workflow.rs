//! Transitions: only those offered from the current status, so Done needs several hops.

use jira_emulator::{
    JiraEmulatorConfig, NewIssue, StatusCategory, Workflow, WorkflowStatus, WorkflowTransition,
};
use serde_json::{Value, json};

use crate::support::{Jira, json_of};

async fn offered(jira: &Jira, key: &str) -> Vec<(String, String)> {
    let body = json_of(
        jira.get(&format!("/issue/{key}/transitions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["to"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn status(jira: &Jira, key: &str) -> Value {
    json_of(jira.get(&format!("/issue/{key}")).send().await.unwrap()).await["fields"]["status"]
        .clone()
}

#[tokio::test]
async fn transitions_offered_are_only_those_to_neighbouring_statuses() {
    let jira = Jira::start().await;
    let key = jira.create("Workflow", &[]).await;
    let from_to_do = offered(&jira, &key).await;
    assert_eq!(from_to_do.len(), 1);
    assert_eq!(from_to_do[0].1, "In Progress");
    let body = json_of(
        jira.get(&format!("/issue/{key}/transitions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        body["transitions"][0]["to"]["statusCategory"]["key"],
        "indeterminate"
    );
}

#[tokio::test]
async fn reaching_done_from_to_do_takes_three_transitions() {
    let jira = Jira::start().await;
    let key = jira.create("Walk to Done", &[]).await;
    let mut hops = 0;
    while status(&jira, &key).await["name"] != "Done" {
        let offered = offered(&jira, &key).await;
        let next = ["Done", "In Review", "In Progress"]
            .iter()
            .find_map(|target| offered.iter().find(|(_, to)| to == target))
            .unwrap()
            .0
            .clone();
        let response = jira
            .post(
                &format!("/issue/{key}/transitions"),
                &json!({"transition": {"id": next}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        hops += 1;
        assert!(hops <= 3);
    }
    assert_eq!(hops, 3);
    let done = status(&jira, &key).await;
    assert_eq!(done["statusCategory"]["key"], "done");
    let reopen = offered(&jira, &key).await;
    assert!(reopen.iter().any(|(_, to)| to == "To Do"));
}

#[tokio::test]
async fn a_transition_not_offered_from_the_current_status_is_refused() {
    let jira = Jira::start().await;
    let key = jira.create("No shortcut", &[]).await;
    // "51" leads to Done, but only from In Review.
    let response = jira
        .post(
            &format!("/issue/{key}/transitions"),
            &json!({"transition": {"id": "51"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(
        body["errorMessages"][0],
        "Transition id '51' is not valid for this issue."
    );
    assert_eq!(status(&jira, &key).await["name"], "To Do");
}

#[tokio::test]
async fn a_human_transition_walks_the_workflow_one_recorded_hop_at_a_time() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira
        .emulator
        .create_issue(&owner, NewIssue::new("Human walk"))
        .unwrap();
    jira.emulator.transition_to(&owner, &key, "Done").unwrap();
    let issue = jira.emulator.issue(&key).unwrap();
    assert_eq!(issue.status, "Done");
    let transitions = issue
        .history
        .iter()
        .filter(|entry| {
            matches!(
                entry.action,
                jira_emulator::IssueAction::Transitioned { .. }
            )
        })
        .count();
    assert_eq!(transitions, 3);
}

#[tokio::test]
async fn a_configured_workflow_replaces_the_default() {
    let new_status = |id: &str, name: &str, category| WorkflowStatus {
        id: id.into(),
        name: name.into(),
        category,
    };
    let workflow = Workflow {
        statuses: vec![
            new_status("1", "Open", StatusCategory::ToDo),
            new_status("2", "Closed", StatusCategory::Done),
        ],
        transitions: vec![WorkflowTransition {
            id: "5".into(),
            name: "Close".into(),
            from: "Open".into(),
            to: "Closed".into(),
        }],
    };
    let jira = Jira::start_with(JiraEmulatorConfig {
        workflow,
        ..JiraEmulatorConfig::default()
    })
    .await;
    let key = jira.create("Custom", &[]).await;
    assert_eq!(status(&jira, &key).await["name"], "Open");
    assert_eq!(
        offered(&jira, &key).await,
        [("5".to_owned(), "Closed".to_owned())]
    );
}
