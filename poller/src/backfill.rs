//! Which SIR cases the poller brings over when it first meets them unlinked (the backfill rule).
//!
//! On a first installation SIR may already hold years of cases. The rule, judged from the
//! ListCases entry (or GetCase, for a native event) of a case that is neither linked to an issue
//! nor ever published:
//! - a case created at or after the installation (`installedAt`) is always brought over, even
//!   if it is already closed when first seen;
//! - an older case is brought over only if it was created on or after the optional cut-off
//!   (`since`) and is open, or closed with `closed: true`.
//!
//! A case left out is tracked (so it is not read again every pass) and never published, not even
//! its deletion. It is judged again only when its list entry moves; since `createdDate` never
//! changes and a closed SIR case stays closed, an old closed case and a case created before the
//! cut-off stay out for good (unless the settings are widened). A linked or already published
//! case always syncs.
//!
//! Settings: the `backfill` SSM parameter, JSON `{"since": "YYYY-MM-DD" | "", "closed": bool}`,
//! and `installedAt`, both read once per cold start. With neither parameter, every case is
//! brought over (the behaviour before the rule).

use aws_sdk_securityir::primitives::{DateTime, DateTimeFormat};
use shared::config::ParameterNames;
use shared::status::SirStatus;
use shared::store::CaseRecords;

use crate::Poller;

/// The backfill rule (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfill {
    /// `None`: every case is brought over.
    rule: Option<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Epoch seconds; cases created at or after it are always brought over.
    installed_at: Option<i64>,
    /// Epoch seconds of the cut-off day's start (UTC).
    since: Option<i64>,
    /// Whether old closed cases are brought over too.
    closed: bool,
}

/// Why a case is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOut {
    /// Created before the installation and closed (and `closed` is false).
    ClosedBeforeInstallation,
    /// Created before the installation and before the `since` cut-off.
    BeforeCutOff,
}

impl LeftOut {
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOut::ClosedBeforeInstallation => "closed, created before the installation",
            LeftOut::BeforeCutOff => "created before the backfill cut-off",
        }
    }
}

/// The `backfill` parameter's JSON.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Setting {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    closed: bool,
}

impl Backfill {
    /// Every case is brought over (no rule).
    pub fn everything() -> Self {
        Backfill { rule: None }
    }

    /// Old cases: open ones only, or closed ones too with `closed`; none created before
    /// `since` (`YYYY-MM-DD`). `installed_at` is RFC 3339 (`None`: every case counts as old).
    pub fn new(
        installed_at: Option<&str>,
        since: Option<&str>,
        closed: bool,
        names: &ParameterNames,
    ) -> shared::Result<Self> {
        let installed_at = installed_at
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                epoch(t).ok_or_else(|| shared::Error::InvalidConfig {
                    name: names.installed_at(),
                    reason: format!("{t:?} is not an RFC 3339 time like 2026-12-01T09:30:00Z"),
                })
            })
            .transpose()?;
        let since = since
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                is_day(d)
                    .then(|| epoch(&format!("{d}T00:00:00Z")))
                    .flatten()
                    .ok_or_else(|| shared::Error::InvalidConfig {
                        name: names.backfill(),
                        reason: format!("since {d:?} is not a date like 2026-01-31"),
                    })
            })
            .transpose()?;
        Ok(Backfill {
            rule: Some(Rule {
                installed_at,
                since,
                closed,
            }),
        })
    }

    /// The rule the two parameter values (absent: `None`) describe; neither: every case.
    pub fn from_values(
        backfill: Option<&str>,
        installed_at: Option<&str>,
        names: &ParameterNames,
    ) -> shared::Result<Self> {
        let backfill = backfill.map(str::trim).filter(|b| !b.is_empty());
        let installed = installed_at.map(str::trim).filter(|t| !t.is_empty());
        if backfill.is_none() && installed.is_none() {
            return Ok(Backfill::everything());
        }
        let setting: Setting = match backfill {
            Some(json) => serde_json::from_str(json).map_err(|e| shared::Error::InvalidConfig {
                name: names.backfill(),
                reason: format!(
                    "not JSON like {{\"since\": \"2026-01-31\", \"closed\": false}}: {e}"
                ),
            })?,
            None => Setting::default(),
        };
        Backfill::new(installed, setting.since.as_deref(), setting.closed, names)
    }

    /// Reads both parameters in one GetParameters call; either may be missing.
    pub async fn load(ssm: &aws_sdk_ssm::Client, names: &ParameterNames) -> shared::Result<Self> {
        let wanted = [names.backfill(), names.installed_at()];
        let out = ssm
            .get_parameters()
            .set_names(Some(wanted.to_vec()))
            .send()
            .await
            .map_err(shared::Error::ssm("GetParameters", &wanted.join(", ")))?;
        let value = |name: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .and_then(|p| p.value())
        };
        Self::from_values(
            value(&names.backfill()),
            value(&names.installed_at()),
            names,
        )
    }

    /// Why a case never brought over before is left out, if it is. `created` is RFC 3339; a case
    /// whose creation time is unknown is brought over (SIR always sends it).
    pub fn judge(&self, created: Option<&str>, status: Option<SirStatus>) -> Option<LeftOut> {
        let rule = self.rule.as_ref()?;
        let created = created.and_then(epoch)?;
        if rule.installed_at.is_some_and(|at| created >= at) {
            return None;
        }
        if rule.since.is_some_and(|since| created < since) {
            return Some(LeftOut::BeforeCutOff);
        }
        (status == Some(SirStatus::Closed) && !rule.closed)
            .then_some(LeftOut::ClosedBeforeInstallation)
    }
}

