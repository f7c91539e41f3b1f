//! The emulator itself: configuration, the running server, and the Rust API that acts as human
//! Jira users and reads the state back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::adf;
use crate::automation::{Automation, IssueEvent, SnsTarget};
use crate::custom_fields::CustomField;
use crate::faults::{Faults, RateLimit};
use crate::http;
use crate::http::media::Media;
use crate::http::render::data_center_user;
use crate::model::{
    IssueAction, IssueEdit, IssueRecord, MediaRequest, NewIssue, RecordedRequest, RichText, User,
    jira_timestamp,
};
use crate::store::{
    IssueChanges, LabelChange, NewIssueFields, Store, StoreSettings, TextOf, check_label,
    check_summary,
};
use crate::webhooks::{WebhookEvent, Webhooks};
use crate::workflow::Workflow;
use crate::{Error, lock};

/// Default attachment size limit: 10 MiB (Cloud's default is far larger; tests set what they
/// need with `max_attachment_bytes`).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// Which Jira the emulator is: Jira Cloud (the default) or Jira Data Center / Server (see the
/// crate documentation's "Data Center mode" for everything that differs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deployment {
    #[default]
    Cloud,
    DataCenter,
}

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct JiraEmulatorConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// The integration user's e-mail (Basic auth user name, and `GET /myself`; in Data Center
    /// its local part is the integration user's username).
    pub email: String,
    /// The integration user's API token (in Data Center: its personal access token).
    pub token: String,
    pub display_name: String,
    pub project_key: String,
    /// Issue types `POST /issue` accepts, by name.
    pub issue_types: Vec<String>,
    /// Where Automation messages go; `None` only records them. Ignored in Data Center, which has
    /// no Amazon SNS action.
    pub sns: Option<SnsTarget>,
    pub workflow: Workflow,
    pub rate_limit: Option<RateLimit>,
    pub max_attachment_bytes: u64,
    /// Cloud's default "watch issues you create or comment on".
    pub auto_watch: bool,
    /// Cloud's attachment downloads: `GET /attachment/content/{id}` answers 303 to the media
    /// host (a second origin) unless the request says `redirect=false`. Off, the bytes are
    /// served directly, as with `redirect=false`.
    pub attachment_redirect: bool,
    /// Cloud's search index lags its writes: `/search/jql` does not see an issue created less
    /// than this long ago, and matches one updated less than this long ago by its earlier
    /// fields, unless the request names its id in `reconcileIssues`.
    /// Zero (the default) makes search see every write at once. Not applied in Data Center,
    /// whose index is updated with each write.
    pub search_lag: Duration,
    /// The site's custom fields (`GET /field`, settable by id on create and edit; some
    /// required on the create screen). None by default.
    pub custom_fields: Vec<CustomField>,
    /// Jira Cloud (the default) or Jira Data Center.
    pub deployment: Deployment,
}

impl Default for JiraEmulatorConfig {
    fn default() -> JiraEmulatorConfig {
        JiraEmulatorConfig {
            port: 0,
            email: "integration@example.com".into(),
            token: "integration-token".into(),
            display_name: "Security Incident Response Integration".into(),
            project_key: "SEC".into(),
            issue_types: ["Task", "Bug", "Story", "Epic", "Incident"]
                .map(String::from)
                .to_vec(),
            sns: None,
            workflow: Workflow::default(),
            rate_limit: None,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            auto_watch: true,
            attachment_redirect: true,
            search_lag: Duration::ZERO,
            custom_fields: Vec::new(),
            deployment: Deployment::Cloud,
        }
    }
}

/// What the HTTP handlers and the Rust API share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) deployment: Deployment,
    pub(crate) base_url: String,
    /// The media host's origin, `http://127.0.0.1:<another port>`.
    pub(crate) media_url: String,
    /// The API gateway's origin, `http://127.0.0.1:<a third port>` (see
    /// [`JiraEmulator::gateway_url`]).
    pub(crate) gateway_origin: String,
    /// The site's cloud id ([`CLOUD_ID`]).
    pub(crate) cloud_id: String,
    pub(crate) attachment_redirect: bool,
    pub(crate) media: Mutex<Media>,
    /// [`JiraEmulatorConfig::search_lag`] in milliseconds (changed by `set_search_lag`).
    search_lag_ms: AtomicU64,
    /// Most issues a `/search/jql` page holds whatever `maxResults` asks (0: no such limit);
    /// changed by `set_search_short_pages`.
    search_short_page: AtomicU64,
    pub(crate) store: Mutex<Store>,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Faults,
    pub(crate) automation: Automation,
    pub(crate) webhooks: Webhooks,
}

