//! The AWS Security Incident Response operations the integration uses, behind the [`SirApi`]
//! trait, with its one production adapter on `aws-sdk-securityir`.
//!
//! Retries: the SDK's standard retry (exponential backoff with jitter) covers throttling and 5xx,
//! and [`RetryAfterClassifier`] makes it wait at least the `Retry-After` SIR sends with a 429
//! (the SDK itself only reads `x-amz-retry-after`). Creates are safe to retry because every create carries a `clientToken` derived from what it
//! copies (the Jira issue key, the Jira comment id), so a repeated call returns the first
//! result instead of a second case or comment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_securityir::Client;
use aws_sdk_securityir::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_securityir::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityir::types::{
    AwsRegion, CaseStatus, EngagementType, ImpactedAwsRegion, ResolverType, SelfManagedCaseStatus,
    Watcher,
};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{RetryClassifierPriority, RetryReason};
use aws_smithy_types::retry::ErrorKind;

use crate::attachment_body::{AttachmentBody, AttachmentSource};
use crate::error::{Error, Result};
use crate::http_transport::{HttpTransport, ReqwestTransport};
use crate::snapshot::CaseSnapshot;
use crate::status::{SirStatus, StatusError};

/// The tag a case created from a Jira issue carries: the issue key, so the issue can be linked
/// again if the link was not written (crash) or the case is seen before the link is.
pub const JIRA_ISSUE_TAG: &str = "jira-issue-key";

/// The tag beside [`JIRA_ISSUE_TAG`] naming the Jira site of that issue ([`jira_site`]), so a
/// second deployment connected to another site never takes the key for one of its own issues.
pub const JIRA_SITE_TAG: &str = "jira-site";

/// The Jira site as the integration names it: the URL, lower case, without trailing slashes
/// (clipped to 256 characters, a tag value's limit).
pub fn jira_site(url: &str) -> String {
    url.trim()
        .trim_end_matches('/')
        .to_lowercase()
        .chars()
        .take(256)
        .collect()
}

/// A short, fixed-length identity of the Jira site (12 hex digits of its [`jira_site`]'s
/// fingerprint) that idempotency tokens carry, so two deployments on two sites whose issue keys
/// coincide never share one.
pub fn jira_site_id(url: &str) -> String {
    let fingerprint = crate::snapshot::Fingerprint::of_text(&jira_site(url));
    fingerprint.as_str().chars().take(12).collect()
}

/// Which Jira site a case created from an issue says it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSite {
    /// Its [`JIRA_SITE_TAG`] names this site.
    This,
    /// Its [`JIRA_SITE_TAG`] names another site (another deployment's).
    Other,
    /// It has no [`JIRA_SITE_TAG`]: made before the tag existed; only its note naming the
    /// issue's URL tells the site.
    Untagged,
}

/// The origin site of a case by its tags, seen from the site `jira_url`.
pub fn origin_site(tags: &BTreeMap<String, String>, jira_url: &str) -> OriginSite {
    match tags.get(JIRA_SITE_TAG) {
        Some(site) if *site == jira_site(jira_url) => OriginSite::This,
        Some(_) => OriginSite::Other,
        None => OriginSite::Untagged,
    }
}

/// How long a case id may be: the model's `CaseId` is 10 to 32 characters.
const CASE_ID_CHARS: std::ops::RangeInclusive<usize> = 10..=32;

/// Whether `case_id` is a SIR case id: 10 to 32 ASCII digits, the model's `CaseId`
/// (`security-ir` 2018-05-10: 10 to 32 characters, pattern `\d{10,32}.*`) without the pattern's
/// open tail. A case id read from an event goes into logs, table keys, a Jira label and JQL, so
/// nothing but digits is let through: no quote, space or newline can reach them, and every id
/// SIR makes is digits only.
pub fn is_case_id(case_id: &str) -> bool {
    CASE_ID_CHARS.contains(&case_id.len()) && case_id.bytes().all(|b| b.is_ascii_digit())
}

/// SIR's page size limit for list operations.
pub const MAX_PAGE_SIZE: i32 = 25;

/// A case as ListCases shows it (no description or comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    pub case_id: String,
    pub title: Option<String>,
    pub status: Option<SirStatus>,
    /// RFC 3339.
    pub last_updated_date: Option<String>,
    /// RFC 3339; what the backfill rule judges a case first met by (see the poller).
    pub created_date: Option<String>,
}

