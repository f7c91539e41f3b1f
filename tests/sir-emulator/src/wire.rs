//! The restJson1 wire format: route by method and `requestUri`, gather the input members from
//! their locations (labels, query string, headers, JSON body; timestamps in bodies as epoch
//! seconds, in query strings as RFC 3339), check the signature's shape, inject faults, validate,
//! answer with the model's success code and a JSON body, or with an error: `x-amzn-errortype`,
//! the error shape's status and members, `Retry-After` for throttling. Also the presigned upload
//! and download URLs, which answer like S3 (XML errors).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;
use crate::identity::access_key_id;
use crate::model::{Location, Operation, ServiceModel, ShapeKind, percent_decode};
use crate::service::Shared;
use crate::store::UploadRefusal;
use crate::types::{RecordedRequest, epoch_seconds};

/// Largest JSON request body read (the biggest valid input is far smaller).
const MAX_API_BODY: usize = 16 * 1024 * 1024;

fn request_id() -> String {
    (0..32)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

fn json_response(status: u16, body: &Value, extra: &[(&'static str, String)]) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

/// The restJson1 error response for `error`.
pub(crate) fn error_response(model: &ServiceModel, error: &Error) -> Response {
    let code = error.code().to_owned();
    let status = model
        .error_status(&code)
        .unwrap_or_else(|| error.fallback_status());
    let mut headers = vec![
        ("x-amzn-errortype", code),
        ("x-amzn-requestid", request_id()),
    ];
    if let Some(seconds) = error.retry_after() {
        headers.push(("retry-after", seconds.to_string()));
    }
    json_response(status, &error.body(), &headers)
}

fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| percent_decode(text).unwrap_or_else(|| text.to_owned());
            (decode(key), decode(value))
        })
        .collect()
}

/// A label, query or header text as the JSON value its shape wants; left as a string when it
/// does not parse, so validation names the member.
fn coerce(model: &ServiceModel, shape: &str, text: &str) -> Value {
    let Some(shape) = model.shape(shape) else {
        return json!(text);
    };
    match shape.kind {
        ShapeKind::Integer | ShapeKind::Long => {
            text.parse::<i64>().map_or(json!(text), |n| json!(n))
        }
        ShapeKind::Float => text.parse::<f64>().map_or(json!(text), |n| json!(n)),
        ShapeKind::Boolean => match text {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(text),
        },
        ShapeKind::Timestamp => OffsetDateTime::parse(text, &Rfc3339)
            .map_or(json!(text), |at| json!(epoch_seconds::to_f64(&at))),
        _ => json!(text),
    }
}

/// All input members of `operation`, from wherever the model binds them.
fn gather_input(
    model: &ServiceModel,
    operation: &Operation,
    labels: &BTreeMap<String, String>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Error> {
    let body_json: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(Error::Validation {
                    message: "The request body is not a JSON object".to_owned(),
                    reason: "CANNOT_PARSE",
                    fields: Vec::new(),
                });
            }
        }
    };
    let Some(ShapeKind::Structure { members, .. }) = operation
        .input
        .as_deref()
        .and_then(|name| model.shape(name))
        .map(|shape| &shape.kind)
    else {
        return Ok(Value::Object(Map::new()));
    };
    let query = parse_query(query);
    let mut input = Map::new();
    for member in members {
        let value = match &member.location {
            Location::Body => body_json.get(&member.name).cloned(),
            Location::Label(name) => labels
                .get(name)
                .map(|text| coerce(model, &member.shape, text)),
            Location::Header(name) => headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|text| coerce(model, &member.shape, text)),
            Location::Query(name) => {
                let values: Vec<&str> = query
                    .iter()
                    .filter(|(key, _)| key == name)
                    .map(|(_, value)| value.as_str())
                    .collect();
                match model.shape(&member.shape).map(|s| &s.kind) {
                    Some(ShapeKind::List { member: item }) if !values.is_empty() => Some(
                        Value::Array(values.iter().map(|v| coerce(model, item, v)).collect()),
                    ),
                    _ => values
                        .first()
                        .map(|text| coerce(model, &member.shape, text)),
                }
            }
        };
        if let Some(value) = value {
            input.insert(member.name.clone(), value);
        }
    }
    Ok(Value::Object(input))
}

