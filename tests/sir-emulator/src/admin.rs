//! The admin HTTP API under `/_emulator` (routes in the crate documentation): the human actions,
//! state reads and fault switches of [`crate::SirEmulator`], as JSON, for tools in other languages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::Error;
use crate::faults::FaultSettings;
use crate::service::Shared;
use crate::types::{CaseUpdate, NewCase};
use crate::wire::error_response;

type AppState = State<Arc<Shared>>;

const DEFAULT_CALLER: &str = "human";

fn default_caller() -> String {
    DEFAULT_CALLER.to_owned()
}

/// A request body: who acts, and the action's own members.
#[derive(Debug, Deserialize)]
struct Acting<T> {
    #[serde(default = "default_caller")]
    caller: String,
    #[serde(flatten)]
    action: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusChange {
    case_status: String,
}

#[derive(Debug, Deserialize)]
struct CommentBody {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Nothing {}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/cases", get(list_cases).post(create_case))
        .route(
            "/cases/{case_id}",
            get(get_case).patch(update_case).delete(delete_case),
        )
        .route("/cases/{case_id}/created-date", post(backdate_case))
        .route("/cases/{case_id}/status", post(set_status))
        .route("/cases/{case_id}/aws-status", post(aws_set_status))
        .route("/cases/{case_id}/close", post(close_case))
        .route("/cases/{case_id}/comments", post(add_comment))
        .route("/cases/{case_id}/comments/{comment_id}", put(edit_comment))
        .route("/cases/{case_id}/attachments", post(upload_attachment))
        .route(
            "/cases/{case_id}/attachments/{attachment_id}",
            get(attachment_bytes),
        )
        .route("/requests", get(requests))
        .route("/events", get(events))
        .route(
            "/faults",
            get(get_faults).put(set_faults).delete(clear_faults),
        )
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| Error::Validation {
        message: format!("Cannot read the request: {e}"),
        reason: "CANNOT_PARSE",
        fields: Vec::new(),
    })
}

fn answer(shared: &Shared, status: StatusCode, result: Result<Value, Error>) -> Response {
    match result {
        Ok(value) => (status, axum::Json(value)).into_response(),
        Err(error) => error_response(&shared.model, &error),
    }
}

fn case_json(shared: &Shared, case_id: &str) -> Result<Value, Error> {
    let store = shared.store();
    let case = store.case(case_id)?;
    serde_json::to_value(case).map_err(|e| Error::Internal {
        message: e.to_string(),
    })
}

async fn list_cases(State(shared): AppState) -> Response {
    let cases = shared.store().cases();
    (StatusCode::OK, axum::Json(cases)).into_response()
}

async fn create_case(State(shared): AppState, body: Bytes) -> Response {
    let result = parse::<Acting<NewCase>>(&body).and_then(|acting| {
        let principal = shared.principal(&acting.caller);
        let case = shared
            .store()
            .create_case(&principal, acting.action, &shared.events);
        serde_json::to_value(case).map_err(|e| Error::Internal {
            message: e.to_string(),
        })
    });
    answer(&shared, StatusCode::CREATED, result)
}

async fn get_case(State(shared): AppState, Path(case_id): Path<String>) -> Response {
    answer(&shared, StatusCode::OK, case_json(&shared, &case_id))
}

