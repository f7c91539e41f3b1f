//! The HTTP side: the router, the gate every REST request passes (recording, faults, auth
//! (Cloud: Basic `email:token`; Data Center: Bearer personal access token or Basic
//! `username:token`), rate limit), and Jira's error bodies.

mod admin;
pub(crate) mod media;
pub(crate) mod render;
mod rest;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::emulator::{Deployment, Shared};
use crate::faults::Refusal;
use crate::model::RecordedRequest;
use crate::{Error, lock};

/// Which REST API a request came through: v3 speaks ADF, v2 plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    V2,
    V3,
}

impl ApiVersion {
    pub(crate) fn number(self) -> u8 {
        match self {
            ApiVersion::V2 => 2,
            ApiVersion::V3 => 3,
        }
    }
}

/// The authenticated user making a REST request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account_id: String,
    /// The classic scopes of the API token used, if it has scopes.
    pub scopes: Option<Vec<String>>,
}

/// Marks a request that came through the API gateway ([`gateway_router`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViaGateway;

/// Atlassian's API gateway for this site: `/ex/jira/<cloud id>/<the site's path>` is handed on to
/// the site's router, marked [`ViaGateway`]; another cloud id is a 404.
pub(crate) fn gateway_router(shared: Arc<Shared>) -> Router {
    let site = router(Arc::clone(&shared));
    let forward = move |mut request: Request| {
        let site = site.clone();
        let prefix = format!("/ex/jira/{}/", shared.cloud_id);
        async move {
            let path_and_query = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let Some(rest) = path_and_query.strip_prefix(&prefix) else {
                return jira_message(StatusCode::NOT_FOUND, "Site not found.");
            };
            match format!("/{rest}").parse::<http::Uri>() {
                Ok(uri) => *request.uri_mut() = uri,
                Err(_) => return jira_message(StatusCode::BAD_REQUEST, "Bad path."),
            }
            request.extensions_mut().insert(ViaGateway);
            match tower::ServiceExt::oneshot(site, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    Router::new().fallback(forward)
}

/// The classic scope Atlassian's gateway asks of a request: `read:jira-user` to read users,
/// `read:jira-work` to read anything else (a JQL search by POST included), `write:jira-work` to
/// change anything.
fn classic_scope(method: &str, path: &str) -> &'static str {
    let api = path
        .strip_prefix("/rest/api/3")
        .or_else(|| path.strip_prefix("/rest/api/2"))
        .unwrap_or(path);
    let reads_users = api == "/myself" || api == "/user" || api.starts_with("/user/");
    if method == "GET" && reads_users {
        "read:jira-user"
    } else if method == "GET" || (method == "POST" && api == "/search/jql") {
        "read:jira-work"
    } else {
        "write:jira-work"
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let rest = match shared.deployment {
        Deployment::Cloud => Router::new()
            .nest(
                "/rest/api/3",
                rest::routes().layer(Extension(ApiVersion::V3)),
            )
            .nest(
                "/rest/api/2",
                rest::routes().layer(Extension(ApiVersion::V2)),
            ),
        // Data Center has no REST v3; its attachments download from the site itself.
        Deployment::DataCenter => Router::new()
            .nest(
                "/rest/api/2",
                rest::data_center_routes().layer(Extension(ApiVersion::V2)),
            )
            .merge(rest::secure_attachment_routes()),
    }
    .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate));
    let rest = match shared.deployment {
        // The site's cloud id, for the API gateway's URLs (anonymous, as on Cloud).
        Deployment::Cloud => rest.route(
            "/_edge/tenant_info",
            axum::routing::get(|State(shared): State<Arc<Shared>>| async move {
                Json(json!({"cloudId": shared.cloud_id}))
            }),
        ),
        Deployment::DataCenter => rest,
    };
    rest.merge(admin::routes())
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    jira_message(
        StatusCode::NOT_FOUND,
        "No such resource in the Jira emulator.",
    )
}

/// Every REST request: identify the caller, apply latency, outage and injected failures,
/// require auth (except `serverInfo`), take a token from each rate limit it falls under (a 429
/// names the one that refused it in `RateLimit-Reason`), then record the answer (or,
/// armed to hang after applying, record it and never answer).
async fn gate(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let caller = authenticate(&shared, request.headers());
    let via_gateway = request.extensions().get::<ViaGateway>().is_some();
    let latency = shared.faults.current_latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = if let Some(refusal) = shared.faults.refusal() {
        refused(refusal)
    } else if answers_without_auth(shared.deployment, &path) {
        next.run(request).await
    } else if let Some(refusal) = caller
        .as_ref()
        .and_then(|caller| gateway_refusal(caller, via_gateway, &method, &path))
    {
        refusal
    } else if let Some(caller) = caller.clone() {
        match shared.faults.admit(&method, &path) {
            Ok(()) => {
                request.extensions_mut().insert(caller.clone());
                let response = next.run(request).await;
                if response.status().is_success()
                    && shared.faults.take_hang_after_applying(&method, &path)
                {
                    // Applied, recorded, and never answered: the caller stops right here.
                    lock(&shared.requests).push(RecordedRequest {
                        method,
                        path,
                        query,
                        account_id: Some(caller.account_id),
                        status: response.status().as_u16(),
                    });
                    return std::future::pending().await;
                }
                match response
                    .status()
                    .is_success()
                    .then(|| shared.faults.take_failure_after_applying(&method, &path))
                    .flatten()
                {
                    Some(status) => refused(Refusal::Injected(status)),
                    None => response,
                }
            }
            Err(limited) => {
                let mut response = with_retry_after(
                    jira_message(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded."),
                    limited.retry_after_seconds,
                );
                response.headers_mut().insert(
                    "RateLimit-Reason",
                    HeaderValue::from_static(limited.reason.header_value()),
                );
                response
            }
        }
    } else {
        unauthenticated(shared.deployment)
    };
    lock(&shared.requests).push(RecordedRequest {
        method,
        path,
        query,
        account_id: caller.map(|caller| caller.account_id),
        status: response.status().as_u16(),
    });
    response
}

/// Where an API token may be used: one with scopes only through the gateway, and only for what
/// its scopes allow; one without only on the site. `None`: here it may.
fn gateway_refusal(
    caller: &Caller,
    via_gateway: bool,
    method: &str,
    path: &str,
) -> Option<Response> {
    match (&caller.scopes, via_gateway) {
        (None, false) => None,
        (Some(scopes), true) => {
            let needed = classic_scope(method, path);
            (!scopes.iter().any(|scope| scope == needed)).then(|| {
                // The gateway's own error body, not Jira's.
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"code": 401, "message": "Unauthorized; scope does not match"})),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api.atlassian.com\""),
                );
                response
            })
        }
        // A scoped token on the site, or a token without scopes through the gateway.
        (Some(_), false) | (None, true) => Some(unauthenticated(Deployment::Cloud)),
    }
}

