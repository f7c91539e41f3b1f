//! The REST API handlers, the same for v3 and v2 except for how bodies are written, and for
//! Cloud and Data Center except where the crate documentation's "Data Center mode" says.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value, json};

use crate::adf;
use crate::custom_fields::CustomField;
use crate::emulator::{Deployment, Shared};
use crate::http::media;
use crate::http::render::{FieldSelection, Renderer};
use crate::http::{ApiVersion, Caller, jira_message, mime_type_for, parse_json};
use crate::jql;
use crate::model::IssueRecord;
use crate::store::{
    IssueChanges, LabelChange, NewIssueFields, PROJECT_ID, Store, check_label, check_summary,
};
use crate::{Error, lock};

/// Comments per page unless `maxResults` says otherwise.
const COMMENTS_DEFAULT_PAGE: usize = 50;
/// Largest comment page served (Cloud allows more; a smaller cap makes clients page).
const COMMENTS_MAX_PAGE: usize = 100;
const SEARCH_DEFAULT_PAGE: usize = 50;
/// Cloud's cap on `/search/jql` pages that return fields.
const SEARCH_MAX_PAGE_WITH_FIELDS: usize = 100;
/// Cloud's cap on `/search/jql` pages of ids only.
const SEARCH_MAX_PAGE_IDS_ONLY: usize = 5000;
const USERS_DEFAULT_PAGE: usize = 50;
const USERS_MAX_PAGE: usize = 1000;
/// Data Center's cap on `/search` pages (`jira.search.views.default.max`).
const DATA_CENTER_SEARCH_MAX_PAGE: usize = 1000;

type Params = Query<Vec<(String, String)>>;

/// Cloud's REST API (the same under v3 and v2).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    common_routes()
        .route("/attachment/content/{id}", get(attachment_content))
        .route("/search/jql", get(search_by_query).post(search_by_body))
        .route("/search", get(search_gone).post(search_gone))
}

/// Data Center's REST v2: `/search` pages by `startAt`; no `/search/jql`, no
/// `/attachment/content` (files download from `/secure/attachment`).
pub(crate) fn data_center_routes() -> Router<Arc<Shared>> {
    common_routes().route(
        "/search",
        get(data_center_search_by_query).post(data_center_search_by_body),
    )
}

/// Data Center's attachment downloads, on the site itself with the REST API's auth.
pub(crate) fn secure_attachment_routes() -> Router<Arc<Shared>> {
    Router::new().route("/secure/attachment/{id}/{filename}", get(secure_attachment))
}

fn common_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/serverInfo", get(server_info))
        .route("/field", get(list_fields))
        .route("/myself", get(myself))
        .route("/user", get(user))
        .route("/user/search", get(user_search))
        .route("/issue", post(create_issue))
        .route(
            "/issue/{key}",
            get(get_issue).put(edit_issue).delete(delete_issue),
        )
        .route(
            "/issue/{key}/transitions",
            get(list_transitions).post(make_transition),
        )
        .route("/issue/{key}/comment", get(list_comments).post(add_comment))
        .route("/comment/{id}/properties", get(list_comment_properties))
        .route(
            "/comment/{id}/properties/{property}",
            get(get_comment_property)
                .put(set_comment_property)
                .delete(delete_comment_property),
        )
        .route(
            "/issue/{key}/comment/{id}",
            get(get_comment).put(edit_comment).delete(delete_comment),
        )
        .route(
            "/issue/{key}/watchers",
            get(list_watchers).post(add_watcher).delete(remove_watcher),
        )
        .route(
            "/issue/{key}/attachments",
            post(upload_attachments).layer(DefaultBodyLimit::disable()),
        )
        .route("/issue/{key}/properties", get(list_properties))
        .route(
            "/issue/{key}/properties/{property}",
            get(get_property).put(set_property).delete(delete_property),
        )
        .route(
            "/attachment/{id}",
            get(attachment_metadata).delete(delete_attachment),
        )
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Every value of a parameter that may repeat or be comma-separated.
fn list_param(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(key, _)| key == name)
        .flat_map(|(_, value)| value.split(','))
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

fn number_param(params: &[(String, String)], name: &str) -> Result<Option<usize>, Error> {
    param(params, name)
        .map(|value| {
            value.parse::<usize>().map_err(|_| {
                Error::bad_request(format!(
                    "The '{name}' parameter must be a non-negative number."
                ))
            })
        })
        .transpose()
}

fn renderer<'a>(
    store: &'a Store,
    shared: &'a Shared,
    version: ApiVersion,
    caller: &'a Caller,
) -> Renderer<'a> {
    Renderer {
        store,
        base_url: &shared.base_url,
        version,
        caller: &caller.account_id,
    }
}

/// Field errors gathered over a whole request, answered together as Jira does.
#[derive(Default)]
struct FieldErrors {
    messages: Vec<String>,
    errors: BTreeMap<String, String>,
}

impl FieldErrors {
    fn check<T>(&mut self, outcome: Result<T, Error>) -> Option<T> {
        match outcome {
            Ok(value) => Some(value),
            Err(Error::Validation { messages, errors }) => {
                self.messages.extend(messages);
                self.errors.extend(errors);
                None
            }
            Err(other) => {
                self.messages.push(other.to_string());
                None
            }
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.messages.is_empty() && self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation {
                messages: self.messages,
                errors: self.errors,
            })
        }
    }
}

fn cannot_be_set(field: &str) -> Error {
    Error::field(
        field,
        format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."),
    )
}

/// A description or comment body as sent: its document and, in Data Center, the wiki text it
/// was read from (kept as written).
type TextIn = (Value, Option<String>);

/// A string body: plain text in Cloud's v2, wiki markup in Data Center.
fn text_in(deployment: Deployment, text: &str) -> TextIn {
    match deployment {
        Deployment::Cloud => (adf::from_plain_text(text), None),
        Deployment::DataCenter => (crate::wiki::to_document(text), Some(text.to_owned())),
    }
}

