//! jira-notifications-handler's function URL in the local world: an HTTP endpoint that hands each
//! request to the handler as Lambda's function URL does (payload format 2.0: the method, header
//! names in lower case, the body as text, or base64 when it is not text) and answers with the
//! handler's `statusCode`/`headers`/`body`, or 502 when the handler returns `Err` (as a function
//! URL answers a failed invocation). Requests run concurrently, as Lambda runs them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use jira_notifications_handler::{InvocationReport, NotificationHandler};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::HarnessError;
use crate::metrics_log::MetricsLog;
use crate::pipeline::RouteLog;

/// The endpoint, and what it answered since last taken.
#[derive(Debug)]
pub struct FunctionUrl {
    pub url: String,
    log: Arc<Mutex<RouteLog>>,
    task: JoinHandle<()>,
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Endpoint {
    handler: Arc<NotificationHandler>,
    log: Arc<Mutex<RouteLog>>,
    metrics: Arc<MetricsLog>,
}

impl FunctionUrl {
    /// Serves `handler` on a free local port; each invocation's metrics go to `metrics`.
    pub async fn start(
        handler: Arc<NotificationHandler>,
        metrics: Arc<MetricsLog>,
    ) -> Result<FunctionUrl, HarnessError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| HarnessError::Setup(format!("function URL: {e}")))?;
        let address: SocketAddr = listener
            .local_addr()
            .map_err(|e| HarnessError::Setup(format!("function URL: {e}")))?;
        let log = Arc::new(Mutex::new(RouteLog::default()));
        let app = Router::new().fallback(invoke).with_state(Endpoint {
            handler,
            log: Arc::clone(&log),
            metrics,
        });
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the function URL stopped serving");
            }
        });
        Ok(FunctionUrl {
            url: format!("http://{address}/"),
            log,
            task,
        })
    }

    /// What the endpoint answered since the last take: each `Ok` invocation's response, each
    /// `Err` with its cause chain.
    pub fn take_log(&self) -> RouteLog {
        std::mem::take(
            &mut *self
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The function URL event of one request (payload format 2.0).
pub fn function_url_event(method: &Method, headers: &HeaderMap, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), json!(value.to_str().ok()?))))
        .collect();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64_encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": method.as_str(), "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn invoke(
    State(endpoint): State<Endpoint>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = function_url_event(&method, &headers, &body);
    let outcome = endpoint
        .metrics
        .invoke(
            crate::pipeline::NOTIFICATIONS_HANDLER,
            endpoint.handler.handle_invocation(event),
        )
        .await;
    let mut log = endpoint
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match outcome {
        Ok(InvocationReport::Webhook(response)) => {
            log.handled += 1;
            log.responses.push(json!({
                "statusCode": response.status_code,
                "body": serde_json::from_str::<Value>(&response.body).unwrap_or(Value::Null),
            }));
            let status = StatusCode::from_u16(response.status_code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A function URL sends the response's headers as the function returned them
            // (`Retry-After` of a 429 among them).
            let mut answer = (status, response.body).into_response();
            for (name, value) in &response.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    answer.headers_mut().insert(name, value);
                }
            }
            answer
        }
        Ok(other) => {
            log.errors
                .push(format!("not a function URL answer: {other:?}"));
            StatusCode::BAD_GATEWAY.into_response()
        }
        Err(error) => {
            log.errors.push(shared::error::error_chain(&error));
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}
