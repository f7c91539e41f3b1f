//! `./deploy.sh --local` as a person uses it: the binary starts everything, prints where it
//! listens, prints one line per sync action when a responder acts through the printed commands,
//! and Ctrl-C stops everything it started (moto included) and exits cleanly.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

/// Reads lines until one contains `wanted` (returned), or panics after `within`.
async fn line_with(
    lines: &mut Lines<BufReader<ChildStdout>>,
    wanted: &str,
    within: Duration,
) -> String {
    let found = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(wanted) {
                return line;
            }
        }
        panic!("output ended before a line with {wanted:?}");
    })
    .await;
    found.unwrap_or_else(|_| panic!("no line with {wanted:?} within {within:?}"))
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback URL in {line:?}"))
        .to_owned()
}

/// A control directory of this test's own (see `local_world::control_dir`).
fn own_control_dir(test: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sir-jira-local-test-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn local_mode_syncs_what_a_responder_does_and_ctrl_c_stops_everything() {
    let control = own_control_dir("syncs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
        .env(local_world::ENV_CONTROL_DIR, &control)
        // Lambda's retries of a failed event, a minute apart, in seconds here.
        .env(local_world::ENV_RETRY_DELAY_SECONDS, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Duration::from_secs(60);
    let moto = url_in(&line_with(&mut lines, "moto (DynamoDB", start).await);
    let sir = url_in(&line_with(&mut lines, "SIR emulator", start).await);
    let jira_line = line_with(&mut lines, "Jira emulator", start).await;
    assert!(jira_line.contains("http://127.0.0.1:"), "{jira_line}");
    line_with(&mut lines, "Ctrl-C stops everything", start).await;

    // The responder's printed command, in Rust: create a case through the SIR admin API.
    let http = reqwest::Client::new();
    let case: serde_json::Value = http
        .post(format!("{sir}/_emulator/cases"))
        .json(
            &serde_json::json!({"title": "Suspicious login", "description": "From a new country"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case_id = case["caseId"].as_str().unwrap().to_owned();
    let synced = line_with(
        &mut lines,
        &format!("case {case_id} → SEC-1 created"),
        start,
    )
    .await;
    assert!(synced.trim_start().starts_with("case "), "{synced}");

    // `./deploy.sh --local --reconcile --dry-run`: a second invocation asks the running world.
    let reconcile = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
            .args(["--reconcile", "--dry-run"])
            .env(local_world::ENV_CONTROL_DIR, &control)
            .output(),
    )
    .await
    .expect("the running world answers")
    .unwrap();
    let said = String::from_utf8_lossy(&reconcile.stdout);
    assert!(reconcile.status.success(), "{reconcile:?}");
    // Normally nothing (the create was applied and acknowledged); an event still in flight
    // would be listed, never published.
    assert!(
        said.contains("nothing pending: every published change was applied")
            || said.contains("dry run: nothing was published"),
        "{said}"
    );

    // `--audit` lists every open linked pair (dry run: none is audited), here the one just made.
    let audit = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
            .args(["--reconcile", "--dry-run", "--audit"])
            .env(local_world::ENV_CONTROL_DIR, &control)
            .output(),
    )
    .await
    .expect("the running world answers")
    .unwrap();
    let said = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{audit:?}");
    assert!(
        said.contains(&format!("case {case_id} <-> issue SEC-1: would be audited")),
        "{said}"
    );
    assert!(
        said.contains("1 open pair(s) audited; dry run: nothing was published"),
        "{said}"
    );

    // `./deploy.sh --local --status`: the running world's facts, read from moto and Jira.
    let status = |control: std::path::PathBuf| async move {
        let out = tokio::time::timeout(
            Duration::from_secs(90),
            Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
                .arg("--status")
                .env(local_world::ENV_CONTROL_DIR, &control)
                .output(),
        )
        .await
        .expect("the running world answers")
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let facts = status(control.clone()).await;
    let function = |facts: &serde_json::Value, name: &str| {
        facts["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["crate"] == name)
            .unwrap_or_else(|| panic!("no {name} in {facts}"))
            .clone()
    };
    assert!(
        function(&facts, "jira-client")["lastSuccessfulRun"].is_u64(),
        "jira-client synced the case: {facts}"
    );
    for name in [
        "poller",
        "jira-client",
        "jira-notifications-handler",
        "sir-client",
    ] {
        assert_eq!(
            function(&facts, name)["deadLetters"]["messages"],
            0,
            "{facts}"
        );
    }
    let rules = facts["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["name"] == local_world::LOCAL_SCHEDULE_RULE
                && r["state"] == "ENABLED"
                && r["schedule"] == "rate(1 minute)"),
        "{facts}"
    );
    assert_eq!(facts["jira"]["credentials"]["status"], 200, "{facts}");
    assert_eq!(facts["jira"]["problems"]["status"], 200, "{facts}");
    assert_eq!(facts["jira"]["problems"]["keys"], serde_json::json!([]));

    // Jira down for good: jira-client fails a new case's event three times, as Lambda runs an
    // asynchronous event, and the event lands in its dead-letter queue with Lambda's attributes.
    let jira = url_in(&jira_line);
    let faults = http
        .post(format!("{jira}/_emulator/faults"))
        .json(&serde_json::json!({"outageMs": 300_000}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success(), "{faults:?}");
    let case: serde_json::Value = http
        .post(format!("{sir}/_emulator/cases"))
        .json(&serde_json::json!({"title": "Keys leaked", "description": "In a public repository"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lost = case["caseId"].as_str().unwrap().to_owned();
    line_with(
        &mut lines,
        "jira-client failed an event 3 times: it is in its dead-letter queue",
        Duration::from_secs(240),
    )
    .await;
    let facts = status(control.clone()).await;
    let dead = &function(&facts, "jira-client")["deadLetters"];
    assert_eq!(dead["messages"], 1, "{facts}");
    let body: serde_json::Value =
        serde_json::from_str(dead["sample"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail-type"], "CaseCreated", "{body}");
    assert_eq!(body["detail"]["case"]["caseId"], lost.as_str(), "{body}");
    assert!(
        dead["sample"]["attributes"]["ErrorMessage"]
            .as_str()
            .is_some_and(|e| e.contains("Jira")),
        "{dead}"
    );
    assert!(
        dead["sample"]["attributes"]["RequestID"].is_string(),
        "{dead}"
    );
    assert!(
        function(&facts, "jira-client")["errorsLastHour"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{facts}"
    );
    assert_ne!(
        facts["jira"]["credentials"]["status"], 200,
        "Jira is down: {facts}"
    );
    let cleared = http
        .delete(format!("{jira}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success(), "{cleared:?}");

    // `./deploy.sh --local --replay-dlq`: listed first (the message stays), then run again by
    // jira-client, which now reaches Jira, and deleted.
    let replay = |args: &'static [&'static str], control: std::path::PathBuf| async move {
        tokio::time::timeout(
            Duration::from_secs(90),
            Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
                .arg("--replay-dlq")
                .args(args)
                .env(local_world::ENV_CONTROL_DIR, &control)
                .output(),
        )
        .await
        .expect("the running world answers")
        .unwrap()
    };
    let listed = replay(&["--function", "jira-client", "--dry-run"], control.clone()).await;
    let said = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        said.contains(&format!("CaseCreated of case {lost}; it failed with: ")),
        "{said}"
    );
    assert!(
        said.contains("1 dead-lettered event(s); dry run: nothing was invoked or deleted"),
        "{said}"
    );
    let facts = status(control.clone()).await;
    assert_eq!(
        function(&facts, "jira-client")["deadLetters"]["messages"],
        1,
        "a dry run keeps it: {facts}"
    );
    let replayed = replay(&[], control.clone()).await;
    let said = String::from_utf8_lossy(&replayed.stdout);
    assert!(replayed.status.success(), "{replayed:?}");
    assert!(
        said.contains("replayed: jira-client ran it and succeeded; the message is deleted"),
        "{said}"
    );
    assert!(said.contains("1 replayed, 0 failed again"), "{said}");
    let issues: serde_json::Value = http
        .get(format!("{jira}/_emulator/issues"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        issues.to_string().contains(&format!("sir-case-{lost}")),
        "the replayed create made the case's issue: {issues}"
    );
    let facts = status(control.clone()).await;
    assert_eq!(
        function(&facts, "jira-client")["deadLetters"]["messages"],
        0,
        "{facts}"
    );

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    line_with(&mut lines, "stopping", Duration::from_secs(10)).await;
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it exits after Ctrl-C")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // moto was its child and is gone with it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gone = http
        .get(format!("{moto}/moto-api/"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(gone.is_err(), "moto still answers at {moto}");
}

#[tokio::test]
async fn a_scheduled_pass_that_fails_is_tried_again_and_then_dead_lettered_as_lambda_does() {
    let control = own_control_dir("schedule");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
        .env(local_world::ENV_CONTROL_DIR, &control)
        .env(local_world::ENV_RETRY_DELAY_SECONDS, "1")
        // The poller's rate(1 minute) fires every 3 s here.
        .env(local_world::ENV_SCHEDULE_MINUTE_SECONDS, "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Duration::from_secs(60);
    let sir = url_in(&line_with(&mut lines, "SIR emulator", start).await);
    line_with(&mut lines, "Ctrl-C stops everything", start).await;

    // SIR refuses every ListCases: each scheduled pass fails.
    let http = reqwest::Client::new();
    let mut faults: serde_json::Value = http
        .get(format!("{sir}/_emulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    faults["refusals"] = serde_json::json!({"ListCases": "not today"});
    let put = http
        .put(format!("{sir}/_emulator/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");

    // As Lambda runs an asynchronous invocation from EventBridge: two more tries, then the
    // poller's dead-letter queue, where --status shows it.
    line_with(
        &mut lines,
        "poller could not finish an event and will get it again in 1 s",
        start,
    )
    .await;
    line_with(
        &mut lines,
        "poller failed an event 3 times: it is in its dead-letter queue",
        start,
    )
    .await;
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
            .arg("--status")
            .env(local_world::ENV_CONTROL_DIR, &control)
            .output(),
    )
    .await
    .expect("the running world answers")
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let poller = facts["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["crate"] == "poller")
        .unwrap()
        .clone();
    let dead = &poller["deadLetters"];
    assert!(dead["messages"].as_u64().is_some_and(|n| n >= 1), "{facts}");
    let body: serde_json::Value =
        serde_json::from_str(dead["sample"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail-type"], "Scheduled Event", "{body}");
    assert!(
        dead["sample"]["attributes"]["ErrorMessage"]
            .as_str()
            .is_some_and(|e| e.contains("not today")),
        "{dead}"
    );
    // Ctrl-C, so moto stops with it.
    let pid = child.id().unwrap().to_string();
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it exits after Ctrl-C")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn with_a_jira_site_the_automation_stand_in_finds_new_issues() {
    // A Jira "site" that plays no Automation: the emulator with its SNS side off.
    let site = jira_emulator::JiraEmulator::start(jira_emulator::JiraEmulatorConfig::default())
        .await
        .unwrap();
    let human = site.add_user(jira_emulator::User::new("Sam Site", "sam@example.com"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sir-jira-local"))
        .args([
            "--url",
            &site.base_url(),
            "--email",
            "integration@example.com",
            "--project-key",
            "SEC",
        ])
        .env("JIRA_API_TOKEN", "integration-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let within = Duration::from_secs(60);
    let stand_in = line_with(&mut lines, "Automation is simulated", within).await;
    assert!(stand_in.contains("local stand-in"), "{stand_in}");
    let key = site
        .create_issue(
            &human.account_id,
            jira_emulator::NewIssue::new("Found by polling"),
        )
        .unwrap();
    line_with(
        &mut lines,
        &format!("{key} new in Jira → IssueCreated published"),
        within,
    )
    .await;
    line_with(&mut lines, &format!("{key} → case"), within).await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("it exits after Ctrl-C")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The printed lines (the harness crate has no unit tests of its own).
#[test]
fn sync_actions_read_as_one_line_each() {
    let created = serde_json::json!({"caseId": "1234567890", "issueKey": "SEC-12", "outcome": "Created",
        "fieldsEdited": [], "transitions": 0, "commentsAdded": 0});
    assert_eq!(
        local_world::describe("jira-client", &created),
        ["case 1234567890 → SEC-12 created"]
    );
    let copied = serde_json::json!({"caseId": "1234567890", "issueKey": "SEC-12", "outcome": "Updated",
        "fieldsEdited": ["title"], "statusSteps": 1, "commentsAdded": 1});
    assert_eq!(
        local_world::describe("sir-client", &copied),
        ["SEC-12 title, status, comment → case 1234567890"]
    );
    let quiet = serde_json::json!({"caseId": "1", "issueKey": "SEC-1", "outcome": "Updated",
        "fieldsEdited": [], "statusSteps": 0, "commentsAdded": 0});
    assert!(
        local_world::describe("sir-client", &quiet).is_empty(),
        "nothing changed, nothing said"
    );
    let rejected = serde_json::json!({"records": [{"messageId": "m", "rejected": "not-json"}]});
    assert_eq!(
        local_world::describe("jira-notifications-handler", &rejected),
        ["rejected a Jira Automation message (not-json); nothing done"]
    );
}
