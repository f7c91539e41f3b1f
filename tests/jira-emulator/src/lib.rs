//! Jira Cloud emulator for the local world: the REST v3 (and v2) API an integration uses, with
//! Cloud's rules (or, with [`Deployment::DataCenter`], Jira Data Center's REST v2: see "Data
//! Center mode" below), plus Jira Automation publishing `{"automationData":{"IssueId":"SEC-12","Initiator":"<accountId>"}}` to an
//! SNS topic after every change, a Rust API and an admin HTTP API that act as human Jira users,
//! and fault injection. [`JiraEmulator::in_process`] runs the same state and routers without a
//! socket or a task: a transport hands requests to [`JiraEmulator::routers`] and the caller takes
//! the Automation messages ([`JiraEmulator::take_automation_messages`]).
//!
//! ```ignore
//! let jira = JiraEmulator::start(JiraEmulatorConfig { sns: Some(target), ..Default::default() }).await?;
//! let ann = jira.add_user(User::new("Ann Analyst", "ann@example.com"));
//! let key = jira.create_issue(&ann.account_id, NewIssue::new("Suspicious login"))?;
//! jira.transition_to(&ann.account_id, &key, "Done")?;
//! ```
//!
//! # REST API (`/rest/api/3`, and the same under `/rest/api/2`)
//! Basic auth `email:token` of the integration user (or of users given a token with
//! `add_api_token`); anything else is 401. v3 bodies (description, comment body) are ADF; v2
//! takes and returns plain text, converted to and from ADF paragraphs.
//!
//! **API tokens with scopes** (`add_scoped_api_token`) work only through the API gateway, on
//! another origin as `api.atlassian.com` is: `<gateway>/ex/jira/<cloud id>/rest/api/3/…`
//! ([`JiraEmulator::gateway_url`]; an unknown cloud id is a 404). The site answers them 401; the
//! gateway answers a token without scopes 401, and a request its classic scopes do not allow
//! 401 "Unauthorized; scope does not match" (`read:jira-user`: `/myself`, `/user`,
//! `/user/search`; `read:jira-work`: every other read and the JQL search; `write:jira-work`:
//! every write). Answers through the gateway are the site's: an attachment's `content` still
//! points at the site. `GET /_edge/tenant_info` (no auth) answers `{"cloudId"}`.
//! - `GET /serverInfo` (no auth), `GET /myself`, `GET /user?accountId=`,
//!   `GET /user/search?query=&accountId=&startAt=&maxResults=`
//! - `POST /issue` (issue `properties: [{key, value}]` set with the create, as Cloud does);
//!   `GET|PUT|DELETE /issue/{key}` (`GET` takes `fields=`, `expand=changelog` and
//!   `properties=` — the named issue properties it has, or `*all` — under `properties`)
//! - `GET|POST /issue/{key}/transitions`
//! - `GET|POST /issue/{key}/comment` (`startAt`, `maxResults` ≤ 100, default 50, `orderBy`,
//!   `expand=properties`; `POST` takes comment `properties: [{key, value}]` as Cloud does);
//!   `GET|PUT /issue/{key}/comment/{id}`; `GET /comment/{id}/properties`;
//!   `GET|PUT|DELETE /comment/{id}/properties/{propertyKey}`
//! - `GET|POST|DELETE /issue/{key}/watchers` (`POST` body: a JSON string accountId;
//!   `DELETE ?accountId=`)
//! - `POST /issue/{key}/attachments` (multipart `file`, header `X-Atlassian-Token: no-check`);
//!   `GET /attachment/{id}`; `GET /attachment/content/{id}`: as in Cloud, `303 See Other` to the
//!   media host ([`JiraEmulator::media_url`], a second origin) unless `redirect=false` (or
//!   [`JiraEmulatorConfig::attachment_redirect`] is off), which serves the bytes directly
//! - `GET /issue/{key}/properties`; `GET|PUT|DELETE /issue/{key}/properties/{propertyKey}`
//! - `POST|GET /search/jql` (`jql`, `maxResults`, `nextPageToken`, `fields`, `expand`,
//!   `reconcileIssues` ≤ 50 issue ids); with [`JiraEmulatorConfig::search_lag`] set, as Cloud's
//!   index lags its writes, an issue created less than that long ago is not found, and one
//!   updated less than that long ago is matched, ordered and returned as it was before
//!   (found by its old labels, not its new summary), unless `reconcileIssues` names it; [`JiraEmulator::set_search_short_pages`] makes pages
//!   hold fewer issues than `maxResults` asks while `isLast` stays false (Cloud may do so);
//!   `/search` answers 410 Gone as Cloud does now.
//!
//! # Media host (the second origin)
//! `GET /file/{id}/binary?token=…` serves the bytes of the attachment the token was issued for.
//! Like Atlassian's media service it authorises by the token only: a request carrying an
//! `Authorization` header is refused with 403 (and recorded, see
//! [`JiraEmulator::media_requests`]), and one whose `Accept` admits no type the file is served
//! as (e.g. `Accept: application/json` for a binary file) gets 406.
//!
//! # JQL supported by `/search/jql` (Data Center: `/search`)
//! Clauses combined with `AND`, `OR`, `NOT` and parentheses (`NOT` binds tightest, then `AND`,
//! then `OR`), then optionally
//! `ORDER BY <key|created|updated|status|summary> [ASC|DESC], ...` (default `key DESC`):
//! - `project`, `key`/`issuekey`, `status`, `issuetype`/`type`, `reporter`, `creator`:
//!   `=`, `!=`, `IN (...)`, `NOT IN (...)`; users by accountId (Data Center: username) or
//!   `currentUser()`
//! - `key`/`issuekey` also `>`, `>=`, `<`, `<=`: issues of the key's project whose number
//!   compares so (`key > SEC-9` finds SEC-10; numbers, not text); the key must exist
//! - `statusCategory`: `=`, `!=`, `IN`, `NOT IN` with a category's name (`"To Do"`,
//!   `"In Progress"`, `Done`), key (`new`, `indeterminate`, `done`) or id (2, 4, 3); an issue's
//!   category is its status's in the emulator's workflow
//! - `labels`: `=`, `!=`, `IN`, `NOT IN`, `IS EMPTY`, `IS NOT EMPTY`
//! - `summary`: `~`, `!~` (case-insensitive substring)
//! - `created`, `updated`: `=`, `!=`, `>`, `>=`, `<`, `<=` against `-5m`/`-2h`/`-1d`/`-1w`
//!   (relative to now), `"yyyy-MM-dd"`, `"yyyy-MM-dd HH:mm"` (UTC, the integration user's time
//!   zone here), or `now()`; the issue's time counts only to the minute (as Jira's index keeps
//!   it): at 10:05:30, `updated >= "-5m"` does not find an issue updated at 10:00:40 (indexed
//!   as 10:00)
//! - an unknown project, status or issue key in a query is a 400, as in Cloud; a query without
//!   any clause is refused as unbounded.
//!
//! # Admin API (`/_emulator`, JSON, no auth, not recorded, not subject to faults)
//! - `GET /_emulator/users`; `POST /_emulator/users` (a [`User`]) → the stored user;
//!   `POST /_emulator/users/{accountId}/token` `{"email","token"}`
//! - `GET /_emulator/issues`, `GET /_emulator/issues/{key}` ([`IssueRecord`]; attachments
//!   without bytes); `GET /_emulator/deleted-issues`
//! - `POST /_emulator/issues` `{"as", "summary", "description"?, "labels"?, "issueType"?}` →
//!   `{"key"}`; descriptions and comment bodies are plain text or an ADF object
//! - `PUT /_emulator/issues/{key}` `{"as", "summary"?, "description"?, "labels"?}`
//! - `POST /_emulator/issues/{key}/transition` `{"as", "status"}`
//! - `POST /_emulator/issues/{key}/comments` `{"as", "body"}` → `{"id"}`;
//!   `PUT /_emulator/issues/{key}/comments/{id}` `{"as", "body"}`
//! - `POST /_emulator/issues/{key}/attachments?as=&fileName=` (raw bytes as the body) → `{"id"}`
//! - `POST /_emulator/issues/{key}/watchers` `{"accountId"}`;
//!   `DELETE /_emulator/issues/{key}/watchers/{accountId}`
//! - `DELETE /_emulator/issues/{key}?as=`
//! - `GET /_emulator/requests` ([`RecordedRequest`]s); `DELETE /_emulator/requests`
//! - `GET /_emulator/automation` → `{"enabled", "published", "failures"}`;
//!   `PUT /_emulator/automation` `{"enabled", "skipInitiator"?, "namesInitiator"?}` (the
//!   rules' condition "Initiator is not <accountId>": that account's changes publish nothing;
//!   whether the message carries `"Initiator"`, on unless `false`); `POST /_emulator/automation/forged` (the raw
//!   message as the body)
//! - `POST /_emulator/faults` `{"failNext"?: {"count","status"}, "latencyMs"?, "outageMs"?,
//!   "rateLimit"?: {"capacity","refillPerSecond"} | null (the tenant's bucket),
//!   "burstLimit"?: … | null (a bucket per endpoint and method), "issueWriteLimit"?: … | null (a
//!   bucket per issue for its writes; each 429 names its limit in `RateLimit-Reason`:
//!   `jira-quota-tenant-based`, `jira-burst-based`, `jira-per-issue-on-write`), "refuseWatcher"?: {"accountId",
//!   "message"} (adding that watcher answers 400), "requireTransitionField"?: {"status", "field",
//!   "message"} (a transition to that status without the field in `fields` answers 400 with
//!   `errors`), "failAfterApplying"?: {"method", "pathPart", "status"} (the next such request is
//!   applied, then answered `status`)}`; `DELETE /_emulator/faults` clears all
//!
//! Errors of the admin API are `{"error": "..."}` with 400/404.
//!
//! # What Automation publishes
//! On create, on any change of summary, description or labels, on every transition (each hop),
//! on comment added or edited, on attachment added, and on delete (with
//! `"Event":"issue_deleted"` inside `automationData`) — whoever made the change, named as
//! `Initiator` (the README's rules send `{{initiator.accountId}}`). Watchers and
//! issue properties are not fields and publish nothing (nor change `updated`), as in Cloud.
//!
//! # Data Center mode
//! [`JiraEmulatorConfig::deployment`] set to [`Deployment::DataCenter`] makes the emulator a Jira
//! Data Center 10.3 site, as strict as the real one. Cloud stays the default, unchanged.
//! Everything not listed here is as in Cloud (`/rest/api/2` routes, issue and comment
//! properties, `properties=`, `expand=properties`, transitions, custom fields, error bodies
//! `{"errorMessages","errors"}` and their messages, faults, rate limits with `Retry-After`, the
//! admin API, webhooks' registration, headers, signing and retries). What differs:
//! - **Users.** A user's `account_id` holds its Data Center username (DC's `name`), the id the
//!   API names it by: [`JiraEmulator::add_user`] with an empty one makes it from the e-mail's
//!   local part (or the display name, lower-cased, spaces → dots), lower-cased, with `2`, `3`, …
//!   after it when taken; the integration user's comes from [`JiraEmulatorConfig::email`]
//!   (`integration`). Usernames compare without case. Every user also has a user key,
//!   `JIRAUSER10000` (the integration user), `JIRAUSER10001`, … ([`JiraEmulator::user_key`]).
//!   The Rust and admin APIs take the username wherever they take an accountId.
//! - **User JSON**, everywhere a user appears (`myself`, `user`, `user/search`, reporter,
//!   creator, comment and attachment authors, watchers, changelog, webhook bodies):
//!   `{"self", "key", "name", "avatarUrls", "emailAddress" (when visible), "displayName",
//!   "active", "timeZone"}`, no `accountId`.
//! - **REST v2 only**: anything under `/rest/api/3` answers 404, as Data Center 9/10 does.
//! - **Auth**: `Authorization: Bearer <token>` with a user's token (the integration user's
//!   [`JiraEmulatorConfig::token`], or one given with `add_api_token`) as a personal access
//!   token, or Basic `username:token`; Basic with the e-mail, no credentials or others are 401.
//! - `GET /serverInfo` (no auth): `"deploymentType": "Server"` (Data Center answers so too),
//!   `"version": "10.3.1"`, `"versionNumbers": [10, 3, 1]`.
//! - `GET /user?username=` or `?key=` (`accountId=` is a 400, an unknown user a 404);
//!   `GET /user/search?username=&startAt=&maxResults=&includeActive=&includeInactive=` matches
//!   the start of the username, of the display name or one of its words, or of a visible
//!   e-mail, case-insensitively, active users only by default; without `username` (e.g. Cloud's
//!   `query=`) it is a 400 "The username query parameter was not provided".
//! - Watchers: `POST /issue/{key}/watchers` takes a JSON string username;
//!   `DELETE /issue/{key}/watchers?username=` (`accountId=` is a 400).
//! - `POST /issue` takes the reporter as `{"name": "<username>"}`; anything else, or no such
//!   user, is a 400 on `reporter`.
//! - **Text**: descriptions and comment bodies are wiki markup strings. The emulator keeps the
//!   wiki text written through the REST API and answers it byte for byte, as Data Center does;
//!   internally (and in [`IssueRecord::description`]) it is read into ADF (paragraphs by empty
//!   lines, line breaks, headings, lists, `*bold*` and the other marks, `[text|url]`,
//!   `[~user]`, `{panel}`/`{info}`/`{note}`/`{warning}`/`{tip}`/`{quote}`, `{code}`/`{noformat}`
//!   kept verbatim). Text a person writes through the Rust or admin API (plain text or ADF) is
//!   answered as wiki markup: plain text as it is, with wiki specials escaped only where they
//!   would read as markup, so what a reader sees is the text written (`Use *this*` →
//!   `Use \*this\*`). Changelog entries and Automation see the text's plain reading.
//! - **Search**: `GET /search?jql=&startAt=&maxResults=&fields=&expand=` and `POST /search`
//!   `{"jql","startAt","maxResults","fields","expand"}` (another key, e.g. Cloud's
//!   `nextPageToken`, is a 400) answer `{"expand","startAt","maxResults","total","issues"}`;
//!   `maxResults` defaults to 50 and is capped at 1000; `fields` defaults to every field; JQL
//!   without a clause is allowed. No `isLast`, `nextPageToken` or `reconcileIssues`;
//!   `/search/jql` answers 404. The index is updated on write: [`JiraEmulatorConfig::search_lag`]
//!   and [`JiraEmulator::set_search_short_pages`] do not apply.
//! - **JQL** user values are usernames (`reporter = alice`) or `currentUser()`.
//! - **Attachments** download from `GET /secure/attachment/{id}/{filename}` on the site itself,
//!   with the REST API's auth (401 without): no media host, no redirect; an attachment's
//!   `content` points there, and `/rest/api/2/attachment/content/{id}` answers 404. Uploads
//!   still need `X-Atlassian-Token: no-check` (403 "XSRF check failed" without).
//! - Comments have no `jsdPublic`.
//! - **Webhooks**: bodies carry Data Center users (`user`, a comment's `author` and
//!   `updateAuthor`) and a comment's `body` as wiki markup.
//! - **Automation**: Data Center has no Amazon SNS action. [`JiraEmulatorConfig::sns`] is
//!   ignored; the rules are off at start ([`Automation::is_enabled`] is false), so a test that
//!   expects Automation messages from a Data Center site fails rather than passing on a feature
//!   the product lacks; turned on, they only record their messages ([`Automation::published`]):
//!   nothing is published, and in process [`JiraEmulator::take_automation_messages`] stays
//!   empty.
//!
//! # Time
//! Every time the emulator reads (`created`/`updated`, `serverTime`, JQL's `now()`, the search
//! lag, the outage and rate-limit windows) is the clock crate's: the system's, or a simulation's
//! virtual time under a paused runtime ([`clock::simulate_from`]). [`JiraEmulator::search_keys`]
//! answers what a search would find now, without a request.