impl Shared {
    /// The page size a `/search/jql` request asking for `asked` gets (see
    /// [`JiraEmulator::set_search_short_pages`]).
    pub(crate) fn search_page_size(&self, asked: usize) -> usize {
        match usize::try_from(self.search_short_page.load(Ordering::Relaxed)) {
            Ok(0) | Err(_) => asked,
            Ok(most) => asked.min(most),
        }
    }

    /// How far the search index lags the writes: never in Data Center.
    pub(crate) fn search_lag(&self) -> Duration {
        match self.deployment {
            Deployment::Cloud => Duration::from_millis(self.search_lag_ms.load(Ordering::Relaxed)),
            Deployment::DataCenter => Duration::ZERO,
        }
    }

    /// Runs a change of the store and lets Automation see it once committed. Messages are
    /// queued before the lock is released, so they leave in the order the changes were made;
    /// whoever re-reads the issue on receipt waits for the lock and sees the change.
    pub(crate) fn change<T>(
        &self,
        actor: &str,
        change: impl FnOnce(&mut Store) -> Result<T, Error>,
        events: impl FnOnce(&T) -> Vec<(String, IssueEvent)>,
    ) -> Result<T, Error> {
        let mut store = lock(&self.store);
        let outcome = change(&mut store)?;
        for (key, event) in events(&outcome) {
            self.automation.issue_event(&key, event, actor);
            if self.webhooks.any() {
                let at_ms = crate::now_utc().unix_timestamp_nanos() / 1_000_000;
                for webhook in webhook_events(&store, &self.base_url, &key, event, actor) {
                    self.webhooks
                        .send(&webhook, u64::try_from(at_ms).unwrap_or_default());
                }
            }
        }
        drop(store);
        Ok(outcome)
    }

    /// The canonical key of an issue named by key or id.
    pub(crate) fn issue_key(&self, key_or_id: &str) -> Result<String, Error> {
        lock(&self.store)
            .issue(key_or_id)
            .map(|issue| issue.key.clone())
    }

    pub(crate) fn create_issue(
        &self,
        actor: &str,
        fields: NewIssueFields,
    ) -> Result<(String, String), Error> {
        self.change(
            actor,
            |store| store.create_issue(actor, fields),
            |(_, key)| vec![(key.clone(), IssueEvent::Changed)],
        )
    }

    pub(crate) fn edit_issue(
        &self,
        actor: &str,
        key: &str,
        changes: IssueChanges,
    ) -> Result<(), Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.edit_issue(actor, &key, changes),
            |changed| event_if(*changed, &key),
        )
        .map(drop)
    }

    pub(crate) fn transition(
        &self,
        actor: &str,
        key: &str,
        transition_id: &str,
    ) -> Result<(), Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.transition(actor, &key, transition_id),
            |()| event_if(true, &key),
        )
    }

    pub(crate) fn add_comment(
        &self,
        actor: &str,
        key: &str,
        body: Value,
        wiki: Option<String>,
        properties: std::collections::BTreeMap<String, Value>,
    ) -> Result<crate::model::CommentRecord, Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.add_comment(actor, &key, body, wiki, properties),
            |_| event_if(true, &key),
        )
    }

    pub(crate) fn edit_comment(
        &self,
        actor: &str,
        key: &str,
        comment_id: &str,
        body: Value,
        wiki: Option<String>,
    ) -> Result<crate::model::CommentRecord, Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.edit_comment(actor, &key, comment_id, body, wiki),
            |_| event_if(true, &key),
        )
    }

    pub(crate) fn attach(
        &self,
        actor: &str,
        key: &str,
        filename: &str,
        mime_type: &str,
        bytes: Bytes,
    ) -> Result<crate::model::AttachmentRecord, Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.attach(actor, &key, filename, mime_type, bytes),
            |_| event_if(true, &key),
        )
    }

    /// No Automation message: see [`Store::delete_comment`](crate::store::Store).
    pub(crate) fn delete_comment(
        &self,
        actor: &str,
        key: &str,
        comment_id: &str,
    ) -> Result<(), Error> {
        let key = self.issue_key(key)?;
        self.change(
            actor,
            |store| store.delete_comment(actor, &key, comment_id),
            |()| Vec::new(),
        )
    }

    /// An issue update for Automation, as adding an attachment is.
    pub(crate) fn delete_attachment(&self, actor: &str, attachment_id: &str) -> Result<(), Error> {
        self.change(
            actor,
            |store| store.delete_attachment(actor, attachment_id),
            |key| event_if(true, key),
        )
        .map(drop)
    }

    pub(crate) fn delete_issue(&self, actor: &str, key: &str) -> Result<(), Error> {
        self.change(
            actor,
            |store| store.delete_issue(actor, key),
            |key| vec![(key.clone(), IssueEvent::Deleted)],
        )
        .map(drop)
    }
}

