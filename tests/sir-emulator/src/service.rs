//! The emulated operations: each takes the validated input (labels, query, headers and body
//! merged into one JSON object, as the model names the members) and the caller's principal,
//! applies the [`Store`]'s rules and returns the output body the model describes. The human
//! actions run through the same validation and the same store, so they obey the same rules and
//! emit the same events.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::Error;
use crate::events::EventSink;
use crate::faults::Faults;
use crate::identity::principal_for;
use crate::model::ServiceModel;
use crate::store::{DEFAULT_PAGE_SIZE, Store};
use crate::types::IncidentResponder;
use crate::types::{
    CaseRecord, CaseUpdate, CommentRecord, NewCase, RecordedRequest, epoch_seconds, regions,
};
use crate::validate::validate;

/// Everything the server tasks and the [`crate::SirEmulator`] handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub model: ServiceModel,
    pub store: Mutex<Store>,
    pub events: EventSink,
    pub faults: Faults,
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// `http://127.0.0.1:<port>`, for the presigned URLs.
    pub base_url: String,
    pub account_id: String,
    /// The active membership's incident response team (GetMembership).
    pub incident_response_team: Vec<IncidentResponder>,
    /// IAM for the callers (none: every caller may do everything).
    pub authorizer: Option<crate::authorizer::Authorizer>,
}

fn seconds(at: &OffsetDateTime) -> Value {
    json!(epoch_seconds::to_f64(at))
}

fn string_member(input: &Value, name: &str) -> Result<String, Error> {
    input
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::field(
                name,
                format!(
                    "Value null at '{name}' failed to satisfy constraint: Member must not be null"
                ),
            )
        })
}

fn optional_string(input: &Value, name: &str) -> Option<String> {
    input.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn page_size(input: &Value) -> usize {
    input
        .get("maxResults")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
}

fn from_input<T: serde::de::DeserializeOwned>(input: &Value) -> Result<T, Error> {
    serde_json::from_value(input.clone()).map_err(|e| Error::Validation {
        message: format!("Cannot read the request: {e}"),
        reason: "CANNOT_PARSE",
        fields: Vec::new(),
    })
}

/// Inserts `value` under `key` unless it is `None`.
fn put(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value);
    }
}

