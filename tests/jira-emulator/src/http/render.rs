//! Jira's JSON shapes for users, statuses, issues, comments, attachments and transitions:
//! Cloud's in v3 (ADF bodies) or v2 (plain-text bodies); Data Center's (users by `name` and
//! `key`, wiki-markup bodies, attachments under `/secure/attachment`).

use serde_json::{Map, Value, json};

use crate::adf;
use crate::emulator::Deployment;
use crate::http::ApiVersion;
use crate::model::{AttachmentRecord, CommentRecord, IssueAction, IssueRecord, jira_timestamp};
use crate::store::{PROJECT_ID, Store, TextOf};

/// A user as Data Center shows it (`name` is the username, the emulator's accountId; `key` the
/// user key); the e-mail only when visible. A user that is gone shows by its name, inactive.
pub(crate) fn data_center_user(store: &Store, base_url: &str, name: &str) -> Value {
    let Some(user) = store.user(name) else {
        return json!({"name": name, "key": name, "displayName": name, "active": false});
    };
    let key = store.user_key(name).unwrap_or_default();
    let avatar = |size: u32| {
        format!(
            "{base_url}/secure/useravatar?size={}&avatarId=10122",
            match size {
                48 => "large",
                32 => "medium",
                24 => "small",
                _ => "xsmall",
            }
        )
    };
    let mut rendered = json!({
        "self": format!(
            "{base_url}/rest/api/2/user?username={}",
            query_escape(&user.account_id)
        ),
        "key": key,
        "name": user.account_id,
        "avatarUrls": {
            "48x48": avatar(48),
            "24x24": avatar(24),
            "16x16": avatar(16),
            "32x32": avatar(32),
        },
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": "Etc/UTC",
    });
    if let (Some(email), Some(object)) = (&user.email, rendered.as_object_mut()) {
        object.insert("emailAddress".into(), json!(email));
    }
    rendered
}

/// Percent-encodes everything but unreserved characters, for a path segment or query value.
pub(crate) fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}
use crate::workflow::{StatusCategory, WorkflowTransition};

/// Which fields of an issue to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldSelection {
    /// All fields except these.
    All { except: Vec<String> },
    /// Only these (an empty list: no `fields` at all).
    Only(Vec<String>),
}

impl FieldSelection {
    /// From `fields=` items: `*all`/`*navigable` select all, `-name` excludes, names select;
    /// no items gives `default`.
    pub(crate) fn from_items(items: &[String], default: FieldSelection) -> FieldSelection {
        let items: Vec<&str> = items
            .iter()
            .flat_map(|item| item.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        if items.is_empty() {
            return default;
        }
        let except = items
            .iter()
            .filter_map(|item| item.strip_prefix('-'))
            .map(str::to_owned)
            .collect();
        if items
            .iter()
            .any(|item| *item == "*all" || *item == "*navigable")
        {
            FieldSelection::All { except }
        } else {
            FieldSelection::Only(
                items
                    .iter()
                    .filter(|item| !item.starts_with('-'))
                    .map(|item| (*item).to_owned())
                    .collect(),
            )
        }
    }

    fn wants(&self, field: &str) -> bool {
        match self {
            FieldSelection::All { except } => !except.iter().any(|name| name == field),
            FieldSelection::Only(names) => names.iter().any(|name| name == field),
        }
    }

    /// Whether only ids are asked for (`/search/jql`'s default).
    pub(crate) fn is_ids_only(&self) -> bool {
        match self {
            FieldSelection::All { .. } => false,
            FieldSelection::Only(names) => names.iter().all(|name| name == "id" || name == "key"),
        }
    }
}

/// Renders records as one caller sees them through one API version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Renderer<'a> {
    pub store: &'a Store,
    pub base_url: &'a str,
    pub version: ApiVersion,
    pub caller: &'a str,
}