/// The human side: what a person does in Jira's UI, shared by the Rust and admin APIs.
impl Shared {
    pub(crate) fn human_create_issue(
        &self,
        as_account: &str,
        new: NewIssue,
    ) -> Result<String, Error> {
        check_summary(&new.summary)?;
        new.labels.iter().try_for_each(|label| check_label(label))?;
        let issue_type = lock(&self.store)
            .issue_type(&new.issue_type)
            .map(|(_, name)| name.to_owned())
            .ok_or_else(|| Error::field("issuetype", "The issue type selected is invalid."))?;
        let description = new
            .description
            .map(|text| document(text, "description"))
            .transpose()?;
        let mut custom_fields = std::collections::BTreeMap::new();
        {
            let store = lock(&self.store);
            // Rich text as the site keeps it: ADF on Cloud, wiki markup on Data Center.
            let adf = store.deployment() == Deployment::Cloud;
            for (id, value) in new.custom_fields {
                let field = store
                    .custom_field(&id)
                    .ok_or_else(|| Error::field(id.as_str(), "no such custom field"))?;
                let accepted = field
                    .accept_in(&value, adf)
                    .map_err(|message| Error::field(id.as_str(), message))?;
                custom_fields.insert(id, accepted);
            }
        }
        self.create_issue(
            as_account,
            NewIssueFields {
                issue_type,
                summary: new.summary,
                description,
                labels: new.labels,
                reporter: None,
                custom_fields,
                properties: Default::default(),
                description_wiki: None,
            },
        )
        .map(|(_, key)| key)
    }

    pub(crate) fn human_edit_issue(
        &self,
        as_account: &str,
        key: &str,
        edit: IssueEdit,
    ) -> Result<(), Error> {
        let description = edit
            .description
            .map(|text| document(text, "description"))
            .transpose()?;
        self.edit_issue(
            as_account,
            key,
            IssueChanges {
                summary: edit.summary,
                description: description.map(Some),
                labels: edit.labels.map(LabelChange::Set).into_iter().collect(),
                custom_fields: Default::default(),
                description_wiki: None,
            },
        )
    }

    pub(crate) fn human_transition_to(
        &self,
        as_account: &str,
        key: &str,
        status: &str,
    ) -> Result<(), Error> {
        let key = self.issue_key(key)?;
        let path: Vec<String> = {
            let store = lock(&self.store);
            let current = store.issue(&key)?.status.clone();
            store
                .workflow()
                .path(&current, status)
                .ok_or_else(|| Error::StatusUnreachable {
                    from: current.clone(),
                    to: status.to_owned(),
                })?
                .into_iter()
                .map(|transition| transition.id.clone())
                .collect()
        };
        for transition_id in path {
            self.transition(as_account, &key, &transition_id)?;
        }
        Ok(())
    }

    pub(crate) fn human_comment(
        &self,
        as_account: &str,
        key: &str,
        body: RichText,
    ) -> Result<String, Error> {
        let body = document(body, "comment")?;
        self.add_comment(as_account, key, body, None, Default::default())
            .map(|comment| comment.id)
    }

    pub(crate) fn human_edit_comment(
        &self,
        as_account: &str,
        key: &str,
        comment_id: &str,
        body: RichText,
    ) -> Result<(), Error> {
        let body = document(body, "comment")?;
        self.edit_comment(as_account, key, comment_id, body, None)
            .map(drop)
    }

