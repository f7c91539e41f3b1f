//! The media host: a second origin standing in for Atlassian's media service
//! (`api.media.atlassian.com`), where Jira Cloud redirects attachment downloads.
//!
//! `GET /rest/api/3/attachment/content/{id}` answers `303 See Other` with a `Location` here (as
//! Cloud does unless the request says `redirect=false`). The media host authorises by the
//! short-lived token in that URL, not by Jira credentials: it refuses a request that carries an
//! `Authorization` header (403, recorded, so a test sees credentials that leaked across origins),
//! and answers 406 when the `Accept` header admits no type the file can be served as (e.g.
//! `Accept: application/json` for a binary file).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::emulator::Shared;
use crate::lock;
use crate::model::MediaRequest;

/// What the media host remembers: the download tokens it issued and the requests it answered.
#[derive(Debug, Default)]
pub(crate) struct Media {
    /// token → attachment id.
    tokens: HashMap<String, String>,
    requests: Vec<MediaRequest>,
}

impl Media {
    /// A fresh token for downloading `attachment_id`, and the path and query to put behind the
    /// media origin.
    pub(crate) fn issue_download(&mut self, attachment_id: &str, file_name: &str) -> String {
        let token: String = (0..32)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect();
        let file_id: String = (0..32)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect();
        self.tokens.insert(token.clone(), attachment_id.to_owned());
        let name: String = file_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("/file/{file_id}/binary?token={token}&client=jira-emulator&dl=true&name={name}")
    }

    pub(crate) fn requests(&self) -> Vec<MediaRequest> {
        self.requests.clone()
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/file/{file_id}/binary", get(download))
        .fallback(|| async { media_error(StatusCode::NOT_FOUND, "No such media resource.") })
        .with_state(shared)
}

fn media_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "title": message}})),
    )
        .into_response()
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.contains_key(header::AUTHORIZATION);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let response = answer(&shared, &params, authorization, accept.as_deref());
    lock(&shared.media).requests.push(MediaRequest {
        path: format!("/file/{file_id}/binary"),
        authorization,
        accept,
        status: response.status().as_u16(),
    });
    response
}

fn answer(
    shared: &Shared,
    params: &HashMap<String, String>,
    authorization: bool,
    accept: Option<&str>,
) -> Response {
    if authorization {
        return media_error(
            StatusCode::FORBIDDEN,
            "The media host takes no Authorization header: the token in the URL authorises the download.",
        );
    }
    let attachment_id = {
        let media = lock(&shared.media);
        params
            .get("token")
            .and_then(|token| media.tokens.get(token))
            .cloned()
    };
    let Some(attachment_id) = attachment_id else {
        return media_error(StatusCode::FORBIDDEN, "Missing or unknown download token.");
    };
    let store = lock(&shared.store);
    let Ok((_, attachment)) = store.attachment(&attachment_id) else {
        return media_error(StatusCode::NOT_FOUND, "The file does not exist.");
    };
    if !accepts(accept, &attachment.mime_type) {
        return media_error(
            StatusCode::NOT_ACCEPTABLE,
            "Could not find acceptable representation.",
        );
    }
    (
        [
            (header::CONTENT_TYPE, attachment.mime_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&attachment.filename),
            ),
        ],
        attachment.bytes.clone(),
    )
        .into_response()
}

/// `attachment; filename="…"` with quotes and backslashes replaced.
pub(crate) fn content_disposition(file_name: &str) -> String {
    format!(
        "attachment; filename=\"{}\"",
        file_name.replace(['"', '\\'], "_")
    )
}

/// Whether an `Accept` header admits `mime_type` (no header admits anything).
fn accepts(accept: Option<&str>, mime_type: &str) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    let (kind, _) = mime_type.split_once('/').unwrap_or((mime_type, ""));
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media_range = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused
            && (media_range == "*/*"
                || media_range == mime_type
                || media_range
                    .strip_suffix("/*")
                    .is_some_and(|range_kind| range_kind == kind))
    })
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_header_admits_only_matching_types() {
        assert!(accepts(None, "application/octet-stream"));
        assert!(accepts(Some("*/*"), "image/png"));
        assert!(accepts(Some("image/*"), "image/png"));
        assert!(accepts(Some("application/json, */*;q=0.1"), "image/png"));
        assert!(!accepts(Some("application/json"), "image/png"));
        assert!(!accepts(
            Some("application/json"),
            "application/octet-stream"
        ));
        assert!(!accepts(Some("*/*;q=0"), "image/png"));
    }
}