fn get_case_output(case: &CaseRecord) -> Value {
    let attachments: Vec<Value> = case
        .attachments
        .iter()
        .map(|a| {
            json!({
                "attachmentId": a.attachment_id,
                "fileName": a.file_name,
                "attachmentStatus": a.attachment_status,
                "creator": a.creator,
                "createdDate": seconds(&a.created_date),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("title".into(), json!(case.title));
    out.insert("caseArn".into(), json!(case.case_arn));
    out.insert("description".into(), json!(case.description));
    out.insert("caseStatus".into(), json!(case.case_status));
    out.insert("engagementType".into(), json!(case.engagement_type));
    out.insert(
        "reportedIncidentStartDate".into(),
        seconds(&case.reported_incident_start_date),
    );
    put(
        &mut out,
        "actualIncidentStartDate",
        case.actual_incident_start_date.as_ref().map(seconds),
    );
    out.insert(
        "impactedAwsRegions".into(),
        regions::serialize(&case.impacted_aws_regions, serde_json::value::Serializer)
            .unwrap_or_default(),
    );
    out.insert(
        "threatActorIpAddresses".into(),
        json!(case.threat_actor_ip_addresses),
    );
    out.insert("pendingAction".into(), json!(case.pending_action));
    out.insert("impactedAccounts".into(), json!(case.impacted_accounts));
    out.insert("watchers".into(), json!(case.watchers));
    out.insert("createdDate".into(), seconds(&case.created_date));
    out.insert("lastUpdatedDate".into(), seconds(&case.last_updated_date));
    put(
        &mut out,
        "closureCode",
        case.closure_code.as_ref().map(|c| json!(c)),
    );
    out.insert("resolverType".into(), json!(case.resolver_type));
    out.insert("impactedServices".into(), json!(case.impacted_services));
    out.insert("caseAttachments".into(), json!(attachments));
    put(
        &mut out,
        "closedDate",
        case.closed_date.as_ref().map(seconds),
    );
    if !case.case_metadata.is_empty() {
        out.insert("caseMetadata".into(), json!(case.case_metadata));
    }
    Value::Object(out)
}

fn list_cases_item(case: &CaseRecord) -> Value {
    let mut item = Map::new();
    item.insert("caseId".into(), json!(case.case_id));
    item.insert("lastUpdatedDate".into(), seconds(&case.last_updated_date));
    item.insert("title".into(), json!(case.title));
    item.insert("caseArn".into(), json!(case.case_arn));
    item.insert("engagementType".into(), json!(case.engagement_type));
    item.insert("caseStatus".into(), json!(case.case_status));
    item.insert("createdDate".into(), seconds(&case.created_date));
    put(
        &mut item,
        "closedDate",
        case.closed_date.as_ref().map(seconds),
    );
    item.insert("resolverType".into(), json!(case.resolver_type));
    item.insert("pendingAction".into(), json!(case.pending_action));
    Value::Object(item)
}

fn comment_item(comment: &CommentRecord) -> Value {
    json!({
        "commentId": comment.comment_id,
        "createdDate": seconds(&comment.created_date),
        "lastUpdatedDate": seconds(&comment.last_updated_date),
        "creator": comment.creator,
        "lastUpdatedBy": comment.last_updated_by,
        "body": comment.body,
    })
}

fn with_next_token(mut output: Value, next: Option<String>) -> Value {
    if let Some(token) = next {
        output["nextToken"] = json!(token);
    }
    output
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn principal(&self, access_key_id: &str) -> String {
        principal_for(&self.account_id, access_key_id)
    }

    pub fn record_request(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    /// Validates `input` against the operation's input shape.
    pub fn validate(&self, input_shape: &str, input: &Value) -> Result<(), Error> {
        validate(&self.model, input_shape, input)
    }

    fn membership(&self, store: &Store) -> Value {
        json!({
            "membershipId": store.membership_id(),
            "accountId": store.account_id(),
            "region": store.region(),
            "membershipArn": store.membership_arn(),
            "membershipStatus": "Active",
        })
    }

    fn check_membership(&self, store: &Store, input: &Value) -> Result<(), Error> {
        let id = string_member(input, "membershipId")?;
        if id == store.membership_id() {
            Ok(())
        } else {
            Err(Error::NotFound {
                message: format!("Membership {id} was not found"),
            })
        }
    }

    /// Runs operation `operation` for `principal` on validated `input`.
    pub fn call(&self, operation: &str, input: &Value, principal: &str) -> Result<Value, Error> {
        let events: &EventSink = &self.events;
        let mut store = self.store();
        match operation {
            "CreateCase" => {
                let new: NewCase = from_input(input)?;
                let case = store.create_case(principal, new, events);
                Ok(json!({ "caseId": case.case_id }))
            }
            "GetCase" => {
                let case_id = string_member(input, "caseId")?;
                Ok(get_case_output(store.case(&case_id)?))
            }
            "ListCases" => {
                let token = optional_string(input, "nextToken");
                let total = store.case_count();
                let (cases, next) = store.list_cases(token.as_deref(), page_size(input))?;
                let items: Vec<Value> = cases.iter().map(list_cases_item).collect();
                Ok(with_next_token(
                    json!({ "items": items, "total": total }),
                    next,
                ))
            }
            "UpdateCase" => {
                let case_id = string_member(input, "caseId")?;
                let update: CaseUpdate = from_input(input)?;
                store.update_case(principal, &case_id, update, events)?;
                Ok(json!({}))
            }
            "UpdateCaseStatus" => {
                let case_id = string_member(input, "caseId")?;
                let status = string_member(input, "caseStatus")?;
                let status = store.update_status(principal, &case_id, &status, events)?;
                Ok(json!({ "caseStatus": status }))
            }
            "CloseCase" => {
                let case_id = string_member(input, "caseId")?;
                let closed = store.close_case(principal, &case_id, events)?;
                Ok(json!({ "caseStatus": "Closed", "closedDate": seconds(&closed) }))
            }
            "UpdateResolverType" => {
                let case_id = string_member(input, "caseId")?;
                let resolver = string_member(input, "resolverType")?;
                let case = store.update_resolver_type(principal, &case_id, &resolver, events)?;
                Ok(json!({
                    "caseId": case.case_id,
                    "caseStatus": case.case_status,
                    "resolverType": case.resolver_type,
                }))
            }
            "ListComments" => {
                let case_id = string_member(input, "caseId")?;
                let token = optional_string(input, "nextToken");
                let total = store.case(&case_id)?.comments.len();
                let (comments, next) =
                    store.list_comments(&case_id, token.as_deref(), page_size(input))?;
                let items: Vec<Value> = comments.iter().map(comment_item).collect();
                Ok(with_next_token(
                    json!({ "items": items, "total": total }),
                    next,
                ))
            }
            "CreateCaseComment" => {
                let case_id = string_member(input, "caseId")?;
                let body = string_member(input, "body")?;
                let token = optional_string(input, "clientToken");
                let comment_id = store.add_comment(principal, &case_id, &body, token, events)?;
                Ok(json!({ "commentId": comment_id }))
            }
            "UpdateCaseComment" => {
                let case_id = string_member(input, "caseId")?;
                let comment_id = string_member(input, "commentId")?;
                let body = string_member(input, "body")?;
                store.edit_comment(principal, &case_id, &comment_id, &body, events)?;
                Ok(json!({ "commentId": comment_id, "body": body }))
            }
            "GetCaseAttachmentUploadUrl" => {
                let case_id = string_member(input, "caseId")?;
                let file_name = string_member(input, "fileName")?;
                let length = input
                    .get("contentLength")
                    .and_then(Value::as_u64)
                    .unwrap_or_default();
                let token = optional_string(input, "clientToken");
                let upload =
                    store.request_upload(principal, &case_id, &file_name, length, token)?;
                let query = store.presigned_query(&upload, "PutObject");
                Ok(
                    json!({ "attachmentPresignedUrl": format!("{}/_uploads/{upload}?{query}", self.base_url) }),
                )
            }
            "GetCaseAttachmentDownloadUrl" => {
                let case_id = string_member(input, "caseId")?;
                let attachment_id = string_member(input, "attachmentId")?;
                let download = store.request_download(&case_id, &attachment_id)?;
                let query = store.presigned_query(&download, "GetObject");
                Ok(
                    json!({ "attachmentPresignedUrl": format!("{}/_downloads/{download}?{query}", self.base_url) }),
                )
            }
            "ListCaseEdits" => {
                let case_id = string_member(input, "caseId")?;
                let token = optional_string(input, "nextToken");
                let ((edits, next), total) =
                    store.list_edits(&case_id, token.as_deref(), page_size(input))?;
                let items: Vec<Value> = edits
                    .iter()
                    .map(|edit| {
                        json!({
                            "eventTimestamp": seconds(&edit.at),
                            "principal": edit.principal,
                            "action": edit.action,
                            "message": edit.message,
                        })
                    })
                    .collect();
                Ok(with_next_token(
                    json!({ "items": items, "total": total }),
                    next,
                ))
            }
            "ListInvestigations" => {
                let case_id = string_member(input, "caseId")?;
                store.case(&case_id)?;
                Ok(json!({ "investigationActions": [] }))
            }
            "SendFeedback" => {
                let case_id = string_member(input, "caseId")?;
                store.case(&case_id)?;
                let result_id = string_member(input, "resultId")?;
                Err(Error::NotFound {
                    message: format!("Investigation result {result_id} was not found"),
                })
            }
            "ListMemberships" => Ok(json!({ "items": [self.membership(&store)] })),
            "GetMembership" => {
                self.check_membership(&store, input)?;
                let mut membership = self.membership(&store);
                membership["membershipName"] = json!("sir-emulator");
                membership["customerType"] = json!("Standalone");
                membership["numberOfAccountsCovered"] = json!(1);
                membership["incidentResponseTeam"] = json!(self.incident_response_team);
                membership["membershipActivationTimestamp"] = json!(0.0);
                membership["optInFeatures"] =
                    json!([{ "featureName": "Triage", "isEnabled": false }]);
                Ok(membership)
            }
            "GetFindingMetrics" => {
                self.check_membership(&store, input)?;
                let names = [
                    "findingsIngestedSecurityHub",
                    "findingsIngestedGuardDuty",
                    "findingsTriaged",
                    "findingsTriagedFalsePositive",
                    "findingsInvestigated",
                    "findingsInvestigatedFalsePositive",
                    "findingsEscalated",
                    "findingsEscalatedFalsePositive",
                    "findingsTruePositive",
                    "findingsInvestigatedInProgress",
                    "findingsEscalatedInProgress",
                ];
                Ok(Value::Object(
                    names.iter().map(|n| ((*n).to_owned(), json!(0))).collect(),
                ))
            }
            "ListTagsForResource" => {
                let arn = string_member(input, "resourceArn")?;
                Ok(json!({ "tags": store.tags_mut(&arn)?.clone() }))
            }
            "TagResource" => {
                let arn = string_member(input, "resourceArn")?;
                let tags = store.tags_mut(&arn)?;
                if let Some(new) = input.get("tags").and_then(Value::as_object) {
                    for (key, value) in new {
                        tags.insert(key.clone(), value.as_str().unwrap_or_default().to_owned());
                    }
                }
                Ok(json!({}))
            }
            "UntagResource" => {
                let arn = string_member(input, "resourceArn")?;
                let tags = store.tags_mut(&arn)?;
                for key in input
                    .get("tagKeys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    tags.remove(key);
                }
                Ok(json!({}))
            }
            other => Err(Error::Validation {
                message: format!("{other} is not emulated"),
                reason: "UNKNOWN_OPERATION",
                fields: Vec::new(),
            }),
        }
    }

    /// A human action: validated like the API call `operation`, then run as `access_key_id`.
    pub fn act(&self, access_key_id: &str, operation: &str, input: &Value) -> Result<Value, Error> {
        let shape = self
            .model
            .operations
            .get(operation)
            .and_then(|op| op.input.clone())
            .ok_or_else(|| Error::Internal {
                message: format!("the model has no operation {operation}"),
            })?;
        self.validate(&shape, input)?;
        self.call(operation, input, &self.principal(access_key_id))
    }
}