/// A case as GetCase shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDetails {
    pub snapshot: CaseSnapshot,
    /// The case's ARN (for its tags).
    pub case_arn: Option<String>,
    pub resolver_type: Option<String>,
    /// RFC 3339.
    pub created_date: Option<String>,
    pub last_updated_date: Option<String>,
    pub attachments: Vec<SirAttachment>,
}

/// An attachment of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirAttachment {
    pub attachment_id: String,
    pub file_name: String,
    /// `Pending`, `Verified` or `Failed`: only a `Verified` one can be downloaded.
    pub status: String,
    pub creator: String,
    pub created_date: String,
}

/// A comment of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirComment {
    pub comment_id: String,
    pub body: String,
    /// The principal that wrote it (our own role's for the integration's comments).
    pub creator: Option<String>,
    pub created_date: Option<String>,
    pub last_updated_date: Option<String>,
    pub last_updated_by: Option<String>,
}

/// A member of the incident response team of the active membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentResponder {
    pub name: String,
    pub email: String,
    pub job_title: String,
}

/// What CreateCase needs. Nothing here is ever invented: empty lists stay empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// Derived from the source (e.g. the Jira issue key) so a retry returns the same case.
    pub client_token: String,
    pub title: String,
    pub description: String,
    pub engagement_type: String,
    pub resolver_type: String,
    /// RFC 3339.
    pub reported_incident_start_date: String,
    pub impacted_accounts: Vec<String>,
    /// AWS region codes ([`is_sir_region`]); none is sent when empty.
    pub impacted_regions: Vec<String>,
    /// Service names ([`is_sir_service_name`]); none is sent when empty.
    pub impacted_services: Vec<String>,
    pub watchers: Vec<String>,
    /// Tags set at creation (e.g. [`JIRA_ISSUE_TAG`], which makes the case findable).
    pub tags: BTreeMap<String, String>,
}

/// What UpdateCase changes; `None` and empty lists leave the case as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub watchers_to_add: Vec<String>,
    pub watchers_to_delete: Vec<String>,
}

/// The SIR operations of the integration.
#[async_trait]
pub trait SirApi: Send + Sync {
    /// Every case, paging ListCases 25 at a time.
    async fn list_cases(&self) -> Result<Vec<CaseSummary>>;
    /// The case, or `None` when SIR says it does not exist (ResourceNotFound).
    async fn get_case(&self, case_id: &str) -> Result<Option<CaseDetails>>;
    /// Every comment of the case, all pages.
    async fn list_comments(&self, case_id: &str) -> Result<Vec<SirComment>>;
    async fn create_case(&self, case: &NewCase) -> Result<String>;
    async fn update_case(&self, case_id: &str, edit: &CaseEdit) -> Result<()>;
    /// One UpdateCaseStatus call: only to a self-managed status along the SIR graph.
    async fn update_case_status(&self, case_id: &str, status: SirStatus) -> Result<()>;
    async fn close_case(&self, case_id: &str) -> Result<()>;
    /// Adds a comment; the same `client_token` never adds a second one.
    async fn create_comment(&self, case_id: &str, body: &str, client_token: &str)
    -> Result<String>;
    async fn update_comment(&self, case_id: &str, comment_id: &str, body: &str) -> Result<()>;
    /// Uploads through a presigned URL (GetCaseAttachmentUploadUrl for `body`'s length, then a
    /// PUT streaming the bytes with that `Content-Length`); the same `client_token` asks for the
    /// same upload again.
    async fn upload_attachment(
        &self,
        case_id: &str,
        file_name: &str,
        body: AttachmentBody,
        client_token: &str,
    ) -> Result<()>;
    /// Downloads through a presigned URL (GetCaseAttachmentDownloadUrl, then GET): the bytes as
    /// they arrive, with the length the response declared.
    async fn download_attachment(
        &self,
        case_id: &str,
        attachment_id: &str,
    ) -> Result<AttachmentBody>;
    /// The incident response team of the active membership (empty when there is none).
    async fn incident_response_team(&self) -> Result<Vec<IncidentResponder>>;
    /// The tags of the case with this ARN.
    async fn case_tags(&self, case_arn: &str) -> Result<BTreeMap<String, String>>;
}

/// The incident response team's e-mails (lower-cased): the poller adds them to every case's
/// watchers, so they are followers of every issue.
pub async fn team_emails(sir: &dyn SirApi) -> Result<BTreeSet<String>> {
    Ok(sir
        .incident_response_team()
        .await?
        .into_iter()
        .map(|r| r.email.trim().to_lowercase())
        .collect())
}

