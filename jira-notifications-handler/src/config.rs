//! The handler's configuration, read once per cold start: the shared [`Config`] from the
//! environment (`MAPPING_TABLE_NAME`, `EVENT_BUS_NAME`, `SSM_PARAMETER_PREFIX`) and the Jira
//! settings (URL, e-mail, SecureString token, project key) from SSM.

use shared::config::{Config, JiraSettings};

/// What the handler needs to know, besides its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationsSettings {
    /// The only project whose issues are synced; messages about any other key are rejected.
    pub project_key: String,
}

/// Everything the handler reads at a cold start.
#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    pub shared: Config,
    pub jira: JiraSettings,
    pub handler: NotificationsSettings,
}

impl NotificationsConfig {
    /// Reads the process environment and the SSM parameters it names.
    pub async fn from_env(ssm: &aws_sdk_ssm::Client) -> shared::Result<Self> {
        Self::load(|name| std::env::var(name).ok(), ssm).await
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests), then SSM.
    pub async fn load(
        lookup: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> shared::Result<Self> {
        let shared = Config::from_lookup(lookup)?;
        let jira = JiraSettings::load(ssm, &shared.parameters).await?;
        let handler = NotificationsSettings {
            project_key: jira.project_key.clone(),
        };
        Ok(NotificationsConfig {
            shared,
            jira,
            handler,
        })
    }
}
