//! Emulator of AWS Security Incident Response (`security-ir` 2018-05-10, restJson1) for the local
//! world (DESIGN §7, §11): an HTTP server on `127.0.0.1` that the unmodified `aws-sdk-securityir`
//! client talks to, plus human actions and state reads for tests, and an admin HTTP API for tools
//! in other languages. [`SirEmulator::in_process`] runs the same state and router without a
//! socket or a task: a transport hands requests to [`SirEmulator::router`] and the caller takes
//! the native events ([`SirEmulator::take_events`]).
//!
//! # What it does like the service
//! - Routes by method and the model's `requestUri`; binds members to labels, query, headers and
//!   body as the model says; timestamps are epoch seconds in JSON bodies (restJson1's default; the
//!   model sets no `timestampFormat`), RFC 3339 in query strings; answers with the model's
//!   success code (e.g. 201 for CreateCase).
//! - Validates every request against the botocore model read at start-up (required, types, enum,
//!   length, list/map size, numeric range, pattern matched against the whole value) and answers
//!   `ValidationException` (400, `reason`, `fieldList`). Every pattern of the 2018-05-10 model
//!   compiles in `regex`, so none is skipped (one that did not would be logged and not enforced).
//!   Every error answers with the status of its model error shape and `x-amzn-errortype`:
//!   Validation 400, AccessDenied 403, ResourceNotFound 404, Conflict 409, ServiceQuotaExceeded
//!   402, InvalidToken 423, Throttling 429 (+ `Retry-After`), InternalServer 500.
//! - Status graph: UpdateCaseStatus only to the four self-managed statuses and only along
//!   Submitted/Acknowledged→Detection and Analysis, D&A↔Containment…, D&A↔Post-incident…,
//!   Containment…↔Post-incident… (a move to the current status is refused too); anything else is a
//!   `ValidationException` (reason `OTHER`, field `caseStatus`). CloseCase from any status.
//!   `Acknowledged`/`Ready to Close` are set only by AWS: [`SirEmulator::aws_set_status`].
//! - A closed case cannot be changed by anything: UpdateCase, UpdateCaseStatus, CloseCase again,
//!   UpdateResolverType, CreateCaseComment, UpdateCaseComment and GetCaseAttachmentUploadUrl answer
//!   `ConflictException` (409, `resourceType` `case`), the state-conflict error of the model.
//!   Reads (GetCase, ListComments, GetCaseAttachmentDownloadUrl) still work.
//! - CloseCase records `closureCode` [`CLOSURE_CODE`] (`Investigation Completed`) and
//!   `closedDate`; `closureCode` is read-only (no input sets it).
//! - `clientToken` makes CreateCase (per caller), CreateCaseComment (per caller and case) and
//!   GetCaseAttachmentUploadUrl (per caller and case) idempotent: same token, same id, no second
//!   record and no second event; CreateCaseComment with a used token and another body is a 409
//!   `ConflictException`, as AWS answers an idempotency token reused with other parameters.
//! - Ids: cases are 10-digit numbers (each emulator starts at its own random number), comments 6
//!   digits, attachments UUIDs, as the model's patterns say. Lists page with `nextToken` (opaque;
//!   one not handed out → `InvalidTokenException`) and `maxResults` (1–25, default 10), oldest
//!   first, with `total`.
//! - Attachments: GetCaseAttachmentUploadUrl answers `http://127.0.0.1:<port>/_uploads/<token>`
//!   with S3's SigV4 query (`?X-Amz-Algorithm=…&X-Amz-Credential=…&X-Amz-Signature=…`, as a real
//!   presigned URL carries, so tests can prove it never reaches a log or an error)
//!   and adds a `Pending` attachment (a 51st one → `ServiceQuotaExceededException`); a PUT of exactly
//!   `contentLength` bytes there makes it `Verified` (wrong length → 400, an unknown, used or
//!   closed-case URL → 403, no `Content-Length` header → 411 `MissingContentLength`, a chunked
//!   body → 501 `NotImplemented`, as S3, with S3-style XML errors); GetCaseAttachmentDownloadUrl answers
//!   `http://127.0.0.1:<port>/_downloads/<token>?X-Amz-…`, which serves the bytes. A `Pending` attachment
//!   refuses GetCaseAttachmentDownloadUrl with `ConflictException` (`resourceType` `attachment`).
//! - Identity: the access key id of the SigV4 `Authorization` header, recorded as
//!   [`principal_for`] `arn:aws:iam::<account>:user/<AKID>` in `creator`, `lastUpdatedBy`,
//!   `createdBy`, the events and ListCaseEdits. No `Authorization` header (or one that is not a
//!   SigV4 header scoped to `security-ir`) → `AccessDeniedException` 403.
//! - IAM, when [`SirEmulatorConfig::authorizer`] is set (the local world's IAM,
//!   `tests/local_iam.py`): every call is first authorised as `security-ir:<Operation>` on the
//!   resource the Service Authorization Reference names (`case/<caseId>`, `membership/<id>`, the
//!   tagging calls' `resourceArn`, `case/*` for CreateCase, `*` for the list calls), plus
//!   `TagResource` for a CreateCase with tags; a refusal is `AccessDeniedException` 403 with
//!   IAM's message, before the request is validated.
//! - Native events (source `aws.security-ir`, `resources` [case ARN]) on the configured bus of the
//!   configured EventBridge endpoint, for API calls and human actions alike: `Case Created`
//!   (`createdBy`), `Case Updated` (`updatedBy`; UpdateCase, UpdateCaseStatus,
//!   UpdateResolverType, a completed attachment upload, AWS status changes by `AWS Responder`),
//!   `Case Comment Added` (`createdBy`), `Case Comment Updated` (`updatedBy`), `Case Closed`
//!   (`updatedBy`). A failed publish does not fail the call: it is logged and counted in
//!   [`EventStats::failed`].
//! - Also emulated: ListCaseEdits, UpdateResolverType, ListMemberships and GetMembership (one
//!   `Active` membership `m-<account id>`), ListInvestigations (always empty), GetFindingMetrics
//!   (zeros), Tag/Untag/ListTagsForResource on case and membership ARNs. Other operations
//!   (membership create/update/cancel, BatchGetMemberAccountDetails) answer `ValidationException`
//!   with reason `UNKNOWN_OPERATION`; unknown paths `UnknownOperationException` 404.
//!
//! # Knowingly less strict than the service
//! SigV4 signatures, dates and credential regions are not verified; without an authorizer there
//! is no IAM (callers the authorizer does not know are allowed everything). Presigned
//! URLs never expire (but an upload URL works once) and do not match the model's `Url` pattern
//! (a loopback host has no top-level domain). A `clientToken` of CreateCase or
//! GetCaseAttachmentUploadUrl reused with different parameters returns the first id instead of
//! an error, and tokens never expire. Anyone may edit anyone's
//! comment. UpdateCase with no changes still succeeds and emits `Case Updated`. `resolverType`
//! `AWS` changes nothing about what the customer may do. No rate limits unless injected.
//! `reportedIncidentStartDate` may be in the future. Human [`SirEmulator::create_case`] is not
//! validated (the other human actions are). Attachments become `Verified` as soon as uploaded.
//!
//! # Admin API (JSON; errors like the API's: `x-amzn-errortype` and `{"message": …}`)
//! `caller` (an access key id) defaults to `human`. Case-changing routes answer the case record.
//! - `GET /_emulator/cases` → `[CaseRecord]`; `POST /_emulator/cases` `{caller?, …NewCase}` → 201 record
//! - `GET /_emulator/cases/{caseId}` → record; `PATCH` `{caller?, …CaseUpdate}`; `DELETE` → 204
//!   (the case can no longer be read)
//! - `POST /_emulator/cases/{caseId}/created-date` `{createdDate}` (epoch seconds): a case older
//!   than the installation (SIR itself never changes it)
//! - `POST /_emulator/cases/{caseId}/status` `{caller?, caseStatus}` (the API's graph);
//!   `POST …/aws-status` `{caseStatus}` (any status but Closed, as AWS); `POST …/close` `{caller?}`
//! - `POST /_emulator/cases/{caseId}/comments` `{caller?, body}` → 201 `{commentId}`;
//!   `PUT …/comments/{commentId}` `{caller?, body}`
//! - `POST /_emulator/cases/{caseId}/attachments?fileName=…&caller=…` raw bytes → 201
//!   `{attachmentId}`; `GET …/attachments/{attachmentId}` → the bytes
//! - `GET /_emulator/requests` → `[RecordedRequest]`; `GET /_emulator/events` →
//!   `{stats: EventStats, events: [NativeEvent]}`
//! - `GET /_emulator/faults` → `FaultSettings`; `PUT` `FaultSettings` (missing fields reset;
//!   `failAfter: {operation, status, calls}` fails a caller's next calls after its `operation`
//!   succeeded, `refusals: {operation: message}` answers 400 `ValidationException`,
//!   `loseAnswers: {operation, status, calls}` applies the next calls of `operation` and answers
//!   them with `status`, `hangAfterApplying: [operation]` applies the next call of each and
//!   never answers it);
//!   `DELETE` clears
//!
//! # Time
//! Every date the emulator stamps (cases, comments, attachments, the default
//! `reportedIncidentStartDate`, a presigned URL's `X-Amz-Date`) and its wait for event publishes
//! are the clock crate's: the system's, or a simulation's virtual time under a paused runtime
//! ([`clock::simulate_from`]).

