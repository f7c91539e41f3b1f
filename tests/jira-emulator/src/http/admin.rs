//! The admin API under `/_emulator`: the Rust API's human actions, state reads and switches over
//! JSON, for tools that are not written in Rust. Routes are listed in the crate documentation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::faults::RateLimit;
use crate::model::{IssueEdit, NewIssue, RichText, User};
use crate::{Error, lock};

/// An admin API failure: `{"error": "..."}`.
struct AdminError(StatusCode, String);

impl From<Error> for AdminError {
    fn from(error: Error) -> AdminError {
        let status = match error {
            Error::IssueNotFound(_)
            | Error::UserNotFound(_)
            | Error::CommentNotFound(_)
            | Error::AttachmentNotFound(_)
            | Error::PropertyNotFound(_) => StatusCode::NOT_FOUND,
            Error::AttachmentTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        AdminError(status, error.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type AdminResult<T> = Result<T, AdminError>;

/// A JSON body of type `T`, or a 400 saying why not.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> AdminResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| AdminError(StatusCode::BAD_REQUEST, format!("invalid body: {error}")))
}

fn as_account(params: &HashMap<String, String>) -> AdminResult<&str> {
    params.get("as").map(String::as_str).ok_or_else(|| {
        AdminError(
            StatusCode::BAD_REQUEST,
            "the 'as' parameter is required".into(),
        )
    })
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/users", get(list_users).post(add_user))
        .route("/_emulator/users/{account_id}/token", post(add_token))
        .route("/_emulator/issues", get(list_issues).post(create_issue))
        .route(
            "/_emulator/issues/{key}",
            get(get_issue).put(edit_issue).delete(delete_issue),
        )
        .route("/_emulator/deleted-issues", get(list_deleted_issues))
        .route("/_emulator/issues/{key}/transition", post(transition))
        .route("/_emulator/issues/{key}/comments", post(comment))
        .route(
            "/_emulator/issues/{key}/comments/{id}",
            put(edit_comment).delete(delete_comment),
        )
        .route("/_emulator/issues/{key}/attachments", post(attach))
        .route("/_emulator/attachments/{id}", delete(delete_attachment))
        .route("/_emulator/issues/{key}/watchers", post(add_watcher))
        .route(
            "/_emulator/issues/{key}/watchers/{account_id}",
            delete(remove_watcher),
        )
        .route(
            "/_emulator/requests",
            get(list_requests).delete(clear_requests),
        )
        .route(
            "/_emulator/automation",
            get(automation_state).put(set_automation),
        )
        .route("/_emulator/automation/forged", post(publish_forged))
        .route("/_emulator/faults", post(set_faults).delete(clear_faults))
}

async fn list_users(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(lock(&shared.store).users()))
}

async fn add_user(State(shared): State<Arc<Shared>>, bytes: Bytes) -> AdminResult<Response> {
    let user: User = body(&bytes)?;
    let user = lock(&shared.store).add_user(user);
    Ok((StatusCode::CREATED, Json(json!(user))).into_response())
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    token: String,
    /// An API token with these classic scopes (usable through the API gateway only).
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

async fn add_token(
    State(shared): State<Arc<Shared>>,
    Path(account_id): Path<String>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: TokenRequest = body(&bytes)?;
    lock(&shared.store).add_api_token(
        &account_id,
        &request.email,
        &request.token,
        request.scopes,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_issues(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(lock(&shared.store).issues()))
}

async fn list_deleted_issues(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(lock(&shared.store).deleted_issues()))
}

async fn get_issue(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
) -> AdminResult<Json<Value>> {
    Ok(Json(json!(lock(&shared.store).issue(&key)?)))
}

#[derive(Deserialize)]
struct Acting<T> {
    #[serde(rename = "as")]
    account_id: String,
    #[serde(flatten)]
    action: T,
}

async fn create_issue(State(shared): State<Arc<Shared>>, bytes: Bytes) -> AdminResult<Response> {
    let request: Acting<NewIssue> = body(&bytes)?;
    let key = shared.human_create_issue(&request.account_id, request.action)?;
    Ok((StatusCode::CREATED, Json(json!({"key": key}))).into_response())
}

async fn edit_issue(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: Acting<IssueEdit> = body(&bytes)?;
    shared.human_edit_issue(&request.account_id, &key, request.action)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_issue(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult<StatusCode> {
    shared.delete_issue(as_account(&params)?, &key)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct StatusRequest {
    status: String,
}

async fn transition(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: Acting<StatusRequest> = body(&bytes)?;
    shared.human_transition_to(&request.account_id, &key, &request.action.status)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CommentRequest {
    body: RichText,
}

async fn comment(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> AdminResult<Response> {
    let request: Acting<CommentRequest> = body(&bytes)?;
    let id = shared.human_comment(&request.account_id, &key, request.action.body)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn edit_comment(
    State(shared): State<Arc<Shared>>,
    Path((key, comment_id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: Acting<CommentRequest> = body(&bytes)?;
    shared.human_edit_comment(&request.account_id, &key, &comment_id, request.action.body)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?as=<accountId>` deletes it as that person.
async fn delete_comment(
    State(shared): State<Arc<Shared>>,
    Path((key, comment_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult<StatusCode> {
    shared.delete_comment(as_account(&params)?, &key, &comment_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?as=<accountId>` deletes it as that person.
async fn delete_attachment(
    State(shared): State<Arc<Shared>>,
    Path(attachment_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult<StatusCode> {
    shared.delete_attachment(as_account(&params)?, &attachment_id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attach(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> AdminResult<Response> {
    let file_name = params.get("fileName").ok_or_else(|| {
        AdminError(
            StatusCode::BAD_REQUEST,
            "the 'fileName' parameter is required".into(),
        )
    })?;
    let id = shared.human_attach(as_account(&params)?, &key, file_name, bytes)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatcherRequest {
    account_id: String,
}

async fn add_watcher(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: WatcherRequest = body(&bytes)?;
    lock(&shared.store).add_watcher(&request.account_id, &key, &request.account_id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_watcher(
    State(shared): State<Arc<Shared>>,
    Path((key, account_id)): Path<(String, String)>,
) -> AdminResult<StatusCode> {
    lock(&shared.store).remove_watcher(&account_id, &key, &account_id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(*lock(&shared.requests)))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.requests).clear();
    StatusCode::NO_CONTENT
}

async fn automation_state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let automation = &shared.automation;
    Json(json!({
        "enabled": automation.is_enabled(),
        "published": automation.published(),
        "failures": automation.failures(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutomationSwitch {
    enabled: bool,
    /// The rules' condition "Initiator is not <accountId>" (absent: no condition).
    #[serde(default)]
    skip_initiator: Option<String>,
    /// Whether the message names the initiator (absent: it does, as the README's rules).
    #[serde(default)]
    names_initiator: Option<bool>,
}

async fn set_automation(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let request: AutomationSwitch = body(&bytes)?;
    shared.automation.set_enabled(request.enabled);
    shared.automation.set_skip_initiator(request.skip_initiator);
    shared
        .automation
        .set_names_initiator(request.names_initiator.unwrap_or(true));
    Ok(StatusCode::NO_CONTENT)
}

async fn publish_forged(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> AdminResult<StatusCode> {
    let message = String::from_utf8(bytes.to_vec())
        .map_err(|_| AdminError(StatusCode::BAD_REQUEST, "the message must be UTF-8".into()))?;
    shared.automation.publish_forged(&message);
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct FailNext {
    count: u32,
    status: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefuseWatcher {
    account_id: String,
    message: String,
}

#[derive(Deserialize)]
struct RequireTransitionField {
    status: String,
    field: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailAfterApplying {
    method: String,
    path_part: String,
    status: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    fail_next: Option<FailNext>,
    fail_after_applying: Option<FailAfterApplying>,
    refuse_watcher: Option<RefuseWatcher>,
    require_transition_field: Option<RequireTransitionField>,
    latency_ms: Option<u64>,
    outage_ms: Option<u64>,
    /// Absent: unchanged; `null`: off.
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<RateLimit>>,
    /// Per endpoint and method (`jira-burst-based`). Absent: unchanged; `null`: off.
    #[serde(default, deserialize_with = "present")]
    burst_limit: Option<Option<RateLimit>>,
    /// Per issue, writes only (`jira-per-issue-on-write`). Absent: unchanged; `null`: off.
    #[serde(default, deserialize_with = "present")]
    issue_write_limit: Option<Option<RateLimit>>,
}

/// Tells a `null` field (`Some(None)`) from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<RateLimit>>, D::Error> {
    Option::<RateLimit>::deserialize(deserializer).map(Some)
}

async fn set_faults(State(shared): State<Arc<Shared>>, bytes: Bytes) -> AdminResult<StatusCode> {
    let request: FaultRequest = body(&bytes)?;
    let faults = &shared.faults;
    if let Some(fail) = request.fail_next {
        faults.fail_next(fail.count, fail.status);
    }
    if let Some(fail) = request.fail_after_applying {
        faults.fail_after_applying(&fail.method, &fail.path_part, fail.status);
    }
    if let Some(latency) = request.latency_ms {
        faults.latency(Duration::from_millis(latency));
    }
    if let Some(outage) = request.outage_ms {
        faults.outage(Duration::from_millis(outage));
    }
    if let Some(limit) = request.rate_limit {
        faults.rate_limit(limit);
    }
    if let Some(limit) = request.burst_limit {
        faults.burst_limit(limit);
    }
    if let Some(limit) = request.issue_write_limit {
        faults.issue_write_limit(limit);
    }
    if let Some(refused) = request.refuse_watcher {
        faults.refuse_watcher(&refused.account_id, &refused.message);
    }
    if let Some(required) = request.require_transition_field {
        faults.require_transition_field(&required.status, &required.field, &required.message);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.faults.clear();
    StatusCode::NO_CONTENT
}
