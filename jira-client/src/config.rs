//! jira-client's typed configuration, read once per cold start: the shared [`Config`] from the
//! environment, the Jira settings and status mapping from SSM, and this Lambda's own variables.
//!
//! Environment variables (besides the shared ones, see [`shared::config`]):
//! - `AWS_REGION` (set by Lambda): the region of the SIR console links in issue descriptions;
//! - `JIRA_ISSUE_TYPE` (optional, default `Task`): the issue type of new issues;
//! - `SIR_INTEGRATION_PRINCIPALS` (optional): comma-separated principals whose SIR comments and
//!   attachments are the integration's own (the role ARNs of sir-client, which copies from
//!   Jira, and of jira-client, which reports sync problems on the case; an IAM role ARN also
//!   matches its assumed-role sessions).

use std::time::Duration;

use shared::config::{Config, JiraSettings, load_mappings};
use shared::field_mapping::FieldMapping;
use shared::status::{SirStatus, StatusMapping};
use shared::store::ClaimTiming;

use crate::error::JiraClientError;

/// Environment variable: the issue type of new issues.
pub const ENV_ISSUE_TYPE: &str = "JIRA_ISSUE_TYPE";
/// Environment variable: the region the SIR console links point to.
pub const ENV_REGION: &str = "AWS_REGION";
/// Environment variable: the integration's own SIR principals, comma-separated (read by
/// [`shared::config::integration_principals`], as the poller reads it).
pub use shared::config::ENV_INTEGRATION_PRINCIPALS;
/// The issue type used when [`ENV_ISSUE_TYPE`] is not set.
pub const DEFAULT_ISSUE_TYPE: &str = "Task";
/// How long after an issue create started a retry that cannot find the issue by search waits
/// (failing retryably) instead of creating one: Jira Cloud's `/search/jql` may not show an issue
/// created seconds ago, and the create's answer was lost with the run that sent it. A minute is
/// far above the index lag seen in practice (seconds), and Lambda's asynchronous retries come
/// after about one and two minutes, so a create that really failed is made again on the second
/// retry at the latest.
pub const DEFAULT_CREATE_IN_DOUBT_FOR: Duration = Duration::from_secs(60);
/// How long an e-mail → Jira accountId answer (found or not) is cached.
pub const DEFAULT_ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What the handler needs to know, besides its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraClientSettings {
    /// The Jira project new issues go to.
    pub project_key: String,
    /// The Jira site (its URL): a case created from an issue of another site (another
    /// deployment's) is not linked to the issue of the same key here.
    pub jira_url: String,
    pub issue_type: String,
    /// The region of the SIR console links.
    pub region: String,
    pub status_mapping: StatusMapping,
    /// SIR fields also written to Jira fields, and values the project's screens require.
    pub field_mapping: FieldMapping,
    /// Principals whose SIR comments/attachments are the integration's own (never copied back).
    pub integration_principals: Vec<String>,
    /// How a claim on a case is held and waited for (the contract's, see
    /// [`ClaimTiming::default`], outside tests).
    pub claims: ClaimTiming,
    pub account_cache_ttl: Duration,
    /// How long a started issue create with no issue found by search fails retryably rather than
    /// creating again ([`DEFAULT_CREATE_IN_DOUBT_FOR`] outside tests).
    pub create_in_doubt_for: Duration,
}

impl JiraClientSettings {
    /// Defaults for everything but the project, the site and the region.
    pub fn new(
        project_key: impl Into<String>,
        jira_url: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        JiraClientSettings {
            project_key: project_key.into(),
            jira_url: jira_url.into(),
            issue_type: DEFAULT_ISSUE_TYPE.to_owned(),
            region: region.into(),
            status_mapping: StatusMapping::default(),
            field_mapping: FieldMapping::default(),
            integration_principals: Vec::new(),
            claims: ClaimTiming::default(),
            account_cache_ttl: DEFAULT_ACCOUNT_CACHE_TTL,
            create_in_doubt_for: DEFAULT_CREATE_IN_DOUBT_FOR,
        }
    }

