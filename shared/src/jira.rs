//! The Jira client the integration uses, behind the [`JiraApi`] trait: Jira Cloud's REST v3,
//! or Jira Data Center's (and Server's) REST v2, as [`JiraFlavor`] says.
//!
//! The two differ only inside this adapter, so nothing above it knows which Jira it talks to:
//! - **Text.** Cloud takes and gives ADF; Data Center wiki markup, converted from and to ADF
//!   here ([`crate::wiki`]), so callers always work on ADF.
//! - **Users.** Cloud names a user by accountId; Data Center by user name (its `name`), which
//!   this adapter hands out where Cloud's accountId goes ([`JiraUser::account_id`]).
//! - **Search.** Cloud's `/search/jql` pages with a token; Data Center's `/search` with
//!   `startAt`, whose next value is handed out as the page token.
//! - **Sign-in.** Cloud: Basic e-mail and API token. Data Center: a personal access token
//!   (`Bearer`) or Basic user name and password.
//!
//! Every request is retried with exponential backoff and jitter when that is safe:
//! - 429 (and 503 with `Retry-After`) for any method: Jira refused the request without doing it,
//!   and the wait is at least the `Retry-After` it asked for;
//! - other 5xx and broken connections only for idempotent requests (GET, PUT, DELETE, and the
//!   POSTs that only read, like `/search/jql`): a create is not repeated blindly, it is made
//!   safe by the caller (label `sir-case-<id>` found by [`JiraApi::search_keys_by_label`]).
//!
//! After the last try the error is returned; [`crate::Error::is_retryable`] then says whether
//! Lambda should retry the whole event later.
//!
//! A 429's pause is kept for the part of the API Jira limited ([`pacing`]): later requests to
//! that part wait it out before they are sent (or, when it is longer than
//! [`RetryPolicy::max_retry_after`], fail as retryable without being sent), and requests to
//! other parts go on.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, LOCATION,
    PROXY_AUTHORIZATION, RETRY_AFTER, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::adf::{adf_to_text, text_to_adf};
use crate::attachment_body::{AttachmentBody, AttachmentSource};
use crate::comment_marker::{CommentMarker, MARKER_PROPERTY};
use crate::config::{DataCenterAuth, JiraFlavor, JiraSettings, TokenExpiry};
use crate::error::{Error, Result};
use crate::http_transport::{HttpTransport, ReqwestTransport};
use crate::issue_description::{WIKI_SOURCE, find_details_block, strip_details_block};
use crate::issue_notes::NOTES_PROPERTIES;
use crate::snapshot::IssueSnapshot;
use crate::wiki::{adf_to_wiki, wiki_to_adf};
use clock::Instant;

pub mod pacing;
pub mod scopes;

use pacing::{LimitedPart, Pacing};

/// A Jira timestamp (`2024-05-01T10:15:30.000+0200`, an offset without a colon) as RFC 3339 in
/// UTC (`2024-05-01T08:15:30Z`); `None` when it is not a timestamp.
pub fn jira_timestamp_to_rfc3339(text: &str) -> Option<String> {
    use aws_sdk_securityir::primitives::{DateTime, DateTimeFormat};
    let text = text.trim();
    // Smithy's parser takes only `Z`: the offset is applied by hand.
    let (local, offset_seconds) = match text.strip_suffix('Z') {
        Some(local) => (local, 0),
        None => {
            let split = text.len().checked_sub(5)?;
            let (local, offset) = (text.get(..split)?, text.get(split..)?.as_bytes());
            let digit = |i: usize| {
                offset
                    .get(i)
                    .filter(|b| b.is_ascii_digit())
                    .map(|b| i64::from(b - b'0'))
            };
            let hours = digit(1)? * 10 + digit(2)?;
            let minutes = digit(3)? * 10 + digit(4)?;
            let sign = match offset.first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            (local, sign * (hours * 3600 + minutes * 60))
        }
    };
    let parsed = DateTime::from_str(&format!("{local}Z"), DateTimeFormat::DateTime).ok()?;
    DateTime::from_secs(parsed.secs() - offset_seconds)
        .fmt(DateTimeFormat::DateTime)
        .ok()
}

/// Prefix of the label jira-client gives every issue it makes for a SIR case
/// (`sir-case-<caseId>`): it makes the issue findable after a crash, and tells the Jira side
/// that the issue came from SIR.
pub const CASE_LABEL_PREFIX: &str = "sir-case-";

/// The label that marks the issue of `case_id`.
pub fn case_label(case_id: &str) -> String {
    format!("{CASE_LABEL_PREFIX}{case_id}")
}

/// Whether the issue's labels say it was made for a SIR case.
pub fn is_made_for_a_case(labels: &[String]) -> bool {
    labels.iter().any(|l| l.starts_with(CASE_LABEL_PREFIX))
}

/// A Jira user as the integration sees one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraUser {
    pub account_id: String,
    pub display_name: Option<String>,
    /// Absent when the user's privacy settings hide it.
    pub email: Option<String>,
}

/// An issue's fields that the integration reads.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraIssue {
    pub id: String,
    pub key: String,
    pub summary: String,
    /// The description rendered to plain text (see [`crate::adf`]).
    pub description: String,
    /// The description as Jira holds it (an ADF document; `null` when there is none), so an
    /// edit can change one part of it and keep the rest as people wrote it.
    pub description_adf: Value,
    pub status: String,
    pub labels: Vec<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub reporter: Option<JiraUser>,
    pub creator: Option<JiraUser>,
    pub attachments: Vec<JiraAttachment>,
    /// The integration's own issue properties ([`crate::issue_notes::NOTES_PROPERTIES`]) the
    /// issue has, read with it at no extra request.
    pub notes_properties: BTreeMap<String, Value>,
}

/// A comment, its body rendered to plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraComment {
    pub id: String,
    pub author_account_id: Option<String>,
    pub body: String,
    pub created: Option<String>,
    pub updated: Option<String>,
    /// What the integration wrote it as (its [`MARKER_PROPERTY`] comment property); `None` on
    /// a comment a person wrote.
    pub marker: Option<CommentMarker>,
}

/// An attachment's metadata; `content_url` downloads the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraAttachment {
    pub id: String,
    pub filename: String,
    pub size: u64,
    pub mime_type: Option<String>,
    pub content_url: String,
    pub author_account_id: Option<String>,
}

/// A transition available from an issue's current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    pub name: String,
    pub to_status: String,
}

/// Field values transitions need, by the status they lead to (lower case): what the field
/// mapping's `onTransition` holds.
pub type TransitionScreens = BTreeMap<String, serde_json::Map<String, Value>>;

pub use crate::field_mapping::JiraField;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub project_key: String,
    pub issue_type: String,
    pub summary: String,
    pub description: DescriptionBody,
    pub labels: Vec<String>,
    /// Other fields by id, in their REST shape (the field mapping's, see
    /// [`crate::field_mapping`]).
    pub fields: serde_json::Map<String, Value>,
    /// Issue properties set with the create (key → value), at no extra request.
    pub properties: BTreeMap<String, Value>,
}

/// Fields to change; `None` (or empty) leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueEdit {
    pub summary: Option<String>,
    pub description: Option<DescriptionBody>,
    /// Other fields by id, in their REST shape (`null` clears one).
    pub fields: serde_json::Map<String, Value>,
    /// Labels to add (Jira's `update` `add`: every other label stays).
    pub labels_to_add: Vec<String>,
    /// Labels to remove (Jira's `update` `remove`: every other label stays).
    pub labels_to_remove: Vec<String>,
}

/// An issue description to write: plain text (sent as paragraphs, see [`text_to_adf`]) or an
/// ADF document sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptionBody {
    Text(String),
    Adf(Value),
}

impl DescriptionBody {
    /// The ADF document Jira Cloud's REST v3 takes.
    pub fn to_adf(&self) -> Value {
        match self {
            DescriptionBody::Text(text) => text_to_adf(text),
            DescriptionBody::Adf(doc) => doc.clone(),
        }
    }
}

impl From<&str> for DescriptionBody {
    fn from(text: &str) -> Self {
        DescriptionBody::Text(text.to_owned())
    }
}

impl From<String> for DescriptionBody {
    fn from(text: String) -> Self {
        DescriptionBody::Text(text)
    }
}

impl From<Value> for DescriptionBody {
    fn from(doc: Value) -> Self {
        DescriptionBody::Adf(doc)
    }
}

/// One issue a search found, with when it was last updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatedIssue {
    pub key: String,
    /// Jira's `updated` as Jira spells it (`2024-05-01T10:15:30.123+0200`).
    pub updated: Option<String>,
}

/// One page of [`JiraApi::updated_issues_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatedIssuesPage {
    pub issues: Vec<UpdatedIssue>,
    /// The token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// One page of [`JiraApi::open_issues_after`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenIssuesPage {
    pub keys: Vec<String>,
    /// Jira says no open issue follows (`isLast`). A page may hold fewer keys than asked for
    /// while more follow (Cloud caps and shortens pages), so only this ends a round.
    pub is_last: bool,
}

/// A Jira timestamp (`2024-05-01T10:15:30.123+0200`) in epoch milliseconds; `None` when it is
/// not a timestamp.
pub fn jira_timestamp_to_epoch_ms(text: &str) -> Option<u64> {
    use aws_sdk_securityir::primitives::{DateTime, DateTimeFormat};
    let utc = jira_timestamp_to_rfc3339(text)?;
    let seconds = DateTime::from_str(&utc, DateTimeFormat::DateTime)
        .ok()?
        .secs();
    // The milliseconds, when given, follow the seconds (`:30.123`).
    let millis = text
        .split_once('.')
        .map(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|digits| digits.len() == 3)
        .and_then(|digits| digits.parse::<u64>().ok())
        .unwrap_or(0);
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1_000)?
        .checked_add(millis)
}

