//! The handler's configuration, read once per cold start: the shared [`Config`] from the
//! environment (`MAPPING_TABLE_NAME`, `EVENT_BUS_NAME`, `SSM_PARAMETER_PREFIX`), the Jira
//! settings (URL, e-mail, SecureString token, project key) and which issues may create cases
//! ([`CaseFilter`]: `jiraCaseFilter`, `installedAt`) from SSM; how many open issues the sweep
//! audits per run from [`ENV_AUDIT_PER_RUN`] and how often a round of the audit may start from
//! [`ENV_AUDIT_INTERVAL_MINUTES`] (both optional); the webhook intake's secret (`jiraWebhookSecret`,
//! an optional SecureString: without it the intake is off).

use secrecy::SecretString;
use shared::config::{CaseFilter, Config, JiraSettings, load_webhook_secret};

use crate::sweep::Sweeping;

/// Environment variable (optional): open issues the sweep audits per run (default 5; 0 turns the
/// audit off).
pub const ENV_AUDIT_PER_RUN: &str = "JIRA_AUDIT_PER_RUN";

/// Environment variable (optional), the poller's too: minutes from the start of one round of the
/// Jira audit to the start of the next (default 60), so each open issue is audited at most once
/// in that time.
pub use shared::config::ENV_AUDIT_INTERVAL_MINUTES;

/// The sweep's settings: the defaults, with the audit's from the environment where set.
fn sweeping(lookup: &impl Fn(&str) -> Option<String>) -> shared::Result<Sweeping> {
    let mut sweep = Sweeping::default();
    if let Some(max_audits) = shared::config::whole_number(lookup, ENV_AUDIT_PER_RUN)? {
        sweep.max_audits = max_audits;
    }
    if let Some(interval) = shared::config::minutes(lookup, ENV_AUDIT_INTERVAL_MINUTES)? {
        sweep.audit_interval = interval;
    }
    Ok(sweep)
}

/// What the handler needs to know, besides its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationsSettings {
    /// The only project whose issues are synced; messages about any other key are rejected.
    pub project_key: String,
    /// Which issues not linked to a case may create one.
    pub case_filter: CaseFilter,
    /// How the scheduled Jira sweep runs.
    pub sweep: Sweeping,
}

impl NotificationsSettings {
    /// Settings for `project_key` where every issue may create a case, with the default sweep.
    pub fn new(project_key: impl Into<String>) -> Self {
        NotificationsSettings {
            project_key: project_key.into(),
            case_filter: CaseFilter::Any,
            sweep: Sweeping::default(),
        }
    }
}

/// The webhook intake's secret; a parameter that is not a usable SecureString turns the intake
/// off with an error in the log (webhooks are then answered 503 and retried by Jira) rather than
/// stopping the Automation intake and the sweep too. Failing to read SSM fails the cold start.
async fn webhook_secret_or_off(
    ssm: &aws_sdk_ssm::Client,
    shared: &Config,
) -> shared::Result<Option<SecretString>> {
    match load_webhook_secret(ssm, &shared.parameters).await {
        Err(
            unusable @ (shared::Error::InsecureParameter { .. }
            | shared::Error::InvalidConfig { .. }),
        ) => {
            tracing::error!(
                error = %unusable,
                "the webhook secret is unusable: the webhook intake is off until it is a SecureString (run deploy.sh --intake webhook again)"
            );
            Ok(None)
        }
        other => other,
    }
}

/// Everything the handler reads at a cold start.
#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    pub shared: Config,
    pub jira: JiraSettings,
    pub handler: NotificationsSettings,
    /// The webhook intake's secret; `None`: webhook requests are answered 404.
    pub webhook_secret: Option<SecretString>,
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
        let shared = Config::from_lookup(&lookup)?;
        let sweep = sweeping(&lookup)?;
        let (jira, case_filter, webhook_secret) = tokio::try_join!(
            JiraSettings::load(ssm, &shared.parameters, shared.jira_flavor),
            CaseFilter::load(ssm, &shared.parameters),
            webhook_secret_or_off(ssm, &shared),
        )?;
        if case_filter == CaseFilter::Any {
            tracing::warn!(
                "no installation time and no case filter in SSM: every issue of the project may \
                 create a SIR case (deploy.sh records the installation time)"
            );
        }
        let handler = NotificationsSettings {
            case_filter,
            sweep,
            ..NotificationsSettings::new(jira.project_key.clone())
        };
        Ok(NotificationsConfig {
            shared,
            jira,
            handler,
            webhook_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sweeping_with(env: &[(&str, &str)]) -> shared::Result<Sweeping> {
        sweeping(&|name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_audit_takes_five_issues_a_run_and_a_round_an_hour_unless_set_in_whole_numbers() {
        let default = sweeping_with(&[]).unwrap();
        assert_eq!(default, Sweeping::default());
        assert_eq!(default.max_audits, 5);
        assert_eq!(default.audit_interval, Duration::from_secs(60 * 60));
        let set = sweeping_with(&[
            (ENV_AUDIT_PER_RUN, "12"),
            (ENV_AUDIT_INTERVAL_MINUTES, " 15 "),
        ])
        .unwrap();
        assert_eq!(set.max_audits, 12);
        assert_eq!(set.audit_interval, Duration::from_secs(15 * 60));
        for name in [ENV_AUDIT_PER_RUN, ENV_AUDIT_INTERVAL_MINUTES] {
            for bad in ["-1", "hourly", "1.5"] {
                assert!(
                    matches!(
                        sweeping_with(&[(name, bad)]),
                        Err(shared::Error::InvalidConfig { name: n, .. }) if n == name
                    ),
                    "{name}={bad}"
                );
            }
        }
    }
}