/// A description as sent: ADF in v3, a string in v2 (wiki markup in Data Center); `None`
/// clears it.
fn description_in(
    deployment: Deployment,
    version: ApiVersion,
    value: &Value,
) -> Result<Option<TextIn>, Error> {
    match version {
        ApiVersion::V3 => adf::optional_document(value)
            .map(|document| document.map(|document| (document, None)))
            .map_err(|()| Error::field("description", adf::NOT_A_DOCUMENT)),
        ApiVersion::V2 => match value {
            Value::Null => Ok(None),
            Value::String(text) => {
                let (document, wiki) = text_in(deployment, text);
                Ok(adf::non_empty(document).map(|document| (document, wiki)))
            }
            _ => Err(Error::field(
                "description",
                "Operation value must be a string",
            )),
        },
    }
}

/// A comment body as sent: ADF in v3, a string in v2 (wiki markup in Data Center); never empty.
fn comment_body_in(
    deployment: Deployment,
    version: ApiVersion,
    request: &Value,
) -> Result<TextIn, Error> {
    let empty = || Error::field("comment", "Comment body can not be empty!");
    let invalid = || Error::field("comment", "Comment body is not valid!");
    let body = request.get("body").unwrap_or(&Value::Null);
    let (document, wiki) = match (version, body) {
        (_, Value::Null) => return Err(empty()),
        (ApiVersion::V3, document) if adf::is_document(document) => (document.clone(), None),
        (ApiVersion::V2, Value::String(text)) => text_in(deployment, text),
        _ => return Err(invalid()),
    };
    if adf::to_plain_text(&document).trim().is_empty() {
        return Err(empty());
    }
    Ok((document, wiki))
}

fn labels_in(value: &Value) -> Result<Vec<String>, Error> {
    let labels = value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| Error::field("labels", "Labels must be a list of strings."))?;
    labels.iter().try_for_each(|label| check_label(label))?;
    Ok(labels)
}

fn string_in(field: &str, value: &Value) -> Result<String, Error> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::field(field, "Operation value must be a string"))
}

/// An id given as a JSON string or number.
fn id_in(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

async fn server_info(State(shared): State<Arc<Shared>>) -> Json<Value> {
    if shared.deployment == Deployment::DataCenter {
        // Data Center and Server both answer "Server".
        return Json(json!({
            "baseUrl": shared.base_url,
            "version": "10.3.1",
            "versionNumbers": [10, 3, 1],
            "deploymentType": "Server",
            "buildNumber": 10_030_001,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "databaseBuildNumber": 10_030_001,
            "serverTime": crate::model::jira_timestamp(crate::now_utc()),
            "scmInfo": "jira-emulator",
            "serverTitle": "Jira",
        }));
    }
    Json(json!({
        "baseUrl": shared.base_url,
        "displayUrl": shared.base_url,
        "version": "1001.0.0-SNAPSHOT",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100_289,
        "buildDate": "2025-01-01T00:00:00.000+0000",
        "serverTime": crate::model::jira_timestamp(crate::now_utc()),
        "scmInfo": "jira-emulator",
        "serverTitle": "Jira",
        "defaultLocale": {"locale": "en_US"},
        "serverTimeZone": "Etc/UTC",
    }))
}

async fn myself(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    let store = lock(&shared.store);
    let renderer = renderer(&store, &shared, version, &caller);
    let own_email = store
        .user(&caller.account_id)
        .and_then(|user| user.email.clone());
    Json(renderer.myself(own_email.as_deref()))
}

async fn user(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Query(params): Params,
) -> Result<Response, Error> {
    if shared.deployment == Deployment::DataCenter {
        return data_center_user(&shared, &params);
    }
    if param(&params, "username").is_some() || param(&params, "key").is_some() {
        return Err(Error::bad_request(
            "The query parameters 'username' and 'key' are not supported in GDPR strict mode.",
        ));
    }
    let account_id = param(&params, "accountId")
        .ok_or_else(|| Error::bad_request("The query parameter 'accountId' is required."))?;
    let store = lock(&shared.store);
    store
        .user(account_id)
        .ok_or_else(|| Error::UserNotFound(account_id.to_owned()))?;
    Ok(Json(renderer(&store, &shared, version, &caller).user(account_id)).into_response())
}

/// Data Center's `GET /user`: by `username` or user `key`; no accountIds.
fn data_center_user(shared: &Shared, params: &[(String, String)]) -> Result<Response, Error> {
    if param(params, "accountId").is_some() {
        return Err(Error::bad_request(
            "The query parameter 'accountId' is not supported: give 'username' or 'key'.",
        ));
    }
    let store = lock(&shared.store);
    let found = match (param(params, "username"), param(params, "key")) {
        (Some(username), _) => store
            .user(username)
            .ok_or_else(|| format!("The user named '{username}' does not exist")),
        (None, Some(key)) => store
            .user_by_key(key)
            .ok_or_else(|| format!("The user with the key '{key}' does not exist")),
        (None, None) => {
            return Err(Error::bad_request(
                "Either the 'username' or the 'key' query parameter must be provided.",
            ));
        }
    };
    Ok(match found {
        Ok(user) => Json(crate::http::render::data_center_user(
            &store,
            &shared.base_url,
            &user.account_id,
        ))
        .into_response(),
        Err(message) => jira_message(StatusCode::NOT_FOUND, message),
    })
}

/// A `true`/`false` parameter, `default` when absent.
fn flag_param(params: &[(String, String)], name: &str, default: bool) -> Result<bool, Error> {
    match param(params, name) {
        None => Ok(default),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(Error::bad_request(format!(
            "The '{name}' parameter must be true or false."
        ))),
    }
}

/// Data Center's `GET /user/search?username=`: the text matches the start of a username, of
/// the display name or one of its words, or of a visible e-mail, case-insensitively; active
/// users only unless `includeInactive=true`.
fn data_center_user_search(
    shared: &Shared,
    params: &[(String, String)],
) -> Result<Json<Value>, Error> {
    let text = param(params, "username")
        .map(str::to_lowercase)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Error::bad_request("The username query parameter was not provided"))?;
    let start_at = number_param(params, "startAt")?.unwrap_or(0);
    let max_results = number_param(params, "maxResults")?
        .unwrap_or(USERS_DEFAULT_PAGE)
        .min(USERS_MAX_PAGE);
    let include_active = flag_param(params, "includeActive", true)?;
    let include_inactive = flag_param(params, "includeInactive", false)?;
    let store = lock(&shared.store);
    let found: Vec<Value> = store
        .users()
        .iter()
        .filter(|user| {
            if user.active {
                include_active
            } else {
                include_inactive
            }
        })
        .filter(|user| {
            let name = user.display_name.to_lowercase();
            user.account_id.to_lowercase().starts_with(&text)
                || name.starts_with(&text)
                || name.split_whitespace().any(|word| word.starts_with(&text))
                || user
                    .email
                    .as_deref()
                    .is_some_and(|email| email.to_lowercase().starts_with(&text))
        })
        .skip(start_at)
        .take(max_results)
        .map(|user| {
            crate::http::render::data_center_user(&store, &shared.base_url, &user.account_id)
        })
        .collect();
    Ok(Json(Value::Array(found)))
}