/// Every request that is not an admin, upload or download request.
pub(crate) async fn api(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let Some((operation, labels)) = shared.model.route(&method, &path) else {
        shared.record_request(RecordedRequest {
            operation: "Unknown".to_owned(),
            access_key_id: None,
            case_id: None,
            status: 404,
        });
        return error_response(&shared.model, &Error::UnknownOperation { method, path });
    };
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let caller = access_key_id(authorization);
    let outcome = match &caller {
        Err(error) => Err(clone_denied(error)),
        Ok(akid) => {
            answer(
                &shared,
                operation,
                &labels,
                parts.uri.query(),
                &parts.headers,
                body,
                akid,
            )
            .await
        }
    };
    // An applied call whose answer is lost: the change stays, the caller sees a failure.
    let outcome = match outcome {
        Ok(_) => match shared.faults.lost_answer(&operation.name) {
            Some(lost) => Err(lost),
            None => outcome,
        },
        Err(_) => outcome,
    };
    if outcome.is_ok() && shared.faults.take_hang(&operation.name) {
        // Applied, recorded, and never answered: the caller stops right here.
        shared.record_request(RecordedRequest {
            operation: operation.name.clone(),
            access_key_id: caller.ok(),
            case_id: labels.get("caseId").cloned(),
            status: operation.success_status,
        });
        return std::future::pending().await;
    }
    let response = match outcome {
        Ok(output) => {
            if let Ok(akid) = &caller {
                shared.faults.succeeded(&operation.name, akid);
            }
            let id = request_id();
            json_response(
                operation.success_status,
                &output,
                &[("x-amzn-requestid", id)],
            )
        }
        Err(error) => error_response(&shared.model, &error),
    };
    shared.record_request(RecordedRequest {
        operation: operation.name.clone(),
        access_key_id: caller.ok(),
        case_id: labels.get("caseId").cloned(),
        status: response.status().as_u16(),
    });
    response
}

fn clone_denied(error: &Error) -> Error {
    Error::AccessDenied {
        message: match error {
            Error::AccessDenied { message } => message.clone(),
            other => other.to_string(),
        },
    }
}

async fn answer(
    shared: &Shared,
    operation: &Operation,
    labels: &BTreeMap<String, String>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    access_key_id: &str,
) -> Result<Value, Error> {
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(injected) = shared.faults.injected(&operation.name, access_key_id) {
        return Err(injected);
    }
    let body = axum::body::to_bytes(body, MAX_API_BODY)
        .await
        .map_err(|e| Error::Validation {
            message: format!("Cannot read the request body: {e}"),
            reason: "CANNOT_PARSE",
            fields: Vec::new(),
        })?;
    let input = gather_input(&shared.model, operation, labels, query, headers, &body)?;
    // IAM decides before the service looks at the request's content, as on AWS.
    if let Some(authorizer) = &shared.authorizer {
        let required = authorizer.required(&operation.name, labels, &input);
        authorizer.authorize(access_key_id, &required).await?;
    }
    if let Some(shape) = &operation.input {
        shared.validate(shape, &input)?;
    }
    shared.call(&operation.name, &input, &shared.principal(access_key_id))
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

/// `PUT /_uploads/{token}`: the presigned upload URL. As S3: a chunked body (no length up
/// front) is refused with 501 `NotImplemented`, a PUT without `Content-Length` with 411
/// `MissingContentLength`, before anything is stored.
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented (Transfer-Encoding)",
        );
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        return s3_error(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        );
    }
    let result = shared
        .store()
        .complete_upload(&token, bytes.to_vec(), &shared.events);
    match result {
        Ok(_) => (StatusCode::OK, [(header::ETAG, format!("\"{token}\""))]).into_response(),
        Err(UploadRefusal::Forbidden(reason)) => {
            s3_error(StatusCode::FORBIDDEN, "AccessDenied", reason)
        }
        Err(UploadRefusal::WrongLength { declared, received }) => {
            let code = if received < declared {
                "IncompleteBody"
            } else {
                "EntityTooLarge"
            };
            s3_error(
                StatusCode::BAD_REQUEST,
                code,
                &format!(
                    "The upload URL was issued for {declared} bytes, the request carried {received}"
                ),
            )
        }
    }
}

/// `GET /_downloads/{token}`: the presigned download URL.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
) -> Response {
    match shared.store().download(&token) {
        Some((file_name, bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file_name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        None => s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "no such download URL",
        ),
    }
}
