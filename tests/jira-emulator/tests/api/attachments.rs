//! Attachments: multipart `file` with `X-Atlassian-Token: no-check`, byte-exact downloads
//! (redirected to the media host, or direct with `redirect=false`), size limit.

use std::time::Duration;

use jira_emulator::JiraEmulatorConfig;
use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::support::{EMAIL, Jira, TOKEN, json_of};

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

/// Uploads `bytes` as `name` over REST and returns the attachment's `content` URL.
async fn upload(jira: &Jira, key: &str, name: &str, bytes: Vec<u8>) -> String {
    let response = jira
        .request(Method::POST, &jira.v3(&format!("/issue/{key}/attachments")))
        .header("X-Atlassian-Token", "no-check")
        .multipart(file_form(name, bytes))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await[0]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn not_following_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_download_redirects_to_the_media_host_which_takes_the_token_not_credentials() {
    let jira = Jira::start().await;
    let key = jira.create("Attach", &[]).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5_000).collect();
    let content_url = upload(&jira, &key, "capture.pcap", bytes.clone()).await;
    let raw = not_following_redirects();

    let redirect = raw
        .get(&content_url)
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/file/", jira.emulator.media_url())),
        "{location}"
    );
    assert_ne!(jira.emulator.media_url(), jira.emulator.base_url());
    assert!(location.contains("token="), "{location}");

    // Jira credentials are refused there, and recorded.
    let with_credentials = raw
        .get(&location)
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(with_credentials.status(), 403);
    // A binary file is not served as JSON.
    let as_json = raw
        .get(&location)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status(), 406);
    // Without credentials, accepting anything: the bytes.
    let served = raw
        .get(&location)
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let seen: Vec<(bool, u16)> = jira
        .emulator
        .media_requests()
        .iter()
        .map(|r| (r.authorization, r.status))
        .collect();
    assert_eq!(seen, [(true, 403), (false, 406), (false, 200)]);

    // A token is needed.
    let media = jira.emulator.media_url();
    let forged = raw
        .get(format!("{media}/file/0/binary?token=guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn redirect_false_serves_the_bytes_from_the_jira_site() {
    let jira = Jira::start().await;
    let key = jira.create("Attach", &[]).await;
    let content_url = upload(&jira, &key, "notes.txt", b"plain bytes".to_vec()).await;
    let direct = not_following_redirects()
        .get(format!("{content_url}?redirect=false"))
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    assert_eq!(direct.bytes().await.unwrap().as_ref(), b"plain bytes");
    assert!(jira.emulator.media_requests().is_empty());
}

#[tokio::test]
async fn with_redirects_off_the_jira_site_serves_the_bytes() {
    let jira = Jira::start_with(JiraEmulatorConfig {
        attachment_redirect: false,
        ..JiraEmulatorConfig::default()
    })
    .await;
    let key = jira.create("Attach", &[]).await;
    let content_url = upload(&jira, &key, "notes.txt", b"plain bytes".to_vec()).await;
    let direct = not_following_redirects()
        .get(&content_url)
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    assert_eq!(direct.bytes().await.unwrap().as_ref(), b"plain bytes");
}

#[tokio::test]
async fn a_download_is_still_authenticated_on_the_jira_site() {
    let jira = Jira::start().await;
    let key = jira.create("Attach", &[]).await;
    let content_url = upload(&jira, &key, "notes.txt", b"secret".to_vec()).await;
    let anonymous = not_following_redirects()
        .get(&content_url)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn deleting_an_attachment_answers_204_and_is_an_issue_update() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    let key = jira.create("Delete attachment", &[]).await;
    let id = jira
        .emulator
        .attach(&owner, &key, "notes.txt", b"x".to_vec())
        .unwrap();
    let automation = jira.emulator.automation();
    assert!(automation.wait_idle(Duration::from_secs(5)).await);
    let published = automation.published().len();
    let updated = jira.emulator.issue(&key).unwrap().updated;

    let response = jira
        .delete(&format!("/attachment/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let issue = jira.emulator.issue(&key).unwrap();
    assert!(issue.attachments.is_empty());
    assert!(issue.updated >= updated);
    assert!(automation.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(automation.published().len(), published + 1);
    let metadata = jira.get(&format!("/attachment/{id}")).send().await.unwrap();
    assert_eq!(metadata.status(), 404);
}