/// The integration user's accountId, read from Jira (`/myself`) once per cold start and kept:
/// what this account wrote in Jira is the integration's own (jira-client's copies, seen from the
/// Jira side). A failed read is not kept, so the next call asks again.
#[derive(Debug, Default)]
pub struct IntegrationAccount(tokio::sync::OnceCell<String>);

impl IntegrationAccount {
    /// Not read yet: the first [`IntegrationAccount::id`] asks Jira.
    pub fn new() -> Self {
        IntegrationAccount::default()
    }

    /// The accountId, asking `jira` only the first time.
    pub async fn id(&self, jira: &dyn JiraApi) -> Result<&str> {
        let id = self
            .0
            .get_or_try_init(|| async { Ok::<_, Error>(jira.myself().await?.account_id) })
            .await?;
        Ok(id.as_str())
    }
}

/// The issue's synced fields as the Jira-side snapshot holds them: the description without the
/// details block jira-client maintains, watchers by accountId. The integration account is never
/// one of the watchers: Jira makes it a watcher of every issue it comments on, and counting it
/// would publish an `IssueUpdated` for a change no person made. Every place that builds a
/// snapshot from a live issue uses this, so the two sides of the bus compare like with like.
pub async fn live_issue_snapshot(
    jira: &dyn JiraApi,
    account: &IntegrationAccount,
    issue: &JiraIssue,
) -> Result<IssueSnapshot> {
    let me = account.id(jira).await?;
    let watchers = jira.watchers(&issue.key).await?;
    Ok(issue_snapshot_with(issue, &watchers, me))
}

/// [`live_issue_snapshot`] from watchers already read (`watchers`, as Jira lists them; `me`,
/// the integration account, left out), for a caller that needs the list itself too.
pub fn issue_snapshot_with(issue: &JiraIssue, watchers: &[String], me: &str) -> IssueSnapshot {
    IssueSnapshot {
        issue_key: issue.key.clone(),
        summary: issue.summary.clone(),
        description: strip_details_block(&issue.description),
        status: issue.status.clone(),
        watchers: watchers.iter().filter(|id| *id != me).cloned().collect(),
    }
    .normalized()
}

/// The Jira operations of the integration.
#[async_trait]
pub trait JiraApi: Send + Sync {
    /// The integration user (its accountId identifies our own comments and edits).
    async fn myself(&self) -> Result<JiraUser>;
    /// The issue, or `None` when Jira says it does not exist (404).
    async fn get_issue(&self, key: &str) -> Result<Option<JiraIssue>>;
    /// Creates the issue and returns its key. Not retried on 5xx (see the module docs).
    async fn create_issue(&self, issue: &NewIssue) -> Result<String>;
    async fn edit_issue(&self, key: &str, edit: &IssueEdit) -> Result<()>;
    async fn transitions(&self, key: &str) -> Result<Vec<Transition>>;
    /// Walks the workflow to `target`, several transitions if needed. `route` lists the
    /// workflow's statuses in their usual order and steers the walk when no transition leads to
    /// `target` directly. Returns how many transitions were made.
    /// `screens` holds the field values a transition into a status needs (by status, lower
    /// case), sent with that transition.
    async fn transition_to(
        &self,
        key: &str,
        target: &str,
        route: &[&str],
        screens: &TransitionScreens,
    ) -> Result<usize>;
    /// Every field of the site (`GET /field`), system and custom.
    async fn fields(&self) -> Result<Vec<JiraField>>;
    /// The values of the issue's fields `ids` (`GET /issue/{key}?fields=…`), unset ones absent.
    async fn issue_fields(
        &self,
        key: &str,
        ids: &[String],
    ) -> Result<serde_json::Map<String, Value>>;
    /// Every comment with its marker, paging with startAt/maxResults until `total`.
    async fn comments(&self, key: &str) -> Result<Vec<JiraComment>>;
    /// Adds a comment (plain text, sent as ADF) carrying `marker` in the same request (see
    /// [`crate::comment_marker`]) and returns its id. Not retried on 5xx or a timeout: it may
    /// have landed, and the caller looks for its marker before posting again.
    async fn add_comment(&self, key: &str, text: &str, marker: &CommentMarker) -> Result<String>;
    async fn update_comment(&self, key: &str, comment_id: &str, text: &str) -> Result<()>;
    /// Whether the issue still has the comment (`GET /issue/{key}/comment/{id}`: 404 is no),
    /// to confirm a deletion a paged listing suggests: a comment deleted while the listing paged
    /// by offset shifts the pages, so another one can look missing.
    async fn comment_exists(&self, key: &str, comment_id: &str) -> Result<bool>;
    /// AccountIds of the issue's watchers.
    async fn watchers(&self, key: &str) -> Result<Vec<String>>;
    async fn add_watcher(&self, key: &str, account_id: &str) -> Result<()>;
    /// Stops `account_id` watching the issue (one not watching is no error).
    async fn remove_watcher(&self, key: &str, account_id: &str) -> Result<()>;
    /// The user whose (visible) e-mail is exactly `email`, ignoring case; `None` when Jira has
    /// none or hides it.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<JiraUser>>;
    /// The user with this accountId, `None` when Jira knows none (its e-mail may be hidden).
    async fn user(&self, account_id: &str) -> Result<Option<JiraUser>>;
    /// Uploads the bytes `source` opens (again for each attempt Jira refused before storing
    /// anything, e.g. with 429) as a multipart body of known length.
    async fn upload_attachment(
        &self,
        key: &str,
        file_name: &str,
        source: &dyn AttachmentSource,
    ) -> Result<JiraAttachment>;
    /// The attachment's bytes as they arrive (following Cloud's redirect to its media host),
    /// declared as the response's `Content-Length`, else the attachment's listed size.
    async fn download_attachment(&self, attachment: &JiraAttachment) -> Result<AttachmentBody>;
    /// Keys of the issues carrying `label` in `project_key` (POST /search/jql, all pages).
    async fn search_keys_by_label(&self, project_key: &str, label: &str) -> Result<Vec<String>>;
    /// Keys of the project's issues updated in the last `minutes` minutes, oldest update first
    /// (the local mode's stand-in for Jira Automation against a real site).
    async fn recently_updated_keys(&self, project_key: &str, minutes: u32) -> Result<Vec<String>>;
    /// One page of the project's issues updated in the last `minutes` minutes (JQL
    /// `updated >= "-<minutes>m"`, relative, so no time zone is involved), oldest update first,
    /// each with its `updated` time; `page_token` is the previous page's `next_page_token`.
    async fn updated_issues_page(
        &self,
        project_key: &str,
        minutes: u32,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<UpdatedIssuesPage>;
    /// Up to `max` keys of the project's open issues (status category not Done) after
    /// `after_key` in key order (from the first when `None`): JQL `project = <P> AND
    /// statusCategory != Done [AND key > <after_key>] ORDER BY key ASC`, one page, and whether
    /// Jira says it is the last. Jira answers 400 when `after_key` names no issue (deleted, or
    /// moved to another project).
    async fn open_issues_after(
        &self,
        project_key: &str,
        after_key: Option<&str>,
        max: u32,
    ) -> Result<OpenIssuesPage>;
    /// Whether the JQL `filter` matches the issue: `key = <key> AND (<filter>)`, read after write
    /// (`reconcileIssues` names the issue, so an issue created seconds ago is not missed).
    async fn issue_matches(&self, issue: &JiraIssue, filter: &str) -> Result<bool>;
    /// Adds `label` to the issue's labels, keeping the others (no change if it is there).
    async fn add_label(&self, key: &str, label: &str) -> Result<()>;
    /// Removes a label from the issue (none there: nothing changes).
    async fn remove_label(&self, key: &str, label: &str) -> Result<()>;
    /// The value of an issue property (integration state kept on the issue); `None` when unset.
    async fn issue_property(&self, key: &str, property: &str) -> Result<Option<Value>>;
    /// Sets an issue property (not a field: Automation does not fire for it).
    async fn set_issue_property(&self, key: &str, property: &str, value: &Value) -> Result<()>;
}

/// How hard to try before giving up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// A longer `Retry-After` than this is not waited for inside one Lambda run: the error is
    /// returned (retryable) and Lambda tries again later.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Where a [`JiraClient`] reads its site and sign-in again (SSM in production, see
/// [`crate::config::SsmJiraSettings`]): after a while, and when Jira answers 401.
#[async_trait]
pub trait JiraSettingsSource: Send + Sync + std::fmt::Debug {
    async fn jira_settings(&self) -> Result<JiraSettings>;
}

/// The site and sign-in a [`JiraClient`] uses, shared by its clones; read again from its
/// [`JiraSettingsSource`], if it has one.
#[derive(Debug)]
struct SignIn {
    site: Url,
    /// Where the REST calls go (with a trailing slash): the site, or Atlassian's API gateway for
    /// it (an API token with scopes, see [`JiraSettings::api_url`]).
    api: Url,
    /// The one before, after a rotation switched it: requests built on it move to `api`.
    previous_api: Option<Url>,
    email: String,
    token: SecretString,
    /// When the token expires, if deploy.sh was told.
    token_expires_on: Option<TokenExpiry>,
    /// [`JiraSettings::token_version`].
    token_version: Option<i64>,
    read_at: Instant,
    /// Counts the changes of e-mail or token: a request refused with an older generation is
    /// sent again with the current one, without reading SSM again.
    generation: u64,
    /// When a read after a 401 last found nothing new: another 401 within
    /// [`UNCHANGED_RELOAD_PAUSE`] does not read SSM again (a revoked token would otherwise read
    /// it on every request).
    unchanged_at: Option<Instant>,
}

/// A name for the token in use that reveals nothing of it (a Data Center password must not be
/// open to guessing from it): the version of its SSM parameter, which every token deploy.sh
/// stores changes; `unversioned` for settings not read from SSM.
pub fn credentials_id(token_version: Option<i64>) -> String {
    token_version.map_or_else(|| "unversioned".to_owned(), |version| format!("v{version}"))
}

/// See [`SignIn::unchanged_at`].
const UNCHANGED_RELOAD_PAUSE: Duration = Duration::from_secs(30);
/// The shortest time the sign-in is used before it is read again, whatever the TTL says (a
/// TTL of 0 would read SSM for every request).
const MIN_SIGN_IN_TTL: Duration = Duration::from_secs(10);

impl SignIn {
    fn from(settings: &JiraSettings) -> Result<SignIn> {
        let base = |name: &str, url: &str| {
            Url::parse(&format!("{}/", url.trim_end_matches('/'))).map_err(|e| {
                Error::InvalidConfig {
                    name: name.into(),
                    reason: e.to_string(),
                }
            })
        };
        let site = base("Jira URL", &settings.url)?;
        let api = match &settings.api_url {
            Some(api_url) => base("Jira API URL", api_url)?,
            None => site.clone(),
        };
        Ok(SignIn {
            site,
            api,
            previous_api: None,
            email: settings.email.clone(),
            token: settings.token.clone(),
            token_expires_on: settings.token_expires_on,
            token_version: settings.token_version,
            read_at: Instant::now(),
            generation: 0,
            unchanged_at: None,
        })
    }
}

/// [`JiraApi`] over HTTPS with Basic auth (e-mail + API token).
#[derive(Debug, Clone)]
pub struct JiraClient {
    /// Builds the requests (with our user agent when it also sends them).
    http: reqwest::Client,
    /// Sends them: `http` itself in production, see [`JiraClient::with_transport`].
    transport: Arc<dyn HttpTransport>,
    sign_in: Arc<std::sync::RwLock<SignIn>>,
    /// One read of the settings at a time (the client's clones share it).
    reading: Arc<tokio::sync::Mutex<()>>,
    /// Where the settings are read again, and after how long (see
    /// [`JiraClient::with_settings_source`]); `None`: the ones given are kept.
    settings_source: Option<(Arc<dyn JiraSettingsSource>, Duration)>,
    flavor: JiraFlavor,
    retry: RetryPolicy,
    /// The pauses Jira's 429s asked for, per limited part; shared by the client's clones.
    pacing: Arc<Pacing>,
}

/// One failed try: what the retry loop decides on.
#[derive(Debug)]
struct Attempt {
    error: Error,
    retry: bool,
    retry_after: Option<Duration>,
}

/// Redirects followed for one request at most (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// The client that only builds requests for a transport of its own (it never sends one): one
/// per process, since building a client reads the system's root certificates, which costs the
/// simulator, with several clients per seeded world, more than a whole run of its handlers.
fn request_builder() -> Result<reqwest::Client> {
    static BUILDER: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(client) = BUILDER.get() {
        return Ok(client.clone());
    }
    let client = JiraClient::http_client()?;
    Ok(BUILDER.get_or_init(|| client).clone())
}

/// The HTTPS client under a [`JiraClient`], built before the Jira settings are known: loading
/// the TLS roots is most of a client's set-up, so a cold start builds it while it waits for its
/// settings from SSM ([`JiraConnection::build_while`]).
#[derive(Debug, Clone)]
pub struct JiraConnection {
    http: reqwest::Client,
}

impl JiraConnection {
    /// Builds the HTTPS client (no redirect followed: [`JiraClient`] follows them itself).
    pub fn build() -> Result<Self> {
        Ok(JiraConnection {
            http: JiraClient::http_client()?,
        })
    }