/// A case's snapshot as the poller records it: the case's own fields, its watchers joined by the
/// response team. Everything that stores a case snapshot goes through here, so the poller never
/// sees a difference that is only in how the snapshot was made.
pub fn observed_snapshot(snapshot: CaseSnapshot, team: &BTreeSet<String>) -> CaseSnapshot {
    let mut snapshot = snapshot;
    snapshot.watchers.extend(team.iter().cloned());
    snapshot.normalized()
}

/// Refines the SDK's "retryable" verdict with the delay of a `Retry-After: <seconds>` header, so
/// a throttled call is not repeated sooner than SIR asked (the standard strategy caps the wait
/// at its maximum backoff).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAfterClassifier;

impl ClassifyRetry for RetryAfterClassifier {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        // Every answer refusing the call for its rate counts, retried or not (the retries
        // themselves are counted by [`RetryCounter`], as they start).
        if let RetryAction::RetryIndicated(RetryReason::RetryableError { kind, .. }) = previous
            && *kind == ErrorKind::ThrottlingError
        {
            crate::metrics::note_throttled(crate::metrics::Remote::Sir);
        }
        let RetryAction::RetryIndicated(RetryReason::RetryableError {
            kind,
            retry_after: None,
        }) = previous
        else {
            return RetryAction::NoActionIndicated;
        };
        let seconds = ctx
            .response()
            .and_then(|r| r.headers().get("retry-after"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        match seconds {
            Some(s) => {
                RetryAction::retryable_error_with_explicit_delay(*kind, Duration::from_secs(s))
            }
            None => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "Retry-After"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether `creator` is one of the integration's own `principals` (see [`principal_matches`]).
pub fn is_integration_principal(principals: &[String], creator: Option<&str>) -> bool {
    creator.is_some_and(|c| principals.iter().any(|p| principal_matches(p, c)))
}

/// Whether the SIR `creator` is the configured `principal`: the same ARN, or a session of the
/// IAM role `principal` (`arn:aws:iam::<acct>:role/<path/>Name` ≙
/// `arn:aws:sts::<acct>:assumed-role/Name/<session>`).
pub fn principal_matches(principal: &str, creator: &str) -> bool {
    let (principal, creator) = (principal.trim(), creator.trim());
    if principal.eq_ignore_ascii_case(creator) {
        return true;
    }
    let arn = |text: &str| -> Option<(String, String, String)> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, service, "", account, resource] => Some((
                format!("{partition}:{account}"),
                (*service).to_owned(),
                (*resource).to_owned(),
            )),
            _ => None,
        }
    };
    let (Some((p_scope, p_service, p_resource)), Some((c_scope, c_service, c_resource))) =
        (arn(principal), arn(creator))
    else {
        return false;
    };
    let Some(role_path) = p_resource.strip_prefix("role/") else {
        return false;
    };
    let role_name = role_path.rsplit('/').next().unwrap_or(role_path);
    let session_role = c_resource
        .strip_prefix("assumed-role/")
        .and_then(|rest| rest.split('/').next());
    p_scope == c_scope
        && p_service == "iam"
        && c_service == "sts"
        && session_role == Some(role_name)
}

/// The SDK configuration the integration uses for SIR: `sdk` plus [`RetryAfterClassifier`].
pub fn sir_client_config(sdk: &aws_config::SdkConfig) -> aws_sdk_securityir::config::Builder {
    aws_sdk_securityir::config::Builder::from(sdk)
        .retry_classifier(RetryAfterClassifier)
        .interceptor(RetryCounter)
}

/// Counts each retry the SDK starts (an attempt after the first) for the function's metrics
/// ([`crate::metrics::note_retry`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryCounter;

impl aws_sdk_securityir::config::Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "RetryCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let attempts = cfg
            .load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
            .map_or(0, |a| a.attempts());
        if attempts > 1 {
            crate::metrics::note_retry(crate::metrics::Remote::Sir);
        }
        Ok(())
    }
}

/// One case attachment's download, opened again for each attempt of an upload elsewhere.
#[derive(Clone, Copy)]
pub struct CaseAttachmentDownload<'a> {
    pub sir: &'a dyn SirApi,
    pub case_id: &'a str,
    pub attachment_id: &'a str,
}