async fn update_case(
    State(shared): AppState,
    Path(case_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse::<Acting<CaseUpdate>>(&body).and_then(|acting| {
        let mut input = serde_json::to_value(acting.action).map_err(|e| Error::Internal {
            message: e.to_string(),
        })?;
        input["caseId"] = json!(case_id);
        shared.act(&acting.caller, "UpdateCase", &input)?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn delete_case(State(shared): AppState, Path(case_id): Path<String>) -> Response {
    shared.store().delete_case(&case_id);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedDate {
    #[serde(with = "crate::types::epoch_seconds")]
    created_date: time::OffsetDateTime,
}

async fn backdate_case(
    State(shared): AppState,
    Path(case_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse::<CreatedDate>(&body).and_then(|change| {
        shared
            .store()
            .backdate_case(&case_id, change.created_date)?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn set_status(State(shared): AppState, Path(case_id): Path<String>, body: Bytes) -> Response {
    let result = parse::<Acting<StatusChange>>(&body).and_then(|acting| {
        shared.act(
            &acting.caller,
            "UpdateCaseStatus",
            &json!({ "caseId": case_id, "caseStatus": acting.action.case_status }),
        )?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn aws_set_status(
    State(shared): AppState,
    Path(case_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse::<StatusChange>(&body).and_then(|change| {
        shared
            .store()
            .aws_set_status(&case_id, &change.case_status, &shared.events)?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn close_case(State(shared): AppState, Path(case_id): Path<String>, body: Bytes) -> Response {
    let result = parse::<Acting<Nothing>>(&body).and_then(|acting| {
        shared.act(&acting.caller, "CloseCase", &json!({ "caseId": case_id }))?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn add_comment(
    State(shared): AppState,
    Path(case_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse::<Acting<CommentBody>>(&body).and_then(|acting| {
        shared.act(
            &acting.caller,
            "CreateCaseComment",
            &json!({ "caseId": case_id, "body": acting.action.body }),
        )
    });
    answer(&shared, StatusCode::CREATED, result)
}

async fn edit_comment(
    State(shared): AppState,
    Path((case_id, comment_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = parse::<Acting<CommentBody>>(&body).and_then(|acting| {
        shared.act(
            &acting.caller,
            "UpdateCaseComment",
            &json!({ "caseId": case_id, "commentId": comment_id, "body": acting.action.body }),
        )?;
        case_json(&shared, &case_id)
    });
    answer(&shared, StatusCode::OK, result)
}

async fn upload_attachment(
    State(shared): AppState,
    Path(case_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let caller = query.get("caller").map_or(DEFAULT_CALLER, String::as_str);
    let file_name = query.get("fileName").map_or("", String::as_str);
    let result = shared
        .upload_attachment(caller, &case_id, file_name, body.to_vec())
        .map(|attachment_id| json!({ "attachmentId": attachment_id }));
    answer(&shared, StatusCode::CREATED, result)
}

async fn attachment_bytes(
    State(shared): AppState,
    Path((case_id, attachment_id)): Path<(String, String)>,
) -> Response {
    let store = shared.store();
    let found = store.case(&case_id).and_then(|case| {
        case.attachment(&attachment_id)
            .map(|a| a.bytes.clone())
            .ok_or_else(|| Error::NotFound {
                message: format!("Attachment {attachment_id} was not found on case {case_id}"),
            })
    });
    match found {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Err(error) => error_response(&shared.model, &error),
    }
}

async fn requests(State(shared): AppState) -> Response {
    let requests = shared
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    (StatusCode::OK, axum::Json(requests)).into_response()
}

async fn events(State(shared): AppState) -> Response {
    let body = json!({ "stats": shared.events.stats(), "events": shared.events.events() });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn get_faults(State(shared): AppState) -> Response {
    (StatusCode::OK, axum::Json(shared.faults.settings())).into_response()
}

async fn set_faults(State(shared): AppState, body: Bytes) -> Response {
    let result = parse::<FaultSettingsPatch>(&body).map(|patch| {
        shared.faults.set(patch.into_settings());
        json!(shared.faults.settings())
    });
    answer(&shared, StatusCode::OK, result)
}

async fn clear_faults(State(shared): AppState) -> Response {
    shared.faults.clear();
    (StatusCode::OK, axum::Json(shared.faults.settings())).into_response()
}

/// [`FaultSettings`] where every field may be left out (and then takes its default).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultSettingsPatch {
    throttle_next: Option<u32>,
    throttle_share: Option<f64>,
    fail_next: Option<u32>,
    fail_status: Option<u16>,
    latency_ms: Option<u64>,
    retry_after_seconds: Option<u32>,
    fail_after: Option<crate::faults::FailAfter>,
    refusals: Option<std::collections::BTreeMap<String, String>>,
    lose_answers: Option<crate::faults::LoseAnswers>,
    hang_after_applying: Option<Vec<String>>,
}

impl FaultSettingsPatch {
    fn into_settings(self) -> FaultSettings {
        let defaults = FaultSettings::default();
        FaultSettings {
            throttle_next: self.throttle_next.unwrap_or(defaults.throttle_next),
            throttle_share: self
                .throttle_share
                .unwrap_or(defaults.throttle_share)
                .clamp(0.0, 1.0),
            fail_next: self.fail_next.unwrap_or(defaults.fail_next),
            fail_status: self.fail_status.unwrap_or(defaults.fail_status),
            latency_ms: self.latency_ms.unwrap_or(defaults.latency_ms),
            retry_after_seconds: self
                .retry_after_seconds
                .unwrap_or(defaults.retry_after_seconds),
            fail_after: self.fail_after,
            refusals: self.refusals.unwrap_or_default(),
            lose_answers: self.lose_answers,
            hang_after_applying: self.hang_after_applying.unwrap_or_default(),
            outage_until: defaults.outage_until,
        }
    }
}