    pub(crate) fn human_attach(
        &self,
        as_account: &str,
        key: &str,
        file_name: &str,
        bytes: Bytes,
    ) -> Result<String, Error> {
        self.attach(
            as_account,
            key,
            file_name,
            http::mime_type_for(file_name),
            bytes,
        )
        .map(|attachment| attachment.id)
    }
}

fn event_if(changed: bool, key: &str) -> Vec<(String, IssueEvent)> {
    if changed {
        vec![(key.to_owned(), IssueEvent::Changed)]
    } else {
        Vec::new()
    }
}

/// The Jira site's origin in process: `.invalid` never resolves, so nothing can reach it over
/// a socket.
pub const IN_PROCESS_URL: &str = "http://jira.in-process.invalid";
/// The media host's origin in process (another origin, as in Cloud).
pub const IN_PROCESS_MEDIA_URL: &str = "http://media.jira.in-process.invalid";
/// The API gateway's origin in process (another origin, as Atlassian's `api.atlassian.com`).
pub const IN_PROCESS_GATEWAY_URL: &str = "http://api.jira.in-process.invalid";
/// The cloud id of every emulated site (what `/_edge/tenant_info` answers).
pub const CLOUD_ID: &str = "8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f";

/// A Jira Cloud emulator: a server on `127.0.0.1` ([`JiraEmulator::start`]) or in process
/// ([`JiraEmulator::in_process`]); a server stops when dropped.
#[derive(Debug)]
pub struct JiraEmulator {
    shared: Arc<Shared>,
    integration_account_id: String,
    /// The servers and the Automation publisher; none in process.
    tasks: Vec<JoinHandle<()>>,
}

