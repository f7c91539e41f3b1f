//! What the poller reads from its environment, once per cold start.

use std::time::Duration;

/// How the poller behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerSettings {
    /// How often each open case's comments are listed even when its list entry did not move.
    pub comment_sweep_interval: Duration,
    /// At most this many comment sweeps per pass, so the sweep is spread over passes.
    pub max_comment_sweeps_per_pass: usize,
    /// SIR principals whose comments are the integration's own (echoes of sir-client).
    pub integration_principals: Vec<String>,
    /// Which cases never met before are brought over (from SSM at cold start, see
    /// [`crate::Backfill::load`]; the default brings over every case).
    pub backfill: crate::Backfill,
}

impl Default for PollerSettings {
    fn default() -> Self {
        PollerSettings {
            comment_sweep_interval: Duration::from_secs(15 * 60),
            max_comment_sweeps_per_pass: 10,
            integration_principals: Vec::new(),
            backfill: crate::Backfill::everything(),
        }
    }
}

/// Environment variable: the poller's own schedule rule (on the default bus).
pub const ENV_SCHEDULE_RULE_NAME: &str = "POLLER_SCHEDULE_RULE_NAME";
/// Environment variable (optional): comma-separated SIR principals whose writes are ours (read by
/// [`shared::config::integration_principals`], as jira-client reads it).
pub use shared::config::ENV_INTEGRATION_PRINCIPALS;
/// Environment variable (optional): minutes between comment sweeps of an open case.
pub const ENV_COMMENT_SWEEP_MINUTES: &str = "COMMENT_SWEEP_MINUTES";

/// Everything the poller reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerConfig {
    pub shared: shared::config::Config,
    pub schedule_rule_name: String,
    pub settings: PollerSettings,
}

impl PollerConfig {
    pub fn from_env() -> shared::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; the error names the missing variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> shared::Result<Self> {
        let shared = shared::config::Config::from_lookup(&lookup)?;
        let schedule_rule_name = lookup(ENV_SCHEDULE_RULE_NAME)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(shared::Error::MissingEnv {
                name: ENV_SCHEDULE_RULE_NAME,
            })?;
        let mut settings = PollerSettings {
            integration_principals: shared::config::integration_principals(&lookup),
            ..PollerSettings::default()
        };
        if let Some(minutes) = lookup(ENV_COMMENT_SWEEP_MINUTES) {
            let minutes: u64 =
                minutes
                    .trim()
                    .parse()
                    .map_err(|_| shared::Error::InvalidConfig {
                        name: ENV_COMMENT_SWEEP_MINUTES.into(),
                        reason: format!("{minutes:?} is not a whole number of minutes"),
                    })?;
            settings.comment_sweep_interval = Duration::from_secs(minutes * 60);
        }
        Ok(PollerConfig {
            shared,
            schedule_rule_name,
            settings,
        })
    }
}
