//! sir-client's typed configuration, read once per cold start: the shared [`Config`] from the
//! environment, the Jira settings and status mapping from SSM, and this Lambda's own variables.
//!
//! Environment variables (besides the shared ones, see [`shared::config`]):
//! - `AWS_REGION` (set by Lambda): the region of the SIR console links posted in Jira;
//! - `SIR_RESOLVER_TYPE` (optional, `Self` or `AWS`, default `Self`): who resolves cases created
//!   from Jira issues;
//! - `SIR_ENGAGEMENT_TYPE` (optional, `Security Incident` or `Investigation`, default
//!   `Security Incident`);
//! - `SIR_IMPACTED_ACCOUNTS` (optional): comma-separated 12-digit account ids given to every case
//!   created from Jira (none by default: SIR accepts an empty list, and nothing is invented).

use shared::config::{Config, JiraSettings, load_status_mapping};
use shared::status::StatusMapping;
use shared::store::ClaimTiming;

/// Environment variable: the resolver type of cases created from Jira.
pub const ENV_RESOLVER_TYPE: &str = "SIR_RESOLVER_TYPE";
/// Environment variable: the engagement type of cases created from Jira.
pub const ENV_ENGAGEMENT_TYPE: &str = "SIR_ENGAGEMENT_TYPE";
/// Environment variable: impacted accounts of cases created from Jira, comma-separated.
pub const ENV_IMPACTED_ACCOUNTS: &str = "SIR_IMPACTED_ACCOUNTS";
/// Environment variable: the region the SIR console links point to.
pub const ENV_REGION: &str = "AWS_REGION";
/// The resolver types SIR accepts.
pub const RESOLVER_TYPES: [&str; 2] = ["Self", "AWS"];
/// The engagement types SIR accepts.
pub const ENGAGEMENT_TYPES: [&str; 2] = ["Security Incident", "Investigation"];

/// What the handler needs to know, besides its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirClientSettings {
    /// The only project whose issues are synced.
    pub project_key: String,
    /// The Jira site (no trailing slash): links to issues, and part of every `clientToken`, so
    /// two deployments on two sites with the same project key never share a case.
    pub jira_url: String,
    /// The region of the SIR console links.
    pub region: String,
    pub resolver_type: String,
    pub engagement_type: String,
    pub impacted_accounts: Vec<String>,
    pub status_mapping: StatusMapping,
    /// For cases created from issues: SIR fields read from mapped Jira fields (by id or name)
    /// instead of the defaults above (the field mapping's `jiraToSir`).
    pub fields_from_jira: std::collections::BTreeMap<shared::field_mapping::MappedSirField, String>,
    /// How a claim on an issue is held and waited for (the contract's, see
    /// [`ClaimTiming::default`], outside tests).
    pub claims: ClaimTiming,
}

impl SirClientSettings {
    /// Defaults for everything but the project, the site and the region.
    pub fn new(
        project_key: impl Into<String>,
        jira_url: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        SirClientSettings {
            project_key: project_key.into(),
            jira_url: jira_url.into().trim_end_matches('/').to_owned(),
            region: region.into(),
            resolver_type: RESOLVER_TYPES[0].to_owned(),
            engagement_type: ENGAGEMENT_TYPES[0].to_owned(),
            impacted_accounts: Vec::new(),
            status_mapping: StatusMapping::default(),
            fields_from_jira: Default::default(),
            claims: ClaimTiming::default(),
        }
    }

    /// The issue's page in Jira.
    pub fn issue_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.jira_url)
    }
}

/// Everything sir-client reads at a cold start.
#[derive(Debug, Clone)]
pub struct SirClientConfig {
    pub shared: Config,
    pub jira: JiraSettings,
    pub handler: SirClientSettings,
}

