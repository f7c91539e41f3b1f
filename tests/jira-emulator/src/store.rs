//! The emulator's state and every change to it, shared by the REST API, the admin API and the
//! Rust API so that a human's action and the integration's request follow the same rules and
//! leave the same history.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use crate::Error;
use crate::adf;
use crate::custom_fields::CustomField;
use crate::emulator::Deployment;
use crate::model::{AttachmentRecord, CommentRecord, HistoryEntry, IssueAction, IssueRecord, User};
use crate::workflow::Workflow;

/// Jira's limit on summaries, in UTF-16 code units: Jira is Java and checks the string's
/// `length()`, so an emoji counts twice.
const SUMMARY_MAX_UTF16_UNITS: usize = 255;
/// Jira's limit on one label (UTF-16 code units, as for summaries).
const LABEL_MAX_CHARS: usize = 255;

/// What a new issue is made of, already checked for shape.
#[derive(Debug, Clone)]
pub(crate) struct NewIssueFields {
    pub issue_type: String,
    pub summary: String,
    pub description: Option<Value>,
    pub labels: Vec<String>,
    pub reporter: Option<String>,
    /// Custom field values by id, already checked against their fields.
    pub custom_fields: BTreeMap<String, Value>,
    /// Issue properties set with the create (its `properties` list).
    pub properties: BTreeMap<String, Value>,
    /// The description's wiki text as written through Data Center's REST API.
    pub description_wiki: Option<String>,
}

/// One edit of the labels list, as Jira's `update` verbs.
#[derive(Debug, Clone)]
pub(crate) enum LabelChange {
    Set(Vec<String>),
    Add(String),
    Remove(String),
}

/// An edit of an issue; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub(crate) struct IssueChanges {
    pub summary: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<Value>>,
    pub labels: Vec<LabelChange>,
    /// Custom field values by id, already checked (`null` clears one).
    pub custom_fields: BTreeMap<String, Value>,
    /// With a new description: its wiki text as written through Data Center's REST API.
    pub description_wiki: Option<String>,
}

/// A text whose wiki markup the store keeps as written (Data Center keeps the text it is given).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TextOf {
    /// The description of the issue with this id.
    Description(String),
    /// The body of the comment with this id.
    Comment(String),
}

/// Wiki text as written, and the document it was read as: it stands for the text while the
/// document is still that one.
#[derive(Debug, Clone)]
struct WrittenWiki {
    wiki: String,
    document: Value,
}

#[derive(Debug)]
struct ApiToken {
    email: String,
    token: String,
    account_id: String,
    /// An API token with scopes (Cloud): the classic scopes it was given. Such a token works only
    /// through Atlassian's API gateway; `None`: a token without scopes, for the site only.
    scopes: Option<Vec<String>>,
}

/// The emulator's whole state.
#[derive(Debug)]
pub(crate) struct Store {
    deployment: Deployment,
    project_key: String,
    issue_types: Vec<String>,
    workflow: Workflow,
    auto_watch: bool,
    max_attachment_bytes: u64,
    custom_fields: Vec<CustomField>,
    integration_account_id: String,
    users: Vec<User>,
    /// Data Center user keys (`JIRAUSER10000`, …) by accountId (username), never reused.
    user_keys: BTreeMap<String, String>,
    next_user_key: u64,
    api_tokens: Vec<ApiToken>,
    /// Wiki text written through Data Center's REST API, by what it is the text of.
    wiki: BTreeMap<TextOf, WrittenWiki>,
    issues: Vec<IssueRecord>,
    deleted: Vec<IssueRecord>,
    next_issue_number: u64,
    next_issue_id: u64,
    next_comment_id: u64,
    next_attachment_id: u64,
    last_timestamp: OffsetDateTime,
}

/// Settings the store is built from.
#[derive(Debug, Clone)]
pub(crate) struct StoreSettings {
    pub deployment: Deployment,
    pub project_key: String,
    pub issue_types: Vec<String>,
    pub workflow: Workflow,
    pub auto_watch: bool,
    pub max_attachment_bytes: u64,
    pub integration_email: String,
    pub integration_token: String,
    pub integration_display_name: String,
    pub custom_fields: Vec<CustomField>,
}