/// `serverInfo`, the one resource that needs no auth. (Data Center: only that path, so that a
/// file or property named `serverInfo` is not served to anyone.)
fn answers_without_auth(deployment: Deployment, path: &str) -> bool {
    match deployment {
        Deployment::Cloud => path.ends_with("/serverInfo"),
        Deployment::DataCenter => path == "/rest/api/2/serverInfo",
    }
}

/// The 401 for a request without valid credentials.
fn unauthenticated(deployment: Deployment) -> Response {
    let (message, challenge) = match deployment {
        Deployment::Cloud => (
            "Client must be authenticated to access this resource.",
            "Basic realm=\"protected-by-api-token\"",
        ),
        Deployment::DataCenter => (
            "You are not authenticated. Authentication required to perform this operation.",
            "Basic realm=\"Jira\"",
        ),
    };
    let mut response = jira_message(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Outage {
            retry_after_seconds,
        } => with_retry_after(
            jira_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable: Jira is down for maintenance.",
            ),
            retry_after_seconds,
        ),
        Refusal::Injected(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let response = jira_message(status, format!("Injected failure ({status})."));
            if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
            {
                with_retry_after(response, 1)
            } else {
                response
            }
        }
    }
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The user these credentials belong to: Cloud takes Basic `email:token`; Data Center a
/// personal access token as `Bearer`, or Basic `username:token`.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let store = lock(&shared.store);
    let basic = || -> Option<(String, String)> {
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(decode_base64(credentials.trim())?).ok()?;
        let (user, token) = decoded.split_once(':')?;
        Some((user.to_owned(), token.to_owned()))
    };
    let mut scopes = None;
    let user = match shared.deployment {
        Deployment::Cloud => {
            let (email, token) = basic()?;
            scopes = store.token_scopes(&email, &token);
            store.authenticate(&email, &token)
        }
        Deployment::DataCenter if scheme.eq_ignore_ascii_case("bearer") => {
            store.authenticate_token(credentials.trim())
        }
        Deployment::DataCenter => {
            let (username, token) = basic()?;
            store.authenticate_username(&username, &token)
        }
    };
    user.map(|user| Caller {
        account_id: user.account_id.clone(),
        scopes,
    })
}