mod admin;
mod authorizer;
mod error;
mod events;
mod faults;
mod identity;
mod model;
mod service;
mod store;
mod types;
mod validate;
mod wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use serde_json::{Value, json};

pub use error::{Error, FieldError};
pub use events::{EVENT_SOURCE, EventEntry};
pub use faults::{FailAfter, FaultSettings, Faults};
pub use identity::{AWS_RESPONDER, principal_for};
pub use store::CLOSURE_CODE;
pub use types::{
    AttachmentRecord, CaseMetadataEntry, CaseRecord, CaseUpdate, CommentRecord, EventStats,
    IncidentResponder, NativeEvent, NewCase, RecordedRequest, ThreatActorIp, Watcher,
};

use crate::events::EventSink;
use crate::model::ServiceModel;
use crate::service::Shared;
use crate::store::Store;

/// Largest upload body: the model's `ContentLength` max (100 MiB) and some slack.
const MAX_UPLOAD_BODY: usize = 101 * 1024 * 1024;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct SirEmulatorConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// EventBridge endpoint (moto) for native events; `None` keeps them only in memory.
    pub events_endpoint: Option<String>,
    /// Bus the native events go to.
    pub event_bus_name: String,
    /// The botocore model file (`service-2.json` or `.json.gz`); `None` finds it under the
    /// workspace's `.venv/lib/python*/site-packages/botocore/data/security-ir/2018-05-10/`.
    pub model_path: Option<PathBuf>,
    pub region: String,
    pub account_id: String,
    /// The team GetMembership reports for the one active membership.
    pub incident_response_team: Vec<IncidentResponder>,
    /// The local world's IAM (`POST` URL of its authorize route): when set, every call is
    /// authorised there first, as IAM would, and refused with `AccessDeniedException` (403).
    pub authorizer: Option<String>,
}

