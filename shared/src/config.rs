//! Typed configuration, read once per cold start.
//!
//! [`Config`] comes from the Lambda's environment (names of the table, the bus and the SSM
//! parameter prefix); [`JiraSettings`] and the [`StatusMapping`] come from SSM Parameter Store.
//! The Jira token must be a SecureString, is decrypted on read and lives in a [`SecretString`],
//! whose `Debug` prints `[REDACTED]`, so it cannot reach a log line by accident.

use aws_sdk_ssm::types::ParameterType;
use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::field_mapping::FieldMapping;
use crate::status::StatusMapping;

/// Environment variable: the mapping table's name.
pub const ENV_TABLE_NAME: &str = "MAPPING_TABLE_NAME";
/// Environment variable: the integration bus's name.
pub const ENV_EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// Environment variable (optional): prefix of the SSM parameters.
pub const ENV_PARAMETER_PREFIX: &str = "SSM_PARAMETER_PREFIX";
/// The SSM prefix used when [`ENV_PARAMETER_PREFIX`] is not set.
pub const DEFAULT_PARAMETER_PREFIX: &str = "/SecurityIncidentResponse";
/// Environment variable (optional) of the poller and jira-client: comma-separated SIR principals
/// whose writes are the integration's own (the role ARNs of sir-client and jira-client; an IAM
/// role ARN also matches its assumed-role sessions, see [`crate::sir::principal_matches`]).
pub const ENV_INTEGRATION_PRINCIPALS: &str = "SIR_INTEGRATION_PRINCIPALS";
/// Environment variable (optional) of the poller and jira-notifications-handler: minutes between
/// two audits of the same open item (default 60), read with [`minutes`]. The poller audits each
/// linked pair at most this often; the Jira sweep starts a new round over the open issues at most
/// this long after the last round started. One setting, so both sides audit at the same pace.
pub const ENV_AUDIT_INTERVAL_MINUTES: &str = "AUDIT_INTERVAL_MINUTES";
/// Environment variable (optional): which Jira the site is, `cloud` (the default) or
/// `data-center` (Jira Data Center or Server), see [`JiraFlavor`]. deploy.sh detects it from the
/// site's `serverInfo` and the stack sets it on every function that calls Jira.
pub const ENV_JIRA_FLAVOR: &str = "JIRA_FLAVOR";
/// Environment variable (optional, Data Center only): how the integration signs in, `token` (a
/// personal access token, the default) or `basic` (user name and password).
pub const ENV_JIRA_AUTH: &str = "JIRA_AUTH";
/// Environment variable the stack sets on every function that calls Jira: the site URL and the
/// project key. Not read: both come from SSM (and are kept while warm); this copy makes a
/// deployment that changes either replace the functions' execution environments, so the change
/// applies at once.
pub const ENV_JIRA_SITE: &str = "JIRA_SITE";
/// Environment variable (optional): seconds the settings read from SSM (the Jira site and
/// sign-in, the status and field mapping) are used before they are read again (default
/// [`DEFAULT_CONFIG_TTL`]); a 401 from Jira reads the sign-in again at once.
pub const ENV_CONFIG_TTL_SECONDS: &str = "CONFIG_TTL_SECONDS";
/// How long settings read from SSM are used before they are read again, unless
/// [`ENV_CONFIG_TTL_SECONDS`] says otherwise.
pub const DEFAULT_CONFIG_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Which Jira the integration talks to, and how it signs in there. The Jira adapter follows it
/// (API version, text format, how users are named, search paging); nothing else does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JiraFlavor {
    /// Jira Cloud: REST v3, ADF, users by accountId; Basic auth with e-mail and API token.
    #[default]
    Cloud,
    /// Jira Data Center or Server (REST v2, wiki markup, users by user name).
    DataCenter(DataCenterAuth),
}

/// How the integration signs in to Jira Data Center.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataCenterAuth {
    /// A personal access token, sent as `Authorization: Bearer` (Jira 8.14 and later); the
    /// user parameter then only names the account.
    #[default]
    PersonalAccessToken,
    /// Basic auth with the user parameter as the user name and the token as its password.
    Basic,
}

