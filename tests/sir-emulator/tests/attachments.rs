//! Attachments: upload URL, PUT of the declared bytes, `Pending` → `Verified`, download URL,
//! the file-name pattern, the length range and the 50-per-case quota.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_securityir::Client;
use aws_sdk_securityir::operation::get_case_attachment_download_url::GetCaseAttachmentDownloadUrlError;
use aws_sdk_securityir::operation::get_case_attachment_upload_url::GetCaseAttachmentUploadUrlError;
use aws_sdk_securityir::types::CaseAttachmentStatus;
use common::{client, create_case, emulator};

async fn upload_url(client: &Client, case_id: &str, file_name: &str, length: i64) -> String {
    client
        .get_case_attachment_upload_url()
        .case_id(case_id)
        .file_name(file_name)
        .content_length(length)
        .send()
        .await
        .unwrap()
        .attachment_presigned_url()
        .to_owned()
}

async fn put(url: &str, bytes: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(url)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

fn some_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test]
async fn uploaded_attachment_downloads_byte_exact() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "evidence").await;
    let bytes = some_bytes(70_000);
    let url = upload_url(&client, &case_id, "cloudtrail-2024.json.gz", 70_000).await;
    assert!(url.starts_with(&format!("{}/_uploads/", emulator.endpoint())));

    let pending = client.get_case().case_id(&case_id).send().await.unwrap();
    let attachment = &pending.case_attachments()[0];
    assert_eq!(
        attachment.attachment_status(),
        &CaseAttachmentStatus::Pending
    );
    assert_eq!(attachment.file_name(), "cloudtrail-2024.json.gz");
    assert_eq!(attachment.creator(), emulator.principal("human"));
    let attachment_id = attachment.attachment_id().to_owned();

    assert_eq!(put(&url, bytes.clone()).await.status().as_u16(), 200);
    let verified = client.get_case().case_id(&case_id).send().await.unwrap();
    assert_eq!(
        verified.case_attachments()[0].attachment_status(),
        &CaseAttachmentStatus::Verified
    );

    let download = client
        .get_case_attachment_download_url()
        .case_id(&case_id)
        .attachment_id(&attachment_id)
        .send()
        .await
        .unwrap();
    let fetched = reqwest::get(download.attachment_presigned_url())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(fetched.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn pending_attachment_refuses_a_download_url() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "pending").await;
    upload_url(&client, &case_id, "later.txt", 5).await;
    let attachment_id = emulator.case(&case_id).unwrap().attachments[0]
        .attachment_id
        .clone();
    let error = client
        .get_case_attachment_download_url()
        .case_id(&case_id)
        .attachment_id(&attachment_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            error,
            GetCaseAttachmentDownloadUrlError::ConflictException(_)
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn upload_of_another_length_is_refused_and_the_attachment_stays_pending() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "length").await;
    let url = upload_url(&client, &case_id, "exact.bin", 10).await;
    for wrong in [9, 11] {
        assert_eq!(put(&url, some_bytes(wrong)).await.status().as_u16(), 400);
    }
    let case = emulator.case(&case_id).unwrap();
    assert_eq!(case.attachments[0].attachment_status, "Pending");
    assert_eq!(put(&url, some_bytes(10)).await.status().as_u16(), 200);
}

#[tokio::test]
async fn an_upload_without_its_length_up_front_is_refused_as_s3_does() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "streamed").await;
    let url = upload_url(&client, &case_id, "streamed.bin", 6).await;
    // A stream sent without a `Content-Length` goes out chunked: S3 answers 501.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![1, 2, 3]), Ok(vec![4, 5, 6])];
    let chunked = reqwest::Client::new()
        .put(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status().as_u16(), 501);
    assert!(chunked.text().await.unwrap().contains("NotImplemented"));
    // No `Content-Length` and no body framing at all (only possible in process): 411.
    let path = url.trim_start_matches(&emulator.endpoint()).to_owned();
    let bare = http::Request::put(path)
        .body(axum::body::Body::from(vec![1u8, 2, 3, 4, 5, 6]))
        .unwrap();
    let answer = tower::ServiceExt::oneshot(emulator.router(), bare)
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 411);
    let case = emulator.case(&case_id).unwrap();
    assert_eq!(case.attachments[0].attachment_status, "Pending");
    // The same stream with its length said up front is stored.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![1, 2, 3]), Ok(vec![4, 5, 6])];
    let sized = reqwest::Client::new()
        .put(&url)
        .header(reqwest::header::CONTENT_LENGTH, 6)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(sized.status().as_u16(), 200);
    let case = emulator.case(&case_id).unwrap();
    assert_eq!(case.attachments[0].attachment_status, "Verified");
}