impl SirClientConfig {
    /// Reads the process environment and the SSM parameters it names.
    pub async fn from_env(ssm: &aws_sdk_ssm::Client) -> shared::Result<Self> {
        Self::load(|name| std::env::var(name).ok(), ssm).await
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests), then SSM.
    pub async fn load(
        lookup: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> shared::Result<Self> {
        let shared = Config::from_lookup(&lookup)?;
        let settings = settings_from(&lookup)?;
        let jira = JiraSettings::load(ssm, &shared.parameters, shared.jira_flavor).await?;
        let (status_mapping, fields_from_jira) =
            load_status_mapping(ssm, &shared.parameters).await?;
        let handler = SirClientSettings {
            status_mapping,
            fields_from_jira,
            ..settings.with_jira(&jira)
        };
        Ok(SirClientConfig {
            shared,
            jira,
            handler,
        })
    }
}

/// The environment's part of the settings (checked before anything is read from SSM).
struct EnvSettings {
    region: String,
    resolver_type: String,
    engagement_type: String,
    impacted_accounts: Vec<String>,
}

impl EnvSettings {
    fn with_jira(self, jira: &JiraSettings) -> SirClientSettings {
        SirClientSettings {
            resolver_type: self.resolver_type,
            engagement_type: self.engagement_type,
            impacted_accounts: self.impacted_accounts,
            ..SirClientSettings::new(&jira.project_key, &jira.url, self.region)
        }
    }
}

fn settings_from(lookup: &impl Fn(&str) -> Option<String>) -> shared::Result<EnvSettings> {
    let optional = |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let region = optional(ENV_REGION).ok_or(shared::Error::MissingEnv { name: ENV_REGION })?;
    let one_of = |name: &str, allowed: [&str; 2]| -> shared::Result<String> {
        match optional(name) {
            None => Ok(allowed[0].to_owned()),
            Some(value) => allowed
                .into_iter()
                .find(|a| a.eq_ignore_ascii_case(&value))
                .map(str::to_owned)
                .ok_or_else(|| shared::Error::InvalidConfig {
                    name: name.to_owned(),
                    reason: format!("{value:?} is not one of {}", allowed.join(", ")),
                }),
        }
    };
    let resolver_type = one_of(ENV_RESOLVER_TYPE, RESOLVER_TYPES)?;
    let engagement_type = one_of(ENV_ENGAGEMENT_TYPE, ENGAGEMENT_TYPES)?;
    let mut impacted_accounts = Vec::new();
    for account in optional(ENV_IMPACTED_ACCOUNTS)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(shared::Error::InvalidConfig {
                name: ENV_IMPACTED_ACCOUNTS.to_owned(),
                reason: format!("{account:?} is not a 12-digit AWS account id"),
            });
        }
        if !impacted_accounts.iter().any(|a| a == account) {
            impacted_accounts.push(account.to_owned());
        }
    }
    Ok(EnvSettings {
        region,
        resolver_type,
        engagement_type,
        impacted_accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_are_self_resolved_security_incidents_with_no_invented_accounts() {
        let settings = settings_from(&env(&[(ENV_REGION, "eu-west-1")])).unwrap();
        assert_eq!(settings.resolver_type, "Self");
        assert_eq!(settings.engagement_type, "Security Incident");
        assert!(settings.impacted_accounts.is_empty());
    }

    #[test]
    fn values_are_checked_at_cold_start_naming_the_variable() {
        let settings = settings_from(&env(&[
            (ENV_REGION, "eu-west-1"),
            (ENV_RESOLVER_TYPE, "aws"),
            (ENV_ENGAGEMENT_TYPE, "Investigation"),
            (
                ENV_IMPACTED_ACCOUNTS,
                " 111122223333, 444455556666,111122223333 ",
            ),
        ]))
        .unwrap();
        assert_eq!(settings.resolver_type, "AWS");
        assert_eq!(settings.engagement_type, "Investigation");
        assert_eq!(settings.impacted_accounts, ["111122223333", "444455556666"]);

        for (name, value) in [
            (ENV_RESOLVER_TYPE, "Partner"),
            (ENV_ENGAGEMENT_TYPE, "Drill"),
            (ENV_IMPACTED_ACCOUNTS, "1234"),
        ] {
            let Err(err) = settings_from(&env(&[(ENV_REGION, "eu-west-1"), (name, value)])) else {
                panic!("{name}={value} was accepted");
            };
            assert!(err.to_string().contains(name), "{err}");
        }
        let Err(err) = settings_from(&env(&[])) else {
            panic!("no region was accepted");
        };
        assert!(err.to_string().contains(ENV_REGION), "{err}");
    }
}