impl Backfill {
    /// Whether a change at `changed_at` (RFC 3339) happened before the integration was
    /// installed: a case brought over by the backfill carries no change time, so its first sync
    /// measures no lag (it would be the case's age, not the integration's delay).
    pub fn predates_installation(&self, changed_at: &str) -> bool {
        let installed = self.rule.as_ref().and_then(|rule| rule.installed_at);
        installed
            .zip(epoch(changed_at))
            .is_some_and(|(installed, at)| at < installed)
    }
}

fn epoch(rfc3339: &str) -> Option<i64> {
    DateTime::from_str(rfc3339, DateTimeFormat::DateTime)
        .ok()
        .map(|t| t.secs())
}

fn is_day(day: &str) -> bool {
    let b = day.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl Poller {
    /// Whether this case is left out by the backfill rule: never when it is linked or was
    /// published before (its `records` say; those always sync).
    pub(crate) fn left_out(
        &self,
        case_id: &str,
        created: Option<&str>,
        status: Option<SirStatus>,
        records: &CaseRecords,
    ) -> Option<LeftOut> {
        let reason = self.settings.backfill.judge(created, status)?;
        if !never_published(records) {
            return None;
        }
        tracing::info!(
            case_id,
            reason = reason.as_str(),
            "case left out by the backfill rule"
        );
        Some(reason)
    }
}

/// Whether a case was left out, never published (by its records: no link, no snapshot): its
/// deletion is not published either.
pub(crate) fn never_published(records: &CaseRecords) -> bool {
    records.link.is_none() && records.snapshot.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "2026-12-01T09:30:00Z";

    fn rule(since: Option<&str>, closed: bool) -> Backfill {
        Backfill::new(Some(INSTALLED), since, closed, &ParameterNames::default()).unwrap()
    }

    const OPEN: Option<SirStatus> = Some(SirStatus::Submitted);
    const CLOSED: Option<SirStatus> = Some(SirStatus::Closed);

    #[test]
    fn only_a_change_before_the_installation_predates_it() {
        let installed = rule(None, false);
        assert!(installed.predates_installation("2026-12-01T09:29:59Z"));
        assert!(!installed.predates_installation(INSTALLED));
        assert!(!installed.predates_installation("not a time"));
        let no_rule = Backfill::everything();
        assert!(!no_rule.predates_installation("2020-01-01T00:00:00Z"));
    }

    #[test]
    fn cases_created_at_or_after_the_installation_are_always_brought_over_even_closed() {
        let strict = rule(Some("2026-12-05"), false);
        for status in [OPEN, CLOSED] {
            assert_eq!(strict.judge(Some(INSTALLED), status), None);
            assert_eq!(strict.judge(Some("2026-12-01T10:00:00Z"), status), None);
        }
    }

    #[test]
    fn older_cases_are_brought_over_only_when_open_by_default() {
        let default = rule(None, false);
        assert_eq!(default.judge(Some("2020-01-01T00:00:00Z"), OPEN), None);
        assert_eq!(
            default.judge(Some("2026-12-01T09:29:59Z"), CLOSED),
            Some(LeftOut::ClosedBeforeInstallation)
        );
        let with_closed = rule(None, true);
        assert_eq!(
            with_closed.judge(Some("2020-01-01T00:00:00Z"), CLOSED),
            None
        );
    }

    #[test]
    fn older_cases_created_before_the_cut_off_day_are_left_out_open_or_closed() {
        let since = rule(Some("2026-06-15"), true);
        for status in [OPEN, CLOSED] {
            assert_eq!(
                since.judge(Some("2026-06-14T23:59:59Z"), status),
                Some(LeftOut::BeforeCutOff)
            );
            assert_eq!(since.judge(Some("2026-06-15T00:00:00Z"), status), None);
        }
        assert_eq!(
            rule(Some("2026-06-15"), false).judge(Some("2026-07-01T00:00:00Z"), CLOSED),
            Some(LeftOut::ClosedBeforeInstallation)
        );
    }

    #[test]
    fn without_any_setting_every_case_is_brought_over() {
        let names = ParameterNames::default();
        let none = Backfill::from_values(None, None, &names).unwrap();
        assert_eq!(none, Backfill::everything());
        assert_eq!(none.judge(Some("2020-01-01T00:00:00Z"), CLOSED), None);
        assert_eq!(Backfill::default(), Backfill::everything());
    }

    #[test]
    fn the_parameters_give_the_rule_and_the_default_is_open_cases_only() {
        let names = ParameterNames::default();
        assert_eq!(
            Backfill::from_values(None, Some(INSTALLED), &names).unwrap(),
            rule(None, false)
        );
        assert_eq!(
            Backfill::from_values(
                Some(r#"{"since":"2026-06-15","closed":true}"#),
                Some(INSTALLED),
                &names
            )
            .unwrap(),
            rule(Some("2026-06-15"), true)
        );
        assert_eq!(
            Backfill::from_values(
                Some(r#"{"since":"","closed":false}"#),
                Some(INSTALLED),
                &names
            )
            .unwrap(),
            rule(None, false)
        );
        // A rule without an installation time judges every case as old.
        let no_install = Backfill::from_values(Some("{}"), None, &names).unwrap();
        assert_eq!(
            no_install.judge(Some("2030-01-01T00:00:00Z"), CLOSED),
            Some(LeftOut::ClosedBeforeInstallation)
        );
    }

    #[test]
    fn malformed_settings_name_the_parameter() {
        let names = ParameterNames::default();
        for (backfill, installed) in [
            (Some(r#"{"since":"15/06/2026"}"#), Some(INSTALLED)),
            (Some(r#"{"since":"2026-13-45"}"#), Some(INSTALLED)),
            (Some(r#"{"closed":"yes"}"#), Some(INSTALLED)),
            (Some(r#"{"sinse":"2026-01-01"}"#), Some(INSTALLED)),
            (Some("open only"), Some(INSTALLED)),
        ] {
            let err = Backfill::from_values(backfill, installed, &names).unwrap_err();
            assert!(err.to_string().contains("/backfill"), "{err}");
        }
        let err = Backfill::from_values(None, Some("yesterday"), &names).unwrap_err();
        assert!(err.to_string().contains("/installedAt"), "{err}");
    }
}
