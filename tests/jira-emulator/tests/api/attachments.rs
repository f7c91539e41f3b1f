//! Attachments: multipart `file` with `X-Atlassian-Token: no-check`, byte-exact downloads, size
//! limit.

use jira_emulator::JiraEmulatorConfig;
use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::support::{Jira, json_of};

fn file_form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

#[tokio::test]
async fn an_upload_without_the_xsrf_header_is_refused_with_403() {
    let jira = Jira::start().await;
    let key = jira.create("Attach", &[]).await;
    let response = jira
        .request(Method::POST, &jira.v3(&format!("/issue/{key}/attachments")))
        .multipart(file_form("a.txt", b"hello".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.text().await.unwrap(), "XSRF check failed");
    assert!(jira.emulator.issue(&key).unwrap().attachments.is_empty());
}

#[tokio::test]
async fn an_uploaded_file_downloads_byte_for_byte() {
    let jira = Jira::start().await;
    let key = jira.create("Attach", &[]).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let response = jira
        .request(Method::POST, &jira.v3(&format!("/issue/{key}/attachments")))
        .header("X-Atlassian-Token", "no-check")
        .multipart(file_form("capture.pcap", bytes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let uploaded = json_of(response).await;
    let attachment = &uploaded[0];
    assert_eq!(attachment["filename"], "capture.pcap");
    assert_eq!(attachment["size"], 300_000);
    assert_eq!(
        attachment["author"]["accountId"],
        jira.emulator.integration_account_id()
    );
    let content_url = attachment["content"].as_str().unwrap();
    let downloaded = jira.request(Method::GET, content_url).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let id = attachment["id"].as_str().unwrap();
    let metadata = json_of(jira.get(&format!("/attachment/{id}")).send().await.unwrap()).await;
    assert_eq!(metadata["filename"], "capture.pcap");
    let issue = json_of(jira.get(&format!("/issue/{key}")).send().await.unwrap()).await;
    assert_eq!(issue["fields"]["attachment"][0]["id"], id);
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_with_413() {
    let jira = Jira::start_with(JiraEmulatorConfig {
        max_attachment_bytes: 1024,
        ..JiraEmulatorConfig::default()
    })
    .await;
    let key = jira.create("Attach", &[]).await;
    let response = jira
        .request(Method::POST, &jira.v3(&format!("/issue/{key}/attachments")))
        .header("X-Atlassian-Token", "no-check")
        .multipart(file_form("big.bin", vec![7; 4096]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(jira.emulator.issue(&key).unwrap().attachments.is_empty());
    let owner = jira.emulator.integration_account_id();
    assert!(
        jira.emulator
            .attach(&owner, &key, "big.bin", vec![7; 4096])
            .is_err()
    );
}

#[tokio::test]
async fn an_upload_to_an_unknown_issue_is_404() {
    let jira = Jira::start().await;
    let response = jira
        .request(Method::POST, &jira.v3("/issue/SEC-77/attachments"))
        .header("X-Atlassian-Token", "no-check")
        .multipart(file_form("a.txt", b"x".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