impl std::fmt::Debug for CaseAttachmentDownload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseAttachmentDownload")
            .field("case_id", &self.case_id)
            .field("attachment_id", &self.attachment_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AttachmentSource for CaseAttachmentDownload<'_> {
    async fn open(&self) -> Result<AttachmentBody> {
        self.sir
            .download_attachment(self.case_id, self.attachment_id)
            .await
    }
}

/// Longest wait for a connection to a presigned URL's host (S3). Far below the Lambdas' 5-minute
/// timeout, so a host that does not answer fails the event with a retryable error, not the
/// invocation with a timeout.
pub const TRANSFER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while a presigned transfer is under way (between reads of the response, or
/// before it starts). An idle limit, not a total: a 100 MiB attachment may take minutes while
/// bytes keep flowing, but a stalled transfer must fail well inside the Lambdas' 5 minutes.
pub const TRANSFER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The client for presigned transfers, with [`TRANSFER_CONNECT_TIMEOUT`] and
/// [`TRANSFER_READ_TIMEOUT`].
fn transfer_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(TRANSFER_CONNECT_TIMEOUT)
        .read_timeout(TRANSFER_READ_TIMEOUT)
        .build()
        .unwrap_or_else(|error| {
            // Only a TLS back end that cannot start fails here, and then any client does.
            tracing::error!(%error, "the presigned transfer client could not be configured");
            reqwest::Client::new()
        })
}

/// A presigned URL is a bearer credential (the model marks it sensitive): a transfer error
/// keeps what went wrong but not the URL, so no error message, log line or Lambda error
/// response carries `X-Amz-Signature` or the object's path.
fn transfer_error(operation: &'static str) -> impl Fn(reqwest::Error) -> Error + Copy {
    move |source| Error::SirTransfer {
        operation,
        status: None,
        source: Some(source.without_url()),
    }
}

/// [`SirApi`] on `aws-sdk-securityir`; presigned transfers with `reqwest` through an
/// [`HttpTransport`].
#[derive(Debug, Clone)]
pub struct SdkSirClient {
    client: Client,
    /// Builds the transfer requests.
    http: reqwest::Client,
    /// Sends them: `http` itself in production, see [`SdkSirClient::with_transport`].
    transport: Arc<dyn HttpTransport>,
}

fn rfc3339(date: &DateTime) -> Option<String> {
    date.fmt(DateTimeFormat::DateTime).ok()
}

fn parse_status(status: &CaseStatus) -> Result<SirStatus> {
    Ok(status.as_str().parse()?)
}

/// How many impacted accounts a case takes (`ImpactedAccounts`).
pub const MAX_IMPACTED_ACCOUNTS: usize = 200;
/// How many impacted regions a case takes (`ImpactedAwsRegionList`).
pub const MAX_IMPACTED_REGIONS: usize = 50;
/// How many impacted services a case takes (`ImpactedServicesList`).
pub const MAX_IMPACTED_SERVICES: usize = 600;

/// Whether SIR takes `region` as an impacted region (its `AwsRegion` enum).
pub fn is_sir_region(region: &str) -> bool {
    AwsRegion::values().contains(&region)
}

/// Whether SIR takes `name` as an impacted service (`AwsService`: 2 to 50 characters of
/// `[a-zA-Z0-9 -.():]`, where ` -.` is the range from the space to the full stop).
pub fn is_sir_service_name(name: &str) -> bool {
    (2..=50).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || (' '..='.').contains(&c) || c == ':')
}

fn impacted_region(region: &str) -> Result<ImpactedAwsRegion> {
    ImpactedAwsRegion::builder()
        .region(AwsRegion::from(region))
        .build()
        .map_err(|source| Error::RequestBuild {
            what: "SIR ImpactedAwsRegion",
            source,
        })
}

fn watcher(email: &str) -> Result<Watcher> {
    Watcher::builder()
        .email(email)
        .build()
        .map_err(|source| Error::RequestBuild {
            what: "SIR Watcher",
            source,
        })
}

impl SdkSirClient {
    /// Presigned transfers over the network (S3), with [`TRANSFER_CONNECT_TIMEOUT`] and
    /// [`TRANSFER_READ_TIMEOUT`].
    pub fn new(client: Client) -> Self {
        let http = transfer_client();
        let transport = Arc::new(ReqwestTransport::new(http.clone()));
        SdkSirClient {
            client,
            http,
            transport,
        }
    }

