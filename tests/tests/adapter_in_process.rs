//! The production adapters against the emulators in process, on the runtime a deterministic
//! simulation uses: one thread, paused time. No socket is opened (the process holds none, and
//! the emulators' origins do not resolve), and waits the services ask for (`Retry-After`) pass
//! in virtual time: the tests "wait" seconds and finish at once. Only in-process tests live in
//! this file, so any TCP or UDP socket the process holds would be this mode's.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use integration_tests::clients::sir_client_in_process;
use integration_tests::in_process::InProcessNet;
use jira_emulator::{JiraEmulator, JiraEmulatorConfig};
use secrecy::SecretString;
use shared::attachment_body::{AttachmentBody, InMemory};
use shared::config::JiraSettings;
use shared::jira::{JiraApi, JiraClient, NewIssue, RetryPolicy};
use shared::sir::{SdkSirClient, SirApi};
use sir_emulator::{NewCase, SirEmulator, SirEmulatorConfig};

/// The process's open TCP and UDP sockets (Linux: the `socket:[inode]` links of
/// `/proc/self/fd` whose inode `/proc/self/net/{tcp,udp}{,6}` lists). Unix sockets are left out:
/// each tokio runtime holds one for its signal driver.
fn open_ip_sockets() -> usize {
    let ip_inodes: std::collections::HashSet<String> = ["tcp", "tcp6", "udp", "udp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(format!("/proc/self/net/{table}")).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| line.split_whitespace().nth(9).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .filter(|inode| ip_inodes.contains(inode))
        .count()
}

fn bytes(len: usize) -> bytes::Bytes {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[allow(
    clippy::disallowed_methods,
    reason = "the wall clock measured against the paused one"
)]
async fn jira_in_process_waits_out_retry_after_in_virtual_time_without_a_socket() {
    let emulator = JiraEmulator::in_process(JiraEmulatorConfig::default()).unwrap();
    let settings = JiraSettings {
        email: "integration@example.com".into(),
        url: emulator.base_url(),
        project_key: "SEC".into(),
        token: SecretString::from("integration-token".to_owned()),
        flavor: shared::config::JiraFlavor::Cloud,
        token_expires_on: None,
        token_version: None,
        api_url: None,
    };
    let client =
        JiraClient::with_transport(&settings, Arc::new(InProcessNet::new(&emulator, None)))
            .unwrap()
            .with_retry_policy(RetryPolicy {
                max_retries: 4,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
                max_retry_after: Duration::from_secs(5),
            });
    let key = client
        .create_issue(&NewIssue {
            project_key: "SEC".into(),
            issue_type: "Task".into(),
            summary: "Throttled in virtual time".into(),
            description: "Nothing waits on the OS.".into(),
            labels: Vec::new(),
            fields: serde_json::Map::new(),
            properties: Default::default(),
        })
        .await
        .unwrap();

    emulator.faults().fail_next(2, 429);
    let (virtual_start, real_start) = (tokio::time::Instant::now(), std::time::Instant::now());
    let issue = client.get_issue(&key).await.unwrap().unwrap();
    assert_eq!(issue.summary, "Throttled in virtual time");
    // Each 429 said Retry-After: 1; both waits passed on the paused clock, not the wall clock.
    assert!(
        virtual_start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        virtual_start.elapsed()
    );
    assert!(
        real_start.elapsed() < Duration::from_secs(1),
        "{:?}",
        real_start.elapsed()
    );
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 429, 429, 200]);

    // An attachment round trip follows Cloud's redirect to the media host, in process too.
    let sent = client
        .upload_attachment(&key, "dump.bin", &InMemory(bytes(70_000)))
        .await
        .unwrap();
    assert_eq!(
        client
            .download_attachment(&sent)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        bytes(70_000)
    );
    assert_eq!(emulator.media_requests().len(), 1);
    assert!(!emulator.media_requests()[0].authorization);

    assert_eq!(open_ip_sockets(), 0, "the in-process mode opened a socket");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[allow(
    clippy::disallowed_methods,
    reason = "the wall clock measured against the paused one"
)]
async fn sir_in_process_waits_out_throttling_in_virtual_time_without_a_socket() {
    let emulator = SirEmulator::in_process(SirEmulatorConfig::default()).unwrap();
    let net = InProcessNet::sir(&emulator);
    let client = SdkSirClient::with_transport(
        sir_client_in_process(&net, &emulator.endpoint(), "integration"),
        Arc::new(net.clone()),
    );
    let case = emulator
        .create_case(
            "human",
            NewCase {
                title: "Throttled".into(),
                description: "Unusual API calls.".into(),
                ..NewCase::default()
            },
        )
        .case_id;

    emulator.faults().retry_after(3);
    emulator.faults().throttle_next(1);
    let (virtual_start, real_start) = (tokio::time::Instant::now(), std::time::Instant::now());
    assert_eq!(client.list_cases().await.unwrap().len(), 1);
    assert!(
        virtual_start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        virtual_start.elapsed()
    );
    assert!(
        real_start.elapsed() < Duration::from_secs(1),
        "{:?}",
        real_start.elapsed()
    );

    // Presigned transfers go through the same in-process transport.
    client
        .upload_attachment(
            &case,
            "evidence.bin",
            AttachmentBody::from_bytes(bytes(4_097)),
            "jira-attachment-1",
        )
        .await
        .unwrap();
    let details = client.get_case(&case).await.unwrap().unwrap();
    let attachment = &details.attachments[0].attachment_id;
    assert_eq!(
        client
            .download_attachment(&case, attachment)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap(),
        bytes(4_097)
    );

    assert_eq!(open_ip_sockets(), 0, "the in-process mode opened a socket");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_origin_no_emulator_serves_is_a_bad_gateway_not_a_socket() {
    let emulator = SirEmulator::in_process(SirEmulatorConfig::default()).unwrap();
    let net = InProcessNet::sir(&emulator);
    let request = reqwest::Client::new()
        .get(format!(
            "{}/rest/api/3/myself",
            jira_emulator::IN_PROCESS_URL
        ))
        .build()
        .unwrap();
    let response = shared::http_transport::HttpTransport::send(&net, request)
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_GATEWAY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("jira.in-process.invalid")
    );
    assert_eq!(open_ip_sockets(), 0, "the in-process mode opened a socket");
}