impl Default for SirEmulatorConfig {
    fn default() -> SirEmulatorConfig {
        SirEmulatorConfig {
            port: 0,
            events_endpoint: None,
            event_bus_name: "default".to_owned(),
            model_path: None,
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            incident_response_team: vec![
                IncidentResponder {
                    name: "Riley Responder".to_owned(),
                    job_title: "Incident Lead".to_owned(),
                    email: "riley.responder@example.com".to_owned(),
                },
                IncidentResponder {
                    name: "Sam Analyst".to_owned(),
                    job_title: "Security Analyst".to_owned(),
                    email: "sam.analyst@example.com".to_owned(),
                },
            ],
            authorizer: None,
        }
    }
}

/// The emulator's origin in process: `.invalid` never resolves, so nothing can reach it over a
/// socket.
pub const IN_PROCESS_URL: &str = "http://sir.in-process.invalid";

/// An emulator: a server on `127.0.0.1` ([`SirEmulator::start`]) or in process
/// ([`SirEmulator::in_process`]); a server stops when this is dropped.
#[derive(Debug)]
pub struct SirEmulator {
    shared: Arc<Shared>,
    /// 0 in process.
    port: u16,
    /// `None` in process.
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SirEmulator {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

fn comment_id_of(output: &Value) -> String {
    output
        .get("commentId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl SirEmulator {
    /// Reads the model, binds 127.0.0.1:`port` and serves in a tokio task.
    pub async fn start(config: SirEmulatorConfig) -> Result<SirEmulator, Error> {
        let model = load_model(&config)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| Error::Bind {
                port: config.port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| Error::Bind {
                port: config.port,
                source,
            })?
            .port();
        let events = EventSink::start(
            config.events_endpoint.as_deref(),
            &config.event_bus_name,
            &config.region,
        );
        let shared = shared(model, config, format!("http://127.0.0.1:{port}"), events);
        let router = router(&shared);
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the SIR emulator's server stopped");
            }
        });
        tracing::info!(port, "SIR emulator listening");
        Ok(SirEmulator {
            shared,
            port,
            server: Some(server),
        })
    }