mod adf;
mod automation;
mod custom_fields;
mod emulator;
mod error;
mod faults;
mod http;
mod jql;
mod model;
mod store;
mod webhooks;
mod wiki;
mod workflow;

pub use automation::{Automation, SnsTarget};
pub use custom_fields::{CustomField, CustomFieldKind};
pub use emulator::{
    CLOUD_ID, DEFAULT_MAX_ATTACHMENT_BYTES, Deployment, IN_PROCESS_GATEWAY_URL,
    IN_PROCESS_MEDIA_URL, IN_PROCESS_URL, JiraEmulator, JiraEmulatorConfig,
};
pub use error::Error;
pub use faults::{Faults, LimitReason, RateLimit};
pub use model::{
    AttachmentRecord, CommentRecord, HistoryEntry, IssueAction, IssueEdit, IssueRecord,
    MediaRequest, NewIssue, RecordedRequest, RichText, User,
};
pub use webhooks::{
    WebhookDeliveryRecord, WebhookRegistration, WebhookSettings, Webhooks, sign as sign_webhook,
};
pub use workflow::{StatusCategory, Workflow, WorkflowStatus, WorkflowTransition};

/// The current time, from the one clock of the world (the clock crate's: a simulation's virtual
/// time when one is installed).
pub(crate) fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::from(clock::now_system())
}

/// Locks a mutex, carrying on past a panic elsewhere: the state stays usable for the test that
/// is reading it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