#[tokio::test]
async fn upload_url_works_only_once() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "once").await;
    let url = upload_url(&client, &case_id, "once.bin", 3).await;
    assert_eq!(put(&url, vec![1, 2, 3]).await.status().as_u16(), 200);
    assert_eq!(put(&url, vec![4, 5, 6]).await.status().as_u16(), 403);
    assert_eq!(
        emulator.case(&case_id).unwrap().attachments[0].bytes,
        [1, 2, 3]
    );
}

#[tokio::test]
async fn file_name_outside_the_model_pattern_is_a_validation_exception() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "names").await;
    for refused in ["my report.pdf", "../etc/passwd", "naïve.txt", ""] {
        let error = client
            .get_case_attachment_upload_url()
            .case_id(&case_id)
            .file_name(refused)
            .content_length(1)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        match error {
            GetCaseAttachmentUploadUrlError::ValidationException(e) => {
                assert_eq!(e.field_list()[0].name(), "fileName", "{refused:?}");
            }
            other => panic!("{refused:?}: {other:?}"),
        }
    }
    upload_url(&client, &case_id, "Report_v2-final.PDF", 1).await;
}

#[tokio::test]
async fn content_length_outside_one_byte_to_100_mib_is_a_validation_exception() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "sizes").await;
    for refused in [0, 104_857_601] {
        let error = client
            .get_case_attachment_upload_url()
            .case_id(&case_id)
            .file_name("x.bin")
            .content_length(refused)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(error.is_validation_exception(), "{refused}: {error:?}");
    }
    upload_url(&client, &case_id, "max.bin", 104_857_600).await;
}

#[tokio::test]
async fn fifty_first_attachment_exceeds_the_service_quota() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "full").await;
    for n in 0..50 {
        emulator
            .upload_attachment("human", &case_id, &format!("file{n}.txt"), vec![b'x'])
            .unwrap();
    }
    let error = client
        .get_case_attachment_upload_url()
        .case_id(&case_id)
        .file_name("one-too-many.txt")
        .content_length(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 402);
    assert!(
        error
            .into_service_error()
            .is_service_quota_exceeded_exception()
    );
}

#[tokio::test]
async fn human_upload_is_verified_and_downloadable_through_the_api() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "human upload").await;
    let attachment_id = emulator
        .upload_attachment("responder", &case_id, "notes.txt", b"hello".to_vec())
        .unwrap();
    let case = client.get_case().case_id(&case_id).send().await.unwrap();
    let listed = &case.case_attachments()[0];
    assert_eq!(listed.attachment_id(), attachment_id);
    assert_eq!(listed.attachment_status(), &CaseAttachmentStatus::Verified);
    assert_eq!(listed.creator(), emulator.principal("responder"));
    let url = client
        .get_case_attachment_download_url()
        .case_id(&case_id)
        .attachment_id(&attachment_id)
        .send()
        .await
        .unwrap()
        .attachment_presigned_url()
        .to_owned();
    let fetched = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.as_ref(), b"hello");
}

#[tokio::test]
async fn upload_url_client_token_is_idempotent() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "token").await;
    let mut urls = Vec::new();
    for _ in 0..2 {
        urls.push(
            client
                .get_case_attachment_upload_url()
                .case_id(&case_id)
                .file_name("same.txt")
                .content_length(4)
                .client_token("jira-attachment-10042")
                .send()
                .await
                .unwrap()
                .attachment_presigned_url()
                .to_owned(),
        );
    }
    assert_eq!(urls[0], urls[1]);
    assert_eq!(emulator.case(&case_id).unwrap().attachments.len(), 1);
}

#[tokio::test]
async fn unknown_attachment_is_resource_not_found() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let case_id = create_case(&client, "none").await;
    let error = client
        .get_case_attachment_download_url()
        .case_id(&case_id)
        .attachment_id("0b1f3c2e-1111-4222-8333-444455556666")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_resource_not_found_exception(), "{error:?}");
}