    /// Builds the connection on a blocking thread while `settings` is awaited: the cold start
    /// waits for the slower of the two rather than for both in turn.
    pub async fn build_while<T, E>(
        settings: impl Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<(T, JiraConnection), E>
    where
        E: From<Error>,
    {
        let building = tokio::task::spawn_blocking(JiraConnection::build);
        let settings = settings.await?;
        let connection = match building.await {
            Ok(built) => built?,
            // The blocking task panicked or was cancelled: build it here instead.
            Err(_) => JiraConnection::build()?,
        };
        Ok((settings, connection))
    }
}

impl JiraClient {
    /// The client over the network: HTTPS to the Jira site (and its media host).
    pub fn new(settings: &JiraSettings) -> Result<Self> {
        Self::over(settings, JiraConnection::build()?)
    }

    /// [`JiraClient::new`] over a connection built beforehand.
    pub fn over(settings: &JiraSettings, connection: JiraConnection) -> Result<Self> {
        let http = connection.http;
        let transport = Arc::new(ReqwestTransport::new(http.clone()));
        Self::from_parts(settings, http, transport)
    }

    /// The client sending every request through `transport` (e.g. the local world's emulator
    /// answering in process), with the same rules as [`JiraClient::new`]: retries, redirects,
    /// credentials only for the Jira site.
    pub fn with_transport(
        settings: &JiraSettings,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Self> {
        Self::from_parts(settings, request_builder()?, transport)
    }

    fn from_parts(
        settings: &JiraSettings,
        http: reqwest::Client,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Self> {
        Ok(JiraClient {
            http,
            transport,
            sign_in: Arc::new(std::sync::RwLock::new(SignIn::from(settings)?)),
            reading: Arc::default(),
            settings_source: None,
            flavor: settings.flavor,
            retry: RetryPolicy::default(),
            pacing: Arc::default(),
        })
    }

    /// The network client: it follows no redirect, [`JiraClient::execute`] does.
    fn http_client() -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("sir-jira-integration/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| Error::JiraTransport {
                operation: "client set-up",
                source,
            })
    }

    /// Sends `request` through the transport, following redirects as reqwest's default policy
    /// did (at most [`MAX_REDIRECTS`]), see [`redirected`].
    /// Also returns the URL the answer came from (the last request's: a transport answering in
    /// process gives its responses no URL of their own).
    async fn execute(&self, mut request: reqwest::Request) -> reqwest::Result<(Response, Url)> {
        let mut hops = 0;
        loop {
            let url = request.url().clone();
            let sent = Sent {
                method: request.method().clone(),
                url: url.clone(),
                headers: request.headers().clone(),
                copy: request.try_clone(),
            };
            let response = self.transport.send(request).await?;
            match (hops < MAX_REDIRECTS)
                .then(|| redirected(&response, sent))
                .flatten()
            {
                Some(next) => {
                    request = next;
                    hops += 1;
                }
                None => return Ok((response, url)),
            }
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Reads the site and sign-in again from `source` once they are older than `ttl`, and at
    /// once when Jira answers 401 (a token rotated with deploy.sh then works within one try).
    /// A failed read keeps the ones in use: SSM being slow for a moment does not stop the sync.
    pub fn with_settings_source(
        mut self,
        source: Arc<dyn JiraSettingsSource>,
        ttl: Duration,
    ) -> Self {
        self.settings_source = Some((source, ttl));
        self
    }

    fn sign_in(&self) -> std::sync::RwLockReadGuard<'_, SignIn> {
        self.sign_in
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The Jira site (its base URL with a trailing slash).
    fn site(&self) -> Url {
        self.sign_in().site.clone()
    }

    /// Where the REST calls go (with a trailing slash): the site, or its API gateway.
    fn api(&self) -> Url {
        self.sign_in().api.clone()
    }

    /// Reads the settings again from the source (one read at a time; none when another read
    /// since `seen` already changed them) and takes the new e-mail and token. The site is kept:
    /// requests are built against it before they are signed, and credentials go to the
    /// configured site only, so a new Jira URL takes effect at the next cold start. Returns
    /// whether the sign-in is now another than the one of generation `seen`.
    async fn reload_sign_in(&self, seen: u64) -> Result<bool> {
        let Some((source, _)) = &self.settings_source else {
            return Ok(false);
        };
        let _reading = self.reading.lock().await;
        if self.sign_in().generation != seen {
            return Ok(true);
        }
        let settings = source.jira_settings().await?;
        let fresh = SignIn::from(&settings)?;
        let mut current = self
            .sign_in
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fresh.site != current.site {
            tracing::warn!(
                configured = %fresh.site,
                in_use = %current.site,
                "the Jira URL changed in SSM: it is used from the next cold start (the functions' next deployment or update)"
            );
        }
        // A new token may be one with scopes, which works only through the API gateway (or the
        // other way round): the API URL changes with it (validated: the site or its gateway).
        let changed = current.email != fresh.email
            || current.token.expose_secret() != fresh.token.expose_secret()
            || current.api != fresh.api;
        if changed {
            tracing::info!(api = %fresh.api, "the Jira sign-in changed in SSM: using the new one");
            current.email = fresh.email;
            current.token = fresh.token;
            current.token_version = fresh.token_version;
            if current.api != fresh.api {
                current.previous_api = Some(std::mem::replace(&mut current.api, fresh.api));
            }
            current.generation += 1;
            current.unchanged_at = None;
        }
        current.token_expires_on = fresh.token_expires_on;
        current.read_at = Instant::now();
        Ok(changed)
    }

    /// [`JiraClient::reload_sign_in`] when the sign-in in use is older than the source's TTL
    /// (at least [`MIN_SIGN_IN_TTL`]). A failed read keeps the one in use.
    async fn refresh_if_stale(&self) {
        let Some((_, ttl)) = &self.settings_source else {
            return;
        };
        let (read_at, seen) = {
            let sign_in = self.sign_in();
            (sign_in.read_at, sign_in.generation)
        };
        if read_at.elapsed() < (*ttl).max(MIN_SIGN_IN_TTL) {
            return;
        }
        if let Err(error) = self.reload_sign_in(seen).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "could not read the Jira settings again; going on with the ones in use"
            );
            self.sign_in
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .read_at = Instant::now();
        }
    }