impl Renderer<'_> {
    pub(crate) fn api(&self) -> String {
        format!("{}/rest/api/{}", self.base_url, self.version.number())
    }

    /// A user; the e-mail only when visible (or when it is the caller's own).
    pub(crate) fn user(&self, account_id: &str) -> Value {
        if self.store.deployment() == Deployment::DataCenter {
            return data_center_user(self.store, self.base_url, account_id);
        }
        let Some(user) = self.store.user(account_id) else {
            return json!({"accountId": account_id, "active": false, "displayName": "Former user"});
        };
        let mut rendered = json!({
            "self": format!("{}/user?accountId={}", self.api(), user.account_id),
            "accountId": user.account_id,
            "accountType": "atlassian",
            "avatarUrls": {
                "48x48": format!("{}/avatar/{}/48", self.base_url, user.account_id),
                "24x24": format!("{}/avatar/{}/24", self.base_url, user.account_id),
                "16x16": format!("{}/avatar/{}/16", self.base_url, user.account_id),
                "32x32": format!("{}/avatar/{}/32", self.base_url, user.account_id),
            },
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": "Etc/UTC",
            "locale": "en_US",
        });
        if let (Some(email), Some(object)) = (&user.email, rendered.as_object_mut()) {
            object.insert("emailAddress".into(), json!(email));
        }
        rendered
    }

    /// The caller, as `/myself` shows it: always with their own e-mail.
    pub(crate) fn myself(&self, email: Option<&str>) -> Value {
        let mut rendered = self.user(self.caller);
        if let (Some(email), Some(object)) = (email, rendered.as_object_mut()) {
            object.insert("emailAddress".into(), json!(email));
        }
        rendered
    }

    pub(crate) fn status(&self, name: &str) -> Value {
        let (id, name, category) = match self.store.workflow().status(name) {
            Some(status) => (status.id.as_str(), status.name.as_str(), status.category),
            None => ("0", name, StatusCategory::ToDo),
        };
        json!({
            "self": format!("{}/status/{id}", self.api()),
            "description": "",
            "iconUrl": format!("{}/images/icons/statuses/generic.png", self.base_url),
            "name": name,
            "id": id,
            "statusCategory": {
                "self": format!("{}/statuscategory/{}", self.api(), category.id()),
                "id": category.id(),
                "key": category.key(),
                "colorName": category.color_name(),
                "name": category.name(),
            },
        })
    }

    /// A description or comment body: ADF in v3, plain text in Cloud's v2, wiki markup in Data
    /// Center (as written, see [`Store::wiki_text`]).
    pub(crate) fn body(&self, of: &TextOf, document: Option<&Value>) -> Value {
        match (self.version, document) {
            (_, None) => Value::Null,
            (ApiVersion::V3, Some(document)) => document.clone(),
            (ApiVersion::V2, Some(document)) => match self.store.deployment() {
                Deployment::Cloud => Value::String(adf::to_plain_text(document)),
                Deployment::DataCenter => Value::String(self.store.wiki_text(of, document)),
            },
        }
    }

    /// A comment; its properties only when asked for (`expand=properties`), as Jira does.
    pub(crate) fn comment(
        &self,
        issue: &IssueRecord,
        comment: &CommentRecord,
        with_properties: bool,
    ) -> Value {
        let mut rendered = json!({
            "self": format!("{}/issue/{}/comment/{}", self.api(), issue.id, comment.id),
            "id": comment.id,
            "author": self.user(&comment.author),
            "body": self.body(&TextOf::Comment(comment.id.clone()), Some(&comment.body)),
            "updateAuthor": self.user(&comment.update_author),
            "created": jira_timestamp(comment.created),
            "updated": jira_timestamp(comment.updated),
            "jsdPublic": true,
        });
        if self.store.deployment() == Deployment::DataCenter
            && let Some(object) = rendered.as_object_mut()
        {
            object.remove("jsdPublic");
        }
        if with_properties {
            rendered["properties"] = comment
                .properties
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
        }
        rendered
    }

    /// An attachment; its `content` is Cloud's download endpoint, or in Data Center the file
    /// under `/secure/attachment` on the site.
    pub(crate) fn attachment(&self, attachment: &AttachmentRecord) -> Value {
        let content = match self.store.deployment() {
            Deployment::Cloud => format!("{}/attachment/content/{}", self.api(), attachment.id),
            Deployment::DataCenter => format!(
                "{}/secure/attachment/{}/{}",
                self.base_url,
                attachment.id,
                query_escape(&attachment.filename)
            ),
        };
        json!({
            "self": format!("{}/attachment/{}", self.api(), attachment.id),
            "id": attachment.id,
            "filename": attachment.filename,
            "author": self.user(&attachment.author),
            "created": jira_timestamp(attachment.created),
            "size": attachment.size,
            "mimeType": attachment.mime_type,
            "content": content,
        })
    }

    fn issue_type(&self, name: &str) -> Value {
        let id = self
            .store
            .issue_type(name)
            .map(|(id, _)| id)
            .unwrap_or_default();
        json!({
            "self": format!("{}/issuetype/{id}", self.api()),
            "id": id,
            "description": "",
            "iconUrl": format!("{}/images/icons/issuetypes/task.svg", self.base_url),
            "name": name,
            "subtask": false,
            "hierarchyLevel": 0,
        })
    }

    fn project(&self) -> Value {
        let key = self.store.project_key();
        json!({
            "self": format!("{}/project/{PROJECT_ID}", self.api()),
            "id": PROJECT_ID,
            "key": key,
            "name": format!("{key} project"),
            "projectTypeKey": "software",
            "simplified": false,
        })
    }

    /// An issue with the selected fields; `changelog` among `expand` adds its history.
    pub(crate) fn issue(
        &self,
        issue: &IssueRecord,
        selection: &FieldSelection,
        expand: &[String],
    ) -> Value {
        let done = self
            .store
            .workflow()
            .status(&issue.status)
            .is_some_and(|status| status.category == StatusCategory::Done);
        let comments: Vec<Value> = issue
            .comments
            .iter()
            .map(|comment| self.comment(issue, comment, false))
            .collect();
        let attachments: Vec<Value> = issue
            .attachments
            .iter()
            .map(|attachment| self.attachment(attachment))
            .collect();
        let all_fields = json!({
            "summary": issue.summary,
            "description": self.body(
                &TextOf::Description(issue.id.clone()),
                issue.description.as_ref()
            ),
            "status": self.status(&issue.status),
            "labels": issue.labels,
            "created": jira_timestamp(issue.created),
            "updated": jira_timestamp(issue.updated),
            "reporter": self.user(&issue.reporter),
            "creator": self.user(&issue.creator),
            "assignee": null,
            "resolution": if done { json!({"id": "10000", "name": "Done"}) } else { Value::Null },
            "watches": {
                "self": format!("{}/issue/{}/watchers", self.api(), issue.key),
                "watchCount": issue.watchers.len(),
                "isWatching": issue.watchers.iter().any(|watcher| watcher == self.caller),
            },
            "attachment": attachments,
            "comment": {
                "comments": comments,
                "self": format!("{}/issue/{}/comment", self.api(), issue.id),
                "maxResults": comments.len(),
                "total": comments.len(),
                "startAt": 0,
            },
            "issuetype": self.issue_type(&issue.issue_type),
            "project": self.project(),
        });
        let mut all_fields = all_fields;
        if let Some(object) = all_fields.as_object_mut() {
            // Cloud shows every custom field of the issue's screens, `null` when unset.
            for field in self.store.custom_fields() {
                let value = issue.custom_fields.get(&field.id).cloned();
                object.insert(field.id.clone(), value.unwrap_or(Value::Null));
            }
        }
        let fields: Map<String, Value> = match all_fields {
            Value::Object(fields) => fields
                .into_iter()
                .filter(|(name, _)| selection.wants(name))
                .collect(),
            _ => Map::new(),
        };
        let mut rendered = json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "self": format!("{}/issue/{}", self.api(), issue.id),
            "key": issue.key,
            "fields": fields,
        });
        if expand.iter().any(|item| item == "changelog")
            && let Some(object) = rendered.as_object_mut()
        {
            object.insert("changelog".into(), self.changelog(issue));
        }
        rendered
    }

    /// The issue's field changes, as `expand=changelog` shows them.
    fn changelog(&self, issue: &IssueRecord) -> Value {
        let histories: Vec<Value> = issue
            .history
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let item = match &entry.action {
                    IssueAction::FieldChanged { field, from, to } => json!({
                        "field": field, "fieldtype": "jira", "fieldId": field,
                        "from": null, "fromString": from, "to": null, "toString": to,
                    }),
                    IssueAction::Transitioned { from, to, .. } => {
                        let id = |name: &str| {
                            self.store
                                .workflow()
                                .status(name)
                                .map(|status| status.id.clone())
                        };
                        json!({
                            "field": "status", "fieldtype": "jira", "fieldId": "status",
                            "from": id(from), "fromString": from, "to": id(to), "toString": to,
                        })
                    }
                    IssueAction::Attached {
                        attachment_id,
                        filename,
                    } => json!({
                        "field": "Attachment", "fieldtype": "jira", "fieldId": "attachment",
                        "from": null, "fromString": null, "to": attachment_id, "toString": filename,
                    }),
                    IssueAction::AttachmentDeleted {
                        attachment_id,
                        filename,
                    } => json!({
                        "field": "Attachment", "fieldtype": "jira", "fieldId": "attachment",
                        "from": attachment_id, "fromString": filename, "to": null, "toString": null,
                    }),
                    _ => return None,
                };
                Some(json!({
                    "id": (10000 + index).to_string(),
                    "author": self.user(&entry.account_id),
                    "created": jira_timestamp(entry.at),
                    "items": [item],
                }))
            })
            .collect();
        json!({
            "startAt": 0,
            "maxResults": histories.len(),
            "total": histories.len(),
            "histories": histories,
        })
    }

    pub(crate) fn transition(&self, transition: &WorkflowTransition) -> Value {
        json!({
            "id": transition.id,
            "name": transition.name,
            "to": self.status(&transition.to),
            "hasScreen": false,
            "isGlobal": false,
            "isInitial": false,
            "isAvailable": true,
            "isConditional": false,
            "isLooped": false,
        })
    }
}