async fn user_search(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    if shared.deployment == Deployment::DataCenter {
        return data_center_user_search(&shared, &params);
    }
    let query = param(&params, "query").map(str::to_lowercase);
    let account_id = param(&params, "accountId");
    if query.as_deref().is_none_or(str::is_empty) && account_id.is_none() {
        return Err(Error::bad_request(
            "One of 'query' or 'accountId' parameters must be provided.",
        ));
    }
    let start_at = number_param(&params, "startAt")?.unwrap_or(0);
    let max_results = number_param(&params, "maxResults")?
        .unwrap_or(USERS_DEFAULT_PAGE)
        .min(USERS_MAX_PAGE);
    let store = lock(&shared.store);
    let renderer = renderer(&store, &shared, version, &caller);
    let found: Vec<Value> = store
        .users()
        .iter()
        .filter(|user| account_id.is_none_or(|wanted| user.account_id == wanted))
        .filter(|user| {
            let Some(query) = query.as_deref().filter(|query| !query.is_empty()) else {
                return true;
            };
            let name = user.display_name.to_lowercase();
            name.starts_with(query)
                || name.split_whitespace().any(|word| word.starts_with(query))
                || user
                    .email
                    .as_deref()
                    .is_some_and(|email| email.to_lowercase().starts_with(query))
        })
        .skip(start_at)
        .take(max_results)
        .map(|user| renderer.user(&user.account_id))
        .collect();
    Ok(Json(Value::Array(found)))
}

async fn create_issue(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Error> {
    let request = parse_json(&body)?;
    let empty = Map::new();
    let fields = request
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut errors = FieldErrors::default();
    let (project_key, issue_type) = {
        let store = lock(&shared.store);
        let project = fields.get("project");
        let project_matches = project.is_some_and(|project| {
            project
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(|key| key.eq_ignore_ascii_case(store.project_key()))
                || id_in(project.get("id")).as_deref() == Some(PROJECT_ID)
        });
        let issue_type = fields.get("issuetype").map(|issue_type| {
            let by_name = issue_type
                .get("name")
                .and_then(Value::as_str)
                .and_then(|name| store.issue_type(name).map(|(_, name)| name.to_owned()));
            by_name.or_else(|| {
                id_in(issue_type.get("id"))
                    .and_then(|id| store.issue_type_by_id(&id).map(str::to_owned))
            })
        });
        (
            project_matches.then(|| store.project_key().to_owned()),
            issue_type,
        )
    };
    if project_key.is_none() {
        errors.check::<()>(Err(Error::field("project", "valid project is required")));
    }
    let issue_type = match issue_type {
        None => errors.check(Err(Error::field("issuetype", "Specify an issue type"))),
        Some(None) => errors.check(Err(Error::field(
            "issuetype",
            "The issue type selected is invalid.",
        ))),
        Some(Some(name)) => Some(name),
    };
    let summary = match fields.get("summary") {
        None => errors.check(Err(Error::field(
            "summary",
            "You must specify a summary of the issue.",
        ))),
        Some(value) => errors.check(
            string_in("summary", value)
                .and_then(|summary| check_summary(&summary).map(|()| summary)),
        ),
    };
    let description = match fields.get("description") {
        None => Some(None),
        Some(value) => errors.check(description_in(shared.deployment, version, value)),
    };
    let labels = match fields.get("labels") {
        None => Some(Vec::new()),
        Some(value) => errors.check(labels_in(value)),
    };
    let reporter = fields
        .get("reporter")
        .map(|reporter| match shared.deployment {
            Deployment::Cloud => {
                id_in(reporter.get("accountId")).or_else(|| id_in(reporter.get("id")))
            }
            // Data Center names users by username, and checks that it is one.
            Deployment::DataCenter => {
                reporter
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| {
                        lock(&shared.store)
                            .user(name)
                            .map(|user| user.account_id.clone())
                    })
            }
        });
    let mut custom_fields = BTreeMap::new();
    {
        let store = lock(&shared.store);
        for (name, value) in fields {
            let known = [
                "project",
                "issuetype",
                "summary",
                "description",
                "labels",
                "reporter",
            ];
            if known.contains(&name.as_str()) {
                continue;
            }
            match store.custom_field(name) {
                Some(field) => {
                    let accepted = field
                        .accept_in(value, version == ApiVersion::V3)
                        .map_err(|message| Error::field(name.as_str(), message));
                    if let Some(value) = errors.check(accepted) {
                        custom_fields.insert(name.clone(), value);
                    }
                }
                None => {
                    errors.check::<()>(Err(cannot_be_set(name)));
                }
            }
        }
        // Cloud checks the create screen's required fields after the values.
        for field in store.custom_fields() {
            let missing = custom_fields.get(&field.id).is_none_or(Value::is_null);
            if field.required_on_create && missing {
                errors.check::<()>(Err(Error::field(
                    field.id.as_str(),
                    format!("{} is required.", field.name),
                )));
            }
        }
    }
    if matches!(reporter, Some(None)) {
        let message = match shared.deployment {
            Deployment::Cloud => "Specify a valid accountId.",
            Deployment::DataCenter => "The reporter specified is not a user.",
        };
        errors.check::<()>(Err(Error::field("reporter", message)));
    }
    errors.finish()?;
    let properties = entity_properties_in(&request)?;
    let (Some(issue_type), Some(summary), Some(description), Some(labels)) =
        (issue_type, summary, description, labels)
    else {
        return Err(Error::bad_request("The issue could not be created."));
    };
    let (description, description_wiki) = description.unzip();
    let (id, key) = shared.create_issue(
        &caller.account_id,
        NewIssueFields {
            issue_type,
            summary,
            description,
            labels,
            reporter: reporter.flatten(),
            custom_fields,
            properties,
            description_wiki: description_wiki.flatten(),
        },
    )?;
    let url = format!(
        "{}/rest/api/{}/issue/{id}",
        shared.base_url,
        version.number()
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "key": key, "self": url})),
    )
        .into_response())
}