impl JiraEmulator {
    /// Listens on `127.0.0.1:<config.port>` and serves in a background task.
    pub async fn start(config: JiraEmulatorConfig) -> Result<JiraEmulator, Error> {
        config.workflow.validate()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| Error::Io {
                context: format!("binding 127.0.0.1:{}", config.port),
                source,
            })?;
        let port = bound_port(&listener)?;
        // The media host: another port is another origin, so a client following the redirect
        // must not send Jira credentials there.
        let media_listener = bind_media_host()?;
        let media_port = bound_port(&media_listener)?;
        // The API gateway: another origin too, as api.atlassian.com is.
        let gateway_listener = bind_media_host()?;
        let gateway_port = bound_port(&gateway_listener)?;
        // Data Center has no Amazon SNS action: its Automation publishes nothing (`sns` ignored).
        let (automation, publisher) = match config.deployment {
            Deployment::Cloud => {
                let (automation, publisher) = Automation::start(config.sns.clone()).await;
                (automation, Some(publisher))
            }
            Deployment::DataCenter => (Automation::data_center(), None),
        };
        let (shared, integration_account_id) = Self::shared(
            config,
            format!("http://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{media_port}"),
            format!("http://127.0.0.1:{gateway_port}"),
            automation,
        );
        let app = http::router(Arc::clone(&shared));
        let media_app = http::media::router(Arc::clone(&shared));
        let gateway_app = http::gateway_router(Arc::clone(&shared));
        let gateway_server = tokio::spawn(async move {
            if let Err(error) = axum::serve(gateway_listener, gateway_app).await {
                tracing::error!(%error, "the Jira emulator's API gateway stopped serving");
            }
        });
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the Jira emulator stopped serving");
            }
        });
        let media_server = tokio::spawn(async move {
            if let Err(error) = axum::serve(media_listener, media_app).await {
                tracing::error!(%error, "the Jira emulator's media host stopped serving");
            }
        });
        Ok(JiraEmulator {
            shared,
            integration_account_id,
            tasks: [
                Some(server),
                Some(media_server),
                Some(gateway_server),
                publisher,
            ]
            .into_iter()
            .flatten()
            .collect(),
        })
    }

    /// The same emulator without a socket or a task: its site ([`IN_PROCESS_URL`]) and media
    /// host ([`IN_PROCESS_MEDIA_URL`]) answer through [`JiraEmulator::routers`], called in the
    /// caller's task, and Automation messages wait in [`JiraEmulator::take_automation_messages`]
    /// (`config.sns` and `config.port` are not used). For a deterministic simulation on a
    /// paused clock.
    pub fn in_process(config: JiraEmulatorConfig) -> Result<JiraEmulator, Error> {
        config.workflow.validate()?;
        let automation = match config.deployment {
            Deployment::Cloud => Automation::in_process(),
            Deployment::DataCenter => Automation::data_center(),
        };
        let (shared, integration_account_id) = Self::shared(
            config,
            IN_PROCESS_URL.to_owned(),
            IN_PROCESS_MEDIA_URL.to_owned(),
            IN_PROCESS_GATEWAY_URL.to_owned(),
            automation,
        );
        Ok(JiraEmulator {
            shared,
            integration_account_id,
            tasks: Vec::new(),
        })
    }

    /// The site's and the media host's routers, each with its origin: what the servers serve.
    /// In process, a transport hands each request to the router of its URL's origin.
    pub fn routers(&self) -> Vec<(String, axum::Router)> {
        vec![
            (
                self.shared.base_url.clone(),
                http::router(Arc::clone(&self.shared)),
            ),
            (
                self.shared.media_url.clone(),
                http::media::router(Arc::clone(&self.shared)),
            ),
            (
                self.shared.gateway_origin.clone(),
                http::gateway_router(Arc::clone(&self.shared)),
            ),
        ]
    }

    /// In process: the Automation messages produced since the last call, oldest first, exactly
    /// as they would have been published to SNS; the caller delivers them. Empty for a server
    /// (its publisher sends them).
    pub fn take_automation_messages(&self) -> Vec<String> {
        self.shared.automation.take_pending()
    }

    fn shared(
        config: JiraEmulatorConfig,
        base_url: String,
        media_url: String,
        gateway_origin: String,
        automation: Automation,
    ) -> (Arc<Shared>, String) {
        let store = Store::new(StoreSettings {
            deployment: config.deployment,
            project_key: config.project_key,
            issue_types: config.issue_types,
            workflow: config.workflow,
            auto_watch: config.auto_watch,
            max_attachment_bytes: config.max_attachment_bytes,
            custom_fields: config.custom_fields,
            integration_email: config.email,
            integration_token: config.token,
            integration_display_name: config.display_name,
        });
        let integration_account_id = store.integration_account_id().to_owned();
        let shared = Arc::new(Shared {
            deployment: config.deployment,
            base_url,
            media_url,
            gateway_origin,
            cloud_id: CLOUD_ID.to_owned(),
            attachment_redirect: config.attachment_redirect,
            media: Mutex::new(Media::default()),
            search_lag_ms: AtomicU64::new(millis(config.search_lag)),
            search_short_page: AtomicU64::new(0),
            store: Mutex::new(store),
            requests: Mutex::new(Vec::new()),
            faults: Faults::new(config.rate_limit),
            automation,
            webhooks: Webhooks::new(),
        });
        (shared, integration_account_id)
    }

    /// Which Jira this is (see [`JiraEmulatorConfig::deployment`]).
    pub fn deployment(&self) -> Deployment {
        self.shared.deployment
    }

    /// `http://127.0.0.1:<port>`, what `jiraUrl` should be set to.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The media host's origin (`http://127.0.0.1:<port>`), where attachment downloads are
    /// redirected.
    pub fn media_url(&self) -> String {
        self.shared.media_url.clone()
    }

    /// Changes how long `/search/jql` takes to see a write (see
    /// [`JiraEmulatorConfig::search_lag`]; no effect in Data Center).
    pub fn set_search_lag(&self, lag: Duration) {
        self.shared
            .search_lag_ms
            .store(millis(lag), Ordering::Relaxed);
    }

    /// Makes every `/search/jql` page hold at most `most` issues whatever `maxResults` asks
    /// (0 turns it off), with `isLast: false` and a `nextPageToken` while more follow: Jira
    /// Cloud documents that a page may hold fewer issues than `maxResults` (it caps the page
    /// by the fields asked for, and may return fewer still), so a short page is not the last.
    /// No effect in Data Center, whose `/search` pages hold `maxResults` issues while more follow.
    pub fn set_search_short_pages(&self, most: usize) {
        self.shared
            .search_short_page
            .store(u64::try_from(most).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Requests the media host answered so far, oldest first.
    pub fn media_requests(&self) -> Vec<MediaRequest> {
        lock(&self.shared.media).requests()
    }

    /// Forgets the media host's recorded requests.
    pub fn clear_media_requests(&self) {
        lock(&self.shared.media).clear_requests();
    }

    /// The integration user's accountId (what `GET /rest/api/3/myself` answers; in Data Center
    /// its username, `name` in `GET /rest/api/2/myself`).
    pub fn integration_account_id(&self) -> String {
        self.integration_account_id.clone()
    }

    /// Adds (or replaces, by accountId) a user; an empty accountId is generated (in Data
    /// Center: a username from the e-mail's local part, or the display name).
    pub fn add_user(&self, user: User) -> User {
        lock(&self.shared.store).add_user(user)
    }

    /// The Data Center user key (`JIRAUSER10001`, …) of the user with this accountId (in Data
    /// Center: username); every user has one, but only Data Center's API shows it.
    pub fn user_key(&self, account_id: &str) -> Option<String> {
        lock(&self.shared.store)
            .user_key(account_id)
            .map(str::to_owned)
    }

    /// Lets a user call the REST API with Basic `email:token` (in Data Center: with Basic
    /// `username:token`, or `token` as a personal access token, `Authorization: Bearer`).
    pub fn add_api_token(&self, account_id: &str, email: &str, token: &str) -> Result<(), Error> {
        lock(&self.shared.store).add_api_token(account_id, email, token, None)
    }

    /// Lets a user call the REST API through the API gateway ([`JiraEmulator::gateway_url`])
    /// with Basic `email:token`, a Cloud API token with these classic scopes (`read:jira-work`,
    /// `write:jira-work`, `read:jira-user`): the site itself refuses it (401), and the gateway
    /// refuses a request none of its scopes allows (401 "scope does not match"), as Atlassian's do.
    pub fn add_scoped_api_token(
        &self,
        account_id: &str,
        email: &str,
        token: &str,
        scopes: &[&str],
    ) -> Result<(), Error> {
        let scopes = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        lock(&self.shared.store).add_api_token(account_id, email, token, Some(scopes))
    }

    /// The site's cloud id (what `/_edge/tenant_info` answers).
    pub fn cloud_id(&self) -> String {
        self.shared.cloud_id.clone()
    }

    /// The site's REST base through Atlassian's API gateway, another origin:
    /// `<gateway origin>/ex/jira/<cloud id>` (Cloud's `https://api.atlassian.com/ex/jira/<cloud id>`),
    /// where API tokens with scopes work.
    pub fn gateway_url(&self) -> String {
        format!(
            "{}/ex/jira/{}",
            self.shared.gateway_origin, self.shared.cloud_id
        )
    }

    /// Creates an issue in the project as `as_account`; returns its key.
    pub fn create_issue(&self, as_account: &str, new: NewIssue) -> Result<String, Error> {
        self.shared.human_create_issue(as_account, new)
    }

    /// Edits summary, description and labels as `as_account`.
    pub fn edit_issue(&self, as_account: &str, key: &str, edit: IssueEdit) -> Result<(), Error> {
        self.shared.human_edit_issue(as_account, key, edit)
    }

    /// Moves the issue to `status` along the workflow's shortest path, one transition (and one
    /// Automation message) per hop.
    pub fn transition_to(&self, as_account: &str, key: &str, status: &str) -> Result<(), Error> {
        self.shared.human_transition_to(as_account, key, status)
    }

    /// Comments as `as_account` (plain text or ADF); returns the comment id.
    pub fn comment(
        &self,
        as_account: &str,
        key: &str,
        body: impl Into<RichText>,
    ) -> Result<String, Error> {
        self.shared.human_comment(as_account, key, body.into())
    }

    /// Replaces a comment's body as `as_account`.
    pub fn edit_comment(
        &self,
        as_account: &str,
        key: &str,
        comment_id: &str,
        body: impl Into<RichText>,
    ) -> Result<(), Error> {
        self.shared
            .human_edit_comment(as_account, key, comment_id, body.into())
    }

    /// Attaches a file as `as_account`; returns the attachment id.
    pub fn attach(
        &self,
        as_account: &str,
        key: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        self.shared
            .human_attach(as_account, key, file_name, Bytes::from(bytes))
    }

    /// Deletes a comment as `as_account` (no Automation message and `updated` stays, see
    /// the REST `DELETE /issue/{key}/comment/{id}`).
    pub fn delete_comment(
        &self,
        as_account: &str,
        key: &str,
        comment_id: &str,
    ) -> Result<(), Error> {
        self.shared.delete_comment(as_account, key, comment_id)
    }

    /// Deletes an attachment as `as_account` (an issue update, as attaching is).
    pub fn delete_attachment(&self, as_account: &str, attachment_id: &str) -> Result<(), Error> {
        self.shared.delete_attachment(as_account, attachment_id)
    }

    /// Makes `account_id` watch the issue (as that user, as "Watch" in the UI does).
    pub fn add_watcher(&self, key: &str, account_id: &str) -> Result<(), Error> {
        lock(&self.shared.store).add_watcher(account_id, key, account_id)
    }

    /// Stops `account_id` watching the issue.
    pub fn remove_watcher(&self, key: &str, account_id: &str) -> Result<(), Error> {
        lock(&self.shared.store).remove_watcher(account_id, key, account_id)
    }

    /// Sets an issue property as `as_account` (as `PUT /issue/{key}/properties/{propertyKey}`
    /// does).
    pub fn set_issue_property(
        &self,
        as_account: &str,
        key: &str,
        property_key: &str,
        value: Value,
    ) -> Result<(), Error> {
        lock(&self.shared.store)
            .set_property(as_account, key, property_key, value)
            .map(|_| ())
    }

    /// Deletes the issue as `as_account`.
    pub fn delete_issue(&self, as_account: &str, key: &str) -> Result<(), Error> {
        self.shared.delete_issue(as_account, key)
    }

    /// The live issue with this key or id.
    pub fn issue(&self, key: &str) -> Option<IssueRecord> {
        lock(&self.shared.store).issue(key).ok().cloned()
    }

    /// The keys `/search/jql` (Data Center: `/search`) finds for `jql` now as the integration
    /// user, index lag included
    /// (all pages, in the order it answers), without a request: what the world's clock makes
    /// searchable.
    pub fn search_keys(&self, jql: &str) -> Result<Vec<String>, Error> {
        let query = crate::jql::parse(jql)?;
        let store = lock(&self.shared.store);
        let now = crate::now_utc();
        let found = query.run(crate::jql::Context {
            now,
            caller: &self.integration_account_id,
            store: &store,
            lag: self.shared.search_lag(),
            reconcile: &[],
        })?;
        Ok(found.into_iter().map(|issue| issue.key.clone()).collect())
    }

    /// Every live issue, oldest first.
    pub fn issues(&self) -> Vec<IssueRecord> {
        lock(&self.shared.store).issues().to_vec()
    }

    /// Deleted issues as they were, with the deletion last in their history.
    pub fn deleted_issues(&self) -> Vec<IssueRecord> {
        lock(&self.shared.store).deleted_issues().to_vec()
    }

    /// Every user, the integration user first.
    pub fn users(&self) -> Vec<User> {
        lock(&self.shared.store).users().to_vec()
    }

    /// REST requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    pub fn automation(&self) -> Automation {
        self.shared.automation.clone()
    }

    /// The site's webhooks (none registered at start).
    pub fn webhooks(&self) -> Webhooks {
        self.shared.webhooks.clone()
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }
}