    /// After a 401 with the sign-in of generation `seen`: whether a newer one is there to try
    /// (read from the source, unless a read found nothing new moments ago). A failed read is
    /// logged and counts as nothing new: the 401 is what the caller reports.
    async fn newer_sign_in_after_refusal(&self, seen: u64) -> bool {
        let paused = self
            .sign_in()
            .unchanged_at
            .is_some_and(|at| at.elapsed() < UNCHANGED_RELOAD_PAUSE);
        if paused && self.sign_in().generation == seen {
            return false;
        }
        match self.reload_sign_in(seen).await {
            Ok(true) => true,
            Ok(false) => {
                self.sign_in
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unchanged_at = Some(Instant::now());
                false
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "Jira refused the credentials and they could not be read again"
                );
                false
            }
        }
    }

    /// `<site or its API gateway>/rest/api/<3 on Cloud, 2 on Data Center>/<segments…>`, each
    /// segment escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let version = match self.flavor {
            JiraFlavor::Cloud => "3",
            JiraFlavor::DataCenter(_) => "2",
        };
        let mut url = self.api();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["rest", "api", version])
                .extend(segments);
        }
        url
    }

    /// A rich-text value (description, comment body) as this Jira takes it: the ADF document
    /// itself on Cloud, wiki markup on Data Center.
    fn rich_text(&self, doc: Value) -> Value {
        match self.flavor {
            JiraFlavor::Cloud => doc,
            JiraFlavor::DataCenter(_) => Value::String(wiki_of(&doc)),
        }
    }

    /// Field values (create, edit, transition screens) as this Jira takes them: on Data Center
    /// a rich-text field (an ADF document on Cloud, e.g. a multi-line text custom field) is
    /// sent as wiki markup; every other value as it is.
    fn field_values(
        &self,
        fields: &serde_json::Map<String, Value>,
    ) -> serde_json::Map<String, Value> {
        fields
            .iter()
            .map(|(id, value)| {
                let value = if crate::adf::is_adf_document(value) {
                    self.rich_text(value.clone())
                } else {
                    value.clone()
                };
                (id.clone(), value)
            })
            .collect()
    }

    /// The query parameter that names a user: `accountId` on Cloud, `username` on Data Center.
    fn user_parameter(&self) -> &'static str {
        match self.flavor {
            JiraFlavor::Cloud => "accountId",
            JiraFlavor::DataCenter(_) => "username",
        }
    }

    /// A request to the Jira site with the integration's credentials, answered in JSON.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.signed(method, url).header(ACCEPT, "application/json")
    }

    /// `url` under the base the REST calls go to now: as it is when it is under it; moved there
    /// from the site or the base before a rotation (a request built before the sign-in was read
    /// again, an attachment Jira names on the site while the calls go through its gateway).
    /// `None` for a URL under none of them: the credentials never go there.
    fn on_current_base(&self, url: &Url) -> Option<Url> {
        let sign_in = self.sign_in();
        if url.as_str().starts_with(sign_in.api.as_str()) {
            return Some(url.clone());
        }
        [Some(&sign_in.site), sign_in.previous_api.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|from| rebased(url, from, &sign_in.api))
    }

    /// A request to the Jira site (or its gateway) with the integration's credentials and no
    /// `Accept` yet.
    fn signed(&self, method: Method, url: Url) -> RequestBuilder {
        let url = self.on_current_base(&url).unwrap_or(url);
        let request = self.http.request(method, url);
        let sign_in = self.sign_in();
        match self.flavor {
            JiraFlavor::DataCenter(DataCenterAuth::PersonalAccessToken) => {
                request.bearer_auth(sign_in.token.expose_secret())
            }
            JiraFlavor::Cloud | JiraFlavor::DataCenter(DataCenterAuth::Basic) => {
                request.basic_auth(&sign_in.email, Some(sign_in.token.expose_secret()))
            }
        }
    }

    /// Sends what `build` builds, retrying per the module rules, and returns a 2xx response.
    async fn send(
        &self,
        operation: &'static str,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder + Send + Sync,
    ) -> Result<Response> {
        self.send_with(operation, idempotent, || std::future::ready(Ok(build())))
            .await
    }

    /// [`JiraClient::send`] for a request whose building may fail or wait (a streamed body,
    /// opened again for each attempt): a failed build is not retried. A 401 reads the settings
    /// again (a token rotated since) and tries once more with the new ones; refused again, or
    /// unchanged, it is [`Error::JiraCredentialsRefused`].
    async fn send_with<F>(
        &self,
        operation: &'static str,
        idempotent: bool,
        build: impl Fn() -> F + Send + Sync,
    ) -> Result<Response>
    where
        F: Future<Output = Result<RequestBuilder>> + Send,
    {
        self.refresh_if_stale().await;
        let (seen, expiry) = {
            let sign_in = self.sign_in();
            (sign_in.generation, sign_in.token_expires_on)
        };
        if let Some(expiry) = expiry {
            crate::metrics::note_jira_token_days_left(expiry.days_left(clock::now_epoch_seconds()));
        }
        match self.send_with_retries(operation, idempotent, &build).await {
            Err(Error::JiraCredentialsRefused { .. })
                if self.newer_sign_in_after_refusal(seen).await =>
            {
                tracing::info!(
                    operation,
                    "Jira refused the credentials; trying the new ones"
                );
                self.send_with_retries(operation, idempotent, &build).await
            }
            // Said with the expiry date just read again: it may have passed since the request.
            Err(Error::JiraCredentialsRefused {
                operation,
                messages,
                credentials_id,
                ..
            }) => Err(Error::JiraCredentialsRefused {
                operation,
                messages,
                expired_on: self.token_expired_on(),
                credentials_id,
            }),
            other => other,
        }
    }

    /// [`credentials_id`] of the sign-in in use.
    fn credentials_id(&self) -> String {
        credentials_id(self.sign_in().token_version)
    }

    /// The token's expiry date, if deploy.sh stored one and the day has come (Atlassian does not
    /// say at what time of the day a token stops working).
    fn token_expired_on(&self) -> Option<TokenExpiry> {
        self.sign_in()
            .token_expires_on
            .filter(|expiry| expiry.days_left(clock::now_epoch_seconds()) <= 0)
    }

    /// One request, with the retries of the module rules.
    async fn send_with_retries<F>(
        &self,
        operation: &'static str,
        idempotent: bool,
        build: &(impl Fn() -> F + Send + Sync),
    ) -> Result<Response>
    where
        F: Future<Output = Result<RequestBuilder>> + Send,
    {
        let policy = &self.retry;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries);
        let once = || async {
            let builder = build().await.map_err(|error| Attempt {
                error,
                retry: false,
                retry_after: None,
            })?;
            let request = builder.build().map_err(|source| Attempt {
                error: self.transport_error(operation, source),
                retry: false,
                retry_after: None,
            })?;
            let (method, path) = (request.method().clone(), request.url().path().to_owned());
            if let Some((part, wait)) = self.pacing.wait_before(&method, &path, Instant::now()) {
                if wait > policy.max_retry_after {
                    return Err(Attempt {
                        error: Error::JiraPaused {
                            operation,
                            part: part.to_string(),
                            wait,
                        },
                        retry: false,
                        retry_after: Some(wait),
                    });
                }
                tracing::info!(operation, %part, ?wait, "waiting out Jira's pause before sending");
                tokio::time::sleep(wait).await;
            }
            let sent = self.execute(request).await;
            let answered_by = sent.as_ref().ok().map(|(_, url)| url.origin());
            let sent = sent.map(|(response, _)| response);
            let response = sent.map_err(|source| {
                // A request that never reached Jira can always be sent again.
                let retry = source.is_connect()
                    || (idempotent && (source.is_timeout() || source.is_request()));
                Attempt {
                    error: self.transport_error(operation, source),
                    retry,
                    retry_after: None,
                }
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            let refused = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
            let retry = refused || (idempotent && status.is_server_error());
            if refused {
                crate::metrics::note_throttled(crate::metrics::Remote::Jira);
            }
            // Which of Cloud's limits refused it (`jira-burst-based`: this endpoint and method;
            // `jira-per-issue-on-write`: this issue; a quota: the site), for the log, the error
            // and the pause that holds back later requests to that part only.
            let limit = response
                .headers()
                .get("RateLimit-Reason")
                .and_then(|v| v.to_str().ok())
                .map(|reason| reason.chars().take(64).collect::<String>());
            if status == StatusCode::TOO_MANY_REQUESTS
                && let Some(pause) = retry_after
            {
                let part = LimitedPart::refused(limit.as_deref(), &method, &path);
                self.pacing.pause(part, pause, Instant::now());
            }
            // A 401 from the site (or its API gateway) refuses the integration's credentials;
            // one from elsewhere (the media host a download was sent on to) is that host's.
            let credentials_refused = status == StatusCode::UNAUTHORIZED
                && answered_by.as_ref().is_some_and(|origin| {
                    *origin == self.api().origin() || *origin == self.site().origin()
                });
            let mut messages = error_messages(response).await;
            if let Some(limit) = limit {
                messages = format!("{messages} (RateLimit-Reason: {limit})");
            }
            if credentials_refused {
                return Err(Attempt {
                    error: Error::JiraCredentialsRefused {
                        operation,
                        messages,
                        expired_on: self.token_expired_on(),
                        credentials_id: self.credentials_id(),
                    },
                    retry: false,
                    retry_after: None,
                });
            }
            Err(Attempt {
                error: Error::JiraStatus {
                    operation,
                    status: status.as_u16(),
                    messages,
                    retry_after,
                },
                retry,
                retry_after,
            })
        };
        once.retry(backoff)
            .when(|attempt: &Attempt| {
                attempt.retry && attempt.retry_after.is_none_or(|after| after <= policy.max_retry_after)
            })
            .adjust(|attempt: &Attempt, backoff_delay| {
                // Never sooner than Jira asked; stop when the backoff is spent.
                backoff_delay.map(|d| attempt.retry_after.map_or(d, |after| after.max(d)))
            })
            .notify(|attempt: &Attempt, delay| {
                crate::metrics::note_retry(crate::metrics::Remote::Jira);
                tracing::warn!(operation, error = %attempt.error, ?delay, "Jira request will be retried");
            })
            .await
            .map_err(|attempt| attempt.error)
    }

    /// A transport error, keeping its URL only when it is on the Jira site or its API gateway:
    /// the media host that Jira redirects attachment downloads to carries a short-lived token in
    /// its URLs.
    fn transport_error(&self, operation: &'static str, source: reqwest::Error) -> Error {
        let off_site = source.url().is_some_and(|url| {
            url.origin() != self.site().origin() && url.origin() != self.api().origin()
        });
        let source = if off_site {
            source.without_url()
        } else {
            source
        };
        Error::JiraTransport { operation, source }
    }

    async fn get_json<T: DeserializeOwned>(&self, operation: &'static str, url: Url) -> Result<T> {
        let response = self
            .send(operation, true, || self.request(Method::GET, url.clone()))
            .await?;
        read_json(operation, response).await
    }
}