    /// The Jira statuses in the order a SIR case passes through them (each once), which steers
    /// multi-hop transitions.
    pub fn jira_route(&self) -> Vec<String> {
        let mut route: Vec<String> = Vec::new();
        for status in SirStatus::ALL {
            let jira = self.status_mapping.jira_status_for(status);
            if !route.iter().any(|s| s.eq_ignore_ascii_case(jira)) {
                route.push(jira.to_owned());
            }
        }
        route
    }

    /// Whether `creator` (a SIR principal ARN) is one of the integration's own principals (the
    /// poller's test, [`shared::sir::is_integration_principal`], over these settings).
    pub fn is_integration_principal(&self, creator: Option<&str>) -> bool {
        shared::sir::is_integration_principal(&self.integration_principals, creator)
    }
}

/// Everything jira-client reads at a cold start.
#[derive(Debug, Clone)]
pub struct JiraClientConfig {
    pub shared: Config,
    pub jira: JiraSettings,
    pub handler: JiraClientSettings,
}

impl JiraClientConfig {
    /// Reads the process environment and the SSM parameters it names.
    pub async fn from_env(ssm: &aws_sdk_ssm::Client) -> Result<Self, JiraClientError> {
        Self::load(|name| std::env::var(name).ok(), ssm).await
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests), then SSM.
    pub async fn load(
        lookup: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, JiraClientError> {
        let shared = Config::from_lookup(&lookup)?;
        let optional = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let region = optional(ENV_REGION).ok_or(shared::Error::MissingEnv { name: ENV_REGION })?;
        let issue_type = optional(ENV_ISSUE_TYPE).unwrap_or_else(|| DEFAULT_ISSUE_TYPE.to_owned());
        let integration_principals = shared::config::integration_principals(&lookup);
        let jira = JiraSettings::load(ssm, &shared.parameters, shared.jira_flavor).await?;
        let (status_mapping, field_mapping) = load_mappings(ssm, &shared.parameters).await?;
        let handler = JiraClientSettings {
            project_key: jira.project_key.clone(),
            jira_url: jira.url.clone(),
            issue_type,
            region,
            status_mapping,
            field_mapping,
            integration_principals,
            ..JiraClientSettings::new("", "", "")
        };
        Ok(JiraClientConfig {
            shared,
            jira,
            handler,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::sir::principal_matches;

    #[test]
    fn route_lists_jira_statuses_in_sir_order_once_each() {
        let settings = JiraClientSettings::new("SEC", "https://example.atlassian.net", "eu-west-1");
        assert_eq!(
            settings.jira_route(),
            ["To Do", "In Progress", "In Review", "Done"]
        );
        let custom = JiraClientSettings {
            status_mapping: StatusMapping::from_json(r#"{"sirToJira": {"Submitted": "Backlog"}}"#)
                .unwrap_or_default(),
            ..settings
        };
        assert_eq!(
            custom.jira_route(),
            ["Backlog", "In Progress", "In Review", "Done"]
        );
    }

    #[test]
    fn principals_match_exactly_or_as_sessions_of_a_role() {
        let role = "arn:aws:iam::123456789012:role/service/SirClientRole";
        assert!(principal_matches(role, role));
        assert!(principal_matches(
            role,
            "arn:aws:sts::123456789012:assumed-role/SirClientRole/sir-client"
        ));
        assert!(!principal_matches(
            role,
            "arn:aws:sts::999999999999:assumed-role/SirClientRole/sir-client"
        ));
        assert!(!principal_matches(
            role,
            "arn:aws:sts::123456789012:assumed-role/SirClientRoleX/s"
        ));
        assert!(!principal_matches(
            "arn:aws:iam::123456789012:user/bot",
            "arn:aws:iam::123456789012:user/alice"
        ));
        let settings = JiraClientSettings {
            integration_principals: vec![role.to_owned()],
            ..JiraClientSettings::new("SEC", "https://example.atlassian.net", "eu-west-1")
        };
        assert!(settings.is_integration_principal(Some(role)));
        assert!(!settings.is_integration_principal(None));
        assert!(!settings.is_integration_principal(Some("arn:aws:iam::123456789012:user/alice")));
    }
}