impl JiraFlavor {
    /// The flavour [`ENV_JIRA_FLAVOR`] and [`ENV_JIRA_AUTH`] name (unset: Cloud); an unknown
    /// value, or an auth setting on Cloud, is an error naming the variable.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        let read = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
        };
        let invalid = |name: &str, reason: String| Error::InvalidConfig {
            name: name.into(),
            reason,
        };
        let auth = read(ENV_JIRA_AUTH);
        match read(ENV_JIRA_FLAVOR).as_deref() {
            None | Some("cloud") => match auth.as_deref() {
                None | Some("basic") => Ok(JiraFlavor::Cloud),
                Some(other) => Err(invalid(
                    ENV_JIRA_AUTH,
                    format!("{other:?}: Jira Cloud signs in with an e-mail and API token (basic)"),
                )),
            },
            Some("data-center" | "datacenter" | "server") => match auth.as_deref() {
                None | Some("token" | "pat") => {
                    Ok(JiraFlavor::DataCenter(DataCenterAuth::PersonalAccessToken))
                }
                Some("basic") => Ok(JiraFlavor::DataCenter(DataCenterAuth::Basic)),
                Some(other) => Err(invalid(
                    ENV_JIRA_AUTH,
                    format!("{other:?} is neither token nor basic"),
                )),
            },
            Some(other) => Err(invalid(
                ENV_JIRA_FLAVOR,
                format!("{other:?} is neither cloud nor data-center"),
            )),
        }
    }

    /// The value of [`ENV_JIRA_FLAVOR`] for this flavour.
    pub fn name(self) -> &'static str {
        match self {
            JiraFlavor::Cloud => "cloud",
            JiraFlavor::DataCenter(_) => "data-center",
        }
    }
}

/// What every Lambda of the integration needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub parameters: ParameterNames,
    pub jira_flavor: JiraFlavor,
    /// How long settings read from SSM are used before they are read again.
    pub config_ttl: std::time::Duration,
}

impl Config {
    /// Reads the process environment; the error names the first missing variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(Error::MissingEnv { name })
        };
        let prefix = lookup(ENV_PARAMETER_PREFIX)
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_PARAMETER_PREFIX.to_owned());
        if !prefix.starts_with('/') {
            return Err(Error::InvalidConfig {
                name: ENV_PARAMETER_PREFIX.into(),
                reason: format!("{prefix:?} must start with '/'"),
            });
        }
        Ok(Config {
            table_name: required(ENV_TABLE_NAME)?,
            event_bus_name: required(ENV_EVENT_BUS_NAME)?,
            parameters: ParameterNames { prefix },
            jira_flavor: JiraFlavor::from_lookup(&lookup)?,
            config_ttl: whole_number::<u64>(&lookup, ENV_CONFIG_TTL_SECONDS)?
                .map_or(DEFAULT_CONFIG_TTL, std::time::Duration::from_secs),
        })
    }
}

/// The whole number (any unsigned type) in the environment variable `name`, read through
/// `lookup` and trimmed: `None` when unset, [`Error::InvalidConfig`] naming it when not a whole
/// number (so a typo fails the cold start).
pub fn whole_number<N: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<N>> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| Error::InvalidConfig {
            name: name.into(),
            reason: format!("{value:?} is not a whole number"),
        })
}

/// The whole number of minutes in the environment variable `name`, read through `lookup` and
/// trimmed: `None` when unset, [`Error::InvalidConfig`] naming it when not a whole number of
/// minutes.
pub fn minutes(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<std::time::Duration>> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    let minutes: u64 = value.trim().parse().map_err(|_| Error::InvalidConfig {
        name: name.into(),
        reason: format!("{value:?} is not a whole number of minutes"),
    })?;
    let seconds = minutes
        .checked_mul(60)
        .ok_or_else(|| Error::InvalidConfig {
            name: name.into(),
            reason: format!("{value:?} minutes is too long"),
        })?;
    Ok(Some(std::time::Duration::from_secs(seconds)))
}

/// The principals listed in [`ENV_INTEGRATION_PRINCIPALS`], read through `lookup`: each trimmed,
/// empty entries dropped, none when the variable is unset. Read the same way by every Lambda
/// that recognises its own writes, so one list in the stack means the same everywhere.
pub fn integration_principals(lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    lookup(ENV_INTEGRATION_PRINCIPALS)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The names of the integration's SSM parameters under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterNames {
    prefix: String,
}

impl Default for ParameterNames {
    fn default() -> Self {
        ParameterNames {
            prefix: DEFAULT_PARAMETER_PREFIX.to_owned(),
        }
    }
}