/// `url`, under the base `from`, moved under the base `to` (both with a trailing slash): the rest
/// of it appended as text to `to`, so nothing in it (`https://elsewhere/…` in a path, `..`) can
/// leave `to`'s origin or path; `None` when `url` is not under `from` or the result would not be
/// under `to`.
fn rebased(url: &Url, from: &Url, to: &Url) -> Option<Url> {
    let rest = url.as_str().strip_prefix(from.as_str())?;
    let moved = Url::parse(&format!("{to}{rest}")).ok()?;
    (moved.origin() == to.origin() && moved.as_str().starts_with(to.as_str())).then_some(moved)
}

/// What was sent, kept to build the request a redirect asks for.
struct Sent {
    method: Method,
    url: Url,
    headers: HeaderMap,
    /// The request again, body included; `None` when its body was a stream (a multipart upload).
    copy: Option<reqwest::Request>,
}

/// The request `response` redirects to, as reqwest's default policy made it; `None` when it is
/// not a redirect (or one that cannot be followed: no `Location`, or a 307/308 of a body that
/// cannot be sent twice). A 303, and a 301/302 of a POST, become a GET without a body; a 307/308
/// repeats the request. Credentials never go to another origin (scheme, host, port): Cloud's
/// attachment downloads answer 303 to its media host, which authorises by the token in the URL
/// and refuses Jira credentials.
fn redirected(response: &Response, sent: Sent) -> Option<reqwest::Request> {
    let status = response.status();
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let target = sent.url.join(location).ok()?;
    let as_get = status == StatusCode::SEE_OTHER
        || ((status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
            && sent.method == Method::POST);
    let mut next = if as_get {
        let method = if sent.method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        };
        let mut next = reqwest::Request::new(method, target.clone());
        let mut headers = sent.headers;
        for header in [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING] {
            headers.remove(header);
        }
        *next.headers_mut() = headers;
        next
    } else if [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ]
    .contains(&status)
    {
        let mut next = sent.copy?;
        *next.url_mut() = target.clone();
        next
    } else {
        return None;
    };
    if target.origin() != sent.url.origin() {
        for header in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE] {
            next.headers_mut().remove(header);
        }
    }
    Some(next)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Jira's `{"errorMessages": [...], "errors": {...}}`, or the body as it came.
async fn error_messages(response: Response) -> String {
    let text = response.text().await.unwrap_or_default();
    #[derive(Deserialize)]
    struct JiraErrors {
        #[serde(default, rename = "errorMessages")]
        error_messages: Vec<String>,
        #[serde(default)]
        errors: serde_json::Map<String, Value>,
        /// Atlassian's API gateway answers `{"code", "message"}` (e.g. "Unauthorized; scope does
        /// not match").
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_str::<JiraErrors>(&text) {
        Ok(body) => {
            let mut parts = body.error_messages;
            parts.extend(body.message);
            parts.extend(body.errors.iter().map(|(field, message)| {
                format!("{field}: {}", message.as_str().unwrap_or_default())
            }));
            parts.join("; ")
        }
        Err(_) => text.chars().take(500).collect(),
    }
}

async fn read_json<T: DeserializeOwned>(operation: &'static str, response: Response) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|source| Error::JiraTransport { operation, source })?;
    serde_json::from_slice(&bytes).map_err(Error::json(operation))
}

fn is_not_found(err: &Error) -> bool {
    matches!(err, Error::JiraStatus { status: 404, .. })
}

/// A user as Cloud (`accountId`) or Data Center (`name`, its user name) shows one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserJson {
    account_id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    email_address: Option<String>,
}

impl UserJson {
    /// What the integration names the user by: the accountId, else the user name (empty when
    /// Jira gives neither).
    fn id(self) -> String {
        self.account_id.or(self.name).unwrap_or_default()
    }
}

impl From<UserJson> for JiraUser {
    fn from(u: UserJson) -> Self {
        JiraUser {
            display_name: u.display_name.clone(),
            email: u.email_address.clone().filter(|e| !e.is_empty()),
            account_id: u.id(),
        }
    }
}

/// A rich-text value read from Jira as ADF: Data Center's wiki markup (a string) converted,
/// Cloud's ADF document as it is.
fn adf_of(body: Value) -> Value {
    match body {
        Value::String(wiki) => {
            let mut doc = wiki_to_adf(&wiki);
            if let Some(object) = doc.as_object_mut() {
                object.insert(WIKI_SOURCE.into(), Value::String(wiki));
            }
            doc
        }
        other => other,
    }
}

/// The wiki markup of `doc` for Data Center. A document read from Data Center whose nodes above
/// its details block are still the ones its markup reads as gets that markup back as written
/// there (rarer markup, such as colours or app macros, does not survive a round trip through
/// ADF), followed by the rest in wiki markup; any other document is converted whole.
fn wiki_of(doc: &Value) -> String {
    let mut doc = doc.clone();
    let source = doc
        .as_object_mut()
        .and_then(|object| object.remove(WIKI_SOURCE))
        .and_then(|source| source.as_str().map(str::to_owned));
    let (Some(source), Some(at)) = (source, find_details_block(&doc)) else {
        return adf_to_wiki(&doc);
    };
    let nodes = doc["content"].as_array().cloned().unwrap_or_default();
    // Where the markup's own block starts, nearest the end first; last, the end of the markup
    // (a Jira-born issue getting its first block: all of it is above the block).
    let cuts = details_block_starts(&source)
        .into_iter()
        .chain(std::iter::once(source.len()));
    for cut in cuts {
        let above = &source[..cut];
        let read_above = wiki_to_adf(above);
        let read_nodes = read_above["content"].as_array().map(Vec::as_slice);
        if nodes.get(..at) != Some(read_nodes.unwrap_or_default()) {
            continue;
        }
        let mut rest = doc.clone();
        rest["content"] = Value::Array(nodes[at..].to_vec());
        let rest = adf_to_wiki(&rest);
        let above = above.trim_end();
        return if above.is_empty() {
            rest
        } else {
            format!("{above}\n\n{rest}")
        };
    }
    adf_to_wiki(&doc)
}

/// Words of the details block's marker line that its wiki markup keeps as they are.
const DETAILS_MARKER_WORDS: &str = "AWS Security Incident Response case details";

