//! Both emulators run alone from one command, print exactly one `listening on …` line, and
//! answer any HTTP client (here plain reqwest, no AWS SDK).

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `binary`, returns it with the endpoint of its one line, and checks nothing else is
/// printed in the next moment.
async fn start(binary: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the emulator announced itself in time")
        .unwrap()
        .unwrap();
    let endpoint = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{first}");
    assert!(endpoint.rsplit(':').next().unwrap().parse::<u16>().unwrap() > 0);
    let more = tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await;
    assert!(more.is_err(), "a second line was printed: {more:?}");
    (child, endpoint)
}

#[tokio::test]
async fn sir_emulator_starts_alone_and_speaks_rest_json() {
    let (_child, endpoint) = start(env!("CARGO_BIN_EXE_sir-emulator"), &["--port", "0"]).await;
    let http = reqwest::Client::new();
    // Unsigned: refused the way SIR refuses, with the error type in the header.
    let refused = http
        .post(format!("{endpoint}/v1/list-cases"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("AccessDeniedException")
    );
    // The admin API needs no AWS client at all.
    let created = http
        .post(format!("{endpoint}/_emulator/cases"))
        .json(&serde_json::json!({"title": "From curl", "description": "any client"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let cases: serde_json::Value = http
        .get(format!("{endpoint}/_emulator/cases"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cases[0]["title"], "From curl");
}

#[tokio::test]
async fn jira_emulator_starts_alone_with_the_given_credentials_and_project() {
    let (_child, endpoint) = start(
        env!("CARGO_BIN_EXE_jira-emulator"),
        &[
            "--port",
            "0",
            "--email",
            "bot@example.com",
            "--token",
            "t0ken",
            "--project",
            "IR",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let info = http
        .get(format!("{endpoint}/rest/api/3/serverInfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let anonymous = http
        .get(format!("{endpoint}/rest/api/3/myself"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let me: serde_json::Value = http
        .get(format!("{endpoint}/rest/api/3/myself"))
        .basic_auth("bot@example.com", Some("t0ken"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["emailAddress"], "bot@example.com");
    let created = http
        .post(format!("{endpoint}/rest/api/2/issue"))
        .basic_auth("bot@example.com", Some("t0ken"))
        .json(&serde_json::json!({"fields": {"project": {"key": "IR"}, "issuetype": {"name": "Task"}, "summary": "v2 client", "description": "plain"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key: serde_json::Value = created.json().await.unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("IR-"));
}