fn decode_base64(encoded: &str) -> Option<Vec<u8>> {
    let value = |byte: u8| -> Option<u32> {
        Some(u32::from(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let digits = encoded.trim_end_matches('=').as_bytes();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut group = 0u32;
        for (index, byte) in chunk.iter().enumerate() {
            group |= value(*byte)? << (18 - 6 * index);
        }
        let group_bytes = group.to_be_bytes();
        bytes.extend_from_slice(&group_bytes[1..chunk.len()]);
    }
    Some(bytes)
}

/// Jira's error body: `{"errorMessages": [...], "errors": {...}}`.
pub(crate) fn jira_error(
    status: StatusCode,
    messages: &[String],
    errors: &BTreeMap<String, String>,
) -> Response {
    (
        status,
        Json(json!({"errorMessages": messages, "errors": errors})),
    )
        .into_response()
}

/// Jira's error body with one message.
pub(crate) fn jira_message(status: StatusCode, message: impl Into<String>) -> Response {
    jira_error(status, &[message.into()], &BTreeMap::new())
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Error::Validation { messages, errors } => {
                return jira_error(StatusCode::BAD_REQUEST, &messages, &errors);
            }
            Error::IssueNotFound(_) => (
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.".to_owned(),
            ),
            Error::UserNotFound(_) => (
                StatusCode::NOT_FOUND,
                "Specified user does not exist or you do not have required permissions".to_owned(),
            ),
            Error::CommentNotFound(id) => (
                StatusCode::NOT_FOUND,
                format!("Can not find a comment for the id: {id}."),
            ),
            Error::AttachmentNotFound(id) => (
                StatusCode::NOT_FOUND,
                format!("The attachment with id '{id}' does not exist."),
            ),
            Error::PropertyNotFound(key) => (
                StatusCode::NOT_FOUND,
                format!("The property with key '{key}' does not exist."),
            ),
            Error::AttachmentTooLarge { size, limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The file of {size} bytes is larger than the attachment size limit of {limit} bytes."
                ),
            ),
            error @ Error::StatusUnreachable { .. } => (StatusCode::BAD_REQUEST, error.to_string()),
            error @ (Error::Io { .. } | Error::InvalidWorkflow(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            }
        };
        jira_message(status, message)
    }
}

/// The request body as JSON, or Jira's 400 for a malformed one.
pub(crate) fn parse_json(body: &Bytes) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|error| {
        Error::bad_request(format!("Unexpected character in the JSON body: {error}"))
    })
}

/// A MIME type from a file name's extension.
pub(crate) fn mime_type_for(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        assert_eq!(
            decode_base64("dXNlcjpwYXNz").as_deref(),
            Some(b"user:pass".as_slice())
        );
        assert_eq!(decode_base64("YQ==").as_deref(), Some(b"a".as_slice()));
        assert_eq!(decode_base64("YWI=").as_deref(), Some(b"ab".as_slice()));
        assert_eq!(decode_base64("!!!!"), None);
    }
}