async fn get_issue(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let issue = store.issue(&key)?;
    let selection = FieldSelection::from_items(
        &list_param(&params, "fields"),
        FieldSelection::All { except: Vec::new() },
    );
    let expand = list_param(&params, "expand");
    let mut rendered =
        renderer(&store, &shared, version, &caller).issue(issue, &selection, &expand);
    // Cloud returns the entity properties the request names (`*all` for every one), and only
    // those the issue has.
    let wanted = list_param(&params, "properties");
    if !wanted.is_empty()
        && let Some(object) = rendered.as_object_mut()
    {
        let properties: Map<String, Value> = issue
            .properties
            .iter()
            .filter(|(key, _)| wanted.iter().any(|w| w == "*all" || w == *key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        object.insert("properties".into(), Value::Object(properties));
    }
    Ok(Json(rendered))
}

/// `{"fields": {...}, "update": {...}}` as one set of changes.
fn issue_changes(
    deployment: Deployment,
    version: ApiVersion,
    request: &Value,
    custom: &[CustomField],
) -> Result<IssueChanges, Error> {
    let mut changes = IssueChanges::default();
    let mut errors = FieldErrors::default();
    if let Some(fields) = request.get("fields").and_then(Value::as_object) {
        for (name, value) in fields {
            match name.as_str() {
                "summary" => changes.summary = errors.check(string_in("summary", value)),
                "description" => {
                    if let Some(description) =
                        errors.check(description_in(deployment, version, value))
                    {
                        set_description(&mut changes, description);
                    }
                }
                "labels" => {
                    if let Some(labels) = errors.check(labels_in(value)) {
                        changes.labels.push(LabelChange::Set(labels));
                    }
                }
                other => match custom.iter().find(|field| field.id == other) {
                    Some(field) => {
                        let accepted = field
                            .accept_in(value, version == ApiVersion::V3)
                            .map_err(|message| Error::field(other, message));
                        if let Some(value) = errors.check(accepted) {
                            changes.custom_fields.insert(other.to_owned(), value);
                        }
                    }
                    None => {
                        errors.check::<()>(Err(cannot_be_set(other)));
                    }
                },
            }
        }
    }
    if let Some(update) = request.get("update").and_then(Value::as_object) {
        for (name, operations) in update {
            let Some(operations) = operations.as_array() else {
                errors.check::<()>(Err(Error::field(
                    name.as_str(),
                    "Operations must be a list.",
                )));
                continue;
            };
            for operation in operations {
                let Some((verb, value)) = operation
                    .as_object()
                    .and_then(|operation| operation.iter().next())
                else {
                    errors.check::<()>(Err(Error::field(name.as_str(), "Invalid operation.")));
                    continue;
                };
                match (name.as_str(), verb.as_str()) {
                    ("summary", "set") => {
                        changes.summary = errors.check(string_in("summary", value));
                    }
                    ("description", "set") => {
                        if let Some(description) =
                            errors.check(description_in(deployment, version, value))
                        {
                            set_description(&mut changes, description);
                        }
                    }
                    ("labels", "set") => {
                        if let Some(labels) = errors.check(labels_in(value)) {
                            changes.labels.push(LabelChange::Set(labels));
                        }
                    }
                    ("labels", "add" | "remove") => {
                        let label = errors.check(
                            string_in("labels", value)
                                .and_then(|label| check_label(&label).map(|()| label)),
                        );
                        if let Some(label) = label {
                            changes.labels.push(if verb == "add" {
                                LabelChange::Add(label)
                            } else {
                                LabelChange::Remove(label)
                            });
                        }
                    }
                    ("summary" | "description" | "labels", _) => {
                        errors.check::<()>(Err(Error::field(
                            name.as_str(),
                            format!("Operation '{verb}' is not supported for this field."),
                        )));
                    }
                    (other, _) => {
                        errors.check::<()>(Err(cannot_be_set(other)));
                    }
                }
            }
        }
    }
    errors.finish()?;
    Ok(changes)
}

fn set_description(changes: &mut IssueChanges, description: Option<TextIn>) {
    let (document, wiki) = description.unzip();
    changes.description = Some(document);
    changes.description_wiki = wiki.flatten();
}

async fn edit_issue(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let request = parse_json(&body)?;
    shared.issue_key(&key)?;
    let custom = lock(&shared.store).custom_fields().to_vec();
    let changes = issue_changes(shared.deployment, version, &request, &custom)?;
    shared.edit_issue(&caller.account_id, &key, changes)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_issue(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Result<StatusCode, Error> {
    shared.delete_issue(&caller.account_id, &key)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_transitions(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let issue = store.issue(&key)?;
    let renderer = renderer(&store, &shared, version, &caller);
    let transitions: Vec<Value> = store
        .workflow()
        .transitions_from(&issue.status)
        .map(|transition| renderer.transition(transition))
        .collect();
    Ok(Json(
        json!({"expand": "transitions", "transitions": transitions}),
    ))
}

async fn make_transition(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let request = parse_json(&body)?;
    shared.issue_key(&key)?;
    let transition_id = id_in(request.get("transition").and_then(|t| t.get("id")))
        .ok_or_else(|| Error::bad_request("Missing 'transition' identifier"))?;
    let target = {
        let store = lock(&shared.store);
        let issue = store.issue(&key)?;
        let workflow = store.workflow();
        workflow
            .transitions_from(&issue.status)
            .find(|transition| transition.id == transition_id)
            .map(|transition| {
                workflow
                    .status(&transition.to)
                    .map_or_else(|| transition.to.clone(), |status| status.name.clone())
            })
    };
    let screen = target
        .as_deref()
        .and_then(|status| shared.faults.transition_requirement(status));
    if let Some((field, message)) = &screen
        && request
            .get("fields")
            .and_then(|fields| fields.get(field))
            .is_none_or(Value::is_null)
    {
        return Err(Error::field(field.as_str(), message.as_str()));
    }
    // Only a field on the transition's screen can be set with it, as in Cloud.
    if let Some(fields) = request.get("fields").and_then(Value::as_object) {
        let on_screen = |name: &str| screen.as_ref().is_some_and(|(field, _)| field == name);
        if let Some(name) = fields.keys().find(|name| !on_screen(name)) {
            return Err(cannot_be_set(name));
        }
    }
    shared.transition(&caller.account_id, &key, &transition_id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_comments(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    let start_at = number_param(&params, "startAt")?.unwrap_or(0);
    let max_results = number_param(&params, "maxResults")?
        .unwrap_or(COMMENTS_DEFAULT_PAGE)
        .min(COMMENTS_MAX_PAGE);
    let newest_first = match param(&params, "orderBy") {
        None | Some("created" | "+created") => false,
        Some("-created") => true,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Ordering by '{other}' is not supported: use 'created' or '-created'."
            )));
        }
    };
    let with_properties = expands_properties(&params);
    let store = lock(&shared.store);
    let issue = store.issue(&key)?;
    let renderer = renderer(&store, &shared, version, &caller);
    let mut ordered: Vec<_> = issue.comments.iter().collect();
    if newest_first {
        ordered.reverse();
    }
    let comments: Vec<Value> = ordered
        .into_iter()
        .skip(start_at)
        .take(max_results)
        .map(|comment| renderer.comment(issue, comment, with_properties))
        .collect();
    Ok(Json(json!({
        "startAt": start_at,
        "maxResults": max_results,
        "total": issue.comments.len(),
        "comments": comments,
    })))
}

/// Whether `expand` asks for comment properties.
fn expands_properties(params: &[(String, String)]) -> bool {
    list_param(params, "expand")
        .iter()
        .any(|expand| expand == "properties")
}

fn comment_response(
    shared: &Shared,
    version: ApiVersion,
    caller: &Caller,
    key: &str,
    comment_id: &str,
    with_properties: bool,
) -> Result<Value, Error> {
    let store = lock(&shared.store);
    let issue = store.issue(key)?;
    let comment = issue
        .comments
        .iter()
        .find(|comment| comment.id == comment_id)
        .ok_or_else(|| Error::CommentNotFound(comment_id.to_owned()))?;
    Ok(renderer(&store, shared, version, caller).comment(issue, comment, with_properties))
}

async fn add_comment(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, Error> {
    let request = parse_json(&body)?;
    shared.issue_key(&key)?;
    let (body, wiki) = comment_body_in(shared.deployment, version, &request)?;
    let properties = entity_properties_in(&request)?;
    let comment = shared.add_comment(&caller.account_id, &key, body, wiki, properties)?;
    let rendered = comment_response(
        &shared,
        version,
        &caller,
        &key,
        &comment.id,
        expands_properties(&params),
    )?;
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

async fn get_comment(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((key, comment_id)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    comment_response(
        &shared,
        version,
        &caller,
        &key,
        &comment_id,
        expands_properties(&params),
    )
    .map(Json)
}

async fn edit_comment(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path((key, comment_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let request = parse_json(&body)?;
    comment_response(&shared, version, &caller, &key, &comment_id, false)?;
    let (body, wiki) = comment_body_in(shared.deployment, version, &request)?;
    shared.edit_comment(&caller.account_id, &key, &comment_id, body, wiki)?;
    comment_response(&shared, version, &caller, &key, &comment_id, false).map(Json)
}

/// The system fields the emulator serves, then the site's custom fields.
async fn list_fields(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let store = lock(&shared.store);
    let mut fields = crate::custom_fields::system_fields();
    fields.extend(store.custom_fields().iter().map(CustomField::listing));
    Json(Value::Array(fields))
}

/// 204, as Cloud answers; the comment must be on that issue.
async fn delete_comment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((key, comment_id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let key = shared.issue_key(&key)?;
    let on_issue = lock(&shared.store).comment(&comment_id)?.0.key == key;
    if !on_issue {
        return Err(Error::CommentNotFound(comment_id));
    }
    shared.delete_comment(&caller.account_id, &key, &comment_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// 204, as Cloud answers.
async fn delete_attachment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(attachment_id): Path<String>,
) -> Result<StatusCode, Error> {
    shared.delete_attachment(&caller.account_id, &attachment_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `properties` of a create-comment or create-issue request (`[{"key", "value"}]`), as Jira
/// reads them.
fn entity_properties_in(request: &Value) -> Result<BTreeMap<String, Value>, Error> {
    let invalid = || Error::bad_request("The entity properties are not valid.");
    let Some(properties) = request.get("properties") else {
        return Ok(BTreeMap::new());
    };
    let properties = properties.as_array().ok_or_else(invalid)?;
    let mut read = BTreeMap::new();
    for property in properties {
        let key = property
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        crate::store::check_property_key(key)?;
        let value = property.get("value").cloned().unwrap_or(Value::Null);
        read.insert(key.to_owned(), value);
    }
    Ok(read)
}

async fn list_comment_properties(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Path(comment_id): Path<String>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let (_, comment) = store.comment(&comment_id)?;
    let keys: Vec<Value> = comment
        .properties
        .keys()
        .map(|property| {
            json!({
                "self": format!(
                    "{}/rest/api/{}/comment/{comment_id}/properties/{property}",
                    shared.base_url,
                    version.number()
                ),
                "key": property,
            })
        })
        .collect();
    Ok(Json(json!({"keys": keys})))
}

async fn get_comment_property(
    State(shared): State<Arc<Shared>>,
    Path((comment_id, property)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let (_, comment) = store.comment(&comment_id)?;
    let value = comment
        .properties
        .get(&property)
        .cloned()
        .ok_or_else(|| Error::PropertyNotFound(property.clone()))?;
    Ok(Json(json!({"key": property, "value": value})))
}

async fn set_comment_property(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((comment_id, property)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let value = parse_json(&body)?;
    let created = lock(&shared.store).set_comment_property(
        &caller.account_id,
        &comment_id,
        &property,
        Some(value),
    )?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn delete_comment_property(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((comment_id, property)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    lock(&shared.store).set_comment_property(&caller.account_id, &comment_id, &property, None)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_watchers(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let issue = store.issue(&key)?;
    let renderer = renderer(&store, &shared, version, &caller);
    let watchers: Vec<Value> = issue
        .watchers
        .iter()
        .map(|account_id| renderer.user(account_id))
        .collect();
    Ok(Json(json!({
        "self": format!("{}/issue/{}/watchers", renderer.api(), issue.key),
        "isWatching": issue.watchers.contains(&caller.account_id),
        "watchCount": watchers.len(),
        "watchers": watchers,
    })))
}

async fn add_watcher(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    shared.issue_key(&key)?;
    let account_id = if body.iter().all(u8::is_ascii_whitespace) {
        caller.account_id.clone()
    } else {
        match (parse_json(&body)?, shared.deployment) {
            (Value::String(account_id), _) => account_id,
            (_, Deployment::Cloud) => {
                return Err(Error::bad_request(
                    "The request body must be a JSON string: the accountId of the user to add.",
                ));
            }
            (_, Deployment::DataCenter) => {
                return Err(Error::bad_request(
                    "The request body must be a JSON string: the username of the user to add.",
                ));
            }
        }
    };
    if let Some((status, message)) = shared.faults.watcher_refusal(&account_id) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return Ok(jira_message(status, message));
    }
    lock(&shared.store).add_watcher(&caller.account_id, &key, &account_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_watcher(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Result<StatusCode, Error> {
    shared.issue_key(&key)?;
    // Cloud names the watcher by accountId only (GDPR strict mode); Data Center by username.
    let (wanted, refused, refusal) = match shared.deployment {
        Deployment::Cloud => (
            "accountId",
            "username",
            "The query parameter 'username' is not supported in GDPR strict mode.",
        ),
        Deployment::DataCenter => (
            "username",
            "accountId",
            "The query parameter 'accountId' is not supported: give 'username'.",
        ),
    };
    if param(&params, refused).is_some() {
        return Err(Error::bad_request(refusal));
    }
    let account_id = param(&params, wanted).ok_or_else(|| {
        Error::bad_request(format!("The query parameter '{wanted}' is required."))
    })?;
    lock(&shared.store).remove_watcher(&caller.account_id, &key, account_id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One uploaded file.
struct Upload {
    filename: String,
    mime_type: String,
    bytes: Bytes,
}

async fn upload_attachments(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Error> {
    let xsrf_opt_out = headers
        .get("x-atlassian-token")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("no-check"));
    if !xsrf_opt_out {
        return Ok((
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
            "XSRF check failed",
        )
            .into_response());
    }
    let key = shared.issue_key(&key)?;
    let mut multipart = multipart.map_err(|rejection| {
        Error::bad_request(format!(
            "The request is not multipart/form-data: {rejection}"
        ))
    })?;
    let limit = lock(&shared.store).max_attachment_bytes();
    let mut uploads = Vec::new();
    let mut too_large = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| multipart_error(&error))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("attachment").to_owned();
        let mime_type = field
            .content_type()
            .filter(|mime_type| *mime_type != "application/octet-stream")
            .map_or_else(|| mime_type_for(&filename).to_owned(), str::to_owned);
        let mut bytes = BytesMut::new();
        let mut size = 0u64;
        // Read to the end even past the limit, so the client sees the 413 and not a reset.
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|error| multipart_error(&error))?
        {
            size += chunk.len() as u64;
            if size <= limit {
                bytes.extend_from_slice(&chunk);
            }
        }
        if size > limit {
            too_large = Some(Error::AttachmentTooLarge { size, limit });
            continue;
        }
        uploads.push(Upload {
            filename,
            mime_type,
            bytes: bytes.freeze(),
        });
    }
    if let Some(error) = too_large {
        return Err(error);
    }
    if uploads.is_empty() {
        return Err(Error::bad_request(
            "No file was sent: attach it as the multipart field 'file'.",
        ));
    }
    let mut attachment_ids = Vec::new();
    for upload in uploads {
        let attachment = shared.attach(
            &caller.account_id,
            &key,
            &upload.filename,
            &upload.mime_type,
            upload.bytes,
        )?;
        attachment_ids.push(attachment.id);
    }
    let store = lock(&shared.store);
    let renderer = renderer(&store, &shared, version, &caller);
    let rendered: Vec<Value> = attachment_ids
        .iter()
        .filter_map(|id| store.attachment(id).ok())
        .map(|(_, attachment)| renderer.attachment(attachment))
        .collect();
    Ok(Json(Value::Array(rendered)).into_response())
}

fn multipart_error(error: &axum::extract::multipart::MultipartError) -> Error {
    Error::bad_request(format!("The multipart body could not be read: {error}"))
}

async fn attachment_metadata(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Path(attachment_id): Path<String>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let (_, attachment) = store.attachment(&attachment_id)?;
    Ok(Json(
        renderer(&store, &shared, version, &caller).attachment(attachment),
    ))
}

/// Cloud answers 303 to the media host, unless `redirect=false` asks for the bytes here.
async fn attachment_content(
    State(shared): State<Arc<Shared>>,
    Path(attachment_id): Path<String>,
    Query(params): Params,
) -> Result<Response, Error> {
    let redirect = match param(&params, "redirect") {
        None => shared.attachment_redirect,
        Some(value) => !value.eq_ignore_ascii_case("false"),
    };
    let store = lock(&shared.store);
    let (_, attachment) = store.attachment(&attachment_id)?;
    if redirect {
        let location = lock(&shared.media).issue_download(&attachment.id, &attachment.filename);
        return Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("{}{location}", shared.media_url))],
        )
            .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, attachment.mime_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                media::content_disposition(&attachment.filename),
            ),
        ],
        attachment.bytes.clone(),
    )
        .into_response())
}

async fn list_properties(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Path(key): Path<String>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let issue = store.issue(&key)?;
    let keys: Vec<Value> = issue
        .properties
        .keys()
        .map(|property| {
            json!({
                "self": property_url(&shared, version, issue, property),
                "key": property,
            })
        })
        .collect();
    Ok(Json(json!({"keys": keys})))
}

fn property_url(
    shared: &Shared,
    version: ApiVersion,
    issue: &IssueRecord,
    property: &str,
) -> String {
    format!(
        "{}/rest/api/{}/issue/{}/properties/{property}",
        shared.base_url,
        version.number(),
        issue.id
    )
}

async fn get_property(
    State(shared): State<Arc<Shared>>,
    Path((key, property)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let store = lock(&shared.store);
    let value = store
        .issue(&key)?
        .properties
        .get(&property)
        .cloned()
        .ok_or_else(|| Error::PropertyNotFound(property.clone()))?;
    Ok(Json(json!({"key": property, "value": value})))
}

async fn set_property(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((key, property)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let value = parse_json(&body)?;
    let created = lock(&shared.store).set_property(&caller.account_id, &key, &property, value)?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn delete_property(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((key, property)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    lock(&shared.store).delete_property(&caller.account_id, &key, &property)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `/search/jql` request, from a JSON body or query parameters.
struct SearchRequest {
    jql: String,
    max_results: Option<usize>,
    next_page_token: Option<String>,
    fields: Vec<String>,
    expand: Vec<String>,
    /// Issue ids to read consistently (seen even while the index lags).
    reconcile_issues: Vec<String>,
}

/// Cloud's cap on `reconcileIssues`.
const RECONCILE_ISSUES_MAX: usize = 50;

/// `reconcileIssues` ids: numbers (as Cloud documents them) or numeric strings.
fn reconcile_ids(value: Option<&Value>) -> Result<Vec<String>, Error> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::bad_request(
                "'reconcileIssues' must be a list of issue ids.",
            ));
        }
    };
    let ids = items
        .iter()
        .map(|item| match item {
            Value::Number(number) if number.is_u64() => Ok(number.to_string()),
            Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(text.clone())
            }
            _ => Err(Error::bad_request(
                "'reconcileIssues' must be a list of issue ids.",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > RECONCILE_ISSUES_MAX {
        return Err(Error::bad_request(format!(
            "'reconcileIssues' accepts at most {RECONCILE_ISSUES_MAX} issue ids."
        )));
    }
    Ok(ids)
}

fn strings_in(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(items)) => items
            .split(',')
            .map(|item| item.trim().to_owned())
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

async fn search_by_body(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let request = parse_json(&body)?;
    let max_results = match request.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|number| usize::try_from(number).ok())
                .ok_or_else(|| Error::bad_request("'maxResults' must be a non-negative number."))?,
        ),
    };
    search(
        &shared,
        version,
        &caller,
        &SearchRequest {
            jql: request
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            max_results,
            next_page_token: request
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields: strings_in(request.get("fields")),
            expand: strings_in(request.get("expand")),
            reconcile_issues: reconcile_ids(request.get("reconcileIssues"))?,
        },
    )
}

async fn search_by_query(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    search(
        &shared,
        version,
        &caller,
        &SearchRequest {
            jql: param(&params, "jql").unwrap_or_default().to_owned(),
            max_results: number_param(&params, "maxResults")?,
            next_page_token: param(&params, "nextPageToken").map(str::to_owned),
            fields: list_param(&params, "fields"),
            expand: list_param(&params, "expand"),
            reconcile_issues: reconcile_ids(Some(&Value::Array(
                list_param(&params, "reconcileIssues")
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            )))?,
        },
    )
}

fn page_token(offset: usize, fingerprint: u64) -> String {
    format!("{offset:x}.{fingerprint:016x}")
}

fn page_offset(token: &str, fingerprint: u64) -> Option<usize> {
    let (offset, for_query) = token.split_once('.')?;
    if u64::from_str_radix(for_query, 16).ok()? != fingerprint {
        return None;
    }
    usize::from_str_radix(offset, 16).ok()
}

fn search(
    shared: &Shared,
    version: ApiVersion,
    caller: &Caller,
    request: &SearchRequest,
) -> Result<Json<Value>, Error> {
    let query = jql::parse(&request.jql)?;
    if !query.is_bounded() {
        return Err(Error::bad_request(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ));
    }
    let fingerprint = jql::Query::fingerprint(&request.jql);
    let offset = match request.next_page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => page_offset(token, fingerprint).ok_or_else(|| {
            Error::bad_request("The provided next page token is invalid or expired.")
        })?,
    };
    let selection = FieldSelection::from_items(&request.fields, FieldSelection::Only(Vec::new()));
    let cap = if selection.is_ids_only() {
        SEARCH_MAX_PAGE_IDS_ONLY
    } else {
        SEARCH_MAX_PAGE_WITH_FIELDS
    };
    let page_size = shared.search_page_size(
        request
            .max_results
            .unwrap_or(SEARCH_DEFAULT_PAGE)
            .clamp(1, cap),
    );
    let store = lock(&shared.store);
    let now = crate::now_utc();
    let found = query.run(jql::Context {
        now,
        caller: &caller.account_id,
        store: &store,
        lag: shared.search_lag(),
        reconcile: &request.reconcile_issues,
    })?;
    let renderer = renderer(&store, shared, version, caller);
    let issues: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|issue| {
            if selection == FieldSelection::Only(Vec::new()) {
                json!({"id": issue.id})
            } else {
                renderer.issue(issue, &selection, &request.expand)
            }
        })
        .collect();
    let next = offset + page_size;
    let mut response = json!({"issues": issues, "isLast": next >= found.len()});
    if next < found.len()
        && let Some(object) = response.as_object_mut()
    {
        object.insert("nextPageToken".into(), json!(page_token(next, fingerprint)));
    }
    Ok(Json(response))
}

/// A Data Center `/search` request, from a JSON body or query parameters.
struct DataCenterSearch {
    jql: String,
    start_at: usize,
    max_results: Option<usize>,
    fields: Vec<String>,
    expand: Vec<String>,
}

/// What Data Center's `POST /search` body may hold.
const DATA_CENTER_SEARCH_KEYS: [&str; 7] = [
    "jql",
    "startAt",
    "maxResults",
    "fields",
    "expand",
    "validateQuery",
    "properties",
];

fn optional_number(request: &Value, name: &str) -> Result<Option<usize>, Error> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|number| usize::try_from(number).ok())
            .map(Some)
            .ok_or_else(|| Error::bad_request(format!("'{name}' must be a non-negative number."))),
    }
}

async fn data_center_search_by_body(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let request = parse_json(&body)?;
    let object = request
        .as_object()
        .ok_or_else(|| Error::bad_request("The search request must be a JSON object."))?;
    // Cloud's paging (`nextPageToken`, `reconcileIssues`) is not Data Center's: refused rather
    // than ignored, so a client paging the Cloud way does not read the first page forever.
    if let Some(unknown) = object
        .keys()
        .find(|key| !DATA_CENTER_SEARCH_KEYS.contains(&key.as_str()))
    {
        return Err(Error::bad_request(format!(
            "Unrecognized field \"{unknown}\" in the search request."
        )));
    }
    data_center_search(
        &shared,
        version,
        &caller,
        &DataCenterSearch {
            jql: request
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            start_at: optional_number(&request, "startAt")?.unwrap_or(0),
            max_results: optional_number(&request, "maxResults")?,
            fields: strings_in(request.get("fields")),
            expand: strings_in(request.get("expand")),
        },
    )
}

async fn data_center_search_by_query(
    State(shared): State<Arc<Shared>>,
    Extension(version): Extension<ApiVersion>,
    Extension(caller): Extension<Caller>,
    Query(params): Params,
) -> Result<Json<Value>, Error> {
    data_center_search(
        &shared,
        version,
        &caller,
        &DataCenterSearch {
            jql: param(&params, "jql").unwrap_or_default().to_owned(),
            start_at: number_param(&params, "startAt")?.unwrap_or(0),
            max_results: number_param(&params, "maxResults")?,
            fields: list_param(&params, "fields"),
            expand: list_param(&params, "expand"),
        },
    )
}

/// Data Center's search: `startAt`/`maxResults` pages (at most 1000 issues, 50 by default) with
/// the `total`, every navigable field unless `fields` says otherwise, and no index lag.
fn data_center_search(
    shared: &Shared,
    version: ApiVersion,
    caller: &Caller,
    request: &DataCenterSearch,
) -> Result<Json<Value>, Error> {
    let query = jql::parse(&request.jql)?;
    let max_results = request
        .max_results
        .unwrap_or(SEARCH_DEFAULT_PAGE)
        .min(DATA_CENTER_SEARCH_MAX_PAGE);
    let selection =
        FieldSelection::from_items(&request.fields, FieldSelection::All { except: Vec::new() });
    let store = lock(&shared.store);
    let found = query.run(jql::Context {
        now: crate::now_utc(),
        caller: &caller.account_id,
        store: &store,
        lag: std::time::Duration::ZERO,
        reconcile: &[],
    })?;
    let renderer = renderer(&store, shared, version, caller);
    let issues: Vec<Value> = found
        .iter()
        .skip(request.start_at)
        .take(max_results)
        .map(|issue| renderer.issue(issue, &selection, &request.expand))
        .collect();
    Ok(Json(json!({
        "expand": "schema,names",
        "startAt": request.start_at,
        "maxResults": max_results,
        "total": found.len(),
        "issues": issues,
    })))
}

/// Data Center's download: the file's bytes from the site itself, with the REST API's auth (no
/// media host, no redirect). The name in the path is the file's, but the id finds it.
async fn secure_attachment(
    State(shared): State<Arc<Shared>>,
    Path((attachment_id, _file_name)): Path<(String, String)>,
) -> Result<Response, Error> {
    let store = lock(&shared.store);
    let (_, attachment) = store.attachment(&attachment_id)?;
    Ok((
        [
            (header::CONTENT_TYPE, attachment.mime_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                media::content_disposition(&attachment.filename),
            ),
        ],
        attachment.bytes.clone(),
    )
        .into_response())
}

async fn search_gone() -> Response {
    jira_message(
        StatusCode::GONE,
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. \
             A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
    )
}