    /// Presigned transfers through `transport` (e.g. the local world's emulator answering in
    /// process); `client` brings its own HTTP client for the API calls.
    pub fn with_transport(client: Client, transport: Arc<dyn HttpTransport>) -> Self {
        // The client only builds the transfers `transport` sends: one per process will do, as
        // building one reads the system's root certificates.
        static BUILDER: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        SdkSirClient {
            client,
            http: BUILDER.get_or_init(transfer_client).clone(),
            transport,
        }
    }

    /// Sends a presigned transfer request; a request that does not build fails like one that
    /// could not be sent.
    async fn transfer(
        &self,
        request: reqwest::RequestBuilder,
    ) -> reqwest::Result<reqwest::Response> {
        self.transport.send(request.build()?).await
    }
}

#[async_trait]
impl SirApi for SdkSirClient {
    async fn list_cases(&self) -> Result<Vec<CaseSummary>> {
        let mut cases = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_cases()
                .max_results(MAX_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(Error::sir("ListCases"))?;
            for item in page.items() {
                cases.push(CaseSummary {
                    case_id: item.case_id().to_owned(),
                    title: item.title().map(str::to_owned),
                    status: item.case_status().map(parse_status).transpose()?,
                    last_updated_date: item.last_updated_date().and_then(rfc3339),
                    created_date: item.created_date().and_then(rfc3339),
                });
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(cases),
            }
        }
    }