impl ParameterNames {
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        ParameterNames {
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn jira_email(&self) -> String {
        format!("{}/jiraEmail", self.prefix)
    }

    pub fn jira_url(&self) -> String {
        format!("{}/jiraUrl", self.prefix)
    }

    pub fn jira_project_key(&self) -> String {
        format!("{}/jiraProjectKey", self.prefix)
    }

    /// A SecureString, created by deploy.sh outside CloudFormation.
    pub fn jira_token(&self) -> String {
        format!("{}/jiraToken", self.prefix)
    }

    /// When the Jira token expires (`YYYY-MM-DD`, UTC; `unknown`, `never` or absent: no date):
    /// an optional String deploy.sh writes beside the token (`--token-expires`), see
    /// [`TokenExpiry`].
    pub fn jira_token_expires_on(&self) -> String {
        format!("{}/jiraTokenExpiresOn", self.prefix)
    }

    /// Where the functions send their Jira REST calls when it is not the site itself: Atlassian's
    /// API gateway for the site, `https://api.atlassian.com/ex/jira/<cloud id>`, which an API
    /// token with scopes needs. An optional String deploy.sh writes beside the token.
    pub fn jira_api_url(&self) -> String {
        format!("{}/jiraApiUrl", self.prefix)
    }

    /// The Jira webhook intake's secret: an optional SecureString, created by deploy.sh outside
    /// CloudFormation (`--intake webhook|both`).
    pub fn jira_webhook_secret(&self) -> String {
        format!("{}/jiraWebhookSecret", self.prefix)
    }

    /// Optional JSON, see [`StatusMapping::from_json`].
    pub fn status_mapping(&self) -> String {
        format!("{}/statusMapping", self.prefix)
    }

    /// Which unlinked Jira issues may create a case: JQL, or [`CASE_FILTER_DEFAULT`] (see
    /// [`CaseFilter`]).
    pub fn jira_case_filter(&self) -> String {
        format!("{}/jiraCaseFilter", self.prefix)
    }

    /// When the integration was first installed (RFC 3339, UTC), recorded once by deploy.sh.
    pub fn installed_at(&self) -> String {
        format!("{}/installedAt", self.prefix)
    }

    /// Which SIR cases older than the installation the poller brings over: JSON
    /// `{"since": "YYYY-MM-DD" | "", "closed": bool}` (read by the poller's backfill rule).
    pub fn backfill(&self) -> String {
        format!("{}/backfill", self.prefix)
    }
}

/// The value of the case-filter parameter that means "issues created after installation".
pub const CASE_FILTER_DEFAULT: &str = "default";

/// Which Jira issues not linked to a case may create one (a linked issue always syncs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseFilter {
    /// Every issue of the project: no installation time is recorded and no JQL is set.
    Any,
    /// The default: issues created at or after the installation (`installedAt`).
    CreatedSince {
        /// Epoch seconds.
        epoch_seconds: i64,
        /// As recorded (RFC 3339), for log lines.
        recorded: String,
    },
    /// Issues the JQL matches (checked as `key = <key> AND (<jql>)`).
    Jql(String),
}

impl CaseFilter {
    /// The filter the two parameter values (absent: `None`) describe.
    pub fn from_values(
        filter: Option<&str>,
        installed_at: Option<&str>,
        names: &ParameterNames,
    ) -> Result<Self> {
        use aws_sdk_securityir::primitives::{DateTime, DateTimeFormat};
        let filter = filter.map(str::trim).filter(|f| !f.is_empty());
        if let Some(jql) = filter.filter(|f| !f.eq_ignore_ascii_case(CASE_FILTER_DEFAULT)) {
            return Ok(CaseFilter::Jql(jql.to_owned()));
        }
        let Some(recorded) = installed_at.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(CaseFilter::Any);
        };
        let at = DateTime::from_str(recorded, DateTimeFormat::DateTime).map_err(|_| {
            Error::InvalidConfig {
                name: names.installed_at(),
                reason: format!("{recorded:?} is not an RFC 3339 time like 2026-12-01T09:30:00Z"),
            }
        })?;
        Ok(CaseFilter::CreatedSince {
            epoch_seconds: at.secs(),
            recorded: recorded.to_owned(),
        })
    }

    /// Reads both parameters in one GetParameters call; either may be missing.
    pub async fn load(ssm: &aws_sdk_ssm::Client, names: &ParameterNames) -> Result<Self> {
        let wanted = [names.jira_case_filter(), names.installed_at()];
        let out = ssm
            .get_parameters()
            .set_names(Some(wanted.to_vec()))
            .send()
            .await
            .map_err(Error::ssm("GetParameters", &wanted.join(", ")))?;
        let value = |name: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .and_then(|p| p.value())
        };
        Self::from_values(
            value(&names.jira_case_filter()),
            value(&names.installed_at()),
            names,
        )
    }
}

/// The Jira webhook intake's secret, decrypted; `None` when the parameter does not exist (the
/// intake is off). A parameter that is not a SecureString, or is empty, is refused.
pub async fn load_webhook_secret(
    ssm: &aws_sdk_ssm::Client,
    names: &ParameterNames,
) -> Result<Option<SecretString>> {
    let name = names.jira_webhook_secret();
    let out = ssm
        .get_parameters()
        .names(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(Error::ssm("GetParameters", &name))?;
    let Some(parameter) = out.parameters().iter().find(|p| p.name() == Some(&name)) else {
        return Ok(None);
    };
    if parameter.r#type() != Some(&ParameterType::SecureString) {
        return Err(Error::InsecureParameter {
            name,
            found: parameter
                .r#type()
                .map_or_else(|| "no type".to_owned(), |t| t.as_str().to_owned()),
        });
    }
    let value = parameter.value().unwrap_or_default().trim();
    if value.is_empty() {
        return Err(Error::InvalidConfig {
            name,
            reason: "the webhook secret is empty".to_owned(),
        });
    }
    Ok(Some(SecretString::from(value.to_owned())))
}