impl Drop for JiraEmulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds the media host on a free port of `127.0.0.1` (without an await: `start`'s future
/// stays small).
fn bind_media_host() -> Result<tokio::net::TcpListener, Error> {
    let io = |source| Error::Io {
        context: "binding the media host on 127.0.0.1".into(),
        source,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    tokio::net::TcpListener::from_std(listener).map_err(io)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn bound_port(listener: &tokio::net::TcpListener) -> Result<u16, Error> {
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|source| Error::Io {
            context: "reading the bound address".into(),
            source,
        })
}

/// The ADF document for a rich-text value, or the field error Jira gives for a bad one.
pub(crate) fn document(text: RichText, field: &str) -> Result<Value, Error> {
    match text {
        RichText::Plain(text) => Ok(adf::from_plain_text(&text)),
        RichText::Adf(document) if adf::is_document(&document) => Ok(document),
        RichText::Adf(_) => Err(Error::field(field, adf::NOT_A_DOCUMENT)),
    }
}

/// What webhooks say about the change `event` of issue `key` by `actor` (see
/// [`crate::webhooks`]): the event name from what the change did, the issue as it is now (as it
/// was, for a deletion), who acted and, for a comment event, the comment. A comment added or
/// edited is two events, as in Jira: `comment_created` (or `comment_updated`) and
/// `jira:issue_updated`.
fn webhook_events(
    store: &Store,
    base_url: &str,
    key: &str,
    event: IssueEvent,
    actor: &str,
) -> Vec<WebhookEvent> {
    let Some(first) = webhook_event(store, base_url, key, event, actor) else {
        return Vec::new();
    };
    let mut events = vec![first.clone()];
    if first.comment.is_some() {
        events.push(WebhookEvent {
            name: "jira:issue_updated",
            ..first
        });
    }
    events
}

fn webhook_event(
    store: &Store,
    base_url: &str,
    key: &str,
    event: IssueEvent,
    actor: &str,
) -> Option<WebhookEvent> {
    let issue = match event {
        IssueEvent::Deleted => store
            .deleted_issues()
            .iter()
            .rev()
            .find(|issue| issue.key.eq_ignore_ascii_case(key))?,
        IssueEvent::Changed => store.issue(key).ok()?,
    };
    // What the change did: its last entry that is an issue event (the auto-watch of the
    // creator or commenter, and property writes, are not).
    let last = issue
        .history
        .iter()
        .rev()
        .map(|entry| &entry.action)
        .find(|action| {
            !matches!(
                action,
                IssueAction::WatcherAdded { .. }
                    | IssueAction::WatcherRemoved { .. }
                    | IssueAction::PropertySet { .. }
                    | IssueAction::PropertyDeleted { .. }
            )
        });
    let mut comment = None;
    let (name, type_name) = match (event, last) {
        (IssueEvent::Deleted, _) => ("jira:issue_deleted", "issue_deleted"),
        (_, Some(IssueAction::Created)) => ("jira:issue_created", "issue_created"),
        (
            _,
            Some(IssueAction::Commented { comment_id } | IssueAction::CommentEdited { comment_id }),
        ) => {
            comment = issue
                .comments
                .iter()
                .find(|c| &c.id == comment_id)
                .map(|c| {
                    let self_url =
                        format!("{base_url}/rest/api/2/issue/{}/comment/{}", issue.id, c.id);
                    match store.deployment() {
                        Deployment::Cloud => serde_json::json!({
                            "id": c.id,
                            "self": self_url,
                            "author": {"accountId": c.author},
                            "body": adf::to_plain_text(&c.body),
                            "created": jira_timestamp(c.created),
                            "updated": jira_timestamp(c.updated),
                        }),
                        Deployment::DataCenter => serde_json::json!({
                            "id": c.id,
                            "self": self_url,
                            "author": data_center_user(store, base_url, &c.author),
                            "body": store.wiki_text(&TextOf::Comment(c.id.clone()), &c.body),
                            "updateAuthor": data_center_user(store, base_url, &c.update_author),
                            "created": jira_timestamp(c.created),
                            "updated": jira_timestamp(c.updated),
                        }),
                    }
                });
            if matches!(last, Some(IssueAction::Commented { .. })) {
                ("comment_created", "issue_commented")
            } else {
                ("comment_updated", "issue_comment_edited")
            }
        }
        (_, Some(IssueAction::Transitioned { .. })) => ("jira:issue_updated", "issue_generic"),
        _ => ("jira:issue_updated", "issue_updated"),
    };
    let user = match store.deployment() {
        Deployment::Cloud => cloud_webhook_user(store, actor),
        Deployment::DataCenter => data_center_user(store, base_url, actor),
    };
    Some(WebhookEvent {
        name,
        type_name,
        project_key: issue.project_key.clone(),
        issue_key: issue.key.clone(),
        issue: serde_json::json!({
            "id": issue.id,
            "self": format!("{base_url}/rest/api/2/issue/{}", issue.id),
            "key": issue.key,
            "fields": {
                "summary": issue.summary,
                "issuetype": {"name": issue.issue_type},
                "project": {"key": issue.project_key},
                "status": {"name": issue.status},
                "labels": issue.labels,
                "created": jira_timestamp(issue.created),
                "updated": jira_timestamp(issue.updated),
            },
        }),
        user,
        comment,
    })
}

/// Who acted, as Cloud's webhooks name them.
fn cloud_webhook_user(store: &Store, actor: &str) -> Value {
    store.user(actor).map_or_else(
        || serde_json::json!({"accountId": actor}),
        |user| {
            serde_json::json!({
                "accountId": user.account_id,
                "displayName": user.display_name,
                "active": user.active,
            })
        },
    )
}
