//! The Lambda binaries run as Lambda runs them: each its own process, given only the variables
//! the stack gives it (names from `cdk/contract.json`) and the ones Lambda sets, taking its
//! invocations from a Runtime API. Shared by the binaries' test (`infra_lambda_binaries`, under
//! cargo-lambda's Runtime API) and the bench's cold-start and memory profile (`lambda-profile`,
//! under [`RuntimeApi`], a minimal one that also times what Lambda reports: init, each
//! invocation).

#![allow(
    clippy::disallowed_methods,
    reason = "times real processes against real sockets: wall time and std's Instant"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use sir_emulator::SirEmulator;
use tokio::sync::{mpsc, oneshot};

use crate::world::REGION;
use crate::{HarnessError, World};

/// Each function's key in `cdk/contract.json` and its name here.
pub const FUNCTIONS: [(&str, &str); 4] = [
    ("poller", "poller"),
    ("jiraClient", "jira-client"),
    ("jiraNotificationsHandler", "jira-notifications-handler"),
    ("sirClient", "sir-client"),
];

/// The case id in the sample events of `tests/events/`.
pub const SAMPLE_CASE_ID: &str = "1234567890";

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `tests/events/<name>`.
pub fn sample_path(name: &str) -> PathBuf {
    repo_root().join("tests/events").join(name)
}

/// A sample event of `tests/events/`.
pub fn sample(name: &str) -> Result<Value, HarnessError> {
    let path = sample_path(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| HarnessError::Io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text)
        .map_err(|e| HarnessError::Setup(format!("{} is not JSON: {e}", path.display())))
}