/// How to reach the Jira site.
#[derive(Debug, Clone)]
pub struct JiraSettings {
    /// The integration user's e-mail (Basic auth user name on Jira Cloud); on Data Center its
    /// user name.
    pub email: String,
    /// Site base URL without a trailing slash, e.g. `https://example.atlassian.net`.
    pub url: String,
    /// The project whose issues are synced, e.g. `SEC`.
    pub project_key: String,
    /// The API token (Cloud), personal access token or password (Data Center).
    pub token: SecretString,
    /// Which Jira the site is (from the environment, see [`ENV_JIRA_FLAVOR`]).
    pub flavor: JiraFlavor,
    /// When the token expires, if deploy.sh was told (`--token-expires`).
    pub token_expires_on: Option<TokenExpiry>,
    /// The version of the token's SSM parameter (`None`: not read from SSM): names the token in
    /// notes without revealing anything of it ([`crate::jira::credentials_id`]).
    pub token_version: Option<i64>,
    /// Where the REST calls go when not to [`JiraSettings::url`]: Atlassian's API gateway for the
    /// site (`https://api.atlassian.com/ex/jira/<cloud id>`, no trailing slash), for an API token
    /// with scopes. Links for people (browse links) keep the site's URL.
    pub api_url: Option<String>,
}

/// The day a Jira token expires (Atlassian API tokens live at most a year; a personal access
/// token of Jira Data Center may have an expiry date too). Atlassian offers no API that tells
/// a token's expiry, so deploy.sh asks for it and stores it beside the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenExpiry {
    /// Days since 1970-01-01 (UTC).
    day: i64,
}

const SECONDS_PER_DAY: i64 = 86_400;

impl TokenExpiry {
    /// `YYYY-MM-DD` (a real calendar day), else `None`.
    pub fn parse(text: &str) -> Option<TokenExpiry> {
        let shaped = text.len() == 10
            && text.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                _ => c.is_ascii_digit(),
            });
        if !shaped {
            return None;
        }
        let midnight = aws_smithy_types::DateTime::from_str(
            &format!("{text}T00:00:00Z"),
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()?;
        let expiry = TokenExpiry {
            day: midnight.secs().div_euclid(SECONDS_PER_DAY),
        };
        // The parser rolls 2026-02-30 over to March: only a day that reads back the same is one.
        (expiry.to_string() == text).then_some(expiry)
    }

    /// Whole days from the UTC day of `now_epoch_seconds` to the expiry day: 0 on the day
    /// itself, negative once it has passed.
    pub fn days_left(self, now_epoch_seconds: u64) -> i64 {
        let today =
            i64::try_from(now_epoch_seconds / SECONDS_PER_DAY.unsigned_abs()).unwrap_or(i64::MAX);
        self.day.saturating_sub(today)
    }
}

impl std::fmt::Display for TokenExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let midnight = aws_smithy_types::DateTime::from_secs(self.day * SECONDS_PER_DAY);
        match midnight.fmt(aws_smithy_types::date_time::Format::DateTime) {
            Ok(text) => f.write_str(text.get(..10).unwrap_or(&text)),
            Err(_) => Err(std::fmt::Error),
        }
    }
}