/// Where the details block may start in wiki markup, nearest the end first: starts of lines
/// opening a macro (the block's panel) just above one of the last marker lines, from which the
/// rest reads as a document that opens with the block. Only a few lines are tried, each one a
/// parse of the rest: a description full of `{code}` lines must not cost a parse per line.
fn details_block_starts(wiki: &str) -> Vec<usize> {
    const MARKERS_TRIED: usize = 3;
    const LINES_PER_MARKER: usize = 2;
    let macro_lines: Vec<usize> = std::iter::once(0)
        .chain(wiki.match_indices('\n').map(|(at, _)| at + 1))
        .filter(|&at| wiki[at..].trim_start_matches([' ', '\t']).starts_with('{'))
        .collect();
    let mut starts: Vec<usize> = Vec::new();
    for (marker_at, _) in wiki
        .rmatch_indices(DETAILS_MARKER_WORDS)
        .take(MARKERS_TRIED)
    {
        let above = macro_lines.iter().rev().filter(|&&at| at <= marker_at);
        for &at in above.take(LINES_PER_MARKER) {
            if !starts.contains(&at) && find_details_block(&wiki_to_adf(&wiki[at..])) == Some(0) {
                starts.push(at);
            }
        }
    }
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentJson {
    id: Value,
    filename: String,
    #[serde(default)]
    size: u64,
    mime_type: Option<String>,
    content: String,
    author: Option<UserJson>,
}

/// Jira sends some ids as strings and some as numbers.
fn id_string(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl From<AttachmentJson> for JiraAttachment {
    fn from(a: AttachmentJson) -> Self {
        JiraAttachment {
            id: id_string(&a.id),
            filename: a.filename,
            size: a.size,
            mime_type: a.mime_type,
            content_url: a.content,
            author_account_id: a.author.map(UserJson::id),
        }
    }
}

#[derive(Deserialize)]
struct IssueJson {
    id: String,
    key: String,
    fields: IssueFieldsJson,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct IssueFieldsJson {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: Value,
    status: Option<NamedJson>,
    #[serde(default)]
    labels: Vec<String>,
    created: Option<String>,
    updated: Option<String>,
    reporter: Option<UserJson>,
    creator: Option<UserJson>,
    #[serde(default)]
    attachment: Vec<AttachmentJson>,
}

#[derive(Deserialize)]
struct NamedJson {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentJson {
    id: String,
    author: Option<UserJson>,
    #[serde(default)]
    body: Value,
    created: Option<String>,
    updated: Option<String>,
    /// Present with `expand=properties`.
    #[serde(default)]
    properties: Vec<PropertyJson>,
}

#[derive(Deserialize)]
struct PropertyJson {
    key: String,
    #[serde(default)]
    value: Value,
}

impl From<CommentJson> for JiraComment {
    fn from(c: CommentJson) -> Self {
        // A marker that does not read (edited by hand) leaves the comment unmarked.
        let marker = c
            .properties
            .into_iter()
            .find(|property| property.key == MARKER_PROPERTY)
            .and_then(|property| serde_json::from_value(property.value).ok());
        JiraComment {
            id: c.id,
            author_account_id: c.author.map(UserJson::id),
            body: adf_to_text(&adf_of(c.body)),
            created: c.created,
            updated: c.updated,
            marker,
        }
    }
}

/// One issue a search found: its key, and its `updated` when asked for.
#[derive(Deserialize)]
struct FoundIssue {
    key: String,
    #[serde(default)]
    fields: FoundFields,
}

#[derive(Deserialize, Default)]
struct FoundFields {
    updated: Option<String>,
}

/// One page of a JQL search, whichever API found it.
struct SearchPage {
    issues: Vec<FoundIssue>,
    /// What asks for the next page; `None` on the last one.
    next_page_token: Option<String>,
    /// Jira says no issue follows.
    is_last: bool,
}

/// What to search for: the JQL, and what one page holds.
struct Search<'a> {
    operation: &'static str,
    jql: &'a str,
    max_results: u32,
    fields: &'a [&'a str],
    /// Cloud: the issue (by id) the answer must show as it is now, not as its lagging index
    /// has it. Data Center's index is written with the issue, so it needs none.
    reconcile: Option<u64>,
}

impl JiraClient {
    /// One page of `search`: Cloud's `POST /search/jql` (paged by token), Data Center's
    /// `POST /search` (paged by `startAt`, handed out as the token).
    async fn search_page(
        &self,
        search: &Search<'_>,
        page_token: Option<&str>,
    ) -> Result<SearchPage> {
        let operation = search.operation;
        match self.flavor {
            JiraFlavor::Cloud => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Page {
                    #[serde(default)]
                    issues: Vec<FoundIssue>,
                    is_last: Option<bool>,
                    next_page_token: Option<String>,
                }
                let mut body = json!({
                    "jql": search.jql,
                    "maxResults": search.max_results,
                    "fields": search.fields,
                });
                if let Some(token) = page_token {
                    body["nextPageToken"] = json!(token);
                }
                if let Some(id) = search.reconcile {
                    body["reconcileIssues"] = json!([id]);
                }
                let url = self.url(&["search", "jql"]);
                let response = self
                    .send(operation, true, || {
                        self.request(Method::POST, url.clone()).json(&body)
                    })
                    .await?;
                let page: Page = read_json(operation, response).await?;
                let next_page_token = page.next_page_token.filter(|t| !t.is_empty());
                Ok(SearchPage {
                    issues: page.issues,
                    is_last: page.is_last.unwrap_or(next_page_token.is_none()),
                    next_page_token,
                })
            }
            JiraFlavor::DataCenter(_) => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Page {
                    #[serde(default)]
                    start_at: u64,
                    #[serde(default)]
                    total: u64,
                    #[serde(default)]
                    issues: Vec<FoundIssue>,
                }
                // A token this adapter did not hand out (one kept from before the site
                // changed flavour) starts the listing again: reading issues twice is harmless.
                let start_at = page_token
                    .and_then(|token| token.parse::<u64>().ok())
                    .unwrap_or(0);
                let body = json!({
                    "jql": search.jql,
                    "startAt": start_at,
                    "maxResults": search.max_results,
                    "fields": search.fields,
                });
                let url = self.url(&["search"]);
                let response = self
                    .send(operation, true, || {
                        self.request(Method::POST, url.clone()).json(&body)
                    })
                    .await?;
                let page: Page = read_json(operation, response).await?;
                let next = page.start_at + u64::try_from(page.issues.len()).unwrap_or(u64::MAX);
                let more = !page.issues.is_empty() && next < page.total;
                Ok(SearchPage {
                    issues: page.issues,
                    next_page_token: more.then(|| next.to_string()),
                    is_last: !more,
                })
            }
        }
    }

    /// Every issue key the JQL query finds, all pages.
    async fn search_keys(&self, jql: &str) -> Result<Vec<String>> {
        let search = Search {
            operation: "search issues",
            jql,
            max_results: 100,
            fields: &["key"],
            reconcile: None,
        };
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.search_page(&search, token.as_deref()).await?;
            keys.extend(page.issues.into_iter().map(|i| i.key));
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }
}

#[async_trait]
impl JiraApi for JiraClient {
    async fn myself(&self) -> Result<JiraUser> {
        let user: JiraUser = self
            .get_json::<UserJson>("GET myself", self.url(&["myself"]))
            .await?
            .into();
        if user.account_id.is_empty() {
            return Err(Error::JiraStatus {
                operation: "GET myself",
                status: 200,
                messages: "the answer names no user (neither accountId nor name)".into(),
                retry_after: None,
            });
        }
        Ok(user)
    }

    async fn get_issue(&self, key: &str) -> Result<Option<JiraIssue>> {
        let mut url = self.url(&["issue", key]);
        url.query_pairs_mut().append_pair(
            "fields",
            "summary,description,status,labels,created,updated,reporter,creator,attachment",
        );
        url.query_pairs_mut()
            .append_pair("properties", &NOTES_PROPERTIES.join(","));
        let issue: IssueJson = match self.get_json("GET issue", url).await {
            Ok(issue) => issue,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(err),
        };
        let f = issue.fields;
        let description = adf_of(f.description);
        Ok(Some(JiraIssue {
            id: issue.id,
            key: issue.key,
            summary: f.summary,
            description: adf_to_text(&description),
            description_adf: description,
            status: f.status.map(|s| s.name).unwrap_or_default(),
            labels: f.labels,
            created: f.created,
            updated: f.updated,
            reporter: f.reporter.map(Into::into),
            creator: f.creator.map(Into::into),
            attachments: f.attachment.into_iter().map(Into::into).collect(),
            notes_properties: issue.properties,
        }))
    }

    async fn create_issue(&self, issue: &NewIssue) -> Result<String> {
        let mut fields = self.field_values(&issue.fields);
        fields.extend([
            ("project".to_owned(), json!({"key": issue.project_key})),
            ("issuetype".to_owned(), json!({"name": issue.issue_type})),
            ("summary".to_owned(), json!(issue.summary)),
            (
                "description".to_owned(),
                self.rich_text(issue.description.to_adf()),
            ),
            ("labels".to_owned(), json!(issue.labels)),
        ]);
        let mut body = json!({ "fields": fields });
        if !issue.properties.is_empty() {
            let properties: Vec<Value> = issue
                .properties
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
            body["properties"] = json!(properties);
        }
        let url = self.url(&["issue"]);
        let response = self
            .send("create issue", false, || {
                self.request(Method::POST, url.clone()).json(&body)
            })
            .await?;
        #[derive(Deserialize)]
        struct Created {
            key: String,
        }
        let created: Created = read_json("create issue", response).await?;
        Ok(created.key)
    }