/// A sample event with its placeholder case id replaced (as a whole string value, or at the end
/// of a case ARN).
pub fn sample_for_case(name: &str, case_id: &str) -> Result<Value, HarnessError> {
    fn replace(value: &mut Value, case_id: &str) {
        match value {
            Value::String(s) if s == SAMPLE_CASE_ID => *s = case_id.to_owned(),
            Value::String(s) => {
                if let Some(arn) = s.strip_suffix(&format!("case/{SAMPLE_CASE_ID}")) {
                    *s = format!("{arn}case/{case_id}");
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| replace(v, case_id)),
            Value::Object(map) => map.values_mut().for_each(|v| replace(v, case_id)),
            _ => {}
        }
    }
    let mut event = sample(name)?;
    replace(&mut event, case_id);
    Ok(event)
}

/// `cdk/contract.json`.
pub fn contract() -> Result<Value, HarnessError> {
    let path = repo_root().join("cdk/contract.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| HarnessError::Io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text)
        .map_err(|e| HarnessError::Setup(format!("{} is not JSON: {e}", path.display())))
}

/// What the stack gives a function, by the names in `cdk/contract.json`: its binary, and the
/// shared variables and the function's own, each looked up in `values` by its contract key.
pub fn contract_env(
    function_key: &str,
    values: &BTreeMap<&str, String>,
) -> Result<(String, BTreeMap<String, String>), HarnessError> {
    let contract = contract()?;
    let function = &contract["functions"][function_key];
    let binary = function["crate"]
        .as_str()
        .ok_or_else(|| {
            HarnessError::Setup(format!("contract.json has no crate for {function_key}"))
        })?
        .to_owned();
    let mut env = BTreeMap::new();
    for names in [&contract["sharedEnv"], &function["env"]] {
        let names = names.as_object().ok_or_else(|| {
            HarnessError::Setup("contract.json: env names are not an object".into())
        })?;
        for (key, name) in names {
            let value = values.get(key.as_str()).ok_or_else(|| {
                HarnessError::Setup(format!(
                    "contract.json gives {function_key} {name} ({key}); no value was given for it"
                ))
            })?;
            env.insert(name.as_str().unwrap_or_default().to_owned(), value.clone());
        }
    }
    Ok((binary, env))
}

/// What Lambda itself sets (and what the local world needs instead of AWS): the region, the
/// execution role's credentials (the access key names the function, which the SIR emulator
/// records as the caller), the log format, and the endpoints of moto and the SIR emulator.
pub fn lambda_env(
    access_key: &str,
    world: &World,
    sir: &SirEmulator,
    scratch: &Path,
) -> BTreeMap<String, String> {
    let no_file = scratch.join("no-aws-config").display().to_string();
    [
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", access_key.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local-world-secret".to_owned()),
        ("AWS_SESSION_TOKEN", "local-world-session".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
        ("AWS_ENDPOINT_URL", world.endpoint.clone()),
        ("AWS_ENDPOINT_URL_SECURITY_IR", sir.endpoint()),
        // Nothing from a developer's ~/.aws, no instance metadata.
        ("AWS_CONFIG_FILE", no_file.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE", no_file),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What a function answered to one invocation.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The response, or the error the function reported (`/error`), as JSON.
    pub outcome: Result<Value, Value>,
    /// From the event being handed out (`/next` answered) to the answer arriving.
    pub took: Duration,
}

#[derive(Default)]
struct RuntimeState {
    /// When the function first asked for an invocation: its init is over.
    first_next: Option<Instant>,
    /// Invocations waiting for their answer, by request id.
    waiting: HashMap<String, oneshot::Sender<Result<Value, Value>>>,
    init_error: Option<String>,
}

struct Runtime {
    state: Mutex<RuntimeState>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
}

/// A minimal Lambda Runtime API for one function: `/next` hands out the events given to
/// [`RuntimeApi::invoke`] one at a time, `/response` and `/error` answer them, `/init/error`
/// records a failed start.
pub struct RuntimeApi {
    address: String,
    runtime: Arc<Runtime>,
    queue: mpsc::UnboundedSender<(String, Value)>,
    next_id: Mutex<u64>,
    _server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<RuntimeState>) -> std::sync::MutexGuard<'_, RuntimeState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn next_invocation(State(runtime): State<Arc<Runtime>>) -> (StatusCode, HeaderMap, Bytes) {
    {
        let mut state = lock(&runtime.state);
        state.first_next.get_or_insert_with(Instant::now);
    }
    let next = runtime.events.lock().await.recv().await;
    let Some((request_id, event)) = next else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let deadline = SystemTime::now()
        .checked_add(Duration::from_secs(300))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:{REGION}:123456789012:function:profiled"),
    );
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, Bytes::from(event.to_string()))
}

fn answer(runtime: &Runtime, request_id: &str, outcome: Result<Value, Value>) {
    if let Some(sender) = lock(&runtime.state).waiting.remove(request_id) {
        // The invoker stopped waiting (timed out): nothing to tell.
        let _ = sender.send(outcome);
    }
}

fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn invocation_response(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answer(&runtime, &request_id, Ok(json_or_text(&body)));
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answer(&runtime, &request_id, Err(json_or_text(&body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(runtime): State<Arc<Runtime>>, body: Bytes) -> StatusCode {
    lock(&runtime.state).init_error = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Serves on a free loopback port.
    pub async fn start() -> Result<RuntimeApi, HarnessError> {
        let (queue, events) = mpsc::unbounded_channel();
        let runtime = Arc::new(Runtime {
            state: Mutex::new(RuntimeState::default()),
            events: tokio::sync::Mutex::new(events),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&runtime));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| HarnessError::Io("binding the Runtime API".into(), e))?;
        let address = listener
            .local_addr()
            .map_err(|e| HarnessError::Io("the Runtime API's address".into(), e))?
            .to_string();
        let server = tokio::spawn(async move {
            // Serving ends only with the process.
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            runtime,
            queue,
            next_id: Mutex::new(0),
            _server: server,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function (`host:port`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// When the function first asked for an invocation (its init is over), if it has.
    pub fn first_next(&self) -> Option<Instant> {
        lock(&self.runtime.state).first_next
    }

    /// Waits until the function asks for its first invocation; `None` after `timeout` or when
    /// it reported an init error.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Instant, HarnessError> {
        let until = Instant::now() + timeout;
        loop {
            {
                let state = lock(&self.runtime.state);
                if let Some(error) = &state.init_error {
                    return Err(HarnessError::Setup(format!("init failed: {error}")));
                }
                if let Some(at) = state.first_next {
                    return Ok(at);
                }
            }
            if Instant::now() >= until {
                return Err(HarnessError::Setup(
                    "the function never asked for an invocation".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Answered, HarnessError> {
        let request_id = {
            let mut next = self
                .next_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *next += 1;
            format!("00000000-0000-4000-8000-{:012}", *next)
        };
        let (sender, receiver) = oneshot::channel();
        lock(&self.runtime.state)
            .waiting
            .insert(request_id.clone(), sender);
        let handed = Instant::now();
        self.queue
            .send((request_id.clone(), event))
            .map_err(|_| HarnessError::Setup("the Runtime API has stopped".into()))?;
        let outcome = tokio::time::timeout(timeout, receiver)
            .await
            .map_err(|_| HarnessError::Setup(format!("invocation {request_id} timed out")))?
            .map_err(|_| HarnessError::Setup(format!("invocation {request_id} was dropped")))?;
        // The function was already waiting on `/next`: from handing the event out to the answer.
        let took = handed.elapsed();
        Ok(Answered { outcome, took })
    }
}

/// The peak resident set (`VmHWM`) of process `pid` so far, in KiB (Linux).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
