//! Presigned SIR attachment URLs are bearer credentials (the model marks them sensitive): when a
//! transfer fails, neither the error (its message, its source chain, its `Debug`) nor any log
//! line may carry the URL's signature or its path. Proved with transfers that cannot connect:
//! the presigned URL names a closed port, the way a transfer fails when S3 is unreachable.
//! The same for the media-host URL (with its token) that Jira redirects attachment downloads to.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_securityir::config::{Credentials, Region, SharedCredentialsProvider};
use integration_tests::World;
use jira_client::{JiraClientHandler, JiraClientSettings};
use jira_emulator::{JiraEmulator, JiraEmulatorConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::config::JiraSettings;
use shared::error::LambdaError;
use shared::events::{BusEvent, CaseChange};
use shared::jira::{JiraApi, JiraAttachment, JiraClient, RetryPolicy};
use shared::sir::{
    CaseDetails, CaseEdit, CaseSummary, IncidentResponder, NewCase, SdkSirClient, SirApi,
    SirComment, sir_client_config,
};
use shared::status::SirStatus;
use shared::store::SnapshotStore;
use sir_emulator::{NewCase as HumanCase, SirEmulator, SirEmulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::fmt::MakeWriter;

const REGION: &str = "eu-west-1";
/// The object path of the presigned URL the fake SIR hands out.
const OBJECT_PATH: &str = "/sir-case-attachments/7777777777/evidence-object-path";
const SIGNATURE: &str = "5f1c0ffee5f1c0ffee5f1c0ffee5f1c0ffee5f1c0ffee5f1c0ffee5f1c0ffee5f";

/// A presigned URL as SIR hands them out, on a port nothing listens on.
async fn presigned_url_to_a_closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!(
        "http://127.0.0.1:{port}{OBJECT_PATH}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=ASIAEXAMPLEEXAMPLE12%2F20261125%2F{REGION}%2Fs3%2Faws4_request\
         &X-Amz-Date=20261125T120000Z&X-Amz-Expires=300&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE\
         &X-Amz-Signature={SIGNATURE}&X-Amz-SignedHeaders=host&x-id=GetObject"
    )
}

/// A stand-in SIR endpoint that answers every call (GetCaseAttachmentUploadUrl,
/// GetCaseAttachmentDownloadUrl) with `url` as the presigned URL; returns its endpoint.
async fn sir_handing_out(url: String) -> String {
    let body = json!({ "attachmentPresignedUrl": url }).to_string();
    serve(format!(
        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await
}

/// A server that answers every request with `response` (a raw HTTP/1.1 response) and closes
/// the connection; returns its endpoint.
async fn serve(response: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                // Read the request head and its body, then answer and close.
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(read) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length:"))
                            .and_then(|value| value.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    endpoint
}

fn sdk_sir(endpoint: &str, access_key: &str) -> SdkSirClient {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, "secret", None, None, "test",
        )))
        .build();
    SdkSirClient::new(aws_sdk_securityir::Client::from_conf(
        sir_client_config(&sdk).build(),
    ))
}

/// Everything the subscriber writes, at DEBUG and above (more than a Lambda logs by default).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

/// The error as every reader sees it: its message, each source's message, and `Debug`.
fn every_rendering(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error}\n{error:?}\n");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("{cause}\n{cause:?}\n"));
        source = cause.source();
    }
    text
}

fn assert_no_presigned_url(what: &str, text: &str) {
    for secret in [
        "X-Amz-Signature",
        SIGNATURE,
        OBJECT_PATH,
        "X-Amz-Credential",
    ] {
        assert!(!text.contains(secret), "{what} carries {secret}:\n{text}");
    }
}