    async fn edit_issue(&self, key: &str, edit: &IssueEdit) -> Result<()> {
        let mut fields = serde_json::Map::new();
        if let Some(summary) = &edit.summary {
            fields.insert("summary".into(), json!(summary));
        }
        if let Some(description) = &edit.description {
            fields.insert("description".into(), self.rich_text(description.to_adf()));
        }
        fields.extend(self.field_values(&edit.fields));
        let label_changes: Vec<Value> = (edit.labels_to_add.iter())
            .map(|label| json!({"add": label}))
            .chain((edit.labels_to_remove.iter()).map(|label| json!({"remove": label})))
            .collect();
        if fields.is_empty() && label_changes.is_empty() {
            return Ok(());
        }
        let mut body = json!({ "fields": fields });
        if !label_changes.is_empty() {
            body["update"] = json!({ "labels": label_changes });
        }
        let url = self.url(&["issue", key]);
        self.send("edit issue", true, || {
            self.request(Method::PUT, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }

    async fn transitions(&self, key: &str) -> Result<Vec<Transition>> {
        #[derive(Deserialize)]
        struct TransitionsJson {
            transitions: Vec<TransitionJson>,
        }
        #[derive(Deserialize)]
        struct TransitionJson {
            id: String,
            name: String,
            to: NamedJson,
        }
        let body: TransitionsJson = self
            .get_json("GET transitions", self.url(&["issue", key, "transitions"]))
            .await?;
        Ok(body
            .transitions
            .into_iter()
            .map(|t| Transition {
                id: t.id,
                name: t.name,
                to_status: t.to.name,
            })
            .collect())
    }

    async fn fields(&self) -> Result<Vec<JiraField>> {
        self.get_json("GET fields", self.url(&["field"])).await
    }

    async fn issue_fields(
        &self,
        key: &str,
        ids: &[String],
    ) -> Result<serde_json::Map<String, Value>> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            fields: serde_json::Map<String, Value>,
        }
        let mut url = self.url(&["issue", key]);
        url.query_pairs_mut().append_pair("fields", &ids.join(","));
        let body: Fields = self.get_json("GET issue fields", url).await?;
        Ok(body
            .fields
            .into_iter()
            .filter(|(id, value)| ids.contains(id) && !value.is_null())
            .collect())
    }

    async fn transition_to(
        &self,
        key: &str,
        target: &str,
        route: &[&str],
        screens: &TransitionScreens,
    ) -> Result<usize> {
        const MAX_HOPS: usize = 10;
        let position = |status: &str| route.iter().position(|s| s.eq_ignore_ascii_case(status));
        let mut current = self
            .get_issue(key)
            .await?
            .ok_or_else(|| Error::JiraIssueNotFound {
                key: key.to_owned(),
            })?
            .status;
        let mut visited: HashSet<String> = HashSet::from([current.to_lowercase()]);
        let mut hops = 0;
        while !current.eq_ignore_ascii_case(target) {
            let unreachable = |reached: &str, hops| Error::JiraTransitionUnreachable {
                key: key.to_owned(),
                target: target.to_owned(),
                reached: reached.to_owned(),
                hops,
            };
            if hops == MAX_HOPS {
                return Err(unreachable(&current, hops));
            }
            let options = self.transitions(key).await?;
            let direct = options
                .iter()
                .find(|t| t.to_status.eq_ignore_ascii_case(target));
            // Otherwise the unvisited status nearest the target along the route; statuses off
            // the route are tried last.
            let step = direct.or_else(|| {
                let goal = position(target);
                options
                    .iter()
                    .filter(|t| !visited.contains(&t.to_status.to_lowercase()))
                    .min_by_key(|t| match (position(&t.to_status), goal) {
                        (Some(p), Some(g)) => p.abs_diff(g),
                        _ => usize::MAX,
                    })
            });
            let Some(step) = step else {
                return Err(unreachable(&current, hops));
            };
            let mut body = json!({"transition": {"id": step.id}});
            if let Some(fields) = screens.get(&step.to_status.to_lowercase()) {
                body["fields"] = Value::Object(self.field_values(fields));
            }
            let url = self.url(&["issue", key, "transitions"]);
            let sent = self
                .send("transition issue", true, || {
                    self.request(Method::POST, url.clone()).json(&body)
                })
                .await;
            hops += 1;
            current = match sent {
                Ok(_) => step.to_status.clone(),
                // Jira may have applied a transition whose answer was lost (a retry of it is
                // then refused as not valid from the new status): the live issue says where
                // the walk stands. Unmoved, the failure is the answer.
                Err(err) => match self.get_issue(key).await? {
                    Some(live) if !live.status.eq_ignore_ascii_case(&current) => {
                        tracing::warn!(key, error = %err, status = live.status, "a transition's answer was lost but the issue moved; walking on");
                        live.status
                    }
                    _ => return Err(err),
                },
            };
            visited.insert(current.to_lowercase());
        }
        Ok(hops)
    }

    async fn comments(&self, key: &str) -> Result<Vec<JiraComment>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            total: usize,
            #[serde(default)]
            comments: Vec<CommentJson>,
        }
        let mut all = Vec::new();
        loop {
            let mut url = self.url(&["issue", key, "comment"]);
            url.query_pairs_mut()
                .append_pair("startAt", &all.len().to_string())
                .append_pair("maxResults", "100")
                .append_pair("orderBy", "created")
                .append_pair("expand", "properties");
            let page: Page = self.get_json("GET comments", url).await?;
            let got = page.comments.len();
            all.extend(page.comments.into_iter().map(JiraComment::from));
            if got == 0 || all.len() >= page.total {
                return Ok(all);
            }
        }
    }

    async fn add_comment(&self, key: &str, text: &str, marker: &CommentMarker) -> Result<String> {
        let body = json!({
            "body": self.rich_text(text_to_adf(text)),
            "properties": [{"key": MARKER_PROPERTY, "value": marker}],
        });
        let url = self.url(&["issue", key, "comment"]);
        let response = self
            .send("add comment", false, || {
                self.request(Method::POST, url.clone()).json(&body)
            })
            .await?;
        let comment: CommentJson = read_json("add comment", response).await?;
        Ok(comment.id)
    }

    async fn update_comment(&self, key: &str, comment_id: &str, text: &str) -> Result<()> {
        let body = json!({"body": self.rich_text(text_to_adf(text))});
        let url = self.url(&["issue", key, "comment", comment_id]);
        self.send("update comment", true, || {
            self.request(Method::PUT, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }

    async fn comment_exists(&self, key: &str, comment_id: &str) -> Result<bool> {
        let url = self.url(&["issue", key, "comment", comment_id]);
        match self.get_json::<Value>("GET comment", url).await {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn watchers(&self, key: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Watchers {
            #[serde(default)]
            watchers: Vec<UserJson>,
        }
        let body: Watchers = self
            .get_json("GET watchers", self.url(&["issue", key, "watchers"]))
            .await?;
        Ok(body.watchers.into_iter().map(UserJson::id).collect())
    }

    async fn add_watcher(&self, key: &str, account_id: &str) -> Result<()> {
        let body = json!(account_id);
        let url = self.url(&["issue", key, "watchers"]);
        // Adding a watcher twice is harmless, so a retry is safe.
        self.send("add watcher", true, || {
            self.request(Method::POST, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }

    async fn remove_watcher(&self, key: &str, account_id: &str) -> Result<()> {
        let mut url = self.url(&["issue", key, "watchers"]);
        url.query_pairs_mut()
            .append_pair(self.user_parameter(), account_id);
        // Removing a watcher that is gone changes nothing, so a retry is safe.
        self.send("remove watcher", true, || {
            self.request(Method::DELETE, url.clone())
        })
        .await?;
        Ok(())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<JiraUser>> {
        let wanted = email.trim();
        // Cloud's `query` and Data Center's `username` both match names and e-mails.
        let parameter = match self.flavor {
            JiraFlavor::Cloud => "query",
            JiraFlavor::DataCenter(_) => "username",
        };
        let mut url = self.url(&["user", "search"]);
        url.query_pairs_mut()
            .append_pair(parameter, wanted)
            .append_pair("maxResults", "50");
        let users: Vec<UserJson> = self.get_json("search users", url).await?;
        // The search matches prefixes of names and e-mails: only an exact e-mail match counts.
        Ok(users.into_iter().map(JiraUser::from).find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(wanted))
        }))
    }

    async fn user(&self, account_id: &str) -> Result<Option<JiraUser>> {
        let mut url = self.url(&["user"]);
        url.query_pairs_mut()
            .append_pair(self.user_parameter(), account_id);
        match self.get_json::<UserJson>("GET user", url).await {
            Ok(user) => Ok(Some(user.into())),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn upload_attachment(
        &self,
        key: &str,
        file_name: &str,
        source: &dyn AttachmentSource,
    ) -> Result<JiraAttachment> {
        let url = self.url(&["issue", key, "attachments"]);
        let file_name = file_name.to_owned();
        let response = self
            .send_with("upload attachment", false, || async {
                let body = source.open().await?;
                let length = body.length();
                // A part of known length gives the whole body a `Content-Length`.
                let part =
                    reqwest::multipart::Part::stream_with_length(body.into_request_body(), length)
                        .file_name(file_name.clone());
                Ok(self
                    .request(Method::POST, url.clone())
                    .header("X-Atlassian-Token", "no-check")
                    .multipart(reqwest::multipart::Form::new().part("file", part)))
            })
            .await?;
        let mut created: Vec<AttachmentJson> = read_json("upload attachment", response).await?;
        created
            .pop()
            .map(JiraAttachment::from)
            .ok_or_else(|| Error::JiraAttachmentNotListed {
                key: key.to_owned(),
                file_name,
            })
    }

    async fn download_attachment(&self, attachment: &JiraAttachment) -> Result<AttachmentBody> {
        let url =
            Url::parse(&attachment.content_url).map_err(|source| Error::InvalidAttachmentUrl {
                url: attachment.content_url.clone(),
                source,
            })?;
        // Credentials go only to the configured Jira site (or its API gateway), never to a URL
        // elsewhere. Only the origin is reported: the rest of a foreign URL may carry a token.
        // Through the gateway, Jira still names the site in `content`, where a token with scopes
        // is refused: the same path under the gateway.
        let Some(url) = self.on_current_base(&url) else {
            return Err(Error::AttachmentUrlOffSite {
                origin: url.origin().ascii_serialization(),
                site: self.site().origin().ascii_serialization(),
            });
        };
        // Cloud answers 303 to its media host (another origin), which serves the bytes for the
        // token in the redirect URL. The bytes are not JSON: asking for JSON there is a 406.
        // `redirected` drops `Authorization` when a redirect changes host, port or scheme, so
        // the Jira credentials never reach the media host (the emulator's media host refuses
        // them).
        let response = self
            .send("download attachment", true, || {
                self.signed(Method::GET, url.clone()).header(ACCEPT, "*/*")
            })
            .await?;
        let length = AttachmentBody::declared_length(&response).unwrap_or(attachment.size);
        Ok(AttachmentBody::from_response(response, length, |error| {
            Box::new(error.without_url())
        }))
    }

    async fn search_keys_by_label(&self, project_key: &str, label: &str) -> Result<Vec<String>> {
        let jql = format!(
            "project = \"{}\" AND labels = \"{}\" ORDER BY created ASC",
            project_key.replace('"', ""),
            label.replace('"', "")
        );
        self.search_keys(&jql).await
    }

    async fn recently_updated_keys(&self, project_key: &str, minutes: u32) -> Result<Vec<String>> {
        let jql = format!(
            "project = \"{}\" AND updated >= \"-{minutes}m\" ORDER BY updated ASC",
            project_key.replace('"', "")
        );
        self.search_keys(&jql).await
    }

    async fn updated_issues_page(
        &self,
        project_key: &str,
        minutes: u32,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<UpdatedIssuesPage> {
        let jql = format!(
            "project = \"{}\" AND updated >= \"-{minutes}m\" ORDER BY updated ASC, key ASC",
            project_key.replace('"', "")
        );
        let search = Search {
            operation: "search updated issues",
            jql: &jql,
            max_results: page_size,
            fields: &["updated"],
            reconcile: None,
        };
        let page = self.search_page(&search, page_token).await?;
        Ok(UpdatedIssuesPage {
            issues: page
                .issues
                .into_iter()
                .map(|found| UpdatedIssue {
                    key: found.key,
                    updated: found.fields.updated,
                })
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn open_issues_after(
        &self,
        project_key: &str,
        after_key: Option<&str>,
        max: u32,
    ) -> Result<OpenIssuesPage> {
        let after = after_key
            .map(|key| format!(" AND key > \"{}\"", key.replace('"', "")))
            .unwrap_or_default();
        let jql = format!(
            "project = \"{}\" AND statusCategory != Done{after} ORDER BY key ASC",
            project_key.replace('"', "")
        );
        let search = Search {
            operation: "search open issues",
            jql: &jql,
            max_results: max,
            fields: &["updated"],
            reconcile: None,
        };
        let page = self.search_page(&search, None).await?;
        Ok(OpenIssuesPage {
            keys: page.issues.into_iter().map(|found| found.key).collect(),
            is_last: page.is_last,
        })
    }

    async fn issue_matches(&self, issue: &JiraIssue, filter: &str) -> Result<bool> {
        let jql = format!("key = \"{}\" AND ({filter})", issue.key.replace('"', ""));
        let search = Search {
            operation: "match the case filter",
            jql: &jql,
            max_results: 1,
            fields: &["key"],
            reconcile: issue.id.parse::<u64>().ok(),
        };
        let page = self.search_page(&search, None).await?;
        Ok(!page.issues.is_empty())
    }

    async fn add_label(&self, key: &str, label: &str) -> Result<()> {
        let body = json!({"update": {"labels": [{"add": label}]}});
        let url = self.url(&["issue", key]);
        // Adding a label that is there changes nothing, so a retry is safe.
        self.send("add label", true, || {
            self.request(Method::PUT, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }

    async fn remove_label(&self, key: &str, label: &str) -> Result<()> {
        let body = json!({"update": {"labels": [{"remove": label}]}});
        let url = self.url(&["issue", key]);
        // Removing a label that is gone changes nothing, so a retry is safe.
        self.send("remove label", true, || {
            self.request(Method::PUT, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }

    async fn issue_property(&self, key: &str, property: &str) -> Result<Option<Value>> {
        #[derive(Deserialize)]
        struct Property {
            #[serde(default)]
            value: Value,
        }
        let url = self.url(&["issue", key, "properties", property]);
        match self.get_json::<Property>("GET issue property", url).await {
            Ok(property) => Ok(Some(property.value)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn set_issue_property(&self, key: &str, property: &str, value: &Value) -> Result<()> {
        let url = self.url(&["issue", key, "properties", property]);
        self.send("set issue property", true, || {
            self.request(Method::PUT, url.clone()).json(value)
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_named_by_the_version_of_the_token_parameter_never_by_the_token() {
        assert_eq!(credentials_id(Some(7)), "v7");
        assert_ne!(credentials_id(Some(7)), credentials_id(Some(8)));
        assert_eq!(credentials_id(None), "unversioned");
    }

    #[test]
    fn a_url_moves_from_the_site_to_the_gateway_and_never_anywhere_else() {
        let site = Url::parse("https://acme.atlassian.net/").unwrap();
        let gateway =
            Url::parse("https://api.atlassian.com/ex/jira/8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f/")
                .unwrap();
        let moved = |url: &str| rebased(&Url::parse(url).unwrap(), &site, &gateway);
        assert_eq!(
            moved("https://acme.atlassian.net/rest/api/3/attachment/content/10001?redirect=false")
                .map(String::from),
            Some(format!(
                "{gateway}rest/api/3/attachment/content/10001?redirect=false"
            ))
        );
        // A path that reads as a URL or climbs out stays under the gateway's base, or is refused.
        for crafted in [
            "https://acme.atlassian.net/https://evil.example/x",
            "https://acme.atlassian.net/http:evil.example/x",
            "https://acme.atlassian.net/..%2F..%2F..%2Fex/confluence/x",
            "https://acme.atlassian.net/../../x",
        ] {
            if let Some(url) = moved(crafted) {
                assert!(
                    url.as_str().starts_with(gateway.as_str()),
                    "{crafted} -> {url}"
                );
            }
        }
        assert_eq!(
            moved("https://evil.example/rest/api/3/attachment/content/1"),
            None
        );
        assert_eq!(moved("https://acme.atlassian.net.evil.example/x"), None);
    }

    mod wiki_descriptions {
        use super::*;
        use crate::issue_description::{
            DETAILS_MARKER, details_block_adf, with_case_text, with_details_block,
        };
        use crate::snapshot::CaseSnapshot;
        use crate::status::SirStatus;

        fn case(regions: &[&str]) -> CaseSnapshot {
            CaseSnapshot {
                case_id: "1234567890".into(),
                title: "Suspicious IAM activity".into(),
                description: "Access keys used from an unknown ASN.".into(),
                status: SirStatus::DetectionAndAnalysis,
                closure_code: None,
                engagement_type: Some("Security Incident".into()),
                reported_incident_start_date: None,
                impacted_accounts: ["111122223333".to_owned()].into(),
                impacted_regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                impacted_services: Default::default(),
                watchers: Default::default(),
            }
        }

        fn block(regions: &[&str]) -> Value {
            details_block_adf(&case(regions), "https://console.example/sir")
        }

        /// The description as Data Center holds it: `above` a person wrote, then the block.
        fn stored(above: &str, regions: &[&str]) -> String {
            let doc = with_details_block(&adf_of(Value::String(above.into())), block(regions));
            wiki_of(&doc)
        }

        const MARKUP: &str = "h2. Timeline\n{color:red}*Key leaked*{color} at 10:02 by [~jsmith]\n\n{code:json}\n{\n  \"a\": 1\n}\n{code}";

        #[test]
        fn the_marker_words_are_in_the_details_marker() {
            assert!(DETAILS_MARKER.contains(DETAILS_MARKER_WORDS));
        }

        #[test]
        fn markup_above_the_block_is_written_back_as_written_when_only_the_block_changes() {
            let first = stored(MARKUP, &["eu-west-1"]);
            assert!(first.starts_with(MARKUP), "{first}");
            assert!(first.contains(DETAILS_MARKER_WORDS), "{first}");
            let doc = with_details_block(
                &adf_of(Value::String(first)),
                block(&["eu-west-1", "us-east-1"]),
            );
            let second = wiki_of(&doc);
            assert!(second.starts_with(MARKUP), "{second}");
            assert!(second.contains("us-east-1"), "{second}");
            assert_eq!(second.matches(DETAILS_MARKER_WORDS).count(), 1, "{second}");
        }

        #[test]
        fn new_case_text_replaces_the_markup_a_person_wrote() {
            let first = stored(MARKUP, &["eu-west-1"]);
            let doc = with_case_text(
                &adf_of(Value::String(first)),
                "Rotated the keys.",
                block(&["eu-west-1"]),
            );
            assert!(doc.get(WIKI_SOURCE).is_none());
            let wiki = wiki_of(&doc);
            assert!(wiki.starts_with("Rotated the keys."), "{wiki}");
            assert!(!wiki.contains("Timeline"), "{wiki}");
            assert_eq!(wiki.matches(DETAILS_MARKER_WORDS).count(), 1, "{wiki}");
        }

        #[test]
        fn a_description_without_a_block_keeps_its_markup_above_the_first_block() {
            let wiki = stored(MARKUP, &["eu-west-1"]);
            assert!(wiki.starts_with(MARKUP), "{wiki}");
            assert_eq!(details_block_starts(MARKUP), Vec::<usize>::new());
        }

        #[test]
        fn crlf_markup_reads_the_same_and_keeps_its_text() {
            let crlf = MARKUP.replace('\n', "\r\n");
            let first = stored(&crlf, &["eu-west-1"]);
            let doc = with_details_block(&adf_of(Value::String(first)), block(&["us-east-1"]));
            let wiki = wiki_of(&doc);
            assert!(wiki.contains("Key leaked"), "{wiki}");
            assert!(
                wiki.contains("us-east-1") && !wiki.contains("eu-west-1"),
                "{wiki}"
            );
            assert_eq!(wiki.matches(DETAILS_MARKER_WORDS).count(), 1, "{wiki}");
        }

        #[test]
        fn a_copy_of_the_block_quoted_below_it_is_not_taken_for_the_block() {
            let first = stored(MARKUP, &["eu-west-1"]);
            let quoted = format!(
                "{first}\n\n{{noformat}}\n{{panel}}\n{DETAILS_MARKER}\n{{panel}}\n{{noformat}}"
            );
            let doc = with_details_block(&adf_of(Value::String(quoted)), block(&["us-east-1"]));
            let wiki = wiki_of(&doc);
            assert!(wiki.starts_with(MARKUP), "{wiki}");
            assert!(
                wiki.contains("us-east-1") && !wiki.contains("eu-west-1"),
                "{wiki}"
            );
            assert!(wiki.contains("{noformat}"), "{wiki}");
        }

        #[test]
        fn a_description_full_of_macro_lines_finds_its_block() {
            let code = format!("{{code}}\n{}{{code}}", "{\n".repeat(2_000));
            let first = stored(&code, &["eu-west-1"]);
            // only lines just above the marker are candidates
            let starts = details_block_starts(&first);
            assert_eq!(starts.len(), 1, "{starts:?}");
            assert!(
                first[starts[0]..].starts_with("{info}"),
                "{}",
                &first[starts[0]..]
            );
            assert!(first.starts_with(&code), "{first}");
        }
    }

    #[test]
    fn jira_timestamps_become_rfc3339_in_utc() {
        assert_eq!(
            jira_timestamp_to_rfc3339("2024-05-01T10:15:30.123+0200").as_deref(),
            Some("2024-05-01T08:15:30Z")
        );
        assert_eq!(
            jira_timestamp_to_rfc3339("2024-05-01T10:15:30.000+0000").as_deref(),
            Some("2024-05-01T10:15:30Z")
        );
        assert_eq!(
            jira_timestamp_to_rfc3339("2024-05-01T10:15:30Z").as_deref(),
            Some("2024-05-01T10:15:30Z")
        );
        for bad in ["", "yesterday", "2024-05-01", "+0200"] {
            assert_eq!(jira_timestamp_to_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn jira_timestamps_become_epoch_milliseconds() {
        assert_eq!(
            jira_timestamp_to_epoch_ms("1970-01-01T01:00:01.250+0100"),
            Some(1_250)
        );
        assert_eq!(
            jira_timestamp_to_epoch_ms("2024-05-01T10:15:30Z"),
            Some(1_714_558_530_000)
        );
        assert_eq!(jira_timestamp_to_epoch_ms("soon"), None);
    }
}
