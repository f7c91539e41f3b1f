//! What the poller reads from its environment, once per cold start.

use std::time::Duration;

use shared::config::minutes;

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
    /// How long a published event may stay unacknowledged before the reconciler publishes it
    /// again: longer than Lambda's own retries of an asynchronous event can take (jira-client's
    /// and sir-client's 300 s timeout × 3 attempts plus about 3 minutes of retry delays).
    pub redelivery_window: Duration,
    /// At most this many pending deliveries are published again per schedule pass.
    pub max_redeliveries_per_pass: usize,
    /// At most this many pending deliveries are listed (and published again) by one on-demand
    /// reconcile, so a long backlog never runs the poller into its timeout: the rest is counted
    /// and comes in the next request.
    pub max_reconcile_per_request: usize,
    /// A delivery published more often than this is logged at error level each time.
    pub alert_after_attempts: u32,
    /// How often each open linked pair is audited (the live case compared with the live issue
    /// by jira-client, whatever moved or did not).
    pub audit_interval: Duration,
    /// At most this many audits per schedule pass, those audited longest ago first.
    pub max_audits_per_pass: usize,
}

impl Default for PollerSettings {
    fn default() -> Self {
        PollerSettings {
            comment_sweep_interval: Duration::from_secs(15 * 60),
            max_comment_sweeps_per_pass: 10,
            integration_principals: Vec::new(),
            backfill: crate::Backfill::everything(),
            redelivery_window: Duration::from_secs(20 * 60),
            max_redeliveries_per_pass: 25,
            max_reconcile_per_request: 200,
            alert_after_attempts: 3,
            audit_interval: Duration::from_secs(60 * 60),
            max_audits_per_pass: 5,
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

/// Environment variable (optional): minutes a published event may stay unapplied before the
/// reconciler publishes it again (default 20).
pub const ENV_REDELIVERY_WINDOW_MINUTES: &str = "REDELIVERY_WINDOW_MINUTES";

/// Environment variable (optional): minutes between two audits of an open linked pair
/// (default 60); jira-notifications-handler reads the same one for its Jira audit's rounds.
pub use shared::config::ENV_AUDIT_INTERVAL_MINUTES;

/// Environment variable (optional): the most pairs one schedule pass audits (default 5).
pub const ENV_MAX_AUDITS_PER_PASS: &str = "MAX_AUDITS_PER_PASS";

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
        if let Some(interval) = minutes(&lookup, ENV_COMMENT_SWEEP_MINUTES)? {
            settings.comment_sweep_interval = interval;
        }
        if let Some(window) = minutes(&lookup, ENV_REDELIVERY_WINDOW_MINUTES)? {
            settings.redelivery_window = window;
        }
        if let Some(interval) = minutes(&lookup, ENV_AUDIT_INTERVAL_MINUTES)? {
            settings.audit_interval = interval;
        }
        if let Some(max) = shared::config::whole_number(&lookup, ENV_MAX_AUDITS_PER_PASS)? {
            settings.max_audits_per_pass = max;
        }
        Ok(PollerConfig {
            shared,
            schedule_rule_name,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> shared::Result<PollerConfig> {
        let mut env: Vec<(&str, &str)> = vec![
            (shared::config::ENV_TABLE_NAME, "table"),
            (shared::config::ENV_EVENT_BUS_NAME, "bus"),
            (ENV_SCHEDULE_RULE_NAME, "rule"),
        ];
        env.extend_from_slice(extra);
        PollerConfig::from_lookup(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_redelivery_window_is_twenty_minutes_unless_set_in_whole_minutes() {
        let default = config(&[]).unwrap();
        assert_eq!(
            default.settings.redelivery_window,
            Duration::from_secs(20 * 60)
        );
        let set = config(&[(ENV_REDELIVERY_WINDOW_MINUTES, "45")]).unwrap();
        assert_eq!(set.settings.redelivery_window, Duration::from_secs(45 * 60));
        assert!(matches!(
            config(&[(ENV_REDELIVERY_WINDOW_MINUTES, "soon")]),
            Err(shared::Error::InvalidConfig { name, .. }) if name == ENV_REDELIVERY_WINDOW_MINUTES
        ));
    }

    #[test]
    fn pairs_are_audited_hourly_five_a_pass_unless_set_in_whole_numbers() {
        let default = config(&[]).unwrap().settings;
        assert_eq!(default.audit_interval, Duration::from_secs(60 * 60));
        assert_eq!(default.max_audits_per_pass, 5);
        let set = config(&[
            (ENV_AUDIT_INTERVAL_MINUTES, "15"),
            (ENV_MAX_AUDITS_PER_PASS, " 12 "),
        ])
        .unwrap()
        .settings;
        assert_eq!(set.audit_interval, Duration::from_secs(15 * 60));
        assert_eq!(set.max_audits_per_pass, 12);
        for name in [ENV_AUDIT_INTERVAL_MINUTES, ENV_MAX_AUDITS_PER_PASS] {
            assert!(matches!(
                config(&[(name, "-1")]),
                Err(shared::Error::InvalidConfig { name: n, .. }) if n == name
            ));
        }
    }
}