/// The project's id: there is one project.
pub(crate) const PROJECT_ID: &str = "10000";

impl Store {
    /// The site's custom field with this id.
    pub(crate) fn custom_field(&self, id: &str) -> Option<&CustomField> {
        self.custom_fields.iter().find(|field| field.id == id)
    }

    pub(crate) fn custom_fields(&self) -> &[CustomField] {
        &self.custom_fields
    }

    pub(crate) fn new(settings: StoreSettings) -> Store {
        let mut store = Store {
            deployment: settings.deployment,
            project_key: settings.project_key,
            issue_types: settings.issue_types,
            workflow: settings.workflow,
            auto_watch: settings.auto_watch,
            max_attachment_bytes: settings.max_attachment_bytes,
            custom_fields: settings.custom_fields,
            integration_account_id: String::new(),
            users: Vec::new(),
            user_keys: BTreeMap::new(),
            next_user_key: 10000,
            api_tokens: Vec::new(),
            wiki: BTreeMap::new(),
            issues: Vec::new(),
            deleted: Vec::new(),
            next_issue_number: 1,
            next_issue_id: 10000,
            next_comment_id: 10000,
            next_attachment_id: 10000,
            last_timestamp: OffsetDateTime::UNIX_EPOCH,
        };
        let integration = store.add_user(User::new(
            settings.integration_display_name,
            settings.integration_email.clone(),
        ));
        store.api_tokens.push(ApiToken {
            email: settings.integration_email.to_lowercase(),
            token: settings.integration_token,
            account_id: integration.account_id.clone(),
            scopes: None,
        });
        store.integration_account_id = integration.account_id;
        store
    }

    pub(crate) fn project_key(&self) -> &str {
        &self.project_key
    }

    pub(crate) fn deployment(&self) -> Deployment {
        self.deployment
    }

    pub(crate) fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    pub(crate) fn max_attachment_bytes(&self) -> u64 {
        self.max_attachment_bytes
    }

    pub(crate) fn integration_account_id(&self) -> &str {
        &self.integration_account_id
    }

    /// The scopes of the API token of `email` (`None`: a token without scopes, or none such).
    pub(crate) fn token_scopes(&self, email: &str, token: &str) -> Option<Vec<String>> {
        let email = email.to_lowercase();
        self.api_tokens
            .iter()
            .find(|entry| entry.email == email && entry.token == token)?
            .scopes
            .clone()
    }

    /// The active user whose e-mail and API token these are.
    pub(crate) fn authenticate(&self, email: &str, token: &str) -> Option<&User> {
        let email = email.to_lowercase();
        let entry = self
            .api_tokens
            .iter()
            .find(|entry| entry.email == email && entry.token == token)?;
        self.user(&entry.account_id).filter(|user| user.active)
    }

    /// The active user with this username (Data Center's `name`) and one of its tokens, as
    /// Data Center's Basic auth takes them.
    pub(crate) fn authenticate_username(&self, username: &str, token: &str) -> Option<&User> {
        let user = self.user(username).filter(|user| user.active)?;
        self.api_tokens
            .iter()
            .any(|entry| entry.account_id == user.account_id && entry.token == token)
            .then_some(user)
    }

    /// The active user this personal access token belongs to (Data Center's Bearer auth).
    pub(crate) fn authenticate_token(&self, token: &str) -> Option<&User> {
        let entry = self.api_tokens.iter().find(|entry| entry.token == token)?;
        self.user(&entry.account_id).filter(|user| user.active)
    }

    pub(crate) fn add_user(&mut self, mut user: User) -> User {
        if user.account_id.is_empty() {
            user.account_id = match self.deployment {
                Deployment::Cloud => generate_account_id(),
                Deployment::DataCenter => self.generate_username(&user),
            };
        }
        let replaced = self
            .user(&user.account_id)
            .map(|known| known.account_id.clone());
        let key = match replaced
            .as_ref()
            .and_then(|known| self.user_keys.remove(known))
        {
            Some(key) => key,
            None => {
                let key = format!("JIRAUSER{}", self.next_user_key);
                self.next_user_key += 1;
                key
            }
        };
        if let Some(replaced) = replaced {
            self.users.retain(|known| known.account_id != replaced);
        }
        self.user_keys.insert(user.account_id.clone(), key);
        self.users.push(user.clone());
        user
    }