    async fn get_case(&self, case_id: &str) -> Result<Option<CaseDetails>> {
        let out = match self.client.get_case().case_id(case_id).send().await {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(Error::sir("GetCase")(err)),
        };
        let status = out
            .case_status()
            .map(parse_status)
            .transpose()?
            .ok_or_else(|| Error::SirAnswerIncomplete {
                operation: "GetCase",
                case_id: case_id.to_owned(),
                missing: "a case status",
            })?;
        let snapshot = CaseSnapshot {
            case_id: case_id.to_owned(),
            title: out.title().unwrap_or_default().to_owned(),
            description: out.description().unwrap_or_default().to_owned(),
            status,
            closure_code: out.closure_code().map(|c| c.as_str().to_owned()),
            engagement_type: out.engagement_type().map(|e| e.as_str().to_owned()),
            reported_incident_start_date: out.reported_incident_start_date().and_then(rfc3339),
            impacted_accounts: out.impacted_accounts().iter().cloned().collect(),
            impacted_regions: out
                .impacted_aws_regions()
                .iter()
                .map(|r| r.region().as_str().to_owned())
                .collect(),
            impacted_services: out.impacted_services().iter().cloned().collect(),
            watchers: out
                .watchers()
                .iter()
                .map(|w| w.email().to_owned())
                .collect::<BTreeSet<_>>(),
        }
        .normalized();
        Ok(Some(CaseDetails {
            snapshot,
            case_arn: out.case_arn().map(str::to_owned),
            resolver_type: out.resolver_type().map(|r| r.as_str().to_owned()),
            created_date: out.created_date().and_then(rfc3339),
            last_updated_date: out.last_updated_date().and_then(rfc3339),
            attachments: out
                .case_attachments()
                .iter()
                .map(|a| SirAttachment {
                    attachment_id: a.attachment_id().to_owned(),
                    file_name: a.file_name().to_owned(),
                    status: a.attachment_status().as_str().to_owned(),
                    creator: a.creator().to_owned(),
                    created_date: rfc3339(a.created_date()).unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn list_comments(&self, case_id: &str) -> Result<Vec<SirComment>> {
        let mut comments = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_comments()
                .case_id(case_id)
                .max_results(MAX_PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(Error::sir("ListComments"))?;
            for item in page.items() {
                comments.push(SirComment {
                    comment_id: item.comment_id().to_owned(),
                    body: item.body().unwrap_or_default().to_owned(),
                    creator: item.creator().map(str::to_owned),
                    created_date: item.created_date().and_then(rfc3339),
                    last_updated_date: item.last_updated_date().and_then(rfc3339),
                    last_updated_by: item.last_updated_by().map(str::to_owned),
                });
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(comments),
            }
        }
    }

    async fn create_case(&self, case: &NewCase) -> Result<String> {
        let start =
            DateTime::from_str(&case.reported_incident_start_date, DateTimeFormat::DateTime)
                .map_err(|source| Error::InvalidStartDate {
                    value: case.reported_incident_start_date.clone(),
                    source,
                })?;
        let watchers = case
            .watchers
            .iter()
            .map(|email| watcher(email))
            .collect::<Result<Vec<_>>>()?;
        let regions = case
            .impacted_regions
            .iter()
            .map(|region| impacted_region(region))
            .collect::<Result<Vec<_>>>()?;
        let regions = (!regions.is_empty()).then_some(regions);
        let out = self
            .client
            .create_case()
            .client_token(&case.client_token)
            .title(&case.title)
            .description(&case.description)
            .engagement_type(EngagementType::from(case.engagement_type.as_str()))
            .resolver_type(ResolverType::from(case.resolver_type.as_str()))
            .reported_incident_start_date(start)
            .set_impacted_accounts(Some(case.impacted_accounts.clone()))
            .set_impacted_aws_regions(regions)
            .set_impacted_services(
                (!case.impacted_services.is_empty()).then(|| case.impacted_services.clone()),
            )
            .set_watchers(Some(watchers))
            .set_tags((!case.tags.is_empty()).then(|| case.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(Error::sir("CreateCase"))?;
        Ok(out.case_id().to_owned())
    }

    async fn update_case(&self, case_id: &str, edit: &CaseEdit) -> Result<()> {
        let to_watchers = |emails: &[String]| -> Result<Option<Vec<Watcher>>> {
            if emails.is_empty() {
                return Ok(None);
            }
            emails
                .iter()
                .map(|e| watcher(e))
                .collect::<Result<Vec<_>>>()
                .map(Some)
        };
        self.client
            .update_case()
            .case_id(case_id)
            .set_title(edit.title.clone())
            .set_description(edit.description.clone())
            .set_watchers_to_add(to_watchers(&edit.watchers_to_add)?)
            .set_watchers_to_delete(to_watchers(&edit.watchers_to_delete)?)
            .send()
            .await
            .map_err(Error::sir("UpdateCase"))?;
        Ok(())
    }

    async fn update_case_status(&self, case_id: &str, status: SirStatus) -> Result<()> {
        if !status.is_self_managed() {
            return Err(StatusError::NotSelfManaged { status }.into());
        }
        self.client
            .update_case_status()
            .case_id(case_id)
            .case_status(SelfManagedCaseStatus::from(status.as_str()))
            .send()
            .await
            .map_err(Error::sir("UpdateCaseStatus"))?;
        Ok(())
    }

    async fn close_case(&self, case_id: &str) -> Result<()> {
        self.client
            .close_case()
            .case_id(case_id)
            .send()
            .await
            .map_err(Error::sir("CloseCase"))?;
        Ok(())
    }

    async fn create_comment(
        &self,
        case_id: &str,
        body: &str,
        client_token: &str,
    ) -> Result<String> {
        let out = self
            .client
            .create_case_comment()
            .case_id(case_id)
            .body(body)
            .client_token(client_token)
            .send()
            .await
            .map_err(Error::sir("CreateCaseComment"))?;
        Ok(out.comment_id().to_owned())
    }

    async fn update_comment(&self, case_id: &str, comment_id: &str, body: &str) -> Result<()> {
        self.client
            .update_case_comment()
            .case_id(case_id)
            .comment_id(comment_id)
            .body(body)
            .send()
            .await
            .map_err(Error::sir("UpdateCaseComment"))?;
        Ok(())
    }

    async fn upload_attachment(
        &self,
        case_id: &str,
        file_name: &str,
        body: AttachmentBody,
        client_token: &str,
    ) -> Result<()> {
        let length = body.length_i64().ok_or_else(|| Error::AttachmentTooLarge {
            file_name: file_name.to_owned(),
            bytes: body.length(),
        })?;
        let out = self
            .client
            .get_case_attachment_upload_url()
            .case_id(case_id)
            .file_name(file_name)
            .content_length(length)
            .client_token(client_token)
            .send()
            .await
            .map_err(Error::sir("GetCaseAttachmentUploadUrl"))?;
        let response = self
            .transfer(
                self.http
                    .put(out.attachment_presigned_url())
                    // S3 refuses a PUT without it (411); a stream does not give one itself.
                    .header(reqwest::header::CONTENT_LENGTH, body.length())
                    .body(body.into_request_body()),
            )
            .await
            .map_err(transfer_error("upload"))?;
        if !response.status().is_success() {
            return Err(Error::SirTransfer {
                operation: "upload",
                status: Some(response.status().as_u16()),
                source: None,
            });
        }
        Ok(())
    }

    async fn download_attachment(
        &self,
        case_id: &str,
        attachment_id: &str,
    ) -> Result<AttachmentBody> {
        let out = self
            .client
            .get_case_attachment_download_url()
            .case_id(case_id)
            .attachment_id(attachment_id)
            .send()
            .await
            .map_err(Error::sir("GetCaseAttachmentDownloadUrl"))?;
        let transfer = transfer_error("download");
        let response = self
            .transfer(self.http.get(out.attachment_presigned_url()))
            .await
            .map_err(transfer)?;
        if !response.status().is_success() {
            return Err(Error::SirTransfer {
                operation: "download",
                status: Some(response.status().as_u16()),
                source: None,
            });
        }
        let length = AttachmentBody::declared_length(&response)
            .ok_or(Error::AttachmentLengthUnknown { from: "SIR" })?;
        Ok(AttachmentBody::from_response(response, length, |error| {
            Box::new(error.without_url())
        }))
    }

    async fn incident_response_team(&self) -> Result<Vec<IncidentResponder>> {
        let memberships = self
            .client
            .list_memberships()
            .max_results(MAX_PAGE_SIZE)
            .send()
            .await
            .map_err(Error::sir("ListMemberships"))?;
        let active = memberships.items().iter().find(|m| {
            m.membership_status()
                .is_some_and(|s| s.as_str() == "Active")
        });
        let Some(active) = active else {
            return Ok(Vec::new());
        };
        let membership = self
            .client
            .get_membership()
            .membership_id(active.membership_id())
            .send()
            .await
            .map_err(Error::sir("GetMembership"))?;
        Ok(membership
            .incident_response_team()
            .iter()
            .map(|r| IncidentResponder {
                name: r.name().to_owned(),
                email: r.email().to_owned(),
                job_title: r.job_title().to_owned(),
            })
            .collect())
    }

    async fn case_tags(&self, case_arn: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(case_arn)
            .send()
            .await
            .map_err(Error::sir("ListTagsForResource"))?;
        Ok(out
            .tags()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_service_names_are_checked_as_sir_checks_them() {
        assert!(is_sir_region("eu-west-1"));
        assert!(!is_sir_region("Ireland"));
        assert!(!is_sir_region("EU-WEST-1"));
        assert!(is_sir_service_name("Amazon S3"));
        assert!(is_sir_service_name("IAM (global)"));
        assert!(!is_sir_service_name("S"), "two characters at least");
        assert!(!is_sir_service_name(&"s".repeat(51)));
        assert!(
            !is_sir_service_name("S3/Glacier"),
            "a slash is outside the pattern"
        );
    }

    #[test]
    fn a_case_tagged_for_another_jira_site_is_not_this_sites() {
        let tags = |site: Option<&str>| -> BTreeMap<String, String> {
            let mut tags = BTreeMap::from([(JIRA_ISSUE_TAG.to_owned(), "SEC-1".to_owned())]);
            if let Some(site) = site {
                tags.insert(JIRA_SITE_TAG.to_owned(), jira_site(site));
            }
            tags
        };
        let ours = "https://Alpha.atlassian.net/";
        assert_eq!(
            origin_site(&tags(Some("https://alpha.atlassian.net")), ours),
            OriginSite::This
        );
        assert_eq!(
            origin_site(&tags(Some("https://beta.atlassian.net")), ours),
            OriginSite::Other
        );
        assert_eq!(origin_site(&tags(None), ours), OriginSite::Untagged);
        assert_eq!(
            jira_site_id(ours),
            jira_site_id("https://alpha.atlassian.net")
        );
        assert_ne!(
            jira_site_id(ours),
            jira_site_id("https://beta.atlassian.net")
        );
        assert_eq!(jira_site_id(ours).len(), 12);
    }

    #[test]
    fn case_ids_are_10_to_32_digits() {
        for good in ["1234567890", &"9".repeat(32)] {
            assert!(is_case_id(good), "{good:?}");
        }
        for bad in [
            "",
            "123456789",
            &"9".repeat(33),
            "12345678901234567890abc",
            "1234567890\nINFO forged",
            "1234567890\" OR labels IS NOT EMPTY",
            "١٢٣٤٥٦٧٨٩٠",
        ] {
            assert!(!is_case_id(bad), "{bad:?}");
        }
    }
}
