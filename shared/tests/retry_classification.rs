//! Whether a failed AWS call is worth retrying, as the store and the SIR adapter report it.
//! Throttling and 5xx pages without an error code must come back retryable (so the Lambda
//! returns Err and is retried); validation and access errors must not. moto cannot be made to answer these, so aws-smithy-mocks does.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use shared::Error;
use shared::store::{DynamoMappingStore, LinkStore};
use std::error::Error as _;

fn store(rule: &Rule) -> DynamoMappingStore {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(MockResponseInterceptor::new().with_rule(rule))
            .build(),
    );
    DynamoMappingStore::new(client, "table")
}

fn answer(status: u16, body: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(move || {
        let mut response =
            Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        if body.starts_with('{') {
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
        }
        response
    })
}

async fn error_for(rule: Rule) -> Error {
    store(&rule).link_for_case("1").await.unwrap_err()
}

#[tokio::test]
async fn throttling_is_retryable() {
    let err = error_for(answer(
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}"#,
    ))
    .await;
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn server_error_page_without_a_code_is_retryable() {
    let err = error_for(answer(500, "<html>Internal Server Error</html>")).await;
    assert!(
        matches!(
            err,
            Error::DynamoDb {
                operation: "GetItem",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn validation_error_is_permanent_and_keeps_its_cause() {
    let err = error_for(answer(
        400,
        r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}"#,
    ))
    .await;
    assert!(!err.is_retryable(), "{err:?}");
    let cause = err.source().expect("the SDK error is kept as the cause");
    assert!(format!("{cause:?}").contains("bad key"), "{cause:?}");
}

/// SIR's errors are read by SIR's own metadata (restJson1: the code in `x-amzn-errortype`),
/// not through another service's types.
mod sir {
    use super::*;
    use shared::sir::{SdkSirClient, SirApi};

    fn client(rule: &Rule) -> SdkSirClient {
        let client = aws_sdk_securityir::Client::from_conf(
            aws_sdk_securityir::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("a", "b", None, None, "test"))
                .retry_config(RetryConfig::disabled())
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(MockResponseInterceptor::new().with_rule(rule))
                .build(),
        );
        SdkSirClient::new(client)
    }

    fn answer(status: u16, code: &'static str) -> Rule {
        mock!(aws_sdk_securityir::Client::close_case).then_http_response(move || {
            let mut response = Response::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(format!(r#"{{"message":"{code} says no"}}"#)),
            );
            response
                .headers_mut()
                .insert("content-type", "application/json");
            response.headers_mut().insert("x-amzn-errortype", code);
            response
        })
    }

    async fn error_for(rule: Rule) -> Error {
        client(&rule).close_case("1234567890").await.unwrap_err()
    }

    #[tokio::test]
    async fn throttling_is_retryable() {
        let err = error_for(answer(429, "ThrottlingException")).await;
        assert!(
            matches!(
                err,
                Error::Sir {
                    operation: "CloseCase",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_retryable(), "{err:?}");
    }

    #[tokio::test]
    async fn access_denied_is_permanent_and_keeps_its_cause() {
        let err = error_for(answer(403, "AccessDeniedException")).await;
        assert!(!err.is_retryable(), "{err:?}");
        let cause = err.source().expect("the SDK error is kept as the cause");
        assert!(
            format!("{cause:?}").contains("AccessDeniedException says no"),
            "{cause:?}"
        );
    }

    #[tokio::test]
    async fn server_error_page_without_a_code_is_retryable() {
        let rule = mock!(aws_sdk_securityir::Client::close_case).then_http_response(|| {
            Response::new(
                StatusCode::try_from(502).unwrap(),
                SdkBody::from("<html>Bad Gateway</html>"),
            )
        });
        let err = error_for(rule).await;
        assert!(err.is_retryable(), "{err:?}");
    }
}