impl JiraSettings {
    /// Reads the Jira parameters in one GetParameters call, decrypting the token. Names every
    /// missing parameter (the token's expiry date is optional); refuses a token that is not a
    /// SecureString (an expiry date that is no date is taken as not known, see
    /// [`token_expiry`]).
    pub async fn load(
        ssm: &aws_sdk_ssm::Client,
        names: &ParameterNames,
        flavor: JiraFlavor,
    ) -> Result<Self> {
        let wanted = [
            names.jira_email(),
            names.jira_url(),
            names.jira_project_key(),
            names.jira_token(),
            names.jira_token_expires_on(),
            names.jira_api_url(),
        ];
        let out = ssm
            .get_parameters()
            .set_names(Some(wanted.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(Error::ssm("GetParameters", &wanted.join(", ")))?;
        let expiry_name = names.jira_token_expires_on();
        let api_name = names.jira_api_url();
        let missing: Vec<&str> = out
            .invalid_parameters()
            .iter()
            .map(String::as_str)
            .filter(|name| *name != expiry_name && *name != api_name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingParameter {
                name: missing.join(", "),
            });
        }
        let find = |name: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .ok_or_else(|| Error::MissingParameter {
                    name: name.to_owned(),
                })
        };
        let value = |name: &str| -> Result<String> {
            Ok(find(name)?.value().unwrap_or_default().trim().to_owned())
        };
        let token_name = names.jira_token();
        let token = find(&token_name)?;
        if token.r#type() != Some(&ParameterType::SecureString) {
            return Err(Error::InsecureParameter {
                name: token_name,
                found: token
                    .r#type()
                    .map_or_else(|| "no type".to_owned(), |t| t.as_str().to_owned()),
            });
        }
        let settings = JiraSettings {
            email: value(&names.jira_email())?,
            url: value(&names.jira_url())?.trim_end_matches('/').to_owned(),
            project_key: value(&names.jira_project_key())?,
            token: SecretString::from(token.value().unwrap_or_default().trim().to_owned()),
            flavor,
            token_expires_on: token_expiry(&out, &expiry_name),
            token_version: Some(token.version()),
            api_url: None,
        };
        let site = settings.url.clone();
        let settings = JiraSettings {
            api_url: out
                .parameters()
                .iter()
                .find(|p| p.name() == Some(api_name.as_str()))
                .and_then(|p| p.value())
                .map(|url| url.trim().trim_end_matches('/').to_owned())
                .filter(|url| !url.is_empty() && *url != site)
                // Anything but the site's gateway is ignored, never sent the credentials (a
                // value left from another site does not stop the sync either).
                .filter(|url| match check_jira_api_url(url) {
                    Ok(()) => true,
                    Err(reason) => {
                        tracing::warn!(
                            parameter = %api_name,
                            value = %url,
                            reason,
                            "the Jira API URL is not the site's API gateway: ignored, the calls go to the site"
                        );
                        crate::metrics::note_config_rejected();
                        false
                    }
                }),
            ..settings
        };
        settings.validate(names)?;
        Ok(settings)
    }

    fn validate(&self, names: &ParameterNames) -> Result<()> {
        let invalid = |name: String, reason: &str| {
            Err(Error::InvalidConfig {
                name,
                reason: reason.to_owned(),
            })
        };
        match self.flavor {
            JiraFlavor::Cloud if !self.email.contains('@') => {
                return invalid(names.jira_email(), "not an e-mail address");
            }
            JiraFlavor::DataCenter(_) if self.email.is_empty() => {
                return invalid(names.jira_email(), "names no user");
            }
            _ => {}
        }
        if let Err(reason) = check_jira_url(&self.url) {
            return invalid(names.jira_url(), reason);
        }

        if !is_project_key(&self.project_key) {
            return invalid(
                names.jira_project_key(),
                "must be a Jira project key: an upper-case letter, then upper-case letters, digits or _",
            );
        }
        if secrecy::ExposeSecret::expose_secret(&self.token).is_empty() {
            return invalid(names.jira_token(), "is empty");
        }
        Ok(())
    }
}

/// The token's expiry date among the parameters `out` read: `None` when absent, empty,
/// `unknown` or `never` (the words deploy.sh stores when it has no date). A value that is no
/// date is logged and counted as `ConfigRejected`, and taken as not known: a date that only
/// drives a warning must not stop the sync (or the reading of a rotated token).
fn token_expiry(
    out: &aws_sdk_ssm::operation::get_parameters::GetParametersOutput,
    name: &str,
) -> Option<TokenExpiry> {
    let text = out
        .parameters()
        .iter()
        .find(|p| p.name() == Some(name))
        .and_then(|p| p.value())
        .map(str::trim)
        .filter(|text| !matches!(*text, "" | "unknown" | "never"))?;
    let expiry = TokenExpiry::parse(text);
    if expiry.is_none() {
        tracing::warn!(
            parameter = name,
            value = text,
            "the Jira token's expiry date is not a date (YYYY-MM-DD): taken as not known; run ./deploy.sh again with --token - --token-expires YYYY-MM-DD"
        );
        crate::metrics::note_config_rejected();
    }
    expiry
}

/// The Jira settings as SSM holds them, read again by a [`crate::jira::JiraClient`] (see
/// [`crate::jira::JiraClient::with_settings_source`]): a token rotated with deploy.sh is used
/// without waiting for a cold start.
#[derive(Debug, Clone)]
pub struct SsmJiraSettings {
    ssm: aws_sdk_ssm::Client,
    names: ParameterNames,
    flavor: JiraFlavor,
}

impl SsmJiraSettings {
    pub fn new(ssm: aws_sdk_ssm::Client, names: ParameterNames, flavor: JiraFlavor) -> Self {
        SsmJiraSettings { ssm, names, flavor }
    }
}