    /// The same emulator without a socket or a task: its API and presigned URLs
    /// ([`IN_PROCESS_URL`]) answer through [`SirEmulator::router`], called in the caller's task,
    /// and native events wait in [`SirEmulator::take_events`] as the PutEvents entries they
    /// would have been (`config.port` and `config.events_endpoint` are not used; an
    /// `authorizer` is still asked over HTTP). For a deterministic simulation on a paused clock.
    pub fn in_process(config: SirEmulatorConfig) -> Result<SirEmulator, Error> {
        let model = load_model(&config)?;
        let events = EventSink::in_process(&config.event_bus_name);
        Ok(SirEmulator {
            shared: shared(model, config, IN_PROCESS_URL.to_owned(), events),
            port: 0,
            server: None,
        })
    }

    /// What the server serves (API, `/_uploads`, `/_downloads`, `/_emulator`): in process, a
    /// transport hands it the requests for [`SirEmulator::endpoint`].
    pub fn router(&self) -> Router {
        router(&self.shared)
    }

    /// In process: the native events emitted since the last call, oldest first, as the
    /// PutEvents entries the server would have sent; the caller delivers them. Empty for a
    /// server (its publisher sends them).
    pub fn take_events(&self) -> Vec<EventEntry> {
        self.shared.events.take_pending()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The principal recorded for access key `access_key_id` in this emulator's account.
    pub fn principal(&self, access_key_id: &str) -> String {
        self.shared.principal(access_key_id)
    }

    /// A responder creates a case (not validated against the model; see the crate docs).
    pub fn create_case(&self, caller: &str, new: NewCase) -> CaseRecord {
        let principal = self.shared.principal(caller);
        self.shared
            .store()
            .create_case(&principal, new, &self.shared.events)
    }

    /// A responder comments; answers the comment id.
    pub fn add_comment(&self, caller: &str, case_id: &str, body: &str) -> Result<String, Error> {
        let output = self.shared.act(
            caller,
            "CreateCaseComment",
            &json!({ "caseId": case_id, "body": body }),
        )?;
        Ok(comment_id_of(&output))
    }

    pub fn edit_comment(
        &self,
        caller: &str,
        case_id: &str,
        comment_id: &str,
        body: &str,
    ) -> Result<(), Error> {
        self.shared.act(
            caller,
            "UpdateCaseComment",
            &json!({ "caseId": case_id, "commentId": comment_id, "body": body }),
        )?;
        Ok(())
    }

    /// UpdateCaseStatus as a responder: the same graph rules as the API.
    pub fn set_status(&self, caller: &str, case_id: &str, status: &str) -> Result<(), Error> {
        self.shared.act(
            caller,
            "UpdateCaseStatus",
            &json!({ "caseId": case_id, "caseStatus": status }),
        )?;
        Ok(())
    }

    /// AWS changes the status (e.g. to `Acknowledged` or `Ready to Close`), ignoring the graph;
    /// recorded as [`AWS_RESPONDER`]. A closed case still cannot change.
    pub fn aws_set_status(&self, case_id: &str, status: &str) -> Result<(), Error> {
        self.shared
            .store()
            .aws_set_status(case_id, status, &self.shared.events)
    }

    pub fn close_case(&self, caller: &str, case_id: &str) -> Result<(), Error> {
        self.shared
            .act(caller, "CloseCase", &json!({ "caseId": case_id }))?;
        Ok(())
    }

    /// UpdateCase as a responder.
    pub fn update_case(
        &self,
        caller: &str,
        case_id: &str,
        update: CaseUpdate,
    ) -> Result<(), Error> {
        let mut input = serde_json::to_value(update).map_err(|e| Error::Internal {
            message: format!("cannot serialize the update: {e}"),
        })?;
        input["caseId"] = json!(case_id);
        self.shared.act(caller, "UpdateCase", &input)?;
        Ok(())
    }

    /// Uploads a file the way the console does (upload URL, then PUT); answers the attachment id.
    pub fn upload_attachment(
        &self,
        caller: &str,
        case_id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        self.shared
            .upload_attachment(caller, case_id, file_name, bytes)
    }

    /// Sets the case's `createdDate` (a case older than the integration's installation).
    pub fn backdate_case(&self, case_id: &str, created: time::OffsetDateTime) -> Result<(), Error> {
        self.shared.store().backdate_case(case_id, created)
    }

    /// The case can no longer be read (GetCase → 404), as after a deletion on AWS's side.
    pub fn delete_case(&self, case_id: &str) {
        self.shared.store().delete_case(case_id);
    }

    pub fn case(&self, case_id: &str) -> Option<CaseRecord> {
        self.shared.store().case(case_id).ok().cloned()
    }

    /// Every case, oldest first.
    pub fn cases(&self) -> Vec<CaseRecord> {
        self.shared.store().cases()
    }

    /// Every SIR API request answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Every native event emitted so far, in order.
    pub fn events(&self) -> Vec<NativeEvent> {
        self.shared.events.events()
    }

    pub fn event_stats(&self) -> EventStats {
        self.shared.events.stats()
    }

    /// Waits until every emitted event was published or failed (true), or `timeout` (false).
    pub async fn events_settled(&self, timeout: Duration) -> bool {
        self.shared.events.settled(timeout).await
    }
}

fn load_model(config: &SirEmulatorConfig) -> Result<ServiceModel, Error> {
    let model = ServiceModel::load(config.model_path.as_deref())?;
    for (shape, pattern) in model.skipped_patterns() {
        tracing::warn!(
            shape,
            pattern,
            "model pattern not supported by `regex`; not enforced"
        );
    }
    Ok(model)
}

fn shared(
    model: ServiceModel,
    config: SirEmulatorConfig,
    base_url: String,
    events: EventSink,
) -> Arc<Shared> {
    Arc::new(Shared {
        model,
        store: Mutex::new(Store::new(&config.account_id, &config.region)),
        events,
        faults: Faults::default(),
        requests: Mutex::new(Vec::new()),
        base_url,
        authorizer: config
            .authorizer
            .as_deref()
            .map(|url| authorizer::Authorizer::new(url, &config.region, &config.account_id)),
        account_id: config.account_id,
        incident_response_team: config.incident_response_team,
    })
}

fn router(shared: &Arc<Shared>) -> Router {
    Router::new()
        .route("/_uploads/{token}", put(wire::upload))
        .route("/_downloads/{token}", get(wire::download))
        .nest("/_emulator", admin::router())
        .fallback(wire::api)
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY))
        .with_state(Arc::clone(shared))
}

impl Shared {
    /// The console's upload: GetCaseAttachmentUploadUrl's rules, then the PUT.
    pub(crate) fn upload_attachment(
        &self,
        caller: &str,
        case_id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let output = self.act(
            caller,
            "GetCaseAttachmentUploadUrl",
            &json!({ "caseId": case_id, "fileName": file_name, "contentLength": bytes.len() }),
        )?;
        let url = output
            .get("attachmentPresignedUrl")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = url.split('?').next().unwrap_or_default();
        let token = path.rsplit('/').next().unwrap_or_default();
        self.store()
            .complete_upload(token, bytes, &self.events)
            .map_err(|refusal| Error::Internal {
                message: format!("the upload was refused: {refusal:?}"),
            })
    }
}