#[tokio::test]
async fn a_failed_presigned_transfer_names_neither_the_signature_nor_the_path() {
    let (logs, _guard) = capture_logs();
    let sir = sdk_sir(
        &sir_handing_out(presigned_url_to_a_closed_port().await).await,
        "jira-client",
    );

    let download = sir
        .download_attachment("7777777777", "5f1a9c3e-2b7d-4e8a-9c61-0d3b7a4e2f10")
        .await
        .unwrap_err();
    assert!(
        matches!(
            download,
            shared::Error::SirTransfer {
                source: Some(_),
                ..
            }
        ),
        "a transport failure, with its cause: {download:?}"
    );
    assert!(download.is_retryable());
    assert_no_presigned_url("the download error", &every_rendering(&download));

    let upload = sir
        .upload_attachment(
            "7777777777",
            "notes.txt",
            shared::attachment_body::AttachmentBody::from_bytes(b"x".to_vec()),
            "token",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            upload,
            shared::Error::SirTransfer {
                source: Some(_),
                ..
            }
        ),
        "{upload:?}"
    );
    assert_no_presigned_url("the upload error", &every_rendering(&upload));
    assert_no_presigned_url("the logs", &logs.text());
}

/// SIR as jira-client sees it, except that attachment downloads get a presigned URL to a closed
/// port (through the same `SdkSirClient` code as in Lambda).
struct DownloadsFail {
    sir: SdkSirClient,
    downloads: SdkSirClient,
}

#[async_trait]
impl SirApi for DownloadsFail {
    async fn list_cases(&self) -> shared::Result<Vec<CaseSummary>> {
        self.sir.list_cases().await
    }
    async fn get_case(&self, case_id: &str) -> shared::Result<Option<CaseDetails>> {
        self.sir.get_case(case_id).await
    }
    async fn list_comments(&self, case_id: &str) -> shared::Result<Vec<SirComment>> {
        self.sir.list_comments(case_id).await
    }
    async fn create_case(&self, case: &NewCase) -> shared::Result<String> {
        self.sir.create_case(case).await
    }
    async fn update_case(&self, case_id: &str, edit: &CaseEdit) -> shared::Result<()> {
        self.sir.update_case(case_id, edit).await
    }
    async fn update_case_status(&self, case_id: &str, status: SirStatus) -> shared::Result<()> {
        self.sir.update_case_status(case_id, status).await
    }
    async fn close_case(&self, case_id: &str) -> shared::Result<()> {
        self.sir.close_case(case_id).await
    }
    async fn create_comment(
        &self,
        case_id: &str,
        body: &str,
        client_token: &str,
    ) -> shared::Result<String> {
        self.sir.create_comment(case_id, body, client_token).await
    }
    async fn update_comment(
        &self,
        case_id: &str,
        comment_id: &str,
        body: &str,
    ) -> shared::Result<()> {
        self.sir.update_comment(case_id, comment_id, body).await
    }
    async fn upload_attachment(
        &self,
        case_id: &str,
        file_name: &str,
        body: shared::attachment_body::AttachmentBody,
        client_token: &str,
    ) -> shared::Result<()> {
        self.sir
            .upload_attachment(case_id, file_name, body, client_token)
            .await
    }
    async fn download_attachment(
        &self,
        case_id: &str,
        attachment_id: &str,
    ) -> shared::Result<shared::attachment_body::AttachmentBody> {
        self.downloads
            .download_attachment(case_id, attachment_id)
            .await
    }
    async fn incident_response_team(&self) -> shared::Result<Vec<IncidentResponder>> {
        self.sir.incident_response_team().await
    }
    async fn case_tags(&self, case_arn: &str) -> shared::Result<BTreeMap<String, String>> {
        self.sir.case_tags(case_arn).await
    }
}