    /// A Data Center username not taken yet: the e-mail's local part, or the display name with
    /// dots for spaces, lower-cased, with a number after it when taken.
    fn generate_username(&self, user: &User) -> String {
        let from_email = user
            .email
            .as_deref()
            .and_then(|email| email.split('@').next())
            .filter(|local| !local.is_empty())
            .map(str::to_lowercase);
        let base = from_email.unwrap_or_else(|| {
            user.display_name
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(".")
        });
        let base = if base.is_empty() {
            "user".to_owned()
        } else {
            base
        };
        let mut name = base.clone();
        let mut number = 2;
        while self.user(&name).is_some() {
            name = format!("{base}{number}");
            number += 1;
        }
        name
    }

    /// The Data Center user key of the user with this accountId (username).
    pub(crate) fn user_key(&self, account_id: &str) -> Option<&str> {
        let user = self.user(account_id)?;
        self.user_keys.get(&user.account_id).map(String::as_str)
    }

    /// The user with this Data Center user key.
    pub(crate) fn user_by_key(&self, key: &str) -> Option<&User> {
        let (account_id, _) = self
            .user_keys
            .iter()
            .find(|(_, known)| known.eq_ignore_ascii_case(key))?;
        self.user(account_id)
    }

    /// Lets `account_id` authenticate with its e-mail and `token` (its e-mail may be hidden).
    pub(crate) fn add_api_token(
        &mut self,
        account_id: &str,
        email: &str,
        token: &str,
        scopes: Option<Vec<String>>,
    ) -> Result<(), Error> {
        self.require_user(account_id)?;
        let email = email.to_lowercase();
        self.api_tokens.retain(|entry| entry.email != email);
        self.api_tokens.push(ApiToken {
            email,
            token: token.to_owned(),
            account_id: account_id.to_owned(),
            scopes,
        });
        Ok(())
    }

    /// The user with this accountId (in Data Center: username, which Jira compares without
    /// case).
    pub(crate) fn user(&self, account_id: &str) -> Option<&User> {
        match self.deployment {
            Deployment::Cloud => self.users.iter().find(|user| user.account_id == account_id),
            Deployment::DataCenter => self
                .users
                .iter()
                .find(|user| user.account_id.to_lowercase() == account_id.to_lowercase()),
        }
    }

    /// The wiki text of a description or comment body: as written through Data Center's REST
    /// API while the document is still the one it was read as, otherwise the document written as
    /// wiki text.
    pub(crate) fn wiki_text(&self, of: &TextOf, document: &Value) -> String {
        match self.wiki.get(of) {
            Some(written) if written.document == *document => written.wiki.clone(),
            _ => crate::wiki::from_document(document),
        }
    }

    /// Keeps (or, without one, forgets) the wiki text a description or body was written as.
    fn remember_wiki(&mut self, of: TextOf, wiki: Option<String>, document: Option<&Value>) {
        match (wiki, document) {
            (Some(wiki), Some(document)) => {
                self.wiki.insert(
                    of,
                    WrittenWiki {
                        wiki,
                        document: document.clone(),
                    },
                );
            }
            _ => {
                self.wiki.remove(&of);
            }
        }
    }

    fn require_user(&self, account_id: &str) -> Result<&User, Error> {
        self.user(account_id)
            .ok_or_else(|| Error::UserNotFound(account_id.to_owned()))
    }

    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    /// Jira's id for an issue type name, and the name as configured.
    pub(crate) fn issue_type(&self, name: &str) -> Option<(String, &str)> {
        self.issue_types
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .map(|index| (issue_type_id(index), self.issue_types[index].as_str()))
    }

    /// The issue type name with this Jira id.
    pub(crate) fn issue_type_by_id(&self, id: &str) -> Option<&str> {
        self.issue_types
            .iter()
            .enumerate()
            .find(|(index, _)| issue_type_id(*index) == id)
            .map(|(_, name)| name.as_str())
    }

    pub(crate) fn issues(&self) -> &[IssueRecord] {
        &self.issues
    }

    pub(crate) fn deleted_issues(&self) -> &[IssueRecord] {
        &self.deleted
    }