#[async_trait::async_trait]
impl crate::jira::JiraSettingsSource for SsmJiraSettings {
    async fn jira_settings(&self) -> Result<JiraSettings> {
        JiraSettings::load(&self.ssm, &self.names, self.flavor).await
    }
}

/// Why `url` cannot be the Jira site, if it cannot: it must parse, use `https`, or plain `http`
/// only to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`: the local world, where the
/// token never leaves the machine), and carry no user name or password. The host is compared
/// after parsing, so `http://localhost.evil.com` or `http://user@evil.com@localhost` cannot
/// pass for loopback.
pub fn check_jira_url(url: &str) -> std::result::Result<(), &'static str> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "not a URL (https://<site>.atlassian.net)")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password");
    }
    // The parser has normalised the host: a domain lower-cased, an address in its canonical
    // form (IPv6 in brackets); a name that only starts like an address stays a domain.
    let host = parsed.host_str().ok_or("has no host")?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must start with https:// (plain http only on loopback, for the local world)"),
    }
}

/// Why `url` cannot be where the REST calls go instead of the site, if it cannot: only
/// Atlassian's API gateway for a site, `https://api.atlassian.com/ex/jira/<cloud id>` (a UUID), or
/// plain `http` on a loopback host with that path (the local world's emulated gateway). The
/// credentials go there, so nothing else is taken.
pub fn check_jira_api_url(url: &str) -> std::result::Result<(), &'static str> {
    check_jira_url(url)?;
    let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL")?;
    let gateway = parsed.scheme() == "http" || parsed.host_str() == Some("api.atlassian.com");
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let cloud_id = match segments.as_slice() {
        ["ex", "jira", cloud_id] | ["ex", "jira", cloud_id, ""] => *cloud_id,
        _ => "",
    };
    let is_uuid = cloud_id.len() == 36
        && cloud_id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if gateway
        && is_uuid
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.port().is_none_or(|_| parsed.scheme() == "http")
    {
        Ok(())
    } else {
        Err(
            "must be Atlassian's API gateway for the site, https://api.atlassian.com/ex/jira/<cloud id>",
        )
    }
}