#[tokio::test]
async fn jira_client_failing_to_download_a_sir_attachment_reports_no_presigned_url() {
    let world = World::new().await.unwrap();
    let sir = SirEmulator::start(SirEmulatorConfig {
        region: REGION.into(),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    let jira = JiraEmulator::start(JiraEmulatorConfig::default())
        .await
        .unwrap();
    let case_id = sir
        .create_case(
            "human",
            HumanCase {
                title: "Evidence attached".into(),
                description: "See the capture.".into(),
                ..HumanCase::default()
            },
        )
        .case_id;
    sir.upload_attachment("human", &case_id, "capture.pcap", vec![7; 64])
        .unwrap();
    let real = sdk_sir(&sir.endpoint(), "jira-client");
    let snapshot = real.get_case(&case_id).await.unwrap().unwrap().snapshot;
    world.store().put_case_snapshot(&snapshot).await.unwrap();
    let handler = JiraClientHandler::new(
        Arc::new(
            JiraClient::new(&JiraSettings {
                email: "integration@example.com".into(),
                url: jira.base_url(),
                project_key: "SEC".into(),
                token: SecretString::from("integration-token".to_owned()),
                flavor: shared::config::JiraFlavor::Cloud,
                token_expires_on: None,
                token_version: None,
                api_url: None,
            })
            .unwrap()
            .with_retry_policy(RetryPolicy {
                max_retries: 1,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(1),
            }),
        ),
        Arc::new(DownloadsFail {
            sir: real,
            downloads: sdk_sir(
                &sir_handing_out(presigned_url_to_a_closed_port().await).await,
                "jira-client",
            ),
        }),
        Arc::new(world.store()),
        JiraClientSettings::new("SEC", jira.base_url(), REGION),
    );
    let event = BusEvent::CaseCreated(CaseChange::new(None, snapshot));
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": event.detail_type().as_str(),
        "source": event.source(),
        "account": integration_tests::world::ACCOUNT,
        "time": "2026-11-25T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": serde_json::from_str::<Value>(&event.detail_json().unwrap()).unwrap(),
    }))
    .unwrap();

    let (logs, _guard) = capture_logs();
    let error = handler.handle(envelope).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    // What Lambda reports as the invocation error is the error's message; the chain and
    // `Debug` are what a log of it shows.
    assert_no_presigned_url("the handler error", &every_rendering(&error));
    let logged = logs.text();
    assert!(!logged.is_empty(), "the handler logged at DEBUG");
    assert_no_presigned_url("the logs", &logged);
}

#[tokio::test]
async fn a_jira_download_broken_off_does_not_name_the_media_url_jira_redirected_to() {
    let (logs, _guard) = capture_logs();
    // Cloud redirects downloads to its media host with a short-lived token in the URL; this
    // one breaks off the body.
    let media_host = serve(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\
         connection: close\r\n\r\nten bytes."
            .to_owned(),
    )
    .await;
    let media = format!("{media_host}/file/media-file-id/binary?token=MEDIA-BEARER-TOKEN");
    let site = serve(format!(
        "HTTP/1.1 303 See Other\r\nlocation: {media}\r\ncontent-length: 0\r\n\
         connection: close\r\n\r\n"
    ))
    .await;
    let client = JiraClient::new(&JiraSettings {
        email: "integration@example.com".into(),
        url: site.clone(),
        project_key: "SEC".into(),
        token: SecretString::from("integration-token".to_owned()),
        flavor: shared::config::JiraFlavor::Cloud,
        token_expires_on: None,
        token_version: None,
        api_url: None,
    })
    .unwrap()
    .with_retry_policy(RetryPolicy {
        max_retries: 1,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(1),
    });
    let body = client
        .download_attachment(&JiraAttachment {
            id: "10001".into(),
            filename: "capture.pcap".into(),
            size: 64,
            mime_type: None,
            content_url: format!("{site}/rest/api/3/attachment/content/10001"),
            author_account_id: None,
        })
        .await
        .unwrap();
    assert_eq!(body.length(), 1000, "the media host's Content-Length");
    // Streamed: the break shows as the body is read (by the upload it feeds, in sir-client).
    let error = body.into_bytes().await.unwrap_err();
    assert!(
        error.downcast_ref::<reqwest::Error>().is_some(),
        "the transport's error, with its cause: {error:?}"
    );
    let rendered = every_rendering(error.as_ref());
    for secret in ["MEDIA-BEARER-TOKEN", "/file/media-file-id"] {
        assert!(!rendered.contains(secret), "{rendered}");
        assert!(!logs.text().contains(secret), "{}", logs.text());
    }
}