    /// The live issue with this key (case-insensitive) or numeric id.
    pub(crate) fn issue(&self, key_or_id: &str) -> Result<&IssueRecord, Error> {
        self.issues
            .iter()
            .find(|issue| issue.key.eq_ignore_ascii_case(key_or_id) || issue.id == key_or_id)
            .ok_or_else(|| Error::IssueNotFound(key_or_id.to_owned()))
    }

    fn issue_index(&self, key_or_id: &str) -> Result<usize, Error> {
        self.issues
            .iter()
            .position(|issue| issue.key.eq_ignore_ascii_case(key_or_id) || issue.id == key_or_id)
            .ok_or_else(|| Error::IssueNotFound(key_or_id.to_owned()))
    }

    /// A timestamp later than every one handed out before, so `updated` orders changes.
    fn now(&mut self) -> OffsetDateTime {
        let mut now = crate::now_utc();
        if now <= self.last_timestamp {
            now = self.last_timestamp + time::Duration::milliseconds(1);
        }
        self.last_timestamp = now;
        now
    }

    /// Applies `change` to the issue as `actor`, recording its actions and bumping `updated`.
    fn change_issue<T>(
        &mut self,
        actor: &str,
        key: &str,
        change: impl FnOnce(&mut IssueRecord, &mut Change<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.require_user(actor)?;
        let index = self.issue_index(key)?;
        let at = self.now();
        let mut context = Change {
            at,
            actions: Vec::new(),
            touches_updated: true,
            next_comment_id: &mut self.next_comment_id,
            next_attachment_id: &mut self.next_attachment_id,
        };
        let issue = &mut self.issues[index];
        let earlier = std::mem::take(&mut issue.earlier_versions);
        let before = issue.clone();
        issue.earlier_versions = earlier;
        let outcome = change(issue, &mut context)?;
        if !context.actions.is_empty() {
            if context.touches_updated {
                issue.updated = at;
                issue.keep_earlier_version(before, at);
            }
            issue
                .history
                .extend(context.actions.into_iter().map(|action| HistoryEntry {
                    at,
                    account_id: actor.to_owned(),
                    action,
                }));
        }
        Ok(outcome)
    }

    pub(crate) fn create_issue(
        &mut self,
        actor: &str,
        fields: NewIssueFields,
    ) -> Result<(String, String), Error> {
        self.require_user(actor)?;
        let reporter = match fields.reporter {
            Some(reporter) => self.require_user(&reporter)?.account_id.clone(),
            None => actor.to_owned(),
        };
        let status = self
            .workflow
            .initial()
            .map(|status| status.name.clone())
            .unwrap_or_default();
        let at = self.now();
        let id = self.next_issue_id.to_string();
        let key = format!("{}-{}", self.project_key, self.next_issue_number);
        self.next_issue_id += 1;
        self.next_issue_number += 1;
        let mut history = vec![HistoryEntry {
            at,
            account_id: actor.to_owned(),
            action: IssueAction::Created,
        }];
        let mut watchers = Vec::new();
        if self.auto_watch {
            watchers.push(actor.to_owned());
            history.push(HistoryEntry {
                at,
                account_id: actor.to_owned(),
                action: IssueAction::WatcherAdded {
                    account_id: actor.to_owned(),
                },
            });
        }
        self.issues.push(IssueRecord {
            id: id.clone(),
            key: key.clone(),
            project_key: self.project_key.clone(),
            issue_type: fields.issue_type,
            summary: fields.summary,
            description: fields.description.and_then(adf::non_empty),
            status,
            labels: normalized_labels(fields.labels),
            watchers,
            comments: Vec::new(),
            attachments: Vec::new(),
            properties: fields.properties,
            custom_fields: fields
                .custom_fields
                .into_iter()
                .filter(|(_, value)| !value.is_null())
                .collect(),
            creator: actor.to_owned(),
            reporter,
            created: at,
            updated: at,
            history,
            earlier_versions: Vec::new(),
        });
        let description = self
            .issues
            .last()
            .and_then(|issue| issue.description.clone());
        self.remember_wiki(
            TextOf::Description(id.clone()),
            fields.description_wiki,
            description.as_ref(),
        );
        Ok((id, key))
    }

    /// Applies the edit; `Ok(false)` when nothing actually changed.
    pub(crate) fn edit_issue(
        &mut self,
        actor: &str,
        key: &str,
        changes: IssueChanges,
    ) -> Result<bool, Error> {
        if let Some(summary) = &changes.summary {
            check_summary(summary)?;
        }
        for label_change in &changes.labels {
            match label_change {
                LabelChange::Set(labels) => {
                    labels.iter().try_for_each(|label| check_label(label))?
                }
                LabelChange::Add(label) | LabelChange::Remove(label) => check_label(label)?,
            }
        }
        // Only a Data Center wiki text is compared with the one the description has now.
        let wiki_before = changes.description_wiki.as_ref().and_then(|_| {
            let issue = self.issue(key).ok()?;
            let document = issue.description.as_ref()?;
            Some(self.wiki_text(&TextOf::Description(issue.id.clone()), document))
        });
        let description_wiki = changes.description_wiki.clone();
        let (changed, rewritten) = self.change_issue(actor, key, |issue, change| {
            let mut rewritten = None;
            if let Some(summary) = changes.summary
                && summary != issue.summary
            {
                change.actions.push(IssueAction::FieldChanged {
                    field: "summary".into(),
                    from: Some(issue.summary.clone()),
                    to: Some(summary.clone()),
                });
                issue.summary = summary;
            }
            if let Some(description) = changes.description {
                let description = description.and_then(adf::non_empty);
                // Data Center keeps the wiki text as written: new text is a change even when it
                // reads as the same document.
                let new_wiki = description.as_ref().and(changes.description_wiki.as_ref());
                let wiki_changed = new_wiki.is_some_and(|wiki| Some(wiki) != wiki_before.as_ref());
                if description != issue.description || wiki_changed {
                    change.actions.push(IssueAction::FieldChanged {
                        field: "description".into(),
                        from: issue.description.as_ref().map(adf::to_plain_text),
                        to: description.as_ref().map(adf::to_plain_text),
                    });
                    rewritten = Some((issue.id.clone(), description.clone()));
                    issue.description = description;
                }
            }
            if !changes.labels.is_empty() {
                let mut labels = issue.labels.clone();
                for label_change in changes.labels {
                    match label_change {
                        LabelChange::Set(new) => labels = new,
                        LabelChange::Add(label) => labels.push(label),
                        LabelChange::Remove(label) => labels.retain(|known| *known != label),
                    }
                }
                let labels = normalized_labels(labels);
                if labels != issue.labels {
                    change.actions.push(IssueAction::FieldChanged {
                        field: "labels".into(),
                        from: Some(issue.labels.join(" ")),
                        to: Some(labels.join(" ")),
                    });
                    issue.labels = labels;
                }
            }
            for (id, value) in changes.custom_fields {
                let before = issue.custom_fields.get(&id).cloned();
                let after = (!value.is_null()).then_some(value);
                if before != after {
                    change.actions.push(IssueAction::FieldChanged {
                        field: id.clone(),
                        from: before.as_ref().map(Value::to_string),
                        to: after.as_ref().map(Value::to_string),
                    });
                    match after {
                        Some(value) => issue.custom_fields.insert(id, value),
                        None => issue.custom_fields.remove(&id),
                    };
                }
            }
            Ok((!change.actions.is_empty(), rewritten))
        })?;
        if let Some((id, description)) = rewritten {
            self.remember_wiki(
                TextOf::Description(id),
                description_wiki,
                description.as_ref(),
            );
        }
        Ok(changed)
    }

    /// Applies one transition offered from the issue's current status.
    pub(crate) fn transition(
        &mut self,
        actor: &str,
        key: &str,
        transition_id: &str,
    ) -> Result<(), Error> {
        let workflow = self.workflow.clone();
        self.change_issue(actor, key, |issue, change| {
            let transition = workflow
                .transitions_from(&issue.status)
                .find(|transition| transition.id == transition_id)
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "Transition id '{transition_id}' is not valid for this issue."
                    ))
                })?;
            let to = workflow
                .status(&transition.to)
                .map_or_else(|| transition.to.clone(), |status| status.name.clone());
            change.actions.push(IssueAction::Transitioned {
                transition_id: transition.id.clone(),
                from: issue.status.clone(),
                to: to.clone(),
            });
            issue.status = to;
            Ok(())
        })
    }

    /// Adds a comment; `wiki`: its body as written through Data Center's REST API.
    pub(crate) fn add_comment(
        &mut self,
        actor: &str,
        key: &str,
        body: Value,
        wiki: Option<String>,
        properties: BTreeMap<String, Value>,
    ) -> Result<CommentRecord, Error> {
        let auto_watch = self.auto_watch;
        let comment = self.change_issue(actor, key, |issue, change| {
            let comment = CommentRecord {
                id: change.comment_id(),
                body,
                author: actor.to_owned(),
                update_author: actor.to_owned(),
                created: change.at,
                updated: change.at,
                properties,
            };
            change.actions.push(IssueAction::Commented {
                comment_id: comment.id.clone(),
            });
            if auto_watch && !issue.watchers.iter().any(|watcher| watcher == actor) {
                issue.watchers.push(actor.to_owned());
                change.actions.push(IssueAction::WatcherAdded {
                    account_id: actor.to_owned(),
                });
            }
            issue.comments.push(comment.clone());
            Ok(comment)
        })?;
        self.remember_wiki(
            TextOf::Comment(comment.id.clone()),
            wiki,
            Some(&comment.body),
        );
        Ok(comment)
    }

    /// Replaces a comment's body; `wiki`: as written through Data Center's REST API.
    pub(crate) fn edit_comment(
        &mut self,
        actor: &str,
        key: &str,
        comment_id: &str,
        body: Value,
        wiki: Option<String>,
    ) -> Result<CommentRecord, Error> {
        let comment = self.change_issue(actor, key, |issue, change| {
            let comment = issue
                .comments
                .iter_mut()
                .find(|comment| comment.id == comment_id)
                .ok_or_else(|| Error::CommentNotFound(comment_id.to_owned()))?;
            comment.body = body;
            comment.update_author = actor.to_owned();
            comment.updated = change.at;
            change.actions.push(IssueAction::CommentEdited {
                comment_id: comment.id.clone(),
            });
            Ok(comment.clone())
        })?;
        self.remember_wiki(
            TextOf::Comment(comment.id.clone()),
            wiki,
            Some(&comment.body),
        );
        Ok(comment)
    }

    /// Deletes a comment. Jira raises its own comment-deleted event for it, not an issue update:
    /// the issue's `updated` stays and no "Work item updated/commented" rule fires (the
    /// strictest reading; only a later change or a full re-read finds it gone).
    pub(crate) fn delete_comment(
        &mut self,
        actor: &str,
        key: &str,
        comment_id: &str,
    ) -> Result<(), Error> {
        self.change_issue(actor, key, |issue, change| {
            change.touches_updated = false;
            let index = issue
                .comments
                .iter()
                .position(|comment| comment.id == comment_id)
                .ok_or_else(|| Error::CommentNotFound(comment_id.to_owned()))?;
            issue.comments.remove(index);
            change.actions.push(IssueAction::CommentDeleted {
                comment_id: comment_id.to_owned(),
            });
            Ok(())
        })
    }

    /// Deletes an attachment: a change of the issue's Attachment field (in its changelog, like
    /// adding one), so `updated` moves; returns the issue's key.
    pub(crate) fn delete_attachment(
        &mut self,
        actor: &str,
        attachment_id: &str,
    ) -> Result<String, Error> {
        let key = self.attachment(attachment_id)?.0.key.clone();
        self.change_issue(actor, &key, |issue, change| {
            let index = issue
                .attachments
                .iter()
                .position(|attachment| attachment.id == attachment_id)
                .ok_or_else(|| Error::AttachmentNotFound(attachment_id.to_owned()))?;
            let removed = issue.attachments.remove(index);
            change.actions.push(IssueAction::AttachmentDeleted {
                attachment_id: removed.id,
                filename: removed.filename,
            });
            Ok(())
        })?;
        Ok(key)
    }

    pub(crate) fn attach(
        &mut self,
        actor: &str,
        key: &str,
        filename: &str,
        mime_type: &str,
        bytes: Bytes,
    ) -> Result<AttachmentRecord, Error> {
        let limit = self.max_attachment_bytes;
        let size = bytes.len() as u64;
        if size > limit {
            return Err(Error::AttachmentTooLarge { size, limit });
        }
        self.change_issue(actor, key, |issue, change| {
            let attachment = AttachmentRecord {
                id: change.attachment_id(),
                filename: filename.to_owned(),
                mime_type: mime_type.to_owned(),
                size,
                bytes,
                author: actor.to_owned(),
                created: change.at,
            };
            change.actions.push(IssueAction::Attached {
                attachment_id: attachment.id.clone(),
                filename: attachment.filename.clone(),
            });
            issue.attachments.push(attachment.clone());
            Ok(attachment)
        })
    }

    /// The attachment with this id and the issue it is on.
    pub(crate) fn attachment(
        &self,
        attachment_id: &str,
    ) -> Result<(&IssueRecord, &AttachmentRecord), Error> {
        self.issues
            .iter()
            .find_map(|issue| {
                issue
                    .attachments
                    .iter()
                    .find(|attachment| attachment.id == attachment_id)
                    .map(|attachment| (issue, attachment))
            })
            .ok_or_else(|| Error::AttachmentNotFound(attachment_id.to_owned()))
    }

    pub(crate) fn add_watcher(
        &mut self,
        actor: &str,
        key: &str,
        account_id: &str,
    ) -> Result<(), Error> {
        self.issue(key)?;
        let account_id = &self.require_user(account_id)?.account_id.clone();
        self.change_issue(actor, key, |issue, change| {
            change.touches_updated = false;
            if !issue.watchers.iter().any(|watcher| watcher == account_id) {
                issue.watchers.push(account_id.to_owned());
                change.actions.push(IssueAction::WatcherAdded {
                    account_id: account_id.to_owned(),
                });
            }
            Ok(())
        })
    }

    pub(crate) fn remove_watcher(
        &mut self,
        actor: &str,
        key: &str,
        account_id: &str,
    ) -> Result<(), Error> {
        self.issue(key)?;
        let account_id = &self.require_user(account_id)?.account_id.clone();
        self.change_issue(actor, key, |issue, change| {
            change.touches_updated = false;
            if issue.watchers.iter().any(|watcher| watcher == account_id) {
                issue.watchers.retain(|watcher| watcher != account_id);
                change.actions.push(IssueAction::WatcherRemoved {
                    account_id: account_id.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// The issue (key) and comment with this comment id.
    pub(crate) fn comment(
        &self,
        comment_id: &str,
    ) -> Result<(&IssueRecord, &CommentRecord), Error> {
        self.issues
            .iter()
            .find_map(|issue| {
                issue
                    .comments
                    .iter()
                    .find(|comment| comment.id == comment_id)
                    .map(|comment| (issue, comment))
            })
            .ok_or_else(|| Error::CommentNotFound(comment_id.to_owned()))
    }

    /// Sets (`Some`) or deletes (`None`) a comment property; `Ok(true)` when it is new. Like
    /// an issue property it is not a field: the issue's `updated` stays.
    pub(crate) fn set_comment_property(
        &mut self,
        actor: &str,
        comment_id: &str,
        property_key: &str,
        value: Option<Value>,
    ) -> Result<bool, Error> {
        check_property_key(property_key)?;
        let key = self.comment(comment_id)?.0.key.clone();
        self.change_issue(actor, &key, |issue, change| {
            change.touches_updated = false;
            let comment = issue
                .comments
                .iter_mut()
                .find(|comment| comment.id == comment_id)
                .ok_or_else(|| Error::CommentNotFound(comment_id.to_owned()))?;
            match value {
                Some(value) => Ok(comment
                    .properties
                    .insert(property_key.to_owned(), value)
                    .is_none()),
                None => comment
                    .properties
                    .remove(property_key)
                    .map(|_| false)
                    .ok_or_else(|| Error::PropertyNotFound(property_key.to_owned())),
            }
        })
    }

    /// Sets an issue property; `Ok(true)` when it is new.
    pub(crate) fn set_property(
        &mut self,
        actor: &str,
        key: &str,
        property_key: &str,
        value: Value,
    ) -> Result<bool, Error> {
        check_property_key(property_key)?;
        self.change_issue(actor, key, |issue, change| {
            change.touches_updated = false;
            let created = issue
                .properties
                .insert(property_key.to_owned(), value)
                .is_none();
            change.actions.push(IssueAction::PropertySet {
                key: property_key.to_owned(),
            });
            Ok(created)
        })
    }

    pub(crate) fn delete_property(
        &mut self,
        actor: &str,
        key: &str,
        property_key: &str,
    ) -> Result<(), Error> {
        self.change_issue(actor, key, |issue, change| {
            change.touches_updated = false;
            issue
                .properties
                .remove(property_key)
                .ok_or_else(|| Error::PropertyNotFound(property_key.to_owned()))?;
            change.actions.push(IssueAction::PropertyDeleted {
                key: property_key.to_owned(),
            });
            Ok(())
        })
    }

    /// Deletes the issue (kept, with its history, among the deleted ones); returns its key.
    pub(crate) fn delete_issue(&mut self, actor: &str, key: &str) -> Result<String, Error> {
        self.require_user(actor)?;
        let index = self.issue_index(key)?;
        let at = self.now();
        let mut issue = self.issues.remove(index);
        issue.history.push(HistoryEntry {
            at,
            account_id: actor.to_owned(),
            action: IssueAction::Deleted,
        });
        let key = issue.key.clone();
        self.deleted.push(issue);
        Ok(key)
    }
}

/// What one change of an issue sees: its instant, the actions it records, and the id counters.
struct Change<'a> {
    at: OffsetDateTime,
    actions: Vec<IssueAction>,
    /// Watchers and properties are not fields: Jira leaves `updated` alone for them.
    touches_updated: bool,
    next_comment_id: &'a mut u64,
    next_attachment_id: &'a mut u64,
}

impl Change<'_> {
    fn comment_id(&mut self) -> String {
        let id = self.next_comment_id.to_string();
        *self.next_comment_id += 1;
        id
    }

    fn attachment_id(&mut self) -> String {
        let id = self.next_attachment_id.to_string();
        *self.next_attachment_id += 1;
        id
    }
}

fn issue_type_id(index: usize) -> String {
    (10001 + index).to_string()
}

/// Jira returns labels sorted and without repeats.
fn normalized_labels(mut labels: Vec<String>) -> Vec<String> {
    labels.sort();
    labels.dedup();
    labels
}

/// A Cloud-shaped accountId (`712020:` and a UUID).
fn generate_account_id() -> String {
    let hex = |digits: usize| -> String {
        (0..digits)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "712020:{}-{}-{}-{}-{}",
        hex(8),
        hex(4),
        hex(4),
        hex(4),
        hex(12)
    )
}

/// Jira's checks on a summary, as the field error it answers with.
pub(crate) fn check_summary(summary: &str) -> Result<(), Error> {
    if summary.trim().is_empty() {
        Err(Error::field(
            "summary",
            "You must specify a summary of the issue.",
        ))
    } else if summary.encode_utf16().count() > SUMMARY_MAX_UTF16_UNITS {
        Err(Error::field(
            "summary",
            "Summary must be less than 255 characters.",
        ))
    } else if summary.contains(['\n', '\r']) {
        Err(Error::field(
            "summary",
            "The summary is invalid because it contains newline characters.",
        ))
    } else {
        Ok(())
    }
}

/// Jira's checks on a label: no spaces, not empty, at most 255 characters.
pub(crate) fn check_label(label: &str) -> Result<(), Error> {
    if label.is_empty() || label.chars().any(char::is_whitespace) {
        Err(Error::field(
            "labels",
            format!("The label '{label}' contains spaces which is invalid."),
        ))
    } else if label.encode_utf16().count() > LABEL_MAX_CHARS {
        Err(Error::field(
            "labels",
            "The label must not be longer than 255 characters.",
        ))
    } else {
        Ok(())
    }
}

/// Jira's check on an entity property key (an issue's or a comment's): 1 to 255 characters.
pub(crate) fn check_property_key(property_key: &str) -> Result<(), Error> {
    if property_key.is_empty() || property_key.chars().count() > 255 {
        Err(Error::bad_request(
            "The property key must be between 1 and 255 characters long.",
        ))
    } else {
        Ok(())
    }
}