/// Whether `key` has the shape of a Jira project key (`SEC`, `IR_2`).
pub fn is_project_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && key.len() >= 2
        && key.len() <= 255
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `key` is an issue key of the project `project_key` (`SEC-12` for `SEC`): the project
/// key, `-`, and an issue number without leading zeros. Anything else (another project, JQL or
/// path characters, whitespace) is refused, so an untrusted key is safe in URLs, labels and logs.
pub fn is_issue_key_of(key: &str, project_key: &str) -> bool {
    let Some(number) = key
        .strip_prefix(project_key)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    is_project_key(project_key)
        && !number.is_empty()
        && number.len() <= 18
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The mapping document (status mapping, field mapping under `fields`) from SSM; `None` when
/// the parameter does not exist.
pub(crate) async fn mapping_document(
    ssm: &aws_sdk_ssm::Client,
    names: &ParameterNames,
) -> Result<Option<String>> {
    let name = names.status_mapping();
    match ssm.get_parameter().name(&name).send().await {
        Ok(out) => Ok(Some(
            out.parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(err) => Err(Error::ssm("GetParameter", &name)(err)),
    }
}

/// The status mapping and the field mapping (one document) from SSM, or the defaults (no field
/// mapped) when the parameter does not exist: jira-client's. Either one that does not parse
/// fails the cold start.
pub async fn load_mappings(
    ssm: &aws_sdk_ssm::Client,
    names: &ParameterNames,
) -> Result<(StatusMapping, FieldMapping)> {
    match mapping_document(ssm, names).await? {
        Some(json) => Ok((
            StatusMapping::from_json(&json)?,
            FieldMapping::from_mapping_document(&json)?,
        )),
        None => Ok((StatusMapping::default(), FieldMapping::default())),
    }
}

/// sir-client's part of the mapping document: the status mapping and the field mapping's
/// `jiraToSir` only (the rest is jira-client's: a broken `sirToJira` does not stop the
/// Jira → SIR half), or the defaults when the parameter does not exist.
pub async fn load_status_mapping(
    ssm: &aws_sdk_ssm::Client,
    names: &ParameterNames,
) -> Result<(
    StatusMapping,
    std::collections::BTreeMap<crate::field_mapping::MappedSirField, String>,
)> {
    match mapping_document(ssm, names).await? {
        Some(json) => Ok((
            StatusMapping::from_json(&json)?,
            FieldMapping::reverse_from_mapping_document(&json)?,
        )),
        None => Ok((StatusMapping::default(), Default::default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_is_read_trimmed_and_anything_else_is_refused_by_name() {
        let lookup = |value: Option<&'static str>| {
            move |name: &str| (name == "N").then_some(value).flatten().map(str::to_owned)
        };
        assert_eq!(whole_number::<u32>(&lookup(None), "N").ok(), Some(None));
        assert_eq!(
            whole_number::<u32>(&lookup(Some(" 0 ")), "N").ok(),
            Some(Some(0))
        );
        assert_eq!(
            whole_number::<usize>(&lookup(Some("12")), "N").ok(),
            Some(Some(12))
        );
        for bad in ["five", "-1", ""] {
            assert!(matches!(
                whole_number::<u32>(&lookup(Some(bad)), "N"),
                Err(Error::InvalidConfig { name, .. }) if name == "N"
            ));
        }
    }

    #[test]
    fn case_filter_is_the_jql_or_else_the_installation_time_or_else_any_issue() {
        let names = ParameterNames::default();
        let filter = |f: Option<&str>, at: Option<&str>| CaseFilter::from_values(f, at, &names);
        assert_eq!(
            filter(Some(" labels = sec "), Some("2026-12-01T09:30:00Z")).ok(),
            Some(CaseFilter::Jql("labels = sec".into()))
        );
        let since = CaseFilter::CreatedSince {
            epoch_seconds: 1_796_117_400,
            recorded: "2026-12-01T09:30:00Z".into(),
        };
        assert_eq!(
            filter(Some("default"), Some("2026-12-01T09:30:00Z")).ok(),
            Some(since.clone())
        );
        assert_eq!(filter(None, Some("2026-12-01T09:30:00Z")).ok(), Some(since));
        assert_eq!(filter(None, None).ok(), Some(CaseFilter::Any));
        assert!(filter(None, Some("yesterday")).is_err());
    }

    #[test]
    fn integration_principals_are_trimmed_and_empty_entries_dropped() {
        let list = |value: Option<&str>| {
            integration_principals(|name| {
                assert_eq!(name, ENV_INTEGRATION_PRINCIPALS);
                value.map(str::to_owned)
            })
        };
        assert_eq!(
            list(Some(" arn:aws:iam::1:role/A , ,arn:aws:iam::1:role/B,")),
            ["arn:aws:iam::1:role/A", "arn:aws:iam::1:role/B"]
        );
        assert!(list(Some("  ")).is_empty());
        assert!(list(None).is_empty());
    }

    #[test]
    fn issue_keys_must_belong_to_the_configured_project() {
        assert!(is_issue_key_of("SEC-12", "SEC"));
        assert!(is_issue_key_of("IR_2-1", "IR_2"));
        for bad in [
            "OPS-12",
            "SECX-12",
            "SEC-",
            "SEC-012",
            "SEC-1a",
            "SEC-12 ",
            " SEC-12",
            "sec-12",
            "SEC--12",
            "SEC-12/../1",
            "SEC-99999999999999999999",
            "SEC",
        ] {
            assert!(!is_issue_key_of(bad, "SEC"), "{bad:?}");
        }
        assert!(!is_issue_key_of("-12", ""));
    }
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn config_reads_names_and_defaults_the_prefix() {
        let config = Config::from_lookup(lookup(&[
            (ENV_TABLE_NAME, "mapping"),
            (ENV_EVENT_BUS_NAME, "security-incident-event-bus"),
        ]))
        .unwrap();
        assert_eq!(config.table_name, "mapping");
        assert_eq!(
            config.parameters.jira_token(),
            "/SecurityIncidentResponse/jiraToken"
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let err = Config::from_lookup(lookup(&[(ENV_TABLE_NAME, "mapping")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable EVENT_BUS_NAME"
        );
        let err = Config::from_lookup(lookup(&[(ENV_TABLE_NAME, " "), (ENV_EVENT_BUS_NAME, "b")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable MAPPING_TABLE_NAME"
        );
    }

    #[test]
    fn custom_prefix_is_used_and_checked() {
        let config = Config::from_lookup(lookup(&[
            (ENV_TABLE_NAME, "t"),
            (ENV_EVENT_BUS_NAME, "b"),
            (ENV_PARAMETER_PREFIX, "/Test/abc/"),
        ]))
        .unwrap();
        assert_eq!(config.parameters.jira_url(), "/Test/abc/jiraUrl");
        assert!(
            Config::from_lookup(lookup(&[
                (ENV_TABLE_NAME, "t"),
                (ENV_EVENT_BUS_NAME, "b"),
                (ENV_PARAMETER_PREFIX, "Test"),
            ]))
            .is_err()
        );
    }

    #[test]
    fn the_jira_flavor_is_cloud_unless_the_environment_says_data_center() {
        let flavor = |pairs: &[(&str, &str)]| JiraFlavor::from_lookup(&lookup(pairs));
        assert_eq!(flavor(&[]).unwrap(), JiraFlavor::Cloud);
        assert_eq!(
            flavor(&[(ENV_JIRA_FLAVOR, "cloud"), (ENV_JIRA_AUTH, "basic")]).unwrap(),
            JiraFlavor::Cloud
        );
        assert_eq!(
            flavor(&[(ENV_JIRA_FLAVOR, " Data-Center ")]).unwrap(),
            JiraFlavor::DataCenter(DataCenterAuth::PersonalAccessToken)
        );
        assert_eq!(
            flavor(&[(ENV_JIRA_FLAVOR, "data-center"), (ENV_JIRA_AUTH, "basic")]).unwrap(),
            JiraFlavor::DataCenter(DataCenterAuth::Basic)
        );
        for bad in [
            &[(ENV_JIRA_FLAVOR, "onprem")][..],
            &[(ENV_JIRA_AUTH, "token")],
            &[(ENV_JIRA_FLAVOR, "data-center"), (ENV_JIRA_AUTH, "oauth")],
        ] {
            let err = flavor(bad).unwrap_err().to_string();
            assert!(err.contains("JIRA_"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_api_url_is_only_atlassians_gateway_for_a_site() {
        let id = "8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f";
        for good in [
            format!("https://api.atlassian.com/ex/jira/{id}"),
            format!("http://127.0.0.1:8443/ex/jira/{id}"),
        ] {
            assert_eq!(check_jira_api_url(&good), Ok(()), "{good}");
        }
        for bad in [
            format!("https://evil.example.com/ex/jira/{id}"),
            format!("https://api.atlassian.com/ex/confluence/{id}"),
            "https://api.atlassian.com/ex/jira/not-a-cloud-id".to_owned(),
            format!("https://api.atlassian.com/ex/jira/{id}/rest/api/3"),
            format!("http://api.atlassian.com/ex/jira/{id}"),
            format!("https://api.atlassian.com:8443/ex/jira/{id}"),
            format!("https://user@api.atlassian.com/ex/jira/{id}"),
            format!("https://api.atlassian.com/ex/jira/{id}#x"),
        ] {
            assert!(check_jira_api_url(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_expiry_is_a_calendar_day_and_counts_whole_days_left_in_utc() {
        let expiry = TokenExpiry::parse("2026-12-31").unwrap();
        assert_eq!(expiry.to_string(), "2026-12-31");
        // 2026-12-01T23:59:59Z and 2026-12-31T00:00:00Z.
        assert_eq!(expiry.days_left(1_796_169_599), 30);
        assert_eq!(expiry.days_left(1_798_675_200), 0);
        assert_eq!(expiry.days_left(1_798_675_200 + 86_400), -1);
        assert_eq!(
            TokenExpiry::parse("2028-02-29").unwrap().to_string(),
            "2028-02-29"
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "31.12.2026",
            "2026-1-31",
            "",
            "2026-12-31T00:00:00Z",
        ] {
            assert_eq!(TokenExpiry::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn token_never_appears_in_debug_output() {
        let settings = JiraSettings {
            email: "bot@example.com".into(),
            url: "https://example.atlassian.net".into(),
            project_key: "SEC".into(),
            token: SecretString::from("ATATT3xFfGF0-very-secret".to_owned()),
            flavor: JiraFlavor::Cloud,
            token_expires_on: None,
            token_version: None,
            api_url: None,
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("[REDACTED]"), "{debug}");
    }

    #[test]
    fn jira_url_is_https_or_plain_http_to_a_loopback_host_only() {
        for allowed in [
            "https://example.atlassian.net",
            "https://example.atlassian.net/",
            "https://jira.example.com:8443/jira",
            "http://localhost:8080",
            "http://LOCALHOST:8080",
            "http://127.0.0.1:49152",
            "http://127.1.2.3",
            "http://[::1]:8080",
        ] {
            assert_eq!(check_jira_url(allowed), Ok(()), "{allowed}");
        }
        for refused in [
            "http://localhost.evil.com",
            "http://localhost.evil.com:8080",
            "http://127.0.0.1.nip.io",
            "http://127.0.0.1.evil.com/",
            "http://localhost@evil.com",
            "http://127.0.0.1@evil.com",
            "http://user@evil.com@localhost",
            "http://localhost:pw@evil.com",
            "https://bot:secret@example.atlassian.net",
            "http://evil.com",
            "http://10.0.0.1",
            "http://0.0.0.0:8080",
            "http://[::2]",
            "http://[::ffff:10.0.0.1]",
            "http://localhost.",
            "ftp://localhost",
            "example.atlassian.net",
            "",
        ] {
            assert!(check_jira_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn project_keys_are_checked() {
        for good in ["SEC", "IR2", "A_B"] {
            assert!(is_project_key(good), "{good}");
        }
        for bad in ["", "S", "sec", "2SEC", "SEC-1", "SE C"] {
            assert!(!is_project_key(bad), "{bad}");
        }
    }
}
